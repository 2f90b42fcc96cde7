//! Accepting TLS connections: each handshake in its own task with a deadline, so a slow or
//! broken client only loses its own connection; what the handshake learned travels with the
//! connection as [`TlsConnectInfo`].

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

use super::{PeerSubject, Protocols, TlsServer, subject};

/// Longest a client may take to complete its handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Handshaken connections waiting for the server to take them.
const ACCEPT_QUEUE: usize = 64;

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

/// A stream of handshaken connections for `serve_with_incoming_shutdown`. Accepting stops
/// (and the listener closes) when the stream is dropped.
pub fn incoming(
    listener: TcpListener,
    server: Arc<TlsServer>,
    protocols: Protocols,
) -> tokio_stream::wrappers::ReceiverStream<io::Result<TlsConn>> {
    let (tx, rx) = tokio::sync::mpsc::channel(ACCEPT_QUEUE);
    tokio::spawn(async move {
        loop {
            let (tcp, remote) = tokio::select! {
                a = crate::accept::accept(&listener) => a,
                _ = tx.closed() => break,
            };
            let acceptor = tokio_rustls::TlsAcceptor::from(server.config(protocols));
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
