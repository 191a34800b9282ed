//! Prep: turns a write request into a Txn, checking it against the pending state
//! (the applied tree plus every Txn prepared but not yet applied), in ZooKeeper's
//! order of checks (`PrepRequestProcessor`).

use crate::proto::{
    op, perms, Acl, CreateMode, ErrorCode, Id, Request, CONTAINER_OWNER, MAX_TTL_MS,
};
use crate::tree::{acl, path, DataTree, NodeKind};
use crate::txn::{CreateTxn, TxnBody};
use std::collections::HashMap;
use std::sync::Arc;

/// Who is writing, and when.
pub struct PrepContext<'a> {
    pub session_id: i64,
    pub ids: &'a [Id],
    pub zxid: i64,
    /// Whether TTL nodes are allowed (`extendedTypesEnabled`).
    pub extended_types: bool,
}

/// What prep needs to know of a node.
#[derive(Debug, Clone)]
struct Meta {
    acl: Arc<Vec<Acl>>,
    version: i32,
    aversion: i32,
    cversion: i32,
    num_children: i32,
    owner: i64,
}

/// The overlay of prepared-but-unapplied changes.
#[derive(Debug, Default)]
pub struct Prep {
    pending: HashMap<String, (i64, Option<Meta>)>,
}

/// The pending state seen through one request (a multi's own changes on top).
struct View<'a> {
    tree: &'a DataTree,
    pending: &'a HashMap<String, (i64, Option<Meta>)>,
    local: HashMap<String, Option<Meta>>,
}

impl View<'_> {
    fn get(&self, p: &str) -> Option<Meta> {
        if let Some(m) = self.local.get(p) {
            return m.clone();
        }
        if let Some((_, m)) = self.pending.get(p) {
            return m.clone();
        }
        self.tree.get(p).map(|n| Meta {
            acl: n.acl.clone(),
            version: n.version,
            aversion: n.aversion,
            cversion: n.cversion,
            num_children: n.children.len() as i32,
            owner: n.owner,
        })
    }

    fn set(&mut self, p: &str, m: Option<Meta>) {
        self.local.insert(p.to_string(), m);
    }

    fn delete(&mut self, p: &str) {
        self.set(p, None);
        if let Some(parent) = path::parent_of(p) {
            if let Some(mut pm) = self.get(parent) {
                pm.num_children -= 1;
                self.set(parent, Some(pm));
            }
        }
    }
}

fn check_version(current: i32, expected: i32) -> Result<i32, ErrorCode> {
    if expected != -1 && expected != current {
        return Err(ErrorCode::BadVersion);
    }
    Ok(current.wrapping_add(1))
}

fn require(meta: &Meta, wanted: i32, ids: &[Id]) -> Result<(), ErrorCode> {
    if acl::allowed(&meta.acl, wanted, ids) {
        Ok(())
    } else {
        Err(ErrorCode::NoAuth)
    }
}

impl Prep {
    /// Prepares a write request. Failures become `TxnBody::Error` (or `MultiError`),
    /// which are ordered and logged like any other Txn.
    pub fn prep_write(&mut self, tree: &DataTree, ctx: &PrepContext, req: &Request) -> TxnBody {
        let mut view = View {
            tree,
            pending: &self.pending,
            local: HashMap::new(),
        };
        let body = match req {
            Request::Multi(ops) => {
                let mut bodies = Vec::with_capacity(ops.len());
                let mut failure = None;
                for (i, sub) in ops.iter().enumerate() {
                    match prep_op(&mut view, ctx, sub) {
                        Ok(b) => bodies.push(b),
                        Err(code) => {
                            failure = Some((i, code));
                            break;
                        }
                    }
                }
                match failure {
                    None => TxnBody::Multi(bodies),
                    Some((at, code)) => {
                        let codes = (0..ops.len())
                            .map(|i| match i.cmp(&at) {
                                std::cmp::Ordering::Less => 0,
                                std::cmp::Ordering::Equal => code.code(),
                                std::cmp::Ordering::Greater => {
                                    ErrorCode::RuntimeInconsistency.code()
                                }
                            })
                            .collect();
                        return TxnBody::MultiError(codes);
                    }
                }
            }
            single => match prep_op(&mut view, ctx, single) {
                Ok(b) => b,
                Err(code) => return TxnBody::Error(code),
            },
        };
        let local = view.local;
        for (p, m) in local {
            self.pending.insert(p, (ctx.zxid, m));
        }
        body
    }

