//! The ensemble model: what each member reported in the last poll, short
//! histories for sparklines, the election timeline and the event log.
//!
//! Pure: a [`PollRound`] (built by `crate::io::poller`) goes in, state comes
//! out. Every derived number (rates, histogram quantiles over the interval,
//! lag behind the leader) is computed here from two consecutive rounds.

use crate::parse::fourlw::{mntr_f64, Srvr};
use crate::parse::prom::{Histogram, Metrics};
use std::collections::{BTreeMap, VecDeque};
use std::fmt;

/// Points kept per sparkline (one per poll: two minutes at 1 s).
pub const HISTORY: usize = 120;
/// Events kept in the log.
pub const EVENTS: usize = 200;
/// Elections kept in the timeline.
pub const ELECTIONS: usize = 32;
/// A follower more than this many transactions behind the leader is marked.
pub const BEHIND_TXNS: u64 = 1000;
/// Session expiries in one interval on one member that count as a spike.
pub const EXPIRY_SPIKE: u64 = 5;

/// How a member answered one poll.
#[derive(Clone, Debug, PartialEq)]
pub enum Reach {
    /// It answered `srvr` and serves clients.
    Serving(Srvr),
    /// It is up but not serving (in an election).
    NotServing,
    /// It did not answer; the reason.
    Down(String),
}

/// What one poll learned about one member.
#[derive(Clone, Debug, PartialEq)]
pub struct MemberSample {
    /// `host:port` of the client port, as given on the command line.
    pub addr: String,
    /// `srvr`.
    pub reach: Reach,
    /// `mntr` (empty when unavailable).
    pub mntr: BTreeMap<String, String>,
    /// A `/metrics` scrape, when the member has an endpoint and answered.
    pub metrics: Option<Metrics>,
    /// The endpoint used for `/metrics`, if any.
    pub metrics_url: Option<String>,
}

impl MemberSample {
    /// A sample of a member that did not answer.
    pub fn down(addr: &str, why: &str) -> MemberSample {
        MemberSample {
            addr: addr.to_string(),
            reach: Reach::Down(why.to_string()),
            mntr: BTreeMap::new(),
            metrics: None,
            metrics_url: None,
        }
    }
}

/// One poll of every member, stamped with the wall-clock time it finished.
#[derive(Clone, Debug, PartialEq)]
pub struct PollRound {
    /// Milliseconds since the Unix epoch.
    pub at_ms: u64,
    /// One sample per member, in connect-string order.
    pub members: Vec<MemberSample>,
}

/// A member's role as the strip shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Not polled yet.
    Unknown,
    /// Leads the ensemble.
    Leader,
    /// Follows (votes).
    Follower,
    /// Observes (does not vote).
    Observer,
    /// A standalone server.
    Standalone,
    /// In an election: up, not serving.
    Looking,
    /// Cut off from its quorum, serving read-only clients (readonlymode.enabled).
    ReadOnly,
    /// Did not answer.
    Down,
}

impl Role {
    /// The word shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Unknown => "?",
            Role::Leader => "leader",
            Role::Follower => "follower",
            Role::Observer => "observer",
            Role::Standalone => "standalone",
            Role::Looking => "looking",
            Role::ReadOnly => "read-only",
            Role::Down => "down",
        }
    }

    fn from_mode(mode: &str) -> Role {
        match mode {
            "leader" | "leading" => Role::Leader,
            "follower" | "following" => Role::Follower,
            "observer" | "observing" => Role::Observer,
            "standalone" => Role::Standalone,
            "looking" => Role::Looking,
            "read-only" => Role::ReadOnly,
            _ => Role::Unknown,
        }
    }

    /// Whether the member answers clients.
    pub fn is_up(self) -> bool {
        !matches!(self, Role::Down | Role::Unknown)
    }
}

/// How far a member is behind the leader.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lag {
    /// Same epoch, this many transactions behind.
    Txns(u64),
    /// Still on an older epoch than the leader.
    OldEpoch,
}

impl Lag {
    /// Whether the strip marks the member as behind.
    pub fn is_behind(self) -> bool {
        match self {
            Lag::Txns(n) => n > BEHIND_TXNS,
            Lag::OldEpoch => true,
        }
    }
}

