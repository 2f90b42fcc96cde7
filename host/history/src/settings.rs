//! The engine's settings that dynamic config may change while it runs: each read at its use,
//! from the live dynamic config (Temporal's keys, with the namespace where Temporal scopes
//! them by namespace), falling back to the engine's [`Options`](crate::Options).

use std::time::Duration;

use sundial_dynamic_config::{Scope, keys};

use crate::Engine;

impl Engine {
    fn live(&self) -> &sundial_dynamic_config::DynamicConfig {
        &self.inner.options.dynamic
    }

    /// The most a run's archiving waits after its close.
    pub(crate) fn archive_delay_limit(&self) -> Duration {
        self.live()
            .duration(&keys::ARCHIVE_DELAY, Scope::default())
            .unwrap_or(self.inner.options.archive_delay)
    }

    /// For tests: how long after their close runs are deleted, whatever their retention.
    pub(crate) fn retention_override(&self) -> Option<Duration> {
        self.live()
            .duration(&keys::RETENTION_OVERRIDE, Scope::default())
            .or(self.inner.options.retention_override)
    }

    /// The history length and size (bytes) at which a workflow task suggests
    /// continue-as-new, for a namespace (by id).
    pub(crate) fn suggest_continue_as_new(&self, namespace_id: &str) -> (i64, i64) {
        let ns = self.namespaces().cached_by_id(namespace_id);
        let scope = Scope::namespace(ns.as_ref().map_or("", |n| n.name.as_str()));
        let o = &self.inner.options;
        (
            self.live()
                .int(&keys::SUGGEST_CAN_EVENTS, scope)
                .unwrap_or(o.suggest_continue_as_new_events),
            self.live()
                .int(&keys::SUGGEST_CAN_BYTES, scope)
                .unwrap_or(o.suggest_continue_as_new_bytes),
        )
    }

    /// Whether a start that asks for it gets its first workflow task in the response.
    pub(crate) fn eager_workflow_start(&self, namespace: &str) -> bool {
        self.live()
            .bool(&keys::EAGER_WORKFLOW_START, Scope::namespace(namespace))
            .unwrap_or(self.inner.options.eager_workflow_start)
    }

    /// Whether ShutdownWorker ends the worker's waiting polls.
    pub(crate) fn cancel_polls_on_shutdown(&self, namespace: &str) -> bool {
        self.live()
            .bool(&keys::CANCEL_POLLS_ON_SHUTDOWN, Scope::namespace(namespace))
            .unwrap_or(self.inner.options.cancel_polls_on_shutdown)
    }

    /// Largest payload blob accepted, in bytes.
    pub(crate) fn blob_size_limit(&self) -> usize {
        self.live()
            .int(&keys::BLOB_SIZE_LIMIT, Scope::default())
            .map_or(self.inner.options.blob_size_limit, |n| n as usize)
    }

    /// Longest id or name accepted.
    pub(crate) fn max_id_length(&self) -> usize {
        self.live()
            .int(&keys::MAX_ID_LENGTH, Scope::default())
            .map_or(self.inner.options.max_id_length, |n| n as usize)
    }

    /// How long a task-queue poll waits before answering empty.
    pub(crate) fn poll_timeout(&self) -> Duration {
        self.live()
            .duration(&keys::POLL_TIMEOUT, Scope::default())
            .unwrap_or(self.inner.options.poll_timeout)
    }

    /// How long a history long poll waits.
    pub(crate) fn history_poll_timeout(&self) -> Duration {
        self.live()
            .duration(&keys::HISTORY_POLL_TIMEOUT, Scope::default())
            .unwrap_or(self.inner.options.history_poll_timeout)
    }
}
