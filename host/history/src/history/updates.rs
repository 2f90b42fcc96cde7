//! Workflow Update: requests delivered to the workflow as protocol messages in workflow tasks.
//!
//! An update is admitted in memory (keyed by namespace and workflow id, so it follows the
//! workflow into a run that continues it), handed to the next workflow task that starts, and
//! answered by the worker with protocol messages in that task's completion: a rejection
//! (nothing is written), or an acceptance and later a response, written as
//! WorkflowExecutionUpdateAccepted / Completed events. Accepted and completed updates are
//! kept in the run's state, so a repeated update id gets the same outcome.

use std::collections::HashMap;
use std::sync::Mutex;

use prost::Message as _;
use temporalio_protos::temporal::api::{
    common::v1::WorkflowExecution,
    enums::v1::{
        UpdateWorkflowExecutionLifecycleStage as LifecycleStage, WorkflowExecutionStatus,
        WorkflowTaskFailedCause as Cause,
    },
    failure::v1::{ApplicationFailureInfo, Failure, failure::FailureInfo},
    history::v1::{
        WorkflowExecutionUpdateAcceptedEventAttributes,
        WorkflowExecutionUpdateCompletedEventAttributes,
    },
    protocol::v1::{Message, message::SequencingId},
    update::v1::{Acceptance, Outcome, Rejection, Request, Response, UpdateRef, outcome},
    workflowservice::v1::{
        PollWorkflowExecutionUpdateRequest, PollWorkflowExecutionUpdateResponse,
        UpdateWorkflowExecutionRequest, UpdateWorkflowExecutionResponse,
    },
};
use tokio::sync::watch;

use super::commands::CommandError;
use super::{Engine, Txn};
use crate::error::{Error, Result, invalid};
use crate::namespace::Namespace;
use crate::state::{MutableState, UpdateInfo};
use sundial_store::RunKey;

/// Where an update is, as its callers see it.
#[derive(Clone, Debug)]
pub(crate) enum Stage {
    Admitted,
    Accepted,
    Completed(Box<Outcome>),
    /// The workflow closed before the update was accepted.
    Aborted,
}

impl Stage {
    fn reached(&self, want: LifecycleStage) -> bool {
        match self {
            Stage::Admitted => want <= LifecycleStage::Admitted,
            Stage::Accepted => want <= LifecycleStage::Accepted,
            Stage::Completed(_) | Stage::Aborted => true,
        }
    }
}

type WorkflowKey = (String, String);

fn wkey(key: &RunKey) -> WorkflowKey {
    (key.namespace_id.clone(), key.workflow_id.clone())
}

struct Entry {
    request: Request,
    stage: watch::Sender<Stage>,
    /// Handed to the workflow task now running.
    sent: bool,
}

impl Entry {
    fn id(&self) -> &str {
        self.request
            .meta
            .as_ref()
            .map(|m| m.update_id.as_str())
            .unwrap_or("")
    }
}

#[derive(Default)]
pub(crate) struct Updates {
    state: Mutex<HashMap<WorkflowKey, Vec<Entry>>>,
}

impl Updates {
    /// Admits an update (or joins the one with the same id in flight).
    pub(super) fn admit(&self, key: &RunKey, request: Request) -> (watch::Receiver<Stage>, bool) {
        let id = request
            .meta
            .as_ref()
            .map(|m| m.update_id.clone())
            .unwrap_or_default();
        let mut s = self.state.lock().unwrap();
        let list = s.entry(wkey(key)).or_default();
        if let Some(e) = list.iter().find(|e| e.id() == id) {
            return (e.stage.subscribe(), false);
        }
        let (tx, rx) = watch::channel(Stage::Admitted);
        list.push(Entry {
            request,
            stage: tx,
            sent: false,
        });
        (rx, true)
    }

    pub(super) fn subscribe(&self, key: &RunKey, id: &str) -> Option<watch::Receiver<Stage>> {
        let s = self.state.lock().unwrap();
        s.get(&wkey(key))?
            .iter()
            .find(|e| e.id() == id)
            .map(|e| e.stage.subscribe())
    }

