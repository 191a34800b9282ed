//! The DataTree: znodes, sessions and the indexes over them. Applies Txns
//! deterministically and reports what changed, for watches and for storage.

pub mod acl;
pub mod node;
pub mod path;
pub mod snapshot;
pub mod watch;

pub use node::{Node, NodeKind};

use crate::proto::{perms, Acl, ErrorCode, Id, Stat};
use crate::txn::{CreateTxn, Txn, TxnBody};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

/// The node table's hasher: foldhash, seeded per process (paths come from
/// clients, so the seed keeps collisions out of their reach) and several times
/// faster than SipHash on short keys.
type NodeMap = HashMap<String, Box<Node>, foldhash::fast::RandomState>;

/// A replicated session: what survives restarts and moves between members.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    pub timeout_ms: i32,
    pub passwd: Vec<u8>,
}

/// The outcome of applying one (sub-)operation: what the client is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpResult {
    SessionCreated,
    SessionClosed,
    Created {
        path: String,
        stat: Stat,
    },
    Deleted,
    Stat(Stat),
    Checked,
    Multi(Vec<OpResult>),
    Error(ErrorCode),
    /// A reconfig: the new `/zookeeper/config` and its Stat (a GetDataResponse).
    Config {
        data: Vec<u8>,
        stat: Stat,
    },
}

/// What a change did to its node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    Created,
    Deleted,
    DataChanged,
}

/// A change that may fire watches, with the ACLs that decide who hears of it
/// as they stood at this step of its Txn: ZooKeeper judges each event by the
/// ACL of that moment (ZOOKEEPER-4799), and a later op of the same multi may
/// replace the node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub kind: ChangeKind,
    pub path: String,
    /// The node's ACL (a deleted node's last one): for its NodeCreated,
    /// NodeDataChanged and NodeDeleted.
    pub acl: Arc<Vec<Acl>>,
    /// The parent's ACL: for the NodeChildrenChanged of a create or delete.
    pub parent_acl: Option<Arc<Vec<Acl>>>,
}

/// Everything one Txn did.
#[derive(Debug, Default)]
pub struct Applied {
    pub result: Option<OpResult>,
    pub changes: Vec<Change>,
    /// Paths whose stored record changed (created, deleted or updated, parents included).
    pub touched_paths: Vec<String>,
    pub touched_sessions: Vec<i64>,
}

#[derive(Debug, Clone)]
pub struct DataTree {
    /// Boxed: a table slot is then a key and a pointer (32 bytes), and a
    /// table sized for millions of nodes is mostly empty slots.
    nodes: NodeMap,
    /// One shared copy of each ACL list in use (most nodes share a handful),
    /// as ZooKeeper's ACL cache.
    acls: HashSet<Arc<Vec<Acl>>>,
    acl_sweep_at: usize,
    ephemerals: HashMap<i64, BTreeSet<String>>,
    containers: BTreeSet<String>,
    ttls: BTreeSet<String>,
    sessions: BTreeMap<i64, SessionRecord>,
    last_zxid: i64,
    data_bytes: u64,
}

/// Where ZooKeeper publishes the ensemble's membership.
pub const CONFIG_PATH: &str = "/zookeeper/config";

impl Default for DataTree {
    fn default() -> Self {
        Self::new()
    }
}

impl DataTree {
    /// A tree with only ZooKeeper's system nodes.
    pub fn new() -> DataTree {
        let mut t = DataTree {
            nodes: NodeMap::default(),
            acls: HashSet::new(),
            acl_sweep_at: 64,
            ephemerals: HashMap::new(),
            containers: BTreeSet::new(),
            ttls: BTreeSet::new(),
            sessions: BTreeMap::new(),
            last_zxid: 0,
            data_bytes: 0,
        };
        let open = t.intern_acl(&Acl::world_all());
        for p in ["/", "/zookeeper", "/zookeeper/quota"] {
            t.nodes.insert(
                p.to_string(),
                Box::new(Node::new(None, open.clone(), 0, 0, 0)),
            );
        }
        let mut config = Node::new(
            Some(Vec::new()),
            Arc::new(vec![Acl {
                perms: perms::READ,
                id: Id::new("world", "anyone"),
            }]),
            0,
            0,
            0,
        );
        config.aversion = -1;
        t.nodes.insert(CONFIG_PATH.to_string(), Box::new(config));
        t.link_children();
        t
    }

