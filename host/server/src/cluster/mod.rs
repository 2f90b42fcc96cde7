//! This node's membership in the cluster of Sundial nodes that share one database, and the
//! placement of history shards over the live nodes.
//!
//! The database is the coordinator: the cluster's metadata (id, shard count) is stored when the
//! first node starts, each node heartbeats a row with the database's clock, and a node whose
//! heartbeat is older than [`EXPIRY_MS`] is dead to the others. A node that cannot heartbeat
//! gives its shards up after [`SELF_FENCE`], before any other node may presume it dead; should
//! it still write, the shard's range id (bumped by the next owner) refuses its commits.

mod internal;
pub mod internode;
pub mod peers;
pub mod placement;

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use sundial_history::Engine;
use sundial_store::{Backend, ClusterMetadata, ClusterStore, Member, MemberRow};
use tokio::sync::watch;

use crate::config::Config;

/// How often a node heartbeats and re-reads the membership.
pub const HEARTBEAT: Duration = Duration::from_secs(1);
/// A node whose last heartbeat is older than this (database clock) is dead. The SDKs give a
/// failing call about 10 s of retries: a dead node's shards must move well within that.
pub const EXPIRY_MS: i64 = 5_000;
/// A node that has not heartbeat for this long stops serving its shards: before any other
/// node may presume it dead (its last good heartbeat may have landed just before).
pub const SELF_FENCE: Duration = Duration::from_millis(3_000);
/// How often cached namespaces are read again (other nodes may change them), as in Temporal.
const NAMESPACE_REFRESH: Duration = Duration::from_secs(10);
/// How often shard ownership is checked against the placement even with no membership change.
const RECHECK: Duration = Duration::from_secs(30);

/// The services a node can run.
pub const SERVICES: [&str; 4] = ["frontend", "history", "matching", "worker"];

/// The live nodes as last read, by name.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct View {
    pub members: Vec<MemberRow>,
    /// False while this node cannot heartbeat (it serves nothing then).
    pub healthy: bool,
}

impl View {
    /// Names of the live nodes that run `service`.
    pub fn running(&self, service: &str) -> Vec<&str> {
        self.members
            .iter()
            .filter(|m| m.member.services.iter().any(|s| s == service))
            .map(|m| m.member.node_name.as_str())
            .collect()
    }
}

/// This node's membership; [`Membership::leave`] removes its row.
pub struct Membership {
    store: Arc<dyn ClusterStore>,
    pub me: Member,
    pub metadata: ClusterMetadata,
    view: watch::Receiver<View>,
    heartbeat: tokio::task::JoinHandle<()>,
    left: watch::Sender<bool>,
    /// For SQLite: a lock on `<file>.lock`, so that a second process on the file is refused.
    _file_lock: Option<std::fs::File>,
}

