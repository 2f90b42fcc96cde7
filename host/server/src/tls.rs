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
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::task::{Context, Poll};
use std::time::Duration;

use arc_swap::ArcSwap;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

use crate::config::{ClientTls, Config, GroupTls, ServerTls};

/// Longest a client may take to complete its handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Handshaken connections waiting for the server to take them.
const ACCEPT_QUEUE: usize = 64;

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

/// The subject of a verified client certificate.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PeerSubject {
    /// RFC 4514 form, most significant RDN last (`CN=worker,O=Acme`).
    pub distinguished_name: String,
    pub common_name: Option<String>,
    pub organization: Vec<String>,
    pub organizational_unit: Vec<String>,
}

/// What a TLS connection's handshake established; in every request's extensions.
#[derive(Clone, Debug)]
pub struct TlsConnectInfo {
    pub remote_addr: Option<SocketAddr>,
    /// The server name the client sent (SNI), if any.
    pub server_name: Option<String>,
    /// The subject of the client's verified certificate (only with `requireClientAuth`).
    pub peer: Option<Arc<PeerSubject>>,
}

/// One accepted TLS connection.
pub struct TlsConn {
    stream: tokio_rustls::server::TlsStream<TcpStream>,
    info: TlsConnectInfo,
}

impl tonic::transport::server::Connected for TlsConn {
    type ConnectInfo = TlsConnectInfo;

    fn connect_info(&self) -> TlsConnectInfo {
        self.info.clone()
    }
}

impl AsyncRead for TlsConn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for TlsConn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

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
    config: Arc<rustls::ServerConfig>,
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
            current: ArcSwap::from_pointee(Loaded { inputs, config }),
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
        self.current.store(Arc::new(Loaded { inputs, config }));
        Ok(true)
    }

    /// The config new handshakes use.
    pub fn config(&self) -> Arc<rustls::ServerConfig> {
        self.current.load().config.clone()
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

/// A stream of handshaken connections for `serve_with_incoming_shutdown`. Accepting stops
/// (and the listener closes) when the stream is dropped.
pub fn incoming(
    listener: TcpListener,
    server: Arc<TlsServer>,
) -> tokio_stream::wrappers::ReceiverStream<io::Result<TlsConn>> {
    let (tx, rx) = tokio::sync::mpsc::channel(ACCEPT_QUEUE);
    tokio::spawn(async move {
        loop {
            let (tcp, remote) = tokio::select! {
                a = crate::accept::accept(&listener) => a,
                _ = tx.closed() => break,
            };
            let acceptor = tokio_rustls::TlsAcceptor::from(server.config());
            let tx = tx.clone();
            tokio::spawn(async move {
                let handshake = acceptor.accept(tcp).into_fallible();
                let stream = match tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake).await {
                    Ok(Ok(s)) => s,
                    Ok(Err((e, tcp))) => {
                        tracing::info!(%remote, error = %e, "TLS handshake failed");
                        linger(tcp).await;
                        return;
                    }
                    Err(_) => {
                        tracing::info!(%remote, "TLS handshake timed out");
                        return;
                    }
                };
                let (_, session) = stream.get_ref();
                let info = TlsConnectInfo {
                    remote_addr: Some(remote),
                    server_name: session.server_name().map(str::to_string),
                    peer: session
                        .peer_certificates()
                        .and_then(|chain| chain.first())
                        .and_then(|leaf| match subject(leaf) {
                            Ok(s) => Some(Arc::new(s)),
                            Err(e) => {
                                tracing::warn!(%remote, error = %e, "cannot read the client certificate's subject");
                                None
                            }
                        }),
                };
                let _ = tx.send(Ok(TlsConn { stream, info })).await;
            });
        }
    });
    tokio_stream::wrappers::ReceiverStream::new(rx)
}

/// Closes a refused connection so that the client reads the alert that says why: our side
/// is shut first, then what the client already sent (with TLS 1.3 it may have sent its
/// request before learning its certificate was refused) is read and dropped. Closing with
/// unread data would reset the connection, and a reset can discard the alert before the
/// client reads it.
async fn linger(mut tcp: TcpStream) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let _ = tcp.shutdown().await;
    let mut sink = [0u8; 4096];
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        while matches!(tcp.read(&mut sink).await, Ok(n) if n > 0) {}
    })
    .await;
}

/// The subject of a DER certificate.
pub fn subject(der: &[u8]) -> Result<PeerSubject, String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).map_err(|e| e.to_string())?;
    let name = cert.subject();
    let text =
        |a: &x509_parser::x509::AttributeTypeAndValue<'_>| a.as_str().map(str::to_string).ok();
    Ok(PeerSubject {
        distinguished_name: rfc4514(name),
        common_name: name.iter_common_name().next().and_then(text),
        organization: name.iter_organization().filter_map(text).collect(),
        organizational_unit: name.iter_organizational_unit().filter_map(text).collect(),
    })
}

