//! What the server's own runs (schedules, batch jobs) do to runs on other shards, wherever
//! those are served: start one, stop one, signal or delete one, and tell a scheduler that a
//! run it started closed. A call travels to the shard's node as `SystemCall`.

use prost::Message;
use temporalio_protos::temporal::api::{
    common::v1::{Header, Payloads, ResetOptions, WorkflowExecution, reset_options},
    enums::v1::{EventType, ResetType},
    history::v1::HistoryEvent,
    workflow::v1::PostResetOperation,
    workflowservice::v1::{
        DeleteWorkflowExecutionRequest, RequestCancelWorkflowExecutionRequest,
        ResetWorkflowExecutionRequest, SignalWithStartWorkflowExecutionRequest,
        SignalWorkflowExecutionRequest, TerminateWorkflowExecutionRequest,
        UpdateWorkflowExecutionOptionsRequest,
    },
};

use super::Engine;
use super::schedules::{ScheduledRunClosed, StartCarry};
use super::start::StartFrom;
use crate::error::{Error, Result, invalid};
use crate::peers::{Op, Reply, SystemCall};

#[derive(Clone, Copy, PartialEq, Eq)]
#[repr(i32)]
pub enum CallKind {
    Start = 1,
    Closed = 2,
    Cancel = 3,
    Terminate = 4,
    Signal = 5,
    Delete = 6,
    Reset = 7,
    UpdateOptions = 8,
}

/// One call, encoded into `SystemCall`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SystemCallBody {
    /// See [`CallKind`].
    #[prost(int32, tag = "1")]
    pub kind: i32,
    #[prost(string, tag = "2")]
    pub namespace_id: String,
    /// Start: the run to start.
    #[prost(message, optional, tag = "3")]
    pub request: Option<SignalWithStartWorkflowExecutionRequest>,
    #[prost(message, optional, tag = "4")]
    pub carry: Option<StartCarry>,
    /// Closed: what closed (for the scheduler `workflow_id`).
    #[prost(message, optional, tag = "5")]
    pub closed: Option<ScheduledRunClosed>,
    /// The target; for Closed, the scheduler's workflow id.
    #[prost(string, tag = "6")]
    pub workflow_id: String,
    #[prost(string, tag = "7")]
    pub run_id: String,
    #[prost(string, tag = "8")]
    pub identity: String,
    #[prost(string, tag = "9")]
    pub reason: String,
    /// Terminate: details; signal: input.
    #[prost(message, optional, tag = "10")]
    pub payloads: Option<Payloads>,
    #[prost(string, tag = "11")]
    pub signal_name: String,
    #[prost(message, optional, tag = "12")]
    pub header: Option<Header>,
    /// Signal and reset: its request id (a retried call acts once).
    #[prost(string, tag = "13")]
    pub request_id: String,
    /// Reset: where to (the options' target, else the old reset type) and what to reapply.
    #[prost(message, optional, tag = "14")]
    pub reset_options: Option<ResetOptions>,
    #[prost(int32, tag = "15")]
    pub reset_type: i32,
    #[prost(int32, tag = "16")]
    pub reset_reapply_type: i32,
    /// UpdateOptions: the options and the mask naming those to change.
    #[prost(message, optional, tag = "17")]
    pub options: Option<UpdateWorkflowExecutionOptionsRequest>,
    /// Reset: what to do to the new run.
    #[prost(message, repeated, tag = "18")]
    pub post_reset_operations: Vec<PostResetOperation>,
}

/// The workflow task a batch reset goes back to, found in the target's history as Temporal's
/// batcher finds it: the first (or last) completed workflow task, else the one scheduled.
fn reset_point(
    events: &[HistoryEvent],
    options: Option<&ResetOptions>,
    reset_type: i32,
) -> Result<i64> {
    let target = options.and_then(|o| o.target.clone());
    let last = match target {
        Some(reset_options::Target::WorkflowTaskId(id)) => return Ok(id),
        Some(reset_options::Target::BuildId(_)) => {
            return Err(Error::Internal(
                "a reset to a build id goes by the run's reset points".into(),
            ));
        }
        Some(reset_options::Target::FirstWorkflowTask(_)) => false,
        Some(reset_options::Target::LastWorkflowTask(_)) => true,
        None if reset_type == ResetType::FirstWorkflowTask as i32 => false,
        None if reset_type == ResetType::LastWorkflowTask as i32 => true,
        None => {
            return Err(invalid(format!(
                "provided reset type ({reset_type}) is not supported."
            )));
        }
    };
    let mut found = 0;
    let ordered: Box<dyn Iterator<Item = &HistoryEvent>> = match last {
        true => Box::new(events.iter().rev()),
        false => Box::new(events.iter()),
    };
    for e in ordered {
        if e.event_type == EventType::WorkflowTaskCompleted as i32 {
            return Ok(e.event_id);
        }
        if e.event_type == EventType::WorkflowTaskScheduled as i32 && (last || found == 0) {
            found = e.event_id + 1;
        }
    }
    match found {
        0 => Err(invalid("unable to find any scheduled or completed task")),
        id => Ok(id),
    }
}

