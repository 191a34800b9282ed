//! The member's HTTP endpoints (DESIGN §6): metrics (`/metrics`, `/healthz`,
//! `/readyz` on `metricsProvider.httpHost:httpPort`) and the admin commands
//! (`/commands/<name>` on `admin.serverAddress:serverPort`), plus the sampler that
//! copies process and RocksDB figures into the metrics once a second.

use crate::config::Config;
use crate::core::CoreMsg;
use crate::storage::Storage;
use crate::ServerError;
use rookery_metrics::http::{self, Handler};
use rookery_metrics::Metrics;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

/// Binds `host:port` for an HTTP endpoint. A port set in zoo.cfg that cannot be
/// bound stops start-up; a default one that is taken (another member on the
/// host) is only warned about, as ZooKeeper does for its AdminServer.
async fn bind(
    what: &str,
    host: &str,
    port: u16,
    explicit: bool,
) -> Result<Option<TcpListener>, ServerError> {
    let addr = crate::resolve(host, port)?;
    match TcpListener::bind(addr).await {
        Ok(l) => {
            tracing::info!(%addr, "{what} listening");
            Ok(Some(l))
        }
        Err(source) if explicit => Err(ServerError::Bind {
            addr: format!("{addr} ({what})"),
            source,
        }),
        Err(e) => {
            tracing::warn!(%addr, error = %e, "{what} not started: its default port is taken; set it in zoo.cfg");
            Ok(None)
        }
    }
}

/// Starts the metrics and admin endpoints and the sampler.
pub async fn start(
    cfg: &Arc<Config>,
    metrics: Arc<Metrics>,
    storage: Arc<Storage>,
    core: mpsc::UnboundedSender<CoreMsg>,
    shutdown: watch::Receiver<bool>,
) -> Result<Vec<JoinHandle<()>>, ServerError> {
    let mut tasks = Vec::new();
    if let Some(port) = cfg.metrics_http_port {
        if let Some(l) = bind(
            "metrics endpoint",
            &cfg.metrics_http_host,
            port,
            cfg.metrics_port_explicit,
        )
        .await?
        {
            let routes = http::metrics_routes(metrics.clone());
            tasks.push(tokio::spawn(http::serve(l, routes, shutdown.clone())));
        }
    }
    if cfg.admin_enable_server {
        if let Some(l) = bind(
            "admin server",
            &cfg.admin_server_address,
            cfg.admin_server_port,
            cfg.admin_port_explicit,
        )
        .await?
        {
            let routes: Handler = crate::admin::http::routes(core, cfg.clone());
            tasks.push(tokio::spawn(http::serve(l, routes, shutdown.clone())));
        }
    }
    tasks.push(tokio::spawn(sample(metrics, storage, shutdown)));
    Ok(tasks)
}

/// Copies the process's and RocksDB's figures into the metrics once a second.
async fn sample(metrics: Arc<Metrics>, storage: Arc<Storage>, mut shutdown: watch::Receiver<bool>) {
    let started = Instant::now();
    let mut every = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = shutdown.wait_for(|s| *s) => return,
            _ = every.tick() => {}
        }
        let storage = storage.clone();
        let Ok(engine) = tokio::task::spawn_blocking(move || storage.engine_stats()).await else {
            continue;
        };
        metrics.storage_sst_bytes.set(engine.sst_bytes as i64);
        metrics
            .storage_live_data_bytes
            .set(engine.live_data_bytes as i64);
        metrics
            .storage_memtable_bytes
            .set(engine.memtable_bytes as i64);
        metrics
            .storage_pending_compaction_bytes
            .set(engine.pending_compaction_bytes as i64);
        metrics
            .storage_write_stopped
            .set(engine.write_stopped as i64);
        metrics
            .storage_delayed_write_rate
            .set(engine.delayed_write_rate as i64);
        let (open, max) = crate::admin::open_fds();
        metrics.open_file_descriptor_count.set(open as i64);
        metrics.max_file_descriptor_count.set(max as i64);
        metrics.uptime.set(started.elapsed().as_millis() as i64);
    }
}
