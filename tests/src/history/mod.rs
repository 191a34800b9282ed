//! Jepsen-style histories: a workload of sessions that record every request as
//! invoked and (maybe) returned, and a pure checker that holds the history against
//! the members' logs (`rookery log-dump`) replayed through a small reference model.
//!
//! What the checker asserts (issue 8):
//! - every member's log is the same sequence of Txns, with no zxid holes;
//! - every acknowledged write is in it at its reply zxid, with its own path and
//!   value, and its result (version, error code) is what the model says;
//! - every read returned what the model holds at the read's reply zxid;
//! - writes are linearizable in zxid order (one acknowledged before another began
//!   has the smaller zxid);
//! - a session never sees zxids go back, across reconnects too;
//! - an indeterminate write (no reply) applied at most once;
//! - no ephemeral outlives its session's close;
//! - a data watch fires exactly once, with the type of the first change after
//!   it was set, before any reply at or past that change's zxid, also when the
//!   session moved to another member in between (setWatches).

pub mod client;
pub mod scenarios;

use client::{Failure, Returned, SessionClient};
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What a workload request did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Create,
    /// A persistent sequential create: `path` is the prefix asked for, the
    /// reply's `data` the name the server chose.
    CreateSequential,
    CreateEphemeral,
    SetData,
    /// multi [check(path, version), setData(path, value)]: all or nothing.
    CheckAndSet,
    Delete,
    GetData,
    /// getData that also sets a data watch.
    GetDataWatch,
    /// Not a request: a watch notification (its event type) for `path`, received
    /// before the reply of the request that follows it in the client's history.
    Event(i32),
    /// closeSession: its Txn removes the session's ephemerals.
    Close,
    /// Not a request: the client learned its session had expired (the server
    /// refused to reattach it). Its close must be in the log.
    Expired,
}

impl Kind {
    pub fn is_write(self) -> bool {
        !matches!(
            self,
            Kind::GetData | Kind::GetDataWatch | Kind::Event(_) | Kind::Expired
        )
    }
}

/// One request in the history.
#[derive(Debug, Clone)]
pub struct Op {
    pub client: usize,
    pub session: i64,
    pub kind: Kind,
    pub path: String,
    /// The value written (unique per request), empty for reads and deletes.
    pub value: Vec<u8>,
    /// The version a CheckAndSet expects (-1 for everything else).
    pub version: i32,
    /// Nanoseconds since the workload began.
    pub invoked: u64,
    /// When and what it returned; `None` = indeterminate (the connection broke).
    pub returned: Option<(u64, Returned)>,
}

/// Settings of a workload run.
#[derive(Debug, Clone)]
pub struct Workload {
    pub members: Vec<SocketAddr>,
    pub clients: usize,
    /// Clients `0..pinned` stay on one member each; the others move on failure.
    pub pinned: usize,
    /// Shared keys every client writes and reads.
    pub keys: usize,
    pub session_timeout_ms: i32,
}

/// The parent of every workload path.
pub const ROOT: &str = "/history";

pub fn key_path(k: usize) -> String {
    format!("{ROOT}/k{k}")
}

/// A running workload; `stop` ends it and returns the history.
pub struct Running {
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<Vec<Op>>>,
}

impl Running {
    /// Stops every client (each closes its session) and gathers the history.
    pub fn stop(self) -> Vec<Op> {
        self.stop.store(true, Ordering::SeqCst);
        let mut all = Vec::new();
        for t in self.threads {
            all.extend(t.join().expect("a workload client panicked"));
        }
        all.sort_by_key(|o| o.invoked);
        all
    }
}

/// Creates the workload's nodes (run once, before `start`).
pub fn prepare(w: &Workload) -> std::io::Result<()> {
    let mut c = SessionClient::open(w.members.clone(), 0, false, w.session_timeout_ms)?;
    let check = |r: Result<Returned, Failure>| match r {
        Ok(r) if r.err == 0 || r.err == -110 => Ok(()),
        other => Err(std::io::Error::other(format!("preparing: {other:?}"))),
    };
    check(c.create(ROOT, b"", false))?;
    for k in 0..w.keys {
        check(c.create(&key_path(k), b"init", false))?;
    }
    check(c.close())
}

/// Starts the clients, one thread each.
pub fn start(w: &Workload) -> Running {
    let stop = Arc::new(AtomicBool::new(false));
    let epoch = Instant::now();
    let threads = (0..w.clients)
        .map(|client| {
            let (w, stop) = (w.clone(), stop.clone());
            std::thread::spawn(move || run_client(&w, client, &stop, epoch))
        })
        .collect();
    Running { stop, threads }
}

/// A session for `client`, on its member (pinned) or any; after an expiry the
/// client goes on with a new one, as an application would.
fn new_session(w: &Workload, client: usize, stop: &AtomicBool) -> Option<SessionClient> {
    let deadline = Instant::now() + Duration::from_millis(w.session_timeout_ms as u64 * 4);
    loop {
        let opened = SessionClient::open(
            w.members.clone(),
            client % w.members.len(),
            client < w.pinned,
            w.session_timeout_ms,
        );
        match opened {
            Ok(s) => return Some(s),
            Err(_) if Instant::now() < deadline && !stop.load(Ordering::SeqCst) => {
                std::thread::sleep(Duration::from_millis(200))
            }
            Err(_) => return None,
        }
    }
}

