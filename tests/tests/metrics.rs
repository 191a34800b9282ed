//! Prometheus metrics on a live 3-member ensemble: both layers on every member,
//! accepted by `promtool`, each role exporting exactly its families, and the
//! election figures moving when the leader is killed.

use rookery_tests::ensemble::Ensemble;
use rookery_tests::exposition::{samples, types, value};
use rookery_tests::{http_get, Member, MemberOptions, Target};
use std::collections::BTreeSet;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use zookeeper_client as zk;

/// ZooKeeper 3.8's families the issue names, with their type on every role
/// (captured from Apache ZooKeeper 3.8 with its Prometheus provider).
const ZK_FAMILIES: &[(&str, &str)] = &[
    ("looking_count", "counter"),
    ("proposal_count", "counter"),
    ("commit_count", "counter"),
    ("connection_request_count", "counter"),
    ("connection_rejected", "counter"),
    ("connection_drop_count", "counter"),
    ("stale_sessions_expired", "counter"),
    ("revalidate_count", "counter"),
    ("unrecoverable_error_count", "counter"),
    ("bytes_received_count", "counter"),
    ("diff_count", "counter"),
    ("snap_count", "counter"),
    ("learner_commit_received_count", "counter"),
    ("readlatency", "summary"),
    ("updatelatency", "summary"),
    ("election_time", "summary"),
    ("fsynctime", "summary"),
    ("node_created_watch_count", "summary"),
    ("node_deleted_watch_count", "summary"),
    ("node_changed_watch_count", "summary"),
    ("node_children_watch_count", "summary"),
    ("quorum_ack_latency", "summary"),
    ("proposal_latency", "summary"),
    ("follower_sync_time", "summary"),
];

/// ZooKeeper's gauges: on every serving member.
const ZK_GAUGES: &[&str] = &[
    "znode_count",
    "watch_count",
    "ephemerals_count",
    "approximate_data_size",
    "num_alive_connections",
    "outstanding_requests",
    "global_sessions",
    "packets_received",
    "packets_sent",
    "avg_latency",
    "min_latency",
    "max_latency",
    "quorum_size",
    "uptime",
    "open_file_descriptor_count",
    "max_file_descriptor_count",
];

/// Only the established leader has these (ZooKeeper unregisters them elsewhere).
const LEADER_GAUGES: &[&str] = &[
    "leader_uptime",
    "learners",
    "synced_followers",
    "pending_syncs",
    "last_proposal_size",
    "min_proposal_size",
    "max_proposal_size",
    "rookery_peer_lag_txns",
];

const ROOKERY_FAMILIES: &[(&str, &str)] = &[
    ("rookery_server_is_leader", "gauge"),
    ("rookery_server_has_leader", "gauge"),
    ("rookery_server_state", "gauge"),
    ("rookery_leader_changes_total", "counter"),
    ("rookery_election_duration_seconds", "histogram"),
    ("rookery_zab_epoch", "gauge"),
    ("rookery_last_committed_zxid", "gauge"),
    ("rookery_last_applied_zxid", "gauge"),
    ("rookery_request_duration_seconds", "histogram"),
    ("rookery_session_events_total", "counter"),
    ("rookery_watch_events_total", "counter"),
    ("rookery_wal_fsync_duration_seconds", "histogram"),
    ("rookery_wal_batch_size", "histogram"),
    ("rookery_connections", "gauge"),
    ("rookery_build_info", "gauge"),
];

fn scrape(member: &Member) -> String {
    let (status, body) = http_get(member.metrics_addr(), "/metrics").expect("scrape /metrics");
    assert_eq!(status, 200, "/metrics answered {status}:\n{body}");
    body
}

