//! The history service: owns runs' mutable state, appends events and durable tasks in one
//! transaction per change, and runs the tasks when they are due.

mod activity;
mod activity_ops;
mod archive;
mod archive_metrics;
pub(crate) mod batch;
mod cache_metrics;
mod children;
mod closed_runs;
mod closing;
mod commands;
mod commit;
mod cron;
mod cross;
pub(crate) mod execution_options;
mod external;
mod history_cache;
pub(crate) mod links;
mod ops;
mod ownership;
mod paging;
mod poll_metrics;
mod polls;
mod queries;
mod read;
mod reset;
pub(crate) mod schedules;
mod shard_metrics;
mod shards;
mod start;
pub(crate) mod system_calls;
pub(crate) mod system_runs;
mod task_queue;
mod tasks;
mod txn;
mod update_with_start;
mod updates;
mod visibility;
mod worker_shutdown;
mod workflow_metrics;
mod workflow_task;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use prost::Message;
use sundial_store::{RunKey, Store};
use temporalio_protos::temporal::api::{
    common::v1::WorkflowExecution, enums::v1::WorkflowExecutionStatus, history::v1::HistoryEvent,
    workflow::v1::WorkflowExecutionInfo,
};
use tokio::sync::{OwnedMutexGuard, watch};

use crate::Options;
use crate::error::{Error, Result};
use crate::matching::{Matching, QueueKey, QueueKind, Queued};
use crate::namespace::Registry;
use crate::queues::{Acks, TimerQueue};
use crate::state::{MutableState, Task};
use crate::time::opt_ts;

pub use activity::ActivityRef;

/// A namespace's name by its id, as the engine knows it (for metrics' labels).
pub type NamespaceNames = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;
pub(crate) use txn::Txn;
pub use visibility::{MAX_PAGE_SIZE, validate_search_attributes};

/// A new run id. As on Temporal 1.32, a run that StartWorkflowExecution starts (a child's
/// too) gets a time-ordered version 7 UUID; the runs that signal-with-start, continue-as-new,
/// retries, cron and reset start get random version 4 ones.
pub(crate) fn new_run_id(started: bool) -> String {
    if started {
        uuid::Uuid::now_v7().to_string()
    } else {
        uuid::Uuid::new_v4().to_string()
    }
}

#[derive(Default)]
struct Slot {
    loaded: Option<(MutableState, i64)>,
    /// The run's committed events, when they are known to be complete (see `history_cache`).
    history: Option<history_cache::CachedHistory>,
    /// The shard ownership (range id) the state was loaded under: after the shard moved
    /// away and back, the state is read again.
    range_id: i64,
}

/// The runs whose state is in memory, each behind its own lock.
type RunCache = Mutex<HashMap<RunKey, Arc<tokio::sync::Mutex<Slot>>>>;

/// A locked run: its mutable state as last committed and its db version.
pub(crate) struct RunGuard {
    key: RunKey,
    shard_id: i32,
    /// The shard ownership the run was locked under; its commits are fenced on it.
    range_id: i64,
    slot: OwnedMutexGuard<Slot>,
    cache: Arc<RunCache>,
    closed_runs: Arc<closed_runs::ClosedRuns>,
}

impl RunGuard {
    pub fn state(&self) -> &MutableState {
        &self.slot.loaded.as_ref().expect("loaded while locked").0
    }
}

/// A closed run leaves the cache when the last one to lock it lets go: it is seldom touched
/// again, and a read of it (the long poll for a result, a describe) must not keep it there.
impl Drop for RunGuard {
    fn drop(&mut self) {
        let closed = self
            .slot
            .loaded
            .as_ref()
            .is_some_and(|(ms, _)| ms.status != WorkflowExecutionStatus::Running as i32);
        if !closed {
            return;
        }
        let mut cache = self.cache.lock().unwrap();
        // Held by the cache and this guard only: nobody else waits to lock it.
        if let Some(slot) = cache.get(&self.key)
            && Arc::strong_count(slot) == 2
            && Arc::ptr_eq(slot, OwnedMutexGuard::mutex(&self.slot))
        {
            cache.remove(&self.key);
            drop(cache);
            self.closed_runs.remember(&self.key.run_id);
        }
    }
}

