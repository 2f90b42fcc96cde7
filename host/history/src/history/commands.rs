//! Applying the commands of a completed workflow task.

use temporalio_protos::temporal::api::{
    command::v1::{Command, command::Attributes as C},
    common::v1::RetryPolicy,
    enums::v1::{
        ContinueAsNewInitiator, RetryState, WorkflowExecutionStatus,
        WorkflowTaskFailedCause as Cause,
    },
    history::v1::{
        ActivityTaskCancelRequestedEventAttributes, ActivityTaskCanceledEventAttributes,
        ActivityTaskScheduledEventAttributes, MarkerRecordedEventAttributes,
        TimerCanceledEventAttributes, TimerStartedEventAttributes,
        UpsertWorkflowSearchAttributesEventAttributes, WorkflowExecutionCanceledEventAttributes,
        WorkflowExecutionCompletedEventAttributes, WorkflowExecutionContinuedAsNewEventAttributes,
        WorkflowExecutionFailedEventAttributes, WorkflowPropertiesModifiedEventAttributes,
    },
    taskqueue::v1::TaskQueue,
};

use super::Txn;
use super::activity::{RetryDecision, retry_decision};
use super::start::NewRun;
use crate::state::{ActivityInfo, TaskKind, TimerInfo};
use crate::time::{SECOND, dur, dur_nanos, valid_duration};

/// Why a workflow task's commands were rejected.
#[derive(Debug)]
pub(crate) struct CommandError {
    pub cause: Cause,
    pub message: String,
}

fn bad(cause: Cause, message: impl Into<String>) -> CommandError {
    CommandError {
        cause,
        message: message.into(),
    }
}

/// What applying the commands requires afterwards.
#[derive(Default)]
pub(crate) struct Effects {
    pub needs_workflow_task: bool,
    /// The run that continues this one (continue-as-new or retry).
    pub next_run: Option<(String, NewRun)>,
}

pub(crate) const NO_CLOSE_TIMEOUT: &str =
    "A valid StartToClose or ScheduleToCloseTimeout is not set on command.";

/// An activity's schedule-to-close, schedule-to-start, start-to-close and heartbeat timeouts
/// as Temporal settles them: schedule-to-close bounded by the run's timeout, the next two
/// defaulting to it and bounded by it, the heartbeat bounded by start-to-close. `None` when
/// neither close timeout is set.
pub(crate) fn activity_timeouts(
    run_timeout: i64,
    given: [&Option<prost_types::Duration>; 4],
) -> Option<[i64; 4]> {
    let [mut stc, mut sts, mut start_close, mut hb] = given.map(dur_nanos);
    if stc == 0 && start_close == 0 {
        return None;
    }
    if run_timeout > 0 && (stc == 0 || stc > run_timeout) {
        stc = run_timeout;
    }
    if stc > 0 {
        if sts == 0 || sts > stc {
            sts = stc;
        }
        if start_close == 0 || start_close > stc {
            start_close = stc;
        }
    }
    if hb > start_close {
        hb = start_close;
    }
    Some([stc, sts, start_close, hb])
}

/// Fills the server defaults of an activity retry policy.
pub(crate) fn activity_retry_policy(p: Option<RetryPolicy>) -> RetryPolicy {
    let mut p = p.unwrap_or_default();
    if dur_nanos(&p.initial_interval) == 0 {
        p.initial_interval = Some(dur(SECOND));
    }
    if p.backoff_coefficient == 0.0 {
        p.backoff_coefficient = 2.0;
    }
    if dur_nanos(&p.maximum_interval) == 0 {
        p.maximum_interval = Some(dur(100 * dur_nanos(&p.initial_interval)));
    }
    p
}

pub(crate) fn is_close_command(c: &Command) -> bool {
    matches!(
        c.attributes,
        Some(C::CompleteWorkflowExecutionCommandAttributes(_))
            | Some(C::FailWorkflowExecutionCommandAttributes(_))
            | Some(C::CancelWorkflowExecutionCommandAttributes(_))
            | Some(C::ContinueAsNewWorkflowExecutionCommandAttributes(_))
    )
}

