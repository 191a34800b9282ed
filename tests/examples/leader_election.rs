//! Leader election: ZooKeeper's ephemeral-sequential recipe with the `zookeeper-client` crate.
//!
//! Every candidate creates `/election/c-<session>-<sequence>` (EPHEMERAL_SEQUENTIAL). The
//! candidate with the lowest sequence number leads. Every other candidate watches only the
//! node just below its own, its predecessor, so a change wakes one candidate rather than all
//! of them (no herd effect). When the leader's session ends, its node goes away and the next
//! candidate takes over.
//!
//! This program runs `--candidates` candidates in one process, each with its own session.
//! A leader leads for `--hold-ms`, then resigns by closing its session and joins again at the
//! back of the line. After `--terms` resignations it prints a summary and exits 0 only if no
//! two candidates ever led at once and leadership passed in sequence order.
//!
//! ```text
//! cargo run -p rookery-tests --example leader_election -- 127.0.0.1:2181,127.0.0.1:2182,127.0.0.1:2183
//!     [--candidates 3] [--terms 6] [--hold-ms 300] [--session-timeout-ms 15000] [--guard-secs 300]
//! ```
//!
//! Faults it tolerates:
//! * Connection loss: the client reconnects to another server in the same session; reads are
//!   retried, and a create whose reply was lost is found again by its session-unique name.
//! * A disconnected leader steps down at once: until it reconnects it cannot know whether its
//!   session still lives, and once the session expires a successor may lead.
//! * Session expiry: the candidate joins again with a new session and a new node.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::task::JoinSet;
use zookeeper_client as zk;

mod common;
use common::{
    connect_session, create_ephemeral_sequential, disconnected, retry, sequence, session_error,
};

const ELECTION: &str = "/election";

#[derive(Clone, Debug)]
struct Options {
    candidates: usize,
    terms: usize,
    hold: Duration,
    session_timeout: Duration,
}

/// One period of leadership.
#[derive(Clone, Debug)]
struct Term {
    candidate: usize,
    node: String,
    sequence: i64,
    /// `None` while the term lasts.
    ended: Option<&'static str>,
}

#[derive(Debug)]
struct Report {
    terms: Vec<Term>,
    violations: Vec<String>,
}

/// What the candidates share inside this process: who leads right now, to check that no two
/// candidates ever lead at once (ZooKeeper guarantees it; this program verifies it).
struct Shared {
    options: Options,
    leader: Mutex<Option<usize>>,
    terms: Mutex<Vec<Term>>,
    violations: Mutex<Vec<String>>,
    done: Notify,
}

impl Shared {
    fn begin_term(&self, candidate: usize, node: &str, sequence: i64) {
        let mut leader = self.leader.lock().unwrap();
        let mut terms = self.terms.lock().unwrap();
        if let Some(other) = *leader {
            self.violation(format!(
                "candidate {candidate} ({node}) took over while candidate {other} still led"
            ));
        }
        // Nodes join with ever higher sequence numbers, so the lowest one never decreases.
        if let Some(last) = terms.last() {
            if sequence < last.sequence {
                self.violation(format!(
                    "candidate {candidate} leads with {node} after {} had led",
                    last.node
                ));
            }
        }
        *leader = Some(candidate);
        terms.push(Term {
            candidate,
            node: node.to_string(),
            sequence,
            ended: None,
        });
        println!(
            "term {}: candidate {candidate} leads ({ELECTION}/{node})",
            terms.len()
        );
    }

    fn end_term(&self, candidate: usize, how: &'static str) {
        let mut leader = self.leader.lock().unwrap();
        if *leader == Some(candidate) {
            *leader = None;
        }
        let mut terms = self.terms.lock().unwrap();
        if let Some(term) = terms.iter_mut().rev().find(|t| t.candidate == candidate) {
            term.ended = Some(how);
        }
        println!("candidate {candidate} {how}");
        if terms.iter().filter(|t| t.ended == Some(RESIGNED)).count() >= self.options.terms {
            self.done.notify_one();
        }
    }

    fn violation(&self, what: String) {
        println!("VIOLATION: {what}");
        self.violations.lock().unwrap().push(what);
    }
}

const RESIGNED: &str = "resigned (closing its session)";
const STEPPED_DOWN: &str = "stepped down (disconnected)";

async fn run(connect: &str, options: Options) -> Result<Report, String> {
    let shared = Arc::new(Shared {
        options: options.clone(),
        leader: Mutex::new(None),
        terms: Mutex::new(Vec::new()),
        violations: Mutex::new(Vec::new()),
        done: Notify::new(),
    });
    let mut candidates = JoinSet::new();
    for id in 0..options.candidates {
        candidates.spawn(candidate(id, connect.to_string(), shared.clone()));
    }
    // Candidates run until they are stopped; one that returns hit an unexpected error.
    let result = tokio::select! {
        _ = shared.done.notified() => Ok(()),
        Some(ended) = candidates.join_next() => Err(match ended {
            Ok(error) => format!("a candidate failed: {error}"),
            Err(panic) => format!("a candidate panicked: {panic}"),
        }),
    };
    candidates.shutdown().await;
    result?;
    let terms = shared.terms.lock().unwrap().clone();
    let violations = shared.violations.lock().unwrap().clone();
    Ok(Report { terms, violations })
}

