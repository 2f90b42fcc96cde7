//! Workflow metrics as Temporal's history service records them: the outcomes (its
//! `CompletionStats`: `workflow_success`, `workflow_failed`, `workflow_timeout`,
//! `workflow_cancel`, `workflow_terminate` and `workflow_continued_as_new`, by namespace, task
//! queue and workflow type), counted once a run's close is committed; and
//! `state_transition_count`, a run's count of state transitions at each committed change.

use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry};
use temporalio_protos::temporal::api::enums::v1::WorkflowExecutionStatus;

use sundial_services::tally_label;

use crate::state::MutableState;

const LABELS: [&str; 6] = [
    "namespace",
    "namespace_state",
    "operation",
    "service_name",
    "taskqueue",
    "workflowType",
];

/// What the counters say of a run that closed.
pub(crate) struct Closed {
    pub namespace_id: String,
    status: i32,
    task_queue: String,
    workflow_type: String,
}

impl Closed {
    pub(crate) fn of(ms: &MutableState) -> Closed {
        let started = ms.started.as_ref();
        Closed {
            namespace_id: ms.namespace_id.clone(),
            status: ms.status,
            task_queue: started
                .and_then(|s| s.task_queue.as_ref())
                .map(|t| t.name.clone())
                .unwrap_or_default(),
            workflow_type: started
                .and_then(|s| s.workflow_type.as_ref())
                .map(|t| t.name.clone())
                .unwrap_or_default(),
        }
    }
}

/// Temporal's buckets for counts.
const COUNT_BUCKETS: [f64; 16] = [
    1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0, 5000.0, 10000.0, 20000.0,
    50000.0, 100000.0,
];

/// The counters; created with the engine, exported once registered.
pub(crate) struct WorkflowMetrics {
    by_status: Vec<(WorkflowExecutionStatus, IntCounterVec)>,
    state_transitions: HistogramVec,
}

impl Default for WorkflowMetrics {
    fn default() -> Self {
        let counter = |name: &str| {
            IntCounterVec::new(Opts::new(name, format!("{name} counter")), &LABELS)
                .expect("valid metric")
        };
        use WorkflowExecutionStatus as S;
        WorkflowMetrics {
            by_status: vec![
                (S::Completed, counter("workflow_success")),
                (S::Failed, counter("workflow_failed")),
                (S::TimedOut, counter("workflow_timeout")),
                (S::Canceled, counter("workflow_cancel")),
                (S::Terminated, counter("workflow_terminate")),
                (S::ContinuedAsNew, counter("workflow_continued_as_new")),
            ],
            state_transitions: HistogramVec::new(
                HistogramOpts::new(
                    "state_transition_count",
                    "A run's state transitions, at each committed change.",
                )
                .buckets(COUNT_BUCKETS.to_vec()),
                &["namespace", "namespace_state", "operation", "service_name"],
            )
            .expect("valid metric"),
        }
    }
}

impl WorkflowMetrics {
    pub(crate) fn register(&self, registry: &Registry) -> prometheus::Result<()> {
        for (_, c) in &self.by_status {
            registry.register(Box::new(c.clone()))?;
        }
        registry.register(Box::new(self.state_transitions.clone()))
    }

    /// A change to a run of `namespace` was committed; the run has made `transitions`.
    pub(crate) fn committed(&self, namespace: &str, transitions: i64) {
        self.state_transitions
            .with_label_values(&[
                &tally_label(namespace),
                "active",
                "WorkflowContext",
                "history",
            ])
            .observe(transitions as f64);
    }

    /// A run of the namespace `namespace` closed.
    pub(crate) fn closed(&self, namespace: &str, run: &Closed) {
        let Some((_, counter)) = self.by_status.iter().find(|(s, _)| *s as i32 == run.status)
        else {
            return;
        };
        let (task_queue, workflow_type) = (&run.task_queue, &run.workflow_type);
        counter
            .with_label_values(&[
                &tally_label(namespace),
                "active",
                "CompletionStats",
                "history",
                &tally_label(task_queue),
                &tally_label(workflow_type),
            ])
            .inc();
    }
}
