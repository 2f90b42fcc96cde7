//! Activity tasks: dispatch, start, heartbeat, completion, failure with server-side retries,
//! cancellation and timeouts.

use prost::Message;
use temporalio_protos::temporal::api::{
    common::v1::{Payloads, RetryPolicy, WorkflowExecution},
    enums::v1::{RetryState, TimeoutType},
    failure::v1::{Failure, TimeoutFailureInfo, failure::FailureInfo},
    history::v1::{
        ActivityTaskCanceledEventAttributes, ActivityTaskCompletedEventAttributes,
        ActivityTaskFailedEventAttributes, ActivityTaskStartedEventAttributes,
        ActivityTaskTimedOutEventAttributes,
    },
    workflowservice::v1::PollActivityTaskQueueResponse,
};

use super::{Engine, RunGuard, Txn};
use crate::error::{Error, Result, invalid};
use crate::matching::Queued;
use crate::namespace::Namespace;
use crate::state::{ActivityInfo, Task, TaskKind, TaskToken};
use crate::time::{dur_nanos, opt_ts, ts};
use sundial_matching::Poller;
use sundial_services::HeartbeatReply;

pub(crate) enum RetryDecision {
    Retry(i64),
    Stop(RetryState),
}

/// Decides whether a failed attempt is retried, and after what backoff.
pub(crate) fn retry_decision(
    policy: &RetryPolicy,
    attempt: i32,
    failure: Option<&Failure>,
    now: i64,
    expiration: i64,
) -> RetryDecision {
    if policy.maximum_attempts > 0 && attempt >= policy.maximum_attempts {
        return RetryDecision::Stop(RetryState::MaximumAttemptsReached);
    }
    if !retryable(policy, failure) {
        return RetryDecision::Stop(RetryState::NonRetryableFailure);
    }
    let mut explicit_delay = 0;
    if let Some(FailureInfo::ApplicationFailureInfo(info)) =
        failure.and_then(|f| f.failure_info.as_ref())
    {
        explicit_delay = dur_nanos(&info.next_retry_delay);
    }
    let backoff = if explicit_delay > 0 {
        explicit_delay
    } else {
        let initial = dur_nanos(&policy.initial_interval) as f64;
        let coefficient = if policy.backoff_coefficient < 1.0 {
            2.0
        } else {
            policy.backoff_coefficient
        };
        let mut b = initial * coefficient.powi((attempt - 1).max(0));
        let max = dur_nanos(&policy.maximum_interval) as f64;
        if max > 0.0 && b > max {
            b = max;
        }
        b.min(i64::MAX as f64 / 2.0) as i64
    };
    if expiration > 0 && now + backoff >= expiration {
        return RetryDecision::Stop(RetryState::Timeout);
    }
    RetryDecision::Retry(backoff)
}

