//! The side of cross-workflow work that runs where the other run lives, and the seam that
//! sends it there: [`Engine::on_shard`] runs an operation here when this node owns the shard,
//! else on its owner through [`crate::peers::Peers`]. The same operations serve another node's
//! matching, which records a task's start in the run it belongs to.

use prost::Message;
use temporalio_protos::temporal::api::{
    common::v1::{Header, Payloads, WorkflowExecution},
    enums::v1::{ParentClosePolicy, WorkflowExecutionStatus},
    history::v1::{
        ChildWorkflowExecutionCanceledEventAttributes,
        ChildWorkflowExecutionCompletedEventAttributes,
        ChildWorkflowExecutionFailedEventAttributes,
        ChildWorkflowExecutionTerminatedEventAttributes,
        ChildWorkflowExecutionTimedOutEventAttributes, HistoryEvent,
        WorkflowExecutionStartedEventAttributes, history_event::Attributes,
    },
    workflowservice::v1::SignalWithStartWorkflowExecutionRequest,
};

use super::Engine;
use super::start::ParentLink;
use super::txn::BUFFERED_EVENT_ID;
use crate::error::{Error, Result};
use crate::matching::Queued;
use crate::peers::{
    self, CancelExternal, HistoryReply, HistoryRequest, Op, QueuedTask, RecordChildClosed,
    RecordTaskStarted, Reply, RunRef, SignalExternal, StartChild,
};
use crate::state::Task;
use sundial_store::RunKey;

pub(crate) fn run_ref(key: &RunKey) -> RunRef {
    RunRef {
        namespace_id: key.namespace_id.clone(),
        workflow_id: key.workflow_id.clone(),
        run_id: key.run_id.clone(),
    }
}

fn execution_of(key: &RunKey) -> WorkflowExecution {
    WorkflowExecution {
        workflow_id: key.workflow_id.clone(),
        run_id: key.run_id.clone(),
    }
}

fn run_key(r: Option<RunRef>) -> RunKey {
    let r = r.unwrap_or_default();
    RunKey {
        namespace_id: r.namespace_id,
        workflow_id: r.workflow_id,
        run_id: r.run_id,
    }
}

/// An optional message sent as bytes (empty: none).
fn decode_opt<M: Message + Default>(bytes: &[u8]) -> Result<Option<M>> {
    if bytes.is_empty() {
        Ok(None)
    } else {
        Ok(Some(M::decode(bytes)?))
    }
}

pub(crate) fn queued_to_wire(q: &Queued) -> QueuedTask {
    QueuedTask {
        shard_id: q.shard_id,
        range_id: q.range_id,
        task_id: q.task_id,
        task: q.task.encode_to_vec(),
    }
}

pub(crate) fn queued_from_wire(t: Option<QueuedTask>) -> Result<Queued> {
    let t = t.ok_or_else(|| Error::InvalidArgument("no task".into()))?;
    Ok(Queued {
        shard_id: t.shard_id,
        range_id: t.range_id,
        task_id: t.task_id,
        task: Task::decode(t.task.as_slice())?,
    })
}

pub(super) fn unexpected(reply: Reply) -> Error {
    Error::Internal(format!("unexpected reply from a peer node: {reply:?}"))
}

impl Engine {
    /// Runs `op` on the node that owns `shard_id`: here when this node owns it.
    pub(crate) async fn on_shard(&self, shard_id: i32, op: Op) -> Result<Reply> {
        if self.inner.shards.range(shard_id).is_ok() {
            // Boxed: an operation may run cross-workflow work of its own.
            return Box::pin(self.apply_here(op)).await;
        }
        let Some(node) = self.peers().shard_owner(shard_id) else {
            return Err(Error::ShardNotOwned { shard_id });
        };
        let reply = self
            .peers()
            .history(
                &node,
                HistoryRequest {
                    shard_id,
                    op: Some(op),
                },
            )
            .await?;
        match reply.result {
            Some(Reply::Failure(f)) => Err(peers::error(f)),
            Some(r) => Ok(r),
            None => Err(Error::Internal(format!("empty reply from node {node}"))),
        }
    }

