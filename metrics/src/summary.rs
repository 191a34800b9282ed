//! ZooKeeper-style summaries: cumulative count, sum, min and max, plus quantiles
//! over a sliding window of recent observations, as ZooKeeper's Prometheus
//! provider (quantiles) and its default provider (avg/min/max/percentiles in mntr)
//! report them. Values are in the unit the family names (milliseconds, bytes, counts).

use prometheus::proto::{LabelPair, Metric, Quantile, Summary as SummaryModel};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Samples kept per age bucket; past it, new samples replace random old ones.
const BUCKET_SAMPLES: usize = 2048;
/// The window is this many buckets of `BUCKET_AGE` (10 minutes, as simpleclient).
const BUCKETS: usize = 5;
const BUCKET_AGE: Duration = Duration::from_secs(120);

/// Which quantiles a summary reports: ZooKeeper's BASIC (median) or ADVANCED.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detail {
    Basic,
    Advanced,
}

impl Detail {
    /// The quantiles exported on `/metrics`.
    pub fn quantiles(self) -> &'static [f64] {
        match self {
            Detail::Basic => &[0.5],
            Detail::Advanced => &[0.5, 0.9, 0.99],
        }
    }
}

#[derive(Debug)]
struct Window {
    buckets: Vec<Vec<f64>>,
    seen: Vec<u64>,
    current: usize,
    rotated: Instant,
    rng: u64,
}

impl Window {
    fn new() -> Window {
        Window {
            buckets: vec![Vec::new(); BUCKETS],
            seen: vec![0; BUCKETS],
            current: 0,
            rotated: Instant::now(),
            rng: 0x9e37_79b9_7f4a_7c15,
        }
    }

    fn rotate(&mut self, now: Instant) {
        while now.duration_since(self.rotated) >= BUCKET_AGE {
            self.rotated += BUCKET_AGE;
            self.current = (self.current + 1) % BUCKETS;
            self.buckets[self.current].clear();
            self.seen[self.current] = 0;
        }
    }

    fn next_random(&mut self) -> u64 {
        // xorshift64: enough to pick which old sample a new one replaces.
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng
    }

    fn add(&mut self, v: f64, now: Instant) {
        self.rotate(now);
        let i = self.current;
        self.seen[i] += 1;
        if self.buckets[i].len() < BUCKET_SAMPLES {
            self.buckets[i].push(v);
        } else {
            let slot = self.next_random() % self.seen[i];
            if let Some(s) = self.buckets[i].get_mut(slot as usize) {
                *s = v;
            }
        }
    }

    fn sorted(&mut self, now: Instant) -> Vec<f64> {
        self.rotate(now);
        let mut all: Vec<f64> = self.buckets.iter().flatten().copied().collect();
        all.sort_by(f64::total_cmp);
        all
    }
}

#[derive(Debug)]
struct State {
    count: u64,
    sum: f64,
    min: f64,
    max: f64,
    window: Window,
}

impl State {
    fn new() -> State {
        State {
            count: 0,
            sum: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            window: Window::new(),
        }
    }
}

/// Nearest-rank quantile of sorted values; NaN when there are none (as simpleclient).
fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// What mntr prints for a summary (ZooKeeper's default provider).
#[derive(Debug, Clone, PartialEq)]
pub struct Digest {
    pub count: u64,
    pub sum: f64,
    pub min: f64,
    pub max: f64,
    pub avg: f64,
    /// p50, p95, p99, p999 (only for `Detail::Advanced`).
    pub percentiles: Option<[f64; 4]>,
}

/// One summary. Cloning shares it.
#[derive(Debug, Clone)]
pub struct Summary {
    state: Arc<Mutex<State>>,
    detail: Detail,
}