fn run_client(w: &Workload, client: usize, stop: &AtomicBool, epoch: Instant) -> Vec<Op> {
    let mut ops = Vec::new();
    let Some(mut session) = new_session(w, client, stop) else {
        return ops;
    };
    let mut rng = 0x2545_f491_4f6c_dd1d_u64 ^ (client as u64 + 1).wrapping_mul(0x9e37_79b9);
    let mut next = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut mine: Vec<String> = Vec::new();
    // The version this client last saw of each key, for its compare-and-sets.
    let mut seen_version: HashMap<String, i32> = HashMap::new();
    let mut n = 0u64;
    while !stop.load(Ordering::SeqCst) {
        n += 1;
        let value = format!("c{client}-{n}").into_bytes();
        let roll = next() % 100;
        let (kind, path) = match roll {
            0..=19 => (Kind::Create, format!("{ROOT}/c{client}-{n}")),
            20..=24 => (Kind::CreateSequential, format!("{ROOT}/s{client}-")),
            25..=29 => (Kind::CreateEphemeral, format!("{ROOT}/e{client}-{n}")),
            30..=46 => (Kind::SetData, key_path((next() as usize) % w.keys)),
            47..=54 => (Kind::CheckAndSet, key_path((next() as usize) % w.keys)),
            55..=64 if !mine.is_empty() => {
                let i = (next() as usize) % mine.len();
                (Kind::Delete, mine.swap_remove(i))
            }
            65..=79 => (Kind::GetDataWatch, key_path((next() as usize) % w.keys)),
            _ => (Kind::GetData, key_path((next() as usize) % w.keys)),
        };
        let expected = if kind == Kind::CheckAndSet {
            seen_version.get(&path).copied().unwrap_or(0)
        } else {
            -1
        };
        let invoked = epoch.elapsed().as_nanos() as u64;
        let result = match kind {
            Kind::Create => session.create(&path, &value, false),
            Kind::CreateSequential => session.create_with_flags(&path, &value, 2),
            Kind::CheckAndSet => session.check_and_set(&path, expected, &value),
            Kind::CreateEphemeral => session.create(&path, &value, true),
            Kind::SetData => session.set_data(&path, &value, -1),
            Kind::Delete => session.delete(&path, -1),
            Kind::GetData => session.get_data(&path, false),
            Kind::GetDataWatch => session.get_data(&path, true),
            // Closing ends the loop (below); expiry and events are observed, never picked.
            Kind::Close | Kind::Expired | Kind::Event(_) => break,
        };
        take_events(&mut session, &mut ops, client, invoked);
        let mut op = Op {
            client,
            session: session.session_id,
            kind,
            path: path.clone(),
            value: if matches!(kind, Kind::Delete | Kind::GetData | Kind::GetDataWatch) {
                Vec::new()
            } else {
                value
            },
            version: expected,
            invoked,
            returned: None,
        };
        match result {
            Ok(r) => {
                match (kind, r.err, &r.data) {
                    (Kind::Create, 0, _) => mine.push(path.clone()),
                    (Kind::CreateSequential, 0, Some(name)) => {
                        mine.push(String::from_utf8_lossy(name).into_owned())
                    }
                    _ => {}
                }
                if let (
                    Some(v),
                    Kind::GetData | Kind::GetDataWatch | Kind::SetData | Kind::CheckAndSet,
                ) = (r.version, kind)
                {
                    seen_version.insert(path, v);
                }
                op.returned = Some((epoch.elapsed().as_nanos() as u64, r));
                ops.push(op);
            }
            Err(Failure::Indeterminate(_)) => {
                ops.push(op);
                let patience = Duration::from_millis(w.session_timeout_ms as u64 * 4);
                match session.reconnect(patience) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotConnected => {
                        ops.push(expired(client, session.session_id, epoch));
                        match new_session(w, client, stop) {
                            Some(s) => session = s,
                            None => return ops,
                        }
                    }
                    Err(_) => return ops,
                }
            }
            Err(Failure::Expired) => {
                ops.push(op);
                ops.push(expired(client, session.session_id, epoch));
                match new_session(w, client, stop) {
                    Some(s) => session = s,
                    None => return ops,
                }
            }
        }
    }
    let invoked = epoch.elapsed().as_nanos() as u64;
    let closing = session.close();
    take_events(&mut session, &mut ops, client, invoked);
    let mut op = Op {
        client,
        session: session.session_id,
        kind: Kind::Close,
        path: String::new(),
        value: Vec::new(),
        version: -1,
        invoked,
        returned: None,
    };
    if let Ok(r) = closing {
        op.returned = Some((epoch.elapsed().as_nanos() as u64, r));
    }
    ops.push(op);
    ops
}