    /// Serves a history operation another node sends (the internal History service).
    pub async fn apply_history(&self, request: HistoryRequest) -> HistoryReply {
        let shard_id = request.shard_id;
        let result = match request.op {
            None => Err(Error::InvalidArgument("no operation".into())),
            Some(_) if shard_id < 0 || shard_id >= self.inner.shards.count() => {
                Err(Error::InvalidArgument(format!("no shard {shard_id}")))
            }
            Some(_) if self.inner.shards.range(shard_id).is_err() => {
                Err(Error::ShardNotOwned { shard_id })
            }
            Some(op) => self.apply_here(op).await,
        };
        HistoryReply {
            result: Some(result.unwrap_or_else(|e| Reply::Failure(peers::failure(e)))),
        }
    }

    async fn apply_here(&self, op: Op) -> Result<Reply> {
        const DONE: Reply = Reply::Done(true);
        match op {
            Op::StartChild(o) => self.start_child_here(o).await.map(Reply::RunId),
            Op::SignalExternal(o) => self.signal_external_here(o).await.map(|_| DONE),
            Op::CancelExternal(o) => self.cancel_external_here(o).await.map(|_| DONE),
            Op::RecordChildClosed(o) => self.record_child_closed_here(o).await.map(|_| DONE),
            Op::ParentClosePolicy(o) => {
                let task = Task::decode(o.task.as_slice())?;
                self.parent_close_here(&task).await.map(|_| DONE)
            }
            Op::RecordTaskStarted(o) => self
                .record_task_started_here(o)
                .await
                .map(Reply::PollResponse),
            Op::QueryTask(o) => {
                let q = queued_from_wire(o.task)?;
                let started = self.start_here(&q, &Default::default()).await?;
                Ok(Reply::PollResponse(
                    started.map(|s| s.encode_to_vec()).unwrap_or_default(),
                ))
            }
            Op::SystemCall(o) => self.system_call_here(o).await,
            Op::RunTimerTask(o) => {
                let q = queued_from_wire(o.task)?;
                if !self.is_current_here(&q)? {
                    return Ok(DONE);
                }
                self.process_timer_task(&q.task).await?;
                self.ack(&q);
                Ok(DONE)
            }
        }
    }

    /// Starts a child run wherever its shard is; its run id.
    pub(crate) async fn start_child_anywhere(
        &self,
        child_namespace_id: &str,
        request: SignalWithStartWorkflowExecutionRequest,
        link: &ParentLink,
    ) -> Result<String> {
        let shard = self.shard_of(child_namespace_id, &request.workflow_id);
        let op = Op::StartChild(StartChild {
            child_namespace_id: child_namespace_id.to_string(),
            request: request.encode_to_vec(),
            parent_namespace: link.namespace.clone(),
            parent: Some(RunRef {
                namespace_id: link.namespace_id.clone(),
                workflow_id: link.execution.workflow_id.clone(),
                run_id: link.execution.run_id.clone(),
            }),
            initiated_event_id: link.initiated_event_id,
            root: link
                .root
                .as_ref()
                .map(|r| r.encode_to_vec())
                .unwrap_or_default(),
        });
        match self.on_shard(shard, op).await? {
            Reply::RunId(run_id) => Ok(run_id),
            other => Err(unexpected(other)),
        }
    }

    async fn start_child_here(&self, o: StartChild) -> Result<String> {
        let child_ns = self.namespaces().by_id(&o.child_namespace_id).await?;
        let request = SignalWithStartWorkflowExecutionRequest::decode(o.request.as_slice())?;
        let parent = o.parent.unwrap_or_default();
        let link = ParentLink {
            namespace: o.parent_namespace,
            namespace_id: parent.namespace_id,
            execution: WorkflowExecution {
                workflow_id: parent.workflow_id,
                run_id: parent.run_id,
            },
            initiated_event_id: o.initiated_event_id,
            root: decode_opt(&o.root)?,
        };
        let (run_id, _) = self
            .start_or_signal_with(
                &child_ns,
                request,
                false,
                super::start::StartFrom {
                    parent: Some(&link),
                    ..Default::default()
                },
            )
            .await?;
        Ok(run_id)
    }

