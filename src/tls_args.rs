//! `--tls-ca`, `--tls-cert`, `--tls-key`: how `rookery tui` and `rookery
//! bench` are told to connect over TLS.

use rookery_tui::client_tls::TlsFiles;
use std::path::PathBuf;

#[derive(clap::Args, Debug, Clone, Default)]
pub struct TlsArgs {
    /// Connect over TLS (to the members' secureClientPort), trusting the CA
    /// certificates in this PEM file.
    #[arg(long, value_name = "PEM")]
    pub tls_ca: Option<PathBuf>,
    /// Client certificate (PEM) for members with ssl.clientAuth=need; it is
    /// also the x509 identity for ACLs.
    #[arg(long, value_name = "PEM", requires_all = ["tls_key", "tls_ca"])]
    pub tls_cert: Option<PathBuf>,
    /// The client certificate's private key (PEM).
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
}

impl TlsArgs {
    /// The files, when TLS was asked for.
    pub fn files(&self) -> Option<TlsFiles> {
        let ca = self.tls_ca.clone()?;
        let identity = self.tls_cert.clone().zip(self.tls_key.clone());
        Some(TlsFiles { ca, identity })
    }
}