/// Where a batch reset to a build id goes, as Temporal's batcher finds it: the run and the
/// first workflow task that build completed, by the target's reset points.
fn build_reset_point(
    ms: &crate::state::MutableState,
    build_id: &str,
    current_run_only: bool,
) -> Result<(String, i64)> {
    let point = ms
        .auto_reset_points
        .iter()
        .find(|p| p.build_id == build_id)
        .ok_or_else(|| invalid(format!("Can't find reset point for {build_id}")))?;
    let expired = point
        .expire_time
        .is_some_and(|t| t.seconds * 1_000_000_000 + i64::from(t.nanos) < crate::time::now_nanos());
    if !point.resettable {
        Err(invalid(format!(
            "Reset point for {build_id} is not resettable"
        )))
    } else if expired {
        Err(invalid(format!("Reset point for {build_id} is expired")))
    } else if current_run_only && point.run_id != ms.run_id {
        Err(invalid(format!(
            "Reset point for {build_id} points to previous run and CurrentRunOnly is set"
        )))
    } else {
        Ok((point.run_id.clone(), point.first_workflow_task_completed_id))
    }
}

impl Engine {
    /// Runs a call on the shard it concerns; a start answers the run id.
    pub(crate) async fn system_call(&self, call: SystemCallBody) -> Result<String> {
        let target = match &call.request {
            Some(r) if call.kind == CallKind::Start as i32 => &r.workflow_id,
            _ => &call.workflow_id,
        };
        let shard = self.shard_of(&call.namespace_id, target);
        let op = Op::SystemCall(SystemCall {
            call: call.encode_to_vec(),
        });
        match self.on_shard(shard, op).await? {
            Reply::RunId(run_id) => Ok(run_id),
            _ => Ok(String::new()),
        }
    }

    pub(crate) async fn system_call_here(&self, call: SystemCall) -> Result<Reply> {
        let call = SystemCallBody::decode(call.call.as_slice())?;
        let ns = self.namespaces().by_id(&call.namespace_id).await?;
        let target = Some(WorkflowExecution {
            workflow_id: call.workflow_id.clone(),
            run_id: call.run_id.clone(),
        });
        let done = Reply::Done(true);
        let kind = call.kind;
        match kind {
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
                    workflow_execution: target,
                    identity: call.identity,
                    reason: call.reason,
                    ..Default::default()
                };
                self.request_cancel(&ns, req).await.map(|_| done)
            }
            k if k == CallKind::Terminate as i32 => {
                let req = TerminateWorkflowExecutionRequest {
                    namespace: ns.name.clone(),
                    workflow_execution: target,
                    identity: call.identity,
                    reason: call.reason,
                    details: call.payloads,
                    ..Default::default()
                };
                self.terminate(&ns, req).await.map(|_| done)
            }
            k if k == CallKind::Signal as i32 => {
                let req = SignalWorkflowExecutionRequest {
                    namespace: ns.name.clone(),
                    workflow_execution: target,
                    signal_name: call.signal_name,
                    input: call.payloads,
                    identity: call.identity,
                    request_id: call.request_id,
                    header: call.header,
                    ..Default::default()
                };
                self.signal(&ns, req).await.map(|_| done)
            }
            k if k == CallKind::Delete as i32 => {
                let req = DeleteWorkflowExecutionRequest {
                    namespace: ns.name.clone(),
                    workflow_execution: target,
                };
                self.delete_workflow(&ns, req).await.map(|_| done)
            }
            k if k == CallKind::Reset as i32 => {
                let key = self
                    .resolve(&ns.id, target.as_ref().expect("set above"))
                    .await?;
                let ms = self.snapshot(&key).await?;
                let options = call.reset_options.unwrap_or_default();
                let (key, event_id) = match &options.target {
                    Some(reset_options::Target::BuildId(build_id)) => {
                        let (run_id, event_id) =
                            build_reset_point(&ms, build_id, options.current_run_only)?;
                        (sundial_store::RunKey { run_id, ..key }, event_id)
                    }
                    _ => {
                        let events = self.read_events(&key, 1, ms.next_event_id - 1).await?;
                        let event_id = reset_point(&events, Some(&options), call.reset_type)?;
                        (key, event_id)
                    }
                };
                #[allow(deprecated)]
                let reapply = match options.reset_reapply_type {
                    0 => call.reset_reapply_type,
                    r => r,
                };
                let req = ResetWorkflowExecutionRequest {
                    namespace: ns.name.clone(),
                    workflow_execution: Some(WorkflowExecution {
                        workflow_id: key.workflow_id.clone(),
                        run_id: key.run_id.clone(),
                    }),
                    reason: call.reason,
                    workflow_task_finish_event_id: event_id,
                    request_id: call.request_id,
                    reset_reapply_type: reapply,
                    reset_reapply_exclude_types: options.reset_reapply_exclude_types,
                    identity: call.identity,
                    post_reset_operations: call.post_reset_operations,
                };
                self.reset_workflow(&ns, req).await.map(|_| done)
            }
            k if k == CallKind::UpdateOptions as i32 => {
                let req = UpdateWorkflowExecutionOptionsRequest {
                    namespace: ns.name.clone(),
                    workflow_execution: target,
                    identity: call.identity,
                    ..call.options.unwrap_or_default()
                };
                self.update_workflow_options(&ns, req).await.map(|_| done)
            }
            other => Err(invalid(format!("unknown system call {other}"))),
        }
    }
}