/// Moves the notifications the client received into the history, stamped with
/// the invocation time of the request whose reply they preceded (the history is
/// stably sorted by that time, so they stay before it).
fn take_events(session: &mut SessionClient, ops: &mut Vec<Op>, client: usize, invoked: u64) {
    for (event, path) in session.events.drain(..) {
        ops.push(Op {
            client,
            session: session.session_id,
            kind: Kind::Event(event),
            path,
            value: Vec::new(),
            version: -1,
            invoked,
            returned: None,
        });
    }
}

/// The record of a client learning its session expired.
fn expired(client: usize, session: i64, epoch: Instant) -> Op {
    let at = epoch.elapsed().as_nanos() as u64;
    Op {
        client,
        session,
        kind: Kind::Expired,
        path: String::new(),
        value: Vec::new(),
        version: -1,
        invoked: at,
        returned: None,
    }
}

// ------------------------------------------------------------------ the checker

/// One Txn as `rookery log-dump` prints it.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub zxid: i64,
    pub session: i64,
    pub json: serde_json::Value,
}

/// Parses a member's `rookery log-dump` output (the header line is skipped).
pub fn parse_dump(text: &str) -> Result<Vec<Entry>, String> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate().skip(1) {
        let json: serde_json::Value =
            serde_json::from_str(line).map_err(|e| format!("dump line {}: {e}", i + 1))?;
        let zxid = json["zxid"]
            .as_i64()
            .ok_or(format!("dump line {}: no zxid", i + 1))?;
        let session = json["session"].as_i64().unwrap_or(0);
        out.push(Entry {
            zxid,
            session,
            json,
        });
    }
    Ok(out)
}

/// A node in the reference model.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Node {
    data: Vec<u8>,
    version: i32,
    owner: i64,
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .filter_map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok())
        .collect()
}

fn data_of(v: &serde_json::Value) -> Vec<u8> {
    v["data"].as_str().map(unhex).unwrap_or_default()
}

/// The reference model: the tree of the workload's paths, and each path's history.
#[derive(Default)]
struct Model {
    nodes: HashMap<String, Node>,
    /// path → (zxid, state after it), in zxid order.
    history: HashMap<String, Vec<(i64, Option<Node>)>>,
    closed_sessions: Vec<i64>,
}

impl Model {
    fn set(&mut self, path: &str, zxid: i64, node: Option<Node>) {
        match &node {
            Some(n) => self.nodes.insert(path.to_string(), n.clone()),
            None => self.nodes.remove(path),
        };
        self.history
            .entry(path.to_string())
            .or_default()
            .push((zxid, node));
    }

    fn apply(
        &mut self,
        zxid: i64,
        session: i64,
        t: &serde_json::Value,
        problems: &mut Vec<String>,
    ) {
        let path = t["path"].as_str().unwrap_or("");
        match t["type"].as_str().unwrap_or("") {
            "create" => {
                if self.nodes.contains_key(path) {
                    problems.push(format!("0x{zxid:x}: create of {path}, which exists"));
                }
                let owner = t["owner"].as_i64().unwrap_or(0);
                self.set(
                    path,
                    zxid,
                    Some(Node {
                        data: data_of(t),
                        version: 0,
                        owner,
                    }),
                );
            }
            "delete" => {
                if !self.nodes.contains_key(path) {
                    problems.push(format!("0x{zxid:x}: delete of {path}, which is absent"));
                }
                self.set(path, zxid, None);
            }
            "set_data" => match self.nodes.get(path).cloned() {
                Some(mut n) => {
                    n.data = data_of(t);
                    n.version += 1;
                    self.set(path, zxid, Some(n));
                }
                None => problems.push(format!("0x{zxid:x}: set_data of absent {path}")),
            },
            "close_session" => {
                let owned: Vec<String> = self
                    .nodes
                    .iter()
                    .filter(|(_, n)| n.owner == session && session != 0)
                    .map(|(p, _)| p.clone())
                    .collect();
                for p in owned {
                    self.set(&p, zxid, None);
                }
                self.closed_sessions.push(session);
            }
            "multi" => {
                if let Some(ops) = t["ops"].as_array() {
                    for op in ops {
                        self.apply(zxid, session, op, problems);
                    }
                }
            }
            _ => {}
        }
    }

    /// The first change to `path` after `zxid`, and the data-watch event it fires
    /// (NodeDataChanged, or NodeDeleted).
    fn first_change_after(&self, path: &str, zxid: i64) -> Option<(i64, i32)> {
        let (z, node) = self.history.get(path)?.iter().find(|(z, _)| *z > zxid)?;
        Some((*z, if node.is_some() { 3 } else { 2 }))
    }

    /// The state of `path` just before `zxid` applied.
    fn before(&self, path: &str, zxid: i64) -> Option<&Node> {
        self.at(path, zxid - 1)
    }

    /// The state of `path` as of `zxid`.
    fn at(&self, path: &str, zxid: i64) -> Option<&Node> {
        self.history
            .get(path)?
            .iter()
            .rev()
            .find(|(z, _)| *z <= zxid)
            .and_then(|(_, n)| n.as_ref())
    }
}

