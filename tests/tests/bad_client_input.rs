//! Bad input on the client port (reliability.md §8.4, items 1–14), each case run
//! against a real Apache ZooKeeper 3.8 member and a Rookery member: what a client
//! sees from Rookery (reply headers, per-op multi results, ConnectResponse fields,
//! events, whether the connection is closed) must be what it sees from ZooKeeper.
//! After every case a bystander session on each member must still work and both
//! processes must still run. bad_input.rs already covers oversize, negative and
//! truncated frames, garbage ConnectRequests, an unknown opcode, a relative path
//! and a wrong protocol version; four_letter_words.rs covers the 4lw whitelist.
//!
//! Every case is a function of the member's address that returns what it saw as
//! strings; all differences are collected and reported together.

use std::io::{ErrorKind, Write};
use std::net::{SocketAddr, TcpStream};
use std::thread;

use rookery_tests::wire::{self, Reader, Writer};
use rookery_tests::{Member, MemberOptions, Target};

/// `ZooDefs.OpCode`s.
mod op {
    pub const CREATE: i32 = 1;
    pub const DELETE: i32 = 2;
    pub const EXISTS: i32 = 3;
    pub const GET_DATA: i32 = 4;
    pub const SET_DATA: i32 = 5;
    pub const SET_ACL: i32 = 7;
    pub const PING: i32 = 11;
    pub const CHECK: i32 = 13;
    pub const MULTI: i32 = 14;
    pub const CREATE2: i32 = 15;
    pub const CREATE_CONTAINER: i32 = 19;
    pub const CREATE_TTL: i32 = 21;
    pub const MULTI_READ: i32 = 22;
    pub const AUTH: i32 = 100;
    pub const SET_WATCHES: i32 = 101;
    pub const CREATE_SESSION: i32 = -10;
    pub const CLOSE_SESSION: i32 = -11;
    pub const ERROR: i32 = -1;
}

/// Create flags (`CreateMode`).
mod mode {
    pub const PERSISTENT: i32 = 0;
    pub const EPHEMERAL: i32 = 1;
    pub const SEQUENTIAL: i32 = 2;
    pub const CONTAINER: i32 = 4;
    pub const PERSISTENT_WITH_TTL: i32 = 5;
}

/// jute.maxbuffer's default.
const MAX_BUFFER: usize = 1_048_575;

/// What a client saw, as comparable lines.
type Seen = Vec<String>;

/// Starts a ZooKeeper and a Rookery member side by side (one JVM start is the slow part).
fn start_pair(extra: &[(&str, &str)]) -> (Member, Member) {
    let options = |target| MemberOptions {
        target: Some(target),
        extra: extra
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ..MemberOptions::default()
    };
    let zk_options = options(Target::ApacheZk);
    let zk = thread::spawn(move || Member::start_with(zk_options));
    let rookery = Member::start_with(options(Target::Rookery));
    (zk.join().expect("ZooKeeper member starts"), rookery)
}

/// A raw session that stays connected through every case.
struct Bystander {
    stream: TcpStream,
    xid: i32,
}

impl Bystander {
    fn new(member: &Member) -> Bystander {
        let mut stream = wire::connect(member.addr()).unwrap();
        stream
            .write_all(&connect_body(0, 40_000, 0, &[0; 16]).framed())
            .unwrap();
        let response = read_connect_response(&mut stream);
        assert!(response.starts_with("connected"), "bystander: {response}");
        Bystander { stream, xid: 0 }
    }

    /// exists("/") on the bystander's own session answers OK with a Stat.
    fn still_works(&mut self, target: Target, case: &str) {
        self.xid += 1;
        let frame = wire::request(self.xid, 3, &Writer::new().string("/").boolean(false));
        self.stream
            .write_all(&frame)
            .unwrap_or_else(|e| panic!("{target:?} bystander after {case}: {e}"));
        let reply = wire::read_reply(&mut self.stream)
            .unwrap_or_else(|e| panic!("{target:?} bystander after {case}: {e}"));
        assert_eq!(
            (reply.xid, reply.err, reply.body.len()),
            (self.xid, 0, 68),
            "{target:?} bystander after {case}"
        );
    }
}

/// Both members, their bystanders and the differences found so far.
struct Pair {
    zk: Member,
    rookery: Member,
    zk_bystander: Bystander,
    rookery_bystander: Bystander,
    differences: Vec<String>,
}

impl Pair {
    fn start(extra: &[(&str, &str)]) -> Pair {
        let (zk, rookery) = start_pair(extra);
        let zk_bystander = Bystander::new(&zk);
        let rookery_bystander = Bystander::new(&rookery);
        Pair {
            zk,
            rookery,
            zk_bystander,
            rookery_bystander,
            differences: Vec::new(),
        }
    }

    /// Runs `case` on both members: Rookery must see what ZooKeeper sees.
    fn same(&mut self, name: &str, case: impl Fn(SocketAddr) -> Seen) {
        let zk = case(self.zk.addr());
        let rookery = case(self.rookery.addr());
        if std::env::var_os("BAD_CLIENT_INPUT_VERBOSE").is_some() {
            eprintln!("{name}:\n    zookeeper: {zk:?}\n    rookery:   {rookery:?}");
        }
        if zk != rookery {
            self.differences.push(format!(
                "{name}:\n    zookeeper: {zk:?}\n    rookery:   {rookery:?}"
            ));
        }
        self.check_members(name);
    }

