//! The leader: discovery (a new epoch from a quorum's accepted epochs), sync of
//! each learner (DIFF / TRUNC / SNAP, then NEWLEADER), and pipelined broadcast
//! with commits on quorum acks.

use super::mutants::{self, Mutant};
use super::{make_zxid, Action, Entry, Msg, PeerId, Phase, SyncKind, Zab};
use bytes::Bytes;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Stage {
    /// FOLLOWERINFO received.
    Info,
    /// ACKEPOCH received.
    EpochAcked,
    /// Sync and NEWLEADER sent: proposals and commits flow to it.
    Synced,
    /// NEWLEADER acked.
    Acked,
}

#[derive(Debug)]
pub(super) struct Learner {
    stage: Stage,
    accepted_epoch: u32,
    last_zxid: i64,
    last_heard: u64,
    /// Highest zxid it reported durable.
    acked: i64,
    /// Its history once the sync we sent is durable.
    sync_upto: i64,
}

#[derive(Debug)]
pub(super) struct Leader {
    pub(super) established: bool,
    /// The epoch proposed in LEADERINFO, once a quorum sent FOLLOWERINFO.
    epoch: Option<u32>,
    /// A quorum acked the epoch: currentEpoch is set and learners are synced.
    epoch_acked: bool,
    pub(super) learners: BTreeMap<PeerId, Learner>,
    entered: u64,
    last_ping: u64,
    counter: u32,
    /// A proposed reconfig not yet applied: its zxid and the voters it makes.
    /// It and every proposal after it commit only once a quorum of the old
    /// voters and a quorum of the new ones hold them (ZooKeeper's rule).
    pub(super) reconfig: Option<(i64, BTreeSet<PeerId>)>,
    /// Voters whose latest word, while this leader is not yet established, was
    /// a looking vote for another member: they are not coming to this one.
    voting_elsewhere: BTreeSet<PeerId>,
}

impl Leader {
    /// The learners whose stage passes `pred`, in id order.
    fn learners_where(&self, pred: impl Fn(Stage) -> bool) -> Vec<PeerId> {
        self.learners
            .iter()
            .filter(|(_, lr)| pred(lr.stage))
            .map(|(id, _)| *id)
            .collect()
    }
}

/// A learner as the leader sees it (for metrics and admin views).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LearnerStatus {
    pub id: PeerId,
    pub voter: bool,
    /// It acknowledged NEWLEADER: it is in broadcast.
    pub synced: bool,
    /// Highest zxid it reported durable.
    pub acked: i64,
}

impl Zab {
    /// The learners connected to this leader (empty when not leading).
    pub fn learners(&self) -> Vec<LearnerStatus> {
        let Phase::Leading(l) = &self.phase else {
            return Vec::new();
        };
        l.learners
            .iter()
            .map(|(id, lr)| LearnerStatus {
                id: *id,
                voter: self.cfg.is_voter(*id),
                synced: lr.stage == Stage::Acked,
                acked: lr.acked,
            })
            .collect()
    }

    pub(super) fn become_leader(&mut self) {
        self.phase = Phase::Leading(Leader {
            established: false,
            epoch: None,
            epoch_acked: false,
            learners: BTreeMap::new(),
            entered: self.now,
            last_ping: self.now,
            counter: 0,
            reconfig: None,
            voting_elsewhere: BTreeSet::new(),
        });
        self.role_changed();
        self.leader_progress();
    }

    fn leader_state(&mut self) -> Option<&mut Leader> {
        match &mut self.phase {
            Phase::Leading(l) => Some(l),
            _ => None,
        }
    }

    /// Voters (this member included) whose learner stage is at least `stage`.
    fn voters_at(&self, stage: Stage) -> usize {
        let Phase::Leading(l) = &self.phase else {
            return 0;
        };
        1 + l
            .learners
            .iter()
            .filter(|(id, lr)| self.cfg.is_voter(**id) && lr.stage >= stage)
            .count()
    }