impl Txn<'_> {
    fn blob(
        &self,
        p: &Option<temporalio_protos::temporal::api::common::v1::Payloads>,
        cause: Cause,
        field: &str,
    ) -> Result<(), CommandError> {
        super::start::check_blob(self.engine, p, field).map_err(|e| bad(cause, e.to_string()))
    }

    /// Search attributes a command sets, checked against the namespace (by id) and stamped
    /// with their types.
    pub(crate) fn checked_search_attributes(
        &self,
        namespace_id: &str,
        sa: &Option<temporalio_protos::temporal::api::common::v1::SearchAttributes>,
        cause: Cause,
    ) -> Result<Option<temporalio_protos::temporal::api::common::v1::SearchAttributes>, CommandError>
    {
        let Some(sa) = sa else { return Ok(None) };
        let Some(ns) = self.engine.inner.namespaces.cached_by_id(namespace_id) else {
            return Ok(Some(sa.clone()));
        };
        let mut sa = sa.clone();
        super::validate_search_attributes(&ns, &mut sa)
            .map_err(|e| bad(cause, format!("BadSearchAttributes: {e}")))?;
        Ok(Some(sa))
    }

    pub fn apply_commands(
        &mut self,
        commands: &[Command],
        completed_id: i64,
        identity: &str,
    ) -> Result<Effects, CommandError> {
        let mut fx = Effects::default();
        for cmd in commands {
            if !self.running() {
                return Err(bad(
                    Cause::BadCompleteWorkflowExecutionAttributes,
                    "commands after the workflow closed",
                ));
            }
            let Some(attrs) = &cmd.attributes else {
                return Err(bad(Cause::UnhandledCommand, "command without attributes"));
            };
            // A command's summary and details go on the event it writes (as on Temporal).
            let first_event = self.events.len();
            match attrs {
                C::ScheduleActivityTaskCommandAttributes(a) => {
                    self.schedule_activity(a, completed_id)?
                }
                C::RequestCancelActivityTaskCommandAttributes(a) => {
                    let Some(idx) = self
                        .ms
                        .activities
                        .iter()
                        .position(|x| x.scheduled_event_id == a.scheduled_event_id)
                    else {
                        return Err(bad(
                            Cause::BadRequestCancelActivityAttributes,
                            format!(
                                "no pending activity with scheduled event id {}",
                                a.scheduled_event_id
                            ),
                        ));
                    };
                    let req_id = self.add(ActivityTaskCancelRequestedEventAttributes {
                        scheduled_event_id: a.scheduled_event_id,
                        workflow_task_completed_event_id: completed_id,
                    });
                    let act = &mut self.ms.activities[idx];
                    if act.started_time == 0 {
                        self.ms.activities.remove(idx);
                        self.buffer(ActivityTaskCanceledEventAttributes {
                            latest_cancel_requested_event_id: req_id,
                            scheduled_event_id: a.scheduled_event_id,
                            identity: identity.to_string(),
                            ..Default::default()
                        });
                        fx.needs_workflow_task = true;
                    } else {
                        act.cancel_requested = true;
                        act.cancel_requested_event_id = req_id;
                    }
                }
                C::StartTimerCommandAttributes(a) => {
                    if a.timer_id.is_empty() {
                        return Err(bad(
                            Cause::BadStartTimerAttributes,
                            "TimerId is not set on command.",
                        ));
                    }
                    // As on Temporal, zero or absent fires at once; only a negative or
                    // malformed duration is refused.
                    if !valid_duration(&a.start_to_fire_timeout) {
                        return Err(bad(
                            Cause::BadStartTimerAttributes,
                            format!(
                                "An invalid StartToFireTimeout is set on StartTimerCommand: \
                                 negative duration. TimerId={}",
                                a.timer_id
                            ),
                        ));
                    }
                    let d = dur_nanos(&a.start_to_fire_timeout);
                    if self.ms.timers.iter().any(|t| t.timer_id == a.timer_id) {
                        return Err(bad(
                            Cause::StartTimerDuplicateId,
                            format!("timer id {} is already in use", a.timer_id),
                        ));
                    }
                    let id = self.add(TimerStartedEventAttributes {
                        timer_id: a.timer_id.clone(),
                        start_to_fire_timeout: a.start_to_fire_timeout,
                        workflow_task_completed_event_id: completed_id,
                    });
                    let fire = self.now + d;
                    self.ms.timers.push(TimerInfo {
                        timer_id: a.timer_id.clone(),
                        started_event_id: id,
                        fire_time: fire,
                    });
                    self.task(TaskKind::UserTimer, fire, id);
                }
                C::CancelTimerCommandAttributes(a) => {
                    let Some(idx) = self.ms.timers.iter().position(|t| t.timer_id == a.timer_id)
                    else {
                        return Err(bad(
                            Cause::BadCancelTimerAttributes,
                            format!("no pending timer with id {}", a.timer_id),
                        ));
                    };
                    let t = self.ms.timers.remove(idx);
                    self.add(TimerCanceledEventAttributes {
                        timer_id: t.timer_id,
                        started_event_id: t.started_event_id,
                        workflow_task_completed_event_id: completed_id,
                        identity: identity.to_string(),
                    });
                }
                C::RecordMarkerCommandAttributes(a) => {
                    if a.marker_name.is_empty() {
                        return Err(bad(
                            Cause::BadRecordMarkerAttributes,
                            "MarkerName is not set on command.",
                        ));
                    }
                    for (k, v) in &a.details {
                        self.blob(&Some(v.clone()), Cause::BadRecordMarkerAttributes, k)?;
                    }
                    self.add(MarkerRecordedEventAttributes {
                        marker_name: a.marker_name.clone(),
                        details: a.details.clone(),
                        workflow_task_completed_event_id: completed_id,
                        header: a.header.clone(),
                        failure: a.failure.clone(),
                    });
                }
                C::UpsertWorkflowSearchAttributesCommandAttributes(a) => {
                    let upsert = self
                        .checked_search_attributes(
                            &self.ms.namespace_id.clone(),
                            &a.search_attributes,
                            Cause::BadSearchAttributes,
                        )?
                        .unwrap_or_default();
                    let target = self
                        .ms
                        .search_attributes
                        .get_or_insert_with(Default::default);
                    for (k, v) in &upsert.indexed_fields {
                        if matches!(v.data.as_slice(), b"" | b"null" | b"[]") {
                            target.indexed_fields.remove(k);
                        } else {
                            target.indexed_fields.insert(k.clone(), v.clone());
                        }
                    }
                    self.add(UpsertWorkflowSearchAttributesEventAttributes {
                        workflow_task_completed_event_id: completed_id,
                        search_attributes: Some(upsert),
                    });
                    self.visibility = true;
                }
                C::ModifyWorkflowPropertiesCommandAttributes(a) => {
                    let upsert = a.upserted_memo.clone().unwrap_or_default();
                    let target = self.ms.memo.get_or_insert_with(Default::default);
                    for (k, v) in &upsert.fields {
                        if v.data.is_empty() || v.data.as_slice() == b"null" {
                            target.fields.remove(k);
                        } else {
                            target.fields.insert(k.clone(), v.clone());
                        }
                    }
                    self.add(WorkflowPropertiesModifiedEventAttributes {
                        workflow_task_completed_event_id: completed_id,
                        upserted_memo: Some(upsert),
                    });
                    self.visibility = true;
                }
                C::CompleteWorkflowExecutionCommandAttributes(a) => {
                    self.blob(
                        &a.result,
                        Cause::BadCompleteWorkflowExecutionAttributes,
                        "result",
                    )?;
                    let cron = self.cron_backoff();
                    let new_run_id = cron.map(|_| super::new_run_id(false)).unwrap_or_default();
                    self.add(WorkflowExecutionCompletedEventAttributes {
                        result: a.result.clone(),
                        workflow_task_completed_event_id: completed_id,
                        new_execution_run_id: new_run_id.clone(),
                    });
                    self.close(WorkflowExecutionStatus::Completed);
                    if let Some(backoff) = cron {
                        let mut run = self.cron_run(&new_run_id, backoff);
                        run.attrs.last_completion_result = a.result.clone();
                        fx.next_run = Some((new_run_id, run));
                    }
                }
                C::FailWorkflowExecutionCommandAttributes(a) => {
                    let started = self.ms.started.clone().unwrap_or_default();
                    let (retry_state, next) = match &started.retry_policy {
                        None => (RetryState::RetryPolicyNotSet, None),
                        Some(policy) => {
                            let expiration = started
                                .workflow_execution_expiration_time
                                .map(|t| t.seconds * 1_000_000_000 + t.nanos as i64)
                                .unwrap_or(0);
                            match retry_decision(
                                &activity_retry_policy(Some(policy.clone())),
                                started.attempt,
                                a.failure.as_ref(),
                                self.now,
                                expiration,
                            ) {
                                RetryDecision::Retry(backoff) => {
                                    (RetryState::InProgress, Some(backoff))
                                }
                                RetryDecision::Stop(state) => (state, None),
                            }
                        }
                    };
                    let cron = if next.is_none() {
                        self.cron_backoff()
                    } else {
                        None
                    };
                    let new_run_id = next
                        .or(cron)
                        .map(|_| super::new_run_id(false))
                        .unwrap_or_default();
                    self.add(WorkflowExecutionFailedEventAttributes {
                        failure: a.failure.clone(),
                        retry_state: retry_state as i32,
                        workflow_task_completed_event_id: completed_id,
                        new_execution_run_id: new_run_id.clone(),
                    });
                    self.close(WorkflowExecutionStatus::Failed);
                    if let Some(backoff) = next {
                        let mut run = self.continued_run(&Default::default(), &new_run_id);
                        run.attrs.input = started.input.clone();
                        run.attrs.initiator = ContinueAsNewInitiator::Retry as i32;
                        run.attrs.attempt = started.attempt + 1;
                        run.attrs.continued_failure = a.failure.clone();
                        run.start_delay = backoff;
                        self.ms.new_execution_run_id = new_run_id.clone();
                        fx.next_run = Some((new_run_id, run));
                    } else if let Some(backoff) = cron {
                        let mut run = self.cron_run(&new_run_id, backoff);
                        run.attrs.continued_failure = a.failure.clone();
                        fx.next_run = Some((new_run_id, run));
                    }
                }
                C::CancelWorkflowExecutionCommandAttributes(a) => {
                    self.add(WorkflowExecutionCanceledEventAttributes {
                        workflow_task_completed_event_id: completed_id,
                        details: a.details.clone(),
                    });
                    self.close(WorkflowExecutionStatus::Canceled);
                }
                C::ContinueAsNewWorkflowExecutionCommandAttributes(a) => {
                    self.blob(&a.input, Cause::BadContinueAsNewAttributes, "input")?;
                    if !valid_duration(&a.backoff_start_interval)
                        || !valid_duration(&a.workflow_run_timeout)
                        || !valid_duration(&a.workflow_task_timeout)
                    {
                        return Err(bad(
                            Cause::BadContinueAsNewAttributes,
                            "invalid duration on ContinueAsNew command",
                        ));
                    }
                    if !a.cron_schedule.is_empty() && super::cron::parse(&a.cron_schedule).is_err()
                    {
                        return Err(bad(
                            Cause::BadContinueAsNewAttributes,
                            format!("Invalid cron schedule {:?}.", a.cron_schedule),
                        ));
                    }
                    let mut a = a.clone();
                    a.search_attributes = self.checked_search_attributes(
                        &self.ms.namespace_id.clone(),
                        &a.search_attributes,
                        Cause::BadSearchAttributes,
                    )?;
                    let a = &a;
                    let new_run_id = super::new_run_id(false);
                    let mut run = self.continued_run(a, &new_run_id);
                    // A continue-as-new command's run has its run timeout written even when
                    // zero (no limit), as Temporal does; retries and cron runs copy the old one.
                    run.attrs.workflow_run_timeout.get_or_insert_default();
                    self.add(WorkflowExecutionContinuedAsNewEventAttributes {
                        new_execution_run_id: new_run_id.clone(),
                        workflow_type: run.attrs.workflow_type.clone(),
                        task_queue: run.attrs.task_queue.clone(),
                        input: a.input.clone(),
                        workflow_run_timeout: run.attrs.workflow_run_timeout,
                        workflow_task_timeout: run.attrs.workflow_task_timeout,
                        workflow_task_completed_event_id: completed_id,
                        backoff_start_interval: a.backoff_start_interval,
                        initiator: run.attrs.initiator,
                        failure: a.failure.clone(),
                        last_completion_result: a.last_completion_result.clone(),
                        header: run.attrs.header.clone(),
                        memo: run.attrs.memo.clone(),
                        search_attributes: run.attrs.search_attributes.clone(),
                        ..Default::default()
                    });
                    self.ms.new_execution_run_id = new_run_id.clone();
                    self.close(WorkflowExecutionStatus::ContinuedAsNew);
                    fx.next_run = Some((new_run_id, run));
                }
                C::StartChildWorkflowExecutionCommandAttributes(a) => {
                    self.start_child_command(a, completed_id, cmd.user_metadata.as_ref())?
                }
                C::SignalExternalWorkflowExecutionCommandAttributes(a) => {
                    self.signal_external_command(a, completed_id)?
                }
                C::RequestCancelExternalWorkflowExecutionCommandAttributes(a) => {
                    self.cancel_external_command(a, completed_id)?
                }
                C::ProtocolMessageCommandAttributes(a) => {
                    self.protocol_message_command(&a.message_id)?
                }
                other => {
                    let name = format!("{other:?}");
                    let name = name.split('(').next().unwrap_or("command").to_string();
                    return Err(bad(
                        Cause::UnhandledCommand,
                        format!("{name} is not supported by this server yet"),
                    ));
                }
            }
            let message = matches!(attrs, C::ProtocolMessageCommandAttributes(_));
            if let (Some(meta), Some(event), false) = (
                &cmd.user_metadata,
                self.events.get_mut(first_event),
                message,
            ) {
                event.user_metadata = Some(meta.clone());
            }
        }
        Ok(fx)
    }

    /// The delay before the next run of a cron workflow, if this run belongs to one.
    fn cron_backoff(&self) -> Option<i64> {
        let started = self.ms.started.as_ref()?;
        if started.cron_schedule.is_empty() {
            return None;
        }
        let schedule = super::cron::parse(&started.cron_schedule).ok()?;
        schedule.backoff(self.ms.start_time, self.now)
    }

    /// The next run of a cron workflow.
    fn cron_run(&mut self, new_run_id: &str, backoff: i64) -> NewRun {
        let started = self.ms.started.clone().unwrap_or_default();
        let mut run = self.continued_run(&Default::default(), new_run_id);
        run.attrs.input = started.input.clone();
        run.attrs.initiator = ContinueAsNewInitiator::CronSchedule as i32;
        run.attrs.retry_policy = started.retry_policy.clone();
        run.start_delay = backoff;
        self.ms.new_execution_run_id = new_run_id.to_string();
        run
    }

    fn schedule_activity(
        &mut self,
        a: &temporalio_protos::temporal::api::command::v1::ScheduleActivityTaskCommandAttributes,
        completed_id: i64,
    ) -> Result<(), CommandError> {
        let c = Cause::BadScheduleActivityAttributes;
        if a.activity_id.is_empty() {
            return Err(bad(c, "ActivityId is not set on command."));
        }
        if a.activity_type.as_ref().is_none_or(|t| t.name.is_empty()) {
            return Err(bad(c, "ActivityType is not set on command."));
        }
        if self.ms.activities.iter().any(|x| {
            x.attrs
                .as_ref()
                .is_some_and(|y| y.activity_id == a.activity_id)
        }) {
            return Err(bad(
                c,
                format!(
                    "Activity ID {} is already in use by a pending activity.",
                    a.activity_id
                ),
            ));
        }
        for d in [
            &a.schedule_to_close_timeout,
            &a.schedule_to_start_timeout,
            &a.start_to_close_timeout,
            &a.heartbeat_timeout,
        ] {
            if !valid_duration(d) {
                return Err(bad(c, "An invalid timeout is set on command."));
            }
        }
        self.blob(&a.input, c, "input")?;
        if super::start::validate_retry_policy(&a.retry_policy).is_err() {
            return Err(bad(c, "Invalid retry policy on command."));
        }
        let run_timeout = dur_nanos(
            &self
                .ms
                .started
                .as_ref()
                .and_then(|s| s.workflow_run_timeout),
        );
        let Some([stc, sts, start_close, hb]) = activity_timeouts(
            run_timeout,
            [
                &a.schedule_to_close_timeout,
                &a.schedule_to_start_timeout,
                &a.start_to_close_timeout,
                &a.heartbeat_timeout,
            ],
        ) else {
            return Err(bad(c, NO_CLOSE_TIMEOUT));
        };
        let task_queue = a
            .task_queue
            .as_ref()
            .map(|t| t.name.clone())
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| self.normal_task_queue());
        // Temporal fills all four in, zero where there is no limit (protojson shows "0s").
        let attrs = ActivityTaskScheduledEventAttributes {
            activity_id: a.activity_id.clone(),
            activity_type: a.activity_type.clone(),
            task_queue: Some(TaskQueue {
                name: task_queue.clone(),
                kind: 1,
                normal_name: String::new(),
            }),
            header: a.header.clone(),
            input: a.input.clone(),
            schedule_to_close_timeout: Some(dur(stc)),
            schedule_to_start_timeout: Some(dur(sts)),
            start_to_close_timeout: Some(dur(start_close)),
            heartbeat_timeout: Some(dur(hb)),
            workflow_task_completed_event_id: completed_id,
            retry_policy: Some(activity_retry_policy(a.retry_policy.clone())),
            use_workflow_build_id: a.use_workflow_build_id,
            priority: a.priority.clone(),
        };
        let id = self.add(attrs.clone());
        self.ms.dispatch_stamp += 1;
        let info = ActivityInfo {
            scheduled_event_id: id,
            attrs: Some(attrs),
            scheduled_time: self.now,
            first_scheduled_time: self.now,
            attempt: 1,
            stamp: self.ms.dispatch_stamp,
            ..Default::default()
        };
        self.ms.activities.push(info);
        self.dispatch_activity(self.ms.activities.len() - 1);
        Ok(())
    }
}