/// A task handed to another node's queue, until it starts: given again if the queue moves or
/// its node restarts (a new session) before then.
struct HandedOut {
    node: String,
    session: Option<String>,
    key: QueueKey,
    task: Queued,
}

/// What a commit of a run tells its long polls: nothing but that it came, unless it closed
/// the run: then its close event, so that a poll waiting for the close (an SDK client's wait
/// for a result) answers without reading the run back.
#[derive(Clone, Default)]
pub(crate) struct Progress {
    close_event: Option<Arc<HistoryEvent>>,
}

/// The runs someone long-polls, each with the sender of its progress.
type Watchers = Mutex<HashMap<RunKey, watch::Sender<Progress>>>;

/// A long poll's view of a run's progress. The run's sender goes when the last view of it
/// does (a run that closed is published to no more, so nothing else would remove it).
pub(crate) struct RunWatch {
    key: RunKey,
    rx: watch::Receiver<Progress>,
    watchers: Arc<Watchers>,
}

impl RunWatch {
    /// Waits for the next commit of the run.
    pub async fn changed(&mut self) -> std::result::Result<(), watch::error::RecvError> {
        self.rx.changed().await
    }

    /// The run's close event, if a commit seen closed it.
    pub fn close_event(&self) -> Option<HistoryEvent> {
        self.rx.borrow().close_event.as_deref().cloned()
    }
}

impl Drop for RunWatch {
    fn drop(&mut self) {
        // Under the lock no one can subscribe meanwhile: a count of one is this watch alone.
        let mut watchers = self.watchers.lock().unwrap();
        if watchers
            .get(&self.key)
            .is_some_and(|tx| tx.receiver_count() == 1)
        {
            watchers.remove(&self.key);
        }
    }
}

pub(crate) struct Inner {
    pub store: Arc<dyn Store>,
    /// Where visibility records go: the database's own tables, or a plugin.
    pub visibility_store: Arc<dyn sundial_store::VisibilityStore>,
    pub namespaces: Registry,
    pub matching: Arc<Matching>,
    pub options: Options,
    shards: shards::Shards,
    cache: Arc<RunCache>,
    /// Bounds the bytes of history the cached runs keep.
    history_budget: Arc<history_cache::Budget>,
    /// Runs that left the cache closed (their late timeouts need no state).
    closed_runs: Arc<closed_runs::ClosedRuns>,
    timers: TimerQueue,
    acks: Acks,
    paging: paging::Paging,
    watchers: Arc<Watchers>,
    queries: queries::Queries,
    updates: updates::Updates,
    visibility: visibility::Sender,
    /// The other nodes of the cluster (none until [`Engine::set_peers`]).
    peers: std::sync::OnceLock<Arc<dyn crate::peers::Peers>>,
    /// Durable tasks of this node's shards handed to another node's queue and not started
    /// yet, by (shard, task id): the node and queue they went to. Should that node die or the
    /// queue move, they are handed again (the node's memory held them).
    handed_out: Mutex<HashMap<(i32, i64), HandedOut>>,
    archive_metrics: archive_metrics::ArchiveMetrics,
    workflow_metrics: workflow_metrics::WorkflowMetrics,
    shard_metrics: shard_metrics::ShardMetrics,
    poll_metrics: poll_metrics::PollMetrics,
    cache_metrics: cache_metrics::CacheMetrics,
}

/// Cheap, cloneable handle to the engine.
#[derive(Clone)]
pub struct Engine {
    pub(crate) inner: Arc<Inner>,
}

/// One run's part of a commit.
pub(crate) struct Staged {
    pub key: RunKey,
    pub state: MutableState,
    /// None for a new run.
    pub expected_db_version: Option<i64>,
    pub txn_events: Vec<HistoryEvent>,
    pub tasks: Vec<Task>,
    pub visibility: bool,
    /// Update stages to tell waiting callers once committed.
    pub update_notices: Vec<(String, updates::Stage)>,
    /// The run closed in this change.
    pub closed_now: bool,
}

