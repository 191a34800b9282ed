//! How long one scrape's rendering takes with full summary windows:
//! `cargo run -p rookery-metrics --example render_cost`.
use rookery_metrics::{Metrics, Role};
use std::time::Instant;

fn main() {
    let m = Metrics::new();
    m.set_role(Role::Leading, true);
    for i in 0..200_000u32 {
        let v = (i % 97) as f64 * 0.1;
        m.readlatency.observe(v);
        m.updatelatency.observe(v);
        m.quorum_ack_latency.observe(v);
        m.fsynctime.observe(v);
        m.sync_processor_batch_size.observe(v);
        m.ack_latency.with_key("2").observe(v);
        m.ack_latency.with_key("3").observe(v);
        m.proposal_latency.observe(v);
        for (op, r) in [
            ("create2", "ok"),
            ("get_data", "ok"),
            ("set_data", "bad_version"),
        ] {
            m.request_duration
                .with_label_values(&[op, r])
                .observe(v / 1000.0);
        }
    }
    let n = 50;
    let t = Instant::now();
    let mut bytes = 0;
    for _ in 0..n {
        bytes = m.render().len();
    }
    println!(
        "render: {:.2} ms per scrape, {bytes} bytes",
        t.elapsed().as_secs_f64() * 1000.0 / n as f64
    );
    let t = Instant::now();
    for i in 0..1_000_000u32 {
        m.readlatency.observe((i % 97) as f64);
    }
    println!(
        "summary observe: {:.0} ns",
        t.elapsed().as_nanos() as f64 / 1_000_000.0
    );
    let t = Instant::now();
    for i in 0..1_000_000u32 {
        m.request_duration
            .with_label_values(&["get_data", "ok"])
            .observe((i % 97) as f64 / 1000.0);
    }
    println!(
        "histogram (with label lookup) observe: {:.0} ns",
        t.elapsed().as_nanos() as f64 / 1_000_000.0
    );
}
