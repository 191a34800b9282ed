//! Four-letter words on the client port, formatted as ZooKeeper 3.8 formats them,
//! and (`http`) the same views as ZooKeeper's AdminServer JSON commands.

pub mod http;

use crate::config::Config;
use crate::core::Counters;
use rookery_metrics::RequestStats;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// The version clients see: kazoo's `server_version()` parses the part before '-'.
pub const ZK_COMPAT_VERSION: &str = "3.8.4";

pub fn version_line() -> String {
    format!(
        "{ZK_COMPAT_VERSION}-rookery-{}, built on rookery",
        env!("CARGO_PKG_VERSION")
    )
}

/// What ZooKeeper answers to most words while it does not serve.
pub const NOT_SERVING: &str = "This ZooKeeper instance is not currently serving requests\n";

/// The words this server knows, by their value as a big-endian i32 length.
pub const WORDS: &[&str] = &[
    "ruok", "isro", "srvr", "stat", "envi", "mntr", "conf", "cons", "crst", "dirs", "dump", "srst",
    "wchc", "wchp", "wchs", "hash", "lgif",
];

/// The word a first frame length spells, if it is one we know.
pub fn word_of(len: i32) -> Option<&'static str> {
    let bytes = len.to_be_bytes();
    WORDS.iter().copied().find(|w| w.as_bytes() == bytes)
}

/// A connection as `cons` and `stat` show it.
pub struct ConnView {
    pub addr: SocketAddr,
    pub session: Option<i64>,
    pub queued: usize,
    pub received: u64,
    pub sent: u64,
    pub timeout_ms: i32,
    pub last_zxid: i64,
    pub age: Duration,
    /// When it was accepted, in ms since the epoch.
    pub established_ms: i64,
    pub latency: ConnLatency,
}

/// A connection's last request and its latency figures since `crst`, as
/// ZooKeeper's `cons` prints them.
#[derive(Debug, Clone, Copy)]
pub struct ConnLatency {
    /// `lop`: the last op's short name, `NA` before any.
    pub last_op: &'static str,
    pub last_cxid: i32,
    /// `lresp`: when the last reply left, in ms since the epoch.
    pub last_response_ms: i64,
    pub last_ms: u64,
    pub min_ms: Option<u64>,
    pub max_ms: u64,
    pub total_ms: u64,
    pub count: u64,
}

impl Default for ConnLatency {
    fn default() -> Self {
        ConnLatency {
            last_op: "NA",
            last_cxid: -1,
            last_response_ms: 0,
            last_ms: 0,
            min_ms: None,
            max_ms: 0,
            total_ms: 0,
            count: 0,
        }
    }
}

impl ConnLatency {
    pub fn record(&mut self, op: &'static str, cxid: i32, latency: Duration, now_ms: i64) {
        let ms = latency.as_millis() as u64;
        self.last_op = op;
        self.last_cxid = cxid;
        self.last_response_ms = now_ms;
        self.last_ms = ms;
        self.min_ms = Some(self.min_ms.map_or(ms, |m| m.min(ms)));
        self.max_ms = self.max_ms.max(ms);
        self.total_ms += ms;
        self.count += 1;
    }

    pub fn avg_ms(&self) -> u64 {
        self.total_ms.checked_div(self.count).unwrap_or(0)
    }
}

