//! Certificates for TLS tests, made by the tests (rcgen), never committed.

use crate::{free_port, Member, MemberOptions};
use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
use std::path::Path;

/// A CA and what it signed.
pub struct Ca {
    pub cert: rcgen::Certificate,
    key: KeyPair,
}

impl Ca {
    pub fn new(name: &str) -> Ca {
        let key = KeyPair::generate().expect("CA key");
        let mut params = CertificateParams::new(Vec::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        let cert = params.self_signed(&key).expect("self-sign the CA");
        Ca { cert, key }
    }

    /// A certificate for `names` (host names or IP addresses), valid now
    /// unless `expired`, with the subject `CN=<common_name>` when given:
    /// (PEM certificate, PEM key).
    pub fn issue_to(
        &self,
        common_name: Option<&str>,
        names: &[&str],
        expired: bool,
    ) -> (String, String) {
        let key = KeyPair::generate().expect("key");
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = CertificateParams::new(names).expect("params");
        if let Some(cn) = common_name {
            params.distinguished_name = rcgen::DistinguishedName::new();
            params
                .distinguished_name
                .push(rcgen::DnType::CommonName, cn);
        }
        if expired {
            params.not_before = rcgen::date_time_ymd(2020, 1, 1);
            params.not_after = rcgen::date_time_ymd(2021, 1, 1);
        }
        let cert = params.signed_by(&key, &self.cert, &self.key).expect("sign");
        (cert.pem(), key.serialize_pem())
    }

    /// As `issue_to` without a chosen subject.
    pub fn issue(&self, names: &[&str], expired: bool) -> (String, String) {
        self.issue_to(None, names, expired)
    }

    /// Writes a PEM key store (key, then certificate for `names`) to `path`.
    pub fn write_key_store(&self, path: &Path, names: &[&str]) {
        let (cert, key) = self.issue(names, false);
        std::fs::write(path, format!("{key}{cert}")).expect("write the key store");
    }
}

/// A standalone member (every four-letter word allowed) with a TLS port
/// (`secureClientPort`, returned) beside its plain one. Its certificate,
/// signed by `ca`, names `localhost` and `127.0.0.1`; it trusts `ca` for client
/// certificates. `more` adds zoo.cfg lines. Writes `dir/ca.pem` (the CA's
/// certificate, for clients too) and `dir/server.pem`.
pub fn start_tls_member(dir: &Path, ca: &Ca, more: Vec<(String, String)>) -> (Member, u16) {
    let ca_pem = dir.join("ca.pem");
    let key_store = dir.join("server.pem");
    ca.write_key_store(&key_store, &["localhost", "127.0.0.1"]);
    std::fs::write(&ca_pem, ca.cert.pem()).expect("write ca.pem");
    let secure = free_port();
    let mut extra: Vec<(String, String)> = vec![
        ("secureClientPort".into(), secure.to_string()),
        ("secureClientPortAddress".into(), "127.0.0.1".into()),
        (
            "ssl.keyStore.location".into(),
            key_store.display().to_string(),
        ),
        ("ssl.keyStore.type".into(), "PEM".into()),
        (
            "ssl.trustStore.location".into(),
            ca_pem.display().to_string(),
        ),
        ("ssl.trustStore.type".into(), "PEM".into()),
    ];
    extra.extend(more);
    let member = Member::start_with(MemberOptions {
        four_letter_words: "*".to_string(),
        extra,
        ..MemberOptions::default()
    });
    (member, secure)
}

/// `--tls-ca ... --tls-cert ... --tls-key ...` for `rookery tui` and `rookery
/// bench`: a client certificate for `CN=<name>` from `ca`, written to `dir`
/// beside the `ca.pem` that [`start_tls_member`] wrote there.
pub fn client_tls_args(dir: &Path, ca: &Ca, name: &str) -> Vec<String> {
    let (cert, key) = ca.issue_to(Some(name), &["client"], false);
    let cert_pem = dir.join(format!("{name}.pem"));
    let key_pem = dir.join(format!("{name}.key"));
    std::fs::write(&cert_pem, cert).expect("write the client certificate");
    std::fs::write(&key_pem, key).expect("write the client key");
    let path = |p: &Path| p.display().to_string();
    vec![
        "--tls-ca".into(),
        path(&dir.join("ca.pem")),
        "--tls-cert".into(),
        path(&cert_pem),
        "--tls-key".into(),
        path(&key_pem),
    ]
}
