//! Workflow tasks: poll (record started), complete (apply commands), fail, time out.

use prost::Message;
use temporalio_protos::temporal::api::{
    common::v1::WorkflowExecution,
    enums::v1::{TaskQueueKind, TimeoutType, WorkflowTaskFailedCause},
    failure::v1::Failure,
    history::v1::{
        History, HistoryEvent, WorkflowExecutionStartedEventAttributes,
        WorkflowTaskCompletedEventAttributes, WorkflowTaskFailedEventAttributes,
        WorkflowTaskScheduledEventAttributes, WorkflowTaskTimedOutEventAttributes,
    },
    taskqueue::v1::TaskQueue,
    workflow::v1::ResetPointInfo,
    workflowservice::v1::{
        PollWorkflowTaskQueueResponse, RespondWorkflowTaskCompletedRequest,
        RespondWorkflowTaskCompletedResponse, RespondWorkflowTaskFailedRequest,
    },
};

use super::commands::is_close_command;
use super::{Engine, RunGuard, Txn};
use crate::error::{Error, Result, invalid};
use crate::matching::Queued;
use crate::namespace::Namespace;
use crate::state::{Task, TaskKind, TaskToken, WorkflowTaskInfo};
use crate::time::{dur_nanos, opt_ts, ts};
use sundial_matching::Poller;
use sundial_store::{CurrentRunUpdate, RunKey};

fn wft_not_found() -> Error {
    Error::NotFound("Workflow task not found.".into())
}

/// How many automatic reset points a run keeps (Temporal's `limit.maxResetPoints` default).
const MAX_RESET_POINTS: usize = 20;

impl Txn<'_> {
    /// Notes the first workflow task each worker build (or binary checksum) completed: where
    /// an operator may reset the run to, as Temporal's auto-reset points.
    fn add_reset_point(&mut self, binary_checksum: &str, build_id: &str, completed_id: i64) {
        let points = &mut self.ms.auto_reset_points;
        if points
            .iter()
            .any(|p| p.binary_checksum == binary_checksum && p.build_id == build_id)
        {
            return;
        }
        let resettable = self.ms.children.is_empty()
            && self.ms.external_cancels.is_empty()
            && self.ms.external_signals.is_empty();
        points.push(ResetPointInfo {
            binary_checksum: binary_checksum.to_string(),
            build_id: build_id.to_string(),
            run_id: self.ms.run_id.clone(),
            first_workflow_task_completed_id: completed_id,
            create_time: Some(ts(self.now)),
            resettable,
            ..Default::default()
        });
        if points.len() > MAX_RESET_POINTS {
            points.remove(0);
        }
    }

    /// Records a failed (or timed out) workflow task and schedules the next attempt.
    pub fn fail_workflow_task(
        &mut self,
        cause: WorkflowTaskFailedCause,
        failure: Option<Failure>,
        identity: &str,
    ) {
        if self.ms.transient_wft
            && self
                .ms
                .workflow_task
                .as_ref()
                .is_some_and(|w| w.speculative && w.started_event_id > 0)
        {
            // A failed speculative task is recorded like a normal one.
            self.write_transient();
        }
        let Some(wft) = self.ms.workflow_task.take() else {
            return;
        };
        if !std::mem::take(&mut self.ms.transient_wft) {
            self.add(WorkflowTaskFailedEventAttributes {
                scheduled_event_id: wft.scheduled_event_id,
                started_event_id: wft.started_event_id,
                cause: cause as i32,
                failure,
                identity: identity.to_string(),
                ..Default::default()
            });
        }
        self.ms.sticky_task_queue.clear();
        let new_events = self.flush_buffered();
        self.schedule_workflow_task(if new_events { 1 } else { wft.attempt + 1 });
    }

    /// The workflow task's start-to-close timeout or a sticky schedule-to-start timeout fired.
    pub fn workflow_task_timeout(&mut self, task: &Task) {
        let Some(wft) = self.ms.workflow_task.clone() else {
            return;
        };
        if wft.scheduled_event_id != task.event_id || wft.stamp != task.stamp {
            return;
        }
        match task.task_kind() {
            TaskKind::WorkflowTaskTimeout
                if wft.started_event_id > 0 && wft.attempt == task.attempt =>
            {
                if !std::mem::take(&mut self.ms.transient_wft) {
                    self.add(WorkflowTaskTimedOutEventAttributes {
                        scheduled_event_id: wft.scheduled_event_id,
                        started_event_id: wft.started_event_id,
                        timeout_type: TimeoutType::StartToClose as i32,
                    });
                }
                self.ms.workflow_task = None;
                self.ms.sticky_task_queue.clear();
                let new_events = self.flush_buffered();
                self.schedule_workflow_task(if new_events { 1 } else { wft.attempt + 1 });
            }
            TaskKind::StickyTimeout if wft.started_event_id == 0 && wft.sticky => {
                self.add(WorkflowTaskTimedOutEventAttributes {
                    scheduled_event_id: wft.scheduled_event_id,
                    started_event_id: 0,
                    timeout_type: TimeoutType::ScheduleToStart as i32,
                });
                self.ms.workflow_task = None;
                self.ms.sticky_task_queue.clear();
                self.schedule_workflow_task(wft.attempt);
            }
            _ => {}
        }
    }
}

