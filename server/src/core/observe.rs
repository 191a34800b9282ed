//! What the core tells the metrics (`rookery_metrics::Metrics`): request outcomes
//! and slow requests, watch fires, role and election changes, ZAB traffic as the
//! leader and the learners see it, and the gauges sampled once a second. Every
//! update is an atomic store or a short lock, so it costs requests nearly nothing.

use super::Core;
use crate::proto::{op, ErrorCode, EventType};
use crate::tree::watch::{ConnId, Event};
use crate::zab::{epoch_of, Msg, PeerId, PeerState, SyncKind};
use rookery_metrics::Role;
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

/// Role and election bookkeeping between ZAB steps.
pub(super) struct Observed {
    /// `None` until the first step, so the start-up election counts as one.
    state: Option<PeerState>,
    serving: bool,
    /// When the current election (or sync) began.
    looking_since: Instant,
    following_since: Option<Instant>,
    /// When this member became the established leader.
    leading_since: Option<Instant>,
    /// The epoch of the last leader seen established.
    established_epoch: Option<u32>,
    /// Leader: when each proposal in flight was made.
    proposed_at: BTreeMap<i64, Instant>,
    /// Leader: the last zxid each follower acknowledged.
    peer_acked: HashMap<PeerId, i64>,
    ticks: u32,
}

impl Observed {
    pub(super) fn new() -> Observed {
        Observed {
            state: None,
            serving: false,
            looking_since: Instant::now(),
            following_since: None,
            leading_since: None,
            established_epoch: None,
            proposed_at: BTreeMap::new(),
            peer_acked: HashMap::new(),
            ticks: 0,
        }
    }
}

/// A client request as it was answered (`Core::request_done`).
pub(super) struct Answered<'a> {
    pub conn: ConnId,
    pub xid: i32,
    pub opcode: i32,
    pub result: ErrorCode,
    pub received: Instant,
    /// A write (its latency counts as updatelatency).
    pub write: bool,
    pub path: Option<&'a str>,
}

/// Proposals the peer has not acknowledged: zxid counters apart within an epoch.
fn lag_between(proposed: i64, acked: i64) -> i64 {
    if proposed <= acked {
        0
    } else if epoch_of(proposed) == epoch_of(acked) {
        proposed - acked
    } else {
        proposed & 0xffff_ffff
    }
}

impl Core {
    fn role(&self) -> Role {
        if self.cfg.is_standalone() {
            return Role::Standalone;
        }
        match self.repl.zab.state() {
            PeerState::Looking => Role::Looking,
            PeerState::Following => Role::Following,
            PeerState::Leading => Role::Leading,
            PeerState::Observing => Role::Observing,
        }
    }

    /// After every ZAB step: notes elections, syncs and leadership as they change.
    pub(super) fn observe_zab(&mut self) {
        let state = self.repl.zab.state();
        let serving = self.repl.zab.is_serving();
        let (was, was_serving) = (self.observed.state, self.observed.serving);
        if Some(state) == was && serving == was_serving {
            return;
        }
        let now = Instant::now();
        let m = &self.metrics;
        // A standalone member leads at once: no election to count.
        let elects = !self.cfg.is_standalone();
        if Some(state) != was {
            if state == PeerState::Looking && elects {
                m.looking_count.inc();
                self.observed.looking_since = now;
            } else if was == Some(PeerState::Looking) && elects {
                let took = now.duration_since(self.observed.looking_since);
                m.election_time.observe_duration_ms(took);
                m.election_duration.observe(took.as_secs_f64());
            }
            self.observed.following_since =
                matches!(state, PeerState::Following | PeerState::Observing).then_some(now);
            self.observed.proposed_at.clear();
            self.observed.peer_acked.clear();
            m.peer_lag_txns.reset();
        }
        if serving && !was_serving {
            let epoch = self.repl.zab.current_epoch();
            if self.observed.established_epoch != Some(epoch) {
                m.leader_changes.inc();
                self.observed.established_epoch = Some(epoch);
            }
            if let Some(since) = self.observed.following_since.take() {
                let took = now.duration_since(since);
                match state {
                    PeerState::Observing => m.observer_sync_time.observe_duration_ms(took),
                    _ => m.follower_sync_time.observe_duration_ms(took),
                }
            }
        }
        self.observed.leading_since = (serving && state == PeerState::Leading)
            .then(|| self.observed.leading_since.unwrap_or(now));
        self.observed.state = Some(state);
        self.observed.serving = serving;
        m.set_role(self.role(), serving);
        self.publish_gauges();
    }