    /// A closeSession Txn deleting every ephemeral the session will own once the
    /// pending Txns apply.
    pub fn prep_close_session(&mut self, tree: &DataTree, session_id: i64, zxid: i64) -> TxnBody {
        let mut view = View {
            tree,
            pending: &self.pending,
            local: HashMap::new(),
        };
        let mut doomed: Vec<String> = tree.ephemerals_of(session_id);
        doomed.extend(
            self.pending
                .iter()
                .filter(|(_, (_, m))| m.as_ref().is_some_and(|m| m.owner == session_id))
                .map(|(p, _)| p.clone()),
        );
        doomed.sort();
        doomed.dedup();
        doomed.retain(|p| view.get(p).is_some_and(|m| m.owner == session_id));
        for p in &doomed {
            view.delete(p);
        }
        let local = view.local;
        for (p, m) in local {
            self.pending.insert(p, (zxid, m));
        }
        TxnBody::CloseSession { ephemerals: doomed }
    }

    /// Forgets overlay entries that the tree now reflects.
    pub fn applied(&mut self, zxid: i64) {
        if !self.pending.is_empty() {
            self.pending.retain(|_, (z, _)| *z > zxid);
        }
    }

    /// Pending entries not yet applied (for tests and introspection).
    pub fn pending_len(&self) -> usize {
        self.pending.len()
    }
}

fn prep_op(view: &mut View, ctx: &PrepContext, req: &Request) -> Result<TxnBody, ErrorCode> {
    match req {
        Request::Create {
            opcode,
            path: p,
            data,
            acl: requested_acl,
            flags,
            ttl,
        } => prep_create(view, ctx, *opcode, p, data, requested_acl, *flags, *ttl),
        Request::Delete { path: p, version } => {
            if path::is_system_path(p) || !p.contains('/') || p.contains('\0') {
                return Err(ErrorCode::BadArguments);
            }
            let parent = path::parent_of(p).ok_or(ErrorCode::BadArguments)?;
            let pm = view.get(parent).ok_or(ErrorCode::NoNode)?;
            require(&pm, perms::DELETE, ctx.ids)?;
            let m = view.get(p).ok_or(ErrorCode::NoNode)?;
            check_version(m.version, *version)?;
            if m.num_children > 0 {
                return Err(ErrorCode::NotEmpty);
            }
            view.delete(p);
            Ok(TxnBody::Delete { path: p.clone() })
        }
        Request::SetData {
            path: p,
            data,
            version,
        } => {
            if !path::is_valid_path(p) {
                return Err(ErrorCode::BadArguments);
            }
            let mut m = view.get(p).ok_or(ErrorCode::NoNode)?;
            require(&m, perms::WRITE, ctx.ids)?;
            let new_version = check_version(m.version, *version)?;
            m.version = new_version;
            view.set(p, Some(m));
            Ok(TxnBody::SetData {
                path: p.clone(),
                data: data.clone(),
                version: new_version,
            })
        }
        Request::SetAcl {
            path: p,
            acl: requested,
            version,
        } => {
            if !path::is_valid_path(p) {
                return Err(ErrorCode::BadArguments);
            }
            let fixed = acl::fixup(requested, ctx.ids).ok_or(ErrorCode::InvalidAcl)?;
            let mut m = view.get(p).ok_or(ErrorCode::NoNode)?;
            require(&m, perms::ADMIN, ctx.ids)?;
            let new_aversion = check_version(m.aversion, *version)?;
            m.aversion = new_aversion;
            m.acl = Arc::new(fixed.clone());
            view.set(p, Some(m));
            Ok(TxnBody::SetAcl {
                path: p.clone(),
                acl: fixed,
                aversion: new_aversion,
            })
        }
        Request::Check { path: p, version } => {
            if !path::is_valid_path(p) {
                return Err(ErrorCode::BadArguments);
            }
            let m = view.get(p).ok_or(ErrorCode::NoNode)?;
            require(&m, perms::READ, ctx.ids)?;
            check_version(m.version, *version)?;
            Ok(TxnBody::Check { path: p.clone() })
        }
        _ => Err(ErrorCode::Unimplemented),
    }
}