impl Engine {
    /// Takes every shard, loads their pending tasks, and starts the task processors.
    pub async fn start(store: Arc<dyn Store>, options: Options) -> Result<Engine> {
        let visibility = store.clone() as Arc<dyn sundial_store::VisibilityStore>;
        Self::start_with_visibility(store, visibility, options).await
    }

    /// [`Engine::start`] with visibility records kept in `visibility` instead of `store`.
    pub async fn start_with_visibility(
        store: Arc<dyn Store>,
        visibility: Arc<dyn sundial_store::VisibilityStore>,
        options: Options,
    ) -> Result<Engine> {
        let engine = Self::without_shards(store, visibility, options);
        for shard_id in 0..engine.inner.shards.count() {
            engine.acquire_shard(shard_id).await?;
        }
        tracing::info!(
            shards = engine.inner.shards.count(),
            "history shards acquired"
        );
        Ok(engine)
    }

    /// An engine that owns no shard yet: a cluster node, whose shards come and go with
    /// [`Engine::acquire_shard`] and [`Engine::release_shard`].
    pub fn without_shards(
        store: Arc<dyn Store>,
        visibility: Arc<dyn sundial_store::VisibilityStore>,
        options: Options,
    ) -> Engine {
        let (visibility_tx, visibility_rx) = tokio::sync::mpsc::unbounded_channel();
        let paging = paging::Paging::new(options.max_tasks_in_memory, options.task_lookahead);
        let inner = Arc::new(Inner {
            visibility_store: visibility,
            namespaces: Registry::new(store.clone()),
            store,
            matching: Arc::new(Matching::default()),
            shards: shards::Shards::new(options.num_shards),
            options,
            cache: Arc::default(),
            history_budget: history_cache::Budget::new(history_cache::BUDGET),
            closed_runs: Arc::default(),
            timers: TimerQueue::default(),
            acks: Acks::default(),
            paging,
            watchers: Arc::default(),
            queries: Default::default(),
            updates: Default::default(),
            visibility: visibility_tx,
            peers: std::sync::OnceLock::new(),
            handed_out: Mutex::new(HashMap::new()),
            archive_metrics: Default::default(),
            workflow_metrics: Default::default(),
            shard_metrics: Default::default(),
            poll_metrics: Default::default(),
            cache_metrics: Default::default(),
        });
        let engine = Engine { inner };
        engine.spawn_visibility_writer(visibility_rx);
        engine.spawn_processors();
        engine
    }

    /// Runs whose mutable state is cached now.
    pub fn cached_runs(&self) -> usize {
        self.inner.cache.lock().unwrap().len()
    }

    /// Runs whose progress someone waits for (or has waited for and not let go) now.
    pub fn watched_runs(&self) -> usize {
        self.inner.watchers.lock().unwrap().len()
    }

    /// Durable tasks of this node's shards held in memory now (the rest wait in the database).
    pub fn tasks_in_memory(&self) -> usize {
        self.inner.paging.held()
    }

    /// Exports the engine's metrics (archival) in `registry`.
    pub fn register_metrics(&self, registry: &prometheus::Registry) -> prometheus::Result<()> {
        self.inner.archive_metrics.register(registry)?;
        self.inner.shard_metrics.register(registry)?;
        self.inner.poll_metrics.register(registry)?;
        self.inner.cache_metrics.register(registry)?;
        self.inner.workflow_metrics.register(registry)
    }

    /// A namespace's name by its id, from the cache, while the engine lives (the store's
    /// metrics label calls with it).
    pub fn namespace_names(&self) -> NamespaceNames {
        let inner = Arc::downgrade(&self.inner);
        Arc::new(move |id| Some(inner.upgrade()?.namespaces.cached_by_id(id)?.name.clone()))
    }

    pub fn namespaces(&self) -> &Registry {
        &self.inner.namespaces
    }

    pub fn options(&self) -> &Options {
        &self.inner.options
    }

    /// The history shard of a workflow.
    pub fn shard_for(&self, namespace_id: &str, workflow_id: &str) -> i32 {
        self.shard_of(namespace_id, workflow_id)
    }

