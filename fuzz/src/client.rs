//! `client_request`: the bytes a client sends on its TCP connection, taken the
//! way `server/src/net/mod.rs` takes them: a length-prefixed ConnectRequest,
//! then length-prefixed frames of `xid | opcode | body`. Every request that
//! decodes is then carried through what the server does with it: prep and the
//! data tree for writes (with the Txn's own encoding round trip), lookups, ACL
//! checks and the watch registry for reads, and the reply encoders.
//!
//! Checked: nothing panics; no length claimed by the input is trusted beyond
//! the frame (the jute reader bounds every length by the frame it reads); a
//! prepared Txn decodes back to itself; reply frames carry their own length;
//! the tree's running data size agrees with a recount.

use rookery_server::admin;
use rookery_server::core::reply::{self, ReadResult};
use rookery_server::prep::{Prep, PrepContext};
use rookery_server::proto::{
    op, perms, watcher_type, ConnectRequest, DecodeError, ErrorCode, Id, Reader, Request,
};
use rookery_server::tree::watch::{Table, WatchRegistry};
use rookery_server::tree::{acl, path, DataTree, OpResult};
use rookery_server::txn::{Logged, Txn, TxnBody};

/// ZooKeeper's default `jute.maxbuffer`, the server's default frame limit.
pub const MAX_FRAME: usize = 0xfffff;

/// The session id the simulated server hands out (a client never picks its own).
const SESSION: i64 = 0x0100_0000_0000_0001;
const CONN: u64 = 1;

/// Splits a byte stream into frames as the server's connection reader does.
struct Stream<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Stream<'a> {
    fn len(&mut self) -> Option<i32> {
        let b = self.data.get(self.pos..self.pos + 4)?;
        self.pos += 4;
        Some(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// The body of a frame: `None` for a length outside 0..=max (the server
    /// closes the connection) or a stream that ends inside the frame.
    fn body(&mut self, len: i32) -> Option<&'a [u8]> {
        if len < 0 || len as usize > MAX_FRAME {
            return None;
        }
        let end = self.pos.checked_add(len as usize)?;
        let b = self.data.get(self.pos..end)?;
        self.pos = end;
        Some(b)
    }
}

/// Bytes the harness may hold besides what the input accounts for.
const FIXED_BUDGET: usize = 1 << 20;

pub fn run(data: &[u8]) {
    crate::within_budget(data.len(), FIXED_BUDGET, || run_unbudgeted(data));
}

fn run_unbudgeted(data: &[u8]) {
    let mut s = Stream { data, pos: 0 };
    let Some(first) = s.len() else { return };
    if let Some(word) = admin::word_of(first) {
        assert_eq!(word.as_bytes(), &first.to_be_bytes());
        return;
    }
    let Some(body) = s.body(first) else { return };
    let Ok(connect) = ConnectRequest::decode(body) else {
        return;
    };
    let again = ConnectRequest::decode(&connect.encode()).expect("re-encoded ConnectRequest");
    assert_eq!(
        again, connect,
        "ConnectRequest does not survive its own encoding"
    );

    let mut sim = Sim::new(&connect);
    while let Some(len) = s.len() {
        let Some(body) = s.body(len) else { return };
        let mut r = Reader::new(body);
        let (Ok(xid), Ok(opcode)) = (r.read_i32(), r.read_i32()) else {
            return;
        };
        let before = r.position();
        match Request::decode(opcode, &mut r) {
            Ok(req) => {
                assert!(r.position() >= before && r.position() <= body.len());
                if !sim.handle(xid, opcode, req) {
                    return;
                }
            }
            // An opcode no client may send gets an error reply; the connection stays.
            Err(DecodeError::Unknown { what: "opcode", .. }) => {
                sim.reply(reply::header_only(xid, sim.zxid, ErrorCode::Unimplemented));
            }
            Err(_) => return,
        }
    }
}

/// Enough of a member to take one client's requests: the tree, prep, watches.
struct Sim {
    tree: DataTree,
    prep: Prep,
    watches: WatchRegistry,
    ids: Vec<Id>,
    zxid: i64,
}

