//! Prometheus text exposition (version 0.0.4): just enough to read gauges,
//! counters, summaries and histograms, and to take quantiles of a histogram
//! over one polling interval (the difference of two cumulative scrapes).

/// One sample line: `name{labels} value`.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// The metric name, with any `_bucket`/`_sum`/`_count` suffix.
    pub name: String,
    /// Label pairs in the order written.
    pub labels: Vec<(String, String)>,
    /// The value (`+Inf`, `-Inf` and `NaN` included).
    pub value: f64,
}

impl Sample {
    /// The value of label `key`, if present.
    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// One scrape of `/metrics`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Metrics {
    /// Every sample, in the order scraped.
    pub samples: Vec<Sample>,
}

/// A cumulative histogram: `(upper bound, cumulative count)` sorted by bound.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Histogram {
    /// Buckets, sorted by upper bound, the last one `+Inf`.
    pub buckets: Vec<(f64, f64)>,
    /// `_count`.
    pub count: f64,
    /// `_sum`.
    pub sum: f64,
}

impl Metrics {
    /// Parses the text format. Lines it cannot read are skipped: a member's
    /// exporter is not ours to validate.
    pub fn parse(text: &str) -> Metrics {
        Metrics {
            samples: text.lines().filter_map(parse_line).collect(),
        }
    }

    /// Whether any sample of `name` exists.
    pub fn has(&self, name: &str) -> bool {
        self.samples.iter().any(|s| s.name == name)
    }

    /// The sum over every label set of `name` (the single value of an
    /// unlabelled gauge), or `None` when absent.
    pub fn total(&self, name: &str) -> Option<f64> {
        self.sum_where(name, |_| true)
    }

    /// The sum over the samples of `name` whose labels pass `keep`.
    pub fn sum_where(&self, name: &str, keep: impl Fn(&Sample) -> bool) -> Option<f64> {
        let mut found = false;
        let mut sum = 0.0;
        for s in self.samples.iter().filter(|s| s.name == name && keep(s)) {
            found = true;
            sum += s.value;
        }
        found.then_some(sum)
    }

    /// The value of `name` with label `key` = `value` (summed if several).
    pub fn with_label(&self, name: &str, key: &str, value: &str) -> Option<f64> {
        self.sum_where(name, |s| s.label(key) == Some(value))
    }

    /// The largest value of summary `name` at quantile `q` over its label sets.
    pub fn summary_quantile(&self, name: &str, q: &str) -> Option<f64> {
        self.samples
            .iter()
            .filter(|s| s.name == name && s.label("quantile") == Some(q) && s.value.is_finite())
            .map(|s| s.value)
            .reduce(f64::max)
    }

    /// Histogram `base` (`base_bucket`, `base_sum`, `base_count`) summed over
    /// every label set other than `le`.
    pub fn histogram(&self, base: &str) -> Option<Histogram> {
        let bucket = format!("{base}_bucket");
        let mut buckets: Vec<(f64, f64)> = Vec::new();
        for s in self.samples.iter().filter(|s| s.name == bucket) {
            let Some(le) = s.label("le").and_then(parse_value) else {
                continue;
            };
            match buckets.iter_mut().find(|(b, _)| *b == le) {
                Some((_, c)) => *c += s.value,
                None => buckets.push((le, s.value)),
            }
        }
        if buckets.is_empty() {
            return None;
        }
        buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        Some(Histogram {
            buckets,
            count: self.total(&format!("{base}_count")).unwrap_or(0.0),
            sum: self.total(&format!("{base}_sum")).unwrap_or(0.0),
        })
    }
}

impl Histogram {
    /// What happened between `earlier` and `self` (both cumulative). A counter
    /// that went down (the member restarted) yields `self` as it is.
    pub fn since(&self, earlier: &Histogram) -> Histogram {
        if self.count < earlier.count {
            return self.clone();
        }
        let buckets = self
            .buckets
            .iter()
            .map(|(le, c)| {
                let before = earlier
                    .buckets
                    .iter()
                    .find(|(b, _)| b == le)
                    .map_or(0.0, |(_, c)| *c);
                (*le, (c - before).max(0.0))
            })
            .collect();
        Histogram {
            buckets,
            count: self.count - earlier.count,
            sum: (self.sum - earlier.sum).max(0.0),
        }
    }

    /// The `q` quantile (0..=1) by linear interpolation inside the bucket, as
    /// Prometheus' `histogram_quantile` does. `None` without observations. A
    /// quantile in the `+Inf` bucket answers the largest finite bound.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let total = self.buckets.last()?.1;
        if total <= 0.0 || !(0.0..=1.0).contains(&q) {
            return None;
        }
        let rank = q * total;
        let mut lower_bound = 0.0;
        let mut lower_count = 0.0;
        for (le, count) in &self.buckets {
            if *count >= rank {
                if le.is_infinite() {
                    return Some(lower_bound);
                }
                let in_bucket = count - lower_count;
                if in_bucket <= 0.0 {
                    return Some(*le);
                }
                return Some(lower_bound + (le - lower_bound) * (rank - lower_count) / in_bucket);
            }
            lower_bound = *le;
            lower_count = *count;
        }
        Some(lower_bound)
    }
}

fn parse_value(text: &str) -> Option<f64> {
    match text {
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        "NaN" => Some(f64::NAN),
        other => other.parse().ok(),
    }
}

