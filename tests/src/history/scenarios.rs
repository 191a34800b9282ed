//! Fault scenarios under the recorded workload. Each runs a 3-member ensemble,
//! injects its fault, stops everything cleanly and returns the history with
//! every member's log, for `check`; each also returns what shows the fault
//! really happened.

use super::{parse_dump, Entry, Op, Workload};
use crate::ensemble::Ensemble;
use crate::proxy::Direction;
use crate::rookery_bin;
use std::process::Command;
use std::time::{Duration, Instant};

/// What a scenario produced.
pub struct Outcome {
    pub history: Vec<Op>,
    pub logs: Vec<Vec<Entry>>,
    /// Distinct epochs in the final log (each leader change starts one).
    pub epochs: usize,
    /// Whether every member ended at the same zxid with the same tree digest.
    pub same_digest: Result<(), String>,
}

/// Members keep their whole log, so the checker sees all of history.
fn keep_everything() -> Vec<(String, String)> {
    vec![("commitLogCount".into(), "10000000".into())]
}

pub fn wait_leader(ensemble: &Ensemble, except: Option<usize>) -> usize {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(l) = ensemble.leader().filter(|l| Some(*l) != except) {
            return l;
        }
        assert!(Instant::now() < deadline, "no leader elected");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn workload(ensemble: &Ensemble) -> Workload {
    Workload {
        members: ensemble.members.iter().map(|m| m.addr()).collect(),
        clients: 6,
        pinned: 3,
        keys: 4,
        session_timeout_ms: 6000,
    }
}

/// Creates the workload's nodes and starts its clients.
fn start_workload(w: Workload) -> super::Running {
    super::prepare(&w).expect("prepare the workload's nodes");
    super::start(&w)
}

/// Waits (up to a minute) until member `index` follows again.
fn wait_follower(ensemble: &Ensemble, index: usize, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while ensemble.mode(index).as_deref() != Some("follower") {
        assert!(Instant::now() < deadline, "{what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Every member link 80–120 ms each way, 5 % of chunks lost and retransmitted
/// 200 ms later.
fn slow_and_lossy(ensemble: &Ensemble) {
    for p in ensemble.links.values() {
        p.delay(
            Direction::Both,
            Duration::from_millis(80),
            Duration::from_millis(40),
        );
        p.loss(Direction::Both, 0.05, Duration::from_millis(200));
    }
}

/// Restarts the members at `indexes` (all stopped), then waits until each serves.
fn restart_and_wait(ensemble: &mut Ensemble, indexes: impl IntoIterator<Item = usize> + Clone) {
    for i in indexes.clone() {
        ensemble.members[i].restart_unready();
    }
    for i in indexes {
        ensemble.members[i].wait_serving();
    }
}

/// Lets the healed ensemble settle for a moment, then stops the workload and
/// every member, and reads the logs.
fn settle_and_finish(ensemble: Ensemble, running: super::Running) -> Outcome {
    std::thread::sleep(Duration::from_secs(2));
    finish(ensemble, running.stop())
}

/// Stops every member cleanly and reads its log with `rookery log-dump`.
fn finish(mut ensemble: Ensemble, history: Vec<Op>) -> Outcome {
    stop_and_read(&mut ensemble, history)
}

/// `finish` for an ensemble the caller still has to take apart.
fn stop_and_read(ensemble: &mut Ensemble, history: Vec<Op>) -> Outcome {
    let same_digest = ensemble.same_digest();
    let mut logs = Vec::new();
    for m in ensemble.members.iter_mut() {
        m.terminate();
        let out = Command::new(rookery_bin())
            .args(["log-dump", "--config"])
            .arg(m.config_path())
            .output()
            .expect("run rookery log-dump");
        assert!(
            out.status.success(),
            "log-dump failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        logs.push(parse_dump(&String::from_utf8_lossy(&out.stdout)).expect("parse the dump"));
    }
    let epochs = logs[0]
        .iter()
        .map(|e| e.zxid >> 32)
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    Outcome {
        history,
        logs,
        epochs,
        same_digest,
    }
}

/// The leader killed with kill -9 three times under load, each time restarted.
pub fn leader_kill_loop() -> Outcome {
    let mut ensemble = Ensemble::start_with(3, keep_everything());
    wait_leader(&ensemble, None);
    let running = start_workload(workload(&ensemble));
    for _ in 0..3 {
        std::thread::sleep(Duration::from_secs(2));
        let leader = wait_leader(&ensemble, None);
        ensemble.members[leader].kill9();
        wait_leader(&ensemble, Some(leader));
        ensemble.members[leader].restart_unready();
        ensemble.members[leader].wait_serving();
    }
    settle_and_finish(ensemble, running)
}

/// A follower killed and restarted twice under load.
pub fn follower_kill_and_restart() -> Outcome {
    let mut ensemble = Ensemble::start_with(3, keep_everything());
    let leader = wait_leader(&ensemble, None);
    let follower = (leader + 1) % 3;
    let running = start_workload(workload(&ensemble));
    for _ in 0..2 {
        std::thread::sleep(Duration::from_secs(2));
        ensemble.members[follower].kill9();
        std::thread::sleep(Duration::from_millis(1500));
        ensemble.members[follower].restart_unready();
        ensemble.members[follower].wait_serving();
    }
    settle_and_finish(ensemble, running)
}

/// Every member killed with kill -9 at once, mid-write, then all restarted.
pub fn kill_every_member() -> Outcome {
    let mut ensemble = Ensemble::start_with(3, keep_everything());
    wait_leader(&ensemble, None);
    let running = start_workload(workload(&ensemble));
    for _ in 0..2 {
        std::thread::sleep(Duration::from_secs(2));
        for m in ensemble.members.iter_mut() {
            m.kill9();
        }
        restart_and_wait(&mut ensemble, 0..3);
    }
    settle_and_finish(ensemble, running)
}

/// The leader cut off both ways while clients write on both sides; the majority
/// elects a new leader and goes on; healed, the old leader must drop (TRUNC)
/// whatever it logged alone and follow.
pub fn isolated_leader() -> Outcome {
    let ensemble = Ensemble::start_proxied_with(3, keep_everything());
    let leader = wait_leader(&ensemble, None);
    // Clients 0..3 are pinned to members 0, 1, 2: one of them to the old leader.
    let running = start_workload(workload(&ensemble));
    std::thread::sleep(Duration::from_secs(2));
    for p in ensemble.links_of(leader) {
        p.blackhole(Direction::Both);
    }
    let new_leader = wait_leader(&ensemble, Some(leader));
    assert_ne!(new_leader, leader);
    std::thread::sleep(Duration::from_secs(3));
    for p in ensemble.links_of(leader) {
        p.heal();
    }
    wait_follower(
        &ensemble,
        leader,
        "the old leader never came back as a follower",
    );
    settle_and_finish(ensemble, running)
}

/// Every client reaches its member through a proxy. Member 0's proxy is cut for
/// less than the session timeout (its sessions must survive), then member 1's for
/// much longer (its pinned client's session must expire, and be closed in the log).
pub fn clients_cut_off() -> Outcome {
    use crate::proxy::Proxy;
    let ensemble = Ensemble::start_with(3, keep_everything());
    wait_leader(&ensemble, None);
    let proxies: Vec<Proxy> = ensemble
        .members
        .iter()
        .map(|m| Proxy::start("127.0.0.1:0".parse().expect("an address"), m.addr()))
        .collect();
    let mut w = workload(&ensemble);
    w.members = proxies.iter().map(Proxy::addr).collect();
    let running = start_workload(w);
    std::thread::sleep(Duration::from_secs(2));
    // Shorter than the 6 s session timeout: nothing expires.
    proxies[0].blackhole(Direction::Both);
    std::thread::sleep(Duration::from_secs(2));
    proxies[0].heal();
    std::thread::sleep(Duration::from_secs(2));
    // Three timeouts: member 1's pinned client comes back to an expired session.
    proxies[1].blackhole(Direction::Both);
    std::thread::sleep(Duration::from_secs(18));
    proxies[1].heal();
    std::thread::sleep(Duration::from_secs(4));
    let history = running.stop();
    drop(proxies);
    finish(ensemble, history)
}

/// The leader frozen (SIGSTOP) past syncLimit while clients keep writing, then
/// resumed: the majority has moved on, and the woken "zombie" leader must not
/// acknowledge anything on its own.
pub fn paused_leader() -> Outcome {
    let mut ensemble = Ensemble::start_with(3, keep_everything());
    let leader = wait_leader(&ensemble, None);
    let running = start_workload(workload(&ensemble));
    std::thread::sleep(Duration::from_secs(2));
    ensemble.members[leader].pause();
    // syncLimit is 5 ticks of 2 s: well past it, the others elect a new leader.
    let new_leader = wait_leader(&ensemble, Some(leader));
    assert_ne!(new_leader, leader);
    std::thread::sleep(Duration::from_secs(3));
    ensemble.members[leader].resume();
    wait_follower(
        &ensemble,
        leader,
        "the woken leader never came back as a follower",
    );
    settle_and_finish(ensemble, running)
}

/// The leader hears nothing from the others (a one-way cut: its messages still
/// arrive): it loses its quorum of acks and steps down, and the rest go on.
pub fn one_way_cut_to_the_leader() -> Outcome {
    let ensemble = Ensemble::start_proxied_with(3, keep_everything());
    let leader = wait_leader(&ensemble, None);
    let running = start_workload(workload(&ensemble));
    std::thread::sleep(Duration::from_secs(2));
    // Links *into* the leader carry nothing; links out of it still work.
    for ((_, to), p) in ensemble.links.iter() {
        if *to == leader {
            p.blackhole(Direction::Forward);
        }
    }
    wait_leader(&ensemble, Some(leader));
    std::thread::sleep(Duration::from_secs(3));
    for p in ensemble.links_of(leader) {
        p.heal();
    }
    std::thread::sleep(Duration::from_secs(3));
    finish(ensemble, running.stop())
}

/// Random halves: every few seconds a random member is cut off both ways (a
/// minority of one in three), healed before the next cut.
pub fn random_partitions() -> Outcome {
    let ensemble = Ensemble::start_proxied_with(3, keep_everything());
    wait_leader(&ensemble, None);
    let running = start_workload(workload(&ensemble));
    let mut seed = 0x5eed_u64;
    for _ in 0..4 {
        std::thread::sleep(Duration::from_secs(2));
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let cut = (seed % 3) as usize;
        for p in ensemble.links_of(cut) {
            p.blackhole(Direction::Both);
        }
        std::thread::sleep(Duration::from_secs(3));
        for p in ensemble.links_of(cut) {
            p.heal();
        }
    }
    std::thread::sleep(Duration::from_secs(3));
    finish(ensemble, running.stop())
}

/// A follower restarted with a failpoint armed (a test build with the
/// `failpoints` feature, ROOKERY_BIN): it crashes at that point of its sync,
/// comes back without it, and nothing acknowledged is lost.
pub fn follower_crashes_at(failpoint: &str) -> Outcome {
    let mut ensemble = Ensemble::start_with(3, keep_everything());
    let leader = wait_leader(&ensemble, None);
    let follower = (leader + 1) % 3;
    let running = start_workload(workload(&ensemble));
    std::thread::sleep(Duration::from_secs(2));
    ensemble.members[follower].kill9();
    std::thread::sleep(Duration::from_secs(1));
    crash_on_restart(&mut ensemble, follower, failpoint);
    settle_and_finish(ensemble, running)
}

/// Every member restarts with `leader_before_commit` armed: whoever leads crashes
/// holding a quorum of acks, before committing; then all restart clean.
pub fn leader_crashes_before_commit() -> Outcome {
    let mut ensemble = Ensemble::start_with(3, keep_everything());
    wait_leader(&ensemble, None);
    let running = start_workload(workload(&ensemble));
    std::thread::sleep(Duration::from_secs(2));
    for m in ensemble.members.iter_mut() {
        m.kill9();
    }
    std::env::set_var("ROOKERY_FAILPOINT", "leader_before_commit");
    for m in ensemble.members.iter_mut() {
        m.restart_unready();
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    let crashed = loop {
        if let Some(i) = (0..3).find(|i| !ensemble.members[*i].is_running()) {
            break i;
        }
        assert!(
            Instant::now() < deadline,
            "no leader crashed at leader_before_commit"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    std::env::remove_var("ROOKERY_FAILPOINT");
    let status = ensemble.members[crashed].wait_exit(Duration::from_secs(5));
    assert!(status.is_some_and(|s| !s.success()), "{status:?}");
    let log = std::fs::read_to_string(ensemble.members[crashed].dir().join("member.log"))
        .unwrap_or_default();
    assert!(
        log.contains("failpoint leader_before_commit hit"),
        "member {} exited, but not at the failpoint:\n{}",
        crashed + 1,
        ensemble.members[crashed].log_tail()
    );
    for (i, m) in ensemble.members.iter_mut().enumerate() {
        if i != crashed {
            m.kill9();
        }
    }
    restart_and_wait(&mut ensemble, 0..3);
    settle_and_finish(ensemble, running)
}

/// Restarts member `index` with `failpoint` armed until it crashes there (it
/// must, within 30 s), then restarts it clean and waits until it serves.
fn crash_on_restart(ensemble: &mut Ensemble, index: usize, failpoint: &str) {
    let id = index + 1;
    std::env::set_var("ROOKERY_FAILPOINT", format!("{failpoint}@{id}"));
    ensemble.members[index].restart_unready();
    let status = ensemble.members[index].wait_exit(Duration::from_secs(30));
    std::env::remove_var("ROOKERY_FAILPOINT");
    assert!(
        status.is_some_and(|s| !s.success()),
        "member {id} did not crash at {failpoint}: {status:?}\n{}",
        ensemble.members[index].log_tail()
    );
    let log = std::fs::read_to_string(ensemble.members[index].dir().join("member.log"))
        .unwrap_or_default();
    assert!(
        log.contains(&format!("failpoint {failpoint} hit")),
        "member {id} exited, but not at {failpoint}:\n{}",
        ensemble.members[index].log_tail()
    );
    ensemble.members[index].restart_unready();
    ensemble.members[index].wait_serving();
}

/// Every member link slow and lossy: 80–120 ms each way, and 5 % of chunks lost
/// and retransmitted 200 ms later (what TCP makes of packet loss). Slow, never
/// wrong. Returns the outcome and how many chunks were "lost".
pub fn slow_lossy_links() -> (Outcome, u64) {
    let ensemble = Ensemble::start_proxied_with(3, keep_everything());
    wait_leader(&ensemble, None);
    slow_and_lossy(&ensemble);
    let running = start_workload(workload(&ensemble));
    std::thread::sleep(Duration::from_secs(15));
    let lost = ensemble
        .links
        .values()
        .map(|p| {
            let s = p.stats();
            s.forward.retransmitted + s.backward.retransmitted
        })
        .sum();
    for p in ensemble.links.values() {
        p.heal();
    }
    std::thread::sleep(Duration::from_secs(2));
    (finish(ensemble, running.stop()), lost)
}

/// A follower cut off both ways while the others go on writing, then healed;
/// the members run with `forceSnapshotSync`, so it must come back by SNAP and
/// hold, from the snapshot on, exactly what the others hold.
pub fn follower_isolated_until_snap() -> Outcome {
    let mut extra = keep_everything();
    extra.push(("forceSnapshotSync".into(), "true".into()));
    let ensemble = Ensemble::start_proxied_with(3, extra);
    let leader = wait_leader(&ensemble, None);
    let follower = (leader + 1) % 3;
    let running = start_workload(workload(&ensemble));
    std::thread::sleep(Duration::from_secs(2));
    for p in ensemble.links_of(follower) {
        p.blackhole(Direction::Both);
    }
    std::thread::sleep(Duration::from_secs(4));
    for p in ensemble.links_of(follower) {
        p.heal();
    }
    wait_follower(&ensemble, follower, "the isolated follower never came back");
    settle_and_finish(ensemble, running)
}

/// Every member's storage on a small disk of its own; the leader's disk fills
/// up under load. It can no longer make a write durable, so it must stop (and
/// acknowledge nothing it did not persist); the others elect a new leader and go
/// on. With room again it restarts and catches up. Returns the outcome and the
/// tail of the old leader's log from when it stopped.
pub fn disk_full_on_the_leader() -> (Outcome, String) {
    use super::client::SessionClient;
    use crate::disk::SmallDisk;
    let mut ensemble = Ensemble::start_with(3, keep_everything());
    for m in ensemble.members.iter_mut() {
        m.terminate();
    }
    let disks: Vec<SmallDisk> = ensemble
        .members
        .iter()
        .map(|m| SmallDisk::mount_over(&m.dir().join("datalog"), 512))
        .collect();
    restart_and_wait(&mut ensemble, 0..3);
    let leader = wait_leader(&ensemble, None);
    let running = start_workload(workload(&ensemble));
    std::thread::sleep(Duration::from_secs(2));
    disks[leader].fill();
    // RocksDB (like ZooKeeper's preAllocSize) reserves room for its write-ahead
    // log ahead of time: big writes use it up quickly, as a burst of them would
    // in production.
    let leader_addr = ensemble.members[leader].addr();
    let burst = std::thread::spawn(move || {
        let Ok(mut c) = SessionClient::open(vec![leader_addr], 0, true, 30_000) else {
            return 0;
        };
        let big = vec![0u8; 900 * 1024];
        let mut acknowledged = 0;
        for i in 0..1000 {
            match c.create(&format!("/burst-{i}"), &big, false) {
                Ok(r) if r.err == 0 => acknowledged += 1,
                _ => break,
            }
        }
        acknowledged
    });
    let status = ensemble.members[leader].wait_exit(Duration::from_secs(60));
    let burst_acknowledged = burst.join().expect("the burst client panicked");
    let stopped_log = ensemble.members[leader].log_tail();
    assert!(
        status.is_some_and(|s| !s.success()),
        "the leader went on with a full disk: {status:?}\n{stopped_log}"
    );
    assert!(
        burst_acknowledged < 1000,
        "the leader acknowledged {burst_acknowledged} writes of 900 KB on a full disk"
    );
    wait_leader(&ensemble, Some(leader));
    std::thread::sleep(Duration::from_secs(3));
    disks[leader].free();
    ensemble.members[leader].restart_unready();
    ensemble.members[leader].wait_serving();
    std::thread::sleep(Duration::from_secs(2));
    let outcome = stop_and_read(&mut ensemble, running.stop());
    drop(disks);
    drop(ensemble);
    (outcome, stopped_log)
}

/// What a member made of a corrupt file in its storage.
#[derive(Debug)]
pub enum AfterCorruption {
    /// It refused to start, saying why (the operator then wiped it: it came
    /// back by SNAP).
    Refused(String),
    /// It started and re-synced from the leader.
    Resynced,
}

/// How a file is damaged.
#[derive(Debug, Clone, Copy)]
pub enum Damage {
    /// One byte in the middle flipped (a bad sector, a bit rot).
    FlipByte,
    /// The second half gone (a disk that lost what it said it had written).
    CutInHalf,
}

/// A follower is stopped, its newest storage file of `kind` ("log" for
/// RocksDB's write-ahead log, "sst" for a table file) is damaged, and it is
/// restarted. It must notice, and either refuse to start or
/// recover to a consistent earlier state and re-sync: never serve what the file
/// says now. A refused member is wiped and restarted, as an operator would.
pub fn corrupt_file_on_a_follower(kind: &str, damage: Damage) -> (Outcome, AfterCorruption) {
    let mut ensemble = Ensemble::start_with(3, keep_everything());
    let leader = wait_leader(&ensemble, None);
    let follower = (leader + 1) % 3;
    let running = start_workload(workload(&ensemble));
    std::thread::sleep(Duration::from_secs(3));
    // Killed, not stopped: a clean stop writes the memtables out and leaves an
    // empty write-ahead log, with nothing in it to damage.
    ensemble.members[follower].kill9();
    let storage = ensemble.members[follower].dir().join("datalog/rocksdb");
    corrupt_newest(&storage, kind, damage);
    ensemble.members[follower].restart_unready();
    let after = match ensemble.members[follower].wait_exit(Duration::from_secs(10)) {
        Some(status) => {
            assert!(!status.success(), "exited cleanly on its own");
            let said = ensemble.members[follower].log_tail();
            std::fs::remove_dir_all(&storage).expect("wipe the refused member's storage");
            ensemble.members[follower].restart_unready();
            AfterCorruption::Refused(said)
        }
        None => AfterCorruption::Resynced,
    };
    ensemble.members[follower].wait_serving();
    std::thread::sleep(Duration::from_secs(2));
    (finish(ensemble, running.stop()), after)
}

/// Damages the newest file in `dir` ending in `.{ext}`.
fn corrupt_newest(dir: &std::path::Path, ext: &str, damage: Damage) {
    let newest = std::fs::read_dir(dir)
        .expect("read the storage directory")
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == ext))
        .filter(|e| e.metadata().is_ok_and(|m| m.len() > 4096))
        .max_by_key(|e| e.metadata().and_then(|m| m.modified()).ok())
        .unwrap_or_else(|| {
            let listing: Vec<_> = std::fs::read_dir(dir)
                .map(|d| d.filter_map(Result::ok).map(|e| e.file_name()).collect())
                .unwrap_or_default();
            panic!("no .{ext} file over 4 KB in {}: {listing:?}", dir.display())
        });
    let path = newest.path();
    let mut bytes = std::fs::read(&path).expect("read the file to corrupt");
    let middle = bytes.len() / 2;
    match damage {
        Damage::FlipByte => bytes[middle] ^= 0x5a,
        Damage::CutInHalf => bytes.truncate(middle),
    }
    std::fs::write(&path, bytes).expect("write the corrupt file");
}

/// A cycle of faults for `length`: every few seconds one of a leader kill -9
/// (restarted), a member cut off both ways, the leader frozen past syncLimit,
/// or every link slowed and lossy; each healed before the next. Returns the
/// outcome and the faults, in order.
pub fn soak(length: Duration, seed: u64) -> (Outcome, Vec<&'static str>) {
    let mut ensemble = Ensemble::start_proxied_with(3, keep_everything());
    wait_leader(&ensemble, None);
    let running = start_workload(workload(&ensemble));
    let mut rng = seed | 1;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut faults = Vec::new();
    let end = Instant::now() + length;
    while Instant::now() < end {
        std::thread::sleep(Duration::from_secs(2));
        let leader = wait_leader(&ensemble, None);
        match next() % 4 {
            0 => {
                faults.push("leader killed");
                ensemble.members[leader].kill9();
                wait_leader(&ensemble, Some(leader));
                ensemble.members[leader].restart_unready();
                ensemble.members[leader].wait_serving();
            }
            1 => {
                faults.push("member cut off");
                let cut = (next() % 3) as usize;
                for p in ensemble.links_of(cut) {
                    p.blackhole(Direction::Both);
                }
                std::thread::sleep(Duration::from_secs(3));
                for p in ensemble.links_of(cut) {
                    p.heal();
                }
            }
            2 => {
                faults.push("leader frozen");
                ensemble.members[leader].pause();
                wait_leader(&ensemble, Some(leader));
                ensemble.members[leader].resume();
            }
            _ => {
                faults.push("links slow and lossy");
                slow_and_lossy(&ensemble);
                std::thread::sleep(Duration::from_secs(3));
                for p in ensemble.links.values() {
                    p.heal();
                }
            }
        }
        for i in 0..ensemble.members.len() {
            ensemble.members[i].wait_serving();
        }
    }
    std::thread::sleep(Duration::from_secs(2));
    (finish(ensemble, running.stop()), faults)
}

/// Five members: the leader and a follower killed with kill -9 at once (a
/// minority of two), the three left elect a leader and go on; both come back.
pub fn five_members_lose_two() -> Outcome {
    let mut ensemble = Ensemble::start_with(5, keep_everything());
    let leader = wait_leader(&ensemble, None);
    let follower = (leader + 1) % 5;
    let running = start_workload(workload(&ensemble));
    std::thread::sleep(Duration::from_secs(2));
    ensemble.members[leader].kill9();
    ensemble.members[follower].kill9();
    wait_leader(&ensemble, Some(leader));
    std::thread::sleep(Duration::from_secs(3));
    restart_and_wait(&mut ensemble, [leader, follower]);
    settle_and_finish(ensemble, running)
}
