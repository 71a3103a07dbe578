//! TLS for both listeners, from a PEM certificate chain and private key (PKCS#8, PKCS#1 or
//! SEC1). Loading fails loudly: a certificate or key that cannot be read or does not match is
//! an error that stops the start, never a silent fall back to plain text.

use std::path::Path;
use std::sync::Arc;

use datafusion_postgres::pgwire::tokio::tokio_rustls::TlsAcceptor;
use datafusion_postgres::pgwire::tokio::tokio_rustls::rustls;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use thiserror::Error;

/// Why TLS could not be set up.
#[derive(Debug, Error)]
pub enum TlsError {
    /// The certificate file is missing, unreadable or holds no certificate.
    #[error("cannot read the TLS certificate {path}: {reason}")]
    Certificate {
        /// The file.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// The key file is missing, unreadable or holds no private key.
    #[error("cannot read the TLS private key {path}: {reason}")]
    Key {
        /// The file.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// The key does not fit the certificate, or rustls refused them.
    #[error("cannot use the TLS certificate and key: {0}")]
    Config(String),
}

/// TLS for the HTTP and PostgreSQL listeners.
#[derive(Clone)]
pub struct Tls {
    /// For HTTP (ALPN `http/1.1`).
    pub http: TlsAcceptor,
    /// For PostgreSQL (ALPN `postgresql`, which PostgreSQL 17's direct TLS requires).
    pub pg: TlsAcceptor,
    /// The certificate chain as PEM (for SCRAM channel binding).
    pub certificate_pem: Vec<u8>,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls").finish_non_exhaustive()
    }
}

impl Tls {
    /// Loads the certificate chain at `cert` and the key at `key`.
    pub fn load(cert: &Path, key: &Path) -> Result<Tls, TlsError> {
        let certificate_pem = std::fs::read(cert).map_err(|e| TlsError::Certificate {
            path: cert.display().to_string(),
            reason: e.to_string(),
        })?;
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&certificate_pem)
            .collect::<Result<_, _>>()
            .map_err(|e| TlsError::Certificate {
                path: cert.display().to_string(),
                reason: e.to_string(),
            })?;
        if certs.is_empty() {
            return Err(TlsError::Certificate {
                path: cert.display().to_string(),
                reason: "no PEM certificate in it".into(),
            });
        }
        let key_pem = std::fs::read(key).map_err(|e| TlsError::Key {
            path: key.display().to_string(),
            reason: e.to_string(),
        })?;
        let private = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| TlsError::Key {
            path: key.display().to_string(),
            reason: e.to_string(),
        })?;
        let config = |alpn: &[u8]| -> Result<TlsAcceptor, TlsError> {
            // Named explicitly: two crypto providers are linked in, so none is the default.
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let mut config = rustls::ServerConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map_err(|e| TlsError::Config(e.to_string()))?
                .with_no_client_auth()
                .with_single_cert(certs.clone(), private.clone_key())
                .map_err(|e| TlsError::Config(e.to_string()))?;
            config.alpn_protocols = vec![alpn.to_vec()];
            Ok(TlsAcceptor::from(Arc::new(config)))
        };
        Ok(Tls {
            http: config(b"http/1.1")?,
            pg: config(b"postgresql")?,
            certificate_pem,
        })
    }
}
