//! Distributed lock: ZooKeeper's ephemeral-sequential lock recipe with the `zookeeper-client`
//! crate.
//!
//! A worker that wants the lock creates `/locks/resource/lock-<unique>-<sequence>`
//! (EPHEMERAL_SEQUENTIAL). The worker with the lowest sequence number holds the lock; every
//! other worker watches only the node just below its own, its predecessor (no herd effect).
//! Releasing the lock is deleting the node; a holder whose session ends releases it too.
//!
//! This program runs `--workers` workers in one process, each with its own session; each
//! takes the lock `--rounds` times. While it holds the lock a worker reads the counter
//! `/counters/resource`, waits `--hold-ms`, and writes it back incremented with a
//! version-checked setData: had anyone else written the counter meanwhile, which only
//! happens if the lock failed, the write fails with a version conflict. Workers also mark
//! the lock as held in a flag in this process, which catches two holders at once directly.
//! The program exits 0 only if there were neither, and the counter in the end equals the
//! number of times the lock was taken.
//!
//! ```text
//! cargo run -p rookery-tests --example distributed_lock -- 127.0.0.1:2181,127.0.0.1:2182,127.0.0.1:2183
//!     [--workers 4] [--rounds 10] [--hold-ms 50] [--session-timeout-ms 15000] [--guard-secs 300]
//! ```
//!
//! The counter holds its total and, per worker, how many increments it made:
//! `total 7\nworker-0 4\nworker-1 3\n`. That makes an increment safe to repeat: after a
//! connection loss or a lost session, a worker can see whether its write got through.
//!
//! Faults it tolerates:
//! * Connection loss: the client reconnects to another server in the same session, and the
//!   worker's lock node stays. A holder stops its work at once, though: until it reconnects
//!   it cannot know whether its session still lives, and once the session expires another
//!   worker may take the lock. After reconnecting it checks that it still holds the lock and
//!   carries on. Reads are retried; a create whose reply was lost is found again by its
//!   unique name.
//! * Session expiry: the worker opens a new session and queues for the lock again.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::task::JoinSet;
use zookeeper_client as zk;

mod common;
use common::{
    connect_session, connection_lost, create_ephemeral_sequential, disconnected, retry, sequence,
    session_error,
};

const LOCK: &str = "/locks/resource";
const COUNTER: &str = "/counters/resource";

#[derive(Clone, Debug)]
struct Options {
    workers: usize,
    rounds: u64,
    hold: Duration,
    session_timeout: Duration,
}

#[derive(Debug)]
struct Report {
    /// Critical sections completed: increments that got through.
    acquisitions: u64,
    /// Times a worker held the lock, including holds cut short by a connection loss.
    holds: u64,
    counter: Counter,
    violations: Vec<String>,
}

/// What the workers share inside this process.
struct Shared {
    options: Options,
    /// The worker that holds the lock right now, to check that no two ever do at once.
    holder: Mutex<Option<usize>>,
    acquisitions: AtomicU64,
    holds: AtomicU64,
    violations: Mutex<Vec<String>>,
}

impl Shared {
    fn enter(&self, worker: usize, node: &str) {
        let mut holder = self.holder.lock().unwrap();
        if let Some(other) = *holder {
            self.violation(format!(
                "worker {worker} took the lock ({node}) while worker {other} held it"
            ));
        }
        *holder = Some(worker);
        self.holds.fetch_add(1, Ordering::SeqCst);
    }

    fn leave(&self, worker: usize) {
        let mut holder = self.holder.lock().unwrap();
        if *holder == Some(worker) {
            *holder = None;
        }
    }

    fn violation(&self, what: String) {
        println!("VIOLATION: {what}");
        self.violations.lock().unwrap().push(what);
    }
}

/// The counter znode's content.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Counter {
    total: u64,
    per_worker: BTreeMap<String, u64>,
}

impl Counter {
    fn parse(data: &[u8]) -> Counter {
        let mut counter = Counter::default();
        for line in String::from_utf8_lossy(data).lines() {
            if let Some((key, value)) = line.split_once(' ') {
                let value = value.parse().unwrap_or(0);
                match key {
                    "total" => counter.total = value,
                    worker => {
                        counter.per_worker.insert(worker.to_string(), value);
                    }
                }
            }
        }
        counter
    }

    fn encode(&self) -> Vec<u8> {
        let mut text = format!("total {}\n", self.total);
        for (worker, count) in &self.per_worker {
            text.push_str(&format!("{worker} {count}\n"));
        }
        text.into_bytes()
    }

    fn of(&self, worker: usize) -> u64 {
        self.per_worker
            .get(&format!("worker-{worker}"))
            .copied()
            .unwrap_or(0)
    }
}

