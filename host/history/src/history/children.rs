//! Work that crosses from one workflow to another: child workflows, signals and cancel
//! requests to external workflows, and the parent close policy.
//!
//! The command writes its "initiated" event and a durable task in the source run's commit.
//! The task then changes the target run (a commit of its own, on the target's shard) and
//! finally records the outcome in the source run. Every step is idempotent — the target
//! deduplicates by the request id kept in the source's state — so a task that fails part
//! way is simply run again.

use temporalio_protos::temporal::api::{
    command::v1::{
        RequestCancelExternalWorkflowExecutionCommandAttributes,
        SignalExternalWorkflowExecutionCommandAttributes,
        StartChildWorkflowExecutionCommandAttributes,
    },
    common::v1::WorkflowExecution,
    enums::v1::{
        CancelExternalWorkflowExecutionFailedCause, ParentClosePolicy,
        SignalExternalWorkflowExecutionFailedCause, StartChildWorkflowExecutionFailedCause,
        TaskQueueKind, WorkflowExecutionStatus, WorkflowIdConflictPolicy,
        WorkflowTaskFailedCause as Cause,
    },
    history::v1::{
        ChildWorkflowExecutionStartedEventAttributes,
        ExternalWorkflowExecutionCancelRequestedEventAttributes,
        ExternalWorkflowExecutionSignaledEventAttributes,
        RequestCancelExternalWorkflowExecutionFailedEventAttributes,
        RequestCancelExternalWorkflowExecutionInitiatedEventAttributes,
        SignalExternalWorkflowExecutionFailedEventAttributes,
        SignalExternalWorkflowExecutionInitiatedEventAttributes,
        StartChildWorkflowExecutionFailedEventAttributes,
        StartChildWorkflowExecutionInitiatedEventAttributes, history_event::Attributes,
    },
    sdk::v1::UserMetadata,
    taskqueue::v1::TaskQueue,
    workflowservice::v1::SignalWithStartWorkflowExecutionRequest,
};

use prost::Message;

use super::commands::CommandError;
use super::cross::run_ref;
use super::start::ParentLink;
use super::txn::BUFFERED_EVENT_ID;
use super::{Engine, Txn};
use crate::error::{Error, Result};
use crate::peers::{CancelExternal, Op, RecordChildClosed, RunRef, SignalExternal};
type CmdResult<T> = std::result::Result<T, CommandError>;
use crate::state::{
    ChildInfo, ExternalCancelInfo, ExternalSignalInfo, MutableState, Task, TaskKind,
};
use crate::time::{dur, dur_nanos, valid_duration};
use sundial_store::RunKey;

fn bad(cause: Cause, message: impl Into<String>) -> CommandError {
    CommandError {
        cause,
        message: message.into(),
    }
}

fn run_key(namespace_id: &str, workflow_id: &str, run_id: &str) -> RunKey {
    RunKey {
        namespace_id: namespace_id.to_string(),
        workflow_id: workflow_id.to_string(),
        run_id: run_id.to_string(),
    }
}

fn source_key(task: &Task) -> RunKey {
    run_key(&task.namespace_id, &task.workflow_id, &task.run_id)
}

