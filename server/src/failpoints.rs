//! Failpoints: the process aborts at a named protocol point, to test crashes where
//! real ZooKeeper lost data (issue 8). Compiled in only with the `failpoints`
//! feature; otherwise `hit` is an empty inline function.
//!
//! `ROOKERY_FAILPOINT=<name>[@<myid>]` arms one failpoint (on that member only,
//! with `@`). Names:
//! - `follower_sync_before_persist`: a learner got its sync and is about to log it;
//! - `follower_before_current_epoch`: a learner logged the sync, about to write currentEpoch;
//! - `leader_before_commit`: the leader has a quorum of acks, about to commit;
//! - `snap_install_midway`: a learner is half-way through writing a SNAP.

#[cfg(feature = "failpoints")]
static ARMED: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();

/// Reads `ROOKERY_FAILPOINT` for the member `my_id` (call once at start-up).
#[cfg(feature = "failpoints")]
pub fn init(my_id: u64) {
    let armed = std::env::var("ROOKERY_FAILPOINT")
        .ok()
        .and_then(|v| match v.split_once('@') {
            Some((name, id)) if id.parse::<u64>().ok() == Some(my_id) => Some(name.to_string()),
            Some(_) => None,
            None => Some(v),
        });
    if let Some(name) = &armed {
        tracing::warn!(failpoint = %name, "failpoint armed (test build)");
    }
    let _ = ARMED.set(armed);
}

#[cfg(not(feature = "failpoints"))]
#[inline(always)]
pub fn init(_my_id: u64) {}

/// Aborts the process if `name` is the armed failpoint.
#[cfg(feature = "failpoints")]
pub fn hit(name: &str) {
    if ARMED.get().and_then(Option::as_deref) == Some(name) {
        eprintln!("failpoint {name} hit: aborting");
        std::process::abort();
    }
}

#[cfg(not(feature = "failpoints"))]
#[inline(always)]
pub fn hit(_name: &str) {}
