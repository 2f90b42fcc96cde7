//! The task queues' poll figures, as Temporal's matching and history services report them:
//! `poll_success`, `poll_success_sync` (the task went to a waiting poll as it was added) and
//! `poll_timeouts` (operation `TaskQueueMgr`, service `matching`), `syncmatch_latency` (from
//! handing a task to a waiting poll to the poll taking it up; operation `AddWorkflowTask` or
//! `AddActivityTask`), and
//! `task_schedule_to_start_latency` (history, operation `RecordWorkflowTaskStarted` or
//! `RecordActivityTaskStarted`), by namespace, task queue, partition and task type; and
//! `approximate_backlog_count` (operation `TaskQueuePartitionManager`), the tasks waiting in a
//! queue, counted in the database at most every 10 s while the queue is polled.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry};
use prost_types::Timestamp;
use sundial_services::{TIMER_BUCKETS, tally_label};

use crate::matching::{QueueKey, QueueKind};

const POLL_LABELS: [&str; 10] = [
    "namespace",
    "namespace_state",
    "operation",
    "partition",
    "service_name",
    "task_type",
    "taskqueue",
    "worker_build_id",
    "worker_deployment_name",
    "worker_version",
];

/// The labels of the timers.
const QUEUE_LABELS: [&str; 6] = [
    "namespace",
    "operation",
    "partition",
    "service_name",
    "task_type",
    "taskqueue",
];

/// One poll, as the labels name it.
pub(crate) struct Polled<'a> {
    pub namespace: &'a str,
    /// The queue's name (a sticky queue's normal queue).
    pub task_queue: &'a str,
    pub sticky: bool,
    pub kind: QueueKind,
}

impl Polled<'_> {
    fn task_type(&self) -> &'static str {
        match self.kind {
            QueueKind::Workflow => "Workflow",
            QueueKind::Activity => "Activity",
        }
    }
}

/// How often a polled queue's backlog is counted.
const BACKLOG_EVERY: Duration = Duration::from_secs(10);

/// Queues whose backlog was counted, kept at most before the stale ones are forgotten.
const BACKLOG_QUEUES_KEPT: usize = 10_000;

pub(crate) struct PollMetrics {
    backlog: IntGaugeVec,
    /// When each queue's backlog was last counted.
    counted: Mutex<HashMap<QueueKey, Instant>>,
    success: IntCounterVec,
    success_sync: IntCounterVec,
    timeouts: IntCounterVec,
    sync_match: HistogramVec,
    schedule_to_start: HistogramVec,
}

impl Default for PollMetrics {
    fn default() -> Self {
        let counter = |name: &str| {
            IntCounterVec::new(Opts::new(name, format!("{name} counter")), &POLL_LABELS)
                .expect("valid metric")
        };
        let mut backlog_labels = POLL_LABELS.to_vec();
        backlog_labels.insert(5, "task_priority");
        PollMetrics {
            backlog: IntGaugeVec::new(
                Opts::new(
                    "approximate_backlog_count",
                    "Tasks waiting in a task queue, as last counted.",
                ),
                &backlog_labels,
            )
            .expect("valid metric"),
            counted: Mutex::default(),
            success: counter("poll_success"),
            success_sync: counter("poll_success_sync"),
            timeouts: counter("poll_timeouts"),
            sync_match: HistogramVec::new(
                HistogramOpts::new(
                    "syncmatch_latency",
                    "From handing a task to a waiting poll to the poll taking it, in seconds.",
                )
                .buckets(TIMER_BUCKETS.to_vec()),
                &QUEUE_LABELS,
            )
            .expect("valid metric"),
            schedule_to_start: HistogramVec::new(
                HistogramOpts::new(
                    "task_schedule_to_start_latency",
                    "From a task's scheduling to its start, in seconds.",
                )
                .buckets(TIMER_BUCKETS.to_vec()),
                &QUEUE_LABELS,
            )
            .expect("valid metric"),
        }
    }
}

impl PollMetrics {
    pub(crate) fn register(&self, registry: &Registry) -> prometheus::Result<()> {
        for c in [&self.success, &self.success_sync, &self.timeouts] {
            registry.register(Box::new(c.clone()))?;
        }
        registry.register(Box::new(self.backlog.clone()))?;
        registry.register(Box::new(self.sync_match.clone()))?;
        registry.register(Box::new(self.schedule_to_start.clone()))
    }

    /// Whether `key`'s backlog is due to be counted again (and if so, it counts as counted).
    pub(crate) fn backlog_due(&self, key: &QueueKey) -> bool {
        let now = Instant::now();
        let mut counted = self.counted.lock().unwrap();
        if counted
            .get(key)
            .is_some_and(|at| now.duration_since(*at) < BACKLOG_EVERY)
        {
            return false;
        }
        if counted.len() >= BACKLOG_QUEUES_KEPT {
            counted.retain(|_, at| now.duration_since(*at) < BACKLOG_EVERY * 6);
        }
        counted.insert(key.clone(), now);
        true
    }

    /// The queue polled as `poll` has `tasks` waiting.
    pub(crate) fn set_backlog(&self, poll: &Polled, tasks: i64) {
        let (namespace, queue) = (tally_label(poll.namespace), tally_label(poll.task_queue));
        self.backlog
            .with_label_values(&[
                namespace.as_str(),
                "active",
                "TaskQueuePartitionManager",
                if poll.sticky { "__sticky__" } else { "0" },
                "matching",
                "3",
                poll.task_type(),
                queue.as_str(),
                "",
                "",
                "__unversioned__",
            ])
            .set(tasks);
    }

    /// A poll ended: with a task (for a sync match, how long the poll took to take it up;
    /// when the task was scheduled and started), or empty.
    pub(crate) fn polled(
        &self,
        poll: &Polled,
        outcome: Option<(Option<Duration>, Option<&Timestamp>, Option<&Timestamp>)>,
    ) {
        let (namespace, queue) = (tally_label(poll.namespace), tally_label(poll.task_queue));
        let partition = if poll.sticky { "__sticky__" } else { "0" };
        let labels = [
            namespace.as_str(),
            "active",
            "TaskQueueMgr",
            partition,
            "matching",
            poll.task_type(),
            queue.as_str(),
            "",
            "",
            "__unversioned__",
        ];
        let Some((sync_match, scheduled, started)) = outcome else {
            self.timeouts.with_label_values(&labels).inc();
            return;
        };
        self.success.with_label_values(&labels).inc();
        if let Some(took) = sync_match {
            self.success_sync.with_label_values(&labels).inc();
            let operation = match poll.kind {
                QueueKind::Workflow => "AddWorkflowTask",
                QueueKind::Activity => "AddActivityTask",
            };
            self.sync_match
                .with_label_values(&[
                    namespace.as_str(),
                    operation,
                    partition,
                    "matching",
                    poll.task_type(),
                    queue.as_str(),
                ])
                .observe(took.as_secs_f64());
        }
        if let (Some(scheduled), Some(started)) = (scheduled, started) {
            let nanos = |t: &Timestamp| t.seconds as f64 + t.nanos as f64 / 1e9;
            let operation = match poll.kind {
                QueueKind::Workflow => "RecordWorkflowTaskStarted",
                QueueKind::Activity => "RecordActivityTaskStarted",
            };
            let partition = if poll.sticky {
                "__sticky__"
            } else {
                "__normal__"
            };
            self.schedule_to_start
                .with_label_values(&[
                    namespace.as_str(),
                    operation,
                    partition,
                    "history",
                    poll.task_type(),
                    queue.as_str(),
                ])
                .observe((nanos(started) - nanos(scheduled)).max(0.0));
        }
    }
}
