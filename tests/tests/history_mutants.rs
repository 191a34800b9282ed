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
