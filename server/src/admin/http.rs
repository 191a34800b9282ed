//! ZooKeeper's AdminServer commands over HTTP (`/commands/<name>`), as JSON.
//!
//! What a client sees follows Apache ZooKeeper 3.8's Jetty AdminServer:
//! `GET /commands` (or `/commands/`) is an HTML index of links to every command,
//! `GET /commands/<name>` answers `application/json` with HTTP 200 whatever the
//! outcome, every answer ends with `"command"` and `"error"` (null when it went
//! well), a command called by an alias answers with its primary name, an unknown
//! one answers `"error" : "Unknown command: <name>"`, other methods than GET (and
//! HEAD) get 405 and paths outside `/commands` 404. While the member does not
//! serve (an election), the commands that need a running server answer ZooKeeper's
//! "not currently serving" error under the name they were called by, as ZooKeeper
//! does. The JSON is laid out as Jackson's default pretty printer lays it out
//! (`"key" : value`, arrays on one line, no newline at the end), fields in
//! ZooKeeper's order.
//!
//! The figures come from the core: one `CoreMsg::Inspect` per request (with the
//! tree digest only for `hash`), and `CoreMsg::FourLetter` for the two resets.

use super::{ConnView, ServerView, NOT_SERVING};
use crate::config::{Config, ServerSpec};
use crate::core::CoreMsg;
use rookery_metrics::http::{Handler, Request, Response};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::{mpsc, oneshot};

/// Where the commands live (`admin.commandURL`, ZooKeeper's default).
const COMMAND_URL: &str = "/commands";

/// Commands that change the server's state (guarded by `admin.needClientAuth`).
const CHANGES_STATE: [&str; 2] = ["connection_stat_reset", "stat_reset"];

/// How long a command waits for the core before it answers with an error.
const CORE_TIMEOUT: Duration = Duration::from_secs(10);

/// Every command by its primary name, with its aliases.
const COMMANDS: &[(&str, &[&str])] = &[
    ("configuration", &["conf", "config"]),
    ("connection_stat_reset", &["crst"]),
    ("connections", &["cons"]),
    ("dirs", &[]),
    ("dump", &[]),
    ("environment", &["env", "envi"]),
    ("hash", &[]),
    ("initial_configuration", &["icfg"]),
    ("is_read_only", &["isro"]),
    ("last_snapshot", &["lsnp"]),
    ("leader", &["lead"]),
    ("monitor", &["mntr"]),
    ("observers", &["obsr"]),
    ("ruok", &[]),
    ("server_stats", &["srvr"]),
    ("stat_reset", &["srst"]),
    ("stats", &["stat"]),
    ("system_properties", &["sysp"]),
    ("voting_view", &[]),
    ("watch_summary", &["wchs"]),
    ("watches", &["wchc"]),
    ("watches_by_path", &["wchp"]),
    ("zabstate", &[]),
];

/// The primary name of a command called by any of its names.
pub fn primary_name(name: &str) -> Option<&'static str> {
    COMMANDS
        .iter()
        .find(|(primary, aliases)| *primary == name || aliases.contains(&name))
        .map(|(primary, _)| *primary)
}

/// The primary names, sorted as ZooKeeper lists them in its index.
pub fn primary_names() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = COMMANDS.iter().map(|(p, _)| *p).collect();
    names.sort_unstable();
    names
}

/// The admin routes for one member.
pub fn routes(core: mpsc::UnboundedSender<CoreMsg>, cfg: Arc<Config>) -> Handler {
    // ZooKeeper reads the whole file once at start-up as the initial configuration.
    let initial_configuration = std::fs::read_to_string(&cfg.file).ok();
    let admin = Arc::new(Admin {
        core,
        cfg,
        initial_configuration,
    });
    Arc::new(move |req: Request| {
        let admin = admin.clone();
        Box::pin(async move { admin.handle(req).await })
    })
}

struct Admin {
    core: mpsc::UnboundedSender<CoreMsg>,
    cfg: Arc<Config>,
    initial_configuration: Option<String>,
}

