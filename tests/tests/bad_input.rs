//! Malformed and hostile input on the client port: the offending connection is
//! closed (or gets an error reply) and other clients never notice.

use std::io::Write;
use std::net::Shutdown;

use rookery_tests::wire::{self, err, op, Closed, Writer};
use rookery_tests::Member;
use zookeeper_client as zk;

/// jute.maxbuffer's default: 0xfffff.
const MAX_BUFFER: i32 = 1_048_575;

/// A tiny deterministic generator for garbage bytes (xorshift64*).
struct Garbage(u64);

impl Garbage {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// A client session that stays connected through every case below.
struct Bystander {
    rt: tokio::runtime::Runtime,
    client: zk::Client,
    session: zk::SessionId,
}

impl Bystander {
    fn new(member: &Member) -> Bystander {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let client = rt
            .block_on(zk::Client::connect(&member.connect_string()))
            .expect("bystander connects");
        let session = client.session_id();
        Bystander {
            rt,
            client,
            session,
        }
    }

    /// create + get on the bystander's own session, which must be the same one.
    fn still_works(&self, case: &str) {
        let path = format!("/bystander-{case}");
        let data = format!("after {case}");
        let options = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
        self.rt.block_on(async {
            self.client
                .create(&path, data.as_bytes(), &options)
                .await
                .unwrap_or_else(|e| panic!("bystander create after {case}: {e}"));
            let (got, stat) = self
                .client
                .get_data(&path)
                .await
                .unwrap_or_else(|e| panic!("bystander get after {case}: {e}"));
            assert_eq!(got, data.as_bytes(), "bystander data after {case}");
            assert_eq!(stat.version, 0);
        });
        assert_eq!(
            self.client.session_id(),
            self.session,
            "bystander session changed after {case}"
        );
        assert_eq!(
            self.client.state(),
            zk::SessionState::SyncConnected,
            "after {case}"
        );
    }
}

fn assert_closed(stream: &mut std::net::TcpStream, case: &str) {
    match wire::wait_closed(stream) {
        Closed::Yes { .. } => {}
        Closed::StillOpen { bytes } => panic!(
            "{case}: connection still open after {:?} ({bytes} bytes received)",
            wire::READ_GUARD
        ),
    }
}

#[test]
fn bad_input() {
    let member = Member::start();
    let addr = member.addr();
    let bystander = Bystander::new(&member);
    bystander.still_works("start");

    // (i) A first frame longer than jute.maxbuffer: closed without a reply.
    {
        let mut s = wire::connect(addr).unwrap();
        wire::write_lenient(&mut s, &(MAX_BUFFER + 1).to_be_bytes());
        wire::write_lenient(&mut s, &[0u8; 1024]);
        match wire::wait_closed(&mut s) {
            Closed::Yes { bytes_before_close } => {
                assert_eq!(bytes_before_close, 0, "oversized frame got a reply")
            }
            other => panic!("oversized first frame: {other:?}"),
        }
    }
    bystander.still_works("oversized-first-frame");

    // (i') The same after a valid handshake.
    {
        let (mut s, _) = wire::handshake(addr).unwrap();
        wire::write_lenient(&mut s, &(MAX_BUFFER + 1).to_be_bytes());
        wire::write_lenient(&mut s, &[0u8; 1024]);
        assert_closed(&mut s, "oversized frame in a session");
    }
    bystander.still_works("oversized-session-frame");

    // A frame of 2 MiB that is actually sent in full (kazoo test_create_large_value).
    {
        let (mut s, _) = wire::handshake(addr).unwrap();
        let body = Writer::new()
            .string("/huge")
            .buffer(&vec![b'x'; 2 << 20])
            .open_acl()
            .int(0);
        wire::write_lenient(&mut s, &wire::request(1, op::CREATE, &body));
        assert_closed(&mut s, "2 MiB create");
    }
    bystander.still_works("huge-create");

    // (ii) A negative length: closed.
    for len in [-2i32, i32::MIN] {
        let mut s = wire::connect(addr).unwrap();
        wire::write_lenient(&mut s, &len.to_be_bytes());
        wire::write_lenient(&mut s, &[0u8; 64]);
        assert_closed(&mut s, &format!("negative length {len}"));
    }
    bystander.still_works("negative-length");

    // (iii) A truncated frame, then EOF: the server cleans up.
    {
        let mut s = wire::connect(addr).unwrap();
        let connect = wire::connect_request().framed();
        s.write_all(&connect[..20]).unwrap();
        s.shutdown(Shutdown::Write).unwrap();
        assert_closed(&mut s, "truncated ConnectRequest");
    }
    {
        let (mut s, _) = wire::handshake(addr).unwrap();
        let frame = wire::request(7, op::GET_DATA, &Writer::new().string("/").boolean(false));
        s.write_all(&frame[..frame.len() - 3]).unwrap();
        s.shutdown(Shutdown::Write).unwrap();
        assert_closed(&mut s, "truncated getData");
    }
    bystander.still_works("truncated");

    // (iv) Garbage ConnectRequest bodies of plausible length: closed (ZooKeeper may
    // first answer with an expired-session ConnectResponse; it never opens a session).
    let mut garbage = Garbage(0x5eed_1234_abcd_ef01);
    for round in 0..8 {
        let len = 29 + (garbage.next() % 36) as usize; // 29..=64 bytes, around 45
        let body = garbage.bytes(len);
        let mut s = wire::connect(addr).unwrap();
        wire::write_lenient(&mut s, &wire::frame(&body));
        assert_closed(
            &mut s,
            &format!("garbage ConnectRequest #{round} ({len} bytes)"),
        );
    }
    bystander.still_works("garbage-connect");

    // (v) After a valid handshake, an unknown opcode gets UNIMPLEMENTED with the same
    // xid. (ZooKeeper then closes the connection.)
    {
        let (mut s, response) = wire::handshake(addr).unwrap();
        assert_eq!(
            response.frame_len, 37,
            "ConnectResponse with readOnly byte: {response:?}"
        );
        assert_eq!(response.protocol_version, 0);
        assert!(response.timeout > 0, "{response:?}");
        assert_ne!(response.session_id, 0, "{response:?}");
        assert_eq!(
            response.passwd.as_ref().map(Vec::len),
            Some(16),
            "{response:?}"
        );
        s.write_all(&wire::request(41, 999, &Writer::new()))
            .unwrap();
        let reply = wire::read_reply(&mut s).expect("reply to opcode 999");
        assert_eq!(reply.xid, 41, "{reply:?}");
        assert_eq!(reply.err, err::UNIMPLEMENTED, "{reply:?}");
        assert!(reply.body.is_empty(), "error reply has a body: {reply:?}");
    }
    bystander.still_works("unknown-opcode");

    // (vi) create with a relative path: BADARGUMENTS, and the connection goes on.
    {
        let (mut s, _) = wire::handshake(addr).unwrap();
        let body = Writer::new().string("bad").buffer(b"x").open_acl().int(0);
        s.write_all(&wire::request(5, op::CREATE, &body)).unwrap();
        let reply = wire::read_reply(&mut s).expect("reply to create \"bad\"");
        assert_eq!((reply.xid, reply.err), (5, err::BAD_ARGUMENTS), "{reply:?}");
        assert!(reply.body.is_empty(), "{reply:?}");

        // Same connection: exists("/") answers with a Stat.
        s.write_all(&wire::request(
            6,
            op::EXISTS,
            &Writer::new().string("/").boolean(false),
        ))
        .unwrap();
        let reply = wire::read_reply(&mut s).expect("reply to exists /");
        assert_eq!((reply.xid, reply.err), (6, err::OK), "{reply:?}");
        assert_eq!(reply.body.len(), 68, "Stat is 68 bytes: {reply:?}");

        // exists on a missing node: -101, no body.
        s.write_all(&wire::request(
            7,
            op::EXISTS,
            &Writer::new().string("/nope").boolean(false),
        ))
        .unwrap();
        let reply = wire::read_reply(&mut s).expect("reply to exists /nope");
        assert_eq!((reply.xid, reply.err), (7, err::NO_NODE), "{reply:?}");

        // (vii) setData with a wrong version, by hand: BADVERSION.
        let body = Writer::new().string("/bystander-start").buffer(b"y").int(7);
        s.write_all(&wire::request(8, op::SET_DATA, &body)).unwrap();
        let reply = wire::read_reply(&mut s).expect("reply to setData");
        assert_eq!((reply.xid, reply.err), (8, err::BAD_VERSION), "{reply:?}");
    }
    bystander.still_works("bad-path");

    // (vii) setData with a wrong version through a real client.
    bystander.rt.block_on(async {
        let client = zk::Client::connect(&member.connect_string()).await.unwrap();
        let options = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
        client.create("/versioned", b"v0", &options).await.unwrap();
        let stat = client.set_data("/versioned", b"v1", Some(0)).await.unwrap();
        assert_eq!(stat.version, 1);
        match client.set_data("/versioned", b"v2", Some(0)).await {
            Err(zk::Error::BadVersion) => {}
            other => panic!("setData with a stale version: {other:?}"),
        }
        match client.delete("/versioned", Some(5)).await {
            Err(zk::Error::BadVersion) => {}
            other => panic!("delete with a wrong version: {other:?}"),
        }
        let (data, stat) = client.get_data("/versioned").await.unwrap();
        assert_eq!((data.as_slice(), stat.version), (&b"v1"[..], 1));
    });
    bystander.still_works("bad-version");
}