    /// Runs `case` on Rookery only, where ZooKeeper's own answer is not a model to
    /// follow (said at the call), and checks Rookery's safe answer.
    fn rookery_only(&mut self, name: &str, expected: &[&str], case: impl Fn(SocketAddr) -> Seen) {
        let rookery = case(self.rookery.addr());
        if rookery != expected {
            self.differences.push(format!(
                "{name} (Rookery only):\n    expected: {expected:?}\n    rookery:  {rookery:?}"
            ));
        }
        self.check_members(name);
    }

    fn check_members(&mut self, name: &str) {
        assert!(self.zk.is_running(), "ZooKeeper exited after {name}");
        assert!(self.rookery.is_running(), "Rookery exited after {name}");
        self.zk_bystander.still_works(Target::ApacheZk, name);
        self.rookery_bystander.still_works(Target::Rookery, name);
    }

    fn finish(self) {
        assert!(
            self.differences.is_empty(),
            "Rookery differs from ZooKeeper in {} case(s):\n{}",
            self.differences.len(),
            self.differences.join("\n")
        );
    }
}

// ---------------------------------------------------------------------------
// Wire helpers

/// A ConnectRequest body with the readOnly byte.
fn connect_body(last_zxid: i64, timeout: i32, session: i64, passwd: &[u8]) -> Writer {
    Writer::new()
        .int(0)
        .long(last_zxid)
        .int(timeout)
        .long(session)
        .buffer(passwd)
        .boolean(false)
}

/// Reads a frame: `Ok(Some)`, or what ended the connection instead.
fn read_frame(s: &mut TcpStream) -> Result<Vec<u8>, String> {
    match wire::read_frame(s) {
        Ok(Some(f)) => Ok(f),
        Ok(None) => Err("closed".into()),
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
            Err("hang".into())
        }
        Err(_) => Err("closed".into()),
    }
}

/// A ConnectResponse as a line (the session id only as zero or not, with its password length).
fn read_connect_response(s: &mut TcpStream) -> String {
    match read_frame(s) {
        Ok(f) if f.len() >= 20 => {
            let mut r = Reader(&f);
            let proto = r.int();
            let timeout = r.int();
            let session = r.long();
            let passwd = r.buffer();
            format!(
                "connected proto={proto} timeout={timeout} session={} passwd={:?} len={}",
                if session == 0 { "zero" } else { "nonzero" },
                passwd.map(|p| if p.iter().all(|b| *b == 0) {
                    format!("{} zero bytes", p.len())
                } else {
                    format!("{} bytes", p.len())
                }),
                f.len()
            )
        }
        Ok(f) => format!("short frame {f:?}"),
        Err(e) => e,
    }
}

/// A reply or event frame as a line. Multi replies are read op by op; other
/// bodies only by length (Stats hold times and zxids that differ between servers).
fn describe(frame: &[u8], opcode: i32) -> String {
    if frame.len() < 16 {
        return format!("short frame {frame:?}");
    }
    let mut r = Reader(frame);
    let xid = r.int();
    let _zxid = r.long();
    let err = r.int();
    if xid == -1 {
        let (ty, state) = (r.int(), r.int());
        let path = r.buffer().map(|p| String::from_utf8_lossy(&p).into_owned());
        return format!("event type={ty} state={state} path={path:?}");
    }
    let body = if (opcode == op::MULTI || opcode == op::MULTI_READ) && err == 0 {
        describe_multi(&mut r)
    } else if opcode == op::CREATE && err == 0 {
        format!(
            "path={:?}",
            r.buffer().map(|p| String::from_utf8_lossy(&p).into_owned())
        )
    } else {
        format!("{} bytes", r.remaining())
    };
    format!("xid={xid} err={err} {body}")
}

/// Per-op results of a multi: type, err and (for create) the path.
fn describe_multi(r: &mut Reader) -> String {
    let mut out = Vec::new();
    loop {
        if r.remaining() < 9 {
            out.push(format!("truncated({})", r.remaining()));
            break;
        }
        let ty = r.int();
        let done = r.0[0] != 0;
        r.0 = &r.0[1..];
        let err = r.int();
        if done {
            out.push(format!("end({ty},{err})"));
            break;
        }
        match ty {
            op::CREATE => out.push(format!(
                "create {:?}",
                r.buffer().map(|p| String::from_utf8_lossy(&p).into_owned())
            )),
            op::CREATE2 | op::CREATE_CONTAINER | op::CREATE_TTL => {
                let path = r.buffer().map(|p| String::from_utf8_lossy(&p).into_owned());
                r.0 = &r.0[68.min(r.0.len())..];
                out.push(format!("create2 {path:?}"));
            }
            op::SET_DATA => {
                r.0 = &r.0[68.min(r.0.len())..];
                out.push("setData".into());
            }
            op::DELETE | op::CHECK => out.push(format!("op{ty}")),
            op::ERROR => out.push(format!("error {}", r.int())),
            op::GET_DATA => {
                let data = r.buffer();
                r.0 = &r.0[68.min(r.0.len())..];
                out.push(format!("getData {data:?}"));
            }
            other => {
                out.push(format!("op{other} rest={}", r.remaining()));
                break;
            }
        }
    }
    out.join(", ")
}

/// A connection with a fresh session (40 s timeout).
fn session(addr: SocketAddr) -> TcpStream {
    let mut s = wire::connect(addr).unwrap();
    s.write_all(&connect_body(0, 40_000, 0, &[0; 16]).framed())
        .unwrap();
    let r = read_connect_response(&mut s);
    assert!(r.starts_with("connected"), "{r}");
    s
}

