//! The transport between members: FIFO byte-payload links over TCP, with no ZAB
//! logic. Links are one-directional: each member dials every peer and only writes
//! on that connection, and only reads on the connections peers dialled to it.
//!
//! Wire format: every frame is `u32 length | u32 checksum | payload`, all
//! big-endian, where the checksum is crc32c over the frame's sequence number on
//! its connection (u64, from 0) followed by the payload: a frame lost from the
//! middle of a connection (a middlebox that swallows bytes and carries on) fails
//! the next frame's checksum instead of going unnoticed. The first frame on a
//! connection is the hello (`HELLO_MAGIC` then the dialler's id as a u64). A length above `max_frame`, a checksum mismatch, an
//! unknown peer id or a bad hello closes that connection; nothing here panics on
//! what a socket delivers.
//!
//! Loss semantics (what the ZAB core relies on):
//! - Payloads to one peer arrive in the order sent, or not at all; nothing is ever
//!   resent on a later connection.
//! - When an outbound connection breaks, whatever was queued or in flight on it is
//!   dropped and `Lost { peer }` is emitted once.
//! - While no outbound connection is up, sends are dropped. A failed connection
//!   attempt emits `Lost` if it is the first failure since the last connection
//!   was up, or if payloads were dropped since the last `Lost`; a successful one
//!   emits `Lost` first if payloads were dropped since the last `Lost`. So every
//!   dropped payload is followed by a `Lost`, and there is at most one per attempt.
//! - When an inbound connection from a peer ends (or a new one from the same peer
//!   replaces it), `Lost { peer }` is emitted after its last frame.
//!
//! With `sslQuorum=true` every connection is TLS both ways (`super::tls::QuorumTls`):
//! the dialler presents its certificate and checks the peer's against the
//! quorum trust store and the peer's IP address, the accepting side requires a
//! client certificate from the same trust store. A member without one gets no
//! link: it cannot vote, lead or receive data.

use super::tls::QuorumTls;
use bytes::Bytes;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;
use thiserror::Error;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader, BufWriter};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::mpsc::error::TryRecvError;
use tokio::sync::{mpsc, watch, Notify};
use tokio::task::JoinSet;
use tokio::time::{sleep_until, timeout, Instant};

/// What the links report to the core.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkEvent {
    /// One payload from `from`, in the order it sent them.
    Frame { from: u64, payload: Bytes },
    /// A connection to or from `peer` broke, or payloads to it were dropped.
    Lost { peer: u64 },
    /// The link to `peer` is up: payloads sent from now on reach it.
    Up { peer: u64 },
}

const MIN_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(2);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
const HELLO_TIMEOUT: Duration = Duration::from_secs(5);
/// A write that makes no progress for this long breaks the link.
const WRITE_STALL: Duration = Duration::from_secs(30);
/// Bytes written before a flush when payloads are queued back to back.
const BATCH_BYTES: usize = 256 * 1024;
const HEADER_LEN: usize = 8;
const HELLO_MAGIC: [u8; 4] = *b"RKQ1";
/// Public only for the fuzz targets (fuzz/), which frame their inputs like a peer.
#[doc(hidden)]
pub const HELLO_LEN: usize = 12;

/// The running links of one member. Dropping it (or `shutdown`) stops every task
/// and closes every socket.
pub struct QuorumNet {
    local_addr: SocketAddr,
    my_id: u64,
    max_frame: usize,
    events: mpsc::UnboundedSender<LinkEvent>,
    /// Peer ids accepted on inbound connections (changed by reconfig).
    known: Known,
    /// Where each peer is dialled.
    addrs: BTreeMap<u64, SocketAddr>,
    queues: BTreeMap<u64, mpsc::UnboundedSender<Outgoing>>,
    stop: watch::Sender<bool>,
    tasks: JoinSet<()>,
    tls: Option<QuorumTls>,
    registry: Arc<Registry>,
}

/// The member ids an inbound connection may say it is.
type Known = Arc<Mutex<BTreeSet<u64>>>;

fn is_known(known: &Known, id: u64) -> bool {
    known
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .contains(&id)
}

impl QuorumNet {
    /// Binds exactly `listen`, then dials every peer in `peers` (an entry for
    /// `my_id` itself is ignored). Must run inside a tokio runtime.
    pub async fn start(
        my_id: u64,
        listen: SocketAddr,
        peers: BTreeMap<u64, SocketAddr>,
        max_frame: usize,
        events: mpsc::UnboundedSender<LinkEvent>,
        tls: Option<QuorumTls>,
    ) -> std::io::Result<QuorumNet> {
        let listener = bind(listen)?;
        let local_addr = listener.local_addr()?;
        let (stop, stop_rx) = watch::channel(false);
        let known: Known = Arc::new(Mutex::new(
            peers.keys().copied().filter(|p| *p != my_id).collect(),
        ));
        let mut tasks = JoinSet::new();
        let registry = Arc::new(Registry::new(events.clone()));
        tasks.spawn(accept_loop(
            listener,
            known.clone(),
            max_frame,
            registry.clone(),
            stop_rx,
            tls.clone(),
        ));
        let mut net = QuorumNet {
            local_addr,
            my_id,
            max_frame,
            events,
            known,
            addrs: BTreeMap::new(),
            queues: BTreeMap::new(),
            stop,
            tasks,
            tls,
            registry,
        };
        net.set_peers(peers);
        Ok(net)
    }

