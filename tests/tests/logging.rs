//! `--log-format json`: every log line a member writes is one JSON object that a
//! log pipeline can parse, with the level, the message and the fields.

use rookery_tests::{free_port, rookery_bin};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Kills the member when the test ends, also on failure.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn json_logs_are_one_object_per_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("myid"), "1\n").expect("myid");
    let cfg = dir.path().join("zoo.cfg");
    std::fs::write(
        &cfg,
        format!(
            "dataDir={}\nclientPort={}\nclientPortAddress=127.0.0.1\nadmin.enableServer=false\nmetricsProvider.httpPort=-1\n",
            dir.path().display(),
            free_port()
        ),
    )
    .expect("zoo.cfg");
    let mut member = Running(
        Command::new(rookery_bin())
            .args(["--log-format", "json", "server", "--config"])
            .arg(&cfg)
            .env("ROOKERY_LOG", "info")
            .stderr(Stdio::piped())
            .spawn()
            .expect("start rookery"),
    );
    let stderr = member.0.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen = Vec::new();
    while !seen
        .iter()
        .any(|v: &serde_json::Value| v["fields"]["message"] == "listening for clients")
    {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = rx
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("no 'listening for clients' line; saw {seen:?}"));
        let v: serde_json::Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(
            v["level"].is_string() && v["timestamp"].is_string(),
            "{line}"
        );
        seen.push(v);
    }
    let listening = seen
        .iter()
        .find(|v| v["fields"]["message"] == "listening for clients")
        .expect("found above");
    assert!(listening["fields"]["addr"]
        .as_str()
        .is_some_and(|a| a.starts_with("127.0.0.1:")));
}