/// Whether the policy lets a failure be retried at all (attempts and time aside).
fn retryable(policy: &RetryPolicy, failure: Option<&Failure>) -> bool {
    match failure.and_then(|f| f.failure_info.as_ref()) {
        Some(FailureInfo::ApplicationFailureInfo(info)) => {
            !info.non_retryable && !policy.non_retryable_error_types.contains(&info.r#type)
        }
        _ => true,
    }
}

/// The earliest timeout of an activity's current attempt. Timeouts due at the same time go in
/// the order of their enum values, as on Temporal: an activity never started whose
/// schedule-to-start defaulted to its schedule-to-close times out as SCHEDULE_TO_START.
fn activity_deadline(a: &ActivityInfo) -> Option<(i64, TimeoutType)> {
    let attrs = a.attrs.as_ref()?;
    let mut best: Option<(i64, TimeoutType)> = None;
    let mut consider = |at: i64, t: TimeoutType| {
        if best.is_none_or(|(b, bt)| (at, t as i32) < (b, bt as i32)) {
            best = Some((at, t));
        }
    };
    let stc = dur_nanos(&attrs.schedule_to_close_timeout);
    if stc > 0 {
        consider(a.first_scheduled_time + stc, TimeoutType::ScheduleToClose);
    }
    if a.started_time == 0 {
        let sts = dur_nanos(&attrs.schedule_to_start_timeout);
        if sts > 0 {
            consider(a.scheduled_time + sts, TimeoutType::ScheduleToStart);
        }
    } else {
        let s2c = dur_nanos(&attrs.start_to_close_timeout);
        if s2c > 0 {
            consider(a.started_time + s2c, TimeoutType::StartToClose);
        }
        let hb = dur_nanos(&attrs.heartbeat_timeout);
        if hb > 0 {
            consider(
                a.started_time.max(a.last_heartbeat_time) + hb,
                TimeoutType::Heartbeat,
            );
        }
    }
    best
}

fn expiration(a: &ActivityInfo) -> i64 {
    let stc = dur_nanos(&a.attrs.as_ref().and_then(|x| x.schedule_to_close_timeout));
    if stc > 0 {
        a.first_scheduled_time + stc
    } else {
        0
    }
}

/// Temporal's message for an attempt that timed out with no time left for another.
const NO_TIME_TO_RETRY: &str = "Not enough time to schedule next retry before activity ScheduleToClose timeout, giving up retrying";

fn not_found() -> Error {
    Error::NotFound("Activity task not found.".into())
}

impl Txn<'_> {
    /// Queues the current attempt of an activity and arms its timeout.
    pub fn dispatch_activity(&mut self, idx: usize) {
        let a = self.ms.activities[idx].clone();
        if a.paused {
            return;
        }
        let queue = a
            .attrs
            .as_ref()
            .and_then(|x| x.task_queue.as_ref())
            .map(|t| t.name.clone())
            .unwrap_or_default();
        let fire = if a.scheduled_time > self.now {
            a.scheduled_time
        } else {
            0
        };
        let t = self.task(TaskKind::DispatchActivity, fire, a.scheduled_event_id);
        t.attempt = a.attempt;
        t.stamp = a.stamp;
        t.task_queue = queue;
        self.arm_activity_timeout(idx);
    }

    pub(super) fn arm_activity_timeout(&mut self, idx: usize) {
        let a = self.ms.activities[idx].clone();
        if let Some((at, kind)) = activity_deadline(&a) {
            let t = self.task(TaskKind::ActivityTimeout, at, a.scheduled_event_id);
            t.attempt = a.attempt;
            t.stamp = a.stamp;
            t.timeout_type = kind as i32;
        }
    }

    /// The next attempt, after `backoff` (a paused activity's waits for its unpause).
    pub(super) fn retry_activity(&mut self, idx: usize, backoff: i64, failure: Option<Failure>) {
        self.ms.dispatch_stamp += 1;
        let stamp = self.ms.dispatch_stamp;
        let now = self.now;
        let a = &mut self.ms.activities[idx];
        a.attempt += 1;
        a.scheduled_time = now + backoff;
        a.last_attempt_complete_time = now;
        a.started_time = 0;
        a.started_identity.clear();
        a.started_request_id.clear();
        a.last_heartbeat_time = 0;
        a.last_failure = failure;
        a.stamp = stamp;
        a.reset_requested = false;
        if std::mem::take(&mut a.reset_heartbeats) {
            a.heartbeat_details = None;
        }
        self.dispatch_activity(idx);
    }

    /// Writes the deferred started event of the current attempt; returns its id (or the
    /// buffered marker), 0 if the attempt never started.
    fn add_activity_started(&mut self, a: &ActivityInfo) -> i64 {
        if a.started_time == 0 {
            return 0;
        }
        self.add_external(ActivityTaskStartedEventAttributes {
            scheduled_event_id: a.scheduled_event_id,
            identity: a.started_identity.clone(),
            request_id: a.started_request_id.clone(),
            attempt: a.attempt,
            last_failure: a.last_failure.clone(),
            worker_version: super::txn::worker_version(&a.started_build_id),
            ..Default::default()
        })
    }

    fn finish_activity(&mut self, idx: usize) {
        self.ms.activities.remove(idx);
        self.schedule_workflow_task(1);
    }

    /// Handles a failed attempt: retry per policy, or record the failure.
    fn fail_activity(&mut self, idx: usize, failure: Option<Failure>, identity: &str) {
        let a = self.ms.activities[idx].clone();
        let policy = a
            .attrs
            .as_ref()
            .and_then(|x| x.retry_policy.clone())
            .unwrap_or_default();
        // As on Temporal: a paused activity's retryable failure waits for the unpause, however
        // many attempts it has had.
        if a.paused && retryable(&policy, failure.as_ref()) {
            return self.retry_activity(idx, 0, failure);
        }
        match retry_decision(
            &policy,
            a.attempt,
            failure.as_ref(),
            self.now,
            expiration(&a),
        ) {
            RetryDecision::Retry(backoff) => self.retry_activity(idx, backoff, failure),
            RetryDecision::Stop(state) => {
                let started = self.add_activity_started(&a);
                self.add_external(ActivityTaskFailedEventAttributes {
                    failure,
                    scheduled_event_id: a.scheduled_event_id,
                    started_event_id: started,
                    identity: identity.to_string(),
                    retry_state: state as i32,
                    ..Default::default()
                });
                self.finish_activity(idx);
            }
        }
    }

    /// An activity's timeout task fired: time out, retry, or re-arm if the deadline moved.
    pub fn activity_timeout(&mut self, task: &Task) {
        let Some(idx) = self.ms.activities.iter().position(|a| {
            a.scheduled_event_id == task.event_id
                && a.attempt == task.attempt
                && a.stamp == task.stamp
        }) else {
            return;
        };
        let a = self.ms.activities[idx].clone();
        let Some((at, kind)) = activity_deadline(&a) else {
            return;
        };
        if at > self.now {
            self.arm_activity_timeout(idx);
            return;
        }
        let name = match kind {
            TimeoutType::StartToClose => "StartToClose",
            TimeoutType::ScheduleToStart => "ScheduleToStart",
            TimeoutType::ScheduleToClose => "ScheduleToClose",
            TimeoutType::Heartbeat => "Heartbeat",
            TimeoutType::Unspecified => "Unspecified",
        };
        let mut failure = Failure {
            message: format!("activity {name} timeout"),
            source: "Server".into(),
            failure_info: Some(FailureInfo::TimeoutFailureInfo(TimeoutFailureInfo {
                timeout_type: kind as i32,
                last_heartbeat_details: a.heartbeat_details.clone(),
            })),
            cause: a.last_failure.clone().map(Box::new),
            ..Default::default()
        };
        let per_attempt = matches!(kind, TimeoutType::StartToClose | TimeoutType::Heartbeat);
        if per_attempt && a.paused {
            return self.retry_activity(idx, 0, Some(failure));
        }
        let retry_state = if per_attempt {
            let policy = a
                .attrs
                .as_ref()
                .and_then(|x| x.retry_policy.clone())
                .unwrap_or_default();
            match retry_decision(&policy, a.attempt, Some(&failure), self.now, expiration(&a)) {
                RetryDecision::Retry(backoff) => {
                    self.retry_activity(idx, backoff, Some(failure));
                    return;
                }
                RetryDecision::Stop(RetryState::Timeout) => {
                    // No time left for another attempt: reported as the schedule-to-close
                    // timeout, as Temporal does.
                    failure.message = NO_TIME_TO_RETRY.into();
                    failure.failure_info =
                        Some(FailureInfo::TimeoutFailureInfo(TimeoutFailureInfo {
                            timeout_type: TimeoutType::ScheduleToClose as i32,
                            last_heartbeat_details: a.heartbeat_details.clone(),
                        }));
                    RetryState::Timeout
                }
                RetryDecision::Stop(state) => state,
            }
        } else {
            RetryState::Timeout
        };
        let started = self.add_activity_started(&a);
        self.add_external(ActivityTaskTimedOutEventAttributes {
            failure: Some(failure),
            scheduled_event_id: a.scheduled_event_id,
            started_event_id: started,
            retry_state: retry_state as i32,
        });
        self.finish_activity(idx);
    }
}