    fn leader_progress(&mut self) {
        let quorum = self.cfg.quorum();
        let Some(l) = self.leader_state() else { return };
        if l.epoch.is_none() {
            if self.voters_at(Stage::Info) < quorum {
                return;
            }
            let Some(l) = self.leader_state() else { return };
            let highest = l
                .learners
                .values()
                .map(|lr| lr.accepted_epoch)
                .max()
                .unwrap_or(0);
            let epoch = highest.max(self.accepted_epoch) + 1;
            let Some(l) = self.leader_state() else { return };
            l.epoch = Some(epoch);
            let to: Vec<PeerId> = l.learners.keys().copied().collect();
            self.set_accepted_epoch(epoch);
            for p in to {
                self.send(p, Msg::LeaderInfo { epoch });
            }
        }
        let Some(l) = self.leader_state() else { return };
        let (Some(epoch), epoch_acked) = (l.epoch, l.epoch_acked) else {
            return;
        };
        if !epoch_acked {
            if self.voters_at(Stage::EpochAcked) < quorum {
                return;
            }
            self.set_current_epoch(epoch);
            let Some(l) = self.leader_state() else { return };
            l.epoch_acked = true;
            let ready: Vec<PeerId> = l.learners_where(|s| s == Stage::EpochAcked);
            for p in ready {
                self.sync_learner(p);
            }
        }
        let Some(l) = self.leader_state() else { return };
        if l.established {
            return;
        }
        if self.log.durable() < self.log.last() || self.voters_at(Stage::Acked) < quorum {
            return;
        }
        // A quorum holds this history in the new epoch: it is committed.
        let last = self.log.last();
        self.log.mark_committed(last);
        let Some(l) = self.leader_state() else { return };
        l.established = true;
        let acked: Vec<PeerId> = l.learners_where(|s| s == Stage::Acked);
        tracing::info!(epoch, zxid = format!("0x{last:x}"), "leader established");
        self.apply_ready();
        self.role_changed();
        let commit = self.log.committed();
        for p in acked {
            self.send(p, Msg::UpToDate { commit });
        }
    }

    /// Brings one learner to the leader's history: DIFF when its last zxid is in the
    /// window, TRUNC when it has entries the leader does not, SNAP when it is too far behind.
    fn sync_learner(&mut self, peer: PeerId) {
        let Some(l) = self.leader_state() else { return };
        let Some(epoch) = l.epoch else { return };
        let Some(lr) = l.learners.get(&peer) else {
            return;
        };
        let peer_last = lr.last_zxid;
        let (kind, entries) = if self.cfg.force_snap {
            let at = self.log.applied();
            (SyncKind::Snap(at), self.log.after(at))
        } else if self.log.contains(peer_last) && peer_last <= self.log.last() {
            (SyncKind::Diff, self.log.after(peer_last))
        } else if peer_last > self.log.base() {
            let common = self.log.floor(peer_last);
            (SyncKind::Trunc(common), self.log.after(common))
        } else {
            let at = self.log.applied();
            (SyncKind::Snap(at), self.log.after(at))
        };
        let upto = self.log.last();
        if let Some(lr) = self.leader_state().and_then(|l| l.learners.get_mut(&peer)) {
            lr.stage = Stage::Synced;
            lr.sync_upto = upto;
        }
        tracing::debug!(peer, ?kind, entries = entries.len(), "syncing learner");
        self.send(
            peer,
            Msg::Sync {
                kind,
                entries,
                epoch,
            },
        );
    }

