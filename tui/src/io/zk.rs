//! The ZooKeeper edge: one client session (the `zookeeper-client` crate, so
//! this works against Apache ZooKeeper too) carrying out the model's
//! [`Effect`]s. Each effect runs as its own task and answers with an
//! [`Action`]; persistent watches are kept on exactly the paths the model
//! says are on screen. A session that expires is replaced by a new one.

use super::ActionTx;
use crate::client_tls::ClientTls;
use crate::model::forms::{CreateKind, WriteOp, WriteOutcome};
use crate::model::node::{AclEntry, NodeData, Stat};
use crate::model::tree::join;
use crate::model::{Action, Effect, Session};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, Semaphore};
use zookeeper_client as zk;

/// Session timeout asked for: long enough to ride out an election.
const SESSION_TIMEOUT: Duration = Duration::from_secs(20);
/// Pause between failed connection attempts.
const RETRY: Duration = Duration::from_secs(2);
/// `exists` calls in flight at once when fetching child counts.
const STAT_CONCURRENCY: usize = 16;
/// Nodes a recursive delete visits at most (a guard, not a policy).
const MAX_RECURSIVE: usize = 1_000_000;

/// Starts the worker; effects sent on the returned channel are carried out.
pub fn spawn(
    rt: &tokio::runtime::Handle,
    connect: String,
    tls: Option<ClientTls>,
    read_only: bool,
    tx: ActionTx,
) -> mpsc::UnboundedSender<Effect> {
    let (effects, rx) = mpsc::unbounded_channel();
    rt.spawn(run(connect, tls, read_only, rx, tx));
    effects
}

async fn connect(connect: &str, tls: Option<&ClientTls>, tx: &ActionTx) -> Option<zk::Client> {
    loop {
        tx.send(Action::Session(Session::Connecting)).ok()?;
        let connector = zk::Client::connector().with_session_timeout(SESSION_TIMEOUT);
        let attempt = crate::client_tls::connect(connector, connect, tls).await;
        match attempt {
            Ok(c) => return Some(c),
            Err(e) => {
                tracing::warn!("connecting to {connect}: {e}");
                tx.send(Action::Session(Session::Failed(format!("connect: {e}"))))
                    .ok()?;
                tokio::time::sleep(RETRY).await;
            }
        }
    }
}

async fn run(
    connect_string: String,
    tls: Option<ClientTls>,
    read_only: bool,
    mut rx: mpsc::UnboundedReceiver<Effect>,
    tx: ActionTx,
) {
    loop {
        let Some(client) = connect(&connect_string, tls.as_ref(), &tx).await else {
            return;
        };
        let id = client.session_id().0;
        if tx.send(Action::Session(Session::Connected(id))).is_err() {
            return;
        }
        let (ended_tx, mut ended) = oneshot::channel();
        tokio::spawn(follow_state(
            client.state_watcher(),
            id,
            tx.clone(),
            ended_tx,
        ));
        let mut watches = Watches::default();
        loop {
            tokio::select! {
                _ = &mut ended => break,
                effect = rx.recv() => match effect {
                    None => return,
                    Some(Effect::Watch { paths }) => watches.set(&client, paths, &tx),
                    Some(e) => {
                        let (client, tx) = (client.clone(), tx.clone());
                        tokio::spawn(async move { carry_out(&client, e, read_only, &tx).await });
                    }
                },
            }
        }
        watches.set(&client, Vec::new(), &tx);
        tracing::info!("session {id:#x} ended; opening a new one");
    }
}

async fn follow_state(mut w: zk::StateWatcher, id: i64, tx: ActionTx, ended: oneshot::Sender<()>) {
    loop {
        let session = match w.changed().await {
            zk::SessionState::SyncConnected | zk::SessionState::ConnectedReadOnly => {
                Session::Connected(id)
            }
            zk::SessionState::Disconnected => Session::Disconnected,
            other => {
                tracing::warn!("session {id:#x}: {other:?}");
                let _ = ended.send(());
                return;
            }
        };
        if tx.send(Action::Session(session)).is_err() {
            return;
        }
    }
}

/// Persistent watches on the paths on screen.
#[derive(Default)]
struct Watches {
    active: HashMap<String, oneshot::Sender<()>>,
}

impl Watches {
    fn set(&mut self, client: &zk::Client, paths: Vec<String>, tx: &ActionTx) {
        self.active.retain(|p, _| paths.contains(p));
        for path in paths {
            if self.active.contains_key(&path) {
                continue;
            }
            let (stop_tx, stop) = oneshot::channel();
            self.active.insert(path.clone(), stop_tx);
            let (client, tx) = (client.clone(), tx.clone());
            tokio::spawn(async move { watch(client, path, stop, tx).await });
        }
    }
}

