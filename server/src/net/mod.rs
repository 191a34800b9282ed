//! The client edge: accepts TCP connections, answers four-letter words, reads
//! length-prefixed frames and hands decoded requests to the core; a writer task
//! per connection sends what the core queues. Bad input closes only its connection.
//!
//! What one client can make the member hold is bounded here:
//! - `maxClientCnxns` counts every accepted connection from an address, also one
//!   that has not sent its ConnectRequest (ZooKeeper counts them at accept too);
//! - a connection must complete its handshake (or its four-letter word) within
//!   `HANDSHAKE_TIMEOUT`, ZooKeeper's sessionless-connection timeout;
//! - requests read and not answered yet are bounded per connection (count and
//!   bytes): past that, the connection's requests are no longer read and the
//!   client's own TCP window holds it back, as ZooKeeper's throttling does;
//! - bytes queued for a client that does not read them are bounded: past a soft
//!   limit its requests are no longer read either, and past a hard limit the
//!   client is disconnected.

pub mod quorum;
pub mod tls;
pub mod x509;

use crate::admin;
use crate::config::Config;
use crate::core::{CoreMsg, Outbound};
use crate::proto::{ConnectRequest, DecodeError, Reader, Request};
use crate::tree::watch::ConnId;
use rookery_metrics::Metrics;
use std::collections::{HashMap, VecDeque};
use std::io::IoSlice;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, watch, Notify};

static NEXT_CONN: AtomicU64 = AtomicU64::new(1);

/// A connection must send its ConnectRequest (or four-letter word) within this.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Once closing, queued replies get this long to reach a client that is not reading.
const CLOSE_FLUSH_TIMEOUT: Duration = Duration::from_secs(5);
/// Frames handed to one vectored write.
const WRITE_BATCH: usize = 64;
/// Requests of one connection read and not answered yet, at most.
const MAX_IN_FLIGHT: usize = 1000;

/// Bytes of one connection's requests read and not answered yet, at most (plus
/// the one request read last).
fn in_flight_bytes_limit(cfg: &Config) -> usize {
    cfg.jute_max_buffer.max(1 << 20).saturating_mul(4)
}

/// Bytes queued for a client after which its requests are no longer read.
fn soft_outbound_limit(cfg: &Config) -> usize {
    cfg.jute_max_buffer.max(1 << 20)
}

/// Bytes queued for a client, beyond the frame being written, after which it is
/// disconnected. A single reply larger than this is still sent whole.
fn hard_outbound_limit(cfg: &Config) -> usize {
    cfg.jute_max_buffer.saturating_mul(4).max(64 << 20)
}

/// Open connections per source address (`maxClientCnxns`).
pub type PerAddress = Arc<Mutex<HashMap<IpAddr, usize>>>;

/// One connection's place in the count of its address; given back on drop.
struct AddressSlot {
    counts: PerAddress,
    ip: IpAddr,
}

impl AddressSlot {
    /// Takes a slot, or `None` when the address already has `max` (0: no limit).
    fn take(counts: &PerAddress, ip: IpAddr, max: usize) -> Option<AddressSlot> {
        let mut map = counts.lock().unwrap_or_else(|e| e.into_inner());
        let n = map.entry(ip).or_insert(0);
        if max > 0 && *n >= max {
            return None;
        }
        *n += 1;
        Some(AddressSlot {
            counts: counts.clone(),
            ip,
        })
    }
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut map = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = map.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.ip);
            }
        }
    }
}

/// What one connection holds in the member, shared by its reader and its writer:
/// the reader stops reading requests while either side is over its limit.
struct Flow {
    /// Bytes the writer took from the core's queue and has not written yet.
    outbound: AtomicUsize,
    /// Requests handed to the core and not answered yet.
    in_flight: Mutex<InFlight>,
    /// Signalled when the writer writes or a request is answered.
    progress: Notify,
}

#[derive(Default)]
struct InFlight {
    /// (xid, bytes) in the order they were read.
    requests: VecDeque<(i32, usize)>,
    bytes: usize,
}

impl Flow {
    fn in_flight(&self) -> std::sync::MutexGuard<'_, InFlight> {
        self.in_flight.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A request is about to go to the core.
    fn sent(&self, xid: i32, bytes: usize) {
        let mut f = self.in_flight();
        f.requests.push_back((xid, bytes));
        f.bytes += bytes;
    }

