//! TLS between the nodes of a cluster (`tls.internode`): the internal listener's server side,
//! the connector the nodes dial each other with, and the check a node makes before it joins.
//!
//! As in Temporal, `tls.internode.server` guards the listener (with `requireClientAuth`, a
//! caller must present a certificate that chains to `clientCaFiles`) and `tls.internode.client`
//! is how a node verifies the peer it dials; when the server side requires client auth, a node
//! presents its own server key pair as its client certificate.
//!
//! Joining: before a node writes its membership row it opens a connection to each live peer's
//! internal listener the way it would to serve calls, and refuses to start when a peer turns it
//! away (a certificate the peer does not accept, a peer certificate this node does not accept,
//! or TLS on one side only). Joining is thus refused before the node takes any shard.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use anyhow::Context as _;
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::config::Config;
use crate::tls::TlsServer;

/// How long a connection attempt to a peer may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long the join check waits for a peer's TLS handshake and first HTTP/2 frame.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// This node's internode TLS settings, loaded.
#[derive(Clone, Default)]
pub struct Internode {
    /// Guards the internal listener; none: plaintext.
    pub server: Option<Arc<TlsServer>>,
    /// Dials peers; none: plaintext.
    client: Option<Arc<rustls::ClientConfig>>,
    /// `tls.internode.client.serverName`; else each peer's address is verified.
    server_name: Option<String>,
}

impl Internode {
    /// Loads `tls.internode` (the files are read now; errors name the key).
    pub fn load(config: &Config) -> anyhow::Result<Internode> {
        let group = &config.tls.internode;
        if group.server.enabled() != group.client.enabled() {
            let (key, message) = if group.server.enabled() {
                (
                    "tls.internode.client",
                    "the internal listener uses TLS (tls.internode.server), so nodes must dial \
                     each other with TLS too: set rootCaFiles, rootCaData or forceTLS",
                )
            } else {
                (
                    "tls.internode.server",
                    "nodes dial each other with TLS (tls.internode.client), so the internal \
                     listener must serve TLS too: set certFile and keyFile",
                )
            };
            anyhow::bail!("{key}: {message}");
        }
        let server = TlsServer::load(config, "internode").context("loading tls.internode")?;
        let client = crate::tls::client_config(config, "internode", group)
            .context("loading tls.internode.client")?
            .map(Arc::new);
        let name = &group.client.server_name;
        Ok(Internode {
            server,
            client,
            server_name: (!name.is_empty()).then(|| name.clone()),
        })
    }

    /// The connector for tonic channels to peers when TLS is on.
    pub fn connector(&self) -> Option<TlsConnector> {
        self.client.as_ref().map(|config| TlsConnector {
            config: config.clone(),
            server_name: self.server_name.clone(),
        })
    }

    /// Opens a connection to a peer's internal listener the way calls would, and checks that
    /// both sides accept each other: TLS (with certificates) when configured, plaintext
    /// HTTP/2 otherwise.
    pub async fn probe(&self, address: &str) -> Result<(), Probe> {
        let tcp = tcp(address)
            .await
            .map_err(|e| Probe::Unreachable(e.to_string()))?;
        let Some(connector) = self.connector() else {
            return exchange(tcp).await.map_err(|e| match e {
                Exchange::NotHttp2 => Probe::Refused(
                    "its internal listener did not answer in plaintext HTTP/2: it expects TLS \
                     (set tls.internode as the other nodes do)"
                        .into(),
                ),
                Exchange::Io(e) => Probe::Refused(e.to_string()),
            });
        };
        let tls = match tokio::time::timeout(PROBE_TIMEOUT, connector.handshake(address, tcp)).await
        {
            Ok(Ok(tls)) => tls,
            Ok(Err(e)) if e.kind() == io::ErrorKind::InvalidData => {
                return Err(Probe::Refused(format!("TLS handshake failed: {e}")));
            }
            Ok(Err(e)) => return Err(Probe::Unreachable(e.to_string())),
            Err(_) => return Err(Probe::Refused("the TLS handshake timed out".into())),
        };
        // With TLS 1.3 a refused client certificate shows only after the handshake, as an
        // alert in place of the server's first frame.
        exchange(tls).await.map_err(|e| match e {
            Exchange::NotHttp2 => Probe::Refused("it did not answer HTTP/2 over TLS".into()),
            Exchange::Io(e) => Probe::Refused(format!("it refused the connection: {e}")),
        })
    }
}

/// What the join check learned about a peer it could not use.
#[derive(Debug)]
pub enum Probe {
    /// Nothing listens (a node that just died, whose row has not expired yet).
    Unreachable(String),
    /// The peer and this node do not accept each other.
    Refused(String),
}

enum Exchange {
    NotHttp2,
    Io(io::Error),
}

/// Sends the HTTP/2 preface and an empty SETTINGS frame, and expects the peer's SETTINGS.
async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S) -> Result<(), Exchange> {
    const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0";
    let io = async {
        stream.write_all(PREFACE).await?;
        stream.flush().await?;
        let mut header = [0u8; 9];
        stream.read_exact(&mut header).await?;
        Ok::<_, io::Error>(header)
    };
    match tokio::time::timeout(PROBE_TIMEOUT, io).await {
        // A frame header: 3 bytes of length, then the type (4: SETTINGS) on stream 0.
        Ok(Ok(header)) if header[3] == 4 && header[5..9] == [0, 0, 0, 0] => Ok(()),
        Ok(Ok(_)) => Err(Exchange::NotHttp2),
        Ok(Err(e)) if e.kind() == io::ErrorKind::UnexpectedEof => Err(Exchange::NotHttp2),
        Ok(Err(e)) => Err(Exchange::Io(e)),
        Err(_) => Err(Exchange::Io(io::Error::new(
            io::ErrorKind::TimedOut,
            "no answer",
        ))),
    }
}

/// Dials a peer over TCP and TLS, for tonic's `Endpoint::connect_with_connector_lazy`.
#[derive(Clone)]
pub struct TlsConnector {
    config: Arc<rustls::ClientConfig>,
    server_name: Option<String>,
}

/// A TCP connection to `address` (host:port), within [`CONNECT_TIMEOUT`].
async fn tcp(address: &str) -> io::Result<TcpStream> {
    let tcp = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(address))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connection timed out"))??;
    let _ = tcp.set_nodelay(true);
    Ok(tcp)
}

impl TlsConnector {
    /// The TLS handshake with the peer at `address` (host:port) over `tcp`.
    async fn handshake(
        &self,
        address: &str,
        tcp: TcpStream,
    ) -> io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
        let host = match address.rsplit_once(':') {
            Some((host, _)) => host.trim_start_matches('[').trim_end_matches(']'),
            None => address,
        };
        let name = self.server_name.as_deref().unwrap_or(host).to_string();
        let name = ServerName::try_from(name).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{host:?} cannot be verified as a server name ({e}); set tls.internode.client.serverName"),
            )
        })?;
        tokio_rustls::TlsConnector::from(self.config.clone())
            .connect(name, tcp)
            .await
    }
}

impl tower::Service<http::Uri> for TlsConnector {
    type Response = TokioIo<tokio_rustls::client::TlsStream<TcpStream>>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<Self::Response>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: http::Uri) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            let authority = uri.authority().ok_or_else(|| {
                io::Error::new(io::ErrorKind::InvalidInput, format!("no address in {uri}"))
            })?;
            let address = authority.as_str();
            let tls = this.handshake(address, tcp(address).await?).await?;
            Ok(TokioIo::new(tls))
        })
    }
}
