//! The sans-IO ZAB core (DESIGN §3): Fast Leader Election, discovery, sync and
//! broadcast as a deterministic state machine. No sockets, clocks, threads or
//! files: the host feeds `Event`s and carries out the `Action`s it returns, in order.
//!
//! Host contract:
//! - `Persist` is asynchronous: storage writes in order (one FIFO) and reports
//!   `Persisted(z)` once every entry up to `z` is durable.
//! - `Truncate`, `InstallSnapshot`, `SetAcceptedEpoch` and `SetCurrentEpoch` are
//!   barriers: whatever was queued before them is written, and they are durable,
//!   before the next action runs.
//! - Links between members are FIFO; when one breaks the host reports `PeerLost`
//!   and later messages simply flow again on a new connection.
//! - `Commit(z)` asks the host to apply its logged entries up to `z`; it never
//!   exceeds what is durable here.

mod election;
mod follower;
mod leader;
pub mod log;
pub mod mutants;
pub mod wire;
pub use leader::LearnerStatus;

use bytes::Bytes;
use std::collections::{BTreeMap, BTreeSet};

pub type PeerId = u64;

pub fn epoch_of(zxid: i64) -> u32 {
    (zxid >> 32) as u32
}

pub fn make_zxid(epoch: u32, counter: u32) -> i64 {
    ((epoch as i64) << 32) | counter as i64
}

/// One log entry: an encoded Txn the core never looks into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub zxid: i64,
    pub data: Bytes,
}

/// What a member is doing, as its election notifications say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PeerState {
    Looking,
    Following,
    Leading,
    Observing,
}

/// A vote: who should lead, and the voter's view of that candidate's history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Vote {
    pub leader: PeerId,
    pub zxid: i64,
    pub epoch: u32,
}

impl Vote {
    /// FLE's total order: epoch, then zxid, then id.
    pub fn beats(&self, other: &Vote) -> bool {
        (self.epoch, self.zxid, self.leader) > (other.epoch, other.zxid, other.leader)
    }
}

/// A membership as election messages carry it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConfigView {
    /// The zxid of the reconfig that made it (0: zoo.cfg's).
    pub version: i64,
    pub voters: BTreeSet<PeerId>,
    pub observers: BTreeSet<PeerId>,
}

/// How a learner is brought up to the leader's history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncKind {
    /// Append the entries that follow.
    Diff,
    /// Drop everything after this zxid first, then append.
    Trunc(i64),
    /// Install the leader's state at this zxid (the host streams it), then append.
    Snap(i64),
}

/// Member-to-member messages (election and quorum links).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Msg {
    Notification {
        vote: Vote,
        round: u64,
        state: PeerState,
        /// The membership the sender is in: a looking member that holds an
        /// older one (it missed a reconfig, or a reconfig just took it in)
        /// takes it, as ZooKeeper's election does. Only applied, so committed,
        /// memberships are ever sent.
        config: ConfigView,
    },
    FollowerInfo {
        accepted_epoch: u32,
        last_zxid: i64,
    },
    LeaderInfo {
        epoch: u32,
    },
    AckEpoch {
        current_epoch: u32,
        last_zxid: i64,
    },
    /// DIFF / TRUNC / SNAP with the entries to append, then NEWLEADER for `epoch`.
    Sync {
        kind: SyncKind,
        entries: Vec<Entry>,
        epoch: u32,
    },
    AckNewLeader {
        epoch: u32,
    },
    UpToDate {
        commit: i64,
    },
    Proposal(Entry),
    /// Everything up to `zxid` is durable on the sender.
    Ack {
        zxid: i64,
    },
    /// Everything up to `zxid` is committed.
    Commit {
        zxid: i64,
    },
    Ping,
    PingAck,
    /// A client write a learner forwards to the leader to prepare.
    Request(Bytes),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Message(PeerId, Msg),
    Tick,
    Persisted(i64),
    PeerLost(PeerId),
    /// A link to the peer came up: what was sent to it before may never have
    /// arrived (a member still starting drops it).
    PeerUp(PeerId),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Send(PeerId, Msg),
    Persist(Vec<Entry>),
    Truncate(i64),
    InstallSnapshot {
        from: PeerId,
        zxid: i64,
    },
    SetAcceptedEpoch(u32),
    SetCurrentEpoch(u32),
    Commit(i64),
    RoleChanged {
        state: PeerState,
        epoch: u32,
        leader: Option<PeerId>,
    },
    /// On the leader: a forwarded client write to prepare and propose.
    Deliver {
        from: PeerId,
        data: Bytes,
    },
    /// A newer membership was learned from a peer during election (the log
    /// brings the reconfig itself once synced).
    MembershipLearned(ConfigView),
}

