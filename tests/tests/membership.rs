//! Membership changes and read-only mode on real processes: an ensemble grows
//! from three members to five and back while a writer runs, a member is replaced
//! by a new one on other ports, the leader is removed, a restarted member keeps
//! the membership a reconfig made, and a member cut off from its quorum serves
//! read-only clients and then rejoins. Acknowledged writes are checked on every
//! member afterwards; no timing is asserted (waits are bounded by `GUARD`).

use rookery_tests::client::connect;
use rookery_tests::wire::{self, Reader, Writer};
use rookery_tests::{four_letter, free_port, rookery_bin, Member, MemberOptions};
use std::collections::HashSet;
use std::io::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use zookeeper_client as zk;

const GUARD: Duration = Duration::from_secs(60);
/// `super:test`, kazoo's super user: reconfig needs it.
const SUPER_DIGEST: &str = "super:D/InIHSb7yEEbrWz8b9l71RjZJU=";

/// The ports of one member, planned before any member starts.
#[derive(Clone, Copy)]
struct Slot {
    id: u64,
    client: u16,
    quorum: u16,
    election: u16,
}

impl Slot {
    fn new(id: u64) -> Slot {
        Slot {
            id,
            client: free_port(),
            quorum: free_port(),
            election: free_port(),
        }
    }

    /// The `server.N` value without a client address, as in a static zoo.cfg.
    fn spec(&self) -> String {
        format!("127.0.0.1:{}:{}", self.quorum, self.election)
    }

    /// A reconfig's joining entry: with the client address.
    fn joining(&self) -> String {
        format!(
            "server.{}=127.0.0.1:{}:{}:participant;127.0.0.1:{}",
            self.id, self.quorum, self.election, self.client
        )
    }

    fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.client)
    }
}

/// Starts the member of `slot` with `servers` as its zoo.cfg's server lines.
fn start(slot: &Slot, servers: &[Slot], extra: &[(&str, &str)]) -> Member {
    let mut lines: Vec<(String, String)> = servers
        .iter()
        .map(|s| (format!("server.{}", s.id), s.spec()))
        .collect();
    lines.push(("reconfigEnabled".into(), "true".into()));
    lines.push((
        "DigestAuthenticationProvider.superDigest".into(),
        SUPER_DIGEST.into(),
    ));
    lines.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    Member::start_with(MemberOptions {
        four_letter_words: "*".to_string(),
        extra: lines,
        my_id: slot.id as u32,
        client_port: Some(slot.client),
        wait_ready: false,
        ..MemberOptions::default()
    })
}

/// The client addresses of `slots`, as one connect string.
fn connect_string(slots: &[Slot]) -> String {
    slots.iter().map(Slot::addr).collect::<Vec<_>>().join(",")
}

fn start_all(slots: &[Slot], extra: &[(&str, &str)]) -> Vec<Member> {
    let mut members: Vec<Member> = slots.iter().map(|s| start(s, slots, extra)).collect();
    for m in &mut members {
        m.wait_serving();
    }
    members
}

/// Runs `rookery reconfig` as the super user and returns what it printed.
fn reconfig(connect: &str, args: &[&str]) -> String {
    let out = std::process::Command::new(rookery_bin())
        .args(["reconfig", "--connect", connect, "--auth", "super:test"])
        .args(args)
        .output()
        .expect("run rookery reconfig");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "rookery reconfig {args:?} failed: {}{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn mode(addr: &str) -> Option<String> {
    let srvr = four_letter(addr.parse().ok()?, "srvr").ok()?;
    srvr.lines()
        .find_map(|l| l.strip_prefix("Mode: "))
        .map(str::to_string)
}

