//! The store's calls counted and timed as Temporal's persistence client counts its own:
//! `persistence_requests`, `persistence_latency` (seconds), `persistence_error_with_type` and
//! `persistence_errors` (unexpected errors only), by `operation` (Temporal's name for the
//! call: `UpdateWorkflowExecution`, `GetWorkflowExecution`, `ReadHistoryBranch`, ...),
//! `namespace` (the run's namespace, `system` for the server's own calls) and `service_name`
//! (the service that makes the call on Temporal).

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use async_trait::async_trait;
use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry};

use sundial_history::NamespaceNames;
use sundial_services::{TIMER_BUCKETS, tally_label};
use sundial_store::{
    ClusterMetadata, ClusterStore, Error, ExecutionStore, HistoryBatch, Member, MemberRow,
    NamespaceRow, NamespaceStore, Result, RunKey, ShardOwner, ShardStore, StateRow, Store, TaskRow,
    VisibilityPage, VisibilityQuery, VisibilityStore, VisibilityWrite, WorkflowCommit,
};

const LABELS: [&str; 3] = ["namespace", "operation", "service_name"];

/// The namespace label of the server's own calls, as Temporal writes it.
const SYSTEM: &str = "system";

/// A store whose calls are counted and timed.
pub struct Metered {
    inner: Arc<dyn Store>,
    requests: IntCounterVec,
    errors: IntCounterVec,
    errors_by_type: IntCounterVec,
    latency: HistogramVec,
    names: OnceLock<NamespaceNames>,
}

impl Metered {
    pub fn new(inner: Arc<dyn Store>, registry: &Registry) -> prometheus::Result<Metered> {
        let counter = |name: &str, help: &str, extra: &[&str]| {
            let labels: Vec<&str> = LABELS.iter().chain(extra).copied().collect();
            let c = IntCounterVec::new(Opts::new(name, help), &labels)?;
            registry.register(Box::new(c.clone()))?;
            Ok::<_, prometheus::Error>(c)
        };
        let latency = HistogramVec::new(
            HistogramOpts::new("persistence_latency", "persistence_latency histogram")
                .buckets(TIMER_BUCKETS.to_vec()),
            &LABELS,
        )?;
        registry.register(Box::new(latency.clone()))?;
        Ok(Metered {
            inner,
            requests: counter("persistence_requests", "Calls to the database.", &[])?,
            errors: counter(
                "persistence_errors",
                "Calls to the database that failed unexpectedly.",
                &[],
            )?,
            errors_by_type: counter(
                "persistence_error_with_type",
                "Calls to the database that failed, by error type.",
                &["error_type"],
            )?,
            latency,
            names: OnceLock::new(),
        })
    }

    /// Names namespaces by id from now on (before, their calls count under `system`).
    pub fn name_namespaces(&self, names: NamespaceNames) {
        let _ = self.names.set(names);
    }

    fn namespace(&self, id: &str) -> String {
        self.names
            .get()
            .and_then(|names| names(id))
            .map(|name| tally_label(&name))
            .unwrap_or_else(|| SYSTEM.to_string())
    }

    async fn timed<T>(
        &self,
        operation: &str,
        service: &str,
        namespace: String,
        call: impl Future<Output = Result<T>>,
    ) -> Result<T> {
        let began = Instant::now();
        let result = call.await;
        let labels = [namespace.as_str(), operation, service];
        self.requests.with_label_values(&labels).inc();
        self.latency
            .with_label_values(&labels)
            .observe(began.elapsed().as_secs_f64());
        if let Err(e) = &result {
            let (kind, expected) = kind(e);
            self.errors_by_type
                .with_label_values(&[labels[0], labels[1], labels[2], kind])
                .inc();
            if !expected {
                self.errors.with_label_values(&labels).inc();
            }
        }
        result
    }
}

