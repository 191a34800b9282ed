//! Deliberate bugs the simulator must catch (DESIGN §3, issue 3). Compiled in only
//! with the `mutants` feature; without it every check is a constant `false`.

/// A known way to break ZAB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Mutant {
    /// Acknowledge a proposal before it is durable (leader and followers).
    AckBeforeFsync = 1,
    /// Ignore TRUNC: keep a diverged tail.
    SkipTrunc = 2,
    /// Ack NEWLEADER before the synced history is durable (the ZOOKEEPER-4643
    /// family: the leader counts a follower that can still lose the history).
    NewLeaderAckBeforeLog = 3,
    /// Answer a client's closeSession without proposing it: the session's
    /// ephemerals outlive the close (caught by the history checker).
    DropCloseSession = 4,
    /// Ignore a reconnecting client's setWatches: its watches are silently gone
    /// (the ZOOKEEPER-1412 class; caught by the history checker's watch rules).
    LostWatchOnReconnect = 5,
}

impl Mutant {
    /// The mutant named `name` (as `ROOKERY_MUTANT` spells it).
    pub fn from_name(name: &str) -> Option<Mutant> {
        Some(match name {
            "ack_before_fsync" => Mutant::AckBeforeFsync,
            "skip_trunc" => Mutant::SkipTrunc,
            "newleader_ack_before_log" => Mutant::NewLeaderAckBeforeLog,
            "drop_close_session" => Mutant::DropCloseSession,
            "lost_watch_on_reconnect" => Mutant::LostWatchOnReconnect,
            _ => return None,
        })
    }
}

#[cfg(feature = "mutants")]
static ACTIVE: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(0);

/// Turns a mutant on (or all off with `None`) for the whole process.
#[cfg(feature = "mutants")]
pub fn set(mutant: Option<Mutant>) {
    ACTIVE.store(
        mutant.map_or(0, |m| m as u8),
        std::sync::atomic::Ordering::SeqCst,
    );
}

#[cfg(feature = "mutants")]
pub(crate) fn active(mutant: Mutant) -> bool {
    ACTIVE.load(std::sync::atomic::Ordering::Relaxed) == mutant as u8
}

#[cfg(not(feature = "mutants"))]
#[inline(always)]
pub(crate) fn active(_mutant: Mutant) -> bool {
    false
}
