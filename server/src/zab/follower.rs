//! A learner (follower or observer): discovery, sync and broadcast as the leader drives them.
//! Order of persistence on sync (ZooKeeper's): the synced history, then the current
//! epoch, then the ACK of NEWLEADER.

use super::mutants::{self, Mutant};
use super::{epoch_of, Action, Entry, Msg, PeerId, Phase, SyncKind, Zab};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// FOLLOWERINFO sent, waiting for LEADERINFO.
    Discovering,
    /// ACKEPOCH sent, waiting for the sync.
    AwaitingSync,
    /// Synced history handed to storage; NEWLEADER is acked once it is durable.
    PersistingSync {
        epoch: u32,
        upto: i64,
    },
    /// NEWLEADER acked, waiting for UPTODATE.
    AwaitingUpToDate,
    Broadcast,
}

#[derive(Debug)]
pub(super) struct Follower {
    pub(super) leader: PeerId,
    stage: Stage,
    last_heard: u64,
    entered: u64,
    /// Highest commit the leader announced (applied once durable here).
    commit_seen: i64,
    /// Highest zxid acked to the leader.
    acked: i64,
    /// When FOLLOWERINFO was last sent: it is re-sent while the leader may not be
    /// leading yet (it decides after its own finalize wait).
    info_sent: u64,
}

impl Follower {
    pub(super) fn is_serving(&self) -> bool {
        self.stage == Stage::Broadcast
    }
}

impl Zab {
    pub(super) fn become_follower(&mut self, leader: PeerId) {
        self.phase = Phase::Following(Follower {
            leader,
            stage: Stage::Discovering,
            last_heard: self.now,
            entered: self.now,
            commit_seen: self.log.committed(),
            acked: 0,
            info_sent: self.now,
        });
        self.role_changed();
        let info = Msg::FollowerInfo {
            accepted_epoch: self.accepted_epoch,
            last_zxid: self.log.last(),
        };
        self.send(leader, info);
    }

    fn follower(&mut self) -> Option<&mut Follower> {
        match &mut self.phase {
            Phase::Following(f) => Some(f),
            _ => None,
        }
    }

    pub(super) fn follower_tick(&mut self) {
        let now = self.now;
        let (sync_limit, init_limit, resend) = (
            self.cfg.sync_limit_ticks,
            self.cfg.init_limit_ticks,
            self.cfg.rebroadcast_ticks,
        );
        let Some(f) = self.follower() else { return };
        let silent = now - f.last_heard;
        let syncing = f.stage != Stage::Broadcast && now - f.entered > init_limit;
        if silent > sync_limit || syncing {
            tracing::info!(
                leader = f.leader,
                silent,
                "leader silent or sync too slow; back to election"
            );
            self.start_election();
            return;
        }
        if f.stage == Stage::Discovering && now - f.info_sent >= resend {
            f.info_sent = now;
            let leader = f.leader;
            let info = Msg::FollowerInfo {
                accepted_epoch: self.accepted_epoch,
                last_zxid: self.log.last(),
            };
            self.send(leader, info);
        }
    }

