//! Every acknowledged write survives kill -9.
//!
//! 16 sessions create sequential znodes in a loop and record each create the
//! server acknowledged. Once a fixed number of creates has been acknowledged,
//! the member is SIGKILLed with writes in flight and restarted on the same
//! dataDir; every acknowledged znode must be there with its data. Two cycles.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rookery_tests::Member;
use zookeeper_client as zk;

const SESSIONS: usize = 16;
const CYCLES: usize = 2;
/// Acknowledged creates per cycle before the kill (a count, not a time).
const ACKS_BEFORE_KILL: usize = 800;
/// Each session acknowledges at least this many before the kill.
const MIN_ACKS_PER_SESSION: usize = 5;
/// Upper bound on creates per session per cycle, so a worker always ends.
const MAX_CREATES_PER_SESSION: usize = 100_000;
/// Guard against a hang while waiting for acknowledgements (not a timing assertion).
const PROGRESS_GUARD: Duration = Duration::from_secs(300);

#[derive(Default)]
struct Shared {
    /// (path, data) of every acknowledged create.
    acked: Mutex<Vec<(String, Vec<u8>)>>,
    per_session: Vec<AtomicUsize>,
    stop: AtomicBool,
    /// Set just before the SIGKILL: errors after this are expected.
    killing: AtomicBool,
}

/// Creates sequential znodes until told to stop or a request fails.
/// Returns an error only if a request failed before the kill.
async fn writer(
    client: zk::Client,
    cycle: usize,
    id: usize,
    shared: Arc<Shared>,
) -> Result<(), String> {
    let options = zk::CreateMode::PersistentSequential.with_acls(zk::Acls::anyone_all());
    let prefix = format!("/durability/c{cycle}-s{id:02}-");
    for n in 0..MAX_CREATES_PER_SESSION {
        if shared.stop.load(Ordering::SeqCst) {
            return Ok(());
        }
        let data = format!("cycle {cycle} session {id} write {n}").into_bytes();
        match client.create(&prefix, &data, &options).await {
            Ok((_, sequence)) => {
                shared
                    .acked
                    .lock()
                    .unwrap()
                    .push((format!("{prefix}{sequence}"), data));
                shared.per_session[id].fetch_add(1, Ordering::SeqCst);
            }
            Err(e) if shared.killing.load(Ordering::SeqCst) => {
                let _ = e; // connection loss from the kill: this create is unacknowledged
                return Ok(());
            }
            Err(e) => {
                return Err(format!(
                    "session {id}: create #{n} failed before the kill: {e}"
                ))
            }
        }
    }
    Ok(())
}

async fn connect(member: &Member) -> zk::Client {
    zk::Client::connector()
        .with_session_timeout(Duration::from_secs(20))
        .connect(&member.connect_string())
        .await
        .unwrap_or_else(|e| panic!("connect to {}: {e}", member.connect_string()))
}

/// Every acknowledged (path, data) is present with that data and version 0.
async fn verify(member: &Member, acked: &[(String, Vec<u8>)]) {
    let client = connect(member).await;
    let mut seen = HashSet::new();
    for (path, data) in acked {
        assert!(seen.insert(path.as_str()), "{path} was acknowledged twice");
        match client.get_data(path).await {
            Ok((got, stat)) => {
                assert_eq!(&got, data, "{path} has the wrong data");
                assert_eq!(stat.version, 0, "{path} was modified");
            }
            Err(e) => panic!(
                "acknowledged znode {path} is lost after kill -9 ({e}); {} acknowledged in all",
                acked.len()
            ),
        }
    }
    let (children, stat) = client.get_children("/durability").await.unwrap();
    assert!(
        children.len() >= acked.len(),
        "{} children < {} acknowledged",
        children.len(),
        acked.len()
    );
    assert_eq!(stat.num_children as usize, children.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn durability_kill9() {
    let mut member = Member::start();
    {
        let client = connect(&member).await;
        let options = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
        client.create("/durability", b"", &options).await.unwrap();
    }

    let mut all_acked: Vec<(String, Vec<u8>)> = Vec::new();
    for cycle in 0..CYCLES {
        let shared = Arc::new(Shared {
            per_session: (0..SESSIONS).map(|_| AtomicUsize::new(0)).collect(),
            ..Shared::default()
        });
        let mut clients = Vec::new();
        for _ in 0..SESSIONS {
            clients.push(connect(&member).await);
        }
        let workers: Vec<_> = clients
            .iter()
            .enumerate()
            .map(|(id, client)| tokio::spawn(writer(client.clone(), cycle, id, shared.clone())))
            .collect();

        // Wait for a fixed amount of acknowledged work, with writes still going.
        let started = tokio::time::Instant::now();
        loop {
            let total = shared.acked.lock().unwrap().len();
            let slowest = shared
                .per_session
                .iter()
                .map(|c| c.load(Ordering::SeqCst))
                .min()
                .unwrap();
            if total >= ACKS_BEFORE_KILL && slowest >= MIN_ACKS_PER_SESSION {
                break;
            }
            if let Some(done) = workers.iter().position(|w| w.is_finished()) {
                let result = workers.into_iter().nth(done).unwrap().await.unwrap();
                panic!("cycle {cycle}: writer {done} stopped early: {result:?}");
            }
            assert!(
                started.elapsed() < PROGRESS_GUARD,
                "cycle {cycle}: only {total} creates acknowledged (slowest session {slowest}) after {PROGRESS_GUARD:?}"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }

        shared.killing.store(true, Ordering::SeqCst);
        member.kill9();
        shared.stop.store(true, Ordering::SeqCst);
        let at_kill = shared.acked.lock().unwrap().len();

        // Requests queued while the member was down may go through after the
        // restart; those are acknowledged too and must be there as well.
        member.restart();
        for (id, worker) in workers.into_iter().enumerate() {
            match tokio::time::timeout(PROGRESS_GUARD, worker).await {
                Ok(Ok(Ok(()))) => {}
                Ok(Ok(Err(e))) => panic!("cycle {cycle}: {e}"),
                Ok(Err(e)) => panic!("cycle {cycle}: writer {id} panicked: {e}"),
                Err(_) => panic!("cycle {cycle}: writer {id} did not finish"),
            }
        }
        drop(clients);

        let acked = std::mem::take(&mut *shared.acked.lock().unwrap());
        eprintln!(
            "cycle {cycle}: {at_kill} creates acknowledged at the kill, {} in all",
            acked.len()
        );
        all_acked.extend(acked);
        verify(&member, &all_acked).await;
    }
    member.terminate();
}