    /// A client request answered: the connection's figures, the latency figures,
    /// the per-op histogram, and the slow-request log. Pings count only for the
    /// connection, so they do not flatten the read latency.
    pub(super) fn request_done(&mut self, a: Answered<'_>) {
        let took = a.received.elapsed();
        let Some(c) = self.conns.get_mut(&a.conn) else {
            return;
        };
        c.latency
            .record(op::short_name(a.opcode), a.xid, took, super::now_ms());
        let session = c.session.unwrap_or(0);
        if a.opcode == op::PING {
            return;
        }
        let (opcode, result, path) = (a.opcode, a.result, a.path);
        self.stats.record(took);
        let m = &self.metrics;
        if a.write {
            m.updatelatency.observe_duration_ms(took);
        } else {
            m.readlatency.observe_duration_ms(took);
        }
        let name = op::name(opcode);
        m.request_duration
            .with_label_values(&[name, result.label()])
            .observe(took.as_secs_f64());
        if took >= Duration::from_millis(self.cfg.slow_request_threshold_ms) {
            m.slow_requests.with_label_values(&[name]).inc();
            tracing::warn!(
                op = name,
                path = path.unwrap_or(""),
                session = format!("0x{session:x}"),
                millis = took.as_millis() as u64,
                result = result.label(),
                "slow request"
            );
        }
    }

    /// Watch notifications of one change: ZooKeeper's per-event watcher counts and
    /// the per-type totals.
    pub(super) fn observe_watch_events(&self, events: &[Event]) {
        let m = &self.metrics;
        let mut per_type: [u64; 4] = [0; 4];
        for e in events {
            let (slot, label) = match e.event {
                EventType::NodeCreated => (0, "node_created"),
                EventType::NodeDeleted => (1, "node_deleted"),
                EventType::NodeDataChanged => (2, "node_data_changed"),
                EventType::NodeChildrenChanged => (3, "node_children_changed"),
            };
            per_type[slot] += 1;
            m.watch_events.with_label_values(&[label]).inc();
        }
        for (slot, summary) in [
            &m.node_created_watch_count,
            &m.node_deleted_watch_count,
            &m.node_changed_watch_count,
            &m.node_children_watch_count,
        ]
        .into_iter()
        .enumerate()
        {
            if per_type[slot] > 0 {
                summary.observe(per_type[slot] as f64);
            }
        }
    }

    /// A group commit finished.
    pub(super) fn observe_fsync(&self, entries: usize, fsync_micros: u64) {
        let m = &self.metrics;
        let took = Duration::from_micros(fsync_micros);
        m.fsynctime.observe_duration_ms(took);
        m.wal_fsync_duration.observe(took.as_secs_f64());
        m.wal_batch_size.observe(entries as f64);
        m.sync_processor_batch_size.observe(entries as f64);
        if took >= Duration::from_millis(self.cfg.fsync_warning_threshold_ms) {
            m.fsync_threshold_exceed_count.inc();
            tracing::warn!(
                millis = took.as_millis() as u64,
                entries,
                "fsync of the log took longer than fsync.warningthresholdms"
            );
        }
    }

    /// The leader made proposals (its own log entries, about to be sent).
    pub(super) fn observe_proposals(&mut self, sizes: &[(i64, usize)]) {
        if !self.repl.leads() {
            return;
        }
        let now = Instant::now();
        for &(zxid, bytes) in sizes {
            self.metrics.proposal_count.inc();
            self.metrics.proposal_size(bytes);
            self.observed.proposed_at.insert(zxid, now);
        }
    }

    /// A follower logged proposals it received in broadcast.
    pub(super) fn observe_received_proposals(&self, created_ms: &[i64]) {
        if self.repl.leads() || !self.repl.zab.is_serving() {
            return;
        }
        let now = super::now_ms();
        for &t in created_ms {
            self.metrics.learner_proposal_received_count.inc();
            self.metrics
                .proposal_latency
                .observe((now - t).max(0) as f64);
        }
    }

    /// The leader committed everything up to `upto`.
    pub(super) fn observe_commit(&mut self, upto: i64) {
        if !self.repl.leads() {
            return;
        }
        let now = Instant::now();
        while let Some(entry) = self.observed.proposed_at.first_entry() {
            if *entry.key() > upto {
                break;
            }
            let at = entry.remove();
            self.metrics.commit_count.inc();
            self.metrics
                .quorum_ack_latency
                .observe_duration_ms(now.duration_since(at));
        }
    }

