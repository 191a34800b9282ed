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
