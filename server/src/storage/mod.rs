//! RocksDB storage (DESIGN §4): the `log` of Txns, the applied `state` (znodes and
//! sessions) and `meta` (epochs, applied zxid). Every value carries a crc32c; a
//! record that fails it stops the member instead of serving wrong data.

pub mod writer;

use crate::proto::{DecodeError, Reader, Writer};
use crate::tree::{DataTree, Node, SessionRecord};
use crate::txn::Logged;
use rocksdb::{ColumnFamilyDescriptor, IteratorMode, Options, WriteBatch, WriteOptions, DB};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use thiserror::Error;

const CF_LOG: &str = "log";
const CF_STATE: &str = "state";
const CF_META: &str = "meta";

const KEY_APPLIED: &[u8] = b"applied_zxid";
const KEY_CURRENT_EPOCH: &[u8] = b"current_epoch";
const KEY_ACCEPTED_EPOCH: &[u8] = b"accepted_epoch";

/// The applied marker while a snapshot is being installed.
const INSTALLING: i64 = -1;
/// Size of one write batch when installing a snapshot.
const INSTALL_BATCH_BYTES: usize = 4 << 20;

const NODE_PREFIX: u8 = b'n';
const SESSION_PREFIX: u8 = b's';

#[derive(Debug, Error)]
pub enum StorageError {
    #[error("rocksdb at {path}: {source}")]
    Rocks {
        path: PathBuf,
        #[source]
        source: rocksdb::Error,
    },
    #[error(
        "the storage at {path} is corrupt ({cause}); refusing to start rather than serve \
         or vote with wrong data. If the other members are healthy, move this directory \
         away and restart: the member re-syncs from the ensemble"
    )]
    CorruptOnOpen {
        path: PathBuf,
        cause: rocksdb::Error,
    },
    #[error("corrupt record in {cf} (key {key}): {reason}; refusing to serve possibly wrong data")]
    Corrupt {
        cf: &'static str,
        key: String,
        reason: String,
    },
}

/// One member's RocksDB.
pub struct Storage {
    db: DB,
    path: PathBuf,
}

/// RocksDB's own figures (`Storage::engine_stats`).
#[derive(Debug, Clone, Copy, Default)]
pub struct EngineStats {
    pub sst_bytes: u64,
    pub live_data_bytes: u64,
    pub memtable_bytes: u64,
    pub pending_compaction_bytes: u64,
    pub write_stopped: bool,
    /// Bytes per second while RocksDB slows writes, else 0.
    pub delayed_write_rate: u64,
}

/// What storage held at start-up.
#[derive(Debug)]
pub struct Recovered {
    /// The tree as of the applied zxid.
    pub tree: DataTree,
    /// Logged entries past it, in zxid order.
    pub unapplied: Vec<Logged>,
    /// The newest applied entries still in the log (see `recover_with_window`),
    /// in zxid order, and the zxid just before the first of them.
    pub recent: Vec<Logged>,
    pub recent_base: i64,
    pub accepted_epoch: u32,
    pub current_epoch: u32,
}

/// What a write to `state` carries: final records of the touched keys, the applied
/// zxid they reflect, and log entries that may now be dropped. Nodes travel encoded
/// (`Node::encode`, children excluded), so a busy parent is never copied.
#[derive(Debug, Default)]
pub struct StateDelta {
    pub nodes: Vec<(String, Option<Vec<u8>>)>,
    pub sessions: Vec<(i64, Option<SessionRecord>)>,
    pub applied_zxid: i64,
    pub trim_log_below: Option<i64>,
}

/// All memtables together, at most (RocksDB flushes the largest beyond it).
const WRITE_BUFFERS_BYTES: usize = 48 << 20;

fn seal(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 4);
    out.extend_from_slice(&crc32c::crc32c(payload).to_be_bytes());
    out.extend_from_slice(payload);
    out
}

fn unseal<'a>(cf: &'static str, key: &[u8], value: &'a [u8]) -> Result<&'a [u8], StorageError> {
    let corrupt = |reason: &str| StorageError::Corrupt {
        cf,
        key: String::from_utf8_lossy(key).into_owned(),
        reason: reason.to_string(),
    };
    if value.len() < 4 {
        return Err(corrupt("shorter than its checksum"));
    }
    let (sum, payload) = value.split_at(4);
    let expected = u32::from_be_bytes([sum[0], sum[1], sum[2], sum[3]]);
    if crc32c::crc32c(payload) != expected {
        return Err(corrupt("checksum mismatch"));
    }
    Ok(payload)
}

fn decode_err(cf: &'static str, key: &[u8], e: DecodeError) -> StorageError {
    StorageError::Corrupt {
        cf,
        key: String::from_utf8_lossy(key).into_owned(),
        reason: e.to_string(),
    }
}

