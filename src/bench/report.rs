//! What a run measured, and its three renderings: a table for people, JSON for
//! scripts (tests/perf/compare.sh), and an SVG latency plot.

use hdrhistogram::Histogram;
use std::fmt::Write as _;

/// Latencies are kept in microseconds, from 1 µs to 10 minutes.
pub const MAX_LATENCY_US: u64 = 600_000_000;

pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_LATENCY_US, 3).expect("histogram bounds are valid")
}

/// Counts one latency, clamped into the histogram's range.
pub fn record(hist: &mut Histogram<u64>, latency: std::time::Duration) {
    let us = (latency.as_micros() as u64).clamp(1, MAX_LATENCY_US);
    // In range by the clamp above, so this cannot fail.
    let _ = hist.record(us);
}

/// One run's results.
pub struct Report {
    pub workload: &'static str,
    /// "closed" or "open".
    pub mode: &'static str,
    pub sessions: usize,
    pub value_size: usize,
    /// Requests answered without error in the measured window (for the watch
    /// workload: rounds, each a set and all its watch events).
    pub ops: u64,
    pub errors: u64,
    pub seconds: f64,
    /// Open loop: the rate asked for.
    pub target_rate: Option<f64>,
    pub latency_us: Histogram<u64>,
    /// The longest time in the measured window with no request answered
    /// without error, by any session (the write gap when a leader is killed).
    pub max_gap_ms: Option<f64>,
    /// Extra numbers a workload reports (watch: events, watchers).
    pub extra: Vec<(&'static str, f64)>,
}

impl Report {
    pub fn quantile_ms(&self, q: f64) -> f64 {
        self.latency_us.value_at_quantile(q) as f64 / 1000.0
    }

    pub fn max_ms(&self) -> f64 {
        self.latency_us.max() as f64 / 1000.0
    }

    pub fn ops_per_second(&self) -> f64 {
        self.ops as f64 / self.seconds.max(f64::EPSILON)
    }

    pub fn table(&self) -> String {
        let mut out = String::from(
            "workload  mode    sessions  ops        errors  ops/s      p50 ms   p99 ms   p999 ms  max ms\n",
        );
        let _ = write!(
            out,
            "{:<9} {:<7} {:<9} {:<10} {:<7} {:<10.0} {:<8.3} {:<8.3} {:<8.3} {:.3}",
            self.workload,
            self.mode,
            self.sessions,
            self.ops,
            self.errors,
            self.ops_per_second(),
            self.quantile_ms(0.5),
            self.quantile_ms(0.99),
            self.quantile_ms(0.999),
            self.max_ms(),
        );
        if let Some(gap) = self.max_gap_ms {
            let _ = write!(out, "\nlongest time with no answer: {gap:.1} ms");
        }
        for (name, value) in &self.extra {
            let _ = write!(out, "\n{name}: {value}");
        }
        out
    }

    pub fn json(&self) -> serde_json::Value {
        let mut v = serde_json::json!({
            "workload": self.workload,
            "mode": self.mode,
            "sessions": self.sessions,
            "duration_s": self.seconds,
            "value_size": self.value_size,
            "ops": self.ops,
            "errors": self.errors,
            "ops_per_s": self.ops_per_second(),
            "target_rate": self.target_rate,
            "max_gap_ms": self.max_gap_ms,
            "latency_ms": {
                "p50": self.quantile_ms(0.5),
                "p90": self.quantile_ms(0.9),
                "p99": self.quantile_ms(0.99),
                "p999": self.quantile_ms(0.999),
                "max": self.max_ms(),
            },
            "percentiles": self.percentile_curve().iter()
                .map(|(q, ms)| serde_json::json!([q, ms])).collect::<Vec<_>>(),
        });
        for (name, value) in &self.extra {
            v[*name] = serde_json::json!(value);
        }
        v
    }

