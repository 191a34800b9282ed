//! The watch workload: `--watchers` sessions each hold a data watch on one
//! node; each round sets the node and times until every watcher has its event
//! (the fan-out time), then the watchers watch again for the next round. They
//! watch again only once the round is over, so what a round times is the
//! delivery alone, not delivery plus 10,000 getData requests racing it.

use super::requests::Shared;
use super::watcher::Watcher;
use super::{report, seconds, Args, TLS};
use anyhow::{bail, Context};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};
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
    let watchers = watchers(members, &node, args.watchers).await?;
    let (registered_tx, mut registered) = mpsc::unbounded_channel::<()>();
    let (arrived_tx, mut arrived) = mpsc::unbounded_channel::<Instant>();
    let (stop_tx, stop) = watch::channel(false);
    let (round_tx, round) = watch::channel(0u64);
    let mut tasks = tokio::task::JoinSet::new();
    for mut watcher in watchers {
        let (registered_tx, arrived_tx, mut stop, mut round) = (
            registered_tx.clone(),
            arrived_tx.clone(),
            stop.clone(),
            round.clone(),
        );
        tasks.spawn(async move {
            let rounds = async {
                loop {
                    watcher.watch().await?;
                    registered_tx.send(())?;
                    watcher.event().await?;
                    arrived_tx.send(Instant::now())?;
                    round.changed().await?;
                }
            };
            tokio::select! {
                r = rounds => {
                    // The round then times out waiting for this watcher; say why.
                    let r: anyhow::Result<()> = r;
                    if let Err(e) = r {
                        eprintln!("rookery bench: a watcher session failed: {e:#}");
                    }
                }
                _ = stop.changed() => watcher.close().await,
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
        round_tx.send_modify(|r| *r += 1);
    }
    // Every session is closed, not left to expire: the next run would share
    // the members with 10,000 expiring sessions.
    let _ = stop_tx.send(true);
    while tasks.join_next().await.is_some() {}
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

/// Opens `count` watcher sessions, watcher i on `members[i % len]`, many at a time.
async fn watchers(members: &[String], node: &str, count: usize) -> anyhow::Result<Vec<Watcher>> {
    let mut opened = Vec::with_capacity(count);
    for batch in (0..count).collect::<Vec<_>>().chunks(256) {
        let connecting: Vec<_> = batch
            .iter()
            .map(|i| {
                let (target, node) = (members[i % members.len()].clone(), node.to_string());
                tokio::spawn(async move { Watcher::open(&target, &node, TLS.get()).await })
            })
            .collect();
        for handle in connecting {
            opened.push(handle.await.context("a connecting task failed")??);
        }
    }
    Ok(opened)
}
