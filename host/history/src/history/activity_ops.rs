//! Operators' activity calls: PauseActivity, UnpauseActivity, ResetActivity and
//! UpdateActivityOptions, with Temporal's rules. A paused activity gets no new attempt until it
//! is unpaused; an attempt running when it is paused or reset goes on, and its heartbeats tell
//! the worker (which then stops it).

use rand::Rng;
use temporalio_protos::temporal::api::{
    activity::v1::ActivityOptions,
    common::v1::{RetryPolicy, WorkflowExecution},
    history::v1::{ActivityTaskScheduledEventAttributes, history_event::Attributes},
    taskqueue::v1::TaskQueue,
    workflowservice::v1::{
        PauseActivityRequest, ResetActivityRequest, UnpauseActivityRequest,
        UpdateActivityOptionsRequest, pause_activity_request, reset_activity_request,
        unpause_activity_request, update_activity_options_request,
    },
};

use super::commands::{NO_CLOSE_TIMEOUT, activity_timeouts};
use super::{Engine, RunGuard, Txn};
use crate::error::{Error, Result, invalid};
use crate::namespace::Namespace;
use crate::state::{ActivityInfo, ActivityPause};
use crate::time::{dur, dur_nanos};

/// Which pending activities a call names.
enum Which {
    Id(String),
    Type(String),
    All,
}

/// `Which` from a request's choice of activities, for the requests that can name them all.
macro_rules! which {
    ($choice:expr, $oneof:ident, $all:ident, $all_name:literal) => {{
        use $oneof::Activity as A;
        match $choice {
            Some(A::Id(id)) => Which::Id(id),
            Some(A::Type(t)) => Which::Type(t),
            Some(A::$all(true)) => Which::All,
            _ => {
                return Err(invalid(concat!(
                    "Either activity id, activity type or ",
                    $all_name,
                    " must be provided."
                )));
            }
        }
    }};
}

fn activity_not_found() -> Error {
    Error::NotFound(
        "Can't find pending activity with such ID. Invalid activityID or activity already completed"
            .into(),
    )
}

fn activity_id(a: &ActivityInfo) -> &str {
    a.attrs
        .as_ref()
        .map(|x| x.activity_id.as_str())
        .unwrap_or("")
}