impl Sim {
    fn new(connect: &ConnectRequest) -> Sim {
        let mut sim = Sim {
            tree: DataTree::new(),
            prep: Prep::default(),
            watches: WatchRegistry::default(),
            ids: vec![Id::new("ip", "127.0.0.1")],
            zxid: 0,
        };
        sim.commit(
            0,
            &[op::CREATE_SESSION],
            TxnBody::CreateSession {
                timeout_ms: connect.timeout_ms,
                passwd: connect.passwd.clone(),
            },
        );
        sim
    }

    fn reply(&self, frame: Vec<u8>) {
        assert!(frame.len() >= 4);
        let len = u32::from_be_bytes([frame[0], frame[1], frame[2], frame[3]]) as usize;
        assert_eq!(len, frame.len() - 4, "reply frame length prefix");
    }

    /// Orders, applies and answers a Txn, as the core does once it commits.
    fn commit(&mut self, xid: i32, opcodes: &[i32], body: TxnBody) {
        let txn = Txn {
            zxid: self.zxid + 1,
            time_ms: 1_000 + self.zxid,
            session_id: SESSION,
            body,
        };
        let logged = Logged {
            origin_member: 1,
            origin_request: xid as u64,
            txn,
        };
        let decoded = Logged::decode(&logged.encode()).expect("a prepared Txn decodes");
        assert_eq!(decoded, logged, "a prepared Txn survives its encoding");
        self.zxid = logged.txn.zxid;
        let applied = self.tree.apply(&logged.txn);
        self.prep.applied(self.zxid);
        let result = applied.result.expect("a new zxid is applied");
        self.reply(reply::write_result(xid, self.zxid, opcodes, &result));
        if let OpResult::Multi(rs) = &result {
            assert!(rs.len() == opcodes.len() || opcodes.is_empty());
        }
        let mut events = Vec::new();
        for change in &applied.changes {
            self.watches.trigger(change, &mut events);
        }
        for e in events {
            self.reply(reply::notification(e.event, &e.path));
        }
        let recount: u64 = self
            .tree
            .nodes()
            .map(|(p, n)| (p.len() + n.data.as_ref().map_or(0, |d| d.len())) as u64)
            .sum();
        assert_eq!(
            self.tree.approximate_data_size(),
            recount,
            "data size drifted"
        );
    }

    fn readable(&self, p: &str) -> Result<&rookery_server::tree::Node, ErrorCode> {
        let node = self.tree.get(p).ok_or(ErrorCode::NoNode)?;
        if acl::allowed(&node.acl, perms::READ, &self.ids) {
            Ok(node)
        } else {
            Err(ErrorCode::NoAuth)
        }
    }

    fn read_result(&self, req: &Request) -> ReadResult {
        match req {
            Request::GetData { path, .. } => match self.readable(path) {
                Ok(n) => ReadResult::Data(n.data.clone(), n.stat()),
                Err(e) => ReadResult::Error(e),
            },
            Request::GetChildren { path, .. } => match self.readable(path) {
                Ok(n) => ReadResult::Children(n.children.iter().cloned().collect()),
                Err(e) => ReadResult::Error(e),
            },
            _ => ReadResult::Error(ErrorCode::Unimplemented),
        }
    }