async fn run(connect: &str, options: Options) -> Result<Report, String> {
    // Start from a zero counter.
    let zero = Counter::default().encode();
    let client = connect_session(connect, options.session_timeout).await;
    setup(&client, &zero)
        .await
        .map_err(|e| format!("setup: {e}"))?;
    drop(client);

    let shared = Arc::new(Shared {
        options: options.clone(),
        holder: Mutex::new(None),
        acquisitions: AtomicU64::new(0),
        holds: AtomicU64::new(0),
        violations: Mutex::new(Vec::new()),
    });
    let mut workers = JoinSet::new();
    for id in 0..options.workers {
        let (connect, shared) = (connect.to_string(), shared.clone());
        workers.spawn(async move { (id, worker(id, &connect, &shared).await) });
    }
    while let Some(joined) = workers.join_next().await {
        let (id, result) = joined.map_err(|e| format!("a worker panicked: {e}"))?;
        result.map_err(|e| format!("worker {id}: {e}"))?;
    }

    let client = connect_session(connect, options.session_timeout).await;
    let (data, _) = retry(|| client.get_data(COUNTER))
        .await
        .map_err(|e| format!("reading the counter: {e}"))?;
    let violations = shared.violations.lock().unwrap().clone();
    Ok(Report {
        acquisitions: shared.acquisitions.load(Ordering::SeqCst),
        holds: shared.holds.load(Ordering::SeqCst),
        counter: Counter::parse(&data),
        violations,
    })
}

/// Creates the lock's parent and sets the counter to `zero`.
async fn setup(client: &zk::Client, zero: &[u8]) -> Result<(), zk::Error> {
    let persistent = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
    retry(|| client.mkdir(LOCK, &persistent)).await?;
    retry(|| client.mkdir("/counters", &persistent)).await?;
    loop {
        match client.set_data(COUNTER, zero, None).await {
            Ok(_) => return Ok(()),
            Err(zk::Error::NoNode) => match client.create(COUNTER, zero, &persistent).await {
                Ok(_) => return Ok(()),
                Err(zk::Error::NodeExists) => {}
                Err(error) if connection_lost(&error) => {}
                Err(error) => return Err(error),
            },
            Err(error) if connection_lost(&error) => {
                tokio::time::sleep(Duration::from_millis(100)).await
            }
            Err(error) => return Err(error),
        }
    }
}

/// One worker: takes the lock `--rounds` times, in as many sessions as it takes.
async fn worker(id: usize, connect: &str, shared: &Shared) -> Result<(), zk::Error> {
    let mut done = 0; // Increments of this worker known to have got through.
    let mut attempt = 0; // Makes each lock node's name unique within a session.
    while done < shared.options.rounds {
        let client = connect_session(connect, shared.options.session_timeout).await;
        match rounds(id, &client, shared, &mut done, &mut attempt).await {
            Ok(()) => {}
            Err(zk::Error::SessionExpired) => {
                println!("worker {id}: session expired; queueing again with a new session")
            }
            Err(error) => return Err(error),
        }
    }
    println!("worker {id}: done");
    Ok(())
}

/// Takes the lock until this worker did all its rounds, in one session.
async fn rounds(
    id: usize,
    client: &zk::Client,
    shared: &Shared,
    done: &mut u64,
    attempt: &mut u64,
) -> Result<(), zk::Error> {
    while *done < shared.options.rounds {
        *attempt += 1;
        let prefix = format!("lock-{:x}-{attempt}-", client.session_id().0);
        let node = create_ephemeral_sequential(client, LOCK, &prefix).await?;
        let path = format!("{LOCK}/{node}");
        loop {
            wait_for_turn(id, client, &node).await?;
            if hold(id, client, &path, shared, *done + 1).await? {
                *done += 1;
                break;
            }
            // Interrupted by a connection loss; reconnected in the same session.
        }
        // Release. The node may already be gone if the session ended meanwhile.
        match retry(|| client.delete(&path, None)).await {
            Ok(()) | Err(zk::Error::NoNode) => {}
            Err(error) => return Err(error),
        }
    }
    Ok(())
}

/// Waits until `node` is the lowest in the lock's queue, watching only its predecessor.
async fn wait_for_turn(id: usize, client: &zk::Client, node: &str) -> Result<(), zk::Error> {
    loop {
        let mut queue: Vec<(i64, String)> = retry(|| client.list_children(LOCK))
            .await?
            .into_iter()
            .filter_map(|child| Some((sequence(&child)?, child)))
            .collect();
        queue.sort();
        let Some(position) = queue.iter().position(|(_, child)| child == node) else {
            // Ephemeral nodes go away with their session.
            println!("worker {id}: its lock node {node} is gone");
            return Err(zk::Error::SessionExpired);
        };
        if position == 0 {
            return Ok(());
        }
        let predecessor = format!("{LOCK}/{}", queue[position - 1].1);
        let (stat, watcher) = retry(|| client.check_and_watch_stat(&predecessor)).await?;
        if stat.is_none() {
            continue; // Gone since we listed the children.
        }
        println!("worker {id} waits for its predecessor {predecessor}");
        let event = watcher.changed().await;
        if event.event_type == zk::EventType::Session {
            return Err(session_error(event.session_state));
        }
    }
}

