#![allow(deprecated)]
//! Sundial's history service, [`Engine`]: mutable state, event building, state machines,
//! timers, durable shard tasks and shard ownership. Matching (`sundial-matching`) holds the
//! task queues and runs the workers' long polls; history hands it tasks through its `Queues`
//! handle (this node's queues, or another node's over the internal API) and starts the tasks
//! its pollers take as their `Starter` (`history/polls.rs`).
//!
//! The engine is generic over the persistence traits of `sundial-store` and knows nothing of
//! gRPC transport; it serves the frontend through the handles of `sundial-services`, which
//! take Temporal's request messages.

mod archival;
pub mod error;
mod history;
mod matching;
pub mod namespace;
pub mod peers;
mod queues;
mod service;
mod settings;
pub mod state;
pub mod time;

pub use error::{Error, Result};
pub use history::schedules::workflow_id as scheduler_workflow_id;
pub use history::{ActivityRef, Engine, MAX_PAGE_SIZE, NamespaceNames, validate_search_attributes};

/// Engine settings.
#[derive(Clone, Debug)]
pub struct Options {
    /// Number of history shards; fixed for the life of a database.
    pub num_shards: i32,
    /// Longest a task-queue poll waits before returning an empty response.
    pub poll_timeout: std::time::Duration,
    /// Longest a history long poll (`wait_new_event`) waits before returning a page token.
    pub history_poll_timeout: std::time::Duration,
    /// Largest payload blob accepted (Temporal's default: 2 MiB).
    pub blob_size_limit: usize,
    /// Largest workflow/activity/signal id and name accepted.
    pub max_id_length: usize,
    /// Open runs whose mutable state stays cached; beyond it idle runs are dropped and
    /// reloaded from the database when next touched.
    pub max_cached_runs: usize,
    /// This node's name: recorded as the owner of the shards it acquires.
    pub node_name: String,
    /// Most durable tasks held in memory for each task queue of a shard, and for a shard's
    /// other tasks; the rest wait in the database and are paged in.
    pub max_tasks_in_memory: usize,
    /// How far ahead due tasks are held in memory; later ones wait in the database.
    pub task_lookahead: std::time::Duration,
    /// How long after its close a run is archived, at most (a random part of it, as
    /// Temporal's `history.archivalProcessorArchiveDelay`, spreads the work).
    pub archive_delay: std::time::Duration,
    /// For tests: closed runs are deleted this long after their close, whatever their
    /// namespace's retention (which is still what DescribeNamespace shows).
    pub retention_override: Option<std::time::Duration>,
    /// A workflow task started at or past this many events suggests continue-as-new
    /// (Temporal's `limit.historyCount.suggestContinueAsNew`).
    pub suggest_continue_as_new_events: i64,
    /// Likewise for the history's size in bytes (`limit.historySize.suggestContinueAsNew`).
    pub suggest_continue_as_new_bytes: i64,
    /// Whether a start that asks for it gets its first workflow task in the response
    /// (Temporal's `system.enableEagerWorkflowStart`).
    pub eager_workflow_start: bool,
    /// Whether ShutdownWorker ends the worker's waiting polls, so SDKs may let their polls
    /// finish on shutdown (Temporal's `frontend.enableCancelWorkerPollsOnShutdown`).
    pub cancel_polls_on_shutdown: bool,
    /// The live dynamic config: its values, where given, win over the settings above that
    /// have a key (`settings.rs` reads them).
    pub dynamic: std::sync::Arc<sundial_dynamic_config::DynamicConfig>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            num_shards: 4,
            poll_timeout: std::time::Duration::from_secs(60),
            history_poll_timeout: std::time::Duration::from_secs(20),
            blob_size_limit: 2 * 1024 * 1024,
            max_id_length: 1000,
            max_cached_runs: 10_000,
            node_name: "local".into(),
            max_tasks_in_memory: 1000,
            task_lookahead: std::time::Duration::from_secs(60),
            archive_delay: std::time::Duration::from_secs(300),
            retention_override: None,
            suggest_continue_as_new_events: 4 * 1024,
            suggest_continue_as_new_bytes: 4 * 1024 * 1024,
            eager_workflow_start: true,
            cancel_polls_on_shutdown: false,
            dynamic: Default::default(),
        }
    }
}