impl Txn<'_> {
    /// (name, id) of the namespace a command names; empty means the run's own.
    fn command_namespace(&self, name: &str, cause: Cause) -> CmdResult<(String, String)> {
        if name.is_empty() || name == self.ns_name {
            return Ok((self.ns_name.clone(), self.ms.namespace_id.clone()));
        }
        match self.ns_ids.get(name) {
            Some(id) => Ok((name.to_string(), id.clone())),
            None => Err(bad(cause, format!("Namespace {name} is not found."))),
        }
    }

    pub fn start_child_command(
        &mut self,
        a: &StartChildWorkflowExecutionCommandAttributes,
        completed_id: i64,
        user_metadata: Option<&UserMetadata>,
    ) -> CmdResult<()> {
        let c = Cause::BadStartChildExecutionAttributes;
        if a.workflow_id.is_empty() {
            return Err(bad(c, "Required field WorkflowId is not set on command."));
        }
        if a.workflow_type.as_ref().is_none_or(|t| t.name.is_empty()) {
            return Err(bad(c, "Required field WorkflowType is not set on command."));
        }
        for d in [
            &a.workflow_execution_timeout,
            &a.workflow_run_timeout,
            &a.workflow_task_timeout,
        ] {
            if !valid_duration(d) {
                return Err(bad(c, "An invalid timeout is set on command."));
            }
        }
        super::start::check_blob(self.engine, &a.input, "input")
            .map_err(|e| bad(c, e.to_string()))?;
        if super::start::validate_retry_policy(&a.retry_policy).is_err() {
            return Err(bad(c, "Invalid retry policy on command."));
        }
        if !a.cron_schedule.is_empty() && super::cron::parse(&a.cron_schedule).is_err() {
            return Err(bad(
                c,
                format!("Invalid cron schedule {:?}.", a.cron_schedule),
            ));
        }
        let (namespace, namespace_id) = self.command_namespace(&a.namespace, c)?;
        let search_attributes = self.checked_search_attributes(
            &namespace_id,
            &a.search_attributes,
            Cause::BadSearchAttributes,
        )?;
        let task_queue = a
            .task_queue
            .as_ref()
            .map(|t| t.name.clone())
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| self.normal_task_queue());
        // As Temporal fills them in: the run timeout bounded by the execution timeout, the
        // task timeout defaulted, capped, and bounded by the run timeout (zero: no limit).
        let run_timeout = super::txn::bounded_run_timeout(
            dur_nanos(&a.workflow_run_timeout),
            dur_nanos(&a.workflow_execution_timeout),
        );
        let mut task_timeout =
            super::txn::wft_timeout_or_default(dur_nanos(&a.workflow_task_timeout));
        if run_timeout > 0 {
            task_timeout = task_timeout.min(run_timeout);
        }
        let attrs = StartChildWorkflowExecutionInitiatedEventAttributes {
            namespace,
            namespace_id: namespace_id.clone(),
            workflow_id: a.workflow_id.clone(),
            workflow_type: a.workflow_type.clone(),
            task_queue: Some(TaskQueue {
                name: task_queue,
                kind: TaskQueueKind::Normal as i32,
                normal_name: String::new(),
            }),
            input: a.input.clone(),
            workflow_execution_timeout: a.workflow_execution_timeout,
            workflow_run_timeout: Some(dur(run_timeout)),
            workflow_task_timeout: Some(dur(task_timeout)),
            parent_close_policy: a.parent_close_policy,
            control: a.control.clone(),
            workflow_task_completed_event_id: completed_id,
            workflow_id_reuse_policy: a.workflow_id_reuse_policy,
            retry_policy: a.retry_policy.clone(),
            cron_schedule: a.cron_schedule.clone(),
            header: a.header.clone(),
            memo: a.memo.clone(),
            search_attributes,
            priority: a.priority.clone(),
            ..Default::default()
        };
        let id = self.add(attrs.clone());
        self.ms.children.push(ChildInfo {
            initiated_event_id: id,
            namespace_id,
            request_id: uuid::Uuid::new_v4().to_string(),
            initiated: Some(attrs),
            user_metadata: user_metadata.cloned(),
            ..Default::default()
        });
        self.task(TaskKind::StartChild, 0, id);
        Ok(())
    }

    pub fn signal_external_command(
        &mut self,
        a: &SignalExternalWorkflowExecutionCommandAttributes,
        completed_id: i64,
    ) -> CmdResult<()> {
        let c = Cause::BadSignalWorkflowExecutionAttributes;
        let exec = a.execution.clone().unwrap_or_default();
        if exec.workflow_id.is_empty() {
            return Err(bad(c, "WorkflowId is not set on command."));
        }
        if a.signal_name.is_empty() {
            return Err(bad(c, "SignalName is not set on command."));
        }
        super::start::check_blob(self.engine, &a.input, "input")
            .map_err(|e| bad(c, e.to_string()))?;
        let (namespace, namespace_id) = self.command_namespace(&a.namespace, c)?;
        let attrs = SignalExternalWorkflowExecutionInitiatedEventAttributes {
            workflow_task_completed_event_id: completed_id,
            namespace,
            namespace_id,
            workflow_execution: Some(exec),
            signal_name: a.signal_name.clone(),
            input: a.input.clone(),
            control: a.control.clone(),
            child_workflow_only: a.child_workflow_only,
            header: a.header.clone(),
        };
        let id = self.add(attrs.clone());
        self.ms.external_signals.push(ExternalSignalInfo {
            initiated_event_id: id,
            request_id: uuid::Uuid::new_v4().to_string(),
            initiated: Some(attrs),
        });
        self.task(TaskKind::SignalExternal, 0, id);
        Ok(())
    }

    pub fn cancel_external_command(
        &mut self,
        a: &RequestCancelExternalWorkflowExecutionCommandAttributes,
        completed_id: i64,
    ) -> CmdResult<()> {
        let c = Cause::BadRequestCancelExternalWorkflowExecutionAttributes;
        if a.workflow_id.is_empty() {
            return Err(bad(c, "WorkflowId is not set on command."));
        }
        let (namespace, namespace_id) = self.command_namespace(&a.namespace, c)?;
        let attrs = RequestCancelExternalWorkflowExecutionInitiatedEventAttributes {
            workflow_task_completed_event_id: completed_id,
            namespace,
            namespace_id,
            workflow_execution: Some(WorkflowExecution {
                workflow_id: a.workflow_id.clone(),
                run_id: a.run_id.clone(),
            }),
            control: a.control.clone(),
            child_workflow_only: a.child_workflow_only,
            reason: a.reason.clone(),
        };
        let id = self.add(attrs.clone());
        self.ms.external_cancels.push(ExternalCancelInfo {
            initiated_event_id: id,
            request_id: uuid::Uuid::new_v4().to_string(),
            initiated: Some(attrs),
        });
        self.task(TaskKind::CancelExternal, 0, id);
        Ok(())
    }

    /// Called as the run closes: children with TERMINATE or REQUEST_CANCEL get a task each;
    /// pending cross-workflow work is dropped.
    pub fn apply_parent_close_policy(&mut self) {
        let children = std::mem::take(&mut self.ms.children);
        for c in children {
            let policy = c
                .initiated
                .as_ref()
                .map(|i| i.parent_close_policy)
                .unwrap_or_default();
            let policy = ParentClosePolicy::try_from(policy).unwrap_or_default();
            if policy == ParentClosePolicy::Abandon || !c.started {
                continue;
            }
            let workflow_id = c
                .initiated
                .as_ref()
                .map(|i| i.workflow_id.clone())
                .unwrap_or_default();
            let t = self.task(TaskKind::ParentClosePolicy, 0, c.initiated_event_id);
            t.target_namespace_id = c.namespace_id;
            t.target_workflow_id = workflow_id;
            t.target_run_id = c.run_id;
            t.policy = policy as i32;
        }
        self.ms.external_signals.clear();
        self.ms.external_cancels.clear();
    }

    /// Records that the child initiated by `initiated_event_id` started as `run_id`.
    pub(super) fn record_child_started(&mut self, idx: usize, run_id: &str) {
        let c = &self.ms.children[idx];
        let i = c.initiated.clone().unwrap_or_default();
        let id = self.add_external(ChildWorkflowExecutionStartedEventAttributes {
            namespace: i.namespace,
            namespace_id: c.namespace_id.clone(),
            initiated_event_id: c.initiated_event_id,
            workflow_execution: Some(WorkflowExecution {
                workflow_id: i.workflow_id,
                run_id: run_id.to_string(),
            }),
            workflow_type: i.workflow_type,
            header: i.header,
        });
        let c = &mut self.ms.children[idx];
        c.started = true;
        c.run_id = run_id.to_string();
        if id != BUFFERED_EVENT_ID {
            c.started_event_id = id;
        }
    }
}