impl Admin {
    async fn handle(&self, req: Request) -> Response {
        let rest = match req.path.strip_prefix(COMMAND_URL) {
            Some("") | Some("/") => None,
            Some(rest) if rest.starts_with('/') => Some(&rest[1..]),
            _ => {
                return Response::text(
                    404,
                    format!("not found; the admin commands are under {COMMAND_URL}\n"),
                )
            }
        };
        if req.method != "GET" && req.method != "HEAD" {
            return Response::text(
                405,
                format!("HTTP method {} is not supported by this URL\n", req.method),
            );
        }
        match rest {
            None => Response {
                status: 200,
                content_type: "text/html; charset=utf-8",
                body: index(),
            },
            Some(raw) => {
                let name = percent_decode(raw);
                if let Some(refusal) = self.refuse_unauthorised(&name, req.authorization.as_deref())
                {
                    return refusal;
                }
                let (status, body) = self.run(&name).await;
                Response::json(status, body)
            }
        }
    }

    /// With `admin.needClientAuth`, a command that changes state needs the
    /// super user's credentials: `Authorization: digest user:password`, whose
    /// digest is zoo.cfg's superDigest. 401 without the header, 403 with others.
    fn refuse_unauthorised(&self, name: &str, authorization: Option<&str>) -> Option<Response> {
        let command = primary_name(name)?;
        if !self.cfg.admin_need_client_auth || !CHANGES_STATE.contains(&command) {
            return None;
        }
        let Some(header) = authorization else {
            return Some(Response::json(
                401,
                answer(
                    command,
                    Some(format!(
                        "{command} changes the server's state: send 'Authorization: digest user:password' for the super user"
                    )),
                    vec![],
                ),
            ));
        };
        let credentials = header
            .split_once(' ')
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("digest"))
            .map(|(_, c)| c.trim());
        let is_super = match (credentials, self.cfg.super_digest.as_deref()) {
            (Some(c), Some(sup)) => crate::tree::acl::digest_identity(c) == sup,
            _ => false,
        };
        if is_super {
            return None;
        }
        Some(Response::json(
            403,
            answer(
                command,
                Some("the credentials given are not the super user's".to_string()),
                vec![],
            ),
        ))
    }

    /// Runs the command called `name`: the HTTP status and the JSON body.
    async fn run(&self, name: &str) -> (u16, String) {
        let Some(command) = primary_name(name) else {
            return (
                200,
                answer(name, Some(format!("Unknown command: {name}")), vec![]),
            );
        };
        // These two need nothing from the core and answer during elections too.
        match command {
            "environment" => return (200, answer(command, None, environment())),
            "system_properties" => {
                return (200, answer(command, None, system_properties(&self.cfg)))
            }
            _ => {}
        }
        let view = match self.inspect(command == "hash").await {
            Ok(v) => v,
            Err(e) => return (503, answer(command, Some(e), vec![])),
        };
        // ZooKeeper runs zabstate without a running server; every other command
        // here needs one. (monitor does not in ZooKeeper either, and then fails
        // with a NullPointerException and HTTP 500; Rookery answers the error.)
        if !view.serving && command != "zabstate" {
            return (200, not_serving(name));
        }
        let data = match command {
            "configuration" => configuration(&view.cfg),
            "connection_stat_reset" | "stat_reset" => {
                let word = if command == "stat_reset" {
                    "srst"
                } else {
                    "crst"
                };
                if let Err(e) = self.four_letter(word).await {
                    return (503, answer(command, Some(e), vec![]));
                }
                vec![]
            }
            "connections" => connections(&view),
            "dirs" => {
                let size = J::Int(storage_size(&view.cfg) as i64);
                vec![f("datadir_size", size.clone()), f("logdir_size", size)]
            }
            "dump" => dump(&view),
            "hash" => hash(&view),
            "initial_configuration" => vec![f(
                "initial_configuration",
                self.initial_configuration.as_ref().map_or(J::Null, J::str),
            )],
            "is_read_only" => vec![f("read_only", J::Bool(view.mode == "read-only"))],
            "last_snapshot" => vec![
                // Every applied txn is in RocksDB: the state as of the last applied
                // zxid is what a restart recovers, as of now.
                f("zxid", J::str(format!("{:x}", view.zxid))),
                f("timestamp", J::Int(epoch_millis(SystemTime::now()) / 1000)),
            ],
            "leader" => leader(&view),
            "monitor" => match monitor(&view).await {
                Ok(data) => data,
                Err(e) => return (503, answer(command, Some(e), vec![])),
            },
            "observers" => observers(&view),
            "ruok" => vec![],
            "server_stats" => server_stats(&view),
            "stats" => {
                let mut data = server_stats(&view);
                data.push(f(
                    "connections",
                    J::Arr(
                        view.connections
                            .iter()
                            .map(|c| conn_info(c, true))
                            .collect(),
                    ),
                ));
                data.push(f("secure_connections", J::Arr(vec![])));
                data
            }
            "voting_view" => voting_view(&view.cfg),
            "watch_summary" => vec![
                f("num_connections", J::Int(view.watching_connections as i64)),
                f("num_paths", J::Int(view.watched_paths as i64)),
                f("num_total_watches", J::Int(view.watch_count as i64)),
            ],
            "watches" => watches(&view),
            "watches_by_path" => watches_by_path(&view),
            "zabstate" => zabstate(&view),
            _ => vec![],
        };
        (200, answer(command, None, data))
    }

    /// The core's view of the member.
    async fn inspect(&self, with_digest: bool) -> Result<ServerView, String> {
        let (reply, rx) = oneshot::channel();
        self.core
            .send(CoreMsg::Inspect { with_digest, reply })
            .map_err(|_| "the server core is not running".to_string())?;
        match tokio::time::timeout(CORE_TIMEOUT, rx).await {
            Ok(Ok(view)) => Ok(view),
            Ok(Err(_)) => Err("the server core did not answer".to_string()),
            Err(_) => Err(format!(
                "the server core did not answer within {}s",
                CORE_TIMEOUT.as_secs()
            )),
        }
    }

    /// `srst` or `crst` through the core, which does the resetting.
    async fn four_letter(&self, word: &str) -> Result<String, String> {
        let (reply, rx) = oneshot::channel();
        self.core
            .send(CoreMsg::FourLetter {
                word: word.to_string(),
                reply,
            })
            .map_err(|_| "the server core is not running".to_string())?;
        match tokio::time::timeout(CORE_TIMEOUT, rx).await {
            Ok(Ok(text)) => Ok(text),
            Ok(Err(_)) => Err("the server core did not answer".to_string()),
            Err(_) => Err(format!(
                "the server core did not answer within {}s",
                CORE_TIMEOUT.as_secs()
            )),
        }
    }
}

