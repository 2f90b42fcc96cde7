//! Persistence for Sundial.
//!
//! The engine sees one small trait per table family ([`ShardStore`], [`NamespaceStore`],
//! [`ExecutionStore`], [`VisibilityStore`], [`ClusterStore`]). [`SqlStore`] implements all of them with sqlx for
//! SQLite, PostgreSQL and MySQL/MariaDB; the SQL differs only where the dialects do.
//!
//! Rows carry opaque blobs: the engine owns the encoding of mutable state, history batches and
//! tasks. What the database needs to see (keys, versions, visibility columns) is in columns.

mod cluster;
mod connections;
mod group_batch;
mod group_commit;
mod group_query;
mod group_writes;
mod sql;
mod text_batch;
mod visibility;
mod visibility_batch;
mod visibility_sqlite;
mod visibility_write;

use async_trait::async_trait;
pub use sundial_visquery::{Filter, GroupBy, Resolved, Value, ValueType};

pub use cluster::{ClusterMetadata, ClusterStore, Member, MemberRow, ShardOwner};
pub use sql::{Backend, SqlStore};

/// Errors from the persistence layer.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The shard's `range_id` moved on: another owner holds it; this writer must stop.
    #[error("shard {shard_id} ownership lost (expected range {expected}, found {found})")]
    ShardOwnershipLost {
        shard_id: i32,
        expected: i64,
        found: i64,
    },
    /// An optimistic concurrency check failed (db version or current-run pointer).
    #[error("conditional update failed: {0}")]
    Conflict(String),
    /// A row that must be unique exists already.
    #[error("already exists: {0}")]
    AlreadyExists(String),
    /// The database said no.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Schema migration failed.
    #[error("migration error: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The store's writer has stopped (the runtime is shutting down).
    #[error("the store is closed")]
    Closed,
    /// A listing page token this store did not make.
    #[error("invalid page token")]
    BadPageToken,
    /// A store outside the database (a plugin) failed; `retryable` says whether to try again.
    #[error("{message}")]
    External { message: String, retryable: bool },
}

impl Error {
    /// Whether trying again later may succeed: the database could not be reached, a connection
    /// broke (the server restarted, the connection was killed, a reply was lost), or the
    /// database refused for now (out of disk, busy, a deadlock). Callers get `Unavailable` for
    /// these, as Temporal reports its persistence faults, so SDKs back off and retry. The rest
    /// (a violated constraint, a row that does not decode) are defects, not outages.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Closed => true,
            Error::External { retryable, .. } => *retryable,
            Error::Database(e) => match e {
                sqlx::Error::Io(_)
                | sqlx::Error::Tls(_)
                | sqlx::Error::Protocol(_)
                | sqlx::Error::PoolTimedOut
                | sqlx::Error::PoolClosed
                | sqlx::Error::WorkerCrashed
                | sqlx::Error::BeginFailed => true,
                sqlx::Error::Database(db) => db.kind() == sqlx::error::ErrorKind::Other,
                _ => false,
            },
            _ => false,
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// A namespace row: the engine encodes everything but the keys into `data`.
#[derive(Clone, Debug, PartialEq)]
pub struct NamespaceRow {
    pub id: String,
    pub name: String,
    pub data: Vec<u8>,
    /// Incremented on every update; updates are conditional on it.
    pub version: i64,
}

/// Shard ownership: each process that owns a shard bumps its `range_id`; every write is
/// fenced on the value it got.
#[async_trait]
pub trait ShardStore: Send + Sync {
    /// Takes ownership of a shard for `owner_node`, creating it as needed: bumps its range id
    /// (fencing off the previous owner's writes) and returns the new one.
    async fn acquire_shard(&self, shard_id: i32, owner_node: &str) -> Result<i64>;
}

#[async_trait]
pub trait NamespaceStore: Send + Sync {
    /// Inserts a namespace; `Error::AlreadyExists` if the name or id is taken.
    async fn create_namespace(&self, row: &NamespaceRow) -> Result<()>;
    /// Replaces a namespace's data if its version is still `expected_version`.
    async fn update_namespace(&self, row: &NamespaceRow, expected_version: i64) -> Result<()>;
    async fn get_namespace_by_name(&self, name: &str) -> Result<Option<NamespaceRow>>;
    async fn get_namespace_by_id(&self, id: &str) -> Result<Option<NamespaceRow>>;
    /// Namespaces ordered by name, starting after `after_name`.
    async fn list_namespaces(&self, after_name: &str, limit: i64) -> Result<Vec<NamespaceRow>>;
}

/// Identifies one run.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RunKey {
    pub namespace_id: String,
    pub workflow_id: String,
    pub run_id: String,
}