impl Engine {
    pub(super) async fn record_workflow_task_started(
        &self,
        q: &Queued,
        poller: &Poller,
    ) -> Result<Option<PollWorkflowTaskQueueResponse>> {
        let task = &q.task;
        let key = task.run_key();
        let Some(mut guard) = self.lock_if_exists(&key).await? else {
            return Ok(None);
        };
        let mut txn = self.begin(&guard);
        let Some(mut wft) = txn.ms.workflow_task.clone().filter(|w| {
            w.scheduled_event_id == task.event_id
                && w.stamp == task.stamp
                && w.started_event_id == 0
        }) else {
            return Ok(None);
        };
        if !txn.running() {
            return Ok(None);
        }
        let request_id = uuid::Uuid::new_v4().to_string();
        if txn.ms.transient_wft && wft.scheduled_event_id != txn.ms.next_event_id {
            // Events arrived while the retry waited: it becomes a normal first attempt.
            txn.ms.transient_wft = false;
            wft.attempt = 1;
            wft.scheduled_event_id = txn.add(WorkflowTaskScheduledEventAttributes {
                task_queue: Some(TaskQueue {
                    name: wft.task_queue.clone(),
                    kind: TaskQueueKind::Normal as i32,
                    normal_name: String::new(),
                }),
                start_to_close_timeout: Some(crate::time::dur(wft.timeout_nanos)),
                attempt: 1,
            });
        }
        let wft = txn.start_workflow_task(wft, poller, request_id);
        let started_id = wft.started_event_id;
        let transient = if txn.ms.transient_wft {
            txn.transient_events()
        } else {
            Vec::new()
        };
        let ms_prev_started = txn.ms.last_completed_wft_started_id;
        let started = txn.ms.started.clone().unwrap_or_default();
        self.commit(&mut guard, txn).await?;
        let queries = self.inner.queries.attach(&key);
        let messages =
            super::updates::request_messages(self.inner.updates.take_for_task(&key), started_id);
        let from = if wft.sticky { ms_prev_started + 1 } else { 1 };
        let mut events = self.locked_events(&mut guard, from, started_id).await?;
        drop(guard);
        events.extend(transient);
        let mut response = workflow_task_response(&key, &wft, ms_prev_started, started, events);
        response.queries = queries;
        response.messages = messages;
        Ok(Some(response))
    }

    /// The first workflow task of a run that the start request `request_id` started eagerly,
    /// for the start response; `None` when it did not (or the task has moved on since).
    pub(crate) async fn eager_workflow_task(
        &self,
        key: &RunKey,
        request_id: &str,
    ) -> Result<Option<PollWorkflowTaskQueueResponse>> {
        let ms = self.snapshot(key).await?;
        let Some(wft) = ms
            .workflow_task
            .clone()
            .filter(|w| w.started_event_id > 0 && w.request_id == request_id && !ms.transient_wft)
        else {
            return Ok(None);
        };
        let events = self.read_events(key, 1, wft.started_event_id).await?;
        let started = ms.started.clone().unwrap_or_default();
        Ok(Some(workflow_task_response(
            key,
            &wft,
            ms.last_completed_wft_started_id,
            started,
            events,
        )))
    }