impl Engine {
    /// Runs a cross-workflow task. `NotFound` means there is nothing left to do.
    pub(crate) async fn process_transfer_task(&self, task: &Task) -> Result<()> {
        match task.task_kind() {
            TaskKind::StartChild => self.start_child(task).await,
            TaskKind::SignalExternal => self.signal_external(task).await,
            TaskKind::CancelExternal => self.cancel_external(task).await,
            TaskKind::NotifyParent => self.notify_parent(task).await,
            TaskKind::ParentClosePolicy => self.parent_close_policy(task).await,
            _ => Ok(()),
        }
    }

    async fn start_child(&self, task: &Task) -> Result<()> {
        let key = source_key(task);
        let (child, parent_root) = {
            let guard = self.lock(&key).await?;
            let ms = guard.state();
            if ms.status != WorkflowExecutionStatus::Running as i32 {
                return Ok(());
            }
            let Some(c) = ms
                .children
                .iter()
                .find(|c| c.initiated_event_id == task.event_id && !c.started)
            else {
                return Ok(());
            };
            let root = ms
                .started
                .as_ref()
                .and_then(|s| s.root_workflow_execution.clone());
            (c.clone(), root)
        };
        let i = child.initiated.clone().unwrap_or_default();
        let parent_ns = self.namespaces().by_id(&key.namespace_id).await?;
        let outcome = match self.namespaces().by_id(&child.namespace_id).await {
            Ok(child_ns) => {
                let req = SignalWithStartWorkflowExecutionRequest {
                    namespace: child_ns.name.clone(),
                    workflow_id: i.workflow_id.clone(),
                    workflow_type: i.workflow_type.clone(),
                    task_queue: i.task_queue.clone(),
                    input: i.input.clone(),
                    workflow_execution_timeout: i.workflow_execution_timeout,
                    workflow_run_timeout: i.workflow_run_timeout,
                    workflow_task_timeout: i.workflow_task_timeout,
                    request_id: child.request_id.clone(),
                    workflow_id_reuse_policy: i.workflow_id_reuse_policy,
                    workflow_id_conflict_policy: WorkflowIdConflictPolicy::Fail as i32,
                    retry_policy: i.retry_policy.clone(),
                    cron_schedule: i.cron_schedule.clone(),
                    memo: i.memo.clone(),
                    search_attributes: i.search_attributes.clone(),
                    header: i.header.clone(),
                    priority: i.priority.clone(),
                    user_metadata: child.user_metadata.clone(),
                    ..Default::default()
                };
                let link = ParentLink {
                    namespace: parent_ns.name.clone(),
                    namespace_id: parent_ns.id.clone(),
                    execution: WorkflowExecution {
                        workflow_id: key.workflow_id.clone(),
                        run_id: key.run_id.clone(),
                    },
                    initiated_event_id: child.initiated_event_id,
                    root: parent_root,
                };
                match self.start_child_anywhere(&child_ns.id, req, &link).await {
                    Ok(run_id) => Ok(run_id),
                    Err(Error::WorkflowAlreadyStarted { .. }) => {
                        Err(StartChildWorkflowExecutionFailedCause::WorkflowAlreadyExists)
                    }
                    Err(e) => return Err(e),
                }
            }
            Err(Error::NamespaceNotFound { .. }) => {
                Err(StartChildWorkflowExecutionFailedCause::NamespaceNotFound)
            }
            Err(e) => return Err(e),
        };
        let mut guard = self.lock(&key).await?;
        let mut txn = self.begin(&guard);
        if !txn.running() {
            return Ok(());
        }
        let Some(idx) = txn
            .ms
            .children
            .iter()
            .position(|c| c.initiated_event_id == task.event_id && !c.started)
        else {
            return Ok(());
        };
        match outcome {
            Ok(run_id) => txn.record_child_started(idx, &run_id),
            Err(cause) => {
                txn.ms.children.remove(idx);
                txn.add_external(StartChildWorkflowExecutionFailedEventAttributes {
                    namespace: i.namespace.clone(),
                    namespace_id: child.namespace_id.clone(),
                    workflow_id: i.workflow_id.clone(),
                    workflow_type: i.workflow_type.clone(),
                    cause: cause as i32,
                    control: i.control.clone(),
                    initiated_event_id: child.initiated_event_id,
                    // The real server leaves this unset on the failure event.
                    workflow_task_completed_event_id: 0,
                });
            }
        }
        txn.schedule_workflow_task(1);
        self.commit(&mut guard, txn).await
    }

