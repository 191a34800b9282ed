//! A zoo.cfg that cannot be parsed stops the server with `file:line: reason`.

use rookery_tests::{free_port, run_config_check, Target};

/// A temporary directory with a data dir whose myid is 1.
fn member_dir(prefix: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::Builder::new().prefix(prefix).tempdir().unwrap();
    let data_dir = dir.path().join("data");
    std::fs::create_dir_all(&data_dir).unwrap();
    std::fs::write(data_dir.join("myid"), "1\n").unwrap();
    (dir, data_dir)
}

#[test]
fn bad_config() {
    let (dir, data_dir) = member_dir("rookery-badcfg-");
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

/// A port another process holds stops start-up with the address and the
/// reason, said once, and a plain exit code (not an abort from a thread still
/// inside RocksDB). Checked for the client port and for the peer port.
/// ZooKeeper 3.8 exits on a taken client port too, but on a taken peer port
/// it keeps running and retries the bind (measured with ROOKERY_TEST_TARGET=zk):
/// Rookery exits there as well, since such a member can never join, and an
/// exit with the reason is what a service manager and an operator can act on.
#[test]
fn a_port_in_use_stops_start_up_naming_it() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken_port = taken.local_addr().unwrap().port();
    let mut cases = vec![("client", taken_port, free_port())];
    if Target::from_env() == Target::Rookery {
        cases.push(("peer", free_port(), taken_port));
    }
    for (what, client, peer) in cases {
        let (dir, data_dir) = member_dir("rookery-portinuse-");
        let cfg = dir.path().join("zoo.cfg");
        std::fs::write(
            &cfg,
            format!(
                "tickTime=2000\ninitLimit=10\nsyncLimit=5\ndataDir={}\nclientPort={client}\n\
                 clientPortAddress=127.0.0.1\nserver.1=127.0.0.1:{peer}:{}\nserver.2=127.0.0.1:{}:{}\n",
                data_dir.display(),
                free_port(),
                free_port(),
                free_port()
            ),
        )
        .unwrap();
        let (status, stderr) = run_config_check(&cfg);
        assert!(!status.success(), "{what} port: started anyway:\n{stderr}");
        if Target::from_env() == Target::ApacheZk {
            continue;
        }
        assert_eq!(
            status.code(),
            Some(2),
            "{what} port: exit {status} (a signal is an abort):\n{stderr}"
        );
        let said = format!("cannot listen on 127.0.0.1:{taken_port}: Address already in use");
        assert!(
            stderr.contains(&said),
            "{what} port: {said:?} not in:\n{stderr}"
        );
        assert_eq!(
            stderr.matches("Address already in use").count(),
            1,
            "{what} port: the reason is said once:\n{stderr}"
        );
    }
    drop(taken);
}
