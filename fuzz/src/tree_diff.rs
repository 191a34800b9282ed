//! `tree_differential`: random sequences of writes (create in every mode and
//! opcode, delete, setData, setACL, multi with check, closeSession) through
//! Rookery's write path, `prep::Prep` then `tree::DataTree::apply`, against the
//! reference model in `model.rs`.
//!
//! Writes are prepared in batches before any of them is applied, as the leader
//! pipelines them, so prep must see the pending changes of the writes before
//! it; the model simply applies each write at once. After each batch every
//! result (error codes, created paths, Stats) and then the whole tree (nodes,
//! data, Stats, ACLs, children, the ephemeral, container and TTL indexes) must
//! equal the model's; every Txn must survive its encoding; at the end the tree
//! must survive SNAP's chunking.
//!
//! Input: a header byte (extended types on or off, batch size), then ops; see
//! `Op` for the bytes of each.

use crate::model::{Kind, MOp, Model, Who, MAX_TTL};
use crate::{Input, Out};
use rookery_server::prep::{Prep, PrepContext};
use rookery_server::proto::{op, perms, Acl, Id, Request};
use rookery_server::tree::snapshot::{encode_chunks, Assembler};
use rookery_server::tree::{DataTree, NodeKind, OpResult};
use rookery_server::txn::Txn;

pub const SESSION_A: i64 = 0x0100_0000_0000_0001;
/// Session B has also authenticated as digest `u:x`.
pub const SESSION_B: i64 = 0x0100_0000_0000_0002;

/// Paths named directly: plain ones that collide often, system nodes, and
/// malformed ones, among them a character beyond U+FFFF, which ZooKeeper
/// refuses (Java sees its surrogates, in U+D800-U+F8FF), as the model
/// (`model::zk_valid_path`) and `tree::path` do.
pub const PATHS: &[&str] = &[
    "/a",
    "/b",
    "/a/b",
    "/a/c",
    "/a/b/c",
    "/b/a",
    "/c",
    "/a/b/c/d",
    "/",
    "/zookeeper",
    "/zookeeper/quota",
    "/zookeeper/config",
    "/zookeeper/x",
    "/a/",
    "//a",
    "a",
    "",
    "/a\0",
    "/.",
    "/a/..",
    "/..",
    "/ü",
    "/a\u{7f}",
    "/a/b/",
    "/\u{1F600}",
];

/// Op kinds (an op's first byte, modulo their count).
pub const OP_CREATE: u8 = 0;
pub const OP_DELETE: u8 = 2;
pub const OP_SET_DATA: u8 = 3;
pub const OP_SET_ACL: u8 = 4;
pub const OP_MULTI: u8 = 5;
pub const OP_CLOSE: u8 = 6;
pub const OP_FLUSH: u8 = 7;
const OPS: u8 = 8;

/// Create opcodes, by selector.
pub const CREATE_OPCODES: [i32; 4] = [
    op::CREATE,
    op::CREATE2,
    op::CREATE_CONTAINER,
    op::CREATE_TTL,
];
/// TTLs, by selector: valid ones, the edges, and invalid ones.
pub const TTLS: [i64; 8] = [-1, 0, 1, 1000, MAX_TTL, MAX_TTL + 1, -5, i64::MIN];

fn world(perms: i32) -> Acl {
    Acl {
        perms,
        id: Id::new("world", "anyone"),
    }
}

fn acl(scheme: &str, id: &str) -> Acl {
    Acl {
        perms: perms::ALL,
        id: Id::new(scheme, id),
    }
}

/// ACLs, by selector: open ones most often, restrictive ones, invalid ones.
pub fn acl_of(b: u8) -> Vec<Acl> {
    match b % 14 {
        0..=2 => vec![world(perms::ALL)],
        3 => vec![world(perms::READ)],
        4 => vec![world(perms::ALL & !perms::WRITE)],
        5 => vec![acl("digest", "u:x")],
        6 => vec![acl("auth", "")],
        7 => vec![],
        8 => vec![acl("world", "nobody")],
        9 => vec![acl("ip", "127.0.0.0/8")],
        10 => vec![acl("ip", "10.0.0.0/8"), world(perms::READ)],
        11 => vec![acl("ip", "not-an-address")],
        12 => vec![acl("digest", "u:")],
        _ => vec![
            world(perms::READ),
            world(perms::READ),
            world(perms::ALL & !perms::DELETE),
        ],
    }
}

pub fn data_of(b: u8) -> Option<Vec<u8>> {
    match b % 4 {
        0 => None,
        1 => Some(Vec::new()),
        _ => Some(vec![b; (b % 7) as usize]),
    }
}

pub fn version_of(b: u8) -> i32 {
    if b < 0x80 {
        -1
    } else {
        (b % 4) as i32
    }
}