/// A run's mutable state as stored.
#[derive(Clone, Debug)]
pub struct StateRow {
    pub state: Vec<u8>,
    pub db_version: i64,
}

/// How a write treats the current-run pointer of its workflow id.
#[derive(Clone, Debug, PartialEq)]
pub enum CurrentRunUpdate {
    /// Leave it alone.
    Keep,
    /// Create it: no run of this workflow id may be current.
    Create { run_id: String },
    /// Move it from `from_run_id` to `run_id`; fails if it points elsewhere.
    Move { from_run_id: String, run_id: String },
}

/// One execution row written by a commit. `expected_db_version` is `None` for a new run.
#[derive(Clone, Debug)]
pub struct ExecutionWrite {
    pub key: RunKey,
    pub state: Vec<u8>,
    pub expected_db_version: Option<i64>,
    pub new_db_version: i64,
}

/// One appended batch of history events (encoded by the engine).
#[derive(Clone, Debug)]
pub struct HistoryBatch {
    pub key: RunKey,
    pub first_event_id: i64,
    pub last_event_id: i64,
    pub data: Vec<u8>,
}

/// A durable shard task (timer or transfer), encoded by the engine.
#[derive(Clone, Debug)]
pub struct TaskRow {
    pub task_id: i64,
    /// The task queue it feeds (a stable hash of it; never 0), or 0 for any other task.
    pub queue_hash: i64,
    /// When the task may run (unix nanos): its due time, or when it was written.
    pub visible_at: i64,
    pub data: Vec<u8>,
}

/// Everything one workflow state change writes, committed in one transaction fenced on the
/// shard's range id: execution rows, the current pointer, history and tasks. (Visibility is
/// written later, from the tasks, through [`VisibilityStore`].)
#[derive(Clone, Debug, Default)]
pub struct WorkflowCommit {
    pub shard_id: i32,
    pub range_id: i64,
    pub workflow_id: String,
    pub namespace_id: String,
    pub current: Option<CurrentRunUpdate>,
    pub executions: Vec<ExecutionWrite>,
    pub history: Vec<HistoryBatch>,
    pub tasks: Vec<TaskRow>,
}

#[async_trait]
pub trait ExecutionStore: Send + Sync {
    /// The run id the workflow id's current pointer names.
    async fn get_current_run(
        &self,
        shard_id: i32,
        namespace_id: &str,
        workflow_id: &str,
    ) -> Result<Option<String>>;
    async fn get_state(&self, shard_id: i32, key: &RunKey) -> Result<Option<StateRow>>;
    /// Applies a commit atomically, or nothing of it.
    async fn commit(&self, commit: &WorkflowCommit) -> Result<()>;
    /// Encoded batches whose events reach `from_event_id` or later, in order, at most `limit`.
    async fn read_history(
        &self,
        shard_id: i32,
        key: &RunKey,
        from_event_id: i64,
        limit: i64,
    ) -> Result<Vec<HistoryBatch>>;
    /// The first `limit` pending tasks of a shard with this queue hash, in (visible_at,
    /// task_id) order.
    async fn read_tasks(
        &self,
        shard_id: i32,
        queue_hash: i64,
        limit: usize,
    ) -> Result<Vec<TaskRow>>;
    /// The queue hashes (other than 0) that a shard has pending tasks for.
    async fn task_queue_hashes(&self, shard_id: i32) -> Result<Vec<i64>>;
    /// How many tasks of a queue hash, over all shards, may run by `visible_by` (a backlog
    /// hint: it reads every shard's rows of the queue).
    async fn count_queue_tasks(&self, queue_hash: i64, visible_by: i64) -> Result<i64>;
    /// Removes finished tasks.
    async fn delete_tasks(&self, shard_id: i32, range_id: i64, task_ids: &[i64]) -> Result<()>;
    /// Removes a run entirely: state, history, and the current pointer if it still names
    /// this run (retention), and stores `tasks` in the same transaction (the removal of its
    /// visibility record, which goes separately).
    async fn delete_run(
        &self,
        shard_id: i32,
        range_id: i64,
        key: &RunKey,
        tasks: &[TaskRow],
    ) -> Result<()>;
}