/// What the checker found; empty `problems` means the history is valid.
#[derive(Debug, Default)]
pub struct Verdict {
    pub problems: Vec<String>,
    pub acknowledged_writes: usize,
    pub reads: usize,
    pub indeterminate: usize,
    pub txns: usize,
    /// Sessions a client found expired.
    pub expired_sessions: usize,
    /// Sequential creates in the log under the workload's parent.
    pub sequential_creates: usize,
    /// Logs that begin after the fullest one's start (members synced by SNAP).
    pub logs_starting_later: usize,
    /// Data watches set (acknowledged) and watch notifications received.
    pub watches_set: usize,
    pub watch_events: usize,
}

const NO_NODE: i32 = -101;
const BAD_VERSION: i32 = -103;
const NODE_EXISTS: i32 = -110;

/// The 10-digit counter ZooKeeper appends to a sequential node's name.
fn sequence_number(path: &str) -> Option<u64> {
    let tail = path.get(path.len().checked_sub(10)?..)?;
    if tail.bytes().all(|b| b.is_ascii_digit()) {
        tail.parse().ok()
    } else {
        None
    }
}

/// A compare-and-set multi: its result must be what the model says of the
/// version it expected, and the log must hold the same outcome: the two ops
/// applied, or a multi error with the same per-op codes.
fn check_cas(
    op: &Op,
    r: &client::Returned,
    t: &serde_json::Value,
    model: &Model,
    p: &mut Vec<String>,
) {
    let zxid = r.zxid;
    let before = model.before(&op.path, zxid).map(|n| n.version);
    let should_pass = before == Some(op.version);
    let passed = r.err == 0 && !r.results.is_empty() && r.results.iter().all(|c| *c == 0);
    let ty = t["type"].as_str().unwrap_or("");
    if passed != should_pass {
        p.push(format!(
            "check-and-set of {} expecting v{} at 0x{zxid:x}: answered {:?}, but the version \
             before it was {before:?}",
            op.path, op.version, r.results
        ));
        return;
    }
    if passed {
        let ops = t["ops"].as_array().map(Vec::as_slice).unwrap_or_default();
        let logged = ty == "multi"
            && ops.len() == 2
            && ops[0]["type"] == "check"
            && ops[1]["type"] == "set_data"
            && ops[1]["path"].as_str() == Some(op.path.as_str())
            && data_of(&ops[1]) == op.value;
        let version = model.at(&op.path, zxid).map(|n| n.version);
        if !logged || r.version != version {
            p.push(format!(
                "check-and-set of {} acknowledged at 0x{zxid:x} with v{:?}, the log has {t} \
                 (model v{version:?})",
                op.path, r.version
            ));
        }
    } else {
        let codes: Vec<i64> = t["codes"]
            .as_array()
            .map(|c| c.iter().filter_map(serde_json::Value::as_i64).collect())
            .unwrap_or_default();
        let answered: Vec<i64> = r.results.iter().map(|c| *c as i64).collect();
        if ty != "multi_error"
            || codes != answered
            || answered.first() != Some(&(BAD_VERSION as i64))
        {
            p.push(format!(
                "failed check-and-set of {} at 0x{zxid:x} answered {answered:?}, the log has {t}",
                op.path
            ));
        }
    }
}