/// Writes `requests` (opcode, frame), then a ping, and reads until the ping's
/// reply (then "alive"), or until the server closes or stops answering.
fn exchange(s: &mut TcpStream, requests: &[(i32, Vec<u8>)]) -> Seen {
    let mut bytes = Vec::new();
    for (_, f) in requests {
        bytes.extend_from_slice(f);
    }
    bytes.extend_from_slice(&wire::request(-2, op::PING, &Writer::new()));
    wire::write_lenient(s, &bytes);
    // Replies come in request order: map xids to opcodes for describing them.
    let opcode_of = |xid: i32| {
        requests
            .iter()
            .find(|(_, f)| f.get(4..8) == Some(&xid.to_be_bytes()[..]))
            .map_or(0, |(o, _)| *o)
    };
    // Our ping's reply is the first -2 reply after those to pings among `requests`.
    let mut pings_before = requests
        .iter()
        .filter(|(_, f)| f.get(4..8) == Some(&(-2i32).to_be_bytes()[..]))
        .count();
    let mut seen = Vec::new();
    loop {
        match read_frame(s) {
            Ok(f) => {
                let xid = f
                    .get(..4)
                    .map(|x| i32::from_be_bytes(x.try_into().unwrap()));
                if xid == Some(-2) {
                    if pings_before == 0 {
                        seen.push("alive".into());
                        return seen;
                    }
                    pings_before -= 1;
                }
                seen.push(describe(&f, xid.map_or(0, opcode_of)));
            }
            Err(e) => {
                seen.push(e);
                return seen;
            }
        }
    }
}

/// Writes `requests` and reads until the server closes (or stops answering): for
/// requests after which ZooKeeper closes the connection, where a ping behind them
/// would race with the close.
fn until_closed(s: &mut TcpStream, requests: &[(i32, Vec<u8>)]) -> Seen {
    for (_, f) in requests {
        wire::write_lenient(s, f);
    }
    let mut seen = Vec::new();
    loop {
        match read_frame(s) {
            Ok(f) => seen.push(describe(&f, requests.first().map_or(0, |r| r.0))),
            Err(e) => {
                seen.push(e);
                return seen;
            }
        }
    }
}

/// One request on a fresh session, then a ping.
fn one(addr: SocketAddr, opcode: i32, body: Writer) -> Seen {
    let mut s = session(addr);
    exchange(&mut s, &[(opcode, wire::request(1, opcode, &body))])
}

/// A create body: path, data, open ACL, flags.
fn create_body(path: &str, flags: i32) -> Writer {
    Writer::new()
        .string(path)
        .buffer(b"d")
        .open_acl()
        .int(flags)
}

/// A create body with a raw (possibly invalid UTF-8) path.
fn create_raw(path: &[u8]) -> Writer {
    Writer::new().buffer(path).buffer(b"d").open_acl().int(0)
}

/// Creates `path` (persistent, data "d") and asserts it worked.
fn must_create(s: &mut TcpStream, path: &str) {
    let seen = exchange(
        s,
        &[(
            op::CREATE,
            wire::request(1000, op::CREATE, &create_body(path, 0)),
        )],
    );
    assert_eq!(
        seen[0],
        format!("xid=1000 err=0 path={:?}", Some(path)),
        "setup create {path}"
    );
}

/// A multi body: each (type, op body) behind a MultiHeader, then the terminator.
fn multi(ops: &[(i32, Writer)]) -> Writer {
    let mut w = Writer::new();
    for (ty, body) in ops {
        w = w.int(*ty).boolean(false).int(-1);
        w.0.extend_from_slice(body.bytes());
    }
    w.int(-1).boolean(true).int(-1)
}

// ---------------------------------------------------------------------------
// Tests