pub fn log_key(zxid: i64) -> [u8; 8] {
    (zxid as u64).to_be_bytes()
}

fn node_key(path: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(path.len() + 1);
    k.push(NODE_PREFIX);
    k.extend_from_slice(path.as_bytes());
    k
}

fn session_key(id: i64) -> Vec<u8> {
    let mut k = vec![SESSION_PREFIX];
    k.extend_from_slice(&id.to_be_bytes());
    k
}

impl Storage {
    pub fn open(dir: &Path) -> Result<Storage, StorageError> {
        let rocks = |source| StorageError::Rocks {
            path: dir.to_path_buf(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(|e| StorageError::Corrupt {
            cf: "-",
            key: dir.display().to_string(),
            reason: format!("cannot create directory: {e}"),
        })?;
        let mut opts = Options::default();
        opts.create_if_missing(true);
        opts.create_missing_column_families(true);
        opts.set_max_background_jobs(2);
        // A torn record at the end of the write-ahead log is what a crash leaves
        // (it was never acknowledged); damage anywhere before it is a bad disk,
        // and the default (point-in-time recovery) would silently drop everything
        // after it, acknowledged writes included. Refuse instead, as ZooKeeper
        // refuses a transaction log whose checksum fails.
        opts.set_wal_recovery_mode(rocksdb::DBRecoveryMode::TolerateCorruptedTailRecords);
        // The tree lives in memory; RocksDB only has to take writes and hand
        // the state back at start. Small memtables keep a member's memory (and
        // what a restart replays from the write-ahead log) small: RocksDB's
        // default, 64 MiB × 2 per column family, would hold up to 384 MiB.
        opts.set_db_write_buffer_size(WRITE_BUFFERS_BYTES);
        let cfs = [CF_LOG, CF_STATE, CF_META].map(|name| {
            let mut o = Options::default();
            o.set_compression_type(rocksdb::DBCompressionType::Lz4);
            o.set_write_buffer_size(if name == CF_META {
                1 << 20
            } else {
                WRITE_BUFFERS_BYTES / 3
            });
            ColumnFamilyDescriptor::new(name, o)
        });
        let db = DB::open_cf_descriptors(&opts, dir, cfs).map_err(|source| {
            if source.kind() == rocksdb::ErrorKind::Corruption {
                StorageError::CorruptOnOpen {
                    path: dir.to_path_buf(),
                    cause: source,
                }
            } else {
                rocks(source)
            }
        })?;
        Ok(Storage {
            db,
            path: dir.to_path_buf(),
        })
    }

    fn cf(&self, name: &str) -> &rocksdb::ColumnFamily {
        self.db
            .cf_handle(name)
            .expect("column families are created at open")
    }

    fn rocks(&self, source: rocksdb::Error) -> StorageError {
        StorageError::Rocks {
            path: self.path.clone(),
            source,
        }
    }

    fn meta_i64(&self, key: &[u8]) -> Result<Option<i64>, StorageError> {
        let Some(v) = self
            .db
            .get_cf(self.cf(CF_META), key)
            .map_err(|e| self.rocks(e))?
        else {
            return Ok(None);
        };
        let payload = unseal(CF_META, key, &v)?;
        let mut r = Reader::new(payload);
        r.read_i64()
            .map(Some)
            .map_err(|e| decode_err(CF_META, key, e))
    }

    fn put_meta_synced(&self, key: &[u8], v: i64) -> Result<(), StorageError> {
        let mut batch = WriteBatch::default();
        batch.put_cf(self.cf(CF_META), key, seal(&v.to_be_bytes()));
        let mut wo = WriteOptions::default();
        wo.set_sync(true);
        self.db.write_opt(batch, &wo).map_err(|e| self.rocks(e))
    }

    pub fn current_epoch(&self) -> Result<i64, StorageError> {
        Ok(self.meta_i64(KEY_CURRENT_EPOCH)?.unwrap_or(0))
    }

    pub fn accepted_epoch(&self) -> Result<i64, StorageError> {
        Ok(self.meta_i64(KEY_ACCEPTED_EPOCH)?.unwrap_or(0))
    }

    pub fn set_accepted_epoch(&self, epoch: u32) -> Result<(), StorageError> {
        self.put_meta_synced(KEY_ACCEPTED_EPOCH, epoch as i64)
    }

    pub fn set_current_epoch(&self, epoch: u32) -> Result<(), StorageError> {
        self.put_meta_synced(KEY_CURRENT_EPOCH, epoch as i64)
    }

    /// Drops log entries after `zxid` (TRUNC), durably.
    pub fn truncate_log_after(&self, zxid: i64) -> Result<(), StorageError> {
        let mut batch = WriteBatch::default();
        batch.delete_range_cf(
            self.cf(CF_LOG),
            log_key(zxid.saturating_add(1)),
            log_key(i64::MAX),
        );
        self.write(batch, true)
    }

    /// Empties state and log and sets the applied marker, durably.
    fn wipe(&self, applied: i64) -> Result<(), StorageError> {
        let mut batch = WriteBatch::default();
        batch.delete_range_cf(self.cf(CF_STATE), [0u8].as_slice(), [0xffu8; 9].as_slice());
        batch.delete_range_cf(self.cf(CF_LOG), log_key(0), log_key(i64::MAX));
        batch.put_cf(self.cf(CF_META), KEY_APPLIED, seal(&applied.to_be_bytes()));
        self.write(batch, true)
    }

    /// Replaces the whole state with a snapshot and empties the log (SNAP), durably.
    /// Written in bounded batches under an "installing" marker, so a crash half-way
    /// is recognised at start-up instead of leaving a mixed state.
    pub fn install_snapshot(&self, tree: &DataTree) -> Result<(), StorageError> {
        self.wipe(INSTALLING)?;
        let state = self.cf(CF_STATE);
        let mut batch = WriteBatch::default();
        for (path, node) in tree.nodes() {
            batch.put_cf(state, node_key(path), seal(&node.encoded()));
            if batch.size_in_bytes() >= INSTALL_BATCH_BYTES {
                self.write(std::mem::take(&mut batch), false)?;
                crate::failpoints::hit("snap_install_midway");
            }
        }
        let delta = StateDelta {
            sessions: tree
                .sessions()
                .iter()
                .map(|(id, s)| (*id, Some(s.clone())))
                .collect(),
            applied_zxid: tree.last_zxid(),
            ..StateDelta::default()
        };
        self.batch_state(&mut batch, &delta);
        self.write(batch, true)
    }

    /// Reads `state` as it is now, on a new thread: the RocksDB snapshot is taken
    /// before this returns (so it holds exactly what was written before the call,
    /// e.g. from a writer barrier), then `read` gets it on a thread of its own and
    /// may take as long as it likes without holding up writes.
    pub fn read_state_in_background<F>(self: &Arc<Self>, read: F)
    where
        F: FnOnce(StateSnapshot<'_>) + Send + 'static,
    {
        let storage = self.clone();
        let (taken_tx, taken_rx) = std::sync::mpsc::sync_channel(0);
        let spawned = std::thread::Builder::new()
            .name("rookery-state-reader".into())
            .spawn(move || {
                let snapshot = storage.db.snapshot();
                let _ = taken_tx.send(());
                read(StateSnapshot {
                    storage: &storage,
                    snapshot,
                });
            });
        match spawned {
            Ok(_) => {
                let _ = taken_rx.recv();
            }
            Err(e) => tracing::error!(error = %e, "cannot start a state reader thread"),
        }
    }

    /// Loads the applied state and the logged entries past it. Those are not
    /// applied here: whether they are committed is for the ZAB core to decide.
    pub fn recover(&self) -> Result<Recovered, StorageError> {
        self.recover_with_window(0, 0)
    }

    /// As `recover`, plus up to `window` of the newest applied entries, so that a
    /// restarted member (a leader, above all) can bring others up to date by DIFF
    /// rather than SNAP, as ZooKeeper loads its committedLog at start-up.
    /// The window holds at most `window` entries and `window_bytes` of them.
    pub fn recover_with_window(
        &self,
        window: usize,
        window_bytes: usize,
    ) -> Result<Recovered, StorageError> {
        let mut rec = self.recover_state_and_tail()?;
        let applied = rec.tree.last_zxid();
        let mut newest_first = Vec::new();
        let mut bytes = 0usize;
        if window > 0 {
            let from = log_key(applied);
            for item in self.db.iterator_cf(
                self.cf(CF_LOG),
                IteratorMode::From(&from, rocksdb::Direction::Reverse),
            ) {
                let (k, v) = item.map_err(|e| self.rocks(e))?;
                let payload = unseal(CF_LOG, &k, &v)?;
                let logged = Logged::decode(payload).map_err(|e| decode_err(CF_LOG, &k, e))?;
                newest_first.push(logged);
                // One more than the window: the oldest read is the base, not an entry.
                if newest_first.len() > window || bytes > window_bytes {
                    break;
                }
                bytes += payload.len();
            }
        }
        // The oldest entry read stands for the history before the window: it is
        // applied, so a member at exactly that zxid can still be sent a DIFF.
        rec.recent_base = match newest_first.pop() {
            Some(oldest) => oldest.txn.zxid,
            None => applied,
        };
        newest_first.reverse();
        rec.recent = newest_first;
        Ok(rec)
    }

    fn recover_state_and_tail(&self) -> Result<Recovered, StorageError> {
        let mut applied = self.meta_i64(KEY_APPLIED)?.unwrap_or(0);
        if applied == INSTALLING {
            tracing::warn!(
                "a snapshot install was cut short; starting empty, the leader sends it again"
            );
            self.wipe(0)?;
            applied = 0;
        }
        // RocksDB's estimate of the records (nodes and sessions), capped so a
        // wild estimate cannot reserve absurd memory.
        let estimate = self
            .db
            .property_int_value_cf(self.cf(CF_STATE), "rocksdb.estimate-num-keys")
            .ok()
            .flatten()
            .unwrap_or(0)
            .min(1 << 26);
        let mut loader = crate::tree::TreeLoader::with_capacity(estimate as usize);
        let mut sessions = Vec::new();
        let mut acls = std::collections::HashMap::new();
        let state = StateSnapshot {
            storage: self,
            snapshot: self.db.snapshot(),
        };
        state.for_each(|record| {
            match record {
                StateRecord::Node { path, encoded } => loader.add(
                    path.to_string(),
                    Node::decode_shared(encoded, &mut acls)
                        .map_err(|e| decode_err(CF_STATE, path.as_bytes(), e))?,
                ),
                StateRecord::Session { id, record } => sessions.push((id, record)),
            }
            Ok(true)
        })?;
        let tree = loader.finish(sessions, applied);
        let mut unapplied = Vec::new();
        let start = log_key(applied.saturating_add(1));
        for item in self.db.iterator_cf(
            self.cf(CF_LOG),
            IteratorMode::From(&start, rocksdb::Direction::Forward),
        ) {
            let (k, v) = item.map_err(|e| self.rocks(e))?;
            let payload = unseal(CF_LOG, &k, &v)?;
            let logged = Logged::decode(payload).map_err(|e| decode_err(CF_LOG, &k, e))?;
            if k.as_ref() != log_key(logged.txn.zxid) {
                return Err(StorageError::Corrupt {
                    cf: CF_LOG,
                    key: format!("{k:?}"),
                    reason: format!("entry holds zxid 0x{:x}", logged.txn.zxid),
                });
            }
            unapplied.push(logged);
        }
        Ok(Recovered {
            tree,
            unapplied,
            recent: Vec::new(),
            recent_base: applied,
            accepted_epoch: self.meta_i64(KEY_ACCEPTED_EPOCH)?.unwrap_or(0) as u32,
            current_epoch: self.meta_i64(KEY_CURRENT_EPOCH)?.unwrap_or(0) as u32,
        })
    }

    /// Every entry in the log, in zxid order (for `rookery log-dump`).
    pub fn log_entries(&self) -> Result<Vec<Logged>, StorageError> {
        let mut out = Vec::new();
        for item in self.db.iterator_cf(self.cf(CF_LOG), IteratorMode::Start) {
            let (k, v) = item.map_err(|e| self.rocks(e))?;
            let payload = unseal(CF_LOG, &k, &v)?;
            out.push(Logged::decode(payload).map_err(|e| decode_err(CF_LOG, &k, e))?);
        }
        Ok(out)
    }

    /// The zxid the stored state reflects.
    pub fn applied_zxid(&self) -> Result<i64, StorageError> {
        Ok(self.meta_i64(KEY_APPLIED)?.unwrap_or(0))
    }

    /// The last zxid in the log, if any.
    pub fn last_logged_zxid(&self) -> Result<Option<i64>, StorageError> {
        let mut it = self.db.iterator_cf(self.cf(CF_LOG), IteratorMode::End);
        match it.next() {
            None => Ok(None),
            Some(item) => {
                let (k, _) = item.map_err(|e| self.rocks(e))?;
                let mut a = [0u8; 8];
                if k.len() != 8 {
                    return Err(StorageError::Corrupt {
                        cf: CF_LOG,
                        key: format!("{k:?}"),
                        reason: "log key is not 8 bytes".into(),
                    });
                }
                a.copy_from_slice(&k);
                Ok(Some(u64::from_be_bytes(a) as i64))
            }
        }
    }

    /// Adds encoded log entries to a batch.
    pub(crate) fn batch_log(&self, batch: &mut WriteBatch, entries: &[(i64, Vec<u8>)]) {
        let cf = self.cf(CF_LOG);
        for (zxid, bytes) in entries {
            batch.put_cf(cf, log_key(*zxid), seal(bytes));
        }
    }

    /// Adds a state delta to a batch.
    pub(crate) fn batch_state(&self, batch: &mut WriteBatch, delta: &StateDelta) {
        let state = self.cf(CF_STATE);
        for (path, node) in &delta.nodes {
            match node {
                Some(encoded) => batch.put_cf(state, node_key(path), seal(encoded)),
                None => batch.delete_cf(state, node_key(path)),
            }
        }
        for (id, rec) in &delta.sessions {
            match rec {
                Some(s) => {
                    let mut w = Writer::new();
                    w.write_i32(s.timeout_ms);
                    w.write_buffer(Some(&s.passwd));
                    batch.put_cf(state, session_key(*id), seal(&w.into_inner()));
                }
                None => batch.delete_cf(state, session_key(*id)),
            }
        }
        batch.put_cf(
            self.cf(CF_META),
            KEY_APPLIED,
            seal(&delta.applied_zxid.to_be_bytes()),
        );
        if let Some(below) = delta.trim_log_below {
            batch.delete_range_cf(self.cf(CF_LOG), log_key(0), log_key(below));
        }
    }

    pub(crate) fn write(&self, batch: WriteBatch, sync: bool) -> Result<(), StorageError> {
        let mut wo = WriteOptions::default();
        wo.set_sync(sync);
        self.db.write_opt(batch, &wo).map_err(|e| self.rocks(e))
    }

    /// Writes entries durably at once (tests and tools; the server uses the writer thread).
    pub fn append_synced(&self, logged: &[Logged]) -> Result<(), StorageError> {
        let entries: Vec<(i64, Vec<u8>)> =
            logged.iter().map(|l| (l.txn.zxid, l.encode())).collect();
        let mut batch = WriteBatch::default();
        self.batch_log(&mut batch, &entries);
        self.write(batch, true)
    }

    /// Writes every memtable to a table file and waits: the next open has no
    /// write-ahead log to replay. For a clean stop.
    pub fn flush_memtables(&self) -> Result<(), StorageError> {
        let cfs = [CF_LOG, CF_STATE, CF_META].map(|name| self.cf(name));
        let mut options = rocksdb::FlushOptions::default();
        options.set_wait(true);
        self.db
            .flush_cfs_opt(&cfs, &options)
            .map_err(|e| self.rocks(e))
    }

    /// Size of the live files, for `dirs` and metrics.
    pub fn approximate_size(&self) -> u64 {
        self.cf_property_sum("rocksdb.total-sst-files-size")
    }

    /// A RocksDB integer property summed over the column families.
    fn cf_property_sum(&self, name: &str) -> u64 {
        [CF_LOG, CF_STATE, CF_META]
            .iter()
            .filter_map(|cf| {
                self.db
                    .property_int_value_cf(self.cf(cf), name)
                    .ok()
                    .flatten()
            })
            .sum()
    }

    fn db_property(&self, name: &str) -> u64 {
        self.db.property_int_value(name).ok().flatten().unwrap_or(0)
    }

    /// What RocksDB reports about itself (metrics).
    pub fn engine_stats(&self) -> EngineStats {
        EngineStats {
            sst_bytes: self.approximate_size(),
            live_data_bytes: self.cf_property_sum("rocksdb.estimate-live-data-size"),
            memtable_bytes: self.cf_property_sum("rocksdb.cur-size-all-mem-tables"),
            pending_compaction_bytes: self
                .cf_property_sum("rocksdb.estimate-pending-compaction-bytes"),
            write_stopped: self.db_property("rocksdb.is-write-stopped") != 0,
            delayed_write_rate: self.db_property("rocksdb.actual-delayed-write-rate"),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Overwrites one stored log entry's bytes (tests of corruption handling).
    #[doc(hidden)]
    pub fn corrupt_log_entry_for_test(&self, zxid: i64) -> Result<(), StorageError> {
        let cf = self.cf(CF_LOG);
        if let Some(mut v) = self
            .db
            .get_cf(cf, log_key(zxid))
            .map_err(|e| self.rocks(e))?
        {
            let last = v.len() - 1;
            v[last] ^= 0xff;
            self.db
                .put_cf(cf, log_key(zxid), v)
                .map_err(|e| self.rocks(e))?;
        }
        Ok(())
    }
}

/// A point-in-time view of `state` (see `Storage::read_state_in_background`).
pub struct StateSnapshot<'a> {
    storage: &'a Storage,
    snapshot: rocksdb::Snapshot<'a>,
}

/// One stored record of `state`.
pub enum StateRecord<'a> {
    /// A znode: its path and its `Node::encode`d record.
    Node {
        path: &'a str,
        encoded: &'a [u8],
    },
    Session {
        id: i64,
        record: SessionRecord,
    },
}

impl StateSnapshot<'_> {
    /// The zxid the state reflects.
    pub fn applied_zxid(&self) -> Result<i64, StorageError> {
        let key = KEY_APPLIED;
        let Some(v) = self
            .snapshot
            .get_cf(self.storage.cf(CF_META), key)
            .map_err(|e| self.storage.rocks(e))?
        else {
            return Ok(0);
        };
        let payload = unseal(CF_META, key, &v)?;
        Reader::new(payload)
            .read_i64()
            .map_err(|e| decode_err(CF_META, key, e))
    }

    /// Hands every record, checksum verified, to `visit` in key order (so a parent
    /// comes before its children), until `visit` returns false or fails. True when
    /// it saw them all.
    pub fn for_each(
        &self,
        mut visit: impl FnMut(StateRecord<'_>) -> Result<bool, StorageError>,
    ) -> Result<bool, StorageError> {
        let cf = self.storage.cf(CF_STATE);
        for item in self.snapshot.iterator_cf(cf, IteratorMode::Start) {
            let (k, v) = item.map_err(|e| self.storage.rocks(e))?;
            let payload = unseal(CF_STATE, &k, &v)?;
            let record = match k.first() {
                Some(&NODE_PREFIX) => StateRecord::Node {
                    path: std::str::from_utf8(&k[1..]).map_err(|_| StorageError::Corrupt {
                        cf: CF_STATE,
                        key: String::from_utf8_lossy(&k).into_owned(),
                        reason: "path is not UTF-8".into(),
                    })?,
                    encoded: payload,
                },
                Some(&SESSION_PREFIX) if k.len() == 9 => {
                    let mut id = [0u8; 8];
                    id.copy_from_slice(&k[1..]);
                    StateRecord::Session {
                        id: i64::from_be_bytes(id),
                        record: decode_session(&k, payload)?,
                    }
                }
                _ => {
                    return Err(StorageError::Corrupt {
                        cf: CF_STATE,
                        key: String::from_utf8_lossy(&k).into_owned(),
                        reason: "unknown key kind".into(),
                    })
                }
            };
            if !visit(record)? {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

fn decode_session(key: &[u8], payload: &[u8]) -> Result<SessionRecord, StorageError> {
    let mut r = Reader::new(payload);
    Ok(SessionRecord {
        timeout_ms: r.read_i32().map_err(|e| decode_err(CF_STATE, key, e))?,
        passwd: r
            .read_buffer()
            .map_err(|e| decode_err(CF_STATE, key, e))?
            .unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::Acl;
    use crate::txn::{CreateTxn, Txn, TxnBody};

    fn create(zxid: i64, path: &str) -> Logged {
        Logged {
            origin_member: 1,
            origin_request: zxid as u64,
            txn: Txn {
                zxid,
                time_ms: 77,
                session_id: 1,
                body: TxnBody::Create(CreateTxn {
                    path: path.into(),
                    data: Some(path.as_bytes().to_vec()),
                    acl: Acl::world_all(),
                    owner: 0,
                }),
            },
        }
    }

    /// Writes the state of `tree` for `paths` with its applied marker.
    fn write_state(s: &Storage, tree: &DataTree, paths: &[&str]) {
        let delta = StateDelta {
            nodes: paths
                .iter()
                .map(|p| (p.to_string(), tree.get(p).map(Node::encoded)))
                .collect(),
            sessions: vec![],
            applied_zxid: tree.last_zxid(),
            trim_log_below: None,
        };
        let mut batch = WriteBatch::default();
        s.batch_state(&mut batch, &delta);
        s.write(batch, false).unwrap();
    }

    #[test]
    fn recovery_returns_the_state_and_the_unapplied_log_tail() {
        let dir = tempfile::tempdir().unwrap();
        {
            let s = Storage::open(dir.path()).unwrap();
            s.set_accepted_epoch(2).unwrap();
            s.set_current_epoch(1).unwrap();
            s.append_synced(&[create(1, "/a"), create(2, "/b")])
                .unwrap();
            let mut tree = DataTree::new();
            tree.apply(&create(1, "/a").txn);
            write_state(&s, &tree, &["/a", "/"]);
        }
        let s = Storage::open(dir.path()).unwrap();
        let rec = s.recover().unwrap();
        assert_eq!(rec.tree.last_zxid(), 1);
        assert!(rec.tree.get("/a").is_some() && rec.tree.get("/b").is_none());
        assert_eq!(
            rec.tree.get("/").unwrap().stat().num_children,
            2,
            "/zookeeper and /a"
        );
        assert_eq!(rec.unapplied, vec![create(2, "/b")]);
        assert_eq!((rec.accepted_epoch, rec.current_epoch), (2, 1));
        assert_eq!(s.last_logged_zxid().unwrap(), Some(2));
    }

    /// Regression (found by durability_kill9): logged entries must keep coming back
    /// until their state is written, however often the member restarts.
    #[test]
    fn unapplied_entries_survive_restarts_until_applied() {
        let dir = tempfile::tempdir().unwrap();
        {
            let s = Storage::open(dir.path()).unwrap();
            s.append_synced(&[create(1, "/logged")]).unwrap();
        }
        for _ in 0..2 {
            let s = Storage::open(dir.path()).unwrap();
            assert_eq!(s.recover().unwrap().unapplied.len(), 1);
        }
        {
            let s = Storage::open(dir.path()).unwrap();
            let mut rec = s.recover().unwrap();
            rec.tree.apply(&rec.unapplied[0].txn);
            write_state(&s, &rec.tree, &["/logged", "/"]);
        }
        let s = Storage::open(dir.path()).unwrap();
        let rec = s.recover().unwrap();
        assert!(rec.unapplied.is_empty());
        assert!(rec.tree.get("/logged").is_some());
    }

    /// The newest write-ahead log file of a closed store, and its bytes.
    fn newest_wal(dir: &Path) -> (PathBuf, Vec<u8>) {
        let wal = std::fs::read_dir(dir)
            .unwrap()
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "log"))
            .max_by_key(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
            .expect("a write-ahead log file");
        let bytes = std::fs::read(&wal).unwrap();
        (wal, bytes)
    }

    fn store_with_entries(dir: &Path) {
        let s = Storage::open(dir).unwrap();
        for z in 1..=200 {
            s.append_synced(&[create(z, &format!("/n{z:04}"))]).unwrap();
        }
    }

    /// Regression (found while writing history::corrupt_write_ahead_log_on_a_follower):
    /// RocksDB's default recovery stopped at a damaged record and dropped every
    /// later one without a word (100 of these 200), so a member came back having
    /// forgotten writes it had acknowledged. A failed checksum before the end of
    /// the log must stop the start.
    #[test]
    fn a_damaged_record_in_the_middle_of_the_log_refuses_to_open() {
        let dir = tempfile::tempdir().unwrap();
        store_with_entries(dir.path());
        let (wal, mut bytes) = newest_wal(dir.path());
        let middle = bytes.len() / 2;
        // One flipped byte: the record's checksum fails. (Damage that makes a
        // record look cut short is, to RocksDB, what a crash leaves; that member
        // comes back with the log before it and re-syncs, see the history test.)
        bytes[middle] ^= 0x5a;
        std::fs::write(&wal, bytes).unwrap();
        match Storage::open(dir.path()) {
            Err(e @ StorageError::CorruptOnOpen { .. }) => {
                assert!(e.to_string().contains("re-syncs"), "{e}")
            }
            Err(e) => panic!("wrong error: {e}"),
            Ok(s) => panic!(
                "opened a damaged log; it holds {} entries of 200",
                s.log_entries().unwrap().len()
            ),
        }
    }

    /// What a crash leaves (a record cut short at the very end) is not damage:
    /// the store opens with everything before it.
    #[test]
    fn a_torn_last_record_opens_with_everything_before_it() {
        let dir = tempfile::tempdir().unwrap();
        store_with_entries(dir.path());
        let (wal, bytes) = newest_wal(dir.path());
        std::fs::write(&wal, &bytes[..bytes.len() - 10]).unwrap();
        let s = Storage::open(dir.path()).unwrap();
        let n = s.log_entries().unwrap().len();
        assert!((199..=200).contains(&n), "{n} entries after a torn tail");
    }

    #[test]
    fn truncate_and_snapshot_rewrite_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let s = Storage::open(dir.path()).unwrap();
        s.append_synced(&[create(1, "/a"), create(2, "/b"), create(3, "/c")])
            .unwrap();
        s.truncate_log_after(1).unwrap();
        assert_eq!(s.last_logged_zxid().unwrap(), Some(1));
        let mut tree = DataTree::new();
        tree.apply(&create(7, "/snap").txn);
        s.install_snapshot(&tree).unwrap();
        let rec = s.recover().unwrap();
        assert!(rec.unapplied.is_empty());
        assert_eq!(rec.tree.last_zxid(), 7);
        assert!(rec.tree.get("/snap").is_some());
        assert_eq!(s.last_logged_zxid().unwrap(), None);
    }

    #[test]
    fn a_corrupt_log_entry_stops_recovery() {
        let dir = tempfile::tempdir().unwrap();
        let s = Storage::open(dir.path()).unwrap();
        s.append_synced(&[create(1, "/a")]).unwrap();
        s.corrupt_log_entry_for_test(1).unwrap();
        let err = s.recover().unwrap_err();
        assert!(err.to_string().contains("checksum mismatch"), "{err}");
    }

    #[test]
    fn a_state_reader_sees_the_state_as_of_its_call_only() {
        let dir = tempfile::tempdir().unwrap();
        let s = Arc::new(Storage::open(dir.path()).unwrap());
        let mut tree = DataTree::new();
        tree.apply(&create(1, "/before").txn);
        write_state(&s, &tree, &["/before", "/"]);
        let (seen_tx, seen_rx) = std::sync::mpsc::channel();
        let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
        s.read_state_in_background(move |state| {
            // Read only after the write below has happened.
            go_rx.recv().unwrap();
            let mut paths = Vec::new();
            let all = state
                .for_each(|r| {
                    if let StateRecord::Node { path, .. } = r {
                        paths.push(path.to_string());
                    }
                    Ok(true)
                })
                .unwrap();
            seen_tx
                .send((state.applied_zxid().unwrap(), all, paths))
                .unwrap();
        });
        tree.apply(&create(2, "/after").txn);
        write_state(&s, &tree, &["/after", "/"]);
        go_tx.send(()).unwrap();
        let (applied, all, paths) = seen_rx.recv().unwrap();
        assert_eq!(applied, 1);
        assert!(all);
        assert!(paths.contains(&"/before".to_string()));
        assert!(!paths.contains(&"/after".to_string()));
    }

    #[test]
    fn a_snapshot_install_cut_short_starts_empty_and_clean() {
        let dir = tempfile::tempdir().unwrap();
        {
            let s = Storage::open(dir.path()).unwrap();
            let mut tree = DataTree::new();
            tree.apply(&create(1, "/old").txn);
            write_state(&s, &tree, &["/old", "/"]);
            s.append_synced(&[create(2, "/logged")]).unwrap();
            // What a crash between the first and the last batch of an install leaves.
            s.wipe(INSTALLING).unwrap();
            write_state(&s, &tree, &["/old"]);
            let mut marker = WriteBatch::default();
            marker.put_cf(s.cf(CF_META), KEY_APPLIED, seal(&INSTALLING.to_be_bytes()));
            s.write(marker, true).unwrap();
        }
        for _ in 0..2 {
            let s = Storage::open(dir.path()).unwrap();
            let rec = s.recover().unwrap();
            assert_eq!(rec.tree.last_zxid(), 0);
            assert!(rec.tree.get("/old").is_none());
            assert!(rec.unapplied.is_empty());
        }
    }

    #[test]
    fn an_installed_snapshot_replaces_state_and_log() {
        let dir = tempfile::tempdir().unwrap();
        let mut big = DataTree::new();
        for i in 1..=3000 {
            big.apply(&create(i, &format!("/n{i}")).txn);
        }
        {
            let s = Storage::open(dir.path()).unwrap();
            let mut tree = DataTree::new();
            tree.apply(&create(1, "/old").txn);
            write_state(&s, &tree, &["/old", "/"]);
            s.append_synced(&[create(2, "/logged")]).unwrap();
            s.install_snapshot(&big).unwrap();
        }
        let rec = Storage::open(dir.path()).unwrap().recover().unwrap();
        assert_eq!(rec.tree.last_zxid(), 3000);
        assert_eq!(rec.tree.node_count(), big.node_count());
        assert!(rec.tree.get("/old").is_none());
        assert!(rec.unapplied.is_empty());
        assert_eq!(rec.tree.digest(), big.digest());
    }

    #[test]
    fn recovery_keeps_a_window_of_applied_entries_for_diff() {
        let dir = tempfile::tempdir().unwrap();
        let s = Storage::open(dir.path()).unwrap();
        let entries: Vec<Logged> = (1..=6).map(|i| create(i, &format!("/n{i}"))).collect();
        s.append_synced(&entries).unwrap();
        let mut tree = DataTree::new();
        for e in &entries[..5] {
            tree.apply(&e.txn);
        }
        let paths: Vec<String> = (1..=5).map(|i| format!("/n{i}")).collect();
        let mut refs: Vec<&str> = paths.iter().map(String::as_str).collect();
        refs.push("/");
        write_state(&s, &tree, &refs);
        let rec = s.recover_with_window(3, usize::MAX).unwrap();
        let zxids = |v: &[Logged]| v.iter().map(|l| l.txn.zxid).collect::<Vec<_>>();
        assert_eq!(zxids(&rec.recent), vec![3, 4, 5]);
        assert_eq!(rec.recent_base, 2);
        assert_eq!(zxids(&rec.unapplied), vec![6]);
        // A window wider than the log: the oldest entry is the base.
        let rec = s.recover_with_window(100, usize::MAX).unwrap();
        assert_eq!(zxids(&rec.recent), vec![2, 3, 4, 5]);
        assert_eq!(rec.recent_base, 1);
        // No window: only the tail.
        let rec = s.recover().unwrap();
        assert!(rec.recent.is_empty());
        assert_eq!(rec.recent_base, 5);
    }
}
