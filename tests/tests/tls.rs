//! Clients over TLS on `secureClientPort`: certificates made here with rcgen (no
//! key is ever committed), a rustls client speaking the ZooKeeper protocol. A
//! client with a certificate from the trusted CA is served; one without a
//! certificate, with an expired one, or with one from another CA is refused;
//! the plain client port keeps serving beside it.

use rookery_tests::certs::{client_tls_args, start_tls_member, Ca};
use rookery_tests::wire::{self, Reader, Writer};
use rookery_tests::{four_letter, Member};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use zookeeper_client as zk;

/// A standalone member with a TLS port beside its plain one.
fn start_member(dir: &std::path::Path, ca: &Ca) -> (Member, u16) {
    start_tls_member(dir, ca, Vec::new())
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
    let (_member, secure) = start_tls_member(
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

/// A session from the zookeeper-client crate (another project's client) to
/// `secure`, trusting `ca_pem`, presenting `identity` when given.
async fn zk_crate_session(
    secure: u16,
    ca_pem: &str,
    identity: Option<&(String, String)>,
) -> Result<zk::Client, String> {
    // The crate asks rustls for the process default provider.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let mut options = zk::TlsOptions::new()
        .with_pem_ca(ca_pem)
        .map_err(|e| e.to_string())?;
    if let Some((cert, key)) = identity {
        options = options
            .with_pem_identity(cert, key)
            .map_err(|e| e.to_string())?;
    }
    let addr = format!("127.0.0.1:{secure}");
    let connect = zk::Client::connector()
        .with_tls(options)
        .with_session_timeout(Duration::from_secs(10))
        .with_connection_timeout(Duration::from_secs(2))
        .with_fail_eagerly()
        .secure_connect(&addr);
    match tokio::time::timeout(Duration::from_secs(15), connect).await {
        Ok(result) => result.map_err(|e| e.to_string()),
        Err(_) => Err("no session within 15 s".to_string()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_zookeeper_client_crate_works_over_tls_with_its_certificate_as_identity() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = Ca::new("rookery test CA");
    let (member, secure) = start_tls_member(dir.path(), &ca, Vec::new());
    let ca_pem = ca.cert.pem();
    let carol = ca.issue_to(Some("carol"), &["client"], false);

    let client = zk_crate_session(secure, &ca_pem, Some(&carol))
        .await
        .expect("a session over TLS with carol's certificate");
    let only_carol = [zk::Acl::new(
        zk::Permission::ALL,
        zk::AuthId::new("x509", "CN=carol"),
    )];
    client
        .create(
            "/carols",
            b"hers",
            &zk::CreateMode::Persistent.with_acls(zk::Acls::new(&only_carol)),
        )
        .await
        .expect("create over TLS");
    let (data, _) = client.get_data("/carols").await.expect("carol reads");
    assert_eq!(data, b"hers");

    // A plain-port session is not carol: the x509 ACL keeps it out.
    let plain =
        rookery_tests::client::connect_with(&member.connect_string(), Duration::from_secs(10))
            .await;
    assert!(
        matches!(plain.get_data("/carols").await, Err(zk::Error::NoAuth)),
        "a session without carol's certificate reads /carols"
    );

    // No client certificate, or trusting another CA than the member's: no session.
    let refused = zk_crate_session(secure, &ca_pem, None).await;
    assert!(refused.is_err(), "served without a client certificate");
    let other = Ca::new("another CA");
    let refused = zk_crate_session(secure, &other.cert.pem(), Some(&carol)).await;
    assert!(refused.is_err(), "served while trusting another CA");
}

/// `rookery bench` and the TUI's client code reach a member over TLS with
/// `--tls-ca/--tls-cert/--tls-key` (the TUI on screen: tests/tests/tui_e2e.rs).
#[test]
fn rookery_bench_runs_over_tls() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = Ca::new("rookery test CA");
    let (member, secure) = start_tls_member(dir.path(), &ca, Vec::new());
    let tls = client_tls_args(dir.path(), &ca, "bench");
    // The watch workload's watchers are the bench's own sessions, not the
    // client crate's: they take the same certificates.
    for workload in [
        &["--workload", "create", "--sessions", "2"][..],
        &["--workload", "watch", "--watchers", "5"][..],
    ] {
        let mut args = workload.to_vec();
        args.extend(tls.iter().map(String::as_str));
        let report = rookery_tests::bench_json(&format!("127.0.0.1:{secure}"), &args);
        let ops = report["ops"].as_u64().unwrap_or(0);
        assert!(ops > 0, "no request answered over TLS: {report}");
        assert_eq!(report["errors"].as_u64(), Some(0), "{report}");
    }

    drop(member);
}
