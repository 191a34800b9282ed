//! Dynamic reconfiguration on the core's side: the leader prepares a reconfig
//! into a Txn with ZooKeeper's checks in ZooKeeper's order, and every member
//! takes a committed one as its membership (ZAB's quorum, the member links, the
//! dynamic config file).

use super::Core;
use crate::membership::Membership;
use crate::proto::{perms, ErrorCode, Id, ReconfigRequest};
use crate::tree::{acl, CONFIG_PATH};
use crate::txn::TxnBody;
use std::collections::BTreeMap;

/// The membership a member starts with: what the last committed reconfig made,
/// else zoo.cfg's servers (version 0).
pub(super) fn initial_membership(
    cfg: &crate::config::Config,
    tree: &crate::tree::DataTree,
) -> Membership {
    if let Some(text) = tree.reconfigured_membership() {
        match Membership::parse(&String::from_utf8_lossy(text)) {
            Ok(m) => return m,
            Err(e) => {
                tracing::error!(error = %e, "stored /zookeeper/config unreadable; using zoo.cfg")
            }
        }
    }
    Membership::new(&cfg.servers, 0)
}

impl Core {
    /// Shows zoo.cfg's membership in /zookeeper/config until a reconfig sets it
    /// (an ensemble only: a standalone member leaves it empty, as ZooKeeper).
    pub(super) fn show_membership(&mut self) {
        if !self.cfg.is_standalone() {
            let text = self.membership.render();
            self.tree.show_static_membership(text.as_bytes());
        }
    }

    /// On the leader: a reconfig request into its Txn. The checks run in
    /// ZooKeeper's order, so a client without the right to reconfigure still
    /// learns of a bad version or bad arguments first.
    pub(super) fn prep_reconfig(
        &mut self,
        zxid: i64,
        ids: &[Id],
        req: &ReconfigRequest,
    ) -> TxnBody {
        match self.reconfig_checked(zxid, ids, req) {
            Ok(next) => TxnBody::Reconfig {
                config: next.render().into_bytes(),
            },
            Err(code) => TxnBody::Error(code),
        }
    }

    fn reconfig_checked(
        &mut self,
        zxid: i64,
        ids: &[Id],
        req: &ReconfigRequest,
    ) -> Result<Membership, ErrorCode> {
        if !self.cfg.reconfig_enabled {
            return Err(ErrorCode::ReconfigDisabled);
        }
        if self.pending_reconfig.is_some() {
            return Err(ErrorCode::ReconfigInProgress);
        }
        let current = &self.membership;
        if req.from_config != -1 && req.from_config != current.version {
            return Err(ErrorCode::BadVersion);
        }
        let mut next = match &req.new_members {
            Some(members) => current.replaced_by(members)?,
            None => current.incremental(req.joining.as_deref(), req.leaving.as_deref())?,
        };
        next.version = zxid;
        let voters = next.voters();
        if self.repl.zab.synced_among(&voters) <= voters.len() / 2 {
            return Err(ErrorCode::NewConfigNoQuorum);
        }
        let allowed = self
            .tree
            .get(CONFIG_PATH)
            .is_some_and(|n| acl::allowed(&n.acl, perms::WRITE, ids));
        if !allowed {
            return Err(ErrorCode::NoAuth);
        }
        Ok(next)
    }

    /// A reconfig Txn was proposed by this leader: no other until it applies.
    pub(super) fn reconfig_proposed(&mut self, zxid: i64, body: &TxnBody) -> Option<Membership> {
        let TxnBody::Reconfig { config } = body else {
            return None;
        };
        let next = Membership::parse(&String::from_utf8_lossy(config)).ok()?;
        self.pending_reconfig = Some(zxid);
        Some(next)
    }

    /// A committed reconfig was applied here: it is the membership from now on.
    pub(super) fn reconfig_applied(&mut self, config: &[u8]) {
        self.pending_reconfig = None;
        let next = match Membership::parse(&String::from_utf8_lossy(config)) {
            Ok(m) => m,
            Err(e) => {
                tracing::error!(error = %e, "a committed reconfig does not parse; membership kept");
                return;
            }
        };
        tracing::info!(
            version = format!("{:x}", next.version),
            voters = ?next.voters(),
            observers = ?next.observers(),
            "membership changed"
        );
        self.metrics.reconfigs.inc();
        self.adopt_membership(next);
    }

    /// Takes `next` as the membership: links, ZAB's quorum, the config file.
    pub(super) fn adopt_membership(&mut self, next: Membership) {
        if next == self.membership {
            return;
        }
        self.metrics.config_version.set(next.version);
        let my_id = self.cfg.my_id.unwrap_or(0);
        if let Some(links) = &mut self.repl.links {
            let mut peers = BTreeMap::new();
            for s in next.servers.values().filter(|s| s.id != my_id) {
                match crate::resolve(&s.host, s.quorum_port) {
                    Ok(addr) => {
                        peers.insert(s.id, addr);
                    }
                    Err(e) => tracing::warn!(member = s.id, error = %e, "cannot link to a member"),
                }
            }
            links.set_peers(peers);
        }
        self.write_dynamic_config(&next);
        self.membership = next;
        let (voters, observers, version) = (
            self.membership.voters(),
            self.membership.observers(),
            self.membership.version,
        );
        // What ZAB does about it (an election, commits) is carried out by the
        // caller's action loop, after the actions already under way.
        self.repl.zab.set_membership(voters, observers, version);
    }

    /// Writes `<zoo.cfg>.dynamic.<version>` as ZooKeeper does (server lines,
    /// sorted, no version line), for operators; the member itself recovers its
    /// membership from the replicated /zookeeper/config.
    fn write_dynamic_config(&self, m: &Membership) {
        if m.version == 0 {
            return;
        }
        let mut lines: Vec<String> = m
            .render()
            .lines()
            .filter(|l| !l.starts_with("version="))
            .map(str::to_string)
            .collect();
        lines.sort();
        let mut name = self.cfg.file.clone().into_os_string();
        name.push(format!(".dynamic.{:x}", m.version));
        if let Err(e) = std::fs::write(&name, lines.join("\n") + "\n") {
            tracing::warn!(file = ?name, error = %e, "cannot write the dynamic config file");
        }
    }
}
