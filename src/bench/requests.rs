//! The requests of each workload: what a session sends next (`Plan`) and how
//! it is sent (`Request::send`), plus `populate`, which fills an ensemble.

use super::{report, session, sessions, Args, Workload};
use anyhow::Context;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::sync::Arc;
use std::time::Instant;
use zookeeper_client as zk;

/// What every session of a run shares.
pub struct Shared {
    pub root: String,
    pub value: Vec<u8>,
    pub keys: usize,
    pub read_ratio: f64,
    pub multi_ops: usize,
}

impl Shared {
    pub fn key(&self, k: usize) -> String {
        format!("{}/k{k}", self.root)
    }
}

/// One request, decided before it is sent (so an open loop can send it from
/// another task).
pub enum Request {
    Create(String),
    Set(String),
    Get(String),
    Multi(Vec<String>),
    /// Create the node, then time its delete.
    Delete(String),
    /// Open a session to this connect string, then close it.
    Churn(String),
}

impl Request {
    /// Sends the request; on success, returns when its timed part was sent.
    pub async fn send(self, client: &zk::Client, shared: &Shared) -> Result<Instant, zk::Error> {
        let open = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
        let sent = Instant::now();
        match self {
            Request::Create(path) => client.create(&path, &shared.value, &open).await.map(drop)?,
            Request::Set(path) => client
                .set_data(&path, &shared.value, None)
                .await
                .map(drop)?,
            Request::Get(path) => client.get_data(&path).await.map(drop)?,
            Request::Multi(paths) => {
                let mut multi = client.new_multi_writer();
                for path in &paths {
                    multi.add_set_data(path, &shared.value, None)?;
                }
                multi.commit().await.map_err(zk::Error::from)?;
            }
            Request::Delete(path) => {
                client.create(&path, &shared.value, &open).await?;
                let sent = Instant::now();
                client.delete(&path, None).await?;
                return Ok(sent);
            }
            Request::Churn(target) => {
                let fresh = super::open(&target).await?;
                // Dropping the last handle closes the session.
                drop(fresh);
            }
        }
        Ok(sent)
    }
}

/// What one session sends, request after request.
pub struct Plan {
    workload: Workload,
    shared: Arc<Shared>,
    session: usize,
    sent: u64,
    rng: StdRng,
    target: String,
}

impl Plan {
    pub fn new(
        workload: Workload,
        shared: Arc<Shared>,
        session: usize,
        seed: u64,
        target: String,
    ) -> Self {
        Plan {
            workload,
            shared,
            session,
            sent: 0,
            rng: StdRng::seed_from_u64(seed),
            target,
        }
    }

    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// A number in [0, 1) that spreads the sessions' open-loop schedules.
    pub fn random_fraction(&mut self) -> f64 {
        self.rng.random::<f64>()
    }

    pub fn next(&mut self) -> Request {
        let n = self.sent;
        self.sent += 1;
        let key = |rng: &mut StdRng, shared: &Shared| shared.key(rng.random_range(0..shared.keys));
        let root = &self.shared.root;
        match self.workload {
            Workload::Create => Request::Create(format!("{root}/s{}-{n}", self.session)),
            Workload::Delete => Request::Delete(format!("{root}/d{}-{n}", self.session)),
            Workload::Set => Request::Set(key(&mut self.rng, &self.shared)),
            Workload::Get => Request::Get(key(&mut self.rng, &self.shared)),
            Workload::Mixed if self.rng.random_bool(self.shared.read_ratio) => {
                Request::Get(key(&mut self.rng, &self.shared))
            }
            Workload::Mixed => Request::Set(key(&mut self.rng, &self.shared)),
            Workload::Multi => {
                // Distinct keys: a multi may not set one node twice usefully.
                let mut paths: Vec<String> = Vec::with_capacity(self.shared.multi_ops);
                while paths.len() < self.shared.multi_ops.min(self.shared.keys) {
                    let path = key(&mut self.rng, &self.shared);
                    if !paths.contains(&path) {
                        paths.push(path);
                    }
                }
                Request::Multi(paths)
            }
            Workload::Churn => Request::Churn(self.target.clone()),
            // These two have their own drivers (fanout.rs, `populate`).
            Workload::Watch | Workload::Populate => {
                unreachable!("{:?} is not sent request by request", self.workload)
            }
        }
    }
}

/// Parents under which populate spreads its nodes.
const POPULATE_PARENTS: usize = 1000;
/// Creates each populate session keeps in flight.
const POPULATE_IN_FLIGHT: usize = 16;

/// Creates `--keys` nodes `<root>/p<j>/n<i>` with `--sessions` sessions, many
/// requests in flight each, and keeps them. Nodes already there count as made,
/// so an interrupted fill can be resumed.
pub async fn populate(
    args: &Args,
    members: &[String],
    shared: &Arc<Shared>,
) -> anyhow::Result<report::Report> {
    let open = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
    let admin = session(&members[0]).await?;
    let parents = POPULATE_PARENTS.min(args.keys);
    for j in 0..parents {
        match admin
            .create(&format!("{}/p{j}", shared.root), b"", &open)
            .await
        {
            Ok(_) | Err(zk::Error::NodeExists) => {}
            Err(e) => return Err(e).context("creating populate's parents"),
        }
    }
    let clients = sessions(members, args.sessions).await?;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (s, client) in clients.into_iter().enumerate() {
        let shared = shared.clone();
        let (keys, sessions) = (args.keys, args.sessions);
        tasks.push(tokio::spawn(async move {
            let mut hist = report::histogram();
            let mut errors = 0u64;
            let mut in_flight = tokio::task::JoinSet::new();
            let mut i = s;
            loop {
                while in_flight.len() < POPULATE_IN_FLIGHT && i < keys {
                    let path = format!("{}/p{}/n{i}", shared.root, i % parents);
                    let (client, shared) = (client.clone(), shared.clone());
                    in_flight.spawn(async move {
                        let open = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
                        let sent = Instant::now();
                        let result = client.create(&path, &shared.value, &open).await;
                        (
                            sent.elapsed(),
                            matches!(result, Ok(_) | Err(zk::Error::NodeExists)),
                        )
                    });
                    i += sessions;
                }
                match in_flight.join_next().await {
                    Some(Ok((latency, true))) => report::record(&mut hist, latency),
                    Some(_) => errors += 1,
                    None => break,
                }
            }
            (hist, errors)
        }));
    }
    let mut latency_us = report::histogram();
    let mut errors = 0;
    for t in tasks {
        let (hist, e) = t.await.context("a populate session failed")?;
        latency_us.add(hist)?;
        errors += e;
    }
    Ok(report::Report {
        workload: Workload::Populate.name(),
        mode: "closed",
        sessions: args.sessions,
        value_size: args.value_size,
        ops: latency_us.len(),
        errors,
        seconds: started.elapsed().as_secs_f64(),
        target_rate: None,
        max_gap_ms: None,
        latency_us,
        extra: Vec::new(),
    })
}
