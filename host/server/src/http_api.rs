//! The HTTP listeners: the HTTP API (`server.http_port`, `start-dev --http-port`) and the web
//! UI (`server.ui_port`, `start-dev --ui-port`), which serves its page and files and the same
//! API under `/api/` on its own origin. Every API request goes to the gateway with its
//! connection's address, as a gRPC call carries it, so the authorization layer and the
//! decision record see the same peer either way.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sundial_http::Gateway;
use tokio::net::TcpListener;

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

/// Serves `app` on `listener` until `stopping` turns true; calls in flight then finish.
pub fn serve(
    listener: TcpListener,
    app: axum::Router,
    mut stopping: tokio::sync::watch::Receiver<bool>,
) {
    tokio::spawn(async move {
        let stop = async move {
            let _ = stopping.wait_for(|s| *s).await;
        };
        let served = axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(stop)
        .await;
        if let Err(e) = served {
            tracing::error!(error = %e, "an HTTP listener stopped");
        }
    });
}

async fn call(
    State(gateway): State<Gateway>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    mut request: Request,
) -> Response {
    request
        .extensions_mut()
        .insert(tonic::transport::server::TcpConnectInfo {
            local_addr: None,
            remote_addr: Some(remote),
        });
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