impl Txn<'_> {
    /// The activities `which` names, by index; NotFound when none.
    fn select(&self, which: &Which) -> Result<Vec<usize>> {
        let found: Vec<usize> = self
            .ms
            .activities
            .iter()
            .enumerate()
            .filter(|(_, a)| {
                let attrs = a.attrs.clone().unwrap_or_default();
                match which {
                    Which::Id(id) => attrs.activity_id == *id,
                    Which::Type(name) => attrs.activity_type.is_some_and(|t| t.name == *name),
                    Which::All => true,
                }
            })
            .map(|(i, _)| i)
            .collect();
        if found.is_empty() {
            return Err(activity_not_found());
        }
        Ok(found)
    }

    /// A new stamp for an activity: its queued dispatch and its timers are void.
    fn restamp(&mut self, idx: usize) {
        self.ms.dispatch_stamp += 1;
        self.ms.activities[idx].stamp = self.ms.dispatch_stamp;
    }

    /// Dispatches the waiting attempt of an activity again, at `at`.
    fn redispatch(&mut self, idx: usize, at: i64) {
        self.restamp(idx);
        self.ms.activities[idx].scheduled_time = at;
        self.dispatch_activity(idx);
    }

    fn now_with_jitter(&self, jitter: &Option<prost_types::Duration>) -> i64 {
        let jitter = dur_nanos(jitter);
        self.now
            + if jitter > 0 {
                rand::rng().random_range(0..jitter)
            } else {
                0
            }
    }

    fn pause(&mut self, idx: usize, pause: ActivityPause) -> Result<()> {
        let a = &self.ms.activities[idx];
        if a.paused {
            return match a
                .pause
                .as_ref()
                .is_some_and(|p| p.request_id == pause.request_id)
            {
                true => Ok(()),
                false => Err(Error::FailedPrecondition(
                    "activity is already paused".into(),
                )),
            };
        }
        // An attempt running goes on; a waiting one is void until the unpause.
        if a.started_time == 0 {
            self.restamp(idx);
        }
        let a = &mut self.ms.activities[idx];
        a.paused = true;
        a.pause = Some(pause);
        Ok(())
    }

    fn unpause(&mut self, idx: usize, r: &UnpauseActivityRequest) {
        let at = self.now_with_jitter(&r.jitter);
        let a = &mut self.ms.activities[idx];
        if !a.paused {
            return;
        }
        a.paused = false;
        a.pause = None;
        if r.reset_attempts {
            a.attempt = 1;
        }
        if r.reset_heartbeat {
            a.heartbeat_details = None;
            a.last_heartbeat_time = 0;
        }
        if a.started_time == 0 && !a.cancel_requested {
            self.redispatch(idx, at);
        }
    }

    fn reset(&mut self, idx: usize, r: &ResetActivityRequest, original: Option<ActivityOptions>) {
        let at = self.now_with_jitter(&r.jitter);
        if let Some(options) = original {
            self.apply_options(idx, options);
        }
        let a = &mut self.ms.activities[idx];
        a.attempt = 1;
        let running = a.started_time > 0;
        if running {
            a.reset_requested = true;
            a.reset_heartbeats |= r.reset_heartbeat;
        } else if r.reset_heartbeat {
            a.heartbeat_details = None;
            a.last_heartbeat_time = 0;
        }
        if a.paused && !r.keep_paused {
            a.paused = false;
            a.pause = None;
        }
        if !running && !a.paused && !a.cancel_requested {
            self.redispatch(idx, at);
        }
    }

    /// The options an activity runs with now.
    fn options(&self, idx: usize) -> ActivityOptions {
        let attrs = self.ms.activities[idx].attrs.clone().unwrap_or_default();
        options_of(&attrs)
    }

    /// Makes `options` the activity's (settled as a schedule command's are); the settled ones.
    fn apply_options(&mut self, idx: usize, options: ActivityOptions) -> ActivityOptions {
        let a = &mut self.ms.activities[idx];
        let attrs = a.attrs.get_or_insert_with(Default::default);
        let queue = options
            .task_queue
            .as_ref()
            .map(|t| t.name.clone())
            .unwrap_or_default();
        attrs.task_queue = Some(TaskQueue {
            name: queue,
            kind: 1,
            normal_name: String::new(),
        });
        attrs.schedule_to_close_timeout = options.schedule_to_close_timeout;
        attrs.schedule_to_start_timeout = options.schedule_to_start_timeout;
        attrs.start_to_close_timeout = options.start_to_close_timeout;
        attrs.heartbeat_timeout = options.heartbeat_timeout;
        attrs.priority = options.priority.clone();
        let policy = options.retry_policy.clone().unwrap_or_default();
        let kept = attrs.retry_policy.get_or_insert_with(Default::default);
        kept.initial_interval = policy.initial_interval;
        kept.backoff_coefficient = policy.backoff_coefficient;
        kept.maximum_interval = policy.maximum_interval;
        kept.maximum_attempts = policy.maximum_attempts;
        let settled = options_of(attrs);
        if a.started_time > 0 {
            // The running attempt's timeouts are the new ones.
            self.restamp(idx);
            self.arm_activity_timeout(idx);
        } else if !a.cancel_requested {
            // A waiting attempt goes out again under the new options, when it is due.
            let at = next_attempt_time(a);
            self.redispatch(idx, at);
        }
        settled
    }
}

