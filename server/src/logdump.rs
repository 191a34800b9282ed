//! `rookery log-dump`: a stopped member's log as JSON lines, one Txn per line,
//! for operators (like ZooKeeper's `TxnLogToolkit`) and for the history checker
//! in the reliability tests.

use crate::config::Config;
use crate::storage::{Storage, StorageError};
use crate::txn::{Logged, TxnBody};
use serde_json::{json, Value};

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn body_json(body: &TxnBody) -> Value {
    match body {
        TxnBody::CreateSession { timeout_ms, .. } => {
            json!({"type": "create_session", "timeout_ms": timeout_ms})
        }
        TxnBody::CloseSession { ephemerals } => {
            json!({"type": "close_session", "ephemerals": ephemerals})
        }
        TxnBody::Create(c) => json!({
            "type": "create",
            "path": c.path,
            "data": c.data.as_deref().map(hex),
            "owner": c.owner,
        }),
        TxnBody::Delete { path } => json!({"type": "delete", "path": path}),
        TxnBody::SetData {
            path,
            data,
            version,
        } => json!({
            "type": "set_data",
            "path": path,
            "data": data.as_deref().map(hex),
            "version": version,
        }),
        TxnBody::SetAcl { path, aversion, .. } => {
            json!({"type": "set_acl", "path": path, "aversion": aversion})
        }
        TxnBody::Check { path } => json!({"type": "check", "path": path}),
        TxnBody::Multi(ops) => json!({
            "type": "multi",
            "ops": ops.iter().map(body_json).collect::<Vec<_>>(),
        }),
        TxnBody::MultiError(codes) => json!({"type": "multi_error", "codes": codes}),
        TxnBody::Error(code) => json!({"type": "error", "code": code.code()}),
        TxnBody::Reconfig { config } => json!({
            "type": "reconfig",
            "config": String::from_utf8_lossy(config),
        }),
    }
}

/// One logged entry as a JSON object.
pub fn entry_json(l: &Logged) -> Value {
    let mut v = body_json(&l.txn.body);
    if let Value::Object(m) = &mut v {
        m.insert("zxid".into(), json!(l.txn.zxid));
        m.insert("time_ms".into(), json!(l.txn.time_ms));
        m.insert("session".into(), json!(l.txn.session_id));
        m.insert("origin_member".into(), json!(l.origin_member));
    }
    v
}

/// Writes the log of the member configured by `cfg` to `out`, one JSON object per
/// line, preceded by a header line with the applied zxid and the epochs.
pub fn dump(cfg: &Config, out: &mut dyn std::io::Write) -> Result<usize, DumpError> {
    let storage = Storage::open(&cfg.storage_dir())?;
    let header = json!({
        "applied_zxid": storage.applied_zxid()?,
        "accepted_epoch": storage.accepted_epoch()?,
        "current_epoch": storage.current_epoch()?,
        "member": cfg.my_id,
    });
    writeln!(out, "{header}")?;
    let entries = storage.log_entries()?;
    for l in &entries {
        writeln!(out, "{}", entry_json(l))?;
    }
    Ok(entries.len())
}

#[derive(Debug, thiserror::Error)]
pub enum DumpError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("writing the dump: {0}")]
    Io(#[from] std::io::Error),
}