/// `GET /commands`: one link per command, each followed by `<br/>`.
fn index() -> String {
    let mut out = String::new();
    for name in primary_names() {
        let _ = writeln!(out, "<a href=\"{COMMAND_URL}/{name}\">{name}</a>");
        out.push_str("<br/>\n");
    }
    out
}

/// What ZooKeeper answers while it does not serve, under the name it was called by.
fn not_serving(name: &str) -> String {
    answer(name, Some(NOT_SERVING.trim_end().to_string()), vec![])
}

/// A command's answer: its fields, then `command` and `error`, as ZooKeeper's
/// `CommandResponse.toMap()` lays them out (a field of the same name wins, in
/// its own place).
fn answer(command: &str, error: Option<String>, mut data: Vec<(String, J)>) -> String {
    if !data.iter().any(|(k, _)| k == "command") {
        data.push(f("command", J::str(command)));
    }
    if !data.iter().any(|(k, _)| k == "error") {
        data.push(f("error", error.map_or(J::Null, J::Str)));
    }
    J::Obj(data).render()
}

fn f(key: &str, value: J) -> (String, J) {
    (key.to_string(), value)
}

fn configuration(c: &Config) -> Vec<(String, J)> {
    vec![
        f("client_port", J::Int(client_port(c).map_or(0, i64::from))),
        f("data_dir", J::str(c.data_dir.display().to_string())),
        f(
            "data_log_dir",
            J::str(
                c.data_log_dir
                    .as_ref()
                    .unwrap_or(&c.data_dir)
                    .display()
                    .to_string(),
            ),
        ),
        f("tick_time", J::Int(c.tick_time_ms.into())),
        f("max_client_cnxns", J::Int(c.max_client_cnxns.into())),
        f(
            "min_session_timeout",
            J::Int(c.min_session_timeout_ms.into()),
        ),
        f(
            "max_session_timeout",
            J::Int(c.max_session_timeout_ms.into()),
        ),
        f("server_id", J::Int(c.my_id.unwrap_or(0) as i64)),
        f("client_port_listen_backlog", J::Int(-1)),
    ]
}