#[allow(clippy::too_many_arguments)]
fn prep_create(
    view: &mut View,
    ctx: &PrepContext,
    opcode: i32,
    requested_path: &str,
    data: &Option<Vec<u8>>,
    requested_acl: &[Acl],
    flags: i32,
    ttl: Option<i64>,
) -> Result<TxnBody, ErrorCode> {
    let mode = CreateMode::from_flags(flags).ok_or(ErrorCode::BadArguments)?;
    if mode.is_ttl() && !ctx.extended_types {
        return Err(ErrorCode::Unimplemented);
    }
    let ttl_value = if opcode == op::CREATE_TTL {
        ttl.unwrap_or(-1)
    } else {
        -1
    };
    if mode.is_ttl() {
        if ttl_value <= 0 || ttl_value > MAX_TTL_MS {
            return Err(ErrorCode::BadArguments);
        }
    } else if ttl_value >= 0 {
        return Err(ErrorCode::BadArguments);
    }
    if !requested_path.contains('/') || requested_path.contains('\0') {
        return Err(ErrorCode::BadArguments);
    }
    let fixed_acl = acl::fixup(requested_acl, ctx.ids).ok_or(ErrorCode::InvalidAcl)?;
    let slash = requested_path.rfind('/').unwrap_or(0);
    let parent = if slash == 0 {
        "/"
    } else {
        &requested_path[..slash]
    };
    let mut pm = view.get(parent).ok_or(ErrorCode::NoNode)?;
    require(&pm, perms::CREATE, ctx.ids)?;
    let final_path = if mode.is_sequential() {
        format!("{requested_path}{}", sequence_suffix(pm.cversion))
    } else {
        requested_path.to_string()
    };
    if !path::is_valid_path(&final_path) {
        return Err(ErrorCode::BadArguments);
    }
    if view.get(&final_path).is_some() {
        return Err(ErrorCode::NodeExists);
    }
    if matches!(NodeKind::of_owner(pm.owner), NodeKind::Ephemeral(_)) {
        return Err(ErrorCode::NoChildrenForEphemerals);
    }
    // The mode decides what owns the node, as in ZooKeeper's prep: createTTL
    // with a plain mode (and no TTL) makes a plain node, not a TTL node with an
    // absurd TTL.
    let owner = match opcode {
        op::CREATE_CONTAINER => CONTAINER_OWNER,
        _ if mode.is_ttl() => crate::proto::ttl_owner(ttl_value),
        _ if mode.is_ephemeral() => ctx.session_id,
        _ => 0,
    };
    pm.cversion = pm.cversion.wrapping_add(1);
    pm.num_children += 1;
    view.set(parent, Some(pm));
    view.set(
        &final_path,
        Some(Meta {
            acl: Arc::new(fixed_acl.clone()),
            version: 0,
            aversion: 0,
            cversion: 0,
            num_children: 0,
            owner,
        }),
    );
    Ok(TxnBody::Create(CreateTxn {
        path: final_path,
        data: data.clone(),
        acl: fixed_acl,
        owner,
    }))
}