/// Where the latency figures came from (shown in the member detail).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LatencySource {
    /// No figure.
    None,
    /// `rookery_request_duration_seconds` buckets over the last interval.
    Histogram,
    /// `readlatency`/`updatelatency` summary quantiles from `/metrics`.
    Summary,
    /// `zk_p50_*`/`zk_p99_*` from `mntr`.
    Mntr,
    /// Only `srvr`'s average.
    SrvrAverage,
}

impl LatencySource {
    /// A short description.
    pub fn as_str(self) -> &'static str {
        match self {
            LatencySource::None => "no latency data",
            LatencySource::Histogram => "/metrics histogram, last interval",
            LatencySource::Summary => "/metrics summary",
            LatencySource::Mntr => "mntr percentiles",
            LatencySource::SrvrAverage => "srvr average only",
        }
    }
}

/// Fixed-size histories for the sparklines (newest last).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct History {
    /// Requests per second.
    pub requests: VecDeque<u64>,
    /// p50 request latency, µs.
    pub p50_us: VecDeque<u64>,
    /// p99 request latency, µs.
    pub p99_us: VecDeque<u64>,
    /// WAL fsync p99, µs.
    pub fsync_p99_us: VecDeque<u64>,
    /// Sessions.
    pub sessions: VecDeque<u64>,
    /// Watches.
    pub watches: VecDeque<u64>,
}

fn push(ring: &mut VecDeque<u64>, v: u64) {
    if ring.len() == HISTORY {
        ring.pop_front();
    }
    ring.push_back(v);
}

fn us(ms: Option<f64>) -> u64 {
    ms.map_or(0, |v| (v * 1000.0).max(0.0).round() as u64)
}

/// Cumulative values from the previous round, to compute interval figures.
#[derive(Clone, Debug, Default, PartialEq)]
struct Previous {
    at_ms: u64,
    requests: Option<Histogram>,
    fsync: Option<Histogram>,
    election: Option<Histogram>,
    request_count: Option<f64>,
    packets_received: Option<f64>,
    expired: Option<f64>,
}

/// One member as the strip and the member detail show it.
#[derive(Clone, Debug, PartialEq)]
pub struct MemberState {
    /// `host:port`.
    pub addr: String,
    /// Role.
    pub role: Role,
    /// Why it is down, when it is.
    pub down_reason: Option<String>,
    /// Current epoch (peer epoch, else the epoch of the last zxid).
    pub epoch: Option<u64>,
    /// Last zxid.
    pub zxid: Option<i64>,
    /// Lag behind the leader (`None` for the leader itself or without one).
    pub lag: Option<Lag>,
    /// Client connections.
    pub connections: Option<u64>,
    /// Outstanding requests.
    pub outstanding: Option<u64>,
    /// Sessions (global).
    pub sessions: Option<u64>,
    /// Watches.
    pub watches: Option<u64>,
    /// Znodes.
    pub znodes: Option<u64>,
    /// Requests per second over the last interval.
    pub requests_per_s: Option<f64>,
    /// p50 request latency (ms).
    pub p50_ms: Option<f64>,
    /// p99 request latency (ms).
    pub p99_ms: Option<f64>,
    /// Average request latency (ms), from `srvr`.
    pub avg_ms: Option<f64>,
    /// Where the latencies came from.
    pub latency_source: LatencySource,
    /// WAL fsync p99 (ms).
    pub fsync_p99_ms: Option<f64>,
    /// The `/metrics` endpoint in use.
    pub metrics_url: Option<String>,
    /// Sparkline histories.
    pub history: History,
    /// Marked as behind the leader (kept across polls for the event log).
    pub behind: bool,
    /// The version of the membership it runs with (`rookery_config_version`;
    /// Rookery only).
    pub config_version: Option<i64>,
    prev: Option<Previous>,
}

impl MemberState {
    /// A member not yet polled.
    pub fn new(addr: &str) -> MemberState {
        MemberState {
            addr: addr.to_string(),
            role: Role::Unknown,
            down_reason: None,
            epoch: None,
            zxid: None,
            lag: None,
            connections: None,
            outstanding: None,
            sessions: None,
            watches: None,
            znodes: None,
            requests_per_s: None,
            p50_ms: None,
            p99_ms: None,
            avg_ms: None,
            latency_source: LatencySource::None,
            fsync_p99_ms: None,
            metrics_url: None,
            history: History::default(),
            behind: false,
            config_version: None,
            prev: None,
        }
    }

    /// Whether the strip marks it: down, looking, read-only or behind.
    pub fn is_marked(&self) -> bool {
        matches!(self.role, Role::Down | Role::Looking | Role::ReadOnly) || self.behind
    }