    /// The still-pending request `find` picks from a running source run.
    async fn pending_external<T: Clone>(
        &self,
        key: &RunKey,
        find: impl Fn(&MutableState) -> Option<&T>,
    ) -> Result<Option<T>> {
        let guard = self.lock(key).await?;
        let ms = guard.state();
        if ms.status != WorkflowExecutionStatus::Running as i32 {
            return Ok(None);
        }
        Ok(find(ms).cloned())
    }

    /// Locks the run a request from `source` is for (only a child of it, if so asked).
    pub(super) async fn lock_target(
        &self,
        source: &RunKey,
        namespace_id: &str,
        exec: &WorkflowExecution,
        child_only: bool,
    ) -> Result<super::RunGuard> {
        let target = self.resolve(namespace_id, exec).await?;
        let g = self.lock(&target).await?;
        if child_only && !is_child_of(g.state(), source) {
            return Err(Error::NotFound("not a child of the sender".into()));
        }
        Ok(g)
    }

    /// Writes a request's outcome into the source run, if `take` still finds it pending there.
    async fn record_external(
        &self,
        key: &RunKey,
        take: impl FnOnce(&mut MutableState) -> bool,
        event: Attributes,
    ) -> Result<()> {
        let mut guard = self.lock(key).await?;
        let mut txn = self.begin(&guard);
        if !txn.running() || !take(&mut txn.ms) {
            return Ok(());
        }
        txn.add_external(event);
        txn.schedule_workflow_task(1);
        self.commit(&mut guard, txn).await
    }

