//! ResetWorkflowExecution: a new run that starts from a copy of the base run's history up to
//! a workflow task, fails that task (cause RESET_WORKFLOW) and carries on from there, with the
//! base run's later signals applied again, then the request's post-reset options updates.
//!
//! Sundial rebuilds the new run's state from the copied events only for reset points where
//! nothing is in flight (no pending activity, timer, child or external request); other points
//! are refused with `InvalidArgument` rather than guessed at.

use std::collections::HashSet;

use sundial_store::{CurrentRunUpdate, RunKey};
use temporalio_protos::temporal::api::{
    enums::v1::{
        EventType, ResetReapplyExcludeType, ResetReapplyType, WorkflowExecutionStatus,
        WorkflowTaskFailedCause,
    },
    failure::v1::{Failure, ResetWorkflowFailureInfo, failure::FailureInfo},
    history::v1::{WorkflowTaskFailedEventAttributes, history_event::Attributes as A},
    workflowservice::v1::{ResetWorkflowExecutionRequest, ResetWorkflowExecutionResponse},
};

use super::{Engine, Txn};
use crate::error::{Error, Result, invalid};
use crate::namespace::Namespace;
use crate::state::{MutableState, TaskKind};
use crate::time::{dur_nanos, now_nanos};

fn ts_nanos(t: &Option<prost_types::Timestamp>) -> i64 {
    t.map(|t| t.seconds * 1_000_000_000 + t.nanos as i64)
        .unwrap_or(0)
}

/// Why a copied prefix of history cannot be the start of a new run, if it cannot.
fn in_flight(
    events: &[temporalio_protos::temporal::api::history::v1::HistoryEvent],
) -> Option<String> {
    let mut open: HashSet<i64> = HashSet::new();
    for e in events {
        match &e.attributes {
            Some(A::ActivityTaskScheduledEventAttributes(_))
            | Some(A::TimerStartedEventAttributes(_))
            | Some(A::StartChildWorkflowExecutionInitiatedEventAttributes(_))
            | Some(A::SignalExternalWorkflowExecutionInitiatedEventAttributes(_))
            | Some(A::RequestCancelExternalWorkflowExecutionInitiatedEventAttributes(_)) => {
                open.insert(e.event_id);
            }
            Some(A::ActivityTaskCompletedEventAttributes(a)) => {
                open.remove(&a.scheduled_event_id);
            }
            Some(A::ActivityTaskFailedEventAttributes(a)) => {
                open.remove(&a.scheduled_event_id);
            }
            Some(A::ActivityTaskTimedOutEventAttributes(a)) => {
                open.remove(&a.scheduled_event_id);
            }
            Some(A::ActivityTaskCanceledEventAttributes(a)) => {
                open.remove(&a.scheduled_event_id);
            }
            Some(A::TimerFiredEventAttributes(a)) => {
                open.remove(&a.started_event_id);
            }
            Some(A::TimerCanceledEventAttributes(a)) => {
                open.remove(&a.started_event_id);
            }
            Some(A::StartChildWorkflowExecutionFailedEventAttributes(a)) => {
                open.remove(&a.initiated_event_id);
            }
            Some(A::ChildWorkflowExecutionCompletedEventAttributes(a)) => {
                open.remove(&a.initiated_event_id);
            }
            Some(A::ChildWorkflowExecutionFailedEventAttributes(a)) => {
                open.remove(&a.initiated_event_id);
            }
            Some(A::ChildWorkflowExecutionCanceledEventAttributes(a)) => {
                open.remove(&a.initiated_event_id);
            }
            Some(A::ChildWorkflowExecutionTimedOutEventAttributes(a)) => {
                open.remove(&a.initiated_event_id);
            }
            Some(A::ChildWorkflowExecutionTerminatedEventAttributes(a)) => {
                open.remove(&a.initiated_event_id);
            }
            Some(A::ExternalWorkflowExecutionSignaledEventAttributes(a)) => {
                open.remove(&a.initiated_event_id);
            }
            Some(A::SignalExternalWorkflowExecutionFailedEventAttributes(a)) => {
                open.remove(&a.initiated_event_id);
            }
            Some(A::ExternalWorkflowExecutionCancelRequestedEventAttributes(a)) => {
                open.remove(&a.initiated_event_id);
            }
            Some(A::RequestCancelExternalWorkflowExecutionFailedEventAttributes(a)) => {
                open.remove(&a.initiated_event_id);
            }
            _ => {}
        }
    }
    let mut ids: Vec<_> = open.into_iter().collect();
    ids.sort();
    ids.first().map(|id| {
        format!(
            "resetting to this point is not supported by Sundial yet: the work started by event {id} is still in flight there"
        )
    })
}

