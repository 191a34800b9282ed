//! The replicated log as the ZAB core sees it: a window of recent entries, and
//! how far they are logged, durable, committed and applied.

use super::Entry;
use std::collections::VecDeque;

#[derive(Debug, Clone, Default)]
pub struct Log {
    /// The zxid just before the first entry held; older entries live only in the state.
    base: i64,
    entries: VecDeque<Entry>,
    /// Bytes of entry data held (the window is bounded by count and by bytes).
    bytes: usize,
    /// Last logged zxid (handed to storage, maybe not yet durable).
    last: i64,
    /// Last zxid storage reported durable.
    durable: i64,
    /// Last zxid known committed by a quorum.
    committed: i64,
    /// Last zxid handed to the host to apply: never past `durable`.
    applied: i64,
}

impl Log {
    /// A log recovered from storage: everything in it is durable, `applied` of it is applied.
    pub fn recovered(base: i64, entries: Vec<Entry>, applied: i64) -> Log {
        let last = entries.last().map_or(base, |e| e.zxid);
        Log {
            base,
            bytes: entries.iter().map(|e| e.data.len()).sum(),
            entries: entries.into(),
            last,
            durable: last,
            committed: applied,
            applied,
        }
    }

    pub fn last(&self) -> i64 {
        self.last
    }

    pub fn durable(&self) -> i64 {
        self.durable
    }

    pub fn committed(&self) -> i64 {
        self.committed
    }

    pub fn applied(&self) -> i64 {
        self.applied
    }

    pub fn base(&self) -> i64 {
        self.base
    }

    /// Whether the history position `zxid` is known here: the base or a held entry.
    pub fn contains(&self, zxid: i64) -> bool {
        zxid == self.base || self.position(zxid).is_ok()
    }

    fn position(&self, zxid: i64) -> Result<usize, usize> {
        self.entries.binary_search_by_key(&zxid, |e| e.zxid)
    }

    /// The largest held position at or below `zxid` (the base at least).
    pub fn floor(&self, zxid: i64) -> i64 {
        match self.position(zxid) {
            Ok(i) => self.entries[i].zxid,
            Err(0) => self.base,
            Err(i) => self.entries[i - 1].zxid,
        }
    }

    /// Entries after `zxid`, in order.
    pub fn after(&self, zxid: i64) -> Vec<Entry> {
        let start = match self.position(zxid) {
            Ok(i) => i + 1,
            Err(i) => i,
        };
        self.entries.iter().skip(start).cloned().collect()
    }

    pub fn entries_upto(&self, from_exclusive: i64, to_inclusive: i64) -> Vec<Entry> {
        self.entries
            .iter()
            .filter(|e| e.zxid > from_exclusive && e.zxid <= to_inclusive)
            .cloned()
            .collect()
    }

    pub fn append(&mut self, entry: Entry) {
        debug_assert!(entry.zxid > self.last, "log appends must increase");
        self.last = entry.zxid;
        self.bytes += entry.data.len();
        self.entries.push_back(entry);
    }

    /// Drops entries after `zxid`.
    pub fn truncate(&mut self, zxid: i64) {
        while self.entries.back().is_some_and(|e| e.zxid > zxid) {
            if let Some(e) = self.entries.pop_back() {
                self.bytes -= e.data.len();
            }
        }
        self.last = zxid.max(self.base);
        self.durable = self.durable.min(self.last);
    }

    /// Replaces everything with a snapshot at `zxid` (state installed, log empty).
    pub fn reset_to_snapshot(&mut self, zxid: i64) {
        self.entries.clear();
        self.bytes = 0;
        self.base = zxid;
        self.last = zxid;
        self.durable = zxid;
        self.committed = zxid;
        self.applied = zxid;
    }

    pub fn mark_durable(&mut self, upto: i64) {
        self.durable = self.durable.max(upto.min(self.last));
    }

    pub fn mark_committed(&mut self, upto: i64) {
        self.committed = self.committed.max(upto.min(self.last));
    }

    /// Advances `applied` to what is both committed and durable; returns the new
    /// point if it moved.
    pub fn advance_applied(&mut self) -> Option<i64> {
        let target = self.committed.min(self.durable);
        (target > self.applied).then(|| {
            self.applied = target;
            target
        })
    }

    /// Forgets the oldest applied entries while more than `keep` of them, or
    /// more than `max_bytes` of data, are held (a window of big writes would
    /// otherwise hold gigabytes).
    pub fn trim(&mut self, keep: usize, max_bytes: usize) {
        while (self.entries.len() > keep || self.bytes > max_bytes)
            && self.entries.front().is_some_and(|e| e.zxid <= self.applied)
        {
            if let Some(e) = self.entries.pop_front() {
                self.base = e.zxid;
                self.bytes -= e.data.len();
            }
        }
    }

    /// Bytes of entry data held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn e(z: i64) -> Entry {
        Entry {
            zxid: z,
            data: Bytes::new(),
        }
    }

    #[test]
    fn floor_after_and_truncate() {
        let mut log = Log::recovered(10, vec![e(11), e(12), e(20)], 11);
        assert!(log.contains(10) && log.contains(12) && !log.contains(13));
        assert_eq!(log.floor(15), 12);
        assert_eq!(log.floor(5), 10);
        assert_eq!(log.after(12).len(), 1);
        assert_eq!(log.after(15).len(), 1);
        log.truncate(12);
        assert_eq!((log.last(), log.durable()), (12, 12));
    }

    #[test]
    fn applied_never_passes_durable() {
        let mut log = Log::recovered(0, vec![], 0);
        log.append(e(1));
        log.append(e(2));
        log.mark_committed(2);
        assert_eq!(log.advance_applied(), None);
        log.mark_durable(1);
        assert_eq!(log.advance_applied(), Some(1));
        log.mark_durable(2);
        assert_eq!(log.advance_applied(), Some(2));
        log.trim(0, usize::MAX);
        assert_eq!(log.base(), 2);
    }

    /// Regression (found by tests/tests/limits.rs: 1,730 writes of 1 MB held
    /// 2.3 GB): the window is bounded by bytes as well as by entries.
    #[test]
    fn the_window_is_bounded_by_bytes_too() {
        let big = |z| Entry {
            zxid: z,
            data: Bytes::from(vec![0u8; 1000]),
        };
        let mut log = Log::recovered(0, vec![], 0);
        for z in 1..=10 {
            log.append(big(z));
        }
        log.mark_durable(10);
        log.mark_committed(10);
        log.advance_applied();
        log.trim(100, 3500);
        assert_eq!((log.base(), log.bytes()), (7, 3000));
        log.truncate(8);
        assert_eq!(log.bytes(), 1000);
    }
}
