//! A fault-injecting TCP proxy for member-to-member links.
//!
//! `tc netem` and iptables are not available on the test machines, so faults on
//! the links between members are injected in user space: a [`Proxy`] listens on
//! 127.0.0.1, and every connection it accepts is piped to one upstream address
//! (a member's quorum or election port). Point the other members at
//! [`Proxy::addr`] instead of the member's own port. One proxy per ordered pair
//! of members (each member's config naming its own proxies for the others)
//! lets a test cut or slow single links; one proxy per port isolates a member
//! from everyone that connects to it.
//!
//! Faults can be changed at any time, also while connections are live. Those
//! that make sense per direction take a [`Direction`]: `Forward` is
//! client→upstream (towards the proxied member), `Backward` is
//! upstream→client.
//!
//! - [`Proxy::blackhole`]: bytes are swallowed and never delivered, not even
//!   after [`Proxy::heal`]; the connection stays open. A FIN read while
//!   blackholed is swallowed as well. Bytes still queued (delayed) when the
//!   blackhole starts are swallowed too.
//! - [`Proxy::delay`]: every chunk is held `delay + u * jitter` after the proxy
//!   read it, `u` in `[0, 1)` from a SplitMix64 generator seeded with the
//!   proxy's seed, the connection's index and the direction (deterministic for
//!   a given seed and chunking). Order is kept: a chunk never overtakes an
//!   earlier one. A change applies to chunks still queued.
//! - [`Proxy::loss`]: packet loss as TCP shows it to the application: a chunk
//!   "lost" (seeded draw, probability `rate`) arrives `retransmit` later, as
//!   after a retransmission timeout, and everything behind it waits (TCP keeps
//!   order, so a loss stalls the stream; no byte is ever missing).
//! - [`Proxy::throttle`]: at most `bytes_per_sec` per connection and direction,
//!   written in slices of `bytes_per_sec / 50` (at least 1) bytes.
//! - [`Proxy::cut_after`]: connections accepted while it is set are closed once
//!   exactly `n` bytes were forwarded in that direction (`Both`: `n` in total);
//!   the side that got the `n` bytes sees them followed by a FIN.
//! - [`Proxy::drop_connections`]: resets (RST, `SO_LINGER` 0) both sides of
//!   every current connection, and returns once they are closed.
//! - [`Proxy::refuse`]: new connections are accepted and closed at once,
//!   without contacting the upstream.
//! - [`Proxy::heal`]: back to a transparent pipe (live connections stay up).
//!
//! Resets are mirrored: if either side resets, or the upstream cannot be
//! reached, the proxy resets the other side. A FIN is passed on as a FIN.
//!
//! All of it runs on one thread with a single-threaded tokio runtime; dropping
//! the proxy (also while a test panics) stops that thread and closes every
//! connection before `drop` returns.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener as StdTcpListener};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{ReadHalf, WriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::{sleep, sleep_until, timeout, Instant};

/// Largest chunk read at once.
const CHUNK: usize = 16 * 1024;
/// Chunks queued per direction between reading and writing (backpressure).
const QUEUE: usize = 64;
/// A throttled direction writes `bytes_per_sec / THROTTLE_SLICES` bytes at a time.
const THROTTLE_SLICES: u64 = 50;
/// Bounds a hanging connect to the upstream.
const CONNECT_GUARD: Duration = Duration::from_secs(10);
/// Bounds [`Proxy::drop_connections`] and [`Proxy::wait_until`]: only a hang guard.
const WAIT_GUARD: Duration = Duration::from_secs(30);

/// Which way bytes flow through the proxy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Client → upstream (towards the proxied member).
    Forward,
    /// Upstream → client.
    Backward,
    /// Both ways.
    Both,
}

const FWD: usize = 0;
const BWD: usize = 1;

impl Direction {
    fn covers(self, index: usize) -> bool {
        match self {
            Direction::Forward => index == FWD,
            Direction::Backward => index == BWD,
            Direction::Both => true,
        }
    }
}

/// Counters of one direction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DirectionStats {
    /// Bytes written to the destination.
    pub forwarded: u64,
    /// Bytes swallowed by a blackhole.
    pub dropped: u64,
    /// Chunks held back by [`Proxy::loss`] (each a lost and retransmitted segment).
    pub retransmitted: u64,
}

/// A snapshot of a proxy's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProxyStats {
    /// Client → upstream.
    pub forward: DirectionStats,
    /// Upstream → client.
    pub backward: DirectionStats,
    /// Connections accepted (refused ones included).
    pub accepted: u64,
    /// Connections closed at once because of [`Proxy::refuse`].
    pub refused: u64,
    /// Connections reset because the upstream could not be reached.
    pub upstream_failures: u64,
    /// Connections closed by [`Proxy::cut_after`].
    pub cut: u64,
    /// Connections reset by [`Proxy::drop_connections`].
    pub dropped: u64,
    /// Connections open now (accepted, not yet closed).
    pub open: u64,
}

#[derive(Clone, Copy, Debug, Default)]
struct Faults {
    blackhole: [bool; 2],
    delay: [Duration; 2],
    jitter: [Duration; 2],
    loss_rate: [f64; 2],
    retransmit: [Duration; 2],
    throttle: [Option<u64>; 2],
    cut_after: Option<(Direction, u64)>,
    refuse: bool,
    drop_generation: u64,
}