    /// Updates not yet handed to a workflow task: they go with the one starting now.
    pub fn take_for_task(&self, key: &RunKey) -> Vec<Request> {
        let mut s = self.state.lock().unwrap();
        let Some(list) = s.get_mut(&wkey(key)) else {
            return Vec::new();
        };
        list.iter_mut()
            .filter(|e| !e.sent && matches!(*e.stage.borrow(), Stage::Admitted))
            .map(|e| {
                e.sent = true;
                e.request.clone()
            })
            .collect()
    }

    /// The task that carried updates ended without answering them: they wait again.
    pub fn unsend(&self, key: &RunKey) {
        self.unsend_except(key, &[]);
    }

    /// Like [`Updates::unsend`], for all but the updates the task answered.
    pub fn unsend_except(&self, key: &RunKey, answered: &[(String, Stage)]) {
        if let Some(list) = self.state.lock().unwrap().get_mut(&wkey(key)) {
            for e in list.iter_mut() {
                if !answered.iter().any(|(id, _)| id == e.id()) {
                    e.sent = false;
                }
            }
        }
    }

    /// Whether updates wait for a workflow task that is not scheduled yet.
    pub fn waiting(&self, key: &RunKey) -> bool {
        self.state.lock().unwrap().get(&wkey(key)).is_some_and(|l| {
            l.iter()
                .any(|e| !e.sent && matches!(*e.stage.borrow(), Stage::Admitted))
        })
    }

    pub fn notify(&self, key: &RunKey, id: &str, stage: Stage) {
        let mut s = self.state.lock().unwrap();
        let Some(list) = s.get_mut(&wkey(key)) else {
            return;
        };
        if let Some(pos) = list.iter().position(|e| e.id() == id) {
            let done = matches!(stage, Stage::Completed(_) | Stage::Aborted);
            list[pos].stage.send_replace(stage);
            if done {
                list.remove(pos);
            }
        }
        if list.is_empty() {
            s.remove(&wkey(key));
        }
    }

    /// The run closed. Accepted updates can never complete: they fail, as on Temporal. When
    /// no run continues it (`for_good`), updates not yet accepted are aborted too; otherwise
    /// they wait for the next run.
    pub fn close_run(&self, key: &RunKey, for_good: bool) {
        let mut s = self.state.lock().unwrap();
        let Some(list) = s.get_mut(&wkey(key)) else {
            return;
        };
        list.retain(|e| {
            let accepted = matches!(*e.stage.borrow(), Stage::Accepted);
            if accepted {
                e.stage.send_replace(closed_first());
            } else if for_good {
                e.stage.send_replace(Stage::Aborted);
            }
            !accepted && !for_good
        });
        if list.is_empty() {
            s.remove(&wkey(key));
        }
    }

    pub(super) fn remove(&self, key: &RunKey, id: &str) {
        let mut s = self.state.lock().unwrap();
        if let Some(list) = s.get_mut(&wkey(key)) {
            list.retain(|e| e.id() != id);
        }
    }
}

/// The messages handing `requests` to a workflow task whose started event is `started_id`.
pub(crate) fn request_messages(requests: Vec<Request>, started_id: i64) -> Vec<Message> {
    requests
        .into_iter()
        .map(|r| {
            let id = r
                .meta
                .as_ref()
                .map(|m| m.update_id.clone())
                .unwrap_or_default();
            Message {
                id: format!("{id}/request"),
                protocol_instance_id: id,
                body: Some(prost_types::Any::from_msg(&r).expect("encodes")),
                sequencing_id: Some(SequencingId::EventId(started_id - 1)),
            }
        })
        .collect()
}

fn bad(message: impl Into<String>) -> CommandError {
    CommandError {
        cause: Cause::BadUpdateWorkflowExecutionMessage,
        message: message.into(),
    }
}