    /// Takes in one sample; returns the session expiries in the interval and
    /// the election time a member reported in it (ms), for the event log.
    fn apply(&mut self, at_ms: u64, s: &MemberSample) -> (u64, Option<f64>) {
        let keep_history = std::mem::take(&mut self.history);
        let prev = self.prev.take();
        let behind = self.behind;
        *self = MemberState::new(&s.addr);
        self.history = keep_history;
        self.behind = behind;
        self.metrics_url = s.metrics_url.clone();
        let empty = Metrics::default();
        let m = s.metrics.as_ref().unwrap_or(&empty);
        let mntr = &s.mntr;
        match &s.reach {
            Reach::Down(why) => {
                self.role = Role::Down;
                self.down_reason = Some(why.clone());
                self.push_history();
                return (0, None);
            }
            Reach::NotServing => self.role = Role::Looking,
            Reach::Serving(srvr) => {
                self.role = srvr
                    .mode
                    .as_deref()
                    .or_else(|| mntr.get("zk_server_state").map(String::as_str))
                    .map_or(Role::Unknown, Role::from_mode);
                self.zxid = srvr.zxid;
                self.connections = srvr.connections;
                self.outstanding = srvr.outstanding;
                self.znodes = srvr.node_count;
                self.avg_ms = srvr.latency_ms.map(|l| l.1);
            }
        }
        // A read-only member is still looking for a leader: it says which in srvr.
        if m.with_label("rookery_server_state", "state", "looking") == Some(1.0)
            && self.role != Role::ReadOnly
        {
            self.role = Role::Looking;
        }
        self.config_version = m.total("rookery_config_version").map(|v| v as i64);
        let gauge = |metric: &str, key: &str| {
            m.total(metric)
                .or_else(|| mntr_f64(mntr, key))
                .map(|v| v.max(0.0) as u64)
        };
        self.zxid = self
            .zxid
            .or_else(|| m.total("rookery_last_applied_zxid").map(|v| v as i64));
        self.epoch = mntr_f64(mntr, "zk_peer_epoch")
            .or_else(|| m.total("rookery_zab_epoch"))
            .map(|v| v as u64)
            .or_else(|| self.zxid.map(|z| (z as u64) >> 32));
        self.connections = self.connections.or_else(|| {
            m.total("rookery_connections")
                .or_else(|| m.total("num_alive_connections"))
                .or_else(|| mntr_f64(mntr, "zk_num_alive_connections"))
                .map(|v| v as u64)
        });
        self.outstanding = self
            .outstanding
            .or_else(|| gauge("outstanding_requests", "zk_outstanding_requests"));
        self.sessions = gauge("global_sessions", "zk_global_sessions");
        self.watches = gauge("watch_count", "zk_watch_count");
        self.znodes = gauge("znode_count", "zk_znode_count").or(self.znodes);

        let requests = m.histogram("rookery_request_duration_seconds");
        let fsync = m.histogram("rookery_wal_fsync_duration_seconds");
        let election = m.histogram("rookery_election_duration_seconds");
        let request_count = requests.as_ref().map(|h| h.count);
        let packets_received = mntr_f64(mntr, "zk_packets_received");
        let expired = m
            .with_label("rookery_session_events_total", "event", "expired")
            .or_else(|| mntr_f64(mntr, "zk_stale_sessions_expired"));

        let prev_at = prev.as_ref().map(|p| p.at_ms);
        let dt_s = prev_at
            .filter(|t| at_ms > *t)
            .map(|t| (at_ms - t) as f64 / 1000.0);
        let delta = |now: Option<f64>, before: Option<f64>| match (now, before) {
            (Some(n), Some(b)) if n >= b => Some(n - b),
            _ => None,
        };
        let p = prev.as_ref();
        if let Some(dt) = dt_s {
            self.requests_per_s = delta(request_count, p.and_then(|p| p.request_count))
                .or_else(|| delta(packets_received, p.and_then(|p| p.packets_received)))
                .map(|d| d / dt);
        }

        // Latency: histogram over the interval, else summaries, else mntr, else srvr.
        let interval = |now: &Option<Histogram>, before: Option<&Histogram>| {
            now.as_ref().map(|h| match before {
                Some(b) => h.since(b),
                None => h.clone(),
            })
        };
        if let Some(h) = interval(&requests, p.and_then(|p| p.requests.as_ref())) {
            self.latency_source = LatencySource::Histogram;
            self.p50_ms = h.quantile(0.5).map(|s| s * 1000.0);
            self.p99_ms = h.quantile(0.99).map(|s| s * 1000.0);
        } else if m.has("readlatency") || m.has("updatelatency") {
            self.latency_source = LatencySource::Summary;
            let q = |q: &str| {
                [
                    m.summary_quantile("readlatency", q),
                    m.summary_quantile("updatelatency", q),
                ]
                .into_iter()
                .flatten()
                .reduce(f64::max)
            };
            self.p50_ms = q("0.5");
            self.p99_ms = q("0.99");
        } else if mntr.contains_key("zk_p99_readlatency") {
            self.latency_source = LatencySource::Mntr;
            let q = |name: &str| {
                [
                    mntr_f64(mntr, &format!("zk_{name}_readlatency")),
                    mntr_f64(mntr, &format!("zk_{name}_updatelatency")),
                ]
                .into_iter()
                .flatten()
                .reduce(f64::max)
            };
            self.p50_ms = q("p50");
            self.p99_ms = q("p99");
        } else if self.avg_ms.is_some() {
            self.latency_source = LatencySource::SrvrAverage;
        }
        self.fsync_p99_ms = match interval(&fsync, p.and_then(|p| p.fsync.as_ref())) {
            Some(h) => h.quantile(0.99).map(|s| s * 1000.0),
            None => m
                .summary_quantile("fsynctime", "0.99")
                .or_else(|| mntr_f64(mntr, "zk_p99_fsynctime")),
        };
        let expiries = delta(expired, p.and_then(|p| p.expired)).unwrap_or(0.0) as u64;
        let election_ms = match (&election, p.and_then(|p| p.election.as_ref())) {
            (Some(now), Some(before)) => {
                let d = now.since(before);
                (d.count > 0.0).then(|| d.sum / d.count * 1000.0)
            }
            _ => None,
        };
        self.prev = Some(Previous {
            at_ms,
            requests,
            fsync,
            election,
            request_count,
            packets_received,
            expired,
        });
        self.push_history();
        (expiries, election_ms)
    }

