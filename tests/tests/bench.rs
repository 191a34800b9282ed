//! A short run of `rookery bench` against a standalone member (the smoke run of
//! issue 7; the numbers themselves live in tests/perf, never in assertions).

use rookery_tests::{rookery_bin, Member};

fn bench(member: &Member, args: &[&str]) -> serde_json::Value {
    let out = std::process::Command::new(rookery_bin())
        .args(["bench", "--connect", &member.connect_string(), "--json"])
        .args([
            "--sessions",
            "4",
            "--duration",
            "1",
            "--warmup",
            "0.2",
            "--keys",
            "20",
        ])
        .args(args)
        .output()
        .expect("run rookery bench");
    assert!(
        out.status.success(),
        "rookery bench {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("one JSON object")
}

#[test]
fn every_workload_reports_throughput_and_ordered_latencies_and_cleans_up() {
    let member = Member::start();
    for workload in ["create", "set", "get", "mixed", "delete"] {
        let r = bench(&member, &["--workload", workload]);
        assert_eq!(r["workload"], workload);
        let ops = r["ops"].as_u64().expect("ops");
        assert!(ops > 0, "{workload}: no request answered: {r}");
        assert_eq!(r["errors"], 0, "{workload}: {r}");
        let l = &r["latency_ms"];
        let q = |k: &str| l[k].as_f64().expect("a latency");
        assert!(
            q("p50") <= q("p99") && q("p99") <= q("p999") && q("p999") <= q("max"),
            "{workload}: {r}"
        );
    }
    // The bench removed its subtree: the root has only /zookeeper.
    let (mut s, _) = rookery_tests::wire::handshake(member.addr()).expect("session");
    use std::io::Write as _;
    let list = rookery_tests::wire::Writer::new()
        .string("/")
        .boolean(false);
    s.write_all(&rookery_tests::wire::request(1, 8, &list))
        .expect("getChildren");
    let reply = rookery_tests::wire::read_reply(&mut s).expect("reply");
    let mut r = rookery_tests::wire::Reader(&reply.body);
    let count = r.int();
    assert_eq!(count, 1, "only /zookeeper is left under /");
}