/// One connection as ZooKeeper's `getConnectionInfo(brief)` shows it.
fn conn_info(c: &ConnView, brief: bool) -> J {
    let mut o = vec![
        f("remote_socket_address", J::str(c.addr.to_string())),
        f("interest_ops", J::Int(c.session.is_some() as i64)),
        f("outstanding_requests", J::Int(c.queued as i64)),
        f("packets_received", J::Int(c.received as i64)),
        f("packets_sent", J::Int(c.sent as i64)),
    ];
    if !brief {
        let l = &c.latency;
        o.extend([
            f("session_id", J::Int(c.session.unwrap_or(0))),
            f("last_operation", J::str(l.last_op)),
            f("established", J::Int(c.established_ms)),
            f("session_timeout", J::Int(c.timeout_ms.into())),
            f("last_cxid", J::Int(l.last_cxid.into())),
            f("last_zxid", J::Int(c.last_zxid)),
            f("last_response_time", J::Int(l.last_response_ms)),
            f("last_latency", J::Int(l.last_ms as i64)),
            f("min_latency", J::Int(l.min_ms.unwrap_or(0) as i64)),
            f("avg_latency", J::Int(l.avg_ms() as i64)),
            f("max_latency", J::Int(l.max_ms as i64)),
        ]);
    }
    J::Obj(o)
}

fn connections(v: &ServerView) -> Vec<(String, J)> {
    vec![
        f(
            "connections",
            J::Arr(v.connections.iter().map(|c| conn_info(c, false)).collect()),
        ),
        f("secure_connections", J::Arr(vec![])),
    ]
}

/// Session expiry (leader and standalone only: followers do not track it, and
/// ZooKeeper's show `{}`) and ephemerals by session. Rookery does not hand out
/// when each session was last heard from, so a session is listed under the
/// latest time it can expire: now plus its timeout, rounded up to the next tick
/// as ZooKeeper's expiry buckets are, in ms since the member started.
fn dump(v: &ServerView) -> Vec<(String, J)> {
    let mut buckets: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    if matches!(v.mode, "leader" | "standalone") {
        let tick = i64::from(v.cfg.tick_time_ms.max(1));
        let now = v.uptime.as_millis() as i64;
        for (id, timeout) in &v.session_timeouts {
            let at = (now + i64::from(*timeout)) / tick * tick + tick;
            buckets.entry(at).or_default().push(*id);
        }
    }
    let expiry = buckets
        .into_iter()
        .map(|(at, mut ids)| {
            ids.sort_unstable();
            (
                at.to_string(),
                J::Arr(ids.into_iter().map(J::Int).collect()),
            )
        })
        .collect();
    let ephemerals = v
        .ephemerals
        .iter()
        .filter(|(_, paths)| !paths.is_empty())
        .map(|(id, paths)| (id.to_string(), J::strs(paths)))
        .collect();
    vec![
        f("expiry_time_to_session_ids", J::Obj(expiry)),
        f("session_id_to_ephemeral_paths", J::Obj(ephemerals)),
    ]
}

/// The tree digest at the last applied zxid. ZooKeeper lists the digests it
/// logged every 128 txns; Rookery computes the current one. Its digest is its
/// own (SHA-1 based, as in the `hash` word), not ZooKeeper's CRC32 one, hence
/// digest_version 0, which no ZooKeeper uses.
fn hash(v: &ServerView) -> Vec<(String, J)> {
    let digests = v
        .digest
        .map(|d| {
            J::Obj(vec![
                f("zxid", J::Int(v.zxid)),
                f("digest_version", J::Int(0)),
                f("digest", J::Int(d as i64)),
            ])
        })
        .into_iter()
        .collect();
    vec![f("digests", J::Arr(digests))]
}

fn leader(v: &ServerView) -> Vec<(String, J)> {
    if v.cfg.is_standalone() {
        // ZooKeeper's answer on a standalone server (its error field comes first).
        return vec![f("error", J::str("server is not initialized"))];
    }
    let leader_ip = v
        .leader
        .and_then(|id| v.cfg.servers.iter().find(|s| s.id == id))
        .map_or(String::new(), |s| s.host.clone());
    vec![
        f("is_leader", J::Bool(v.mode == "leader")),
        f("leader_id", J::Int(v.leader.map_or(-1, |id| id as i64))),
        f("leader_ip", J::Str(leader_ip)),
    ]
}

/// `mntr`'s keys without `zk_`, numbers as numbers.
async fn monitor(v: &ServerView) -> Result<Vec<(String, J)>, String> {
    let mut head = vec![
        ("version", super::version_line()),
        ("server_state", v.mode.to_string()),
    ];
    if let Some(peer) = &v.peer_state {
        head.push(("peer_state", peer.clone()));
    }
    head.push(("peer_epoch", v.epoch.to_string()));
    let metrics = v.metrics.clone();
    // Rendering sorts the summaries' windows: keep it off the async workers.
    let text = tokio::task::spawn_blocking(move || rookery_metrics::mntr::render(&metrics, &head))
        .await
        .map_err(|e| format!("rendering the metrics failed: {e}"))?;
    Ok(mntr_fields(&text))
}

