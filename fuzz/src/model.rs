//! A reference model of ZooKeeper 3.8's data tree for the `tree_differential`
//! target, written from ZooKeeper's behaviour (`PrepRequestProcessor`,
//! `DataTree`, `PathUtils.validatePath`, `fixupACL`, `checkACL`), not from
//! Rookery's code: a map of path to node, each write applied at once and in
//! order, with ZooKeeper's checks in ZooKeeper's order.
//!
//! It covers what the target generates: create (all modes and the four create
//! opcodes), delete, setData, setACL, check inside multi, multi, and closing a
//! session; ACLs from a small fixed set of identities (world, digest, ip, auth).

use rookery_server::proto::{op, perms, Acl, ErrorCode, Id, Stat};
use rookery_server::tree::OpResult;
use std::collections::{BTreeMap, BTreeSet};

/// The largest TTL: 2^40 - 1 ms (`EphemeralType.TTL.maxValue()`).
pub const MAX_TTL: i64 = (1 << 40) - 1;

/// What kind of node, from its creation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Persistent,
    Ephemeral(i64),
    Container,
    Ttl(i64),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MNode {
    pub data: Option<Vec<u8>>,
    pub acl: Vec<Acl>,
    pub czxid: i64,
    pub mzxid: i64,
    pub ctime: i64,
    pub mtime: i64,
    pub version: i32,
    /// ZooKeeper's stored cversion: one per child created.
    pub cversion: i32,
    pub aversion: i32,
    pub kind: Kind,
    pub pzxid: i64,
    pub children: BTreeSet<String>,
}

impl MNode {
    fn new(data: Option<Vec<u8>>, acl: Vec<Acl>, zxid: i64, time: i64, kind: Kind) -> MNode {
        MNode {
            data,
            acl,
            czxid: zxid,
            mzxid: zxid,
            ctime: time,
            mtime: time,
            version: 0,
            cversion: 0,
            aversion: 0,
            kind,
            pzxid: zxid,
            children: BTreeSet::new(),
        }
    }

    /// The Stat a client sees (`DataNode.copyStat`).
    pub fn stat(&self) -> Stat {
        let n = self.children.len() as i32;
        Stat {
            czxid: self.czxid,
            mzxid: self.mzxid,
            ctime: self.ctime,
            mtime: self.mtime,
            version: self.version,
            cversion: self.cversion.wrapping_mul(2).wrapping_sub(n),
            aversion: self.aversion,
            ephemeral_owner: match self.kind {
                Kind::Ephemeral(s) => s,
                _ => 0,
            },
            data_length: self.data.as_ref().map_or(0, |d| d.len() as i32),
            num_children: n,
            pzxid: self.pzxid,
        }
    }
}

/// One write, as the target generates it.
#[derive(Debug, Clone)]
pub enum MOp {
    Create {
        opcode: i32,
        path: String,
        data: Option<Vec<u8>>,
        acl: Vec<Acl>,
        flags: i32,
        ttl: i64,
    },
    Delete {
        path: String,
        version: i32,
    },
    SetData {
        path: String,
        data: Option<Vec<u8>>,
        version: i32,
    },
    SetAcl {
        path: String,
        acl: Vec<Acl>,
        version: i32,
    },
    Check {
        path: String,
        version: i32,
    },
}

/// Who writes, and when.
pub struct Who<'a> {
    pub session: i64,
    pub ids: &'a [Id],
    pub zxid: i64,
    pub time: i64,
    pub extended_types: bool,
}

#[derive(Debug, Clone)]
pub struct Model {
    pub nodes: BTreeMap<String, MNode>,
}

impl Default for Model {
    fn default() -> Self {
        Self::new()
    }
}

/// `PathUtils.validatePath`, over UTF-16 code units as Java sees the string.
pub fn zk_valid_path(path: &str) -> bool {
    let chars: Vec<u16> = path.encode_utf16().collect();
    if chars.is_empty() || chars[0] != b'/' as u16 {
        return false;
    }
    if chars.len() == 1 {
        return true;
    }
    if chars[chars.len() - 1] == b'/' as u16 {
        return false;
    }
    let slash = b'/' as u16;
    let dot = b'.' as u16;
    let mut last = slash;
    for i in 1..chars.len() {
        let c = chars[i];
        let at_end_or_slash = i + 1 == chars.len() || chars[i + 1] == slash;
        let bad = if c == 0 || (c == slash && last == slash) {
            true
        } else if c == dot && last == dot {
            chars[i - 2] == slash && at_end_or_slash
        } else if c == dot {
            chars[i - 1] == slash && at_end_or_slash
        } else {
            (c > 0 && c <= 0x1f)
                || (0x7f..=0x9f).contains(&c)
                || (0xd800..=0xf8ff).contains(&c)
                || c >= 0xfff0
        };
        if bad {
            return false;
        }
        last = c;
    }
    true
}

