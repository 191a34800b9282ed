//! The ensemble's membership as ZooKeeper publishes it in `/zookeeper/config`,
//! and the reconfig op's edits of it. Pure: parsing, rendering, and the checks
//! whose error codes a client sees.
//!
//! The text is ZooKeeper's `QuorumMaj.toString()`: one
//! `server.N=host:quorumPort:electionPort:participant|observer[;clientHost:clientPort]`
//! line per member in id order, then `version=<hex>` with no newline after it.
//! The version is the zxid of the reconfig that made the configuration (0 for
//! the one zoo.cfg gave).

use crate::config::{parse_server_spec, ServerSpec};
use crate::proto::ErrorCode;
use std::collections::{BTreeMap, BTreeSet};

/// One configuration of the ensemble.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    pub servers: BTreeMap<u64, ServerSpec>,
    pub version: i64,
}

impl Membership {
    pub fn new(servers: &[ServerSpec], version: i64) -> Membership {
        Membership {
            servers: servers.iter().map(|s| (s.id, s.clone())).collect(),
            version,
        }
    }

    pub fn voters(&self) -> BTreeSet<u64> {
        self.servers
            .values()
            .filter(|s| !s.observer)
            .map(|s| s.id)
            .collect()
    }

    pub fn observers(&self) -> BTreeSet<u64> {
        self.servers
            .values()
            .filter(|s| s.observer)
            .map(|s| s.id)
            .collect()
    }

    /// The text of `/zookeeper/config`.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for s in self.servers.values() {
            out.push_str(&format!("server.{}={}\n", s.id, render_spec(s)));
        }
        out.push_str(&format!("version={:x}", self.version));
        out
    }

    /// Reads the text of `/zookeeper/config` back.
    pub fn parse(text: &str) -> Result<Membership, String> {
        let mut servers = BTreeMap::new();
        let mut version = 0;
        for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
            let (key, value) = line
                .split_once('=')
                .ok_or_else(|| format!("expected key=value, found {line:?}"))?;
            if key == "version" {
                version = i64::from_str_radix(value, 16)
                    .map_err(|_| format!("version {value:?} is not hexadecimal"))?;
                continue;
            }
            let id = server_id(key).ok_or_else(|| format!("unexpected key {key:?}"))?;
            servers.insert(id, parse_server_spec(key, id, value)?);
        }
        Ok(Membership { servers, version })
    }

    /// An incremental reconfig: `leaving` is a comma-separated list of ids,
    /// `joining` of `server.N=spec` entries. As ZooKeeper: an id that is not a
    /// member leaves silently, a joining id that is a member replaces its entry,
    /// an entry without a client address is refused.
    pub fn incremental(
        &self,
        joining: Option<&str>,
        leaving: Option<&str>,
    ) -> Result<Membership, ErrorCode> {
        let mut next = self.servers.clone();
        for item in list(leaving) {
            // ZooKeeper parses the id with Long.parseLong outside its argument
            // checks: a bad number is a marshalling error there.
            let id = item
                .parse::<u64>()
                .map_err(|_| ErrorCode::MarshallingError)?;
            next.remove(&id);
        }
        for item in list(joining) {
            let spec = joining_spec(item)?;
            next.insert(spec.id, spec);
        }
        self.checked(next)
    }

    /// A non-incremental reconfig: `members` (comma- or newline-separated
    /// `server.N=spec` entries) is the whole new membership.
    pub fn replaced_by(&self, members: &str) -> Result<Membership, ErrorCode> {
        let mut next = BTreeMap::new();
        for item in members
            .split([',', '\n'])
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            let (key, value) = item.split_once('=').ok_or(ErrorCode::BadArguments)?;
            let id = server_id(key.trim()).ok_or(ErrorCode::BadArguments)?;
            let spec =
                parse_server_spec(key, id, value.trim()).map_err(|_| ErrorCode::BadArguments)?;
            next.insert(id, spec);
        }
        self.checked(next)
    }

    fn checked(&self, servers: BTreeMap<u64, ServerSpec>) -> Result<Membership, ErrorCode> {
        let next = Membership {
            servers,
            version: self.version,
        };
        // ZooKeeper (standaloneEnabled, its default) wants at least two voters.
        if next.voters().len() < 2 {
            return Err(ErrorCode::BadArguments);
        }
        Ok(next)
    }
}