    pub(super) fn leader_message(&mut self, from: PeerId, msg: Msg) {
        if !self.cfg.voters.contains(&from) && !self.cfg.observers.contains(&from) {
            return;
        }
        let now = self.now;
        let from_voter = self.cfg.is_voter(from);
        let current = (self.current_epoch, self.log.last());
        let last_proposed = self.log.last();
        let Some(l) = self.leader_state() else { return };
        if let Some(lr) = l.learners.get_mut(&from) {
            lr.last_heard = now;
        }
        match msg {
            Msg::FollowerInfo {
                accepted_epoch,
                last_zxid,
            } => {
                l.voting_elsewhere.remove(&from);
                l.learners.insert(
                    from,
                    Learner {
                        stage: Stage::Info,
                        accepted_epoch,
                        last_zxid,
                        last_heard: now,
                        acked: 0,
                        sync_upto: 0,
                    },
                );
                match l.epoch {
                    // A voter promised a later epoch than ours: it can never join this
                    // one. Start over, so the next epoch is above its promise.
                    Some(epoch) if accepted_epoch > epoch && from_voter => {
                        tracing::info!(
                            peer = from,
                            accepted_epoch,
                            epoch,
                            "a voter accepted a later epoch; starting a new one"
                        );
                        self.start_election();
                    }
                    Some(epoch) => self.send(from, Msg::LeaderInfo { epoch }),
                    None => self.leader_progress(),
                }
            }
            Msg::AckEpoch {
                current_epoch,
                last_zxid,
            } => {
                let Some(lr) = l.learners.get_mut(&from) else {
                    return;
                };
                if lr.stage != Stage::Info {
                    return;
                }
                // Only a voter ahead of the leader means a better leader exists. An
                // observer ahead (a voter once, under an older membership) holds
                // nothing committed that a quorum of today's voters lacks: TRUNC.
                if (current_epoch, last_zxid) > current && from_voter {
                    tracing::warn!(
                        peer = from,
                        "a learner is ahead of this leader; stepping down"
                    );
                    self.start_election();
                    return;
                }
                lr.stage = Stage::EpochAcked;
                lr.last_zxid = last_zxid;
                if l.epoch_acked {
                    self.sync_learner(from);
                } else {
                    self.leader_progress();
                }
            }
            Msg::AckNewLeader { epoch } => {
                let Some(lr) = l.learners.get_mut(&from) else {
                    return;
                };
                if lr.stage != Stage::Synced || Some(epoch) != l.epoch {
                    return;
                }
                lr.stage = Stage::Acked;
                lr.acked = lr.acked.max(lr.sync_upto);
                if l.established {
                    let commit = self.log.committed();
                    self.send(from, Msg::UpToDate { commit });
                    self.leader_try_commit();
                } else {
                    self.leader_progress();
                }
            }
            Msg::Ack { zxid } => {
                let Some(lr) = l.learners.get_mut(&from) else {
                    return;
                };
                // An ACK past what this leader proposed is forged or garbled:
                // counting it would let later proposals commit without this
                // learner holding them.
                if zxid > last_proposed {
                    tracing::warn!(
                        peer = from,
                        zxid = format!("0x{zxid:x}"),
                        "ignoring an ACK for a zxid never proposed"
                    );
                    return;
                }
                if lr.stage >= Stage::Synced {
                    lr.acked = lr.acked.max(zxid);
                    self.leader_try_commit();
                }
            }
            Msg::Request(data) => {
                if l.established {
                    self.out.push(Action::Deliver { from, data });
                }
            }
            Msg::PingAck => {}
            other => tracing::debug!(peer = from, ?other, "unexpected message to the leader"),
        }
    }

    /// The zxid the next proposal will get, on an established leader.
    pub fn next_zxid(&self) -> Option<i64> {
        match &self.phase {
            Phase::Leading(l) if l.established && l.counter < u32::MAX => {
                Some(make_zxid(l.epoch?, l.counter + 1))
            }
            _ => None,
        }
    }

    /// Proposes a reconfig making `voters` the voting members; see `Leader::reconfig`.
    pub fn propose_reconfig(&mut self, data: Bytes, voters: BTreeSet<PeerId>) -> Option<i64> {
        let zxid = self.leader_propose(data)?;
        if let Some(l) = self.leader_state() {
            l.reconfig = Some((zxid, voters));
        }
        Some(zxid)
    }

    /// On the leader: a reconfig it proposed is not applied yet.
    pub fn reconfig_in_flight(&self) -> bool {
        matches!(&self.phase, Phase::Leading(l) if l.reconfig.is_some())
    }

    /// Voters in `voters` that are synced with this leader (itself included if it votes).
    pub fn synced_among(&self, voters: &BTreeSet<PeerId>) -> usize {
        let Phase::Leading(l) = &self.phase else {
            return 0;
        };
        let me = usize::from(voters.contains(&self.cfg.id));
        me + l
            .learners
            .iter()
            .filter(|(id, lr)| voters.contains(id) && lr.stage == Stage::Acked)
            .count()
    }

    pub(super) fn leader_propose(&mut self, data: Bytes) -> Option<i64> {
        let l = self.leader_state()?;
        let epoch = l.epoch?;
        if !l.established {
            return None;
        }
        if l.counter == u32::MAX {
            tracing::warn!("zxid counter exhausted; forcing a new epoch");
            self.start_election();
            return None;
        }
        l.counter += 1;
        let zxid = make_zxid(epoch, l.counter);
        let forward: Vec<PeerId> = l.learners_where(|s| s >= Stage::Synced);
        let entry = Entry { zxid, data };
        self.log.append(entry.clone());
        self.out.push(Action::Persist(vec![entry.clone()]));
        for p in forward {
            self.send(p, Msg::Proposal(entry.clone()));
        }
        Some(zxid)
    }

