//! The core: the one task that owns the tree, the sessions, the watches and the
//! connections' request queues. Reads are answered from the applied tree; writes
//! are prepared into Txns, made durable by the storage writer (group commit), then
//! applied in zxid order, firing watches before the owner's reply.
//!
//! Per-connection order: a read waits for every earlier write of its connection to
//! be applied, so replies leave in request order and a session reads its own writes.

mod forward;
mod links;
mod local;
mod observe;
mod reconfig;
mod replication;
pub mod reply;

pub use replication::zab_config;

use crate::config::Config;
use crate::prep::Prep;
use crate::proto::{
    add_watch_mode, op, perms, xid, ConnectRequest, ConnectResponse, DecodeError, ErrorCode, Id,
    Request, SetWatches,
};
use crate::session::{self, ExpiryTracker};
use crate::storage::writer::{StorageCmd, StorageEvent, StorageHandle};
use crate::storage::StateDelta;
use crate::tree::watch::{ConnId, Table, WatchRegistry};
use crate::tree::{acl, Change, DataTree, NodeKind, OpResult};
use crate::txn::{Txn, TxnBody};
use reply::ReadResult;
use rookery_metrics::{Metrics, RequestStats};
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

/// Bytes or a close instruction for a connection's writer.
#[derive(Debug)]
pub enum Outbound {
    Frame(Vec<u8>),
    /// Flush what was queued, then close the socket.
    Close,
}

pub type Outbox = mpsc::UnboundedSender<Outbound>;

/// Messages from the network edge to the core.
#[derive(Debug)]
pub enum CoreMsg {
    Open {
        conn: ConnId,
        peer: crate::net::Peer,
        out: Outbox,
    },
    Connect {
        conn: ConnId,
        req: ConnectRequest,
    },
    Request {
        conn: ConnId,
        xid: i32,
        opcode: i32,
        body: Result<Request, DecodeError>,
        /// The request body as framed, for forwarding to the leader.
        raw: Vec<u8>,
    },
    Closed {
        conn: ConnId,
    },
    /// A four-letter word: the core answers with the text.
    FourLetter {
        word: String,
        reply: oneshot::Sender<String>,
    },
    /// A frame that broke the protocol was seen and its connection closed.
    BadFrame,
    /// The admin server's view of the member (with the tree digest when asked).
    Inspect {
        with_digest: bool,
        reply: oneshot::Sender<crate::admin::ServerView>,
    },
}

struct Queued {
    xid: i32,
    opcode: i32,
    body: Result<Request, DecodeError>,
    raw: Vec<u8>,
    received: Instant,
}

struct Conn {
    addr: SocketAddr,
    out: Outbox,
    session: Option<i64>,
    ids: Vec<Id>,
    queue: VecDeque<Queued>,
    inflight_writes: usize,
    awaiting_session: bool,
    closed: bool,
    /// The nonce of the DIGEST-MD5 challenge sent on this connection, if one was.
    sasl_nonce: Option<String>,
    /// Whether the client's ConnectRequest carried the readOnly byte.
    read_only_byte: Option<bool>,
    timeout_ms: i32,
    received: u64,
    sent: u64,
    opened: Instant,
    established_ms: i64,
    latency: crate::admin::ConnLatency,
    last_zxid: i64,
}

impl Conn {
    fn send(&mut self, frame: Vec<u8>) {
        self.sent += 1;
        let _ = self.out.send(Outbound::Frame(frame));
    }

    fn close(&mut self) {
        self.closed = true;
        self.queue.clear();
        let _ = self.out.send(Outbound::Close);
    }
}

/// Who is waiting for a Txn to be applied.
enum Origin {
    None,
    Request {
        conn: ConnId,
        xid: i32,
        /// The request's own opcode (multi for a multi).
        opcode: i32,
        opcodes: Vec<i32>,
        /// For the slow-request log.
        path: Option<String>,
        received: Instant,
        close_after: bool,
    },
    Connect {
        conn: ConnId,
    },
    /// A reconnect held until the no-op it sent through the leader applies here.
    Revalidate {
        conn: ConnId,
        req: ConnectRequest,
    },
    /// A learner's `sync`: answered with the path once the leader's no-op applies here.
    Sync {
        conn: ConnId,
        xid: i32,
        path: String,
        received: Instant,
    },
}

/// Numbers for four-letter words and metrics.
#[derive(Debug, Default, Clone)]
pub struct Counters {
    pub bad_frames: u64,
    pub sessions_expired: u64,
    pub fsyncs: u64,
    pub fsync_micros_total: u64,
    pub txns_logged: u64,
}

pub struct Core {
    cfg: Arc<Config>,
    tree: DataTree,
    prep: Prep,
    watches: WatchRegistry,
    conns: HashMap<ConnId, Conn>,
    session_conn: HashMap<i64, ConnId>,
    expiry: ExpiryTracker,
    storage: StorageHandle,
    repl: replication::Replication,
    stats: RequestStats,
    counters: Counters,
    session_ids: session::IdGenerator,
    started: Instant,
    last_sweep: Instant,
    delta: StateDeltaBuilder,
    last_state_flush: Instant,
    applied_since_trim: u64,
    metrics: Arc<Metrics>,
    observed: observe::Observed,
    local: local::LocalSessions,
    read_only: local::ReadOnlyMode,
    /// The ensemble's membership as of the last applied reconfig (or zoo.cfg).
    membership: crate::membership::Membership,
    /// On the leader: the zxid of a reconfig proposed and not applied yet.
    pending_reconfig: Option<i64>,
    /// Connections opened while no leader is established, and their
    /// ConnectRequest once it comes: answered when the member serves again.
    held: HashMap<ConnId, HeldConnect>,
}

/// Accumulates the touched keys of a group of applied Txns into one state write.
#[derive(Default)]
struct StateDeltaBuilder {
    paths: BTreeSet<String>,
    sessions: BTreeSet<i64>,
}

