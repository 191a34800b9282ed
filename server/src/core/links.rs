//! The core's end of the member-to-member links: ZAB messages out and in, and
//! SNAP's snapshot chunks, which travel ahead of the sync message they belong to.
//!
//! The leader streams SNAP from a RocksDB snapshot of its stored state on a thread
//! of its own, with at most `SNAP_WINDOW` bytes queued on the link, so neither its
//! memory nor its request processing depends on the size of the tree. Messages to
//! that learner wait behind the stream (`Outflow`) and follow it in order.

use super::Core;
use crate::net::quorum::{BulkSender, LinkEvent, QuorumNet};
use crate::storage::{StateRecord, StateSnapshot};
use crate::tree::snapshot::{Assembler, ChunkEncoder};
use crate::zab::{self, wire, Msg, PeerId, SyncKind};
use bytes::{BufMut, Bytes, BytesMut};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

/// A ZAB message, or the last part of one sent in parts.
const FRAME_ZAB: u8 = 0;
const FRAME_SNAPSHOT_CHUNK: u8 = 1;
/// A part of a ZAB message too large for one frame (a long DIFF); more follow.
const FRAME_ZAB_PART: u8 = 2;
/// Largest ZAB payload in one frame; larger messages go in parts.
const ZAB_PART_BYTES: usize = 1 << 20;
/// Largest ZAB message reassembled from parts; beyond it the link is dropped.
const ZAB_MESSAGE_LIMIT: usize = 1 << 30;
/// Size of one SNAP chunk.
const CHUNK_BYTES: usize = 256 * 1024;
/// Bytes of SNAP chunks that may wait in one link's queue.
const SNAP_WINDOW: usize = 4 * CHUNK_BYTES;

pub(super) struct Links {
    net: QuorumNet,
    /// Snapshot chunks received from each member, until installed.
    incoming: HashMap<PeerId, Assembler>,
    /// Parts of a ZAB message received so far, by member.
    parts: HashMap<PeerId, Vec<u8>>,
    /// SNAP streams under way, by learner.
    outflows: HashMap<PeerId, Arc<Outflow>>,
    /// Tells streams apart, so a learner never mixes chunks of two.
    streams_started: i64,
}

/// One SNAP stream to a learner and the messages waiting behind it.
#[derive(Default)]
struct Outflow {
    state: Mutex<OutflowState>,
}

#[derive(Default)]
struct OutflowState {
    /// The link broke: send nothing more.
    cancelled: bool,
    /// Every chunk is queued: messages go straight to the link again.
    finished: bool,
    /// Messages to send after the last chunk, in order.
    held: Vec<Bytes>,
}

impl Outflow {
    fn state(&self) -> MutexGuard<'_, OutflowState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Keeps `frames` for after the stream, all or none; false once the stream is over.
    fn hold(&self, frames: &[Bytes]) -> bool {
        let mut s = self.state();
        if s.finished || s.cancelled {
            return false;
        }
        s.held.extend_from_slice(frames);
        true
    }

    fn cancel(&self) {
        let mut s = self.state();
        s.cancelled = true;
        s.held.clear();
    }

    fn is_cancelled(&self) -> bool {
        self.state().cancelled
    }

    /// Queues one chunk once the link has room; false if the stream was cancelled.
    fn send_chunk(&self, bulk: &BulkSender, chunk: Vec<u8>) -> bool {
        if !bulk.wait_for_room(|| self.is_cancelled()) {
            return false;
        }
        // Under the lock, so nothing is queued after a cancel.
        let s = self.state();
        !s.cancelled && bulk.send(frame(FRAME_SNAPSHOT_CHUNK, &chunk))
    }

    /// Ends the stream: on success the held messages follow the chunks; on failure
    /// they are dropped and the learner, hearing nothing, goes back to election.
    fn finish(&self, bulk: &BulkSender, sent_all: bool) {
        let mut s = self.state();
        s.finished = true;
        let held = std::mem::take(&mut s.held);
        if sent_all && !s.cancelled {
            for f in held {
                bulk.send(f);
            }
        }
    }
}

fn frame(tag: u8, payload: &[u8]) -> Bytes {
    let mut frame = BytesMut::with_capacity(payload.len() + 1);
    frame.put_u8(tag);
    frame.put_slice(payload);
    frame.freeze()
}

impl Links {
    pub(super) fn new(net: QuorumNet) -> Links {
        Links {
            net,
            incoming: HashMap::new(),
            parts: HashMap::new(),
            outflows: HashMap::new(),
            streams_started: 0,
        }
    }

