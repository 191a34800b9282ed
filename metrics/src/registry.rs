//! Every metric a member keeps, declared once (`Metrics::new`), and the gathering
//! that hides the families the member's role does not export.

use crate::family::{FamilyDef, Kind, Layer, Shown};
use crate::summary::{Detail, Summary, SummarySet};
use prometheus::core::Collector;
use prometheus::proto::{MetricFamily, MetricType};
use prometheus::{
    Gauge, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry,
};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU8, Ordering};

/// A member's role, as the metrics see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Looking,
    Following,
    Leading,
    Observing,
    Standalone,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::Looking,
        Role::Following,
        Role::Leading,
        Role::Observing,
        Role::Standalone,
    ];

    /// The value of `rookery_server_state`'s `state` label.
    pub fn label(self) -> &'static str {
        match self {
            Role::Looking => "looking",
            Role::Following => "following",
            Role::Leading => "leading",
            Role::Observing => "observing",
            Role::Standalone => "standalone",
        }
    }

    fn from_u8(v: u8) -> Role {
        Role::ALL.get(v as usize).copied().unwrap_or(Role::Looking)
    }

    fn to_u8(self) -> u8 {
        Role::ALL.iter().position(|r| *r == self).unwrap_or(0) as u8
    }
}

/// Latency buckets in seconds: 100 µs to 10 s.
const LATENCY_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];
/// Election buckets in seconds: 10 ms to 60 s.
const ELECTION_BUCKETS: &[f64] = &[
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];
/// Entries per group commit.
const BATCH_BUCKETS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 1024.0];

/// Declares families: registers each with the registry and records its definition.
struct Declare {
    registry: Registry,
    defs: Vec<FamilyDef>,
    summaries: Vec<(&'static str, Summary)>,
    summary_sets: Vec<(&'static str, SummarySet)>,
}

impl Declare {
    fn def(&mut self, def: FamilyDef) {
        debug_assert!(
            self.defs.iter().all(|d| d.name != def.name),
            "{} declared twice",
            def.name
        );
        self.defs.push(def);
    }

    fn register<C: Collector + Clone + 'static>(&self, c: C) -> C {
        // Names are unique by construction (checked in `def`), so this cannot fail
        // except on a programming error caught by the tests.
        if let Err(e) = self.registry.register(Box::new(c.clone())) {
            tracing::error!(error = %e, "metric registration failed");
        }
        c
    }

    fn counter(&mut self, layer: Layer, name: &'static str, help: &'static str) -> IntCounter {
        self.def(FamilyDef {
            name,
            help,
            kind: Kind::Counter,
            labels: &[],
            shown: Shown::Always,
            layer,
        });
        self.register(IntCounter::new(name, help).expect("valid metric name"))
    }

    fn counter_vec(
        &mut self,
        name: &'static str,
        help: &'static str,
        labels: &'static [&'static str],
    ) -> IntCounterVec {
        self.def(FamilyDef {
            name,
            help,
            kind: Kind::Counter,
            labels,
            shown: Shown::Always,
            layer: Layer::Rookery,
        });
        self.register(IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric"))
    }

    fn gauge(
        &mut self,
        layer: Layer,
        shown: Shown,
        name: &'static str,
        help: &'static str,
    ) -> IntGauge {
        self.def(FamilyDef {
            name,
            help,
            kind: Kind::Gauge,
            labels: &[],
            shown,
            layer,
        });
        self.register(IntGauge::new(name, help).expect("valid metric name"))
    }

    fn float_gauge(&mut self, name: &'static str, help: &'static str) -> Gauge {
        self.def(FamilyDef {
            name,
            help,
            kind: Kind::Gauge,
            labels: &[],
            shown: Shown::Serving,
            layer: Layer::ZooKeeper,
        });
        self.register(Gauge::new(name, help).expect("valid metric name"))
    }

    fn gauge_vec(
        &mut self,
        shown: Shown,
        name: &'static str,
        help: &'static str,
        labels: &'static [&'static str],
    ) -> IntGaugeVec {
        self.def(FamilyDef {
            name,
            help,
            kind: Kind::Gauge,
            labels,
            shown,
            layer: Layer::Rookery,
        });
        self.register(IntGaugeVec::new(Opts::new(name, help), labels).expect("valid metric"))
    }