    /// Makes `peers` the members this one links to: links to members no longer
    /// listed close, new members are dialled, a member whose address changed is
    /// dialled anew. Must run inside a tokio runtime.
    pub fn set_peers(&mut self, peers: BTreeMap<u64, SocketAddr>) {
        let peers: BTreeMap<u64, SocketAddr> = peers
            .into_iter()
            .filter(|(p, _)| *p != self.my_id)
            .collect();
        *self.known.lock().unwrap_or_else(|e| e.into_inner()) = peers.keys().copied().collect();
        self.addrs.retain(|p, addr| {
            let keep = peers.get(p) == Some(addr);
            if !keep {
                // Dropping its queue ends the outbound link.
                self.queues.remove(p);
            }
            keep
        });
        for (&peer, &addr) in &peers {
            if self.addrs.contains_key(&peer) {
                continue;
            }
            self.addrs.insert(peer, addr);
            let (tx, rx) = mpsc::unbounded_channel();
            self.queues.insert(peer, tx);
            let redial = Arc::new(Notify::new());
            self.registry.lock_redial().insert(peer, redial.clone());
            let link = Outbound {
                my_id: self.my_id,
                peer,
                addr,
                max_frame: self.max_frame,
                rx,
                events: self.events.clone(),
                tls: self.tls.clone(),
                redial,
            };
            self.tasks
                .spawn(until_stopped(self.stop.subscribe(), link.run()));
        }
    }

    /// The address actually bound (useful when `listen` had port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Queues `payload` for `to`; never blocks. Payloads for an unknown peer, or
    /// for one with no connection up, are dropped (see the module docs).
    pub fn send(&self, to: u64, payload: Bytes) {
        match self.queues.get(&to) {
            Some(q) => {
                let _ = q.send(Outgoing {
                    payload,
                    _credit: None,
                });
            }
            None => tracing::debug!(to, "payload for an unknown member dropped"),
        }
    }

    /// A sender for a long run of payloads to `to` that must not pile up in memory:
    /// at most `window` bytes of them wait in the queue at once.
    pub fn bulk_sender(&self, to: u64, window: usize) -> Option<BulkSender> {
        Some(BulkSender {
            tx: self.queues.get(&to)?.clone(),
            window: Arc::new(Window {
                queued: Mutex::new(0),
                freed: Condvar::new(),
                limit: window,
            }),
        })
    }

    /// Stops every task and waits until every socket is closed.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        self.queues.clear();
        while self.tasks.join_next().await.is_some() {}
    }
}

/// A payload queued for a peer, with the window credit it holds until it is
/// written or dropped.
struct Outgoing {
    payload: Bytes,
    _credit: Option<Credit>,
}

/// Bytes of bulk payloads queued and not yet written.
struct Window {
    queued: Mutex<usize>,
    freed: Condvar,
    limit: usize,
}

impl Window {
    fn queued(&self) -> MutexGuard<'_, usize> {
        self.queued.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Returns its bytes to the window when the payload is written or dropped.
struct Credit {
    window: Arc<Window>,
    bytes: usize,
}

impl Drop for Credit {
    fn drop(&mut self) {
        let mut queued = self.window.queued();
        *queued = queued.saturating_sub(self.bytes);
        self.window.freed.notify_all();
    }
}

/// Queues payloads for one peer with back-pressure (see `QuorumNet::bulk_sender`).
/// Its waiting blocks the thread: use it from a plain thread, not a tokio worker.
pub struct BulkSender {
    tx: mpsc::UnboundedSender<Outgoing>,
    window: Arc<Window>,
}

impl BulkSender {
    /// Waits until the window has room, or `give_up` says to stop (checked a few
    /// times a second). False when giving up or when the links are shut down.
    pub fn wait_for_room(&self, give_up: impl Fn() -> bool) -> bool {
        let mut queued = self.window.queued();
        while *queued >= self.window.limit {
            if give_up() || self.tx.is_closed() {
                return false;
            }
            queued = self
                .window
                .freed
                .wait_timeout(queued, Duration::from_millis(200))
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        true
    }

    /// Queues `payload`, counting it against the window until it is written.
    pub fn send(&self, payload: Bytes) -> bool {
        let bytes = payload.len();
        *self.window.queued() += bytes;
        let credit = Credit {
            window: self.window.clone(),
            bytes,
        };
        self.tx
            .send(Outgoing {
                payload,
                _credit: Some(credit),
            })
            .is_ok()
    }
}

fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let sock = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    sock.set_reuseaddr(true)?;
    sock.bind(addr)?;
    sock.listen(1024)
}

/// Runs `f` until the stop flag turns true or its sender is dropped.
async fn until_stopped(mut stop: watch::Receiver<bool>, f: impl Future<Output = ()>) {
    tokio::select! {
        _ = stopped(&mut stop) => {}
        _ = f => {}
    }
}

/// Resolves once the stop flag is true or its sender is gone.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// The checksum of the frame numbered `seq` on its connection.
fn frame_checksum(seq: u64, payload: &[u8]) -> u32 {
    crc32c::crc32c_append(crc32c::crc32c(&seq.to_be_bytes()), payload)
}

#[doc(hidden)]
pub fn frame_header(seq: u64, payload: &[u8]) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[..4].copy_from_slice(&(payload.len() as u32).to_be_bytes());
    h[4..].copy_from_slice(&frame_checksum(seq, payload).to_be_bytes());
    h
}