/// Holds the lock: increments the counter as this worker's `round`-th increment. Returns
/// false if the connection was lost meanwhile, after the session reconnected.
async fn hold(
    id: usize,
    client: &zk::Client,
    path: &str,
    shared: &Shared,
    round: u64,
) -> Result<bool, zk::Error> {
    let mut state = client.state_watcher();
    if state.state() == zk::SessionState::SyncConnected {
        shared.enter(id, path);
        let outcome = tokio::select! {
            result = increment(id, client, path, shared, round) => Some(result),
            _ = disconnected(&mut state) => None,
        };
        shared.leave(id);
        match outcome {
            Some(Ok(())) => {
                shared.acquisitions.fetch_add(1, Ordering::SeqCst);
                return Ok(true);
            }
            Some(Err(error)) => return Err(error),
            None => println!("worker {id}: connection lost while holding the lock; stopped"),
        }
    }
    loop {
        match state.changed().await {
            zk::SessionState::SyncConnected => return Ok(false),
            zk::SessionState::Disconnected => {}
            other => return Err(session_error(other)),
        }
    }
}

/// The critical section: read the counter, work a while, write it back incremented.
async fn increment(
    id: usize,
    client: &zk::Client,
    path: &str,
    shared: &Shared,
    round: u64,
) -> Result<(), zk::Error> {
    loop {
        let (data, stat) = retry(|| client.get_data(COUNTER)).await?;
        let mut counter = Counter::parse(&data);
        if counter.of(id) >= round {
            return Ok(()); // An earlier attempt got through.
        }
        tokio::time::sleep(shared.options.hold).await;
        let before = counter.total;
        counter.total += 1;
        counter.per_worker.insert(format!("worker-{id}"), round);
        match client
            .set_data(COUNTER, &counter.encode(), Some(stat.version))
            .await
        {
            Ok(_) => {
                println!(
                    "worker {id} holds the lock ({path}): counter {before} -> {}",
                    counter.total
                );
                return Ok(());
            }
            Err(zk::Error::BadVersion) => shared.violation(format!(
                "worker {id} holding {path}: the counter changed under the lock (version conflict)"
            )),
            // Did it get through? Read again.
            Err(error) if connection_lost(&error) => {}
            Err(error) => return Err(error),
        }
    }
}

const USAGE: &str = "distributed_lock [CONNECT_STRING] [--workers N] [--rounds N] [--hold-ms MS] [--session-timeout-ms MS] [--guard-secs S]";

#[tokio::main]
async fn main() {
    let mut options = Options {
        workers: 4,
        rounds: 10,
        hold: Duration::from_millis(50),
        session_timeout: Duration::from_secs(15),
    };
    let cli = common::CommandLine::parse(USAGE, |flag, n| {
        match flag {
            "--workers" => options.workers = n as usize,
            "--rounds" => options.rounds = n,
            "--hold-ms" => options.hold = Duration::from_millis(n),
            "--session-timeout-ms" => options.session_timeout = Duration::from_millis(n),
            _ => return false,
        }
        true
    });

    let expected = options.workers as u64 * options.rounds;
    let report = common::within_guard(
        "distributed_lock",
        cli.guard,
        run(&cli.connect, options.clone()),
    )
    .await;
    println!("---- summary ----");
    println!(
        "{} acquisitions ({} holds, {} cut short by connection loss); counter {}",
        report.acquisitions,
        report.holds,
        report.holds - report.acquisitions,
        report.counter.total
    );
    let mut failures = report.violations.clone();
    if report.acquisitions != expected {
        failures.push(format!(
            "{} acquisitions, expected {expected}",
            report.acquisitions
        ));
    }
    if report.counter.total != report.acquisitions {
        failures.push(format!(
            "the counter is {}, but the lock was taken {} times",
            report.counter.total, report.acquisitions
        ));
    }
    for id in 0..options.workers {
        if report.counter.of(id) != options.rounds {
            failures.push(format!(
                "worker {id} made {} increments, expected {}",
                report.counter.of(id),
                options.rounds
            ));
        }
    }
    if !failures.is_empty() {
        for failure in &failures {
            eprintln!("violation: {failure}");
        }
        std::process::exit(1);
    }
    println!("OK: one holder at a time, and the counter equals the acquisitions");
}
