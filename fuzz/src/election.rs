//! `election_message`: election notifications (votes) from peers, through the
//! decoder (`zab::wire::decode`) into the ZAB state machine's Fast Leader
//! Election (`zab::Zab`), together with ticks and lost links.
//!
//! Input: a header (which member this is, its recovered epochs and zxid), then
//! steps. A step is a tick, a lost peer, a notification built from fields
//! (encoded byte by byte here, so its state byte may be invalid), or raw bytes
//! that go through the decoder as they are.
//!
//! Checked: nothing panics; a notification decodes to the fields it was built
//! from, and an invalid state byte is refused; every message that decodes
//! re-encodes to its bytes; whatever the member sends is to another member and
//! survives the wire; the accepted epoch never falls behind the current one;
//! a leader is this member and a voter; a learner follows another member.

use crate::Input;
use rookery_server::config::Config;
use rookery_server::core::zab_config;
use rookery_server::zab::{
    make_zxid, wire, Action, Event, Msg, PeerId, PeerState, Recovered, Zab, ZabConfig,
};
use std::path::Path;

/// Three voters and an observer.
pub const ZOO_CFG: &str = "tickTime=2000\ninitLimit=10\nsyncLimit=5\ndataDir=/nonexistent\n\
clientPort=2181\nserver.1=127.0.0.1:2888:3888\nserver.2=127.0.0.1:2889:3889\n\
server.3=127.0.0.1:2890:3890\nserver.4=127.0.0.1:2891:3891:observer\n";

/// Members 1-3 vote, 4 observes; 5 and up are strangers.
pub fn config(me: PeerId) -> ZabConfig {
    let mut cfg = Config::parse(Path::new("zoo.cfg"), ZOO_CFG).expect("the fuzz zoo.cfg parses");
    cfg.my_id = Some(me);
    zab_config(&cfg)
}

/// Step kinds (the first byte of a step, modulo their count).
pub const STEP_TICK: u8 = 0;
pub const STEP_NOTIFY: u8 = 1;
pub const STEP_RAW: u8 = 2;
pub const STEP_LOST: u8 = 3;
const STEPS: u8 = 4;

/// A vote's leader: mostly members, sometimes a stranger or an extreme id.
pub fn peer_of(b: u8) -> PeerId {
    match b {
        0..=249 => (b % 6) as PeerId,
        250 => 99,
        251 => u64::MAX,
        252 => 1 << 63,
        _ => (b % 6) as PeerId,
    }
}

/// A round: small, or at the ends of the range.
pub fn round_of(b: u8) -> u64 {
    match b {
        0..=239 => (b % 8) as u64,
        240..=247 => u64::MAX - (b - 240) as u64,
        _ => 1 << 63,
    }
}

/// The bytes of a notification, state byte included as given.
pub fn notification_bytes(leader: u64, zxid: i64, epoch: u32, round: u64, state: u8) -> Vec<u8> {
    let mut b = vec![1u8];
    b.extend_from_slice(&leader.to_be_bytes());
    b.extend_from_slice(&zxid.to_be_bytes());
    b.extend_from_slice(&epoch.to_be_bytes());
    b.extend_from_slice(&round.to_be_bytes());
    b.push(state);
    // The membership: version 0 (zoo.cfg's), no voters or observers listed.
    b.extend_from_slice(&0i64.to_be_bytes());
    b.extend_from_slice(&0i32.to_be_bytes());
    b.extend_from_slice(&0i32.to_be_bytes());
    b
}

/// Bytes the harness may hold besides what the input accounts for.
const FIXED_BUDGET: usize = 1 << 20;

pub fn run(data: &[u8]) {
    crate::within_budget(data.len(), FIXED_BUDGET, || run_unbudgeted(data));
}