impl Summary {
    pub fn new(detail: Detail) -> Summary {
        Summary {
            state: Arc::new(Mutex::new(State::new())),
            detail,
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn detail(&self) -> Detail {
        self.detail
    }

    pub fn observe(&self, v: f64) {
        let now = Instant::now();
        let mut s = self.state();
        s.count += 1;
        s.sum += v;
        s.min = s.min.min(v);
        s.max = s.max.max(v);
        s.window.add(v, now);
    }

    pub fn observe_duration_ms(&self, d: Duration) {
        self.observe(d.as_secs_f64() * 1000.0);
    }

    /// Forgets everything (`srst`).
    pub fn reset(&self) {
        *self.state() = State::new();
    }

    pub fn count(&self) -> u64 {
        self.state().count
    }

    /// The mntr view: zeros before the first observation, as ZooKeeper prints.
    pub fn digest(&self) -> Digest {
        let mut s = self.state();
        let sorted = s.window.sorted(Instant::now());
        let or_zero = |v: f64| if v.is_finite() { v } else { 0.0 };
        let pick = |q| or_zero(quantile(&sorted, q));
        Digest {
            count: s.count,
            sum: s.sum,
            min: or_zero(s.min),
            max: or_zero(s.max),
            avg: if s.count == 0 {
                0.0
            } else {
                s.sum / s.count as f64
            },
            percentiles: (self.detail == Detail::Advanced)
                .then(|| [pick(0.5), pick(0.95), pick(0.99), pick(0.999)]),
        }
    }

    /// The Prometheus sample, with `labels`.
    pub fn metric(&self, labels: &[(&str, &str)]) -> Metric {
        let mut s = self.state();
        let sorted = s.window.sorted(Instant::now());
        let mut model = SummaryModel::default();
        model.set_sample_count(s.count);
        model.set_sample_sum(s.sum);
        model.set_quantile(
            self.detail
                .quantiles()
                .iter()
                .map(|&q| {
                    let mut qv = Quantile::default();
                    qv.set_quantile(q);
                    qv.set_value(quantile(&sorted, q));
                    qv
                })
                .collect(),
        );
        let mut m = Metric::default();
        m.set_label(
            labels
                .iter()
                .map(|(k, v)| {
                    let mut l = LabelPair::default();
                    l.set_name(k.to_string());
                    l.set_value(v.to_string());
                    l
                })
                .collect(),
        );
        m.set_summary(model);
        m
    }
}

/// Summaries by the value of ZooKeeper's single `key` label (e.g. a follower id).
#[derive(Debug, Clone)]
pub struct SummarySet {
    members: Arc<Mutex<BTreeMap<String, Summary>>>,
    detail: Detail,
}

impl SummarySet {
    pub fn new(detail: Detail) -> SummarySet {
        SummarySet {
            members: Arc::default(),
            detail,
        }
    }

    fn members(&self) -> MutexGuard<'_, BTreeMap<String, Summary>> {
        self.members.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn with_key(&self, key: &str) -> Summary {
        self.members()
            .entry(key.to_string())
            .or_insert_with(|| Summary::new(self.detail))
            .clone()
    }

    pub fn reset(&self) {
        self.members().clear();
    }

    /// Every member, by key.
    pub fn entries(&self) -> Vec<(String, Summary)> {
        self.members()
            .iter()
            .map(|(k, s)| (k.clone(), s.clone()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_count_and_sum() {
        let s = Summary::new(Detail::Advanced);
        for v in 1..=100 {
            s.observe(v as f64);
        }
        let d = s.digest();
        assert_eq!(
            (d.count, d.sum, d.min, d.max, d.avg),
            (100, 5050.0, 1.0, 100.0, 50.5)
        );
        assert_eq!(d.percentiles, Some([50.0, 95.0, 99.0, 100.0]));
        let m = s.metric(&[]);
        let q: Vec<(f64, f64)> = m
            .get_summary()
            .get_quantile()
            .iter()
            .map(|q| (q.quantile(), q.value()))
            .collect();
        assert_eq!(q, vec![(0.5, 50.0), (0.9, 90.0), (0.99, 99.0)]);
    }

    #[test]
    fn empty_summary_prints_zeros_in_mntr_and_nan_quantiles() {
        let s = Summary::new(Detail::Basic);
        let d = s.digest();
        assert_eq!((d.count, d.min, d.max, d.avg), (0, 0.0, 0.0, 0.0));
        assert_eq!(d.percentiles, None);
        assert!(s.metric(&[]).get_summary().get_quantile()[0]
            .value()
            .is_nan());
    }

    #[test]
    fn the_window_keeps_a_bounded_sample() {
        let s = Summary::new(Detail::Basic);
        for v in 0..100_000 {
            s.observe((v % 10) as f64);
        }
        assert_eq!(s.count(), 100_000);
        let kept = s.state().window.buckets.iter().map(Vec::len).sum::<usize>();
        assert!(kept <= BUCKETS * BUCKET_SAMPLES);
        let median = s.digest().percentiles;
        assert_eq!(median, None);
        let m = s.metric(&[]);
        let q = m.get_summary().get_quantile()[0].value();
        assert!((3.0..=6.0).contains(&q), "median of 0..9 repeated, got {q}");
    }

    #[test]
    fn old_samples_leave_the_window() {
        let mut w = Window::new();
        let t0 = Instant::now();
        w.add(1000.0, t0);
        w.add(1.0, t0 + BUCKET_AGE * (BUCKETS as u32 - 1));
        assert_eq!(w.sorted(t0 + BUCKET_AGE * (BUCKETS as u32 - 1)).len(), 2);
        assert_eq!(w.sorted(t0 + BUCKET_AGE * BUCKETS as u32), vec![1.0]);
    }

    #[test]
    fn a_set_keeps_one_summary_per_key() {
        let set = SummarySet::new(Detail::Advanced);
        set.with_key("2").observe(3.0);
        set.with_key("3").observe(5.0);
        set.with_key("2").observe(7.0);
        let e = set.entries();
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].0, "2");
        assert_eq!(e[0].1.count(), 2);
    }
}