/// Waits until the member at `addr` says its mode is one of `modes`.
fn wait_mode(addr: &str, modes: &[&str]) -> String {
    let deadline = Instant::now() + GUARD;
    loop {
        if let Some(m) = mode(addr).filter(|m| modes.contains(&m.as_str())) {
            return m;
        }
        assert!(
            Instant::now() < deadline,
            "{addr} never became {modes:?} (now {:?})",
            mode(addr)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits until the member at `addr` no longer serves clients.
fn wait_not_serving(addr: &str) {
    let deadline = Instant::now() + GUARD;
    while mode(addr).is_some() {
        assert!(Instant::now() < deadline, "{addr} still serves");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `/zookeeper/config` as one member shows it.
async fn config_of(addr: &str) -> String {
    let (data, _) = connect(addr)
        .await
        .get_data("/zookeeper/config")
        .await
        .expect("read /zookeeper/config");
    String::from_utf8_lossy(&data).into_owned()
}

/// Creates children of `/load` on `connect_string` until stopped; the paths it
/// got an answer for are in `acked`.
struct Writers {
    acked: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Writers {
    async fn start(connect_string: &str, count: usize) -> Writers {
        let open = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
        match connect(connect_string)
            .await
            .create("/load", b"", &open)
            .await
        {
            Ok(_) | Err(zk::Error::NodeExists) => {}
            Err(e) => panic!("create /load: {e}"),
        }
        let acked = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let tasks = (0..count)
            .map(|w| {
                let (acked, stop) = (acked.clone(), stop.clone());
                let connect_string = connect_string.to_string();
                tokio::spawn(async move {
                    let open = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
                    let mut client = connect(&connect_string).await;
                    let mut n = 0;
                    while !stop.load(Ordering::SeqCst) && n < 1_000_000 {
                        let path = format!("/load/w{w}-{n}");
                        n += 1;
                        match client.create(&path, b"", &open).await {
                            Ok(_) => acked.lock().unwrap().push(path),
                            Err(e @ (zk::Error::NodeExists | zk::Error::NoNode)) => {
                                panic!("writer {w}: {path}: {e}")
                            }
                            Err(zk::Error::SessionExpired) | Err(zk::Error::ClientClosed) => {
                                client = connect(&connect_string).await
                            }
                            // Outcome unknown (a connection lost mid-request): not counted.
                            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
                        }
                    }
                })
            })
            .collect();
        Writers { acked, stop, tasks }
    }

    /// Waits until `more` further writes were acknowledged.
    async fn wait_for_more(&self, more: usize) {
        let target = self.acked.lock().unwrap().len() + more;
        let deadline = tokio::time::Instant::now() + GUARD;
        while self.acked.lock().unwrap().len() < target {
            assert!(tokio::time::Instant::now() < deadline, "writes stalled");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn stop(self) -> Vec<String> {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.tasks {
            t.await.expect("writer panicked");
        }
        let acked = self.acked.lock().unwrap().clone();
        acked
    }
}

/// Every acknowledged create is on the member at `addr`.
async fn assert_all_present(addr: &str, acked: &[String]) {
    let client = connect(addr).await;
    let deadline = tokio::time::Instant::now() + GUARD;
    loop {
        let (children, _) = client.get_children("/load").await.expect("list /load");
        let present: HashSet<String> = children.into_iter().map(|c| format!("/load/{c}")).collect();
        let missing: Vec<&String> = acked.iter().filter(|p| !present.contains(*p)).collect();
        if missing.is_empty() {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} acknowledged creates missing on {addr}: {:?}",
            missing.len(),
            &missing[..missing.len().min(5)]
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn leader_of(slots: &[Slot]) -> usize {
    let deadline = Instant::now() + GUARD;
    loop {
        if let Some(i) = slots
            .iter()
            .position(|s| mode(&s.addr()).as_deref() == Some("leader"))
        {
            return i;
        }
        assert!(Instant::now() < deadline, "no leader");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_members_grow_to_five_and_back_while_a_writer_runs() {
    let slots: Vec<Slot> = (1..=5).map(Slot::new).collect();
    let (first, joiners) = slots.split_at(3);
    let mut members = start_all(first, &[]);
    let old = connect_string(first);
    let writers = Writers::start(&old, 2).await;
    writers.wait_for_more(100).await;

    // A joiner starts with the members it will have (ZooKeeper's procedure): it
    // cannot elect anyone until the ensemble takes it in.
    for s in joiners {
        members.push(start(s, &slots, &[]));
    }
    let before = config_of(&first[0].addr()).await;
    assert!(before.ends_with("version=0"), "{before}");
    let grown = reconfig(
        &old,
        &[
            "--add",
            &joiners[0].joining(),
            "--add",
            &joiners[1].joining(),
        ],
    );
    for s in joiners {
        assert!(grown.contains(&s.joining()), "{grown}");
    }
    for s in joiners {
        wait_mode(&s.addr(), &["follower"]);
    }
    writers.wait_for_more(100).await;
    let shown = config_of(&joiners[1].addr()).await;
    assert_eq!(shown.trim(), grown.trim(), "members disagree on the config");
    // `conf` lists the membership in force, as ZooKeeper's does.
    let conf = four_letter(first[0].addr().parse().unwrap(), "conf").unwrap();
    let version = grown.trim().lines().last().unwrap_or_default();
    assert!(
        conf.contains(&format!("server.{}=", joiners[1].id)) && conf.ends_with(version),
        "{conf}"
    );

    // A restarted member keeps what the reconfig made, whatever its zoo.cfg says.
    let leader = leader_of(&slots);
    let restarted = (0..3).find(|i| *i != leader).unwrap_or(0);
    members[restarted].kill9();
    members[restarted].restart_unready();
    wait_mode(&slots[restarted].addr(), &["follower", "leader"]);
    assert_eq!(
        config_of(&slots[restarted].addr()).await.trim(),
        grown.trim()
    );
    writers.wait_for_more(100).await;

    let shrunk = reconfig(&old, &["--remove", "4,5"]);
    for s in joiners {
        assert!(!shrunk.contains(&format!("server.{}=", s.id)), "{shrunk}");
        wait_not_serving(&s.addr());
    }
    writers.wait_for_more(100).await;
    let acked = writers.stop().await;
    for s in first {
        assert_all_present(&s.addr(), &acked).await;
        assert_eq!(config_of(&s.addr()).await.trim(), shrunk.trim());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_member_is_replaced_by_a_new_one_on_other_ports() {
    let slots: Vec<Slot> = (1..=4).map(Slot::new).collect();
    let mut members = start_all(&slots[..3], &[]);
    let everyone = connect_string(&slots[..3]);
    let writers = Writers::start(&everyone, 2).await;
    writers.wait_for_more(50).await;
    members.push(start(&slots[3], &slots, &[]));
    let out = reconfig(&everyone, &["--remove", "3", "--add", &slots[3].joining()]);
    assert!(
        out.contains(&slots[3].joining()) && !out.contains("server.3="),
        "{out}"
    );
    wait_mode(&slots[3].addr(), &["follower"]);
    wait_not_serving(&slots[2].addr());
    // The old member can go for good: the new one counts in its place.
    members[2].kill9();
    writers.wait_for_more(100).await;
    let acked = writers.stop().await;
    for s in [&slots[0], &slots[1], &slots[3]] {
        assert_all_present(&s.addr(), &acked).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_leader_removed_hands_over_and_writes_go_on() {
    let slots: Vec<Slot> = (1..=3).map(Slot::new).collect();
    let _members = start_all(&slots, &[]);
    let everyone = connect_string(&slots);
    let writers = Writers::start(&everyone, 2).await;
    writers.wait_for_more(50).await;
    let leader = leader_of(&slots);
    let out = reconfig(&everyone, &["--remove", &slots[leader].id.to_string()]);
    assert!(
        !out.contains(&format!("server.{}=", slots[leader].id)),
        "{out}"
    );
    wait_not_serving(&slots[leader].addr());
    let rest: Vec<&Slot> = (0..3).filter(|i| *i != leader).map(|i| &slots[i]).collect();
    let deadline = Instant::now() + GUARD;
    while !rest
        .iter()
        .any(|s| mode(&s.addr()).as_deref() == Some("leader"))
    {
        assert!(
            Instant::now() < deadline,
            "the two left never elected a leader"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    writers.wait_for_more(100).await;
    let acked = writers.stop().await;
    for s in rest {
        assert_all_present(&s.addr(), &acked).await;
    }
}

/// A ConnectRequest that asks for read-only, as kazoo's `read_only=True` sends it.
fn read_only_connect(session_id: i64) -> Vec<u8> {
    Writer::new()
        .int(0)
        .long(0)
        .int(10_000)
        .long(session_id)
        .buffer(&[0u8; 16])
        .boolean(true)
        .framed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_member_cut_off_serves_reads_read_only_then_rejoins() {
    let slots: Vec<Slot> = (1..=3).map(Slot::new).collect();
    let extra = [
        ("readonlymode.enabled", "true"),
        ("localSessionsEnabled", "true"),
        ("localSessionsUpgradingEnabled", "true"),
    ];
    let mut members = start_all(&slots, &extra);
    let everyone = connect_string(&slots);
    let open = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
    let client = connect(&everyone).await;
    client.create("/kept", b"before", &open).await.unwrap();
    // An ephemeral from a local session: the session is made global first.
    let eph = zk::CreateMode::Ephemeral.with_acls(zk::Acls::anyone_all());
    client.create("/mine", b"", &eph).await.unwrap();
    drop(client);

    let survivor = &slots[0];
    let addr = survivor.addr();
    // Every member has the write before two of them go.
    for s in &slots {
        let deadline = Instant::now() + GUARD;
        while connect(&s.addr()).await.get_data("/kept").await.is_err() {
            assert!(
                Instant::now() < deadline,
                "/kept never reached {}",
                s.addr()
            );
        }
    }
    members[1].kill9();
    members[2].kill9();
    wait_mode(&addr, &["read-only"]);
    assert_eq!(four_letter(addr.parse().unwrap(), "isro").unwrap(), "ro");

    // A client that did not ask for read-only is turned away without a word.
    let mut plain = wire::connect(addr.parse().unwrap()).unwrap();
    plain.write_all(&wire::connect_request().framed()).unwrap();
    assert_eq!(
        wire::wait_closed(&mut plain),
        wire::Closed::Yes {
            bytes_before_close: 0
        }
    );

    // A read-only client gets a local session, reads, and is refused writes.
    let mut ro = wire::connect(addr.parse().unwrap()).unwrap();
    ro.write_all(&read_only_connect(0)).unwrap();
    let hello = wire::read_frame(&mut ro).unwrap().expect("ConnectResponse");
    let mut r = Reader(&hello);
    let (_proto, timeout, session) = (r.int(), r.int(), r.long());
    assert!(timeout > 0 && session != 0);
    assert_eq!(hello.last(), Some(&1), "the response says read-only");
    ro.write_all(&wire::request(
        1,
        4,
        &Writer::new().string("/kept").boolean(false),
    ))
    .unwrap();
    let reply = wire::read_reply(&mut ro).unwrap();
    assert_eq!((reply.xid, reply.err), (1, 0));
    assert_eq!(
        Reader(&reply.body).buffer().as_deref(),
        Some(&b"before"[..])
    );
    let create = Writer::new().string("/new").buffer(b"").open_acl().int(0);
    ro.write_all(&wire::request(2, 1, &create)).unwrap();
    let reply = wire::read_reply(&mut ro).unwrap();
    assert_eq!((reply.xid, reply.err), (2, -119), "NOTREADONLY");
    ro.write_all(&wire::request(3, 9, &Writer::new().string("/")))
        .unwrap();
    assert_eq!(
        wire::read_reply(&mut ro).unwrap().err,
        -119,
        "sync is refused too"
    );

    // The quorum returns: the member leaves read-only mode, drops its read-only
    // clients, and takes writes again.
    members[1].restart_unready();
    members[2].restart_unready();
    wait_mode(&addr, &["leader", "follower"]);
    assert!(matches!(
        wire::wait_closed(&mut ro),
        wire::Closed::Yes { .. }
    ));
    assert_eq!(four_letter(addr.parse().unwrap(), "isro").unwrap(), "rw");
    let client = connect(&addr).await;
    client.create("/after", b"", &open).await.unwrap();
    assert_eq!(client.get_data("/kept").await.unwrap().0, b"before");
}

/// Runs `rookery reconfig` without asserting success: (exit ok, stdout+stderr).
fn try_reconfig(connect: &str, args: &[&str]) -> (bool, String) {
    let out = std::process::Command::new(rookery_bin())
        .args(["reconfig", "--connect", connect])
        .args(args)
        .output()
        .expect("run rookery reconfig");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reconfigs_that_cannot_be_done_are_refused_with_zookeepers_codes() {
    let slots: Vec<Slot> = (1..=5).map(Slot::new).collect();
    let mut members = start_all(&slots[..3], &[]);
    let everyone = connect_string(&slots[..3]);
    let before = config_of(&slots[0].addr()).await;
    let joining = slots[3].joining();
    // Without the super user: NoAuth, checked last (ZooKeeper's order).
    let (ok, out) = try_reconfig(&everyone, &["--add", &joining]);
    assert!(!ok && out.contains("no_auth (-102)"), "{out}");
    // A stale version wins over the missing right.
    let (ok, out) = try_reconfig(&everyone, &["--add", &joining, "--from-config", "7"]);
    assert!(!ok && out.contains("bad_version (-103)"), "{out}");
    // A joining entry without a client address.
    let (ok, out) = try_reconfig(
        &everyone,
        &["--auth", "super:test", "--add", "server.4=127.0.0.1:1:2"],
    );
    assert!(!ok && out.contains("bad_arguments (-8)"), "{out}");
    // Fewer than two voters would be left.
    let (ok, out) = try_reconfig(&everyone, &["--auth", "super:test", "--remove", "1,2"]);
    assert!(!ok && out.contains("bad_arguments (-8)"), "{out}");
    // With one voter down, two new voters that are not running would leave
    // fewer synced voters than a quorum of five.
    let leader = leader_of(&slots[..3]);
    let down = (0..3).find(|i| *i != leader).unwrap_or(0);
    members[down].kill9();
    let (ok, out) = try_reconfig(
        &slots[leader].addr(),
        &[
            "--auth",
            "super:test",
            "--add",
            &joining,
            "--add",
            &slots[4].joining(),
        ],
    );
    assert!(!ok && out.contains("new_config_no_quorum (-13)"), "{out}");
    // Nothing changed.
    assert_eq!(config_of(&slots[leader].addr()).await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn local_sessions_stay_on_their_member_and_close_without_a_txn() {
    let slots: Vec<Slot> = (1..=3).map(Slot::new).collect();
    let _members = start_all(&slots, &[("localSessionsEnabled", "true")]);
    let a: std::net::SocketAddr = slots[0].addr().parse().unwrap();
    let b: std::net::SocketAddr = slots[1].addr().parse().unwrap();
    let zxid_of = |addr: std::net::SocketAddr| {
        four_letter(addr, "srvr")
            .unwrap()
            .lines()
            .find_map(|l| l.strip_prefix("Zxid: ").map(str::to_string))
    };
    let before = zxid_of(a);
    let (mut s, hello) = wire::handshake(a).unwrap();
    assert!(hello.timeout > 0);
    // Opening the session wrote nothing to the log.
    assert_eq!(zxid_of(a), before);
    // It is unknown on another member: expired there (once that member has
    // asked the leader, by an ordered no-op through the log).
    let mut other = wire::connect(b).unwrap();
    let reconnect = Writer::new()
        .int(0)
        .long(0)
        .int(30_000)
        .long(hello.session_id)
        .buffer(hello.passwd.as_deref().unwrap_or(&[0; 16]))
        .boolean(false)
        .framed();
    other.write_all(&reconnect).unwrap();
    let reply = wire::read_frame(&mut other)
        .unwrap()
        .expect("a ConnectResponse");
    let mut r = Reader(&reply);
    let (_proto, timeout) = (r.int(), r.int());
    assert_eq!(
        timeout, 0,
        "a local session of another member is expired here"
    );
    // Closing it writes nothing either (once `a` has applied that no-op too).
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while zxid_of(a) != zxid_of(b) {
        assert!(
            std::time::Instant::now() < deadline,
            "a never caught up with b"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let before = zxid_of(a);
    s.write_all(&wire::request(1, -11, &Writer::new())).unwrap();
    let closed = wire::read_reply(&mut s).unwrap();
    assert_eq!((closed.xid, closed.err), (1, 0));
    assert_eq!(zxid_of(a), before);
}