    /// Builds a tree from stored records (children and indexes are derived).
    pub fn from_records(
        nodes: impl IntoIterator<Item = (String, Node)>,
        sessions: impl IntoIterator<Item = (i64, SessionRecord)>,
        last_zxid: i64,
    ) -> DataTree {
        let mut loader = TreeLoader::new();
        for (path, node) in nodes {
            loader.add(path, node);
        }
        loader.finish(sessions, last_zxid)
    }

    /// Children and indexes from scratch (the fresh tree's system nodes).
    fn link_children(&mut self) {
        let paths: Vec<(String, i64, usize)> = self
            .nodes
            .iter()
            .map(|(p, n)| (p.clone(), n.owner, n.data.as_ref().map_or(0, |d| d.len())))
            .collect();
        self.data_bytes = 0;
        for n in self.nodes.values_mut() {
            n.children.clear();
        }
        for (p, owner, data_len) in paths {
            self.link(&p, owner, data_len);
        }
    }

    /// Counts a node just put in the map, indexes it and names it in its
    /// parent's children. False when the parent is not in the map (yet).
    fn link(&mut self, p: &str, owner: i64, data_len: usize) -> bool {
        self.data_bytes += (p.len() + data_len) as u64;
        if owner != 0 {
            self.index(p, owner);
        }
        let Some(parent) = path::parent_of(p) else {
            return true;
        };
        match self.nodes.get_mut(parent) {
            Some(pn) => {
                pn.children.insert(path::name_of(p).to_string());
                true
            }
            None => false,
        }
    }

    /// The shared copy of an ACL list. Lists no node uses any more are swept
    /// out whenever the cache has doubled since the last sweep.
    // A &Vec: the set is keyed by Arc<Vec<Acl>>, which borrows as Vec, not slice.
    #[allow(clippy::ptr_arg)]
    fn intern_acl(&mut self, acl: &Vec<Acl>) -> Arc<Vec<Acl>> {
        if let Some(shared) = self.acls.get(acl) {
            return shared.clone();
        }
        if self.acls.len() >= self.acl_sweep_at {
            self.acls.retain(|a| Arc::strong_count(a) > 1);
            self.acl_sweep_at = (self.acls.len() * 2).max(64);
        }
        let shared = Arc::new(acl.clone());
        self.acls.insert(shared.clone());
        shared
    }

    fn index(&mut self, p: &str, owner: i64) {
        match NodeKind::of_owner(owner) {
            NodeKind::Ephemeral(s) => {
                self.ephemerals.entry(s).or_default().insert(p.to_string());
            }
            NodeKind::Container => {
                self.containers.insert(p.to_string());
            }
            NodeKind::Ttl(_) => {
                self.ttls.insert(p.to_string());
            }
            NodeKind::Persistent => {}
        }
    }

    fn unindex(&mut self, p: &str, owner: i64) {
        match NodeKind::of_owner(owner) {
            NodeKind::Ephemeral(s) => {
                if let Some(set) = self.ephemerals.get_mut(&s) {
                    set.remove(p);
                    if set.is_empty() {
                        self.ephemerals.remove(&s);
                    }
                }
            }
            NodeKind::Container => {
                self.containers.remove(p);
            }
            NodeKind::Ttl(_) => {
                self.ttls.remove(p);
            }
            NodeKind::Persistent => {}
        }
    }

    pub fn get(&self, path: &str) -> Option<&Node> {
        self.nodes.get(path).map(|n| &**n)
    }