/// An error's type as Temporal's persistence errors are named, and whether Temporal counts it
/// as expected (not in `persistence_errors`).
fn kind(e: &Error) -> (&'static str, bool) {
    match e {
        Error::ShardOwnershipLost { .. } => ("ShardOwnershipLostError", true),
        Error::Conflict(_) => ("ConditionFailedError", true),
        Error::AlreadyExists(_) => ("serviceerror_AlreadyExists", true),
        Error::BadPageToken => ("serviceerror_InvalidArgument", true),
        Error::Closed => ("serviceerror_Unavailable", false),
        Error::Database(_) | Error::Migrate(_) | Error::External { .. } => {
            ("serviceerror_Unavailable", false)
        }
    }
}

const HISTORY: &str = "history";
const FRONTEND: &str = "frontend";
const SERVER: &str = "server";

#[async_trait]
impl ShardStore for Metered {
    async fn acquire_shard(&self, shard_id: i32, owner_node: &str) -> Result<i64> {
        let call = self.inner.acquire_shard(shard_id, owner_node);
        self.timed("GetOrCreateShard", HISTORY, SYSTEM.into(), call)
            .await
    }
}

#[async_trait]
impl NamespaceStore for Metered {
    async fn create_namespace(&self, row: &NamespaceRow) -> Result<()> {
        let call = self.inner.create_namespace(row);
        self.timed("CreateNamespace", FRONTEND, SYSTEM.into(), call)
            .await
    }
    async fn update_namespace(&self, row: &NamespaceRow, expected_version: i64) -> Result<()> {
        let call = self.inner.update_namespace(row, expected_version);
        self.timed("UpdateNamespace", FRONTEND, SYSTEM.into(), call)
            .await
    }
    async fn get_namespace_by_name(&self, name: &str) -> Result<Option<NamespaceRow>> {
        let call = self.inner.get_namespace_by_name(name);
        self.timed("GetNamespace", FRONTEND, SYSTEM.into(), call)
            .await
    }
    async fn get_namespace_by_id(&self, id: &str) -> Result<Option<NamespaceRow>> {
        let call = self.inner.get_namespace_by_id(id);
        self.timed("GetNamespace", FRONTEND, SYSTEM.into(), call)
            .await
    }
    async fn list_namespaces(&self, after_name: &str, limit: i64) -> Result<Vec<NamespaceRow>> {
        let call = self.inner.list_namespaces(after_name, limit);
        self.timed("ListNamespaces", FRONTEND, SYSTEM.into(), call)
            .await
    }
}

#[async_trait]
impl ExecutionStore for Metered {
    async fn get_current_run(
        &self,
        shard_id: i32,
        namespace_id: &str,
        workflow_id: &str,
    ) -> Result<Option<String>> {
        let call = self
            .inner
            .get_current_run(shard_id, namespace_id, workflow_id);
        let ns = self.namespace(namespace_id);
        self.timed("GetCurrentExecution", HISTORY, ns, call).await
    }
    async fn get_state(&self, shard_id: i32, key: &RunKey) -> Result<Option<StateRow>> {
        let call = self.inner.get_state(shard_id, key);
        let ns = self.namespace(&key.namespace_id);
        self.timed("GetWorkflowExecution", HISTORY, ns, call).await
    }
    async fn commit(&self, commit: &WorkflowCommit) -> Result<()> {
        // A commit that writes a run for the first time creates it.
        let creates = commit
            .executions
            .iter()
            .any(|e| e.expected_db_version.is_none());
        let operation = if creates {
            "CreateWorkflowExecution"
        } else {
            "UpdateWorkflowExecution"
        };
        let call = self.inner.commit(commit);
        let ns = self.namespace(&commit.namespace_id);
        self.timed(operation, HISTORY, ns, call).await
    }
    async fn read_history(
        &self,
        shard_id: i32,
        key: &RunKey,
        from_event_id: i64,
        limit: i64,
    ) -> Result<Vec<HistoryBatch>> {
        let call = self.inner.read_history(shard_id, key, from_event_id, limit);
        let ns = self.namespace(&key.namespace_id);
        self.timed("ReadHistoryBranch", HISTORY, ns, call).await
    }
    async fn read_tasks(
        &self,
        shard_id: i32,
        queue_hash: i64,
        limit: usize,
    ) -> Result<Vec<TaskRow>> {
        let call = self.inner.read_tasks(shard_id, queue_hash, limit);
        self.timed("GetHistoryTasks", HISTORY, SYSTEM.into(), call)
            .await
    }
    async fn task_queue_hashes(&self, shard_id: i32) -> Result<Vec<i64>> {
        let call = self.inner.task_queue_hashes(shard_id);
        self.timed("GetHistoryTasks", HISTORY, SYSTEM.into(), call)
            .await
    }
    async fn count_queue_tasks(&self, queue_hash: i64, visible_by: i64) -> Result<i64> {
        let call = self.inner.count_queue_tasks(queue_hash, visible_by);
        self.timed("GetTaskQueue", "matching", SYSTEM.into(), call)
            .await
    }
    async fn delete_tasks(&self, shard_id: i32, range_id: i64, task_ids: &[i64]) -> Result<()> {
        let call = self.inner.delete_tasks(shard_id, range_id, task_ids);
        self.timed("CompleteHistoryTask", HISTORY, SYSTEM.into(), call)
            .await
    }
    async fn delete_run(
        &self,
        shard_id: i32,
        range_id: i64,
        key: &RunKey,
        tasks: &[TaskRow],
    ) -> Result<()> {
        let call = self.inner.delete_run(shard_id, range_id, key, tasks);
        let ns = self.namespace(&key.namespace_id);
        self.timed("DeleteWorkflowExecution", HISTORY, ns, call)
            .await
    }
}

