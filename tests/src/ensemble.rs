//! Rookery ensembles as real processes on loopback: every member's zoo.cfg lists
//! all of them (`server.N=127.0.0.1:quorum:election`), each on free ports.

use crate::proxy::Proxy;
use crate::{free_port, Member, MemberOptions};
use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};

pub struct Ensemble {
    pub members: Vec<Member>,
    /// With `start_proxied`: the proxy member `from` dials to reach member `to`
    /// (indexes), so one link can be slowed, blackholed or cut.
    pub links: BTreeMap<(usize, usize), Proxy>,
}

impl Ensemble {
    /// Starts `n` members and waits until every one serves.
    pub fn start(n: usize) -> Ensemble {
        Ensemble::start_with(n, Vec::new())
    }

    /// Starts `n` members with extra zoo.cfg lines and waits until every one serves.
    pub fn start_with(n: usize, extra: Vec<(String, String)>) -> Ensemble {
        Ensemble::start_mixed(n, 0, extra)
    }

    /// Starts `voters` voting members and then `observers` observers (the last
    /// indexes), and waits until every one serves.
    pub fn start_mixed(voters: usize, observers: usize, extra: Vec<(String, String)>) -> Ensemble {
        let n = voters + observers;
        let client_ports: Vec<u16> = (0..n).map(|_| free_port()).collect();
        let servers: Vec<(String, String)> = (1..=n)
            .map(|id| {
                let role = if id > voters { ":observer" } else { "" };
                (
                    format!("server.{id}"),
                    format!("127.0.0.1:{}:{}{role}", free_port(), free_port()),
                )
            })
            .collect();
        let members = start_members(&client_ports, |_| {
            let mut lines = servers.clone();
            lines.extend(extra.iter().cloned());
            lines
        });
        Ensemble {
            members,
            links: BTreeMap::new(),
        }
    }

    /// Starts `n` members whose links to each other all pass through fault-injecting
    /// proxies (one per ordered pair), and waits until every one serves.
    pub fn start_proxied(n: usize) -> Ensemble {
        Ensemble::start_proxied_with(n, Vec::new())
    }

    /// As `start_proxied`, with extra zoo.cfg lines.
    pub fn start_proxied_with(n: usize, extra: Vec<(String, String)>) -> Ensemble {
        let client_ports: Vec<u16> = (0..n).map(|_| free_port()).collect();
        let quorum_ports: Vec<u16> = (0..n).map(|_| free_port()).collect();
        let mut links = BTreeMap::new();
        for from in 0..n {
            for (to, port) in quorum_ports.iter().enumerate() {
                if from != to {
                    let upstream = SocketAddr::from((Ipv4Addr::LOCALHOST, *port));
                    let listen = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
                    links.insert((from, to), Proxy::start(listen, upstream));
                }
            }
        }
        let members = start_members(&client_ports, |i| {
            let mut lines: Vec<(String, String)> = (0..n)
                .map(|j| {
                    let port = if i == j {
                        quorum_ports[j]
                    } else {
                        links[&(i, j)].addr().port()
                    };
                    (
                        format!("server.{}", j + 1),
                        format!("127.0.0.1:{port}:{}", free_port()),
                    )
                })
                .collect();
            lines.extend(extra.iter().cloned());
            lines
        });
        Ensemble { members, links }
    }

    /// Every proxy on a link that starts or ends at member `index`.
    pub fn links_of(&self, index: usize) -> impl Iterator<Item = &Proxy> {
        self.links
            .iter()
            .filter(move |((from, to), _)| *from == index || *to == index)
            .map(|(_, p)| p)
    }

    /// Every member's client address, as one connect string.
    pub fn connect_string(&self) -> String {
        self.members
            .iter()
            .map(|m| m.connect_string())
            .collect::<Vec<_>>()
            .join(",")
    }

    /// What `srvr` says the member's mode is (`leader`, `follower`, ...).
    pub fn mode(&self, index: usize) -> Option<String> {
        let srvr = crate::four_letter(self.members[index].addr(), "srvr").ok()?;
        srvr.lines()
            .find_map(|l| l.strip_prefix("Mode: "))
            .map(str::to_string)
    }

    /// The index of the member that says it leads.
    pub fn leader(&self) -> Option<usize> {
        (0..self.members.len()).find(|i| self.mode(*i).as_deref() == Some("leader"))
    }

    /// `(zxid, digest)` from the member's `hash` word.
    pub fn digest(&self, index: usize) -> Option<(String, String)> {
        let text = crate::four_letter(self.members[index].addr(), "hash").ok()?;
        let field = |name: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(name))
                .map(str::to_string)
        };
        Some((field("Zxid: ")?, field("Digest: ")?))
    }

    /// Waits until every member reports the same zxid, then checks that they
    /// report the same digest there.
    pub fn assert_same_digest(&self) {
        if let Err(e) = self.same_digest() {
            panic!("{e}");
        }
    }

    /// Waits (up to a minute) until every member reports the same zxid, then
    /// compares their tree digests.
    pub fn same_digest(&self) -> Result<(), String> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            let all: Vec<Option<(String, String)>> =
                (0..self.members.len()).map(|i| self.digest(i)).collect();
            let zxids: std::collections::BTreeSet<_> = all
                .iter()
                .map(|d| d.as_ref().map(|d| d.0.clone()))
                .collect();
            if zxids.len() == 1 && all.iter().all(Option::is_some) {
                let digests: std::collections::BTreeSet<_> =
                    all.iter().flatten().map(|d| d.1.clone()).collect();
                if digests.len() != 1 {
                    return Err(format!("same zxid, different trees: {all:?}"));
                }
                return Ok(());
            }
            if std::time::Instant::now() >= deadline {
                return Err(format!("members never reached the same zxid: {all:?}"));
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }

    /// The zxid a member reports in `srvr`.
    pub fn zxid(&self, index: usize) -> Option<String> {
        let srvr = crate::four_letter(self.members[index].addr(), "srvr").ok()?;
        srvr.lines()
            .find_map(|l| l.strip_prefix("Zxid: "))
            .map(str::to_string)
    }
}

/// Starts one member per client port (myid = index + 1) with the zoo.cfg lines
/// `lines(index)` gives, then waits until every one serves.
fn start_members(
    client_ports: &[u16],
    lines: impl Fn(usize) -> Vec<(String, String)>,
) -> Vec<Member> {
    let mut members: Vec<Member> = client_ports
        .iter()
        .enumerate()
        .map(|(i, port)| {
            Member::start_with(MemberOptions {
                four_letter_words: "*".to_string(),
                extra: lines(i),
                my_id: i as u32 + 1,
                client_port: Some(*port),
                wait_ready: false,
                ..MemberOptions::default()
            })
        })
        .collect();
    for m in &mut members {
        m.wait_serving();
    }
    members
}