/// One candidate: a session after another, each campaigning with one node.
async fn candidate(id: usize, connect: String, shared: Arc<Shared>) -> zk::Error {
    loop {
        let client = connect_session(&connect, shared.options.session_timeout).await;
        match campaign(id, &client, &shared).await {
            Ok(()) => {} // Resigned: dropping the client closes the session.
            Err(zk::Error::SessionExpired) => {
                println!("candidate {id}: session expired; joining again with a new session")
            }
            Err(error) => return error,
        }
    }
}

/// Joins the election with one ephemeral-sequential node and waits for its turn to lead.
/// Returns after leading and resigning.
async fn campaign(id: usize, client: &zk::Client, shared: &Shared) -> Result<(), zk::Error> {
    let persistent = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
    retry(|| client.mkdir(ELECTION, &persistent)).await?;
    // One node per session, so the session id makes the name unique.
    let prefix = format!("c-{:x}-", client.session_id().0);
    let me = create_ephemeral_sequential(client, ELECTION, &prefix).await?;
    let my_sequence = sequence(&me).expect("a sequential node ends in its sequence number");
    println!("candidate {id} joined as {ELECTION}/{me}");
    loop {
        let mut queue: Vec<(i64, String)> = retry(|| client.list_children(ELECTION))
            .await?
            .into_iter()
            .filter_map(|child| Some((sequence(&child)?, child)))
            .collect();
        queue.sort();
        let Some(position) = queue.iter().position(|(_, child)| *child == me) else {
            // Ephemeral nodes go away with their session.
            return Err(zk::Error::SessionExpired);
        };
        if position == 0 {
            if lead(id, client, &me, my_sequence, shared).await? {
                return Ok(());
            }
            continue; // Stepped down and reconnected: still first in line?
        }
        let predecessor = format!("{ELECTION}/{}", queue[position - 1].1);
        let (stat, watcher) = retry(|| client.check_and_watch_stat(&predecessor)).await?;
        if stat.is_none() {
            continue; // Gone since we listed the children.
        }
        println!("candidate {id} waits for its predecessor {predecessor}");
        let event = watcher.changed().await;
        if event.event_type == zk::EventType::Session {
            return Err(session_error(event.session_state));
        }
    }
}

/// Leads until `--hold-ms` passed (then resigns: returns true) or the connection is lost
/// (then steps down, waits for the session to reconnect and returns false).
async fn lead(
    id: usize,
    client: &zk::Client,
    me: &str,
    my_sequence: i64,
    shared: &Shared,
) -> Result<bool, zk::Error> {
    let mut state = client.state_watcher();
    if state.state() == zk::SessionState::SyncConnected {
        shared.begin_term(id, me, my_sequence);
        let lost = tokio::select! {
            _ = tokio::time::sleep(shared.options.hold) => None,
            lost = disconnected(&mut state) => Some(lost),
        };
        match lost {
            None => {
                shared.end_term(id, RESIGNED);
                return Ok(true);
            }
            Some(_) => shared.end_term(id, STEPPED_DOWN),
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

const USAGE: &str = "leader_election [CONNECT_STRING] [--candidates N] [--terms N] [--hold-ms MS] [--session-timeout-ms MS] [--guard-secs S]";

#[tokio::main]
async fn main() {
    let mut options = Options {
        candidates: 3,
        terms: 6,
        hold: Duration::from_millis(300),
        session_timeout: Duration::from_secs(15),
    };
    let cli = common::CommandLine::parse(USAGE, |flag, n| {
        match flag {
            "--candidates" => options.candidates = n as usize,
            "--terms" => options.terms = n as usize,
            "--hold-ms" => options.hold = Duration::from_millis(n),
            "--session-timeout-ms" => options.session_timeout = Duration::from_millis(n),
            _ => return false,
        }
        true
    });
    if options.candidates == 0 {
        common::CommandLine::parse_failed(USAGE);
    }

    let report = common::within_guard(
        "leader_election",
        cli.guard,
        run(&cli.connect, options.clone()),
    )
    .await;
    println!("---- summary ----");
    for (n, term) in report.terms.iter().enumerate() {
        println!(
            "term {}: candidate {} with {} (sequence {}): {}",
            n + 1,
            term.candidate,
            term.node,
            term.sequence,
            term.ended.unwrap_or("still leading")
        );
    }
    let resigned = report
        .terms
        .iter()
        .filter(|t| t.ended == Some(RESIGNED))
        .count();
    println!(
        "{} terms, {resigned} ended by resignation, {} violations",
        report.terms.len(),
        report.violations.len()
    );
    if !report.violations.is_empty() || resigned < options.terms {
        for violation in &report.violations {
            eprintln!("violation: {violation}");
        }
        std::process::exit(1);
    }
    println!("OK: one leader at a time, in sequence order");
}
