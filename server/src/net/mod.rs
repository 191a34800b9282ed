//! The client edge: accepts TCP connections, answers four-letter words, reads
//! length-prefixed frames and hands decoded requests to the core; a writer task
//! per connection sends what the core queues. Bad input closes only its connection.

pub mod quorum;

use crate::admin;
use crate::config::Config;
use crate::core::{CoreMsg, Outbound};
use crate::proto::{ConnectRequest, DecodeError, Reader, Request};
use crate::tree::watch::ConnId;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, watch};

static NEXT_CONN: AtomicU64 = AtomicU64::new(1);

/// Accepts clients until shutdown.
pub async fn serve(
    listener: TcpListener,
    core: mpsc::UnboundedSender<CoreMsg>,
    cfg: Arc<Config>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, addr)) => {
                    let conn = NEXT_CONN.fetch_add(1, Ordering::Relaxed);
                    tokio::spawn(connection(stream, addr, conn, core.clone(), cfg.clone()));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            },
            _ = shutdown.changed() => return,
        }
    }
}

/// Why a connection stopped reading.
enum Stop {
    Eof,
    Bad(String),
}

async fn read_len(rd: &mut BufReader<tokio::net::tcp::OwnedReadHalf>) -> Result<i32, Stop> {
    let mut b = [0u8; 4];
    match rd.read_exact(&mut b).await {
        Ok(_) => Ok(i32::from_be_bytes(b)),
        Err(_) => Err(Stop::Eof),
    }
}

async fn read_body(
    rd: &mut BufReader<tokio::net::tcp::OwnedReadHalf>,
    len: i32,
    max: usize,
) -> Result<Vec<u8>, Stop> {
    if len < 0 || len as usize > max {
        return Err(Stop::Bad(format!("frame length {len} outside 0..={max}")));
    }
    let mut body = vec![0u8; len as usize];
    rd.read_exact(&mut body)
        .await
        .map_err(|_| Stop::Bad(format!("connection ended inside a {len}-byte frame")))?;
    Ok(body)
}

async fn connection(
    stream: TcpStream,
    addr: SocketAddr,
    conn: ConnId,
    core: mpsc::UnboundedSender<CoreMsg>,
    cfg: Arc<Config>,
) {
    let _ = stream.set_nodelay(true);
    let (rd, mut wr) = stream.into_split();
    let mut rd = BufReader::with_capacity(64 * 1024, rd);
    let max = cfg.jute_max_buffer;

    let first = match read_len(&mut rd).await {
        Ok(l) => l,
        Err(_) => return,
    };
    if let Some(word) = admin::word_of(first) {
        let text = if cfg.four_letter_allowed(word) {
            let (tx, rx) = oneshot::channel();
            let _ = core.send(CoreMsg::FourLetter {
                word: word.to_string(),
                reply: tx,
            });
            rx.await.unwrap_or_default()
        } else {
            format!("{word} is not executed because it is not in the whitelist.\n")
        };
        let _ = wr.write_all(text.as_bytes()).await;
        let _ = wr.shutdown().await;
        return;
    }
    let handshake = match read_body(&mut rd, first, max).await {
        Ok(body) => ConnectRequest::decode(&body).map_err(|e| Stop::Bad(e.to_string())),
        Err(e) => Err(e),
    };
    let req = match handshake {
        Ok(r) => r,
        Err(Stop::Bad(why)) => {
            tracing::info!(%addr, why, "bad handshake; closing");
            let _ = core.send(CoreMsg::BadFrame);
            return;
        }
        Err(Stop::Eof) => return,
    };

    let (out_tx, out_rx) = mpsc::unbounded_channel();
    let (closed_tx, mut closed_rx) = watch::channel(false);
    tokio::spawn(writer(wr, out_rx, closed_tx));
    let _ = core.send(CoreMsg::Open {
        conn,
        addr,
        out: out_tx,
    });
    let _ = core.send(CoreMsg::Connect { conn, req });

    loop {
        let frame = tokio::select! {
            f = async {
                let len = read_len(&mut rd).await?;
                read_body(&mut rd, len, max).await
            } => f,
            _ = closed_rx.changed() => break,
        };
        let body = match frame {
            Ok(b) => b,
            Err(Stop::Eof) => break,
            Err(Stop::Bad(why)) => {
                tracing::info!(%addr, why, "bad frame; closing the connection");
                let _ = core.send(CoreMsg::BadFrame);
                break;
            }
        };
        let mut r = Reader::new(&body);
        let (xid, opcode) = match (r.read_i32(), r.read_i32()) {
            (Ok(x), Ok(o)) => (x, o),
            _ => {
                tracing::info!(%addr, "frame shorter than a request header; closing");
                let _ = core.send(CoreMsg::BadFrame);
                break;
            }
        };
        let decoded = Request::decode(opcode, &mut r);
        if let Err(e) = &decoded {
            if !matches!(e, DecodeError::Unknown { what: "opcode", .. }) {
                tracing::info!(%addr, opcode, error = %e, "malformed request; closing the connection");
                let _ = core.send(CoreMsg::BadFrame);
                break;
            }
        }
        if core
            .send(CoreMsg::Request {
                conn,
                xid,
                opcode,
                body: decoded,
                raw: body[8..].to_vec(),
            })
            .is_err()
        {
            break;
        }
    }
    let _ = core.send(CoreMsg::Closed { conn });
}

/// Writes everything the core queued, coalescing bursts into one write.
async fn writer(
    mut wr: OwnedWriteHalf,
    mut rx: mpsc::UnboundedReceiver<Outbound>,
    closed: watch::Sender<bool>,
) {
    let mut buf: Vec<u8> = Vec::with_capacity(16 * 1024);
    'outer: while let Some(first) = rx.recv().await {
        let mut close = false;
        let mut next = Some(first);
        while let Some(msg) = next {
            match msg {
                Outbound::Frame(f) => buf.extend_from_slice(&f),
                Outbound::Close => {
                    close = true;
                    break;
                }
            }
            next = rx.try_recv().ok();
        }
        if !buf.is_empty() && wr.write_all(&buf).await.is_err() {
            break 'outer;
        }
        buf.clear();
        if close {
            break;
        }
    }
    let _ = wr.shutdown().await;
    let _ = closed.send(true);
}