impl Membership {
    /// Checks the cluster metadata, then joins: waits out a dead predecessor's row of the same
    /// name, refuses a live one, and starts heartbeating.
    pub async fn join(
        config: &Config,
        store: Arc<dyn ClusterStore>,
        backend: Backend,
        me: Member,
        internode: &internode::Internode,
    ) -> anyhow::Result<Membership> {
        // A SQLite database serves one process (a file is locked; memory is private), so
        // rows left in it are a dead predecessor's.
        let exclusive = backend == Backend::Sqlite;
        let file_lock = match backend {
            Backend::Sqlite => sqlite_lock(&config.persistence.url)?,
            _ => None,
        };
        let metadata = check_metadata(config, store.as_ref()).await?;
        if !exclusive {
            check_peers(store.as_ref(), &me.node_name, internode).await?;
        }
        let deadline = Instant::now() + Duration::from_millis(EXPIRY_MS as u64) + HEARTBEAT;
        let expiry = if exclusive { 0 } else { EXPIRY_MS };
        loop {
            if store.join_member(&me, expiry).await? {
                break;
            }
            if Instant::now() > deadline {
                bail!(
                    "a live node named {:?} already heartbeats in this database; give this node \
                     another name (--node-name or cluster.node_name)",
                    me.node_name
                );
            }
            // Most often this node's own previous process, killed: its row expires soon.
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let others: Vec<MemberRow> = live(store.as_ref())
            .await?
            .into_iter()
            .filter(|m| m.member.node_name != me.node_name)
            .collect();
        if exclusive {
            for other in &others {
                store
                    .remove_member(&other.member.node_name, &other.member.session_id)
                    .await?;
            }
        } else if !others.is_empty() {
            tracing::info!(
                others = ?others.iter().map(|o| o.member.node_name.as_str()).collect::<Vec<_>>(),
                "joining live nodes"
            );
        }
        let first = View {
            members: live(store.as_ref()).await?,
            healthy: true,
        };
        let (tx, view) = watch::channel(first);
        let heartbeat = tokio::spawn(heartbeat_loop(store.clone(), me.clone(), tx));
        tracing::info!(node = %me.node_name, cluster_id = %metadata.cluster_id, "joined the cluster");
        Ok(Membership {
            store,
            me,
            metadata,
            view,
            heartbeat,
            left: watch::channel(false).0,
            _file_lock: file_lock,
        })
    }

    /// The membership as last read; changes are announced on [`Membership::subscribe`].
    pub fn view(&self) -> View {
        self.view.borrow().clone()
    }

    pub fn subscribe(&self) -> watch::Receiver<View> {
        self.view.clone()
    }

    /// Turns true once this node has left.
    pub fn left(&self) -> watch::Receiver<bool> {
        self.left.subscribe()
    }

    /// Stops heartbeating and removes this node's row, so the others take over at once
    /// instead of after the expiry. Once is enough.
    pub async fn leave(&self) {
        if self.left.send_replace(true) {
            return;
        }
        self.heartbeat.abort();
        if let Err(e) = self
            .store
            .remove_member(&self.me.node_name, &self.me.session_id)
            .await
        {
            tracing::warn!(error = %e, "could not remove this node's membership row; it expires");
        }
    }
}

impl Drop for Membership {
    fn drop(&mut self) {
        self.heartbeat.abort();
    }
}

/// Stores this config's metadata when the database has none; refuses a mismatch.
async fn check_metadata(
    config: &Config,
    store: &dyn ClusterStore,
) -> anyhow::Result<ClusterMetadata> {
    let proposed = ClusterMetadata {
        cluster_id: config
            .cluster
            .id
            .clone()
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
        num_history_shards: config.persistence.num_history_shards,
        internal_secret: format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        ),
    };
    let stored = store
        .cluster_metadata(&proposed)
        .await
        .context("reading the cluster metadata")?;
    if stored.num_history_shards != proposed.num_history_shards {
        bail!(
            "persistence.num_history_shards is {} but this database's cluster was created with \
             {} shards; the shard count cannot change (set it back to {})",
            proposed.num_history_shards,
            stored.num_history_shards,
            stored.num_history_shards
        );
    }
    if let Some(id) = &config.cluster.id
        && *id != stored.cluster_id
    {
        bail!(
            "cluster.id is {id:?} but this database belongs to cluster {:?}",
            stored.cluster_id
        );
    }
    Ok(stored)
}

/// Refuses to join when a live peer and this node do not accept each other's internode
/// connections (certificates, or TLS on one side only). Peers that do not answer at all are
/// passed over: most often a node that just died.
async fn check_peers(
    store: &dyn ClusterStore,
    me: &str,
    internode: &internode::Internode,
) -> anyhow::Result<()> {
    for peer in live(store).await? {
        let m = &peer.member;
        if m.node_name == me || m.internal_address.is_empty() {
            continue;
        }
        match internode.probe(&m.internal_address).await {
            Ok(()) => {}
            Err(internode::Probe::Unreachable(e)) => {
                tracing::warn!(peer = %m.node_name, address = %m.internal_address, error = %e,
                    "a live node's internal listener does not answer");
            }
            Err(internode::Probe::Refused(e)) => bail!(
                "cannot join the cluster: node {} (internal address {}) and this node do not \
                 accept each other's internode connections: {e}; every node needs tls.internode \
                 settings the others accept (certificates from the CA they trust, with the \
                 clientAuth usage when they require client certificates)",
                m.node_name,
                m.internal_address
            ),
        }
    }
    Ok(())
}

/// The rows whose heartbeat is within the expiry.
async fn live(store: &dyn ClusterStore) -> sundial_store::Result<Vec<MemberRow>> {
    let (now, rows) = store.members().await?;
    Ok(rows
        .into_iter()
        .filter(|r| now - r.heartbeat_at < EXPIRY_MS)
        .collect())
}

