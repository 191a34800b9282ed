//! The core's side of replication: turns writes into Txns and proposes them
//! through the ZAB state machine, carries out its actions (storage, links), and
//! applies what it commits, in zxid order, answering this member's clients.
//! A standalone member is a one-voter ensemble: same log, same apply path.

use super::forward::Forward;
use super::{now_ms, Core, Origin};
use crate::config::Config;
use crate::prep::{Prep, PrepContext};
use crate::proto::{Id, Request};
use crate::storage::writer::StorageCmd;
use crate::tree::DataTree;
use crate::txn::{Logged, Txn, TxnBody};
use crate::zab::{self, Action, Entry, Msg, PeerState, Zab, ZabConfig};
use bytes::Bytes;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::time::Instant;

/// The host clock's tick, which ZAB counts in.
pub const TICK_MS: u64 = 100;

/// A write, before it is prepared into a Txn.
pub(super) enum WriteOp {
    /// A client request on a connection with these identities (`raw` is its
    /// framed body, which a learner forwards as it came).
    Client {
        ids: Vec<Id>,
        request: Request,
        opcode: i32,
        raw: Vec<u8>,
    },
    CreateSession {
        timeout_ms: i32,
        passwd: Vec<u8>,
    },
    /// The session timed out.
    Expire,
    /// An empty container or an expired TTL node.
    DeleteNode(String),
}

pub(super) struct Replication {
    pub(super) zab: Zab,
    my_id: u64,
    /// Logged entries not yet applied, by zxid.
    pending: BTreeMap<i64, Logged>,
    /// This member's requests waiting for their Txn to apply.
    waiting: HashMap<u64, Origin>,
    next_request: u64,
    serving: bool,
    /// Sessions this member's clients kept alive since the last report to the leader.
    touched: BTreeSet<i64>,
    /// On the leader: sessions it proposed but has not applied yet. A learner may
    /// apply (and answer) a createSession before the leader's own log write of it
    /// is durable, and the client's next write must not find the session unknown.
    proposed_sessions: HashSet<i64>,
    /// Set when storage failed: the member must stop.
    pub(super) fatal: Option<String>,
    /// Links to the other members (none when standalone).
    pub(super) links: Option<super::links::Links>,
}

/// What storage recovered of the log: the newest applied entries (kept for DIFF),
/// the zxid before them, and the entries past the applied state.
pub(super) struct RecoveredLog {
    pub recent: Vec<Logged>,
    pub base: i64,
    pub unapplied: Vec<Logged>,
}

/// ZAB's membership and timing from zoo.cfg.
pub fn zab_config(cfg: &Config) -> ZabConfig {
    let id = cfg.my_id.unwrap_or(1);
    let (voters, observers): (BTreeSet<u64>, BTreeSet<u64>) = if cfg.is_standalone() {
        ([id].into(), BTreeSet::new())
    } else {
        (
            cfg.servers
                .iter()
                .filter(|s| !s.observer)
                .map(|s| s.id)
                .collect(),
            cfg.servers
                .iter()
                .filter(|s| s.observer)
                .map(|s| s.id)
                .collect(),
        )
    };
    let ticks = |limit: u32| (limit as u64 * cfg.tick_time_ms as u64 / TICK_MS).max(2);
    ZabConfig {
        id,
        voters,
        observers,
        sync_limit_ticks: ticks(cfg.sync_limit),
        init_limit_ticks: ticks(cfg.init_limit),
        // One tick was tried: members starting a moment apart then split (one
        // decided on itself before a better vote came, and sat leading nobody
        // for initLimit), so two, like ZooKeeper's 200 ms.
        finalize_ticks: 2,
        rebroadcast_ticks: 5,
        ping_ticks: (cfg.tick_time_ms as u64 / 2 / TICK_MS).max(1),
        window: cfg.commit_log_count,
        window_bytes: cfg.commit_log_bytes,
        force_snap: cfg.force_snapshot_sync,
        version: 0,
    }
}

impl Replication {
    pub(super) fn new(
        cfg: ZabConfig,
        tree: &DataTree,
        log: RecoveredLog,
        accepted_epoch: u32,
        current_epoch: u32,
    ) -> Replication {
        let RecoveredLog {
            recent,
            base,
            unapplied,
        } = log;
        // Applied entries stay in ZAB's window for DIFF; only the rest is pending.
        let entries = recent
            .iter()
            .chain(&unapplied)
            .map(|l| Entry {
                zxid: l.txn.zxid,
                data: Bytes::from(l.encode()),
            })
            .collect();
        let recovered = zab::Recovered {
            accepted_epoch,
            current_epoch,
            base_zxid: base.min(tree.last_zxid()),
            entries,
            applied_zxid: tree.last_zxid(),
        };
        let my_id = cfg.id;
        Replication {
            zab: Zab::new(cfg, recovered),
            my_id,
            pending: unapplied.into_iter().map(|l| (l.txn.zxid, l)).collect(),
            waiting: HashMap::new(),
            next_request: 1,
            serving: false,
            touched: BTreeSet::new(),
            proposed_sessions: HashSet::new(),
            fatal: None,
            links: None,
        }
    }