/// How a completion call names its activity.
pub enum ActivityRef {
    Token(TaskToken),
    Id {
        workflow_id: String,
        run_id: String,
        activity_id: String,
    },
}

enum Outcome {
    Completed(Option<Payloads>),
    Failed(Box<Option<Failure>>, Option<Payloads>),
    Canceled(Option<Payloads>),
    Heartbeat(Option<Payloads>),
}

impl Engine {
    pub fn decode_token(&self, ns: &Namespace, bytes: &[u8]) -> Result<TaskToken> {
        if bytes.is_empty() {
            return Err(invalid("Task token not set on request."));
        }
        let t = TaskToken::decode(bytes).map_err(|_| invalid("Error deserializing task token."))?;
        if t.namespace_id != ns.id {
            return Err(invalid(
                "Operation requested with a token from a different namespace.",
            ));
        }
        Ok(t)
    }

    pub(super) async fn record_activity_started(
        &self,
        ns: &Namespace,
        q: &Queued,
        poller: &Poller,
    ) -> Result<Option<PollActivityTaskQueueResponse>> {
        let task = &q.task;
        let key = task.run_key();
        let Some(mut guard) = self.lock_if_exists(&key).await? else {
            return Ok(None);
        };
        let mut txn = self.begin(&guard);
        if !txn.running() {
            return Ok(None);
        }
        let Some(idx) = txn.ms.activities.iter().position(|a| {
            a.scheduled_event_id == task.event_id
                && a.attempt == task.attempt
                && a.stamp == task.stamp
                && a.started_time == 0
        }) else {
            return Ok(None);
        };
        let now = txn.now;
        {
            let a = &mut txn.ms.activities[idx];
            a.started_time = now;
            a.started_identity = poller.identity.clone();
            a.started_build_id = poller.build_id.clone();
            a.started_request_id = uuid::Uuid::new_v4().to_string();
        }
        txn.arm_activity_timeout(idx);
        let a = txn.ms.activities[idx].clone();
        let started = txn.ms.started.clone().unwrap_or_default();
        self.commit(&mut guard, txn).await?;
        let attrs = a.attrs.clone().unwrap_or_default();
        let token = TaskToken {
            namespace_id: key.namespace_id.clone(),
            workflow_id: key.workflow_id.clone(),
            run_id: key.run_id.clone(),
            scheduled_event_id: a.scheduled_event_id,
            attempt: a.attempt,
            activity_id: attrs.activity_id.clone(),
            activity: true,
            stamp: a.stamp,
            ..Default::default()
        };
        Ok(Some(PollActivityTaskQueueResponse {
            task_token: token.encode_to_vec(),
            workflow_namespace: ns.name.clone(),
            workflow_type: started.workflow_type,
            workflow_execution: Some(WorkflowExecution {
                workflow_id: key.workflow_id.clone(),
                run_id: key.run_id.clone(),
            }),
            activity_type: attrs.activity_type,
            activity_id: attrs.activity_id,
            header: attrs.header,
            input: attrs.input,
            heartbeat_details: a.heartbeat_details,
            scheduled_time: opt_ts(a.first_scheduled_time),
            current_attempt_scheduled_time: opt_ts(a.scheduled_time),
            started_time: Some(ts(a.started_time)),
            attempt: a.attempt,
            schedule_to_close_timeout: attrs.schedule_to_close_timeout,
            start_to_close_timeout: attrs.start_to_close_timeout,
            heartbeat_timeout: attrs.heartbeat_timeout,
            retry_policy: attrs.retry_policy,
            priority: attrs.priority,
            ..Default::default()
        }))
    }

