//! The admin HTTP listener: `GET /metrics` (Prometheus text) and `POST /plugins/reload`
//! (what `sundial plugin reload` calls).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};

use crate::plugins::Plugins;

#[derive(Clone)]
struct Admin {
    plugins: Arc<Plugins>,
    registry: prometheus::Registry,
}

/// Starts the listener on `listen`; returns the bound address.
pub async fn serve(
    listen: &str,
    plugins: Arc<Plugins>,
    registry: prometheus::Registry,
) -> anyhow::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    let app = axum::Router::new()
        .route("/metrics", get(metrics))
        .route("/plugins/reload", post(reload))
        .with_state(Admin { plugins, registry });
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "admin listener stopped");
        }
    });
    tracing::info!(address = %addr, "admin listener: /metrics, POST /plugins/reload");
    Ok(addr)
}

async fn metrics(State(admin): State<Admin>) -> String {
    exposition(&admin.registry)
}

/// The registry's metrics in Prometheus' text format.
fn exposition(registry: &prometheus::Registry) -> String {
    use prometheus::Encoder;
    let mut out = Vec::new();
    let _ = prometheus::TextEncoder::new().encode(&registry.gather(), &mut out);
    String::from_utf8(out).unwrap_or_default()
}

/// Serves the metrics alone on `listen` at `path` (Temporal's
/// `global.metrics.prometheus.listenAddress` and `handlerPath`); returns the bound address.
pub async fn serve_metrics(
    listen: &str,
    path: &str,
    registry: prometheus::Registry,
) -> anyhow::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    let app = axum::Router::new().route(
        path,
        get(move || {
            let registry = registry.clone();
            async move { exposition(&registry) }
        }),
    );
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "metrics listener stopped");
        }
    });
    tracing::info!(address = %addr, path, "serving Prometheus metrics");
    Ok(addr)
}

async fn reload(State(admin): State<Admin>) -> (StatusCode, String) {
    match admin.plugins.reload().await {
        Ok(report) if report.refused.is_empty() => (StatusCode::OK, report.to_string()),
        Ok(report) => (StatusCode::UNPROCESSABLE_ENTITY, report.to_string()),
        Err(e) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("reload refused, nothing changed: {e:#}\n"),
        ),
    }
}

/// `sundial plugin reload`: asks the server at `admin` to reload; returns its report.
pub async fn request_reload(admin: &str) -> anyhow::Result<(bool, String)> {
    use http_body_util::BodyExt;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Empty<bytes::Bytes>>();
    let uri: hyper::Uri = format!("http://{admin}/plugins/reload").parse()?;
    let req = hyper::Request::post(uri).body(http_body_util::Empty::new())?;
    let res = client.request(req).await?;
    let ok = res.status().is_success();
    let body = res.into_body().collect().await?.to_bytes();
    Ok((ok, String::from_utf8_lossy(&body).into_owned()))
}