    /// Notes client activity on a session, for the leader's expiry.
    pub(super) fn touched(&mut self, session: i64) {
        if !self.leads() && self.links.is_some() {
            self.touched.insert(session);
        }
    }

    /// Whether this member is the established leader.
    pub(super) fn leads(&self) -> bool {
        self.zab.state() == PeerState::Leading && self.zab.is_serving()
    }

    /// Writes logged or in flight but not yet applied.
    pub(super) fn outstanding(&self) -> usize {
        self.pending.len() + self.waiting.len()
    }

    fn park(&mut self, origin: Origin) -> u64 {
        if matches!(origin, Origin::None) {
            return 0;
        }
        let id = self.next_request;
        self.next_request += 1;
        self.waiting.insert(id, origin);
        id
    }
}

impl Core {
    /// Prepares and proposes a write (on the leader). A member that cannot take
    /// writes closes the client's connection: the client retries elsewhere.
    pub(super) fn write(&mut self, session: i64, op: WriteOp, origin: Origin) {
        if self.repl.leads() {
            let request = self.repl.park(origin);
            let me = self.repl.my_id;
            self.propose_op(session, op, me, request);
        } else if self.repl.zab.is_serving() {
            self.forward(session, op, origin);
        } else {
            self.drop_origin(origin);
        }
    }

    /// Prepares a write on the leader and proposes it; `origin_*` say who answers.
    fn propose_op(&mut self, session: i64, op: WriteOp, origin_member: u64, origin_request: u64) {
        let Some(zxid) = self.repl.zab.next_zxid() else {
            return;
        };
        let body = self.prep_op(zxid, session, &op);
        if matches!(body, TxnBody::CreateSession { .. }) {
            self.repl.proposed_sessions.insert(session);
        }
        let logged = Logged {
            origin_member,
            origin_request,
            txn: Txn {
                zxid,
                time_ms: now_ms(),
                session_id: session,
                body,
            },
        };
        let data = Bytes::from(logged.encode());
        let proposed = match self.reconfig_proposed(zxid, &logged.txn.body) {
            Some(next) => self.repl.zab.propose_reconfig(data, next.voters()),
            None => self.repl.zab.propose(data),
        };
        debug_assert_eq!(proposed, Some(zxid));
        self.run_zab_actions();
    }

    /// On a learner: hands a write to the leader; the reply comes when it applies here.
    fn forward(&mut self, session: i64, op: WriteOp, origin: Origin) {
        let request = self.repl.park(origin);
        let msg = match op {
            WriteOp::Client {
                ids, opcode, raw, ..
            } => Forward::Write {
                request,
                session,
                ids,
                opcode,
                body: raw,
            },
            WriteOp::CreateSession { timeout_ms, passwd } => Forward::CreateSession {
                request,
                session,
                timeout_ms,
                passwd,
            },
            WriteOp::Expire | WriteOp::DeleteNode(_) => return,
        };
        if !self.repl.zab.forward(Bytes::from(msg.encode())) {
            if let Some(origin) = self.repl.waiting.remove(&request) {
                self.drop_origin(origin);
            }
        }
        self.run_zab_actions();
    }

    /// On the leader: a learner's forwarded write, session or keep-alives.
    fn delivered(&mut self, from: u64, data: &[u8]) {
        let forward = match Forward::decode(data) {
            Ok(f) => f,
            Err(e) => {
                tracing::warn!(from, error = %e, "undecodable forwarded message");
                return;
            }
        };
        match forward {
            Forward::Write {
                request,
                session,
                ids,
                opcode,
                body,
            } => match Request::decode(opcode, &mut crate::proto::Reader::new(&body)) {
                Ok(req) => self.propose_op(
                    session,
                    WriteOp::Client {
                        ids,
                        request: req,
                        opcode,
                        raw: body,
                    },
                    from,
                    request,
                ),
                Err(e) => tracing::warn!(from, opcode, error = %e, "undecodable forwarded write"),
            },
            Forward::CreateSession {
                request,
                session,
                timeout_ms,
                passwd,
            } => self.propose_op(
                session,
                WriteOp::CreateSession { timeout_ms, passwd },
                from,
                request,
            ),
            Forward::Touch(sessions) => {
                let now = Instant::now();
                for s in sessions {
                    if let Some(rec) = self.tree.session(s) {
                        let timeout = self.expiry.timeout_of(s).unwrap_or(rec.timeout_ms);
                        self.expiry.touch(s, timeout, now);
                    }
                }
            }
        }
    }

