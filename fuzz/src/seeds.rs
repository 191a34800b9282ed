//! The seed corpus: valid inputs for each target, built with the server's own
//! encoders so the fuzzer starts from messages that get past every check.
//! `tests/corpus.rs` writes them to `corpus/<target>/seed-*` when asked
//! (ROOKERY_FUZZ_WRITE_SEEDS=1) and replays them on every `cargo test`.

use crate::election::{notification_bytes, STEP_LOST, STEP_NOTIFY, STEP_RAW, STEP_TICK};
use crate::quorum::{link_stream, FRAME_SNAPSHOT_CHUNK, FRAME_ZAB, FRAME_ZAB_PART};
use crate::tree_diff::{
    seed, OP_CLOSE, OP_CREATE, OP_DELETE, OP_FLUSH, OP_MULTI, OP_SET_ACL, OP_SET_DATA,
};
use crate::Out;
use bytes::Bytes;
use rookery_server::proto::{op, watcher_type, Acl, ConnectRequest, Id, Writer};
use rookery_server::tree::snapshot::ChunkEncoder;
use rookery_server::tree::DataTree;
use rookery_server::txn::{CreateTxn, Logged, Txn, TxnBody};
use rookery_server::zab::{make_zxid, wire, Entry, Msg, PeerState, SyncKind, Vote};

