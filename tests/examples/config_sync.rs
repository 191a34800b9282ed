//! Configuration sync: one writer updates `/config/app`; watchers read it with a watch,
//! re-arm the watch after every event, and converge on the last value written. Uses the
//! `zookeeper-client` crate.
//!
//! A watch fires once, and changes made between the event and the next read are not
//! reported one by one: a watcher may skip values, but every read returns the current
//! value and re-arms the watch, so a watcher never misses the last one. ZooKeeper also
//! guarantees a client never sees the value go back in time, which this program checks
//! with the node's modification zxid (`mzxid`).
//!
//! This program runs a writer and `--watchers` watchers in one process, each with its own
//! session. The writer sets `--updates` values, `--interval-ms` apart, each with a
//! version-checked setData. Every watcher prints every value it sees. The program exits 0
//! only if every watcher saw the last value and never saw the value go backwards.
//!
//! ```text
//! cargo run -p rookery-tests --example config_sync -- 127.0.0.1:2181,127.0.0.1:2182,127.0.0.1:2183
//!     [--watchers 3] [--updates 30] [--interval-ms 100] [--session-timeout-ms 15000] [--guard-secs 300]
//! ```
//!
//! Faults it tolerates:
//! * Connection loss: the client reconnects to another server in the same session and
//!   re-registers its watches; reads are retried; a write whose reply was lost is checked by
//!   reading the value back before writing again.
//! * Session expiry: the writer or watcher opens a new session. A watcher first syncs the
//!   server it is connected to with the leader, so it cannot read an older value than one
//!   it saw before.

use std::time::{Duration, SystemTime};

use tokio::task::JoinSet;
use zookeeper_client as zk;

mod common;
use common::{connect_session, connection_lost, retry};

const CONFIG: &str = "/config/app";

#[derive(Clone, Debug)]
struct Options {
    watchers: usize,
    updates: usize,
    interval: Duration,
    session_timeout: Duration,
}

#[derive(Debug)]
struct Report {
    last_value: String,
    /// Per watcher: the values it saw, in order.
    seen: Vec<Vec<String>>,
    violations: Vec<String>,
}

async fn run(connect: &str, options: Options) -> Result<Report, String> {
    // Values carry a run id, so that values left by an earlier run are not taken for ours.
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let run_id = format!("run-{:x}-{nanos:x}", std::process::id());
    let value = move |n: usize| format!("{run_id} #{n}");
    let last_value = value(options.updates);

    let mut watchers = JoinSet::new();
    for id in 0..options.watchers {
        let (connect, last, timeout) = (
            connect.to_string(),
            last_value.clone(),
            options.session_timeout,
        );
        watchers.spawn(async move { (id, watcher(id, &connect, &last, timeout).await) });
    }

    let mut client = connect_session(connect, options.session_timeout).await;
    for n in 0..=options.updates {
        if n > 0 {
            tokio::time::sleep(options.interval).await;
        }
        loop {
            match write(&client, value(n).as_bytes()).await {
                Ok(version) => {
                    println!("writer: {CONFIG} = {:?} (version {version})", value(n));
                    break;
                }
                Err(zk::Error::SessionExpired) => {
                    println!("writer: session expired; opening a new one");
                    client = connect_session(connect, options.session_timeout).await;
                }
                Err(error) => return Err(format!("writer: {error}")),
            }
        }
    }

    let mut seen = vec![Vec::new(); options.watchers];
    let mut violations = Vec::new();
    while let Some(joined) = watchers.join_next().await {
        let (id, result) = joined.map_err(|e| format!("a watcher panicked: {e}"))?;
        let (values, mut wrong) = result.map_err(|e| format!("watcher {id}: {e}"))?;
        seen[id] = values;
        violations.append(&mut wrong);
    }
    Ok(Report {
        last_value,
        seen,
        violations,
    })
}