/// What the four-letter words report, copied out of the core.
pub struct ServerView {
    /// zoo.cfg, with the membership in force (a reconfig may have changed it).
    pub cfg: Arc<Config>,
    /// The version of that membership (`version=` in `conf` and /zookeeper/config).
    pub config_version: i64,
    /// standalone, leader, follower, observer or looking.
    pub mode: &'static str,
    pub serving: bool,
    pub epoch: u32,
    pub zxid: i64,
    pub node_count: usize,
    pub data_size: u64,
    pub ephemerals_count: usize,
    pub sessions: usize,
    pub session_timeouts: Vec<(i64, i32)>,
    pub ephemerals: Vec<(i64, Vec<String>)>,
    pub outstanding: usize,
    pub stats: RequestStats,
    pub counters: Counters,
    pub connections: Vec<ConnView>,
    pub watch_count: usize,
    pub watched_paths: usize,
    pub watching_connections: usize,
    pub watches_by_connection: Vec<(i64, Vec<String>)>,
    pub uptime: Duration,
    /// The tree's digest at `zxid` (only computed for `hash`).
    pub digest: Option<u64>,
    /// ZooKeeper's detailed peer state (`following - broadcast`), quorum members only.
    pub peer_state: Option<String>,
    /// The ZAB phase: election, discovery, synchronization or broadcast.
    pub zab_phase: &'static str,
    /// The leader this member follows or is (none while looking).
    pub leader: Option<u64>,
    /// Learners as the leader sees them (empty on other roles).
    pub learners: Vec<crate::zab::LearnerStatus>,
    pub log: LogPositions,
    pub metrics: Arc<rookery_metrics::Metrics>,
}

impl std::fmt::Debug for ServerView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerView")
            .field("mode", &self.mode)
            .field("serving", &self.serving)
            .field("zxid", &self.zxid)
            .finish_non_exhaustive()
    }
}

/// Where the member's log stands (`lgif`).
#[derive(Debug, Clone, Copy, Default)]
pub struct LogPositions {
    /// The zxid before the first entry kept for DIFF.
    pub first: i64,
    pub last: i64,
    pub durable: i64,
    pub committed: i64,
    pub accepted_epoch: u32,
}

fn latency_line(s: &RequestStats) -> String {
    format!(
        "Latency min/avg/max: {}/{:.4}/{}\n",
        s.min_ms().round() as u64,
        s.avg_ms(),
        s.max_ms().round() as u64
    )
}

/// `stat`'s line for a connection; `[1]` is its interest set (reading), `[0]`
/// for one without a session yet.
fn brief_conn_line(c: &ConnView) -> String {
    format!(
        " /{}[{}](queued={},recved={},sent={})\n",
        c.addr,
        c.session.is_some() as u8,
        c.queued,
        c.received,
        c.sent
    )
}

/// `cons`'s line for a connection, ZooKeeper's `dumpConnectionInfo`.
fn full_conn_line(c: &ConnView) -> String {
    let Some(session) = c.session else {
        return brief_conn_line(c);
    };
    let l = &c.latency;
    format!(
        " /{}[1](queued={},recved={},sent={},sid=0x{:x},lop={},est={},to={},lcxid=0x{:x},lzxid=0x{:x},lresp={},llat={},minlat={},avglat={},maxlat={})\n",
        c.addr,
        c.queued,
        c.received,
        c.sent,
        session,
        l.last_op,
        c.established_ms,
        c.timeout_ms,
        l.last_cxid,
        c.last_zxid,
        l.last_response_ms,
        l.last_ms,
        l.min_ms.unwrap_or(0),
        l.avg_ms(),
        l.max_ms
    )
}

fn summary(v: &ServerView, out: &mut String) {
    out.push_str(&latency_line(&v.stats));
    let _ = write!(
        out,
        "Received: {}\nSent: {}\nConnections: {}\nOutstanding: {}\nZxid: 0x{:x}\nMode: {}\nNode count: {}\n",
        v.stats.packets_received,
        v.stats.packets_sent,
        v.connections.len(),
        v.outstanding,
        v.zxid,
        v.mode,
        v.node_count
    );
    if v.mode == "leader" {
        let m = &v.metrics;
        let _ = writeln!(
            out,
            "Proposal sizes last/min/max: {}/{}/{}",
            m.last_proposal_size.get(),
            m.min_proposal_size.get(),
            m.max_proposal_size.get()
        );
    }
}

pub fn open_fds() -> (u64, u64) {
    let open = std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count() as u64)
        .unwrap_or(0);
    let max = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l.split_whitespace().nth(3))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0);
    (open, max)
}

