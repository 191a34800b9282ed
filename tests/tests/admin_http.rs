//! ZooKeeper's AdminServer commands over HTTP (`/commands/<name>`), checked field
//! by field against what Apache ZooKeeper 3.8 answers (captures of a real 3.8
//! ensemble): on a standalone member, on the leader and a follower of a
//! 3-member ensemble, and on a member stuck in an election. Traffic comes from a
//! real client (zookeeper-client-rust).
//!
//! Debian's ZooKeeper lacks Jetty's servlet jar, so the harness turns its admin
//! server off: with `ROOKERY_TEST_TARGET=zk` these tests do nothing.

use rookery_tests::client::connect;
use rookery_tests::ensemble::Ensemble;
use rookery_tests::{free_port, http_get, Member, MemberOptions, Target};
use serde_json::{Map, Value};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};
use zookeeper_client as zk;

/// Bounds every wait: a hang fails the test instead of stalling the run.
const GUARD: Duration = Duration::from_secs(60);

const NOT_SERVING: &str = "This ZooKeeper instance is not currently serving requests";

/// Every primary name, as ZooKeeper's index lists them (sorted).
const PRIMARY: &[&str] = &[
    "configuration",
    "connection_stat_reset",
    "connections",
    "dirs",
    "dump",
    "environment",
    "hash",
    "initial_configuration",
    "is_read_only",
    "last_snapshot",
    "leader",
    "monitor",
    "observers",
    "ruok",
    "server_stats",
    "stat_reset",
    "stats",
    "system_properties",
    "voting_view",
    "watch_summary",
    "watches",
    "watches_by_path",
    "zabstate",
];

/// Aliases and the primary name they answer with.
const ALIASES: &[(&str, &str)] = &[
    ("conf", "configuration"),
    ("config", "configuration"),
    ("cons", "connections"),
    ("crst", "connection_stat_reset"),
    ("env", "environment"),
    ("envi", "environment"),
    ("icfg", "initial_configuration"),
    ("isro", "is_read_only"),
    ("lsnp", "last_snapshot"),
    ("lead", "leader"),
    ("mntr", "monitor"),
    ("obsr", "observers"),
    ("srvr", "server_stats"),
    ("stat", "stats"),
    ("srst", "stat_reset"),
    ("sysp", "system_properties"),
    ("wchc", "watches"),
    ("wchp", "watches_by_path"),
    ("wchs", "watch_summary"),
];

/// mntr keys every serving member has (ZooKeeper 3.8's `monitor` on a follower).
const MONITOR_KEYS: &[&str] = &[
    "version",
    "server_state",
    "ephemerals_count",
    "num_alive_connections",
    "avg_latency",
    "outstanding_requests",
    "znode_count",
    "global_sessions",
    "packets_sent",
    "packets_received",
    "watch_count",
    "min_latency",
    "max_latency",
    "max_file_descriptor_count",
    "open_file_descriptor_count",
    "approximate_data_size",
    "uptime",
];

/// mntr keys only the leader has.
const LEADER_MONITOR_KEYS: &[&str] = &[
    "learners",
    "synced_followers",
    "synced_non_voting_followers",
    "synced_observers",
    "pending_syncs",
    "last_proposal_size",
    "min_proposal_size",
    "max_proposal_size",
];

/// `server_stats.server_stats` as ZooKeeper 3.8 names its fields, in order.
const SERVER_STATS_FIELDS: &[&str] = &[
    "packets_sent",
    "packets_received",
    "fsync_threshold_exceed_count",
    "client_response_stats",
    "provider_null",
    "server_state",
    "outstanding_requests",
    "min_latency",
    "avg_latency",
    "max_latency",
    "data_dir_size",
    "log_dir_size",
    "last_processed_zxid",
    "num_alive_client_connections",
    "auth_failed_count",
    "non_mtlsremote_conn_count",
    "non_mtlslocal_conn_count",
    "uptime",
];

/// A connection in `connections` (`stats` has the first five).
const CONNECTION_FIELDS: &[&str] = &[
    "remote_socket_address",
    "interest_ops",
    "outstanding_requests",
    "packets_received",
    "packets_sent",
    "session_id",
    "last_operation",
    "established",
    "session_timeout",
    "last_cxid",
    "last_zxid",
    "last_response_time",
    "last_latency",
    "min_latency",
    "avg_latency",
    "max_latency",
];