    pub fn nodes(&self) -> impl Iterator<Item = (&String, &Node)> {
        self.nodes.iter().map(|(p, n)| (p, &**n))
    }

    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// Bytes of paths and data: ZooKeeper's approximate_data_size.
    pub fn approximate_data_size(&self) -> u64 {
        self.data_bytes
    }

    pub fn last_zxid(&self) -> i64 {
        self.last_zxid
    }

    pub fn sessions(&self) -> &BTreeMap<i64, SessionRecord> {
        &self.sessions
    }

    pub fn session(&self, id: i64) -> Option<&SessionRecord> {
        self.sessions.get(&id)
    }

    /// The ephemerals a session owns, in path order.
    pub fn ephemerals_of(&self, session: i64) -> Vec<String> {
        self.ephemerals
            .get(&session)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default()
    }

    pub fn ephemeral_count(&self) -> usize {
        self.ephemerals.values().map(|s| s.len()).sum()
    }

    pub fn containers(&self) -> impl Iterator<Item = &String> {
        self.containers.iter()
    }

    pub fn ttl_nodes(&self) -> impl Iterator<Item = &String> {
        self.ttls.iter()
    }

    /// An order-independent digest of every znode (path, data, Stat, ACL): members
    /// that applied the same history report the same digest at the same zxid.
    /// `/zookeeper/config` is left out: until a reconfig sets it, each member
    /// shows its own zoo.cfg there.
    pub fn digest(&self) -> u64 {
        use sha1::{Digest, Sha1};
        self.nodes
            .iter()
            .filter(|(path, _)| path.as_str() != CONFIG_PATH)
            .map(|(path, node)| {
                let mut h = Sha1::new();
                h.update(path.as_bytes());
                h.update(node.encoded());
                let out = h.finalize();
                let mut eight = [0u8; 8];
                eight.copy_from_slice(&out[..8]);
                u64::from_be_bytes(eight)
            })
            .fold(0u64, u64::wrapping_add)
    }

    /// Number of descendants of a node, the node itself excluded.
    pub fn descendant_count(&self, path: &str) -> Option<i32> {
        let node = self.nodes.get(path)?;
        let mut count = 0i32;
        let mut stack: Vec<String> = node.children.iter().map(|c| path::join(path, c)).collect();
        while let Some(p) = stack.pop() {
            count += 1;
            if let Some(n) = self.nodes.get(&p) {
                stack.extend(n.children.iter().map(|c| path::join(&p, c)));
            }
        }
        Some(count)
    }

    /// Applies one Txn. Txns at or below the last applied zxid are ignored (replay).
    pub fn apply(&mut self, txn: &Txn) -> Applied {
        let mut out = Applied::default();
        if txn.zxid <= self.last_zxid {
            return out;
        }
        self.last_zxid = txn.zxid;
        let result = self.apply_body(txn, &txn.body, &mut out);
        out.result = Some(result);
        out
    }

