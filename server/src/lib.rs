//! Rookery's server: a ZooKeeper-compatible member. See DESIGN.md for the layers:
//! `proto` ← `tree` ← `prep` ← `core` ← `storage` / `net`.

pub mod admin;
pub mod config;
pub mod core;
pub mod net;
pub mod prep;
pub mod proto;
pub mod session;
pub mod storage;
pub mod tree;
pub mod txn;
pub mod zab;

use config::Config;
use std::sync::Arc;
use thiserror::Error;
use tokio::sync::{mpsc, watch};

#[derive(Debug, Error)]
pub enum ServerError {
    #[error(transparent)]
    Storage(#[from] storage::StorageError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    #[error("{0}")]
    Fatal(String),
}

/// Runs a standalone member until `shutdown` turns true.
pub async fn run_standalone(
    cfg: Config,
    shutdown: watch::Receiver<bool>,
) -> Result<(), ServerError> {
    let cfg = Arc::new(cfg);
    let store = Arc::new(storage::Storage::open(&cfg.storage_dir())?);
    let recovered = store.recover()?;
    tracing::info!(
        applied = format!("0x{:x}", recovered.tree.last_zxid()),
        logged_past_it = recovered.unapplied.len(),
        nodes = recovered.tree.node_count(),
        sessions = recovered.tree.sessions().len(),
        accepted_epoch = recovered.accepted_epoch,
        current_epoch = recovered.current_epoch,
        "recovered state"
    );
    let addr = cfg.client_addr()?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| ServerError::Bind {
            addr: addr.to_string(),
            source,
        })?;
    tracing::info!(%addr, "serving clients (standalone)");

    let (events_tx, events_rx) = mpsc::unbounded_channel();
    let (handle, writer) = storage::writer::spawn(store.clone(), events_tx);
    let (core_tx, core_rx) = mpsc::unbounded_channel();
    let zab_cfg = core::zab_config(&cfg);
    let result = match core::Core::new(cfg.clone(), recovered, zab_cfg, handle) {
        Ok(core) => {
            let net = tokio::spawn(net::serve(listener, core_tx, cfg.clone(), shutdown.clone()));
            let result = core.run(core_rx, events_rx, shutdown).await;
            net.abort();
            result
        }
        Err(e) => Err(e),
    };
    // The core (and with it the last storage handle) is gone: let the writer finish its queue.
    let _ = tokio::task::spawn_blocking(move || writer.join()).await;
    tracing::info!("stopped");
    result.map_err(ServerError::Fatal)
}