impl Engine {
    pub async fn reset_workflow(
        &self,
        ns: &Namespace,
        req: ResetWorkflowExecutionRequest,
    ) -> Result<ResetWorkflowExecutionResponse> {
        let exec = req.workflow_execution.clone().unwrap_or_default();
        let base_key = self.resolve(&ns.id, &exec).await?;
        let base = self.snapshot(&base_key).await?;
        let task_queue = base
            .started
            .as_ref()
            .and_then(|s| s.task_queue.as_ref())
            .map(|t| t.name.as_str())
            .unwrap_or_default();
        super::execution_options::check_post_reset(
            &req.post_reset_operations,
            base.versioning_override.as_ref(),
            &base_key.workflow_id,
            task_queue,
        )?;
        let last = base.next_event_id - 1;
        let finish = req.workflow_task_finish_event_id;
        if finish <= 1 || finish > last {
            return Err(invalid(
                "Workflow task finish ID must be > 1 && <= workflow last event ID.",
            ));
        }
        let all = self.read_events(&base_key, 1, last).await?;
        let copied: Vec<_> = all
            .iter()
            .filter(|e| e.event_id < finish)
            .cloned()
            .collect();
        let Some(started) = copied
            .last()
            .filter(|e| e.event_type == EventType::WorkflowTaskStarted as i32)
        else {
            return Err(invalid(format!(
                "Event {finish} does not end a workflow task: reset to the event after a WorkflowTaskStarted event."
            )));
        };
        let started_id = started.event_id;
        let scheduled_id = match &started.attributes {
            Some(A::WorkflowTaskStartedEventAttributes(a)) => a.scheduled_event_id,
            _ => started_id - 1,
        };
        if let Some(why) = in_flight(&copied) {
            return Err(invalid(why));
        }
        let reapply_signals = req.reset_reapply_type != ResetReapplyType::None as i32
            && !req
                .reset_reapply_exclude_types
                .contains(&(ResetReapplyExcludeType::Signal as i32));
        let signals: Vec<_> = if reapply_signals {
            all.iter()
                .filter(|e| e.event_id >= finish)
                .filter_map(|e| match &e.attributes {
                    Some(A::WorkflowExecutionSignaledEventAttributes(a)) => Some(a.clone()),
                    _ => None,
                })
                .collect()
        } else {
            Vec::new()
        };

        let shard = self.shard_of(&ns.id, &base_key.workflow_id);
        let current_id = self
            .current_run(&ns.id, &base_key.workflow_id)
            .await?
            .ok_or_else(|| Error::NotFound("workflow has no current run".into()))?;
        let current_key = RunKey {
            run_id: current_id.clone(),
            ..base_key.clone()
        };
        let new_run_id = super::new_run_id(false);

        // The new run: copied events, the failed task, reapplied signals, a new task.
        let started_attrs = match copied.first().and_then(|e| e.attributes.clone()) {
            Some(A::WorkflowExecutionStartedEventAttributes(a)) => a,
            _ => {
                return Err(Error::Internal(
                    "history does not begin with a start".into(),
                ));
            }
        };
        let now = now_nanos();
        let run_timeout = dur_nanos(&started_attrs.workflow_run_timeout);
        let ms = MutableState {
            namespace_id: ns.id.clone(),
            workflow_id: base_key.workflow_id.clone(),
            run_id: new_run_id.clone(),
            start_time: now,
            execution_time: now,
            status: WorkflowExecutionStatus::Running as i32,
            next_event_id: finish,
            start_request_id: uuid::Uuid::new_v4().to_string(),
            memo: started_attrs.memo.clone(),
            search_attributes: started_attrs.search_attributes.clone(),
            execution_expiration: ts_nanos(&started_attrs.workflow_execution_expiration_time),
            run_expiration: if run_timeout > 0 {
                now + run_timeout
            } else {
                0
            },
            last_completed_wft_started_id: copied
                .iter()
                .rev()
                .find_map(|e| match &e.attributes {
                    Some(A::WorkflowTaskCompletedEventAttributes(a)) => Some(a.started_event_id),
                    _ => None,
                })
                .unwrap_or(0),
            cancel_requested: copied
                .iter()
                .any(|e| e.event_type == EventType::WorkflowExecutionCancelRequested as i32),
            started: Some(started_attrs),
            ..Default::default()
        };
        let mut txn = Txn::new(self, shard, ms);
        txn.events = copied;
        txn.add(WorkflowTaskFailedEventAttributes {
            scheduled_event_id: scheduled_id,
            started_event_id: started_id,
            cause: WorkflowTaskFailedCause::ResetWorkflow as i32,
            failure: Some(Failure {
                message: req.reason.clone(),
                failure_info: Some(FailureInfo::ResetWorkflowFailureInfo(
                    ResetWorkflowFailureInfo::default(),
                )),
                ..Default::default()
            }),
            identity: "history-service".into(),
            base_run_id: base_key.run_id.clone(),
            new_run_id: new_run_id.clone(),
            ..Default::default()
        });
        for s in signals {
            txn.add(s);
        }
        txn.apply_post_reset(&req.post_reset_operations)?;
        txn.schedule_workflow_task(1);
        if txn.ms.run_expiration > 0 {
            let at = txn.ms.run_expiration;
            txn.task(TaskKind::WorkflowTimeout, at, 0);
        }
        txn.visibility = true;
        let new_key = RunKey {
            run_id: new_run_id.clone(),
            ..base_key.clone()
        };
        let staged_new = txn.finish(new_key, None);

        // The current run, if still running, ends as terminated by the reset.
        let mut guard = self.lock(&current_key).await?;
        let mut parts = Vec::new();
        let running = guard.state().status == WorkflowExecutionStatus::Running as i32;
        let old = if running {
            let mut t = self.begin(&guard);
            t.terminate(&req.reason, None, "history-resetter");
            Some(t.finish(current_key.clone(), guard.slot.loaded.as_ref().map(|l| l.1)))
        } else {
            None
        };
        let current = Some(CurrentRunUpdate::Move {
            from_run_id: current_id,
            run_id: new_run_id.clone(),
        });
        if let Some(old) = old {
            parts.push((Some(&mut guard), old));
        }
        parts.push((None, staged_new));
        self.commit_staged(shard, &base_key.workflow_id, current, parts)
            .await?;
        Ok(ResetWorkflowExecutionResponse { run_id: new_run_id })
    }
}
