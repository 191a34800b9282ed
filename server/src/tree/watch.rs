//! The watch registry (ZooKeeper's WatchManager): which connection watches which
//! path, in which mode, and which events a change fires.

use super::path;
use super::{Change, ChangeKind};
use crate::proto::{Acl, EventType};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// A client connection, as the registry knows it.
pub type ConnId = u64;

const STANDARD: u8 = 1;
const PERSISTENT: u8 = 2;
const RECURSIVE: u8 = 4;

/// The two watch tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Table {
    Data,
    Child,
}

/// An event to deliver to one connection, if the ACL lets it READ.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub conn: ConnId,
    pub event: EventType,
    pub path: String,
    /// The ACL that decides whether the connection may hear of this event: the
    /// changed node's, or for NodeChildrenChanged its parent's, at the time of
    /// the change. `None` (no ACL known) lets everyone hear, as ZooKeeper does
    /// for an event without an ACL.
    pub acl: Option<Arc<Vec<Acl>>>,
}

#[derive(Debug, Default)]
pub struct WatchRegistry {
    data: HashMap<String, HashMap<ConnId, u8>>,
    child: HashMap<String, HashMap<ConnId, u8>>,
    recursive: usize,
    by_conn: HashMap<ConnId, HashSet<(Table, String)>>,
}

impl WatchRegistry {
    fn table(&mut self, t: Table) -> &mut HashMap<String, HashMap<ConnId, u8>> {
        match t {
            Table::Data => &mut self.data,
            Table::Child => &mut self.child,
        }
    }

    fn add(&mut self, t: Table, p: &str, conn: ConnId, mode: u8) {
        let modes = self
            .table(t)
            .entry(p.to_string())
            .or_default()
            .entry(conn)
            .or_insert(0);
        if mode == RECURSIVE && *modes & RECURSIVE == 0 {
            self.recursive += 1;
        }
        let modes = self
            .table(t)
            .get_mut(p)
            .and_then(|m| m.get_mut(&conn))
            .expect("entry inserted above");
        *modes |= mode;
        self.by_conn
            .entry(conn)
            .or_default()
            .insert((t, p.to_string()));
    }

    /// A one-shot watch from getData / exists (data) or getChildren (child).
    pub fn add_standard(&mut self, t: Table, p: &str, conn: ConnId) {
        self.add(t, p, conn, STANDARD);
    }

    /// addWatch: persistent goes in both tables, recursive in the data table only.
    pub fn add_persistent(&mut self, p: &str, conn: ConnId, recursive: bool) {
        if recursive {
            self.add(Table::Data, p, conn, RECURSIVE);
        } else {
            self.add(Table::Data, p, conn, PERSISTENT);
            self.add(Table::Child, p, conn, PERSISTENT);
        }
    }

    /// Removes every watch of a connection that closed.
    pub fn remove_conn(&mut self, conn: ConnId) {
        let Some(keys) = self.by_conn.remove(&conn) else {
            return;
        };
        for (t, p) in keys {
            self.drop_modes(t, &p, conn, u8::MAX);
        }
    }

    /// Clears `mask` bits of one registration; returns the bits that were set.
    fn drop_modes(&mut self, t: Table, p: &str, conn: ConnId, mask: u8) -> u8 {
        let table = self.table(t);
        let Some(watchers) = table.get_mut(p) else {
            return 0;
        };
        let Some(modes) = watchers.get_mut(&conn) else {
            return 0;
        };
        let had = *modes & mask;
        *modes &= !mask;
        let now_empty = *modes == 0;
        if now_empty {
            watchers.remove(&conn);
            if watchers.is_empty() {
                table.remove(p);
            }
        }
        if had & RECURSIVE != 0 {
            self.recursive -= 1;
        }
        if now_empty {
            if let Some(keys) = self.by_conn.get_mut(&conn) {
                keys.remove(&(t, p.to_string()));
            }
        }
        had
    }

    fn modes(&self, t: Table, p: &str, conn: ConnId) -> u8 {
        let table = match t {
            Table::Data => &self.data,
            Table::Child => &self.child,
        };
        table
            .get(p)
            .and_then(|m| m.get(&conn))
            .copied()
            .unwrap_or(0)
    }

