//! Local sessions and read-only mode: sessions this member keeps by itself,
//! with no Txn, and the mode in which a member cut off from its quorum serves
//! reads to clients that asked for it.
//!
//! As ZooKeeper 3.8:
//! - with `localSessionsEnabled` every new session is local to the member it
//!   connected to; it is expired there, closing it writes nothing, and it is
//!   unknown (expired) on any other member. Its first ephemeral create makes it
//!   global first: a createSession Txn with the same id and password goes ahead
//!   of the create (`localSessionsUpgradingEnabled`; without it, -120).
//! - with `readonlymode.enabled` a member still looking for a leader
//!   `max(2 s, tickTime)` after it lost one serves clients whose ConnectRequest
//!   carries the read-only flag: reads only, new sessions local (so only with
//!   `localSessionsEnabled`), writes answered NOTREADONLY. When an election
//!   ends it closes every connection, and the clients move on.

use super::Core;
use crate::proto::{ConnectRequest, ConnectResponse, ErrorCode, Request};
use crate::session::ExpiryTracker;
use crate::zab::PeerState;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// A session kept by this member only.
#[derive(Debug, Clone)]
struct LocalSession {
    timeout_ms: i32,
    passwd: Vec<u8>,
    /// Its createSession Txn was sent to the leader: it is becoming global.
    upgrading: bool,
}

/// This member's local sessions and their deadlines.
#[derive(Debug, Default)]
pub(super) struct LocalSessions {
    sessions: HashMap<i64, LocalSession>,
    expiry: ExpiryTracker,
}

impl LocalSessions {
    pub(super) fn contains(&self, session: i64) -> bool {
        self.sessions.contains_key(&session)
    }

    pub(super) fn len(&self) -> usize {
        self.sessions.len()
    }

    fn add(&mut self, session: i64, timeout_ms: i32, passwd: Vec<u8>) {
        self.sessions.insert(
            session,
            LocalSession {
                timeout_ms,
                passwd,
                upgrading: false,
            },
        );
        self.expiry.touch(session, timeout_ms, Instant::now());
    }

    pub(super) fn touch(&mut self, session: i64) {
        if let Some(s) = self.sessions.get(&session) {
            self.expiry.touch(session, s.timeout_ms, Instant::now());
        }
    }

    pub(super) fn remove(&mut self, session: i64) -> bool {
        self.expiry.remove(session);
        self.sessions.remove(&session).is_some()
    }

    fn clear(&mut self) {
        self.sessions.clear();
        self.expiry = ExpiryTracker::default();
    }
}

/// Whether the member serves read-only clients, and since when it has been looking.
#[derive(Debug, Default)]
pub(super) struct ReadOnlyMode {
    pub(super) active: bool,
    looking_since: Option<Instant>,
}

/// How long a member looks for a leader before it serves read-only clients
/// (ZooKeeper's `max(2000, tickTime)` ms).
fn read_only_delay(tick_time_ms: u32) -> Duration {
    Duration::from_millis(u64::from(tick_time_ms).max(2000))
}

impl Core {
    /// Whether a new session on this member is local.
    fn new_sessions_are_local(&self) -> bool {
        self.cfg.local_sessions_enabled && !self.cfg.is_standalone()
    }

    /// A ConnectRequest for a session that is new (id 0) or local to this
    /// member, or any ConnectRequest while read-only. Returns false when the
    /// request is not one of those and takes the global path.
    pub(super) fn connect_locally(
        &mut self,
        conn: super::ConnId,
        req: &ConnectRequest,
        timeout: i32,
    ) -> bool {
        let read_only = self.read_only.active;
        if read_only && req.read_only != Some(true) {
            // ZooKeeper closes a client that did not ask for read-only, without a word.
            tracing::debug!("read-only: refusing a client that did not ask for read-only");
            self.close_conn(conn);
            return true;
        }
        if req.session_id == 0 {
            if !read_only && !self.new_sessions_are_local() {
                return false;
            }
            if !self.cfg.local_sessions_enabled {
                // ZooKeeper 3.8 can make no session while read-only without local
                // sessions: the client's createSession fails.
                tracing::info!("read-only: no new sessions without localSessionsEnabled");
                self.close_conn(conn);
                return true;
            }
            let id = self.session_ids.allocate();
            let passwd = crate::session::new_password();
            self.local.add(id, timeout, passwd.clone());
            self.metrics
                .session_events
                .with_label_values(&["created"])
                .inc();
            self.bind_session(conn, id, timeout, passwd);
            return true;
        }
        if let Some(s) = self.local.sessions.get(&req.session_id) {
            if s.passwd == req.passwd && !s.upgrading {
                let passwd = s.passwd.clone();
                self.local.sessions.entry(req.session_id).and_modify(|s| {
                    s.timeout_ms = timeout;
                });
                self.local.touch(req.session_id);
                self.bind_session(conn, req.session_id, timeout, passwd);
            } else if !s.upgrading {
                self.refuse_as_expired(conn, req);
            } else {
                return false;
            }
            return true;
        }
        if read_only {
            if self.tree.session(req.session_id).is_some() {
                // A global session cannot be renewed without the leader.
                tracing::debug!("read-only: refusing to renew a global session");
                self.close_conn(conn);
            } else {
                self.refuse_as_expired(conn, req);
            }
            return true;
        }
        false
    }

