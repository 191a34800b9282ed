//! Deterministic inputs for the model and snapshot tests: poll rounds of a
//! three-member ensemble through a leader change, and a small tree.

use crate::model::ensemble::{MemberSample, PollRound, Reach};
use crate::model::node::{AclEntry, NodeData, Stat};
use crate::model::{Action, App, Session};
use crate::parse::fourlw::{parse_mntr, Srvr};
use crate::parse::prom::Metrics;

/// 2023-11-14 22:13:20 UTC.
pub const T0: u64 = 1_700_000_000_000;

/// The members.
pub fn members() -> Vec<String> {
    (1..=3).map(|i| format!("10.0.0.{i}:2181")).collect()
}

/// A serving member.
pub fn serving(addr: &str, mode: &str, zxid: i64, metrics: Option<&str>) -> MemberSample {
    MemberSample {
        addr: addr.to_string(),
        reach: Reach::Serving(Srvr {
            mode: Some(mode.to_string()),
            zxid: Some(zxid),
            connections: Some(4),
            outstanding: Some(0),
            node_count: Some(12),
            latency_ms: Some((0.0, 0.5, 9.0)),
        }),
        mntr: parse_mntr(&format!(
            "zk_server_state\t{mode}\nzk_peer_epoch\t{}\nzk_global_sessions\t7\nzk_watch_count\t21\n\
             zk_znode_count\t12\nzk_packets_received\t{}\n",
            zxid >> 32,
            zxid & 0xffff_ffff
        )),
        metrics: metrics.map(Metrics::parse),
        metrics_url: metrics.map(|_| format!("http://{}:7000", addr.split(':').next().unwrap_or(""))),
    }
}

/// `/metrics` of a Rookery leader after `n` requests (all fast but a few).
pub fn rookery_metrics(n: u64, fsyncs: u64) -> String {
    let fast = n * 9 / 10;
    format!(
        "rookery_request_duration_seconds_bucket{{op=\"getData\",result=\"ok\",le=\"0.0005\"}} {fast}\n\
         rookery_request_duration_seconds_bucket{{op=\"getData\",result=\"ok\",le=\"0.001\"}} {}\n\
         rookery_request_duration_seconds_bucket{{op=\"getData\",result=\"ok\",le=\"0.005\"}} {n}\n\
         rookery_request_duration_seconds_bucket{{op=\"getData\",result=\"ok\",le=\"+Inf\"}} {n}\n\
         rookery_request_duration_seconds_count{{op=\"getData\",result=\"ok\"}} {n}\n\
         rookery_request_duration_seconds_sum{{op=\"getData\",result=\"ok\"}} 0.1\n\
         rookery_wal_fsync_duration_seconds_bucket{{le=\"0.001\"}} 0\n\
         rookery_wal_fsync_duration_seconds_bucket{{le=\"0.002\"}} {fsyncs}\n\
         rookery_wal_fsync_duration_seconds_bucket{{le=\"+Inf\"}} {fsyncs}\n\
         rookery_wal_fsync_duration_seconds_count {fsyncs}\n\
         rookery_wal_fsync_duration_seconds_sum 0.01\n\
         rookery_server_state{{state=\"leading\"}} 1\n\
         global_sessions 7\nwatch_count 21\nznode_count 12\n",
        n * 99 / 100
    )
}