/// An activity's options as its scheduled event (or its latest update) gives them.
pub(crate) fn options_of(attrs: &ActivityTaskScheduledEventAttributes) -> ActivityOptions {
    let policy = attrs.retry_policy.clone().unwrap_or_default();
    let queue = attrs
        .task_queue
        .as_ref()
        .map(|t| t.name.clone())
        .unwrap_or_default();
    ActivityOptions {
        task_queue: Some(TaskQueue {
            name: queue.clone(),
            kind: 0,
            normal_name: queue,
        }),
        schedule_to_close_timeout: attrs.schedule_to_close_timeout,
        schedule_to_start_timeout: attrs.schedule_to_start_timeout,
        start_to_close_timeout: attrs.start_to_close_timeout,
        heartbeat_timeout: attrs.heartbeat_timeout,
        retry_policy: Some(RetryPolicy {
            initial_interval: policy.initial_interval,
            backoff_coefficient: policy.backoff_coefficient,
            maximum_interval: policy.maximum_interval,
            maximum_attempts: policy.maximum_attempts,
            non_retryable_error_types: Vec::new(),
        }),
        priority: attrs.priority.clone(),
        start_delay: None,
    }
}

/// When a waiting attempt is due: its first attempt when scheduled, a retry after the backoff
/// its policy gives from the end of the attempt before.
pub(crate) fn next_attempt_time(a: &ActivityInfo) -> i64 {
    if a.attempt <= 1 || a.last_attempt_complete_time == 0 {
        return a.scheduled_time;
    }
    let policy = a
        .attrs
        .as_ref()
        .and_then(|x| x.retry_policy.clone())
        .unwrap_or_default();
    let mut interval = dur_nanos(&policy.initial_interval) as f64
        * policy.backoff_coefficient.max(1.0).powi(a.attempt - 1);
    let max = dur_nanos(&policy.maximum_interval) as f64;
    if max > 0.0 && (interval <= 0.0 || interval > max) {
        interval = max;
    }
    a.last_attempt_complete_time + interval.min(i64::MAX as f64 / 2.0) as i64
}

/// Applies the fields `paths` names (snake_case or camelCase) from `from` onto `into`.
fn merge_options(
    into: &mut ActivityOptions,
    from: &ActivityOptions,
    paths: &[String],
) -> Result<()> {
    let policy = || {
        from.retry_policy
            .clone()
            .ok_or_else(|| invalid("RetryPolicy is not provided"))
    };
    let priority = || {
        from.priority
            .clone()
            .ok_or_else(|| invalid("Priority is not provided"))
    };
    for path in paths {
        let camel = camel_case(path);
        match camel.as_str() {
            "taskQueue.name" | "taskQueue" => {
                let queue = from
                    .task_queue
                    .clone()
                    .ok_or_else(|| invalid("TaskQueue is not provided"))?;
                into.task_queue.get_or_insert_with(Default::default).name = queue.name;
            }
            "scheduleToCloseTimeout" => {
                into.schedule_to_close_timeout = from.schedule_to_close_timeout
            }
            "scheduleToStartTimeout" => {
                into.schedule_to_start_timeout = from.schedule_to_start_timeout
            }
            "startToCloseTimeout" => into.start_to_close_timeout = from.start_to_close_timeout,
            "heartbeatTimeout" => into.heartbeat_timeout = from.heartbeat_timeout,
            "priority" => into.priority = from.priority.clone(),
            "priority.priorityKey" => {
                into.priority
                    .get_or_insert_with(Default::default)
                    .priority_key = priority()?.priority_key
            }
            "priority.fairnessKey" => {
                into.priority
                    .get_or_insert_with(Default::default)
                    .fairness_key = priority()?.fairness_key
            }
            "priority.fairnessWeight" => {
                into.priority
                    .get_or_insert_with(Default::default)
                    .fairness_weight = priority()?.fairness_weight
            }
            "retryPolicy" => into.retry_policy = Some(policy()?),
            "retryPolicy.initialInterval" => {
                into.retry_policy
                    .get_or_insert_with(Default::default)
                    .initial_interval = policy()?.initial_interval
            }
            "retryPolicy.backoffCoefficient" => {
                into.retry_policy
                    .get_or_insert_with(Default::default)
                    .backoff_coefficient = policy()?.backoff_coefficient
            }
            "retryPolicy.maximumInterval" => {
                into.retry_policy
                    .get_or_insert_with(Default::default)
                    .maximum_interval = policy()?.maximum_interval
            }
            "retryPolicy.maximumAttempts" => {
                into.retry_policy
                    .get_or_insert_with(Default::default)
                    .maximum_attempts = policy()?.maximum_attempts
            }
            _ => {}
        }
    }
    Ok(())
}