/// §8.4 item 4: ConnectRequest fields, a second ConnectRequest, requests before one.
#[test]
fn bad_connect_requests() {
    let mut pair = Pair::start(&[]);

    // timeOut ≤ 0, tiny and i32::MAX: clamped to [2, 20] ticks.
    for timeout in [0, -1, i32::MIN, 1, i32::MAX] {
        pair.same(&format!("timeout {timeout}"), |addr| {
            let mut s = wire::connect(addr).unwrap();
            s.write_all(&connect_body(0, timeout, 0, &[0; 16]).framed())
                .unwrap();
            let mut seen = vec![read_connect_response(&mut s)];
            seen.extend(exchange(&mut s, &[]));
            seen
        });
    }

    // A password of another length with a new session (it is not looked at) and
    // with an existing session id (it cannot match: expired, then closed).
    for len in [0usize, 15, 17, 64] {
        pair.same(&format!("new session, passwd of {len} bytes"), |addr| {
            let mut s = wire::connect(addr).unwrap();
            s.write_all(&connect_body(0, 30_000, 0, &vec![7; len]).framed())
                .unwrap();
            let mut seen = vec![read_connect_response(&mut s)];
            seen.extend(exchange(&mut s, &[]));
            seen
        });
        pair.same(&format!("live session, passwd of {len} bytes"), |addr| {
            let (owner, id) = live_session(addr);
            let mut s = wire::connect(addr).unwrap();
            s.write_all(&connect_body(0, 30_000, id, &vec![7; len]).framed())
                .unwrap();
            let mut seen = vec![read_connect_response(&mut s)];
            seen.extend(exchange(&mut s, &[]));
            drop(owner);
            seen
        });
    }

    // An unknown session id with a random password: "expired" (timeout 0).
    pair.same("unknown session id", |addr| {
        let mut s = wire::connect(addr).unwrap();
        let passwd: Vec<u8> = (0..16u8).map(|i| i.wrapping_mul(37) ^ 0x5a).collect();
        s.write_all(&connect_body(0, 30_000, 0x1234_5678_9abc_def0, &passwd).framed())
            .unwrap();
        let mut seen = vec![read_connect_response(&mut s)];
        seen.extend(exchange(&mut s, &[]));
        seen
    });

    // A live session with a wrong 16-byte password: expired, then closed.
    pair.same("live session, wrong password", |addr| {
        let (_owner, id) = live_session(addr);
        let mut s = wire::connect(addr).unwrap();
        s.write_all(&connect_body(0, 30_000, id, &[0xee; 16]).framed())
            .unwrap();
        let mut seen = vec![read_connect_response(&mut s)];
        seen.extend(exchange(&mut s, &[]));
        seen
    });
    // ZooKeeper also drops the owner's connection (it closes the session's current
    // connection before it checks the password; the session itself lives on and
    // its owner can reconnect). Anyone who knows a session id could so keep its
    // owner disconnected: Rookery leaves the owner's connection alone.
    pair.rookery_only(
        "live session, wrong password: the owner",
        &["alive"],
        |addr| {
            let (mut owner, id) = live_session(addr);
            let mut s = wire::connect(addr).unwrap();
            s.write_all(&connect_body(0, 30_000, id, &[0xee; 16]).framed())
                .unwrap();
            read_connect_response(&mut s);
            exchange(&mut owner, &[])
        },
    );

    // lastZxidSeen ahead of the server: refused without a ConnectResponse.
    for zxid in [1i64 << 40, i64::MAX] {
        pair.same(&format!("lastZxidSeen {zxid:#x}"), |addr| {
            let mut s = wire::connect(addr).unwrap();
            s.write_all(&connect_body(zxid, 30_000, 0, &[0; 16]).framed())
                .unwrap();
            vec![read_connect_response(&mut s)]
        });
    }

    // A second ConnectRequest on a live connection is read as a request
    // (xid 0, opcode 0).
    pair.same("duplicate ConnectRequest", |addr| {
        let mut s = session(addr);
        let again = connect_body(0, 30_000, 0, &[0; 16]).framed();
        until_closed(&mut s, &[(0, again)])
    });

    // Requests before any ConnectRequest: read as a (bad) ConnectRequest.
    pair.same("getData before ConnectRequest", |addr| {
        let mut s = wire::connect(addr).unwrap();
        let get = wire::request(1, op::GET_DATA, &Writer::new().string("/").boolean(false));
        wire::write_lenient(&mut s, &get);
        vec![read_connect_response(&mut s)]
    });
    pair.same("create before ConnectRequest", |addr| {
        let mut s = wire::connect(addr).unwrap();
        let create = wire::request(1, op::CREATE, &create_body("/before-connect", 0));
        wire::write_lenient(&mut s, &create);
        vec![read_connect_response(&mut s)]
    });
    pair.same("ping before ConnectRequest", |addr| {
        let mut s = wire::connect(addr).unwrap();
        wire::write_lenient(&mut s, &wire::request(-2, op::PING, &Writer::new()));
        vec![read_connect_response(&mut s)]
    });

    pair.finish();
}

/// A session kept open by its connection: the connection and the session id.
fn live_session(addr: SocketAddr) -> (TcpStream, i64) {
    let mut s = wire::connect(addr).unwrap();
    s.write_all(&connect_body(0, 30_000, 0, &[0; 16]).framed())
        .unwrap();
    let f = read_frame(&mut s).expect("ConnectResponse");
    let mut r = Reader(&f);
    let (_, _, id) = (r.int(), r.int(), r.long());
    (s, id)
}

