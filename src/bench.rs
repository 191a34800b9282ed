//! `rookery bench`: a closed-loop load generator for any ZooKeeper-protocol
//! ensemble (Rookery or Apache ZooKeeper). N sessions, spread over the members
//! one per member in turn, each with one request outstanding, for a warm-up and
//! then a measured duration; latencies go into HDR histograms (`hdrhistogram`)
//! and come out as a table, or JSON with `--json`.
//!
//! This is the first slice of issue 7: create, set, get, mixed and delete in
//! closed loop. Open loop, multi, watch fan-out, session churn and plots come next.

use anyhow::{bail, Context};
use hdrhistogram::Histogram;
use rand::{Rng, SeedableRng};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use zookeeper_client as zk;

/// What each request does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Workload {
    /// Create a new node per request.
    Create,
    /// Set the data of one of `--keys` existing nodes.
    Set,
    /// Get the data of one of `--keys` existing nodes.
    Get,
    /// Gets and sets, `--read-ratio` of them gets.
    Mixed,
    /// Delete nodes made before the clock starts (one per request).
    Delete,
}

/// A run's settings.
pub struct Options {
    pub connect: String,
    pub workload: Workload,
    pub sessions: usize,
    pub duration: Duration,
    pub warmup: Duration,
    pub value_size: usize,
    pub keys: usize,
    pub read_ratio: f64,
    pub seed: u64,
    pub json: bool,
}

/// What one run measured.
pub struct Report {
    pub ops: u64,
    pub errors: u64,
    pub seconds: f64,
    pub latency_us: Histogram<u64>,
}

impl Report {
    fn quantile_ms(&self, q: f64) -> f64 {
        self.latency_us.value_at_quantile(q) as f64 / 1000.0
    }

    fn ops_per_second(&self) -> f64 {
        self.ops as f64 / self.seconds.max(f64::EPSILON)
    }
}

pub fn run(opts: &Options) -> anyhow::Result<()> {
    if opts.sessions == 0 || opts.keys == 0 {
        bail!("--sessions and --keys must be at least 1");
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    let report = rt.block_on(measure(opts))?;
    if opts.json {
        println!("{}", json(opts, &report));
    } else {
        println!("{}", table(opts, &report));
    }
    Ok(())
}

fn members(connect: &str) -> Vec<String> {
    let (hosts, chroot) = match connect.find('/') {
        Some(i) => (&connect[..i], &connect[i..]),
        None => (connect, ""),
    };
    hosts
        .split(',')
        .filter(|h| !h.is_empty())
        .map(|h| format!("{h}{chroot}"))
        .collect()
}

async fn session(connect: &str) -> anyhow::Result<zk::Client> {
    zk::Client::connector()
        .with_session_timeout(Duration::from_secs(30))
        .connect(connect)
        .await
        .with_context(|| format!("connecting to {connect}"))
}

/// The bench's own subtree, removed afterwards.
fn root() -> String {
    format!("/rookery-bench-{}", std::process::id())
}

async fn measure(opts: &Options) -> anyhow::Result<Report> {
    let members = members(&opts.connect);
    if members.is_empty() {
        bail!("no member in {:?}", opts.connect);
    }
    let admin = session(&members[0]).await?;
    let open = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
    let value = vec![b'v'; opts.value_size];
    let root = root();
    admin
        .create(&root, b"", &open)
        .await
        .with_context(|| format!("creating {root}"))?;
    // Nodes to read, set or delete, made before the clock starts.
    let prepared = match opts.workload {
        Workload::Create | Workload::Delete => 0,
        _ => opts.keys,
    };
    for k in 0..prepared {
        admin.create(&format!("{root}/k{k}"), &value, &open).await?;
    }
    let mut clients = Vec::with_capacity(opts.sessions);
    for i in 0..opts.sessions {
        clients.push(session(&members[i % members.len()]).await?);
    }
    let start = Instant::now() + opts.warmup;
    let end = start + opts.duration;
    let errors = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for (i, client) in clients.into_iter().enumerate() {
        let (root, value, errors) = (root.clone(), value.clone(), errors.clone());
        let (workload, keys, read_ratio) = (opts.workload, opts.keys, opts.read_ratio);
        let seed = opts.seed.wrapping_add(i as u64);
        tasks.push(tokio::spawn(async move {
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
            let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)
                .expect("histogram bounds are valid");
            let open = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
            let mut n = 0u64;
            loop {
                let now = Instant::now();
                if now >= end {
                    break;
                }
                let key = format!("{root}/k{}", rng.random_range(0..keys));
                let result = match workload {
                    Workload::Create => client
                        .create(&format!("{root}/s{i}-{n}"), &value, &open)
                        .await
                        .map(drop),
                    Workload::Delete => {
                        // Each session deletes the nodes it made during the warm-up
                        // and before; it makes one more when it runs out.
                        let path = format!("{root}/d{i}-{n}");
                        match client.create(&path, &value, &open).await {
                            Ok(_) if now >= start => {
                                let t = Instant::now();
                                let r = client.delete(&path, None).await;
                                record(&mut hist, t, r.is_ok(), &errors, t >= start);
                                n += 1;
                                continue;
                            }
                            other => other.map(drop),
                        }
                    }
                    Workload::Get => client.get_data(&key).await.map(drop),
                    Workload::Set => client.set_data(&key, &value, None).await.map(drop),
                    Workload::Mixed if rng.random_bool(read_ratio) => {
                        client.get_data(&key).await.map(drop)
                    }
                    Workload::Mixed => client.set_data(&key, &value, None).await.map(drop),
                };
                record(&mut hist, now, result.is_ok(), &errors, now >= start);
                n += 1;
            }
            hist
        }));
    }
    let mut latency_us = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    for t in tasks {
        latency_us.add(t.await.context("a bench session failed")?)?;
    }
    let seconds = opts.duration.as_secs_f64();
    cleanup(&admin, &root).await;
    Ok(Report {
        ops: latency_us.len(),
        errors: errors.load(Ordering::Relaxed),
        seconds,
        latency_us,
    })
}

