//! Client helpers the recipe examples share: connecting, retrying after a lost
//! connection, and ephemeral-sequential nodes that survive a lost create reply.
//! Copy this file (as `common/mod.rs`) along with an example.
#![allow(dead_code)]

use std::future::Future;
use std::time::Duration;
use zookeeper_client as zk;

/// Opens a session, trying again while no server accepts one (e.g. during an election).
pub async fn connect_session(connect: &str, session_timeout: Duration) -> zk::Client {
    loop {
        match zk::Client::connector()
            .with_session_timeout(session_timeout)
            .connect(connect)
            .await
        {
            Ok(client) => return client,
            Err(error) => {
                eprintln!("connect to {connect}: {error}; trying again");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
}

/// Whether `error` means the connection broke before the reply came, so the request may or
/// may not have taken effect. zookeeper-client reports that as `ConnectionLoss`, or as the
/// I/O error that broke the connection (`Error::Custom`).
pub fn connection_lost(error: &zk::Error) -> bool {
    matches!(error, zk::Error::ConnectionLoss | zk::Error::Custom(_))
}

/// Creates an EPHEMERAL_SEQUENTIAL child of `dir` named `prefix` + sequence number and
/// returns its name. `prefix` must be unique to the session: when the connection is lost,
/// the create may or may not have happened, and the node is found again by its prefix.
pub async fn create_ephemeral_sequential(
    client: &zk::Client,
    dir: &str,
    prefix: &str,
) -> Result<String, zk::Error> {
    let options = zk::CreateMode::EphemeralSequential.with_acls(zk::Acls::anyone_all());
    let path = format!("{dir}/{prefix}");
    loop {
        match client.create(&path, b"", &options).await {
            Ok((_, sequence)) => return Ok(format!("{prefix}{sequence}")),
            Err(error) if connection_lost(&error) => {
                let children = retry(|| client.list_children(dir)).await?;
                if let Some(mine) = children.into_iter().find(|c| c.starts_with(prefix)) {
                    return Ok(mine);
                }
            }
            Err(error) => return Err(error),
        }
    }
}

/// Waits until the session is no longer connected.
pub async fn disconnected(state: &mut zk::StateWatcher) -> zk::SessionState {
    loop {
        let now = state.changed().await;
        if now != zk::SessionState::SyncConnected {
            return now;
        }
    }
}

/// Runs `op` again after a connection loss (see [`connection_lost`]). Only for operations
/// that are safe to repeat.
pub async fn retry<T, F, Fut>(mut op: F) -> Result<T, zk::Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, zk::Error>>,
{
    loop {
        match op().await {
            Err(error) if connection_lost(&error) => {
                tokio::time::sleep(Duration::from_millis(100)).await
            }
            result => return result,
        }
    }
}

/// The sequence number at the end of a sequential node's name.
pub fn sequence(name: &str) -> Option<i64> {
    name.rsplit('-').next()?.parse().ok()
}

pub fn session_error(state: zk::SessionState) -> zk::Error {
    match state {
        zk::SessionState::Expired => zk::Error::SessionExpired,
        zk::SessionState::AuthFailed => zk::Error::AuthFailed,
        _ => zk::Error::ClientClosed,
    }
}

/// What every example's command line has: the connect string (the one
/// positional argument, default 127.0.0.1:2181) and `--guard-secs S` (default
/// 300), the time the whole run may take.
pub struct CommandLine {
    pub connect: String,
    pub guard: Duration,
}

impl CommandLine {
    /// Reads the arguments; every other flag takes a number and goes to `flag`,
    /// which returns false for a flag it does not know. A bad argument prints
    /// `usage` and exits with status 2.
    pub fn parse(usage: &str, mut flag: impl FnMut(&str, u64) -> bool) -> CommandLine {
        let fail = || -> ! { CommandLine::parse_failed(usage) };
        let mut cli = CommandLine {
            connect: "127.0.0.1:2181".to_string(),
            guard: Duration::from_secs(300),
        };
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            if !arg.starts_with('-') {
                cli.connect = arg;
                continue;
            }
            let value: u64 = args
                .next()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| fail());
            if arg == "--guard-secs" {
                cli.guard = Duration::from_secs(value);
            } else if !flag(&arg, value) {
                fail();
            }
        }
        cli
    }

    /// Prints `usage` and exits with status 2.
    pub fn parse_failed(usage: &str) -> ! {
        eprintln!("usage: {usage}");
        std::process::exit(2);
    }
}

/// Runs an example's work within the guard; on an error or a timeout it says
/// so and exits with status 1.
pub async fn within_guard<T>(
    name: &str,
    guard: Duration,
    work: impl Future<Output = Result<T, String>>,
) -> T {
    match tokio::time::timeout(guard, work).await {
        Ok(Ok(report)) => report,
        Ok(Err(error)) => {
            eprintln!("{name} failed: {error}");
            std::process::exit(1);
        }
        Err(_) => {
            eprintln!("{name} did not finish within {guard:?}");
            std::process::exit(1);
        }
    }
}