    pub(crate) fn shard_of(&self, namespace_id: &str, workflow_id: &str) -> i32 {
        let h = paging::stable_hash(&[namespace_id, workflow_id]);
        (h % self.inner.options.num_shards as u64) as i32
    }

    pub(crate) fn next_task_id(&self, shard_id: i32) -> i64 {
        self.inner.shards.next_task_id(shard_id)
    }

    /// The run id the workflow id currently points to.
    pub(crate) async fn current_run(
        &self,
        namespace_id: &str,
        workflow_id: &str,
    ) -> Result<Option<String>> {
        let shard = self.shard_of(namespace_id, workflow_id);
        self.inner.shards.range(shard)?;
        Ok(self
            .inner
            .store
            .get_current_run(shard, namespace_id, workflow_id)
            .await?)
    }

    /// Resolves an execution (empty run id = current run) to a run key.
    pub(crate) async fn resolve(
        &self,
        namespace_id: &str,
        exec: &WorkflowExecution,
    ) -> Result<RunKey> {
        if exec.workflow_id.is_empty() {
            return Err(Error::InvalidArgument(
                "WorkflowId is not set on request.".into(),
            ));
        }
        let run_id = if exec.run_id.is_empty() {
            self.current_run(namespace_id, &exec.workflow_id)
                .await?
                .ok_or_else(|| {
                    Error::NotFound(format!("workflow not found for ID: {}", exec.workflow_id))
                })?
        } else {
            if uuid::Uuid::parse_str(&exec.run_id).is_err() {
                return Err(Error::InvalidArgument("Invalid RunId.".into()));
            }
            exec.run_id.clone()
        };
        Ok(RunKey {
            namespace_id: namespace_id.to_string(),
            workflow_id: exec.workflow_id.clone(),
            run_id,
        })
    }

    /// Locks a run and loads its state; `NotFound` if it does not exist.
    pub(crate) async fn lock(&self, key: &RunKey) -> Result<RunGuard> {
        let began = std::time::Instant::now();
        let shard_id = self.shard_of(&key.namespace_id, &key.workflow_id);
        let range_id = self.inner.shards.range(shard_id)?;
        let slot = {
            let mut cache = self.inner.cache.lock().unwrap();
            if !cache.contains_key(key) {
                self.make_room(&mut cache);
            }
            cache.entry(key.clone()).or_default().clone()
        };
        let mut slot = slot.lock_owned().await;
        if slot.range_id != range_id {
            slot.loaded = None;
            slot.history = None;
        }
        let missed = slot.loaded.is_none();
        if missed {
            // Changes to the run read its namespace from the cache (closing it schedules the
            // deletion after the namespace's retention). After a restart a background task can
            // be the first to touch a namespace, so load it here.
            match self.inner.namespaces.by_id(&key.namespace_id).await {
                Ok(_) | Err(Error::NamespaceNotFound { .. }) => {}
                Err(e) => return Err(e),
            }
            match self.inner.store.get_state(shard_id, key).await? {
                Some(row) => {
                    let ms = MutableState::decode(row.state.as_slice())?;
                    slot.loaded = Some((ms, row.db_version));
                    slot.history = None;
                    slot.range_id = range_id;
                }
                None => {
                    drop(slot);
                    self.forget(key);
                    return Err(Error::NotFound(format!(
                        "workflow execution not found: {}/{}",
                        key.workflow_id, key.run_id
                    )));
                }
            }
        }
        self.inner
            .cache_metrics
            .looked_up(&key.namespace_id, missed, began.elapsed());
        Ok(RunGuard {
            key: key.clone(),
            shard_id,
            range_id,
            slot,
            cache: self.inner.cache.clone(),
            closed_runs: self.inner.closed_runs.clone(),
        })
    }

