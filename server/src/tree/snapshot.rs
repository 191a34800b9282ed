//! A whole tree as a stream of chunks, for SNAP. The leader reads its stored state
//! (a RocksDB snapshot) record by record and cuts it into bounded chunks; the
//! learner collects them and rebuilds the same tree. Each chunk says which stream
//! it belongs to and where it sits in it, so a stream cut short by a broken link
//! is never mistaken for a whole one.

use super::{DataTree, Node, SessionRecord};
use crate::proto::{DecodeError, Reader, Writer};

const NODE: u8 = 0;
const SESSION: u8 = 1;
/// zxid (i64), stream id (i64), sequence number (i32), last-chunk flag (u8).
const HEADER_LEN: usize = 8 + 8 + 4 + 1;
const LAST_FLAG_AT: usize = HEADER_LEN - 1;

/// Turns records into chunks of about `max_bytes` each.
pub struct ChunkEncoder {
    zxid: i64,
    stream: i64,
    seq: i32,
    max_bytes: usize,
    w: Writer,
}

impl ChunkEncoder {
    /// A stream of the tree at `zxid`; `stream` tells it apart from earlier ones.
    pub fn new(zxid: i64, stream: i64, max_bytes: usize) -> ChunkEncoder {
        let mut e = ChunkEncoder {
            zxid,
            stream,
            seq: 0,
            max_bytes,
            w: Writer::new(),
        };
        e.start_chunk();
        e
    }

    fn start_chunk(&mut self) {
        self.w.write_i64(self.zxid);
        self.w.write_i64(self.stream);
        self.w.write_i32(self.seq);
        self.w.write_raw(&[0]);
    }

    /// Returns a full chunk once the current one has reached its size.
    fn cut_if_full(&mut self) -> Option<Vec<u8>> {
        if self.w.len() < self.max_bytes {
            return None;
        }
        let chunk = std::mem::take(&mut self.w).into_inner();
        self.seq += 1;
        self.start_chunk();
        Some(chunk)
    }

    /// Adds a znode (its stored record, `Node::encoded`).
    pub fn node(&mut self, path: &str, encoded: &[u8]) -> Option<Vec<u8>> {
        self.w.write_raw(&[NODE]);
        self.w.write_string(path);
        self.w.write_buffer(Some(encoded));
        self.cut_if_full()
    }

    /// Adds a session.
    pub fn session(&mut self, id: i64, record: &SessionRecord) -> Option<Vec<u8>> {
        self.w.write_raw(&[SESSION]);
        self.w.write_i64(id);
        self.w.write_i32(record.timeout_ms);
        self.w.write_buffer(Some(&record.passwd));
        self.cut_if_full()
    }

    /// The last chunk, marked as such (it may hold no records).
    pub fn finish(self) -> Vec<u8> {
        let mut chunk = self.w.into_inner();
        chunk[LAST_FLAG_AT] = 1;
        chunk
    }
}

/// Cuts an in-memory tree into chunks (at least one); the server streams from
/// storage instead, this is for tests and tools.
pub fn encode_chunks(tree: &DataTree, max_bytes: usize) -> Vec<Vec<u8>> {
    let mut enc = ChunkEncoder::new(tree.last_zxid(), 0, max_bytes);
    let mut chunks = Vec::new();
    for (path, node) in tree.nodes() {
        chunks.extend(enc.node(path, &node.encoded()));
    }
    for (id, s) in tree.sessions() {
        chunks.extend(enc.session(*id, s));
    }
    chunks.push(enc.finish());
    chunks
}

/// Collects the chunks of one stream until it is whole. A chunk numbered 0 starts
/// a new stream and discards whatever an earlier one left behind.
#[derive(Debug, Default)]
pub struct Assembler {
    /// (zxid, stream id) of the stream being collected.
    stream: Option<(i64, i64)>,
    next_seq: i32,
    whole: bool,
    nodes: Vec<(String, Node)>,
    sessions: Vec<(i64, SessionRecord)>,
    /// ACL lists decoded so far, by their encoded bytes.
    acls: std::collections::HashMap<Vec<u8>, std::sync::Arc<Vec<crate::proto::Acl>>>,
}

impl Assembler {
    pub fn add(&mut self, chunk: &[u8]) -> Result<(), DecodeError> {
        let mut r = Reader::new(chunk);
        let zxid = r.read_i64()?;
        let stream = r.read_i64()?;
        let seq = r.read_i32()?;
        let last = r.read_u8()? != 0;
        if seq == 0 {
            *self = Assembler {
                stream: Some((zxid, stream)),
                ..Assembler::default()
            };
        } else if self.stream != Some((zxid, stream)) || self.whole || seq != self.next_seq {
            return Err(DecodeError::Invalid("snapshot chunk out of sequence"));
        }
        while !r.is_empty() {
            match r.read_u8()? {
                NODE => {
                    let path = r.read_string()?;
                    let record = r.read_buffer()?.unwrap_or_default();
                    let node = Node::decode_shared(&record, &mut self.acls)?;
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
        self.next_seq = seq.saturating_add(1);
        self.whole = last;
        Ok(())
    }

    /// The zxid of the snapshot, once every chunk of it has arrived.
    pub fn whole_at(&self) -> Option<i64> {
        self.stream.filter(|_| self.whole).map(|(zxid, _)| zxid)
    }

    /// The tree the chunks describe.
    pub fn build(self) -> DataTree {
        let zxid = self.stream.map_or(0, |(z, _)| z);
        DataTree::from_records(self.nodes, self.sessions, zxid)
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
            assert_eq!(a.whole_at(), None);
            a.add(c).unwrap();
        }
        assert_eq!(a.whole_at(), Some(51));
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

    fn tree_of(n: i64) -> DataTree {
        let mut tree = DataTree::new();
        for i in 1..=n {
            tree.apply(&Txn {
                zxid: i,
                time_ms: i,
                session_id: 9,
                body: TxnBody::Create(CreateTxn {
                    path: format!("/n{i}"),
                    data: Some(vec![1; 100]),
                    acl: Acl::world_all(),
                    owner: 0,
                }),
            });
        }
        tree
    }

    #[test]
    fn a_stream_missing_a_chunk_is_never_whole() {
        let chunks = encode_chunks(&tree_of(40), 500);
        assert!(chunks.len() > 3);
        let mut a = Assembler::default();
        a.add(&chunks[0]).unwrap();
        assert!(
            a.add(&chunks[2]).is_err(),
            "a gap in the sequence is refused"
        );
        for c in &chunks[3..] {
            let _ = a.add(c);
        }
        assert_eq!(a.whole_at(), None);
    }

    #[test]
    fn a_new_stream_replaces_a_broken_one() {
        let old = encode_chunks(&tree_of(40), 500);
        let new = encode_chunks(&tree_of(10), 500);
        let mut a = Assembler::default();
        a.add(&old[0]).unwrap();
        a.add(&old[1]).unwrap();
        for c in &new {
            a.add(c).unwrap();
        }
        assert_eq!(a.whole_at(), Some(10));
        let rebuilt = a.build();
        assert_eq!(rebuilt.node_count(), tree_of(10).node_count());
        assert!(rebuilt.get("/n11").is_none());
    }
}
