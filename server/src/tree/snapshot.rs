//! A whole tree as a stream of chunks, for SNAP: the leader cuts its applied tree
//! into bounded chunks, the learner collects them and rebuilds the same tree.

use super::{DataTree, Node, SessionRecord};
use crate::proto::{DecodeError, Reader, Writer};

const NODE: u8 = 0;
const SESSION: u8 = 1;

/// Cuts a tree into chunks of about `max_bytes` each (at least one chunk).
pub fn encode_chunks(tree: &DataTree, max_bytes: usize) -> Vec<Vec<u8>> {
    let mut chunks = Vec::new();
    let mut w = Writer::new();
    w.write_i64(tree.last_zxid());
    let flush = |w: &mut Writer, chunks: &mut Vec<Vec<u8>>| {
        if w.len() >= max_bytes {
            chunks.push(std::mem::take(w).into_inner());
            w.write_i64(tree.last_zxid());
        }
    };
    for (path, node) in tree.nodes() {
        w.write_raw(&[NODE]);
        w.write_string(path);
        w.write_buffer(Some(&node.encoded()));
        flush(&mut w, &mut chunks);
    }
    for (id, s) in tree.sessions() {
        w.write_raw(&[SESSION]);
        w.write_i64(*id);
        w.write_i32(s.timeout_ms);
        w.write_buffer(Some(&s.passwd));
        flush(&mut w, &mut chunks);
    }
    chunks.push(w.into_inner());
    chunks
}

/// Collects chunks until the snapshot is installed.
#[derive(Debug, Default)]
pub struct Assembler {
    zxid: Option<i64>,
    nodes: Vec<(String, Node)>,
    sessions: Vec<(i64, SessionRecord)>,
}

impl Assembler {
    pub fn add(&mut self, chunk: &[u8]) -> Result<(), DecodeError> {
        let mut r = Reader::new(chunk);
        let zxid = r.read_i64()?;
        if self.zxid.is_some_and(|z| z != zxid) {
            return Err(DecodeError::Invalid("snapshot chunks of different zxids"));
        }
        self.zxid = Some(zxid);
        while !r.is_empty() {
            match r.read_u8()? {
                NODE => {
                    let path = r.read_string()?;
                    let record = r.read_buffer()?.unwrap_or_default();
                    let node = Node::decode(&mut Reader::new(&record))?;
                    self.nodes.push((path, node));
                }
                SESSION => {
                    let id = r.read_i64()?;
                    let timeout_ms = r.read_i32()?;
                    let passwd = r.read_buffer()?.unwrap_or_default();
                    self.sessions
                        .push((id, SessionRecord { timeout_ms, passwd }));
                }
                _ => return Err(DecodeError::Invalid("unknown snapshot record")),
            }
        }
        Ok(())
    }

    pub fn zxid(&self) -> Option<i64> {
        self.zxid
    }

    /// The tree the chunks describe.
    pub fn build(self) -> DataTree {
        DataTree::from_records(self.nodes, self.sessions, self.zxid.unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::Acl;
    use crate::txn::{CreateTxn, Txn, TxnBody};

    #[test]
    fn a_tree_survives_chunking() {
        let mut tree = DataTree::new();
        for i in 1..=50 {
            tree.apply(&Txn {
                zxid: i,
                time_ms: i,
                session_id: 9,
                body: TxnBody::Create(CreateTxn {
                    path: format!("/n{i}"),
                    data: Some(vec![i as u8; 100]),
                    acl: Acl::world_all(),
                    owner: 0,
                }),
            });
        }
        tree.apply(&Txn {
            zxid: 51,
            time_ms: 51,
            session_id: 77,
            body: TxnBody::CreateSession {
                timeout_ms: 4000,
                passwd: vec![3; 16],
            },
        });
        let chunks = encode_chunks(&tree, 1000);
        assert!(chunks.len() > 3);
        let mut a = Assembler::default();
        for c in &chunks {
            a.add(c).unwrap();
        }
        let rebuilt = a.build();
        assert_eq!(rebuilt.last_zxid(), 51);
        assert_eq!(rebuilt.node_count(), tree.node_count());
        assert_eq!(rebuilt.get("/n7"), tree.get("/n7"));
        assert_eq!(
            rebuilt.get("/").unwrap().stat(),
            tree.get("/").unwrap().stat()
        );
        assert_eq!(rebuilt.session(77), tree.session(77));
    }
}