/// Checks a history against every member's log.
pub fn check(history: &[Op], logs: &[Vec<Entry>]) -> Verdict {
    let mut v = Verdict::default();
    let p = &mut v.problems;

    // 1. The members' logs are one and the same, without holes. A member that
    // was brought up to date by SNAP holds only what followed the snapshot: its
    // log must then be exactly the end of the fullest one.
    let Some(reference) = logs
        .iter()
        .min_by_key(|l| (l.first().map_or(i64::MAX, |e| e.zxid), usize::MAX - l.len()))
    else {
        p.push("no logs to check".into());
        return v;
    };
    for (m, log) in logs.iter().enumerate() {
        let start = match log.first() {
            None if reference.is_empty() => continue,
            None => {
                p.push(format!("member {m}'s log is empty"));
                continue;
            }
            Some(first) => match reference.binary_search_by_key(&first.zxid, |e| e.zxid) {
                Ok(i) => i,
                Err(_) => {
                    p.push(format!(
                        "member {m}'s log starts at 0x{:x}, which the fullest log does not hold",
                        first.zxid
                    ));
                    continue;
                }
            },
        };
        if start > 0 {
            v.logs_starting_later += 1;
        }
        let tail = &reference[start..];
        if log.as_slice() != tail {
            let first = log
                .iter()
                .zip(tail)
                .find(|(a, b)| a != b)
                .map(|(a, b)| format!("first difference at 0x{:x} vs 0x{:x}", a.zxid, b.zxid))
                .unwrap_or_else(|| format!("{} vs {} entries", log.len(), tail.len()));
            p.push(format!(
                "member {m}'s log differs from the fullest one: {first}"
            ));
        }
    }
    for pair in reference.windows(2) {
        let (a, b) = (pair[0].zxid, pair[1].zxid);
        let same_epoch = a >> 32 == b >> 32;
        if (same_epoch && b != a + 1)
            || (!same_epoch && (b & 0xffff_ffff) != 1 && b >> 32 < a >> 32)
        {
            p.push(format!("zxid hole or disorder: 0x{a:x} then 0x{b:x}"));
        }
    }
    v.txns = reference.len();

    // 2. Replay through the model.
    let mut model = Model::default();
    let mut by_zxid: BTreeMap<i64, &Entry> = BTreeMap::new();
    for e in reference {
        model.apply(e.zxid, e.session, &e.json, p);
        by_zxid.insert(e.zxid, e);
    }

    // 3. Every returned request against the log and the model.
    let mut applied_values: HashMap<Vec<u8>, usize> = HashMap::new();
    for e in reference {
        collect_values(&e.json, &mut applied_values);
    }
    for op in history {
        if matches!(op.kind, Kind::Event(_)) {
            continue;
        }
        if op.kind == Kind::Expired {
            v.expired_sessions += 1;
            let closed = reference.iter().find(|e| {
                e.session == op.session && e.json["type"].as_str() == Some("close_session")
            });
            match closed {
                None => p.push(format!(
                    "session 0x{:x} was refused as expired, but no closeSession for it is in the log",
                    op.session
                )),
                Some(close) => {
                    let later = history.iter().find(|o| {
                        o.session == op.session
                            && o.returned.as_ref().is_some_and(|(_, r)| r.zxid > close.zxid)
                    });
                    if let Some(o) = later {
                        p.push(format!(
                            "session 0x{:x} was closed at 0x{:x} but answered {:?} of {} after it",
                            op.session, close.zxid, o.kind, o.path
                        ));
                    }
                }
            }
            continue;
        }
        let Some((_, r)) = &op.returned else {
            if op.kind.is_write() {
                v.indeterminate += 1;
                if !op.value.is_empty() && applied_values.get(&op.value).copied().unwrap_or(0) > 1 {
                    p.push(format!(
                        "indeterminate {:?} of {} applied twice",
                        op.kind, op.path
                    ));
                }
            }
            continue;
        };
        if matches!(op.kind, Kind::GetData | Kind::GetDataWatch) {
            v.reads += 1;
            let want = model.at(&op.path, r.zxid);
            match (r.err, want) {
                (0, Some(n)) if r.data.as_deref() == Some(n.data.as_slice()) && r.version == Some(n.version) => {}
                (NO_NODE, None) => {}
                (err, want) => p.push(format!(
                    "read of {} by client {} at 0x{:x}: got err {err} data {:?} v{:?}, the log says {:?}",
                    op.path,
                    op.client,
                    r.zxid,
                    r.data.as_deref().map(String::from_utf8_lossy),
                    r.version,
                    want.map(|n| (String::from_utf8_lossy(&n.data).into_owned(), n.version))
                )),
            }
            continue;
        }
        v.acknowledged_writes += 1;
        let Some(entry) = by_zxid.get(&r.zxid) else {
            p.push(format!(
                "acknowledged {:?} of {} (client {}, zxid 0x{:x}, err {}) is in no log: lost",
                op.kind, op.path, op.client, r.zxid, r.err
            ));
            continue;
        };
        if entry.session != op.session {
            p.push(format!(
                "{:?} of {} acknowledged at 0x{:x}, but that Txn is session 0x{:x}'s, not 0x{:x}'s",
                op.kind, op.path, r.zxid, entry.session, op.session
            ));
            continue;
        }
        let t = &entry.json;
        let ty = t["type"].as_str().unwrap_or("");
        if op.kind == Kind::CreateSequential && r.err == NODE_EXISTS {
            p.push(format!(
                "sequential create of {} answered NODEEXISTS (ZOOKEEPER-1046)",
                op.path
            ));
        }
        if op.kind == Kind::CheckAndSet {
            check_cas(op, r, t, &model, p);
            continue;
        }
        if r.err != 0 {
            if ty != "error" || t["code"].as_i64() != Some(r.err as i64) {
                p.push(format!(
                    "{:?} of {} failed with {} at 0x{:x}, but the log has {t}",
                    op.kind, op.path, r.err, r.zxid
                ));
            }
            continue;
        }
        let expected_type = match op.kind {
            Kind::Create | Kind::CreateEphemeral | Kind::CreateSequential => "create",
            Kind::CheckAndSet => "multi",
            Kind::SetData => "set_data",
            Kind::Delete => "delete",
            Kind::Close => "close_session",
            Kind::GetData | Kind::GetDataWatch | Kind::Event(_) | Kind::Expired => "",
        };
        let logged_path = t["path"].as_str().unwrap_or("");
        let path_matches = match op.kind {
            // The name the server chose, under the prefix asked for.
            Kind::CreateSequential => {
                r.data.as_deref() == Some(logged_path.as_bytes())
                    && logged_path.starts_with(op.path.as_str())
                    && sequence_number(logged_path).is_some()
            }
            _ => logged_path == op.path,
        };
        let matches = ty == expected_type
            && (op.kind == Kind::Close
                || (path_matches && (op.kind == Kind::Delete || data_of(t) == op.value)));
        if !matches {
            p.push(format!(
                "{:?} of {} acknowledged at 0x{:x}, but the log has {t} there",
                op.kind, op.path, r.zxid
            ));
        }
        if op.kind == Kind::SetData {
            let want = model.at(&op.path, r.zxid).map(|n| n.version);
            if r.version != want || r.mzxid != Some(r.zxid) {
                p.push(format!(
                    "set_data of {} at 0x{:x} returned version {:?} mzxid {:?}, the log says {want:?}",
                    op.path, r.zxid, r.version, r.mzxid
                ));
            }
        }
    }

    // 4. Writes are linearizable in zxid order.
    let mut writes: Vec<(u64, u64, i64)> = history
        .iter()
        .filter(|o| o.kind.is_write())
        .filter_map(|o| o.returned.as_ref().map(|(t, r)| (o.invoked, *t, r.zxid)))
        .collect();
    let mut by_return = writes.clone();
    by_return.sort_by_key(|w| w.1);
    writes.sort_by_key(|w| w.0);
    let mut max_before = i64::MIN;
    let mut i = 0;
    for &(invoked, _, zxid) in &writes {
        while i < by_return.len() && by_return[i].1 < invoked {
            max_before = max_before.max(by_return[i].2);
            i += 1;
        }
        if zxid <= max_before {
            p.push(format!(
                "write at 0x{zxid:x} began after a write at 0x{max_before:x} was acknowledged: not linearizable"
            ));
        }
    }

    // 5. A session's zxids never go back.
    let mut last: HashMap<i64, i64> = HashMap::new();
    let mut returns: Vec<(&Op, u64, i64)> = history
        .iter()
        .filter_map(|o| o.returned.as_ref().map(|(t, r)| (o, *t, r.zxid)))
        .collect();
    returns.sort_by_key(|r| r.1);
    for (op, _, zxid) in returns {
        let seen = last.entry(op.session).or_insert(zxid);
        if zxid < *seen {
            p.push(format!(
                "session 0x{:x} saw 0x{zxid:x} after 0x{:x}: time went back",
                op.session, *seen
            ));
        }
        *seen = (*seen).max(zxid);
    }

    // 6. Sequential names under the workload's parent only ever grow.
    let mut last_sequence: Option<(i64, u64)> = None;
    for e in reference {
        let path = e.json["path"].as_str().unwrap_or("");
        if e.json["type"] != "create" || !path.starts_with(&format!("{ROOT}/s")) {
            continue;
        }
        let Some(n) = sequence_number(path) else {
            continue;
        };
        if let Some((z, m)) = last_sequence {
            if n <= m {
                p.push(format!(
                    "sequential {path} at 0x{:x} does not follow {m} (at 0x{z:x})",
                    e.zxid
                ));
            }
        }
        last_sequence = Some((e.zxid, n));
        v.sequential_creates += 1;
    }

    // 7. Data watches.
    check_watches(history, &model, &mut v);
    let p = &mut v.problems;

    // 8. No ephemeral outlives its session's close.
    for (path, n) in &model.nodes {
        if n.owner != 0 && model.closed_sessions.contains(&n.owner) {
            p.push(format!("{path} outlived its session 0x{:x}", n.owner));
        }
    }
    v
}

