//! Member links over TLS (`sslQuorum=true`): members whose certificates come
//! from the ensemble's CA form a quorum and replicate; a member with a
//! certificate from another CA cannot join, and the others keep serving.
//! Certificates are made here (rcgen), never committed.

use rookery_tests::certs::Ca;
use rookery_tests::client::connect;
use rookery_tests::{four_letter, free_port, Member, MemberOptions};
use std::time::Duration;

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
    // Member 3 trusts the ensemble's CA but its own certificate is another's.
    let key_stores = [
        (&ensemble_ca, "m1"),
        (&ensemble_ca, "m2"),
        (&other_ca, "m3"),
    ]
    .map(|(ca, stem)| {
        let path = dir.path().join(format!("{stem}.pem"));
        ca.write_key_store(&path, &["127.0.0.1"]);
        path.display().to_string()
    });
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
