//! The `zookeeper-client` crate (a real client from another project), connected
//! with retries while members start or elect.

use std::time::Duration;
use zookeeper_client as zk;

/// How long `connect` keeps trying before the test fails.
pub const CONNECT_GUARD: Duration = Duration::from_secs(60);

/// A session on `connect_string` (10 s timeout), retried until `CONNECT_GUARD`.
pub async fn connect(connect_string: &str) -> zk::Client {
    connect_with(connect_string, Duration::from_secs(10)).await
}

/// As `connect`, with this session timeout.
pub async fn connect_with(connect_string: &str, session_timeout: Duration) -> zk::Client {
    let deadline = tokio::time::Instant::now() + CONNECT_GUARD;
    loop {
        match zk::Client::connector()
            .with_session_timeout(session_timeout)
            .connect(connect_string)
            .await
        {
            Ok(c) => return c,
            Err(_) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("connect to {connect_string}: {e}"),
        }
    }
}
