//! `mntr` in ZooKeeper's default-provider format: `zk_<key>\t<value>` lines, the
//! member's identity first, then every ZooKeeper-layer family shown in its role;
//! summaries expand to avg/min/max/cnt/sum (and p50/p95/p99/p999 for the detailed
//! ones), keyed sets to `zk_<stat>_<key>_<name>`.

use crate::family::{Kind, Layer};
use crate::registry::Metrics;
use crate::summary::Digest;
use prometheus::proto::MetricType;
use std::fmt::Write as _;

/// Formats a double as Java does in mntr: `0.0`, `427.0`, `1.1935`.
pub fn java_double(v: f64) -> String {
    if !v.is_finite() {
        return "0.0".to_string();
    }
    if v.fract() == 0.0 && v.abs() < 1e15 {
        return format!("{v:.1}");
    }
    let s = format!("{v:.4}");
    let s = s.trim_end_matches('0');
    s.strip_suffix('.')
        .map_or(s.to_string(), |t| format!("{t}.0"))
}

fn push(out: &mut String, key: &str, value: impl std::fmt::Display) {
    let _ = writeln!(out, "zk_{key}\t{value}");
}

fn push_digest(out: &mut String, prefix: &str, name: &str, d: &Digest) {
    push(out, &format!("avg_{prefix}{name}"), java_double(d.avg));
    push(out, &format!("min_{prefix}{name}"), d.min.round() as i64);
    push(out, &format!("max_{prefix}{name}"), d.max.round() as i64);
    push(out, &format!("cnt_{prefix}{name}"), d.count);
    push(out, &format!("sum_{prefix}{name}"), d.sum.round() as i64);
    if let Some([p50, p95, p99, p999]) = d.percentiles {
        for (p, v) in [("p50", p50), ("p95", p95), ("p99", p99), ("p999", p999)] {
            push(out, &format!("{p}_{prefix}{name}"), v.round() as i64);
        }
    }
}

/// The whole answer; `head` holds zk_version, zk_server_state and zk_peer_state.
pub fn render(metrics: &Metrics, head: &[(&str, String)]) -> String {
    let mut out = String::new();
    for (k, v) in head {
        push(&mut out, k, v);
    }
    let zk: Vec<&str> = metrics
        .definitions()
        .iter()
        .filter(|d| d.layer == Layer::ZooKeeper && !matches!(d.kind, Kind::Summary(_)))
        .map(|d| d.name)
        .collect();
    for family in metrics.gather() {
        if !zk.contains(&family.name()) {
            continue;
        }
        let Some(sample) = family.get_metric().first() else {
            continue;
        };
        let value = match family.get_field_type() {
            MetricType::COUNTER => sample.get_counter().get_value(),
            _ => sample.get_gauge().get_value(),
        };
        let text = if family.name() == "avg_latency" {
            java_double(value)
        } else {
            (value as i64).to_string()
        };
        push(&mut out, family.name(), &text);
        if family.name() == "learners" {
            // 3.4/3.5 called it zk_followers; collectors still read that key.
            push(&mut out, "followers", &text);
        }
    }
    for (name, s) in metrics.summaries() {
        push_digest(&mut out, "", name, &s.digest());
    }
    for (name, set) in metrics.summary_sets() {
        for (key, s) in set.entries() {
            push_digest(&mut out, &format!("{key}_"), name, &s.digest());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::Role;

    #[test]
    fn doubles_print_as_java_does() {
        assert_eq!(java_double(0.0), "0.0");
        assert_eq!(java_double(427.0), "427.0");
        assert_eq!(java_double(1.19354), "1.1935");
        assert_eq!(java_double(0.5), "0.5");
    }

    #[test]
    fn leader_keys_only_on_the_leader_and_followers_aliases_learners() {
        let m = Metrics::new();
        m.set_role(Role::Following, true);
        let text = render(&m, &[("version", "x".into())]);
        assert!(text.starts_with("zk_version\tx\n"));
        assert!(text.contains("zk_znode_count\t0\n"));
        assert!(!text.contains("zk_learners"));
        assert!(!text.contains("zk_followers"));
        m.set_role(Role::Leading, true);
        m.learners.set(2);
        let text = render(&m, &[]);
        assert!(text.contains("zk_learners\t2\n") && text.contains("zk_followers\t2\n"));
        assert!(text.contains("zk_last_proposal_size\t-1\n"));
    }

    #[test]
    fn summaries_expand_as_the_default_provider() {
        let m = Metrics::new();
        m.set_role(Role::Standalone, true);
        m.readlatency.observe(2.0);
        m.readlatency.observe(4.0);
        m.fsynctime.observe(3.0);
        m.ack_latency.with_key("2").observe(5.0);
        let text = render(&m, &[]);
        for line in [
            "zk_avg_readlatency\t3.0",
            "zk_min_readlatency\t2",
            "zk_max_readlatency\t4",
            "zk_cnt_readlatency\t2",
            "zk_sum_readlatency\t6",
            "zk_p50_readlatency\t2",
            "zk_p99_readlatency\t4",
            "zk_cnt_fsynctime\t1",
            "zk_avg_2_ack_latency\t5.0",
        ] {
            assert!(
                text.contains(&format!("{line}\n")),
                "missing {line} in\n{text}"
            );
        }
        assert!(
            !text.contains("zk_p50_fsynctime"),
            "fsynctime is a basic summary"
        );
    }
}