#[doc(hidden)]
pub fn hello_payload(my_id: u64) -> [u8; HELLO_LEN] {
    let mut p = [0u8; HELLO_LEN];
    p[..4].copy_from_slice(&HELLO_MAGIC);
    p[4..].copy_from_slice(&my_id.to_be_bytes());
    p
}

#[doc(hidden)]
pub fn parse_hello(p: &[u8]) -> Option<u64> {
    if p.len() != HELLO_LEN || p[..4] != HELLO_MAGIC {
        return None;
    }
    let mut id = [0u8; 8];
    id.copy_from_slice(&p[4..]);
    Some(u64::from_be_bytes(id))
}

/// Why a member link's frame was refused (public for the fuzz targets).
#[doc(hidden)]
#[derive(Debug, Error)]
pub enum FrameError {
    #[error("frame of {len} bytes exceeds the limit of {max}")]
    TooLong { len: u32, max: usize },
    #[error("checksum mismatch: header says {expected:#010x}, payload has {actual:#010x}")]
    Checksum { expected: u32, actual: u32 },
    #[error("connection ended inside a frame")]
    Truncated,
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Reads frame number `seq`; `None` is a clean end of stream between frames.
/// Public only for the fuzz targets, which feed it hostile byte streams.
#[doc(hidden)]
pub async fn read_frame<R: AsyncRead + Unpin>(
    rd: &mut R,
    max: usize,
    seq: u64,
) -> Result<Option<Bytes>, FrameError> {
    let mut header = [0u8; HEADER_LEN];
    let mut filled = 0;
    while filled < HEADER_LEN {
        match rd.read(&mut header[filled..]).await? {
            0 if filled == 0 => return Ok(None),
            0 => return Err(FrameError::Truncated),
            n => filled += n,
        }
    }
    let len = u32::from_be_bytes([header[0], header[1], header[2], header[3]]);
    let expected = u32::from_be_bytes([header[4], header[5], header[6], header[7]]);
    if len as usize > max {
        return Err(FrameError::TooLong { len, max });
    }
    let mut payload = vec![0u8; len as usize];
    rd.read_exact(&mut payload).await.map_err(|e| {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            FrameError::Truncated
        } else {
            FrameError::Io(e)
        }
    })?;
    let actual = frame_checksum(seq, &payload);
    if actual != expected {
        return Err(FrameError::Checksum { expected, actual });
    }
    Ok(Some(Bytes::from(payload)))
}

// ---- inbound ----

/// The current inbound connection of each peer. Frames and `Lost` are emitted
/// under its lock, so a replaced connection can emit nothing after its `Lost`.
struct Registry {
    events: mpsc::UnboundedSender<LinkEvent>,
    current: Mutex<HashMap<u64, (u64, Arc<Notify>)>>,
    /// Wakes the outbound link to a peer out of its back-off.
    redial: Mutex<HashMap<u64, Arc<Notify>>>,
}