/// Scrapes until `ok` holds (gauges are sampled once a second).
fn scrape_until(member: &Member, what: &str, ok: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let text = scrape(member);
        if ok(&text) {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "never saw {what}; last scrape:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `promtool check metrics` on a scrape: the problems it prints, one per line.
fn promtool(text: &str) -> Vec<String> {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (Debian package prometheus) must be installed; tests/run.sh installs it");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("feed promtool");
    let out = child.wait_with_output().expect("promtool ran");
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !all.contains("error while linting") && !all.contains("parsing error"),
        "promtool could not parse the scrape:\n{all}"
    );
    all.lines().map(str::to_string).collect()
}

fn wait_leader(ensemble: &Ensemble, except: Option<usize>) -> usize {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(l) = ensemble.leader().filter(|l| Some(*l) != except) {
            return l;
        }
        assert!(Instant::now() < deadline, "no leader elected");
        std::thread::sleep(Duration::from_millis(100));
    }
}

async fn some_traffic(connect: &str) {
    let client = zk::Client::connect(connect).await.expect("connect");
    let open = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
    client.create("/m", b"x", &open).await.expect("create");
    let (_, _, watcher) = client.get_and_watch_data("/m").await.expect("watch");
    client.set_data("/m", b"y", None).await.expect("set");
    let event = tokio::time::timeout(Duration::from_secs(10), watcher.changed())
        .await
        .expect("watch fired");
    assert_eq!(event.event_type, zk::EventType::NodeDataChanged);
    for i in 0..20 {
        client
            .create(&format!("/m/c{i}"), b"", &open)
            .await
            .expect("create child");
    }
    let _ = client.get_children("/m").await.expect("children");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_role_exports_its_families_and_promtool_accepts_them() {
    let ensemble = Ensemble::start(3);
    let leader = wait_leader(&ensemble, None);
    some_traffic(&ensemble.members[leader].connect_string()).await;
    let follower = (leader + 1) % 3;
    some_traffic_on_follower(&ensemble.members[follower].connect_string()).await;
    for member in &ensemble.members {
        let client = zk::Client::connect(&member.connect_string())
            .await
            .expect("connect");
        client.get_data("/m").await.expect("a read on every member");
    }

    for (i, member) in ensemble.members.iter().enumerate() {
        let is_leader = i == leader;
        // Gauges are sampled once a second: wait until the writes show.
        let text = scrape_until(member, "the znodes written", |t| {
            value(t, "znode_count").is_some_and(|n| n >= 25.0)
        });
        let families = types(&text);
        for (name, kind) in ZK_FAMILIES.iter().chain(ROOKERY_FAMILIES) {
            assert_eq!(
                families.get(*name).map(String::as_str),
                Some(*kind),
                "member {i} ({}): {name} should be a {kind}",
                if is_leader { "leader" } else { "follower" }
            );
        }
        for name in ZK_GAUGES {
            assert_eq!(
                families.get(*name).map(String::as_str),
                Some("gauge"),
                "{name}"
            );
        }
        for name in LEADER_GAUGES {
            assert_eq!(
                families.contains_key(*name),
                is_leader,
                "member {i}: {name} is a leader-only family"
            );
        }
        assert_eq!(
            value(&text, "rookery_server_is_leader"),
            Some(is_leader as u8 as f64)
        );
        assert_eq!(value(&text, "rookery_server_has_leader"), Some(1.0));
        let state = if is_leader { "leading" } else { "following" };
        assert_eq!(
            value(&text, &format!("rookery_server_state{{state=\"{state}\"}}")),
            Some(1.0)
        );
        assert_eq!(value(&text, "quorum_size"), Some(3.0));
        // Summaries as ZooKeeper's: quantile labels, _count and _sum, in ms.
        assert!(
            text.contains("readlatency{quantile=\"0.99\"}"),
            "readlatency quantiles"
        );
        assert!(
            text.contains("fsynctime{quantile=\"0.5\"}"),
            "fsynctime median"
        );
        assert!(
            value(&text, "fsynctime_count").unwrap_or(0.0) > 0.0,
            "every member fsyncs"
        );
        let lint = promtool(&text);
        let ours: Vec<&String> = lint.iter().filter(|l| l.starts_with("rookery_")).collect();
        assert!(
            ours.is_empty(),
            "promtool lint on rookery_* families:\n{ours:#?}"
        );
    }

    let leader_text = scrape(&ensemble.members[leader]);
    assert_eq!(value(&leader_text, "learners"), Some(2.0));
    assert_eq!(value(&leader_text, "synced_followers"), Some(2.0));
    assert!(value(&leader_text, "proposal_count").unwrap_or(0.0) >= 22.0);
    assert!(value(&leader_text, "quorum_ack_latency_count").unwrap_or(0.0) >= 22.0);
    assert!(
        leader_text.contains("ack_latency_count{key=\""),
        "per-follower ack latency"
    );
    assert!(leader_text.contains("rookery_peer_ack_duration_seconds_count{peer=\""));
    assert!(value(&leader_text, "last_proposal_size").unwrap_or(-1.0) > 0.0);
    assert!(value(&leader_text, "node_changed_watch_count_count").unwrap_or(0.0) >= 1.0);
    let watch_fires = samples(&leader_text)
        .into_iter()
        .filter(|(k, _)| k.starts_with("rookery_watch_events_total{type=\"node_data_changed\"}"))
        .map(|(_, v)| v)
        .sum::<f64>();
    assert!(watch_fires >= 1.0, "the data watch fired on the leader");
    // zookeeper-client creates with create2 (opcode 15).
    let created = value(
        &leader_text,
        "rookery_request_duration_seconds_count{op=\"create2\",result=\"ok\"}",
    );
    assert!(
        created.unwrap_or(0.0) >= 21.0,
        "creates by op and result: {created:?}"
    );

    let follower_text = scrape(&ensemble.members[follower]);
    assert!(value(&follower_text, "learner_commit_received_count").unwrap_or(0.0) >= 1.0);
    assert!(value(&follower_text, "proposal_latency_count").unwrap_or(0.0) >= 1.0);
    assert_eq!(value(&follower_text, "follower_sync_time_count"), Some(1.0));
    assert!(value(&follower_text, "updatelatency_count").unwrap_or(0.0) >= 1.0);

    for member in &ensemble.members {
        assert_eq!(http_get(member.metrics_addr(), "/healthz").unwrap().0, 200);
        assert_eq!(http_get(member.metrics_addr(), "/readyz").unwrap().0, 200);
    }
}

async fn some_traffic_on_follower(connect: &str) {
    let client = zk::Client::connect(connect).await.expect("connect");
    let open = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
    client
        .create("/from-follower", b"", &open)
        .await
        .expect("create through a follower");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_leader_kill_moves_the_election_figures() {
    let mut ensemble = Ensemble::start(3);
    let old = wait_leader(&ensemble, None);
    let survivors: Vec<usize> = (0..3).filter(|i| *i != old).collect();
    let before: Vec<(f64, f64)> = survivors
        .iter()
        .map(|&i| {
            let t = scrape(&ensemble.members[i]);
            (
                value(&t, "rookery_leader_changes_total").unwrap_or(0.0),
                value(&t, "election_time_count").unwrap_or(0.0),
            )
        })
        .collect();
    ensemble.members[old].kill9();
    let new = wait_leader(&ensemble, Some(old));
    for (k, &i) in survivors.iter().enumerate() {
        let text = scrape_until(&ensemble.members[i], "the new leader established", |t| {
            value(t, "rookery_server_has_leader") == Some(1.0)
                && value(t, "rookery_leader_changes_total").unwrap_or(0.0) > before[k].0
        });
        assert!(
            value(&text, "election_time_count").unwrap_or(0.0) > before[k].1,
            "election_time_count did not grow on member {i}"
        );
        assert!(value(&text, "looking_count").unwrap_or(0.0) >= 2.0);
        assert_eq!(
            value(&text, "rookery_server_is_leader"),
            Some((i == new) as u8 as f64)
        );
        assert_eq!(types(&text).contains_key("leader_uptime"), i == new);
    }

    // A lone member cannot serve: readiness fails and ZooKeeper's gauges vanish.
    let other = survivors.iter().copied().find(|i| *i != new).unwrap_or(new);
    ensemble.members[other].kill9();
    let lone = &ensemble.members[new];
    let text = scrape_until(lone, "the lone member back in election", |t| {
        value(t, "rookery_server_state{state=\"looking\"}") == Some(1.0)
    });
    assert!(
        !types(&text).contains_key("znode_count"),
        "gauges hide during an election"
    );
    assert!(types(&text).contains_key("looking_count"), "counters stay");
    assert_eq!(http_get(lone.metrics_addr(), "/readyz").unwrap().0, 503);
    assert_eq!(http_get(lone.metrics_addr(), "/healthz").unwrap().0, 200);
}

/// mntr expands the same families into the same keys as Apache ZooKeeper 3.8's
/// default provider, run side by side.
#[test]
fn mntr_has_zookeepers_keys() {
    let options = |target| MemberOptions {
        four_letter_words: "*".to_string(),
        target: Some(target),
        ..MemberOptions::default()
    };
    let ours = Member::start_with(options(Target::Rookery));
    let theirs = Member::start_with(options(Target::ApacheZk));
    let keys = |text: &str| -> BTreeSet<String> {
        text.lines()
            .filter_map(|l| l.split_once('\t'))
            .map(|(k, _)| k.to_string())
            .collect()
    };
    let ours_mntr = ours.four_letter("mntr");
    let theirs_mntr = theirs.four_letter("mntr");
    let (ours_keys, theirs_keys) = (keys(&ours_mntr), keys(&theirs_mntr));
    let mut expected = vec!["zk_version".to_string(), "zk_server_state".to_string()];
    for (name, kind) in ZK_FAMILIES {
        if *kind == "summary" {
            for stat in ["avg", "min", "max", "cnt", "sum"] {
                expected.push(format!("zk_{stat}_{name}"));
            }
        } else {
            expected.push(format!("zk_{name}"));
        }
    }
    expected.extend(
        ZK_GAUGES
            .iter()
            .filter(|g| **g != "quorum_size")
            .map(|g| format!("zk_{g}")),
    );
    expected.extend(
        ["readlatency", "updatelatency"]
            .iter()
            .flat_map(|n| ["p50", "p95", "p99", "p999"].map(|p| format!("zk_{p}_{n}"))),
    );
    for key in &expected {
        assert!(
            theirs_keys.contains(key),
            "ZooKeeper's mntr lacks {key} (test list wrong?)"
        );
        assert!(
            ours_keys.contains(key),
            "our mntr lacks {key}:\n{ours_mntr}"
        );
    }
    let state = |text: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix("zk_server_state\t"))
            .map(str::to_string)
    };
    assert_eq!(state(&ours_mntr), state(&theirs_mntr));

    // srvr: the same lines, in the same order.
    let heads = |text: &str| -> Vec<String> {
        text.lines()
            .filter_map(|l| l.split_once(':').map(|(k, _)| k.to_string()))
            .collect()
    };
    assert_eq!(
        heads(&ours.four_letter("srvr")),
        heads(&theirs.four_letter("srvr"))
    );
}