/// `zk_key\tvalue` lines as JSON fields: integers as integers, other numbers as
/// numbers (as written: `1.1935`, `0.0`), anything else as a string.
fn mntr_fields(text: &str) -> Vec<(String, J)> {
    text.lines()
        .filter_map(|line| line.split_once('\t'))
        .map(|(key, value)| {
            let key = key.strip_prefix("zk_").unwrap_or(key);
            let json = match serde_json::from_str::<serde_json::Value>(value) {
                Ok(serde_json::Value::Number(n)) => match n.as_i64() {
                    Some(i) => J::Int(i),
                    None => J::Num(value.to_string()),
                },
                _ => J::str(value),
            };
            (key.to_string(), json)
        })
        .collect()
}

/// Observers as the leader sees them. Rookery's leader knows each learner's id,
/// whether it is in broadcast and the zxid it acknowledged: an entry has the
/// observer's configured quorum address, its sid and that zxid (ZooKeeper's
/// learner-handler counters are not kept).
fn observers(v: &ServerView) -> Vec<(String, J)> {
    let observers: Vec<_> = v.learners.iter().filter(|l| !l.voter).collect();
    let synced = observers.iter().filter(|l| l.synced).count();
    let list = observers
        .iter()
        .map(|l| {
            let addr = v
                .cfg
                .servers
                .iter()
                .find(|s| s.id == l.id)
                .map_or(String::new(), |s| host_port(&s.host, s.quorum_port));
            J::Obj(vec![
                f("remote_socket_address", J::Str(addr)),
                f("sid", J::Int(l.id as i64)),
                f("last_zxid", J::Int(l.acked)),
            ])
        })
        .collect();
    vec![
        f("synced_observers", J::Int(synced as i64)),
        f("observers", J::Arr(list)),
    ]
}

/// `server_stats` (`srvr`): ZooKeeper's ServerStats, plus proposal sizes on
/// the leader. Rookery does not measure response buffer sizes: those show
/// ZooKeeper's -1 for "none yet".
fn server_stats(v: &ServerView) -> Vec<(String, J)> {
    let m = &v.metrics;
    let buffers = |last: i64, min: i64, max: i64| {
        J::Obj(vec![
            f("last_buffer_size", J::Int(last)),
            f("min_buffer_size", J::Int(min)),
            f("max_buffer_size", J::Int(max)),
        ])
    };
    let dir_size = J::Int(storage_size(&v.cfg) as i64);
    let s = &v.stats;
    let stats = J::Obj(vec![
        f("packets_sent", J::Int(s.packets_sent as i64)),
        f("packets_received", J::Int(s.packets_received as i64)),
        f(
            "fsync_threshold_exceed_count",
            J::Int(m.fsync_threshold_exceed_count.get() as i64),
        ),
        f("client_response_stats", buffers(-1, -1, -1)),
        f("provider_null", J::Bool(false)),
        f("server_state", J::str(v.mode)),
        f("outstanding_requests", J::Int(v.outstanding as i64)),
        f("min_latency", J::Int(s.min_ms().round() as i64)),
        f(
            "avg_latency",
            J::Num(rookery_metrics::mntr::java_double(s.avg_ms())),
        ),
        f("max_latency", J::Int(s.max_ms().round() as i64)),
        f("data_dir_size", dir_size.clone()),
        f("log_dir_size", dir_size),
        f("last_processed_zxid", J::Int(v.zxid)),
        f(
            "num_alive_client_connections",
            J::Int(v.connections.len() as i64),
        ),
        f("auth_failed_count", J::Int(0)),
        f("non_mtlsremote_conn_count", J::Int(0)),
        f("non_mtlslocal_conn_count", J::Int(0)),
        f("uptime", J::Int(v.uptime.as_millis() as i64)),
    ]);
    let mut data = vec![
        f("version", J::Str(super::version_line())),
        f("read_only", J::Bool(v.mode == "read-only")),
        f("server_stats", stats),
        f("client_response", buffers(-1, -1, -1)),
    ];
    if v.mode == "leader" {
        data.push(f(
            "proposal_stats",
            buffers(
                m.last_proposal_size.get(),
                m.min_proposal_size.get(),
                m.max_proposal_size.get(),
            ),
        ));
    }
    data.push(f("node_count", J::Int(v.node_count as i64)));
    data
}