/// `server.N` → N.
fn server_id(key: &str) -> Option<u64> {
    key.strip_prefix("server.")?.parse().ok()
}

fn list(s: Option<&str>) -> impl Iterator<Item = &str> {
    s.unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// One `server.N=host:q:e[:role];client` entry of a joining list.
fn joining_spec(item: &str) -> Result<ServerSpec, ErrorCode> {
    let parts: Vec<&str> = item.split('=').filter(|p| !p.is_empty()).collect();
    let [key, value] = parts[..] else {
        return Err(ErrorCode::BadArguments);
    };
    let id = key
        .trim()
        .rsplit('.')
        .next()
        .and_then(|n| n.parse::<u64>().ok())
        .ok_or(ErrorCode::MarshallingError)?;
    let spec = parse_server_spec(key, id, value.trim()).map_err(|_| ErrorCode::BadArguments)?;
    if spec.client.is_none() {
        return Err(ErrorCode::BadArguments);
    }
    Ok(spec)
}

/// `host:q:e:role[;clientHost:clientPort]`, a bare client port shown on 0.0.0.0.
fn render_spec(s: &ServerSpec) -> String {
    let role = if s.observer {
        "observer"
    } else {
        "participant"
    };
    let mut out = format!("{}:{}:{}:{role}", s.host, s.quorum_port, s.election_port);
    if let Some(client) = &s.client {
        if client.contains(':') {
            out.push_str(&format!(";{client}"));
        } else {
            out.push_str(&format!(";0.0.0.0:{client}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn three() -> Membership {
        Membership::parse(
            "server.1=localhost:2888:3888:participant\n\
             server.2=localhost:2889:3889:participant\n\
             server.3=localhost:2890:3890:participant\nversion=0",
        )
        .unwrap()
    }

    #[test]
    fn renders_as_zookeeper_does() {
        let mut m = three();
        m.version = 0x100000000;
        assert_eq!(
            m.render(),
            "server.1=localhost:2888:3888:participant\n\
             server.2=localhost:2889:3889:participant\n\
             server.3=localhost:2890:3890:participant\nversion=100000000"
        );
        assert_eq!(Membership::parse(&m.render()).unwrap(), m);
    }

    #[test]
    fn an_observer_joins_with_its_client_address_and_leaves() {
        let joining = "server.100=0.0.0.0:4001:4002:observer;0.0.0.0:4003";
        let m = three().incremental(Some(joining), None).unwrap();
        assert!(m.render().contains(joining), "{}", m.render());
        assert_eq!(m.observers(), [100].into());
        let bare = three()
            .incremental(Some("server.7=h:1:2;2181"), None)
            .unwrap();
        assert!(bare
            .render()
            .contains("server.7=h:1:2:participant;0.0.0.0:2181"));
        let back = m.incremental(None, Some("100")).unwrap();
        assert_eq!(back.servers, three().servers);
    }

    #[test]
    fn bad_input_gets_zookeepers_codes() {
        let m = three();
        assert_eq!(
            m.incremental(Some("some thing"), None),
            Err(ErrorCode::BadArguments)
        );
        assert_eq!(
            m.incremental(Some("server.x=h:1:2;3"), None),
            Err(ErrorCode::MarshallingError)
        );
        // No client address.
        assert_eq!(
            m.incremental(Some("server.4=h:1:2"), None),
            Err(ErrorCode::BadArguments)
        );
        assert_eq!(
            m.incremental(None, Some("two")),
            Err(ErrorCode::MarshallingError)
        );
        // Fewer than two voters left.
        assert_eq!(
            m.incremental(None, Some("1,2")),
            Err(ErrorCode::BadArguments)
        );
        // Leaving an id that is not a member changes nothing.
        assert_eq!(m.incremental(None, Some("42")).unwrap().servers, m.servers);
    }

    #[test]
    fn a_new_member_list_replaces_the_old() {
        let m = three()
            .replaced_by("server.1=localhost:2888:3888;2181,server.4=localhost:2891:3891;2184")
            .unwrap();
        assert_eq!(m.voters(), [1, 4].into());
        assert_eq!(
            three().replaced_by("server.1=localhost:2888:3888;2181"),
            Err(ErrorCode::BadArguments)
        );
    }
}
