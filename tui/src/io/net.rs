//! Four-letter words on the client port (plain or TLS) and an HTTP/1.0 GET
//! for `/metrics` (no HTTP client library: the request is one line and the
//! reply is read to EOF).

use crate::client_tls::ClientTls;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// The most a reply may be; a bigger one is cut off.
const MAX_REPLY: u64 = 16 << 20;

async fn exchange(addr: &str, tls: Option<&ClientTls>, request: &[u8]) -> Result<Vec<u8>, String> {
    let stream = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    match tls {
        Some(tls) => {
            let stream = tls
                .wrap(addr, stream)
                .await
                .map_err(|e| format!("TLS: {e}"))?;
            send_and_read(stream, request).await
        }
        None => send_and_read(stream, request).await,
    }
}

async fn send_and_read<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    request: &[u8],
) -> Result<Vec<u8>, String> {
    stream.write_all(request).await.map_err(|e| e.to_string())?;
    stream.flush().await.map_err(|e| e.to_string())?;
    let mut reply = Vec::new();
    // A TLS peer may close without close_notify after the reply; keep what came.
    match stream.take(MAX_REPLY).read_to_end(&mut reply).await {
        Ok(_) => Ok(reply),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !reply.is_empty() => Ok(reply),
        Err(e) => Err(e.to_string()),
    }
}

/// Sends a four-letter word to `addr` (`host:port`), over TLS when `tls` is
/// given, and returns the reply.
pub async fn four_letter(
    addr: &str,
    tls: Option<&ClientTls>,
    word: &str,
    timeout: Duration,
) -> Result<String, String> {
    match tokio::time::timeout(timeout, exchange(addr, tls, word.as_bytes())).await {
        Ok(Ok(bytes)) => Ok(String::from_utf8_lossy(&bytes).into_owned()),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(format!("no answer to {word} within {timeout:?}")),
    }
}

/// Splits `http://host:port[/path]` into (`host:port`, `/path`); the path
/// defaults to `/metrics`.
pub fn split_url(url: &str) -> Result<(String, String), String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("{url}: only http:// URLs are supported"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/metrics"),
    };
    if authority.is_empty() {
        return Err(format!("{url}: no host"));
    }
    let authority = if authority.contains(':') && !authority.ends_with(']') {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    let path = if path == "/" { "/metrics" } else { path };
    Ok((authority, path.to_string()))
}

/// GETs `url` and returns the body of a 200 reply.
pub async fn http_get(url: &str, timeout: Duration) -> Result<String, String> {
    let (authority, path) = split_url(url)?;
    let host = authority
        .rsplit_once(':')
        .map_or(authority.as_str(), |(h, _)| h);
    let request = format!(
        "GET {path} HTTP/1.0\r\nHost: {host}\r\nAccept: text/plain\r\nConnection: close\r\n\r\n"
    );
    let reply =
        match tokio::time::timeout(timeout, exchange(&authority, None, request.as_bytes())).await {
            Ok(r) => r?,
            Err(_) => return Err(format!("{url}: no answer within {timeout:?}")),
        };
    let text = String::from_utf8_lossy(&reply);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("{url}: not an HTTP reply"))?;
    let status = head.lines().next().unwrap_or_default();
    if status.split_whitespace().nth(1) != Some("200") {
        return Err(format!("{url}: {status}"));
    }
    if head.lines().any(|l| {
        l.to_ascii_lowercase()
            .starts_with("transfer-encoding: chunked")
    }) {
        return Err(format!("{url}: chunked reply to an HTTP/1.0 request"));
    }
    Ok(body.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            split_url("http://127.0.0.1:7001").expect("ok"),
            ("127.0.0.1:7001".to_string(), "/metrics".to_string())
        );
        assert_eq!(
            split_url("http://h:1/custom").expect("ok"),
            ("h:1".to_string(), "/custom".to_string())
        );
        assert_eq!(split_url("http://h").expect("ok").0, "h:80");
        assert!(split_url("https://h:1").is_err());
    }

    #[tokio::test(flavor = "current_thread")]
    async fn http_get_against_a_one_shot_server() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            if let Ok((mut s, _)) = listener.accept().await {
                let mut buf = [0u8; 1024];
                let _ = s.read(&mut buf).await;
                let _ = s
                    .write_all(
                        b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nznode_count 5\n",
                    )
                    .await;
            }
        });
        let body = http_get(&format!("http://{addr}"), Duration::from_secs(5))
            .await
            .expect("get");
        assert_eq!(body, "znode_count 5\n");
    }
}