/// The voting members as zoo.cfg lists them (`{}` standalone). As in ZooKeeper,
/// only this member's own entry knows its client address unless a server line
/// gives one.
fn voting_view(c: &Config) -> Vec<(String, J)> {
    let mut config = Vec::new();
    if !c.is_standalone() {
        let mut voters: Vec<&ServerSpec> = c.servers.iter().filter(|s| !s.observer).collect();
        voters.sort_by_key(|s| s.id);
        for s in voters {
            let client = match &s.client {
                Some(spec) => client_spec_address(spec),
                None if Some(s.id) == c.my_id => own_client_address(c),
                None => String::new(),
            };
            config.push((
                s.id.to_string(),
                J::Obj(vec![
                    f(
                        "server_addresses",
                        J::Arr(vec![J::Str(host_port(&s.host, s.quorum_port))]),
                    ),
                    f(
                        "election_addresses",
                        J::Arr(vec![J::Str(host_port(&s.host, s.election_port))]),
                    ),
                    f("client_address", J::Str(client)),
                    f("learner_type", J::str("participant")),
                ]),
            ));
        }
    }
    vec![f("current_config", J::Obj(config))]
}

fn watches(v: &ServerView) -> Vec<(String, J)> {
    let mut by_session: BTreeMap<i64, Vec<String>> = BTreeMap::new();
    for (session, paths) in &v.watches_by_connection {
        let entry = by_session.entry(*session).or_default();
        for p in paths {
            if !entry.contains(p) {
                entry.push(p.clone());
            }
        }
    }
    let map = by_session
        .into_iter()
        .map(|(s, paths)| (s.to_string(), J::strs(&paths)))
        .collect();
    vec![f("session_id_to_watched_paths", J::Obj(map))]
}

fn watches_by_path(v: &ServerView) -> Vec<(String, J)> {
    let mut by_path: BTreeMap<&String, Vec<i64>> = BTreeMap::new();
    for (session, paths) in &v.watches_by_connection {
        for p in paths {
            let sessions = by_path.entry(p).or_default();
            if !sessions.contains(session) {
                sessions.push(*session);
            }
        }
    }
    let map = by_path
        .into_iter()
        .map(|(p, sessions)| {
            (
                p.clone(),
                J::Arr(sessions.into_iter().map(J::Int).collect()),
            )
        })
        .collect();
    vec![f("path_to_session_ids", J::Obj(map))]
}

/// ZooKeeper's `MultipleAddresses` for one address, as Jackson writes it.
fn multiple_addresses(host: &str, port: u16) -> J {
    let addr = host_port(host, port);
    let one = || J::Arr(vec![J::str(&addr)]);
    J::Obj(vec![
        f("empty", J::Bool(false)),
        f(
            "wildcard_addresses",
            J::Arr(vec![J::Str(format!("0.0.0.0:{port}"))]),
        ),
        f("all_ports", J::Arr(vec![J::Int(port.into())])),
        f("all_host_strings", J::Arr(vec![J::str(host)])),
        f("all_reachable_addresses_or_all", one()),
        f("reachable_or_one", J::str(&addr)),
        f("all_addresses", one()),
        f("all_reachable_addresses", one()),
        f("one", J::str(&addr)),
        f("reachable_address", J::str(&addr)),
    ])
}

/// The ZAB state of a quorum member; standalone and during an election
/// ZooKeeper has no quorum server and answers only `voting` and `zabstate`.
fn zabstate(v: &ServerView) -> Vec<(String, J)> {
    let c = &v.cfg;
    if c.is_standalone() || v.mode == "looking" {
        return vec![f("voting", J::Bool(false)), f("zabstate", J::str(""))];
    }
    let own = own_spec(c);
    let zxid = v.zxid;
    vec![
        f("myid", J::Int(c.my_id.unwrap_or(0) as i64)),
        f("is_leader", J::Bool(v.mode == "leader")),
        f(
            "quorum_address",
            own.map_or(J::Null, |s| multiple_addresses(&s.host, s.quorum_port)),
        ),
        f(
            "election_address",
            own.map_or(J::Null, |s| multiple_addresses(&s.host, s.election_port)),
        ),
        f("client_address", J::Str(own_client_address(c))),
        f("voting", J::Bool(own.is_some_and(|s| !s.observer))),
        f("last_zxid", J::Str(format!("0x{zxid:x}"))),
        f("zab_epoch", J::Int(zxid >> 32)),
        f("zab_counter", J::Int(zxid & 0xffff_ffff)),
        f("zabstate", J::str(v.zab_phase)),
    ]
}

