//! Update-with-start (ExecuteMultiOperation): start a workflow, or use the running one, and
//! update it, with Temporal's rules for which run takes the update.

use temporalio_protos::temporal::api::{
    common::v1::WorkflowExecution,
    enums::v1::{WorkflowExecutionStatus, WorkflowIdConflictPolicy},
    workflowservice::v1::{
        StartWorkflowExecutionRequest, StartWorkflowExecutionResponse,
        UpdateWorkflowExecutionRequest,
    },
};

use super::Engine;
use super::updates::{stage_of, update_response, want_stage};
use crate::error::invalid;
use crate::namespace::Namespace;
use sundial_services::UpdateWithStart;
use sundial_store::RunKey;

impl Engine {
    /// Update-with-start: the update is admitted before the run starts, so the run's first
    /// workflow task carries it. Errors name the operation that failed (0 start, 1 update).
    pub async fn update_with_start(
        &self,
        ns: &Namespace,
        start: StartWorkflowExecutionRequest,
        update: UpdateWorkflowExecutionRequest,
        wait: std::time::Duration,
    ) -> UpdateWithStart {
        let request = update.request.clone().unwrap_or_default();
        let update_id = request
            .meta
            .as_ref()
            .map(|m| m.update_id.clone())
            .unwrap_or_default();
        if update_id.is_empty() || request.input.as_ref().is_none_or(|i| i.name.is_empty()) {
            return Err((1, invalid("Update ID and name must be set on request.")));
        }
        let wid = start.workflow_id.clone();
        let target = update.workflow_execution.clone().unwrap_or_default();
        if !target.workflow_id.is_empty() && target.workflow_id != wid {
            return Err((
                1,
                invalid("WorkflowId is not consistent with previous operation(s)."),
            ));
        }
        if !target.run_id.is_empty() {
            return Err((1, invalid("RunId is not allowed.")));
        }
        if !update.first_execution_run_id.is_empty() {
            return Err((1, invalid("FirstExecutionRunId is not allowed.")));
        }
        if !start.cron_schedule.is_empty() {
            return Err((0, invalid("CronSchedule is not allowed.")));
        }
        if start.request_eager_execution {
            return Err((0, invalid("RequestEagerExecution is not supported.")));
        }
        if crate::time::dur_nanos(&start.workflow_start_delay) > 0 {
            return Err((0, invalid("WorkflowStartDelay is not supported.")));
        }
        let wait_for = want_stage(&update.wait_policy);
        // As on Temporal: the current run answers an update it completed, and a running one
        // takes the update when the start is a retry of its own, when it knows the update
        // already, or when the conflict policy says to use it.
        if let Some(run_id) = self.current_run(&ns.id, &wid).await.map_err(|e| (0, e))? {
            let key = RunKey {
                namespace_id: ns.id.clone(),
                workflow_id: wid.clone(),
                run_id,
            };
            let ms = self.snapshot(&key).await.map_err(|e| (0, e))?;
            let running = ms.status == WorkflowExecutionStatus::Running as i32;
            let stored = ms.updates.iter().find(|u| u.update_id == update_id);
            if let Some(u) = stored.filter(|u| u.completed_event_id > 0) {
                let started = StartWorkflowExecutionResponse {
                    run_id: key.run_id.clone(),
                    started: false,
                    status: ms.status,
                    ..Default::default()
                };
                return Ok((started, update_response(&key, &update_id, stage_of(u, &ms))));
            }
            let attach = ms.start_request_id == start.request_id
                || stored.is_some()
                || self.inner.updates.subscribe(&key, &update_id).is_some()
                || start.workflow_id_conflict_policy
                    == WorkflowIdConflictPolicy::UseExisting as i32;
            if running && attach {
                return self.update_running(ns, &key, update, wait).await;
            }
        }
        // Admit against the workflow id (any run): the new run's first task picks it up.
        let probe = RunKey {
            namespace_id: ns.id.clone(),
            workflow_id: wid.clone(),
            run_id: String::new(),
        };
        let (rx, fresh) = self.inner.updates.admit(&probe, request);
        let started = match self.start_workflow(ns, start).await {
            Ok(s) => s,
            Err(e) => {
                if fresh {
                    self.inner.updates.remove(&probe, &update_id);
                }
                return Err((0, e));
            }
        };
        let key = RunKey {
            run_id: started.run_id.clone(),
            ..probe.clone()
        };
        if started.started {
            let resp = self
                .wait_update(&key, &update_id, rx, wait_for, wait)
                .await
                .map_err(|e| (1, e))?;
            return Ok((started, resp));
        }
        // Another start won the race to a running workflow that the policy lets us use.
        if fresh {
            self.inner.updates.remove(&probe, &update_id);
        }
        let (_, resp) = self.update_running(ns, &key, update, wait).await?;
        Ok((started, resp))
    }

    /// The update of update-with-start, applied to the running run `key`.
    async fn update_running(
        &self,
        ns: &Namespace,
        key: &RunKey,
        update: UpdateWorkflowExecutionRequest,
        wait: std::time::Duration,
    ) -> UpdateWithStart {
        let req = UpdateWorkflowExecutionRequest {
            workflow_execution: Some(WorkflowExecution {
                workflow_id: key.workflow_id.clone(),
                run_id: key.run_id.clone(),
            }),
            ..update
        };
        let resp = self
            .update_workflow(ns, req, wait)
            .await
            .map_err(|e| (1, e))?;
        let started = StartWorkflowExecutionResponse {
            run_id: key.run_id.clone(),
            started: false,
            status: WorkflowExecutionStatus::Running as i32,
            ..Default::default()
        };
        Ok((started, resp))
    }
}
