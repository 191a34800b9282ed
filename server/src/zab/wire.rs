//! The binary encoding of `Msg` on member-to-member links: a one-byte tag per
//! variant, then every field in jute's big-endian encoding. Decoding hostile
//! bytes never panics, never allocates more than the input could hold, and
//! rejects unknown tags and trailing bytes.

use super::{ConfigView, Entry, Msg, PeerState, SyncKind, Vote};
use crate::proto::{DecodeError, Reader, Writer};
use bytes::Bytes;
use std::collections::BTreeSet;

const NOTIFICATION: u8 = 1;
const FOLLOWER_INFO: u8 = 2;
const LEADER_INFO: u8 = 3;
const ACK_EPOCH: u8 = 4;
const SYNC: u8 = 5;
const ACK_NEW_LEADER: u8 = 6;
const UP_TO_DATE: u8 = 7;
const PROPOSAL: u8 = 8;
const ACK: u8 = 9;
const COMMIT: u8 = 10;
const PING: u8 = 11;
const PING_ACK: u8 = 12;
const REQUEST: u8 = 13;

const LOOKING: u8 = 0;
const FOLLOWING: u8 = 1;
const LEADING: u8 = 2;
const OBSERVING: u8 = 3;

const DIFF: u8 = 0;
const TRUNC: u8 = 1;
const SNAP: u8 = 2;

/// Encodes one message.
pub fn encode(msg: &Msg) -> Vec<u8> {
    let mut w = Writer::new();
    match msg {
        Msg::Notification {
            vote,
            round,
            state,
            config,
        } => {
            tag(&mut w, NOTIFICATION);
            w.write_i64(vote.leader as i64);
            w.write_i64(vote.zxid);
            w.write_i32(vote.epoch as i32);
            w.write_i64(*round as i64);
            tag(&mut w, state_tag(*state));
            w.write_i64(config.version);
            for ids in [&config.voters, &config.observers] {
                w.write_i32(ids.len() as i32);
                for id in ids {
                    w.write_i64(*id as i64);
                }
            }
        }
        Msg::FollowerInfo {
            accepted_epoch,
            last_zxid,
        } => {
            tag(&mut w, FOLLOWER_INFO);
            w.write_i32(*accepted_epoch as i32);
            w.write_i64(*last_zxid);
        }
        Msg::LeaderInfo { epoch } => {
            tag(&mut w, LEADER_INFO);
            w.write_i32(*epoch as i32);
        }
        Msg::AckEpoch {
            current_epoch,
            last_zxid,
        } => {
            tag(&mut w, ACK_EPOCH);
            w.write_i32(*current_epoch as i32);
            w.write_i64(*last_zxid);
        }
        Msg::Sync {
            kind,
            entries,
            epoch,
        } => {
            tag(&mut w, SYNC);
            match kind {
                SyncKind::Diff => tag(&mut w, DIFF),
                SyncKind::Trunc(z) => {
                    tag(&mut w, TRUNC);
                    w.write_i64(*z);
                }
                SyncKind::Snap(z) => {
                    tag(&mut w, SNAP);
                    w.write_i64(*z);
                }
            }
            w.write_vec(entries, write_entry);
            w.write_i32(*epoch as i32);
        }
        Msg::AckNewLeader { epoch } => {
            tag(&mut w, ACK_NEW_LEADER);
            w.write_i32(*epoch as i32);
        }
        Msg::UpToDate { commit } => {
            tag(&mut w, UP_TO_DATE);
            w.write_i64(*commit);
        }
        Msg::Proposal(e) => {
            tag(&mut w, PROPOSAL);
            write_entry(&mut w, e);
        }
        Msg::Ack { zxid } => {
            tag(&mut w, ACK);
            w.write_i64(*zxid);
        }
        Msg::Commit { zxid } => {
            tag(&mut w, COMMIT);
            w.write_i64(*zxid);
        }
        Msg::Ping => tag(&mut w, PING),
        Msg::PingAck => tag(&mut w, PING_ACK),
        Msg::Request(data) => {
            tag(&mut w, REQUEST);
            w.write_buffer(Some(data));
        }
    }
    w.into_inner()
}