    async fn locate_activity(&self, ns: &Namespace, r: &ActivityRef) -> Result<(RunGuard, usize)> {
        let (exec, by_token) = match r {
            ActivityRef::Token(t) => (
                WorkflowExecution {
                    workflow_id: t.workflow_id.clone(),
                    run_id: t.run_id.clone(),
                },
                Some(t),
            ),
            ActivityRef::Id {
                workflow_id,
                run_id,
                activity_id,
            } => {
                if activity_id.is_empty() {
                    return Err(invalid("ActivityId is not set on request."));
                }
                (
                    WorkflowExecution {
                        workflow_id: workflow_id.clone(),
                        run_id: run_id.clone(),
                    },
                    None,
                )
            }
        };
        let key = self.resolve(&ns.id, &exec).await?;
        let guard = self.lock(&key).await?;
        let ms = guard.state();
        if ms.status
            != temporalio_protos::temporal::api::enums::v1::WorkflowExecutionStatus::Running as i32
        {
            return Err(Error::NotFound(
                "workflow execution already completed".into(),
            ));
        }
        let idx = match (by_token, r) {
            (Some(t), _) => ms.activities.iter().position(|a| {
                a.scheduled_event_id == t.scheduled_event_id
                    && a.attempt == t.attempt
                    && a.started_time > 0
            }),
            (None, ActivityRef::Id { activity_id, .. }) => ms.activities.iter().position(|a| {
                a.attrs
                    .as_ref()
                    .is_some_and(|x| &x.activity_id == activity_id)
                    && a.started_time > 0
            }),
            _ => None,
        };
        let idx = idx.ok_or_else(not_found)?;
        Ok((guard, idx))
    }

