//! A run's end: marking it closed (parent-close policy, visibility, archival or deletion), and
//! the run that continues it (continue-as-new, a retry, the next cron run).

use temporalio_protos::temporal::api::{
    enums::v1::{ContinueAsNewInitiator, TaskQueueKind, WorkflowExecutionStatus},
    history::v1::WorkflowExecutionStartedEventAttributes,
    taskqueue::v1::TaskQueue,
};

use super::Txn;
use super::start::NewRun;
use crate::state::TaskKind;
use crate::time::dur_nanos;

/// A duration the command set, or `None` when it left it out or sent zero (both mean
/// "as before").
fn nonzero(d: Option<prost_types::Duration>) -> Option<prost_types::Duration> {
    d.filter(|d| d.seconds != 0 || d.nanos != 0)
}

impl Txn<'_> {
    /// Marks the run closed after its close event was added: drops pending work, updates
    /// visibility and schedules deletion after the namespace's retention.
    pub fn close(&mut self, status: WorkflowExecutionStatus) {
        self.ms.status = status as i32;
        self.closed_now = true;
        self.apply_parent_close_policy();
        self.ms.close_time = self.now;
        self.ms.close_event_id = self.ms.next_event_id - 1;
        self.ms.workflow_task = None;
        self.ms.transient_wft = false;
        self.ms.activities.clear();
        self.ms.timers.clear();
        // Events still waiting would follow the close event: like Temporal, drop them.
        self.ms.buffered_events.clear();
        self.visibility = true;
        let retention = self.engine.retention(&self.ms.namespace_id);
        // A run to archive is deleted once archived; the archive task schedules that.
        if self.engine.archives(&self.ms.namespace_id) {
            let delay = self.engine.archive_delay().min(retention);
            self.task(TaskKind::ArchiveRun, self.now + delay, 0);
        } else {
            self.task(TaskKind::DeleteRun, self.now + retention, 0);
        }
    }

    /// Builds the continued run's start attributes from a continue-as-new command.
    pub fn continued_run(
        &self,
        cmd: &temporalio_protos::temporal::api::command::v1::ContinueAsNewWorkflowExecutionCommandAttributes,
        new_run_id: &str,
    ) -> NewRun {
        let prev = self.ms.started.clone().unwrap_or_default();
        let initiator = if cmd.initiator == 0 {
            ContinueAsNewInitiator::Workflow as i32
        } else {
            cmd.initiator
        };
        let attrs = WorkflowExecutionStartedEventAttributes {
            workflow_type: cmd
                .workflow_type
                .clone()
                .filter(|t| !t.name.is_empty())
                .or(prev.workflow_type.clone()),
            task_queue: Some(TaskQueue {
                name: cmd
                    .task_queue
                    .as_ref()
                    .map(|t| t.name.clone())
                    .filter(|n| !n.is_empty())
                    .unwrap_or_else(|| self.normal_task_queue()),
                kind: TaskQueueKind::Normal as i32,
                normal_name: String::new(),
            }),
            input: cmd.input.clone(),
            workflow_execution_timeout: prev.workflow_execution_timeout,
            workflow_run_timeout: nonzero(cmd.workflow_run_timeout).or(prev.workflow_run_timeout),
            workflow_task_timeout: nonzero(cmd.workflow_task_timeout)
                .or(prev.workflow_task_timeout),
            continued_execution_run_id: self.ms.run_id.clone(),
            initiator,
            continued_failure: cmd.failure.clone(),
            last_completion_result: cmd.last_completion_result.clone(),
            identity: prev.identity.clone(),
            first_execution_run_id: prev.first_execution_run_id.clone(),
            retry_policy: cmd.retry_policy.clone().or(prev.retry_policy.clone()),
            attempt: 1,
            workflow_execution_expiration_time: prev.workflow_execution_expiration_time,
            memo: cmd.memo.clone().or(self.ms.memo.clone()),
            search_attributes: cmd
                .search_attributes
                .clone()
                .or(self.ms.search_attributes.clone()),
            header: cmd.header.clone().or(prev.header.clone()),
            workflow_id: self.ms.workflow_id.clone(),
            priority: prev.priority.clone(),
            parent_workflow_namespace: prev.parent_workflow_namespace.clone(),
            parent_workflow_namespace_id: prev.parent_workflow_namespace_id.clone(),
            parent_workflow_execution: prev.parent_workflow_execution.clone(),
            parent_initiated_event_id: prev.parent_initiated_event_id,
            parent_initiated_event_version: prev.parent_initiated_event_version,
            root_workflow_execution: prev.root_workflow_execution.clone(),
            cron_schedule: prev.cron_schedule.clone(),
            ..Default::default()
        };
        let _ = new_run_id;
        NewRun {
            attrs,
            request_id: uuid::Uuid::new_v4().to_string(),
            start_delay: dur_nanos(&cmd.backoff_start_interval),
            signal: None,
            user_metadata: None,
            eager: false,
            system: None,
        }
    }
}
