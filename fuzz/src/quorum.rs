//! `quorum_message`: what arrives on a member's quorum port from a peer, taken
//! the way the server takes it: `net::quorum::read_frame` for the hello and the
//! checksummed frames, then the core's demultiplexing of a frame's first byte
//! (a whole ZAB message, a part of one, or a SNAP chunk; mirrored here from
//! `server/src/core/links.rs`, which is private), `zab::wire::decode` for the
//! ZAB message, `txn::Logged::decode` for the log entries a PROPOSAL or a sync
//! carries, and `tree::snapshot::Assembler` for the chunks and the tree built
//! from them.
//!
//! The first input byte picks the form of the rest: even, the raw byte stream
//! as a socket would deliver it (framing, checksums, the hello); odd, a hello
//! id and a list of payloads that this target frames with valid checksums, so
//! the fuzzer spends its time in the decoders behind the framing.
//!
//! Checked: nothing panics; no frame longer than the limit is read; every ZAB
//! message that decodes re-encodes to exactly its bytes (one encoding per
//! message); every log entry that decodes survives its own encoding; a tree
//! rebuilt from chunks is internally consistent.

use crate::Input;
use rookery_server::net::quorum::{
    frame_header, hello_payload, parse_hello, read_frame, HELLO_LEN,
};
use rookery_server::tree::snapshot::Assembler;
use rookery_server::tree::DataTree;
use rookery_server::txn::Logged;
use rookery_server::zab::{wire, Entry, Msg, SyncKind};
use std::future::Future;
use std::task::{Context, Poll, Waker};

/// The frame limit here. The server's is `4 × jute.maxbuffer + 64 KiB`; a
/// smaller one takes the same code path with smaller inputs.
pub const MAX_FRAME: usize = 64 * 1024;
/// The limit on a ZAB message sent in parts (the server allows 1 GiB).
pub const PARTS_LIMIT: usize = 1 << 20;

/// Frame tags of the core's member links (`core/links.rs`).
pub const FRAME_ZAB: u8 = 0;
pub const FRAME_SNAPSHOT_CHUNK: u8 = 1;
pub const FRAME_ZAB_PART: u8 = 2;

/// Bytes the harness may hold besides what the input accounts for.
const FIXED_BUDGET: usize = (1 << 20) + MAX_FRAME;

pub fn run(data: &[u8]) {
    crate::within_budget(data.len(), FIXED_BUDGET, || run_unbudgeted(data));
}

fn run_unbudgeted(data: &[u8]) {
    let mut input = Input::new(data);
    let stream = if input.u8() & 1 == 0 {
        input.rest().to_vec()
    } else {
        let id = input.u8() as u64;
        let mut payloads = Vec::new();
        while !input.is_empty() {
            let len = input.u16() as usize;
            payloads.push(input.bytes(len).to_vec());
        }
        link_stream(id, &payloads)
    };
    read_link(&stream);
}

/// The bytes a peer with id `id` writes on its link: the hello, then each payload.
pub fn link_stream(id: u64, payloads: &[Vec<u8>]) -> Vec<u8> {
    let hello = hello_payload(id);
    let mut out = frame_header(0, &hello).to_vec();
    out.extend_from_slice(&hello);
    for (i, p) in payloads.iter().enumerate() {
        out.extend_from_slice(&frame_header(i as u64 + 1, p));
        out.extend_from_slice(p);
    }
    out
}

/// Polls a future over an in-memory reader, which never has to wait.
fn now<F: Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("reading from a byte slice never waits"),
    }
}

fn read_link(stream: &[u8]) {
    let mut rd: &[u8] = stream;
    match now(read_frame(&mut rd, HELLO_LEN, 0)) {
        Ok(Some(hello)) => {
            assert!(hello.len() <= HELLO_LEN);
            if parse_hello(&hello).is_none() {
                return;
            }
        }
        Ok(None) => return,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    }
    let mut core = CoreSide::default();
    let mut seq = 0u64;
    loop {
        seq += 1;
        match now(read_frame(&mut rd, MAX_FRAME, seq)) {
            Ok(Some(payload)) => {
                assert!(
                    payload.len() <= MAX_FRAME,
                    "a frame over the limit was read"
                );
                core.on_frame(&payload);
            }
            Ok(None) => return,
            Err(e) => {
                let _ = e.to_string();
                return;
            }
        }
    }
}

/// The receiving half of the core's member links, for one peer.
#[derive(Default)]
struct CoreSide {
    parts: Vec<u8>,
    assembler: Assembler,
}

impl CoreSide {
    fn on_frame(&mut self, payload: &[u8]) {
        let Some((&tag, body)) = payload.split_first() else {
            return;
        };
        match tag {
            FRAME_ZAB_PART => {
                if self.parts.len() + body.len() > PARTS_LIMIT {
                    self.parts.clear();
                    return;
                }
                self.parts.extend_from_slice(body);
            }
            FRAME_ZAB => {
                let mut whole = std::mem::take(&mut self.parts);
                whole.extend_from_slice(body);
                self.on_zab(&whole);
            }
            FRAME_SNAPSHOT_CHUNK => {
                // A bad chunk drops the stream, as the core does.
                let added = self.assembler.add(body);
                if added.is_err() {
                    self.assembler = Assembler::default();
                }
            }
            _ => {}
        }
    }

    fn on_zab(&mut self, bytes: &[u8]) {
        let Ok(msg) = wire::decode(bytes) else { return };
        assert_eq!(
            wire::encode(&msg),
            bytes,
            "a decoded member message re-encodes to other bytes: {msg:?}"
        );
        match msg {
            Msg::Proposal(e) => check_entry(&e),
            Msg::Sync { kind, entries, .. } => {
                for e in &entries {
                    check_entry(e);
                }
                if let SyncKind::Snap(zxid) = kind {
                    if self.assembler.whole_at() == Some(zxid) {
                        check_tree(std::mem::take(&mut self.assembler).build(), zxid);
                    }
                }
            }
            _ => {}
        }
    }
}

/// A log entry from a leader: if it decodes, it must survive its encoding.
fn check_entry(e: &Entry) {
    if let Ok(logged) = Logged::decode(&e.data) {
        assert_eq!(Logged::decode(&logged.encode()), Ok(logged));
    }
}

/// A tree rebuilt from a peer's chunks: every index agrees with the nodes.
fn check_tree(tree: DataTree, zxid: i64) {
    assert_eq!(tree.last_zxid(), zxid);
    let recount: u64 = tree
        .nodes()
        .map(|(p, n)| (p.len() + n.data.as_ref().map_or(0, |d| d.len())) as u64)
        .sum();
    assert_eq!(tree.approximate_data_size(), recount);
    for (p, n) in tree.nodes() {
        let stat = n.stat();
        assert_eq!(stat.num_children as usize, n.children.len());
        let _ = tree.descendant_count(p);
    }
    for e in tree.containers().chain(tree.ttl_nodes()) {
        assert!(tree.get(e).is_some());
    }
    let _ = tree.digest();
}
