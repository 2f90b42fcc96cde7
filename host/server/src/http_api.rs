//! The HTTP listeners: the HTTP API (`server.http_port`, `start-dev --http-port`) and the web
//! UI (`server.ui_port`, `start-dev --ui-port`), which serves its page and files and the same
//! API under `/api/` on its own origin. Both speak TLS with the frontend's certificates when
//! `tls.frontend` is set. Every API request goes to the gateway with its connection's details
//! (address; TLS server name and client certificate subject), as a gRPC call carries them, so
//! the claim mapper, the authorizer and the decision record see the same caller either way.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::connect_info::Connected;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::serve::{IncomingStream, Listener};
use futures::StreamExt;
use sundial_http::Gateway;
use tokio::net::{TcpListener, TcpStream};

use crate::tls::{self, TlsConn, TlsConnectInfo, TlsServer};

/// The HTTP API: every path is the gateway's.
pub fn api(gateway: Gateway) -> axum::Router {
    axum::Router::new().fallback(call).with_state(gateway)
}

/// The web UI: its files, and the HTTP API under `/api/`.
pub fn ui(gateway: Gateway) -> axum::Router {
    axum::Router::new()
        .route("/api/{*rest}", axum::routing::any(call))
        .fallback(ui_file)
        .with_state(gateway)
}

/// Who is calling: the connection's address, and what its TLS handshake established.
#[derive(Clone, Debug)]
pub enum Peer {
    Tcp(SocketAddr),
    Tls(TlsConnectInfo),
}

impl Connected<IncomingStream<'_, Plain>> for Peer {
    fn connect_info(stream: IncomingStream<'_, Plain>) -> Peer {
        stream.remote_addr().clone()
    }
}

impl Connected<IncomingStream<'_, Secure>> for Peer {
    fn connect_info(stream: IncomingStream<'_, Secure>) -> Peer {
        stream.remote_addr().clone()
    }
}

/// A plaintext listener (accept errors pause it briefly, as on the gRPC port).
struct Plain(TcpListener);

impl Listener for Plain {
    type Io = TcpStream;
    type Addr = Peer;

    async fn accept(&mut self) -> (TcpStream, Peer) {
        let (tcp, remote) = crate::accept::accept(&self.0).await;
        (tcp, Peer::Tcp(remote))
    }

    fn local_addr(&self) -> io::Result<Peer> {
        self.0.local_addr().map(Peer::Tcp)
    }
}

/// A TLS listener with the frontend's certificates (ALPN `h2` and `http/1.1`).
struct Secure {
    handshaken: tokio_stream::wrappers::ReceiverStream<io::Result<TlsConn>>,
    local: SocketAddr,
}

impl Listener for Secure {
    type Io = TlsConn;
    type Addr = Peer;

    async fn accept(&mut self) -> (TlsConn, Peer) {
        loop {
            match self.handshaken.next().await {
                Some(Ok(conn)) => {
                    let info = tonic::transport::server::Connected::connect_info(&conn);
                    return (conn, Peer::Tls(info));
                }
                Some(Err(e)) => tracing::debug!(error = %e, "an HTTPS connection failed"),
                // The accept task ended: nothing more will come.
                None => std::future::pending::<()>().await,
            }
        }
    }

    fn local_addr(&self) -> io::Result<Peer> {
        Ok(Peer::Tcp(self.local))
    }
}

/// Serves `app` on `listener` (over TLS with `tls`) until `stopping` turns true; calls in
/// flight then finish.
pub fn serve(
    listener: TcpListener,
    tls: Option<Arc<TlsServer>>,
    app: axum::Router,
    stopping: tokio::sync::watch::Receiver<bool>,
) -> io::Result<()> {
    match tls {
        None => spawn(Plain(listener), app, stopping),
        Some(server) => {
            let local = listener.local_addr()?;
            let handshaken = tls::incoming(listener, server, tls::Protocols::Http);
            spawn(Secure { handshaken, local }, app, stopping);
        }
    }
    Ok(())
}

fn spawn<L>(listener: L, app: axum::Router, mut stopping: tokio::sync::watch::Receiver<bool>)
where
    L: Listener<Addr = Peer>,
    for<'a> Peer: Connected<IncomingStream<'a, L>>,
{
    tokio::spawn(async move {
        let stop = async move {
            let _ = stopping.wait_for(|s| *s).await;
        };
        let served = axum::serve(listener, app.into_make_service_with_connect_info::<Peer>())
            .with_graceful_shutdown(stop)
            .await;
        if let Err(e) = served {
            tracing::error!(error = %e, "an HTTP listener stopped");
        }
    });
}

/// Passes a call to the gateway with its connection's details, in the extension a gRPC call
/// over the same kind of connection carries.
async fn call(
    State(gateway): State<Gateway>,
    ConnectInfo(peer): ConnectInfo<Peer>,
    mut request: Request,
) -> Response {
    match peer {
        Peer::Tcp(remote) => {
            request
                .extensions_mut()
                .insert(tonic::transport::server::TcpConnectInfo {
                    local_addr: None,
                    remote_addr: Some(remote),
                });
        }
        Peer::Tls(info) => {
            request.extensions_mut().insert(info);
        }
    }
    gateway.handle(request).await.map(axum::body::Body::new)
}

/// What the page may load: its own files and API only (no inline script, no other origin).
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; img-src 'self' data:; \
     style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; \
     base-uri 'none'; form-action 'self'";

async fn ui_file(method: Method, request: Request) -> Response {
    if method != Method::GET && method != Method::HEAD {
        return StatusCode::METHOD_NOT_ALLOWED.into_response();
    }
    let Some(file) = sundial_ui::file_at(request.uri().path()) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let mut response = Response::new(axum::body::Body::from(file.body));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(file.content_type),
    );
    // The files change with the binary: a browser asks again rather than keep an old one.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}