    fn push_history(&mut self) {
        let h = &mut self.history;
        push(
            &mut h.requests,
            self.requests_per_s.map_or(0, |r| r.round() as u64),
        );
        push(&mut h.p50_us, us(self.p50_ms));
        push(&mut h.p99_us, us(self.p99_ms));
        push(&mut h.fsync_p99_us, us(self.fsync_p99_ms));
        push(&mut h.sessions, self.sessions.unwrap_or(0));
        push(&mut h.watches, self.watches.unwrap_or(0));
    }
}

/// Something the event log records.
#[derive(Clone, Debug, PartialEq)]
pub enum EventKind {
    /// A member stopped answering.
    MemberLost {
        /// The member.
        addr: String,
        /// Why.
        reason: String,
    },
    /// A member answers again.
    MemberBack {
        /// The member.
        addr: String,
        /// Its role now.
        role: Role,
    },
    /// No member leads any more.
    ElectionStarted {
        /// Who led before.
        previous: Option<String>,
    },
    /// A (new) leader.
    LeaderChanged {
        /// Who led before (`None` at start-up).
        from: Option<String>,
        /// Who leads now.
        to: String,
        /// Its epoch.
        epoch: Option<u64>,
    },
    /// Many sessions expired on a member in one interval.
    ExpirySpike {
        /// The member.
        addr: String,
        /// How many.
        count: u64,
    },
    /// A member fell behind the leader.
    Behind {
        /// The member.
        addr: String,
        /// How far.
        lag: Lag,
    },
    /// A member that was behind caught up.
    CaughtUp {
        /// The member.
        addr: String,
    },
    /// A member serves read-only clients: it lost its quorum.
    ReadOnly {
        /// The member.
        addr: String,
    },
    /// A reconfig changed the members (first seen on `addr`).
    MembershipChanged {
        /// The member that reported it first.
        addr: String,
        /// The new configuration's version (hex in /zookeeper/config).
        version: i64,
    },
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EventKind::MemberLost { addr, reason } => write!(f, "member lost: {addr} ({reason})"),
            EventKind::MemberBack { addr, role } => {
                write!(f, "member back: {addr} as {}", role.as_str())
            }
            EventKind::ElectionStarted { previous: Some(p) } => {
                write!(f, "election started: leader {p} gone")
            }
            EventKind::ElectionStarted { previous: None } => write!(f, "election started"),
            EventKind::LeaderChanged { from, to, epoch } => {
                match from {
                    Some(from) => write!(f, "leader changed: {from} → {to}")?,
                    None => write!(f, "leader: {to}")?,
                }
                match epoch {
                    Some(e) => write!(f, " (epoch {e})"),
                    None => Ok(()),
                }
            }
            EventKind::ExpirySpike { addr, count } => {
                write!(
                    f,
                    "session expiries spiking: {count} in one interval on {addr}"
                )
            }
            EventKind::Behind { addr, lag } => match lag {
                Lag::Txns(n) => write!(f, "member behind: {addr} is {n} txns behind the leader"),
                Lag::OldEpoch => write!(f, "member behind: {addr} is on an older epoch"),
            },
            EventKind::CaughtUp { addr } => write!(f, "caught up: {addr}"),
            EventKind::ReadOnly { addr } => {
                write!(f, "read-only: {addr} lost its quorum, serves reads only")
            }
            EventKind::MembershipChanged { addr, version } => {
                write!(
                    f,
                    "membership changed: version {version:x} (seen on {addr})"
                )
            }
        }
    }
}