    fn apply_body(&mut self, txn: &Txn, body: &TxnBody, out: &mut Applied) -> OpResult {
        match body {
            TxnBody::CreateSession { timeout_ms, passwd } => {
                self.sessions.insert(
                    txn.session_id,
                    SessionRecord {
                        timeout_ms: *timeout_ms,
                        passwd: passwd.clone(),
                    },
                );
                out.touched_sessions.push(txn.session_id);
                OpResult::SessionCreated
            }
            TxnBody::CloseSession { ephemerals } => {
                let mut doomed: BTreeSet<String> = ephemerals.iter().cloned().collect();
                doomed.extend(self.ephemerals_of(txn.session_id));
                // Deepest first, so a parent never outlives its ephemeral children's removal.
                let mut doomed: Vec<String> = doomed.into_iter().collect();
                doomed.sort_by_key(|p| std::cmp::Reverse(p.matches('/').count()));
                for p in doomed {
                    if self.nodes.get(&p).is_some_and(|n| n.children.is_empty()) {
                        self.delete_node(&p, txn.zxid, out);
                    }
                }
                self.sessions.remove(&txn.session_id);
                out.touched_sessions.push(txn.session_id);
                OpResult::SessionClosed
            }
            TxnBody::Create(c) => self.create_node(c, txn, out),
            TxnBody::Delete { path } => {
                if self.delete_node(path, txn.zxid, out) {
                    OpResult::Deleted
                } else {
                    inconsistent(txn, "delete of a missing node")
                }
            }
            TxnBody::SetData {
                path,
                data,
                version,
            } => {
                let Some(n) = self.nodes.get_mut(path) else {
                    return inconsistent(txn, "setData on a missing node");
                };
                let old = n.data.as_ref().map_or(0, |d| d.len()) as u64;
                let new = data.as_ref().map_or(0, |d| d.len()) as u64;
                n.data = data.clone();
                n.version = *version;
                n.mzxid = txn.zxid;
                n.mtime = txn.time_ms;
                let stat = n.stat();
                let acl = n.acl.clone();
                self.data_bytes = self.data_bytes.saturating_sub(old) + new;
                out.touched_paths.push(path.clone());
                out.changes.push(Change {
                    kind: ChangeKind::DataChanged,
                    path: path.clone(),
                    acl,
                    parent_acl: None,
                });
                OpResult::Stat(stat)
            }
            TxnBody::SetAcl {
                path,
                acl,
                aversion,
            } => {
                let Some(n) = self.nodes.get_mut(path) else {
                    return inconsistent(txn, "setACL on a missing node");
                };
                n.aversion = *aversion;
                let stat = n.stat();
                let shared = self.intern_acl(acl);
                if let Some(n) = self.nodes.get_mut(path) {
                    n.acl = shared;
                }
                out.touched_paths.push(path.clone());
                OpResult::Stat(stat)
            }
            TxnBody::Check { .. } => OpResult::Checked,
            TxnBody::Multi(ops) => {
                OpResult::Multi(ops.iter().map(|op| self.apply_body(txn, op, out)).collect())
            }
            TxnBody::MultiError(codes) => OpResult::Multi(
                codes
                    .iter()
                    .map(|c| OpResult::Error(ErrorCode::from_code(*c)))
                    .collect(),
            ),
            TxnBody::Error(code) => OpResult::Error(*code),
            TxnBody::Reconfig { config } => {
                let path = CONFIG_PATH;
                let Some(n) = self.nodes.get_mut(path) else {
                    return inconsistent(txn, "reconfig without /zookeeper/config");
                };
                let old = n.data.as_ref().map_or(0, |d| d.len()) as u64;
                n.data = Some(config.clone());
                n.version = -1;
                n.mzxid = txn.zxid;
                n.mtime = txn.time_ms;
                let stat = n.stat();
                let acl = n.acl.clone();
                self.data_bytes = self.data_bytes.saturating_sub(old) + config.len() as u64;
                out.touched_paths.push(path.to_string());
                out.changes.push(Change {
                    kind: ChangeKind::DataChanged,
                    path: path.to_string(),
                    acl,
                    parent_acl: None,
                });
                OpResult::Config {
                    data: config.clone(),
                    stat,
                }
            }
        }
    }

    /// The membership a reconfig committed, if any did (`/zookeeper/config` set
    /// by a Txn); otherwise zoo.cfg's is shown there.
    pub fn reconfigured_membership(&self) -> Option<&[u8]> {
        let n = self.nodes.get(CONFIG_PATH)?;
        (n.mzxid != 0).then(|| n.data.as_deref().unwrap_or_default())
    }

    /// Shows zoo.cfg's membership in `/zookeeper/config` while no reconfig has
    /// set it: member-local, not a Txn (ZooKeeper's initConfigInZKDatabase).
    pub fn show_static_membership(&mut self, text: &[u8]) {
        if let Some(n) = self.nodes.get_mut(CONFIG_PATH) {
            if n.mzxid == 0 {
                let old = n.data.as_ref().map_or(0, |d| d.len()) as u64;
                n.data = Some(text.to_vec());
                n.version = -1;
                self.data_bytes = self.data_bytes.saturating_sub(old) + text.len() as u64;
            }
        }
    }