#[async_trait]
impl VisibilityStore for Metered {
    async fn write_visibility(&self, writes: &[VisibilityWrite]) -> Result<()> {
        self.inner.write_visibility(writes).await
    }
    async fn list_visibility(
        &self,
        query: &VisibilityQuery<'_>,
        page_size: usize,
        token: &[u8],
    ) -> Result<VisibilityPage> {
        self.inner.list_visibility(query, page_size, token).await
    }
    async fn count_visibility(
        &self,
        query: &VisibilityQuery<'_>,
    ) -> Result<Vec<(Option<i32>, i64)>> {
        self.inner.count_visibility(query).await
    }
    async fn maintain(&self) -> Result<()> {
        self.inner.maintain().await
    }
}

#[async_trait]
impl ClusterStore for Metered {
    async fn cluster_metadata(&self, proposed: &ClusterMetadata) -> Result<ClusterMetadata> {
        let call = self.inner.cluster_metadata(proposed);
        self.timed("GetClusterMetadata", SERVER, SYSTEM.into(), call)
            .await
    }
    async fn db_now_ms(&self) -> Result<i64> {
        self.inner.db_now_ms().await
    }
    async fn join_member(&self, member: &Member, expiry_ms: i64) -> Result<bool> {
        let call = self.inner.join_member(member, expiry_ms);
        self.timed("UpsertClusterMembership", SERVER, SYSTEM.into(), call)
            .await
    }
    async fn heartbeat_member(
        &self,
        node_name: &str,
        session_id: &str,
        state: &str,
    ) -> Result<bool> {
        let call = self.inner.heartbeat_member(node_name, session_id, state);
        self.timed("UpsertClusterMembership", SERVER, SYSTEM.into(), call)
            .await
    }
    async fn members(&self) -> Result<(i64, Vec<MemberRow>)> {
        let call = self.inner.members();
        self.timed("GetClusterMembers", SERVER, SYSTEM.into(), call)
            .await
    }
    async fn remove_member(&self, node_name: &str, session_id: &str) -> Result<()> {
        let call = self.inner.remove_member(node_name, session_id);
        self.timed("PruneClusterMembership", SERVER, SYSTEM.into(), call)
            .await
    }
    async fn shard_owners(&self) -> Result<Vec<ShardOwner>> {
        let call = self.inner.shard_owners();
        self.timed("GetShardOwners", SERVER, SYSTEM.into(), call)
            .await
    }
}