/// (target, seed name, bytes).
pub type Seed = (&'static str, String, Vec<u8>);

pub fn all() -> Vec<Seed> {
    let mut out = Vec::new();
    out.extend(client().into_iter().map(|(n, b)| ("client_request", n, b)));
    out.extend(quorum().into_iter().map(|(n, b)| ("quorum_message", n, b)));
    out.extend(
        election()
            .into_iter()
            .map(|(n, b)| ("election_message", n, b)),
    );
    out.extend(tree().into_iter().map(|(n, b)| ("tree_differential", n, b)));
    out
}

fn named(name: &str, b: Vec<u8>) -> (String, Vec<u8>) {
    (name.to_string(), b)
}

// ---- client_request ----

fn connect(passwd: Vec<u8>, read_only: Option<bool>) -> Vec<u8> {
    let body = ConnectRequest {
        protocol_version: 0,
        last_zxid_seen: 0,
        timeout_ms: 30_000,
        session_id: 0,
        passwd,
        read_only,
    }
    .encode();
    let mut f = (body.len() as i32).to_be_bytes().to_vec();
    f.extend_from_slice(&body);
    f
}

/// One request frame: `xid | opcode | body`.
fn request(xid: i32, opcode: i32, body: impl FnOnce(&mut Writer)) -> Vec<u8> {
    let mut w = Writer::framed();
    w.write_i32(xid);
    w.write_i32(opcode);
    body(&mut w);
    w.finish_frame()
}

fn open_acl(w: &mut Writer) {
    Acl::write_list(w, &Acl::world_all());
}

fn create(xid: i32, opcode: i32, path: &str, flags: i32) -> Vec<u8> {
    request(xid, opcode, |w| {
        w.write_string(path);
        w.write_buffer(Some(b"data"));
        open_acl(w);
        w.write_i32(flags);
        if opcode == op::CREATE_TTL {
            w.write_i64(60_000);
        }
    })
}

fn multi_header(w: &mut Writer, opcode: i32, done: bool) {
    w.write_i32(opcode);
    w.write_bool(done);
    w.write_i32(-1);
}

fn session(frames: &[Vec<u8>]) -> Vec<u8> {
    let mut s = connect(vec![0; 16], Some(false));
    for f in frames {
        s.extend_from_slice(f);
    }
    s
}

fn client() -> Vec<(String, Vec<u8>)> {
    let mut out = vec![
        named("connect-45", connect(vec![0; 16], Some(false))),
        named("connect-44", connect(vec![0; 16], None)),
        named("connect-28", connect(vec![], None)),
        named("four-letter-ruok", b"ruok".to_vec()),
        named("four-letter-mntr", b"mntr".to_vec()),
    ];
    out.push(named(
        "create-every-opcode",
        session(&[
            create(1, op::CREATE, "/a", 0),
            create(2, op::CREATE2, "/a/b", 2),
            create(3, op::CREATE_CONTAINER, "/c", 4),
            create(4, op::CREATE_TTL, "/t", 5),
            create(5, op::CREATE, "/e", 1),
            create(6, op::CREATE, "/e/x", 0),
        ]),
    ));
    out.push(named(
        "reads-and-watches",
        session(&[
            create(1, op::CREATE, "/w", 0),
            request(2, op::GET_DATA, |w| {
                w.write_string("/w");
                w.write_bool(true);
            }),
            request(3, op::EXISTS, |w| {
                w.write_string("/w/x");
                w.write_bool(true);
            }),
            request(4, op::GET_CHILDREN2, |w| {
                w.write_string("/w");
                w.write_bool(true);
            }),
            request(5, op::GET_ACL, |w| w.write_string("/w")),
            request(6, op::SET_DATA, |w| {
                w.write_string("/w");
                w.write_buffer(Some(b"new"));
                w.write_i32(0);
            }),
            create(7, op::CREATE, "/w/x", 0),
            request(8, op::DELETE, |w| {
                w.write_string("/w/x");
                w.write_i32(-1);
            }),
            request(9, op::GET_ALL_CHILDREN_NUMBER, |w| w.write_string("/")),
        ]),
    ));
    out.push(named(
        "multi-and-multiread",
        session(&[
            request(1, op::MULTI, |w| {
                multi_header(w, op::CREATE, false);
                w.write_string("/m");
                w.write_buffer(None);
                open_acl(w);
                w.write_i32(0);
                multi_header(w, op::CHECK, false);
                w.write_string("/m");
                w.write_i32(0);
                multi_header(w, op::SET_DATA, false);
                w.write_string("/m");
                w.write_buffer(Some(b"x"));
                w.write_i32(-1);
                multi_header(w, op::DELETE, false);
                w.write_string("/nope");
                w.write_i32(-1);
                multi_header(w, -1, true);
            }),
            request(2, op::MULTI_READ, |w| {
                multi_header(w, op::GET_DATA, false);
                w.write_string("/zookeeper/config");
                w.write_bool(false);
                multi_header(w, op::GET_CHILDREN, false);
                w.write_string("/");
                w.write_bool(false);
                multi_header(w, -1, true);
            }),
        ]),
    ));
    out.push(named(
        "watch-management",
        session(&[
            request(1, op::SET_WATCHES2, |w| {
                w.write_i64(0);
                for list in [&["/a"][..], &["/b"], &["/"], &["/p"], &["/r"]] {
                    w.write_string_vec(list);
                }
            }),
            request(2, op::SET_WATCHES, |w| {
                w.write_i64(0);
                w.write_string_vec(&["/a"]);
                w.write_i32(-1);
                w.write_string_vec::<&str>(&[]);
            }),
            request(3, op::ADD_WATCH, |w| {
                w.write_string("/r");
                w.write_i32(1);
            }),
            request(4, op::CHECK_WATCHES, |w| {
                w.write_string("/a");
                w.write_i32(watcher_type::DATA);
            }),
            request(5, op::REMOVE_WATCHES, |w| {
                w.write_string("/r");
                w.write_i32(watcher_type::ANY);
            }),
            create(6, op::CREATE, "/r", 0),
            create(7, op::CREATE, "/r/s", 0),
        ]),
    ));
    out.push(named(
        "auth-acl-session",
        session(&[
            request(-4, op::AUTH, |w| {
                w.write_i32(0);
                w.write_string("digest");
                w.write_buffer(Some(b"u:secret"));
            }),
            request(1, op::CREATE, |w| {
                w.write_string("/private");
                w.write_buffer(Some(b"x"));
                Acl::write_list(
                    w,
                    &[Acl {
                        perms: 31,
                        id: Id::new("auth", ""),
                    }],
                );
                w.write_i32(1);
            }),
            request(2, op::SET_ACL, |w| {
                w.write_string("/private");
                Acl::write_list(
                    w,
                    &[Acl {
                        perms: 1,
                        id: Id::new("ip", "127.0.0.0/8"),
                    }],
                );
                w.write_i32(0);
            }),
            request(3, op::GET_EPHEMERALS, |w| w.write_string("/")),
            request(4, op::WHO_AM_I, |_| {}),
            request(5, op::SYNC, |w| w.write_string("/")),
            request(-2, op::PING, |_| {}),
            request(6, op::SASL, |w| w.write_buffer(Some(b"token"))),
            request(7, op::RECONFIG, |w| {
                w.write_string("");
                w.write_string("");
                w.write_string("");
                w.write_i64(-1);
            }),
            request(8, 999, |_| {}),
            request(9, op::CLOSE_SESSION, |_| {}),
        ]),
    ));
    out
}

// ---- quorum_message ----

fn entry(zxid: i64, body: TxnBody) -> Entry {
    let logged = Logged {
        origin_member: 2,
        origin_request: 7,
        txn: Txn {
            zxid,
            time_ms: 1_000,
            session_id: 0x0100_0000_0000_0001,
            body,
        },
    };
    Entry {
        zxid,
        data: Bytes::from(logged.encode()),
    }
}

fn create_txn(path: &str) -> TxnBody {
    TxnBody::Create(CreateTxn {
        path: path.into(),
        data: Some(b"d".to_vec()),
        acl: Acl::world_all(),
        owner: 0,
    })
}

fn zab(msg: &Msg) -> Vec<u8> {
    let mut f = vec![FRAME_ZAB];
    f.extend_from_slice(&wire::encode(msg));
    f
}

/// A structured quorum input: mode byte 1, the hello id, payloads with u16 lengths.
fn structured(payloads: &[Vec<u8>]) -> Vec<u8> {
    let mut o = Out::default();
    o.u8(1).u8(2);
    for p in payloads {
        o.u16(p.len() as u16).raw(p);
    }
    o.0
}

fn raw(stream: Vec<u8>) -> Vec<u8> {
    let mut b = vec![0u8];
    b.extend_from_slice(&stream);
    b
}

fn quorum() -> Vec<(String, Vec<u8>)> {
    let z = |e, c| make_zxid(e, c);
    let vote = Vote {
        leader: 2,
        zxid: z(1, 5),
        epoch: 1,
    };
    let mut out = Vec::new();
    let discovery = vec![
        zab(&Msg::Notification {
            vote,
            round: 3,
            state: PeerState::Leading,
            config: Default::default(),
        }),
        zab(&Msg::LeaderInfo { epoch: 2 }),
        zab(&Msg::FollowerInfo {
            accepted_epoch: 1,
            last_zxid: z(1, 5),
        }),
        zab(&Msg::AckEpoch {
            current_epoch: 1,
            last_zxid: z(1, 5),
        }),
        zab(&Msg::AckNewLeader { epoch: 2 }),
        zab(&Msg::UpToDate { commit: z(1, 5) }),
    ];
    out.push(named("discovery", structured(&discovery)));
    let broadcast = vec![
        zab(&Msg::Proposal(entry(z(2, 1), create_txn("/a")))),
        zab(&Msg::Ack { zxid: z(2, 1) }),
        zab(&Msg::Commit { zxid: z(2, 1) }),
        zab(&Msg::Ping),
        zab(&Msg::PingAck),
        zab(&Msg::Request(Bytes::from_static(b"\x01forwarded write"))),
    ];
    out.push(named("broadcast", structured(&broadcast)));
    let bodies = [
        TxnBody::CreateSession {
            timeout_ms: 30_000,
            passwd: vec![1; 16],
        },
        TxnBody::Multi(vec![create_txn("/m"), TxnBody::Check { path: "/m".into() }]),
        TxnBody::MultiError(vec![0, -101, -2]),
        TxnBody::SetData {
            path: "/a".into(),
            data: None,
            version: 1,
        },
        TxnBody::SetAcl {
            path: "/a".into(),
            acl: Acl::world_all(),
            aversion: 1,
        },
        TxnBody::Delete { path: "/a".into() },
        TxnBody::CloseSession {
            ephemerals: vec!["/e".into()],
        },
    ];
    let entries: Vec<Entry> = bodies
        .into_iter()
        .enumerate()
        .map(|(i, b)| entry(z(2, i as u32 + 2), b))
        .collect();
    let diff = Msg::Sync {
        kind: SyncKind::Diff,
        entries: entries.clone(),
        epoch: 2,
    };
    out.push(named("sync-diff", structured(&[zab(&diff)])));
    out.push(named(
        "sync-trunc",
        structured(&[zab(&Msg::Sync {
            kind: SyncKind::Trunc(z(1, 3)),
            entries: entries[..2].to_vec(),
            epoch: 2,
        })]),
    ));
    // A DIFF sent in parts, as the core cuts a long one.
    let whole = wire::encode(&diff);
    let (a, b) = whole.split_at(whole.len() / 2);
    let mut part = vec![FRAME_ZAB_PART];
    part.extend_from_slice(a);
    let mut last = vec![FRAME_ZAB];
    last.extend_from_slice(b);
    out.push(named("sync-diff-in-parts", structured(&[part, last])));
    // SNAP: the chunks of a small tree, then the sync that installs it.
    let mut tree = DataTree::new();
    for (i, body) in [create_txn("/s"), create_txn("/s/t")]
        .into_iter()
        .enumerate()
    {
        tree.apply(&Txn {
            zxid: z(1, i as u32 + 1),
            time_ms: 5,
            session_id: 9,
            body,
        });
    }
    // In path order (the tree's own iteration order varies), so seeds are stable.
    let mut nodes: Vec<_> = tree.nodes().collect();
    nodes.sort_by(|a, b| a.0.cmp(b.0));
    let mut enc = ChunkEncoder::new(tree.last_zxid(), 1, 64);
    let mut chunks: Vec<Vec<u8>> = nodes
        .into_iter()
        .filter_map(|(p, n)| enc.node(p, &n.encoded()))
        .collect();
    chunks.push(enc.finish());
    let mut snap: Vec<Vec<u8>> = chunks
        .into_iter()
        .map(|c| {
            let mut f = vec![FRAME_SNAPSHOT_CHUNK];
            f.extend_from_slice(&c);
            f
        })
        .collect();
    snap.push(zab(&Msg::Sync {
        kind: SyncKind::Snap(tree.last_zxid()),
        entries: vec![],
        epoch: 2,
    }));
    out.push(named("sync-snap", structured(&snap)));
    // Regression: a PROPOSAL whose entry nests 13,000 multis (the decoder used
    // to recurse once a level and overflow its stack; it now refuses a multi
    // inside a multi). As large as a structured payload gets.
    let mut nested = Writer::new();
    for v in [2i64, 7, z(2, 9), 1_000, 5] {
        nested.write_i64(v);
    }
    for _ in 0..13_000 {
        nested.write_raw(&[8]);
        nested.write_i32(1);
    }
    nested.write_raw(&[7]);
    nested.write_string("/a");
    let proposal = zab(&Msg::Proposal(Entry {
        zxid: z(2, 9),
        data: Bytes::from(nested.into_inner()),
    }));
    assert!(proposal.len() <= u16::MAX as usize);
    out.push(named("regression-nested-multi", structured(&[proposal])));
    // Raw streams: a good one, then the framing errors the reader refuses.
    out.push(named("raw-stream", raw(link_stream(3, &broadcast))));
    let mut bad_sum = link_stream(3, &broadcast[..1]);
    let n = bad_sum.len();
    bad_sum[n - 1] ^= 1;
    out.push(named("raw-bad-checksum", raw(bad_sum)));
    let mut too_long = link_stream(3, &[]);
    too_long.extend_from_slice(&u32::MAX.to_be_bytes());
    too_long.extend_from_slice(&[0; 8]);
    out.push(named("raw-too-long", raw(too_long)));
    out.push(named(
        "raw-bad-hello",
        raw(b"\0\0\0\x0cXXXXGET / HTTP/1.1".to_vec()),
    ));
    out
}

// ---- election_message ----

/// An election input: header (member, epochs, zxid counter), then steps.
fn election_seed(me: u8, steps: impl FnOnce(&mut Out)) -> Vec<u8> {
    let mut o = Out::default();
    o.u8(me - 1).u8(1).u8(0).u8(5);
    steps(&mut o);
    o.0
}

/// A notify step: from, leader, zxid (epoch, counter), vote epoch, round, state.
fn notify(o: &mut Out, from: u8, leader: u8, zxid: (u8, u8), epoch: u8, round: u8, state: u8) {
    o.u8(STEP_NOTIFY)
        .u8(from)
        .u8(leader)
        .u8(zxid.0)
        .u8(zxid.1)
        .u8(epoch)
        .u8(round)
        .u8(state);
}

fn ticks(o: &mut Out, n: u8) {
    o.u8(STEP_TICK).u8(0).u8(n - 1);
}

fn election() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    // Member 1 hears 2 and 3 vote for 3 (a later zxid) and elects 3.
    out.push(named(
        "elect-the-best",
        election_seed(1, |o| {
            notify(o, 2, 2, (1, 4), 1, 1, 0);
            notify(o, 3, 3, (1, 9), 1, 1, 0);
            notify(o, 2, 3, (1, 9), 1, 1, 0);
            ticks(o, 4);
        }),
    ));
    // Member 3 has the best history: it leads once the others agree.
    out.push(named(
        "become-leader",
        election_seed(3, |o| {
            notify(o, 1, 3, (1, 5), 1, 1, 0);
            notify(o, 2, 3, (1, 5), 1, 1, 0);
            ticks(o, 4);
            o.u8(STEP_LOST).u8(2);
            ticks(o, 8);
        }),
    ));
    // Joining an ensemble that already has a leader (2) and a follower (3).
    out.push(named(
        "join-settled",
        election_seed(1, |o| {
            notify(o, 2, 2, (1, 5), 1, 4, 2);
            notify(o, 3, 2, (1, 5), 1, 4, 1);
            ticks(o, 2);
            o.u8(STEP_LOST).u8(2);
        }),
    ));
    // An observer, a newer round, a vote from a stranger, an invalid state byte.
    out.push(named(
        "observer-and-oddities",
        election_seed(4, |o| {
            notify(o, 1, 1, (1, 5), 1, 9, 0);
            notify(o, 5, 5, (3, 1), 3, 1, 0);
            notify(o, 2, 250, (1, 5), 1, 240, 0);
            notify(o, 2, 2, (1, 5), 1, 1, 4);
            ticks(o, 8);
        }),
    ));
    // Raw notifications through the decoder.
    out.push(named(
        "raw-notifications",
        election_seed(2, |o| {
            for (from, leader, state) in [(1u8, 3u64, 0u8), (3, 3, 0), (1, 3, 1)] {
                let b = notification_bytes(leader, make_zxid(1, 7), 1, 2, state);
                o.u8(STEP_RAW).u8(from).u8(b.len() as u8).raw(&b);
            }
            ticks(o, 4);
        }),
    ));
    out
}