    fn create_node(&mut self, c: &CreateTxn, txn: &Txn, out: &mut Applied) -> OpResult {
        let Some(parent) = path::parent_of(&c.path) else {
            return inconsistent(txn, "create without a parent");
        };
        if self.nodes.contains_key(&c.path) {
            return inconsistent(txn, "create of an existing node");
        }
        let Some(pn) = self.nodes.get_mut(parent) else {
            return inconsistent(txn, "create under a missing parent");
        };
        pn.cversion = pn.cversion.wrapping_add(1);
        pn.pzxid = txn.zxid;
        pn.children.insert(path::name_of(&c.path).to_string());
        let parent_acl = pn.acl.clone();
        let parent = parent.to_string();
        let acl = self.intern_acl(&c.acl);
        let node = Node::new(c.data.clone(), acl.clone(), txn.zxid, txn.time_ms, c.owner);
        let stat = node.stat();
        self.data_bytes += (c.path.len() + c.data.as_ref().map_or(0, |d| d.len())) as u64;
        self.nodes.insert(c.path.clone(), Box::new(node));
        self.index(&c.path, c.owner);
        out.touched_paths.push(c.path.clone());
        out.touched_paths.push(parent);
        out.changes.push(Change {
            kind: ChangeKind::Created,
            path: c.path.clone(),
            acl,
            parent_acl: Some(parent_acl),
        });
        OpResult::Created {
            path: c.path.clone(),
            stat,
        }
    }

    fn delete_node(&mut self, p: &str, zxid: i64, out: &mut Applied) -> bool {
        let Some(node) = self.nodes.remove(p) else {
            return false;
        };
        self.data_bytes = self
            .data_bytes
            .saturating_sub((p.len() + node.data.as_ref().map_or(0, |d| d.len())) as u64);
        self.unindex(p, node.owner);
        let mut parent_acl = None;
        if let Some(parent) = path::parent_of(p) {
            if let Some(pn) = self.nodes.get_mut(parent) {
                pn.children.remove(path::name_of(p));
                pn.pzxid = zxid;
                parent_acl = Some(pn.acl.clone());
            }
            out.touched_paths.push(parent.to_string());
        }
        out.touched_paths.push(p.to_string());
        out.changes.push(Change {
            kind: ChangeKind::Deleted,
            path: p.to_string(),
            acl: node.acl.clone(),
            parent_acl,
        });
        true
    }
}

fn inconsistent(txn: &Txn, what: &str) -> OpResult {
    tracing::error!(
        zxid = format!("0x{:x}", txn.zxid),
        "{what}: the log and the tree disagree"
    );
    OpResult::Error(ErrorCode::SystemError)
}

/// Builds a tree from stored records as they stream in (storage reads them
/// in path order, so a parent comes before its children and each child is
/// named in its parent's set as it arrives; records in another order still
/// load, their links made at the end).
pub struct TreeLoader {
    tree: DataTree,
    last_acl: Option<Arc<Vec<Acl>>>,
    orphans: Vec<String>,
}

impl Default for TreeLoader {
    fn default() -> Self {
        Self::new()
    }
}

impl TreeLoader {
    pub fn new() -> TreeLoader {
        TreeLoader::with_capacity(0)
    }

    /// A loader expecting about `nodes` records: the node table is sized once
    /// instead of doubling its way there.
    pub fn with_capacity(nodes: usize) -> TreeLoader {
        let mut tree = DataTree::new();
        tree.nodes.reserve(nodes);
        TreeLoader {
            tree,
            last_acl: None,
            orphans: Vec::new(),
        }
    }