    /// On a learner: tells the leader which sessions were active.
    pub(super) fn report_touches(&mut self) {
        if self.repl.touched.is_empty() || !self.repl.zab.is_serving() {
            return;
        }
        let sessions: Vec<i64> = std::mem::take(&mut self.repl.touched).into_iter().collect();
        self.repl
            .zab
            .forward(Bytes::from(Forward::Touch(sessions).encode()));
        self.run_zab_actions();
    }

    fn drop_origin(&mut self, origin: Origin) {
        match origin {
            Origin::None => {}
            Origin::Request { conn, .. }
            | Origin::Connect { conn }
            | Origin::Revalidate { conn, .. }
            | Origin::Sync { conn, .. } => {
                if let Some(c) = self.conns.get_mut(&conn) {
                    c.close();
                }
            }
        }
    }

    fn prep_op(&mut self, zxid: i64, session: i64, op: &WriteOp) -> TxnBody {
        let known =
            self.tree.session(session).is_some() || self.repl.proposed_sessions.contains(&session);
        let live = (known && !self.expiry.is_closing(session)) || self.is_local_elsewhere(session);
        match op {
            // An id already in use must never be handed out twice: the connecting
            // client is refused and retries with a fresh one.
            WriteOp::CreateSession { .. } if known => {
                tracing::warn!(
                    session = format!("0x{session:x}"),
                    "session id already in use"
                );
                TxnBody::Error(crate::proto::ErrorCode::SessionMoved)
            }
            WriteOp::CreateSession { timeout_ms, passwd } => TxnBody::CreateSession {
                timeout_ms: *timeout_ms,
                passwd: passwd.clone(),
            },
            WriteOp::Client { .. } | WriteOp::Expire if !live => {
                TxnBody::Error(crate::proto::ErrorCode::SessionExpired)
            }
            WriteOp::Client {
                request: Request::CloseSession,
                ..
            }
            | WriteOp::Expire => {
                self.expiry.mark_closing(session);
                self.prep.prep_close_session(&self.tree, session, zxid)
            }
            // A forwarded `sync`: an ordered no-op, so the learner that asked
            // answers only once it has applied everything committed before it.
            WriteOp::Client {
                request: Request::Sync { .. },
                ..
            } => TxnBody::Error(crate::proto::ErrorCode::Ok),
            WriteOp::Client {
                ids,
                request: Request::Reconfig(r),
                ..
            } => self.prep_reconfig(zxid, ids, r),
            WriteOp::Client { ids, request, .. } => {
                let ctx = PrepContext {
                    session_id: session,
                    ids,
                    zxid,
                    extended_types: self.cfg.extended_types_enabled,
                };
                self.prep.prep_write(&self.tree, &ctx, request)
            }
            WriteOp::DeleteNode(path) => {
                let ids = [Id::new("super", "")];
                let ctx = PrepContext {
                    session_id: 0,
                    ids: &ids,
                    zxid,
                    extended_types: true,
                };
                self.prep.prep_write(
                    &self.tree,
                    &ctx,
                    &Request::Delete {
                        path: path.clone(),
                        version: -1,
                    },
                )
            }
        }
    }

    pub(super) fn zab_step(&mut self, event: zab::Event) {
        if let zab::Event::Message(from, msg) = &event {
            self.observe_member_message(*from, msg);
        }
        self.repl.zab.step(event);
        self.run_zab_actions();
    }

    /// Carries out everything ZAB asked for, in order, then writes the applied
    /// state if it is due.
    pub(super) fn run_zab_actions(&mut self) {
        loop {
            let actions = self.repl.zab.take_actions();
            if actions.is_empty() {
                break;
            }
            for action in actions {
                self.carry_out(action);
            }
        }
        self.flush_state_if_due();
        self.observe_zab();
        self.settle_held_connects();
    }

    pub(super) fn barrier(&mut self, what: &str, op: crate::storage::writer::BarrierOp) {
        // The core waits for the barrier (sync, TRUNC, SNAP: rare). On a
        // multi-thread runtime the other tasks move to another thread meanwhile;
        // on a single thread they wait with it.
        let multi_thread = tokio::runtime::Handle::try_current()
            .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
        let result = if multi_thread {
            tokio::task::block_in_place(|| self.storage.barrier(op))
        } else {
            self.storage.barrier(op)
        };
        if let Err(e) = result {
            tracing::error!(error = %e, "{what} failed");
            self.repl.fatal = Some(format!("{what} failed: {e}"));
        }
    }