    async fn signal_external_here(&self, o: SignalExternal) -> Result<()> {
        let source = run_key(o.source);
        let exec = WorkflowExecution {
            workflow_id: o.target_workflow_id,
            run_id: o.target_run_id,
        };
        let mut g = self
            .lock_target(&source, &o.target_namespace_id, &exec, o.child_only)
            .await?;
        self.signal_locked(
            &mut g,
            &o.signal_name,
            decode_opt::<Payloads>(&o.input)?,
            "history-service",
            decode_opt::<Header>(&o.header)?,
            &o.request_id,
            Some(execution_of(&source)),
        )
        .await
    }

    async fn cancel_external_here(&self, o: CancelExternal) -> Result<()> {
        let source = run_key(o.source);
        let exec = WorkflowExecution {
            workflow_id: o.target_workflow_id,
            run_id: o.target_run_id,
        };
        let mut g = self
            .lock_target(&source, &o.target_namespace_id, &exec, o.child_only)
            .await?;
        // Like Temporal: asking a closed workflow to cancel counts as delivered.
        if g.state().status != WorkflowExecutionStatus::Running as i32 {
            return Ok(());
        }
        self.cancel_locked(
            &mut g,
            &o.reason,
            "history-service",
            &o.request_id,
            Some((o.initiated_event_id, execution_of(&source))),
        )
        .await
    }

    /// A child run closed for good: record its outcome in the parent.
    async fn record_child_closed_here(&self, o: RecordChildClosed) -> Result<()> {
        let started = WorkflowExecutionStartedEventAttributes::decode(o.child_started.as_slice())?;
        let close = HistoryEvent::decode(o.close_event.as_slice())?;
        let parent = o.parent.unwrap_or_default();
        let parent_exec = WorkflowExecution {
            workflow_id: parent.workflow_id,
            run_id: parent.run_id,
        };
        let child = WorkflowExecution {
            workflow_id: o.child_workflow_id,
            run_id: o.child_run_id,
        };
        let parent_key = RunKey {
            namespace_id: started.parent_workflow_namespace_id.clone(),
            workflow_id: parent_exec.workflow_id.clone(),
            run_id: parent_exec.run_id.clone(),
        };
        let mut guard = self.lock(&parent_key).await?;
        let mut txn = self.begin(&guard);
        if !txn.running() {
            return Ok(());
        }
        let Some(mut idx) = txn
            .ms
            .children
            .iter()
            .position(|c| c.initiated_event_id == started.parent_initiated_event_id)
        else {
            return Ok(());
        };
        if !txn.ms.children[idx].started {
            // The child closed before its start was recorded here: record that first.
            txn.record_child_started(idx, &started.first_execution_run_id);
            idx = txn
                .ms
                .children
                .iter()
                .position(|c| c.initiated_event_id == started.parent_initiated_event_id)
                .expect("still there");
        }
        let c = txn.ms.children.remove(idx);
        let i = c.initiated.clone().unwrap_or_default();
        let started_event_id = if c.started_event_id > 0 {
            c.started_event_id
        } else {
            BUFFERED_EVENT_ID
        };
        let (namespace, namespace_id) = (i.namespace.clone(), c.namespace_id.clone());
        let workflow_execution = Some(WorkflowExecution {
            workflow_id: child.workflow_id.clone(),
            run_id: child.run_id.clone(),
        });
        let workflow_type = i.workflow_type.clone();
        let initiated_event_id = c.initiated_event_id;
        use Attributes as A;
        let event: Attributes = match close.attributes {
            Some(A::WorkflowExecutionCompletedEventAttributes(a)) => {
                ChildWorkflowExecutionCompletedEventAttributes {
                    result: a.result,
                    namespace,
                    namespace_id,
                    workflow_execution,
                    workflow_type,
                    initiated_event_id,
                    started_event_id,
                }
                .into()
            }
            Some(A::WorkflowExecutionFailedEventAttributes(a)) => {
                ChildWorkflowExecutionFailedEventAttributes {
                    failure: a.failure,
                    namespace,
                    namespace_id,
                    workflow_execution,
                    workflow_type,
                    initiated_event_id,
                    started_event_id,
                    retry_state: a.retry_state,
                }
                .into()
            }
            Some(A::WorkflowExecutionCanceledEventAttributes(a)) => {
                ChildWorkflowExecutionCanceledEventAttributes {
                    details: a.details,
                    namespace,
                    namespace_id,
                    workflow_execution,
                    workflow_type,
                    initiated_event_id,
                    started_event_id,
                }
                .into()
            }
            Some(A::WorkflowExecutionTimedOutEventAttributes(a)) => {
                ChildWorkflowExecutionTimedOutEventAttributes {
                    namespace,
                    namespace_id,
                    workflow_execution,
                    workflow_type,
                    initiated_event_id,
                    started_event_id,
                    retry_state: a.retry_state,
                }
                .into()
            }
            Some(A::WorkflowExecutionTerminatedEventAttributes(_)) => {
                ChildWorkflowExecutionTerminatedEventAttributes {
                    namespace,
                    namespace_id,
                    workflow_execution,
                    workflow_type,
                    initiated_event_id,
                    started_event_id,
                }
                .into()
            }
            _ => return Ok(()),
        };
        txn.add_external(event);
        txn.schedule_workflow_task(1);
        self.commit(&mut guard, txn).await
    }

