//! TLS for clients on `secureClientPort` (rustls): the member's key and
//! certificate chain from `ssl.keyStore.location`, the CAs client certificates
//! must chain to from `ssl.trustStore.location`, both PEM, and
//! `ssl.clientAuth` (need, ZooKeeper's default; want; none). Certificates must
//! be X.509 v3 (webpki's rule; Java also takes v1).
//!
//! Also the links between members (`sslQuorum=true`, `ssl.quorum.*`): mutual
//! TLS with one trust store, see [`quorum`].

use crate::config::Config;
use rustls::server::WebPkiClientVerifier;
use rustls::RootCertStore;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::path::Path;
use std::sync::Arc;
use tokio_rustls::{TlsAcceptor, TlsConnector};

/// ring, not aws-lc-rs, so the server alone needs no long C build (the client
/// commands' TLS, through the zookeeper-client crate, brings aws-lc-rs into
/// the `rookery` binary). rustls deprecates ring's
/// provider for lacking post-quantum key exchange, which ZooKeeper's clients
/// (Java, Python's ssl) do not offer today.
#[allow(deprecated)]
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Both ends of the member links' TLS: members accept only peers with a
/// certificate from the quorum trust store, and dial presenting their own.
#[derive(Clone)]
pub struct QuorumTls {
    pub acceptor: TlsAcceptor,
    pub connector: TlsConnector,
}

/// The member links' TLS from `ssl.quorum.keyStore.location` (this member's
/// key and certificate chain, PEM) and `ssl.quorum.trustStore.location` (the
/// CAs every member's certificate chains to). A peer is checked against the IP
/// address it is dialled at, so member certificates name their addresses.
pub fn quorum(cfg: &Config) -> Result<QuorumTls, String> {
    const KEY: &str = "ssl.quorum.keyStore.location";
    const TRUST: &str = "ssl.quorum.trustStore.location";
    let key_store = cfg.ssl_quorum_key_store.as_deref().ok_or(format!(
        "sslQuorum=true needs {KEY} (a PEM key and certificate)"
    ))?;
    let trust = cfg.ssl_quorum_trust_store.as_deref().ok_or(format!(
        "sslQuorum=true needs {TRUST} (PEM CA certificates)"
    ))?;
    let chain = certificates(key_store, KEY)?;
    let key = private_key(key_store, KEY)?;
    let roots = Arc::new(root_store(trust, TRUST)?);
    let verifier = WebPkiClientVerifier::builder_with_provider(roots.clone(), provider())
        .build()
        .map_err(|e| e.to_string())?;
    let server = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain.clone(), key.clone_key())
        .map_err(|e| format!("{KEY} {}: {e}", key_store.display()))?;
    let client = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .map_err(|e| format!("{KEY} {}: {e}", key_store.display()))?;
    Ok(QuorumTls {
        acceptor: TlsAcceptor::from(Arc::new(server)),
        connector: TlsConnector::from(Arc::new(client)),
    })
}

fn private_key(path: &Path, key: &str) -> Result<PrivateKeyDer<'static>, String> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| {
        format!(
            "{key} {}: no PEM private key ({e}); Rookery reads PEM key stores only",
            path.display()
        )
    })
}

fn root_store(path: &Path, key: &str) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    for ca in certificates(path, key)? {
        roots
            .add(ca)
            .map_err(|e| format!("{key} {}: {e}", path.display()))?;
    }
    Ok(roots)
}

/// The acceptor for `secureClientPort`, from zoo.cfg's `ssl.*` keys. The error
/// names the key and the file.
pub fn acceptor(cfg: &Config) -> Result<TlsAcceptor, String> {
    let provider = provider();
    let key_store = cfg
        .ssl_key_store
        .as_deref()
        .ok_or("secureClientPort needs ssl.keyStore.location (a PEM key and certificate)")?;
    let chain = certificates(key_store, "ssl.keyStore.location")?;
    let key = private_key(key_store, "ssl.keyStore.location")?;
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let builder = match cfg.ssl_client_auth.as_str() {
        "none" => builder.with_no_client_auth(),
        auth => {
            let trust = cfg.ssl_trust_store.as_deref().ok_or(
                "ssl.clientAuth need or want needs ssl.trustStore.location (PEM CA certificates)",
            )?;
            let roots = root_store(trust, "ssl.trustStore.location")?;
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            let verifier = if auth == "want" {
                verifier.allow_unauthenticated()
            } else {
                verifier
            };
            builder.with_client_cert_verifier(verifier.build().map_err(|e| e.to_string())?)
        }
    };
    let config = builder.with_single_cert(chain, key).map_err(|e| {
        format!(
            "ssl.keyStore.location {}: {e} (certificates must be X.509 v3)",
            key_store.display()
        )
    })?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

fn certificates(path: &Path, key: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("{key} {}: {e}", path.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{key} {}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "{key} {}: no PEM certificate (Rookery reads PEM stores only)",
            path.display()
        ));
    }
    Ok(certs)
}