    /// Keeps the cache under `max_cached_runs`: when full, drops a tenth of it, taking only
    /// runs nobody holds (their state is in the database). Amortized O(1) per insertion.
    fn make_room(&self, cache: &mut HashMap<RunKey, Arc<tokio::sync::Mutex<Slot>>>) {
        let max = self.inner.options.max_cached_runs.max(1);
        if cache.len() < max {
            return;
        }
        let mut to_drop = (max / 10).max(1);
        cache.retain(|_, slot| {
            if to_drop > 0 && Arc::strong_count(slot) == 1 {
                to_drop -= 1;
                false
            } else {
                true
            }
        });
    }

    fn forget(&self, key: &RunKey) {
        let mut cache = self.inner.cache.lock().unwrap();
        if let Some(slot) = cache.get(key)
            && Arc::strong_count(slot) == 1
        {
            cache.remove(key);
        }
    }

    /// A run's state for reading; the lock is released at once.
    /// Locks a run that may be gone: `None` when it is.
    pub(crate) async fn lock_if_exists(&self, key: &RunKey) -> Result<Option<RunGuard>> {
        match self.lock(key).await {
            Ok(g) => Ok(Some(g)),
            Err(Error::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub(crate) async fn snapshot(&self, key: &RunKey) -> Result<MutableState> {
        Ok(self.lock(key).await?.state().clone())
    }

    /// Starts a change of a locked run.
    pub(crate) fn begin<'a>(&'a self, guard: &RunGuard) -> Txn<'a> {
        Txn::new(self, guard.shard_id, guard.state().clone())
    }

    /// Whether someone long-polls the run.
    fn watched(&self, key: &RunKey) -> bool {
        self.inner.watchers.lock().unwrap().contains_key(key)
    }

    fn publish(&self, key: &RunKey, progress: Progress) {
        let mut watchers = self.inner.watchers.lock().unwrap();
        if let Some(tx) = watchers.get(key) {
            tx.send_replace(progress);
            if tx.receiver_count() == 0 {
                watchers.remove(key);
            }
        }
    }

    pub(crate) fn watch(&self, key: &RunKey) -> RunWatch {
        let mut watchers = self.inner.watchers.lock().unwrap();
        let rx = watchers
            .entry(key.clone())
            .or_insert_with(|| watch::channel(Progress::default()).0)
            .subscribe();
        RunWatch {
            key: key.clone(),
            rx,
            watchers: self.inner.watchers.clone(),
        }
    }

    pub(crate) fn queue_key(namespace_id: &str, name: &str, kind: QueueKind) -> QueueKey {
        QueueKey {
            namespace_id: namespace_id.to_string(),
            name: name.to_string(),
            kind,
        }
    }
}

/// The searchable summary of a run.
pub(crate) fn execution_info(ms: &MutableState) -> WorkflowExecutionInfo {
    let started = ms.started.clone().unwrap_or_default();
    WorkflowExecutionInfo {
        execution: Some(WorkflowExecution {
            workflow_id: ms.workflow_id.clone(),
            run_id: ms.run_id.clone(),
        }),
        r#type: started.workflow_type.clone(),
        start_time: opt_ts(ms.start_time),
        close_time: opt_ts(ms.close_time),
        status: ms.status,
        history_length: ms.next_event_id - 1,
        execution_time: opt_ts(ms.execution_time),
        // Present even when empty, as Temporal writes them (`{}` in JSON).
        memo: Some(ms.memo.clone().unwrap_or_default()),
        search_attributes: Some(ms.search_attributes.clone().unwrap_or_default()),
        task_queue: started
            .task_queue
            .as_ref()
            .map(|t| t.name.clone())
            .unwrap_or_default(),
        state_transition_count: ms.state_transitions,
        history_size_bytes: ms.history_size_bytes,
        execution_duration: (ms.close_time > 0).then(|| {
            crate::time::dur((ms.close_time - ms.execution_time.max(ms.start_time)).max(0))
        }),
        first_run_id: started.first_execution_run_id.clone(),
        parent_namespace_id: started.parent_workflow_namespace_id.clone(),
        parent_execution: started.parent_workflow_execution.clone(),
        root_execution: Some(started.root_workflow_execution.clone().unwrap_or(
            WorkflowExecution {
                workflow_id: ms.workflow_id.clone(),
                run_id: ms.run_id.clone(),
            },
        )),
        ..Default::default()
    }
}