fn skip() -> bool {
    Target::from_env() == Target::ApacheZk
}

/// A command's answer: the parsed object (serde_json's map sorts its keys) and
/// the body as sent, where the order of the fields is checked.
struct Reply {
    map: Map<String, Value>,
    body: String,
}

/// Shows the body as sent.
impl std::fmt::Debug for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.body)
    }
}

impl std::ops::Deref for Reply {
    type Target = Map<String, Value>;
    fn deref(&self) -> &Map<String, Value> {
        &self.map
    }
}

impl Reply {
    /// The top-level fields are exactly `want`, in that order.
    fn fields(&self, want: &[&str]) {
        same_keys(&self.map, want);
        in_order(&self.body, 0, 1, want);
    }

    /// The fields of the object under the top-level `parent` are exactly
    /// `want`, in that order.
    fn nested_fields(&self, parent: &str, want: &[&str]) {
        same_keys(object(&self.map, parent), want);
        let at = self
            .body
            .find(&format!("\n  \"{parent}\" : "))
            .unwrap_or_else(|| panic!("no {parent} in {}", self.body));
        in_order(&self.body, at, 2, want);
    }
}

/// `map` has exactly the keys `want` (in any order).
fn same_keys(map: &Map<String, Value>, want: &[&str]) {
    let mut have = keys(map);
    have.sort_unstable();
    let mut want = want.to_vec();
    want.sort_unstable();
    assert_eq!(have, want, "{map:?}");
}

/// Each of `want` appears as a field at nesting `level` (two spaces a level,
/// as Jackson indents) after the one before it, from byte `from` on.
fn in_order(body: &str, from: usize, level: usize, want: &[&str]) {
    let mut at = from;
    for key in want {
        let needle = format!("\n{}\"{key}\" : ", "  ".repeat(level));
        match body[at..].find(&needle) {
            Some(i) => at += i + needle.len(),
            None => panic!("{key} not in place (after {want:?} order) in {body}"),
        }
    }
}

/// `GET /commands/<name>`: HTTP 200, a JSON object with `command` and `error`
/// as ZooKeeper's CommandResponse has.
fn raw_command(addr: SocketAddr, name: &str) -> Reply {
    let (status, body) =
        http_get(addr, &format!("/commands/{name}")).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(status, 200, "{name}: {body}");
    let value: Value =
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{name}: not JSON ({e}): {body}"));
    let map = value.as_object().cloned().expect("a JSON object");
    assert!(map.contains_key("command"), "{name}: no command in {body}");
    assert!(map.contains_key("error"), "{name}: no error in {body}");
    // Pretty-printed as Jackson does: `"key" : value`, no trailing newline.
    assert!(
        body.starts_with("{\n  \"") && body.ends_with("\n}"),
        "{name}: {body}"
    );
    Reply { map, body }
}

/// A command that went well: `command` is `primary`, `error` is null.
fn command_as(addr: SocketAddr, name: &str, primary: &str) -> Reply {
    let map = raw_command(addr, name);
    assert_eq!(map["command"], primary, "{name}: {map:?}");
    assert_eq!(map["error"], Value::Null, "{name}: {map:?}");
    map
}

fn command(addr: SocketAddr, name: &str) -> Reply {
    command_as(addr, name, name)
}

/// The answer of a command while the member does not serve.
fn assert_not_serving(addr: SocketAddr, name: &str) {
    let map = raw_command(addr, name);
    // ZooKeeper names the command as it was called here, alias or not.
    assert_eq!(map["command"], name, "{map:?}");
    assert_eq!(map["error"], NOT_SERVING, "{name}: {map:?}");
    assert_eq!(map.len(), 2, "{name}: {map:?}");
}

fn int(map: &Map<String, Value>, key: &str) -> i64 {
    map.get(key)
        .and_then(Value::as_i64)
        .unwrap_or_else(|| panic!("{key} is not an integer in {map:?}"))
}

fn object<'a>(map: &'a Map<String, Value>, key: &str) -> &'a Map<String, Value> {
    map.get(key)
        .and_then(Value::as_object)
        .unwrap_or_else(|| panic!("{key} is not an object in {map:?}"))
}

