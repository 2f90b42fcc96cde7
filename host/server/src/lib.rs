//! The Sundial server: configuration, listeners, and the wiring of store, engine (history and
//! matching) and frontend (the composition root). Tests start it in-process as `main` does.

mod accept;
pub mod admin;
mod archiver_plugin;
pub mod auth;
pub mod cluster;
pub mod config;
mod dynamic_config;
mod http_api;
mod metrics;
pub mod plugins;
mod rate_limit;
mod routing;
pub mod tls;
mod unimplemented;
mod visibility_plugin;
mod wire;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use sundial_api::operatorservice::operator_service_server::OperatorServiceServer;
use sundial_api::workflowservice::workflow_service_server::WorkflowServiceServer;
use sundial_history::{Engine, Options};
use sundial_store::{Backend, SqlStore};
use tokio::sync::oneshot;
use tonic::codec::CompressionEncoding;

use crate::auth::{Auth, AuthLayer};
use crate::config::Config;
use crate::plugins::Plugins;
use sundial_frontend::{Frontend, OperatorHandler, WorkflowHandler};

/// Largest request accepted on the wire; payload blobs are limited separately (2 MiB).
pub(crate) const MAX_MESSAGE_SIZE: usize = 64 * 1024 * 1024;

/// Largest set of request headers accepted (HTTP/2 header list size).
const MAX_HEADER_LIST_BYTES: u32 = 64 * 1024;

/// A running server.
pub struct Running {
    /// The public (frontend) listener's address; for a node without the frontend service,
    /// its internal listener's.
    pub addr: SocketAddr,
    pub engine: Engine,
    pub plugins: Arc<Plugins>,
    /// Where the admin HTTP listener (metrics, reload) listens, if configured.
    pub admin_addr: Option<SocketAddr>,
    /// Where Prometheus scrapes the metrics, if configured.
    pub metrics_addr: Option<SocketAddr>,
    /// Where the HTTP API listens, if configured.
    pub http_addr: Option<SocketAddr>,
    /// Where the web UI listens, if configured.
    pub ui_addr: Option<SocketAddr>,
    /// This node's membership in the cluster.
    pub membership: Arc<cluster::Membership>,
    shutdown: Option<oneshot::Sender<()>>,
    join: tokio::task::JoinHandle<Result<(), tonic::transport::Error>>,
}

impl Running {
    /// Stops accepting calls, waits for the server task to end, and leaves the cluster.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let served = self.join.await;
        self.membership.leave().await;
        served??;
        Ok(())
    }

    /// Waits until the server ends (it ends on Ctrl-C / SIGTERM when started by `main`).
    pub async fn wait(self) -> anyhow::Result<()> {
        let Running {
            join,
            shutdown: _keep,
            membership,
            ..
        } = self;
        let served = join.await;
        membership.leave().await;
        served??;
        Ok(())
    }
}

/// A listener on `ip:port`; errors name the config key of the port.
async fn bind(ip: &str, port: u16, key: &str) -> anyhow::Result<tokio::net::TcpListener> {
    let at: SocketAddr = format!("{ip}:{port}")
        .parse()
        .with_context(|| format!("server.ip/{key}"))?;
    tokio::net::TcpListener::bind(at)
        .await
        .with_context(|| format!("binding {at} ({key})"))
}

