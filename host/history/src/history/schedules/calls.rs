//! A scheduler's dealings with runs on other shards, wherever those are served: starting a
//! run, stopping one, and the notice that a run a schedule started has closed.

use prost::Message;
use temporalio_protos::temporal::api::{
    common::v1::WorkflowExecution,
    history::v1::history_event::Attributes,
    workflowservice::v1::{
        RequestCancelWorkflowExecutionRequest, TerminateWorkflowExecutionRequest,
    },
};

use super::{CallKind, SCHEDULED_BY_ID, ScheduledRunClosed, SchedulerCallBody, workflow_id};
use crate::error::{Error, Result, invalid};
use crate::history::Engine;
use crate::history::start::StartFrom;
use crate::peers::{Op, Reply, SchedulerCall};
use crate::state::{MutableState, Task};

/// The schedule that started a run, from the run's `TemporalScheduledById`.
pub(crate) fn scheduled_by(ms: &MutableState) -> Option<String> {
    let p = ms
        .search_attributes
        .as_ref()?
        .indexed_fields
        .get(SCHEDULED_BY_ID)?;
    serde_json::from_slice::<String>(&p.data).ok()
}

impl Engine {
    /// Runs a call on the shard it concerns; a start answers the run id.
    pub(crate) async fn scheduler_call(&self, call: SchedulerCallBody) -> Result<String> {
        let target = match &call.request {
            Some(r) if call.kind == CallKind::Start as i32 => &r.workflow_id,
            _ => &call.workflow_id,
        };
        let shard = self.shard_of(&call.namespace_id, target);
        let op = Op::SchedulerCall(SchedulerCall {
            call: call.encode_to_vec(),
        });
        match self.on_shard(shard, op).await? {
            Reply::RunId(run_id) => Ok(run_id),
            _ => Ok(String::new()),
        }
    }

    pub(crate) async fn scheduler_call_here(&self, call: SchedulerCall) -> Result<Reply> {
        let call = SchedulerCallBody::decode(call.call.as_slice())?;
        let ns = self.namespaces().by_id(&call.namespace_id).await?;
        let target = WorkflowExecution {
            workflow_id: call.workflow_id.clone(),
            run_id: call.run_id.clone(),
        };
        let done = Reply::Done(true);
        match call.kind {
            k if k == CallKind::Start as i32 => {
                let request = call.request.ok_or_else(|| invalid("no start request"))?;
                let carry = call.carry.unwrap_or_default();
                let from = StartFrom {
                    carry: Some(&carry),
                    ..Default::default()
                };
                let (run_id, _) = self.start_or_signal_with(&ns, request, false, from).await?;
                Ok(Reply::RunId(run_id))
            }
            k if k == CallKind::Closed as i32 => {
                let exec = WorkflowExecution {
                    workflow_id: call.workflow_id,
                    run_id: String::new(),
                };
                let key = match self.resolve(&ns.id, &exec).await {
                    Ok(key) => key,
                    // The schedule is gone: nobody to tell.
                    Err(Error::NotFound(_)) => return Ok(done),
                    Err(e) => return Err(e),
                };
                match self.run_scheduler(&key, call.closed).await {
                    Ok(()) | Err(Error::NotFound(_)) => Ok(done),
                    Err(e) => Err(e),
                }
            }
            k if k == CallKind::Cancel as i32 => {
                let req = RequestCancelWorkflowExecutionRequest {
                    namespace: ns.name.clone(),
                    workflow_execution: Some(target),
                    identity: call.identity,
                    reason: "cancelled by schedule overlap policy".into(),
                    ..Default::default()
                };
                self.request_cancel(&ns, req).await.map(|_| done)
            }
            k if k == CallKind::Terminate as i32 => {
                let req = TerminateWorkflowExecutionRequest {
                    namespace: ns.name.clone(),
                    workflow_execution: Some(target),
                    identity: call.identity,
                    reason: "terminated by schedule overlap policy".into(),
                    ..Default::default()
                };
                self.terminate(&ns, req).await.map(|_| done)
            }
            other => Err(invalid(format!("unknown scheduler call {other}"))),
        }
    }

    /// A run a schedule started closed (task `ScheduledRunClosed`): tells the scheduler.
    pub(crate) async fn notify_scheduler(&self, task: &Task) -> Result<()> {
        let key = task.run_key();
        let ms = self.snapshot(&key).await?;
        let Some(schedule_id) = scheduled_by(&ms) else {
            return Ok(());
        };
        let close = self
            .read_events(&key, ms.close_event_id, ms.close_event_id)
            .await?
            .pop();
        let (result, failure) = match close.and_then(|e| e.attributes) {
            Some(Attributes::WorkflowExecutionCompletedEventAttributes(a)) => (a.result, None),
            Some(Attributes::WorkflowExecutionFailedEventAttributes(a)) => (None, a.failure),
            _ => (None, None),
        };
        let first_run_id = ms
            .started
            .as_ref()
            .map(|s| s.first_execution_run_id.clone())
            .unwrap_or_default();
        let call = SchedulerCallBody {
            kind: CallKind::Closed as i32,
            namespace_id: key.namespace_id.clone(),
            workflow_id: workflow_id(&schedule_id),
            closed: Some(ScheduledRunClosed {
                workflow_id: key.workflow_id.clone(),
                first_run_id,
                status: ms.status,
                result,
                failure,
            }),
            ..Default::default()
        };
        self.scheduler_call(call).await.map(drop)
    }
}