/// `path.substring(0, path.lastIndexOf('/'))`, with ZooKeeper's "" for the root.
fn zk_parent(path: &str) -> Option<&str> {
    let slash = path.rfind('/')?;
    Some(if slash == 0 { "/" } else { &path[..slash] })
}

fn name_of(path: &str) -> &str {
    &path[path.rfind('/').map_or(0, |i| i + 1)..]
}

fn is_special(path: &str) -> bool {
    matches!(
        path,
        "/" | "/zookeeper" | "/zookeeper/quota" | "/zookeeper/config"
    )
}

/// `checkACL`: super passes; an empty ACL passes; otherwise an entry with the
/// permission must match one of the identities.
fn check_acl(acl: &[Acl], perm: i32, ids: &[Id]) -> Result<(), ErrorCode> {
    if acl.is_empty() || ids.iter().any(|i| i.scheme == "super") {
        return Ok(());
    }
    for a in acl.iter().filter(|a| a.perms & perm != 0) {
        if a.id.scheme == "world" && a.id.id == "anyone" {
            return Ok(());
        }
        for i in ids.iter().filter(|i| i.scheme == a.id.scheme) {
            let hit = match a.id.scheme.as_str() {
                "ip" => ip_matches(&a.id.id, &i.id),
                _ => a.id.id == i.id,
            };
            if hit {
                return Ok(());
            }
        }
    }
    Err(ErrorCode::NoAuth)
}

fn ipv4(s: &str) -> Option<u32> {
    let parts: Vec<u32> = s
        .split('.')
        .map(|p| p.parse::<u8>().ok().map(u32::from))
        .collect::<Option<_>>()?;
    (parts.len() == 4).then(|| parts.iter().fold(0, |acc, p| (acc << 8) | p))
}

/// `IPAuthenticationProvider`: `a.b.c.d` or `a.b.c.d/bits` (IPv4 is all the model uses).
fn ip_pattern(pattern: &str) -> Option<(u32, u32)> {
    let (addr, bits) = match pattern.split_once('/') {
        Some((a, b)) => (a, b.parse::<u32>().ok()?),
        None => (pattern, 32),
    };
    (bits <= 32).then_some((ipv4(addr)?, bits))
}

fn ip_matches(pattern: &str, client: &str) -> bool {
    match (ip_pattern(pattern), ipv4(client)) {
        (Some((net, bits)), Some(c)) => {
            let mask = if bits == 0 {
                0
            } else {
                u32::MAX << (32 - bits)
            };
            net & mask == c & mask
        }
        _ => false,
    }
}

/// `fixupACL` for the schemes the target uses: duplicates dropped, `auth`
/// expanded to the writer's authenticated (digest) ids, anything malformed refused.
pub fn fixup(acl: &[Acl], ids: &[Id]) -> Result<Vec<Acl>, ErrorCode> {
    let mut unique: Vec<&Acl> = Vec::new();
    for a in acl {
        if !unique.contains(&a) {
            unique.push(a);
        }
    }
    if unique.is_empty() {
        return Err(ErrorCode::InvalidAcl);
    }
    let mut out = Vec::new();
    for a in unique {
        match a.id.scheme.as_str() {
            "world" if a.id.id == "anyone" => out.push(a.clone()),
            "auth" => {
                let authed: Vec<&Id> = ids.iter().filter(|i| i.scheme == "digest").collect();
                if authed.is_empty() {
                    return Err(ErrorCode::InvalidAcl);
                }
                out.extend(authed.into_iter().map(|i| Acl {
                    perms: a.perms,
                    id: i.clone(),
                }));
            }
            "digest" if java_split_len(&a.id.id, ':') == 2 => out.push(a.clone()),
            "ip" if ip_pattern(&a.id.id).is_some() => out.push(a.clone()),
            _ => return Err(ErrorCode::InvalidAcl),
        }
    }
    Ok(out)
}

/// The number of parts of Java's `s.split(sep)`, which drops trailing empty
/// parts (it differs from Java only for strings of separators, never at 2).
fn java_split_len(s: &str, sep: char) -> usize {
    let mut parts: Vec<&str> = s.split(sep).collect();
    while parts.last() == Some(&"") {
        parts.pop();
    }
    parts.len()
}

fn check_version(current: i32, expected: i32) -> Result<i32, ErrorCode> {
    if expected != -1 && expected != current {
        return Err(ErrorCode::BadVersion);
    }
    Ok(current.wrapping_add(1))
}

/// `String.format("%010d", n)`.
fn sequence_suffix(n: i32) -> String {
    if n < 0 {
        format!("-{:09}", (n as i64).abs())
    } else {
        format!("{n:010}")
    }
}

