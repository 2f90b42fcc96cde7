//! The other nodes of a cluster, as the engine sees them: who owns a shard or a task queue by
//! the current placement, and how to call their history and matching services. The server
//! implements [`Peers`] over the internal gRPC API; one process alone uses [`NoPeers`].

use async_trait::async_trait;
pub use sundial_internal_api::{
    AddTaskRequest, CancelExternal, CancelWorkerPollsRequest, Failure, HistoryReply,
    HistoryRequest, ParentClosePolicy, QueryTask, QueuedTask, RecordChildClosed, RecordTaskStarted,
    RunRef, RunTimerTask, SignalExternal, StartChild, SystemCall, history_reply::Result as Reply,
    history_request::Op,
};

use crate::error::{Error, Result};

#[async_trait]
pub trait Peers: Send + Sync + 'static {
    /// The node that owns `shard_id` by the current placement; `None` for this node.
    fn shard_owner(&self, shard_id: i32) -> Option<String>;
    /// The node that owns a task queue (kind 1: workflow, 2: activity); `None` for this node.
    fn queue_owner(&self, namespace_id: &str, queue: &str, kind: i32) -> Option<String>;
    /// The session of `node` in the current view: a node restarted under its name has a new
    /// one (and none of what its previous process held in memory).
    fn session(&self, node: &str) -> Option<String>;
    /// Runs a history operation on `node`. Transport failures are `Unavailable`.
    async fn history(&self, node: &str, request: HistoryRequest) -> Result<HistoryReply>;
    /// Hands a task to `node`'s matching; false when it was for a sticky queue that no worker
    /// polls there. Transport failures are `Unavailable`.
    async fn add_task(&self, node: &str, request: AddTaskRequest) -> Result<bool>;
    /// Ends the polls of a worker that shut down on `node`. Transport failures are
    /// `Unavailable`.
    async fn cancel_worker_polls(
        &self,
        node: &str,
        request: CancelWorkerPollsRequest,
    ) -> Result<()>;
}

/// A node alone: it owns everything.
pub struct NoPeers;

#[async_trait]
impl Peers for NoPeers {
    fn shard_owner(&self, _: i32) -> Option<String> {
        None
    }
    fn queue_owner(&self, _: &str, _: &str, _: i32) -> Option<String> {
        None
    }
    fn session(&self, _: &str) -> Option<String> {
        None
    }
    async fn history(&self, node: &str, _: HistoryRequest) -> Result<HistoryReply> {
        Err(Error::Unavailable(format!("no peer node {node}")))
    }
    async fn add_task(&self, node: &str, _: AddTaskRequest) -> Result<bool> {
        Err(Error::Unavailable(format!("no peer node {node}")))
    }
    async fn cancel_worker_polls(&self, node: &str, _: CancelWorkerPollsRequest) -> Result<()> {
        Err(Error::Unavailable(format!("no peer node {node}")))
    }
}

/// An engine error as it travels to another node.
pub fn failure(e: Error) -> Failure {
    let mut f = Failure {
        message: e.to_string(),
        ..Default::default()
    };
    f.kind = match e {
        Error::NotFound(_) => "not_found",
        Error::NamespaceNotFound { namespace, .. } => {
            f.namespace = namespace;
            "namespace_not_found"
        }
        Error::WorkflowAlreadyStarted {
            start_request_id,
            run_id,
            first_execution_run_id,
            ..
        } => {
            f.run_id = run_id;
            f.start_request_id = start_request_id;
            f.first_execution_run_id = first_execution_run_id;
            "already_started"
        }
        Error::ShardNotOwned { shard_id } => {
            f.shard_id = shard_id;
            "shard_not_owned"
        }
        Error::InvalidArgument(_) => "invalid_argument",
        Error::FailedPrecondition(_) => "failed_precondition",
        Error::Unavailable(_) => "unavailable",
        Error::Conflict(_) => "conflict",
        Error::DeadlineExceeded(_) => "deadline_exceeded",
        _ => "internal",
    }
    .to_string();
    f
}

/// The engine error a failure from another node stands for.
pub fn error(f: Failure) -> Error {
    match f.kind.as_str() {
        "not_found" => Error::NotFound(f.message),
        "namespace_not_found" => Error::NamespaceNotFound {
            namespace: f.namespace,
            message: f.message,
        },
        "already_started" => Error::WorkflowAlreadyStarted {
            message: f.message,
            start_request_id: f.start_request_id,
            run_id: f.run_id,
            first_execution_run_id: f.first_execution_run_id,
        },
        "shard_not_owned" => Error::ShardNotOwned {
            shard_id: f.shard_id,
        },
        "invalid_argument" => Error::InvalidArgument(f.message),
        "failed_precondition" => Error::FailedPrecondition(f.message),
        "unavailable" => Error::Unavailable(f.message),
        "conflict" => Error::Conflict(f.message),
        "deadline_exceeded" => Error::DeadlineExceeded(f.message),
        _ => Error::Internal(f.message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_survive_the_trip() {
        let cases = [
            Error::NotFound("gone".into()),
            Error::NamespaceNotFound {
                namespace: "ns".into(),
                message: "Namespace ns is not found.".into(),
            },
            Error::WorkflowAlreadyStarted {
                message: "started".into(),
                start_request_id: "r".into(),
                run_id: "run".into(),
                first_execution_run_id: "first".into(),
            },
            Error::ShardNotOwned { shard_id: 3 },
            Error::Unavailable("later".into()),
        ];
        for e in cases {
            let text = format!("{e:?}");
            assert_eq!(format!("{:?}", error(failure(e))), text);
        }
    }
}
