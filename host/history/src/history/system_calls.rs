//! What the server's own runs (schedules, batch jobs) do to runs on other shards, wherever
//! those are served: start one, stop one, signal or delete one, and tell a scheduler that a
//! run it started closed. A call travels to the shard's node as `SystemCall`.

use prost::Message;
use temporalio_protos::temporal::api::{
    common::v1::{Header, Payloads, WorkflowExecution},
    workflowservice::v1::{
        DeleteWorkflowExecutionRequest, RequestCancelWorkflowExecutionRequest,
        SignalWithStartWorkflowExecutionRequest, SignalWorkflowExecutionRequest,
        TerminateWorkflowExecutionRequest,
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
    /// Signal: its request id (a retried call signals once).
    #[prost(string, tag = "13")]
    pub request_id: String,
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
            other => Err(invalid(format!("unknown system call {other}"))),
        }
    }
}
