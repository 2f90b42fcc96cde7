//! The HTTP API listener (`server.http_port`, `start-dev --http-port`): every request goes
//! to the gateway with its connection's address, as a gRPC call carries it, so the
//! authorization layer and the decision record see the same peer either way.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Request, State};
use axum::response::Response;
use sundial_http::Gateway;
use tokio::net::TcpListener;

/// Serves `gateway` on `listener` until `stopping` turns true; calls in flight then finish.
pub fn serve(
    listener: TcpListener,
    gateway: Gateway,
    mut stopping: tokio::sync::watch::Receiver<bool>,
) {
    let app = axum::Router::new().fallback(handle).with_state(gateway);
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
            tracing::error!(error = %e, "the HTTP API listener stopped");
        }
    });
}

async fn handle(
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