fn array<'a>(map: &'a Map<String, Value>, key: &str) -> &'a Vec<Value> {
    map.get(key)
        .and_then(Value::as_array)
        .unwrap_or_else(|| panic!("{key} is not an array in {map:?}"))
}

fn keys(map: &Map<String, Value>) -> Vec<&str> {
    map.keys().map(String::as_str).collect()
}

/// A request by hand: the status line's code.
fn request_status(addr: SocketAddr, method: &str, path: &str) -> u16 {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n"
    )
    .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    raw.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("bad response: {raw}"))
}

fn open() -> zk::CreateOptions<'static> {
    zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all())
}

fn ephemeral() -> zk::CreateOptions<'static> {
    zk::CreateMode::Ephemeral.with_acls(zk::Acls::anyone_all())
}

/// The index, `/`, POST, unknown names, a trailing slash and a query string.
fn check_routing(addr: SocketAddr) {
    for path in ["/commands", "/commands/"] {
        let (status, body) = http_get(addr, path).unwrap();
        assert_eq!(status, 200, "{path}");
        let links: Vec<&str> = body.lines().filter(|l| l.starts_with("<a ")).collect();
        let want: Vec<String> = PRIMARY
            .iter()
            .map(|n| format!("<a href=\"/commands/{n}\">{n}</a>"))
            .collect();
        assert_eq!(links, want, "{path}: {body}");
        assert_eq!(body.matches("<br/>").count(), PRIMARY.len());
    }
    assert_eq!(http_get(addr, "/").unwrap().0, 404);
    assert_eq!(http_get(addr, "/nope").unwrap().0, 404);
    assert_eq!(request_status(addr, "POST", "/commands/ruok"), 405);
    assert_eq!(request_status(addr, "GET", "/commands/ruok"), 200);

    for name in ["no_such_command", "monitor/"] {
        let map = raw_command(addr, name);
        assert_eq!(map["command"], name);
        assert_eq!(map["error"], format!("Unknown command: {name}"));
        assert_eq!(map.len(), 2);
    }
    let map = command_as(addr, "ruok?x=1", "ruok");
    map.fields(&["command", "error"]);
    // (`lead` on a standalone member answers an error: checked there. The
    // resets are checked on their own, after the figures they reset.)
    for (alias, primary) in ALIASES {
        if !matches!(*alias, "srst" | "crst") {
            assert_eq!(raw_command(addr, alias)["command"], *primary, "{alias}");
        }
    }
}

fn check_monitor(addr: SocketAddr, state: &str) -> Reply {
    let map = command(addr, "monitor");
    for key in MONITOR_KEYS {
        assert!(map.contains_key(*key), "monitor lacks {key}: {map:?}");
    }
    assert!(keys(&map).iter().all(|k| !k.starts_with("zk_")));
    assert_eq!(map["server_state"], state);
    assert!(map["version"].as_str().unwrap().starts_with("3.8."));
    for key in ["znode_count", "watch_count", "packets_received", "uptime"] {
        assert!(map[key].is_i64(), "{key} is not an integer: {map:?}");
    }
    assert!(map["avg_latency"].is_number());
    assert!(int(&map, "znode_count") >= 3);
    assert!(int(&map, "num_alive_connections") >= 1);
    assert!(int(&map, "max_file_descriptor_count") > 0);
    let leads = state == "leader";
    for key in LEADER_MONITOR_KEYS {
        assert_eq!(map.contains_key(*key), leads, "{key} on a {state}");
    }
    assert!(command_as(addr, "mntr", "monitor").contains_key("znode_count"));
    map
}