    fn histogram(&mut self, name: &'static str, help: &'static str, buckets: &[f64]) -> Histogram {
        self.def(FamilyDef {
            name,
            help,
            kind: Kind::Histogram,
            labels: &[],
            shown: Shown::Always,
            layer: Layer::Rookery,
        });
        self.register(
            Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets.to_vec()))
                .expect("valid metric"),
        )
    }

    fn histogram_vec(
        &mut self,
        shown: Shown,
        name: &'static str,
        help: &'static str,
        labels: &'static [&'static str],
        buckets: &[f64],
    ) -> HistogramVec {
        self.def(FamilyDef {
            name,
            help,
            kind: Kind::Histogram,
            labels,
            shown,
            layer: Layer::Rookery,
        });
        self.register(
            HistogramVec::new(
                HistogramOpts::new(name, help).buckets(buckets.to_vec()),
                labels,
            )
            .expect("valid metric"),
        )
    }

    fn summary(&mut self, detail: Detail, name: &'static str, help: &'static str) -> Summary {
        self.def(FamilyDef {
            name,
            help,
            kind: Kind::Summary(detail),
            labels: &[],
            shown: Shown::Always,
            layer: Layer::ZooKeeper,
        });
        let s = Summary::new(detail);
        self.summaries.push((name, s.clone()));
        s
    }

    fn summary_set(
        &mut self,
        detail: Detail,
        name: &'static str,
        help: &'static str,
    ) -> SummarySet {
        self.def(FamilyDef {
            name,
            help,
            kind: Kind::Summary(detail),
            labels: &["key"],
            shown: Shown::Always,
            layer: Layer::ZooKeeper,
        });
        let s = SummarySet::new(detail);
        self.summary_sets.push((name, s.clone()));
        s
    }
}