    /// Handles one decoded request; false when the connection ends.
    fn handle(&mut self, xid: i32, opcode: i32, req: Request) -> bool {
        let zxid = self.zxid;
        let _ = req.path();
        match req {
            Request::CloseSession => {
                let body = self.prep.prep_close_session(&self.tree, SESSION, zxid + 1);
                self.commit(xid, &[opcode], body);
                return false;
            }
            Request::Auth { scheme, auth } => {
                if scheme == "digest" {
                    let creds = String::from_utf8_lossy(&auth);
                    self.ids
                        .push(Id::new("digest", &acl::digest_identity(&creds)));
                }
            }
            ref w if w.is_write() => {
                let opcodes: Vec<i32> = match w {
                    Request::Multi(ops) => ops.iter().map(Request::opcode).collect(),
                    _ => vec![opcode],
                };
                let ctx = PrepContext {
                    session_id: SESSION,
                    ids: &self.ids,
                    zxid: zxid + 1,
                    extended_types: xid & 1 == 1,
                };
                let body = self.prep.prep_write(&self.tree, &ctx, w);
                self.commit(xid, &opcodes, body);
            }
            Request::GetData { ref path, watch } | Request::Exists { ref path, watch } => {
                if watch {
                    self.watches.add_standard(Table::Data, path, CONN);
                }
                let frame = match self.tree.get(path) {
                    Some(n) => {
                        let (data, stat) = (n.data.clone(), n.stat());
                        reply::ok_with(xid, zxid, |w| {
                            if opcode == op::GET_DATA {
                                w.write_buffer(data.as_deref());
                            }
                            stat.write(w);
                        })
                    }
                    None => reply::header_only(xid, zxid, ErrorCode::NoNode),
                };
                self.reply(frame);
            }
            Request::GetChildren {
                ref path,
                watch,
                with_stat,
            } => {
                if watch {
                    self.watches.add_standard(Table::Child, path, CONN);
                }
                let frame = match self.readable(path) {
                    Ok(n) => {
                        let children: Vec<&String> = n.children.iter().collect();
                        let stat = n.stat();
                        reply::ok_with(xid, zxid, |w| {
                            w.write_string_vec(&children);
                            if with_stat {
                                stat.write(w);
                            }
                        })
                    }
                    Err(e) => reply::header_only(xid, zxid, e),
                };
                self.reply(frame);
            }
            Request::GetAcl { ref path } => {
                let frame = match self.tree.get(path) {
                    Some(n) => {
                        let (a, stat) = (n.acl.clone(), n.stat());
                        reply::ok_with(xid, zxid, |w| reply::write_acl_and_stat(w, &a, &stat))
                    }
                    None => reply::header_only(xid, zxid, ErrorCode::NoNode),
                };
                self.reply(frame);
            }
            Request::MultiRead(ref ops) => {
                let results: Vec<ReadResult> = ops.iter().map(|r| self.read_result(r)).collect();
                self.reply(reply::multi_read(xid, zxid, &results));
            }
            Request::SetWatches(sw) => {
                for p in sw.data.iter().chain(&sw.exist) {
                    self.watches.add_standard(Table::Data, p, CONN);
                }
                for p in &sw.child {
                    self.watches.add_standard(Table::Child, p, CONN);
                }
                for p in &sw.persistent {
                    self.watches.add_persistent(p, CONN, false);
                }
                for p in &sw.persistent_recursive {
                    self.watches.add_persistent(p, CONN, true);
                }
            }
            Request::AddWatch { ref path, mode } => {
                if path::is_valid_path(path) && (mode == 0 || mode == 1) {
                    self.watches.add_persistent(path, CONN, mode == 1);
                }
            }
            Request::CheckWatches {
                ref path,
                watcher_type: wt,
                remove,
            } => {
                let found = self.watches.check(path, CONN, wt, remove);
                if wt == watcher_type::ANY && !found {
                    assert!(!self.watches.check(path, CONN, watcher_type::DATA, false));
                }
            }
            Request::GetAllChildrenNumber { ref path } => {
                if let Some(n) = self.tree.descendant_count(path) {
                    assert!(n as usize <= self.tree.node_count());
                }
            }
            Request::GetEphemerals { ref prefix } => {
                let mine: Vec<String> = self
                    .tree
                    .ephemerals_of(SESSION)
                    .into_iter()
                    .filter(|p| p.starts_with(prefix.as_str()))
                    .collect();
                for p in &mine {
                    assert!(
                        self.tree.get(p).is_some(),
                        "ephemeral index names a missing node"
                    );
                }
            }
            _ => self.reply(reply::header_only(xid, zxid, ErrorCode::Ok)),
        }
        true
    }
}