/// Sets `/config/app` to `value` with a version-checked setData (creating it if needed) and
/// returns the node's new version. After a connection loss the write may or may not have
/// happened, so the value is read back before writing again.
async fn write(client: &zk::Client, value: &[u8]) -> Result<i32, zk::Error> {
    let persistent = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
    loop {
        match client.get_data(CONFIG).await {
            Ok((data, stat)) if data == value => return Ok(stat.version),
            Ok((_, stat)) => match client.set_data(CONFIG, value, Some(stat.version)).await {
                Ok(stat) => return Ok(stat.version),
                // A lost reply, or another writer got in between: read again.
                Err(zk::Error::BadVersion) => {}
                Err(error) if connection_lost(&error) => {}
                Err(error) => return Err(error),
            },
            Err(zk::Error::NoNode) => {
                retry(|| client.mkdir("/config", &persistent)).await?;
                match client.create(CONFIG, value, &persistent).await {
                    Ok((stat, _)) => return Ok(stat.version),
                    Err(zk::Error::NodeExists) => {}
                    Err(error) if connection_lost(&error) => {}
                    Err(error) => return Err(error),
                }
            }
            Err(error) if connection_lost(&error) => {
                tokio::time::sleep(Duration::from_millis(100)).await
            }
            Err(error) => return Err(error),
        }
    }
}

/// Follows `/config/app` until it holds `last`. Returns the values seen and any violations.
async fn watcher(
    id: usize,
    connect: &str,
    last: &str,
    session_timeout: Duration,
) -> Result<(Vec<String>, Vec<String>), zk::Error> {
    let mut seen = Vec::new();
    let mut violations = Vec::new();
    let mut last_mzxid = i64::MIN;
    loop {
        let client = connect_session(connect, session_timeout).await;
        // A new session may land on a server that is behind the previous one: catch it up
        // with the leader first, so that it serves at least what this watcher already saw.
        match retry(|| client.sync("/")).await {
            Ok(()) => {}
            Err(zk::Error::SessionExpired) => continue,
            Err(error) => return Err(error),
        }
        loop {
            let event = match client.get_and_watch_data(CONFIG).await {
                Ok((data, stat, watch)) => {
                    let value = String::from_utf8_lossy(&data).into_owned();
                    if stat.mzxid < last_mzxid {
                        let what = format!(
                            "watcher {id} saw {value:?} (mzxid {:#x}) after a newer value (mzxid {last_mzxid:#x})",
                            stat.mzxid
                        );
                        println!("VIOLATION: {what}");
                        violations.push(what);
                    }
                    if stat.mzxid != last_mzxid {
                        println!("watcher {id} sees {value:?} (version {})", stat.version);
                        last_mzxid = stat.mzxid;
                        seen.push(value.clone());
                    }
                    if value == last {
                        return Ok((seen, violations));
                    }
                    watch.changed().await
                }
                // Not created yet: wait for its creation.
                Err(zk::Error::NoNode) => match client.check_and_watch_stat(CONFIG).await {
                    Ok((None, watch)) => watch.changed().await,
                    Ok((Some(_), _)) => continue,
                    Err(error) if connection_lost(&error) => continue,
                    Err(zk::Error::SessionExpired) => break,
                    Err(error) => return Err(error),
                },
                Err(error) if connection_lost(&error) => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
                Err(zk::Error::SessionExpired) => break,
                Err(error) => return Err(error),
            };
            if event.event_type == zk::EventType::Session {
                break; // The session ended (expired): open a new one.
            }
        }
        println!("watcher {id}: session expired; opening a new one");
    }
}

const USAGE: &str = "config_sync [CONNECT_STRING] [--watchers N] [--updates N] [--interval-ms MS] [--session-timeout-ms MS] [--guard-secs S]";

#[tokio::main]
async fn main() {
    let mut options = Options {
        watchers: 3,
        updates: 30,
        interval: Duration::from_millis(100),
        session_timeout: Duration::from_secs(15),
    };
    let cli = common::CommandLine::parse(USAGE, |flag, n| {
        match flag {
            "--watchers" => options.watchers = n as usize,
            "--updates" => options.updates = n as usize,
            "--interval-ms" => options.interval = Duration::from_millis(n),
            "--session-timeout-ms" => options.session_timeout = Duration::from_millis(n),
            _ => return false,
        }
        true
    });

    let report = common::within_guard("config_sync", cli.guard, run(&cli.connect, options)).await;
    println!("---- summary ----");
    println!("last value written: {:?}", report.last_value);
    for (id, values) in report.seen.iter().enumerate() {
        println!(
            "watcher {id}: saw {} values, ending with {:?}",
            values.len(),
            values.last().map_or("", String::as_str)
        );
    }
    let converged = report
        .seen
        .iter()
        .all(|values| values.last() == Some(&report.last_value));
    if !report.violations.is_empty() || !converged {
        for violation in &report.violations {
            eprintln!("violation: {violation}");
        }
        eprintln!("converged: {converged}");
        std::process::exit(1);
    }
    println!("OK: every watcher converged on the last value, never going backwards");
}
