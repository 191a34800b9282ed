//! The group-commit writer: one thread that turns every command queued while the
//! previous write was in flight into one RocksDB batch with a single fsync.

use super::{StateDelta, Storage, StorageError};
use rocksdb::WriteBatch;
use std::sync::mpsc::{Receiver, Sender};
use std::sync::Arc;
use std::time::Instant;

/// Work for the writer thread.
pub enum StorageCmd {
    /// Encoded Txns to make durable; the writer answers `Persisted`.
    Append(Vec<(i64, Vec<u8>)>),
    /// Applied state; durable with the next synced write.
    State(StateDelta),
}

/// What the writer reports back.
#[derive(Debug)]
pub enum StorageEvent {
    /// Every entry up to this zxid is on disk.
    Persisted {
        upto: i64,
        entries: usize,
        fsync_micros: u64,
    },
    /// The disk failed: the member must stop, it can no longer promise durability.
    Failed(String),
}

/// A handle to queue writes.
#[derive(Clone)]
pub struct StorageHandle {
    tx: Sender<StorageCmd>,
}

impl StorageHandle {
    /// Queues a command; false when the writer has stopped.
    pub fn send(&self, cmd: StorageCmd) -> bool {
        self.tx.send(cmd).is_ok()
    }
}

/// Starts the writer thread. It runs until every handle is dropped.
pub fn spawn(
    storage: Arc<Storage>,
    events: tokio::sync::mpsc::UnboundedSender<StorageEvent>,
) -> (StorageHandle, std::thread::JoinHandle<()>) {
    let (tx, rx) = std::sync::mpsc::channel();
    let join = std::thread::Builder::new()
        .name("rookery-storage".into())
        .spawn(move || run(&storage, rx, events))
        .expect("spawning the storage thread");
    (StorageHandle { tx }, join)
}

fn run(
    storage: &Storage,
    rx: Receiver<StorageCmd>,
    events: tokio::sync::mpsc::UnboundedSender<StorageEvent>,
) {
    while let Ok(first) = rx.recv() {
        let mut cmds = vec![first];
        while let Ok(more) = rx.try_recv() {
            cmds.push(more);
        }
        match write_group(storage, cmds) {
            Ok(Some((upto, entries, fsync_micros))) => {
                if events
                    .send(StorageEvent::Persisted {
                        upto,
                        entries,
                        fsync_micros,
                    })
                    .is_err()
                {
                    return;
                }
            }
            Ok(None) => {}
            Err(e) => {
                tracing::error!(error = %e, "storage write failed");
                let _ = events.send(StorageEvent::Failed(e.to_string()));
                return;
            }
        }
    }
}

fn write_group(
    storage: &Storage,
    cmds: Vec<StorageCmd>,
) -> Result<Option<(i64, usize, u64)>, StorageError> {
    let mut batch = WriteBatch::default();
    let mut upto = None;
    let mut entries = 0;
    for cmd in &cmds {
        match cmd {
            StorageCmd::Append(e) => {
                storage.batch_log(&mut batch, e);
                entries += e.len();
                if let Some((z, _)) = e.last() {
                    upto = Some(upto.map_or(*z, |u: i64| u.max(*z)));
                }
            }
            StorageCmd::State(delta) => storage.batch_state(&mut batch, delta),
        }
    }
    let started = Instant::now();
    storage.write(batch, upto.is_some())?;
    let micros = started.elapsed().as_micros() as u64;
    Ok(upto.map(|u| (u, entries, micros)))
}