/// RFC 4514: RDNs last-to-first, joined by `,`; several attributes in one RDN by `+`.
fn rfc4514(name: &x509_parser::x509::X509Name<'_>) -> String {
    use std::fmt::Write as _;
    let registry = x509_parser::objects::oid_registry();
    let mut out = String::new();
    let rdns: Vec<_> = name.iter_rdn().collect();
    for (i, rdn) in rdns.iter().rev().enumerate() {
        if i > 0 {
            out.push(',');
        }
        for (j, attr) in rdn.iter().enumerate() {
            if j > 0 {
                out.push('+');
            }
            let oid = attr.attr_type();
            match x509_parser::objects::oid2abbrev(oid, registry) {
                Ok(abbrev) if RFC4514_NAMES.contains(&abbrev) => out.push_str(abbrev),
                _ => out.push_str(&oid.to_id_string()),
            }
            out.push('=');
            match attr.as_str() {
                Ok(value) => escape_into(&mut out, value),
                Err(_) => {
                    // Not a string type: the DER value in hex, as RFC 4514 §2.4 says.
                    out.push('#');
                    for b in x509_parser::der_parser::asn1_rs::ToDer::to_der_vec(attr.attr_value())
                        .unwrap_or_default()
                    {
                        let _ = write!(out, "{b:02x}");
                    }
                }
            }
        }
    }
    out
}

/// Attribute types RFC 4514 names by their short name (the rest by their OID).
const RFC4514_NAMES: &[&str] = &["CN", "L", "ST", "O", "OU", "C", "STREET", "DC", "UID"];

fn escape_into(out: &mut String, value: &str) {
    let last = value.chars().count().saturating_sub(1);
    for (i, c) in value.chars().enumerate() {
        let special = matches!(c, '"' | '+' | ',' | ';' | '<' | '>' | '\\')
            || (i == 0 && (c == '#' || c == ' '))
            || (i == last && c == ' ');
        if special {
            out.push('\\');
        }
        if c == '\0' {
            out.push_str("\\00");
        } else {
            out.push(c);
        }
    }
}

/// Checks `frontend.client` by building what it describes (nothing dials the frontend from
/// here, but a bad file or blob should stop the start), and logs settings that have no effect.
/// The `internode` group is loaded by `cluster::internode`.
pub fn check_other_groups(config: &Config) -> Result<(), Error> {
    client_config(config, "frontend", &config.tls.frontend)?;
    for (group, g) in [
        ("internode", &config.tls.internode),
        ("frontend", &config.tls.frontend),
    ] {
        let s = &g.server;
        let has_cas = !s.client_ca_files.is_empty() || !s.client_ca_data.is_empty();
        if has_cas && !s.require_client_auth {
            tracing::warn!(
                "tls.{group}.server: client CAs are set but requireClientAuth is false: no \
                 client certificate is asked for"
            );
        }
    }
    if config.is_sqlite()
        && (config.tls.internode.server.enabled() || config.tls.internode.client.enabled())
    {
        tracing::info!(
            "tls.internode is set, but a SQLite database serves one node: there is no \
             internode connection for it to guard"
        );
    }
    Ok(())
}

/// The rustls client config a service would dial its peers with under `group`'s `client`
/// settings: none when client TLS is off. With the server side's `requireClientAuth`, the
/// server's own key pair is presented (Temporal's internode rule).
pub fn client_config(
    config: &Config,
    group: &str,
    settings: &GroupTls,
) -> Result<Option<rustls::ClientConfig>, Error> {
    let c: &ClientTls = &settings.client;
    if !c.enabled() {
        return Ok(None);
    }
    let prefix = format!("tls.{group}.client.");
    let sources = ca_sources(
        config,
        &format!("{prefix}rootCa"),
        &c.root_ca_files,
        &c.root_ca_data,
    );
    let roots = if sources.is_empty() {
        // forceTLS without roots: Mozilla's root set stands in for the system's.
        rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        }
    } else {
        let pems = sources
            .iter()
            .map(Source::read)
            .collect::<Result<Vec<_>, _>>()?;
        ca_pool(&sources, &pems)?
    };
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(VERSIONS)
        .expect("ring supports TLS 1.2 and 1.3")
        .with_root_certificates(roots);
    let s = &settings.server;
    let mut client = if s.require_client_auth && s.enabled() {
        let server_key = format!("tls.{group}.server.");
        let cert = one_source(
            config,
            format!("{server_key}cert"),
            &s.cert_file,
            &s.cert_data,
        )
        .expect("validated");
        let key = one_source(config, format!("{server_key}key"), &s.key_file, &s.key_data)
            .expect("validated");
        let chain = certificates(cert.key(), &cert.read()?)?;
        let key_der = private_key(key.key(), &key.read()?)?;
        builder
            .with_client_auth_cert(chain, key_der)
            .map_err(|e| Error::Rustls {
                key: format!("tls.{group}.server"),
                source: e,
            })?
    } else {
        builder.with_no_client_auth()
    };
    client.alpn_protocols = vec![b"h2".to_vec()];
    if c.disable_host_verification {
        client
            .dangerous()
            .set_certificate_verifier(Arc::new(NoVerification(provider())));
    }
    if !c.server_name.is_empty()
        && rustls::pki_types::ServerName::try_from(c.server_name.as_str()).is_err()
    {
        return Err(Error::Material {
            key: format!("{prefix}serverName"),
            message: format!("{:?} is not a DNS name or IP address", c.server_name),
        });
    }
    Ok(Some(client))
}

/// `disableHostVerification`: accepts any server certificate (signatures are still checked).
#[derive(Debug)]
struct NoVerification(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distinguished_names_are_escaped() {
        let mut out = String::new();
        escape_into(&mut out, " a,b+c#");
        assert_eq!(out, "\\ a\\,b\\+c#");
    }
}