fn run_unbudgeted(data: &[u8]) {
    let mut input = Input::new(data);
    let me = (input.u8() % 4) as PeerId + 1;
    let current_epoch = (input.u8() % 4) as u32;
    let accepted_epoch = current_epoch + (input.u8() % 2) as u32;
    let last = make_zxid(current_epoch, input.u8() as u32);
    let cfg = config(me);
    let members: Vec<PeerId> = cfg.voters.iter().chain(&cfg.observers).copied().collect();
    let mut zab = Zab::new(
        cfg,
        Recovered {
            accepted_epoch,
            current_epoch,
            base_zxid: last,
            entries: Vec::new(),
            applied_zxid: last,
        },
    );
    check(&mut zab, &members);
    let mut steps = 0;
    while !input.is_empty() && steps < 2_000 {
        steps += 1;
        let kind = input.u8() % STEPS;
        let from = (input.u8() % 6) as PeerId;
        // Only the other members of zoo.cfg get a link to this one (the hello
        // names a known id), so only they can be heard from or lost.
        let linked = from != me && members.contains(&from);
        match kind {
            STEP_TICK => {
                for _ in 0..=input.u8() % 8 {
                    zab.step(Event::Tick);
                    check(&mut zab, &members);
                }
            }
            STEP_LOST => {
                if linked {
                    zab.step(Event::PeerLost(from));
                    check(&mut zab, &members);
                }
            }
            STEP_NOTIFY => {
                let leader = peer_of(input.u8());
                let zxid = make_zxid((input.u8() % 6) as u32, input.u8() as u32);
                let epoch = (input.u8() % 6) as u32;
                let round = round_of(input.u8());
                let state_byte = input.u8() % 5;
                let bytes = notification_bytes(leader, zxid, epoch, round, state_byte);
                match wire::decode(&bytes) {
                    Ok(Msg::Notification {
                        vote,
                        round: r,
                        state,
                        config,
                    }) => {
                        assert!(state_byte < 4);
                        assert_eq!(
                            (vote.leader, vote.zxid, vote.epoch, r),
                            (leader, zxid, epoch, round)
                        );
                        let msg = Msg::Notification {
                            vote,
                            round: r,
                            state,
                            config,
                        };
                        assert_eq!(wire::encode(&msg), bytes);
                        if linked {
                            deliver(&mut zab, from, msg, &members);
                        }
                    }
                    Ok(other) => panic!("a notification decoded as {other:?}"),
                    Err(_) => assert_eq!(state_byte, 4, "a valid notification was refused"),
                }
            }
            _ => {
                let len = input.u8() as usize;
                let bytes = input.bytes(len);
                if let Ok(msg) = wire::decode(bytes) {
                    assert_eq!(wire::encode(&msg), bytes, "one encoding per message");
                    if linked && matches!(msg, Msg::Notification { .. }) {
                        deliver(&mut zab, from, msg, &members);
                    }
                }
            }
        }
    }
}

fn deliver(zab: &mut Zab, from: PeerId, msg: Msg, members: &[PeerId]) {
    zab.step(Event::Message(from, msg));
    check(zab, members);
}

/// Carries out the actions (persisting at once) and checks the member's state.
fn check(zab: &mut Zab, members: &[PeerId]) {
    let me = zab.id();
    let mut last_role = None;
    loop {
        let actions = zab.take_actions();
        if actions.is_empty() {
            break;
        }
        for a in actions {
            match a {
                Action::Send(to, msg) => {
                    assert_ne!(to, me, "a member sends to itself: {msg:?}");
                    assert!(
                        members.contains(&to),
                        "a message to a stranger {to}: {msg:?}"
                    );
                    assert_eq!(wire::decode(&wire::encode(&msg)), Ok(msg));
                }
                Action::Persist(entries) => {
                    if let Some(e) = entries.last() {
                        zab.step(Event::Persisted(e.zxid));
                    }
                }
                Action::RoleChanged { state, leader, .. } => last_role = Some((state, leader)),
                _ => {}
            }
        }
    }
    if let Some(role) = last_role {
        assert_eq!(
            role,
            (zab.state(), zab.leader()),
            "the last role change is the role"
        );
    }
    assert!(zab.accepted_epoch() >= zab.current_epoch());
    match zab.state() {
        PeerState::Leading => {
            assert_eq!(zab.leader(), Some(me));
            assert!(zab.config().is_voter(me), "an observer leads");
        }
        PeerState::Following | PeerState::Observing => {
            let leader = zab.leader().expect("a learner has a leader");
            assert_ne!(leader, me, "a member follows itself");
            assert!(
                zab.config().is_voter(leader),
                "following {leader}, not a voter"
            );
        }
        PeerState::Looking => assert_eq!(zab.leader(), None),
    }
}