    pub(super) fn follower_message(&mut self, from: PeerId, msg: Msg) {
        let now = self.now;
        let Some(f) = self.follower() else { return };
        if from != f.leader {
            return;
        }
        f.last_heard = now;
        let stage = f.stage;
        match (stage, msg) {
            (Stage::Discovering, Msg::LeaderInfo { epoch }) => {
                if epoch < self.accepted_epoch {
                    tracing::warn!(
                        epoch,
                        accepted = self.accepted_epoch,
                        "leader proposed an old epoch"
                    );
                    self.start_election();
                    return;
                }
                if epoch > self.accepted_epoch {
                    self.set_accepted_epoch(epoch);
                }
                let ack = Msg::AckEpoch {
                    current_epoch: self.current_epoch,
                    last_zxid: self.log.last(),
                };
                self.send(from, ack);
                if let Some(f) = self.follower() {
                    f.stage = Stage::AwaitingSync;
                }
            }
            (
                Stage::AwaitingSync,
                Msg::Sync {
                    kind,
                    entries,
                    epoch,
                },
            ) => {
                self.apply_sync(from, kind, entries, epoch);
            }
            (
                Stage::PersistingSync { .. } | Stage::AwaitingUpToDate | Stage::Broadcast,
                Msg::Proposal(entry),
            ) => {
                // A leader's proposals are contiguous: the next counter of the same
                // epoch, or the first of a later one. Anything else means messages
                // went missing on the way; resync rather than log a gap.
                let last = self.log.last();
                let next_in_epoch =
                    epoch_of(entry.zxid) == epoch_of(last) && entry.zxid == last + 1;
                let first_of_later =
                    epoch_of(entry.zxid) > epoch_of(last) && entry.zxid & 0xffff_ffff == 1;
                if !(next_in_epoch || first_of_later) {
                    tracing::warn!(
                        zxid = format!("0x{:x}", entry.zxid),
                        last = format!("0x{last:x}"),
                        "proposal out of order; going back to election"
                    );
                    self.start_election();
                    return;
                }
                let zxid = entry.zxid;
                self.log.append(entry.clone());
                self.out.push(Action::Persist(vec![entry]));
                if mutants::active(Mutant::AckBeforeFsync)
                    && !matches!(stage, Stage::PersistingSync { .. })
                {
                    self.send(from, Msg::Ack { zxid });
                }
            }
            (Stage::AwaitingUpToDate, Msg::UpToDate { commit }) => {
                if let Some(f) = self.follower() {
                    f.stage = Stage::Broadcast;
                    f.commit_seen = f.commit_seen.max(commit);
                }
                self.follower_commit();
                self.role_changed();
            }
            (
                Stage::PersistingSync { .. } | Stage::AwaitingUpToDate | Stage::Broadcast,
                Msg::Commit { zxid },
            ) => {
                // Commits follow their proposals on the same link: one past what is
                // logged here means a proposal went missing.
                if zxid > self.log.last() {
                    tracing::warn!(
                        zxid = format!("0x{zxid:x}"),
                        last = format!("0x{:x}", self.log.last()),
                        "commit of a proposal never received; going back to election"
                    );
                    self.start_election();
                    return;
                }
                if let Some(f) = self.follower() {
                    f.commit_seen = f.commit_seen.max(zxid);
                }
                if stage == Stage::Broadcast {
                    self.follower_commit();
                }
            }
            (_, Msg::Ping) => self.send(from, Msg::PingAck),
            (stage, other) => {
                tracing::debug!(
                    ?stage,
                    ?other,
                    "message not expected in this stage; ignored"
                );
            }
        }
    }

    fn apply_sync(&mut self, leader: PeerId, kind: SyncKind, entries: Vec<Entry>, epoch: u32) {
        match kind {
            SyncKind::Diff => {}
            SyncKind::Trunc(_) if mutants::active(Mutant::SkipTrunc) => {}
            SyncKind::Trunc(zxid) => {
                if zxid < self.log.applied() {
                    tracing::error!(
                        zxid,
                        applied = self.log.applied(),
                        "leader asked to truncate applied history"
                    );
                    self.start_election();
                    return;
                }
                self.log.truncate(zxid);
                self.out.push(Action::Truncate(zxid));
            }
            SyncKind::Snap(zxid) => {
                self.log.reset_to_snapshot(zxid);
                self.out
                    .push(Action::InstallSnapshot { from: leader, zxid });
            }
        }
        let fresh: Vec<Entry> = entries
            .into_iter()
            .filter(|e| e.zxid > self.log.last())
            .collect();
        for e in &fresh {
            self.log.append(e.clone());
        }
        if !fresh.is_empty() {
            self.out.push(Action::Persist(fresh));
        }
        let upto = self.log.last();
        if let Some(f) = self.follower() {
            f.stage = Stage::PersistingSync { epoch, upto };
        }
        if mutants::active(Mutant::NewLeaderAckBeforeLog) {
            self.send(leader, Msg::AckNewLeader { epoch });
        }
        self.follower_persisted();
    }

    /// Storage caught up: finish a sync, ack proposals, apply commits.
    pub(super) fn follower_persisted(&mut self) {
        let durable = self.log.durable();
        let is_voter = self.cfg.is_voter(self.cfg.id);
        let Some(f) = self.follower() else { return };
        let leader = f.leader;
        match f.stage {
            Stage::PersistingSync { epoch, upto } if durable >= upto => {
                f.stage = Stage::AwaitingUpToDate;
                f.acked = durable;
                self.set_current_epoch(epoch);
                if !mutants::active(Mutant::NewLeaderAckBeforeLog) {
                    self.send(leader, Msg::AckNewLeader { epoch });
                }
                // Proposals that followed the sync may be durable already.
                if durable > upto && is_voter {
                    self.send(leader, Msg::Ack { zxid: durable });
                }
            }
            Stage::AwaitingUpToDate | Stage::Broadcast if durable > f.acked => {
                f.acked = durable;
                if is_voter {
                    self.send(leader, Msg::Ack { zxid: durable });
                }
                self.follower_commit();
            }
            _ => {}
        }
    }

    fn follower_commit(&mut self) {
        let Some(f) = self.follower() else { return };
        if f.stage != Stage::Broadcast {
            return;
        }
        let commit = f.commit_seen;
        self.log.mark_committed(commit);
        self.apply_ready();
    }
}
