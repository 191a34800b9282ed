//! Limits on what one client can make a member hold: connections per source
//! address (`maxClientCnxns`), frame sizes at exactly `jute.maxbuffer`, replies
//! larger than a client's buffer, very large multis and child lists, a client that
//! never reads its socket, and session churn. The member must refuse or disconnect
//! the one client, stay bounded in memory, and keep serving everyone else.
//!
//! Requests are written by hand (the `wire` helpers), so the frames are exactly the
//! sizes under test and nothing on the client side gets in the way.

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use rookery_tests::ensemble::Ensemble;
use rookery_tests::wire::{self, err, op, Closed, Reply, Writer};
use rookery_tests::{connect_from, proc_status_kib, vm_rss_kib, Member, Target};

/// jute.maxbuffer's default: 0xfffff.
const MAX_BUFFER: usize = 1_048_575;
/// Bounds every wait, so that a hang fails the test (nothing here asserts on time).
const GUARD: Duration = Duration::from_secs(120);
/// Frames this test reads may be far larger than jute.maxbuffer.
const READ_CAP: usize = 256 << 20;

const LOCAL: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 1);
/// Four-letter words come from here, so they never count against LOCAL's connections.
const MONITOR: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 9);

/// Opcodes and codes beyond the ones `wire` has.
mod more {
    pub const DELETE: i32 = 2;
    pub const GET_CHILDREN: i32 = 8;
    pub const CHECK: i32 = 13;
    pub const MULTI: i32 = 14;
    pub const GET_ALL_CHILDREN_NUMBER: i32 = 104;
    pub const ADD_WATCH: i32 = 106;
    pub const CLOSE_SESSION: i32 = -11;
    /// MultiHeader type of an error result.
    pub const MULTI_ERROR: i32 = -1;
    pub const RUNTIME_INCONSISTENCY: i32 = -2;
    pub const EPHEMERAL: i32 = 1;
    /// AddWatchMode.PERSISTENT_RECURSIVE.
    pub const PERSISTENT_RECURSIVE: i32 = 1;
}

fn member_with(extra: &[(&str, &str)]) -> Member {
    Member::start_with_extra(extra)
}

/// A four-letter word sent from MONITOR.
fn word(addr: SocketAddr, w: &str) -> String {
    let mut s = connect_from(MONITOR, addr).unwrap_or_else(|e| panic!("{w}: {e}"));
    s.write_all(w.as_bytes()).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// One `zk_<key>` value from `mntr`.
fn mntr(addr: SocketAddr, key: &str) -> i64 {
    let text = word(addr, "mntr");
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("zk_{key}\t")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no zk_{key} in mntr:\n{text}"))
}

/// Reads one frame of at most `cap` bytes; `Ok(None)` on EOF before it.
fn read_frame_max(s: &mut TcpStream, cap: usize) -> io::Result<Option<Vec<u8>>> {
    let mut len = [0u8; 4];
    match s.read_exact(&mut len) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = i32::from_be_bytes(len);
    if len < 0 || len as usize > cap {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("frame length {len}"),
        ));
    }
    let mut payload = vec![0u8; len as usize];
    s.read_exact(&mut payload)?;
    Ok(Some(payload))
}

fn parse_reply(payload: Vec<u8>) -> Reply {
    assert!(payload.len() >= 16, "reply of {} bytes", payload.len());
    let mut c = Cur::new(&payload);
    Reply {
        xid: c.int(),
        zxid: c.long(),
        err: c.int(),
        body: payload[16..].to_vec(),
    }
}

/// A jute reader over a reply body.
struct Cur<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Cur<'a> {
    fn new(b: &'a [u8]) -> Cur<'a> {
        Cur { b, pos: 0 }
    }
    fn take(&mut self, n: usize) -> &'a [u8] {
        assert!(
            self.pos + n <= self.b.len(),
            "record ends early: {} + {n} > {}",
            self.pos,
            self.b.len()
        );
        let s = &self.b[self.pos..self.pos + n];
        self.pos += n;
        s
    }
    fn int(&mut self) -> i32 {
        i32::from_be_bytes(self.take(4).try_into().unwrap())
    }
    fn long(&mut self) -> i64 {
        i64::from_be_bytes(self.take(8).try_into().unwrap())
    }
    fn boolean(&mut self) -> bool {
        self.take(1)[0] != 0
    }
    fn string(&mut self) -> String {
        let n = self.int();
        assert!(n >= 0, "null string");
        String::from_utf8(self.take(n as usize).to_vec()).expect("UTF-8")
    }
    fn done(&self) -> bool {
        self.pos == self.b.len()
    }
}