impl Model {
    /// A fresh tree: the root and ZooKeeper's system nodes.
    pub fn new() -> Model {
        let open = vec![Acl {
            perms: perms::ALL,
            id: Id::new("world", "anyone"),
        }];
        let mut nodes = BTreeMap::new();
        for p in ["/", "/zookeeper", "/zookeeper/quota"] {
            nodes.insert(
                p.to_string(),
                MNode::new(None, open.clone(), 0, 0, Kind::Persistent),
            );
        }
        let mut config = MNode::new(
            Some(Vec::new()),
            vec![Acl {
                perms: perms::READ,
                id: Id::new("world", "anyone"),
            }],
            0,
            0,
            Kind::Persistent,
        );
        config.aversion = -1;
        nodes.insert("/zookeeper/config".to_string(), config);
        let mut m = Model { nodes };
        for p in ["/zookeeper", "/zookeeper/quota", "/zookeeper/config"] {
            let parent = zk_parent(p).expect("system paths have parents").to_string();
            m.node(&parent).children.insert(name_of(p).to_string());
        }
        m
    }

    fn node(&mut self, p: &str) -> &mut MNode {
        self.nodes
            .get_mut(p)
            .expect("the model names an existing node")
    }

    /// One write; a multi's sub-op when inside `multi`.
    pub fn apply(&mut self, w: &Who, op: &MOp) -> Result<OpResult, ErrorCode> {
        match op {
            MOp::Create {
                opcode,
                path,
                data,
                acl,
                flags,
                ttl,
            } => self.create(w, *opcode, path, data, acl, *flags, *ttl),
            MOp::Delete { path, version } => {
                if !path.contains('/') || path.contains('\0') || is_special(path) {
                    return Err(ErrorCode::BadArguments);
                }
                let parent = zk_parent(path).ok_or(ErrorCode::BadArguments)?;
                let pn = self.nodes.get(parent).ok_or(ErrorCode::NoNode)?;
                check_acl(&pn.acl, perms::DELETE, w.ids)?;
                let n = self.nodes.get(path).ok_or(ErrorCode::NoNode)?;
                check_version(n.version, *version)?;
                if !n.children.is_empty() {
                    return Err(ErrorCode::NotEmpty);
                }
                let parent = parent.to_string();
                self.remove(path, &parent, w.zxid);
                Ok(OpResult::Deleted)
            }
            MOp::SetData {
                path,
                data,
                version,
            } => {
                if !zk_valid_path(path) {
                    return Err(ErrorCode::BadArguments);
                }
                let n = self.nodes.get(path).ok_or(ErrorCode::NoNode)?;
                check_acl(&n.acl, perms::WRITE, w.ids)?;
                let v = check_version(n.version, *version)?;
                let n = self.node(path);
                n.version = v;
                n.data = data.clone();
                n.mzxid = w.zxid;
                n.mtime = w.time;
                Ok(OpResult::Stat(n.stat()))
            }
            MOp::SetAcl { path, acl, version } => {
                if !zk_valid_path(path) {
                    return Err(ErrorCode::BadArguments);
                }
                let fixed = fixup(acl, w.ids)?;
                let n = self.nodes.get(path).ok_or(ErrorCode::NoNode)?;
                check_acl(&n.acl, perms::ADMIN, w.ids)?;
                let v = check_version(n.aversion, *version)?;
                let n = self.node(path);
                n.aversion = v;
                n.acl = fixed;
                Ok(OpResult::Stat(n.stat()))
            }
            MOp::Check { path, version } => {
                if !zk_valid_path(path) {
                    return Err(ErrorCode::BadArguments);
                }
                let n = self.nodes.get(path).ok_or(ErrorCode::NoNode)?;
                check_acl(&n.acl, perms::READ, w.ids)?;
                check_version(n.version, *version)?;
                Ok(OpResult::Checked)
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn create(
        &mut self,
        w: &Who,
        opcode: i32,
        path: &str,
        data: &Option<Vec<u8>>,
        acl: &[Acl],
        flags: i32,
        ttl: i64,
    ) -> Result<OpResult, ErrorCode> {
        // CreateMode.fromFlag
        if !(0..=6).contains(&flags) {
            return Err(ErrorCode::BadArguments);
        }
        let sequential = matches!(flags, 2 | 3 | 6);
        let ephemeral = matches!(flags, 1 | 3);
        let ttl_mode = matches!(flags, 5 | 6);
        // validateCreateRequest
        if ttl_mode && !w.extended_types {
            return Err(ErrorCode::Unimplemented);
        }
        let ttl = if opcode == op::CREATE_TTL { ttl } else { -1 };
        if ttl_mode {
            if ttl <= 0 || ttl > MAX_TTL {
                return Err(ErrorCode::BadArguments);
            }
        } else if ttl >= 0 {
            return Err(ErrorCode::BadArguments);
        }
        // validatePathForCreate
        if !path.contains('/') || path.contains('\0') {
            return Err(ErrorCode::BadArguments);
        }
        let fixed = fixup(acl, w.ids)?;
        let parent = zk_parent(path).ok_or(ErrorCode::BadArguments)?;
        let pn = self.nodes.get(parent).ok_or(ErrorCode::NoNode)?;
        check_acl(&pn.acl, perms::CREATE, w.ids)?;
        let path = if sequential {
            format!("{path}{}", sequence_suffix(pn.cversion))
        } else {
            path.to_string()
        };
        if !zk_valid_path(&path) {
            return Err(ErrorCode::BadArguments);
        }
        if self.nodes.contains_key(&path) {
            return Err(ErrorCode::NodeExists);
        }
        if matches!(pn.kind, Kind::Ephemeral(_)) {
            return Err(ErrorCode::NoChildrenForEphemerals);
        }
        // The txn each opcode writes decides the node's kind in the tree.
        let kind = match opcode {
            op::CREATE_CONTAINER => Kind::Container,
            op::CREATE_TTL => Kind::Ttl(ttl),
            _ if ephemeral => Kind::Ephemeral(w.session),
            _ => Kind::Persistent,
        };
        let parent = parent.to_string();
        let pn = self.node(&parent);
        pn.cversion = pn.cversion.wrapping_add(1);
        pn.pzxid = w.zxid;
        pn.children.insert(name_of(&path).to_string());
        let node = MNode::new(data.clone(), fixed, w.zxid, w.time, kind);
        let stat = node.stat();
        self.nodes.insert(path.clone(), node);
        Ok(OpResult::Created { path, stat })
    }

    fn remove(&mut self, path: &str, parent: &str, zxid: i64) {
        self.nodes.remove(path);
        let pn = self.node(parent);
        pn.children.remove(name_of(path));
        pn.pzxid = zxid;
    }

    /// A multi: all sub-ops or none. On failure: 0 before the failing op, its
    /// code, then RUNTIMEINCONSISTENCY.
    pub fn multi(&mut self, w: &Who, ops: &[MOp]) -> OpResult {
        let mut scratch = self.clone();
        let mut results = Vec::with_capacity(ops.len());
        for (i, o) in ops.iter().enumerate() {
            match scratch.apply(w, o) {
                Ok(r) => results.push(r),
                Err(code) => {
                    let codes = (0..ops.len()).map(|j| {
                        OpResult::Error(match j.cmp(&i) {
                            std::cmp::Ordering::Less => ErrorCode::Ok,
                            std::cmp::Ordering::Equal => code,
                            std::cmp::Ordering::Greater => ErrorCode::RuntimeInconsistency,
                        })
                    });
                    return OpResult::Multi(codes.collect());
                }
            }
        }
        *self = scratch;
        OpResult::Multi(results)
    }

    /// closeSession: the session's ephemerals go.
    pub fn close_session(&mut self, session: i64, zxid: i64) -> OpResult {
        let doomed: Vec<String> = self
            .nodes
            .iter()
            .filter(|(_, n)| n.kind == Kind::Ephemeral(session))
            .map(|(p, _)| p.clone())
            .collect();
        for p in doomed {
            let parent = zk_parent(&p)
                .expect("an ephemeral has a parent")
                .to_string();
            self.remove(&p, &parent, zxid);
        }
        OpResult::SessionClosed
    }

    pub fn ephemerals_of(&self, session: i64) -> Vec<String> {
        self.nodes
            .iter()
            .filter(|(_, n)| n.kind == Kind::Ephemeral(session))
            .map(|(p, _)| p.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_path_rules() {
        for ok in ["/", "/a", "/a/b", "/..a", "/a.", "/ü", "/a b", "/a/..."] {
            assert!(zk_valid_path(ok), "{ok:?}");
        }
        for bad in [
            "",
            "a",
            "/a/",
            "//a",
            "/.",
            "/a/..",
            "/b\u{0}",
            "/\u{1f}",
            "/\u{fff0}",
            "/\u{1F600}",
        ] {
            assert!(!zk_valid_path(bad), "{bad:?}");
        }
    }

    #[test]
    fn cidr_and_fixup() {
        assert!(ip_matches("127.0.0.0/8", "127.0.0.1"));
        assert!(!ip_matches("10.0.0.0/8", "127.0.0.1"));
        assert!(ip_matches("0.0.0.0/0", "127.0.0.1"));
        let ids = [Id::new("ip", "127.0.0.1")];
        let auth = [Acl {
            perms: perms::ALL,
            id: Id::new("auth", ""),
        }];
        assert_eq!(fixup(&auth, &ids), Err(ErrorCode::InvalidAcl));
        assert_eq!(fixup(&[], &ids), Err(ErrorCode::InvalidAcl));
    }
}