    pub fn add(&mut self, path: String, mut node: Node) {
        let t = &mut self.tree;
        // Stored records arrive with their ACL lists already shared (storage
        // decodes each distinct list once): intern each list once.
        node.acl = match &self.last_acl {
            Some(a) if Arc::ptr_eq(a, &node.acl) => a.clone(),
            _ => t.intern_acl(&node.acl),
        };
        self.last_acl = Some(node.acl.clone());
        let owner = node.owner;
        let data_len = node.data.as_ref().map_or(0, |d| d.len());
        // A stored system node replaces the fresh one: keep the children linked so far.
        if let Some(mut old) = t.nodes.remove(&path) {
            node.children = std::mem::take(&mut old.children);
            t.data_bytes = t
                .data_bytes
                .saturating_sub((path.len() + old.data.as_ref().map_or(0, |d| d.len())) as u64);
            t.unindex(&path, old.owner);
        }
        // Linked before the node goes in, so the path moves into the map uncopied.
        if !t.link(&path, owner, data_len) {
            self.orphans.push(path.clone());
        }
        t.nodes.insert(path, Box::new(node));
    }

    pub fn finish(
        mut self,
        sessions: impl IntoIterator<Item = (i64, SessionRecord)>,
        last_zxid: i64,
    ) -> DataTree {
        let t = &mut self.tree;
        for p in self.orphans {
            if let Some(parent) = path::parent_of(&p) {
                if let Some(pn) = t.nodes.get_mut(parent) {
                    pn.children.insert(path::name_of(&p).to_string());
                }
            }
        }
        t.sessions = sessions.into_iter().collect();
        t.last_zxid = last_zxid;
        self.tree
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn txn(zxid: i64, body: TxnBody) -> Txn {
        Txn {
            zxid,
            time_ms: 1000 + zxid,
            session_id: 5,
            body,
        }
    }

    fn create(path: &str, owner: i64) -> TxnBody {
        TxnBody::Create(CreateTxn {
            path: path.into(),
            data: Some(b"d".to_vec()),
            acl: Acl::world_all(),
            owner,
        })
    }

    #[test]
    fn fresh_tree_reports_zookeeper_cversions() {
        let t = DataTree::new();
        assert_eq!(t.get("/").unwrap().stat().cversion, -1);
        assert_eq!(t.get("/zookeeper").unwrap().stat().cversion, -2);
        assert_eq!(t.get("/zookeeper/config").unwrap().stat().aversion, -1);
    }

    #[test]
    fn create_and_delete_maintain_parent_stat() {
        let mut t = DataTree::new();
        t.apply(&txn(1, create("/a", 0)));
        t.apply(&txn(2, create("/a/b", 0)));
        let a = t.get("/a").unwrap().stat();
        assert_eq!((a.cversion, a.num_children, a.pzxid), (1, 1, 2));
        let applied = t.apply(&txn(
            3,
            TxnBody::Delete {
                path: "/a/b".into(),
            },
        ));
        assert_eq!(applied.result, Some(OpResult::Deleted));
        let a = t.get("/a").unwrap().stat();
        // cversion counts creations plus deletions.
        assert_eq!((a.cversion, a.num_children, a.pzxid, a.mzxid), (2, 0, 3, 1));
    }

    #[test]
    fn close_session_removes_its_ephemerals() {
        let mut t = DataTree::new();
        t.apply(&txn(
            1,
            TxnBody::CreateSession {
                timeout_ms: 4000,
                passwd: vec![0; 16],
            },
        ));
        t.apply(&txn(2, create("/e", 5)));
        assert_eq!(t.ephemerals_of(5), vec!["/e".to_string()]);
        assert_eq!(t.get("/e").unwrap().stat().ephemeral_owner, 5);
        let applied = t.apply(&txn(3, TxnBody::CloseSession { ephemerals: vec![] }));
        assert!(t.get("/e").is_none());
        assert!(t.session(5).is_none());
        let deleted: Vec<(ChangeKind, &str)> = applied
            .changes
            .iter()
            .map(|c| (c.kind, c.path.as_str()))
            .collect();
        assert_eq!(deleted, [(ChangeKind::Deleted, "/e")]);
    }

    /// Each change of a multi carries the ACLs of its own step, so its events
    /// are judged by them (ZOOKEEPER-4799), not by what the multi left behind.
    #[test]
    fn changes_carry_the_acls_of_their_step() {
        let mut t = DataTree::new();
        let closed = vec![Acl {
            perms: perms::ALL,
            id: Id::new("ip", "10.0.0.0/8"),
        }];
        t.apply(&txn(
            1,
            TxnBody::Create(CreateTxn {
                path: "/x".into(),
                data: None,
                acl: closed.clone(),
                owner: 0,
            }),
        ));
        let applied = t.apply(&txn(
            2,
            TxnBody::Multi(vec![
                TxnBody::SetData {
                    path: "/x".into(),
                    data: None,
                    version: 1,
                },
                TxnBody::Delete { path: "/x".into() },
                create("/x", 0),
            ]),
        ));
        let closed = Arc::new(closed);
        let open = Arc::new(Acl::world_all());
        let change = |kind, acl: &Arc<Vec<Acl>>, parent_acl: Option<&Arc<Vec<Acl>>>| Change {
            kind,
            path: "/x".into(),
            acl: acl.clone(),
            parent_acl: parent_acl.cloned(),
        };
        assert_eq!(
            applied.changes,
            [
                change(ChangeKind::DataChanged, &closed, None),
                change(ChangeKind::Deleted, &closed, Some(&open)),
                change(ChangeKind::Created, &open, Some(&open)),
            ]
        );
    }

    #[test]
    fn digests_agree_on_the_same_history_only() {
        let mut a = DataTree::new();
        let mut b = DataTree::new();
        for t in [&mut a, &mut b] {
            t.apply(&txn(1, create("/x", 0)));
            t.apply(&txn(2, create("/y", 0)));
        }
        assert_eq!(a.digest(), b.digest());
        b.apply(&txn(
            3,
            TxnBody::SetData {
                path: "/y".into(),
                data: None,
                version: 1,
            },
        ));
        assert_ne!(a.digest(), b.digest());
    }

    #[test]
    fn replay_of_an_applied_zxid_is_ignored() {
        let mut t = DataTree::new();
        t.apply(&txn(1, create("/a", 0)));
        let again = t.apply(&txn(1, create("/a", 0)));
        assert!(again.result.is_none());
    }

    #[test]
    fn rebuilt_tree_equals_original() {
        let mut t = DataTree::new();
        t.apply(&txn(1, create("/a", 0)));
        t.apply(&txn(2, create("/a/b", crate::proto::CONTAINER_OWNER)));
        t.apply(&txn(3, create("/a/b/c", 0x77)));
        t.apply(&txn(4, create("/a/d", 0)));
        t.apply(&txn(5, create("/z", 0)));
        // Stored records carry no children (rebuilt from paths); storage reads
        // them in path order, a snapshot may not: both must give the same tree.
        let mut records: Vec<(String, Node)> = t
            .nodes()
            .map(|(p, n)| {
                let mut n = n.clone();
                n.children.clear();
                (p.clone(), n)
            })
            .collect();
        records.sort_by(|a, b| a.0.cmp(&b.0));
        let mut reversed = records.clone();
        reversed.reverse();
        for records in [records, reversed] {
            let rebuilt = DataTree::from_records(records, t.sessions().clone(), t.last_zxid());
            assert_eq!(rebuilt.node_count(), t.node_count());
            for (p, n) in t.nodes() {
                assert_eq!(rebuilt.get(p), Some(n), "{p}");
            }
            assert_eq!(rebuilt.containers().count(), 1);
            assert_eq!(rebuilt.ephemerals_of(0x77), vec!["/a/b/c".to_string()]);
            assert_eq!(rebuilt.approximate_data_size(), t.approximate_data_size());
            assert_eq!(rebuilt.digest(), t.digest());
        }
    }
}