fn parse_line(line: &str) -> Option<Sample> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let name_end = line
        .find(|c: char| c == '{' || c.is_whitespace())
        .unwrap_or(line.len());
    let name = &line[..name_end];
    if name.is_empty() {
        return None;
    }
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if let Some(after) = rest.strip_prefix('{') {
        let (parsed, tail) = parse_labels(after)?;
        labels = parsed;
        rest = tail;
    }
    let value = parse_value(rest.split_whitespace().next()?)?;
    Some(Sample {
        name: name.to_string(),
        labels,
        value,
    })
}

/// Parses `k="v",k2="v2"}` and returns the labels and what follows the `}`.
fn parse_labels(mut s: &str) -> Option<(Vec<(String, String)>, &str)> {
    let mut labels = Vec::new();
    loop {
        s = s.trim_start_matches([' ', ',']);
        if let Some(tail) = s.strip_prefix('}') {
            return Some((labels, tail));
        }
        let eq = s.find('=')?;
        let key = s[..eq].trim().to_string();
        s = s[eq + 1..].trim_start().strip_prefix('"')?;
        let mut value = String::new();
        let mut chars = s.char_indices();
        let end = loop {
            let (i, c) = chars.next()?;
            match c {
                '\\' => match chars.next()?.1 {
                    'n' => value.push('\n'),
                    other => value.push(other),
                },
                '"' => break i,
                other => value.push(other),
            }
        };
        labels.push((key, value));
        s = &s[end + 1..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = r#"# HELP rookery_request_duration_seconds Request latency.
# TYPE rookery_request_duration_seconds histogram
rookery_request_duration_seconds_bucket{op="get",result="ok",le="0.001"} 10
rookery_request_duration_seconds_bucket{op="get",result="ok",le="0.01"} 20
rookery_request_duration_seconds_bucket{op="get",result="ok",le="+Inf"} 20
rookery_request_duration_seconds_sum{op="get",result="ok"} 0.05
rookery_request_duration_seconds_count{op="get",result="ok"} 20
rookery_request_duration_seconds_bucket{op="set",result="ok",le="0.001"} 0
rookery_request_duration_seconds_bucket{op="set",result="ok",le="0.01"} 10
rookery_request_duration_seconds_bucket{op="set",result="ok",le="+Inf"} 10
rookery_request_duration_seconds_sum{op="set",result="ok"} 0.06
rookery_request_duration_seconds_count{op="set",result="ok"} 10
rookery_server_state{state="leading"} 1
rookery_server_state{state="following"} 0
readlatency{quantile="0.5"} 0.2
readlatency{quantile="0.99"} 3
updatelatency{quantile="0.99"} 7
znode_count 42
weird{msg="a \"quoted\" \\ value"} 1 1700000000000
"#;

    #[test]
    fn parses_gauges_labels_and_escapes() {
        let m = Metrics::parse(TEXT);
        assert_eq!(m.total("znode_count"), Some(42.0));
        assert_eq!(
            m.with_label("rookery_server_state", "state", "leading"),
            Some(1.0)
        );
        assert_eq!(m.total("absent"), None);
        let weird = m.samples.iter().find(|s| s.name == "weird").expect("weird");
        assert_eq!(weird.label("msg"), Some(r#"a "quoted" \ value"#));
        assert_eq!(m.summary_quantile("readlatency", "0.99"), Some(3.0));
        assert_eq!(m.summary_quantile("updatelatency", "0.99"), Some(7.0));
    }

    #[test]
    fn histogram_sums_label_sets_and_interpolates() {
        let h = Metrics::parse(TEXT)
            .histogram("rookery_request_duration_seconds")
            .expect("histogram");
        assert_eq!(h.count, 30.0);
        assert_eq!(
            h.buckets,
            vec![(0.001, 10.0), (0.01, 30.0), (f64::INFINITY, 30.0)]
        );
        // rank 15 of 30: 5 of the 20 observations in (0.001, 0.01].
        let p50 = h.quantile(0.5).expect("p50");
        assert!((p50 - (0.001 + 0.009 * 5.0 / 20.0)).abs() < 1e-12, "{p50}");
        assert_eq!(h.quantile(0.0), Some(0.0));
    }

    #[test]
    fn quantile_over_an_interval() {
        let before = Histogram {
            buckets: vec![(0.001, 100.0), (0.01, 100.0), (f64::INFINITY, 100.0)],
            count: 100.0,
            sum: 0.05,
        };
        let after = Histogram {
            buckets: vec![(0.001, 100.0), (0.01, 110.0), (f64::INFINITY, 110.0)],
            count: 110.0,
            sum: 0.1,
        };
        let delta = after.since(&before);
        assert_eq!(delta.count, 10.0);
        // All ten new observations are in (0.001, 0.01]: p99 near the top.
        let p99 = delta.quantile(0.99).expect("p99");
        assert!(p99 > 0.009 && p99 <= 0.01, "{p99}");
        // No observations in the interval: no quantile.
        assert_eq!(after.since(&after).quantile(0.99), None);
        // A restart (count went down) uses the new cumulative values.
        assert_eq!(before.since(&after), before);
    }

    #[test]
    fn quantile_in_the_inf_bucket_is_the_last_finite_bound() {
        let h = Histogram {
            buckets: vec![(0.5, 0.0), (f64::INFINITY, 4.0)],
            count: 4.0,
            sum: 9.0,
        };
        assert_eq!(h.quantile(0.99), Some(0.5));
    }

    #[test]
    fn garbage_lines_are_skipped() {
        let m = Metrics::parse("{}\nname{unterminated=\"x 1\nok 1\nbad value\n");
        assert_eq!(m.samples.len(), 1);
        assert_eq!(m.total("ok"), Some(1.0));
    }
}
