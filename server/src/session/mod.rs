//! Session ids, passwords and expiry deadlines. The sessions themselves are
//! replicated state in the tree; deadlines are kept only by whoever expires them.

use rand::RngCore;
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

/// ZooKeeper's id scheme: the server id in the top byte, time below, then a counter.
/// Never 0, never the container marker, never a 0xFF top byte (the TTL marker).
pub struct IdGenerator {
    next: i64,
}

impl IdGenerator {
    pub fn new(server_id: u64, now_ms: i64) -> IdGenerator {
        // Distinct for every myid below 255, and never the 0xFF TTL marker.
        let server = (server_id % 255) as i64;
        let time = ((now_ms << 24) as u64 >> 8) as i64;
        IdGenerator {
            next: (server << 56) | time | 1,
        }
    }

    pub fn allocate(&mut self) -> i64 {
        let id = self.next;
        self.next = self.next.wrapping_add(1);
        id
    }
}

/// The member whose generator made a session id (its top byte, `myid % 255`).
pub fn creator_of(session: i64) -> u64 {
    ((session >> 56) & 0xff) as u64
}

/// A fresh 16-byte session password.
pub fn new_password() -> Vec<u8> {
    let mut p = vec![0u8; 16];
    rand::rng().fill_bytes(&mut p);
    p
}

/// When each live session expires unless touched again.
#[derive(Debug, Default)]
pub struct ExpiryTracker {
    deadlines: HashMap<i64, (Instant, i32)>,
    closing: HashSet<i64>,
}

impl ExpiryTracker {
    /// Pushes a session's deadline to `now + timeout`.
    pub fn touch(&mut self, session: i64, timeout_ms: i32, now: Instant) {
        if self.closing.contains(&session) {
            return;
        }
        let deadline = now + Duration::from_millis(timeout_ms.max(0) as u64);
        self.deadlines.insert(session, (deadline, timeout_ms));
    }

    pub fn timeout_of(&self, session: i64) -> Option<i32> {
        self.deadlines.get(&session).map(|(_, t)| *t)
    }

    /// Sessions past their deadline that are not already closing.
    pub fn expired(&self, now: Instant) -> Vec<i64> {
        let mut out: Vec<i64> = self
            .deadlines
            .iter()
            .filter(|(id, (d, _))| *d <= now && !self.closing.contains(id))
            .map(|(id, _)| *id)
            .collect();
        out.sort_unstable();
        out
    }

    pub fn mark_closing(&mut self, session: i64) {
        self.closing.insert(session);
    }

    pub fn is_closing(&self, session: i64) -> bool {
        self.closing.contains(&session)
    }

    /// Forgets every close this member prepared: only a leader closes
    /// sessions, and closes it prepared but never committed must not refuse
    /// those sessions once it follows.
    pub fn forget_closing(&mut self) {
        self.closing.clear();
    }

    pub fn remove(&mut self, session: i64) {
        self.deadlines.remove(&session);
        self.closing.remove(&session);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression: `id & 0xFE` gave members 2 and 3 the same top byte, so two
    /// members could hand out the same session id (found by the lock recipe).
    #[test]
    fn members_never_share_session_ids() {
        let now = 1_700_000_000_000;
        let tops: std::collections::HashSet<i64> = (0..255u64)
            .map(|id| IdGenerator::new(id, now).allocate() >> 56)
            .collect();
        assert_eq!(tops.len(), 255);
    }

    #[test]
    fn an_id_names_the_member_that_made_it() {
        for member in [1u64, 2, 100, 254] {
            let id = IdGenerator::new(member, 1_700_000_000_000).allocate();
            assert_eq!(creator_of(id), member);
        }
    }

    #[test]
    fn ids_avoid_the_markers() {
        let mut g = IdGenerator::new(255, 1_700_000_000_000);
        let id = g.allocate();
        assert_ne!(id, 0);
        assert_ne!((id >> 56) & 0xFF, 0xFF);
        assert_eq!(g.allocate(), id + 1);
    }

    #[test]
    fn sessions_expire_after_their_timeout_unless_touched() {
        let mut t = ExpiryTracker::default();
        let start = Instant::now();
        t.touch(1, 1000, start);
        t.touch(2, 5000, start);
        assert!(t.expired(start).is_empty());
        assert_eq!(t.expired(start + Duration::from_millis(1500)), vec![1]);
        t.touch(1, 1000, start + Duration::from_millis(900));
        assert!(t.expired(start + Duration::from_millis(1500)).is_empty());
        t.mark_closing(1);
        assert!(t.expired(start + Duration::from_secs(10)) == vec![2]);
    }
}