/// getChildren's reply body: the names.
fn children_of(body: &[u8]) -> Vec<String> {
    let mut c = Cur::new(body);
    let n = c.int();
    let names = (0..n).map(|_| c.string()).collect();
    assert!(c.done(), "bytes after the child list");
    names
}

/// One result of a multi, as the reply lists it.
#[derive(Debug, PartialEq, Eq)]
enum OpResult {
    Created(String),
    Checked,
    Deleted,
    SetData,
    Error(i32),
}

fn multi_results(body: &[u8]) -> Vec<OpResult> {
    let mut c = Cur::new(body);
    let mut out = Vec::new();
    loop {
        let (kind, done, e) = (c.int(), c.boolean(), c.int());
        if done {
            assert_eq!((kind, e), (-1, -1), "multi terminator");
            break;
        }
        out.push(match kind {
            k if k == op::CREATE => OpResult::Created(c.string()),
            k if k == more::CHECK => OpResult::Checked,
            k if k == more::DELETE => OpResult::Deleted,
            k if k == op::SET_DATA => {
                c.take(68);
                OpResult::SetData
            }
            k if k == more::MULTI_ERROR => {
                let code = c.int();
                assert_eq!(code, e, "ErrorResult repeats the header's code");
                OpResult::Error(code)
            }
            other => panic!("multi result of type {other}"),
        });
    }
    assert!(c.done(), "bytes after the multi terminator");
    out
}

fn create_body(path: &str, data: &[u8], flags: i32) -> Writer {
    Writer::new()
        .string(path)
        .buffer(data)
        .open_acl()
        .int(flags)
}

/// A multi request body: each (opcode, op body) under its MultiHeader, then the end.
fn multi_body(ops: impl IntoIterator<Item = (i32, Writer)>) -> Writer {
    let mut w = Writer::new();
    for (kind, body) in ops {
        w = w.int(kind).boolean(false).int(-1);
        w.0.extend_from_slice(body.bytes());
    }
    w.int(-1).boolean(true).int(-1)
}

/// A session opened by hand.
struct Raw {
    stream: TcpStream,
    session: i64,
    xid: i32,
}

impl Raw {
    fn open(addr: SocketAddr) -> Raw {
        Raw::open_from(LOCAL, addr).unwrap_or_else(|e| panic!("session on {addr}: {e}"))
    }

    /// A new session from `source`; an error if the member closes the connection
    /// before its ConnectResponse.
    fn open_from(source: Ipv4Addr, addr: SocketAddr) -> io::Result<Raw> {
        Raw::open_with_timeout(source, addr, 30_000)
    }

    fn open_with_timeout(source: Ipv4Addr, addr: SocketAddr, timeout_ms: i32) -> io::Result<Raw> {
        let mut stream = connect_from(source, addr)?;
        let connect = Writer::new()
            .int(0)
            .long(0)
            .int(timeout_ms)
            .long(0)
            .buffer(&[0u8; 16])
            .boolean(false);
        stream.write_all(&connect.framed())?;
        let payload = read_frame_max(&mut stream, 1024)?.ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "closed before ConnectResponse",
            )
        })?;
        let mut c = Cur::new(&payload);
        let (_version, _timeout, session) = (c.int(), c.int(), c.long());
        if session == 0 {
            return Err(io::Error::other("ConnectResponse without a session"));
        }
        Ok(Raw {
            stream,
            session,
            xid: 0,
        })
    }

    fn send(&mut self, opcode: i32, body: &Writer) -> i32 {
        self.xid += 1;
        self.stream
            .write_all(&wire::request(self.xid, opcode, body))
            .unwrap_or_else(|e| panic!("sending opcode {opcode}: {e}"));
        self.xid
    }

    fn read(&mut self) -> Reply {
        loop {
            let payload = read_frame_max(&mut self.stream, READ_CAP)
                .unwrap_or_else(|e| panic!("reading a reply: {e}"))
                .expect("connection closed before the reply");
            let reply = parse_reply(payload);
            // Watch events (xid -1) are not replies.
            if reply.xid != -1 {
                return reply;
            }
        }
    }

    fn call(&mut self, opcode: i32, body: &Writer) -> Reply {
        let xid = self.send(opcode, body);
        let reply = self.read();
        assert_eq!(reply.xid, xid, "replies come in request order");
        reply
    }

    fn create(&mut self, path: &str, data: &[u8]) {
        let r = self.call(op::CREATE, &create_body(path, data, 0));
        assert_eq!(r.err, err::OK, "create {path}");
    }

    fn exists(&mut self, path: &str) -> i32 {
        self.call(op::EXISTS, &Writer::new().string(path).boolean(false))
            .err
    }

    fn children_number(&mut self, path: &str) -> i32 {
        let r = self.call(more::GET_ALL_CHILDREN_NUMBER, &Writer::new().string(path));
        assert_eq!(r.err, err::OK, "getAllChildrenNumber {path}");
        Cur::new(&r.body).int()
    }

    /// closeSession, and the member closes the connection after its reply.
    fn close(mut self) {
        let r = self.call(more::CLOSE_SESSION, &Writer::new());
        assert_eq!(r.err, err::OK, "closeSession");
        match wire::wait_closed(&mut self.stream) {
            Closed::Yes { .. } => {}
            other => panic!("connection open after closeSession: {other:?}"),
        }
    }
}

