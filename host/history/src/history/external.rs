//! Changes requested from outside the workflow: signal, cancel request, terminate.

use temporalio_protos::temporal::api::{
    common::v1::{Header, Payloads, WorkflowExecution},
    enums::v1::{WorkflowExecutionStatus, WorkflowTaskFailedCause},
    history::v1::{
        WorkflowExecutionCancelRequestedEventAttributes, WorkflowExecutionSignaledEventAttributes,
        WorkflowExecutionTerminatedEventAttributes, WorkflowTaskFailedEventAttributes,
    },
    workflowservice::v1::{
        RequestCancelWorkflowExecutionRequest, SignalWorkflowExecutionRequest,
        TerminateWorkflowExecutionRequest,
    },
};

use super::start::{check_blob, check_id};
use super::{Engine, RunGuard, Txn};
use crate::error::{Error, Result};
use crate::namespace::Namespace;
use crate::state::MutableState;

/// How many applied request ids a run remembers for deduplication.
const REMEMBERED_REQUEST_IDS: usize = 100;

fn completed() -> Error {
    Error::NotFound("workflow execution already completed".into())
}

impl Txn<'_> {
    /// Fails a running workflow task because the run is being closed from outside.
    fn fail_started_workflow_task(&mut self, cause: WorkflowTaskFailedCause) {
        if let Some(wft) = self.ms.workflow_task.clone()
            && wft.started_event_id > 0
            && !self.ms.transient_wft
        {
            self.add(WorkflowTaskFailedEventAttributes {
                scheduled_event_id: wft.scheduled_event_id,
                started_event_id: wft.started_event_id,
                cause: cause as i32,
                ..Default::default()
            });
            self.ms.workflow_task = None;
        }
        self.flush_buffered();
    }

    pub fn terminate(&mut self, reason: &str, details: Option<Payloads>, identity: &str) {
        self.fail_started_workflow_task(WorkflowTaskFailedCause::ForceCloseCommand);
        self.add(WorkflowExecutionTerminatedEventAttributes {
            reason: reason.to_string(),
            details,
            identity: identity.to_string(),
        });
        self.close(WorkflowExecutionStatus::Terminated);
    }

    /// Closes the run as timed out (its run or execution deadline passed).
    pub fn time_out(&mut self) {
        use temporalio_protos::temporal::api::{
            enums::v1::RetryState, history::v1::WorkflowExecutionTimedOutEventAttributes,
        };
        self.fail_started_workflow_task(WorkflowTaskFailedCause::ForceCloseCommand);
        self.add(WorkflowExecutionTimedOutEventAttributes {
            retry_state: RetryState::Timeout as i32,
            new_execution_run_id: String::new(),
        });
        self.close(WorkflowExecutionStatus::TimedOut);
    }

    fn remember_request(&mut self, request_id: &str) -> bool {
        if request_id.is_empty() {
            return true;
        }
        if self.ms.applied_request_ids.iter().any(|r| r == request_id) {
            return false;
        }
        self.ms.applied_request_ids.push(request_id.to_string());
        if self.ms.applied_request_ids.len() > REMEMBERED_REQUEST_IDS {
            self.ms.applied_request_ids.remove(0);
        }
        true
    }
}

impl Engine {
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn signal_locked(
        &self,
        guard: &mut RunGuard,
        name: &str,
        input: Option<Payloads>,
        identity: &str,
        header: Option<Header>,
        request_id: &str,
        external: Option<WorkflowExecution>,
    ) -> Result<()> {
        let mut txn = self.begin(guard);
        if !txn.running() {
            return Err(completed());
        }
        if !txn.remember_request(request_id) {
            return Ok(());
        }
        txn.add_external(WorkflowExecutionSignaledEventAttributes {
            signal_name: name.to_string(),
            input,
            identity: identity.to_string(),
            header,
            request_id: request_id.to_string(),
            external_workflow_execution: external,
            ..Default::default()
        });
        txn.schedule_workflow_task(1);
        self.commit(guard, txn).await
    }