fn is_type<M: prost::Name>(any: &prost_types::Any) -> bool {
    any.type_url.ends_with(&format!("/{}", M::full_name())) || any.type_url == M::full_name()
}

/// Whether a completion's messages write anything (an acceptance or a response).
pub(crate) fn messages_write_events(messages: &[Message]) -> bool {
    messages.iter().any(|m| {
        m.body
            .as_ref()
            .is_some_and(|b| is_type::<Acceptance>(b) || is_type::<Response>(b))
    })
}

impl Txn<'_> {
    /// Applies the message a ProtocolMessage command points at (its events go here, in
    /// command order).
    pub fn protocol_message_command(
        &mut self,
        message_id: &str,
    ) -> std::result::Result<(), CommandError> {
        let Some(pos) = self.messages.iter().position(|m| m.id == message_id) else {
            return Err(bad(format!("no protocol message with id {message_id}")));
        };
        let m = self.messages.remove(pos);
        self.apply_message(m)
    }

    /// Applies the messages no command pointed at, in order.
    pub fn apply_remaining_messages(&mut self) -> std::result::Result<(), CommandError> {
        for m in std::mem::take(&mut self.messages) {
            self.apply_message(m)?;
        }
        Ok(())
    }

    fn apply_message(&mut self, m: Message) -> std::result::Result<(), CommandError> {
        let Some(body) = m.body.as_ref() else {
            return Err(bad("protocol message without a body"));
        };
        let id = m.protocol_instance_id.clone();
        if is_type::<Acceptance>(body) {
            let a = Acceptance::decode(body.value.as_slice())
                .map_err(|e| bad(format!("bad acceptance: {e}")))?;
            if self.ms.updates.iter().any(|u| u.update_id == id) {
                return Ok(()); // accepted before
            }
            let event_id = self.add(WorkflowExecutionUpdateAcceptedEventAttributes {
                protocol_instance_id: id.clone(),
                accepted_request_message_id: a.accepted_request_message_id,
                accepted_request_sequencing_event_id: a.accepted_request_sequencing_event_id,
                accepted_request: a.accepted_request,
            });
            self.ms.updates.push(UpdateInfo {
                update_id: id.clone(),
                accepted_event_id: event_id,
                ..Default::default()
            });
            self.update_notices.push((id, Stage::Accepted));
        } else if is_type::<Response>(body) {
            let r = Response::decode(body.value.as_slice())
                .map_err(|e| bad(format!("bad update response: {e}")))?;
            let Some(idx) = self
                .ms
                .updates
                .iter()
                .position(|u| u.update_id == id && u.completed_event_id == 0)
            else {
                return Err(bad(format!("update {id} completed without being accepted")));
            };
            let accepted_event_id = self.ms.updates[idx].accepted_event_id;
            let event_id = self.add(WorkflowExecutionUpdateCompletedEventAttributes {
                meta: r.meta,
                accepted_event_id,
                outcome: r.outcome.clone(),
            });
            let u = &mut self.ms.updates[idx];
            u.completed_event_id = event_id;
            u.outcome = r.outcome.clone();
            self.update_notices.push((
                id,
                Stage::Completed(Box::new(r.outcome.unwrap_or_default())),
            ));
        } else if is_type::<Rejection>(body) {
            let r = Rejection::decode(body.value.as_slice())
                .map_err(|e| bad(format!("bad rejection: {e}")))?;
            let outcome = Outcome {
                value: Some(outcome::Value::Failure(r.failure.unwrap_or_default())),
            };
            self.update_notices
                .push((id, Stage::Completed(Box::new(outcome))));
        } else {
            return Err(bad(format!(
                "unknown protocol message type {}",
                body.type_url
            )));
        }
        Ok(())
    }
}

pub(super) fn want_stage(
    p: &Option<temporalio_protos::temporal::api::update::v1::WaitPolicy>,
) -> LifecycleStage {
    p.as_ref()
        .and_then(|p| LifecycleStage::try_from(p.lifecycle_stage).ok())
        .filter(|s| *s != LifecycleStage::Unspecified)
        .unwrap_or(LifecycleStage::Admitted)
}

