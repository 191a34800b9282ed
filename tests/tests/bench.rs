//! A short run of `rookery bench` against a standalone member (the smoke run of
//! issue 7; the numbers themselves live in tests/perf, never in assertions).

use rookery_tests::{bench_json, Member};

fn bench(member: &Member, args: &[&str]) -> serde_json::Value {
    bench_json(&member.connect_string(), args)
}

#[test]
fn every_workload_reports_throughput_and_ordered_latencies_and_cleans_up() {
    let member = Member::start();
    let runs: [&[&str]; 9] = [
        &["--workload", "create"],
        &["--workload", "set"],
        &["--workload", "get"],
        &["--workload", "mixed"],
        &["--workload", "delete"],
        &["--workload", "multi"],
        &["--workload", "churn"],
        &["--workload", "watch", "--watchers", "20"],
        &["--workload", "set", "--rate", "400"],
    ];
    for args in runs {
        let workload = args[1];
        let r = bench(&member, args);
        assert_eq!(r["workload"], workload);
        let ops = r["ops"].as_u64().expect("ops");
        assert!(ops > 0, "{workload}: no request answered: {r}");
        assert_eq!(r["errors"], 0, "{workload}: {r}");
        if args.contains(&"--rate") {
            // Open loop sends on schedule: about rate × duration requests.
            assert_eq!(r["mode"], "open");
            assert!(
                (300..=500).contains(&ops),
                "{ops} requests at 400/s for 1 s: {r}"
            );
        }
        if workload == "watch" {
            // Every round delivered one event to each of the 20 watchers.
            assert_eq!(r["events"].as_f64(), Some(20.0 * ops as f64), "{r}");
        }
        let l = &r["latency_ms"];
        let q = |k: &str| l[k].as_f64().expect("a latency");
        assert!(
            q("p50") <= q("p99") && q("p99") <= q("p999") && q("p999") <= q("max"),
            "{workload}: {r}"
        );
    }
    // The bench removed its subtree: the root has only /zookeeper.
    assert_eq!(
        child_count(&member, "/"),
        1,
        "only /zookeeper is left under /"
    );
}

#[test]
fn a_watch_run_closes_every_session_it_opened() {
    // 200 watchers left to expire would sit on the member for 30 s, under the
    // next run of a comparison.
    let member = Member::start();
    let r = bench(&member, &["--workload", "watch", "--watchers", "200"]);
    assert!(r["ops"].as_u64().unwrap_or(0) > 0, "{r}");
    wait_for_no_sessions(&member);
}

/// Waits until the member holds no session (the bench's own are closed as it ends).
fn wait_for_no_sessions(member: &Member) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let (_, metrics) =
            rookery_tests::http_get(member.metrics_addr(), "/metrics").expect("a scrape");
        let sessions = metrics
            .lines()
            .find_map(|l| l.strip_prefix("global_sessions "))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .unwrap_or_else(|| panic!("no global_sessions in the scrape:\n{metrics}"));
        if sessions == 0.0 {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{sessions} sessions still open 5 s after the bench ended"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// How many children `path` has, by a getChildren on the wire.
fn child_count(member: &Member, path: &str) -> i32 {
    use std::io::Write as _;
    let (mut s, _) = rookery_tests::wire::handshake(member.addr()).expect("session");
    let list = rookery_tests::wire::Writer::new()
        .string(path)
        .boolean(false);
    s.write_all(&rookery_tests::wire::request(1, 8, &list))
        .expect("getChildren");
    let reply = rookery_tests::wire::read_reply(&mut s).expect("reply");
    assert_eq!(reply.err, 0, "getChildren {path}");
    rookery_tests::wire::Reader(&reply.body).int()
}

#[test]
fn populate_makes_and_keeps_the_nodes_asked_for_and_the_plot_is_written() {
    let member = Member::start();
    let plot = member.dir().join("latency.svg");
    let r = bench(
        &member,
        &[
            "--workload",
            "populate",
            "--keys",
            "1500",
            "--plot",
            plot.to_str().expect("a UTF-8 path"),
        ],
    );
    assert_eq!(r["ops"], 1500, "{r}");
    let svg = std::fs::read_to_string(&plot).expect("the plot");
    assert!(
        svg.starts_with("<svg") && svg.contains("<polyline"),
        "{svg}"
    );
    // 1,000 parents, 1,500 nodes under them: p0 has n0 and n1000.
    assert_eq!(
        child_count(&member, "/rookery-populate/p0"),
        2,
        "two nodes under p0"
    );
}