    /// (percentile, ms) pairs spaced evenly in "nines" up to 99.999 %.
    pub fn percentile_curve(&self) -> Vec<(f64, f64)> {
        if self.latency_us.is_empty() {
            return Vec::new();
        }
        (0..=100)
            .map(|i| {
                let nines = f64::from(i) * 0.05; // 0 .. 5 nines
                let q = 1.0 - 10f64.powf(-nines);
                (q * 100.0, self.quantile_ms(q))
            })
            .collect()
    }
}

/// An SVG plot of latency by percentile (HdrHistogram's view: the x axis in
/// "nines", so the tail is as wide as the body) for one or more runs.
pub fn svg(title: &str, series: &[(String, Vec<(f64, f64)>)]) -> String {
    const W: f64 = 720.0;
    const H: f64 = 420.0;
    const LEFT: f64 = 70.0;
    const RIGHT: f64 = 20.0;
    const TOP: f64 = 40.0;
    const BOTTOM: f64 = 50.0;
    const COLOURS: [&str; 6] = [
        "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b",
    ];
    let nines = |pct: f64| -(1.0 - pct / 100.0).max(1e-5).log10();
    let max_ms = series
        .iter()
        .flat_map(|(_, pts)| pts.iter().map(|p| p.1))
        .fold(0.0f64, f64::max)
        .max(0.001);
    let y_top = nice_ceiling(max_ms);
    let x = |pct: f64| LEFT + nines(pct) / 5.0 * (W - LEFT - RIGHT);
    let y = |ms: f64| H - BOTTOM - ms / y_top * (H - TOP - BOTTOM);
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="{W}" height="{H}" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{}" y="22" text-anchor="middle" font-size="15">{}</text>"#,
        W / 2.0,
        escape(title)
    );
    for (i, label) in ["0%", "90%", "99%", "99.9%", "99.99%", "99.999%"]
        .iter()
        .enumerate()
    {
        let px = LEFT + i as f64 / 5.0 * (W - LEFT - RIGHT);
        let _ = writeln!(
            s,
            r##"<line x1="{px}" y1="{TOP}" x2="{px}" y2="{}" stroke="#ddd"/><text x="{px}" y="{}" text-anchor="middle">{label}</text>"##,
            H - BOTTOM,
            H - BOTTOM + 16.0
        );
    }
    for i in 0..=4 {
        let ms = y_top * f64::from(i) / 4.0;
        let py = y(ms);
        let _ = writeln!(
            s,
            r##"<line x1="{LEFT}" y1="{py}" x2="{}" y2="{py}" stroke="#ddd"/><text x="{}" y="{}" text-anchor="end">{}</text>"##,
            W - RIGHT,
            LEFT - 6.0,
            py + 4.0,
            trim(ms)
        );
    }
    let _ = writeln!(
        s,
        r#"<text x="{}" y="{}" text-anchor="middle">percentile</text><text x="16" y="{}" transform="rotate(-90 16 {})" text-anchor="middle">latency (ms)</text>"#,
        (W + LEFT) / 2.0,
        H - 12.0,
        H / 2.0,
        H / 2.0
    );
    for (i, (label, points)) in series.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        let path: Vec<String> = points
            .iter()
            .map(|&(pct, ms)| format!("{:.1},{:.1}", x(pct), y(ms)))
            .collect();
        let _ = writeln!(
            s,
            r#"<polyline fill="none" stroke="{colour}" stroke-width="2" points="{}"/>"#,
            path.join(" ")
        );
        let ly = TOP + 14.0 + 18.0 * i as f64;
        let _ = writeln!(
            s,
            r#"<line x1="{}" y1="{ly}" x2="{}" y2="{ly}" stroke="{colour}" stroke-width="3"/><text x="{}" y="{}">{}</text>"#,
            LEFT + 12.0,
            LEFT + 36.0,
            LEFT + 42.0,
            ly + 4.0,
            escape(label)
        );
    }
    s.push_str("</svg>\n");
    s
}

/// The smallest of 1, 2, 5 × 10^k at or above `v`.
fn nice_ceiling(v: f64) -> f64 {
    let base = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * base)
        .find(|c| *c >= v)
        .unwrap_or(10.0 * base)
}

fn trim(ms: f64) -> String {
    let s = format!("{ms:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The longest interval within `[0, window_us]` with no answer, from the
/// answer times (µs from the start of the measured window) of every session.
pub fn longest_gap_ms(mut answers_us: Vec<u64>, window_us: u64) -> f64 {
    answers_us.sort_unstable();
    let mut previous = 0;
    let mut longest = 0;
    for t in answers_us.into_iter().chain(std::iter::once(window_us)) {
        let t = t.min(window_us);
        longest = longest.max(t.saturating_sub(previous));
        previous = previous.max(t);
    }
    longest as f64 / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_longest_gap_counts_the_edges_of_the_window() {
        assert_eq!(longest_gap_ms(vec![3_000, 1_000, 2_000], 10_000), 7.0);
        assert_eq!(longest_gap_ms(vec![6_000, 9_000], 10_000), 6.0);
        assert_eq!(longest_gap_ms(vec![], 10_000), 10.0);
    }

    #[test]
    fn the_plot_axis_ends_on_a_round_number() {
        assert_eq!(nice_ceiling(3.2), 5.0);
        assert_eq!(nice_ceiling(0.7), 1.0);
        assert_eq!(nice_ceiling(12.0), 20.0);
        assert_eq!(nice_ceiling(100.0), 100.0);
    }

    #[test]
    fn the_plot_has_one_line_per_run_and_escapes_labels() {
        let pts = vec![(0.0, 1.0), (99.0, 4.0), (99.999, 9.0)];
        let out = svg(
            "set <3 members>",
            &[("a&b".into(), pts.clone()), ("c".into(), pts)],
        );
        assert_eq!(out.matches("<polyline").count(), 2);
        assert!(out.contains("set &lt;3 members&gt;") && out.contains("a&amp;b"));
        assert!(out.starts_with("<svg") && out.ends_with("</svg>\n"));
    }
}
