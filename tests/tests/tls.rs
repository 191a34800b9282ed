//! Clients over TLS on `secureClientPort`: certificates made here with rcgen (no
//! key is ever committed), a rustls client speaking the ZooKeeper protocol. A
//! client with a certificate from the trusted CA is served; one without a
//! certificate, with an expired one, or with one from another CA is refused;
//! the plain client port keeps serving beside it.

use rookery_tests::certs::Ca;
use rookery_tests::wire::{self, Reader, Writer};
use rookery_tests::{four_letter, free_port, Member, MemberOptions};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A standalone member with a TLS port beside its plain one.
fn start_member(dir: &std::path::Path, ca: &Ca) -> (Member, u16) {
    start_member_with(dir, ca, Vec::new())
}

fn start_member_with(dir: &std::path::Path, ca: &Ca, more: Vec<(String, String)>) -> (Member, u16) {
    let server_pem = dir.join("server.pem");
    let ca_pem = dir.join("ca.pem");
    ca.write_key_store(&server_pem, &["localhost", "127.0.0.1"]);
    std::fs::write(&ca_pem, ca.cert.pem()).expect("write ca.pem");
    let secure = free_port();
    let member = Member::start_with(MemberOptions {
        four_letter_words: "*".to_string(),
        extra: vec![
            ("secureClientPort".into(), secure.to_string()),
            ("secureClientPortAddress".into(), "127.0.0.1".into()),
            (
                "ssl.keyStore.location".into(),
                server_pem.display().to_string(),
            ),
            ("ssl.keyStore.type".into(), "PEM".into()),
            (
                "ssl.trustStore.location".into(),
                ca_pem.display().to_string(),
            ),
            ("ssl.trustStore.type".into(), "PEM".into()),
        ]
        .into_iter()
        .chain(more)
        .collect(),
        ..MemberOptions::default()
    });
    (member, secure)
}

fn client_config(ca: &Ca, identity: Option<(String, String)>) -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from(ca.cert.der().to_vec()))
        .expect("trust the CA");
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_root_certificates(roots);
    match identity {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => {
            use rustls::pki_types::pem::PemObject;
            let cert = CertificateDer::from_pem_slice(cert.as_bytes()).expect("cert PEM");
            let key = PrivateKeyDer::from_pem_slice(key.as_bytes()).expect("key PEM");
            builder
                .with_client_auth_cert(vec![cert], key)
                .expect("client identity")
        }
    }
}

/// A session over TLS.
type TlsSession = tokio_rustls::client::TlsStream<tokio::net::TcpStream>;

/// Opens a session over TLS; the error says where it failed.
async fn session_over_tls(port: u16, config: rustls::ClientConfig) -> Result<TlsSession, String> {
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(SocketAddr::from(([127, 0, 0, 1], port)))
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let name = ServerName::try_from("localhost").expect("server name");
    let mut tls = connector
        .connect(name, tcp)
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    let hello = async {
        tls.write_all(&wire::connect_request().framed()).await?;
        read_frame(&mut tls).await
    };
    let hello = tokio::time::timeout(Duration::from_secs(20), hello)
        .await
        .map_err(|_| "no answer in time".to_string())?
        .map_err(|e| format!("session: {e}"))?;
    let mut r = Reader(&hello);
    let (_proto, timeout) = (r.int(), r.int());
    if timeout <= 0 {
        return Err("no session".to_string());
    }
    Ok(tls)
}

/// Sends one request and returns the error code of its reply.
async fn call(tls: &mut TlsSession, xid: i32, op: i32, body: &Writer) -> Result<i32, String> {
    let exchange = async {
        tls.write_all(&wire::request(xid, op, body)).await?;
        let reply = read_frame(tls).await?;
        let mut r = Reader(&reply);
        let (_xid, _zxid, err) = (r.int(), r.long(), r.int());
        Ok::<_, std::io::Error>(err)
    };
    tokio::time::timeout(Duration::from_secs(20), exchange)
        .await
        .map_err(|_| "no answer in time".to_string())?
        .map_err(|e| format!("session: {e}"))
}