/// The applied state is written to storage once this many keys changed, or
/// [`STATE_FLUSH_INTERVAL`] after the last write, not with every commit: the
/// log is the durable record (a restart replays it past the stored state), and
/// a key written often (a parent's child count, a hot counter) is written once
/// per flush instead of once per Txn. Small, because the core encodes every
/// dirty record at the flush and the writer inserts them ahead of the next
/// fsync group: at 8192 keys each flush stalled writes for ~25 ms (create
/// p99.9 36-48 ms; at 1024 keys 17-19 ms, the same as with no flush at all).
const STATE_FLUSH_KEYS: usize = 1024;
/// Bounds how much of the log a restart replays (and how stale a SNAP source
/// could be; SNAP flushes first anyway).
const STATE_FLUSH_INTERVAL: Duration = Duration::from_millis(1000);

/// A client connection that came during an election. ZooKeeper closes it at
/// once, and clients then back off for a whole pass over their members (300
/// ms and more for three); an election here takes tens of milliseconds once a
/// member is lost, so the connection waits for it (`rookery.electionHoldMs`,
/// 1 s by default: a member cut off for longer lets its clients go well
/// before their connect timeout).
struct HeldConnect {
    since: Instant,
    request: Option<ConnectRequest>,
}

/// How many applied Txns between log trims. The stored log keeps what ZAB keeps
/// in memory for DIFF (`commitLogCount` entries), so a restart finds it again.
const TRIM_EVERY: u64 = 10_000;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl Core {
    /// A member from what storage recovered; replication starts at once (a lone
    /// voter leads immediately and commits its whole log).
    pub fn new(
        cfg: Arc<Config>,
        recovered: crate::storage::Recovered,
        mut zab_cfg: crate::zab::ZabConfig,
        storage: StorageHandle,
        metrics: Arc<Metrics>,
    ) -> Result<Core, String> {
        let now = Instant::now();
        let tree = recovered.tree;
        let membership = reconfig::initial_membership(&cfg, &tree);
        if !cfg.is_standalone() {
            zab_cfg.voters = membership.voters();
            zab_cfg.observers = membership.observers();
            zab_cfg.version = membership.version;
        }
        metrics.config_version.set(membership.version);
        let mut expiry = ExpiryTracker::default();
        for (id, s) in tree.sessions() {
            expiry.touch(*id, s.timeout_ms, now);
        }
        let server_id = cfg.my_id.unwrap_or(0);
        let repl = replication::Replication::new(
            zab_cfg,
            &tree,
            replication::RecoveredLog {
                recent: recovered.recent,
                base: recovered.recent_base,
                unapplied: recovered.unapplied,
            },
            recovered.accepted_epoch,
            recovered.current_epoch,
        );
        let mut core = Core {
            session_ids: session::IdGenerator::new(server_id, now_ms()),
            tree,
            prep: Prep::default(),
            watches: WatchRegistry::default(),
            conns: HashMap::new(),
            session_conn: HashMap::new(),
            expiry,
            storage,
            repl,
            stats: RequestStats::default(),
            counters: Counters::default(),
            started: now,
            last_sweep: now,
            delta: StateDeltaBuilder::default(),
            last_state_flush: Instant::now(),
            applied_since_trim: 0,
            metrics,
            observed: observe::Observed::new(),
            local: local::LocalSessions::default(),
            read_only: local::ReadOnlyMode::default(),
            membership,
            pending_reconfig: None,
            held: HashMap::new(),
            cfg,
        };
        core.show_membership();
        core.run_zab_actions();
        match core.repl.fatal.take() {
            Some(e) => Err(e),
            None => Ok(core),
        }
    }

    /// Runs until the edge goes away or storage fails. Returns an error message on failure.
    /// Attaches the links to the other members (an ensemble member).
    pub fn with_links(mut self, net: crate::net::quorum::QuorumNet) -> Core {
        self.repl.links = Some(links::Links::new(net));
        // A reconfig may have changed the members since zoo.cfg was written.
        let current = std::mem::replace(
            &mut self.membership,
            crate::membership::Membership::new(&self.cfg.servers, 0),
        );
        self.adopt_membership(current);
        self.run_zab_actions();
        self
    }

    pub async fn run(
        mut self,
        mut rx: mpsc::UnboundedReceiver<CoreMsg>,
        mut storage_events: mpsc::UnboundedReceiver<StorageEvent>,
        mut link_events: mpsc::UnboundedReceiver<crate::net::quorum::LinkEvent>,
        mut shutdown: tokio::sync::watch::Receiver<bool>,
    ) -> Result<(), String> {
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            if let Some(e) = self.repl.fatal.take() {
                self.metrics.unrecoverable_error_count.inc();
                return Err(e);
            }
            tokio::select! {
                biased;
                ev = storage_events.recv() => match ev {
                    Some(StorageEvent::Persisted { upto, entries, fsync_micros }) => {
                        self.counters.fsyncs += 1;
                        self.counters.fsync_micros_total += fsync_micros;
                        self.counters.txns_logged += entries as u64;
                        self.observe_fsync(entries, fsync_micros);
                        self.zab_step(crate::zab::Event::Persisted(upto));
                    }
                    Some(StorageEvent::Failed(e)) => return Err(format!("storage failed: {e}")),
                    None => return Err("storage writer stopped".into()),
                },
                ev = link_events.recv(), if self.repl.links.is_some() => match ev {
                    Some(ev) => self.on_link_event(ev),
                    None => return Err("member links stopped".into()),
                },
                msg = rx.recv() => match msg {
                    Some(m) => self.handle(m),
                    None => return Ok(()),
                },
                _ = tick.tick() => {
                    self.zab_step(crate::zab::Event::Tick);
                    self.on_tick();
                    self.observe_tick();
                }
                _ = shutdown.changed() => {
                    for c in self.conns.values_mut() {
                        c.close();
                    }
                    // A clean stop leaves nothing to replay.
                    self.flush_state();
                    return Ok(());
                }
            }
        }
    }

    fn handle(&mut self, msg: CoreMsg) {
        match msg {
            CoreMsg::Open { conn, peer, out } => self.open(conn, peer, out),
            CoreMsg::Connect { conn, req } => self.connect_or_hold(conn, req),
            CoreMsg::Request {
                conn,
                xid,
                opcode,
                body,
                raw,
            } => {
                let Some(c) = self.conns.get_mut(&conn) else {
                    return;
                };
                c.received += 1;
                self.stats.packet_received();
                // The body plus its length prefix and request header.
                self.metrics
                    .bytes_received_count
                    .inc_by(raw.len() as u64 + 12);
                if let Some(s) = c.session {
                    if self.local.contains(s) {
                        self.local.touch(s);
                    } else {
                        if let Some(t) = self.expiry.timeout_of(s) {
                            self.expiry.touch(s, t, Instant::now());
                        }
                        self.repl.touched(s);
                    }
                }
                c.queue.push_back(Queued {
                    xid,
                    opcode,
                    body,
                    raw,
                    received: Instant::now(),
                });
                self.drain(conn);
            }
            CoreMsg::Closed { conn } => self.closed(conn),
            CoreMsg::FourLetter { word, reply } => {
                self.publish_gauges();
                let mut view = self.snapshot_view();
                if word == "hash" {
                    view.digest = Some(self.tree.digest());
                }
                let _ = reply.send(crate::admin::four_letter(&word, &view));
                if word == "srst" {
                    self.stats.reset();
                    self.metrics.reset_server_stats();
                }
                if word == "crst" {
                    for c in self.conns.values_mut() {
                        c.received = 0;
                        c.sent = 0;
                        c.latency = Default::default();
                    }
                }
            }
            CoreMsg::Inspect { with_digest, reply } => {
                self.publish_gauges();
                let mut view = self.snapshot_view();
                if with_digest {
                    view.digest = Some(self.tree.digest());
                }
                let _ = reply.send(view);
            }
            CoreMsg::BadFrame => {
                self.counters.bad_frames += 1;
                self.metrics.bad_packets.inc();
                self.metrics.connection_drop_count.inc();
            }
        }
    }

    fn open(&mut self, conn: ConnId, peer: crate::net::Peer, out: Outbox) {
        let addr = peer.addr;
        // maxClientCnxns is enforced at accept (net), where every connection
        // counts, also one that never completes its handshake.
        let mut ids = vec![Id::new("ip", &addr.ip().to_string())];
        if let Some(subject) = peer.certificate_subject {
            // ZooKeeper's X509AuthenticationProvider: the certificate's subject
            // is the client's x509 identity; the configured one is also super.
            if self.cfg.x509_super_user.as_deref() == Some(subject.as_str()) {
                ids.push(Id::new("super", ""));
            }
            ids.push(Id::new("x509", &subject));
        }
        if self.cfg.skip_acl {
            // skipACL: every connection passes every check, as the super user does.
            ids.push(Id::new("super", ""));
        }
        let mut c = Conn {
            addr,
            out,
            session: None,
            ids,
            queue: VecDeque::new(),
            inflight_writes: 0,
            awaiting_session: true,
            closed: false,
            read_only_byte: None,
            sasl_nonce: None,
            timeout_ms: 0,
            received: 0,
            sent: 0,
            opened: Instant::now(),
            established_ms: now_ms(),
            latency: Default::default(),
            last_zxid: 0,
        };
        self.metrics.connection_request_count.inc();
        if !self.serves_clients() {
            if self.cfg.election_hold_ms == 0 {
                tracing::debug!(%addr, "not serving: closing a client connection");
                self.metrics.connection_rejected.inc();
                c.close();
                return;
            }
            tracing::debug!(%addr, "no leader yet: holding a client connection");
            self.held.insert(
                conn,
                HeldConnect {
                    since: Instant::now(),
                    request: None,
                },
            );
        }
        self.conns.insert(conn, c);
    }

    /// Whether client requests are answered now (a leader is established, or
    /// the member serves read-only).
    fn serves_clients(&self) -> bool {
        self.repl.zab.is_serving() || self.read_only.active
    }

    /// A ConnectRequest: answered now, or kept with its held connection.
    fn connect_or_hold(&mut self, conn: ConnId, req: ConnectRequest) {
        let serving = self.serves_clients();
        if let Some(held) = self.held.get_mut(&conn) {
            if !serving {
                held.request = Some(req);
                return;
            }
            self.held.remove(&conn);
        }
        self.connect(conn, req);
    }

    /// Answers the held connections once the member serves; while it does
    /// not, closes those that waited `rookery.electionHoldMs`.
    fn settle_held_connects(&mut self) {
        if self.held.is_empty() {
            return;
        }
        if self.serves_clients() {
            for (conn, held) in std::mem::take(&mut self.held) {
                if let Some(req) = held.request {
                    self.connect(conn, req);
                }
            }
            return;
        }
        let hold = Duration::from_millis(self.cfg.election_hold_ms);
        let expired: Vec<ConnId> = self
            .held
            .iter()
            .filter(|(_, h)| h.since.elapsed() >= hold)
            .map(|(conn, _)| *conn)
            .collect();
        for conn in expired {
            self.held.remove(&conn);
            tracing::debug!("no leader in time: closing a held client connection");
            self.metrics.connection_rejected.inc();
            if let Some(c) = self.conns.get_mut(&conn) {
                c.close();
            }
        }
    }

    fn closed(&mut self, conn: ConnId) {
        self.held.remove(&conn);
        if let Some(c) = self.conns.remove(&conn) {
            if let Some(s) = c.session {
                if self.session_conn.get(&s) == Some(&conn) {
                    self.session_conn.remove(&s);
                }
            }
        }
        self.watches.remove_conn(conn);
    }

    fn connect(&mut self, conn: ConnId, req: ConnectRequest) {
        let last_applied = self.tree.last_zxid();
        let timeout = self.cfg.clamp_session_timeout(req.timeout_ms);
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        c.read_only_byte = req.read_only;
        c.received += 1;
        self.stats.packet_received();
        if req.last_zxid_seen > last_applied {
            tracing::info!(
                client_zxid = format!("0x{:x}", req.last_zxid_seen),
                our_zxid = format!("0x{:x}", last_applied),
                "refusing a client that has seen a later zxid than ours"
            );
            c.close();
            return;
        }
        c.timeout_ms = timeout;
        if self.connect_locally(conn, &req, timeout) {
            return;
        }
        if req.session_id == 0 {
            let id = self.session_ids.allocate();
            let passwd = session::new_password();
            self.write(
                id,
                replication::WriteOp::CreateSession {
                    timeout_ms: timeout,
                    passwd,
                },
                Origin::Connect { conn },
            );
            return;
        }
        self.reconnect(conn, req, false);
    }

    /// Re-attaches an existing session to a new connection. This member's tree
    /// refuses for sure only a wrong password. A session it has not applied yet
    /// (made through another member moments ago), or whose close the leader has
    /// prepared but not committed, is judged again after an ordered no-op through
    /// the leader (ZooKeeper's learners ask the leader): a client hears "expired"
    /// only once its session's close has committed, never for a close a deposed
    /// leader left behind.
    fn reconnect(&mut self, conn: ConnId, req: ConnectRequest, revalidated: bool) {
        let id = req.session_id;
        let Some(known) = self.tree.session(id) else {
            if revalidated || self.repl.links.is_none() {
                self.refuse_as_expired(conn, &req);
            } else {
                self.revalidate(conn, req);
            }
            return;
        };
        if known.passwd != req.passwd {
            self.refuse_as_expired(conn, &req);
            return;
        }
        // Only the leader prepares closes (a member that stops leading forgets them).
        if self.repl.leads() && self.expiry.is_closing(id) {
            self.revalidate(conn, req);
            return;
        }
        let timeout = self
            .conns
            .get(&conn)
            .map_or(req.timeout_ms, |c| c.timeout_ms);
        self.metrics.revalidate_count.inc();
        self.metrics
            .session_events
            .with_label_values(&["moved"])
            .inc();
        self.bind_session(conn, id, timeout, req.passwd);
    }

    /// Holds a reconnect until a `sync` no-op from it has gone through the leader
    /// and applied here, then judges it again (see `reconnect`).
    fn revalidate(&mut self, conn: ConnId, req: ConnectRequest) {
        let mut body = crate::proto::Writer::new();
        body.write_string("/");
        let op = replication::WriteOp::Client {
            ids: Vec::new(),
            request: Request::Sync {
                path: "/".to_string(),
            },
            opcode: op::SYNC,
            raw: body.into_inner(),
        };
        self.write(req.session_id, op, Origin::Revalidate { conn, req });
    }

    /// Attaches a session to a connection, replacing any older connection of it.
    fn bind_session(&mut self, conn: ConnId, session: i64, timeout: i32, passwd: Vec<u8>) {
        if let Some(old) = self.session_conn.insert(session, conn) {
            if old != conn {
                if let Some(oc) = self.conns.get_mut(&old) {
                    oc.session = None;
                    oc.close();
                }
            }
        }
        if !self.local.contains(session) {
            self.expiry.touch(session, timeout, Instant::now());
        }
        let read_only = self.read_only.active;
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        c.session = Some(session);
        c.awaiting_session = false;
        let resp = ConnectResponse {
            timeout_ms: timeout,
            session_id: session,
            passwd,
            read_only: c.read_only_byte.map(|_| read_only),
        };
        c.send(resp.encode_frame());
        self.drain(conn);
    }

    /// Serves a connection's queue in order until it meets a read that must wait
    /// for an earlier write, or the queue is empty.
    fn drain(&mut self, conn: ConnId) {
        // In an ensemble `sync` is an ordered no-op through the log, so its reply
        // comes after everything committed before it: on a learner, what the leader
        // had committed; on the leader too, because the followers' acks can commit
        // (and a follower acknowledge) a write before the leader's own log write
        // lets it apply that write here.
        let sync_is_write = self.repl.links.is_some();
        loop {
            let Some(c) = self.conns.get_mut(&conn) else {
                return;
            };
            if c.awaiting_session || c.closed {
                return;
            }
            let Some(front) = c.queue.front() else {
                return;
            };
            let reconfig_is_write = sync_is_write && self.cfg.reconfig_enabled;
            let is_write = matches!(&front.body,
                Ok(r) if (r.is_write() && front.opcode != op::CHECK)
                    || (sync_is_write && matches!(r, Request::Sync { .. }))
                    || (reconfig_is_write && matches!(r, Request::Reconfig(_))));
            if !is_write && c.inflight_writes > 0 {
                return;
            }
            let Some(q) = c.queue.pop_front() else {
                return;
            };
            let session = c.session.unwrap_or(0);
            if is_write {
                c.inflight_writes += 1;
                self.write_request(conn, session, q);
            } else {
                self.read_request(conn, session, q);
            }
        }
    }

    fn write_request(&mut self, conn: ConnId, session: i64, q: Queued) {
        let Ok(req) = q.body else {
            return;
        };
        let close_after = matches!(req, Request::CloseSession);
        if close_after && self.local.contains(session) {
            self.close_local_session(conn, session, q.xid);
            return;
        }
        if let Err(code) = self.before_local_write(session, &req) {
            let zxid = self.tree.last_zxid();
            if let Some(c) = self.conns.get_mut(&conn) {
                c.inflight_writes = c.inflight_writes.saturating_sub(1);
                c.send(reply::header_only(q.xid, zxid, code));
            }
            self.request_done(observe::Answered {
                conn,
                xid: q.xid,
                opcode: q.opcode,
                result: code,
                received: q.received,
                write: true,
                path: req.path(),
            });
            return;
        }
        if close_after && crate::zab::mutants::active(crate::zab::mutants::Mutant::DropCloseSession)
        {
            // The mutant: "closed" without a Txn, so the session lives on.
            let zxid = self.tree.last_zxid();
            if let Some(c) = self.conns.get_mut(&conn) {
                c.inflight_writes = c.inflight_writes.saturating_sub(1);
                c.send(reply::header_only(q.xid, zxid, ErrorCode::Ok));
                c.close();
            }
            return;
        }
        if let Request::Sync { path } = &req {
            let origin = Origin::Sync {
                conn,
                xid: q.xid,
                path: path.clone(),
                received: q.received,
            };
            let ids = self.conns[&conn].ids.clone();
            let op = replication::WriteOp::Client {
                ids,
                request: req,
                opcode: q.opcode,
                raw: q.raw,
            };
            self.write(session, op, origin);
            return;
        }
        let opcodes = match &req {
            Request::Multi(ops) => ops.iter().map(|o| o.opcode()).collect(),
            other => vec![other.opcode()],
        };
        let path = req.path().map(str::to_string);
        let ids = self.conns[&conn].ids.clone();
        self.write(
            session,
            replication::WriteOp::Client {
                ids,
                request: req,
                opcode: q.opcode,
                raw: q.raw,
            },
            Origin::Request {
                conn,
                xid: q.xid,
                opcode: q.opcode,
                opcodes,
                path,
                received: q.received,
                close_after,
            },
        );
    }

    fn apply_committed(&mut self, txn: Txn, origin: Origin) {
        let applied = self.tree.apply(&txn);
        self.delta
            .paths
            .extend(applied.touched_paths.iter().cloned());
        self.delta
            .sessions
            .extend(applied.touched_sessions.iter().copied());
        self.applied_since_trim += 1;
        self.fire_watches(&applied.changes);
        let zxid = self.tree.last_zxid();
        match &txn.body {
            TxnBody::CloseSession { .. } => {
                self.metrics
                    .session_events
                    .with_label_values(&["closed"])
                    .inc();
                self.session_closed(txn.session_id, &origin)
            }
            // Every member keeps deadlines, so whoever leads next can expire sessions.
            TxnBody::CreateSession { timeout_ms, .. } => {
                self.local_session_became_global(txn.session_id);
                self.metrics
                    .session_events
                    .with_label_values(&["created"])
                    .inc();
                self.expiry
                    .touch(txn.session_id, *timeout_ms, Instant::now())
            }
            TxnBody::Reconfig { config } => {
                self.reconfig_applied(config);
                // A restart takes its membership from the stored state, not
                // from the log it replays: store it now, not up to a second later.
                self.flush_state();
            }
            _ => {}
        }
        let result = applied
            .result
            .unwrap_or(OpResult::Error(ErrorCode::SystemError));
        match origin {
            Origin::None => {}
            Origin::Sync {
                conn,
                xid,
                path,
                received,
            } => {
                let Some(c) = self.conns.get_mut(&conn) else {
                    return;
                };
                c.inflight_writes = c.inflight_writes.saturating_sub(1);
                c.send(reply::ok_with(xid, zxid, |w| w.write_string(&path)));
                self.request_done(observe::Answered {
                    conn,
                    xid,
                    opcode: op::SYNC,
                    result: ErrorCode::Ok,
                    received,
                    write: false,
                    path: Some(&path),
                });
                self.drain(conn);
            }
            Origin::Revalidate { conn, req } => {
                if self.conns.contains_key(&conn) {
                    self.reconnect(conn, req, true);
                }
            }
            Origin::Connect { conn } => {
                if !matches!(txn.body, TxnBody::CreateSession { .. }) {
                    if let Some(c) = self.conns.get_mut(&conn) {
                        c.close();
                    }
                }
                if let TxnBody::CreateSession { timeout_ms, passwd } = &txn.body {
                    // A client that left before its session was made: the session
                    // lives until it expires.
                    if self.conns.contains_key(&conn) {
                        self.bind_session(conn, txn.session_id, *timeout_ms, passwd.clone());
                    }
                }
            }
            Origin::Request {
                conn,
                xid,
                opcode,
                opcodes,
                path,
                received,
                close_after,
            } => {
                let Some(c) = self.conns.get_mut(&conn) else {
                    return;
                };
                c.inflight_writes = c.inflight_writes.saturating_sub(1);
                c.last_zxid = zxid;
                let frame = reply::write_result(xid, zxid, &opcodes, &result);
                c.send(frame);
                if close_after {
                    c.close();
                }
                let code = match &result {
                    OpResult::Error(code) => *code,
                    _ => ErrorCode::Ok,
                };
                self.request_done(observe::Answered {
                    conn,
                    xid,
                    opcode,
                    result: code,
                    received,
                    write: true,
                    path: path.as_deref(),
                });
                if !close_after {
                    self.drain(conn);
                }
            }
        }
    }

    fn session_closed(&mut self, session: i64, origin: &Origin) {
        self.expiry.remove(session);
        if let Some(conn) = self.session_conn.remove(&session) {
            let is_origin = matches!(origin, Origin::Request { conn: c, .. } if *c == conn);
            if !is_origin {
                if let Some(c) = self.conns.get_mut(&conn) {
                    c.session = None;
                    c.close();
                }
            }
        }
    }

    /// Delivers the events a Txn's changes fire. An event is dropped for a
    /// connection that may not READ the node (for a child event: the parent), as
    /// ZooKeeper does since 3.8.4 (ZOOKEEPER-4799), judged by the ACL at that
    /// step of the Txn: a later op of the same multi may replace the node.
    fn fire_watches(&mut self, changes: &[Change]) {
        if changes.is_empty() {
            return;
        }
        let mut events = Vec::new();
        for ch in changes {
            let before = events.len();
            self.watches.trigger(ch, &mut events);
            self.observe_watch_events(&events[before..]);
        }
        for e in events {
            if let Some(c) = self.conns.get_mut(&e.conn) {
                if e.acl
                    .as_ref()
                    .is_some_and(|a| !acl::allowed(a, perms::READ, &c.ids))
                {
                    continue;
                }
                c.send(reply::notification(e.event, &e.path));
            }
        }
    }

    /// Writes the applied state when enough changed or enough time passed
    /// (see [`STATE_FLUSH_KEYS`]).
    fn flush_state_if_due(&mut self) {
        let dirty = self.delta.paths.len() + self.delta.sessions.len();
        if dirty >= STATE_FLUSH_KEYS || self.last_state_flush.elapsed() >= STATE_FLUSH_INTERVAL {
            self.flush_state();
        }
    }

    /// Writes every changed key's current value and the applied zxid in one batch.
    fn flush_state(&mut self) {
        self.last_state_flush = Instant::now();
        if self.delta.paths.is_empty() && self.delta.sessions.is_empty() {
            return;
        }
        let b = std::mem::take(&mut self.delta);
        let applied = self.tree.last_zxid();
        // Trim by what ZAB's window has forgotten, never by zxid arithmetic: zxids
        // jump at every epoch, and `applied - N` once dropped every earlier epoch.
        let base = self.repl.zab.log_base_zxid().min(applied);
        let trim = if self.applied_since_trim >= TRIM_EVERY && base > 0 {
            self.applied_since_trim = 0;
            Some(base)
        } else {
            None
        };
        let delta = StateDelta {
            nodes: b
                .paths
                .into_iter()
                .map(|p| {
                    let record = self.tree.get(&p).map(|n| n.encoded());
                    (p, record)
                })
                .collect(),
            sessions: b
                .sessions
                .into_iter()
                .map(|s| (s, self.tree.session(s).cloned()))
                .collect(),
            applied_zxid: applied,
            trim_log_below: trim,
        };
        self.storage.send(StorageCmd::State(delta));
    }

    fn on_tick(&mut self) {
        self.update_read_only();
        self.settle_held_connects();
        self.expire_local_sessions();
        if !self.repl.leads() {
            self.report_touches();
            return;
        }
        let now = Instant::now();
        for session in self.expiry.expired(now) {
            if self.tree.session(session).is_none() {
                self.expiry.remove(session);
                continue;
            }
            tracing::info!(session = format!("0x{session:x}"), "session expired");
            self.counters.sessions_expired += 1;
            self.metrics.stale_sessions_expired.inc();
            self.metrics
                .session_events
                .with_label_values(&["expired"])
                .inc();
            // Preparing the close marks the session closing (so it is not expired
            // twice); marking it here first made prep refuse the close.
            self.write(session, replication::WriteOp::Expire, Origin::None);
        }
        if now.duration_since(self.last_sweep)
            >= Duration::from_millis(self.cfg.container_check_interval_ms)
        {
            self.last_sweep = now;
            self.sweep_containers_and_ttls();
        }
    }

    /// ZooKeeper's ContainerManager: empty containers that once had a child, and
    /// expired childless TTL nodes, are deleted through ordinary delete Txns.
    fn sweep_containers_and_ttls(&mut self) {
        let now = now_ms();
        let mut doomed: Vec<String> = Vec::new();
        for p in self.tree.containers() {
            if let Some(n) = self.tree.get(p) {
                if n.children.is_empty() && n.cversion > 0 {
                    doomed.push(p.clone());
                }
            }
        }
        for p in self.tree.ttl_nodes() {
            if let Some(n) = self.tree.get(p) {
                if let NodeKind::Ttl(ttl) = n.kind() {
                    if n.children.is_empty() && now - n.mtime > ttl {
                        doomed.push(p.clone());
                    }
                }
            }
        }
        for p in doomed {
            self.write(0, replication::WriteOp::DeleteNode(p), Origin::None);
        }
    }

    fn read_request(&mut self, conn: ConnId, session: i64, q: Queued) {
        let zxid = self.tree.last_zxid();
        let Queued {
            xid: x,
            opcode,
            body,
            received,
            ..
        } = q;
        let mut close_after = false;
        let mut code = ErrorCode::Ok;
        let path = match &body {
            Ok(req)
                if received.elapsed()
                    >= Duration::from_millis(self.cfg.slow_request_threshold_ms) =>
            {
                req.path().map(str::to_string)
            }
            _ => None,
        };
        let frame = match body {
            // As ZooKeeper: an unknown opcode gets UNIMPLEMENTED and the connection is
            // closed; a body that does not decode gets MARSHALLINGERROR and the
            // connection goes on (its frames are whole, so the stream is in step).
            Err(e) => {
                tracing::debug!(opcode, error = %e, "request not served");
                close_after =
                    matches!(e, crate::proto::DecodeError::Unknown { what: "opcode", .. });
                code = if close_after {
                    ErrorCode::Unimplemented
                } else {
                    ErrorCode::MarshallingError
                };
                reply::header_only(x, zxid, code)
            }
            Ok(req) => match self.serve_read(conn, session, x, zxid, opcode, req) {
                Ok(frame) => frame,
                Err((error, close)) => {
                    close_after = close;
                    code = error;
                    reply::header_only(x, zxid, error)
                }
            },
        };
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        c.send(frame);
        if close_after {
            c.close();
        }
        self.request_done(observe::Answered {
            conn,
            xid: x,
            opcode,
            result: code,
            received,
            write: false,
            path: path.as_deref(),
        });
    }

    /// Answers a request that does not change the tree. Err carries the error
    /// code and whether the connection closes after it.
    fn serve_read(
        &mut self,
        conn: ConnId,
        session: i64,
        x: i32,
        zxid: i64,
        opcode: i32,
        req: Request,
    ) -> Result<Vec<u8>, (ErrorCode, bool)> {
        let ids = self.conns[&conn].ids.clone();
        let fail = |c: ErrorCode| (c, false);
        match req {
            Request::Ping => Ok(reply::header_only(xid::PING, zxid, ErrorCode::Ok)),
            Request::Exists { path: p, watch } => {
                if p.contains('\0') {
                    return Err(fail(ErrorCode::BadArguments));
                }
                match self.tree.get(&p) {
                    Some(n) => {
                        if !acl::allowed(&n.acl, perms::READ, &ids) {
                            return Err(fail(ErrorCode::NoAuth));
                        }
                        let stat = n.stat();
                        if watch {
                            self.watches.add_standard(Table::Data, &p, conn);
                        }
                        Ok(reply::ok_with(x, zxid, |w| stat.write(w)))
                    }
                    None => {
                        if watch {
                            self.watches.add_standard(Table::Data, &p, conn);
                        }
                        Err(fail(ErrorCode::NoNode))
                    }
                }
            }
            Request::GetData { path: p, watch } => {
                let n = self.tree.get(&p).ok_or(fail(ErrorCode::NoNode))?;
                if !acl::allowed(&n.acl, perms::READ, &ids) {
                    return Err(fail(ErrorCode::NoAuth));
                }
                let frame = reply::ok_with(x, zxid, |w| {
                    w.write_buffer(n.data.as_deref());
                    n.stat().write(w);
                });
                if watch {
                    self.watches.add_standard(Table::Data, &p, conn);
                }
                Ok(frame)
            }
            Request::GetChildren {
                path: p,
                watch,
                with_stat,
            } => {
                let n = self.tree.get(&p).ok_or(fail(ErrorCode::NoNode))?;
                if !acl::allowed(&n.acl, perms::READ, &ids) {
                    return Err(fail(ErrorCode::NoAuth));
                }
                let frame = reply::ok_with(x, zxid, |w| {
                    w.write_i32(n.children.len() as i32);
                    for child in &n.children {
                        w.write_string(child);
                    }
                    if with_stat {
                        n.stat().write(w);
                    }
                });
                if watch {
                    self.watches.add_standard(Table::Child, &p, conn);
                }
                Ok(frame)
            }
            Request::GetAcl { path: p } => {
                let n = self.tree.get(&p).ok_or(fail(ErrorCode::NoNode))?;
                if !acl::allowed(&n.acl, perms::READ | perms::ADMIN, &ids) {
                    return Err(fail(ErrorCode::NoAuth));
                }
                let shown = acl::redact_for(&n.acl, &ids);
                let stat = n.stat();
                Ok(reply::ok_with(x, zxid, |w| {
                    reply::write_acl_and_stat(w, &shown, &stat)
                }))
            }
            Request::GetAllChildrenNumber { path: p } => {
                let n = self.tree.get(&p).ok_or(fail(ErrorCode::NoNode))?;
                if !acl::allowed(&n.acl, perms::READ, &ids) {
                    return Err(fail(ErrorCode::NoAuth));
                }
                let count = self.tree.descendant_count(&p).unwrap_or(0);
                Ok(reply::ok_with(x, zxid, |w| w.write_i32(count)))
            }
            Request::GetEphemerals { prefix } => {
                let mine: Vec<String> = self
                    .tree
                    .ephemerals_of(session)
                    .into_iter()
                    .filter(|p| prefix.is_empty() || prefix == "/" || p.starts_with(&prefix))
                    .collect();
                Ok(reply::ok_with(x, zxid, |w| w.write_string_vec(&mine)))
            }
            Request::Sync { path: p } => Ok(reply::ok_with(x, zxid, |w| w.write_string(&p))),
            Request::CheckWatches {
                path: p,
                watcher_type,
                remove,
            } => {
                if self.watches.check(&p, conn, watcher_type, remove) {
                    Ok(reply::header_only(x, zxid, ErrorCode::Ok))
                } else {
                    Err(fail(ErrorCode::NoWatcher))
                }
            }
            Request::AddWatch { path: p, mode } => {
                match mode {
                    add_watch_mode::PERSISTENT => self.watches.add_persistent(&p, conn, false),
                    add_watch_mode::PERSISTENT_RECURSIVE => {
                        self.watches.add_persistent(&p, conn, true)
                    }
                    _ => return Err(fail(ErrorCode::BadArguments)),
                }
                Ok(reply::ok_with(x, zxid, |w| w.write_i32(0)))
            }
            Request::SetWatches(sw) => {
                self.set_watches(conn, &sw);
                Ok(reply::header_only(x, zxid, ErrorCode::Ok))
            }
            Request::Auth { scheme, auth } => self.auth(conn, x, zxid, &scheme, &auth),
            Request::WhoAmI => Ok(reply::ok_with(x, zxid, |w| {
                let infos: Vec<(String, String)> = ids
                    .iter()
                    .map(|i| {
                        let user = if i.scheme == "digest" {
                            i.id.split(':').next().unwrap_or("").to_string()
                        } else {
                            i.id.clone()
                        };
                        (i.scheme.clone(), user)
                    })
                    .collect();
                w.write_vec(&infos, |w, (s, u)| {
                    w.write_string(s);
                    w.write_string(u);
                });
            })),
            Request::MultiRead(ops) => {
                let results: Vec<ReadResult> =
                    ops.iter().map(|op| self.read_one(op, &ids)).collect();
                Ok(reply::multi_read(x, zxid, &results))
            }
            Request::Reconfig(_) => Err(fail(if self.cfg.reconfig_enabled {
                ErrorCode::Unimplemented
            } else {
                ErrorCode::ReconfigDisabled
            })),
            // SASL DIGEST-MD5 against the JAAS file's users: the first token gets a
            // challenge, the answer to it is checked; a wrong one closes the
            // connection after AuthFailed, as ZooKeeper drops it.
            Request::Sasl(token) => {
                let users = &self.cfg.sasl_users;
                let c = self
                    .conns
                    .get_mut(&conn)
                    .ok_or((ErrorCode::SystemError, true))?;
                let Some(nonce) = c.sasl_nonce.take() else {
                    let nonce = crate::sasl::new_nonce();
                    let challenge = crate::sasl::challenge(&nonce);
                    c.sasl_nonce = Some(nonce);
                    return Ok(reply::ok_with(x, zxid, |w| {
                        w.write_buffer(Some(challenge.as_bytes()))
                    }));
                };
                match crate::sasl::verify(&token, &nonce, users) {
                    Some((user, rspauth)) => {
                        tracing::debug!(user, "SASL DIGEST-MD5 authenticated");
                        let ident = Id::new("sasl", &user);
                        if !c.ids.contains(&ident) {
                            c.ids.push(ident);
                        }
                        Ok(reply::ok_with(x, zxid, |w| {
                            w.write_buffer(Some(rspauth.as_bytes()))
                        }))
                    }
                    None => {
                        tracing::info!(addr = %c.addr, "SASL authentication failed");
                        Err((ErrorCode::AuthFailed, true))
                    }
                }
            }
            Request::Check { .. } => Err((ErrorCode::Unimplemented, true)),
            other => {
                tracing::warn!(opcode, ?other, "request reached the read path unexpectedly");
                Err(fail(ErrorCode::SystemError))
            }
        }
    }

    fn read_one(&self, op: &Request, ids: &[Id]) -> ReadResult {
        let (p, is_data) = match op {
            Request::GetData { path, .. } => (path, true),
            Request::GetChildren { path, .. } => (path, false),
            _ => return ReadResult::Error(ErrorCode::Unimplemented),
        };
        let Some(n) = self.tree.get(p) else {
            return ReadResult::Error(ErrorCode::NoNode);
        };
        if !acl::allowed(&n.acl, perms::READ, ids) {
            return ReadResult::Error(ErrorCode::NoAuth);
        }
        if is_data {
            ReadResult::Data(n.data.clone(), n.stat())
        } else {
            ReadResult::Children(n.children.iter().cloned().collect())
        }
    }

    fn auth(
        &mut self,
        conn: ConnId,
        x: i32,
        zxid: i64,
        scheme: &str,
        auth: &[u8],
    ) -> Result<Vec<u8>, (ErrorCode, bool)> {
        let c = self
            .conns
            .get_mut(&conn)
            .ok_or((ErrorCode::SystemError, true))?;
        match scheme {
            "digest" => {
                let credentials = String::from_utf8_lossy(auth);
                let id = acl::digest_identity(&credentials);
                if self.cfg.super_digest.as_deref() == Some(id.as_str()) {
                    let sup = Id::new("super", "");
                    if !c.ids.contains(&sup) {
                        c.ids.push(sup);
                    }
                }
                let ident = Id::new("digest", &id);
                if !c.ids.contains(&ident) {
                    c.ids.push(ident);
                }
                Ok(reply::header_only(x, zxid, ErrorCode::Ok))
            }
            "ip" => Ok(reply::header_only(x, zxid, ErrorCode::Ok)),
            _ => {
                tracing::info!(scheme, "auth with an unsupported scheme");
                Err((ErrorCode::AuthFailed, true))
            }
        }
    }

    /// Rebuilds a reconnecting client's watches, firing what it missed (setWatches).
    fn set_watches(&mut self, conn: ConnId, sw: &SetWatches) {
        use crate::proto::EventType::*;
        if crate::zab::mutants::active(crate::zab::mutants::Mutant::LostWatchOnReconnect) {
            return;
        }
        let rel = sw.relative_zxid;
        let mut fire = Vec::new();
        for p in &sw.data {
            match self.tree.get(p) {
                None => fire.push((NodeDeleted, p.clone())),
                Some(n) if n.mzxid > rel => fire.push((NodeDataChanged, p.clone())),
                Some(_) => self.watches.add_standard(Table::Data, p, conn),
            }
        }
        for p in &sw.exist {
            match self.tree.get(p) {
                Some(_) => fire.push((NodeCreated, p.clone())),
                None => self.watches.add_standard(Table::Data, p, conn),
            }
        }
        for p in &sw.child {
            match self.tree.get(p) {
                None => fire.push((NodeDeleted, p.clone())),
                Some(n) if n.pzxid > rel => fire.push((NodeChildrenChanged, p.clone())),
                Some(_) => self.watches.add_standard(Table::Child, p, conn),
            }
        }
        for p in &sw.persistent {
            self.watches.add_persistent(p, conn, false);
        }
        for p in &sw.persistent_recursive {
            self.watches.add_persistent(p, conn, true);
        }
        if let Some(c) = self.conns.get_mut(&conn) {
            for (event, p) in fire {
                c.send(reply::notification(event, &p));
            }
        }
    }

    fn snapshot_view(&self) -> crate::admin::ServerView {
        let mut conns: Vec<crate::admin::ConnView> = self
            .conns
            .values()
            .filter(|c| !c.closed)
            .map(|c| crate::admin::ConnView {
                addr: c.addr,
                session: c.session,
                queued: c.queue.len() + c.inflight_writes,
                received: c.received,
                sent: c.sent,
                timeout_ms: c.timeout_ms,
                last_zxid: c.last_zxid,
                age: c.opened.elapsed(),
                established_ms: c.established_ms,
                latency: c.latency,
            })
            .collect();
        conns.sort_by_key(|c| c.addr);
        let mut ephemerals: Vec<(i64, Vec<String>)> = self
            .tree
            .sessions()
            .keys()
            .map(|s| (*s, self.tree.ephemerals_of(*s)))
            .collect();
        ephemerals.sort();
        let mode = if self.cfg.is_standalone() {
            "standalone"
        } else if self.read_only.active {
            "read-only"
        } else {
            match self.repl.zab.state() {
                crate::zab::PeerState::Leading => "leader",
                crate::zab::PeerState::Following => "follower",
                crate::zab::PeerState::Observing => "observer",
                crate::zab::PeerState::Looking => "looking",
            }
        };
        let cfg = if self.membership.version == 0 {
            self.cfg.clone()
        } else {
            let mut cfg = (*self.cfg).clone();
            cfg.servers = self.membership.servers.values().cloned().collect();
            Arc::new(cfg)
        };
        crate::admin::ServerView {
            cfg,
            config_version: self.membership.version,
            mode,
            serving: self.repl.zab.is_serving() || self.read_only.active,
            epoch: self.repl.zab.current_epoch(),
            zxid: self.tree.last_zxid(),
            node_count: self.tree.node_count(),
            data_size: self.tree.approximate_data_size(),
            ephemerals_count: self.tree.ephemeral_count(),
            sessions: self.tree.sessions().len(),
            session_timeouts: self
                .tree
                .sessions()
                .iter()
                .map(|(id, s)| (*id, s.timeout_ms))
                .collect(),
            ephemerals,
            outstanding: self.repl.outstanding(),
            stats: self.stats.clone(),
            counters: self.counters.clone(),
            connections: conns,
            watch_count: self.watches.count(),
            watched_paths: self.watches.path_count(),
            watching_connections: self.watches.connection_count(),
            watches_by_connection: self
                .watches
                .by_connection()
                .into_iter()
                .map(|(c, paths)| {
                    let session = self.conns.get(&c).and_then(|c| c.session).unwrap_or(0);
                    (session, paths)
                })
                .collect(),
            uptime: self.started.elapsed(),
            digest: None,
            peer_state: (!self.cfg.is_standalone()).then(|| {
                let role = match self.repl.zab.state() {
                    crate::zab::PeerState::Leading => "leading",
                    crate::zab::PeerState::Following => "following",
                    crate::zab::PeerState::Observing => "observing",
                    crate::zab::PeerState::Looking => "looking",
                };
                format!("{role} - {}", self.zab_phase())
            }),
            zab_phase: self.zab_phase(),
            leader: self.repl.zab.leader(),
            learners: self.repl.zab.learners(),
            log: crate::admin::LogPositions {
                first: self.repl.zab.log_base_zxid(),
                last: self.repl.zab.last_zxid(),
                durable: self.repl.zab.durable_zxid(),
                committed: self.repl.zab.committed_zxid(),
                accepted_epoch: self.repl.zab.accepted_epoch(),
            },
            metrics: self.metrics.clone(),
        }
    }

    /// ZooKeeper's ZAB phase names, as `zabstate` and `mntr`'s peer state show them.
    fn zab_phase(&self) -> &'static str {
        match self.repl.zab.state() {
            crate::zab::PeerState::Looking => "election",
            _ if self.repl.zab.is_serving() => "broadcast",
            _ if self.repl.zab.current_epoch() < self.repl.zab.accepted_epoch() => "discovery",
            _ => "synchronization",
        }
    }
}