/// Decodes one message; the bytes must hold exactly one.
pub fn decode(bytes: &[u8]) -> Result<Msg, DecodeError> {
    let mut r = Reader::new(bytes);
    let msg = match r.read_u8()? {
        NOTIFICATION => {
            let leader = r.read_i64()? as u64;
            let zxid = r.read_i64()?;
            let epoch = r.read_i32()? as u32;
            let round = r.read_i64()? as u64;
            let state = read_state(&mut r)?;
            let version = r.read_i64()?;
            let mut sets = [BTreeSet::new(), BTreeSet::new()];
            for set in &mut sets {
                let n = r.read_i32()?;
                // Bounded by the bytes left: a forged count allocates nothing.
                if n < 0 || n as usize > r.remaining() / 8 {
                    return Err(DecodeError::Invalid("membership size"));
                }
                for _ in 0..n {
                    let id = r.read_i64()? as u64;
                    // Ids go in increasing order, each once, as they are sent: one
                    // encoding per message (found by the fuzzers).
                    if set.last().is_some_and(|last| *last >= id) {
                        return Err(DecodeError::Invalid("membership ids out of order"));
                    }
                    set.insert(id);
                }
            }
            let [voters, observers] = sets;
            let config = ConfigView {
                version,
                voters,
                observers,
            };
            Msg::Notification {
                vote: Vote {
                    leader,
                    zxid,
                    epoch,
                },
                round,
                state,
                config,
            }
        }
        FOLLOWER_INFO => Msg::FollowerInfo {
            accepted_epoch: r.read_i32()? as u32,
            last_zxid: r.read_i64()?,
        },
        LEADER_INFO => Msg::LeaderInfo {
            epoch: r.read_i32()? as u32,
        },
        ACK_EPOCH => Msg::AckEpoch {
            current_epoch: r.read_i32()? as u32,
            last_zxid: r.read_i64()?,
        },
        SYNC => {
            let kind = match r.read_u8()? {
                DIFF => SyncKind::Diff,
                TRUNC => SyncKind::Trunc(r.read_i64()?),
                SNAP => SyncKind::Snap(r.read_i64()?),
                other => {
                    return Err(DecodeError::Unknown {
                        what: "sync kind",
                        value: other as i32,
                    })
                }
            };
            let entries = read_entries(&mut r)?;
            let epoch = r.read_i32()? as u32;
            Msg::Sync {
                kind,
                entries,
                epoch,
            }
        }
        ACK_NEW_LEADER => Msg::AckNewLeader {
            epoch: r.read_i32()? as u32,
        },
        UP_TO_DATE => Msg::UpToDate {
            commit: r.read_i64()?,
        },
        PROPOSAL => Msg::Proposal(read_entry(&mut r)?),
        ACK => Msg::Ack {
            zxid: r.read_i64()?,
        },
        COMMIT => Msg::Commit {
            zxid: r.read_i64()?,
        },
        PING => Msg::Ping,
        PING_ACK => Msg::PingAck,
        REQUEST => Msg::Request(read_data(&mut r)?),
        other => {
            return Err(DecodeError::Unknown {
                what: "message tag",
                value: other as i32,
            })
        }
    };
    if !r.is_empty() {
        return Err(DecodeError::Invalid(
            "trailing bytes after a member message",
        ));
    }
    Ok(msg)
}

fn tag(w: &mut Writer, t: u8) {
    w.write_raw(&[t]);
}

fn state_tag(s: PeerState) -> u8 {
    match s {
        PeerState::Looking => LOOKING,
        PeerState::Following => FOLLOWING,
        PeerState::Leading => LEADING,
        PeerState::Observing => OBSERVING,
    }
}

fn read_state(r: &mut Reader<'_>) -> Result<PeerState, DecodeError> {
    match r.read_u8()? {
        LOOKING => Ok(PeerState::Looking),
        FOLLOWING => Ok(PeerState::Following),
        LEADING => Ok(PeerState::Leading),
        OBSERVING => Ok(PeerState::Observing),
        other => Err(DecodeError::Unknown {
            what: "peer state",
            value: other as i32,
        }),
    }
}

fn write_entry(w: &mut Writer, e: &Entry) {
    w.write_i64(e.zxid);
    w.write_buffer(Some(&e.data));
}

fn read_entry(r: &mut Reader<'_>) -> Result<Entry, DecodeError> {
    Ok(Entry {
        zxid: r.read_i64()?,
        data: read_data(r)?,
    })
}

/// A count, then that many entries. Unlike jute's vectors a null (-1) count is an
/// error, so every message has exactly one encoding.
fn read_entries(r: &mut Reader<'_>) -> Result<Vec<Entry>, DecodeError> {
    let offset = r.position();
    let n = r.read_i32()?;
    if n < 0 {
        return Err(DecodeError::BadLength { offset, len: n });
    }
    // An entry takes at least 12 bytes: never pre-allocate beyond what could follow.
    let mut out = Vec::with_capacity((n as usize).min(r.remaining() / 12));
    for _ in 0..n {
        out.push(read_entry(r)?);
    }
    Ok(out)
}