/// Builds everything from a validated config and starts serving.
pub async fn start(
    config: &Config,
    shutdown_signal: Option<oneshot::Receiver<()>>,
) -> anyhow::Result<Running> {
    config.validate()?;
    let started = std::time::Instant::now();
    let frontend_tls =
        tls::TlsServer::load(config, "frontend").context("loading the frontend TLS material")?;
    tls::check_other_groups(config).context("checking the TLS settings")?;
    let internode = cluster::internode::Internode::load(config)?;
    if let Some(every) = config.tls.refresh_interval.filter(|d| !d.is_zero()) {
        for server in frontend_tls.iter().chain(internode.server.iter()) {
            tls::TlsServer::refresh_every(server, every);
        }
    }
    let registry = prometheus::Registry::new();
    let metrics = sundial_plugin_host::Metrics::register(registry.clone())
        .context("registering plugin metrics")?;
    let plugins = Arc::new(Plugins::start(config, metrics).context("loading plugins")?);
    if let Err(e) = plugins::watch(&plugins) {
        tracing::warn!(error = %e, "cannot watch plugin files; reload with SIGHUP or the admin endpoint");
    }
    #[cfg(unix)]
    {
        let weak = Arc::downgrade(&plugins);
        if let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        {
            tokio::spawn(async move {
                while hup.recv().await.is_some() {
                    let Some(plugins) = weak.upgrade() else { break };
                    tracing::info!("SIGHUP: reloading plugins");
                    let _ = plugins.reload().await;
                }
            });
        }
    }
    // The admin listener comes up before the public one is bound, so whoever waits for the
    // public port finds the admin endpoint (metrics, reload) there too.
    let admin_addr = match &config.admin.listen {
        Some(listen) => Some(
            admin::serve(listen, plugins.clone(), registry.clone())
                .await
                .with_context(|| format!("admin.listen {listen}"))?,
        ),
        None => None,
    };
    let prometheus = &config.global.metrics.prometheus;
    let metrics_addr = match &prometheus.listen_address {
        Some(listen) => Some(
            admin::serve_metrics(listen, &prometheus.handler_path, registry.clone())
                .await
                .with_context(|| format!("global.metrics.prometheus.listenAddress {listen}"))?,
        ),
        None => None,
    };
    let request_metrics = metrics::request::RequestMetricsLayer {
        metrics: Arc::new(
            metrics::request::RequestMetrics::register(&registry)
                .context("registering the request metrics")?,
        ),
    };
    let backend = Backend::from_url(&config.persistence.url).context("persistence.url")?;
    let store = SqlStore::connect(&config.persistence.url, config.persistence.max_connections)
        .await
        .with_context(|| format!("opening the {backend:?} database"))?;
    // A node without the frontend service opens no public listener. Listeners are bound
    // before joining: their addresses go into the membership row.
    let listener = if config.runs("frontend") {
        Some(bind(&config.server.ip, config.server.port, "server.port").await?)
    } else {
        None
    };
    let frontend_addr = listener.as_ref().map(|l| l.local_addr()).transpose()?;
    let http_listener = match (config.server.http_port, &listener) {
        (Some(port), Some(_)) => Some(bind(&config.server.ip, port, "server.http_port").await?),
        _ => None,
    };
    let http_addr = http_listener.as_ref().map(|l| l.local_addr()).transpose()?;
    let ui_listener = match (config.server.ui_port, &listener) {
        (Some(port), Some(_)) => Some(bind(&config.server.ip, port, "server.ui_port").await?),
        _ => None,
    };
    let ui_addr = ui_listener.as_ref().map(|l| l.local_addr()).transpose()?;
    // Nodes on PostgreSQL or MySQL call each other on an internal listener (a SQLite
    // database serves one node, which needs none).
    let internal_listener = match (backend, config.server.internal_port) {
        (Backend::Sqlite, None) => None,
        (_, port) => {
            Some(bind(&config.server.ip, port.unwrap_or(0), "server.internal_port").await?)
        }
    };
    let internal_addr = internal_listener
        .as_ref()
        .map(|l| l.local_addr())
        .transpose()?;
    let addr = frontend_addr
        .or(internal_addr)
        .context("a node without the frontend service needs an internal listener")?;
    let sql_store = Arc::new(store);
    let store = Arc::new(
        metrics::store::Metered::new(sql_store.clone(), &registry)
            .context("registering the persistence metrics")?,
    );
    let node_name = config.node_name();
    let membership = Arc::new(
        cluster::Membership::join(
            config,
            store.clone(),
            backend,
            sundial_store::Member {
                node_name: node_name.clone(),
                session_id: uuid::Uuid::new_v4().to_string(),
                services: config.services(),
                rpc_address: frontend_addr.map(|a| a.to_string()).unwrap_or_default(),
                internal_address: internal_addr.map(|a| a.to_string()).unwrap_or_default(),
                state: "active".into(),
            },
            &internode,
        )
        .await?,
    );
    let dynamic = dynamic_config::load(config, &registry)?;
    metrics::runtime::register(&registry, &config.services())
        .context("registering the runtime metrics")?;
    let rate_limits = Arc::new(
        rate_limit::RateLimits::new(dynamic.clone(), &registry)
            .context("registering the rate-limit metrics")?,
    );
    rate_limit::follow_frontends(&rate_limits, membership.subscribe());
    let options = Options {
        num_shards: config.persistence.num_history_shards,
        node_name: node_name.clone(),
        max_tasks_in_memory: config.history.max_tasks_in_memory,
        task_lookahead: config.history.task_lookahead,
        dynamic: dynamic.clone(),
        ..Options::default()
    };
    let visibility: Arc<dyn sundial_store::VisibilityStore> =
        match &config.persistence.visibility_store {
            Some(name) => {
                tracing::info!(plugin = %name, "visibility records are kept by a plugin");
                Arc::new(visibility_plugin::PluginVisibility {
                    plugins: plugins.clone(),
                })
            }
            None => sql_store.clone(),
        };
    let store_for_placement: Arc<dyn sundial_store::ClusterStore> = store.clone();
    let engine = Engine::without_shards(store.clone(), visibility, options);
    store.name_namespaces(engine.namespace_names());
    engine
        .register_metrics(&registry)
        .context("registering the engine's metrics")?;
    let mut archival = config.archival_settings()?;
    archiver_plugin::serve_plugins(&mut archival, config, &plugins);
    engine.namespaces().set_archival(Arc::new(archival));
    let client_metrics = Arc::new(
        metrics::client::ClientMetrics::register(&registry)
            .context("registering the client metrics")?,
    );
    let peers = cluster::peers::ClusterPeers::new(
        node_name.clone(),
        membership.subscribe(),
        &membership.metadata.internal_secret,
        &internode,
        client_metrics.clone(),
    )?;
    if internal_listener.is_some() {
        engine.set_peers(peers.clone());
    }
    let routing = routing::RoutingLayer {
        engine: engine.clone(),
        peers,
        clustered: internal_listener.is_some(),
        client_metrics,
    };
    // This node's first shards are taken before it serves, so its first calls find them.
    let first_view = membership.view();
    for shard in cluster::placement::shards_of(
        &node_name,
        config.persistence.num_history_shards,
        &first_view.running("history"),
    ) {
        engine
            .acquire_shard(shard)
            .await
            .with_context(|| format!("acquiring history shard {shard}"))?;
    }
    if backend != Backend::Sqlite {
        cluster::spawn_namespace_refresh(engine.clone(), membership.left());
    }
    cluster::spawn_placement(
        engine.clone(),
        store_for_placement,
        node_name,
        membership.subscribe(),
    );
    for ns in &config.namespaces {
        let retention = ns
            .retention
            .map(|d| d.as_nanos() as i64)
            .unwrap_or(sundial_history::namespace::DEFAULT_RETENTION);
        engine
            .namespaces()
            .ensure(&ns.name, retention)
            .await
            .with_context(|| format!("creating namespace {:?}", ns.name))?;
    }
    let fe = Frontend {
        namespaces: Arc::new(engine.clone()),
        workflows: Arc::new(engine.clone()),
        task_queues: Arc::new(engine.clone()),
        schedules: Arc::new(engine.clone()),
        batches: Arc::new(engine.clone()),
        cluster_id: membership.metadata.cluster_id.clone(),
        persistence: format!("{backend:?}").to_lowercase(),
    };
    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    // The `temporal` CLI sends its health checks gzip-compressed.
    let health_service = health_service
        .accept_compressed(CompressionEncoding::Gzip)
        .send_compressed(CompressionEncoding::Gzip);
    health_reporter
        .set_serving::<WorkflowServiceServer<WorkflowHandler>>()
        .await;
    health_reporter
        .set_serving::<OperatorServiceServer<OperatorHandler>>()
        .await;
    let workflow = WorkflowServiceServer::new(WorkflowHandler { fe: fe.clone() })
        .max_decoding_message_size(MAX_MESSAGE_SIZE)
        .max_encoding_message_size(MAX_MESSAGE_SIZE)
        // Requests may be gzip-compressed (the SDKs and the CLI compress theirs); replies are
        // not: compressing every reply cost more server CPU than anything else on the request
        // path (python-sdk benchmark: 3.0 → 1.9 ms per workflow), and clients on loopback or a
        // LAN gain nothing from it.
        .accept_compressed(CompressionEncoding::Gzip);
    let operator = OperatorServiceServer::new(OperatorHandler { fe: fe.clone() })
        .accept_compressed(CompressionEncoding::Gzip);
    let auth = AuthLayer {
        auth: Arc::new(Auth::new(plugins.clone(), engine.clone())),
    };
    let (tx, rx) = oneshot::channel();
    let external = shutdown_signal;
    let (stopping_tx, stopping) = tokio::sync::watch::channel(false);
    if let Some(listener) = internal_listener {
        cluster::serve_internal(
            listener,
            &engine,
            &membership.metadata.internal_secret,
            routing.clone(),
            (workflow.clone(), operator.clone()),
            internode.server.clone(),
            stopping.clone(),
        );
    }
    // Every call is counted and timed; then authorized; then held to the rate limits;
    // then routed to the node that serves it. HTTP API calls pass the same layers.
    let layers = tower::ServiceBuilder::new()
        .layer(request_metrics)
        .layer(unimplemented::UnimplementedLog)
        .layer(auth)
        .layer(rate_limit::RateLimitLayer {
            limits: rate_limits,
        })
        .layer(routing)
        .into_inner();
    if http_listener.is_some() || ui_listener.is_some() {
        let routes = tonic::service::Routes::new(health_service.clone())
            .add_service(workflow.clone())
            .add_service(operator.clone());
        let grpc = sundial_http::GrpcService::new(tower::Layer::layer(&layers, routes));
        let extra =
            sundial_http::ExtraHeaders::new(&config.server.http_additional_forwarded_headers);
        let gateway = sundial_http::Gateway::new(grpc, env!("CARGO_PKG_VERSION"), extra);
        let api = http_api::Api::new(gateway, dynamic.clone());
        if let Some(l) = http_listener {
            let app = http_api::api(api.clone());
            http_api::serve(l, frontend_tls.clone(), app, stopping.clone())?;
        }
        if let Some(l) = ui_listener {
            http_api::serve(l, frontend_tls.clone(), http_api::ui(api), stopping.clone())?;
        }
    }
    let router = tonic::transport::Server::builder()
        .http2_keepalive_interval(Some(Duration::from_secs(30)))
        // Tokens travel in headers: a bound on all of them together.
        .http2_max_header_list_size(Some(MAX_HEADER_LIST_BYTES))
        .layer(layers)
        .add_service(health_service)
        .add_service(workflow)
        .add_service(operator);
    let leaving = membership.clone();
    let draining = engine.clone();
    let stop = async move {
        match external {
            Some(ext) => {
                tokio::select! { _ = rx => {}, _ = ext => {} }
            }
            None => {
                let _ = rx.await;
            }
        }
        // Leave first: the other nodes take this node's shards and queues at once, while
        // the calls in flight here finish (or fail over: callers retry Unavailable). Long
        // polls end empty, so the workers poll elsewhere (or again, after a restart).
        leaving.leave().await;
        let ended = draining.stop_polls();
        tracing::info!(
            polls = ended,
            "stopping: long polls ended; finishing the calls in flight"
        );
        let _ = stopping_tx.send(true);
    };
    let tls_on = frontend_tls.is_some();
    let join = match (listener, frontend_tls) {
        // No public listener: the node serves its internal one until asked to stop.
        (None, _) => tokio::spawn(async move {
            stop.await;
            Ok(())
        }),
        (Some(listener), Some(server)) => {
            let incoming = tls::incoming(listener, server, tls::Protocols::Grpc);
            tokio::spawn(router.serve_with_incoming_shutdown(incoming, stop))
        }
        (Some(listener), None) => {
            let incoming = accept::incoming(listener);
            tokio::spawn(router.serve_with_incoming_shutdown(incoming, stop))
        }
    };
    tracing::info!(
        address = ?frontend_addr,
        internal = ?internal_addr,
        http = ?http_addr,
        ui = ?ui_addr,
        services = ?config.services(),
        tls = tls_on,
        persistence = %fe.persistence,
        namespaces = ?config.namespaces.iter().map(|n| n.name.as_str()).collect::<Vec<_>>(),
        startup_ms = started.elapsed().as_millis() as u64,
        "Sundial is ready"
    );
    Ok(Running {
        addr,
        engine,
        plugins,
        admin_addr,
        metrics_addr,
        http_addr,
        ui_addr,
        membership,
        shutdown: Some(tx),
        join,
    })
}
