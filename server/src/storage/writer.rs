//! The group-commit writer: one thread that turns every command queued while the
//! previous write was in flight into one RocksDB batch with a single fsync.

use super::{StateDelta, Storage, StorageError};
use rocksdb::WriteBatch;
use std::sync::mpsc::{Receiver, Sender};
use std::sync::Arc;
use std::time::Instant;

/// A synchronous storage operation run in order after everything queued before it.
pub type BarrierOp = Box<dyn FnOnce(&Arc<Storage>) -> Result<(), StorageError> + Send>;

/// Work for the writer thread.
pub enum StorageCmd {
    /// Encoded log entries to make durable; the writer answers `Persisted`.
    Append(Vec<(i64, Vec<u8>)>),
    /// Applied state; durable with the next synced write.
    State(StateDelta),
    /// Epoch writes, TRUNC and SNAP: everything queued before is written first,
    /// then the operation, then `done` is told.
    Barrier(BarrierOp, std::sync::mpsc::Sender<Result<(), String>>),
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

    /// Runs `op` after everything queued so far, and waits for it.
    pub fn barrier(&self, op: BarrierOp) -> Result<(), String> {
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        if !self.send(StorageCmd::Barrier(op, done_tx)) {
            return Err("the storage writer has stopped".into());
        }
        done_rx
            .recv()
            .map_err(|_| "the storage writer has stopped".to_string())?
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
    storage: &Arc<Storage>,
    rx: Receiver<StorageCmd>,
    events: tokio::sync::mpsc::UnboundedSender<StorageEvent>,
) {
    while let Ok(first) = rx.recv() {
        let mut cmds = vec![first];
        while let Ok(more) = rx.try_recv() {
            cmds.push(more);
        }
        if let Err(e) = write_all(storage, cmds, &events) {
            tracing::error!(error = %e, "storage write failed");
            let _ = events.send(StorageEvent::Failed(e.to_string()));
            return;
        }
    }
}

/// Writes a drained run of commands: consecutive appends and state writes share
/// one batch and one fsync; a barrier splits the run.
fn write_all(
    storage: &Arc<Storage>,
    cmds: Vec<StorageCmd>,
    events: &tokio::sync::mpsc::UnboundedSender<StorageEvent>,
) -> Result<(), StorageError> {
    let mut group: Vec<StorageCmd> = Vec::new();
    for cmd in cmds {
        match cmd {
            StorageCmd::Barrier(op, done) => {
                flush_group(storage, std::mem::take(&mut group), events)?;
                let result = op(storage);
                let _ = done.send(result.as_ref().map(|_| ()).map_err(|e| e.to_string()));
                result?;
            }
            other => group.push(other),
        }
    }
    flush_group(storage, group, events)
}

fn flush_group(
    storage: &Storage,
    cmds: Vec<StorageCmd>,
    events: &tokio::sync::mpsc::UnboundedSender<StorageEvent>,
) -> Result<(), StorageError> {
    if cmds.is_empty() {
        return Ok(());
    }
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
            StorageCmd::Barrier(..) => {}
        }
    }
    let started = Instant::now();
    storage.write(batch, upto.is_some())?;
    let fsync_micros = started.elapsed().as_micros() as u64;
    if let Some(upto) = upto {
        let _ = events.send(StorageEvent::Persisted {
            upto,
            entries,
            fsync_micros,
        });
    }
    Ok(())
}