    pub(super) fn refuse_as_expired(&mut self, conn: super::ConnId, req: &ConnectRequest) {
        if let Some(c) = self.conns.get_mut(&conn) {
            c.send(ConnectResponse::expired(req.read_only).encode_frame());
            c.close();
        }
    }

    fn close_conn(&mut self, conn: super::ConnId) {
        if let Some(c) = self.conns.get_mut(&conn) {
            c.close();
        }
    }

    /// What a write of a local session needs before it goes to the leader.
    /// Returns the error to answer with instead, if any.
    pub(super) fn before_local_write(
        &mut self,
        session: i64,
        req: &Request,
    ) -> Result<(), ErrorCode> {
        if self.read_only.active {
            return if req.refused_when_read_only() {
                Err(ErrorCode::NotReadOnly)
            } else {
                Ok(())
            };
        }
        let Some(s) = self.local.sessions.get_mut(&session) else {
            return Ok(());
        };
        if !req.creates_ephemeral() || s.upgrading {
            return Ok(());
        }
        if !self.cfg.local_sessions_upgrading_enabled {
            return Err(ErrorCode::EphemeralOnLocalSession);
        }
        s.upgrading = true;
        let (timeout_ms, passwd) = (s.timeout_ms, s.passwd.clone());
        tracing::debug!(
            session = format!("0x{session:x}"),
            "upgrading a local session"
        );
        // Ahead of the create on the same FIFO path to the leader.
        self.write(
            session,
            super::replication::WriteOp::CreateSession { timeout_ms, passwd },
            super::Origin::None,
        );
        Ok(())
    }

    /// A local session's closeSession: nothing to replicate.
    pub(super) fn close_local_session(&mut self, conn: super::ConnId, session: i64, xid: i32) {
        self.local.remove(session);
        self.session_conn.remove(&session);
        self.metrics
            .session_events
            .with_label_values(&["closed"])
            .inc();
        let zxid = self.tree.last_zxid();
        if let Some(c) = self.conns.get_mut(&conn) {
            c.session = None;
            c.send(super::reply::header_only(xid, zxid, ErrorCode::Ok));
            c.close();
        }
    }

    /// On the leader: a write of a session it does not know globally may come from
    /// a learner's local session, which only that learner knows (ZooKeeper's
    /// leader accepts an unknown id whose top byte names another member).
    pub(super) fn is_local_elsewhere(&self, session: i64) -> bool {
        self.local.contains(session)
            || (self.cfg.local_sessions_enabled
                && crate::session::creator_of(session) != self.cfg.my_id.unwrap_or(0) % 255)
    }

    /// Every local session goes, as when ZooKeeper shuts a member's server down.
    pub(super) fn drop_local_sessions(&mut self) {
        self.local.clear();
    }

    /// A createSession Txn applied: the session is global now.
    pub(super) fn local_session_became_global(&mut self, session: i64) {
        self.local.remove(session);
    }

    /// Expires local sessions (every member does its own).
    pub(super) fn expire_local_sessions(&mut self) {
        for session in self.local.expiry.expired(Instant::now()) {
            if self
                .local
                .sessions
                .get(&session)
                .is_some_and(|s| s.upgrading)
            {
                // The leader expires it once it is global.
                self.local.expiry.remove(session);
                continue;
            }
            tracing::info!(session = format!("0x{session:x}"), "local session expired");
            self.local.remove(session);
            self.metrics
                .session_events
                .with_label_values(&["expired"])
                .inc();
            if let Some(conn) = self.session_conn.remove(&session) {
                if let Some(c) = self.conns.get_mut(&conn) {
                    c.session = None;
                    c.close();
                }
            }
        }
    }

    /// Enters or leaves read-only mode as the member's role says; called on
    /// every tick and role change.
    pub(super) fn update_read_only(&mut self) {
        let looking = !self.cfg.is_standalone() && self.repl.zab.state() == PeerState::Looking;
        if !looking {
            self.read_only.looking_since = None;
        } else if self.read_only.looking_since.is_none() {
            self.read_only.looking_since = Some(Instant::now());
        }
        let want = self.cfg.read_only_mode_enabled
            && self
                .read_only
                .looking_since
                .is_some_and(|t| t.elapsed() >= read_only_delay(self.cfg.tick_time_ms));
        if want == self.read_only.active {
            return;
        }
        self.read_only.active = want;
        self.metrics.read_only.set(i64::from(want));
        if want {
            tracing::warn!("no quorum: serving read-only clients (read-only mode)");
            return;
        }
        tracing::info!("election over: leaving read-only mode, closing its connections");
        for c in self.conns.values_mut() {
            c.close();
        }
        self.session_conn.clear();
        // A read-only member's sessions die with the mode: its successor in
        // ZooKeeper starts a new tracker, and the clients are told "expired".
        self.drop_local_sessions();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_only_waits_at_least_two_seconds() {
        assert_eq!(read_only_delay(100), Duration::from_millis(2000));
        assert_eq!(read_only_delay(3000), Duration::from_millis(3000));
    }

    #[test]
    fn local_sessions_expire_and_go() {
        let mut l = LocalSessions::default();
        l.add(7, 10, vec![1; 16]);
        assert!(l.contains(7));
        assert_eq!(l.len(), 1);
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(l.expiry.expired(Instant::now()), vec![7]);
        assert!(l.remove(7));
        assert!(!l.contains(7));
        assert!(l.expiry.expired(Instant::now()).is_empty());
    }
}