/// Where a stored update is; one accepted by a run that closed will never complete.
pub(super) fn stage_of(u: &UpdateInfo, ms: &MutableState) -> Stage {
    if u.completed_event_id > 0 {
        Stage::Completed(Box::new(u.outcome.clone().unwrap_or_default()))
    } else if ms.status != WorkflowExecutionStatus::Running as i32 {
        closed_first()
    } else {
        Stage::Accepted
    }
}

/// The outcome of an accepted update whose run closed before it completed (Temporal's).
fn closed_first() -> Stage {
    Stage::Completed(Box::new(Outcome {
        value: Some(outcome::Value::Failure(Failure {
            message:
                "Workflow Update failed because the Workflow completed before the Update completed."
                    .into(),
            source: "Server".into(),
            failure_info: Some(FailureInfo::ApplicationFailureInfo(
                ApplicationFailureInfo {
                    r#type: "AcceptedUpdateCompletedWorkflow".into(),
                    non_retryable: true,
                    ..Default::default()
                },
            )),
            ..Default::default()
        })),
    }))
}

/// What the caller of an update the closing workflow never accepted gets (Temporal's).
fn aborted() -> Error {
    Error::NotFound("workflow update was aborted by closing workflow".into())
}

impl Engine {
    /// Fires the notices of a committed change.
    pub(crate) fn publish_updates(&self, key: &RunKey, notices: Vec<(String, Stage)>) {
        for (id, stage) in notices {
            self.inner.updates.notify(key, &id, stage);
        }
    }

    /// After a commit: a run that closed ends its accepted updates, and when no run continues
    /// it, the updates still waiting.
    pub(crate) fn close_updates(&self, key: &RunKey, ms: &MutableState) {
        if ms.status != WorkflowExecutionStatus::Running as i32 {
            self.inner
                .updates
                .close_run(key, ms.new_execution_run_id.is_empty());
        }
    }

    pub async fn update_workflow(
        &self,
        ns: &Namespace,
        req: UpdateWorkflowExecutionRequest,
        wait: std::time::Duration,
    ) -> Result<UpdateWorkflowExecutionResponse> {
        let request = req
            .request
            .clone()
            .ok_or_else(|| invalid("Update request is not set on request."))?;
        let update_id = request
            .meta
            .as_ref()
            .map(|m| m.update_id.clone())
            .unwrap_or_default();
        if update_id.is_empty() {
            return Err(invalid("Update ID is not set on request."));
        }
        if request.input.as_ref().is_none_or(|i| i.name.is_empty()) {
            return Err(invalid("Update name is not set on request."));
        }
        if let Some(input) = &request.input {
            super::start::check_blob(self, &input.args, "update args")?;
        }
        let exec = req.workflow_execution.clone().unwrap_or_default();
        let key = self
            .resolve_chain(&ns.id, &exec, &req.first_execution_run_id)
            .await?;
        let want = want_stage(&req.wait_policy);
        let rx = {
            let mut guard = self.lock(&key).await?;
            if let Some(u) = guard
                .state()
                .updates
                .iter()
                .find(|u| u.update_id == update_id)
            {
                let stage = stage_of(u, guard.state());
                if stage.reached(want) {
                    return Ok(update_response(&key, &update_id, stage));
                }
            }
            if guard.state().status != WorkflowExecutionStatus::Running as i32 {
                return Err(Error::NotFound(
                    "workflow execution already completed".into(),
                ));
            }
            match self.inner.updates.subscribe(&key, &update_id) {
                Some(rx) => rx,
                None if guard
                    .state()
                    .updates
                    .iter()
                    .any(|u| u.update_id == update_id) =>
                {
                    // Accepted before a restart: wait for the completion in history.
                    drop(guard);
                    return self.wait_stored_update(&key, &update_id, want, wait).await;
                }
                None => {
                    let (rx, _) = self.inner.updates.admit(&key, request);
                    if guard.state().workflow_task.is_none() {
                        let mut txn = self.begin(&guard);
                        txn.schedule_speculative_workflow_task();
                        if let Err(e) = self.commit(&mut guard, txn).await {
                            self.inner.updates.remove(&key, &update_id);
                            return Err(e);
                        }
                    }
                    rx
                }
            }
        };
        self.wait_update(&key, &update_id, rx, want, wait).await
    }