/// Java's `String.format("%010d", n)`: ten digits, a minus sign counting as one.
pub fn sequence_suffix(n: i32) -> String {
    if n < 0 {
        format!("-{:09}", -(n as i64))
    } else {
        format!("{n:010}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::txn::Txn;

    fn create(p: &str, flags: i32) -> Request {
        Request::Create {
            opcode: op::CREATE,
            path: p.into(),
            data: None,
            acl: Acl::world_all(),
            flags,
            ttl: None,
        }
    }

    struct Harness {
        tree: DataTree,
        prep: Prep,
        zxid: i64,
    }

    impl Harness {
        fn new() -> Self {
            Harness {
                tree: DataTree::new(),
                prep: Prep::default(),
                zxid: 0,
            }
        }

        /// Preps without applying: the next prep sees it through the overlay.
        fn prep(&mut self, req: &Request) -> TxnBody {
            self.zxid += 1;
            let ids = [Id::new("ip", "127.0.0.1")];
            let ctx = PrepContext {
                session_id: 9,
                ids: &ids,
                zxid: self.zxid,
                extended_types: false,
            };
            self.prep.prep_write(&self.tree, &ctx, req)
        }

        fn apply(&mut self, body: TxnBody, zxid: i64) {
            self.tree.apply(&Txn {
                zxid,
                time_ms: 0,
                session_id: 9,
                body,
            });
            self.prep.applied(zxid);
        }
    }

    /// Regression (found by the tree_differential fuzz target's author):
    /// createTTL with a plain mode and no TTL made a TTL node whose owner field
    /// said a TTL of about 2^56 ms, even with extended types off; with the
    /// ephemeral flag, a node not tied to its session.
    #[test]
    fn create_ttl_with_a_plain_mode_makes_a_plain_node() {
        let mut h = Harness::new();
        for (flags, owner) in [(0, 0), (1, 9)] {
            let req = Request::Create {
                opcode: op::CREATE_TTL,
                path: format!("/plain{flags}"),
                data: None,
                acl: Acl::world_all(),
                flags,
                ttl: Some(-1),
            };
            match h.prep(&req) {
                TxnBody::Create(c) => assert_eq!(c.owner, owner, "flags {flags}"),
                other => panic!("flags {flags}: {other:?}"),
            }
        }
    }

    #[test]
    fn sequence_numbers_come_from_the_pending_parent_counter() {
        let mut h = Harness::new();
        let folder = h.prep(&create("/folder", 0));
        let a0 = h.prep(&create("/folder/a", 2));
        let a1 = h.prep(&create("/folder/a", 2));
        let bare = h.prep(&create("/folder/", 2));
        let names: Vec<String> = [&a0, &a1, &bare]
            .iter()
            .map(|b| match b {
                TxnBody::Create(c) => c.path.clone(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            names,
            [
                "/folder/a0000000000",
                "/folder/a0000000001",
                "/folder/0000000002"
            ]
        );
        for (i, b) in [folder, a0, a1, bare].into_iter().enumerate() {
            h.apply(b, i as i64 + 1);
        }
        assert_eq!(h.prep.pending_len(), 0);
        assert_eq!(h.tree.get("/folder").unwrap().stat().num_children, 3);
    }

    #[test]
    fn error_order_matches_zookeeper() {
        let mut h = Harness::new();
        assert_eq!(
            h.prep(&create("/b\u{0}", 0)),
            TxnBody::Error(ErrorCode::BadArguments)
        );
        assert_eq!(
            h.prep(&create("/x/y", 0)),
            TxnBody::Error(ErrorCode::NoNode)
        );
        assert_eq!(
            h.prep(&create("/zookeeper", 0)),
            TxnBody::Error(ErrorCode::NodeExists)
        );
        assert_eq!(
            h.prep(&create("/", 0)),
            TxnBody::Error(ErrorCode::NodeExists)
        );
        assert_eq!(
            h.prep(&create("/t", 5)),
            TxnBody::Error(ErrorCode::Unimplemented)
        );
        assert_eq!(
            h.prep(&create("/t", 9)),
            TxnBody::Error(ErrorCode::BadArguments)
        );
        let del = |p: &str, v| Request::Delete {
            path: p.into(),
            version: v,
        };
        assert_eq!(
            h.prep(&del("/zookeeper", -1)),
            TxnBody::Error(ErrorCode::BadArguments)
        );
        assert_eq!(h.prep(&del("/nope", -1)), TxnBody::Error(ErrorCode::NoNode));
        h.prep(&create("/e", 1));
        assert_eq!(
            h.prep(&create("/e/c", 0)),
            TxnBody::Error(ErrorCode::NoChildrenForEphemerals)
        );
        assert_eq!(h.prep(&del("/e", 3)), TxnBody::Error(ErrorCode::BadVersion));
        let set = Request::SetData {
            path: "/e".into(),
            data: None,
            version: 0,
        };
        assert!(matches!(h.prep(&set), TxnBody::SetData { version: 1, .. }));
        let set_again = Request::SetData {
            path: "/e".into(),
            data: None,
            version: 0,
        };
        assert_eq!(h.prep(&set_again), TxnBody::Error(ErrorCode::BadVersion));
    }

    #[test]
    fn failed_multi_reports_each_op_and_changes_nothing() {
        let mut h = Harness::new();
        let multi = Request::Multi(vec![
            create("/m", 0),
            Request::Delete {
                path: "/missing".into(),
                version: -1,
            },
            create("/n", 0),
        ]);
        assert_eq!(h.prep(&multi), TxnBody::MultiError(vec![0, -101, -2]));
        assert_eq!(h.prep.pending_len(), 0);
        let ok = Request::Multi(vec![
            create("/m", 0),
            create("/m/c", 0),
            Request::Check {
                path: "/m".into(),
                version: 0,
            },
        ]);
        assert!(matches!(h.prep(&ok), TxnBody::Multi(ops) if ops.len() == 3));
    }

    #[test]
    fn close_session_collects_pending_ephemerals() {
        let mut h = Harness::new();
        h.prep(&create("/e1", 1));
        h.prep(&create("/p", 0));
        let body = h.prep.prep_close_session(&h.tree, 9, 10);
        assert_eq!(
            body,
            TxnBody::CloseSession {
                ephemerals: vec!["/e1".into()]
            }
        );
        assert_eq!(
            h.prep(&create("/e1", 0)),
            TxnBody::Create(CreateTxn {
                path: "/e1".into(),
                data: None,
                acl: Acl::world_all(),
                owner: 0,
            })
        );
    }

    #[test]
    fn java_sequence_format() {
        assert_eq!(sequence_suffix(7), "0000000007");
        assert_eq!(sequence_suffix(-1), "-000000001");
    }
}