    /// Signals a run; answers the id of the run signalled.
    pub async fn signal(
        &self,
        ns: &Namespace,
        req: SignalWorkflowExecutionRequest,
    ) -> Result<String> {
        check_id(self, &req.signal_name, "SignalName")?;
        check_blob(self, &req.input, "signal input")?;
        let exec = req.workflow_execution.clone().unwrap_or_default();
        let key = self.resolve(&ns.id, &exec).await?;
        let mut guard = self.lock(&key).await?;
        self.signal_locked(
            &mut guard,
            &req.signal_name,
            req.input,
            &req.identity,
            req.header,
            &req.request_id,
            None,
        )
        .await?;
        Ok(key.run_id)
    }

    pub async fn request_cancel(
        &self,
        ns: &Namespace,
        req: RequestCancelWorkflowExecutionRequest,
    ) -> Result<()> {
        let exec = req.workflow_execution.clone().unwrap_or_default();
        let key = self.resolve(&ns.id, &exec).await?;
        let mut guard = self.lock(&key).await?;
        // As on Temporal: asking a closed run to cancel succeeds and changes nothing.
        if guard.state().status != WorkflowExecutionStatus::Running as i32 {
            return Ok(());
        }
        self.check_chain(guard.state(), &req.first_execution_run_id)?;
        self.cancel_locked(
            &mut guard,
            &req.reason,
            &req.identity,
            &req.request_id,
            None,
        )
        .await
    }

    /// Records a cancel request on a locked run (`external`: the initiated event id and
    /// execution of the workflow that asked).
    pub(crate) async fn cancel_locked(
        &self,
        guard: &mut RunGuard,
        reason: &str,
        identity: &str,
        request_id: &str,
        external: Option<(i64, WorkflowExecution)>,
    ) -> Result<()> {
        let mut txn = self.begin(guard);
        if !txn.running() {
            return Err(completed());
        }
        if txn.ms.cancel_requested || !txn.remember_request(request_id) {
            return Ok(());
        }
        txn.ms.cancel_requested = true;
        let (external_initiated_event_id, external_workflow_execution) = match external {
            Some((id, exec)) => (id, Some(exec)),
            None => (0, None),
        };
        txn.add_external(WorkflowExecutionCancelRequestedEventAttributes {
            cause: reason.to_string(),
            identity: identity.to_string(),
            external_initiated_event_id,
            external_workflow_execution,
        });
        txn.schedule_workflow_task(1);
        self.commit(guard, txn).await
    }

    pub async fn terminate(
        &self,
        ns: &Namespace,
        req: TerminateWorkflowExecutionRequest,
    ) -> Result<()> {
        check_blob(self, &req.details, "details")?;
        let exec = req.workflow_execution.clone().unwrap_or_default();
        let key = self
            .resolve_chain(&ns.id, &exec, &req.first_execution_run_id)
            .await?;
        let mut guard = self.lock(&key).await?;
        let mut txn = self.begin(&guard);
        if !txn.running() {
            return Err(completed());
        }
        txn.terminate(&req.reason, req.details.clone(), &req.identity);
        self.commit(&mut guard, txn).await?;
        Ok(())
    }

    /// Resolves an execution; with `first_execution_run_id` set, the run must belong to
    /// that chain.
    pub(crate) async fn resolve_chain(
        &self,
        namespace_id: &str,
        exec: &WorkflowExecution,
        first_run_id: &str,
    ) -> Result<sundial_store::RunKey> {
        let key = self.resolve(namespace_id, exec).await?;
        if !first_run_id.is_empty() {
            self.check_chain(&self.snapshot(&key).await?, first_run_id)?;
        }
        Ok(key)
    }

    /// With `first_run_id` set, the run must belong to that chain.
    fn check_chain(&self, ms: &MutableState, first_run_id: &str) -> Result<()> {
        let first = ms
            .started
            .as_ref()
            .map(|s| s.first_execution_run_id.as_str())
            .unwrap_or("");
        if !first_run_id.is_empty() && first != first_run_id {
            return Err(Error::NotFound(format!(
                "workflow execution not found: first execution run id {first_run_id} does not match"
            )));
        }
        Ok(())
    }
}