/// §8.4 items 5–7: client-sent internal opcodes and reserved xids, a standalone
/// check, and multi edge cases.
#[test]
fn bad_opcodes_xids_and_multis() {
    let mut pair = Pair::start(&[]);

    let exists_root = || Writer::new().string("/").boolean(false);
    // ZooKeeper answers a client's createSession with a ConnectResponse-shaped frame
    // where a reply header belongs (xid 0 and an "error" made of its fields): no
    // client can read that. Rookery treats it as any opcode a client may not send.
    pair.rookery_only(
        "createSession (-10) from a client",
        &["xid=1 err=-6 0 bytes", "closed"],
        |addr| {
            let mut s = session(addr);
            let body = Writer::new().int(30_000);
            until_closed(
                &mut s,
                &[(
                    op::CREATE_SESSION,
                    wire::request(1, op::CREATE_SESSION, &body),
                )],
            )
        },
    );
    // Opcodes no client may send: UNIMPLEMENTED, then the connection is closed.
    for opcode in [op::ERROR, 0, 10, 999, i32::MIN] {
        pair.same(&format!("opcode {opcode}"), |addr| {
            let mut s = session(addr);
            until_closed(
                &mut s,
                &[(opcode, wire::request(1, opcode, &Writer::new()))],
            )
        });
    }
    // closeSession: the reply, then the connection is closed (no ping behind it:
    // ZooKeeper may answer one that came in before it closed).
    pair.same("closeSession (-11)", |addr| {
        let mut s = session(addr);
        let close = wire::request(1, op::CLOSE_SESSION, &Writer::new());
        until_closed(&mut s, &[(op::CLOSE_SESSION, close)])
    });
    for xid in [-1, -4, -8] {
        pair.same(&format!("exists with xid {xid}"), |addr| {
            let mut s = session(addr);
            exchange(
                &mut s,
                &[(op::EXISTS, wire::request(xid, op::EXISTS, &exists_root()))],
            )
        });
    }
    pair.same("ping with xid -2", |addr| {
        let mut s = session(addr);
        exchange(
            &mut s,
            &[(op::PING, wire::request(-2, op::PING, &Writer::new()))],
        )
    });

    // A standalone check (ZOOKEEPER-2623): ZooKeeper 3.8 answers a failing one
    // (BADVERSION, NONODE) but sends no reply at all to one that passes, so its
    // client waits for ever. Rookery refuses every standalone check with
    // UNIMPLEMENTED and closes the connection.
    pair.rookery_only(
        "standalone check",
        &["xid=1 err=-6 0 bytes", "closed"],
        |addr| {
            let mut s = session(addr);
            must_create(&mut s, "/check");
            let check = |xid, path: &str, version| {
                (
                    op::CHECK,
                    wire::request(xid, op::CHECK, &Writer::new().string(path).int(version)),
                )
            };
            exchange(
                &mut s,
                &[
                    check(1, "/check", 0),
                    check(2, "/check", 5),
                    check(3, "/nocheck", -1),
                ],
            )
        },
    );

    // Multis.
    pair.same("empty multi", |addr| one(addr, op::MULTI, multi(&[])));
    pair.same("empty multiRead", |addr| {
        one(addr, op::MULTI_READ, multi(&[]))
    });
    pair.same("nested multi", |addr| {
        let inner = multi(&[(op::CREATE, create_body("/nested", 0))]);
        one(addr, op::MULTI, multi(&[(op::MULTI, inner)]))
    });
    pair.same("getData inside a write multi", |addr| {
        one(
            addr,
            op::MULTI,
            multi(&[
                (op::CREATE, create_body("/mixed", 0)),
                (op::GET_DATA, Writer::new().string("/").boolean(false)),
            ]),
        )
    });
    pair.same("create inside a multiRead", |addr| {
        one(
            addr,
            op::MULTI_READ,
            multi(&[
                (op::GET_DATA, Writer::new().string("/").boolean(false)),
                (op::CREATE, create_body("/mixed-read", 0)),
            ]),
        )
    });
    pair.same("create and delete of one path", |addr| {
        let mut s = session(addr);
        let ops = multi(&[
            (op::CREATE, create_body("/cd", 0)),
            (op::DELETE, Writer::new().string("/cd").int(-1)),
        ]);
        let mut seen = exchange(&mut s, &[(op::MULTI, wire::request(1, op::MULTI, &ops))]);
        let exists = Writer::new().string("/cd").boolean(false);
        seen.extend(exchange(
            &mut s,
            &[(op::EXISTS, wire::request(2, op::EXISTS, &exists))],
        ));
        seen
    });
    pair.same("failing check in the middle", |addr| {
        let mut s = session(addr);
        must_create(&mut s, "/fc");
        let ops = multi(&[
            (op::CREATE, create_body("/fc/a", 0)),
            (
                op::SET_DATA,
                Writer::new().string("/fc").buffer(b"x").int(-1),
            ),
            (op::CHECK, Writer::new().string("/fc").int(7)),
            (op::CREATE, create_body("/fc/b", 0)),
        ]);
        let mut seen = exchange(&mut s, &[(op::MULTI, wire::request(1, op::MULTI, &ops))]);
        // Nothing of it was applied.
        let exists = Writer::new().string("/fc/a").boolean(false);
        seen.extend(exchange(
            &mut s,
            &[(op::EXISTS, wire::request(2, op::EXISTS, &exists))],
        ));
        let get = Writer::new().string("/fc").boolean(false);
        seen.extend(exchange(
            &mut s,
            &[(op::GET_DATA, wire::request(3, op::GET_DATA, &get))],
        ));
        seen
    });
    pair.same("multi with a good check", |addr| {
        let mut s = session(addr);
        must_create(&mut s, "/gc");
        let ops = multi(&[
            (op::CHECK, Writer::new().string("/gc").int(0)),
            (op::CREATE, create_body("/gc/a", mode::SEQUENTIAL)),
            (
                op::SET_DATA,
                Writer::new().string("/gc").buffer(b"x").int(0),
            ),
        ]);
        exchange(&mut s, &[(op::MULTI, wire::request(1, op::MULTI, &ops))])
    });
    // create2 in a multi: ZooKeeper 3.8.0 answers with a plain create result (path,
    // no Stat: ZOOKEEPER-4026, fixed in later releases); Rookery gives the Stat.
    pair.rookery_only(
        "create2 in a multi",
        &["xid=1 err=0 create2 Some(\"/c2\"), end(-1,-1)", "alive"],
        |addr| {
            one(
                addr,
                op::MULTI,
                multi(&[(op::CREATE2, create_body("/c2", 0))]),
            )
        },
    );
    for (name, ty, body) in [
        (
            "setACL",
            op::SET_ACL,
            Writer::new().string("/").open_acl().int(-1),
        ),
        (
            "exists",
            op::EXISTS,
            Writer::new().string("/").boolean(false),
        ),
        ("ping", op::PING, Writer::new()),
        ("unknown 999", 999, Writer::new()),
    ] {
        pair.same(&format!("{name} inside a multi"), |addr| {
            one(addr, op::MULTI, multi(&[(ty, body.clone())]))
        });
    }

    pair.finish();
}