    fn carry_out(&mut self, action: Action) {
        match action {
            Action::Persist(entries) => {
                if self.repl.zab.state() != PeerState::Leading && !self.repl.zab.is_serving() {
                    crate::failpoints::hit("follower_sync_before_persist");
                }
                let mut encoded = Vec::with_capacity(entries.len());
                let mut sizes = Vec::with_capacity(entries.len());
                let mut created = Vec::with_capacity(entries.len());
                for e in entries {
                    match Logged::decode(&e.data) {
                        Ok(logged) => {
                            sizes.push((e.zxid, e.data.len()));
                            created.push(logged.txn.time_ms);
                            self.repl.pending.insert(e.zxid, logged);
                            encoded.push((e.zxid, e.data.to_vec()));
                        }
                        Err(err) => {
                            self.repl.fatal =
                                Some(format!("undecodable entry 0x{:x}: {err}", e.zxid));
                            return;
                        }
                    }
                }
                self.storage.send(StorageCmd::Append(encoded));
                self.observe_proposals(&sizes);
                self.observe_received_proposals(&created);
            }
            Action::Truncate(zxid) => {
                self.repl.pending.retain(|z, _| *z <= zxid);
                self.barrier(
                    "truncating the log",
                    Box::new(move |s| s.truncate_log_after(zxid)),
                );
            }
            Action::SetAcceptedEpoch(epoch) => {
                self.barrier(
                    "writing acceptedEpoch",
                    Box::new(move |s| s.set_accepted_epoch(epoch)),
                );
            }
            Action::SetCurrentEpoch(epoch) => {
                if self.repl.zab.state() != PeerState::Leading {
                    crate::failpoints::hit("follower_before_current_epoch");
                }
                self.barrier(
                    "writing currentEpoch",
                    Box::new(move |s| s.set_current_epoch(epoch)),
                );
            }
            Action::Commit(upto) => {
                if self.repl.leads() && self.repl.zab.is_serving() {
                    crate::failpoints::hit("leader_before_commit");
                }
                self.observe_commit(upto);
                self.apply_upto(upto)
            }
            Action::RoleChanged {
                state,
                epoch,
                leader,
            } => {
                tracing::info!(?state, epoch, ?leader, "role changed");
                self.role_changed();
            }
            Action::Send(to, msg) => {
                if let Msg::Sync { kind, .. } = &msg {
                    self.observe_sync_sent(kind);
                }
                self.send_to_member(to, &msg)
            }
            Action::InstallSnapshot { from, zxid } => self.install_snapshot(from, zxid),
            Action::Deliver { from, data } => self.delivered(from, &data),
            Action::MembershipLearned(view) => tracing::info!(
                version = format!("{:x}", view.version),
                voters = ?view.voters,
                "electing under a newer membership learned from a peer"
            ),
        }
    }

    /// After SNAP: nothing logged before is pending, and prep starts afresh.
    pub(super) fn repl_reset_after_snapshot(&mut self) {
        self.repl.pending.clear();
        self.prep = Prep::default();
        self.delta = Default::default();
    }

    /// Applies logged entries up to `upto` in zxid order, answering local clients.
    fn apply_upto(&mut self, upto: i64) {
        while let Some(entry) = self.repl.pending.first_entry() {
            if *entry.key() > upto {
                break;
            }
            let logged = entry.remove();
            if matches!(logged.txn.body, TxnBody::CreateSession { .. }) {
                self.repl.proposed_sessions.remove(&logged.txn.session_id);
            }
            let origin = if logged.origin_member == self.repl.my_id && logged.origin_request != 0 {
                self.repl
                    .waiting
                    .remove(&logged.origin_request)
                    .unwrap_or(Origin::None)
            } else {
                Origin::None
            };
            self.apply_committed(logged.txn, origin);
        }
        self.prep.applied(upto);
    }

    fn role_changed(&mut self) {
        let serving = self.repl.zab.is_serving();
        if self.repl.serving && !serving {
            tracing::warn!("stopped serving: closing client connections");
            for c in self.conns.values_mut() {
                c.close();
            }
            self.repl.waiting.clear();
            // Local sessions live only as long as this member serves them.
            self.drop_local_sessions();
        }
        self.update_read_only();
        if !self.repl.leads() {
            self.expiry.forget_closing();
        }
        if serving && !self.repl.serving && self.repl.leads() {
            // A new leader prepares against its own applied tree and owns expiry,
            // starting afresh: a close this member prepared when it led before,
            // and which never committed, must not leave that session "closing"
            // (never expired, its close refused) for ever.
            self.prep = Prep::default();
            self.repl.proposed_sessions.clear();
            self.pending_reconfig = None;
            self.expiry = crate::session::ExpiryTracker::default();
            let now = Instant::now();
            for (id, s) in self.tree.sessions() {
                self.expiry.touch(*id, s.timeout_ms, now);
            }
        }
        self.repl.serving = serving;
    }
}