// ---- tree_differential ----

/// Op bytes: kind, writer, then the kind's selectors (see `tree_diff::gen_sub`).
fn tree() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    // Persistent, sequential and ephemeral creates; children; deletes.
    out.push(named(
        "create-delete",
        seed(2, |o| {
            // create /a (persistent, create, open ACL, data)
            o.u8(OP_CREATE).u8(0).u8(0).u8(0).u8(0).u8(0).u8(2).u8(0);
            // create2 /a/b sequential twice
            o.u8(OP_CREATE).u8(0).u8(2).u8(1).u8(2).u8(0).u8(3).u8(1);
            o.u8(OP_CREATE).u8(0).u8(2).u8(1).u8(2).u8(0).u8(3).u8(1);
            // an ephemeral /c, and a child under it (refused)
            o.u8(OP_CREATE).u8(1).u8(6).u8(0).u8(1).u8(0).u8(1).u8(0);
            o.u8(OP_CREATE)
                .u8(1)
                .u8(0xc0 | 6)
                .u8(0)
                .u8(0)
                .u8(0)
                .u8(1)
                .u8(0);
            o.u8(OP_FLUSH).u8(0);
            // delete /a (not empty), setData /a with versions
            o.u8(OP_DELETE).u8(0).u8(0).u8(0);
            o.u8(OP_SET_DATA).u8(0).u8(0).u8(2).u8(0x80);
            o.u8(OP_SET_DATA).u8(0).u8(0).u8(2).u8(0x80);
            // close session B: /c goes
            o.u8(OP_CLOSE).u8(1);
        }),
    ));
    out.push(named(
        "containers-ttl-acl",
        seed(1 | (3 << 1), |o| {
            // createContainer /b, createTTL /c with a TTL of 1000 in TTL mode
            o.u8(OP_CREATE).u8(0).u8(1).u8(2).u8(4).u8(0).u8(0).u8(0);
            o.u8(OP_CREATE).u8(0).u8(6).u8(3).u8(5).u8(3).u8(0).u8(0);
            // a digest-only node by B, which A may not change
            o.u8(OP_CREATE).u8(1).u8(0).u8(0).u8(0).u8(0).u8(0).u8(5);
            o.u8(OP_SET_DATA).u8(0).u8(0).u8(2).u8(0);
            o.u8(OP_SET_ACL).u8(1).u8(0).u8(0).u8(0x80);
            o.u8(OP_SET_ACL).u8(0).u8(0).u8(7).u8(0);
            o.u8(OP_CREATE).u8(1).u8(1).u8(0).u8(0).u8(0).u8(0).u8(6);
        }),
    ));
    out.push(named(
        "multi",
        seed(6, |o| {
            // multi: create /a, create /a/b, check /a, setData /a
            o.u8(OP_MULTI).u8(0).u8(4);
            o.u8(0).u8(0).u8(0).u8(0).u8(0).u8(2).u8(0);
            o.u8(0).u8(2).u8(0).u8(0).u8(0).u8(2).u8(0);
            o.u8(3).u8(0).u8(0x80);
            o.u8(2).u8(0).u8(2).u8(0x81);
            // a failing multi: delete /a (not empty) after a create
            o.u8(OP_MULTI).u8(0).u8(2);
            o.u8(0).u8(1).u8(0).u8(0).u8(0).u8(2).u8(0);
            o.u8(1).u8(0).u8(0);
            o.u8(OP_FLUSH).u8(0);
            // delete and re-create in one multi
            o.u8(OP_MULTI).u8(0).u8(3);
            o.u8(1).u8(2).u8(0);
            o.u8(0).u8(2).u8(1).u8(0).u8(0).u8(1).u8(0);
            o.u8(3).u8(2).u8(0x80);
        }),
    ));
    out.push(named(
        "bad-paths",
        seed(0, |o| {
            for p in 8..24u8 {
                o.u8(OP_CREATE).u8(0).u8(p).u8(0).u8(0).u8(0).u8(0).u8(0);
                o.u8(OP_DELETE).u8(0).u8(p).u8(0);
            }
        }),
    ));
    out
}