/// Connects from `source`, sends a ConnectRequest and expects the member to close
/// the connection without answering it.
fn assert_refused(source: Ipv4Addr, addr: SocketAddr, case: &str) {
    let mut s = match connect_from(source, addr) {
        Ok(s) => s,
        // Refused before the connection was even set up: fine too.
        Err(_) => return,
    };
    wire::write_lenient(&mut s, &wire::connect_request().framed());
    match wire::wait_closed(&mut s) {
        Closed::Yes {
            bytes_before_close: 0,
        } => {}
        other => panic!("{case}: not refused: {other:?}"),
    }
}

/// Retries a new session from `source` until the member accepts one.
fn open_eventually(source: Ipv4Addr, addr: SocketAddr, case: &str) -> Raw {
    let deadline = Instant::now() + GUARD;
    loop {
        match Raw::open_from(source, addr) {
            Ok(r) => return r,
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => panic!("{case}: never accepted: {e}"),
        }
    }
}

/// (a) maxClientCnxns counts connections per source address; ZooKeeper counts every
/// accepted connection, also one that has not sent its ConnectRequest yet.
#[test]
fn max_client_cnxns_is_per_source_address() {
    const MAX: usize = 3;
    let member = member_with(&[("maxClientCnxns", "3")]);
    let addr = member.addr();
    let other = Ipv4Addr::new(127, 0, 0, 2);
    let idle_source = Ipv4Addr::new(127, 0, 0, 3);

    let mut held: Vec<Raw> = (0..MAX).map(|_| Raw::open(addr)).collect();
    assert_refused(LOCAL, addr, "connection 4 from 127.0.0.1");

    // Another source address is not affected, and the held sessions still work.
    let mut from_other = Raw::open_from(other, addr).expect("a session from 127.0.0.2");
    assert_eq!(from_other.exists("/"), err::OK);
    for r in &mut held {
        assert_eq!(r.exists("/"), err::OK);
    }
    let sessions: std::collections::BTreeSet<i64> = held.iter().map(|r| r.session).collect();
    assert_eq!(sessions.len(), MAX, "distinct sessions");

    // One connection from 127.0.0.1 goes: the next is accepted, and the one after refused.
    drop(held.pop());
    let mut again = open_eventually(LOCAL, addr, "a connection after one closed");
    assert_eq!(again.exists("/"), err::OK);
    held.push(again);
    assert_refused(LOCAL, addr, "connection 4 from 127.0.0.1 again");

    // Connections that never sent a ConnectRequest count as well.
    let idle: Vec<TcpStream> = (0..MAX)
        .map(|_| connect_from(idle_source, addr).expect("idle connection"))
        .collect();
    // ZooKeeper counts a connection once a selector thread has taken it up, a moment
    // after accepting it: until then a session may still get through.
    let deadline = Instant::now() + GUARD;
    while Raw::open_from(idle_source, addr).is_ok() {
        assert!(
            Instant::now() < deadline,
            "sessions from an address with {MAX} idle connections are accepted"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_refused(idle_source, addr, "a session after 3 idle connections");
    drop(idle);
    let mut after_idle = open_eventually(idle_source, addr, "a session after the idle ones closed");
    assert_eq!(after_idle.exists("/"), err::OK);

    // Everyone else is still served.
    assert_eq!(from_other.exists("/"), err::OK);
    for r in &mut held {
        assert_eq!(r.exists("/"), err::OK);
    }
    assert_eq!(word(addr, "ruok"), "imok");
}

/// A connection that never completes its handshake does not hold its place (and
/// its buffers) forever: silent, or stalled inside a ConnectRequest that claims a
/// large frame, it is closed (ZooKeeper closes connections without a session after
/// 10 s).
#[test]
fn a_handshake_that_never_completes_is_timed_out() {
    let member = member_with(&[]);
    let addr = member.addr();
    let mut silent = connect_from(LOCAL, addr).unwrap();
    let mut stalled = connect_from(LOCAL, addr).unwrap();
    wire::write_lenient(&mut stalled, &(1i32 << 20).to_be_bytes());
    wire::write_lenient(&mut stalled, &[0u8; 10]);
    for (name, s) in [("silent", &mut silent), ("stalled", &mut stalled)] {
        match wire::wait_closed(s) {
            Closed::Yes {
                bytes_before_close: 0,
            } => {}
            other => panic!("a {name} connection without a session: {other:?}"),
        }
    }
    let mut s = Raw::open(addr);
    assert_eq!(s.exists("/"), err::OK);
}

/// A create whose whole request frame (after the length prefix) is `len` bytes.
fn create_frame_of(xid: i32, path: &str, len: usize) -> Vec<u8> {
    let empty = wire::request(xid, op::CREATE, &create_body(path, b"", 0));
    let data = vec![b'd'; len + 4 - empty.len()];
    let frame = wire::request(xid, op::CREATE, &create_body(path, &data, 0));
    assert_eq!(frame.len(), len + 4);
    frame
}

/// Sends a create framed at exactly `limit` bytes (accepted: the node is there with
/// its data), then one of `limit + 1` bytes (the connection is closed without a
/// reply, and the node is not created). ZOOKEEPER-4281 was an off-by-one here.
fn check_boundary(addr: SocketAddr, limit: usize, tag: &str) {
    let mut bystander = Raw::open(addr);
    let mut s = Raw::open(addr);
    let at = format!("/at-{tag}");
    s.stream.write_all(&create_frame_of(1, &at, limit)).unwrap();
    let r = s.read();
    assert_eq!(
        (r.xid, r.err),
        (1, err::OK),
        "a frame of exactly {limit} bytes"
    );
    let r = s.call(op::GET_DATA, &Writer::new().string(&at).boolean(false));
    assert_eq!(r.err, err::OK);
    let mut c = Cur::new(&r.body);
    let stored = c.int() as usize;
    assert_eq!(stored + 47 + at.len(), limit, "data stored whole");

    let over = format!("/over-{tag}");
    let mut s = Raw::open(addr);
    wire::write_lenient(&mut s.stream, &create_frame_of(1, &over, limit + 1));
    match wire::wait_closed(&mut s.stream) {
        Closed::Yes {
            bytes_before_close: 0,
        } => {}
        other => panic!("a frame of {} bytes: {other:?}", limit + 1),
    }
    assert_eq!(bystander.exists(&over), err::NO_NODE);
    assert_eq!(bystander.exists(&at), err::OK);
}

/// (b) jute.maxbuffer in both directions.
#[test]
fn jute_maxbuffer_boundary_and_replies_larger_than_it() {
    let member = member_with(&[]);
    let addr = member.addr();
    check_boundary(addr, MAX_BUFFER, "default");

    // A reply larger than jute.maxbuffer (which is also the Java client's default
    // limit): ZooKeeper 3.8 sends it whole, and a client with a smaller buffer is the
    // one that gives up. The member neither refuses it nor closes the connection.
    let mut s = Raw::open(addr);
    let mut bystander = Raw::open(addr);
    s.create("/wide", b"");
    const CHILDREN: usize = 1_100;
    let name = |i: usize| format!("{i:05}-{}", "n".repeat(994));
    for batch in (0..CHILDREN).collect::<Vec<_>>().chunks(400) {
        let body = multi_body(batch.iter().map(|i| {
            (
                op::CREATE,
                create_body(&format!("/wide/{}", name(*i)), b"", 0),
            )
        }));
        let r = s.call(more::MULTI, &body);
        assert_eq!(r.err, err::OK, "creating children");
    }
    let xid = s.send(
        more::GET_CHILDREN,
        &Writer::new().string("/wide").boolean(false),
    );
    let payload = read_frame_max(&mut s.stream, READ_CAP)
        .expect("reading getChildren")
        .expect("closed instead of a reply");
    assert!(
        payload.len() > MAX_BUFFER,
        "the reply is {} bytes, not over jute.maxbuffer as arranged",
        payload.len()
    );
    let r = parse_reply(payload);
    assert_eq!((r.xid, r.err), (xid, err::OK));
    let mut names = children_of(&r.body);
    names.sort();
    assert_eq!(names, (0..CHILDREN).map(name).collect::<Vec<_>>());
    // The same connection goes on, and so does everyone else.
    assert_eq!(s.children_number("/wide"), CHILDREN as i32);
    assert_eq!(bystander.exists("/wide"), err::OK);

    // A configured jute.maxbuffer moves the boundary (ZooKeeper takes it as a
    // system property, not from zoo.cfg).
    if member.target() == Target::Rookery {
        let small = member_with(&[("jute.maxbuffer", "4096")]);
        check_boundary(small.addr(), 4096, "configured");
    }
}

/// `Digest:` from the member's `hash` word.
fn tree_digest(addr: SocketAddr) -> String {
    let text = word(addr, "hash");
    text.lines()
        .find_map(|l| l.strip_prefix("Digest: "))
        .unwrap_or_else(|| panic!("no digest in {text:?}"))
        .to_string()
}

fn wait_leader(ensemble: &Ensemble) -> usize {
    let deadline = Instant::now() + GUARD;
    loop {
        if let Some(l) = ensemble.leader() {
            return l;
        }
        assert!(Instant::now() < deadline, "no leader");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// (c) A multi of 100,000 ops through a follower of a 3-member ensemble: applied
/// whole on every member; one failing check in the middle of another leaves
/// nothing applied and answers every op.
#[test]
fn multi_of_100k_ops_on_an_ensemble_is_all_or_nothing() {
    const OPS: usize = 100_000;
    // About 6 MB of request: raise jute.maxbuffer so it is one legal frame.
    let ensemble = Ensemble::start_with(3, vec![("jute.maxbuffer".into(), "33554432".into())]);
    let leader = wait_leader(&ensemble);
    let follower = (leader + 1) % 3;
    let addr = ensemble.members[follower].addr();
    let mut s = Raw::open(addr);
    s.create("/bulk", b"");
    s.create("/none", b"");

    let path = |i: usize| format!("/bulk/n{i:06}");
    let body = multi_body((0..OPS).map(|i| (op::CREATE, create_body(&path(i), b"", 0))));
    assert!(
        body.bytes().len() > 4 * MAX_BUFFER,
        "{}",
        body.bytes().len()
    );
    let r = s.call(more::MULTI, &body);
    assert_eq!(r.err, err::OK, "multi of {OPS} creates");
    let results = multi_results(&r.body);
    assert_eq!(results.len(), OPS);
    for (i, got) in results.iter().enumerate() {
        assert_eq!(got, &OpResult::Created(path(i)), "result {i}");
    }
    ensemble.assert_same_digest();
    for m in &ensemble.members {
        let mut c = Raw::open(m.addr());
        assert_eq!(c.children_number("/bulk"), OPS as i32, "on {}", m.addr());
    }

    // The same size with a check that fails half-way.
    let digests: Vec<String> = ensemble
        .members
        .iter()
        .map(|m| tree_digest(m.addr()))
        .collect();
    let middle = OPS / 2;
    let ops = (0..OPS).map(|i| {
        if i == middle {
            (more::CHECK, Writer::new().string("/bulk").int(12345))
        } else {
            (op::CREATE, create_body(&format!("/none/n{i:06}"), b"", 0))
        }
    });
    let r = s.call(more::MULTI, &multi_body(ops));
    // ZooKeeper answers a failed multi with an OK header and one ErrorResult per op:
    // OK before the failure, its code at it, RUNTIMEINCONSISTENCY after.
    assert_eq!(r.err, err::OK, "header of a failed multi");
    let results = multi_results(&r.body);
    assert_eq!(results.len(), OPS);
    for (i, got) in results.iter().enumerate() {
        let want = match i.cmp(&middle) {
            std::cmp::Ordering::Less => err::OK,
            std::cmp::Ordering::Equal => err::BAD_VERSION,
            std::cmp::Ordering::Greater => more::RUNTIME_INCONSISTENCY,
        };
        assert_eq!(got, &OpResult::Error(want), "result {i}");
    }
    ensemble.assert_same_digest();
    for (m, before) in ensemble.members.iter().zip(&digests) {
        let mut c = Raw::open(m.addr());
        assert_eq!(c.children_number("/none"), 0, "on {}", m.addr());
        assert_eq!(c.exists("/none/n000000"), err::NO_NODE);
        assert_eq!(
            &tree_digest(m.addr()),
            before,
            "tree changed on {}",
            m.addr()
        );
    }
    // The ensemble goes on.
    s.create("/after", b"x");
    ensemble.assert_same_digest();
}

/// (d) A million children under one node: counted, listed in one reply of about
/// 12 MB (far over jute.maxbuffer; ZooKeeper 3.8 sends it whole as well), and the
/// member keeps serving others meanwhile and afterwards. Created in multis of
/// 1,000; a debug build does it all in seconds.
#[test]
fn a_million_children_under_one_node() {
    let count: usize = 1_000_000;
    const BATCH: usize = 1_000;
    /// Multis in flight at once.
    const WINDOW: usize = 8;
    let member = member_with(&[]);
    let addr = member.addr();
    let mut s = Raw::open(addr);
    let mut bystander = Raw::open(addr);
    s.create("/many", b"");
    let name = |i: usize| format!("c{i:07}");
    let batches: Vec<Vec<u8>> = (0..count / BATCH)
        .map(|b| {
            let ops = (b * BATCH..(b + 1) * BATCH).map(|i| {
                (
                    op::CREATE,
                    create_body(&format!("/many/{}", name(i)), b"", 0),
                )
            });
            multi_body(ops).0
        })
        .collect();
    let mut in_flight = 0;
    for body in &batches {
        if in_flight == WINDOW {
            assert_eq!(s.read().err, err::OK, "a batch of creates");
            in_flight -= 1;
        }
        s.send(more::MULTI, &Writer(body.clone()));
        in_flight += 1;
    }
    for _ in 0..in_flight {
        assert_eq!(s.read().err, err::OK, "a batch of creates");
    }
    drop(batches);

    assert_eq!(s.children_number("/many"), count as i32);
    assert_eq!(bystander.exists("/many"), err::OK);

    // The whole list in one reply, pipelined with a bystander's requests.
    let xid = s.send(
        more::GET_CHILDREN,
        &Writer::new().string("/many").boolean(false),
    );
    for i in 0..20 {
        let path = format!("/side-{i}");
        bystander.create(&path, b"meanwhile");
        assert_eq!(bystander.exists(&path), err::OK);
    }
    let payload = read_frame_max(&mut s.stream, READ_CAP)
        .expect("reading getChildren")
        .expect("closed instead of a reply");
    assert!(payload.len() > MAX_BUFFER);
    let r = parse_reply(payload);
    assert_eq!((r.xid, r.err), (xid, err::OK));
    let mut names = children_of(&r.body);
    assert_eq!(names.len(), count);
    names.sort_unstable();
    assert!(
        names.iter().enumerate().all(|(i, n)| *n == name(i)),
        "the names"
    );
    drop(names);

    // The member still serves: the same session, the bystander, and a new session.
    assert_eq!(s.exists("/many/c0000000"), err::OK);
    assert_eq!(bystander.children_number("/many"), count as i32);
    let mut fresh = Raw::open(addr);
    fresh.create("/many-after", b"x");
    assert_eq!(fresh.exists("/many-after"), err::OK);
    assert_eq!(word(addr, "ruok"), "imok");
}

/// Shrinks the socket's receive buffer, so the kernel holds little on behalf of a
/// client that never reads.
fn small_receive_buffer(s: &TcpStream) {
    use std::os::fd::AsRawFd;
    let size: libc::c_int = 4096;
    // SAFETY: setsockopt on a descriptor we own, with a c_int option value.
    let rc = unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            (&size as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0, "SO_RCVBUF: {}", io::Error::last_os_error());
}

/// Whether `cons` still lists the connection whose client end is `local`.
fn listed_in_cons(addr: SocketAddr, local: SocketAddr) -> bool {
    word(addr, "cons").contains(&format!("{local}["))
}

fn rss_kib(member: &Member) -> u64 {
    vm_rss_kib(member.pid().expect("member runs")).expect("VmRSS")
}

/// The member's peak RSS in KiB (`VmHWM`).
fn hwm_kib(member: &Member) -> u64 {
    proc_status_kib(member.pid().expect("member runs"), "VmHWM").expect("VmHWM")
}

/// Runs `step` until the member has dropped the connection `local`, at most
/// `max_steps` times; returns the highest RSS meanwhile (sampled, and the kernel's
/// high-water mark if that rose) and the steps taken.
fn peak_rss_until_dropped(
    member: &Member,
    local: SocketAddr,
    max_steps: usize,
    mut step: impl FnMut(),
) -> (u64, usize) {
    let deadline = Instant::now() + GUARD;
    let hwm_before = hwm_kib(member);
    let mut peak = rss_kib(member);
    let mut steps = 0;
    while listed_in_cons(member.addr(), local) {
        assert!(
            steps < max_steps && Instant::now() < deadline,
            "the member still holds a client that does not read, after {steps} steps \
             (RSS peaked at {peak} KiB)"
        );
        step();
        steps += 1;
        peak = peak.max(rss_kib(member));
    }
    let hwm = hwm_kib(member);
    if hwm > hwm_before {
        peak = peak.max(hwm);
    }
    (peak.max(rss_kib(member)), steps)
}

/// (e) A client that never reads its socket: the member stops queueing for it at a
/// bounded size and disconnects it, its memory stays bounded, and everyone else is
/// served. (ZooKeeper 3.8 queues without bound: with multiRead it runs out of heap
/// and exits; plain getData survives there only through its response cache.)
#[test]
fn a_client_that_never_reads_is_disconnected_with_memory_bounded() {
    /// Growth allowed over the baseline, far below what is asked for (2 GB below).
    const SLACK_KIB: u64 = 256 * 1024;
    // A log window of 100 entries keeps what the writes below cost the member small.
    let member = member_with(&[("maxSessionTimeout", "600000"), ("commitLogCount", "100")]);
    let addr = member.addr();
    let mut s = Raw::open(addr);
    let mut bystander = Raw::open(addr);
    let blob = vec![b'b'; 1_000_000];
    s.create("/blob", &blob);
    // Warm up: whole replies of that size have been made and freed once.
    for _ in 0..4 {
        let r = s.call(op::GET_DATA, &Writer::new().string("/blob").boolean(false));
        assert_eq!(r.err, err::OK);
    }
    let baseline = rss_kib(&member);

    // 2,000 pipelined reads of a 1 MB node, and never a read of the replies. The
    // session timeout is long, so only the member's own limit can end this.
    let mut flood = Raw::open_with_timeout(LOCAL, addr, 600_000).expect("flood session");
    small_receive_buffer(&flood.stream);
    let local = flood.stream.local_addr().unwrap();
    let requests: Vec<u8> = (0..2_000)
        .flat_map(|i| {
            wire::request(
                10 + i,
                op::GET_DATA,
                &Writer::new().string("/blob").boolean(false),
            )
        })
        .collect();
    wire::write_lenient(&mut flood.stream, &requests);
    let (peak, _) = peak_rss_until_dropped(&member, local, usize::MAX, || {
        assert_eq!(bystander.exists("/blob"), err::OK);
        std::thread::sleep(Duration::from_millis(50));
    });
    eprintln!("flood of reads: RSS {baseline} KiB before, {peak} KiB at most");
    assert!(
        peak < baseline + SLACK_KIB,
        "RSS went from {baseline} KiB to {peak} KiB for a client that never reads"
    );
    // What the kernel still held arrives, then the end of the stream.
    match wire::wait_closed(&mut flood.stream) {
        Closed::Yes { .. } => {}
        other => panic!("the flooding connection is still open: {other:?}"),
    }
    assert_eq!(bystander.exists("/blob"), err::OK);

    // Watch events for a watcher that never reads: a persistent recursive watch on
    // a subtree of long names, and writes under it until the member drops it. Each
    // round sets every node once: 1,000 events of about 540 bytes.
    const NODES: usize = 1_000;
    /// About 320 MB of events: far more than the member may queue for one client.
    const MAX_ROUNDS: usize = 600;
    let node = |i: usize| format!("/w/{i:04}-{}", "w".repeat(500));
    s.create("/w", b"");
    for batch in (0..NODES).collect::<Vec<_>>().chunks(500) {
        let ops = batch
            .iter()
            .map(|i| (op::CREATE, create_body(&node(*i), b"", 0)));
        assert_eq!(s.call(more::MULTI, &multi_body(ops)).err, err::OK);
    }
    let mut round = || {
        let ops = (0..NODES).map(|i| {
            (
                op::SET_DATA,
                Writer::new().string(&node(i)).buffer(b"").int(-1),
            )
        });
        assert_eq!(s.call(more::MULTI, &multi_body(ops)).err, err::OK);
    };
    // The same writes with nobody watching first, so that what they cost the member
    // (its log window of commitLogCount entries, the store's buffers) is in the baseline.
    for _ in 0..200 {
        round();
    }
    let mut watcher = Raw::open_with_timeout(LOCAL, addr, 600_000).expect("watcher session");
    small_receive_buffer(&watcher.stream);
    let local = watcher.stream.local_addr().unwrap();
    let r = watcher.call(
        more::ADD_WATCH,
        &Writer::new().string("/w").int(more::PERSISTENT_RECURSIVE),
    );
    assert_eq!(r.err, err::OK, "addWatch");
    let baseline = rss_kib(&member);
    let (peak, rounds) = peak_rss_until_dropped(&member, local, MAX_ROUNDS, &mut round);
    eprintln!("watch events: RSS {baseline} KiB before, {peak} KiB at most, {rounds} rounds");
    assert!(
        peak < baseline + SLACK_KIB,
        "RSS went from {baseline} KiB to {peak} KiB for a watcher that never reads ({rounds} rounds)"
    );
    match wire::wait_closed(&mut watcher.stream) {
        Closed::Yes { .. } => {}
        other => panic!("the watcher's connection is still open: {other:?}"),
    }
    assert_eq!(bystander.exists("/w"), err::OK);
    let mut fresh = Raw::open(addr);
    assert_eq!(fresh.children_number("/w"), NODES as i32);
}

/// (f) 10,000 sessions, each creating an ephemeral node and closing: afterwards no
/// session and no ephemeral is left, and memory is back near where it started.
#[test]
fn session_churn_leaves_nothing_behind() {
    const SESSIONS: usize = 10_000;
    const THREADS: usize = 8;
    /// Growth allowed over the warmed-up baseline.
    const SLACK_KIB: u64 = 64 * 1024;
    let member = member_with(&[]);
    let addr = member.addr();
    {
        let mut s = Raw::open(addr);
        s.create("/churn", b"");
        s.close();
    }
    let churn = |first: usize, n: usize| {
        let per_thread = n / THREADS;
        std::thread::scope(|scope| {
            for t in 0..THREADS {
                scope.spawn(move || {
                    for i in 0..per_thread {
                        let mut s = Raw::open(addr);
                        let path = format!("/churn/e-{}", first + t * per_thread + i);
                        let r = s.call(op::CREATE, &create_body(&path, b"", more::EPHEMERAL));
                        assert_eq!(r.err, err::OK, "create {path}");
                        s.close();
                    }
                });
            }
        });
    };
    // Warm up, so that the baseline has the member's buffers and caches in place.
    churn(0, 1_000);
    let baseline = rss_kib(&member);
    churn(1_000_000, SESSIONS);

    assert_eq!(mntr(addr, "global_sessions"), 0, "sessions left");
    assert_eq!(mntr(addr, "ephemerals_count"), 0, "ephemerals left");
    // (`cons` lists sessions' connections with their sid; ZooKeeper also lists,
    // and counts in mntr, the connection asking.)
    let cons = word(addr, "cons");
    assert!(!cons.contains("sid="), "connections left:\n{cons}");
    let dump = word(addr, "dump");
    assert!(
        dump.contains("Sessions with Ephemerals (0):"),
        "dump after the churn:\n{dump}"
    );
    let after = rss_kib(&member);
    eprintln!("session churn: RSS {baseline} KiB before, {after} KiB after");
    assert!(
        after < baseline + SLACK_KIB,
        "RSS went from {baseline} KiB to {after} KiB over {SESSIONS} sessions"
    );
    let mut s = Raw::open(addr);
    assert_eq!(s.children_number("/churn"), 0);
    assert_eq!(word(addr, "ruok"), "imok");
}

/// A client that pipelines 1 MB writes and reads no reply until it has sent them
/// all: the member stops reading its requests while enough of them wait (as
/// ZooKeeper's throttling does), so its memory stays bounded, and every write is
/// still carried out and answered in order.
#[test]
fn a_pipelined_write_flood_is_throttled() {
    const WRITES: usize = 500;
    const SLACK_KIB: u64 = 128 * 1024;
    // A short log window, so what the writes themselves leave in memory is small.
    let member = member_with(&[("commitLogCount", "10")]);
    let addr = member.addr();
    let mut s = Raw::open(addr);
    s.create("/target", b"");
    let value = vec![b'v'; 1_000_000];
    // The same writes one at a time first: what they cost the member by themselves
    // (the store's write buffers above all) is then in the baseline.
    for _ in 0..WRITES {
        let r = s.call(
            op::SET_DATA,
            &Writer::new().string("/target").buffer(&value).int(-1),
        );
        assert_eq!(r.err, err::OK);
    }
    let baseline = rss_kib(&member);
    let hwm_before = hwm_kib(&member);

    let mut flood = Raw::open(addr);
    let mut sender = flood.stream.try_clone().unwrap();
    // No write timeout: the member may hold this client back for as long as its
    // writes take.
    sender.set_write_timeout(None).unwrap();
    let first_xid = flood.xid + 1;
    let frames: Vec<Vec<u8>> = (0..WRITES)
        .map(|i| {
            wire::request(
                first_xid + i as i32,
                op::SET_DATA,
                &Writer::new().string("/target").buffer(&value).int(-1),
            )
        })
        .collect();
    let writer = std::thread::spawn(move || {
        for f in &frames {
            sender
                .write_all(f)
                .expect("the member stopped taking requests");
        }
    });
    let mut peak = rss_kib(&member);
    while !writer.is_finished() {
        peak = peak.max(rss_kib(&member));
        std::thread::sleep(Duration::from_millis(20));
    }
    writer.join().unwrap();
    for i in 0..WRITES {
        let r = flood.read();
        assert_eq!(
            (r.xid, r.err),
            (first_xid + i as i32, err::OK),
            "reply {i} of the flood"
        );
    }
    let hwm = hwm_kib(&member);
    if hwm > hwm_before {
        peak = peak.max(hwm);
    }
    eprintln!("write flood: RSS {baseline} KiB before, {peak} KiB at most");
    assert!(
        peak < baseline + SLACK_KIB,
        "RSS went from {baseline} KiB to {peak} KiB while {WRITES} MB of writes were pipelined"
    );
    let r = s.call(
        op::GET_DATA,
        &Writer::new().string("/target").boolean(false),
    );
    assert_eq!(r.err, err::OK);
    assert_eq!(word(addr, "ruok"), "imok");
}