/// One run's visibility record: the columns queries filter on, its search attributes with
/// their types, and the encoded `WorkflowExecutionInfo` that listings return.
#[derive(Clone, Debug, PartialEq)]
pub struct VisibilityRecord {
    pub namespace_id: String,
    pub run_id: String,
    pub workflow_id: String,
    pub workflow_type: String,
    pub task_queue: String,
    pub status: i32,
    /// Unix nanos.
    pub start_time: i64,
    pub execution_time: i64,
    /// None while running.
    pub close_time: Option<i64>,
    /// Set once closed (as Temporal records them).
    pub history_length: Option<i64>,
    pub history_size_bytes: Option<i64>,
    pub execution_duration: Option<i64>,
    pub state_transition_count: Option<i64>,
    pub parent_workflow_id: Option<String>,
    pub parent_run_id: Option<String>,
    pub root_workflow_id: String,
    pub root_run_id: String,
    /// Custom and predefined search attributes: name, type, values (several for a list).
    pub attributes: Vec<(String, ValueType, Vec<Value>)>,
    /// Ordering version: a write never replaces a record with a higher one.
    pub version: i64,
    /// Encoded `temporal.api.workflow.v1.WorkflowExecutionInfo`.
    pub data: Vec<u8>,
}

impl VisibilityRecord {
    /// The listing order key: running runs first (as if closing at the end of time).
    pub fn sort_time(&self) -> i64 {
        self.close_time.unwrap_or(i64::MAX)
    }
}

/// One visibility write, applied in order.
#[derive(Clone, Debug, PartialEq)]
pub enum VisibilityWrite {
    /// Insert or replace the record unless the stored one has a higher or equal version.
    Upsert(Box<VisibilityRecord>),
    Delete {
        namespace_id: String,
        run_id: String,
    },
}

/// A checked List/Count query, in both forms: the text (for stores that parse it themselves)
/// and resolved against the namespace's search attributes.
#[derive(Clone, Debug)]
pub struct VisibilityQuery<'a> {
    pub namespace_id: &'a str,
    pub namespace: &'a str,
    pub text: &'a str,
    pub resolved: &'a Resolved,
    /// The namespace's custom search attributes.
    pub custom_attributes: Vec<(String, ValueType)>,
}

/// One page of a listing.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct VisibilityPage {
    /// Each run's encoded `WorkflowExecutionInfo`, in listing order.
    pub executions: Vec<Vec<u8>>,
    /// Empty when there are no more pages.
    pub next_page_token: Vec<u8>,
}

/// The records behind List/Count. Listings run by close time descending (running runs
/// first), then start time descending, then run id ascending. A page token is the store's
/// own; as on Temporal, a full page always carries one.
#[async_trait]
pub trait VisibilityStore: Send + Sync {
    /// Applies writes in order (one transaction where the store has them).
    async fn write_visibility(&self, writes: &[VisibilityWrite]) -> Result<()>;
    /// A page of matching runs; `Error::BadPageToken` for a token it did not make.
    async fn list_visibility(
        &self,
        query: &VisibilityQuery<'_>,
        page_size: usize,
        token: &[u8],
    ) -> Result<VisibilityPage>;
    /// How many runs match: per execution status (status, count) ordered by status when the
    /// query groups by it; one `(None, total)` entry otherwise.
    async fn count_visibility(
        &self,
        query: &VisibilityQuery<'_>,
    ) -> Result<Vec<(Option<i32>, i64)>>;
    /// Housekeeping the writer asks for now and then, after many writes (planner statistics).
    async fn maintain(&self) -> Result<()> {
        Ok(())
    }
}

/// All table families together, as the engine holds them.
pub trait Store:
    ShardStore + NamespaceStore + ExecutionStore + VisibilityStore + ClusterStore
{
}
impl<T: ShardStore + NamespaceStore + ExecutionStore + VisibilityStore + ClusterStore> Store for T {}
