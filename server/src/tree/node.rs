//! A znode as the tree stores it, and its encoding in the state column family.

use crate::proto::{ttl_of_owner, Acl, DecodeError, Reader, Stat, Writer, CONTAINER_OWNER};
use std::collections::BTreeSet;
use std::sync::Arc;

/// One znode. `cversion` is ZooKeeper's stored creation counter: it feeds sequential
/// names and the reported cversion (`2 × stored − numChildren`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub data: Option<Vec<u8>>,
    pub acl: Arc<Vec<Acl>>,
    pub czxid: i64,
    pub mzxid: i64,
    pub ctime: i64,
    pub mtime: i64,
    pub version: i32,
    pub cversion: i32,
    pub aversion: i32,
    /// Session id of an ephemeral, the container or TTL marker, or 0.
    pub owner: i64,
    pub pzxid: i64,
    pub children: BTreeSet<String>,
}

/// What kind of node an owner field makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeKind {
    Persistent,
    Ephemeral(i64),
    Container,
    Ttl(i64),
}

impl NodeKind {
    pub fn of_owner(owner: i64) -> NodeKind {
        if owner == 0 {
            NodeKind::Persistent
        } else if owner == CONTAINER_OWNER {
            NodeKind::Container
        } else if let Some(ttl) = ttl_of_owner(owner) {
            NodeKind::Ttl(ttl)
        } else {
            NodeKind::Ephemeral(owner)
        }
    }
}

impl Node {
    pub fn new(
        data: Option<Vec<u8>>,
        acl: Arc<Vec<Acl>>,
        zxid: i64,
        time: i64,
        owner: i64,
    ) -> Node {
        Node {
            data,
            acl,
            czxid: zxid,
            mzxid: zxid,
            ctime: time,
            mtime: time,
            version: 0,
            cversion: 0,
            aversion: 0,
            owner,
            pzxid: zxid,
            children: BTreeSet::new(),
        }
    }

    pub fn kind(&self) -> NodeKind {
        NodeKind::of_owner(self.owner)
    }

    /// The Stat clients see: reported cversion, container and TTL markers masked.
    pub fn stat(&self) -> Stat {
        let ephemeral_owner = match self.kind() {
            NodeKind::Ephemeral(s) => s,
            _ => 0,
        };
        Stat {
            czxid: self.czxid,
            mzxid: self.mzxid,
            ctime: self.ctime,
            mtime: self.mtime,
            version: self.version,
            cversion: self
                .cversion
                .wrapping_mul(2)
                .wrapping_sub(self.children.len() as i32),
            aversion: self.aversion,
            ephemeral_owner,
            data_length: self.data.as_ref().map_or(0, |d| d.len() as i32),
            num_children: self.children.len() as i32,
            pzxid: self.pzxid,
        }
    }

    /// The stored record of this node.
    pub fn encoded(&self) -> Vec<u8> {
        let mut w = Writer::new();
        self.encode(&mut w);
        w.into_inner()
    }

    /// Encodes everything but the children, which are rebuilt from paths on load.
    pub fn encode(&self, w: &mut Writer) {
        w.write_buffer(self.data.as_deref());
        Acl::write_list(w, &self.acl);
        for v in [
            self.czxid, self.mzxid, self.ctime, self.mtime, self.owner, self.pzxid,
        ] {
            w.write_i64(v);
        }
        for v in [self.version, self.cversion, self.aversion] {
            w.write_i32(v);
        }
    }

    /// Decodes a stored record, sharing ACL lists through `shared`: records
    /// whose encoded lists are the same bytes get one `Arc`, decoded once
    /// (loading a large tree, most nodes share a handful of lists).
    pub fn decode_shared(
        bytes: &[u8],
        shared: &mut std::collections::HashMap<Vec<u8>, Arc<Vec<Acl>>>,
    ) -> Result<Node, DecodeError> {
        // After the ACL list come six i64 and three i32: 60 bytes.
        const TAIL: usize = 60;
        let mut r = Reader::new(bytes);
        let data = r.read_buffer()?;
        let acl_start = r.position();
        let acl_end = bytes
            .len()
            .checked_sub(TAIL)
            .filter(|end| *end >= acl_start)
            .ok_or(DecodeError::Invalid("node record too short"))?;
        let acl_bytes = &bytes[acl_start..acl_end];
        let acl = match shared.get(acl_bytes) {
            Some(acl) => acl.clone(),
            None => {
                let mut ar = Reader::new(acl_bytes);
                let list = Acl::read_list(&mut ar)?;
                if !ar.is_empty() {
                    return Err(DecodeError::Invalid(
                        "node record's ACL list has trailing bytes",
                    ));
                }
                let acl = Arc::new(list);
                shared.insert(acl_bytes.to_vec(), acl.clone());
                acl
            }
        };
        let mut r = Reader::new(&bytes[acl_end..]);
        Ok(Node {
            data,
            acl,
            czxid: r.read_i64()?,
            mzxid: r.read_i64()?,
            ctime: r.read_i64()?,
            mtime: r.read_i64()?,
            owner: r.read_i64()?,
            pzxid: r.read_i64()?,
            version: r.read_i32()?,
            cversion: r.read_i32()?,
            aversion: r.read_i32()?,
            children: BTreeSet::new(),
        })
    }
}