/// Rounds: a healthy ensemble led by member 1; member 1 lost and an
/// election; member 2 leads; member 1 back, behind.
pub fn rounds() -> Vec<PollRound> {
    let m = members();
    let mut out = Vec::new();
    for (i, n) in [(0u64, 1000u64), (1, 1500), (2, 2200)] {
        out.push(PollRound {
            at_ms: T0 + i * 1000,
            members: vec![
                serving(
                    &m[0],
                    "leader",
                    0x2_0000_0010 + i as i64,
                    Some(&rookery_metrics(n, 10 * (i + 1))),
                ),
                serving(&m[1], "follower", 0x2_0000_0010 + i as i64, None),
                serving(&m[2], "follower", 0x2_0000_000e + i as i64, None),
            ],
        });
    }
    out.push(PollRound {
        at_ms: T0 + 3000,
        members: vec![
            MemberSample::down(&m[0], "connection refused"),
            MemberSample {
                reach: Reach::NotServing,
                ..MemberSample::down(&m[1], "")
            },
            MemberSample {
                reach: Reach::NotServing,
                ..MemberSample::down(&m[2], "")
            },
        ],
    });
    out.push(PollRound {
        at_ms: T0 + 5000,
        members: vec![
            MemberSample::down(&m[0], "connection refused"),
            serving(&m[1], "leader", 0x3_0000_0000 + 1500, None),
            serving(&m[2], "follower", 0x3_0000_0000 + 1500, None),
        ],
    });
    out.push(PollRound {
        at_ms: T0 + 6000,
        members: vec![
            serving(&m[0], "follower", 0x3_0000_0000, None),
            serving(&m[1], "leader", 0x3_0000_0000 + 1501, None),
            serving(&m[2], "follower", 0x3_0000_0000 + 1501, None),
        ],
    });
    out
}

/// A node's Stat.
pub fn stat(version: i32, children: i32, ephemeral_owner: i64) -> Stat {
    Stat {
        czxid: 0x2_0000_0003,
        mzxid: 0x2_0000_0009,
        pzxid: 0x2_0000_0004,
        ctime: T0 as i64 - 86_400_000,
        mtime: T0 as i64 - 185_000,
        version,
        cversion: children,
        aversion: 0,
        ephemeral_owner,
        data_length: 0,
        num_children: children,
    }
}

/// A node with `data`.
pub fn node(data: &[u8], version: i32, children: i32) -> NodeData {
    let mut stat = stat(version, children, 0);
    stat.data_length = data.len() as i32;
    NodeData {
        data: data.to_vec(),
        stat,
        acl: vec![
            AclEntry {
                perms: 31,
                scheme: "world".into(),
                id: "anyone".into(),
            },
            AclEntry {
                perms: 1,
                scheme: "digest".into(),
                id: "reader:Ys8SR3ERtvlBBnA7hLu4ktCUSvA=".into(),
            },
        ],
    }
}

/// Feeds actions, dropping effects.
pub fn feed(app: &mut App, actions: impl IntoIterator<Item = Action>) {
    for a in actions {
        app.update(a);
    }
}

/// An app on `/app/config` with the ensemble rounds applied and the tree
/// loaded: `/app` has config (JSON), locks (3 children), workers (ephemeral)
/// and 40 jobs.
pub fn app() -> App {
    let m = members();
    let connect = m.join(",");
    let mut app = App::new(&connect, &m, Some("/app/config"), false);
    app.start();
    let mut actions = vec![
        Action::Tick { now_ms: T0 },
        Action::Resize {
            width: 120,
            height: 36,
        },
        Action::Session(Session::Connected(0x1_0000_abcd)),
    ];
    actions.extend(rounds().into_iter().map(Action::Poll));
    let mut names: Vec<String> = vec!["config".into(), "locks".into(), "workers".into()];
    names.extend((0..40).map(|i| format!("job-{i:04}")));
    actions.push(Action::Children {
        dir: "/app".into(),
        result: Ok(names.clone()),
    });
    let stats = names
        .iter()
        .map(|n| {
            let s = match n.as_str() {
                "locks" => stat(0, 3, 0),
                "workers" => stat(0, 0, 0x1_0000_abcd),
                _ => stat(1, 0, 0),
            };
            (n.clone(), Some(s))
        })
        .collect();
    actions.push(Action::ChildStats {
        dir: "/app".into(),
        stats,
    });
    actions.push(Action::Node {
        path: "/app/config".into(),
        result: Ok(Some(node(
            br#"{"db":{"host":"db.internal","port":5432},"features":["a","b"],"timeout_ms":2500}"#,
            3,
            0,
        ))),
    });
    actions.push(Action::Tick { now_ms: T0 + 7000 });
    feed(&mut app, actions);
    app
}
