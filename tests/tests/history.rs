//! Fault scenarios under a recorded workload, checked against the members' logs
//! (see `rookery_tests::history` for what the checker asserts).

use rookery_tests::history::scenarios::{self, AfterCorruption, Damage, Outcome};
use rookery_tests::history::{self, Kind};

fn assert_valid(o: &Outcome) {
    if let Err(e) = &o.same_digest {
        panic!("the members' trees differ at the end: {e}");
    }
    let verdict = history::check(&o.history, &o.logs);
    let compare_and_sets = o
        .history
        .iter()
        .filter(|op| op.kind == Kind::CheckAndSet && op.returned.is_some())
        .count();
    eprintln!(
        "checked {} acknowledged writes ({} compare-and-sets, {} sequential creates), {} \
         reads, {} indeterminate, {} watches set and {} events, against {} txns in {} epochs",
        verdict.acknowledged_writes,
        compare_and_sets,
        verdict.sequential_creates,
        verdict.reads,
        verdict.indeterminate,
        verdict.watches_set,
        verdict.watch_events,
        verdict.txns,
        o.epochs
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
    assert!(
        compare_and_sets > 10 && verdict.sequential_creates > 10,
        "too few multis or sequential creates to mean anything"
    );
    assert!(
        verdict.watch_events > 10,
        "too few watch events to mean anything: {}",
        verdict.watch_events
    );
    let closes = o
        .history
        .iter()
        .filter(|op| op.kind == Kind::Close && op.returned.is_some())
        .count();
    assert!(
        closes > 0,
        "no session was closed: the ephemeral check saw nothing"
    );
}

/// The leader is killed with kill -9 three times under load; each time it comes
/// back. Nothing acknowledged is lost, reads are never stale for their zxid, and
/// every member ends with the same log.
#[test]
fn leader_kill_loop() {
    let o = scenarios::leader_kill_loop();
    // The fault really happened: three leaders killed, each change a new epoch.
    assert!(
        o.epochs >= 4,
        "expected four epochs in the log, saw {}",
        o.epochs
    );
    assert_valid(&o);
}

/// A follower is killed and restarted twice while every client writes; the
/// pinned clients on it reconnect to it and must never see time go back.
#[test]
fn follower_kill_and_restart() {
    let o = scenarios::follower_kill_and_restart();
    assert!(
        o.history.iter().any(|op| op.returned.is_none()),
        "killing a member under load should leave some request without an answer"
    );
    assert_valid(&o);
}

/// Every member is killed with kill -9 at once, twice, mid-write: everything
/// acknowledged before the kill is there after the restart.
#[test]
fn kill_every_member_mid_write() {
    let o = scenarios::kill_every_member();
    assert!(
        o.epochs >= 3,
        "expected three epochs in the log, saw {}",
        o.epochs
    );
    assert_valid(&o);
}

/// The leader is cut off both ways with clients on both sides: it acknowledges
/// nothing alone, the majority goes on, and healed it keeps none of its own tail.
#[test]
fn isolated_leader_with_clients_on_both_sides() {
    let o = scenarios::isolated_leader();
    assert!(o.epochs >= 2, "no new leader was elected");
    assert!(
        o.history.iter().any(|op| op.returned.is_none()),
        "the isolated side should have left requests without an answer"
    );
    assert_valid(&o);
}

/// Clients cut off from their member: shorter than the session timeout, the
/// sessions live on; longer, the pinned client's session expires, its close is
/// in the log before anything else of it, and its ephemerals are gone.
#[test]
fn clients_cut_off_shorter_and_longer_than_their_session_timeout() {
    let o = scenarios::clients_cut_off();
    let verdict = history::check(&o.history, &o.logs);
    assert!(
        verdict.expired_sessions >= 1,
        "the long cut should have expired the pinned client's session"
    );
    let short_cut_sessions_lived = o
        .history
        .iter()
        .filter(|op| op.client == 0)
        .all(|op| op.kind != Kind::Expired);
    assert!(
        short_cut_sessions_lived,
        "a cut shorter than the timeout expired a session"
    );
    assert_valid(&o);
}

/// The leader frozen past syncLimit, then woken: the others elected a new leader,
/// and the zombie acknowledged nothing alone.
#[test]
fn paused_leader_acknowledges_nothing_alone() {
    let o = scenarios::paused_leader();
    assert!(
        o.epochs >= 2,
        "no new leader was elected while the old one was frozen"
    );
    assert_valid(&o);
}

/// Nothing reaches the leader, though its own messages go out.
#[test]
fn one_way_cut_to_the_leader() {
    let o = scenarios::one_way_cut_to_the_leader();
    assert!(o.epochs >= 2, "the deaf leader should have been replaced");
    assert_valid(&o);
}

/// A random member cut off both ways every few seconds.
#[test]
fn random_minority_partitions() {
    let o = scenarios::random_partitions();
    assert_valid(&o);
}

/// Five members lose two at once, the leader among them: the three left are a
/// quorum and go on; nothing acknowledged is lost.
#[test]
fn five_members_lose_two_at_once() {
    let o = scenarios::five_members_lose_two();
    assert_eq!(o.logs.len(), 5);
    assert!(o.epochs >= 2, "no new leader after the old one was killed");
    assert!(
        o.history.iter().any(|op| op.returned.is_none()),
        "killing two members under load should leave some request without an answer"
    );
    assert_valid(&o);
}

/// Every member link 100 ms ± 20 ms each way with 5 % loss: slow, never wrong.
#[test]
fn slow_lossy_links() {
    let (o, lost) = scenarios::slow_lossy_links();
    assert!(
        lost > 10,
        "only {lost} chunks were lost: the fault did not bite"
    );
    assert_valid(&o);
}

/// A follower isolated while the others write comes back by SNAP: its log
/// starts at the snapshot and is, from there on, the others' log.
#[test]
fn follower_isolated_until_it_needs_snap() {
    let o = scenarios::follower_isolated_until_snap();
    let verdict = history::check(&o.history, &o.logs);
    assert!(
        verdict.logs_starting_later >= 1,
        "no member's log starts at a snapshot: the follower never got SNAP"
    );
    assert_valid(&o);
}

/// The leader's disk fills up under load: it stops rather than acknowledge what
/// it cannot persist, the others go on, and it catches up once it has room.
#[test]
fn disk_full_on_the_leader() {
    let (o, stopped) = scenarios::disk_full_on_the_leader();
    assert!(
        stopped.contains("storage") || stopped.contains("No space"),
        "the leader stopped without saying its storage failed:\n{stopped}"
    );
    assert!(o.epochs >= 2, "no new leader after the old one stopped");
    assert_valid(&o);
}

/// One byte of a follower's write-ahead log flipped while it is down: the
/// record's checksum fails, and the member refuses to start, saying what to do;
/// wiped, it comes back by SNAP. Its log then starts at the snapshot.
#[test]
fn a_corrupt_record_in_a_followers_log_stops_it() {
    let (o, after) = scenarios::corrupt_file_on_a_follower("log", Damage::FlipByte);
    match &after {
        AfterCorruption::Refused(said) => assert!(
            said.contains("is corrupt") && said.contains("re-syncs"),
            "refused without saying why and what to do:\n{said}"
        ),
        AfterCorruption::Resynced => panic!("started on a log with a failed checksum"),
    }
    assert_valid(&o);
}

/// A follower's write-ahead log loses its second half while it is down (a disk
/// that lost what it said it had written). To RocksDB that looks like what a
/// crash leaves, so the member starts with the first half, having forgotten
/// entries it had acknowledged; it must catch up from the leader before it
/// serves, and serve nothing wrong.
#[test]
fn a_followers_log_cut_in_half_is_resynced() {
    let (o, after) = scenarios::corrupt_file_on_a_follower("log", Damage::CutInHalf);
    assert!(
        matches!(after, AfterCorruption::Resynced),
        "expected it to start on the first half: {after:?}"
    );
    assert_valid(&o);
}

/// A cycle of random faults. 30 s by default; `ROOKERY_SOAK_SECONDS` makes it a
/// long soak (and `ROOKERY_SOAK_SEED` picks another sequence of faults).
#[test]
fn soak_under_a_cycle_of_faults() {
    let seconds = std::env::var("ROOKERY_SOAK_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30);
    let seed = std::env::var("ROOKERY_SOAK_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x50a4);
    let (o, faults) = scenarios::soak(std::time::Duration::from_secs(seconds), seed);
    eprintln!("soak of {seconds} s, seed {seed}: {faults:?}");
    assert!(faults.len() >= 3, "too few faults: {faults:?}");
    assert_valid(&o);
}
