//! TLS for the frontend and internal listeners (rustls, TLS 1.2 and 1.3, ALPN `h2`).
//!
//! The listener accepts TCP itself and runs each handshake in its own task with a deadline, so
//! a slow or broken client only loses its own connection. What a handshake learned — the
//! verified client certificate's subject and the SNI name — travels with the connection as
//! [`TlsConnectInfo`]; tonic puts it in every request's extensions, where the auth layer reads
//! it for the claim mapper.
//!
//! Reload: the whole rustls `ServerConfig` (certificate, key and client-CA verifier) is built
//! from the configured files or data and kept behind an [`ArcSwap`]. Every `refreshInterval`
//! the inputs are read again; when their bytes changed a new config is built and swapped in,
//! and the next handshakes use it. Connections already established keep the session they
//! negotiated. A load error keeps the previous material (and is logged).

use std::io;
use std::path::PathBuf;
use std::sync::{Arc, Weak};
use std::time::Duration;

use arc_swap::ArcSwap;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::config::{Config, ServerTls};

/// A TLS material problem, naming the config key it came from.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{key}: cannot read {path}: {source}")]
    Read {
        key: String,
        path: PathBuf,
        source: io::Error,
    },
    #[error("{key}: not base64: {source}")]
    Base64 {
        key: String,
        source: base64::DecodeError,
    },
    #[error("{key}: {message}")]
    Material { key: String, message: String },
    #[error("{key}: {source}")]
    Rustls { key: String, source: rustls::Error },
    #[error("{key}: {message}")]
    Verifier { key: String, message: String },
}

mod accept;
mod client;
mod subject;

pub use accept::{TlsConn, TlsConnectInfo, incoming};
pub use client::{check_other_groups, client_config};
pub use subject::{PeerSubject, subject};

/// Where one piece of material comes from.
#[derive(Clone, Debug)]
enum Source {
    File { key: String, path: PathBuf },
    Data { key: String, base64: String },
}

impl Source {
    fn read(&self) -> Result<Vec<u8>, Error> {
        use base64::Engine as _;
        match self {
            Source::File { key, path } => std::fs::read(path).map_err(|source| Error::Read {
                key: key.clone(),
                path: path.clone(),
                source,
            }),
            Source::Data { key, base64 } => base64::engine::general_purpose::STANDARD
                .decode(base64.trim())
                .map_err(|source| Error::Base64 {
                    key: key.clone(),
                    source,
                }),
        }
    }

    fn key(&self) -> &str {
        match self {
            Source::File { key, .. } | Source::Data { key, .. } => key,
        }
    }
}

fn one_source(config: &Config, key: String, file: &str, data: &str) -> Option<Source> {
    if !file.is_empty() {
        Some(Source::File {
            path: config.resolve(std::path::Path::new(file)),
            key: format!("{key}File"),
        })
    } else if !data.is_empty() {
        Some(Source::Data {
            key: format!("{key}Data"),
            base64: data.to_string(),
        })
    } else {
        None
    }
}

fn ca_sources(config: &Config, key: &str, files: &[String], data: &[String]) -> Vec<Source> {
    let files = files.iter().enumerate().map(|(i, f)| Source::File {
        key: format!("{key}Files[{i}]"),
        path: config.resolve(std::path::Path::new(f)),
    });
    let data = data.iter().enumerate().map(|(i, d)| Source::Data {
        key: format!("{key}Data[{i}]"),
        base64: d.clone(),
    });
    files.chain(data).collect()
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

const VERSIONS: &[&rustls::SupportedProtocolVersion] =
    &[&rustls::version::TLS12, &rustls::version::TLS13];

fn certificates(key: &str, pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, Error> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Error::Material {
            key: key.into(),
            message: format!("bad PEM: {e}"),
        })?;
    if certs.is_empty() {
        return Err(Error::Material {
            key: key.into(),
            message: "no CERTIFICATE block found".into(),
        });
    }
    Ok(certs)
}

fn private_key(key: &str, pem: &[u8]) -> Result<PrivateKeyDer<'static>, Error> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|e| Error::Material {
        key: key.into(),
        message: format!("no usable private key: {e}"),
    })
}

fn ca_pool(sources: &[Source], pems: &[Vec<u8>]) -> Result<rustls::RootCertStore, Error> {
    let mut roots = rustls::RootCertStore::empty();
    for (source, pem) in sources.iter().zip(pems) {
        for cert in certificates(source.key(), pem)? {
            roots.add(cert).map_err(|e| Error::Rustls {
                key: source.key().into(),
                source: e,
            })?;
        }
    }
    Ok(roots)
}

/// The raw inputs of one server config: compared on refresh to see whether anything changed.
#[derive(PartialEq)]
struct ServerInputs {
    cert: Vec<u8>,
    key: Vec<u8>,
    client_cas: Vec<Vec<u8>>,
}

struct Loaded {
    inputs: ServerInputs,
    /// For gRPC: ALPN `h2` only.
    config: Arc<rustls::ServerConfig>,
    /// For the HTTP API and the UI: the same, with ALPN `h2` and `http/1.1`.
    http: Arc<rustls::ServerConfig>,
}

impl Loaded {
    fn new(inputs: ServerInputs, config: Arc<rustls::ServerConfig>) -> Loaded {
        let mut http = (*config).clone();
        http.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Loaded {
            inputs,
            config,
            http: Arc::new(http),
        }
    }
}