/// Counts one answered request (after the warm-up only).
fn record(hist: &mut Histogram<u64>, sent: Instant, ok: bool, errors: &AtomicU64, measured: bool) {
    if !measured {
        return;
    }
    if ok {
        let us = sent.elapsed().as_micros().clamp(1, 60_000_000) as u64;
        let _ = hist.record(us);
    } else {
        errors.fetch_add(1, Ordering::Relaxed);
    }
}

/// Deletes the bench's subtree (children first), a few at a time.
async fn cleanup(client: &zk::Client, root: &str) {
    if let Ok((children, _)) = client.get_children(root).await {
        for chunk in children.chunks(64) {
            let deletes = chunk
                .iter()
                .map(|c| client.delete_path(format!("{root}/{c}")));
            futures_join(deletes).await;
        }
    }
    if let Err(e) = client.delete(root, None).await {
        eprintln!("rookery bench: could not remove {root}: {e}");
    }
}

trait DeletePath {
    fn delete_path(&self, path: String) -> tokio::task::JoinHandle<()>;
}

impl DeletePath for zk::Client {
    fn delete_path(&self, path: String) -> tokio::task::JoinHandle<()> {
        let client = self.clone();
        tokio::spawn(async move {
            let _ = client.delete(&path, None).await;
        })
    }
}

async fn futures_join(handles: impl Iterator<Item = tokio::task::JoinHandle<()>>) {
    for h in handles.collect::<Vec<_>>() {
        let _ = h.await;
    }
}

fn workload_name(w: Workload) -> &'static str {
    match w {
        Workload::Create => "create",
        Workload::Set => "set",
        Workload::Get => "get",
        Workload::Mixed => "mixed",
        Workload::Delete => "delete",
    }
}

fn table(opts: &Options, r: &Report) -> String {
    format!(
        "workload  sessions  ops       errors  ops/s      p50 ms  p99 ms  p999 ms  max ms\n\
         {:<9} {:<9} {:<9} {:<7} {:<10.0} {:<7.3} {:<7.3} {:<8.3} {:.3}",
        workload_name(opts.workload),
        opts.sessions,
        r.ops,
        r.errors,
        r.ops_per_second(),
        r.quantile_ms(0.5),
        r.quantile_ms(0.99),
        r.quantile_ms(0.999),
        r.latency_us.max() as f64 / 1000.0,
    )
}

fn json(opts: &Options, r: &Report) -> String {
    serde_json::json!({
        "workload": workload_name(opts.workload),
        "sessions": opts.sessions,
        "duration_s": r.seconds,
        "value_size": opts.value_size,
        "ops": r.ops,
        "errors": r.errors,
        "ops_per_s": r.ops_per_second(),
        "latency_ms": {
            "p50": r.quantile_ms(0.5),
            "p99": r.quantile_ms(0.99),
            "p999": r.quantile_ms(0.999),
            "max": r.latency_us.max() as f64 / 1000.0,
        },
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_are_spread_over_the_members_with_the_chroot() {
        assert_eq!(
            members("a:1,b:2/app"),
            vec!["a:1/app".to_string(), "b:2/app".to_string()]
        );
        assert_eq!(members("a:1"), vec!["a:1".to_string()]);
    }
}