    /// The core queued a frame: a reply answers the oldest request with its xid and
    /// every request before it (replies leave in request order; one that never got
    /// an answer is not waited for forever). Watch events match nothing.
    fn queued(&self, frame: &[u8]) {
        let Some(xid) = frame.get(4..8) else { return };
        let xid = i32::from_be_bytes([xid[0], xid[1], xid[2], xid[3]]);
        let mut f = self.in_flight();
        let Some(at) = f.requests.iter().position(|(x, _)| *x == xid) else {
            return;
        };
        for (_, bytes) in f.requests.drain(..=at).collect::<Vec<_>>() {
            f.bytes -= bytes;
        }
        drop(f);
        self.progress.notify_one();
    }

    /// Whether the reader should wait before reading another request.
    fn saturated(&self, soft_outbound: usize, in_flight_bytes: usize) -> bool {
        if self.outbound.load(Ordering::Acquire) > soft_outbound {
            return true;
        }
        let f = self.in_flight();
        f.requests.len() >= MAX_IN_FLIGHT || f.bytes > in_flight_bytes
    }
}

/// Accepts clients until shutdown.
/// Serves clients on `listener`, over TLS when `tls` is given (`secureClientPort`).
/// `per_address` is shared by the plain and TLS listeners: maxClientCnxns counts both.
pub async fn serve(
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    per_address: PerAddress,
    core: mpsc::UnboundedSender<CoreMsg>,
    cfg: Arc<Config>,
    metrics: Arc<Metrics>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, addr)) => {
                    let max = cfg.max_client_cnxns as usize;
                    let Some(slot) = AddressSlot::take(&per_address, addr.ip(), max) else {
                        tracing::warn!(%addr, max, "too many connections from one address (maxClientCnxns)");
                        metrics.connection_rejected.inc();
                        drop(stream);
                        continue;
                    };
                    let conn = NEXT_CONN.fetch_add(1, Ordering::Relaxed);
                    let (core, cfg, metrics) = (core.clone(), cfg.clone(), metrics.clone());
                    let _ = stream.set_nodelay(true);
                    let tls = tls.clone();
                    tokio::spawn(async move {
                        match tls {
                            None => {
                                let (rd, wr) = stream.into_split();
                                let peer = Peer { addr, certificate_subject: None };
                                connection(rd, wr, peer, conn, core, cfg, metrics).await;
                            }
                            Some(acceptor) => {
                                // The TLS handshake counts against the same deadline as ours.
                                match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                                    Ok(Ok(tls_stream)) => {
                                        // A verified client certificate names the client: its x509 identity.
                                        let certificate_subject = tls_stream
                                            .get_ref()
                                            .1
                                            .peer_certificates()
                                            .and_then(|chain| chain.first())
                                            .and_then(|cert| x509::subject_name(cert));
                                        let peer = Peer { addr, certificate_subject };
                                        let (rd, wr) = tokio::io::split(tls_stream);
                                        connection(rd, wr, peer, conn, core, cfg, metrics).await;
                                    }
                                    Ok(Err(e)) => {
                                        tracing::info!(%addr, error = %e, "TLS handshake failed; closing");
                                        metrics.connection_rejected.inc();
                                    }
                                    Err(_) => tracing::info!(%addr, "no TLS handshake in time; closing"),
                                }
                            }
                        }
                        drop(slot);
                    });
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

async fn read_len<R: AsyncRead + Unpin>(rd: &mut BufReader<R>) -> Result<i32, Stop> {
    let mut b = [0u8; 4];
    match rd.read_exact(&mut b).await {
        Ok(_) => Ok(i32::from_be_bytes(b)),
        Err(_) => Err(Stop::Eof),
    }
}

async fn read_body<R: AsyncRead + Unpin>(
    rd: &mut BufReader<R>,
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

/// The writing half of a client connection.
trait ClientWrite: AsyncWrite + Unpin + Send + 'static {
    /// Makes closing reset the connection; false where that cannot be done.
    fn reset(&self) -> bool;
}

impl ClientWrite for tokio::net::tcp::OwnedWriteHalf {
    fn reset(&self) -> bool {
        self.as_ref().set_zero_linger().is_ok()
    }
}

