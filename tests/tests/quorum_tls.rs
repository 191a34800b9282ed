//! Member links over TLS (`sslQuorum=true`): members whose certificates come
//! from the ensemble's CA form a quorum and replicate; a member with a
//! certificate from another CA cannot join, and the others keep serving.
//! Certificates are made here (rcgen), never committed.

use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
use rookery_tests::client::connect;
use rookery_tests::{four_letter, free_port, Member, MemberOptions};
use std::path::Path;
use std::time::Duration;

struct Ca {
    cert: rcgen::Certificate,
    key: KeyPair,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let key = KeyPair::generate().expect("CA key");
        let mut params = CertificateParams::new(Vec::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        let cert = params.self_signed(&key).expect("self-sign the CA");
        Ca { cert, key }
    }

    /// Writes `<stem>.pem` (key and certificate for 127.0.0.1) under `dir`.
    fn issue_member(&self, dir: &Path, stem: &str) -> String {
        let key = KeyPair::generate().expect("key");
        let params = CertificateParams::new(vec!["127.0.0.1".to_string()]).expect("params");
        let cert = params.signed_by(&key, &self.cert, &self.key).expect("sign");
        let path = dir.join(format!("{stem}.pem"));
        std::fs::write(&path, format!("{}{}", key.serialize_pem(), cert.pem()))
            .expect("write the key store");
        path.display().to_string()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_with_the_ensembles_certificates_replicate_and_an_impostor_cannot_join() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ensemble_ca = Ca::new("ensemble CA");
    let other_ca = Ca::new("some other CA");
    let trust = dir.path().join("ca.pem");
    std::fs::write(&trust, ensemble_ca.cert.pem()).expect("write ca.pem");
    let servers: Vec<(String, String)> = (1..=3)
        .map(|id| {
            (
                format!("server.{id}"),
                format!("127.0.0.1:{}:{}", free_port(), free_port()),
            )
        })
        .collect();
    let key_stores = [
        ensemble_ca.issue_member(dir.path(), "m1"),
        ensemble_ca.issue_member(dir.path(), "m2"),
        // Member 3 trusts the ensemble's CA but its own certificate is another's.
        other_ca.issue_member(dir.path(), "m3"),
    ];
    let mut members: Vec<Member> = key_stores
        .iter()
        .enumerate()
        .map(|(i, key_store)| {
            let mut extra = servers.clone();
            extra.extend([
                ("sslQuorum".to_string(), "true".to_string()),
                (
                    "ssl.quorum.keyStore.location".to_string(),
                    key_store.clone(),
                ),
                (
                    "ssl.quorum.trustStore.location".to_string(),
                    trust.display().to_string(),
                ),
            ]);
            Member::start_with(MemberOptions {
                four_letter_words: "*".to_string(),
                extra,
                my_id: i as u32 + 1,
                wait_ready: false,
                ..MemberOptions::default()
            })
        })
        .collect();
    members[0].wait_serving();
    members[1].wait_serving();

    let writer = connect(&members[0].connect_string()).await;
    let open =
        zookeeper_client::CreateMode::Persistent.with_acls(zookeeper_client::Acls::anyone_all());
    writer
        .create("/over-tls-links", b"replicated", &open)
        .await
        .expect("a write with two of three members");
    let reader = connect(&members[1].connect_string()).await;
    reader.sync("/").await.expect("sync");
    let (data, _) = reader
        .get_data("/over-tls-links")
        .await
        .expect("the other member has it");
    assert_eq!(data, b"replicated");

    // The impostor never joins: it serves nothing, long after the others do.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let srvr = four_letter(members[2].addr(), "srvr").unwrap_or_default();
    assert!(
        !srvr.contains("Mode: follower") && !srvr.contains("Mode: leader"),
        "the member with another CA's certificate joined: {srvr}"
    );
    let log = members[0].log_tail();
    assert!(
        log.contains("member TLS handshake failed"),
        "member 1 says why it turned member 3 away: {log}"
    );
    // The two keep serving writes.
    writer
        .set_data("/over-tls-links", b"still", None)
        .await
        .expect("writes go on");
}
