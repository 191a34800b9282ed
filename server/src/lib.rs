//! Rookery's server: a ZooKeeper-compatible member. See DESIGN.md for the layers:
//! `proto` ← `tree` ← `prep` ← `core` ← `storage` / `net`.

pub mod admin;
pub mod config;
pub mod core;
pub mod endpoints;
pub mod failpoints;
pub mod logdump;
pub mod membership;
pub mod net;
pub mod prep;
pub mod proto;
pub mod sasl;
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
    #[error("cannot listen on {addr}")]
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

/// Runs a member (standalone, or one of an ensemble when zoo.cfg lists several
/// servers) until `shutdown` turns true.
/// Hands freed heap pages back to the system. Loading a large tree leaves
/// hundreds of megabytes of freed temporaries (records, link lists) that glibc
/// would otherwise keep in the process for good.
fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists.
    unsafe {
        libc::malloc_trim(0);
    }
}

pub async fn run_member(cfg: Config, shutdown: watch::Receiver<bool>) -> Result<(), ServerError> {
    let cfg = Arc::new(cfg);
    failpoints::init(cfg.my_id.unwrap_or(0));
    let metrics = Arc::new(rookery_metrics::Metrics::new());
    let opening = std::time::Instant::now();
    let store = Arc::new(storage::Storage::open(&cfg.storage_dir())?);
    let open_ms = opening.elapsed().as_millis() as u64;
    let loading = std::time::Instant::now();
    let recovered = store.recover_with_window(cfg.commit_log_count, cfg.commit_log_bytes)?;
    metrics.dbinittime.observe_duration_ms(loading.elapsed());
    let load_ms = loading.elapsed().as_millis() as u64;
    release_freed_memory();
    tracing::info!(
        open_ms,
        load_ms,
        applied = format!("0x{:x}", recovered.tree.last_zxid()),
        logged_past_it = recovered.unapplied.len(),
        nodes = recovered.tree.node_count(),
        sessions = recovered.tree.sessions().len(),
        accepted_epoch = recovered.accepted_epoch,
        current_epoch = recovered.current_epoch,
        "recovered state"
    );
    let addr = cfg.client_addr()?;
    let listener = bind(addr).await?;
    tracing::info!(%addr, standalone = cfg.is_standalone(), "listening for clients");
    let secure = match cfg.secure_client_addr()? {
        None => None,
        Some(addr) => {
            let acceptor = net::tls::acceptor(&cfg).map_err(ServerError::Fatal)?;
            let listener = bind(addr).await?;
            tracing::info!(%addr, client_auth = %cfg.ssl_client_auth, "listening for TLS clients");
            Some((listener, acceptor))
        }
    };

    let (core_tx, core_rx) = mpsc::unbounded_channel();
    let zab_cfg = core::zab_config(&cfg);
    let (link_tx, link_rx) = mpsc::unbounded_channel();
    let links = if cfg.is_standalone() {
        None
    } else {
        Some(start_links(&cfg, link_tx).await?)
    };
    let endpoints = endpoints::start(
        &cfg,
        metrics.clone(),
        store.clone(),
        core_tx.clone(),
        shutdown.clone(),
    )
    .await?;
    // The storage writer starts only once every port is bound: a start-up that
    // fails returns with no thread inside RocksDB, which could otherwise abort
    // the exit ("pthread lock: Invalid argument", seen when a port was taken).
    let (events_tx, events_rx) = mpsc::unbounded_channel();
    let (handle, writer) = storage::writer::spawn(store.clone(), events_tx);
    let net_metrics = metrics.clone();
    let result = match core::Core::new(cfg.clone(), recovered, zab_cfg, handle, metrics) {
        Ok(core) => {
            let core = match links {
                Some(net) => core.with_links(net),
                None => core,
            };
            let per_address = net::PerAddress::default();
            let mut nets = vec![tokio::spawn(net::serve(
                listener,
                None,
                per_address.clone(),
                core_tx.clone(),
                cfg.clone(),
                net_metrics.clone(),
                shutdown.clone(),
            ))];
            if let Some((secure, acceptor)) = secure {
                nets.push(tokio::spawn(net::serve(
                    secure,
                    Some(acceptor),
                    per_address,
                    core_tx,
                    cfg.clone(),
                    net_metrics,
                    shutdown.clone(),
                )));
            }
            let result = core.run(core_rx, events_rx, link_rx, shutdown).await;
            for n in nets {
                n.abort();
            }
            result
        }
        Err(e) => Err(e),
    };
    for task in endpoints {
        task.abort();
    }
    // The core (and with it the last storage handle) is gone: let the writer finish its queue.
    let _ = tokio::task::spawn_blocking(move || writer.join()).await;
    if result.is_ok() {
        // A clean stop leaves RocksDB nothing to replay from its write-ahead
        // log at the next start (up to the memtables' 48 MiB).
        let flushing = std::time::Instant::now();
        let flushed = tokio::task::spawn_blocking(move || store.flush_memtables())
            .await
            .map_err(|e| e.to_string())
            .and_then(|r| r.map_err(|e| e.to_string()));
        match flushed {
            Ok(()) => tracing::info!(
                millis = flushing.elapsed().as_millis() as u64,
                "memtables flushed"
            ),
            Err(e) => tracing::warn!(error = %e, "flushing the memtables at stop"),
        }
    }
    tracing::info!("stopped");
    result.map_err(ServerError::Fatal)
}

/// Binds a client port.
async fn bind(addr: std::net::SocketAddr) -> Result<tokio::net::TcpListener, ServerError> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| ServerError::Bind {
            addr: addr.to_string(),
            source,
        })
}

/// Resolves `host:port`, preferring IPv4 (what loopback tests and most zoo.cfg files mean).
pub(crate) fn resolve(host: &str, port: u16) -> Result<std::net::SocketAddr, ServerError> {
    use std::net::ToSocketAddrs;
    let addrs: Vec<std::net::SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|e| ServerError::Fatal(format!("cannot resolve {host}:{port}: {e}")))?
        .collect();
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or(addrs.first())
        .copied()
        .ok_or_else(|| ServerError::Fatal(format!("{host}:{port} resolves to nothing")))
}

/// Starts the links to the other members on this member's quorum port.
async fn start_links(
    cfg: &Config,
    events: mpsc::UnboundedSender<net::quorum::LinkEvent>,
) -> Result<net::quorum::QuorumNet, ServerError> {
    let me = cfg
        .my_id
        .ok_or_else(|| ServerError::Fatal("an ensemble member needs dataDir/myid".into()))?;
    let mine = cfg.servers.iter().find(|s| s.id == me).ok_or_else(|| {
        ServerError::Fatal(format!("myid {me} has no server.{me} line in zoo.cfg"))
    })?;
    let listen = resolve(&mine.host, mine.quorum_port)?;
    let mut peers = std::collections::BTreeMap::new();
    for s in cfg.servers.iter().filter(|s| s.id != me) {
        peers.insert(s.id, resolve(&s.host, s.quorum_port)?);
    }
    tracing::info!(%listen, peers = peers.len(), "linking to the other members");
    let tls = if cfg.ssl_quorum {
        Some(net::tls::quorum(cfg).map_err(ServerError::Fatal)?)
    } else {
        None
    };
    net::quorum::QuorumNet::start(
        me,
        listen,
        peers,
        cfg.jute_max_buffer * 4 + 64 * 1024,
        events,
        tls,
    )
    .await
    .map_err(|source| ServerError::Bind {
        addr: listen.to_string(),
        source,
    })
}
