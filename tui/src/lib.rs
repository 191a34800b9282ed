//! `rookery tui`: a terminal UI for a ZooKeeper-protocol ensemble (Rookery
//! or Apache ZooKeeper 3.5+).
//!
//! # Layout
//!
//! - [`model`]: the pure UI model. `App::update(Action) -> Vec<Effect>`:
//!   keys (mapped to commands by [`keys`]) and I/O results go in, state
//!   changes, effects come out. Sub-models: [`model::ensemble`] (poll rounds
//!   → roles, lag, rates, histogram quantiles, elections, events),
//!   [`model::tree`] (the paged child browser), [`model::node`] (data views,
//!   Stat, ACL), [`model::forms`] (inputs, dialogs, write operations).
//! - [`parse`]: pure parsers for four-letter words and Prometheus text.
//! - [`ui`]: rendering with ratatui, from `&App` only.
//! - [`io`]: the edges on a tokio runtime: the ensemble poller, the
//!   ZooKeeper worker (the `zookeeper-client` crate), `$EDITOR`.
//! - `terminal` and `runtime`: raw mode, the panic hook, the UI loop.
//!
//! The TUI is a client like any other: it never links the server, so it
//! works against Apache ZooKeeper too (without `/metrics` it falls back to
//! the four-letter words).

pub mod client_tls;
#[cfg(test)]
mod fixtures;
pub mod io;
pub mod keys;
pub mod model;
pub mod parse;
mod runtime;
mod terminal;
pub mod ui;
#[cfg(test)]
mod ui_tests;

/// What `rookery tui` was asked to do.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TuiOptions {
    /// ZooKeeper connect string: `host:port,host:port[/chroot]`.
    pub connect: String,
    /// Start in the tree view on this node.
    pub path: Option<String>,
    /// Disable every write.
    pub read_only: bool,
    /// `/metrics` endpoints, one per member in connect-string order; empty:
    /// ask each member's `conf`.
    pub metrics: Vec<String>,
    /// Connect over TLS with these certificates (sessions and four-letter
    /// words alike; `/metrics` stays plain HTTP).
    pub tls: Option<client_tls::TlsFiles>,
}

/// Why the TUI could not run.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A bad `--connect`.
    #[error("--connect: {0}")]
    Connect(String),
    /// A bad `--metrics`.
    #[error("--metrics: {0}")]
    Metrics(String),
    /// The TLS certificates could not be used.
    #[error("TLS: {0}")]
    Tls(#[from] client_tls::TlsError),
    /// The terminal failed.
    #[error("terminal: {0}")]
    Terminal(#[from] std::io::Error),
    /// The runtime for the I/O edges would not start.
    #[error("starting the I/O runtime: {0}")]
    Runtime(std::io::Error),
    /// A background task stopped.
    #[error("{0} stopped")]
    Stopped(&'static str),
}

/// Runs the TUI until the user quits. Takes over the terminal; gives it
/// back on return and on panic.
pub fn run(opts: TuiOptions) -> Result<(), Error> {
    runtime::run(opts)
}

/// The member addresses (`host:port`) in a connect string; a chroot suffix is
/// dropped and a missing port is 2181.
pub fn members_of(connect: &str) -> Result<Vec<String>, Error> {
    let hosts = connect.split('/').next().unwrap_or_default();
    let members: Vec<String> = hosts
        .split(',')
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .map(|h| {
            let has_port = match h.rfind(']') {
                Some(end) => h[end..].contains(':'),
                None => h.contains(':'),
            };
            if has_port {
                h.to_string()
            } else {
                format!("{h}:2181")
            }
        })
        .collect();
    if members.is_empty() {
        return Err(Error::Connect(format!("{connect:?}: no host:port")));
    }
    Ok(members)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_strings() {
        assert_eq!(
            members_of("a:1, b:2,c/chroot/x").expect("ok"),
            vec!["a:1", "b:2", "c:2181"]
        );
        assert_eq!(
            members_of("[::1]:2181,[::1]").expect("ok"),
            vec!["[::1]:2181", "[::1]:2181"]
        );
        assert!(members_of("").is_err());
        assert!(members_of("/chroot").is_err());
    }
}