async fn watch(client: zk::Client, path: String, mut stop: oneshot::Receiver<()>, tx: ActionTx) {
    let mut watcher = match client.watch(&path, zk::AddWatchMode::Persistent).await {
        Ok(w) => w,
        Err(e) => {
            tracing::debug!("watch {path}: {e}");
            return;
        }
    };
    loop {
        tokio::select! {
            // Dropping the watcher removes the watch on the server.
            _ = &mut stop => return,
            event = watcher.changed() => {
                if event.event_type == zk::EventType::Session {
                    if matches!(event.session_state, zk::SessionState::Expired | zk::SessionState::Closed | zk::SessionState::AuthFailed) {
                        return;
                    }
                    continue;
                }
                if tx.send(Action::Watched { path: path.clone() }).is_err() {
                    return;
                }
            }
        }
    }
}

fn describe(e: &zk::Error) -> String {
    match e {
        zk::Error::NoNode => "no such node".to_string(),
        zk::Error::NodeExists => "a node with that path exists".to_string(),
        zk::Error::NotEmpty => "it has children".to_string(),
        zk::Error::NoAuth => "not allowed by the node's ACL (NoAuth)".to_string(),
        zk::Error::BadVersion => "version changed (BadVersion)".to_string(),
        zk::Error::NoChildrenForEphemerals => "ephemeral nodes cannot have children".to_string(),
        zk::Error::Unimplemented => {
            "the server does not implement this (TTL nodes need extendedTypesEnabled=true)"
                .to_string()
        }
        other => other.to_string(),
    }
}

fn stat(s: &zk::Stat) -> Stat {
    Stat {
        czxid: s.czxid,
        mzxid: s.mzxid,
        pzxid: s.pzxid,
        ctime: s.ctime,
        mtime: s.mtime,
        version: s.version,
        cversion: s.cversion,
        aversion: s.aversion,
        ephemeral_owner: s.ephemeral_owner,
        data_length: s.data_length,
        num_children: s.num_children,
    }
}

const PERMS: [(u32, zk::Permission); 5] = [
    (1, zk::Permission::READ),
    (2, zk::Permission::WRITE),
    (4, zk::Permission::CREATE),
    (8, zk::Permission::DELETE),
    (16, zk::Permission::ADMIN),
];

fn acl_entry(a: &zk::Acl) -> AclEntry {
    let p = a.permission();
    AclEntry {
        perms: PERMS
            .iter()
            .filter(|(_, perm)| p.has(*perm))
            .map(|(bit, _)| bit)
            .sum(),
        scheme: a.scheme().to_string(),
        id: a.id().to_string(),
    }
}

fn to_acl(e: &AclEntry) -> zk::Acl {
    let perm = PERMS
        .iter()
        .filter(|(bit, _)| e.perms & bit != 0)
        .fold(zk::Permission::NONE, |acc, (_, p)| acc | *p);
    zk::Acl::new(perm, zk::AuthId::new(&e.scheme, &e.id))
}

async fn read_node(client: &zk::Client, path: &str) -> Result<Option<NodeData>, String> {
    let (data, s) = match client.get_data(path).await {
        Ok(r) => r,
        Err(zk::Error::NoNode) => return Ok(None),
        Err(e) => return Err(describe(&e)),
    };
    let acl = match client.get_acl(path).await {
        Ok((acl, _)) => acl.iter().map(acl_entry).collect(),
        Err(zk::Error::NoNode) => return Ok(None),
        Err(e) => return Err(describe(&e)),
    };
    Ok(Some(NodeData {
        data,
        stat: stat(&s),
        acl,
    }))
}

async fn carry_out(client: &zk::Client, effect: Effect, read_only: bool, tx: &ActionTx) {
    let action = match effect {
        Effect::ListChildren { dir } => {
            let result = client.list_children(&dir).await.map_err(|e| describe(&e));
            Action::Children { dir, result }
        }
        Effect::FetchStats { dir, names } => {
            let stats = fetch_stats(client, &dir, names).await;
            Action::ChildStats { dir, stats }
        }
        Effect::GetNode { path } => {
            let result = read_node(client, &path).await;
            Action::Node { path, result }
        }
        Effect::CountDescendants { path } => {
            let result = match client.count_descendants_number(&path).await {
                Ok(n) => Ok(n),
                // Servers before 3.6 lack getAllChildrenNumber: walk.
                Err(zk::Error::Unimplemented) => descendants(client, &path).await.map(|d| d.len()),
                Err(e) => Err(describe(&e)),
            };
            Action::Descendants { path, result }
        }
        Effect::Write(op) => {
            let outcome = if read_only {
                WriteOutcome::Failed("read-only: writes are disabled".to_string())
            } else {
                write(client, &op).await
            };
            Action::Written { op, outcome }
        }
        // Handled by the UI loop (terminal) and the watch set above.
        Effect::OpenEditor { .. } | Effect::Watch { .. } => return,
    };
    let _ = tx.send(action);
}