/// A path: from `PATHS` (b < 0x80), or an existing node of the model, or a new
/// child of one (which lets sequential names and deep trees come up).
fn path_of(b: u8, model: &Model) -> String {
    if b < 0x80 {
        return PATHS[b as usize % PATHS.len()].to_string();
    }
    let i = (b & 0x3f) as usize % model.nodes.len();
    let existing = model
        .nodes
        .keys()
        .nth(i)
        .expect("index within the node count");
    if b & 0x40 == 0 {
        existing.clone()
    } else if existing == "/" {
        "/n".to_string()
    } else {
        format!("{existing}/n")
    }
}

struct Writer {
    session: i64,
    ids: Vec<Id>,
}

fn writer(b: u8) -> Writer {
    if b & 1 == 0 {
        Writer {
            session: SESSION_A,
            ids: vec![Id::new("ip", "127.0.0.1")],
        }
    } else {
        Writer {
            session: SESSION_B,
            ids: vec![Id::new("ip", "127.0.0.1"), Id::new("digest", "u:x")],
        }
    }
}

/// One write in both forms: the request the server decodes, the model's op.
fn gen_sub(input: &mut Input, model: &Model, kind: u8) -> (Request, MOp) {
    let path = path_of(input.u8(), model);
    match kind {
        OP_CREATE => {
            let opcode = CREATE_OPCODES[input.u8() as usize % 4];
            let flags = (input.u8() % 8) as i32;
            let mut ttl = TTLS[input.u8() as usize % TTLS.len()];
            // createTTL with a mode that is not TTL and a negative TTL passes
            // ZooKeeper's prep and then fails in its DataTree (an exception,
            // not an answer), so the model has nothing to say about it.
            if opcode == op::CREATE_TTL && !matches!(flags, 5 | 6) && ttl < 0 {
                ttl = 1000;
            }
            let data = data_of(input.u8());
            let acl = acl_of(input.u8());
            (
                Request::Create {
                    opcode,
                    path: path.clone(),
                    data: data.clone(),
                    acl: acl.clone(),
                    flags,
                    ttl: (opcode == op::CREATE_TTL).then_some(ttl),
                },
                MOp::Create {
                    opcode,
                    path,
                    data,
                    acl,
                    flags,
                    ttl,
                },
            )
        }
        OP_DELETE => {
            let version = version_of(input.u8());
            (
                Request::Delete {
                    path: path.clone(),
                    version,
                },
                MOp::Delete { path, version },
            )
        }
        OP_SET_DATA => {
            let data = data_of(input.u8());
            let version = version_of(input.u8());
            (
                Request::SetData {
                    path: path.clone(),
                    data: data.clone(),
                    version,
                },
                MOp::SetData {
                    path,
                    data,
                    version,
                },
            )
        }
        OP_SET_ACL => {
            let acl = acl_of(input.u8());
            let version = version_of(input.u8());
            (
                Request::SetAcl {
                    path: path.clone(),
                    acl: acl.clone(),
                    version,
                },
                MOp::SetAcl { path, acl, version },
            )
        }
        _ => {
            let version = version_of(input.u8());
            (
                Request::Check {
                    path: path.clone(),
                    version,
                },
                MOp::Check { path, version },
            )
        }
    }
}

/// The system under test: the tree, prep's overlay, and the prepared writes
/// not yet applied, each with the result the model gave it.
struct Real {
    tree: DataTree,
    prep: Prep,
    pending: Vec<(Txn, OpResult)>,
}

impl Real {
    fn flush(&mut self, model: &Model) {
        for (txn, expected) in std::mem::take(&mut self.pending) {
            assert_eq!(
                Txn::decode(&txn.encode()).as_ref(),
                Ok(&txn),
                "Txn encoding"
            );
            let applied = self.tree.apply(&txn);
            self.prep.applied(txn.zxid);
            assert_eq!(
                applied.result.as_ref(),
                Some(&expected),
                "zxid {}: {:?}",
                txn.zxid,
                txn.body
            );
        }
        assert_eq!(self.prep.pending_len(), 0, "prep forgot nothing it applied");
        compare(&self.tree, model);
    }
}

/// Bytes the harness may hold besides what the input accounts for.
const FIXED_BUDGET: usize = 2 << 20;

pub fn run(data: &[u8]) {
    crate::within_budget(data.len(), FIXED_BUDGET, || run_unbudgeted(data));
}