    /// checkWatches / removeWatches for one connection: whether a matching watch
    /// exists, removing it when `remove`.
    pub fn check(&mut self, p: &str, conn: ConnId, watcher_type: i32, remove: bool) -> bool {
        use crate::proto::watcher_type as wt;
        let targets: &[(Table, u8)] = match watcher_type {
            wt::CHILDREN => &[(Table::Child, STANDARD)],
            wt::DATA => &[(Table::Data, STANDARD)],
            wt::ANY => &[(Table::Data, u8::MAX), (Table::Child, u8::MAX)],
            wt::PERSISTENT => &[(Table::Data, PERSISTENT), (Table::Child, PERSISTENT)],
            wt::PERSISTENT_RECURSIVE => &[(Table::Data, RECURSIVE)],
            _ => &[],
        };
        let mut found = false;
        for &(t, mask) in targets {
            if self.modes(t, p, conn) & mask != 0 {
                found = true;
                if remove {
                    self.drop_modes(t, p, conn, mask);
                }
            }
        }
        found
    }

    /// Fires one table for a path: every watcher on the exact path, and recursive
    /// watchers on its ancestors. One-shot registrations are consumed.
    fn trigger_table(
        &mut self,
        t: Table,
        p: &str,
        event: EventType,
        acl: Option<&Arc<Vec<Acl>>>,
        suppress: &HashSet<ConnId>,
        out: &mut Vec<Event>,
    ) -> HashSet<ConnId> {
        let mut fired: HashSet<ConnId> = HashSet::new();
        let mut consumed: Vec<ConnId> = Vec::new();
        if let Some(watchers) = self.table(t).get(p) {
            for (&conn, &modes) in watchers {
                if suppress.contains(&conn) {
                    continue;
                }
                fired.insert(conn);
                if modes & STANDARD != 0 {
                    consumed.push(conn);
                }
            }
        }
        for conn in consumed {
            self.drop_modes(t, p, conn, STANDARD);
        }
        if self.recursive > 0 && t == Table::Data {
            let mut cur = p;
            while let Some(parent) = path::parent_of(cur) {
                if let Some(watchers) = self.data.get(parent) {
                    for (&conn, &modes) in watchers {
                        if modes & RECURSIVE != 0 && !suppress.contains(&conn) {
                            fired.insert(conn);
                        }
                    }
                }
                cur = parent;
            }
        }
        let mut conns: Vec<ConnId> = fired.iter().copied().collect();
        conns.sort_unstable();
        out.extend(conns.into_iter().map(|conn| Event {
            conn,
            event,
            path: p.to_string(),
            acl: acl.cloned(),
        }));
        fired
    }

    /// The events one change fires, in ZooKeeper's order.
    pub fn trigger(&mut self, change: &Change, out: &mut Vec<Event>) {
        let none = HashSet::new();
        let p = change.path.as_str();
        let acl = Some(&change.acl);
        let children_changed = |reg: &mut Self, out: &mut Vec<Event>| {
            if let Some(parent) = path::parent_of(p) {
                reg.trigger_table(
                    Table::Child,
                    parent,
                    EventType::NodeChildrenChanged,
                    change.parent_acl.as_ref(),
                    &none,
                    out,
                );
            }
        };
        match change.kind {
            ChangeKind::Created => {
                self.trigger_table(Table::Data, p, EventType::NodeCreated, acl, &none, out);
                children_changed(self, out);
            }
            ChangeKind::Deleted => {
                let fired =
                    self.trigger_table(Table::Data, p, EventType::NodeDeleted, acl, &none, out);
                self.trigger_table(Table::Child, p, EventType::NodeDeleted, acl, &fired, out);
                children_changed(self, out);
            }
            ChangeKind::DataChanged => {
                self.trigger_table(Table::Data, p, EventType::NodeDataChanged, acl, &none, out);
            }
        }
    }

    /// Total registrations (path, connection) over both tables: `watch_count`.
    pub fn count(&self) -> usize {
        self.data.values().map(|m| m.len()).sum::<usize>()
            + self.child.values().map(|m| m.len()).sum::<usize>()
    }

    /// Distinct watched paths.
    pub fn path_count(&self) -> usize {
        let mut paths: HashSet<&String> = self.data.keys().collect();
        paths.extend(self.child.keys());
        paths.len()
    }

    /// Connections holding at least one watch.
    pub fn connection_count(&self) -> usize {
        self.by_conn.values().filter(|s| !s.is_empty()).count()
    }

