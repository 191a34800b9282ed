//! The watch workload: `--watchers` sessions each hold a data watch on one
//! node; each round sets the node and times until every watcher has its event
//! (the fan-out time), then the watchers watch again for the next round.

use super::requests::Shared;
use super::{report, seconds, sessions, Args};
use anyhow::{bail, Context};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use zookeeper_client as zk;

/// How long one round may take before the run gives up.
const ROUND_TIMEOUT: Duration = Duration::from_secs(60);

pub async fn measure(
    args: &Args,
    setter: &zk::Client,
    members: &[String],
    shared: &Shared,
) -> anyhow::Result<report::Report> {
    let warmup = seconds(args.warmup, "warmup")?;
    let duration = seconds(args.duration, "duration")?;
    let node = format!("{}/watched", shared.root);
    let open = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
    setter.create(&node, &shared.value, &open).await?;
    let watchers = sessions(members, args.watchers).await?;
    let (registered_tx, mut registered) = mpsc::unbounded_channel::<()>();
    let (arrived_tx, mut arrived) = mpsc::unbounded_channel::<Instant>();
    let mut tasks = tokio::task::JoinSet::new();
    for client in watchers {
        let (node, registered_tx, arrived_tx) =
            (node.clone(), registered_tx.clone(), arrived_tx.clone());
        tasks.spawn(async move {
            loop {
                let Ok((_, _, watcher)) = client.get_and_watch_data(&node).await else {
                    return;
                };
                if registered_tx.send(()).is_err() {
                    return;
                }
                let _event = watcher.changed().await;
                if arrived_tx.send(Instant::now()).is_err() {
                    return;
                }
            }
        });
    }
    drop((registered_tx, arrived_tx));
    let k = args.watchers;
    let start = Instant::now() + warmup;
    let end = start + duration;
    let mut latency_us = report::histogram();
    let mut rounds = 0u64;
    let mut events = 0u64;
    let mut last_event_us = report::histogram();
    while Instant::now() < end {
        tokio::time::timeout(ROUND_TIMEOUT, async {
            for _ in 0..k {
                registered
                    .recv()
                    .await
                    .context("a watcher session failed")?;
            }
            anyhow::Ok(())
        })
        .await
        .context("watchers did not all register within a minute")??;
        let set_at = Instant::now();
        setter.set_data(&node, &shared.value, None).await?;
        let mut last = set_at;
        for _ in 0..k {
            match tokio::time::timeout(ROUND_TIMEOUT, arrived.recv()).await {
                Ok(Some(at)) => {
                    last = last.max(at);
                    if set_at >= start {
                        report::record(&mut last_event_us, at - set_at);
                    }
                }
                Ok(None) => bail!("a watcher session failed"),
                Err(_) => bail!("not every watcher had its event within a minute"),
            }
        }
        if set_at >= start {
            report::record(&mut latency_us, last - set_at);
            rounds += 1;
            events += k as u64;
        }
    }
    tasks.abort_all();
    let q = |h: &hdrhistogram::Histogram<u64>, q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    Ok(report::Report {
        workload: super::Workload::Watch.name(),
        mode: "closed",
        sessions: args.watchers,
        value_size: args.value_size,
        ops: rounds,
        errors: 0,
        seconds: duration.as_secs_f64(),
        target_rate: None,
        max_gap_ms: None,
        extra: vec![
            ("watchers", k as f64),
            ("events", events as f64),
            ("event_latency_p50_ms", q(&last_event_us, 0.5)),
            ("event_latency_p99_ms", q(&last_event_us, 0.99)),
        ],
        latency_us,
    })
}