async fn heartbeat_loop(store: Arc<dyn ClusterStore>, me: Member, tx: watch::Sender<View>) {
    let mut last_ok = Instant::now();
    let mut tick = tokio::time::interval(HEARTBEAT);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let sent = Instant::now();
        let beat = tokio::time::timeout(
            HEARTBEAT,
            store.heartbeat_member(&me.node_name, &me.session_id, &me.state),
        )
        .await;
        let ok = match beat {
            Ok(Ok(true)) => true,
            Ok(Ok(false)) => {
                // Presumed dead and replaced (or removed): join again as a new session.
                tracing::warn!("this node's membership row was taken over; joining again");
                matches!(store.join_member(&me, EXPIRY_MS).await, Ok(true))
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "membership heartbeat failed");
                false
            }
            Err(_) => {
                tracing::warn!("membership heartbeat timed out");
                false
            }
        };
        if ok {
            // From when the heartbeat was sent: the database may have applied it any time
            // after, and the others count from then.
            last_ok = sent;
        }
        let healthy = last_ok.elapsed() < SELF_FENCE;
        let members = match tokio::time::timeout(HEARTBEAT, live(store.as_ref())).await {
            Ok(Ok(m)) => m,
            _ => tx.borrow().members.clone(),
        };
        let view = View { members, healthy };
        tx.send_if_modified(|old| {
            if *old == view {
                false
            } else {
                *old = view;
                true
            }
        });
    }
}

/// Keeps the engine's shards in line with the placement: on every membership view (each
/// heartbeat) it gives up the shards another node took, acquires the shards the live view
/// gives this node, releases the others, and releases all while the node is unhealthy.
pub fn spawn_placement(
    engine: Engine,
    store: Arc<dyn ClusterStore>,
    me: String,
    mut view: watch::Receiver<View>,
) {
    tokio::spawn(async move {
        let mut members: Option<Vec<String>> = None;
        loop {
            let current = view.borrow_and_update().clone();
            let now: Vec<String> = current
                .members
                .iter()
                .map(|m| m.member.node_name.clone())
                .collect();
            if members.as_ref() != Some(&now) {
                engine.membership_changed();
                members = Some(now);
            }
            engine.redispatch_moved();
            engine.hand_over_queues();
            // A shard another node took (its range id moved on) is not this node's any more,
            // whatever this node's view said when it last looked.
            match store.shard_owners().await {
                Ok(owners) => engine.check_ownership(
                    &owners
                        .iter()
                        .map(|o| (o.shard_id, o.range_id))
                        .collect::<Vec<_>>(),
                ),
                Err(e) => tracing::warn!(error = %e, "could not read the shard owners"),
            }
            let count = engine.options().num_shards;
            let mine: Vec<i32> = if current.healthy {
                placement::shards_of(&me, count, &current.running("history"))
            } else {
                Vec::new()
            };
            for shard in engine.owned_shards() {
                if !mine.contains(&shard) {
                    engine.release_shard(shard).await;
                }
            }
            for shard in &mine {
                if let Err(e) = engine.acquire_shard(*shard).await {
                    tracing::warn!(shard, error = %e, "could not acquire shard; retrying");
                }
            }
            let _ = tokio::time::timeout(RECHECK, view.changed()).await;
            if view.has_changed().is_err() {
                break; // membership gone: the node is stopping
            }
        }
    });
}

/// Reads the cached namespaces again every [`NAMESPACE_REFRESH`] until the node leaves, so a
/// namespace updated through another node (retention, search attributes, state) is seen here.
pub fn spawn_namespace_refresh(engine: Engine, mut left: watch::Receiver<bool>) {
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(NAMESPACE_REFRESH) => {}
                _ = left.wait_for(|l| *l) => break,
            }
            match engine.namespaces().refresh().await {
                Ok(0) => {}
                Ok(n) => tracing::debug!(changed = n, "namespaces refreshed"),
                Err(e) => tracing::warn!(error = %e, "could not refresh the namespace cache"),
            }
        }
    });
}

/// `sqlite:` URLs of a file: an exclusive lock on `<file>.lock`, held while the node runs.
fn sqlite_lock(url: &str) -> anyhow::Result<Option<std::fs::File>> {
    let Some(path) = sqlite_file(url) else {
        return Ok(None);
    };
    let lock_path = format!("{path}.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .with_context(|| format!("opening {lock_path}"))?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(std::fs::TryLockError::WouldBlock) => bail!(
            "the SQLite database {path} is in use by another Sundial process (it holds \
             {lock_path}); a SQLite database serves one node: use PostgreSQL or MySQL for a \
             cluster"
        ),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(e).with_context(|| format!("locking {lock_path}"))
        }
    }
}

/// The file of a `sqlite:` URL; none for an in-memory database.
fn sqlite_file(url: &str) -> Option<String> {
    if url.contains(":memory:") || url.contains("mode=memory") {
        return None;
    }
    let rest = url.strip_prefix("sqlite:")?;
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let path = rest.split('?').next().unwrap_or(rest);
    (!path.is_empty()).then(|| path.to_string())
}