    /// Links to exactly these members from now on (a reconfig).
    pub(super) fn set_peers(&mut self, peers: BTreeMap<PeerId, std::net::SocketAddr>) {
        self.net.set_peers(peers);
    }

    /// Sends a ZAB message, behind a SNAP stream to the same member if one is under way.
    /// A message longer than `ZAB_PART_BYTES` (a DIFF of many entries) goes as
    /// several frames, so no frame exceeds the links' limit.
    fn send_zab(&mut self, to: PeerId, msg: &Msg) {
        let encoded = wire::encode(msg);
        let mut pieces = encoded.chunks(ZAB_PART_BYTES).peekable();
        let mut frames = Vec::new();
        if pieces.peek().is_none() {
            frames.push(frame(FRAME_ZAB, &encoded));
        }
        while let Some(piece) = pieces.next() {
            let tag = if pieces.peek().is_some() {
                FRAME_ZAB_PART
            } else {
                FRAME_ZAB
            };
            frames.push(frame(tag, piece));
        }
        if let Some(outflow) = self.outflows.get(&to) {
            if outflow.hold(&frames) {
                return;
            }
            self.outflows.remove(&to);
        }
        for f in frames {
            self.net.send(to, f);
        }
    }
}

/// Reads the stored state at `zxid` and queues it to a learner as chunks.
fn stream_snapshot(
    state: StateSnapshot<'_>,
    zxid: i64,
    stream: i64,
    outflow: &Outflow,
    bulk: &BulkSender,
) -> Result<bool, String> {
    let applied = state.applied_zxid().map_err(|e| e.to_string())?;
    if applied != zxid {
        return Err(format!(
            "stored state is at 0x{applied:x}, SNAP was asked at 0x{zxid:x}"
        ));
    }
    let mut enc = ChunkEncoder::new(zxid, stream, CHUNK_BYTES);
    let complete = state
        .for_each(|record| {
            let full = match record {
                StateRecord::Node { path, encoded } => enc.node(path, encoded),
                StateRecord::Session { id, record } => enc.session(id, &record),
            };
            Ok(full.is_none_or(|chunk| outflow.send_chunk(bulk, chunk)))
        })
        .map_err(|e| e.to_string())?;
    Ok(complete && outflow.send_chunk(bulk, enc.finish()))
}

impl Core {
    pub(super) fn send_to_member(&mut self, to: PeerId, msg: &Msg) {
        if let Msg::Sync {
            kind: SyncKind::Snap(zxid),
            ..
        } = msg
        {
            if !self.start_snapshot_stream(to, *zxid) {
                return;
            }
        }
        if let Some(links) = &mut self.repl.links {
            links.send_zab(to, msg);
        }
    }

    /// Starts streaming the stored state to `to`; the sync message and whatever
    /// follows it wait behind the stream.
    fn start_snapshot_stream(&mut self, to: PeerId, zxid: i64) -> bool {
        if self.tree.last_zxid() != zxid {
            tracing::error!(
                zxid = format!("0x{zxid:x}"),
                applied = format!("0x{:x}", self.tree.last_zxid()),
                "SNAP asked for a zxid the tree is not at; not sent"
            );
            return false;
        }
        let Some(links) = &mut self.repl.links else {
            return false;
        };
        let Some(bulk) = links.net.bulk_sender(to, SNAP_WINDOW) else {
            return false;
        };
        links.streams_started += 1;
        let stream = links.streams_started;
        let outflow = Arc::new(Outflow::default());
        if let Some(old) = links.outflows.insert(to, outflow.clone()) {
            old.cancel();
        }
        // Stored state must reach `zxid` before the snapshot is taken.
        self.flush_state();
        let metrics = self.metrics.clone();
        self.barrier(
            "taking a snapshot for SNAP",
            Box::new(move |storage| {
                storage.read_state_in_background(move |state| {
                    let started = std::time::Instant::now();
                    let outcome = stream_snapshot(state, zxid, stream, &outflow, &bulk);
                    match &outcome {
                        Ok(true) => {
                            metrics
                                .snapshot_stream_duration
                                .observe(started.elapsed().as_secs_f64());
                            tracing::info!(
                                to,
                                zxid = format!("0x{zxid:x}"),
                                millis = started.elapsed().as_millis() as u64,
                                "SNAP streamed"
                            )
                        }
                        Ok(false) => tracing::info!(to, "SNAP stream cancelled: link lost"),
                        Err(e) => tracing::error!(to, error = %e, "SNAP stream failed"),
                    }
                    outflow.finish(&bulk, outcome == Ok(true));
                });
                Ok(())
            }),
        );
        true
    }

