//! Hostile input on the member-to-member ports of a 3-member ensemble
//! (reliability.md §8.4 items 15-18): junk, oversized length prefixes, bad hellos,
//! connections claiming a member id that is not in the configuration or the id of
//! a live member, malformed votes, and forged ZAB messages.
//!
//! Rookery's members talk over one TCP link per direction on the quorum port
//! (`server.N=host:quorumPort:electionPort`; see server/src/net/quorum.rs). Every
//! frame is `u32 length | u32 crc32c(sequence number ++ payload) | payload`; the
//! first frame of a connection is the hello, `"RKQ1"` and the dialler's id as a
//! u64, and the frames after it carry a one-byte kind (0: a ZAB message) and a
//! ZAB message in server/src/zab/wire.rs's encoding. The election port is in the
//! configuration for ZooKeeper's sake and gets the same junk.
//!
//! Pass, for every case: the hostile connection is closed (by the member, or
//! because the real member it impersonated dialled again and replaced it), no
//! member exits, no member allocates for a length it was only told about, the
//! ensemble serves writes afterwards (with the same leader or after a clean
//! election), and every member ends with the same tree.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use rookery_tests::ensemble::Ensemble;
use rookery_tests::vm_rss_kib;
use rookery_tests::wire::{self, err, op, Closed, Writer};

/// Bounds every wait so that a hang fails the test (nothing asserts on time).
const GUARD: Duration = Duration::from_secs(60);
/// Growth of a member's RSS allowed over the whole test: far below the 1 GiB the
/// oversized prefixes claim.
const RSS_SLACK_KIB: u64 = 128 * 1024;

