//! TLS for Rookery's own clients (`rookery tui`, `rookery bench`): a CA to
//! trust and, for servers with `ssl.clientAuth=need`, a client certificate,
//! read once from PEM files. Sessions go through the `zookeeper-client`
//! crate's TLS; four-letter words use the same certificates directly.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::net::TcpStream;
use zookeeper_client as zk;

/// Where the PEM files are, as given on the command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsFiles {
    /// CA certificates that sign the servers' certificates.
    pub ca: PathBuf,
    /// The client certificate (chain) and its private key; both or neither.
    pub identity: Option<(PathBuf, PathBuf)>,
}

/// Why the TLS files could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {reason}")]
    Pem { path: PathBuf, reason: String },
    #[error("the TLS settings are not usable: {0}")]
    Config(String),
}

/// The loaded certificates, ready for sessions and four-letter words.
#[derive(Clone)]
pub struct ClientTls {
    sessions: zk::TlsOptions,
    words: tokio_rustls::TlsConnector,
}

impl std::fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientTls").finish_non_exhaustive()
    }
}

fn read(path: &Path) -> Result<String, TlsError> {
    std::fs::read_to_string(path).map_err(|source| TlsError::Read {
        path: path.to_path_buf(),
        source,
    })
}

fn pem_error(path: &Path, reason: impl std::fmt::Display) -> TlsError {
    TlsError::Pem {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

fn certificates(path: &Path, pem: &str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_error(path, e))?;
    if certs.is_empty() {
        return Err(pem_error(path, "no CERTIFICATE block"));
    }
    Ok(certs)
}

impl ClientTls {
    /// Reads and checks the files. Also makes aws-lc-rs (which the
    /// zookeeper-client crate's TLS brings in) the process's rustls provider:
    /// that crate asks rustls for the process default, and the server's ring
    /// provider is compiled in too.
    pub fn load(files: &TlsFiles) -> Result<ClientTls, TlsError> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        // Err only when a provider is already installed, which is as good.
        let _ = rustls::crypto::CryptoProvider::install_default((*provider).clone());

        let ca_pem = read(&files.ca)?;
        let mut roots = rustls::RootCertStore::empty();
        for cert in certificates(&files.ca, &ca_pem)? {
            roots
                .add(cert)
                .map_err(|e| pem_error(&files.ca, format!("not a usable CA: {e}")))?;
        }
        let mut sessions = zk::TlsOptions::new()
            .with_pem_ca(&ca_pem)
            .map_err(|e| pem_error(&files.ca, e))?;

        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Config(e.to_string()))?
            .with_root_certificates(roots);
        let config = match &files.identity {
            None => builder.with_no_client_auth(),
            Some((cert_path, key_path)) => {
                let cert_pem = read(cert_path)?;
                let key_pem = read(key_path)?;
                let chain = certificates(cert_path, &cert_pem)?;
                let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
                    .map_err(|e| pem_error(key_path, e))?;
                sessions = sessions
                    .with_pem_identity(&cert_pem, &key_pem)
                    .map_err(|e| pem_error(cert_path, e))?;
                builder
                    .with_client_auth_cert(chain, key)
                    .map_err(|e| pem_error(key_path, e))?
            }
        };
        Ok(ClientTls {
            sessions,
            words: tokio_rustls::TlsConnector::from(Arc::new(config)),
        })
    }

    /// Opens a session over TLS to every member of `connect`.
    pub async fn connect(
        &self,
        connector: zk::Connector,
        connect: &str,
    ) -> Result<zk::Client, zk::Error> {
        connector
            .with_tls(self.sessions.clone())
            .secure_connect(connect)
            .await
    }

    /// Wraps a connection to `addr` (`host:port`) in TLS; the server's
    /// certificate must name `host`.
    pub async fn wrap(
        &self,
        addr: &str,
        stream: TcpStream,
    ) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
        let host = addr
            .rsplit_once(':')
            .map_or(addr, |(h, _)| h)
            .trim_start_matches('[')
            .trim_end_matches(']');
        let name = ServerName::try_from(host.to_string())
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        self.words.connect(name, stream).await
    }
}

/// A session to `connect`, over TLS when `tls` is given.
pub async fn connect(
    connector: zk::Connector,
    connect: &str,
    tls: Option<&ClientTls>,
) -> Result<zk::Client, zk::Error> {
    match tls {
        Some(tls) => tls.connect(connector, connect).await,
        None => connector.connect(connect).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_and_empty_files_are_named_in_the_error() {
        let dir = std::env::temp_dir().join(format!("rookery-client-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let missing = dir.join("missing.pem");
        let err = ClientTls::load(&TlsFiles {
            ca: missing.clone(),
            identity: None,
        })
        .expect_err("no such file");
        assert!(err.to_string().contains("missing.pem"), "{err}");

        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").expect("write");
        let err = ClientTls::load(&TlsFiles {
            ca: empty,
            identity: None,
        })
        .expect_err("no certificate in it");
        assert!(err.to_string().contains("no CERTIFICATE block"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