    /// Ids of the other namespaces that commands name (unknown ones are left out: the command
    /// then fails the workflow task).
    async fn command_namespaces(
        &self,
        ns: &Namespace,
        commands: &[temporalio_protos::temporal::api::command::v1::Command],
    ) -> Result<std::collections::HashMap<String, String>> {
        use temporalio_protos::temporal::api::command::v1::command::Attributes as C;
        let mut out = std::collections::HashMap::new();
        for c in commands {
            let name = match &c.attributes {
                Some(C::StartChildWorkflowExecutionCommandAttributes(a)) => &a.namespace,
                Some(C::SignalExternalWorkflowExecutionCommandAttributes(a)) => &a.namespace,
                Some(C::RequestCancelExternalWorkflowExecutionCommandAttributes(a)) => &a.namespace,
                _ => continue,
            };
            if name.is_empty() || *name == ns.name || out.contains_key(name) {
                continue;
            }
            match self.namespaces().by_name(name).await {
                Ok(other) => {
                    out.insert(name.clone(), other.id.clone());
                }
                Err(Error::NamespaceNotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// Locks the run of a workflow task token and checks the task is the running one.
    async fn locate_workflow_task(
        &self,
        ns: &Namespace,
        token: &[u8],
    ) -> Result<(RunGuard, TaskToken)> {
        let t = self.decode_token(ns, token)?;
        if t.activity {
            return Err(invalid("Activity task token used for a workflow task."));
        }
        let key = RunKey {
            namespace_id: t.namespace_id.clone(),
            workflow_id: t.workflow_id.clone(),
            run_id: t.run_id.clone(),
        };
        let guard = self.lock(&key).await.map_err(|e| match e {
            Error::NotFound(_) => wft_not_found(),
            e => e,
        })?;
        let ok = guard.state().workflow_task.as_ref().is_some_and(|w| {
            w.scheduled_event_id == t.scheduled_event_id
                && w.started_event_id == t.started_event_id
                && w.started_event_id > 0
        });
        if !ok
            || guard.state().status
                != temporalio_protos::temporal::api::enums::v1::WorkflowExecutionStatus::Running
                    as i32
        {
            return Err(wft_not_found());
        }
        Ok((guard, t))
    }

    pub async fn complete_workflow_task(
        &self,
        ns: &Namespace,
        req: RespondWorkflowTaskCompletedRequest,
    ) -> Result<RespondWorkflowTaskCompletedResponse> {
        let ns_ids = self.command_namespaces(ns, &req.commands).await?;
        let (mut guard, _token) = self.locate_workflow_task(ns, &req.task_token).await?;
        self.inner
            .queries
            .complete_attached(&guard.key, &req.query_results);
        let mut txn = self.begin(&guard);
        txn.ns_name = ns.name.clone();
        txn.ns_ids = ns_ids;
        let wft = txn.ms.workflow_task.clone().expect("checked by locate");
        match &req.sticky_attributes {
            Some(s)
                if s.worker_task_queue
                    .as_ref()
                    .is_some_and(|q| !q.name.is_empty()) =>
            {
                txn.ms.sticky_task_queue = s
                    .worker_task_queue
                    .as_ref()
                    .map(|q| q.name.clone())
                    .unwrap_or_default();
                txn.ms.sticky_schedule_to_start_nanos = dur_nanos(&s.schedule_to_start_timeout);
            }
            _ => txn.ms.sticky_task_queue.clear(),
        }
        // A close command while new events wait would lose them: fail the task instead.
        if !txn.ms.buffered_events.is_empty() && req.commands.iter().any(is_close_command) {
            txn.fail_workflow_task(
                WorkflowTaskFailedCause::UnhandledCommand,
                None,
                &req.identity,
            );
            self.commit(&mut guard, txn).await?;
            return Ok(Default::default());
        }
        let key = guard.key.clone();
        txn.messages = req.messages.clone();
        // A task scheduled only for updates that the worker all rejected, with nothing else
        // to record, leaves no trace (Temporal's speculative workflow task).
        if txn.ms.transient_wft
            && wft.speculative
            && req.commands.is_empty()
            && !super::updates::messages_write_events(&req.messages)
            && txn.ms.buffered_events.is_empty()
            && !req.force_create_new_workflow_task
        {
            if let Err(err) = txn.apply_remaining_messages() {
                return Err(invalid(err.message));
            }
            txn.ms.workflow_task = None;
            txn.ms.transient_wft = false;
            self.inner.updates.unsend_except(&key, &txn.update_notices);
            if self.inner.updates.waiting(&key) {
                txn.schedule_speculative_workflow_task();
            }
            let reset_to = txn.ms.last_completed_wft_started_id;
            self.commit(&mut guard, txn).await?;
            // The worker rolls its state back to the last task that was written.
            return Ok(RespondWorkflowTaskCompletedResponse {
                reset_history_event_id: reset_to,
                ..Default::default()
            });
        }
        txn.write_transient();
        let completed_id = txn.add(WorkflowTaskCompletedEventAttributes {
            scheduled_event_id: wft.scheduled_event_id,
            started_event_id: wft.started_event_id,
            identity: req.identity.clone(),
            binary_checksum: req.binary_checksum.clone(),
            worker_version: req.worker_version_stamp.clone(),
            sdk_metadata: req.sdk_metadata.clone(),
            metering_metadata: req.metering_metadata,
            ..Default::default()
        });
        txn.ms.workflow_task = None;
        txn.ms.last_completed_wft_started_id = wft.started_event_id;
        txn.ms.most_recent_worker_version = req.worker_version_stamp.clone();
        let build_id = req
            .deployment_options
            .as_ref()
            .map(|d| d.build_id.as_str())
            .filter(|b| !b.is_empty())
            .or(req
                .worker_version_stamp
                .as_ref()
                .map(|s| s.build_id.as_str()))
            .unwrap_or_default();
        txn.add_reset_point(&req.binary_checksum, build_id, completed_id);
        let applied = txn
            .apply_commands(&req.commands, completed_id, &req.identity)
            .and_then(|fx| {
                if txn.running() {
                    txn.apply_remaining_messages()?;
                }
                Ok(fx)
            });
        let effects = match applied {
            Ok(fx) => fx,
            Err(err) => {
                self.inner.updates.unsend(&key);
                // Nothing of the commands is kept: record the failed task instead.
                let mut txn = self.begin(&guard);
                txn.fail_workflow_task(
                    err.cause,
                    Some(Failure {
                        message: err.message.clone(),
                        ..Default::default()
                    }),
                    &req.identity,
                );
                self.commit(&mut guard, txn).await?;
                return Err(invalid(err.message));
            }
        };
        let had_buffered = txn.flush_buffered();
        self.inner.updates.unsend_except(&key, &txn.update_notices);
        if had_buffered
            || req.force_create_new_workflow_task
            || effects.needs_workflow_task
            || self.inner.updates.waiting(&key)
        {
            txn.schedule_workflow_task(1);
        }
        match effects.next_run {
            None => self.commit(&mut guard, txn).await?,
            Some((new_run_id, run)) => {
                let key = guard.key.clone();
                let version = guard.slot.loaded.as_ref().map(|l| l.1);
                let old = txn.finish(key.clone(), version);
                let shard = guard.shard_id;
                let new = self.new_run(shard, &key.namespace_id, &new_run_id, run);
                let current = Some(CurrentRunUpdate::Move {
                    from_run_id: key.run_id.clone(),
                    run_id: new_run_id,
                });
                self.commit_staged(
                    shard,
                    &key.workflow_id,
                    current,
                    vec![(Some(&mut guard), old), (None, new)],
                )
                .await?;
            }
        }
        Ok(RespondWorkflowTaskCompletedResponse::default())
    }

    pub async fn fail_workflow_task(
        &self,
        ns: &Namespace,
        req: RespondWorkflowTaskFailedRequest,
    ) -> Result<()> {
        let (mut guard, _) = self.locate_workflow_task(ns, &req.task_token).await?;
        self.inner.queries.requeue_attached(&guard.key);
        self.inner.updates.unsend(&guard.key);
        let mut txn = self.begin(&guard);
        let cause = WorkflowTaskFailedCause::try_from(req.cause)
            .unwrap_or(WorkflowTaskFailedCause::Unspecified);
        txn.fail_workflow_task(cause, req.failure.clone(), &req.identity);
        self.commit(&mut guard, txn).await
    }
}

/// What a poller (or an eager start) receives for a started workflow task.
fn workflow_task_response(
    key: &RunKey,
    wft: &WorkflowTaskInfo,
    previous_started_event_id: i64,
    started: WorkflowExecutionStartedEventAttributes,
    events: Vec<HistoryEvent>,
) -> PollWorkflowTaskQueueResponse {
    let token = TaskToken {
        namespace_id: key.namespace_id.clone(),
        workflow_id: key.workflow_id.clone(),
        run_id: key.run_id.clone(),
        scheduled_event_id: wft.scheduled_event_id,
        attempt: wft.attempt,
        started_event_id: wft.started_event_id,
        stamp: wft.stamp,
        ..Default::default()
    };
    PollWorkflowTaskQueueResponse {
        task_token: token.encode_to_vec(),
        workflow_execution: Some(WorkflowExecution {
            workflow_id: key.workflow_id.clone(),
            run_id: key.run_id.clone(),
        }),
        workflow_type: started.workflow_type,
        previous_started_event_id,
        started_event_id: wft.started_event_id,
        attempt: wft.attempt,
        history: Some(History { events }),
        workflow_execution_task_queue: Some(TaskQueue {
            name: started.task_queue.map(|t| t.name).unwrap_or_default(),
            kind: TaskQueueKind::Normal as i32,
            normal_name: String::new(),
        }),
        scheduled_time: opt_ts(wft.scheduled_time),
        started_time: Some(ts(wft.started_time)),
        ..Default::default()
    }
}