/// The text a word answers with.
pub fn four_letter(word: &str, v: &ServerView) -> String {
    let mut out = String::new();
    // During an election ZooKeeper answers only these; isro says "null".
    if !v.serving && !matches!(word, "ruok" | "envi" | "lgif") {
        if word == "isro" {
            return "null".to_string();
        }
        return NOT_SERVING.to_string();
    }
    match word {
        "ruok" => out.push_str("imok"),
        "isro" => out.push_str(if v.mode == "read-only" { "ro" } else { "rw" }),
        "srvr" => {
            let _ = writeln!(out, "Zookeeper version: {}", version_line());
            summary(v, &mut out);
        }
        "stat" => {
            let _ = writeln!(out, "Zookeeper version: {}", version_line());
            out.push_str("Clients:\n");
            for c in &v.connections {
                out.push_str(&brief_conn_line(c));
            }
            out.push('\n');
            summary(v, &mut out);
        }
        "cons" => {
            for c in &v.connections {
                out.push_str(&full_conn_line(c));
            }
            out.push('\n');
        }
        "envi" => {
            out.push_str("Environment:\n");
            let _ = writeln!(out, "zookeeper.version={}", version_line());
            let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map(|h| h.trim().to_string())
                .unwrap_or_else(|_| "localhost".into());
            let _ = writeln!(out, "host.name={host}");
            let _ = writeln!(out, "rookery.version={}", env!("CARGO_PKG_VERSION"));
            let _ = writeln!(out, "os.name={}", std::env::consts::OS);
            let _ = writeln!(out, "os.arch={}", std::env::consts::ARCH);
            if let Ok(dir) = std::env::current_dir() {
                let _ = writeln!(out, "user.dir={}", dir.display());
            }
            let _ = writeln!(out, "process.id={}", std::process::id());
        }
        "conf" => {
            let c = &v.cfg;
            let size = dir_size(&c.storage_dir());
            let _ = writeln!(out, "clientPort={}", c.client_port.unwrap_or(0));
            let _ = writeln!(
                out,
                "secureClientPort={}",
                c.secure_client_port.map_or(-1, i32::from)
            );
            let _ = writeln!(out, "dataDir={}", c.data_dir.display());
            let _ = writeln!(out, "dataDirSize={size}");
            let _ = writeln!(
                out,
                "dataLogDir={}",
                c.data_log_dir.as_ref().unwrap_or(&c.data_dir).display()
            );
            let _ = writeln!(out, "dataLogSize={size}");
            let _ = writeln!(out, "tickTime={}", c.tick_time_ms);
            let _ = writeln!(out, "maxClientCnxns={}", c.max_client_cnxns);
            let _ = writeln!(out, "minSessionTimeout={}", c.min_session_timeout_ms);
            let _ = writeln!(out, "maxSessionTimeout={}", c.max_session_timeout_ms);
            let _ = writeln!(out, "clientPortListenBacklog=-1");
            let _ = writeln!(out, "serverId={}", c.my_id.unwrap_or(0));
            let _ = writeln!(out, "metricsProvider.httpHost={}", c.metrics_http_host);
            let _ = writeln!(
                out,
                "metricsProvider.httpPort={}",
                c.metrics_http_port.map_or(-1, i32::from)
            );
            if !c.is_standalone() {
                let me = c.servers.iter().find(|s| Some(s.id) == c.my_id);
                let _ = writeln!(out, "initLimit={}", c.init_limit);
                let _ = writeln!(out, "syncLimit={}", c.sync_limit);
                let _ = writeln!(out, "electionAlg=3");
                let _ = writeln!(out, "electionPort={}", me.map_or(0, |s| s.election_port));
                let _ = writeln!(out, "quorumPort={}", me.map_or(0, |s| s.quorum_port));
                let _ = writeln!(out, "peerType={}", me.is_some_and(|s| s.observer) as u8);
                out.push_str("membership: \n");
                for s in &c.servers {
                    let role = if s.observer {
                        "observer"
                    } else {
                        "participant"
                    };
                    let _ = write!(
                        out,
                        "server.{}={}:{}:{}:{role}",
                        s.id, s.host, s.quorum_port, s.election_port
                    );
                    match &s.client {
                        Some(client) => {
                            let _ = writeln!(out, ";{client}");
                        }
                        None => out.push('\n'),
                    }
                }
                // As ZooKeeper: the last line has no newline.
                let _ = write!(out, "version={:x}", v.config_version);
            }
        }
        "mntr" => {
            let mut head = vec![
                ("version", version_line()),
                ("server_state", v.mode.to_string()),
            ];
            if let Some(peer) = &v.peer_state {
                head.push(("peer_state", peer.clone()));
            }
            head.push(("peer_epoch", v.epoch.to_string()));
            out.push_str(&rookery_metrics::mntr::render(&v.metrics, &head));
        }
        "lgif" => {
            // ClickHouse Keeper's log-info word, in zxids: what the log holds, what is
            // committed and applied, and the leader's commit point as this member knows it.
            for (k, val) in [
                ("first_log_zxid", v.log.first),
                ("last_log_zxid", v.log.last),
                ("last_durable_zxid", v.log.durable),
                ("last_committed_zxid", v.log.committed),
                ("last_applied_zxid", v.zxid),
            ] {
                let _ = writeln!(out, "{k}\t0x{val:x}");
            }
            let _ = writeln!(out, "current_epoch\t{}", v.epoch);
            let _ = writeln!(out, "accepted_epoch\t{}", v.log.accepted_epoch);
        }
        "wchs" => {
            let _ = writeln!(
                out,
                "{} connections watching {} paths\nTotal watches:{}",
                v.watching_connections, v.watched_paths, v.watch_count
            );
        }
        "wchc" => {
            for (session, paths) in &v.watches_by_connection {
                let _ = writeln!(out, "0x{session:x}");
                for p in paths {
                    let _ = writeln!(out, "\t{p}");
                }
            }
            out.push('\n');
        }
        "wchp" => {
            let mut by_path: std::collections::BTreeMap<&String, Vec<i64>> = Default::default();
            for (session, paths) in &v.watches_by_connection {
                for p in paths {
                    by_path.entry(p).or_default().push(*session);
                }
            }
            for (p, sessions) in by_path {
                let _ = writeln!(out, "{p}");
                for s in sessions {
                    let _ = writeln!(out, "\t0x{s:x}");
                }
            }
            out.push('\n');
        }
        "dump" => {
            let _ = writeln!(
                out,
                "SessionTracker dump:\nGlobal Sessions({}):",
                v.sessions
            );
            for (id, t) in &v.session_timeouts {
                let _ = writeln!(out, "0x{id:x}\t{t}ms");
            }
            let with: Vec<_> = v.ephemerals.iter().filter(|(_, e)| !e.is_empty()).collect();
            let _ = writeln!(
                out,
                "ephemeral nodes dump:\nSessions with Ephemerals ({}):",
                with.len()
            );
            for (id, paths) in with {
                let _ = writeln!(out, "0x{id:x}:");
                for p in paths {
                    let _ = writeln!(out, "\t{p}");
                }
            }
        }
        "dirs" => {
            let size = dir_size(&v.cfg.storage_dir());
            let _ = writeln!(out, "datadir_size: {size}\nlogdir_size: {size}");
        }
        "hash" => {
            let _ = writeln!(
                out,
                "Zxid: 0x{:x}\nDigest: {:016x}",
                v.zxid,
                v.digest.unwrap_or(0)
            );
        }
        "srst" => out.push_str("Server stats reset.\n"),
        "crst" => out.push_str("Connection stats reset.\n"),
        _ => {}
    }
    out
}

fn dir_size(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .filter_map(|e| e.metadata().ok())
                .filter(|m| m.is_file())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_recognised_by_their_length_value() {
        assert_eq!(word_of(0x72756f6b), Some("ruok"));
        assert_eq!(word_of(0x73727672), Some("srvr"));
        assert_eq!(word_of(45), None);
    }
}
