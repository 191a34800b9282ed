//! The history checker catches each deliberate bug: the fault scenarios run
//! against a rookery built with `--features mutants` (ROOKERY_MUTANT_BIN), one
//! mutant at a time (ROOKERY_MUTANT), and the checks must find a problem. A
//! mutant nothing catches would mean the checks cannot fail.

use rookery_tests::history;
use rookery_tests::history::scenarios::{self, Outcome};

/// Everything the checks found wrong in an outcome.
fn problems(o: &Outcome) -> Vec<String> {
    let mut all = history::check(&o.history, &o.logs).problems;
    if let Err(e) = &o.same_digest {
        all.push(e.clone());
    }
    all
}

/// One test, so the mutants run one after another (they are chosen through the
/// environment the members inherit).
#[test]
fn each_mutant_is_caught() {
    let bin = std::env::var_os("ROOKERY_MUTANT_BIN").expect(
        "ROOKERY_MUTANT_BIN must name a rookery built with `cargo build --features mutants` \
         (tests/run.sh's mutants step builds it)",
    );
    std::env::set_var("ROOKERY_BIN", bin);

    // A skipped TRUNC keeps the old leader's lone tail: its log and tree diverge.
    std::env::set_var("ROOKERY_MUTANT", "skip_trunc");
    let found = problems(&scenarios::isolated_leader());
    eprintln!(
        "skip_trunc: {:#?}",
        found.iter().take(3).collect::<Vec<_>>()
    );
    assert!(
        !found.is_empty(),
        "nothing caught a member that skips TRUNC"
    );

    // A closeSession answered without its Txn: the close is in no log.
    std::env::set_var("ROOKERY_MUTANT", "drop_close_session");
    let found = problems(&scenarios::follower_kill_and_restart());
    eprintln!(
        "drop_close_session: {:#?}",
        found.iter().take(3).collect::<Vec<_>>()
    );
    assert!(
        found.iter().any(|p| p.contains("Close")),
        "nothing caught acknowledged closes without a closeSession Txn: {found:?}"
    );
    // setWatches ignored: watches set before a reconnect never fire. It shows
    // only if a client that reconnects has a watch outstanding at that moment,
    // which the random workload leaves to chance (one run of four had none):
    // up to five runs, and any one that catches it is enough.
    std::env::set_var("ROOKERY_MUTANT", "lost_watch_on_reconnect");
    let mut runs = Vec::new();
    let caught = (0..5).any(|_| {
        let found = problems(&scenarios::follower_kill_and_restart());
        let hit = found.iter().any(|p| p.contains("did not fire"));
        runs.push(found.into_iter().take(3).collect::<Vec<_>>());
        hit
    });
    eprintln!("lost_watch_on_reconnect: {runs:#?}");
    assert!(
        caught,
        "nothing caught watches lost on reconnect in {} runs: {runs:?}",
        runs.len()
    );
}

/// Crashes at the protocol points where real ZooKeeper lost data (a test build
/// with the `failpoints` feature): the history stays valid.
#[test]
fn crashes_at_failpoints_lose_nothing() {
    let bin = std::env::var_os("ROOKERY_MUTANT_BIN").expect(
        "ROOKERY_MUTANT_BIN must name a rookery built with `--features mutants,failpoints`",
    );
    std::env::set_var("ROOKERY_BIN", bin);
    std::env::remove_var("ROOKERY_MUTANT");
    for failpoint in [
        "follower_sync_before_persist",
        "follower_before_current_epoch",
    ] {
        let o = scenarios::follower_crashes_at(failpoint);
        let found = problems(&o);
        assert!(found.is_empty(), "{failpoint}: {found:#?}");
    }
    let o = scenarios::leader_crashes_before_commit();
    let found = problems(&o);
    assert!(found.is_empty(), "leader_before_commit: {found:#?}");
}

/// A learner killed half-way through writing a SNAP (after its first 4 MB batch)
/// starts empty and clean, gets the SNAP again and ends with the same tree.
#[test]
fn a_crash_mid_snap_install_recovers() {
    use rookery_tests::ensemble::Ensemble;
    use rookery_tests::history::client::SessionClient;
    use std::time::Duration;
    let bin = std::env::var_os("ROOKERY_MUTANT_BIN")
        .expect("ROOKERY_MUTANT_BIN must name a rookery built with `--features failpoints`");
    std::env::set_var("ROOKERY_BIN", bin);
    std::env::remove_var("ROOKERY_MUTANT");
    let mut ensemble = Ensemble::start_with(3, vec![("commitLogCount".into(), "10".into())]);
    let leader = scenarios::wait_leader(&ensemble, None);
    let down = (leader + 1) % 3;
    ensemble.members[down].kill9();
    let members: Vec<_> = ensemble.members.iter().map(|m| m.addr()).collect();
    let mut c = SessionClient::open(members, leader, true, 30_000).expect("open a session");
    let big = vec![b'z'; 45_000];
    let made = c
        .create("/big", b"", false)
        .unwrap_or_else(|_| panic!("create /big"));
    assert_eq!(made.err, 0);
    // 6 MB of znodes: more than one install batch.
    for i in 0..140 {
        let r = c
            .create(&format!("/big/n{i:03}"), &big, false)
            .unwrap_or_else(|_| panic!("create /big/n{i:03}"));
        assert_eq!(r.err, 0);
    }
    let id = down + 1;
    std::env::set_var("ROOKERY_FAILPOINT", format!("snap_install_midway@{id}"));
    ensemble.members[down].restart_unready();
    let status = ensemble.members[down].wait_exit(Duration::from_secs(60));
    std::env::remove_var("ROOKERY_FAILPOINT");
    assert!(
        status.is_some_and(|s| !s.success()),
        "member {id} did not crash mid-install: {status:?}\n{}",
        ensemble.members[down].log_tail()
    );
    let log = std::fs::read_to_string(ensemble.members[down].dir().join("member.log"))
        .unwrap_or_default();
    assert!(
        log.contains("failpoint snap_install_midway hit"),
        "{}",
        ensemble.members[down].log_tail()
    );
    ensemble.members[down].restart_unready();
    ensemble.members[down].wait_serving();
    let log = std::fs::read_to_string(ensemble.members[down].dir().join("member.log"))
        .unwrap_or_default();
    assert!(
        log.contains("a snapshot install was cut short"),
        "the restart did not notice the half-written install:\n{}",
        ensemble.members[down].log_tail()
    );
    ensemble.assert_same_digest();
}