/// Membership and timing, in ticks of the host's clock.
#[derive(Debug, Clone)]
pub struct ZabConfig {
    pub id: PeerId,
    pub voters: BTreeSet<PeerId>,
    pub observers: BTreeSet<PeerId>,
    /// Ticks a learner may stay silent (and a leader without quorum) in broadcast.
    pub sync_limit_ticks: u64,
    /// Ticks allowed for discovery and sync.
    pub init_limit_ticks: u64,
    /// Ticks to wait after a quorum agrees, for a better vote (FLE's finalize wait).
    pub finalize_ticks: u64,
    /// Ticks between re-sent election notifications.
    pub rebroadcast_ticks: u64,
    /// Ticks between leader pings.
    pub ping_ticks: u64,
    /// Applied entries kept in memory for DIFF; older learners get SNAP.
    pub window: usize,
    /// Bytes of applied entries kept for DIFF at most (`commitLogBytes`).
    pub window_bytes: usize,
    /// Every learner gets SNAP (`forceSnapshotSync`).
    pub force_snap: bool,
    /// The version of this membership (the zxid of the reconfig that made it).
    pub version: i64,
}

impl ZabConfig {
    pub fn quorum(&self) -> usize {
        self.voters.len() / 2 + 1
    }

    pub fn is_voter(&self, id: PeerId) -> bool {
        self.voters.contains(&id)
    }

    pub fn peers(&self) -> impl Iterator<Item = PeerId> + '_ {
        let me = self.id;
        self.voters
            .iter()
            .chain(self.observers.iter())
            .copied()
            .filter(move |p| *p != me)
    }
}

/// What storage held at start-up.
#[derive(Debug, Clone, Default)]
pub struct Recovered {
    pub accepted_epoch: u32,
    pub current_epoch: u32,
    /// The zxid just before `entries` (older history is only in the applied state).
    pub base_zxid: i64,
    pub entries: Vec<Entry>,
    pub applied_zxid: i64,
}

enum Phase {
    Looking(election::Election),
    Following(follower::Follower),
    Leading(leader::Leader),
}

pub struct Zab {
    cfg: ZabConfig,
    accepted_epoch: u32,
    current_epoch: u32,
    log: log::Log,
    phase: Phase,
    /// FLE's logical clock: survives elections within one run.
    round: u64,
    now: u64,
    out: Vec<Action>,
    /// Looking votes that came while this member still followed or led (see
    /// [`Zab::take_up_heard_votes`]).
    heard_while_settled: BTreeMap<PeerId, HeardVote>,
}

/// A looking peer's notification, kept with the tick it came at.
#[derive(Debug, Clone)]
struct HeardVote {
    vote: Vote,
    round: u64,
    config: ConfigView,
    at: u64,
}

impl Zab {
    /// Starts in election.
    pub fn new(cfg: ZabConfig, rec: Recovered) -> Zab {
        let mut z = Zab {
            log: log::Log::recovered(rec.base_zxid, rec.entries, rec.applied_zxid),
            accepted_epoch: rec.accepted_epoch,
            current_epoch: rec.current_epoch,
            cfg,
            phase: Phase::Looking(election::Election::default()),
            round: 0,
            heard_while_settled: BTreeMap::new(),
            now: 0,
            out: Vec::new(),
        };
        z.start_election();
        z
    }

    /// Feeds one event.
    pub fn step(&mut self, event: Event) {
        match event {
            Event::Tick => {
                self.now += 1;
                match self.phase {
                    Phase::Looking(_) => self.election_tick(),
                    Phase::Following(_) => self.follower_tick(),
                    Phase::Leading(_) => self.leader_tick(),
                }
            }
            Event::Persisted(upto) => {
                self.log.mark_durable(upto);
                match self.phase {
                    Phase::Looking(_) => {}
                    Phase::Following(_) => self.follower_persisted(),
                    Phase::Leading(_) => self.leader_try_commit(),
                }
            }
            // A looking member's vote went nowhere while the link was down;
            // without this the peer hears it at the next rebroadcast (500 ms).
            Event::PeerUp(peer) => {
                if let Phase::Looking(_) = self.phase {
                    self.resend_vote(peer);
                }
            }
            Event::PeerLost(peer) => match self.phase {
                Phase::Looking(_) => {}
                Phase::Following(ref f) => {
                    if f.leader == peer {
                        tracing::info!(leader = peer, "lost the leader");
                        self.start_election();
                    }
                }
                Phase::Leading(_) => self.leader_lost(peer),
            },
            Event::Message(from, msg) => {
                if let Msg::Notification {
                    vote,
                    round,
                    state,
                    config,
                } = msg
                {
                    self.on_notification(from, vote, round, state, config);
                    return;
                }
                match self.phase {
                    Phase::Looking(_) => {
                        if matches!(msg, Msg::FollowerInfo { .. }) {
                            self.keep_early_info(from, msg);
                        }
                    }
                    Phase::Following(_) => self.follower_message(from, msg),
                    Phase::Leading(_) => self.leader_message(from, msg),
                }
            }
        }
    }

