//! The HTTP listeners: the HTTP API (`server.http_port`, `start-dev --http-port`) and the web
//! UI (`server.ui_port`, `start-dev --ui-port`), which serves its page and files and the same
//! API under `/api/` on its own origin. Both speak TLS with the frontend's certificates when
//! `tls.frontend` is set. Every API request goes to the gateway with its connection's details
//! (address; TLS server name and client certificate subject), as a gRPC call carries them, so
//! the claim mapper, the authorizer and the decision record see the same caller either way.

use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::connect_info::Connected;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::serve::{IncomingStream, Listener};
use futures::StreamExt;
use sundial_dynamic_config::{DynamicConfig, Scope, keys};
use sundial_http::Gateway;
use tokio::net::{TcpListener, TcpStream};

use crate::tls::{self, TlsConn, TlsConnectInfo, TlsServer};

/// What both listeners answer API calls with: the gateway, and the hosts it answers for.
#[derive(Clone)]
pub struct Api {
    gateway: Gateway,
    hosts: Arc<AllowedHosts>,
}

impl Api {
    pub fn new(gateway: Gateway, dynamic: Arc<DynamicConfig>) -> Api {
        Api {
            gateway,
            hosts: Arc::new(AllowedHosts {
                dynamic,
                compiled: Mutex::new(None),
            }),
        }
    }
}

/// `frontend.httpAllowedHosts`: the `Host` values (port included) calls may name, `*`
/// matching any run of characters; none set: any. Compiled again when the config changes.
struct AllowedHosts {
    dynamic: Arc<DynamicConfig>,
    /// The patterns as one anchored expression, with the config generation it is of (`None`
    /// inside: every host).
    compiled: Mutex<Option<(u64, Option<regex::Regex>)>>,
}

impl AllowedHosts {
    fn allows(&self, host: &str) -> bool {
        let generation = self.dynamic.generation();
        let mut compiled = self.compiled.lock().unwrap();
        if compiled.as_ref().is_none_or(|(g, _)| *g != generation) {
            let patterns = self
                .dynamic
                .strings(&keys::HTTP_ALLOWED_HOSTS, Scope::default())
                .unwrap_or_default();
            *compiled = Some((generation, host_pattern(&patterns)));
        }
        match compiled.as_ref() {
            Some((_, Some(re))) => re.is_match(host),
            _ => true,
        }
    }
}

/// One anchored expression for the host patterns; none when there are none.
fn host_pattern(patterns: &[String]) -> Option<regex::Regex> {
    if patterns.is_empty() {
        return None;
    }
    let alternatives: Vec<String> = patterns
        .iter()
        .map(|p| {
            let parts: Vec<String> = p.split('*').map(regex::escape).collect();
            parts.join(".*")
        })
        .collect();
    let re = format!("^(?:{})$", alternatives.join("|"));
    // Escaped literals joined by `.*` always compile.
    Some(
        regex::RegexBuilder::new(&re)
            .case_insensitive(true)
            .build()
            .expect("escaped"),
    )
}

/// The HTTP API: every path is the gateway's.
pub fn api(api: Api) -> axum::Router {
    axum::Router::new().fallback(call).with_state(api)
}

/// The web UI: its files, and the HTTP API under `/api/`.
pub fn ui(api: Api) -> axum::Router {
    axum::Router::new()
        .route("/api/{*rest}", axum::routing::any(call))
        .fallback(ui_file)
        .with_state(api)
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
    State(api): State<Api>,
    ConnectInfo(peer): ConnectInfo<Peer>,
    mut request: Request,
) -> Response {
    // HTTP/1.1 names the host in its header, HTTP/2 in the request's authority.
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| request.uri().authority().map(|a| a.as_str()))
        .unwrap_or_default();
    if !api.hosts.allows(host) {
        let status = tonic::Status::permission_denied("Host not allowed");
        return sundial_http::refusal(&status).map(axum::body::Body::new);
    }
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
    api.gateway.handle(request).await.map(axum::body::Body::new)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_patterns_match_whole_hosts_with_wildcards() {
        let re =
            host_pattern(&["localhost:*".into(), "*.example.com".into(), "a.b".into()]).unwrap();
        for ok in ["localhost:7243", "LOCALHOST:1", "ui.example.com", "a.b"] {
            assert!(re.is_match(ok), "{ok}");
        }
        for refused in [
            "127.0.0.1:7243",
            "example.com",
            "axb",
            "a.b.c",
            "evil.com/localhost:1",
        ] {
            assert!(!re.is_match(refused), "{refused}");
        }
        assert!(host_pattern(&[]).is_none(), "no patterns: every host");
    }
}