/// ZooKeeper's `envi` keys that mean something here, as in the `envi` word.
fn environment() -> Vec<(String, J)> {
    let mut out = vec![
        f("zookeeper.version", J::Str(super::version_line())),
        f("host.name", J::Str(host_name())),
        f("rookery.version", J::str(env!("CARGO_PKG_VERSION"))),
        f("os.name", J::str(std::env::consts::OS)),
        f("os.arch", J::str(std::env::consts::ARCH)),
    ];
    if let Some(v) = os_version() {
        out.push(f("os.version", J::Str(v)));
    }
    for (key, var) in [("user.name", "USER"), ("user.home", "HOME")] {
        if let Ok(v) = std::env::var(var) {
            out.push(f(key, J::Str(v)));
        }
    }
    if let Ok(dir) = std::env::current_dir() {
        out.push(f("user.dir", J::Str(dir.display().to_string())));
    }
    out.push(f("process.id", J::Str(std::process::id().to_string())));
    out
}

/// Rookery's counterparts of the JVM's system properties, sorted by key as
/// ZooKeeper sorts them.
fn system_properties(c: &Config) -> Vec<(String, J)> {
    let mut props: BTreeMap<&str, String> = BTreeMap::new();
    props.insert("os.name", std::env::consts::OS.to_string());
    props.insert("os.arch", std::env::consts::ARCH.to_string());
    if let Some(v) = os_version() {
        props.insert("os.version", v);
    }
    props.insert("process.id", std::process::id().to_string());
    props.insert("rookery.config", c.file.display().to_string());
    props.insert("rookery.version", env!("CARGO_PKG_VERSION").to_string());
    if let Ok(dir) = std::env::current_dir() {
        props.insert("user.dir", dir.display().to_string());
    }
    if let Ok(v) = std::env::var("RUST_LOG") {
        props.insert("env.RUST_LOG", v);
    }
    props.into_iter().map(|(k, v)| f(k, J::Str(v))).collect()
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".into())
}

fn os_version() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .ok()
        .map(|v| v.trim().to_string())
}

fn epoch_millis(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// `host:port`, with an IPv6 host in brackets.
fn host_port(host: &str, port: u16) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

fn own_spec(c: &Config) -> Option<&ServerSpec> {
    c.servers.iter().find(|s| Some(s.id) == c.my_id)
}

/// The `;client` part of a server line as an address: `port` alone means all
/// interfaces.
fn client_spec_address(spec: &str) -> String {
    match spec.rsplit_once(':') {
        Some(_) => spec.to_string(),
        None => format!("0.0.0.0:{spec}"),
    }
}

/// The client port: `clientPort`, or the one this member's server line gives.
fn client_port(c: &Config) -> Option<u16> {
    c.client_port.or_else(|| {
        own_spec(c)
            .and_then(|s| s.client.as_deref())
            .and_then(|spec| spec.rsplit(':').next())
            .and_then(|p| p.trim().parse().ok())
    })
}

/// Where this member takes clients, as ZooKeeper shows it.
fn own_client_address(c: &Config) -> String {
    if c.client_port.is_none() {
        if let Some(spec) = own_spec(c).and_then(|s| s.client.as_deref()) {
            return client_spec_address(spec);
        }
    }
    let host = c.client_port_address.as_deref().unwrap_or("0.0.0.0");
    host_port(host, client_port(c).unwrap_or(0))
}

/// The bytes under the storage directory (`dirs`): Rookery keeps snapshots and
/// log together in RocksDB, so the data and log sizes are the same figure, as
/// the `dirs` word reports them.
fn storage_size(c: &Config) -> u64 {
    std::fs::read_dir(c.storage_dir())
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

/// `%XX` escapes decoded, as the servlet's path info is.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
            if let Some(b) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A JSON value, written as Jackson's default pretty printer writes it.
#[derive(Debug, Clone, PartialEq)]
enum J {
    Null,
    Bool(bool),
    Int(i64),
    /// A number as written (`1.1935`, `0.0`).
    Num(String),
    Str(String),
    Arr(Vec<J>),
    Obj(Vec<(String, J)>),
}

impl J {
    fn str(s: impl Into<String>) -> J {
        J::Str(s.into())
    }

    fn strs(items: &[String]) -> J {
        J::Arr(items.iter().map(|s| J::Str(s.clone())).collect())
    }

    /// `{`, `"key" : value` entries one a line indented two spaces a level,
    /// `}`; arrays on one line (`[ 1, 2 ]`); `{ }` and `[ ]` when empty.
    fn render(&self) -> String {
        let mut out = String::new();
        self.write(&mut out, 0);
        out
    }

    fn write(&self, out: &mut String, level: usize) {
        match self {
            J::Null => out.push_str("null"),
            J::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            J::Int(i) => {
                let _ = write!(out, "{i}");
            }
            J::Num(n) => out.push_str(n),
            J::Str(s) => push_string(out, s),
            J::Arr(items) if items.is_empty() => out.push_str("[ ]"),
            J::Arr(items) => {
                out.push_str("[ ");
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    item.write(out, level);
                }
                out.push_str(" ]");
            }
            J::Obj(fields) if fields.is_empty() => out.push_str("{ }"),
            J::Obj(fields) => {
                out.push('{');
                for (i, (key, value)) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push('\n');
                    indent(out, level + 1);
                    push_string(out, key);
                    out.push_str(" : ");
                    value.write(out, level + 1);
                }
                out.push('\n');
                indent(out, level);
                out.push('}');
            }
        }
    }
}