/// `schedule_to_close_timeout` → `scheduleToCloseTimeout`, segment by segment.
fn camel_case(path: &str) -> String {
    path.split('.')
        .map(|segment| {
            let mut out = String::new();
            let mut upper = false;
            for c in segment.chars() {
                if c == '_' {
                    upper = true;
                } else if upper {
                    out.extend(c.to_uppercase());
                    upper = false;
                } else {
                    out.push(c);
                }
            }
            out
        })
        .collect::<Vec<_>>()
        .join(".")
}

impl Engine {
    /// Locks the run a call names; it must be running.
    pub(super) async fn running_run(
        &self,
        ns: &Namespace,
        exec: Option<WorkflowExecution>,
    ) -> Result<RunGuard> {
        let exec = exec.unwrap_or_default();
        let key = self.resolve(&ns.id, &exec).await?;
        let guard = self.lock(&key).await?;
        if guard.state().status
            != temporalio_protos::temporal::api::enums::v1::WorkflowExecutionStatus::Running as i32
        {
            return Err(Error::NotFound(
                "workflow execution already completed".into(),
            ));
        }
        Ok(guard)
    }

    pub async fn pause_activity(&self, ns: &Namespace, r: PauseActivityRequest) -> Result<()> {
        use pause_activity_request::Activity as A;
        let which = match r.activity.clone() {
            Some(A::Id(id)) => Which::Id(id),
            Some(A::Type(t)) => Which::Type(t),
            None => {
                return Err(invalid(
                    "Either activity id or activity type must be provided.",
                ));
            }
        };
        let mut guard = self.running_run(ns, r.execution.clone()).await?;
        let mut txn = self.begin(&guard);
        let pause = ActivityPause {
            time: txn.now,
            identity: r.identity.clone(),
            reason: r.reason.clone(),
            request_id: r.request_id.clone(),
        };
        for idx in txn.select(&which)? {
            txn.pause(idx, pause.clone())?;
        }
        self.commit(&mut guard, txn).await
    }

    pub async fn unpause_activity(&self, ns: &Namespace, r: UnpauseActivityRequest) -> Result<()> {
        let which = which!(
            r.activity.clone(),
            unpause_activity_request,
            UnpauseAll,
            "unpause_all"
        );
        let mut guard = self.running_run(ns, r.execution.clone()).await?;
        let mut txn = self.begin(&guard);
        for idx in txn.select(&which)? {
            txn.unpause(idx, &r);
        }
        self.commit(&mut guard, txn).await
    }

    pub async fn reset_activity(&self, ns: &Namespace, r: ResetActivityRequest) -> Result<()> {
        let which = which!(
            r.activity.clone(),
            reset_activity_request,
            MatchAll,
            "match_all"
        );
        let mut guard = self.running_run(ns, r.execution.clone()).await?;
        let key = guard.key.clone();
        let mut txn = self.begin(&guard);
        for idx in txn.select(&which)? {
            let original = match r.restore_original_options {
                true => Some(self.original_options(&key, &txn.ms.activities[idx]).await?),
                false => None,
            };
            txn.reset(idx, &r, original);
        }
        self.commit(&mut guard, txn).await
    }