/// A non-null buffer (we never write null ones).
fn read_data(r: &mut Reader<'_>) -> Result<Bytes, DecodeError> {
    match r.read_buffer()? {
        Some(b) => Ok(Bytes::from(b)),
        None => Err(DecodeError::Invalid("null buffer in a member message")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn entry(zxid: i64, data: &[u8]) -> Entry {
        Entry {
            zxid,
            data: Bytes::copy_from_slice(data),
        }
    }

    fn every_variant() -> Vec<Msg> {
        let mut out = Vec::new();
        for state in [
            PeerState::Looking,
            PeerState::Following,
            PeerState::Leading,
            PeerState::Observing,
        ] {
            out.push(Msg::Notification {
                vote: Vote {
                    leader: u64::MAX,
                    zxid: 0x1_0000_0002,
                    epoch: u32::MAX,
                },
                round: 7,
                state,
                config: ConfigView {
                    version: 0x1_0000_0003,
                    voters: [1, 2, 4].into(),
                    observers: [3].into(),
                },
            });
        }
        out.push(Msg::FollowerInfo {
            accepted_epoch: 3,
            last_zxid: -1,
        });
        out.push(Msg::LeaderInfo { epoch: 0x8000_0000 });
        out.push(Msg::AckEpoch {
            current_epoch: 2,
            last_zxid: i64::MIN,
        });
        out.push(Msg::Sync {
            kind: SyncKind::Diff,
            entries: vec![],
            epoch: 4,
        });
        out.push(Msg::Sync {
            kind: SyncKind::Trunc(0x2_0000_0005),
            entries: vec![entry(1, b"a"), entry(2, b"")],
            epoch: 5,
        });
        out.push(Msg::Sync {
            kind: SyncKind::Snap(i64::MAX),
            entries: vec![entry(9, &[0u8; 300])],
            epoch: 6,
        });
        out.push(Msg::AckNewLeader { epoch: 6 });
        out.push(Msg::UpToDate { commit: 42 });
        out.push(Msg::Proposal(entry(0x3_0000_0001, b"txn bytes")));
        out.push(Msg::Proposal(entry(0, b"")));
        out.push(Msg::Ack { zxid: 17 });
        out.push(Msg::Commit { zxid: -17 });
        out.push(Msg::Ping);
        out.push(Msg::PingAck);
        out.push(Msg::Request(Bytes::from_static(b"\x00\x01forwarded")));
        out.push(Msg::Request(Bytes::new()));
        out
    }

    #[test]
    fn every_variant_round_trips() {
        for msg in every_variant() {
            let bytes = encode(&msg);
            assert_eq!(decode(&bytes), Ok(msg.clone()), "{msg:?}");
        }
    }

    #[test]
    fn fields_are_big_endian_after_a_tag() {
        assert_eq!(encode(&Msg::Ping), vec![PING]);
        assert_eq!(
            encode(&Msg::LeaderInfo { epoch: 0x0102_0304 }),
            vec![LEADER_INFO, 1, 2, 3, 4]
        );
        assert_eq!(
            encode(&Msg::Request(Bytes::from_static(b"ab"))),
            vec![REQUEST, 0, 0, 0, 2, b'a', b'b']
        );
    }

    #[test]
    fn truncation_at_every_point_is_an_error() {
        for msg in every_variant() {
            let bytes = encode(&msg);
            for cut in 0..bytes.len() {
                assert!(decode(&bytes[..cut]).is_err(), "{msg:?} cut at {cut}");
            }
        }
    }

    #[test]
    fn trailing_bytes_are_an_error() {
        for msg in every_variant() {
            let mut bytes = encode(&msg);
            bytes.push(0);
            assert!(matches!(decode(&bytes), Err(DecodeError::Invalid(_))));
        }
    }

    #[test]
    fn membership_ids_out_of_order_or_twice_are_errors() {
        let msg = Msg::Notification {
            vote: Vote {
                leader: 1,
                zxid: 1,
                epoch: 1,
            },
            round: 1,
            state: PeerState::Looking,
            config: ConfigView {
                version: 5,
                voters: [1, 2].into(),
                observers: BTreeSet::new(),
            },
        };
        let good = encode(&msg);
        assert_eq!(decode(&good), Ok(msg));
        // The voters' ids are the last 16 bytes but the observers' count (4).
        let voters_at = good.len() - 4 - 16;
        let mut swapped = good.clone();
        swapped[voters_at..voters_at + 16].rotate_left(8);
        assert!(decode(&swapped).is_err(), "2, 1 accepted");
        let mut twice = good.clone();
        twice.copy_within(voters_at..voters_at + 8, voters_at + 8);
        assert!(decode(&twice).is_err(), "1, 1 accepted");
    }

    #[test]
    fn unknown_tags_are_errors() {
        assert!(matches!(
            decode(&[0]),
            Err(DecodeError::Unknown {
                what: "message tag",
                ..
            })
        ));
        assert!(matches!(decode(&[200]), Err(DecodeError::Unknown { .. })));
        let mut bad_state = encode(&Msg::Notification {
            vote: Vote {
                leader: 1,
                zxid: 1,
                epoch: 1,
            },
            round: 1,
            state: PeerState::Looking,
            config: ConfigView::default(),
        });
        // The state byte comes before the membership (version, two empty lists).
        let at = bad_state.len() - 17;
        bad_state[at] = 9;
        assert!(matches!(
            decode(&bad_state),
            Err(DecodeError::Unknown {
                what: "peer state",
                ..
            })
        ));
        assert!(matches!(
            decode(&[SYNC, 7]),
            Err(DecodeError::Unknown {
                what: "sync kind",
                ..
            })
        ));
    }

    #[test]
    fn hostile_lengths_fail_without_allocating() {
        // A Sync claiming 2^31-1 entries in a few bytes.
        let mut w = Writer::new();
        w.write_raw(&[SYNC, DIFF]);
        w.write_i32(i32::MAX);
        assert!(decode(&w.into_inner()).is_err());
        // A Request whose buffer claims more than the frame holds, and a null one.
        let mut w = Writer::new();
        w.write_raw(&[REQUEST]);
        w.write_i32(1 << 30);
        assert!(matches!(
            decode(&w.into_inner()),
            Err(DecodeError::BadLength { .. })
        ));
        assert!(decode(&[REQUEST, 0xff, 0xff, 0xff, 0xff]).is_err());
    }

    fn arb_entry() -> impl Strategy<Value = Entry> {
        (any::<i64>(), proptest::collection::vec(any::<u8>(), 0..40)).prop_map(|(zxid, d)| Entry {
            zxid,
            data: Bytes::from(d),
        })
    }

    fn arb_msg() -> impl Strategy<Value = Msg> {
        let state = prop_oneof![
            Just(PeerState::Looking),
            Just(PeerState::Following),
            Just(PeerState::Leading),
            Just(PeerState::Observing),
        ];
        let kind = prop_oneof![
            Just(SyncKind::Diff),
            any::<i64>().prop_map(SyncKind::Trunc),
            any::<i64>().prop_map(SyncKind::Snap),
        ];
        prop_oneof![
            (
                any::<u64>(),
                any::<i64>(),
                any::<u32>(),
                any::<u64>(),
                state,
                (
                    any::<i64>(),
                    proptest::collection::btree_set(any::<u64>(), 0..6),
                    proptest::collection::btree_set(any::<u64>(), 0..6)
                )
            )
                .prop_map(
                    |(leader, zxid, epoch, round, state, (version, voters, observers))| {
                        Msg::Notification {
                            vote: Vote {
                                leader,
                                zxid,
                                epoch,
                            },
                            round,
                            state,
                            config: ConfigView {
                                version,
                                voters,
                                observers,
                            },
                        }
                    }
                ),
            (any::<u32>(), any::<i64>()).prop_map(|(accepted_epoch, last_zxid)| {
                Msg::FollowerInfo {
                    accepted_epoch,
                    last_zxid,
                }
            }),
            any::<u32>().prop_map(|epoch| Msg::LeaderInfo { epoch }),
            (any::<u32>(), any::<i64>()).prop_map(|(current_epoch, last_zxid)| {
                Msg::AckEpoch {
                    current_epoch,
                    last_zxid,
                }
            }),
            (
                kind,
                proptest::collection::vec(arb_entry(), 0..5),
                any::<u32>()
            )
                .prop_map(|(kind, entries, epoch)| Msg::Sync {
                    kind,
                    entries,
                    epoch
                }),
            any::<u32>().prop_map(|epoch| Msg::AckNewLeader { epoch }),
            any::<i64>().prop_map(|commit| Msg::UpToDate { commit }),
            arb_entry().prop_map(Msg::Proposal),
            any::<i64>().prop_map(|zxid| Msg::Ack { zxid }),
            any::<i64>().prop_map(|zxid| Msg::Commit { zxid }),
            Just(Msg::Ping),
            Just(Msg::PingAck),
            proptest::collection::vec(any::<u8>(), 0..40)
                .prop_map(|d| Msg::Request(Bytes::from(d))),
        ]
    }

    proptest! {
        #[test]
        fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            if let Ok(msg) = decode(&bytes) {
                // Whatever decodes re-encodes to exactly the same bytes.
                prop_assert_eq!(encode(&msg), bytes);
            }
        }

        #[test]
        fn tagged_garbage_never_panics(t in 0u8..16, rest in proptest::collection::vec(any::<u8>(), 0..128)) {
            let mut bytes = vec![t];
            bytes.extend_from_slice(&rest);
            if let Ok(msg) = decode(&bytes) {
                prop_assert_eq!(encode(&msg), bytes);
            }
        }

        #[test]
        fn generated_messages_round_trip(msg in arb_msg()) {
            prop_assert_eq!(decode(&encode(&msg)), Ok(msg));
        }
    }
}