/// §8.4 items 8–11: path validation, the /zookeeper subtree, semantic abuse and
/// bad jute fields.
#[test]
fn bad_paths_and_fields() {
    let mut pair = Pair::start(&[]);

    // Path validation: create, exists and delete of each bad path.
    // "": every write refuses it, but ZooKeeper's reads find the root under ""
    // (its DataTree keeps the root under that key); Rookery answers NONODE
    // (reported, not changed).
    pair.rookery_only(
        "path \"\"",
        &[
            "xid=1 err=-8 0 bytes",
            "xid=2 err=-101 0 bytes",
            "xid=3 err=-101 0 bytes",
            "alive",
        ],
        |addr| {
            let mut s = session(addr);
            let read = Writer::new().string("").boolean(false);
            exchange(
                &mut s,
                &[
                    (
                        op::CREATE,
                        wire::request(1, op::CREATE, &create_body("", 0)),
                    ),
                    (op::EXISTS, wire::request(2, op::EXISTS, &read)),
                    (op::GET_DATA, wire::request(3, op::GET_DATA, &read)),
                ],
            )
        },
    );
    let mut paths: Vec<(String, Vec<u8>)> = [
        "a",
        "/a/",
        "//",
        "//a",
        "/.",
        "/..",
        "/a/./b",
        "/a/../b",
        "/a/.",
        "/a\0b",
        "/\u{7f}",
        "/\u{80}",
        "/\u{9f}",
        "/\u{a0}",
        "/\u{d7ff}",
        "/\u{e000}",
        "/\u{f8ff}",
        "/\u{f900}",
        "/\u{ffef}",
        "/\u{fff0}",
        "/\u{fffd}",
        "/\u{ffff}",
        "/\u{10000}",
        "/\u{1f600}",
        "/\u{10ffff}",
        "/.a",
        "/..a",
        "/a.",
        "/a b",
    ]
    .iter()
    .map(|p| (format!("{p:?}"), p.as_bytes().to_vec()))
    .collect();
    for c in 1u8..0x20 {
        paths.push((format!("/x{c:#04x}"), vec![b'/', b'x', c]));
    }
    for (name, bytes) in [
        ("lone continuation byte", &b"/a\x80"[..]),
        ("truncated 2-byte sequence", b"/a\xc3"),
        ("overlong '/'", b"/a\xc0\xafb"),
        ("CESU surrogate U+D800", b"/a\xed\xa0\x80"),
        ("0xff byte", b"/\xff"),
    ] {
        paths.push((format!("invalid UTF-8 ({name})"), bytes.to_vec()));
    }
    for (name, path) in &paths {
        pair.same(&format!("path {name}"), |addr| {
            let mut s = session(addr);
            let exists = Writer::new().buffer(path).boolean(false);
            let get = Writer::new().buffer(path).boolean(false);
            let delete = Writer::new().buffer(path).int(-1);
            let set = Writer::new().buffer(path).buffer(b"x").int(-1);
            exchange(
                &mut s,
                &[
                    (op::CREATE, wire::request(1, op::CREATE, &create_raw(path))),
                    (op::EXISTS, wire::request(2, op::EXISTS, &exists)),
                    (op::GET_DATA, wire::request(3, op::GET_DATA, &get)),
                    (op::SET_DATA, wire::request(4, op::SET_DATA, &set)),
                    (op::DELETE, wire::request(5, op::DELETE, &delete)),
                ],
            )
        });
    }
    // A trailing '/' is fine for a sequential create: the suffix is the last segment.
    pair.same("sequential create of \"/seq/\"", |addr| {
        let mut s = session(addr);
        must_create(&mut s, "/seq");
        let body = create_body("/seq/", mode::SEQUENTIAL);
        exchange(&mut s, &[(op::CREATE, wire::request(1, op::CREATE, &body))])
    });
    // A path of almost 1 MiB in a frame just under jute.maxbuffer.
    pair.same("path of ~1 MiB", |addr| {
        let path = format!("/{}", "p".repeat(MAX_BUFFER - 200));
        let mut s = session(addr);
        let exists = Writer::new().string(&path).boolean(false);
        let mut seen = exchange(
            &mut s,
            &[(op::EXISTS, wire::request(1, op::EXISTS, &exists))],
        );
        let create = create_body(&path, 0);
        seen.extend(
            exchange(
                &mut s,
                &[(op::CREATE, wire::request(2, op::CREATE, &create))],
            )
            .into_iter()
            .map(|l| l.chars().take(40).collect::<String>()),
        );
        seen
    });

    // Writes under /zookeeper.
    for (name, ty, body) in [
        (
            "create /zookeeper/x",
            op::CREATE,
            create_body("/zookeeper/x", 0),
        ),
        (
            "create /zookeeper/config/x",
            op::CREATE,
            create_body("/zookeeper/config/x", 0),
        ),
        (
            "create /zookeeper/quota/x",
            op::CREATE,
            create_body("/zookeeper/quota/x", 0),
        ),
        (
            "create /zookeeper",
            op::CREATE,
            create_body("/zookeeper", 0),
        ),
        (
            "setData /zookeeper",
            op::SET_DATA,
            Writer::new().string("/zookeeper").buffer(b"x").int(-1),
        ),
        (
            "setData /zookeeper/config",
            op::SET_DATA,
            Writer::new()
                .string("/zookeeper/config")
                .buffer(b"x")
                .int(-1),
        ),
        (
            "setData /zookeeper/quota",
            op::SET_DATA,
            Writer::new()
                .string("/zookeeper/quota")
                .buffer(b"x")
                .int(-1),
        ),
        (
            "delete /zookeeper/config",
            op::DELETE,
            Writer::new().string("/zookeeper/config").int(-1),
        ),
        (
            "delete /zookeeper/quota",
            op::DELETE,
            Writer::new().string("/zookeeper/quota").int(-1),
        ),
        (
            "delete /zookeeper",
            op::DELETE,
            Writer::new().string("/zookeeper").int(-1),
        ),
        ("delete /", op::DELETE, Writer::new().string("/").int(-1)),
        (
            "setACL /zookeeper/config",
            op::SET_ACL,
            Writer::new().string("/zookeeper/config").open_acl().int(-1),
        ),
    ] {
        pair.same(name, |addr| one(addr, ty, body.clone()));
    }

    // Semantic abuse.
    pair.same("child of an ephemeral", |addr| {
        let mut s = session(addr);
        exchange(
            &mut s,
            &[
                (
                    op::CREATE,
                    wire::request(1, op::CREATE, &create_body("/eph", mode::EPHEMERAL)),
                ),
                (
                    op::CREATE,
                    wire::request(2, op::CREATE, &create_body("/eph/c", 0)),
                ),
                (
                    op::CREATE,
                    wire::request(3, op::CREATE, &create_body("/eph/s", mode::SEQUENTIAL)),
                ),
            ],
        )
    });
    pair.same("TTL create with extended types disabled", |addr| {
        one(
            addr,
            op::CREATE_TTL,
            create_body("/ttl", mode::PERSISTENT_WITH_TTL).long(1000),
        )
    });
    pair.same("container create (default config)", |addr| {
        one(
            addr,
            op::CREATE_CONTAINER,
            create_body("/container", mode::CONTAINER),
        )
    });
    pair.same("container flags on plain create", |addr| {
        one(
            addr,
            op::CREATE,
            create_body("/container2", mode::CONTAINER),
        )
    });
    pair.same("TTL flags on plain create", |addr| {
        one(
            addr,
            op::CREATE,
            create_body("/ttl2", mode::PERSISTENT_WITH_TTL),
        )
    });
    pair.same("unknown create flags", |addr| {
        one(addr, op::CREATE, create_body("/flags", 99))
    });
    pair.same("version -1 vs i32::MAX on a fresh node", |addr| {
        let mut s = session(addr);
        must_create(&mut s, "/v");
        let set = |xid, v| {
            (
                op::SET_DATA,
                wire::request(
                    xid,
                    op::SET_DATA,
                    &Writer::new().string("/v").buffer(b"x").int(v),
                ),
            )
        };
        let del = |xid, v| {
            (
                op::DELETE,
                wire::request(xid, op::DELETE, &Writer::new().string("/v").int(v)),
            )
        };
        exchange(
            &mut s,
            &[
                set(1, i32::MAX),
                set(2, -1),
                set(3, -2),
                del(4, i32::MAX),
                del(5, -2),
                del(6, -1),
            ],
        )
    });

    // Jute fields.
    pair.same("string length -2", |addr| {
        one(addr, op::EXISTS, Writer::new().int(-2).boolean(false))
    });
    pair.same("string length past the frame", |addr| {
        one(addr, op::EXISTS, Writer::new().int(1000).boolean(false))
    });
    // A null path: ZooKeeper fails inside (a NullPointerException, answered as
    // MARSHALLINGERROR); Rookery reads null strings as "" (reported, not changed).
    pair.rookery_only(
        "null path (-1)",
        &["xid=1 err=-101 0 bytes", "alive"],
        |addr| one(addr, op::EXISTS, Writer::new().int(-1).boolean(false)),
    );
    pair.same("null data (-1) in create", |addr| {
        one(
            addr,
            op::CREATE,
            Writer::new().string("/nulldata").int(-1).open_acl().int(0),
        )
    });
    pair.same("ACL count 2^31-1", |addr| {
        let body = Writer::new()
            .string("/aclcount")
            .buffer(b"d")
            .int(i32::MAX)
            .int(31)
            .string("world")
            .string("anyone")
            .int(0);
        one(addr, op::CREATE, body)
    });
    pair.same("ACL count -2", |addr| {
        one(
            addr,
            op::CREATE,
            Writer::new().string("/aclneg").buffer(b"d").int(-2).int(0),
        )
    });
    pair.same("null ACL list (-1)", |addr| {
        one(
            addr,
            op::CREATE,
            Writer::new().string("/aclnull").buffer(b"d").int(-1).int(0),
        )
    });
    pair.same("empty ACL list", |addr| {
        one(
            addr,
            op::CREATE,
            Writer::new().string("/aclempty").buffer(b"d").int(0).int(0),
        )
    });
    for (name, perms, scheme, id) in [
        ("perms 0x20", 0x20, "world", "anyone"),
        ("perms 0xff", 0xff, "world", "anyone"),
        ("perms -1", -1, "world", "anyone"),
        ("perms 0", 0, "world", "anyone"),
        ("unknown scheme", 31, "nosuch", "x"),
        ("world with another id", 31, "world", "someone"),
        ("digest without :hash", 31, "digest", "user"),
        ("digest with :hash", 31, "digest", "user:aGFzaA=="),
        ("auth without any", 31, "auth", ""),
        ("ip not an address", 31, "ip", "not-an-ip"),
        ("ip bad mask", 31, "ip", "127.0.0.1/99"),
    ] {
        pair.same(&format!("ACL {name}"), |addr| {
            let path = format!("/acl-{}", name.replace([' ', ':'], "-"));
            let body = Writer::new()
                .string(&path)
                .buffer(b"d")
                .int(1)
                .int(perms)
                .string(scheme)
                .string(id)
                .int(0);
            let mut s = session(addr);
            exchange(&mut s, &[(op::CREATE, wire::request(1, op::CREATE, &body))])
        });
    }
    // exists on a node whose ACL grants no READ: ZooKeeper 3.8 checks no ACL on
    // exists and answers with the Stat; Rookery answers NOAUTH (reported, not changed).
    pair.rookery_only(
        "exists without READ permission",
        &[
            "xid=1 err=0 path=Some(\"/noread\")",
            "xid=2 err=-102 0 bytes",
            "alive",
        ],
        |addr| {
            let create = Writer::new()
                .string("/noread")
                .buffer(b"d")
                .int(1)
                .int(0)
                .string("world")
                .string("anyone")
                .int(0);
            let exists = Writer::new().string("/noread").boolean(false);
            let mut s = session(addr);
            exchange(
                &mut s,
                &[
                    (op::CREATE, wire::request(1, op::CREATE, &create)),
                    (op::EXISTS, wire::request(2, op::EXISTS, &exists)),
                ],
            )
        },
    );

    pair.finish();
}

