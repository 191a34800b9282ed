//! Rookery ensembles as real processes on loopback: every member's zoo.cfg lists
//! all of them (`server.N=127.0.0.1:quorum:election`), each on free ports.

use crate::{free_port, Member, MemberOptions};

pub struct Ensemble {
    pub members: Vec<Member>,
}

impl Ensemble {
    /// Starts `n` members and waits until every one serves.
    pub fn start(n: usize) -> Ensemble {
        Ensemble::start_with(n, Vec::new())
    }

    /// Starts `n` members with extra zoo.cfg lines and waits until every one serves.
    pub fn start_with(n: usize, extra: Vec<(String, String)>) -> Ensemble {
        let client_ports: Vec<u16> = (0..n).map(|_| free_port()).collect();
        let servers: Vec<(String, String)> = (1..=n)
            .map(|id| {
                (
                    format!("server.{id}"),
                    format!("127.0.0.1:{}:{}", free_port(), free_port()),
                )
            })
            .collect();
        let mut members: Vec<Member> = (0..n)
            .map(|i| {
                let mut lines = servers.clone();
                lines.extend(extra.iter().cloned());
                Member::start_with(MemberOptions {
                    four_letter_words: "*".to_string(),
                    extra: lines,
                    my_id: i as u32 + 1,
                    client_port: Some(client_ports[i]),
                    wait_ready: false,
                    ..MemberOptions::default()
                })
            })
            .collect();
        for m in &mut members {
            m.wait_serving();
        }
        Ensemble { members }
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

    /// The zxid a member reports in `srvr`.
    pub fn zxid(&self, index: usize) -> Option<String> {
        let srvr = crate::four_letter(self.members[index].addr(), "srvr").ok()?;
        srvr.lines()
            .find_map(|l| l.strip_prefix("Zxid: "))
            .map(str::to_string)
    }
}