/// crc32c (Castagnoli, reflected), bit by bit: the frames here are small.
fn crc32c(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0x82f6_3b78
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// Frame number `seq` of a member link.
fn frame(seq: u64, payload: &[u8]) -> Vec<u8> {
    let mut checked = seq.to_be_bytes().to_vec();
    checked.extend_from_slice(payload);
    let mut out = (payload.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(&crc32c(&checked).to_be_bytes());
    out.extend_from_slice(payload);
    out
}

fn hello_payload(magic: &[u8; 4], id: u64) -> Vec<u8> {
    let mut p = magic.to_vec();
    p.extend_from_slice(&id.to_be_bytes());
    p
}

/// ZAB messages in server/src/zab/wire.rs's encoding.
mod zab {
    use rookery_tests::wire::Writer;

    pub const LOOKING: u8 = 0;
    pub const FOLLOWING: u8 = 1;
    pub const LEADING: u8 = 2;

    fn tagged(tag: u8, body: Writer) -> Vec<u8> {
        let mut out = vec![tag];
        out.extend_from_slice(body.bytes());
        out
    }
    pub fn notification(leader: u64, zxid: i64, epoch: u32, round: u64, state: u8) -> Vec<u8> {
        let mut m = tagged(
            1,
            Writer::new()
                .long(leader as i64)
                .long(zxid)
                .int(epoch as i32)
                .long(round as i64),
        );
        m.push(state);
        m
    }
    pub fn follower_info(accepted_epoch: u32, last_zxid: i64) -> Vec<u8> {
        tagged(2, Writer::new().int(accepted_epoch as i32).long(last_zxid))
    }
    pub fn leader_info(epoch: u32) -> Vec<u8> {
        tagged(3, Writer::new().int(epoch as i32))
    }
    pub fn ack_epoch(current_epoch: u32, last_zxid: i64) -> Vec<u8> {
        tagged(4, Writer::new().int(current_epoch as i32).long(last_zxid))
    }
    /// A DIFF sync (NEWLEADER) with the given entries.
    pub fn sync_diff(entries: &[(i64, &[u8])], epoch: u32) -> Vec<u8> {
        let mut w = Writer::new().int(entries.len() as i32);
        for (zxid, data) in entries {
            w = w.long(*zxid).buffer(data);
        }
        let mut m = vec![5, 0];
        m.extend_from_slice(w.int(epoch as i32).bytes());
        m
    }
    pub fn ack_new_leader(epoch: u32) -> Vec<u8> {
        tagged(6, Writer::new().int(epoch as i32))
    }
    pub fn up_to_date(commit: i64) -> Vec<u8> {
        tagged(7, Writer::new().long(commit))
    }
    pub fn proposal(zxid: i64, data: &[u8]) -> Vec<u8> {
        tagged(8, Writer::new().long(zxid).buffer(data))
    }
    pub fn ack(zxid: i64) -> Vec<u8> {
        tagged(9, Writer::new().long(zxid))
    }
    pub fn commit(zxid: i64) -> Vec<u8> {
        tagged(10, Writer::new().long(zxid))
    }
}

/// A ZAB message as a member-link payload.
fn zab_payload(msg: &[u8]) -> Vec<u8> {
    let mut p = vec![0u8];
    p.extend_from_slice(msg);
    p
}

/// Member ids and their quorum and election addresses, from a member's zoo.cfg.
fn peer_ports(ensemble: &Ensemble) -> BTreeMap<u64, (SocketAddr, SocketAddr)> {
    let cfg = std::fs::read_to_string(ensemble.members[0].config_path()).expect("zoo.cfg");
    let mut out = BTreeMap::new();
    for line in cfg.lines() {
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let Some(id) = key.strip_prefix("server.") else {
            continue;
        };
        let parts: Vec<&str> = value.split(':').collect();
        let host: Ipv4Addr = parts[0].parse().expect("host");
        let port = |s: &str| s.parse::<u16>().expect("port");
        out.insert(
            id.parse().expect("server id"),
            (
                SocketAddr::from((host, port(parts[1]))),
                SocketAddr::from((host, port(parts[2]))),
            ),
        );
    }
    assert_eq!(out.len(), ensemble.members.len(), "server lines in {cfg}");
    out
}

/// Sends `bytes` (then EOF if `eof`) and waits until the member closes the
/// connection. One that could not even be opened counts as closed (nothing may
/// listen on the election port).
fn send_expect_closed(addr: SocketAddr, bytes: &[u8], eof: bool, case: &str) {
    let mut s = match TcpStream::connect_timeout(&addr, Duration::from_secs(5)) {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => return,
        Err(e) => panic!("{case}: connecting to {addr}: {e}"),
    };
    s.set_read_timeout(Some(GUARD)).unwrap();
    s.set_write_timeout(Some(GUARD)).unwrap();
    wire::write_lenient(&mut s, bytes);
    if eof {
        let _ = s.shutdown(std::net::Shutdown::Write);
    }
    match wire::wait_closed(&mut s) {
        Closed::Yes { .. } => {}
        other => panic!("{case} on {addr}: connection still open: {other:?}"),
    }
}

/// A connection to a member's quorum port that has sent a valid hello for `id`.
struct Impostor {
    stream: TcpStream,
    seq: u64,
}

impl Impostor {
    fn dial(quorum: SocketAddr, id: u64) -> Impostor {
        let mut stream =
            TcpStream::connect_timeout(&quorum, Duration::from_secs(5)).expect("dial quorum port");
        stream.set_read_timeout(Some(GUARD)).unwrap();
        stream.set_write_timeout(Some(GUARD)).unwrap();
        stream
            .write_all(&frame(0, &hello_payload(b"RKQ1", id)))
            .expect("hello");
        Impostor { stream, seq: 0 }
    }

    /// Sends a framed payload; false once the member has closed the connection.
    fn send(&mut self, payload: &[u8]) -> bool {
        self.seq += 1;
        let f = frame(self.seq, payload);
        self.stream.write_all(&f).is_ok() && self.stream.flush().is_ok()
    }

    fn send_zab(&mut self, msg: &[u8]) -> bool {
        self.send(&zab_payload(msg))
    }

    /// The connection ends: the member closed it (after a bad frame), or the member
    /// it claims to be dialled again and replaced it. Members never write on it.
    fn expect_closed(mut self, case: &str) {
        match wire::wait_closed(&mut self.stream) {
            Closed::Yes {
                bytes_before_close: 0,
            } => {}
            other => panic!("{case}: {other:?}"),
        }
    }
}

fn rss(ensemble: &Ensemble) -> Vec<u64> {
    ensemble
        .members
        .iter()
        .map(|m| vm_rss_kib(m.pid().expect("member runs")).expect("VmRSS"))
        .collect()
}

/// The zxid a member reports in `srvr`.
fn zxid_of(ensemble: &Ensemble, index: usize) -> i64 {
    let text = ensemble.zxid(index).expect("srvr Zxid");
    i64::from_str_radix(text.trim_start_matches("0x"), 16).expect("hex zxid")
}

/// Waits until one member leads, every member serves, and a write through the
/// leader is applied everywhere; returns the leader's index.
fn settled(ensemble: &mut Ensemble, case: &str) -> usize {
    let deadline = Instant::now() + GUARD;
    for (i, m) in ensemble.members.iter_mut().enumerate() {
        assert!(m.is_running(), "{case}: member {} exited", i + 1);
    }
    let leader = loop {
        let modes: Vec<Option<String>> = (0..ensemble.members.len())
            .map(|i| ensemble.mode(i))
            .collect();
        let leaders = modes
            .iter()
            .filter(|m| m.as_deref() == Some("leader"))
            .count();
        let followers = modes
            .iter()
            .filter(|m| m.as_deref() == Some("follower"))
            .count();
        if leaders == 1 && followers == modes.len() - 1 {
            break modes
                .iter()
                .position(|m| m.as_deref() == Some("leader"))
                .unwrap();
        }
        assert!(
            Instant::now() < deadline,
            "{case}: the ensemble did not settle: {modes:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    // A write through the leader, retried while a member may still be rejoining.
    let path = format!(
        "/after-{}",
        case.replace(|c: char| !c.is_alphanumeric(), "-")
    );
    loop {
        if let Ok((mut s, _)) = wire::handshake(ensemble.members[leader].addr()) {
            let body = Writer::new().string(&path).buffer(b"ok").open_acl().int(0);
            if s.write_all(&wire::request(1, op::CREATE, &body)).is_ok() {
                if let Ok(r) = wire::read_reply(&mut s) {
                    assert_eq!(r.err, err::OK, "{case}: create {path}: {r:?}");
                    break;
                }
            }
        }
        assert!(Instant::now() < deadline, "{case}: no write went through");
        std::thread::sleep(Duration::from_millis(100));
    }
    if let Err(e) = ensemble.same_digest() {
        panic!("{case}: {e}");
    }
    leader
}

/// xorshift64*, for reproducible junk.
struct Junk(u64);

impl Junk {
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n)
            .map(|_| {
                self.0 ^= self.0 >> 12;
                self.0 ^= self.0 << 25;
                self.0 ^= self.0 >> 27;
                (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 56) as u8
            })
            .collect()
    }
}

/// The start of a TLS 1.2 ClientHello record.
fn tls_client_hello() -> Vec<u8> {
    let mut hello = vec![
        0x16, 0x03, 0x01, 0x00, 0xa5, 0x01, 0x00, 0x00, 0xa1, 0x03, 0x03,
    ];
    hello.extend_from_slice(&[0x5a; 32]); // random
    hello.extend_from_slice(&[0x00, 0x00, 0x04, 0xc0, 0x2f, 0x00, 0xff, 0x01, 0x00]);
    hello.resize(170, 0);
    hello
}

/// ZooKeeper's own first message on its election port: protocol version -65536,
/// then sid, then the length of the address and the address.
fn zookeeper_election_hello(sid: u64) -> Vec<u8> {
    let addr = b"127.0.0.1:3888";
    Writer::new()
        .long(-65536)
        .long(sid as i64)
        .int(addr.len() as i32)
        .0
        .into_iter()
        .chain(addr.iter().copied())
        .collect()
}

/// Junk, bad hellos and strangers on every member's quorum and election ports:
/// each connection is closed, nothing else changes, not even the leader.
#[test]
fn junk_and_strangers_on_member_ports_are_closed() {
    let mut ensemble = Ensemble::start(3);
    let leader = settled(&mut ensemble, "start");
    let ports = peer_ports(&ensemble);
    let baseline = rss(&ensemble);
    let mut junk = Junk(0x0bad_5eed_d00d_f00d);

    for (&id, &(quorum, election)) in &ports {
        let other = *ports.keys().find(|o| **o != id).unwrap();
        let hello = frame(0, &hello_payload(b"RKQ1", other));
        let mut bad_checksum = hello.clone();
        bad_checksum[7] ^= 0x01;
        let mut gib = (1u32 << 30).to_be_bytes().to_vec();
        gib.extend_from_slice(&[0u8; 20]);
        let mut max = u32::MAX.to_be_bytes().to_vec();
        max.extend_from_slice(&[0xffu8; 20]);
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("a 1 GiB length prefix", gib),
            ("a u32::MAX length prefix", max),
            ("random bytes", junk.bytes(4096)),
            ("a TLS ClientHello", tls_client_hello()),
            (
                "an HTTP request",
                b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
            ),
            (
                "ZooKeeper's election hello",
                zookeeper_election_hello(other),
            ),
            (
                "a hello with another protocol version",
                frame(0, &hello_payload(b"RKQ2", other)),
            ),
            ("a hello with a bad checksum", bad_checksum),
            (
                "a hello numbered 1, not 0",
                frame(1, &hello_payload(b"RKQ1", other)),
            ),
            ("a hello of 8 bytes", frame(0, b"RKQ1\0\0\0\x02")),
            ("a hello from id 99, not in the config", {
                frame(0, &hello_payload(b"RKQ1", 99))
            }),
            ("a hello from id 0", frame(0, &hello_payload(b"RKQ1", 0))),
            ("a hello claiming the member's own id", {
                frame(0, &hello_payload(b"RKQ1", id))
            }),
            (
                "a stranger's hello, then frames",
                [
                    frame(0, &hello_payload(b"RKQ1", 7)),
                    frame(1, &zab_payload(&zab::leader_info(999))),
                ]
                .concat(),
            ),
        ];
        for (case, bytes) in &cases {
            // The member closes these by itself.
            send_expect_closed(quorum, bytes, false, case);
            send_expect_closed(election, bytes, false, case);
        }
        // A hello cut short by EOF, and one that stalls half-way (closed after the
        // hello timeout).
        send_expect_closed(quorum, &hello[..hello.len() - 3], true, "a truncated hello");
        send_expect_closed(quorum, b"ruok", true, "a four-letter word");
        send_expect_closed(quorum, &hello[..5], false, "a stalled hello");
    }

    let after = rss(&ensemble);
    for (i, (b, a)) in baseline.iter().zip(&after).enumerate() {
        assert!(
            *a < b + RSS_SLACK_KIB,
            "member {}: RSS {b} KiB -> {a} KiB",
            i + 1
        );
    }
    assert_eq!(
        settled(&mut ensemble, "after junk"),
        leader,
        "leader changed"
    );
}

/// Connections claiming the id of a live member, with malformed votes and forged
/// ZAB messages behind a valid hello. A claim replaces the real member's link
/// (as a reconnect must), so the member it was taken from sees the link lost; the
/// real member dials again and replaces the impostor. Nothing forged may be logged
/// or applied, and the ensemble settles with every member on the same tree.
#[test]
fn impostors_of_live_members_change_nothing() {
    let mut ensemble = Ensemble::start(3);
    let leader = settled(&mut ensemble, "start");
    let ports = peer_ports(&ensemble);
    let baseline = rss(&ensemble);
    let id = |index: usize| index as u64 + 1;
    let quorum = |index: usize| ports[&id(index)].0;
    let f1 = (leader + 1) % 3;

    // To the leader, as follower f1: a length prefix of 1 GiB after the hello. The
    // member refuses it before allocating and closes the link.
    let mut imp = Impostor::dial(quorum(leader), id(f1));
    let mut gib = (1u32 << 30).to_be_bytes().to_vec();
    gib.extend_from_slice(&[0u8; 64]);
    let _ = imp.stream.write_all(&gib);
    imp.expect_closed("a 1 GiB frame from an impostor");
    let leader = settled(&mut ensemble, "1 GiB frame");

    // To the leader, as f1: a frame with a bad checksum.
    let f1 = (leader + 1) % 3;
    let mut imp = Impostor::dial(quorum(leader), id(f1));
    let mut bad = frame(1, &zab_payload(&zab::ack(zxid_of(&ensemble, leader))));
    let n = bad.len();
    bad[n - 1] ^= 0x80;
    let _ = imp.stream.write_all(&bad);
    imp.expect_closed("a bad checksum from an impostor");
    let leader = settled(&mut ensemble, "bad checksum");

    // To the leader, as f1: malformed votes (cut short; with a ZooKeeper-style
    // config length of -1 or i32::MAX appended; an unknown state) and messages a
    // follower never sends or that name the future: ACK and COMMIT of zxids never
    // proposed, LEADERINFO, NEWLEADER and UPTODATE to a leader. Then FOLLOWERINFO
    // claiming an epoch far ahead, which a leader must answer by starting a new one.
    let f1 = (leader + 1) % 3;
    let last = zxid_of(&ensemble, leader);
    let epoch = (last >> 32) as u32;
    let vote = zab::notification(id(f1), last, epoch, 1_000_000, zab::LOOKING);
    let mut imp = Impostor::dial(quorum(leader), id(f1));
    for cut in [1, 9, 17, 21, vote.len() - 1] {
        imp.send_zab(&vote[..cut]);
    }
    for config_len in [-1i32, i32::MAX, i32::MIN] {
        let mut v = vote.clone();
        v.extend_from_slice(&config_len.to_be_bytes());
        v.extend_from_slice(b"server.1=127.0.0.1:1:2");
        imp.send_zab(&v);
    }
    let mut unknown_state = vote.clone();
    *unknown_state.last_mut().unwrap() = 9;
    imp.send_zab(&unknown_state);
    imp.send(&[]);
    imp.send(&[7, 1, 2, 3]);
    imp.send_zab(&[200]);
    imp.send_zab(&zab::ack(last + (1 << 20)));
    imp.send_zab(&zab::ack(i64::MAX));
    imp.send_zab(&zab::commit(last + 1000));
    imp.send_zab(&zab::leader_info(epoch + 1));
    imp.send_zab(&zab::sync_diff(&[(last + 1, b"forged")], epoch + 1));
    imp.send_zab(&zab::up_to_date(last + 1000));
    imp.send_zab(&zab::follower_info(epoch + 1000, last + (1000 << 32)));
    imp.expect_closed("an impostor of a follower");
    let leader = settled(&mut ensemble, "impostor of a follower");

    // To a follower, as the leader: proposals of a stale and of a future epoch,
    // a commit of a zxid never proposed, UPTODATE before NEWLEADER, LEADERINFO with
    // an epoch older than the accepted one, and a NEWLEADER with a forged entry.
    let f1 = (leader + 1) % 3;
    let last = zxid_of(&ensemble, leader);
    let epoch = (last >> 32) as u32;
    let future = epoch + 5;
    let mut imp = Impostor::dial(quorum(f1), id(leader));
    imp.send_zab(&zab::proposal(((epoch as i64 - 1) << 32) | 1, b"stale"));
    imp.send_zab(&zab::proposal(last + 1 - (1 << 32), b"stale"));
    imp.send_zab(&zab::proposal((future as i64) << 32 | 1, b"future"));
    imp.send_zab(&zab::commit((future as i64) << 32 | 1));
    imp.send_zab(&zab::commit(last + 1000));
    imp.send_zab(&zab::up_to_date((future as i64) << 32 | 1));
    imp.send_zab(&zab::leader_info(epoch.saturating_sub(1)));
    imp.send_zab(&zab::sync_diff(
        &[((future as i64) << 32 | 2, b"forged")],
        future,
    ));
    imp.send_zab(&zab::ack_epoch(future, (future as i64) << 32));
    imp.send_zab(&zab::ack_new_leader(future));
    imp.expect_closed("an impostor of the leader");
    settled(&mut ensemble, "impostor of the leader");
    for i in 0..3 {
        let z = zxid_of(&ensemble, i);
        assert!(
            (z >> 32) < future as i64,
            "member {} is at zxid 0x{z:x}, in the forged epoch {future}",
            i + 1
        );
    }

    // To a follower, as the other follower: a proposal for the next zxid, which
    // only the leader may send.
    let leader = settled(&mut ensemble, "before a follower's proposal");
    let (f1, f2) = ((leader + 1) % 3, (leader + 2) % 3);
    let last = zxid_of(&ensemble, leader);
    let epoch = (last >> 32) as u32;
    let mut imp = Impostor::dial(quorum(f1), id(f2));
    imp.send_zab(&zab::proposal(last + 1, b"not from the leader"));
    imp.send_zab(&zab::commit(last + 1));
    imp.send_zab(&zab::notification(
        id(f2),
        i64::MAX,
        u32::MAX,
        u64::MAX,
        zab::LEADING,
    ));
    imp.send_zab(&zab::notification(id(f2), last, epoch, 1, zab::FOLLOWING));
    imp.expect_closed("an impostor of a follower, to a follower");
    settled(&mut ensemble, "follower to follower");

    let after = rss(&ensemble);
    for (i, (b, a)) in baseline.iter().zip(&after).enumerate() {
        assert!(
            *a < b + RSS_SLACK_KIB,
            "member {}: RSS {b} KiB -> {a} KiB",
            i + 1
        );
    }
}
