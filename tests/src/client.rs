//! The `zookeeper-client` crate (a real client from another project), connected
//! with retries while members start or elect.

use std::time::Duration;
use zookeeper_client as zk;

/// How long `connect` keeps trying before the test fails.
pub const CONNECT_GUARD: Duration = Duration::from_secs(60);

/// A session on `connect_string` (10 s timeout), retried until `CONNECT_GUARD`.
pub async fn connect(connect_string: &str) -> zk::Client {
    let deadline = tokio::time::Instant::now() + CONNECT_GUARD;
    loop {
        match zk::Client::connector()
            .with_session_timeout(Duration::from_secs(10))
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