/// An event with the time it was seen.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    /// Ms since the Unix epoch (the poll that saw it).
    pub at_ms: u64,
    /// What happened.
    pub kind: EventKind,
}

/// One leadership change: from the poll that saw no leader (or a different
/// one) to the poll that saw the new leader.
#[derive(Clone, Debug, PartialEq)]
pub struct Election {
    /// When the TUI first saw the ensemble without this leader.
    pub started_ms: u64,
    /// When it saw the new leader (`None`: still electing).
    pub ended_ms: Option<u64>,
    /// The leader before.
    pub previous: Option<String>,
    /// The leader after.
    pub leader: Option<String>,
    /// Its epoch.
    pub epoch: Option<u64>,
    /// What the new leader reported as its election time, ms.
    pub reported_ms: Option<f64>,
}

impl Election {
    /// How long it took as the TUI saw it (poll resolution).
    pub fn observed_ms(&self) -> Option<u64> {
        self.ended_ms.map(|e| e.saturating_sub(self.started_ms))
    }
}

/// The whole ensemble.
#[derive(Clone, Debug, PartialEq)]
pub struct EnsembleState {
    /// Members, in connect-string order.
    pub members: Vec<MemberState>,
    /// Newest last.
    pub events: VecDeque<Event>,
    /// Newest last.
    pub elections: VecDeque<Election>,
    /// Index of the member that leads (or the standalone server).
    pub leader: Option<usize>,
    /// When the last poll finished.
    pub last_poll_ms: Option<u64>,
    /// Member selected in the ensemble view.
    pub selected: usize,
    last_leader_addr: Option<String>,
    /// The newest membership version any member reported.
    config_version: Option<i64>,
}

impl EnsembleState {
    /// Members not yet polled.
    pub fn new(addrs: &[String]) -> EnsembleState {
        EnsembleState {
            members: addrs.iter().map(|a| MemberState::new(a)).collect(),
            events: VecDeque::new(),
            elections: VecDeque::new(),
            leader: None,
            last_poll_ms: None,
            selected: 0,
            last_leader_addr: None,
            config_version: None,
        }
    }

    fn event(&mut self, at_ms: u64, kind: EventKind) {
        if self.events.len() == EVENTS {
            self.events.pop_front();
        }
        self.events.push_back(Event { at_ms, kind });
    }

