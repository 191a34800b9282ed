//! The I/O edges: everything that touches a socket, a process or the clock.
//! Each runs on the tokio runtime and reports back to the UI loop as
//! [`crate::model::Action`]s over a channel, so input is never blocked.

pub mod editor;
pub mod net;
pub mod poller;
pub mod zk;

/// Where the edges send their results.
pub type ActionTx = std::sync::mpsc::Sender<crate::model::Action>;

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