impl ClientWrite for tokio::io::WriteHalf<tokio_rustls::server::TlsStream<tokio::net::TcpStream>> {
    fn reset(&self) -> bool {
        false
    }
}

/// Who is at the other end of a client connection.
#[derive(Debug, Clone)]
pub struct Peer {
    pub addr: SocketAddr,
    /// The subject of the client's verified TLS certificate (RFC 2253).
    pub certificate_subject: Option<String>,
}

async fn connection<R, W>(
    rd: R,
    mut wr: W,
    peer: Peer,
    conn: ConnId,
    core: mpsc::UnboundedSender<CoreMsg>,
    cfg: Arc<Config>,
    metrics: Arc<Metrics>,
) where
    R: AsyncRead + Unpin,
    W: ClientWrite,
{
    let addr = peer.addr;
    let mut rd = BufReader::with_capacity(64 * 1024, rd);
    let max = cfg.jute_max_buffer;

    let first = match tokio::time::timeout(HANDSHAKE_TIMEOUT, read_len(&mut rd)).await {
        Ok(Ok(l)) => l,
        Ok(Err(_)) => return,
        Err(_) => {
            tracing::info!(%addr, "no handshake in time; closing");
            return;
        }
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
        let _ = tokio::time::timeout(CLOSE_FLUSH_TIMEOUT, async {
            let _ = wr.write_all(text.as_bytes()).await;
            let _ = wr.shutdown().await;
        })
        .await;
        return;
    }
    let body = tokio::time::timeout(HANDSHAKE_TIMEOUT, read_body(&mut rd, first, max)).await;
    let handshake = match body {
        Ok(Ok(body)) => ConnectRequest::decode(&body).map_err(|e| Stop::Bad(e.to_string())),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(Stop::Bad("no whole ConnectRequest in time".to_string())),
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
    let flow = Arc::new(Flow {
        outbound: AtomicUsize::new(0),
        in_flight: Mutex::new(InFlight::default()),
        progress: Notify::new(),
    });
    let soft = soft_outbound_limit(&cfg);
    let in_flight_bytes = in_flight_bytes_limit(&cfg);
    tokio::spawn(writer(
        wr,
        out_rx,
        closed_tx,
        flow.clone(),
        hard_outbound_limit(&cfg),
        addr,
        metrics,
    ));
    let _ = core.send(CoreMsg::Open {
        conn,
        peer,
        out: out_tx,
    });
    let _ = core.send(CoreMsg::Connect { conn, req });

    'requests: loop {
        // A client with enough in the member already, or not reading its replies,
        // gets no more requests read until that drains.
        while flow.saturated(soft, in_flight_bytes) {
            tokio::select! {
                _ = flow.progress.notified() => {}
                _ = closed_rx.changed() => break 'requests,
            }
        }
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
        // A malformed body within a whole frame leaves the stream in step: the core
        // answers it with an error and the connection goes on, as in ZooKeeper.
        let decoded = Request::decode(opcode, &mut r);
        if let Err(e) = &decoded {
            if !matches!(e, DecodeError::Unknown { what: "opcode", .. }) {
                tracing::info!(%addr, opcode, error = %e, "malformed request");
            }
        }
        flow.sent(xid, body.len());
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

/// Frames taken from the core's queue and not yet written, counted in `Flow`.
struct Pending {
    frames: VecDeque<Vec<u8>>,
    /// Bytes of the first frame already written.
    head_written: usize,
    bytes: usize,
    flow: Arc<Flow>,
}

impl Pending {
    /// Queues a frame; false for a close (asked for, or the core is gone).
    fn take(&mut self, msg: Option<Outbound>) -> bool {
        match msg {
            Some(Outbound::Frame(f)) => {
                if !f.is_empty() {
                    self.bytes += f.len();
                    self.flow.outbound.fetch_add(f.len(), Ordering::AcqRel);
                    self.flow.queued(&f);
                    self.frames.push_back(f);
                }
                true
            }
            Some(Outbound::Close) | None => false,
        }
    }

    /// Bytes queued behind the frame being written.
    fn behind_head(&self) -> usize {
        self.bytes
            - self
                .frames
                .front()
                .map_or(0, |f| f.len() - self.head_written)
    }

    fn slices(&self) -> Vec<IoSlice<'_>> {
        self.frames
            .iter()
            .take(WRITE_BATCH)
            .enumerate()
            .map(|(i, f)| IoSlice::new(if i == 0 { &f[self.head_written..] } else { f }))
            .collect()
    }

    fn written(&mut self, mut n: usize) {
        self.bytes -= n;
        self.flow.outbound.fetch_sub(n, Ordering::AcqRel);
        while n > 0 {
            let Some(head) = self.frames.front() else {
                break;
            };
            let left = head.len() - self.head_written;
            if n >= left {
                n -= left;
                self.frames.pop_front();
                self.head_written = 0;
            } else {
                self.head_written += n;
                n = 0;
            }
        }
        self.flow.progress.notify_one();
    }
}

/// What the writer does next.
enum Step {
    Queued(Option<Outbound>),
    Wrote(std::io::Result<usize>),
    FlushTimedOut,
}

/// Writes what the core queues, in order, several frames per write. It takes
/// frames off the core's queue as they come, whether or not the client reads, so
/// it always knows how much is waiting: over `hard_limit` bytes behind the frame
/// being written, the client is disconnected and whatever else comes is dropped.
async fn writer<W: ClientWrite>(
    mut wr: W,
    mut rx: mpsc::UnboundedReceiver<Outbound>,
    closed: watch::Sender<bool>,
    flow: Arc<Flow>,
    hard_limit: usize,
    addr: SocketAddr,
    metrics: Arc<Metrics>,
) {
    let mut pending = Pending {
        frames: VecDeque::new(),
        head_written: 0,
        bytes: 0,
        flow: flow.clone(),
    };
    // Close asked for (or the core is gone): write what is queued, then close.
    let mut closing = false;
    let mut flush_deadline = None;
    let mut overflowed = false;
    loop {
        // Take everything the core has queued so far.
        while !closing {
            match rx.try_recv() {
                Ok(msg) => closing = !pending.take(Some(msg)),
                Err(mpsc::error::TryRecvError::Disconnected) => closing = true,
                Err(mpsc::error::TryRecvError::Empty) => break,
            }
        }
        if pending.behind_head() > hard_limit {
            tracing::warn!(
                %addr,
                queued = pending.bytes,
                limit = hard_limit,
                "client is not reading its replies; disconnecting it"
            );
            metrics.connection_drop_count.inc();
            overflowed = true;
            break;
        }
        if pending.frames.is_empty() {
            if closing {
                break;
            }
            closing = !pending.take(rx.recv().await);
            continue;
        }
        if closing && flush_deadline.is_none() {
            flush_deadline = Some(tokio::time::Instant::now() + CLOSE_FLUSH_TIMEOUT);
        }
        let step = {
            let slices = pending.slices();
            let deadline = flush_deadline.unwrap_or_else(tokio::time::Instant::now);
            tokio::select! {
                m = rx.recv(), if !closing => Step::Queued(m),
                r = wr.write_vectored(&slices) => Step::Wrote(r),
                _ = tokio::time::sleep_until(deadline), if flush_deadline.is_some() => {
                    Step::FlushTimedOut
                }
            }
        };
        match step {
            Step::Queued(m) => closing = !pending.take(m),
            Step::Wrote(Ok(0)) | Step::Wrote(Err(_)) => break,
            Step::Wrote(Ok(n)) => pending.written(n),
            Step::FlushTimedOut => {
                tracing::info!(%addr, queued = pending.bytes, "client did not take its last replies; closing");
                break;
            }
        }
    }
    // Reset rather than close an overflowed plain connection: the kernel then
    // drops what it still holds for the client.
    if !(overflowed && wr.reset()) {
        let _ = wr.shutdown().await;
    }
    drop(pending);
    flow.outbound.store(0, Ordering::Release);
    let _ = closed.send(true);
    drop(wr);
    // Whatever the core still sends before it hears of the close is dropped here.
    while rx.recv().await.is_some() {}
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flow() -> Arc<Flow> {
        Arc::new(Flow {
            outbound: AtomicUsize::new(0),
            in_flight: Mutex::new(InFlight::default()),
            progress: Notify::new(),
        })
    }

    /// A reply frame (length prefix, ReplyHeader) for `xid`.
    fn reply(xid: i32) -> Vec<u8> {
        let mut f = 16i32.to_be_bytes().to_vec();
        f.extend_from_slice(&xid.to_be_bytes());
        f.extend_from_slice(&7i64.to_be_bytes());
        f.extend_from_slice(&0i32.to_be_bytes());
        f
    }

    fn in_flight(f: &Flow) -> (Vec<i32>, usize) {
        let g = f.in_flight();
        (g.requests.iter().map(|(x, _)| *x).collect(), g.bytes)
    }

    #[test]
    fn replies_answer_requests_and_events_answer_nothing() {
        let f = flow();
        f.sent(1, 100);
        f.sent(2, 200);
        f.sent(3, 300);
        f.queued(&reply(-1)); // a watch event
        assert_eq!(in_flight(&f), (vec![1, 2, 3], 600));
        f.queued(&reply(1));
        assert_eq!(in_flight(&f), (vec![2, 3], 500));
        // A reply to a later request means the earlier ones got theirs (or none).
        f.queued(&reply(3));
        assert_eq!(in_flight(&f), (vec![], 0));
        // Frames too short for a header, and replies to nothing, change nothing.
        f.sent(4, 10);
        f.queued(&[0, 0, 0]);
        f.queued(&reply(99));
        assert_eq!(in_flight(&f), (vec![4], 10));
    }

    #[test]
    fn the_reader_waits_on_count_bytes_or_outbound() {
        let f = flow();
        assert!(!f.saturated(100, 1000));
        f.sent(1, 1001);
        assert!(f.saturated(100, 1000), "bytes in flight");
        f.queued(&reply(1));
        assert!(!f.saturated(100, 1000));
        for xid in 0..MAX_IN_FLIGHT as i32 {
            f.sent(xid, 0);
        }
        assert!(f.saturated(100, 1000), "requests in flight");
        f.queued(&reply(MAX_IN_FLIGHT as i32 - 1));
        f.outbound.store(101, Ordering::Release);
        assert!(f.saturated(100, 1000), "replies not taken");
    }

    #[test]
    fn address_slots_are_counted_and_given_back() {
        let counts = PerAddress::default();
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        let b: IpAddr = "127.0.0.2".parse().unwrap();
        let first = AddressSlot::take(&counts, a, 2).unwrap();
        let second = AddressSlot::take(&counts, a, 2).unwrap();
        assert!(AddressSlot::take(&counts, a, 2).is_none());
        let other = AddressSlot::take(&counts, b, 2).unwrap();
        drop(first);
        let third = AddressSlot::take(&counts, a, 2).unwrap();
        drop((second, third, other));
        assert!(counts.lock().unwrap().is_empty());
        // 0: no limit.
        let many: Vec<_> = (0..100)
            .map(|_| AddressSlot::take(&counts, a, 0).unwrap())
            .collect();
        assert_eq!(many.len(), 100);
    }

    #[test]
    fn pending_frames_are_written_in_order_across_partial_writes() {
        let f = flow();
        let mut p = Pending {
            frames: VecDeque::new(),
            head_written: 0,
            bytes: 0,
            flow: f.clone(),
        };
        assert!(p.take(Some(Outbound::Frame(vec![1; 10]))));
        assert!(p.take(Some(Outbound::Frame(Vec::new()))));
        assert!(p.take(Some(Outbound::Frame(vec![2; 20]))));
        assert_eq!((p.bytes, f.outbound.load(Ordering::Acquire)), (30, 30));
        assert_eq!(p.behind_head(), 20);
        p.written(4);
        assert_eq!(
            p.slices().iter().map(|s| s.len()).collect::<Vec<_>>(),
            [6, 20]
        );
        assert_eq!(p.behind_head(), 20);
        p.written(16);
        assert_eq!(p.slices().iter().map(|s| s.len()).collect::<Vec<_>>(), [10]);
        assert_eq!(p.behind_head(), 0);
        p.written(10);
        assert!(p.frames.is_empty());
        assert_eq!((p.bytes, f.outbound.load(Ordering::Acquire)), (0, 0));
        assert!(!p.take(Some(Outbound::Close)));
        assert!(!p.take(None));
    }
}