    pub(super) async fn wait_update(
        &self,
        key: &RunKey,
        update_id: &str,
        mut rx: watch::Receiver<Stage>,
        want: LifecycleStage,
        wait: std::time::Duration,
    ) -> Result<UpdateWorkflowExecutionResponse> {
        let got = tokio::time::timeout(wait, rx.wait_for(|s| s.reached(want)))
            .await
            .ok()
            .and_then(|r| r.ok().map(|s| s.clone()));
        // Timed out (or the registry forgot it): report how far it got.
        let stage = got.unwrap_or_else(|| rx.borrow().clone());
        if let Stage::Aborted = stage {
            return Err(aborted());
        }
        Ok(update_response(key, update_id, stage))
    }

    /// Waits for an accepted update (known only from the run's state) to complete.
    async fn wait_stored_update(
        &self,
        key: &RunKey,
        update_id: &str,
        want: LifecycleStage,
        wait: std::time::Duration,
    ) -> Result<UpdateWorkflowExecutionResponse> {
        let deadline = tokio::time::Instant::now() + wait;
        let mut progress = self.watch(key);
        loop {
            let ms = self.snapshot(key).await?;
            let Some(u) = ms.updates.iter().find(|u| u.update_id == update_id) else {
                return Err(Error::NotFound(format!("update {update_id:?} not found")));
            };
            let stage = stage_of(u, &ms);
            if stage.reached(want) {
                return Ok(update_response(key, update_id, stage));
            }
            if tokio::time::timeout_at(deadline, progress.changed())
                .await
                .is_err()
            {
                return Ok(update_response(key, update_id, stage));
            }
        }
    }

    pub async fn poll_update(
        &self,
        ns: &Namespace,
        req: PollWorkflowExecutionUpdateRequest,
        wait: std::time::Duration,
    ) -> Result<PollWorkflowExecutionUpdateResponse> {
        let r = req.update_ref.clone().unwrap_or_default();
        let exec = r.workflow_execution.clone().unwrap_or_default();
        let key = self.resolve(&ns.id, &exec).await?;
        let want = want_stage(&req.wait_policy);
        let resp = match self.inner.updates.subscribe(&key, &r.update_id) {
            Some(rx) => self.wait_update(&key, &r.update_id, rx, want, wait).await?,
            None => {
                self.wait_stored_update(&key, &r.update_id, want, wait)
                    .await?
            }
        };
        Ok(PollWorkflowExecutionUpdateResponse {
            outcome: resp.outcome,
            stage: resp.stage,
            update_ref: resp.update_ref,
        })
    }
}

pub(super) fn update_response(
    key: &RunKey,
    update_id: &str,
    stage: Stage,
) -> UpdateWorkflowExecutionResponse {
    let (stage, outcome) = match stage {
        Stage::Admitted => (LifecycleStage::Admitted, None),
        Stage::Accepted => (LifecycleStage::Accepted, None),
        Stage::Completed(o) => (LifecycleStage::Completed, Some(*o)),
        Stage::Aborted => (LifecycleStage::Completed, None),
    };
    UpdateWorkflowExecutionResponse {
        update_ref: Some(UpdateRef {
            workflow_execution: Some(WorkflowExecution {
                workflow_id: key.workflow_id.clone(),
                run_id: key.run_id.clone(),
            }),
            update_id: update_id.to_string(),
        }),
        outcome,
        stage: stage as i32,
        link: None,
    }
}
