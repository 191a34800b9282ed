//! Fault scenarios under a recorded workload, checked against the members' logs
//! (see `rookery_tests::history` for what the checker asserts).

use rookery_tests::ensemble::Ensemble;
use rookery_tests::history::{self, Entry, Op, Workload};
use rookery_tests::rookery_bin;
use std::process::Command;
use std::time::{Duration, Instant};

fn wait_leader(ensemble: &Ensemble, except: Option<usize>) -> usize {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(l) = ensemble.leader().filter(|l| Some(*l) != except) {
            return l;
        }
        assert!(Instant::now() < deadline, "no leader elected");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Three members that keep their whole log, so the checker sees all of history.
fn start_ensemble() -> Ensemble {
    Ensemble::start_with(3, vec![("commitLogCount".into(), "10000000".into())])
}

fn workload(ensemble: &Ensemble) -> Workload {
    Workload {
        members: ensemble.members.iter().map(|m| m.addr()).collect(),
        clients: 6,
        pinned: 3,
        keys: 4,
        session_timeout_ms: 6000,
    }
}

/// Stops every member cleanly and reads its log with `rookery log-dump`.
fn dump_logs(ensemble: &mut Ensemble) -> Vec<Vec<Entry>> {
    ensemble.assert_same_digest();
    let mut logs = Vec::new();
    for m in ensemble.members.iter_mut() {
        m.terminate();
        let out = Command::new(rookery_bin())
            .args(["log-dump", "--config"])
            .arg(m.config_path())
            .output()
            .expect("run rookery log-dump");
        assert!(
            out.status.success(),
            "log-dump failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        logs.push(
            history::parse_dump(&String::from_utf8_lossy(&out.stdout)).expect("parse the dump"),
        );
    }
    logs
}

fn assert_valid(history: &[Op], logs: &[Vec<Entry>]) {
    let verdict = history::check(history, logs);
    eprintln!(
        "checked {} acknowledged writes, {} reads, {} indeterminate, against {} txns",
        verdict.acknowledged_writes, verdict.reads, verdict.indeterminate, verdict.txns
    );
    assert!(
        verdict.problems.is_empty(),
        "the history breaks ZooKeeper's guarantees:\n{}",
        verdict.problems.join("\n")
    );
    assert!(
        verdict.acknowledged_writes > 100,
        "too little work to mean anything"
    );
    assert!(verdict.reads > 20, "too few reads to mean anything");
}

/// The leader is killed with kill -9 three times under load; each time it comes
/// back. Nothing acknowledged is lost, reads are never stale for their zxid, and
/// every member ends with the same log.
#[test]
fn leader_kill_loop() {
    let mut ensemble = start_ensemble();
    wait_leader(&ensemble, None);
    let w = workload(&ensemble);
    history::prepare(&w).expect("prepare the workload's nodes");
    let running = history::start(&w);
    let mut leaders = Vec::new();
    for _ in 0..3 {
        std::thread::sleep(Duration::from_secs(2));
        let leader = wait_leader(&ensemble, None);
        leaders.push(leader);
        ensemble.members[leader].kill9();
        wait_leader(&ensemble, Some(leader));
        ensemble.members[leader].restart_unready();
        ensemble.members[leader].wait_serving();
    }
    std::thread::sleep(Duration::from_secs(2));
    let history = running.stop();
    let logs = dump_logs(&mut ensemble);
    // The fault really happened: three leaders were killed, each a new epoch.
    assert_eq!(leaders.len(), 3);
    let epochs: std::collections::BTreeSet<i64> = logs[0].iter().map(|e| e.zxid >> 32).collect();
    assert!(
        epochs.len() >= 4,
        "expected four epochs in the log, saw {epochs:?}"
    );
    assert_valid(&history, &logs);
}

/// A follower is killed and restarted twice while every client writes; the
/// pinned clients on it reconnect to it and must never see time go back.
#[test]
fn follower_kill_and_restart() {
    let mut ensemble = start_ensemble();
    let leader = wait_leader(&ensemble, None);
    let follower = (leader + 1) % 3;
    let w = workload(&ensemble);
    history::prepare(&w).expect("prepare the workload's nodes");
    let running = history::start(&w);
    for _ in 0..2 {
        std::thread::sleep(Duration::from_secs(2));
        ensemble.members[follower].kill9();
        std::thread::sleep(Duration::from_millis(1500));
        ensemble.members[follower].restart_unready();
        ensemble.members[follower].wait_serving();
    }
    std::thread::sleep(Duration::from_secs(2));
    let history = running.stop();
    let logs = dump_logs(&mut ensemble);
    assert!(
        history.iter().any(|o| o.returned.is_none()),
        "killing a member under load should leave some request without an answer"
    );
    assert_valid(&history, &logs);
}
