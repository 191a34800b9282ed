//! The four-letter words the TUI reads: `srvr`, `mntr` and `conf`.
//!
//! Every field is optional: Apache ZooKeeper and Rookery differ in what they
//! print, and a member in an election answers only
//! `This ZooKeeper instance is not currently serving requests`.

use std::collections::BTreeMap;

/// What a member says when it is up but not serving (electing a leader).
pub const NOT_SERVING: &str = "not currently serving requests";

/// The parsed `srvr` reply.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Srvr {
    /// `Mode:`: leader, follower, observer, standalone (lower case).
    pub mode: Option<String>,
    /// `Zxid:`, the member's last zxid.
    pub zxid: Option<i64>,
    /// `Connections:`.
    pub connections: Option<u64>,
    /// `Outstanding:`.
    pub outstanding: Option<u64>,
    /// `Node count:`.
    pub node_count: Option<u64>,
    /// `Latency min/avg/max:` in milliseconds.
    pub latency_ms: Option<(f64, f64, f64)>,
}

/// Parses a `srvr` (or `stat`) reply. `None` when the member is not serving.
pub fn parse_srvr(text: &str) -> Option<Srvr> {
    if text.contains(NOT_SERVING) {
        return None;
    }
    let mut s = Srvr::default();
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match key.trim() {
            "Mode" => s.mode = Some(value.to_ascii_lowercase()),
            "Zxid" => s.zxid = parse_hex_or_dec(value),
            "Connections" => s.connections = value.parse().ok(),
            "Outstanding" => s.outstanding = value.parse().ok(),
            "Node count" => s.node_count = value.parse().ok(),
            "Latency min/avg/max" => {
                let parts: Vec<f64> = value
                    .split('/')
                    .filter_map(|p| p.trim().parse().ok())
                    .collect();
                if let [min, avg, max] = parts[..] {
                    s.latency_ms = Some((min, avg, max));
                }
            }
            _ => {}
        }
    }
    Some(s)
}

/// Parses `0x1a` or `26` (zxids are printed in hex).
pub fn parse_hex_or_dec(value: &str) -> Option<i64> {
    let value = value.trim();
    match value
        .strip_prefix("0x")
        .or_else(|| value.strip_prefix("0X"))
    {
        Some(hex) => u64::from_str_radix(hex, 16).ok().map(|v| v as i64),
        None => value.parse().ok(),
    }
}

/// Parses a `mntr` reply: `key<TAB>value` lines.
pub fn parse_mntr(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|line| {
            let (k, v) = line.split_once('\t')?;
            Some((k.trim().to_string(), v.trim().to_string()))
        })
        .collect()
}

/// A numeric `mntr` value.
pub fn mntr_f64(mntr: &BTreeMap<String, String>, key: &str) -> Option<f64> {
    mntr.get(key)?.parse().ok()
}

/// Where a member serves `/metrics`, from its `conf` reply:
/// `metricsProvider.httpHost` (default: the member's own host; `0.0.0.0` and
/// `::` mean the same) and `metricsProvider.httpPort` (absent, `-1` or `0`:
/// none). Returns `http://host:port`.
pub fn metrics_endpoint_from_conf(conf: &str, member_host: &str) -> Option<String> {
    let mut host = None;
    let mut port = None;
    for line in conf.lines() {
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        match k.trim() {
            "metricsProvider.httpHost" => host = Some(v.trim().to_string()),
            "metricsProvider.httpPort" => port = v.trim().parse::<i64>().ok(),
            _ => {}
        }
    }
    let port = port.filter(|p| (1..=65535).contains(p))?;
    let host = match host.as_deref() {
        None | Some("") | Some("0.0.0.0") | Some("::") | Some("[::]") => member_host.to_string(),
        Some(h) => h.to_string(),
    };
    Some(format!("http://{host}:{port}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn srvr_of_a_follower() {
        let text = "Zookeeper version: 3.8.4-abc, built on 2024\n\
                    Latency min/avg/max: 0/0.4122/12\n\
                    Received: 120\nSent: 119\nConnections: 3\nOutstanding: 1\n\
                    Zxid: 0x100000012\nMode: follower\nNode count: 7\n";
        let s = parse_srvr(text).expect("serving");
        assert_eq!(s.mode.as_deref(), Some("follower"));
        assert_eq!(s.zxid, Some(0x1_0000_0012));
        assert_eq!(s.connections, Some(3));
        assert_eq!(s.outstanding, Some(1));
        assert_eq!(s.node_count, Some(7));
        assert_eq!(s.latency_ms, Some((0.0, 0.4122, 12.0)));
    }

    #[test]
    fn srvr_of_a_member_in_election() {
        assert_eq!(
            parse_srvr("This ZooKeeper instance is not currently serving requests\n"),
            None
        );
    }

    #[test]
    fn srvr_tolerates_garbage() {
        let s = parse_srvr("Zxid: nonsense\nLatency min/avg/max: 1/2\n\u{0}\u{1}").expect("some");
        assert_eq!(s.zxid, None);
        assert_eq!(s.latency_ms, None);
    }

    #[test]
    fn mntr_lines() {
        let m = parse_mntr(
            "zk_version\t3.8.4\nzk_server_state\tleader\nzk_znode_count\t5\nbroken line\n",
        );
        assert_eq!(m.get("zk_server_state").map(String::as_str), Some("leader"));
        assert_eq!(mntr_f64(&m, "zk_znode_count"), Some(5.0));
        assert_eq!(m.len(), 3);
    }

    #[test]
    fn conf_metrics_endpoint() {
        let conf =
            "clientPort=2181\nmetricsProvider.httpHost=0.0.0.0\nmetricsProvider.httpPort=7001\n";
        assert_eq!(
            metrics_endpoint_from_conf(conf, "10.0.0.5").as_deref(),
            Some("http://10.0.0.5:7001")
        );
        let conf = "metricsProvider.httpHost=127.0.0.1\nmetricsProvider.httpPort=7002\n";
        assert_eq!(
            metrics_endpoint_from_conf(conf, "localhost").as_deref(),
            Some("http://127.0.0.1:7002")
        );
        assert_eq!(
            metrics_endpoint_from_conf("metricsProvider.httpPort=-1\n", "h"),
            None
        );
        assert_eq!(metrics_endpoint_from_conf("clientPort=2181\n", "h"), None);
    }
}