/// Opens a session over TLS and creates `path`; the error says where it failed.
async fn create_over_tls(
    port: u16,
    config: rustls::ClientConfig,
    path: &str,
) -> Result<(), String> {
    let mut tls = session_over_tls(port, config).await?;
    let create = Writer::new().string(path).buffer(b"tls").open_acl().int(0);
    match call(&mut tls, 1, 1, &create).await? {
        0 => Ok(()),
        err => Err(format!("create answered {err}")),
    }
}

async fn read_frame<S: AsyncReadExt + Unpin>(s: &mut S) -> std::io::Result<Vec<u8>> {
    let len = s.read_i32().await?;
    let mut body = vec![0u8; len.max(0) as usize];
    s.read_exact(&mut body).await?;
    Ok(body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_clients_with_a_certificate_from_the_trusted_ca_are_served_over_tls() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = Ca::new("rookery test CA");
    let other = Ca::new("some other CA");
    let (member, secure) = start_member(dir.path(), &ca);

    let good = client_config(&ca, Some(ca.issue(&["client"], false)));
    create_over_tls(secure, good, "/over-tls")
        .await
        .expect("a client with a certificate from the trusted CA is served");

    for (what, config) in [
        ("no certificate", client_config(&ca, None)),
        (
            "an expired certificate",
            client_config(&ca, Some(ca.issue(&["client"], true))),
        ),
        (
            "a certificate from another CA",
            client_config(&ca, Some(other.issue(&["client"], false))),
        ),
    ] {
        let refused = create_over_tls(secure, config, &format!("/{}", what.len())).await;
        assert!(refused.is_err(), "a client with {what} was served");
    }

    // The plain port serves beside it and sees what the TLS client wrote.
    let (mut plain, hello) = wire::handshake(member.addr()).expect("plain session");
    assert!(hello.timeout > 0);
    use std::io::Write as _;
    plain
        .write_all(&wire::request(
            1,
            3,
            &Writer::new().string("/over-tls").boolean(false),
        ))
        .expect("exists");
    let reply = wire::read_reply(&mut plain).expect("exists reply");
    assert_eq!(reply.err, 0, "the TLS client's node is there");
    assert!(four_letter(member.addr(), "ruok").expect("ruok") == "imok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_certificate_is_an_x509_identity_for_acls() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = Ca::new("rookery test CA");
    let (_member, secure) = start_member_with(
        dir.path(),
        &ca,
        vec![(
            "X509AuthenticationProvider.superUser".into(),
            "CN=admin".into(),
        )],
    );
    let as_client = |cn: &str| client_config(&ca, Some(ca.issue_to(Some(cn), &["client"], false)));
    let get = |path: &str| Writer::new().string(path).boolean(false);

    // alice makes a node only x509:CN=alice may read.
    let mut alice = session_over_tls(secure, as_client("alice"))
        .await
        .expect("alice");
    let only_alice = Writer::new()
        .string("/alices")
        .buffer(b"hers")
        .int(1)
        .int(31)
        .string("x509")
        .string("CN=alice")
        .int(0);
    assert_eq!(
        call(&mut alice, 1, 1, &only_alice).await,
        Ok(0),
        "alice creates"
    );
    // alice reads; bob's certificate is not alice's (NoAuth); the subject named
    // X509AuthenticationProvider.superUser passes every ACL.
    for (who, want) in [("alice", 0), ("bob", -102), ("admin", 0)] {
        let mut session = session_over_tls(secure, as_client(who))
            .await
            .unwrap_or_else(|e| panic!("{who}: {e}"));
        assert_eq!(
            call(&mut session, 1, 4, &get("/alices")).await,
            Ok(want),
            "{who} reads /alices"
        );
    }
}