fn check_server_stats(addr: SocketAddr, state: &str) -> Reply {
    let map = command(addr, "server_stats");
    let mut want = vec![
        "version",
        "read_only",
        "server_stats",
        "client_response",
        "node_count",
        "command",
        "error",
    ];
    if state == "leader" {
        want.insert(4, "proposal_stats");
        map.nested_fields(
            "proposal_stats",
            &["last_buffer_size", "min_buffer_size", "max_buffer_size"],
        );
        let proposals = object(&map, "proposal_stats");
        assert!(int(proposals, "max_buffer_size") > 0, "{proposals:?}");
    }
    map.fields(&want);
    assert_eq!(map["read_only"], false);
    assert!(int(&map, "node_count") >= 3);
    let stats = object(&map, "server_stats");
    map.nested_fields("server_stats", SERVER_STATS_FIELDS);
    assert_eq!(stats["server_state"], state);
    assert_eq!(stats["provider_null"], false);
    assert!(int(stats, "last_processed_zxid") > 0);
    assert!(int(stats, "num_alive_client_connections") >= 1);
    assert!(stats["avg_latency"].is_f64(), "{stats:?}");
    same_keys(
        object(stats, "client_response_stats"),
        &["last_buffer_size", "min_buffer_size", "max_buffer_size"],
    );

    let full = command(addr, "stats");
    let conns = array(&full, "connections");
    assert!(!conns.is_empty());
    for c in conns {
        same_keys(c.as_object().unwrap(), &CONNECTION_FIELDS[..5]);
    }
    let at = full.body.find("\"connections\" : [ {").unwrap();
    in_order(&full.body, at, 2, &CONNECTION_FIELDS[..5]);
    assert_eq!(array(&full, "secure_connections").len(), 0);
    assert_eq!(object(&full, "server_stats")["server_state"], state);
    map
}

/// The connection of `session` in `connections`.
fn connection_of(addr: SocketAddr, session: i64) -> Map<String, Value> {
    let map = command(addr, "connections");
    map.fields(&["connections", "secure_connections", "command", "error"]);
    let conns = array(&map, "connections");
    for c in conns {
        same_keys(c.as_object().unwrap(), CONNECTION_FIELDS);
    }
    in_order(&map.body, 0, 2, CONNECTION_FIELDS);
    conns
        .iter()
        .filter_map(Value::as_object)
        .find(|c| c["session_id"].as_i64() == Some(session))
        .cloned()
        .unwrap_or_else(|| panic!("session {session:#x} not in {conns:?}"))
}

fn check_watches(addr: SocketAddr, session: i64, path: &str) {
    let summary = command(addr, "watch_summary");
    summary.fields(&[
        "num_connections",
        "num_paths",
        "num_total_watches",
        "command",
        "error",
    ]);
    assert_eq!(int(&summary, "num_connections"), 1, "{summary:?}");
    assert_eq!(int(&summary, "num_paths"), 1, "{summary:?}");
    assert_eq!(int(&summary, "num_total_watches"), 1, "{summary:?}");

    let watches = command(addr, "watches");
    let by_session = object(&watches, "session_id_to_watched_paths");
    assert_eq!(by_session[&session.to_string()], serde_json::json!([path]));

    let by_path = command(addr, "watches_by_path");
    let by_path = object(&by_path, "path_to_session_ids");
    assert_eq!(by_path[path], serde_json::json!([session]));
}

fn check_configuration(addr: SocketAddr, member: &Member, my_id: i64) {
    let conf = command(addr, "configuration");
    conf.fields(&[
        "client_port",
        "data_dir",
        "data_log_dir",
        "tick_time",
        "max_client_cnxns",
        "min_session_timeout",
        "max_session_timeout",
        "server_id",
        "client_port_listen_backlog",
        "command",
        "error",
    ]);
    assert_eq!(int(&conf, "client_port"), i64::from(member.port()));
    assert_eq!(int(&conf, "tick_time"), 2000);
    assert_eq!(int(&conf, "max_client_cnxns"), 0);
    assert_eq!(int(&conf, "min_session_timeout"), 4000);
    assert_eq!(int(&conf, "max_session_timeout"), 40000);
    assert_eq!(int(&conf, "server_id"), my_id);
    assert_eq!(int(&conf, "client_port_listen_backlog"), -1);
    assert!(conf["data_dir"].as_str().unwrap().starts_with('/'));
    assert!(conf["data_log_dir"].as_str().unwrap().ends_with("datalog"));

    let icfg = command(addr, "initial_configuration");
    let text = icfg["initial_configuration"]
        .as_str()
        .expect("the zoo.cfg text");
    assert!(
        text.contains(&format!("clientPort={}\n", member.port())),
        "{text}"
    );
}

