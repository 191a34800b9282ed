//! TLS for clients on `secureClientPort` (rustls): the member's key and
//! certificate chain from `ssl.keyStore.location`, the CAs client certificates
//! must chain to from `ssl.trustStore.location`, both PEM, and
//! `ssl.clientAuth` (need, ZooKeeper's default; want; none). Certificates must
//! be X.509 v3 (webpki's rule; Java also takes v1).

use crate::config::Config;
use rustls::server::WebPkiClientVerifier;
use rustls::RootCertStore;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::path::Path;
use std::sync::Arc;
use tokio_rustls::TlsAcceptor;

/// The acceptor for `secureClientPort`, from zoo.cfg's `ssl.*` keys. The error
/// names the key and the file.
pub fn acceptor(cfg: &Config) -> Result<TlsAcceptor, String> {
    // ring, not aws-lc-rs: no cmake and no long C build. rustls deprecates ring's
    // provider for lacking post-quantum key exchange, which ZooKeeper's clients
    // (Java, Python's ssl) do not offer today.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let key_store = cfg
        .ssl_key_store
        .as_deref()
        .ok_or("secureClientPort needs ssl.keyStore.location (a PEM key and certificate)")?;
    let chain = certificates(key_store, "ssl.keyStore.location")?;
    let key = PrivateKeyDer::from_pem_file(key_store).map_err(|e| {
        format!(
            "ssl.keyStore.location {}: no PEM private key ({e}); Rookery reads PEM key stores only",
            key_store.display()
        )
    })?;
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let builder = match cfg.ssl_client_auth.as_str() {
        "none" => builder.with_no_client_auth(),
        auth => {
            let trust = cfg.ssl_trust_store.as_deref().ok_or(
                "ssl.clientAuth need or want needs ssl.trustStore.location (PEM CA certificates)",
            )?;
            let mut roots = RootCertStore::empty();
            for ca in certificates(trust, "ssl.trustStore.location")? {
                roots
                    .add(ca)
                    .map_err(|e| format!("ssl.trustStore.location {}: {e}", trust.display()))?;
            }
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