    /// Paths watched by each connection (`wchc`).
    pub fn by_connection(&self) -> Vec<(ConnId, Vec<String>)> {
        let mut out: Vec<(ConnId, Vec<String>)> = self
            .by_conn
            .iter()
            .filter(|(_, s)| !s.is_empty())
            .map(|(c, s)| {
                let mut paths: Vec<String> = s.iter().map(|(_, p)| p.clone()).collect();
                paths.sort();
                paths.dedup();
                (*c, paths)
            })
            .collect();
        out.sort();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(kind: ChangeKind, p: &str) -> Change {
        Change {
            kind,
            path: p.into(),
            acl: Arc::new(Acl::world_all()),
            parent_acl: None,
        }
    }

    fn fire(reg: &mut WatchRegistry, change: Change) -> Vec<(ConnId, EventType, String)> {
        let mut out = Vec::new();
        reg.trigger(&change, &mut out);
        out.into_iter().map(|e| (e.conn, e.event, e.path)).collect()
    }

    #[test]
    fn standard_watches_fire_once() {
        let mut reg = WatchRegistry::default();
        reg.add_standard(Table::Data, "/a", 1);
        reg.add_standard(Table::Data, "/a", 1);
        assert_eq!(reg.count(), 1);
        assert_eq!(
            fire(&mut reg, change(ChangeKind::DataChanged, "/a")),
            vec![(1, EventType::NodeDataChanged, "/a".into())]
        );
        assert!(fire(&mut reg, change(ChangeKind::DataChanged, "/a")).is_empty());
        assert_eq!(reg.count(), 0);
    }

    #[test]
    fn delete_fires_data_then_child_without_duplicates() {
        let mut reg = WatchRegistry::default();
        reg.add_standard(Table::Data, "/a/b", 1);
        reg.add_standard(Table::Child, "/a/b", 1);
        reg.add_standard(Table::Child, "/a/b", 2);
        reg.add_standard(Table::Child, "/a", 3);
        assert_eq!(
            fire(&mut reg, change(ChangeKind::Deleted, "/a/b")),
            vec![
                (1, EventType::NodeDeleted, "/a/b".into()),
                (2, EventType::NodeDeleted, "/a/b".into()),
                (3, EventType::NodeChildrenChanged, "/a".into()),
            ]
        );
        assert_eq!(
            reg.count(),
            1,
            "conn 1's child watch was suppressed, not consumed"
        );
    }

    #[test]
    fn recursive_watches_see_descendants_with_their_own_paths() {
        let mut reg = WatchRegistry::default();
        reg.add_persistent("/a", 7, true);
        assert_eq!(
            fire(&mut reg, change(ChangeKind::Created, "/a/b/c")),
            vec![(7, EventType::NodeCreated, "/a/b/c".into())]
        );
        assert_eq!(
            fire(&mut reg, change(ChangeKind::DataChanged, "/a")),
            vec![(7, EventType::NodeDataChanged, "/a".into())]
        );
        assert_eq!(reg.count(), 1);
        assert!(reg.check(
            "/a",
            7,
            crate::proto::watcher_type::PERSISTENT_RECURSIVE,
            true
        ));
        assert_eq!(reg.count(), 0);
        assert!(fire(&mut reg, change(ChangeKind::Created, "/a/x")).is_empty());
    }

    /// A node's own events carry its ACL, the parent's NodeChildrenChanged the
    /// parent's: what decides who may hear of each (ZOOKEEPER-4799).
    #[test]
    fn events_carry_the_acl_that_decides_who_hears_them() {
        let mut reg = WatchRegistry::default();
        reg.add_standard(Table::Data, "/p/c", 1);
        reg.add_standard(Table::Child, "/p", 2);
        let node_acl = Arc::new(vec![Acl {
            perms: crate::proto::perms::READ,
            id: crate::proto::Id::new("ip", "10.0.0.0/8"),
        }]);
        let parent_acl = Arc::new(Acl::world_all());
        let created = Change {
            kind: ChangeKind::Created,
            path: "/p/c".into(),
            acl: node_acl.clone(),
            parent_acl: Some(parent_acl.clone()),
        };
        let mut out = Vec::new();
        reg.trigger(&created, &mut out);
        assert_eq!(
            out,
            [
                Event {
                    conn: 1,
                    event: EventType::NodeCreated,
                    path: "/p/c".into(),
                    acl: Some(node_acl),
                },
                Event {
                    conn: 2,
                    event: EventType::NodeChildrenChanged,
                    path: "/p".into(),
                    acl: Some(parent_acl),
                },
            ]
        );
    }

    #[test]
    fn persistent_watches_stay_and_see_children() {
        let mut reg = WatchRegistry::default();
        reg.add_persistent("/p", 4, false);
        assert_eq!(
            fire(&mut reg, change(ChangeKind::Created, "/p/c")),
            vec![(4, EventType::NodeChildrenChanged, "/p".into())]
        );
        assert_eq!(
            fire(&mut reg, change(ChangeKind::Created, "/p/c")).len(),
            1,
            "still registered"
        );
        reg.remove_conn(4);
        assert_eq!(reg.count(), 0);
    }
}