fn run_unbudgeted(data: &[u8]) {
    let mut input = Input::new(data);
    let header = input.u8();
    let extended_types = header & 1 == 1;
    let batch = 1 + ((header >> 1) % 4) as usize;
    let mut model = Model::new();
    let mut real = Real {
        tree: DataTree::new(),
        prep: Prep::default(),
        pending: Vec::new(),
    };
    let mut zxid = 0i64;
    let mut ops = 0;
    while !input.is_empty() && ops < 300 {
        ops += 1;
        let kind = input.u8() % OPS;
        let w = writer(input.u8());
        if kind == OP_FLUSH {
            real.flush(&model);
            continue;
        }
        zxid += 1;
        let who = Who {
            session: w.session,
            ids: &w.ids,
            zxid,
            time: zxid * 10,
            extended_types,
        };
        let ctx = PrepContext {
            session_id: w.session,
            ids: &w.ids,
            zxid,
            extended_types,
        };
        let (body, expected) = match kind {
            OP_CLOSE => (
                real.prep.prep_close_session(&real.tree, w.session, zxid),
                model.close_session(w.session, zxid),
            ),
            OP_MULTI => {
                let n = input.u8() % 5;
                let mut reqs = Vec::new();
                let mut mops = Vec::new();
                for _ in 0..n {
                    let sub = match input.u8() % 4 {
                        0 => OP_CREATE,
                        1 => OP_DELETE,
                        2 => OP_SET_DATA,
                        _ => u8::MAX,
                    };
                    let (r, m) = gen_sub(&mut input, &model, sub);
                    reqs.push(r);
                    mops.push(m);
                }
                let req = Request::Multi(reqs);
                (
                    real.prep.prep_write(&real.tree, &ctx, &req),
                    model.multi(&who, &mops),
                )
            }
            _ => {
                let kind = if kind == 1 { OP_CREATE } else { kind };
                let (req, mop) = gen_sub(&mut input, &model, kind);
                let expected = match model.apply(&who, &mop) {
                    Ok(r) => r,
                    Err(code) => OpResult::Error(code),
                };
                (real.prep.prep_write(&real.tree, &ctx, &req), expected)
            }
        };
        real.pending.push((
            Txn {
                zxid,
                time_ms: zxid * 10,
                session_id: w.session,
                body,
            },
            expected,
        ));
        if real.pending.len() >= batch {
            real.flush(&model);
        }
    }
    real.flush(&model);
    snapshot_round_trip(&real.tree);
}

/// The whole tree against the model.
fn compare(tree: &DataTree, model: &Model) {
    assert_eq!(tree.node_count(), model.nodes.len(), "node count");
    for (p, m) in &model.nodes {
        let n = tree
            .get(p)
            .unwrap_or_else(|| panic!("{p:?} missing from the tree"));
        assert_eq!(n.stat(), m.stat(), "stat of {p:?}");
        assert_eq!(n.data, m.data, "data of {p:?}");
        assert_eq!(*n.acl, m.acl, "ACL of {p:?}");
        assert_eq!(n.children, m.children, "children of {p:?}");
        let kind = match n.kind() {
            NodeKind::Persistent => Kind::Persistent,
            NodeKind::Ephemeral(s) => Kind::Ephemeral(s),
            NodeKind::Container => Kind::Container,
            NodeKind::Ttl(t) => Kind::Ttl(t),
        };
        assert_eq!(kind, m.kind, "kind of {p:?}");
    }
    for s in [SESSION_A, SESSION_B] {
        assert_eq!(
            tree.ephemerals_of(s),
            model.ephemerals_of(s),
            "ephemerals of {s:x}"
        );
    }
    let of_kind = |f: fn(&Kind) -> bool| -> Vec<&String> {
        model
            .nodes
            .iter()
            .filter(|(_, n)| f(&n.kind))
            .map(|(p, _)| p)
            .collect()
    };
    assert_eq!(
        tree.containers().collect::<Vec<_>>(),
        of_kind(|k| *k == Kind::Container),
        "container index"
    );
    assert_eq!(
        tree.ttl_nodes().collect::<Vec<_>>(),
        of_kind(|k| matches!(k, Kind::Ttl(_))),
        "TTL index"
    );
    let recount: u64 = tree
        .nodes()
        .map(|(p, n)| (p.len() + n.data.as_ref().map_or(0, |d| d.len())) as u64)
        .sum();
    assert_eq!(tree.approximate_data_size(), recount, "data size");
}

/// SNAP: the tree cut into small chunks and rebuilt is the same tree.
fn snapshot_round_trip(tree: &DataTree) {
    let mut a = Assembler::default();
    for c in encode_chunks(tree, 200) {
        a.add(&c).expect("our own chunks decode");
    }
    assert_eq!(a.whole_at(), Some(tree.last_zxid()));
    let rebuilt = a.build();
    assert_eq!(rebuilt.node_count(), tree.node_count());
    for (p, n) in tree.nodes() {
        assert_eq!(rebuilt.get(p), Some(n), "{p:?} after SNAP");
    }
    assert_eq!(rebuilt.digest(), tree.digest());
}

/// A seed: header, then ops written with `Out` in the order `run` reads them.
pub fn seed(header: u8, build: impl FnOnce(&mut Out)) -> Vec<u8> {
    let mut o = Out::default();
    o.u8(header);
    build(&mut o);
    o.0
}