fn indent(out: &mut String, level: usize) {
    for _ in 0..level {
        out.push_str("  ");
    }
}

fn push_string(out: &mut String, s: &str) {
    // serde_json escapes as Jackson does: `"`, `\` and control characters.
    out.push_str(&serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into()));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_as_jacksons_pretty_printer() {
        let body = answer("ruok", None, vec![]);
        assert_eq!(body, "{\n  \"command\" : \"ruok\",\n  \"error\" : null\n}");
        let conns = J::Obj(vec![
            f(
                "connections",
                J::Arr(vec![J::Obj(vec![
                    f("a", J::Int(1)),
                    f("b", J::Arr(vec![J::str("x"), J::str("y")])),
                ])]),
            ),
            f("secure_connections", J::Arr(vec![])),
            f("m", J::Obj(vec![])),
            f("avg", J::Num("1.1935".into())),
        ]);
        assert_eq!(
            conns.render(),
            "{\n  \"connections\" : [ {\n    \"a\" : 1,\n    \"b\" : [ \"x\", \"y\" ]\n  } ],\n  \
             \"secure_connections\" : [ ],\n  \"m\" : { },\n  \"avg\" : 1.1935\n}"
        );
        assert_eq!(J::str("a\"b\n").render(), "\"a\\\"b\\n\"");
    }

    #[test]
    fn a_field_named_error_keeps_its_place_and_value() {
        let body = answer(
            "leader",
            None,
            vec![f("error", J::str("server is not initialized"))],
        );
        assert_eq!(
            body,
            "{\n  \"error\" : \"server is not initialized\",\n  \"command\" : \"leader\"\n}"
        );
    }

    #[test]
    fn aliases_resolve_to_primary_names_and_the_index_is_sorted() {
        assert_eq!(primary_name("mntr"), Some("monitor"));
        assert_eq!(primary_name("config"), Some("configuration"));
        assert_eq!(primary_name("envi"), Some("environment"));
        assert_eq!(primary_name("monitor/"), None);
        let names = primary_names();
        let pos = |n: &str| names.iter().position(|x| *x == n).unwrap();
        assert!(pos("stat_reset") < pos("stats"));
        assert!(pos("watch_summary") < pos("watches"));
        assert!(
            index().starts_with("<a href=\"/commands/configuration\">configuration</a>\n<br/>\n")
        );
    }

    #[test]
    fn mntr_lines_become_typed_fields() {
        let fields = mntr_fields(
            "zk_version\t3.8.4-rookery-0.1.0, built on rookery\nzk_znode_count\t5\n\
             zk_avg_latency\t1.1935\nzk_min_proposal_size\t-1\nzk_peer_state\tleading - broadcast\n",
        );
        assert_eq!(
            fields,
            vec![
                f("version", J::str("3.8.4-rookery-0.1.0, built on rookery")),
                f("znode_count", J::Int(5)),
                f("avg_latency", J::Num("1.1935".into())),
                f("min_proposal_size", J::Int(-1)),
                f("peer_state", J::str("leading - broadcast")),
            ]
        );
    }

    #[test]
    fn percent_escapes_are_decoded() {
        assert_eq!(percent_decode("no%20such"), "no such");
        assert_eq!(percent_decode("ruok"), "ruok");
        assert_eq!(percent_decode("a%2"), "a%2");
        assert_eq!(percent_decode("%zz"), "%zz");
    }
}