impl Registry {
    fn new(events: mpsc::UnboundedSender<LinkEvent>) -> Registry {
        Registry {
            events,
            current: Mutex::new(HashMap::new()),
            redial: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<u64, (u64, Arc<Notify>)>> {
        self.current.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn lock_redial(&self) -> MutexGuard<'_, HashMap<u64, Arc<Notify>>> {
        self.redial.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Makes `conn` the peer's inbound connection, ending the one it replaces.
    /// The peer is evidently listening now: the link to it is dialled at once
    /// rather than after the rest of its back-off (members that start a few
    /// hundred milliseconds apart would otherwise wait up to the back-off).
    fn register(&self, peer: u64, conn: u64, kill: Arc<Notify>) {
        if let Some(redial) = self.lock_redial().get(&peer) {
            redial.notify_one();
        }
        let mut current = self.lock();
        if let Some((old, old_kill)) = current.insert(peer, (conn, kill)) {
            tracing::info!(
                peer,
                old,
                "a new connection from the member replaces its old one"
            );
            old_kill.notify_one();
            let _ = self.events.send(LinkEvent::Lost { peer });
        }
    }

    /// Emits a frame if `conn` is still current; false means stop reading.
    fn deliver(&self, peer: u64, conn: u64, payload: Bytes) -> bool {
        let current = self.lock();
        if current.get(&peer).map(|c| c.0) != Some(conn) {
            return false;
        }
        self.events
            .send(LinkEvent::Frame {
                from: peer,
                payload,
            })
            .is_ok()
    }

    /// `conn` ended: report it unless it was already replaced.
    fn end(&self, peer: u64, conn: u64) {
        let mut current = self.lock();
        if current.get(&peer).map(|c| c.0) == Some(conn) {
            current.remove(&peer);
            let _ = self.events.send(LinkEvent::Lost { peer });
        }
    }
}

async fn accept_loop(
    listener: TcpListener,
    known: Known,
    max_frame: usize,
    registry: Arc<Registry>,
    mut stop: watch::Receiver<bool>,
    tls: Option<QuorumTls>,
) {
    let mut conns = JoinSet::new();
    let mut next_conn = 0u64;
    loop {
        tokio::select! {
            _ = stopped(&mut stop) => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, addr)) => {
                    next_conn += 1;
                    let (conn, known, registry) = (next_conn, known.clone(), registry.clone());
                    let tls = tls.clone();
                    conns.spawn(async move {
                        let _ = stream.set_nodelay(true);
                        match tls {
                            None => {
                                let rd = BufReader::with_capacity(64 * 1024, stream);
                                inbound(rd, addr, conn, known, max_frame, registry).await;
                            }
                            Some(tls) => match timeout(HELLO_TIMEOUT, tls.acceptor.accept(stream)).await {
                                Ok(Ok(stream)) => {
                                    let rd = BufReader::with_capacity(64 * 1024, stream);
                                    inbound(rd, addr, conn, known, max_frame, registry).await;
                                }
                                Ok(Err(e)) => tracing::warn!(%addr, error = %e, "member TLS handshake failed; closing"),
                                Err(_) => tracing::warn!(%addr, "no member TLS handshake in time; closing"),
                            },
                        }
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "accepting a member connection failed");
                    tokio::time::sleep(MIN_BACKOFF).await;
                }
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    drop(listener);
    conns.abort_all();
    while conns.join_next().await.is_some() {}
}

async fn inbound<R: AsyncRead + Unpin>(
    mut rd: BufReader<R>,
    addr: SocketAddr,
    conn: u64,
    known: Known,
    max_frame: usize,
    registry: Arc<Registry>,
) {
    let peer = match timeout(HELLO_TIMEOUT, read_frame(&mut rd, HELLO_LEN, 0)).await {
        Ok(Ok(Some(hello))) => match parse_hello(&hello) {
            Some(id) if is_known(&known, id) => id,
            Some(id) => {
                tracing::warn!(%addr, id, "connection from an unknown member id; closing");
                return;
            }
            None => {
                tracing::warn!(%addr, "malformed hello on the quorum port; closing");
                return;
            }
        },
        Ok(Ok(None)) => return,
        Ok(Err(e)) => {
            tracing::warn!(%addr, error = %e, "bad hello on the quorum port; closing");
            return;
        }
        Err(_) => {
            tracing::warn!(%addr, "no hello on the quorum port in time; closing");
            return;
        }
    };
    let kill = Arc::new(Notify::new());
    registry.register(peer, conn, kill.clone());
    tracing::debug!(peer, %addr, "inbound member link up");
    let mut seq = 0u64;
    loop {
        seq += 1;
        let frame = tokio::select! {
            f = read_frame(&mut rd, max_frame, seq) => f,
            _ = kill.notified() => return,
        };
        match frame {
            Ok(Some(payload)) => {
                if !registry.deliver(peer, conn, payload) {
                    break;
                }
            }
            Ok(None) => {
                tracing::info!(peer, %addr, "member closed its link");
                break;
            }
            Err(e) => {
                tracing::warn!(peer, %addr, error = %e, "bad frame from a member; closing the link");
                break;
            }
        }
    }
    registry.end(peer, conn);
}

// ---- outbound ----

struct Outbound {
    my_id: u64,
    peer: u64,
    addr: SocketAddr,
    max_frame: usize,
    rx: mpsc::UnboundedReceiver<Outgoing>,
    events: mpsc::UnboundedSender<LinkEvent>,
    tls: Option<QuorumTls>,
    /// Notified when the peer connects to us: it listens, dial it now.
    redial: Arc<Notify>,
}

/// A dialled connection, plain or TLS.
enum LinkStream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

/// Why a connected outbound link stopped.
enum Ended {
    /// The `QuorumNet` is gone.
    QueueClosed,
    Broken(String),
}

impl Outbound {
    fn lost(&self) {
        let _ = self.events.send(LinkEvent::Lost { peer: self.peer });
    }

    /// Drops everything queued. `None` when the queue is closed.
    fn drain(&mut self) -> Option<bool> {
        let mut any = false;
        loop {
            match self.rx.try_recv() {
                Ok(_) => any = true,
                Err(TryRecvError::Empty) => return Some(any),
                Err(TryRecvError::Disconnected) => return None,
            }
        }
    }

    async fn connect(&self) -> std::io::Result<LinkStream> {
        let stream = TcpStream::connect(self.addr).await?;
        stream.set_nodelay(true)?;
        let hello = hello_payload(self.my_id);
        let mut frame = frame_header(0, &hello).to_vec();
        frame.extend_from_slice(&hello);
        match &self.tls {
            None => {
                let mut stream = stream;
                stream.write_all(&frame).await?;
                Ok(LinkStream::Plain(stream))
            }
            Some(tls) => {
                // The peer's certificate must name the address it is dialled at.
                let name = rustls_pki_types::ServerName::IpAddress(self.addr.ip().into());
                let mut stream = tls.connector.connect(name, stream).await?;
                stream.write_all(&frame).await?;
                Ok(LinkStream::Tls(Box::new(stream)))
            }
        }
    }

    async fn run(mut self) {
        let (peer, addr) = (self.peer, self.addr);
        let mut backoff = MIN_BACKOFF;
        // A `Lost` already covers the current outage.
        let mut reported = false;
        // Payloads were dropped since the last `Lost`.
        let mut dropped = false;
        loop {
            let attempt = match timeout(CONNECT_TIMEOUT, self.connect()).await {
                Ok(r) => r,
                Err(_) => Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "connect timed out",
                )),
            };
            match attempt {
                Ok(stream) => {
                    tracing::debug!(peer, %addr, "outbound member link up");
                    if dropped {
                        self.lost();
                        dropped = false;
                    }
                    let _ = self.events.send(LinkEvent::Up { peer });
                    let up_since = Instant::now();
                    let ended = match stream {
                        LinkStream::Plain(stream) => {
                            let (rd, wr) = stream.into_split();
                            self.pump(rd, wr).await
                        }
                        LinkStream::Tls(stream) => {
                            let (rd, wr) = tokio::io::split(*stream);
                            self.pump(rd, wr).await
                        }
                    };
                    match ended {
                        Ended::QueueClosed => return,
                        Ended::Broken(why) => {
                            tracing::info!(peer, %addr, why, "link to member broke");
                            if self.drain().is_none() {
                                return;
                            }
                            // This `Lost` covers the outage that starts now.
                            self.lost();
                            reported = true;
                            // Only a link that stayed up a while resets the backoff, so a
                            // peer that accepts and hangs up at once is not redialled in a loop.
                            if up_since.elapsed() >= MAX_BACKOFF {
                                backoff = MIN_BACKOFF;
                            }
                        }
                    }
                }
                Err(e) => {
                    tracing::debug!(peer, %addr, error = %e, "cannot reach member");
                    let Some(any) = self.drain() else { return };
                    if !reported || dropped || any {
                        self.lost();
                        reported = true;
                        dropped = false;
                    }
                }
            }
            // Back off, dropping whatever is sent meanwhile.
            let deadline = Instant::now() + jittered(backoff);
            backoff = (backoff * 2).min(MAX_BACKOFF);
            loop {
                tokio::select! {
                    _ = sleep_until(deadline) => break,
                    _ = self.redial.notified() => break,
                    m = self.rx.recv() => match m {
                        Some(_) => dropped = true,
                        None => return,
                    },
                }
            }
        }
    }

    /// Writes queued payloads in order until the connection breaks. The peer never
    /// writes on this link, so any read result means it is gone.
    async fn pump<R, W>(&mut self, mut rd: R, wr: W) -> Ended
    where
        R: AsyncRead + Unpin,
        W: AsyncWrite + Unpin,
    {
        let mut wr = BufWriter::with_capacity(64 * 1024, wr);
        let mut probe = [0u8; 1];
        // The hello was frame 0 of this connection.
        let mut seq = 0u64;
        loop {
            let first = tokio::select! {
                r = rd.read(&mut probe) => {
                    return Ended::Broken(match r {
                        Ok(0) => "closed by the member".to_string(),
                        Ok(_) => "the member wrote on a one-way link".to_string(),
                        Err(e) => e.to_string(),
                    });
                }
                m = self.rx.recv() => match m {
                    Some(p) => p,
                    None => {
                        let _ = wr.shutdown().await;
                        return Ended::QueueClosed;
                    }
                },
            };
            let max_frame = self.max_frame;
            let rx = &mut self.rx;
            let seq = &mut seq;
            let batch = async {
                let mut next = Some(first);
                let mut written = 0usize;
                while let Some(Outgoing { payload: p, .. }) = next {
                    if p.len() > max_frame || p.len() > u32::MAX as usize {
                        tracing::error!(len = p.len(), max_frame, "payload over the frame limit");
                        return Err(format!("a {}-byte payload exceeds max_frame", p.len()));
                    }
                    *seq += 1;
                    wr.write_all(&frame_header(*seq, &p))
                        .await
                        .map_err(|e| e.to_string())?;
                    wr.write_all(&p).await.map_err(|e| e.to_string())?;
                    written += HEADER_LEN + p.len();
                    next = if written < BATCH_BYTES {
                        rx.try_recv().ok()
                    } else {
                        None
                    };
                }
                wr.flush().await.map_err(|e| e.to_string())
            };
            match timeout(WRITE_STALL, batch).await {
                Ok(Ok(())) => {}
                Ok(Err(why)) => return Ended::Broken(why),
                Err(_) => return Ended::Broken("write stalled".to_string()),
            }
        }
    }
}

/// A delay in [d/2, d].
fn jittered(d: Duration) -> Duration {
    use rand::Rng;
    let ms = d.as_millis() as u64;
    Duration::from_millis(ms / 2 + rand::rng().random_range(0..=ms / 2))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::mpsc::UnboundedReceiver;

    const GUARD: Duration = Duration::from_secs(20);

    fn free_addr() -> SocketAddr {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
    }

    struct Node {
        id: u64,
        net: QuorumNet,
        rx: UnboundedReceiver<LinkEvent>,
    }

    async fn node(id: u64, addrs: &BTreeMap<u64, SocketAddr>, max_frame: usize) -> Node {
        let (tx, rx) = mpsc::unbounded_channel();
        // The address may still be held by a net being torn down: retry for a while.
        let net = timeout(GUARD, async {
            loop {
                match QuorumNet::start(id, addrs[&id], addrs.clone(), max_frame, tx.clone(), None)
                    .await
                {
                    Ok(net) => return net,
                    Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                }
            }
        })
        .await
        .expect("could not bind");
        assert_eq!(net.local_addr(), addrs[&id]);
        Node { id, net, rx }
    }

    /// The next frame or loss (links coming up are skipped).
    async fn next_event(rx: &mut UnboundedReceiver<LinkEvent>) -> LinkEvent {
        loop {
            let event = timeout(GUARD, rx.recv())
                .await
                .expect("no event in time")
                .expect("event channel closed");
            if !matches!(event, LinkEvent::Up { .. }) {
                return event;
            }
        }
    }

    /// Probes from `a` to `b` until one arrives: the link `a -> b` is up.
    async fn link(a: &Node, b: &mut Node) {
        timeout(GUARD, async {
            loop {
                a.net.send(b.id, Bytes::from_static(b"probe"));
                if let Ok(Some(LinkEvent::Frame { from, payload })) =
                    timeout(Duration::from_millis(100), b.rx.recv()).await
                {
                    if from == a.id && &payload[..] == b"probe" {
                        return;
                    }
                }
            }
        })
        .await
        .expect("link never came up")
    }

    fn payload(from: u64, to: u64, i: usize) -> Bytes {
        let mut p = format!("{from}->{to} #{i} ").into_bytes();
        // Some large ones, to cross read and write buffer boundaries.
        if i % 50 == 7 {
            p.resize(100_000 + i, b'x');
        }
        Bytes::from(p)
    }

    /// Collects `n` non-probe frames from each of `from` on `node`.
    async fn collect(node: &mut Node, from: &[u64], n: usize) -> BTreeMap<u64, Vec<Bytes>> {
        let mut got: BTreeMap<u64, Vec<Bytes>> = from.iter().map(|f| (*f, Vec::new())).collect();
        while got.values().any(|v| v.len() < n) {
            match next_event(&mut node.rx).await {
                LinkEvent::Frame { from, payload } if &payload[..] != b"probe" => got
                    .get_mut(&from)
                    .expect("frame from a stranger")
                    .push(payload),
                // Probes, and losses from before the links came up (start-up races):
                // a loss afterwards would show as missing frames below.
                LinkEvent::Frame { .. } | LinkEvent::Lost { .. } | LinkEvent::Up { .. } => {}
            }
        }
        got
    }

    fn addrs(ids: &[u64]) -> BTreeMap<u64, SocketAddr> {
        ids.iter().map(|id| (*id, free_addr())).collect()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn three_nets_exchange_frames_in_order() {
        let ids = [1u64, 2, 3];
        let addrs = addrs(&ids);
        let mut nodes = Vec::new();
        for id in ids {
            nodes.push(node(id, &addrs, 1 << 20).await);
        }
        for a in 0..3 {
            for b in 0..3 {
                if a != b {
                    let (x, y) = if a < b {
                        let (l, r) = nodes.split_at_mut(b);
                        (&l[a], &mut r[0])
                    } else {
                        let (l, r) = nodes.split_at_mut(a);
                        (&r[0], &mut l[b])
                    };
                    link(x, y).await;
                }
            }
        }
        const N: usize = 300;
        for n in &nodes {
            for to in ids.iter().filter(|t| **t != n.id) {
                for i in 0..N {
                    n.net.send(*to, payload(n.id, *to, i));
                }
            }
        }
        for n in nodes.iter_mut() {
            let others: Vec<u64> = ids.iter().copied().filter(|i| *i != n.id).collect();
            let got = collect(n, &others, N).await;
            for (from, frames) in got {
                let want: Vec<Bytes> = (0..N).map(|i| payload(from, n.id, i)).collect();
                assert!(
                    frames == want,
                    "frames from {from} to {} out of order",
                    n.id
                );
            }
        }
        for n in nodes {
            n.net.shutdown().await;
        }
    }

    #[tokio::test]
    async fn a_peer_that_goes_away_is_lost_and_links_again_when_back() {
        let addrs = addrs(&[1, 2]);
        let mut a = node(1, &addrs, 1 << 20).await;
        let mut b = node(2, &addrs, 1 << 20).await;
        link(&a, &mut b).await;
        link(&b, &mut a).await;

        b.net.shutdown().await;
        timeout(GUARD, async {
            while next_event(&mut a.rx).await != (LinkEvent::Lost { peer: 2 }) {}
        })
        .await
        .expect("no Lost for the departed peer");

        // The same member comes back on the same address.
        let mut b = node(2, &addrs, 1 << 20).await;
        link(&a, &mut b).await;
        link(&b, &mut a).await;
        for i in 0..20 {
            a.net.send(2, payload(1, 2, i));
            b.net.send(1, payload(2, 1, i));
        }
        let want = |from, to| (0..20).map(|i| payload(from, to, i)).collect::<Vec<_>>();
        assert_eq!(collect(&mut b, &[1], 20).await[&1], want(1, 2));
        // `a` may still report the outage that ended; only frames matter here.
        let mut got = Vec::new();
        while got.len() < 20 {
            if let LinkEvent::Frame { from: 2, payload } = next_event(&mut a.rx).await {
                if &payload[..] != b"probe" {
                    got.push(payload);
                }
            }
        }
        assert_eq!(got, want(2, 1));
        a.net.shutdown().await;
        b.net.shutdown().await;
    }

    /// A member at `addrs[&1]` whose one peer (2) is a plain listener that accepts
    /// and holds connections, so its outbound link stays quiet.
    async fn lone_member(max_frame: usize) -> (Node, tokio::task::JoinHandle<()>) {
        let fake = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addrs = BTreeMap::from([(1, free_addr()), (2, fake.local_addr().unwrap())]);
        let holder = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((s, _)) = fake.accept().await {
                held.push(s);
            }
        });
        (node(1, &addrs, max_frame).await, holder)
    }

    fn raw_frame(seq: u64, payload: &[u8]) -> Vec<u8> {
        let mut f = frame_header(seq, payload).to_vec();
        f.extend_from_slice(payload);
        f
    }

    /// Dials `node` as member `id` and checks that a frame gets through.
    async fn raw_peer(node: &mut Node, id: u64) -> TcpStream {
        let mut s = TcpStream::connect(node.net.local_addr()).await.unwrap();
        s.write_all(&raw_frame(0, &hello_payload(id)))
            .await
            .unwrap();
        s.write_all(&raw_frame(1, b"hello there")).await.unwrap();
        assert_eq!(
            next_event(&mut node.rx).await,
            LinkEvent::Frame {
                from: id,
                payload: Bytes::from_static(b"hello there")
            }
        );
        s
    }

    async fn closed_by_other_side(s: &mut TcpStream) {
        let mut buf = [0u8; 16];
        let r = timeout(GUARD, s.read(&mut buf))
            .await
            .expect("connection not closed");
        assert!(matches!(r, Ok(0) | Err(_)), "{r:?}");
    }

    #[tokio::test]
    async fn an_oversized_frame_closes_the_link_and_is_lost() {
        let (mut n, holder) = lone_member(1024).await;
        let mut s = raw_peer(&mut n, 2).await;
        let mut header = frame_header(2, &[0u8; 1025]).to_vec();
        header.extend_from_slice(&[0u8; 100]);
        s.write_all(&header).await.unwrap();
        assert_eq!(next_event(&mut n.rx).await, LinkEvent::Lost { peer: 2 });
        closed_by_other_side(&mut s).await;
        n.net.shutdown().await;
        holder.abort();
    }

    #[tokio::test]
    async fn a_bad_checksum_closes_the_link_and_is_lost() {
        let (mut n, holder) = lone_member(1024).await;
        let mut s = raw_peer(&mut n, 2).await;
        let mut f = raw_frame(2, b"some payload");
        let last = f.len() - 1;
        f[last] ^= 0x40;
        s.write_all(&f).await.unwrap();
        assert_eq!(next_event(&mut n.rx).await, LinkEvent::Lost { peer: 2 });
        closed_by_other_side(&mut s).await;
        n.net.shutdown().await;
        holder.abort();
    }

    /// Regression (found by the history checker with random partitions through a
    /// proxy that swallows bytes and keeps the connection): whole frames lost from
    /// the middle of a connection went unnoticed, and members applied different
    /// histories. Now the next frame fails its checksum and the link is lost.
    #[tokio::test]
    async fn a_frame_missing_from_the_middle_closes_the_link_and_is_lost() {
        let (mut n, holder) = lone_member(1024).await;
        let mut s = raw_peer(&mut n, 2).await;
        s.write_all(&raw_frame(2, b"two")).await.unwrap();
        assert_eq!(
            next_event(&mut n.rx).await,
            LinkEvent::Frame {
                from: 2,
                payload: Bytes::from_static(b"two")
            }
        );
        // Frame 3 never arrives; frame 4 is intact in itself.
        s.write_all(&raw_frame(4, b"four")).await.unwrap();
        assert_eq!(next_event(&mut n.rx).await, LinkEvent::Lost { peer: 2 });
        closed_by_other_side(&mut s).await;
        n.net.shutdown().await;
        holder.abort();
    }

    #[tokio::test]
    async fn strangers_and_bad_hellos_are_closed_without_events() {
        let (mut n, holder) = lone_member(1024).await;
        for bad in [
            raw_frame(0, &hello_payload(99)),
            raw_frame(0, &hello_payload(1)),
            raw_frame(0, b"GET / HTTP/1.1"),
            b"ruok".to_vec(),
        ] {
            let mut s = TcpStream::connect(n.net.local_addr()).await.unwrap();
            s.write_all(&bad).await.unwrap();
            let _ = s.shutdown().await;
            closed_by_other_side(&mut s).await;
        }
        // Nothing was reported for them: the next event is this genuine frame.
        let _s = raw_peer(&mut n, 2).await;
        n.net.shutdown().await;
        holder.abort();
    }

    #[tokio::test]
    async fn a_new_inbound_connection_replaces_the_old_one() {
        let (mut n, holder) = lone_member(1024).await;
        let mut old = raw_peer(&mut n, 2).await;
        let _new = raw_peer_after_lost(&mut n, 2).await;
        closed_by_other_side(&mut old).await;
        n.net.shutdown().await;
        holder.abort();
    }

    /// Like `raw_peer`, when the old connection's `Lost` comes first.
    async fn raw_peer_after_lost(node: &mut Node, id: u64) -> TcpStream {
        let mut s = TcpStream::connect(node.net.local_addr()).await.unwrap();
        s.write_all(&raw_frame(0, &hello_payload(id)))
            .await
            .unwrap();
        s.write_all(&raw_frame(1, b"again")).await.unwrap();
        assert_eq!(next_event(&mut node.rx).await, LinkEvent::Lost { peer: id });
        assert_eq!(
            next_event(&mut node.rx).await,
            LinkEvent::Frame {
                from: id,
                payload: Bytes::from_static(b"again")
            }
        );
        s
    }

    async fn read_raw_frame(s: &mut TcpStream, seq: u64) -> Bytes {
        timeout(GUARD, read_frame(s, 1 << 20, seq))
            .await
            .expect("no frame in time")
            .expect("bad frame")
            .expect("connection closed")
    }

    #[tokio::test]
    async fn an_outbound_link_coming_up_is_reported() {
        let peer = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addrs = BTreeMap::from([(1, free_addr()), (2, peer.local_addr().unwrap())]);
        let mut n = node(1, &addrs, 1024).await;
        let (_s, _) = timeout(GUARD, peer.accept()).await.unwrap().unwrap();
        let event = timeout(GUARD, n.rx.recv()).await.expect("an event in time");
        assert_eq!(event, Some(LinkEvent::Up { peer: 2 }));
    }

    #[tokio::test]
    async fn outbound_frames_flow_in_order_and_a_broken_link_is_lost_once() {
        let peer = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addrs = BTreeMap::from([(1, free_addr()), (2, peer.local_addr().unwrap())]);
        let mut n = node(1, &addrs, 1024).await;

        let (mut s, _) = timeout(GUARD, peer.accept()).await.unwrap().unwrap();
        assert_eq!(parse_hello(&read_raw_frame(&mut s, 0).await), Some(1));
        for p in [&b"a"[..], b"b", b"", b"c"] {
            n.net.send(2, Bytes::copy_from_slice(p));
        }
        for (seq, p) in [&b"a"[..], b"b", b"", b"c"].into_iter().enumerate() {
            assert_eq!(&read_raw_frame(&mut s, seq as u64 + 1).await[..], p);
        }

        drop(s);
        assert_eq!(next_event(&mut n.rx).await, LinkEvent::Lost { peer: 2 });

        // It redials; what is sent once the new connection is up flows again.
        let (mut s, _) = timeout(GUARD, peer.accept()).await.unwrap().unwrap();
        assert_eq!(parse_hello(&read_raw_frame(&mut s, 0).await), Some(1));
        n.net.send(2, Bytes::from_static(b"d"));
        assert_eq!(&read_raw_frame(&mut s, 1).await[..], b"d");
        assert_eq!(
            n.rx.try_recv().ok(),
            Some(LinkEvent::Up { peer: 2 }),
            "the new connection is up"
        );
        assert!(n.rx.try_recv().is_err(), "one Lost per broken connection");

        // A payload over max_frame is never sent: the link breaks and is reported.
        n.net.send(2, Bytes::from(vec![0u8; 2000]));
        assert_eq!(next_event(&mut n.rx).await, LinkEvent::Lost { peer: 2 });
        closed_by_other_side(&mut s).await;
        n.net.shutdown().await;
    }

    #[tokio::test]
    async fn an_unreachable_peer_is_lost_once_and_again_only_after_drops() {
        let addrs = BTreeMap::from([(1, free_addr()), (2, free_addr())]);
        let mut n = node(1, &addrs, 1024).await;
        assert_eq!(next_event(&mut n.rx).await, LinkEvent::Lost { peer: 2 });
        // Retries keep failing, but with nothing dropped there is nothing new to report.
        assert!(timeout(Duration::from_millis(500), n.rx.recv())
            .await
            .is_err());
        n.net.send(2, Bytes::from_static(b"into the void"));
        assert_eq!(next_event(&mut n.rx).await, LinkEvent::Lost { peer: 2 });
        n.net.send(7, Bytes::from_static(b"to nobody"));
        n.net.shutdown().await;
    }

    #[tokio::test]
    async fn dropping_the_net_closes_its_sockets() {
        let peer = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addrs = BTreeMap::from([(1, free_addr()), (2, peer.local_addr().unwrap())]);
        let n = node(1, &addrs, 1024).await;
        let (mut s, _) = timeout(GUARD, peer.accept()).await.unwrap().unwrap();
        assert_eq!(parse_hello(&read_raw_frame(&mut s, 0).await), Some(1));
        let listen = n.net.local_addr();
        drop(n);
        closed_by_other_side(&mut s).await;
        // The listening socket is gone too: the address can be bound again.
        timeout(GUARD, async {
            while bind(listen).is_err() {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .expect("listen address still bound");
    }
}