    /// Commits the highest zxid a quorum of voters holds durably.
    pub(super) fn leader_try_commit(&mut self) {
        let quorum = self.cfg.quorum();
        let durable = if mutants::active(Mutant::AckBeforeFsync) {
            self.log.last()
        } else {
            self.log.durable()
        };
        let Phase::Leading(l) = &mut self.phase else {
            return;
        };
        if !l.established {
            self.leader_progress();
            return;
        }
        let me = self.cfg.id;
        // The highest zxid a quorum of `voters` holds durably.
        let held_by = |voters: &BTreeSet<PeerId>| -> Option<i64> {
            let mut acks: Vec<i64> = l
                .learners
                .iter()
                .filter(|(id, lr)| voters.contains(id) && lr.stage >= Stage::Synced)
                .map(|(_, lr)| lr.acked)
                .collect();
            if voters.contains(&me) {
                acks.push(durable);
            }
            let need = voters.len() / 2 + 1;
            if acks.len() < need {
                return None;
            }
            acks.sort_unstable_by(|a, b| b.cmp(a));
            Some(acks[need - 1])
        };
        let Some(mut quorum_holds) = held_by(&self.cfg.voters) else {
            return;
        };
        debug_assert!(quorum >= 1);
        if let Some((at, new_voters)) = &l.reconfig {
            if quorum_holds >= *at {
                let new_holds = held_by(new_voters).unwrap_or(i64::MIN);
                // Short of the new quorum, everything before the reconfig may commit.
                let before = self.log.floor(*at - 1);
                quorum_holds = quorum_holds.min(new_holds).max(before);
            }
        }
        if quorum_holds <= self.log.committed() {
            self.apply_ready();
            return;
        }
        self.log.mark_committed(quorum_holds);
        let commit = self.log.committed();
        let Some(l) = self.leader_state() else { return };
        let forward: Vec<PeerId> = l.learners_where(|s| s >= Stage::Synced);
        for p in forward {
            self.send(p, Msg::Commit { zxid: commit });
        }
        self.apply_ready();
    }

    pub(super) fn leader_tick(&mut self) {
        let now = self.now;
        let quorum = self.cfg.quorum();
        let (sync_limit, init_limit, ping_ticks) = (
            self.cfg.sync_limit_ticks,
            self.cfg.init_limit_ticks,
            self.cfg.ping_ticks,
        );
        let Phase::Leading(l) = &mut self.phase else {
            return;
        };
        if !l.established {
            if now - l.entered > init_limit {
                tracing::info!("no quorum synced in time; back to election");
                self.start_election();
            }
            return;
        }
        let alive = 1 + l
            .learners
            .iter()
            .filter(|(id, lr)| {
                self.cfg.voters.contains(id)
                    && lr.stage >= Stage::Synced
                    && now - lr.last_heard <= sync_limit
            })
            .count();
        if alive < quorum {
            tracing::warn!(alive, quorum, "lost the quorum; stepping down");
            self.start_election();
            return;
        }
        if now - l.last_ping >= ping_ticks {
            l.last_ping = now;
            let to: Vec<PeerId> = l.learners_where(|s| s >= Stage::Synced);
            for p in to {
                self.send(p, Msg::Ping);
            }
        }
    }

    /// A voter sent this leader a looking vote. Before the leader is
    /// established, once so many voters vote for others that no quorum can
    /// join it, it goes back to the election instead of waiting out initLimit.
    /// That happens when a member with a better vote starts during the finalize
    /// wait: the one that decided first leads alone while the others elect the
    /// late one. (Two restarts of 1M znodes took 23 s instead of 4, the load
    /// plus initLimit; this is one way to get there.) Giving up a leadership
    /// that is not established is safe: it has proposed nothing.
    /// Returns whether it stepped down.
    pub(super) fn leader_heard_looking(&mut self, from: PeerId, leader: PeerId) -> bool {
        let me = self.cfg.id;
        if !self.cfg.is_voter(from) {
            return false;
        }
        let quorum = self.cfg.quorum();
        let voters = self.cfg.voters.len();
        let Some(l) = self.leader_state() else {
            return false;
        };
        if l.established {
            return false;
        }
        if leader == me {
            l.voting_elsewhere.remove(&from);
            return false;
        }
        l.voting_elsewhere.insert(from);
        // A looking member is not following this leader, whatever it said before.
        l.learners.remove(&from);
        if voters.saturating_sub(l.voting_elsewhere.len()) >= quorum {
            return false;
        }
        tracing::info!(
            elsewhere = ?l.voting_elsewhere,
            "no quorum can join this leader; back to election"
        );
        self.start_election();
        true
    }

    pub(super) fn leader_lost(&mut self, peer: PeerId) {
        if let Some(l) = self.leader_state() {
            l.learners.remove(&peer);
        }
    }
}
