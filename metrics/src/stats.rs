//! The request counters and latency figures since start or the last `srst`, as
//! ZooKeeper's `srvr`, `stat` and the latency gauges report them.

use std::time::Duration;

/// Request latency and packet counts since start or the last `srst`.
#[derive(Debug, Clone, Default)]
pub struct RequestStats {
    pub packets_received: u64,
    pub packets_sent: u64,
    count: u64,
    total_micros: u64,
    min_micros: Option<u64>,
    max_micros: u64,
}

impl RequestStats {
    pub fn packet_received(&mut self) {
        self.packets_received += 1;
    }

    /// Records one answered request and its latency.
    pub fn record(&mut self, latency: Duration) {
        let us = latency.as_micros() as u64;
        self.packets_sent += 1;
        self.count += 1;
        self.total_micros += us;
        self.min_micros = Some(self.min_micros.map_or(us, |m| m.min(us)));
        self.max_micros = self.max_micros.max(us);
    }

    pub fn reset(&mut self) {
        *self = RequestStats::default();
    }

    /// Minimum latency in ms (ZooKeeper reports 0 before any request).
    pub fn min_ms(&self) -> f64 {
        self.min_micros.unwrap_or(0) as f64 / 1000.0
    }

    pub fn avg_ms(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.total_micros as f64 / self.count as f64 / 1000.0
        }
    }

    pub fn max_ms(&self) -> f64 {
        self.max_micros as f64 / 1000.0
    }

    pub fn count(&self) -> u64 {
        self.count
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn min_avg_max() {
        let mut s = RequestStats::default();
        assert_eq!(s.min_ms(), 0.0);
        s.record(Duration::from_millis(2));
        s.record(Duration::from_millis(4));
        assert_eq!((s.min_ms(), s.avg_ms(), s.max_ms()), (2.0, 3.0, 4.0));
        s.reset();
        assert_eq!(s.count(), 0);
    }
}