    /// Takes in one poll round.
    pub fn apply(&mut self, round: &PollRound) {
        let at = round.at_ms;
        let mut reported_election = None;
        for (i, sample) in round.members.iter().enumerate() {
            if i >= self.members.len() {
                self.members.push(MemberState::new(&sample.addr));
            }
            let was = self.members[i].role;
            let (expiries, election_ms) = self.members[i].apply(at, sample);
            let now = self.members[i].role;
            let addr = sample.addr.clone();
            if now == Role::Down && was != Role::Down {
                let reason = self.members[i].down_reason.clone().unwrap_or_default();
                self.event(at, EventKind::MemberLost { addr, reason });
            } else if was == Role::Down && now != Role::Down {
                self.event(at, EventKind::MemberBack { addr, role: now });
            } else if now == Role::ReadOnly && was != Role::ReadOnly {
                self.event(at, EventKind::ReadOnly { addr });
            }
            if let Some(v) = self.members[i].config_version {
                match self.config_version {
                    Some(known) if v > known => {
                        let addr = sample.addr.clone();
                        self.event(at, EventKind::MembershipChanged { addr, version: v });
                        self.config_version = Some(v);
                    }
                    None => self.config_version = Some(v),
                    Some(_) => {}
                }
            }
            if expiries >= EXPIRY_SPIKE {
                let addr = sample.addr.clone();
                self.event(
                    at,
                    EventKind::ExpirySpike {
                        addr,
                        count: expiries,
                    },
                );
            }
            if now == Role::Leader && election_ms.is_some() {
                reported_election = election_ms;
            }
        }
        self.update_leader(at, reported_election);
        self.update_lag(at);
        self.last_poll_ms = Some(at);
        self.selected = self.selected.min(self.members.len().saturating_sub(1));
    }

    fn update_leader(&mut self, at: u64, reported_ms: Option<f64>) {
        let leader = self
            .members
            .iter()
            .enumerate()
            .filter(|(_, m)| matches!(m.role, Role::Leader | Role::Standalone))
            .max_by_key(|(_, m)| m.epoch)
            .map(|(i, _)| i);
        let before = self.last_leader_addr.clone();
        match leader {
            None => {
                let electing = self.elections.back().is_some_and(|e| e.ended_ms.is_none());
                if self.leader.is_some() || (before.is_some() && !electing) {
                    self.push_election(Election {
                        started_ms: at,
                        ended_ms: None,
                        previous: before.clone(),
                        leader: None,
                        epoch: None,
                        reported_ms: None,
                    });
                    self.event(at, EventKind::ElectionStarted { previous: before });
                }
            }
            Some(i) => {
                let addr = self.members[i].addr.clone();
                let epoch = self.members[i].epoch;
                if before.as_deref() != Some(addr.as_str()) {
                    let open = self.elections.back_mut().filter(|e| e.ended_ms.is_none());
                    match open {
                        Some(e) => {
                            e.ended_ms = Some(at);
                            e.leader = Some(addr.clone());
                            e.epoch = epoch;
                            e.reported_ms = reported_ms;
                        }
                        // The change happened between two polls.
                        None if before.is_some() => self.push_election(Election {
                            started_ms: at,
                            ended_ms: Some(at),
                            previous: before.clone(),
                            leader: Some(addr.clone()),
                            epoch,
                            reported_ms,
                        }),
                        None => {}
                    }
                    self.event(
                        at,
                        EventKind::LeaderChanged {
                            from: before,
                            to: addr.clone(),
                            epoch,
                        },
                    );
                    self.last_leader_addr = Some(addr);
                } else if let Some(e) = self.elections.back_mut().filter(|e| e.ended_ms.is_none()) {
                    // The same member won again.
                    e.ended_ms = Some(at);
                    e.leader = Some(addr);
                    e.epoch = epoch;
                    e.reported_ms = reported_ms;
                }
            }
        }
        self.leader = leader;
    }

    fn push_election(&mut self, e: Election) {
        if self.elections.len() == ELECTIONS {
            self.elections.pop_front();
        }
        self.elections.push_back(e);
    }

    fn update_lag(&mut self, at: u64) {
        let leader_zxid = self.leader.and_then(|i| self.members[i].zxid);
        let mut events = Vec::new();
        for (i, m) in self.members.iter_mut().enumerate() {
            let was_behind = m.behind;
            m.lag = match (leader_zxid, m.zxid) {
                (Some(l), Some(z)) if Some(i) != self.leader && m.role.is_up() => {
                    if (z as u64 >> 32) == (l as u64 >> 32) {
                        Some(Lag::Txns(l.saturating_sub(z).max(0) as u64))
                    } else if z < l {
                        Some(Lag::OldEpoch)
                    } else {
                        Some(Lag::Txns(0))
                    }
                }
                _ => None,
            };
            let behind = m.lag.is_some_and(Lag::is_behind);
            m.behind = behind;
            if behind && !was_behind {
                if let Some(lag) = m.lag {
                    events.push(EventKind::Behind {
                        addr: m.addr.clone(),
                        lag,
                    });
                }
            } else if was_behind && !behind && m.role.is_up() {
                events.push(EventKind::CaughtUp {
                    addr: m.addr.clone(),
                });
            }
        }
        for e in events {
            self.event(at, e);
        }
    }
}