/// The `sundial cluster members` table.
pub async fn members_table(store: &dyn ClusterStore) -> anyhow::Result<String> {
    let (now, rows) = store.members().await?;
    let owners = store.shard_owners().await?;
    let mut out = format!(
        "{:<16} {:<8} {:<22} {:<22} {:<34} {:>6} {:>10}\n",
        "NODE", "STATE", "ADDRESS", "INTERNAL", "SERVICES", "SHARDS", "HEARTBEAT"
    );
    for r in rows {
        let age = now - r.heartbeat_at;
        let state = if age >= EXPIRY_MS {
            "dead"
        } else {
            r.member.state.as_str()
        };
        let shards = owners
            .iter()
            .filter(|o| o.owner_node.as_deref() == Some(r.member.node_name.as_str()))
            .count();
        out.push_str(&format!(
            "{:<16} {:<8} {:<22} {:<22} {:<34} {:>6} {:>8}ms\n",
            r.member.node_name,
            state,
            or_dash(&r.member.rpc_address),
            or_dash(&r.member.internal_address),
            r.member.services.join(","),
            if age >= EXPIRY_MS { 0 } else { shards },
            age
        ));
    }
    Ok(out)
}

fn or_dash(text: &str) -> &str {
    if text.is_empty() { "-" } else { text }
}

/// Serves the internal listener until `stopping` turns true: history and matching for the
/// other nodes, and the public services for the calls they route here. Every call must carry
/// the cluster's secret; with `tls.internode.server` the connections are TLS too (and, with
/// `requireClientAuth`, only callers with an accepted certificate get through the handshake).
pub fn serve_internal(
    listener: tokio::net::TcpListener,
    engine: &Engine,
    secret: &str,
    routing: crate::routing::RoutingLayer,
    (workflow, operator): (
        sundial_api::workflowservice::workflow_service_server::WorkflowServiceServer<
            sundial_frontend::WorkflowHandler,
        >,
        sundial_api::operatorservice::operator_service_server::OperatorServiceServer<
            sundial_frontend::OperatorHandler,
        >,
    ),
    tls: Option<Arc<crate::tls::TlsServer>>,
    mut stopping: watch::Receiver<bool>,
) {
    use sundial_internal_api::history_server::HistoryServer;
    use sundial_internal_api::matching_server::MatchingServer;
    let (_, health) = tonic_health::server::health_reporter();
    let history = HistoryServer::new(internal::HistoryService {
        engine: engine.clone(),
    })
    .max_decoding_message_size(crate::MAX_MESSAGE_SIZE)
    .max_encoding_message_size(crate::MAX_MESSAGE_SIZE);
    let matching = MatchingServer::new(internal::MatchingService {
        engine: engine.clone(),
    })
    .max_decoding_message_size(crate::MAX_MESSAGE_SIZE);
    let router = tonic::transport::Server::builder()
        .http2_keepalive_interval(Some(Duration::from_secs(30)))
        .layer(
            tower::ServiceBuilder::new()
                .layer(internal::SecretLayer {
                    secret: secret.into(),
                })
                .layer(routing)
                .into_inner(),
        )
        .add_service(health)
        .add_service(history)
        .add_service(matching)
        .add_service(workflow)
        .add_service(operator);
    tokio::spawn(async move {
        let stop = async move {
            let _ = stopping.wait_for(|s| *s).await;
        };
        let served = match tls {
            Some(server) => {
                let incoming = crate::tls::incoming(listener, server, crate::tls::Protocols::Grpc);
                router.serve_with_incoming_shutdown(incoming, stop).await
            }
            None => {
                let incoming = crate::accept::incoming(listener);
                router.serve_with_incoming_shutdown(incoming, stop).await
            }
        };
        if let Err(e) = served {
            tracing::error!(error = %e, "the internal listener failed");
        }
    });
}

#[cfg(test)]
mod tests {
    #[test]
    fn sqlite_file_of_url() {
        use super::sqlite_file;
        assert_eq!(
            sqlite_file("sqlite://a/b.db?mode=rwc").as_deref(),
            Some("a/b.db")
        );
        assert_eq!(
            sqlite_file("sqlite:///tmp/x.db").as_deref(),
            Some("/tmp/x.db")
        );
        assert_eq!(sqlite_file("sqlite:x.db").as_deref(), Some("x.db"));
        assert_eq!(sqlite_file("sqlite::memory:"), None);
        assert_eq!(sqlite_file("sqlite:file:m?mode=memory&cache=shared"), None);
    }
}