/// Every metric of one member. Updating one is an atomic operation (or a short
/// lock for summaries), so request processing never waits on a scrape.
pub struct Metrics {
    registry: Registry,
    defs: Vec<FamilyDef>,
    summaries: Vec<(&'static str, Summary)>,
    summary_sets: Vec<(&'static str, SummarySet)>,
    role: AtomicU8,
    serving: AtomicU8,

    // ZooKeeper gauges, sampled by the server every tick.
    pub znode_count: IntGauge,
    pub watch_count: IntGauge,
    pub ephemerals_count: IntGauge,
    pub approximate_data_size: IntGauge,
    pub num_alive_connections: IntGauge,
    pub outstanding_requests: IntGauge,
    pub global_sessions: IntGauge,
    pub local_sessions: IntGauge,
    pub packets_received: IntGauge,
    pub packets_sent: IntGauge,
    pub avg_latency: Gauge,
    pub min_latency: IntGauge,
    pub max_latency: IntGauge,
    pub quorum_size: IntGauge,
    pub uptime: IntGauge,
    pub open_file_descriptor_count: IntGauge,
    pub max_file_descriptor_count: IntGauge,
    // ZooKeeper leader gauges.
    pub leader_uptime: IntGauge,
    pub learners: IntGauge,
    pub synced_followers: IntGauge,
    pub synced_non_voting_followers: IntGauge,
    pub synced_observers: IntGauge,
    pub pending_syncs: IntGauge,
    pub last_proposal_size: IntGauge,
    pub min_proposal_size: IntGauge,
    pub max_proposal_size: IntGauge,
    // ZooKeeper counters.
    pub looking_count: IntCounter,
    pub proposal_count: IntCounter,
    pub commit_count: IntCounter,
    pub connection_request_count: IntCounter,
    pub connection_rejected: IntCounter,
    pub connection_drop_count: IntCounter,
    pub stale_sessions_expired: IntCounter,
    pub revalidate_count: IntCounter,
    pub unrecoverable_error_count: IntCounter,
    pub bytes_received_count: IntCounter,
    pub diff_count: IntCounter,
    pub snap_count: IntCounter,
    pub learner_proposal_received_count: IntCounter,
    pub learner_commit_received_count: IntCounter,
    pub digest_mismatches_count: IntCounter,
    pub fsync_threshold_exceed_count: IntCounter,
    // ZooKeeper summaries (milliseconds unless the name says otherwise).
    pub readlatency: Summary,
    pub updatelatency: Summary,
    pub election_time: Summary,
    pub fsynctime: Summary,
    pub sync_processor_batch_size: Summary,
    pub dbinittime: Summary,
    pub node_created_watch_count: Summary,
    pub node_deleted_watch_count: Summary,
    pub node_changed_watch_count: Summary,
    pub node_children_watch_count: Summary,
    pub quorum_ack_latency: Summary,
    pub ack_latency: SummarySet,
    pub proposal_latency: Summary,
    pub follower_sync_time: Summary,
    pub observer_sync_time: Summary,
    // Rookery.
    pub server_is_leader: IntGauge,
    pub server_has_leader: IntGauge,
    server_state: IntGaugeVec,
    pub read_only: IntGauge,
    pub reconfigs: IntCounter,
    pub config_version: IntGauge,
    pub leader_changes: IntCounter,
    pub election_duration: Histogram,
    pub zab_epoch: IntGauge,
    pub zab_accepted_epoch: IntGauge,
    pub last_committed_zxid: IntGauge,
    pub last_applied_zxid: IntGauge,
    pub request_duration: HistogramVec,
    pub slow_requests: IntCounterVec,
    pub session_events: IntCounterVec,
    pub watch_events: IntCounterVec,
    pub wal_fsync_duration: Histogram,
    pub wal_batch_size: Histogram,
    pub connections: IntGauge,
    pub bad_packets: IntCounter,
    pub syncs: IntCounterVec,
    pub snapshot_stream_duration: Histogram,
    pub peer_lag_txns: IntGaugeVec,
    pub peer_ack_duration: HistogramVec,
    pub storage_sst_bytes: IntGauge,
    pub storage_live_data_bytes: IntGauge,
    pub storage_memtable_bytes: IntGauge,
    pub storage_write_stopped: IntGauge,
    pub storage_delayed_write_rate: IntGauge,
    pub storage_pending_compaction_bytes: IntGauge,
}

impl Metrics {
    pub fn new() -> Metrics {
        use Layer::{Rookery as R, ZooKeeper as Z};
        use Shown::{Always, Leader, Serving};
        let mut d = Declare {
            registry: Registry::new(),
            defs: Vec::new(),
            summaries: Vec::new(),
            summary_sets: Vec::new(),
        };
        let m = Metrics {
            znode_count: d.gauge(Z, Serving, "znode_count", "Znodes in the tree, system nodes included."),
            watch_count: d.gauge(Z, Serving, "watch_count", "Watches set on this member."),
            ephemerals_count: d.gauge(Z, Serving, "ephemerals_count", "Ephemeral znodes."),
            approximate_data_size: d.gauge(Z, Serving, "approximate_data_size", "Bytes of znode paths and data."),
            num_alive_connections: d.gauge(Z, Serving, "num_alive_connections", "Open client connections."),
            outstanding_requests: d.gauge(Z, Serving, "outstanding_requests", "Requests received and not yet answered."),
            global_sessions: d.gauge(Z, Serving, "global_sessions", "Sessions in the ensemble."),
            local_sessions: d.gauge(Z, Serving, "local_sessions", "Sessions kept by this member only (localSessionsEnabled, or read-only mode)."),
            packets_received: d.gauge(Z, Serving, "packets_received", "Requests received since start or srst (a gauge, as in ZooKeeper)."),
            packets_sent: d.gauge(Z, Serving, "packets_sent", "Replies and events sent since start or srst (a gauge, as in ZooKeeper)."),
            avg_latency: d.float_gauge("avg_latency", "Average request latency in ms since start or srst."),
            min_latency: d.gauge(Z, Serving, "min_latency", "Smallest request latency in ms since start or srst."),
            max_latency: d.gauge(Z, Serving, "max_latency", "Largest request latency in ms since start or srst."),
            quorum_size: d.gauge(Z, Serving, "quorum_size", "Voting members in the configuration."),
            uptime: d.gauge(Z, Serving, "uptime", "Milliseconds since the member started."),
            open_file_descriptor_count: d.gauge(Z, Serving, "open_file_descriptor_count", "Open file descriptors of the process."),
            max_file_descriptor_count: d.gauge(Z, Serving, "max_file_descriptor_count", "File descriptor limit of the process."),
            leader_uptime: d.gauge(Z, Leader, "leader_uptime", "Milliseconds since this member became leader."),
            learners: d.gauge(Z, Leader, "learners", "Connected learners (followers and observers)."),
            synced_followers: d.gauge(Z, Leader, "synced_followers", "Followers in broadcast with the leader."),
            synced_non_voting_followers: d.gauge(Z, Leader, "synced_non_voting_followers", "Non-voting followers in broadcast (Rookery has none: always 0)."),
            synced_observers: d.gauge(Z, Leader, "synced_observers", "Observers in broadcast with the leader."),
            pending_syncs: d.gauge(Z, Leader, "pending_syncs", "Learners connected and still syncing."),
            last_proposal_size: d.gauge(Z, Leader, "last_proposal_size", "Bytes of the last proposal (-1 before any or after srst)."),
            min_proposal_size: d.gauge(Z, Leader, "min_proposal_size", "Bytes of the smallest proposal since srst (-1 before any)."),
            max_proposal_size: d.gauge(Z, Leader, "max_proposal_size", "Bytes of the largest proposal since srst (-1 before any)."),
            looking_count: d.counter(Z, "looking_count", "Times this member entered leader election."),
            proposal_count: d.counter(Z, "proposal_count", "Proposals this member made as leader."),
            commit_count: d.counter(Z, "commit_count", "Commits this member made as leader."),
            connection_request_count: d.counter(Z, "connection_request_count", "Client connections accepted."),
            connection_rejected: d.counter(Z, "connection_rejected", "Client connections refused (maxClientCnxns, not serving)."),
            connection_drop_count: d.counter(Z, "connection_drop_count", "Client connections the member closed on an error."),
            stale_sessions_expired: d.counter(Z, "stale_sessions_expired", "Sessions expired by the leader."),
            revalidate_count: d.counter(Z, "revalidate_count", "Sessions re-established on a new connection."),
            unrecoverable_error_count: d.counter(Z, "unrecoverable_error_count", "Errors that stopped the member's service."),
            bytes_received_count: d.counter(Z, "bytes_received_count", "Bytes received from clients."),
            diff_count: d.counter(Z, "diff_count", "Learners this member synced by DIFF as leader."),
            snap_count: d.counter(Z, "snap_count", "Learners this member synced by SNAP as leader."),
            learner_proposal_received_count: d.counter(Z, "learner_proposal_received_count", "Proposals received from the leader."),
            learner_commit_received_count: d.counter(Z, "learner_commit_received_count", "Commits received from the leader."),
            digest_mismatches_count: d.counter(Z, "digest_mismatches_count", "Tree digest mismatches detected."),
            fsync_threshold_exceed_count: d.counter(Z, "fsync_threshold_exceed_count", "Log fsyncs slower than fsync.warningthresholdms."),
            readlatency: d.summary(Detail::Advanced, "readlatency", "Read latency in ms, from receipt to reply."),
            updatelatency: d.summary(Detail::Advanced, "updatelatency", "Write latency in ms for writes received here, from receipt to reply after commit."),
            election_time: d.summary(Detail::Basic, "election_time", "Election duration in ms, from looking to leading or following."),
            fsynctime: d.summary(Detail::Basic, "fsynctime", "Log write and fsync time in ms per group commit."),
            sync_processor_batch_size: d.summary(Detail::Basic, "sync_processor_batch_size", "Log entries per group commit."),
            dbinittime: d.summary(Detail::Basic, "dbinittime", "Time in ms to load the stored state at start-up."),
            node_created_watch_count: d.summary(Detail::Basic, "node_created_watch_count", "Watches triggered per NodeCreated event."),
            node_deleted_watch_count: d.summary(Detail::Basic, "node_deleted_watch_count", "Watches triggered per NodeDeleted event."),
            node_changed_watch_count: d.summary(Detail::Basic, "node_changed_watch_count", "Watches triggered per NodeDataChanged event."),
            node_children_watch_count: d.summary(Detail::Basic, "node_children_watch_count", "Watches triggered per NodeChildrenChanged event."),
            quorum_ack_latency: d.summary(Detail::Advanced, "quorum_ack_latency", "Leader: ms from proposal to quorum ack."),
            ack_latency: d.summary_set(Detail::Advanced, "ack_latency", "Leader: ms from proposal to each follower's ack; key is the follower id."),
            proposal_latency: d.summary(Detail::Advanced, "proposal_latency", "Follower: ms from the proposal's creation on the leader until received."),
            follower_sync_time: d.summary(Detail::Basic, "follower_sync_time", "Follower: ms to sync with a new leader."),
            observer_sync_time: d.summary(Detail::Basic, "observer_sync_time", "Observer: ms to sync with a new leader."),
            server_is_leader: d.gauge(R, Always, "rookery_server_is_leader", "1 on the established leader (or a standalone member), else 0."),
            server_has_leader: d.gauge(R, Always, "rookery_server_has_leader", "1 while the member is in broadcast with a leader (or standalone), else 0."),
            server_state: d.gauge_vec(Always, "rookery_server_state", "1 for the member's current ZAB state, 0 for the others.", &["state"]),
            read_only: d.gauge(R, Always, "rookery_read_only", "1 while the member, cut off from its quorum, serves read-only clients (readonlymode.enabled), else 0."),
            reconfigs: d.counter(R, "rookery_reconfigs_total", "Reconfigs this member applied (membership changes through ZAB)."),
            config_version: d.gauge(R, Always, "rookery_config_version", "Version of the membership in force: the zxid of the reconfig that made it, 0 for zoo.cfg's."),
            leader_changes: d.counter(R, "rookery_leader_changes_total", "Times this member saw a new leader established (itself included)."),
            election_duration: d.histogram("rookery_election_duration_seconds", "Time from entering election to leading or following.", ELECTION_BUCKETS),
            zab_epoch: d.gauge(R, Always, "rookery_zab_epoch", "currentEpoch: the epoch of the last leader this member acknowledged."),
            zab_accepted_epoch: d.gauge(R, Always, "rookery_zab_accepted_epoch", "acceptedEpoch: the last epoch this member accepted a proposal for."),
            last_committed_zxid: d.gauge(R, Always, "rookery_last_committed_zxid", "Highest zxid known committed."),
            last_applied_zxid: d.gauge(R, Always, "rookery_last_applied_zxid", "Highest zxid applied to the tree this member serves."),
            request_duration: d.histogram_vec(Always, "rookery_request_duration_seconds", "Client request latency on the member that received it, by op and result.", &["op", "result"], LATENCY_BUCKETS),
            slow_requests: d.counter_vec("rookery_slow_requests_total", "Requests slower than slowRequestThresholdMs, each also logged.", &["op"]),
            session_events: d.counter_vec("rookery_session_events_total", "Session lifecycle events applied here (created, closed, expired) and sessions moved to this member.", &["event"]),
            watch_events: d.counter_vec("rookery_watch_events_total", "Watch notifications sent to clients, by event type.", &["type"]),
            wal_fsync_duration: d.histogram("rookery_wal_fsync_duration_seconds", "Log write with fsync per group commit (RocksDB WAL sync).", LATENCY_BUCKETS),
            wal_batch_size: d.histogram("rookery_wal_batch_size", "Log entries made durable per fsync (group commit).", BATCH_BUCKETS),
            connections: d.gauge(R, Always, "rookery_connections", "Open client connections."),
            bad_packets: d.counter(R, "rookery_bad_packets_total", "Client connections closed for a malformed or oversize packet."),
            syncs: d.counter_vec("rookery_syncs_total", "Learner syncs served as leader, by kind (diff, trunc, snap).", &["kind"]),
            snapshot_stream_duration: d.histogram("rookery_snapshot_stream_duration_seconds", "Leader: time to stream a SNAP to a learner.", ELECTION_BUCKETS),
            peer_lag_txns: d.gauge_vec(Leader, "rookery_peer_lag_txns", "Leader: proposals a peer has not yet acknowledged.", &["peer"]),
            peer_ack_duration: d.histogram_vec(Leader, "rookery_peer_ack_duration_seconds", "Leader: time from proposal to a peer's ack.", &["peer"], LATENCY_BUCKETS),
            storage_sst_bytes: d.gauge(R, Always, "rookery_storage_sst_bytes", "Bytes of RocksDB SST files."),
            storage_live_data_bytes: d.gauge(R, Always, "rookery_storage_live_data_bytes", "RocksDB's estimate of live data bytes."),
            storage_memtable_bytes: d.gauge(R, Always, "rookery_storage_memtable_bytes", "Bytes in RocksDB memtables."),
            storage_write_stopped: d.gauge(R, Always, "rookery_storage_write_stopped", "1 while RocksDB stops writes (compaction behind), else 0."),
            storage_delayed_write_rate: d.gauge(R, Always, "rookery_storage_delayed_write_rate_bytes", "RocksDB's write rate limit in bytes/s while it slows writes, else 0."),
            storage_pending_compaction_bytes: d.gauge(R, Always, "rookery_storage_pending_compaction_bytes", "Bytes RocksDB estimates compaction must rewrite."),
            registry: Registry::new(),
            defs: Vec::new(),
            summaries: Vec::new(),
            summary_sets: Vec::new(),
            role: AtomicU8::new(Role::Looking.to_u8()),
            serving: AtomicU8::new(0),
        };
        let build = d.gauge_vec(
            Always,
            "rookery_build_info",
            "Always 1; the label carries the version.",
            &["version"],
        );
        build.with_label_values(&[env!("CARGO_PKG_VERSION")]).set(1);
        #[cfg(target_os = "linux")]
        {
            let process = prometheus::process_collector::ProcessCollector::for_self();
            if let Err(e) = d.registry.register(Box::new(process)) {
                tracing::warn!(error = %e, "process metrics unavailable");
            }
        }
        // Known label values start at zero, so every member exports the families
        // (and rate() works) before the first event.
        for (vec, values) in [
            (
                &m.watch_events,
                &[
                    "node_created",
                    "node_deleted",
                    "node_data_changed",
                    "node_children_changed",
                ][..],
            ),
            (
                &m.session_events,
                &["created", "closed", "expired", "moved"][..],
            ),
            (&m.syncs, &["diff", "trunc", "snap"][..]),
        ] {
            for v in values {
                vec.with_label_values(&[v]);
            }
        }
        let mut m = m;
        m.registry = d.registry;
        m.defs = d.defs;
        m.summaries = d.summaries;
        m.summary_sets = d.summary_sets;
        m.set_role(Role::Looking, false);
        m.reset_proposal_sizes();
        m
    }

    /// Every family this crate defines.
    pub fn definitions(&self) -> &[FamilyDef] {
        &self.defs
    }

    pub fn role(&self) -> Role {
        Role::from_u8(self.role.load(Ordering::Relaxed))
    }

    pub fn serving(&self) -> bool {
        self.serving.load(Ordering::Relaxed) != 0
    }

    /// Records the member's role and whether it serves clients.
    pub fn set_role(&self, role: Role, serving: bool) {
        self.role.store(role.to_u8(), Ordering::Relaxed);
        self.serving.store(serving as u8, Ordering::Relaxed);
        for r in Role::ALL {
            self.server_state
                .with_label_values(&[r.label()])
                .set((r == role) as i64);
        }
        let leads = serving && matches!(role, Role::Leading | Role::Standalone);
        self.server_is_leader.set(leads as i64);
        self.server_has_leader.set(serving as i64);
    }

    /// Records one proposal's size (leader).
    pub fn proposal_size(&self, bytes: usize) {
        let b = bytes as i64;
        self.last_proposal_size.set(b);
        if self.min_proposal_size.get() < 0 || b < self.min_proposal_size.get() {
            self.min_proposal_size.set(b);
        }
        self.max_proposal_size
            .set(self.max_proposal_size.get().max(b));
    }

    /// `srst`: ZooKeeper resets its latency figures and proposal sizes.
    pub fn reset_server_stats(&self) {
        self.reset_proposal_sizes();
        for (_, s) in &self.summaries {
            s.reset();
        }
        for (_, s) in &self.summary_sets {
            s.reset();
        }
    }

    fn reset_proposal_sizes(&self) {
        for g in [
            &self.last_proposal_size,
            &self.min_proposal_size,
            &self.max_proposal_size,
        ] {
            g.set(-1);
        }
    }

    /// Whether a family is exported in the member's current role.
    fn shown_now(&self, def: &FamilyDef) -> bool {
        match def.shown {
            Shown::Always => true,
            Shown::Serving => self.serving(),
            Shown::Leader => self.serving() && self.role() == Role::Leading,
        }
    }

    /// The families to export now, sorted by name.
    pub fn gather(&self) -> Vec<MetricFamily> {
        let shown: BTreeMap<&str, bool> = self
            .defs
            .iter()
            .map(|d| (d.name, self.shown_now(d)))
            .collect();
        let mut families: Vec<MetricFamily> = self
            .registry
            .gather()
            .into_iter()
            .filter(|f| shown.get(f.name()).copied().unwrap_or(true))
            .collect();
        for (name, s) in &self.summaries {
            families.push(summary_family(self.help(name), name, vec![s.metric(&[])]));
        }
        for (name, set) in &self.summary_sets {
            let samples = set
                .entries()
                .iter()
                .map(|(key, s)| s.metric(&[("key", key)]))
                .collect();
            families.push(summary_family(self.help(name), name, samples));
        }
        // An empty family cannot be encoded (a set with no keys yet, a vec with no children).
        families.retain(|f| !f.get_metric().is_empty());
        families.sort_by(|a, b| a.name().cmp(b.name()));
        families
    }

    fn help(&self, name: &str) -> &'static str {
        self.defs
            .iter()
            .find(|d| d.name == name)
            .map_or("", |d| d.help)
    }

    /// The Prometheus text exposition of `gather()`.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if let Err(e) = prometheus::TextEncoder::new().encode_utf8(&self.gather(), &mut out) {
            tracing::error!(error = %e, "encoding metrics failed");
        }
        out
    }

    /// ZooKeeper summaries with their names (for mntr).
    pub fn summaries(&self) -> &[(&'static str, Summary)] {
        &self.summaries
    }

    pub fn summary_sets(&self) -> &[(&'static str, SummarySet)] {
        &self.summary_sets
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

fn summary_family(help: &str, name: &str, samples: Vec<prometheus::proto::Metric>) -> MetricFamily {
    let mut f = MetricFamily::default();
    f.set_name(name.to_string());
    f.set_help(help.to_string());
    f.set_field_type(MetricType::SUMMARY);
    f.set_metric(samples);
    f
}
