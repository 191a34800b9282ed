//! A zoo.cfg that cannot be parsed stops the server with `file:line: reason`.

use rookery_tests::{free_port, run_config_check, Target};

#[test]
fn bad_config() {
    let dir = tempfile::Builder::new()
        .prefix("rookery-badcfg-")
        .tempdir()
        .unwrap();
    let data_dir = dir.path().join("data");
    std::fs::create_dir_all(&data_dir).unwrap();
    std::fs::write(data_dir.join("myid"), "1\n").unwrap();
    let cfg = dir.path().join("zoo.cfg");
    // tickTime=abc is on line 4.
    std::fs::write(
        &cfg,
        format!(
            "# a config with a bad value\ndataDir={}\nclientPort={}\ntickTime=abc\nclientPortAddress=127.0.0.1\n",
            data_dir.display(),
            free_port()
        ),
    )
    .unwrap();

    let (status, stderr) = run_config_check(&cfg);
    assert!(
        !status.success(),
        "server accepted tickTime=abc ({status}); stderr:\n{stderr}"
    );
    if Target::from_env() == Target::ApacheZk {
        // ZooKeeper exits 2 ("Invalid config, exiting abnormally") but names no line.
        assert!(stderr.contains("Invalid config"), "stderr:\n{stderr}");
        return;
    }
    let location = format!("{}:4:", cfg.display());
    assert!(
        stderr.contains(&location),
        "stderr does not name {location:?}:\n{stderr}"
    );
    assert!(
        stderr.contains("tickTime"),
        "stderr does not name the key:\n{stderr}"
    );
}