    /// A ZAB message arrived from a member.
    pub(super) fn observe_member_message(&mut self, from: PeerId, msg: &Msg) {
        match msg {
            Msg::Ack { zxid, .. } if self.repl.leads() => {
                let acked = self.observed.peer_acked.entry(from).or_insert(*zxid);
                *acked = (*acked).max(*zxid);
                if let Some(at) = self.observed.proposed_at.get(zxid) {
                    let took = at.elapsed();
                    let peer = from.to_string();
                    self.metrics
                        .ack_latency
                        .with_key(&peer)
                        .observe_duration_ms(took);
                    self.metrics
                        .peer_ack_duration
                        .with_label_values(&[&peer])
                        .observe(took.as_secs_f64());
                }
            }
            Msg::Commit { .. } if !self.repl.leads() => {
                self.metrics.learner_commit_received_count.inc();
            }
            _ => {}
        }
    }

    /// The leader sent a learner its sync.
    pub(super) fn observe_sync_sent(&self, kind: &SyncKind) {
        let m = &self.metrics;
        let label = match kind {
            SyncKind::Diff => {
                m.diff_count.inc();
                "diff"
            }
            SyncKind::Trunc(_) => "trunc",
            SyncKind::Snap(_) => {
                m.snap_count.inc();
                "snap"
            }
        };
        m.syncs.with_label_values(&[label]).inc();
    }

    /// Every tick; samples the gauges once a second.
    pub(super) fn observe_tick(&mut self) {
        self.observed.ticks += 1;
        if self.observed.ticks.is_multiple_of(10) {
            self.publish_gauges();
        }
    }

    /// Copies the current figures into the gauges.
    pub(super) fn publish_gauges(&self) {
        let m = &self.metrics;
        let zab = &self.repl.zab;
        m.znode_count.set(self.tree.node_count() as i64);
        m.watch_count.set(self.watches.count() as i64);
        m.ephemerals_count.set(self.tree.ephemeral_count() as i64);
        m.approximate_data_size
            .set(self.tree.approximate_data_size() as i64);
        let open = self.conns.values().filter(|c| !c.closed).count() as i64;
        m.num_alive_connections.set(open);
        m.connections.set(open);
        let queued: usize = self
            .conns
            .values()
            .map(|c| c.queue.len() + c.inflight_writes)
            .sum();
        m.outstanding_requests.set(queued as i64);
        m.global_sessions.set(self.tree.sessions().len() as i64);
        m.local_sessions.set(self.local.len() as i64);
        m.packets_received.set(self.stats.packets_received as i64);
        m.packets_sent.set(self.stats.packets_sent as i64);
        m.avg_latency.set(self.stats.avg_ms());
        m.min_latency.set(self.stats.min_ms().round() as i64);
        m.max_latency.set(self.stats.max_ms().round() as i64);
        m.quorum_size.set(zab.config().voters.len() as i64);
        m.zab_epoch.set(zab.current_epoch() as i64);
        m.zab_accepted_epoch.set(zab.accepted_epoch() as i64);
        m.last_committed_zxid.set(zab.committed_zxid());
        m.last_applied_zxid.set(self.tree.last_zxid());
        let learners = zab.learners();
        m.learners.set(learners.len() as i64);
        let synced = |voter: bool| {
            learners
                .iter()
                .filter(|l| l.synced && l.voter == voter)
                .count()
        };
        m.synced_followers.set(synced(true) as i64);
        m.synced_observers.set(synced(false) as i64);
        m.synced_non_voting_followers.set(0);
        m.pending_syncs
            .set(learners.iter().filter(|l| !l.synced).count() as i64);
        m.leader_uptime.set(
            self.observed
                .leading_since
                .map_or(0, |t| t.elapsed().as_millis() as i64),
        );
        if self.repl.leads() {
            let last = zab.last_zxid();
            for l in learners.iter().filter(|l| l.voter) {
                let acked = self
                    .observed
                    .peer_acked
                    .get(&l.id)
                    .copied()
                    .unwrap_or(l.acked)
                    .max(l.acked);
                m.peer_lag_txns
                    .with_label_values(&[&l.id.to_string()])
                    .set(lag_between(last, acked));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::lag_between;
    use crate::zab::make_zxid;

    #[test]
    fn lag_counts_proposals_within_and_across_epochs() {
        assert_eq!(lag_between(make_zxid(2, 10), make_zxid(2, 7)), 3);
        assert_eq!(lag_between(make_zxid(2, 7), make_zxid(2, 7)), 0);
        assert_eq!(lag_between(make_zxid(3, 4), make_zxid(2, 90)), 4);
    }
}