/// The commands that answer the same way on every role.
fn check_common(addr: SocketAddr) {
    let env = command(addr, "environment");
    for key in [
        "zookeeper.version",
        "host.name",
        "os.name",
        "os.arch",
        "user.dir",
    ] {
        assert!(env[key].is_string(), "environment lacks {key}: {env:?}");
    }
    let sysp = command(addr, "system_properties");
    let props: Vec<&str> = keys(&sysp)
        .into_iter()
        .filter(|k| !matches!(*k, "command" | "error"))
        .collect();
    // Sorted as ZooKeeper sorts them (the map is sorted: check the body).
    in_order(&sysp.body, 0, 1, &props);
    for key in ["rookery.version", "os.name", "process.id", "user.dir"] {
        assert!(
            sysp[key].is_string(),
            "system_properties lacks {key}: {sysp:?}"
        );
    }

    let dirs = command(addr, "dirs");
    dirs.fields(&["datadir_size", "logdir_size", "command", "error"]);
    assert!(int(&dirs, "datadir_size") > 0);
    assert!(int(&dirs, "logdir_size") > 0);

    let isro = command(addr, "is_read_only");
    isro.fields(&["read_only", "command", "error"]);
    assert_eq!(isro["read_only"], false);

    command(addr, "ruok").fields(&["command", "error"]);

    let zxid = int(
        object(&command(addr, "server_stats"), "server_stats"),
        "last_processed_zxid",
    );
    let snap = command(addr, "last_snapshot");
    snap.fields(&["zxid", "timestamp", "command", "error"]);
    let snap_zxid = i64::from_str_radix(snap["zxid"].as_str().unwrap(), 16).unwrap();
    assert!(snap_zxid >= zxid, "{snap:?} vs {zxid:#x}");
    assert!(int(&snap, "timestamp") > 1_600_000_000);

    let hash = command(addr, "hash");
    let digests = array(&hash, "digests");
    assert_eq!(digests.len(), 1, "{hash:?}");
    let d = digests[0].as_object().unwrap();
    same_keys(d, &["zxid", "digest_version", "digest"]);
    in_order(&hash.body, 0, 2, &["zxid", "digest_version", "digest"]);
    assert!(int(d, "zxid") >= zxid);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standalone_member_answers_every_command_as_zookeeper_does() {
    if skip() {
        return;
    }
    let member = Member::start();
    let addr = member.admin_addr();
    let client = connect(&member.connect_string()).await;
    let session = client.session_id().0;
    client.create("/app", b"a", &open()).await.unwrap();
    client.create("/app/e", b"", &ephemeral()).await.unwrap();
    let (_, _, _watch) = client.get_and_watch_data("/app").await.unwrap();

    check_routing(addr);
    check_monitor(addr, "standalone");
    check_server_stats(addr, "standalone");
    check_configuration(addr, &member, 1);
    check_common(addr);
    check_watches(addr, session, "/app");

    let monitor = command(addr, "monitor");
    assert_eq!(int(&monitor, "ephemerals_count"), 1);
    assert_eq!(int(&monitor, "watch_count"), 1);
    assert!(
        !monitor.contains_key("peer_state"),
        "standalone has no peer state"
    );

    let conn = connection_of(addr, session);
    assert_eq!(int(&conn, "session_timeout"), 10_000);
    assert!(conn["remote_socket_address"]
        .as_str()
        .unwrap()
        .starts_with("127.0.0.1:"));
    assert!(int(&conn, "last_zxid") > 0);

    let dump = command(addr, "dump");
    dump.fields(&[
        "expiry_time_to_session_ids",
        "session_id_to_ephemeral_paths",
        "command",
        "error",
    ]);
    let ephemerals = object(&dump, "session_id_to_ephemeral_paths");
    assert_eq!(
        ephemerals[&session.to_string()],
        serde_json::json!(["/app/e"])
    );
    let expiry = object(&dump, "expiry_time_to_session_ids");
    assert!(
        expiry
            .values()
            .any(|ids| ids.as_array().unwrap().contains(&Value::from(session))),
        "{expiry:?}"
    );

    // Standalone ZooKeeper has no quorum: these are its answers.
    let leader = raw_command(addr, "leader");
    leader.fields(&["error", "command"]);
    assert_eq!(leader["error"], "server is not initialized");
    assert_eq!(leader["command"], "leader");
    let zab = command(addr, "zabstate");
    zab.fields(&["voting", "zabstate", "command", "error"]);
    assert_eq!(zab["voting"], false);
    assert_eq!(zab["zabstate"], "");
    assert_eq!(
        object(&command(addr, "voting_view"), "current_config").len(),
        0
    );
    let observers = command(addr, "observers");
    assert_eq!(int(&observers, "synced_observers"), 0);
    assert_eq!(array(&observers, "observers").len(), 0);

    // stat_reset zeroes the request counters; connection_stat_reset a connection's.
    for _ in 0..20 {
        client.get_data("/app").await.unwrap();
    }
    let received = |addr: SocketAddr| {
        int(
            object(&command(addr, "server_stats"), "server_stats"),
            "packets_received",
        )
    };
    let before = received(addr);
    assert!(before >= 20, "{before}");
    command(addr, "stat_reset").fields(&["command", "error"]);
    assert!(
        received(addr) < before,
        "stat_reset left {}",
        received(addr)
    );

    let before = int(&connection_of(addr, session), "packets_received");
    assert!(before >= 20, "{before}");
    command(addr, "connection_stat_reset").fields(&["command", "error"]);
    let after = int(&connection_of(addr, session), "packets_received");
    assert!(after < before, "connection_stat_reset left {after}");
    command_as(addr, "srst", "stat_reset").fields(&["command", "error"]);
    command_as(addr, "crst", "connection_stat_reset").fields(&["command", "error"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_leader_and_a_follower_answer_by_their_role() {
    if skip() {
        return;
    }
    let ensemble = Ensemble::start(3);
    let deadline = Instant::now() + GUARD;
    let leader = loop {
        if let Some(l) = ensemble.leader() {
            break l;
        }
        assert!(Instant::now() < deadline, "no leader elected");
        std::thread::sleep(Duration::from_millis(100));
    };
    let follower = (leader + 1) % 3;
    let client = connect(&ensemble.members[follower].connect_string()).await;
    let session = client.session_id().0;
    client.create("/w", b"w", &open()).await.unwrap();
    client.create("/w/e", b"", &ephemeral()).await.unwrap();
    let (_, _, _watch) = client.get_and_watch_data("/w").await.unwrap();
    // Every member has applied the writes, and a client, before the checks.
    let mut clients = Vec::new();
    for m in &ensemble.members {
        let c = connect(&m.connect_string()).await;
        c.sync("/").await.unwrap();
        c.get_data("/w").await.unwrap();
        clients.push(c);
    }

    for (i, m) in ensemble.members.iter().enumerate() {
        let addr = m.admin_addr();
        let state = if i == leader { "leader" } else { "follower" };
        check_routing(addr);
        let monitor = check_monitor(addr, state);
        let peer = if i == leader {
            "leading - broadcast"
        } else {
            "following - broadcast"
        };
        assert_eq!(monitor["peer_state"], peer);
        if i == leader {
            assert_eq!(int(&monitor, "learners"), 2);
            assert_eq!(int(&monitor, "synced_followers"), 2);
        }
        check_server_stats(addr, state);
        check_configuration(addr, m, i as i64 + 1);
        check_common(addr);

        let lead = command(addr, "leader");
        lead.fields(&["is_leader", "leader_id", "leader_ip", "command", "error"]);
        assert_eq!(lead["is_leader"], i == leader);
        assert_eq!(int(&lead, "leader_id"), leader as i64 + 1);
        assert_eq!(lead["leader_ip"], "127.0.0.1");
        command_as(addr, "lead", "leader");

        let zab = command(addr, "zabstate");
        zab.fields(&[
            "myid",
            "is_leader",
            "quorum_address",
            "election_address",
            "client_address",
            "voting",
            "last_zxid",
            "zab_epoch",
            "zab_counter",
            "zabstate",
            "command",
            "error",
        ]);
        assert_eq!(int(&zab, "myid"), i as i64 + 1);
        assert_eq!(zab["is_leader"], i == leader);
        assert_eq!(zab["voting"], true);
        assert_eq!(zab["zabstate"], "broadcast");
        assert_eq!(zab["client_address"], format!("127.0.0.1:{}", m.port()));
        let zxid = (int(&zab, "zab_epoch") << 32) | int(&zab, "zab_counter");
        assert_eq!(zab["last_zxid"], format!("0x{zxid:x}"));
        assert!(int(&zab, "zab_epoch") >= 1);
        let quorum = object(&zab, "quorum_address");
        let one = quorum["one"].as_str().unwrap();
        assert!(one.starts_with("127.0.0.1:"), "{quorum:?}");
        assert_eq!(quorum["all_addresses"], serde_json::json!([one]));
        assert_eq!(quorum["empty"], false);

        let view = command(addr, "voting_view");
        let config = object(&view, "current_config");
        same_keys(config, &["1", "2", "3"]);
        in_order(&view.body, 0, 2, &["1", "2", "3"]);
        for (id, server) in config {
            let server = server.as_object().unwrap();
            same_keys(
                server,
                &[
                    "server_addresses",
                    "election_addresses",
                    "client_address",
                    "learner_type",
                ],
            );
            assert_eq!(server["learner_type"], "participant");
            assert_eq!(array(server, "server_addresses").len(), 1);
            // Only a member's own entry knows its client address.
            let own = *id == (i + 1).to_string();
            assert_eq!(server["client_address"] != "", own, "{server:?}");
        }

        let observers = command(addr, "observers");
        assert_eq!(int(&observers, "synced_observers"), 0);

        // The ephemeral is everywhere; session expiry only on the leader.
        let dump = command(addr, "dump");
        let ephemerals = object(&dump, "session_id_to_ephemeral_paths");
        assert_eq!(
            ephemerals[&session.to_string()],
            serde_json::json!(["/w/e"])
        );
        let expiry = object(&dump, "expiry_time_to_session_ids");
        assert_eq!(expiry.is_empty(), i != leader, "{expiry:?}");
    }

    // The client and its watch are on the follower.
    let addr = ensemble.members[follower].admin_addr();
    let conn = connection_of(addr, session);
    assert!(int(&conn, "packets_received") > 0);
    check_watches(addr, session, "/w");
    let leader_addr = ensemble.members[leader].admin_addr();
    let summary = command(leader_addr, "watch_summary");
    assert_eq!(int(&summary, "num_total_watches"), 0);
}

#[test]
fn a_member_in_an_election_answers_as_zookeeper_does() {
    if skip() {
        return;
    }
    // One member of three: it never finds a quorum.
    let extra = (1..=3)
        .map(|id| {
            (
                format!("server.{id}"),
                format!("127.0.0.1:{}:{}", free_port(), free_port()),
            )
        })
        .collect();
    let member = Member::start_with(MemberOptions {
        four_letter_words: "*".to_string(),
        extra,
        wait_ready: false,
        ..MemberOptions::default()
    });
    let addr = member.admin_addr();
    let deadline = Instant::now() + GUARD;
    while !http_get(addr, "/commands").is_ok_and(|(status, _)| status == 200) {
        assert!(Instant::now() < deadline, "admin server never answered");
        std::thread::sleep(Duration::from_millis(100));
    }

    // The index and unknown names answer as always.
    let (_, index) = http_get(addr, "/commands").unwrap();
    assert_eq!(index.matches("<a href=").count(), PRIMARY.len());
    let unknown = raw_command(addr, "no_such_command");
    assert_eq!(unknown["error"], "Unknown command: no_such_command");

    // Commands that need a running server say so, under the name called.
    for name in [
        "ruok",
        "configuration",
        "conf",
        "connections",
        "cons",
        "connection_stat_reset",
        "dirs",
        "dump",
        "hash",
        "initial_configuration",
        "is_read_only",
        "isro",
        "last_snapshot",
        "leader",
        "observers",
        "server_stats",
        "srvr",
        "stats",
        "stat_reset",
        "voting_view",
        "watch_summary",
        "watches",
        "watches_by_path",
        // ZooKeeper fails these two with HTTP 500 (a NullPointerException);
        // Rookery answers the error instead.
        "monitor",
        "mntr",
    ] {
        assert_not_serving(addr, name);
    }

    // These run without a server.
    let zab = command(addr, "zabstate");
    zab.fields(&["voting", "zabstate", "command", "error"]);
    assert_eq!(zab["voting"], false);
    assert_eq!(zab["zabstate"], "");
    let env = command_as(addr, "envi", "environment");
    assert!(env["zookeeper.version"].is_string());
    command(addr, "system_properties");
}