    async fn signal_external(&self, task: &Task) -> Result<()> {
        let key = source_key(task);
        let id = task.event_id;
        let Some(info) = self
            .pending_external(&key, |ms| {
                ms.external_signals
                    .iter()
                    .find(|s| s.initiated_event_id == id)
            })
            .await?
        else {
            return Ok(());
        };
        let a = info.initiated.clone().unwrap_or_default();
        let exec = a.workflow_execution.clone().unwrap_or_default();
        let delivered = self
            .on_shard(
                self.shard_of(&a.namespace_id, &exec.workflow_id),
                Op::SignalExternal(SignalExternal {
                    source: Some(run_ref(&key)),
                    target_namespace_id: a.namespace_id.clone(),
                    target_workflow_id: exec.workflow_id.clone(),
                    target_run_id: exec.run_id.clone(),
                    child_only: a.child_workflow_only,
                    signal_name: a.signal_name.clone(),
                    input: a
                        .input
                        .as_ref()
                        .map(|p| p.encode_to_vec())
                        .unwrap_or_default(),
                    header: a
                        .header
                        .as_ref()
                        .map(|h| h.encode_to_vec())
                        .unwrap_or_default(),
                    request_id: info.request_id.clone(),
                }),
            )
            .await
            .map(drop);
        let event: Attributes = match missing_target(delivered)? {
            None => ExternalWorkflowExecutionSignaledEventAttributes {
                initiated_event_id: id,
                namespace: a.namespace.clone(),
                namespace_id: a.namespace_id.clone(),
                workflow_execution: Some(exec),
                control: a.control.clone(),
            }
            .into(),
            Some(namespace_missing) => SignalExternalWorkflowExecutionFailedEventAttributes {
                cause: if namespace_missing {
                    SignalExternalWorkflowExecutionFailedCause::NamespaceNotFound
                } else {
                    SignalExternalWorkflowExecutionFailedCause::ExternalWorkflowExecutionNotFound
                } as i32,
                // The real server leaves this unset on the failure event.
                workflow_task_completed_event_id: 0,
                namespace: a.namespace.clone(),
                namespace_id: a.namespace_id.clone(),
                workflow_execution: Some(exec),
                initiated_event_id: id,
                control: a.control.clone(),
            }
            .into(),
        };
        let take = |ms: &mut MutableState| {
            let before = ms.external_signals.len();
            ms.external_signals.retain(|s| s.initiated_event_id != id);
            ms.external_signals.len() < before
        };
        self.record_external(&key, take, event).await
    }