    async fn respond_activity(
        &self,
        ns: &Namespace,
        r: ActivityRef,
        identity: &str,
        outcome: Outcome,
    ) -> Result<HeartbeatReply> {
        let (mut guard, idx) = self.locate_activity(ns, &r).await?;
        let mut txn = self.begin(&guard);
        let a = txn.ms.activities[idx].clone();
        let identity = if identity.is_empty() {
            a.started_identity.clone()
        } else {
            identity.to_string()
        };
        let mut reply = HeartbeatReply::default();
        match outcome {
            Outcome::Completed(result) => {
                check(self, &result, "result")?;
                let started = txn.add_activity_started(&a);
                txn.add_external(ActivityTaskCompletedEventAttributes {
                    result,
                    scheduled_event_id: a.scheduled_event_id,
                    started_event_id: started,
                    identity,
                    worker_version: None,
                });
                txn.finish_activity(idx);
            }
            Outcome::Failed(failure, details) => {
                if details.is_some() {
                    txn.ms.activities[idx].heartbeat_details = details;
                }
                txn.fail_activity(idx, *failure, &identity);
            }
            Outcome::Canceled(details) => {
                check(self, &details, "details")?;
                let started = txn.add_activity_started(&a);
                txn.add_external(ActivityTaskCanceledEventAttributes {
                    details,
                    latest_cancel_requested_event_id: a.cancel_requested_event_id,
                    scheduled_event_id: a.scheduled_event_id,
                    started_event_id: started,
                    identity,
                    worker_version: None,
                });
                txn.finish_activity(idx);
            }
            Outcome::Heartbeat(details) => {
                check(self, &details, "details")?;
                let now = txn.now;
                let act = &mut txn.ms.activities[idx];
                act.last_heartbeat_time = now;
                if details.is_some() {
                    act.heartbeat_details = details;
                }
                reply = HeartbeatReply {
                    cancel_requested: act.cancel_requested,
                    paused: act.paused,
                    reset: act.reset_requested,
                };
            }
        }
        self.commit(&mut guard, txn).await?;
        Ok(reply)
    }

    pub async fn activity_completed(
        &self,
        ns: &Namespace,
        r: ActivityRef,
        identity: &str,
        result: Option<Payloads>,
    ) -> Result<()> {
        self.respond_activity(ns, r, identity, Outcome::Completed(result))
            .await
            .map(|_| ())
    }
    pub async fn activity_failed(
        &self,
        ns: &Namespace,
        r: ActivityRef,
        identity: &str,
        failure: Option<Failure>,
        details: Option<Payloads>,
    ) -> Result<()> {
        self.respond_activity(ns, r, identity, Outcome::Failed(Box::new(failure), details))
            .await
            .map(|_| ())
    }
    pub async fn activity_canceled(
        &self,
        ns: &Namespace,
        r: ActivityRef,
        identity: &str,
        details: Option<Payloads>,
    ) -> Result<()> {
        self.respond_activity(ns, r, identity, Outcome::Canceled(details))
            .await
            .map(|_| ())
    }
    /// Returns what the worker should know: cancellation requested, paused, reset.
    pub async fn activity_heartbeat(
        &self,
        ns: &Namespace,
        r: ActivityRef,
        identity: &str,
        details: Option<Payloads>,
    ) -> Result<HeartbeatReply> {
        self.respond_activity(ns, r, identity, Outcome::Heartbeat(details))
            .await
    }
}

fn check(engine: &Engine, p: &Option<Payloads>, field: &str) -> Result<()> {
    super::start::check_blob(engine, p, field)
}