/// C-WATCH for one-shot data watches, client by client in history order: a watch
/// set at reply zxid r on a path fires once, with the type of the path's first
/// change after r, and before any reply of that session at or past the change.
/// A watch asked for by a request without a reply may or may not be set: its
/// event is allowed, never required.
fn check_watches(history: &[Op], model: &Model, v: &mut Verdict) {
    let mut clients: BTreeMap<usize, Vec<&Op>> = BTreeMap::new();
    for op in history {
        clients.entry(op.client).or_default().push(op);
    }
    for (client, ops) in clients {
        // path → the zxid the watch was set at (the earliest, if set again).
        let mut set: BTreeMap<&str, i64> = BTreeMap::new();
        let mut maybe: std::collections::BTreeSet<&str> = Default::default();
        for op in ops {
            if let Kind::Event(event) = op.kind {
                v.watch_events += 1;
                if let Some(r) = set.remove(op.path.as_str()) {
                    match model.first_change_after(&op.path, r) {
                        Some((_, want)) if want == event => {}
                        want => v.problems.push(format!(
                            "client {client}: event {event} for {} (watch set at 0x{r:x}), \
                             but the first change after it is {want:?}",
                            op.path
                        )),
                    }
                } else if !maybe.remove(op.path.as_str()) {
                    v.problems.push(format!(
                        "client {client}: event {event} for {}, which had no watch set: \
                         fired twice or out of nowhere",
                        op.path
                    ));
                }
                continue;
            }
            let Some((_, r)) = &op.returned else {
                if op.kind == Kind::GetDataWatch {
                    maybe.insert(op.path.as_str());
                }
                if op.kind == Kind::Expired {
                    set.clear();
                }
                continue;
            };
            let missed: Vec<(&str, i64, i64)> = set
                .iter()
                .filter_map(|(p, at)| {
                    let (change, _) = model.first_change_after(p, *at)?;
                    (change <= r.zxid).then_some((*p, *at, change))
                })
                .collect();
            for (path, at, change) in missed {
                set.remove(path);
                v.problems.push(format!(
                    "client {client}: the watch on {path} set at 0x{at:x} did not fire \
                     for the change at 0x{change:x} before a reply at 0x{:x} ({:?})",
                    r.zxid, op.kind
                ));
            }
            if op.kind == Kind::GetDataWatch && r.err == 0 {
                set.entry(op.path.as_str()).or_insert(r.zxid);
                v.watches_set += 1;
            }
        }
    }
}