    async fn parent_close_here(&self, task: &Task) -> Result<()> {
        let exec = WorkflowExecution {
            workflow_id: task.target_workflow_id.clone(),
            run_id: String::new(),
        };
        let key = match self
            .resolve_chain(&task.target_namespace_id, &exec, &task.target_run_id)
            .await
        {
            Ok(k) => k,
            Err(Error::NotFound(_)) => return Ok(()),
            Err(e) => return Err(e),
        };
        let mut guard = self.lock(&key).await?;
        if guard.state().status != WorkflowExecutionStatus::Running as i32 {
            return Ok(());
        }
        let result = match ParentClosePolicy::try_from(task.policy).unwrap_or_default() {
            ParentClosePolicy::RequestCancel => {
                let parent = WorkflowExecution {
                    workflow_id: task.workflow_id.clone(),
                    run_id: task.run_id.clone(),
                };
                self.cancel_locked(
                    &mut guard,
                    "",
                    "history-service",
                    &format!("parent-close-{}-{}", task.run_id, task.event_id),
                    Some((0, parent)),
                )
                .await
            }
            ParentClosePolicy::Abandon => Ok(()),
            _ => {
                let mut txn = self.begin(&guard);
                txn.terminate("by parent close policy", None, "history-service");
                self.commit(&mut guard, txn).await
            }
        };
        drop(guard);
        match result {
            Err(Error::NotFound(_)) => Ok(()),
            other => other,
        }
    }

    /// Records the start of a task another node's poller took, in a run of this node's shard,
    /// and returns the encoded poll response; empty when the task is stale (the shard moved
    /// since it was queued) or there is nothing left to start.
    async fn record_task_started_here(&self, o: RecordTaskStarted) -> Result<Vec<u8>> {
        let q = queued_from_wire(o.task)?;
        // A stale copy is dropped by the caller; a later owner's task (an error) is kept,
        // and tried again on that owner.
        if !self.is_current_here(&q)? {
            return Ok(Vec::new());
        }
        let poller = sundial_matching::Poller {
            identity: o.identity,
            build_id: o.build_id,
            ..Default::default()
        };
        let started = self.start_here(&q, &poller).await?;
        Ok(started.map(|s| s.encode_to_vec()).unwrap_or_default())
    }

    /// Runs a task of a shard on its owner and acknowledges it there.
    pub(crate) async fn run_task_anywhere(&self, q: &Queued) -> Result<()> {
        let op = Op::RunTimerTask(crate::peers::RunTimerTask {
            task: Some(queued_to_wire(q)),
        });
        self.on_shard(q.shard_id, op).await.map(drop)
    }

    /// Whether this node owns the shard now.
    pub fn owns_shard(&self, shard_id: i32) -> bool {
        self.inner.shards.range(shard_id).is_ok()
    }
}