/// A request slower than slowRequestThresholdMs is logged once with its op, path
/// and session, and counted by op.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_requests_are_logged_and_counted() {
    let member = Member::start_with(MemberOptions {
        // Every request takes at least 0 ms: all of them are "slow".
        extra: vec![("slowRequestThresholdMs".into(), "0".into())],
        ..MemberOptions::default()
    });
    let client = zk::Client::connect(&member.connect_string())
        .await
        .expect("connect");
    let open = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
    client
        .create("/slow-one", b"", &open)
        .await
        .expect("create");
    client.get_data("/slow-one").await.expect("read");
    let text = scrape_until(&member, "the slow requests counted", |t| {
        value(t, "rookery_slow_requests_total{op=\"create2\"}").is_some_and(|n| n >= 1.0)
            && value(t, "rookery_slow_requests_total{op=\"get_data\"}").is_some_and(|n| n >= 1.0)
    });
    assert!(text.contains("rookery_slow_requests_total"));
    let log = std::fs::read_to_string(member.dir().join("member.log")).expect("member.log");
    let line = log
        .lines()
        .find(|l| l.contains("slow request") && l.contains("/slow-one") && l.contains("create2"))
        .unwrap_or_else(|| {
            panic!(
                "no slow-request line for the create:\n{}",
                member.log_tail()
            )
        });
    assert!(
        line.contains("session=") && line.contains("millis="),
        "{line}"
    );
}