/// How often each written value is in the log (values are unique per request,
/// so more than once means a request applied twice).
fn collect_values(t: &serde_json::Value, out: &mut HashMap<Vec<u8>, usize>) {
    match t["type"].as_str() {
        Some("create") | Some("set_data") => {
            *out.entry(data_of(t)).or_default() += 1;
        }
        Some("multi") => {
            for op in t["ops"].as_array().into_iter().flatten() {
                collect_values(op, out);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entry(zxid: i64, session: i64, json: serde_json::Value) -> Entry {
        Entry {
            zxid,
            session,
            json,
        }
    }

    fn hex(s: &str) -> String {
        s.bytes().map(|b| format!("{b:02x}")).collect()
    }

    fn write(kind: Kind, path: &str, value: &str, at: (u64, u64), zxid: i64, session: i64) -> Op {
        Op {
            client: 0,
            session,
            kind,
            path: path.into(),
            value: value.as_bytes().to_vec(),
            version: -1,
            invoked: at.0,
            returned: Some((
                at.1,
                Returned {
                    zxid,
                    err: 0,
                    data: None,
                    version: (kind == Kind::SetData).then_some(1),
                    mzxid: (kind == Kind::SetData).then_some(zxid),
                    results: Vec::new(),
                },
            )),
        }
    }

    fn log() -> Vec<Entry> {
        vec![
            entry(
                0x1_0000_0001,
                7,
                json!({"type": "create", "path": "/a", "data": hex("v1"), "owner": 0}),
            ),
            entry(
                0x1_0000_0002,
                7,
                json!({"type": "set_data", "path": "/a", "data": hex("v2"), "version": -1}),
            ),
        ]
    }

    #[test]
    fn a_consistent_history_passes() {
        let h = vec![
            write(Kind::Create, "/a", "v1", (0, 10), 0x1_0000_0001, 7),
            write(Kind::SetData, "/a", "v2", (20, 30), 0x1_0000_0002, 7),
        ];
        let v = check(&h, &[log(), log()]);
        assert!(v.problems.is_empty(), "{:?}", v.problems);
        assert_eq!(v.acknowledged_writes, 2);
    }

    #[test]
    fn a_lost_acknowledged_write_is_caught() {
        let h = vec![write(Kind::Create, "/b", "v9", (0, 10), 0x1_0000_0003, 7)];
        let v = check(&h, &[log()]);
        assert!(
            v.problems.iter().any(|p| p.contains("lost")),
            "{:?}",
            v.problems
        );
    }

    #[test]
    fn diverging_logs_are_caught() {
        let mut other = log();
        other.pop();
        let v = check(&[], &[log(), other]);
        assert!(
            v.problems.iter().any(|p| p.contains("differs")),
            "{:?}",
            v.problems
        );
    }

    #[test]
    fn a_log_that_starts_at_a_snapshot_must_be_the_end_of_the_fullest() {
        let snapped: Vec<Entry> = log().into_iter().skip(1).collect();
        let v = check(&[], &[snapped.clone(), log()]);
        assert!(v.problems.is_empty(), "{:?}", v.problems);
        assert_eq!(v.logs_starting_later, 1);

        let mut wrong = snapped;
        wrong[0].json["data"] = json!(hex("v3"));
        let v = check(&[], &[log(), wrong]);
        assert!(
            v.problems.iter().any(|p| p.contains("differs")),
            "{:?}",
            v.problems
        );

        let elsewhere = vec![entry(
            0x1_0000_0005,
            7,
            json!({"type": "error", "code": -101}),
        )];
        let v = check(&[], &[log(), elsewhere]);
        assert!(
            v.problems.iter().any(|p| p.contains("does not hold")),
            "{:?}",
            v.problems
        );
    }

    /// A compare-and-set on /a expecting version 0, answered at 0x1_0000_0002.
    fn cas(results: Vec<i32>) -> Op {
        let mut op = write(Kind::CheckAndSet, "/a", "v2", (20, 30), 0x1_0000_0002, 7);
        op.version = 0;
        if let Some((_, r)) = &mut op.returned {
            r.results = results;
            r.version = Some(1);
        }
        op
    }

    fn cas_log(second: serde_json::Value) -> Vec<Entry> {
        let mut l = log();
        l[1] = entry(0x1_0000_0002, 7, second);
        l
    }

    #[test]
    fn compare_and_set_results_are_held_against_the_model() {
        let applied = json!({"type": "multi", "ops": [
            {"type": "check", "path": "/a"},
            {"type": "set_data", "path": "/a", "data": hex("v2"), "version": -1},
        ]});
        let v = check(&[cas(vec![0, 0])], &[cas_log(applied)]);
        assert!(v.problems.is_empty(), "{:?}", v.problems);

        // The version before was 0, as expected: failing is wrong, whatever the log.
        let refused = json!({"type": "multi_error", "codes": [-103, -2]});
        let v = check(&[cas(vec![-103, -2])], &[cas_log(refused)]);
        assert!(
            v.problems
                .iter()
                .any(|p| p.contains("version before it was")),
            "{:?}",
            v.problems
        );
    }

    #[test]
    fn sequential_names_that_go_back_are_caught() {
        let mut l = log();
        for (i, n) in [(3, 5), (4, 4)] {
            l.push(entry(
                0x1_0000_0000 + i,
                7,
                json!({"type": "create", "path": format!("{ROOT}/s1-{n:010}"), "owner": 0}),
            ));
        }
        let v = check(&[], &[l]);
        assert!(
            v.problems.iter().any(|p| p.contains("does not follow")),
            "{:?}",
            v.problems
        );
    }

    #[test]
    fn a_stale_read_is_caught() {
        let mut read = write(Kind::GetData, "/a", "", (40, 50), 0x1_0000_0002, 8);
        if let Some((_, r)) = &mut read.returned {
            r.data = Some(b"v1".to_vec());
            r.version = Some(0);
        }
        let v = check(&[read], &[log()]);
        assert!(
            v.problems.iter().any(|p| p.contains("read of /a")),
            "{:?}",
            v.problems
        );
    }

    /// A getData that set a watch on /a at 0x1_0000_0001 (before the set_data).
    fn watch_read(at: (u64, u64)) -> Op {
        let mut read = write(Kind::GetDataWatch, "/a", "", at, 0x1_0000_0001, 8);
        if let Some((_, r)) = &mut read.returned {
            r.data = Some(b"v1".to_vec());
            r.version = Some(0);
        }
        read.client = 1;
        read
    }

    fn event(at: u64) -> Op {
        Op {
            client: 1,
            session: 8,
            kind: Kind::Event(3),
            path: "/a".into(),
            value: Vec::new(),
            version: -1,
            invoked: at,
            returned: None,
        }
    }

    /// A later read by the same client, answered at the set_data's zxid.
    fn later_read(at: (u64, u64)) -> Op {
        let mut read = watch_read(at);
        read.kind = Kind::GetData;
        if let Some((_, r)) = &mut read.returned {
            r.zxid = 0x1_0000_0002;
            r.data = Some(b"v2".to_vec());
            r.version = Some(1);
        }
        read
    }

    #[test]
    fn a_watch_that_fires_before_the_next_reply_passes() {
        let h = vec![watch_read((0, 10)), event(20), later_read((20, 30))];
        let v = check(&h, &[log()]);
        assert!(v.problems.is_empty(), "{:?}", v.problems);
        assert_eq!((v.watches_set, v.watch_events), (1, 1));
    }

    #[test]
    fn a_watch_that_never_fires_is_caught() {
        let h = vec![watch_read((0, 10)), later_read((20, 30))];
        let v = check(&h, &[log()]);
        assert!(
            v.problems.iter().any(|p| p.contains("did not fire")),
            "{:?}",
            v.problems
        );
    }

    #[test]
    fn a_watch_that_fires_twice_is_caught() {
        let h = vec![
            watch_read((0, 10)),
            event(20),
            event(20),
            later_read((20, 30)),
        ];
        let v = check(&h, &[log()]);
        assert!(
            v.problems.iter().any(|p| p.contains("fired twice")),
            "{:?}",
            v.problems
        );
    }

    #[test]
    fn an_event_of_the_wrong_type_is_caught() {
        let mut deleted = event(20);
        deleted.kind = Kind::Event(2);
        let h = vec![watch_read((0, 10)), deleted, later_read((20, 30))];
        let v = check(&h, &[log()]);
        assert!(
            v.problems
                .iter()
                .any(|p| p.contains("first change after it")),
            "{:?}",
            v.problems
        );
    }

    #[test]
    fn a_write_ordered_before_an_earlier_acknowledged_one_is_caught() {
        let h = vec![
            write(Kind::SetData, "/a", "v2", (0, 10), 0x1_0000_0002, 7),
            write(Kind::Create, "/a", "v1", (20, 30), 0x1_0000_0001, 7),
        ];
        let v = check(&h, &[log()]);
        assert!(
            v.problems.iter().any(|p| p.contains("not linearizable")),
            "{:?}",
            v.problems
        );
    }
}