async fn fetch_stats(
    client: &zk::Client,
    dir: &str,
    names: Vec<String>,
) -> Vec<(String, Option<Stat>)> {
    let limit = Arc::new(Semaphore::new(STAT_CONCURRENCY));
    let mut tasks = tokio::task::JoinSet::new();
    for name in names {
        let (client, limit, path) = (client.clone(), limit.clone(), join(dir, &name));
        tasks.spawn(async move {
            let _permit = limit.acquire().await;
            let s = client.check_stat(&path).await.ok().flatten();
            (name, s.as_ref().map(stat))
        });
    }
    let mut out = Vec::new();
    while let Some(r) = tasks.join_next().await {
        if let Ok(pair) = r {
            out.push(pair);
        }
    }
    out
}

/// Every descendant of `path`, parents before children.
async fn descendants(client: &zk::Client, path: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut queue = std::collections::VecDeque::from([path.to_string()]);
    while let Some(p) = queue.pop_front() {
        let children = match client.list_children(&p).await {
            Ok(c) => c,
            Err(zk::Error::NoNode) => continue,
            Err(e) => return Err(format!("listing {p}: {}", describe(&e))),
        };
        for c in children {
            let child = join(&p, &c);
            out.push(child.clone());
            queue.push_back(child);
            if out.len() > MAX_RECURSIVE {
                return Err(format!("more than {MAX_RECURSIVE} descendants"));
            }
        }
    }
    Ok(out)
}

async fn conflict(client: &zk::Client, path: &str) -> WriteOutcome {
    match read_node(client, path).await {
        Ok(current) => WriteOutcome::Conflict { current },
        Err(e) => {
            WriteOutcome::Failed(format!("version changed, and reading it again failed: {e}"))
        }
    }
}

async fn write(client: &zk::Client, op: &WriteOp) -> WriteOutcome {
    let result = match op {
        WriteOp::Create {
            path,
            data,
            kind,
            ttl_ms,
        } => {
            let mode = match kind {
                CreateKind::Persistent | CreateKind::Ttl => zk::CreateMode::Persistent,
                CreateKind::PersistentSequential | CreateKind::TtlSequential => {
                    zk::CreateMode::PersistentSequential
                }
                CreateKind::Ephemeral => zk::CreateMode::Ephemeral,
                CreateKind::EphemeralSequential => zk::CreateMode::EphemeralSequential,
                CreateKind::Container => zk::CreateMode::Container,
            };
            let mut options = mode.with_acls(zk::Acls::anyone_all());
            if let Some(ttl) = ttl_ms {
                options = options.with_ttl(Duration::from_millis(*ttl));
            }
            let sequential = matches!(
                kind,
                CreateKind::PersistentSequential
                    | CreateKind::EphemeralSequential
                    | CreateKind::TtlSequential
            );
            match client.create(path, data, &options).await {
                Ok((_, seq)) => {
                    let created = if sequential {
                        format!("{path}{seq}")
                    } else {
                        path.clone()
                    };
                    return WriteOutcome::Done {
                        created: Some(created),
                    };
                }
                Err(e) => Err(e),
            }
        }
        WriteOp::SetData {
            path,
            data,
            version,
        } => client
            .set_data(path, data, Some(*version))
            .await
            .map(|_| ()),
        WriteOp::SetAcl { path, acl, version } => {
            let acl: Vec<zk::Acl> = acl.iter().map(to_acl).collect();
            client.set_acl(path, &acl, Some(*version)).await.map(|_| ())
        }
        WriteOp::Delete {
            path,
            version,
            recursive: false,
        } => client.delete(path, Some(*version)).await,
        WriteOp::Delete {
            path,
            version,
            recursive: true,
        } => return delete_recursive(client, path, *version).await,
    };
    match result {
        Ok(()) => WriteOutcome::Done { created: None },
        Err(zk::Error::BadVersion) => conflict(client, op.path()).await,
        Err(zk::Error::NotEmpty) => WriteOutcome::Failed(
            "it has children now; delete again to see the count and delete them too".to_string(),
        ),
        Err(e) => WriteOutcome::Failed(describe(&e)),
    }
}

/// Deletes the descendants (deepest first), then the node with the version
/// the user saw. The version is checked before anything is deleted.
async fn delete_recursive(client: &zk::Client, path: &str, version: i32) -> WriteOutcome {
    match client.check_stat(path).await {
        Ok(Some(s)) if s.version != version => return conflict(client, path).await,
        Ok(Some(_)) => {}
        Ok(None) => return WriteOutcome::Failed("no such node".to_string()),
        Err(e) => return WriteOutcome::Failed(describe(&e)),
    }
    let all = match descendants(client, path).await {
        Ok(d) => d,
        Err(e) => return WriteOutcome::Failed(e),
    };
    for p in all.iter().rev() {
        match client.delete(p, None).await {
            Ok(()) | Err(zk::Error::NoNode) => {}
            Err(e) => return WriteOutcome::Failed(format!("deleting {p}: {}", describe(&e))),
        }
    }
    match client.delete(path, Some(version)).await {
        Ok(()) => WriteOutcome::Done { created: None },
        Err(zk::Error::BadVersion) => conflict(client, path).await,
        Err(e) => WriteOutcome::Failed(describe(&e)),
    }
}
