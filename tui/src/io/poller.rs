//! The ensemble poller: every second, asks each member `srvr` and `mntr`
//! (four-letter words) and scrapes its `/metrics` when it has one, all
//! members at once, and sends the round to the UI as [`Action::Poll`].
//!
//! Metrics endpoints come from `--metrics` or from each member's `conf`
//! (`metricsProvider.httpHost`/`httpPort`), asked again every
//! [`CONF_RETRY_ROUNDS`] rounds until found. Two members that report the
//! same endpoint (several members on one host with the default port) cannot
//! both be right, so neither is used.

use super::net::{four_letter, http_get};
use super::ActionTx;
use crate::client_tls::ClientTls;
use crate::model::ensemble::{MemberSample, PollRound, Reach};
use crate::model::Action;
use crate::parse::fourlw::{metrics_endpoint_from_conf, parse_mntr, parse_srvr};
use crate::parse::prom::Metrics;
use std::collections::BTreeMap;
use std::time::Duration;

/// Time between rounds.
pub const INTERVAL: Duration = Duration::from_secs(1);
/// Time one probe may take.
const PROBE_TIMEOUT: Duration = Duration::from_millis(800);
/// Rounds between `conf` lookups for a member without a known endpoint.
pub const CONF_RETRY_ROUNDS: u64 = 10;

/// What the poller polls.
#[derive(Clone, Debug)]
pub struct PollerConfig {
    /// Client addresses (`host:port`).
    pub members: Vec<String>,
    /// Metrics endpoints given on the command line (same order), if any.
    pub metrics: Vec<String>,
    /// Four-letter words go over TLS with these certificates.
    pub tls: Option<ClientTls>,
}

struct Discovery {
    endpoint: Option<String>,
    last_conf_round: Option<u64>,
}

/// Polls until the UI goes away.
pub async fn run(cfg: PollerConfig, tx: ActionTx) {
    let explicit = !cfg.metrics.is_empty();
    let mut found: Vec<Discovery> = cfg
        .members
        .iter()
        .enumerate()
        .map(|(i, _)| Discovery {
            endpoint: cfg.metrics.get(i).cloned(),
            last_conf_round: None,
        })
        .collect();
    let mut ticker = tokio::time::interval(INTERVAL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    for round in 0u64.. {
        ticker.tick().await;
        let handles: Vec<_> = cfg
            .members
            .iter()
            .enumerate()
            .map(|(i, addr)| {
                let ask_conf = !explicit
                    && found[i].endpoint.is_none()
                    && found[i]
                        .last_conf_round
                        .is_none_or(|r| round >= r + CONF_RETRY_ROUNDS);
                if ask_conf {
                    found[i].last_conf_round = Some(round);
                }
                let addr = addr.clone();
                let tls = cfg.tls.clone();
                tokio::spawn(async move { probe_4lw(&addr, tls.as_ref(), ask_conf).await })
            })
            .collect();
        let mut samples = Vec::with_capacity(handles.len());
        for (i, h) in handles.into_iter().enumerate() {
            let (sample, endpoint) = match h.await {
                Ok(r) => r,
                Err(e) => (MemberSample::down(&cfg.members[i], &e.to_string()), None),
            };
            if endpoint.is_some() {
                found[i].endpoint = endpoint;
            }
            samples.push(sample);
        }
        let endpoints =
            usable_endpoints(&found.iter().map(|d| d.endpoint.clone()).collect::<Vec<_>>());
        let scrapes: Vec<_> = endpoints
            .iter()
            .zip(&samples)
            .map(|(url, s)| {
                let url = url.clone().filter(|_| !matches!(s.reach, Reach::Down(_)));
                tokio::spawn(async move {
                    match url {
                        Some(u) => match http_get(&u, PROBE_TIMEOUT).await {
                            Ok(body) => (Some(u), Some(Metrics::parse(&body))),
                            Err(e) => {
                                tracing::debug!("scraping {u}: {e}");
                                (Some(u), None)
                            }
                        },
                        None => (None, None),
                    }
                })
            })
            .collect();
        for (s, h) in samples.iter_mut().zip(scrapes) {
            if let Ok((url, metrics)) = h.await {
                s.metrics_url = url;
                s.metrics = metrics;
            }
        }
        let round = PollRound {
            at_ms: super::now_ms(),
            members: samples,
        };
        if tx.send(Action::Poll(round)).is_err() {
            return;
        }
    }
}

/// Drops endpoints that more than one member claims.
pub fn usable_endpoints(endpoints: &[Option<String>]) -> Vec<Option<String>> {
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for e in endpoints.iter().flatten() {
        *seen.entry(e.as_str()).or_default() += 1;
    }
    endpoints
        .iter()
        .map(|e| e.clone().filter(|e| seen.get(e.as_str()) == Some(&1)))
        .collect()
}

async fn probe_4lw(
    addr: &str,
    tls: Option<&ClientTls>,
    ask_conf: bool,
) -> (MemberSample, Option<String>) {
    let srvr = match four_letter(addr, tls, "srvr", PROBE_TIMEOUT).await {
        Ok(text) => text,
        Err(e) => return (MemberSample::down(addr, &e), None),
    };
    let reach = match parse_srvr(&srvr) {
        Some(s) => Reach::Serving(s),
        None => Reach::NotServing,
    };
    let mntr = match four_letter(addr, tls, "mntr", PROBE_TIMEOUT).await {
        Ok(text) => parse_mntr(&text),
        Err(_) => BTreeMap::new(),
    };
    let endpoint = if ask_conf {
        let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
        four_letter(addr, tls, "conf", PROBE_TIMEOUT)
            .await
            .ok()
            .and_then(|conf| metrics_endpoint_from_conf(&conf, host))
    } else {
        None
    };
    let sample = MemberSample {
        addr: addr.to_string(),
        reach,
        mntr,
        metrics: None,
        metrics_url: None,
    };
    (sample, endpoint)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_endpoints_are_not_used() {
        let e = |s: &str| Some(s.to_string());
        let got = usable_endpoints(&[
            e("http://h:7000"),
            e("http://h:7000"),
            e("http://h:7003"),
            None,
        ]);
        assert_eq!(got, vec![None, None, e("http://h:7003"), None]);
    }
}
