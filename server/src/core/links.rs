//! The core's end of the member-to-member links: ZAB messages out and in, and
//! SNAP's tree chunks, which travel ahead of the sync message they belong to.

use super::Core;
use crate::net::quorum::{LinkEvent, QuorumNet};
use crate::tree::snapshot::{self, Assembler};
use crate::zab::{self, wire, Msg, PeerId, SyncKind};
use bytes::{BufMut, Bytes, BytesMut};
use std::collections::HashMap;

const FRAME_ZAB: u8 = 0;
const FRAME_SNAPSHOT_CHUNK: u8 = 1;
/// Size of one SNAP chunk.
const CHUNK_BYTES: usize = 256 * 1024;

pub(super) struct Links {
    net: QuorumNet,
    /// Snapshot chunks received from each member, until installed.
    incoming: HashMap<PeerId, Assembler>,
}

impl Links {
    pub(super) fn new(net: QuorumNet) -> Links {
        Links {
            net,
            incoming: HashMap::new(),
        }
    }

    fn send(&self, to: PeerId, tag: u8, payload: &[u8]) {
        let mut frame = BytesMut::with_capacity(payload.len() + 1);
        frame.put_u8(tag);
        frame.put_slice(payload);
        self.net.send(to, frame.freeze());
    }
}

impl Core {
    pub(super) fn send_to_member(&mut self, to: PeerId, msg: &Msg) {
        let Some(links) = &self.repl.links else {
            return;
        };
        if let Msg::Sync {
            kind: SyncKind::Snap(zxid),
            ..
        } = msg
        {
            if self.tree.last_zxid() != *zxid {
                tracing::error!(
                    zxid = format!("0x{zxid:x}"),
                    applied = format!("0x{:x}", self.tree.last_zxid()),
                    "SNAP asked for a zxid the tree is not at; not sent"
                );
                return;
            }
            for chunk in snapshot::encode_chunks(&self.tree, CHUNK_BYTES) {
                links.send(to, FRAME_SNAPSHOT_CHUNK, &chunk);
            }
        }
        links.send(to, FRAME_ZAB, &wire::encode(msg));
    }

    pub(super) fn on_link_event(&mut self, event: LinkEvent) {
        match event {
            LinkEvent::Frame { from, payload } => self.on_frame(from, payload),
            LinkEvent::Lost { peer } => {
                if let Some(links) = &mut self.repl.links {
                    links.incoming.remove(&peer);
                }
                self.zab_step(zab::Event::PeerLost(peer));
            }
        }
    }

    fn on_frame(&mut self, from: PeerId, payload: Bytes) {
        let Some((&tag, body)) = payload.split_first() else {
            return;
        };
        match tag {
            FRAME_ZAB => match wire::decode(body) {
                Ok(msg) => self.zab_step(zab::Event::Message(from, msg)),
                Err(e) => tracing::warn!(from, error = %e, "undecodable message from a member"),
            },
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

    /// SNAP: replaces the tree and the stored state with the leader's.
    pub(super) fn install_snapshot(&mut self, from: PeerId, zxid: i64) {
        let assembled = self
            .repl
            .links
            .as_mut()
            .and_then(|l| l.incoming.remove(&from));
        let Some(assembler) = assembled.filter(|a| a.zxid() == Some(zxid)) else {
            self.repl.fatal = Some(format!(
                "asked to install a snapshot at 0x{zxid:x} from {from} that never arrived whole"
            ));
            return;
        };
        let tree = assembler.build();
        let stored = tree.clone();
        self.barrier(
            "installing a snapshot",
            Box::new(move |s| s.install_snapshot(&stored)),
        );
        tracing::info!(
            from,
            zxid = format!("0x{zxid:x}"),
            nodes = tree.node_count(),
            "installed a snapshot"
        );
        self.tree = tree;
        self.repl_reset_after_snapshot();
    }
}