#[derive(Default)]
struct Counters {
    forwarded: [AtomicU64; 2],
    dropped: [AtomicU64; 2],
    retransmitted: [AtomicU64; 2],
    accepted: AtomicU64,
    refused: AtomicU64,
    upstream_failures: AtomicU64,
    cut: AtomicU64,
    dropped_connections: AtomicU64,
}

fn bump(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

struct Shared {
    faults: watch::Sender<Faults>,
    counters: Counters,
    /// Ids of open connections.
    live: Mutex<HashSet<u64>>,
    live_changed: Condvar,
    seed: u64,
}

impl Shared {
    fn live(&self) -> MutexGuard<'_, HashSet<u64>> {
        self.live.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A fault-injecting TCP proxy on 127.0.0.1 in front of one upstream address.
/// See the [module documentation](self).
pub struct Proxy {
    addr: SocketAddr,
    upstream: SocketAddr,
    shared: Arc<Shared>,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Proxy {
    /// Starts a transparent proxy on `listen` (127.0.0.1, port 0 for any free
    /// port) to `upstream` (a loopback address) with jitter seed 0. The
    /// upstream is only contacted when a client connects, so it need not be up.
    pub fn start(listen: SocketAddr, upstream: SocketAddr) -> Proxy {
        Proxy::start_seeded(listen, upstream, 0)
    }

    /// Like [`Proxy::start`], with `seed` for the jitter of [`Proxy::delay`].
    pub fn start_seeded(listen: SocketAddr, upstream: SocketAddr, seed: u64) -> Proxy {
        assert_eq!(
            listen.ip(),
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            "proxy must listen on 127.0.0.1"
        );
        assert!(
            upstream.ip().is_loopback(),
            "proxy upstream {upstream} is not a loopback address"
        );
        let listener =
            StdTcpListener::bind(listen).unwrap_or_else(|e| panic!("proxy: bind {listen}: {e}"));
        listener
            .set_nonblocking(true)
            .expect("proxy: set_nonblocking");
        let addr = listener.local_addr().expect("proxy: local_addr");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("proxy: build tokio runtime");
        let shared = Arc::new(Shared {
            faults: watch::Sender::new(Faults::default()),
            counters: Counters::default(),
            live: Mutex::new(HashSet::new()),
            live_changed: Condvar::new(),
            seed,
        });
        let (shutdown, stopped) = oneshot::channel::<()>();
        let task_shared = Arc::clone(&shared);
        let thread = thread::Builder::new()
            .name(format!("proxy-{}", addr.port()))
            .spawn(move || {
                runtime.block_on(async move {
                    let listener = TcpListener::from_std(listener).expect("proxy: listener");
                    tokio::select! {
                        _ = stopped => {}
                        _ = accept_loop(listener, upstream, task_shared) => {}
                    }
                });
                // Dropping the runtime drops every connection task and so
                // closes all their sockets.
                drop(runtime);
            })
            .expect("proxy: spawn thread");
        Proxy {
            addr,
            upstream,
            shared,
            shutdown: Some(shutdown),
            thread: Some(thread),
        }
    }

    /// The address clients should connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The address connections are piped to.
    pub fn upstream(&self) -> SocketAddr {
        self.upstream
    }

    /// The jitter seed.
    pub fn seed(&self) -> u64 {
        self.shared.seed
    }

    fn modify(&self, f: impl FnOnce(&mut Faults)) {
        self.shared.faults.send_modify(f);
    }

    /// Swallows bytes in `direction` from now on; connections stay open.
    pub fn blackhole(&self, direction: Direction) {
        self.modify(|f| set(&mut f.blackhole, direction, true));
    }

    /// Stops swallowing bytes in `direction`; bytes swallowed stay lost.
    pub fn unblackhole(&self, direction: Direction) {
        self.modify(|f| set(&mut f.blackhole, direction, false));
    }

    /// Holds every chunk in `direction` for `delay` plus a seeded random part
    /// of `jitter`. `Duration::ZERO` for both removes the delay.
    pub fn delay(&self, direction: Direction, delay: Duration, jitter: Duration) {
        self.modify(|f| {
            set(&mut f.delay, direction, delay);
            set(&mut f.jitter, direction, jitter);
        });
    }

    /// Loses each chunk in `direction` with probability `rate` (seeded), and
    /// delivers it `retransmit` later, as TCP's retransmission would; `0.0`
    /// removes the loss.
    pub fn loss(&self, direction: Direction, rate: f64, retransmit: Duration) {
        assert!(
            (0.0..=1.0).contains(&rate),
            "loss rate {rate} outside [0, 1]"
        );
        self.modify(|f| {
            set(&mut f.loss_rate, direction, rate);
            set(&mut f.retransmit, direction, retransmit);
        });
    }

    /// Limits each connection to `bytes_per_sec` (> 0) in `direction`.
    pub fn throttle(&self, direction: Direction, bytes_per_sec: u64) {
        assert!(bytes_per_sec > 0, "throttle: use blackhole to stop traffic");
        self.modify(|f| set(&mut f.throttle, direction, Some(bytes_per_sec)));
    }

    /// Removes the throttle in `direction`.
    pub fn unthrottle(&self, direction: Direction) {
        self.modify(|f| set(&mut f.throttle, direction, None));
    }

    /// Connections accepted from now on (until [`Proxy::heal`] or
    /// [`Proxy::no_cut`]) are closed once exactly `n` (> 0) bytes were
    /// forwarded in `direction` (`Both`: in total). Live connections are not
    /// affected.
    pub fn cut_after(&self, direction: Direction, n: u64) {
        assert!(n > 0, "cut_after(0): use refuse or drop_connections");
        self.modify(|f| f.cut_after = Some((direction, n)));
    }

    /// New connections are no longer cut.
    pub fn no_cut(&self) {
        self.modify(|f| f.cut_after = None);
    }

    /// While `on`, new connections are accepted and closed at once.
    pub fn refuse(&self, on: bool) {
        self.modify(|f| f.refuse = on);
    }

    /// Resets (RST) both sides of every current connection and waits until
    /// they are closed. New connections are accepted as usual.
    pub fn drop_connections(&self) {
        let victims: HashSet<u64> = {
            let live = self.shared.live();
            self.modify(|f| f.drop_generation += 1);
            live.clone()
        };
        let deadline = std::time::Instant::now() + WAIT_GUARD;
        let mut live = self.shared.live();
        while live.iter().any(|id| victims.contains(id)) {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            assert!(
                !left.is_zero(),
                "drop_connections: connections still open after {WAIT_GUARD:?}"
            );
            live = self
                .shared
                .live_changed
                .wait_timeout(live, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Clears every fault: no blackhole, delay, throttle, cut or refusal.
    /// Live connections stay up.
    pub fn heal(&self) {
        self.modify(|f| {
            *f = Faults {
                drop_generation: f.drop_generation,
                ..Faults::default()
            }
        });
    }

    /// The counters now. Byte counters are bumped just after each write, so
    /// they may trail what a peer has already read by a moment; use
    /// [`Proxy::wait_until`] for exact values.
    pub fn stats(&self) -> ProxyStats {
        let c = &self.shared.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        ProxyStats {
            forward: DirectionStats {
                forwarded: get(&c.forwarded[FWD]),
                dropped: get(&c.dropped[FWD]),
                retransmitted: get(&c.retransmitted[FWD]),
            },
            backward: DirectionStats {
                forwarded: get(&c.forwarded[BWD]),
                dropped: get(&c.dropped[BWD]),
                retransmitted: get(&c.retransmitted[BWD]),
            },
            accepted: get(&c.accepted),
            refused: get(&c.refused),
            upstream_failures: get(&c.upstream_failures),
            cut: get(&c.cut),
            dropped: get(&c.dropped_connections),
            open: self.shared.live().len() as u64,
        }
    }

    /// Polls [`Proxy::stats`] until `done` holds; panics naming `what` after a
    /// generous guard (30 s). Use it to see that a fault took effect.
    pub fn wait_until(&self, what: &str, done: impl Fn(&ProxyStats) -> bool) -> ProxyStats {
        let deadline = std::time::Instant::now() + WAIT_GUARD;
        loop {
            let stats = self.stats();
            if done(&stats) {
                return stats;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "proxy {}: still waiting for {what} after {WAIT_GUARD:?}: {stats:?}",
                self.addr
            );
            thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn set<T: Copy>(slots: &mut [T; 2], direction: Direction, value: T) {
    for (i, slot) in slots.iter_mut().enumerate() {
        if direction.covers(i) {
            *slot = value;
        }
    }
}

/// Removes a connection from the live set when its task ends (or is dropped).
struct LiveGuard {
    shared: Arc<Shared>,
    id: u64,
}

impl Drop for LiveGuard {
    fn drop(&mut self) {
        self.shared.live().remove(&self.id);
        self.shared.live_changed.notify_all();
    }
}

async fn accept_loop(listener: TcpListener, upstream: SocketAddr, shared: Arc<Shared>) {
    let mut next_id = 0u64;
    loop {
        let client = match listener.accept().await {
            Ok((client, _)) => client,
            Err(_) => {
                // Out of descriptors or similar: back off instead of spinning.
                sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        bump(&shared.counters.accepted, 1);
        let faults = *shared.faults.borrow();
        if faults.refuse {
            bump(&shared.counters.refused, 1);
            drop(client);
            continue;
        }
        let id = next_id;
        next_id += 1;
        // Under the live lock, so drop_connections sees either this connection
        // with the old generation, or neither.
        let (rx, generation) = {
            let mut live = shared.live();
            live.insert(id);
            let rx = shared.faults.subscribe();
            let generation = rx.borrow().drop_generation;
            (rx, generation)
        };
        let conn = Conn {
            guard: LiveGuard {
                shared: Arc::clone(&shared),
                id,
            },
            generation,
            cut: faults.cut_after,
            faults: rx,
        };
        tokio::spawn(connection(client, upstream, conn));
    }
}

struct Conn {
    guard: LiveGuard,
    generation: u64,
    cut: Option<(Direction, u64)>,
    faults: watch::Receiver<Faults>,
}

/// How a connection (or one of its pipes) ended early.
#[derive(Debug)]
enum End {
    /// A side reset or failed: reset the other.
    Reset,
    /// `cut_after` reached: close.
    Cut,
    /// The proxy is going away.
    Gone,
}

/// Resolves once `drop_connections` was called after this connection was accepted.
async fn dropped(mut faults: watch::Receiver<Faults>, generation: u64) {
    loop {
        if faults.borrow_and_update().drop_generation != generation {
            return;
        }
        if faults.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

fn reset(stream: &TcpStream) {
    let _ = stream.set_zero_linger();
}

async fn connection(mut client: TcpStream, upstream: SocketAddr, conn: Conn) {
    let shared = Arc::clone(&conn.guard.shared);
    let counters = &shared.counters;
    let connect = async {
        match timeout(CONNECT_GUARD, TcpStream::connect(upstream)).await {
            Ok(Ok(up)) => Some(up),
            _ => None,
        }
    };
    let up = tokio::select! {
        up = connect => up,
        _ = dropped(conn.faults.clone(), conn.generation) => {
            bump(&counters.dropped_connections, 1);
            reset(&client);
            return;
        }
    };
    let Some(mut up) = up else {
        bump(&counters.upstream_failures, 1);
        reset(&client);
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = up.set_nodelay(true);

    let id = conn.guard.id;
    let seed = shared.seed;
    let budget = conn.cut.map(|(dir, n)| (dir, AtomicU64::new(n)));
    let outcome = {
        let (client_read, client_write) = client.split();
        let (up_read, up_write) = up.split();
        let forward = Pipe {
            dir: FWD,
            faults: &conn.faults,
            counters,
            budget: budget.as_ref(),
            rng: Rng::new(seed, id, FWD),
        };
        let backward = Pipe {
            dir: BWD,
            rng: Rng::new(seed, id, BWD),
            ..forward
        };
        let pipes = async {
            tokio::try_join!(
                forward.run(client_read, up_write),
                backward.run(up_read, client_write)
            )
        };
        tokio::select! {
            r = pipes => r.err(),
            _ = dropped(conn.faults.clone(), conn.generation) => {
                bump(&counters.dropped_connections, 1);
                Some(End::Reset)
            }
        }
    };
    match outcome {
        None | Some(End::Gone) => {}
        Some(End::Cut) => bump(&counters.cut, 1),
        Some(End::Reset) => {
            reset(&client);
            reset(&up);
        }
    }
    drop(conn.guard);
}

/// A chunk in flight, stamped when the proxy read it.
struct Chunk {
    at: Instant,
    /// Which part of the jitter applies, in [0, 1).
    jitter: f64,
    /// The draw against [`Proxy::loss`]'s rate, in [0, 1).
    loss: f64,
    /// Counted as retransmitted already.
    counted: bool,
    /// Empty for a FIN.
    bytes: Vec<u8>,
}

/// One direction of a connection.
struct Pipe<'a> {
    dir: usize,
    faults: &'a watch::Receiver<Faults>,
    counters: &'a Counters,
    budget: Option<&'a (Direction, AtomicU64)>,
    rng: Rng,
}

impl Pipe<'_> {
    async fn run(self, from: ReadHalf<'_>, to: WriteHalf<'_>) -> Result<(), End> {
        let (tx, rx) = mpsc::channel(QUEUE);
        let writer = Writer {
            dir: self.dir,
            faults: self.faults.clone(),
            counters: self.counters,
            budget: self.budget,
            pacer: Instant::now(),
        };
        tokio::try_join!(
            read_side(self.dir, from, tx, self.faults, self.counters, self.rng),
            writer.run(to, rx)
        )
        .map(|_| ())
    }
}

async fn read_side(
    dir: usize,
    mut from: ReadHalf<'_>,
    tx: mpsc::Sender<Chunk>,
    faults: &watch::Receiver<Faults>,
    counters: &Counters,
    mut rng: Rng,
) -> Result<(), End> {
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = from.read(&mut buf).await.map_err(|_| End::Reset)?;
        let at = Instant::now();
        if faults.borrow().blackhole[dir] {
            // Swallowed, FIN included; dropping `tx` at a FIN ends the writer.
            bump(&counters.dropped[dir], n as u64);
            if n == 0 {
                return Ok(());
            }
            continue;
        }
        let chunk = Chunk {
            at,
            jitter: rng.unit(),
            loss: rng.unit(),
            counted: false,
            bytes: buf[..n].to_vec(),
        };
        if tx.send(chunk).await.is_err() || n == 0 {
            return Ok(());
        }
    }
}

struct Writer<'a> {
    dir: usize,
    faults: watch::Receiver<Faults>,
    counters: &'a Counters,
    budget: Option<&'a (Direction, AtomicU64)>,
    /// When the next throttled slice may be written.
    pacer: Instant,
}

impl Writer<'_> {
    async fn run(
        mut self,
        mut to: WriteHalf<'_>,
        mut rx: mpsc::Receiver<Chunk>,
    ) -> Result<(), End> {
        while let Some(mut chunk) = rx.recv().await {
            self.hold(&mut chunk).await?;
            if self.faults.borrow().blackhole[self.dir] {
                bump(&self.counters.dropped[self.dir], chunk.bytes.len() as u64);
                if chunk.bytes.is_empty() {
                    return Ok(());
                }
                continue;
            }
            if chunk.bytes.is_empty() {
                let _ = to.shutdown().await;
                return Ok(());
            }
            self.write(&mut to, &chunk.bytes).await?;
        }
        Ok(())
    }

    /// Waits until `chunk` is due under the current delay.
    async fn hold(&mut self, chunk: &mut Chunk) -> Result<(), End> {
        loop {
            let f = *self.faults.borrow_and_update();
            let mut due = chunk.at + f.delay[self.dir] + f.jitter[self.dir].mul_f64(chunk.jitter);
            if chunk.loss < f.loss_rate[self.dir] && !chunk.bytes.is_empty() {
                due += f.retransmit[self.dir];
                if !chunk.counted {
                    chunk.counted = true;
                    bump(&self.counters.retransmitted[self.dir], 1);
                }
            }
            if Instant::now() >= due {
                return Ok(());
            }
            tokio::select! {
                _ = sleep_until(due) => {}
                changed = self.faults.changed() => changed.map_err(|_| End::Gone)?,
            }
        }
    }

    /// Waits for the throttle; returns the rate in force, if any.
    async fn pace(&mut self) -> Result<Option<u64>, End> {
        loop {
            let Some(rate) = self.faults.borrow_and_update().throttle[self.dir] else {
                return Ok(None);
            };
            let now = Instant::now();
            if self.pacer <= now {
                self.pacer = now;
                return Ok(Some(rate));
            }
            tokio::select! {
                _ = sleep_until(self.pacer) => {}
                changed = self.faults.changed() => changed.map_err(|_| End::Gone)?,
            }
        }
    }

    async fn write(&mut self, to: &mut WriteHalf<'_>, mut bytes: &[u8]) -> Result<(), End> {
        while !bytes.is_empty() {
            let rate = self.pace().await?;
            let mut n = match rate {
                Some(rate) => ((rate / THROTTLE_SLICES).max(1) as usize).min(bytes.len()),
                None => bytes.len(),
            };
            let budget = self
                .budget
                .filter(|(dir, _)| dir.covers(self.dir))
                .map(|(_, left)| left);
            if let Some(left) = budget {
                let before = left
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |l| {
                        Some(l - l.min(n as u64))
                    })
                    .expect("fetch_update closure never fails");
                if before == 0 {
                    // The other direction took the last byte and is cutting.
                    std::future::pending::<()>().await;
                }
                n = n.min(before as usize);
            }
            to.write_all(&bytes[..n]).await.map_err(|_| End::Reset)?;
            bump(&self.counters.forwarded[self.dir], n as u64);
            if let Some(rate) = rate {
                self.pacer += Duration::from_secs_f64(n as f64 / rate as f64);
            }
            bytes = &bytes[n..];
            if budget.is_some_and(|left| left.load(Ordering::SeqCst) == 0) {
                let _ = to.shutdown().await;
                return Err(End::Cut);
            }
        }
        Ok(())
    }
}

/// SplitMix64: small, seedable, good enough for jitter.
struct Rng(u64);

impl Rng {
    fn new(seed: u64, connection: u64, dir: usize) -> Rng {
        let mut mix = Rng(seed);
        let a = mix.next_u64();
        let mut rng = Rng(a ^ connection.wrapping_mul(0xD1B5_4A32_D192_ED03) ^ (dir as u64 + 1));
        rng.next_u64();
        rng
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{ErrorKind, Read, Write};
    use std::net::{Shutdown, TcpListener, TcpStream};
    use std::sync::atomic::{AtomicBool, AtomicUsize};
    use std::sync::mpsc as std_mpsc;
    use std::time::Instant as StdInstant;

    /// Bounds a hanging read or write in a test; no assertion depends on it.
    const IO_GUARD: Duration = Duration::from_secs(30);

    fn local0() -> SocketAddr {
        (Ipv4Addr::LOCALHOST, 0).into()
    }

    enum Mode {
        /// Writes back what it reads.
        Echo,
        /// Reads to EOF (or error) and reports what it got.
        Sink(std_mpsc::Sender<Vec<u8>>),
    }

    /// A tiny upstream on 127.0.0.1:0, one thread per connection.
    struct Server {
        addr: SocketAddr,
        accepted: Arc<AtomicUsize>,
        stop: Arc<AtomicBool>,
        thread: Option<thread::JoinHandle<()>>,
    }

    impl Server {
        fn echo() -> Server {
            Server::start(|| Mode::Echo)
        }

        fn sink() -> (Server, std_mpsc::Receiver<Vec<u8>>) {
            let (tx, rx) = std_mpsc::channel();
            (Server::start(move || Mode::Sink(tx.clone())), rx)
        }

        fn start(mode: impl Fn() -> Mode + Send + 'static) -> Server {
            let listener = TcpListener::bind(local0()).unwrap();
            let addr = listener.local_addr().unwrap();
            let accepted = Arc::new(AtomicUsize::new(0));
            let stop = Arc::new(AtomicBool::new(false));
            let (acc, st) = (Arc::clone(&accepted), Arc::clone(&stop));
            let thread = thread::spawn(move || {
                for stream in listener.incoming() {
                    if st.load(Ordering::SeqCst) {
                        return;
                    }
                    let Ok(stream) = stream else { continue };
                    acc.fetch_add(1, Ordering::SeqCst);
                    let mode = mode();
                    thread::spawn(move || serve(stream, mode));
                }
            });
            Server {
                addr,
                accepted,
                stop,
                thread: Some(thread),
            }
        }
    }

    impl Drop for Server {
        fn drop(&mut self) {
            self.stop.store(true, Ordering::SeqCst);
            let _ = TcpStream::connect(self.addr); // wakes the accept loop
            if let Some(t) = self.thread.take() {
                let _ = t.join();
            }
        }
    }

    fn serve(mut stream: TcpStream, mode: Mode) {
        stream.set_read_timeout(Some(IO_GUARD)).unwrap();
        let mut buf = [0u8; 8192];
        let mut got = Vec::new();
        loop {
            match stream.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => match &mode {
                    Mode::Echo => {
                        if stream.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                    Mode::Sink(_) => got.extend_from_slice(&buf[..n]),
                },
            }
        }
        if let Mode::Sink(tx) = mode {
            let _ = tx.send(got);
        }
    }

    fn connect(proxy: &Proxy) -> TcpStream {
        let s = TcpStream::connect(proxy.addr()).unwrap();
        s.set_read_timeout(Some(IO_GUARD)).unwrap();
        s.set_write_timeout(Some(IO_GUARD)).unwrap();
        s
    }

    fn round_trip(s: &mut TcpStream, msg: &[u8]) -> Vec<u8> {
        s.write_all(msg).unwrap();
        let mut back = vec![0u8; msg.len()];
        s.read_exact(&mut back).unwrap();
        back
    }

    /// Reads until EOF or an error; returns the bytes and whether it was a reset.
    fn read_until_closed(s: &mut TcpStream) -> (Vec<u8>, Option<ErrorKind>) {
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match s.read(&mut buf) {
                Ok(0) => return (got, None),
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) => {
                    assert_ne!(e.kind(), ErrorKind::WouldBlock, "read guard expired");
                    assert_ne!(e.kind(), ErrorKind::TimedOut, "read guard expired");
                    return (got, Some(e.kind()));
                }
            }
        }
    }

    /// Sends `data` from another thread while reading the echo back.
    fn echo_bulk(s: &mut TcpStream, data: &[u8]) -> Vec<u8> {
        let mut w = s.try_clone().unwrap();
        let out = data.to_vec();
        let writer = thread::spawn(move || w.write_all(&out).unwrap());
        let mut back = vec![0u8; data.len()];
        s.read_exact(&mut back).unwrap();
        writer.join().unwrap();
        back
    }

    fn pattern(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 % 251) as u8).collect()
    }

    #[test]
    fn transparent_echo() {
        let server = Server::echo();
        let proxy = Proxy::start(local0(), server.addr);
        let mut s = connect(&proxy);
        assert_eq!(round_trip(&mut s, b"hello"), b"hello");
        let big = pattern(512 * 1024);
        assert_eq!(echo_bulk(&mut s, &big), big);
        // Counters are bumped right after each write, so they may trail what
        // the peer has already read by a moment.
        let total = (5 + big.len()) as u64;
        let stats = proxy.wait_until("all bytes counted", |s| {
            s.forward.forwarded >= total && s.backward.forwarded >= total
        });
        assert_eq!(stats.forward.forwarded, total);
        assert_eq!(stats.backward.forwarded, total);
        assert_eq!(stats.accepted, 1);
        assert_eq!(stats.open, 1);

        // A FIN is passed on both ways.
        s.shutdown(Shutdown::Write).unwrap();
        assert_eq!(read_until_closed(&mut s), (Vec::new(), None));
        proxy.wait_until("connection closed", |s| s.open == 0);
    }

    #[test]
    fn blackhole_forward_then_heal() {
        let server = Server::echo();
        let proxy = Proxy::start(local0(), server.addr);
        let mut s = connect(&proxy);
        assert_eq!(round_trip(&mut s, b"before"), b"before");

        proxy.blackhole(Direction::Forward);
        s.write_all(b"swallowed").unwrap();
        proxy.wait_until("bytes swallowed", |s| s.forward.dropped == 9);
        proxy.heal();
        // If the swallowed bytes were delivered late, they would come back first.
        assert_eq!(round_trip(&mut s, b"after"), b"after");
        assert_eq!(round_trip(&mut s, b"again"), b"again");
        let stats = proxy.wait_until("counted", |s| s.forward.forwarded >= 6 + 5 + 5);
        assert_eq!(stats.forward.forwarded, 6 + 5 + 5);
    }

    #[test]
    fn blackhole_backward_then_heal() {
        let server = Server::echo();
        let proxy = Proxy::start(local0(), server.addr);
        let mut s = connect(&proxy);
        assert_eq!(round_trip(&mut s, b"before"), b"before");

        proxy.blackhole(Direction::Backward);
        s.write_all(b"lost-echo").unwrap();
        // The upstream got it (forwarded) and echoed it into the blackhole.
        proxy.wait_until("echo swallowed", |s| s.backward.dropped == 9);
        let stats = proxy.wait_until("counted", |s| s.forward.forwarded >= 6 + 9);
        assert_eq!(stats.forward.forwarded, 6 + 9);
        proxy.unblackhole(Direction::Backward);
        assert_eq!(round_trip(&mut s, b"after"), b"after");
        assert_eq!(proxy.stats().open, 1);
    }

    #[test]
    fn blackhole_both_keeps_connection_open() {
        let server = Server::echo();
        let proxy = Proxy::start(local0(), server.addr);
        let mut s = connect(&proxy);
        proxy.blackhole(Direction::Both);
        s.write_all(b"x").unwrap();
        proxy.wait_until("swallowed", |s| s.forward.dropped == 1);
        proxy.heal();
        assert_eq!(round_trip(&mut s, b"y"), b"y");
        assert_eq!(proxy.stats().backward.dropped, 0);
    }

    #[test]
    fn delay_adds_at_least_the_delay() {
        let server = Server::echo();
        let proxy = Proxy::start_seeded(local0(), server.addr, 42);
        let mut s = connect(&proxy);
        assert_eq!(round_trip(&mut s, b"warm"), b"warm");

        let d = Duration::from_millis(150);
        proxy.delay(Direction::Forward, d, Duration::ZERO);
        let t = StdInstant::now();
        assert_eq!(round_trip(&mut s, b"one-way"), b"one-way");
        assert!(t.elapsed() >= d, "one way: {:?}", t.elapsed());

        proxy.delay(Direction::Both, d, Duration::from_millis(50));
        for _ in 0..3 {
            let t = StdInstant::now();
            assert_eq!(round_trip(&mut s, b"both"), b"both");
            assert!(t.elapsed() >= 2 * d, "both ways: {:?}", t.elapsed());
        }

        proxy.heal();
        assert_eq!(round_trip(&mut s, b"healed"), b"healed");
    }

    #[test]
    fn delay_keeps_order_under_jitter() {
        let server = Server::echo();
        let proxy = Proxy::start_seeded(local0(), server.addr, 7);
        proxy.delay(
            Direction::Both,
            Duration::from_millis(5),
            Duration::from_millis(40),
        );
        let mut s = connect(&proxy);
        let mut expected = Vec::new();
        for i in 0..50u8 {
            s.write_all(&[i]).unwrap();
            expected.push(i);
            thread::sleep(Duration::from_millis(1));
        }
        let mut back = vec![0u8; expected.len()];
        s.read_exact(&mut back).unwrap();
        assert_eq!(back, expected);
    }

    #[test]
    fn loss_stalls_but_keeps_every_byte_in_order() {
        let server = Server::echo();
        let proxy = Proxy::start_seeded(local0(), server.addr, 11);
        proxy.loss(Direction::Forward, 0.3, Duration::from_millis(20));
        let mut s = connect(&proxy);
        let mut expected = Vec::new();
        for i in 0..60u8 {
            s.write_all(&[i]).unwrap();
            expected.push(i);
            thread::sleep(Duration::from_millis(2));
        }
        let mut back = vec![0u8; expected.len()];
        s.read_exact(&mut back).unwrap();
        assert_eq!(back, expected);
        let stats = proxy.stats();
        assert!(
            stats.forward.retransmitted > 0 && stats.backward.retransmitted == 0,
            "{stats:?}"
        );
    }

    #[test]
    fn jitter_is_deterministic_per_seed() {
        let draw = |seed, conn, dir| {
            let mut r = Rng::new(seed, conn, dir);
            (0..8).map(|_| r.unit()).collect::<Vec<_>>()
        };
        assert_eq!(draw(1, 0, FWD), draw(1, 0, FWD));
        assert_ne!(draw(1, 0, FWD), draw(2, 0, FWD));
        assert_ne!(draw(1, 0, FWD), draw(1, 1, FWD));
        assert_ne!(draw(1, 0, FWD), draw(1, 0, BWD));
        assert!(draw(3, 4, BWD).iter().all(|u| (0.0..1.0).contains(u)));
    }

    #[test]
    fn cut_after_forward_exact() {
        let (server, received) = Server::sink();
        let proxy = Proxy::start(local0(), server.addr);
        proxy.cut_after(Direction::Forward, 40);
        let mut s = connect(&proxy);
        s.write_all(&pattern(100)).unwrap();
        let got = received.recv_timeout(IO_GUARD).expect("sink saw no EOF");
        assert_eq!(got, pattern(40));
        let (back, _) = read_until_closed(&mut s);
        assert!(back.is_empty());
        let stats = proxy.wait_until("cut", |s| s.cut == 1 && s.open == 0);
        assert_eq!(stats.forward.forwarded, 40);

        // Sticky for new connections until no_cut/heal.
        let mut s = connect(&proxy);
        s.write_all(&pattern(10)).unwrap();
        s.write_all(&pattern(50)).unwrap();
        let got = received.recv_timeout(IO_GUARD).expect("sink saw no EOF");
        assert_eq!(got.len(), 40);
        drop(s);
        proxy.no_cut();
        let mut s = connect(&proxy);
        s.write_all(&pattern(100)).unwrap();
        s.shutdown(Shutdown::Write).unwrap();
        let got = received.recv_timeout(IO_GUARD).expect("sink saw no EOF");
        assert_eq!(got, pattern(100));
    }

    #[test]
    fn cut_after_backward_exact() {
        let server = Server::echo();
        let proxy = Proxy::start(local0(), server.addr);
        proxy.cut_after(Direction::Backward, 40);
        let mut s = connect(&proxy);
        s.write_all(&pattern(100)).unwrap();
        let (back, _) = read_until_closed(&mut s);
        assert_eq!(back, pattern(40));
        let stats = proxy.wait_until("cut", |s| s.cut == 1 && s.open == 0);
        assert_eq!(stats.backward.forwarded, 40);
    }

    #[test]
    fn cut_after_both_counts_total() {
        let server = Server::echo();
        let proxy = Proxy::start(local0(), server.addr);
        proxy.cut_after(Direction::Both, 30);
        let mut s = connect(&proxy);
        // 10 up + 10 back = 20, then 10 more up reaches 30.
        assert_eq!(round_trip(&mut s, &pattern(10)), pattern(10));
        s.write_all(&pattern(25)).unwrap();
        let (back, _) = read_until_closed(&mut s);
        assert!(back.is_empty());
        let stats = proxy.wait_until("cut", |s| s.cut == 1 && s.open == 0);
        assert_eq!(stats.forward.forwarded + stats.backward.forwarded, 30);
        assert_eq!(stats.forward.forwarded, 20);
    }

    #[test]
    fn drop_connections_resets() {
        let server = Server::echo();
        let proxy = Proxy::start(local0(), server.addr);
        let mut a = connect(&proxy);
        let mut b = connect(&proxy);
        assert_eq!(round_trip(&mut a, b"a"), b"a");
        assert_eq!(round_trip(&mut b, b"b"), b"b");

        proxy.drop_connections();
        let stats = proxy.stats();
        assert_eq!((stats.dropped, stats.open), (2, 0));
        for s in [&mut a, &mut b] {
            let (got, err) = read_until_closed(s);
            assert!(got.is_empty());
            assert_eq!(err, Some(ErrorKind::ConnectionReset));
        }

        // New connections work as before.
        let mut c = connect(&proxy);
        assert_eq!(round_trip(&mut c, b"c"), b"c");
        assert_eq!(proxy.stats().accepted, 3);
    }

    #[test]
    fn refuse_then_accept_again() {
        let server = Server::echo();
        let proxy = Proxy::start(local0(), server.addr);
        proxy.refuse(true);
        let mut s = connect(&proxy);
        let (got, _) = read_until_closed(&mut s);
        assert!(got.is_empty());
        let stats = proxy.wait_until("refused", |s| s.refused == 1);
        assert_eq!(stats.accepted, 1);
        assert_eq!(server.accepted.load(Ordering::SeqCst), 0);

        proxy.refuse(false);
        let mut s = connect(&proxy);
        assert_eq!(round_trip(&mut s, b"ok"), b"ok");
        assert_eq!(server.accepted.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn unreachable_upstream_resets_client() {
        // Bound but not listening: the port stays taken and refuses connections.
        let taken = tokio::net::TcpSocket::new_v4().unwrap();
        taken.bind(local0()).unwrap();
        let upstream = taken.local_addr().unwrap();
        let proxy = Proxy::start(local0(), upstream);
        let mut s = connect(&proxy);
        let (got, err) = read_until_closed(&mut s);
        assert!(got.is_empty());
        assert_eq!(err, Some(ErrorKind::ConnectionReset));
        assert_eq!(proxy.stats().upstream_failures, 1);
    }

    #[test]
    fn throttle_bounds_rate_from_below() {
        let server = Server::echo();
        let proxy = Proxy::start(local0(), server.addr);
        let rate = 100_000u64;
        proxy.throttle(Direction::Forward, rate);
        let mut s = connect(&proxy);
        let data = pattern(50_000);
        let t = StdInstant::now();
        assert_eq!(echo_bulk(&mut s, &data), data);
        // Slices of rate/50 bytes, the first one at once: (50_000 - 2_000) / rate.
        let floor = Duration::from_millis(480);
        assert!(
            t.elapsed() >= floor,
            "throttled transfer took {:?}",
            t.elapsed()
        );

        proxy.heal();
        let big = pattern(1 << 20);
        assert_eq!(echo_bulk(&mut s, &big), big);
    }

    #[test]
    fn drop_closes_everything() {
        let server = Server::echo();
        let proxy = Proxy::start(local0(), server.addr);
        let mut s = connect(&proxy);
        assert_eq!(round_trip(&mut s, b"x"), b"x");
        proxy.blackhole(Direction::Both);
        proxy.delay(Direction::Both, Duration::from_secs(3600), Duration::ZERO);
        drop(proxy);
        let (got, _) = read_until_closed(&mut s);
        assert!(got.is_empty());
    }
}