/// What a listener speaks, which its handshakes offer by ALPN.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocols {
    /// gRPC (HTTP/2 only).
    Grpc,
    /// The HTTP API and the UI (HTTP/1.1 or HTTP/2).
    Http,
}

/// The server side of one TLS group, reloadable.
pub struct TlsServer {
    spec: Spec,
    current: ArcSwap<Loaded>,
}

/// Where a server config's material comes from.
struct Spec {
    group: &'static str,
    cert: Source,
    key: Source,
    client_cas: Vec<Source>,
    require_client_auth: bool,
}

impl TlsServer {
    /// The server side of `group`, loaded now; none when its TLS is off.
    pub fn load(config: &Config, group: &'static str) -> Result<Option<Arc<TlsServer>>, Error> {
        let settings: &ServerTls = match group {
            "frontend" => &config.tls.frontend.server,
            "internode" => &config.tls.internode.server,
            other => unreachable!("no TLS group {other:?}"),
        };
        if !settings.enabled() {
            return Ok(None);
        }
        let prefix = format!("tls.{group}.server.");
        let missing = |what: &str| Error::Material {
            key: format!("{prefix}{what}"),
            message: "not set".into(),
        };
        let cert = one_source(
            config,
            format!("{prefix}cert"),
            &settings.cert_file,
            &settings.cert_data,
        )
        .ok_or_else(|| missing("certFile"))?;
        let key = one_source(
            config,
            format!("{prefix}key"),
            &settings.key_file,
            &settings.key_data,
        )
        .ok_or_else(|| missing("keyFile"))?;
        let client_cas = if settings.require_client_auth {
            ca_sources(
                config,
                &format!("{prefix}clientCa"),
                &settings.client_ca_files,
                &settings.client_ca_data,
            )
        } else {
            // As in Temporal: without requireClientAuth no client certificate is asked for,
            // and the CA list is not used.
            Vec::new()
        };
        let spec = Spec {
            group,
            cert,
            key,
            client_cas,
            require_client_auth: settings.require_client_auth,
        };
        let inputs = spec.read_inputs()?;
        let config = spec.build(&inputs)?;
        Ok(Some(Arc::new(TlsServer {
            spec,
            current: ArcSwap::from_pointee(Loaded::new(inputs, config)),
        })))
    }

    /// Reads the inputs again and swaps in a new config if they changed. Returns whether it
    /// did; a load error keeps the current material.
    pub fn refresh(&self) -> Result<bool, Error> {
        let inputs = self.spec.read_inputs()?;
        if inputs == self.current.load().inputs {
            return Ok(false);
        }
        let config = self.spec.build(&inputs)?;
        self.current.store(Arc::new(Loaded::new(inputs, config)));
        Ok(true)
    }

    /// The config new handshakes of a listener speaking `protocols` use.
    pub fn config(&self, protocols: Protocols) -> Arc<rustls::ServerConfig> {
        let loaded = self.current.load();
        match protocols {
            Protocols::Grpc => loaded.config.clone(),
            Protocols::Http => loaded.http.clone(),
        }
    }

    /// Refreshes every `every` until `this` is dropped.
    pub fn refresh_every(this: &Arc<TlsServer>, every: Duration) {
        let weak: Weak<TlsServer> = Arc::downgrade(this);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tick.tick().await;
                let Some(server) = weak.upgrade() else { break };
                // Reading a few small files: fine on a blocking-tolerant worker.
                let group = server.spec.group;
                match tokio::task::spawn_blocking(move || server.refresh()).await {
                    Ok(Ok(true)) => tracing::info!(group, "loaded new TLS certificates"),
                    Ok(Ok(false)) => {}
                    Ok(Err(e)) => tracing::warn!(group, error = %e,
                        "cannot reload TLS certificates; keeping the current ones"),
                    Err(e) => tracing::warn!(group, error = %e, "TLS reload task failed"),
                }
            }
        });
    }
}

impl Spec {
    fn read_inputs(&self) -> Result<ServerInputs, Error> {
        Ok(ServerInputs {
            cert: self.cert.read()?,
            key: self.key.read()?,
            client_cas: self
                .client_cas
                .iter()
                .map(Source::read)
                .collect::<Result<_, _>>()?,
        })
    }

    fn build(&self, inputs: &ServerInputs) -> Result<Arc<rustls::ServerConfig>, Error> {
        let chain = certificates(self.cert.key(), &inputs.cert)?;
        let key = private_key(self.key.key(), &inputs.key)?;
        let builder = rustls::ServerConfig::builder_with_provider(provider())
            .with_protocol_versions(VERSIONS)
            .expect("ring supports TLS 1.2 and 1.3");
        let builder = if self.require_client_auth {
            let roots = ca_pool(&self.client_cas, &inputs.client_cas)?;
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider(),
            )
            .build()
            .map_err(|e| Error::Verifier {
                key: format!("tls.{}.server (client CAs)", self.group),
                message: e.to_string(),
            })?;
            builder.with_client_cert_verifier(verifier)
        } else {
            builder.with_no_client_auth()
        };
        let mut config = builder
            .with_single_cert(chain, key)
            .map_err(|e| Error::Rustls {
                key: format!("tls.{}.server", self.group),
                source: e,
            })?;
        config.alpn_protocols = vec![b"h2".to_vec()];
        Ok(Arc::new(config))
    }
}