    pub(super) fn on_link_event(&mut self, event: LinkEvent) {
        match event {
            LinkEvent::Frame { from, payload } => self.on_frame(from, payload),
            LinkEvent::Lost { peer } => {
                if let Some(links) = &mut self.repl.links {
                    links.incoming.remove(&peer);
                    links.parts.remove(&peer);
                    if let Some(outflow) = links.outflows.remove(&peer) {
                        outflow.cancel();
                    }
                }
                self.zab_step(zab::Event::PeerLost(peer));
            }
            LinkEvent::Up { peer } => self.zab_step(zab::Event::PeerUp(peer)),
        }
    }

    fn on_frame(&mut self, from: PeerId, payload: Bytes) {
        let Some((&tag, body)) = payload.split_first() else {
            return;
        };
        match tag {
            FRAME_ZAB_PART => {
                if let Some(links) = &mut self.repl.links {
                    let buffered = links.parts.entry(from).or_default();
                    if buffered.len() + body.len() > ZAB_MESSAGE_LIMIT {
                        tracing::warn!(
                            from,
                            "a member's message in parts exceeds 1 GiB; dropping it"
                        );
                        links.parts.remove(&from);
                        self.zab_step(zab::Event::PeerLost(from));
                        return;
                    }
                    buffered.extend_from_slice(body);
                }
            }
            FRAME_ZAB => {
                let whole = self
                    .repl
                    .links
                    .as_mut()
                    .and_then(|l| l.parts.remove(&from))
                    .map(|mut head| {
                        head.extend_from_slice(body);
                        head
                    });
                self.on_zab_payload(from, whole.as_deref().unwrap_or(body));
            }
            FRAME_SNAPSHOT_CHUNK => {
                if let Some(links) = &mut self.repl.links {
                    let assembler = links.incoming.entry(from).or_default();
                    if let Err(e) = assembler.add(body) {
                        tracing::warn!(from, error = %e, "bad snapshot chunk");
                        links.incoming.remove(&from);
                    }
                }
            }
            other => tracing::warn!(from, tag = other, "unknown frame from a member"),
        }
    }

    /// One whole ZAB message from a member.
    fn on_zab_payload(&mut self, from: PeerId, payload: &[u8]) {
        match wire::decode(payload) {
            Ok(msg) => {
                if !self.snapshot_ready_for(from, &msg) {
                    tracing::warn!(
                        from,
                        "SNAP sync without the whole snapshot ahead of it; dropping the leader"
                    );
                    self.zab_step(zab::Event::PeerLost(from));
                    return;
                }
                self.zab_step(zab::Event::Message(from, msg))
            }
            Err(e) => tracing::warn!(from, error = %e, "undecodable message from a member"),
        }
    }

    /// False for a SNAP sync whose chunks did not all arrive (a link broke mid-way).
    fn snapshot_ready_for(&self, from: PeerId, msg: &Msg) -> bool {
        let Msg::Sync {
            kind: SyncKind::Snap(zxid),
            ..
        } = msg
        else {
            return true;
        };
        self.repl
            .links
            .as_ref()
            .and_then(|l| l.incoming.get(&from))
            .is_some_and(|a| a.whole_at() == Some(*zxid))
    }

    /// SNAP: replaces the tree and the stored state with the leader's.
    pub(super) fn install_snapshot(&mut self, from: PeerId, zxid: i64) {
        let assembled = self
            .repl
            .links
            .as_mut()
            .and_then(|l| l.incoming.remove(&from));
        let Some(assembler) = assembled.filter(|a| a.whole_at() == Some(zxid)) else {
            self.repl.fatal = Some(format!(
                "asked to install a snapshot at 0x{zxid:x} from {from} that never arrived whole"
            ));
            return;
        };
        let tree = Arc::new(assembler.build());
        let stored = tree.clone();
        self.barrier(
            "installing a snapshot",
            Box::new(move |s| s.install_snapshot(&stored)),
        );
        // The barrier has run and dropped its reference.
        let tree = Arc::try_unwrap(tree).unwrap_or_else(|shared| (*shared).clone());
        tracing::info!(
            from,
            zxid = format!("0x{zxid:x}"),
            nodes = tree.node_count(),
            "installed a snapshot"
        );
        self.tree = tree;
        self.repl_reset_after_snapshot();
        // The snapshot carries the membership a reconfig committed, if any.
        let next = super::reconfig::initial_membership(&self.cfg, &self.tree);
        self.adopt_membership(next);
        self.show_membership();
    }
}