    pub async fn update_activity_options(
        &self,
        ns: &Namespace,
        r: UpdateActivityOptionsRequest,
    ) -> Result<ActivityOptions> {
        let paths = r.update_mask.clone().map(|m| m.paths).unwrap_or_default();
        if r.restore_original && !paths.is_empty() {
            return Err(invalid("Both UpdateMask and RestoreOriginal are provided"));
        }
        let which = which!(
            r.activity.clone(),
            update_activity_options_request,
            MatchAll,
            "match_all"
        );
        let mut guard = self.running_run(ns, r.execution.clone()).await?;
        let key = guard.key.clone();
        let mut txn = self.begin(&guard);
        let run_timeout = dur_nanos(&txn.ms.started.as_ref().and_then(|s| s.workflow_run_timeout));
        let mut settled = ActivityOptions::default();
        for idx in txn.select(&which)? {
            let mut options = if r.restore_original {
                self.original_options(&key, &txn.ms.activities[idx]).await?
            } else {
                let from = r
                    .activity_options
                    .clone()
                    .ok_or_else(|| invalid("ActivityOptions are not provided"))?;
                if r.update_mask.is_none() {
                    return Err(invalid("UpdateMask is not provided"));
                }
                let mut options = txn.options(idx);
                merge_options(&mut options, &from, &paths)?;
                options
            };
            if paths
                .iter()
                .any(|p| camel_case(p).starts_with("retryPolicy"))
            {
                super::start::validate_retry_policy(&options.retry_policy)?;
            }
            let [stc, sts, start_close, hb] = activity_timeouts(
                run_timeout,
                [
                    &options.schedule_to_close_timeout,
                    &options.schedule_to_start_timeout,
                    &options.start_to_close_timeout,
                    &options.heartbeat_timeout,
                ],
            )
            .ok_or_else(|| invalid(NO_CLOSE_TIMEOUT))?;
            options.schedule_to_close_timeout = Some(dur(stc));
            options.schedule_to_start_timeout = Some(dur(sts));
            options.start_to_close_timeout = Some(dur(start_close));
            options.heartbeat_timeout = Some(dur(hb));
            if options
                .task_queue
                .as_ref()
                .is_none_or(|t| t.name.is_empty())
            {
                return Err(invalid("TaskQueue is not set on activity options."));
            }
            settled = txn.apply_options(idx, options);
        }
        self.commit(&mut guard, txn).await?;
        Ok(settled)
    }

    /// The options an activity was scheduled with, from its scheduled event.
    async fn original_options(
        &self,
        key: &sundial_store::RunKey,
        a: &ActivityInfo,
    ) -> Result<ActivityOptions> {
        let events = self
            .read_events(key, a.scheduled_event_id, a.scheduled_event_id)
            .await?;
        match events.into_iter().next().and_then(|e| e.attributes) {
            Some(Attributes::ActivityTaskScheduledEventAttributes(attrs)) => Ok(options_of(&attrs)),
            _ => Err(invalid(format!(
                "ActivityTaskScheduledEvent of activity {} not found",
                activity_id(a)
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mask_paths_read_in_either_case() {
        assert_eq!(
            camel_case("retry_policy.maximum_attempts"),
            "retryPolicy.maximumAttempts"
        );
        assert_eq!(camel_case("taskQueue.name"), "taskQueue.name");
        let mut into = ActivityOptions::default();
        let from = ActivityOptions {
            start_to_close_timeout: Some(dur(5_000_000_000)),
            retry_policy: Some(RetryPolicy {
                maximum_attempts: 7,
                ..Default::default()
            }),
            ..Default::default()
        };
        merge_options(
            &mut into,
            &from,
            &[
                "start_to_close_timeout".into(),
                "retryPolicy.maximumAttempts".into(),
            ],
        )
        .unwrap();
        assert_eq!(into.start_to_close_timeout, Some(dur(5_000_000_000)));
        assert_eq!(into.retry_policy.as_ref().unwrap().maximum_attempts, 7);
        let e = merge_options(
            &mut into,
            &ActivityOptions::default(),
            &["task_queue.name".into()],
        );
        assert!(
            e.unwrap_err()
                .to_string()
                .contains("TaskQueue is not provided")
        );
    }
}
