//! ZooKeeper's AdminServer commands over HTTP (`/commands/<name>`), as JSON.

use crate::config::Config;
use crate::core::CoreMsg;
use rookery_metrics::http::{Handler, Request, Response};
use std::sync::Arc;
use tokio::sync::mpsc;

/// The admin routes for one member.
pub fn routes(core: mpsc::UnboundedSender<CoreMsg>, cfg: Arc<Config>) -> Handler {
    let _ = (core, cfg);
    Arc::new(move |_req: Request| Box::pin(async move { Response::text(404, "not yet\n") }))
}