/// §8.4 items 10, 12 and 13: TTLs with extended types on, auth, setWatches and
/// many watches on one path.
#[test]
fn bad_auth_ttl_and_watches() {
    let mut pair = Pair::start(&[("extendedTypesEnabled", "true")]);

    for ttl in [0i64, -1, 1, (1 << 40) - 1, 1 << 40, i64::MAX] {
        pair.same(&format!("TTL {ttl}"), |addr| {
            let path = format!("/ttl{}", ttl.unsigned_abs());
            one(
                addr,
                op::CREATE_TTL,
                create_body(&path, mode::PERSISTENT_WITH_TTL).long(ttl),
            )
        });
    }
    pair.same("TTL op with non-TTL flags", |addr| {
        one(
            addr,
            op::CREATE_TTL,
            create_body("/ttlflags", mode::PERSISTENT).long(1000),
        )
    });

    // addAuth.
    for (name, scheme, auth) in [
        ("unknown scheme", "nosuch", &b"x"[..]),
        ("digest without ':'", "digest", b"user"),
        ("digest with ':'", "digest", b"user:pw"),
        ("empty scheme", "", b"x"),
        ("world", "world", b"anyone"),
    ] {
        pair.same(&format!("addAuth {name}"), |addr| {
            let mut s = session(addr);
            let body = Writer::new().int(0).string(scheme).buffer(auth);
            exchange(&mut s, &[(op::AUTH, wire::request(-4, op::AUTH, &body))])
        });
    }

    // setWatches with a huge exist list of missing paths, then one of them is created.
    pair.same("setWatches with ~60k paths", |addr| {
        let mut s = session(addr);
        let paths: Vec<String> = (0..60_000).map(|i| format!("/sw{i:05}")).collect();
        let mut body = Writer::new().long(0).int(0).int(paths.len() as i32);
        for p in &paths {
            body = body.string(p);
        }
        let body = body.int(0);
        assert!(body.bytes().len() < MAX_BUFFER);
        let mut seen = exchange(
            &mut s,
            &[(op::SET_WATCHES, wire::request(-8, op::SET_WATCHES, &body))],
        );
        let mut other = session(addr);
        must_create(&mut other, "/sw12345");
        seen.extend(exchange(&mut s, &[]));
        seen
    });
    // setWatches with a relativeZxid far in the future.
    pair.same("setWatches from the future", |addr| {
        let mut s = session(addr);
        let mut setup = session(addr);
        must_create(&mut setup, "/fw");
        let body = Writer::new()
            .long(i64::MAX / 2)
            .int(2)
            .string("/fw")
            .string("/fw-missing")
            .int(2)
            .string("/fw")
            .string("/fw-missing2")
            .int(2)
            .string("/fw")
            .string("/fw-missing3");
        let mut seen = exchange(
            &mut s,
            &[(op::SET_WATCHES, wire::request(-8, op::SET_WATCHES, &body))],
        );
        seen.sort();
        let set = Writer::new().string("/fw").buffer(b"x").int(-1);
        seen.extend(exchange(
            &mut setup,
            &[(op::SET_DATA, wire::request(1, op::SET_DATA, &set))],
        ));
        seen.extend(exchange(&mut s, &[]));
        seen
    });

    // 100k getData watches on one path from one session; one setData fires them.
    pair.same("100k watches on one path", |addr| {
        const N: i32 = 100_000;
        let mut s = session(addr);
        must_create(&mut s, "/hot");
        let mut reader = s.try_clone().unwrap();
        let counter = thread::spawn(move || {
            let mut ok = 0;
            for _ in 0..N {
                let f = read_frame(&mut reader).expect("getData reply");
                let mut r = Reader(&f);
                let (_xid, _zxid, err) = (r.int(), r.long(), r.int());
                if err == 0 {
                    ok += 1;
                }
            }
            ok
        });
        let get = Writer::new().string("/hot").boolean(true);
        let mut batch = Vec::new();
        for xid in 1..=N {
            batch.extend_from_slice(&wire::request(xid, op::GET_DATA, &get));
            if batch.len() > 1 << 16 {
                s.write_all(&batch).unwrap();
                batch.clear();
            }
        }
        s.write_all(&batch).unwrap();
        let ok = counter.join().unwrap();
        let mut seen = vec![format!("{ok} getData OK")];
        let mut other = session(addr);
        let set = Writer::new().string("/hot").buffer(b"x").int(-1);
        seen.extend(exchange(
            &mut other,
            &[(op::SET_DATA, wire::request(1, op::SET_DATA, &set))],
        ));
        seen.extend(exchange(&mut s, &[]));
        seen
    });

    pair.finish();
}