    async fn cancel_external(&self, task: &Task) -> Result<()> {
        let key = source_key(task);
        let id = task.event_id;
        let Some(info) = self
            .pending_external(&key, |ms| {
                ms.external_cancels
                    .iter()
                    .find(|s| s.initiated_event_id == id)
            })
            .await?
        else {
            return Ok(());
        };
        let a = info.initiated.clone().unwrap_or_default();
        let exec = a.workflow_execution.clone().unwrap_or_default();
        let delivered = self
            .on_shard(
                self.shard_of(&a.namespace_id, &exec.workflow_id),
                Op::CancelExternal(CancelExternal {
                    source: Some(run_ref(&key)),
                    target_namespace_id: a.namespace_id.clone(),
                    target_workflow_id: exec.workflow_id.clone(),
                    target_run_id: exec.run_id.clone(),
                    child_only: a.child_workflow_only,
                    reason: a.reason.clone(),
                    request_id: info.request_id.clone(),
                    initiated_event_id: id,
                }),
            )
            .await
            .map(drop);
        let event: Attributes = match missing_target(delivered)? {
            None => ExternalWorkflowExecutionCancelRequestedEventAttributes {
                initiated_event_id: id,
                namespace: a.namespace.clone(),
                namespace_id: a.namespace_id.clone(),
                workflow_execution: Some(exec),
            }
            .into(),
            Some(namespace_missing) => RequestCancelExternalWorkflowExecutionFailedEventAttributes {
                cause: if namespace_missing {
                    CancelExternalWorkflowExecutionFailedCause::NamespaceNotFound
                } else {
                    CancelExternalWorkflowExecutionFailedCause::ExternalWorkflowExecutionNotFound
                } as i32,
                workflow_task_completed_event_id: 0,
                namespace: a.namespace.clone(),
                namespace_id: a.namespace_id.clone(),
                workflow_execution: Some(exec),
                initiated_event_id: id,
                control: a.control.clone(),
            }
            .into(),
        };
        let take = |ms: &mut MutableState| {
            let before = ms.external_cancels.len();
            ms.external_cancels.retain(|s| s.initiated_event_id != id);
            ms.external_cancels.len() < before
        };
        self.record_external(&key, take, event).await
    }

    /// A child run closed for good: record its outcome in the parent.
    async fn notify_parent(&self, task: &Task) -> Result<()> {
        let key = source_key(task);
        let child = self.snapshot(&key).await?;
        let started = child.started.clone().unwrap_or_default();
        let Some(parent_exec) = started.parent_workflow_execution.clone() else {
            return Ok(());
        };
        let Some(close) = self
            .read_events(&key, task.event_id, task.event_id)
            .await?
            .pop()
        else {
            return Ok(());
        };
        let parent_shard = self.shard_of(
            &started.parent_workflow_namespace_id,
            &parent_exec.workflow_id,
        );
        self.on_shard(
            parent_shard,
            Op::RecordChildClosed(RecordChildClosed {
                parent: Some(RunRef {
                    namespace_id: started.parent_workflow_namespace_id.clone(),
                    workflow_id: parent_exec.workflow_id.clone(),
                    run_id: parent_exec.run_id.clone(),
                }),
                child_started: started.encode_to_vec(),
                child_workflow_id: child.workflow_id.clone(),
                child_run_id: child.run_id.clone(),
                close_event: close.encode_to_vec(),
            }),
        )
        .await
        .map(drop)
    }

    async fn parent_close_policy(&self, task: &Task) -> Result<()> {
        let shard = self.shard_of(&task.target_namespace_id, &task.target_workflow_id);
        self.on_shard(
            shard,
            Op::ParentClosePolicy(crate::peers::ParentClosePolicy {
                task: task.encode_to_vec(),
            }),
        )
        .await
        .map(drop)
    }
}

/// Sorts a delivery's result: `Ok(None)` delivered, `Ok(Some(namespace_missing))` the target
/// does not exist (or is closed), `Err` a failure worth retrying.
fn missing_target(delivered: Result<()>) -> Result<Option<bool>> {
    match delivered {
        Ok(()) => Ok(None),
        Err(Error::NotFound(_)) | Err(Error::InvalidArgument(_)) => Ok(Some(false)),
        Err(Error::NamespaceNotFound { .. }) => Ok(Some(true)),
        Err(e) => Err(e),
    }
}

/// Whether `ms` is a run started as a child of the run `parent`.
fn is_child_of(ms: &MutableState, parent: &RunKey) -> bool {
    ms.started
        .as_ref()
        .and_then(|s| s.parent_workflow_execution.as_ref())
        .is_some_and(|p| p.workflow_id == parent.workflow_id)
}
