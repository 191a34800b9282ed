//! What each family is: name, help, type, labels, who exports it. The `Metrics`
//! constructor declares every family through these, and `metrics/README.md` is
//! rendered from them, so the documentation cannot drift from the code.

use crate::summary::Detail;

/// The two layers (DESIGN §6): ZooKeeper's own names, or Rookery's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layer {
    /// As Apache ZooKeeper 3.8's Prometheus provider names them: no prefix, no
    /// `_total`, milliseconds, summaries.
    ZooKeeper,
    /// `rookery_*`: base units (seconds, bytes), histograms, lint-clean.
    Rookery,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Summary(Detail),
    Histogram,
}

impl Kind {
    pub fn prometheus_type(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Summary(_) => "summary",
            Kind::Histogram => "histogram",
        }
    }
}

/// When a member exports a family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shown {
    /// Always, in every role (ZooKeeper's counters and summaries).
    Always,
    /// While the member serves (ZooKeeper's gauges vanish during an election).
    Serving,
    /// Only on the established leader (ZooKeeper's leader gauges; per-peer figures).
    Leader,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FamilyDef {
    pub name: &'static str,
    pub help: &'static str,
    pub kind: Kind,
    pub labels: &'static [&'static str],
    pub shown: Shown,
    pub layer: Layer,
}

/// Renders `metrics/README.md`.
pub fn render_readme(defs: &[FamilyDef]) -> String {
    let mut out = String::from(
        "# Rookery metrics\n\n\
         Generated from the definitions in `metrics/src/registry.rs` by \
         `ROOKERY_BLESS=1 cargo test -p rookery-metrics readme`; a test fails when this \
         file and the code disagree.\n\n\
         Every member serves these at `http://<metricsProvider.httpHost>:<metricsProvider.httpPort>/metrics` \
         (default port 7000), with `/healthz` (the process is up) and `/readyz` (it serves: \
         in broadcast with a leader, or standalone).\n\n\
         *Shown*: `always` in every role; `serving` only while the member serves clients \
         (ZooKeeper drops its gauges during an election); `leader` only on the established leader.\n",
    );
    for (layer, title, intro) in [
        (
            Layer::ZooKeeper,
            "ZooKeeper-compatible families",
            "Named and typed exactly as Apache ZooKeeper 3.8's Prometheus provider exports them \
             (no prefix, counters without `_total`, milliseconds, summaries with `quantile` labels, \
             the `key` label), so existing ZooKeeper dashboards, alerts and collectors work unchanged. \
             `mntr` prints the same values in ZooKeeper's default-provider format.",
        ),
        (
            Layer::Rookery,
            "Rookery families",
            "Base units (seconds, bytes), histograms, `_total` counters; they pass \
             `promtool check metrics`.",
        ),
    ] {
        out.push_str(&format!("\n## {title}\n\n{intro}\n\n"));
        out.push_str("| name | type | labels | shown | meaning |\n|---|---|---|---|---|\n");
        let mut rows: Vec<&FamilyDef> = defs.iter().filter(|d| d.layer == layer).collect();
        rows.sort_by_key(|d| d.name);
        for d in rows {
            let kind = match d.kind {
                Kind::Summary(Detail::Basic) => "summary (0.5)".to_string(),
                Kind::Summary(Detail::Advanced) => "summary (0.5, 0.9, 0.99)".to_string(),
                k => k.prometheus_type().to_string(),
            };
            let shown = match d.shown {
                Shown::Always => "always",
                Shown::Serving => "serving",
                Shown::Leader => "leader",
            };
            out.push_str(&format!(
                "| `{}` | {} | {} | {} | {} |\n",
                d.name,
                kind,
                d.labels
                    .iter()
                    .map(|l| format!("`{l}`"))
                    .collect::<Vec<_>>()
                    .join(", "),
                shown,
                d.help
            ));
        }
    }
    out.push_str(
        "\nThe process collector adds the standard `process_*` families (CPU seconds, \
         open and max file descriptors, resident memory, start time).\n",
    );
    out
}