    /// Proposes a prepared write. Only an established leader accepts; the zxid
    /// it got comes back.
    pub fn propose(&mut self, data: Bytes) -> Option<i64> {
        self.leader_propose(data)
    }

    /// A committed reconfig was applied: these are the members from now on.
    /// A member whose role changed, or whose leader no longer votes, goes back to
    /// election (ZooKeeper re-elects then too); a leader that stays leader goes on
    /// with the new quorum.
    pub fn set_membership(
        &mut self,
        voters: BTreeSet<PeerId>,
        observers: BTreeSet<PeerId>,
        version: i64,
    ) {
        let me = self.cfg.id;
        let was_voter = self.cfg.is_voter(me);
        self.cfg.voters = voters;
        self.cfg.observers = observers;
        self.cfg.version = version;
        if let Phase::Leading(l) = &mut self.phase {
            l.reconfig = None;
            let gone: Vec<PeerId> = l
                .learners
                .keys()
                .copied()
                .filter(|p| !self.cfg.voters.contains(p) && !self.cfg.observers.contains(p))
                .collect();
            for p in gone {
                l.learners.remove(&p);
            }
        }
        let role_changed = was_voter != self.cfg.is_voter(me);
        let leader_gone = self.leader().is_some_and(|l| !self.cfg.is_voter(l));
        if role_changed || leader_gone {
            tracing::info!(
                role_changed,
                leader_gone,
                "membership changed; electing again"
            );
            self.start_election();
        } else if matches!(self.phase, Phase::Leading(_)) {
            // Commits may wait on nothing but the new quorum now.
            self.leader_try_commit();
        }
    }

    /// On a learner in broadcast: sends a client write to the leader.
    pub fn forward(&mut self, data: Bytes) -> bool {
        match &self.phase {
            Phase::Following(f) if f.is_serving() => {
                let leader = f.leader;
                self.send(leader, Msg::Request(data));
                true
            }
            _ => false,
        }
    }

    /// The actions produced since the last call, in the order to carry them out.
    pub fn take_actions(&mut self) -> Vec<Action> {
        std::mem::take(&mut self.out)
    }

    pub fn state(&self) -> PeerState {
        match &self.phase {
            Phase::Looking(_) => PeerState::Looking,
            Phase::Following(_) if !self.cfg.is_voter(self.cfg.id) => PeerState::Observing,
            Phase::Following(_) => PeerState::Following,
            Phase::Leading(_) => PeerState::Leading,
        }
    }

    /// Whether clients may be served: an established leader or a synced learner.
    pub fn is_serving(&self) -> bool {
        match &self.phase {
            Phase::Looking(_) => false,
            Phase::Following(f) => f.is_serving(),
            Phase::Leading(l) => l.established,
        }
    }

    pub fn leader(&self) -> Option<PeerId> {
        match &self.phase {
            Phase::Looking(_) => None,
            Phase::Following(f) => Some(f.leader),
            Phase::Leading(_) => Some(self.cfg.id),
        }
    }

    pub fn accepted_epoch(&self) -> u32 {
        self.accepted_epoch
    }

    pub fn current_epoch(&self) -> u32 {
        self.current_epoch
    }

    pub fn last_zxid(&self) -> i64 {
        self.log.last()
    }

    pub fn committed_zxid(&self) -> i64 {
        self.log.committed()
    }

    pub fn applied_zxid(&self) -> i64 {
        self.log.applied()
    }

    /// The zxid before the first entry kept for DIFF (`lgif`).
    pub fn log_base_zxid(&self) -> i64 {
        self.log.base()
    }

    /// Highest zxid durable in this member's log.
    pub fn durable_zxid(&self) -> i64 {
        self.log.durable()
    }

    pub fn id(&self) -> PeerId {
        self.cfg.id
    }

    pub fn config(&self) -> &ZabConfig {
        &self.cfg
    }

    fn send(&mut self, to: PeerId, msg: Msg) {
        self.out.push(Action::Send(to, msg));
    }

    fn set_accepted_epoch(&mut self, epoch: u32) {
        self.accepted_epoch = epoch;
        self.out.push(Action::SetAcceptedEpoch(epoch));
    }

    fn set_current_epoch(&mut self, epoch: u32) {
        self.current_epoch = epoch;
        self.out.push(Action::SetCurrentEpoch(epoch));
    }

    /// Hands newly committed-and-durable entries to the host.
    fn apply_ready(&mut self) {
        if let Some(upto) = self.log.advance_applied() {
            self.out.push(Action::Commit(upto));
            self.log.trim(self.cfg.window, self.cfg.window_bytes);
        }
    }

    fn role_changed(&mut self) {
        let state = self.state();
        let leader = self.leader();
        self.out.push(Action::RoleChanged {
            state,
            epoch: self.current_epoch,
            leader,
        });
    }
}
