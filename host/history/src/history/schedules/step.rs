//! A scheduler's step: hear which started run closed, queue the times now due, start what the
//! overlap policy lets start (stopping the running one for CANCEL_OTHER / TERMINATE_OTHER),
//! and set the next wake-up. Starts have ids and request ids fixed by the schedule and the
//! nominal time, so a step retried after a crash starts nothing twice.

use sundial_schedule::CompiledSpec;
use sundial_store::RunKey;
use temporalio_protos::temporal::api::{
    common::v1::{SearchAttributes, WorkflowExecution},
    enums::v1::{ScheduleOverlapPolicy, WorkflowExecutionStatus, WorkflowIdReusePolicy},
    schedule::v1::{ScheduleActionResult, schedule_action},
    workflowservice::v1::SignalWithStartWorkflowExecutionRequest,
};

use super::update::buffer_start;
use super::{
    LIST_INFO_MEMO, PendingStart, SCHEDULE_PAUSED, SCHEDULED_BY_ID, SCHEDULED_START_TIME,
    ScheduleRecord, ScheduledRunClosed, StartCarry, at, nanos_of, rfc3339_seconds, seed,
    typed_payload,
};
use crate::error::{Error, Result};
use crate::history::Engine;
use crate::history::system_calls::{CallKind, SystemCallBody};
use crate::namespace::Namespace;
use crate::state::{MutableState, TaskKind};
use crate::time::{dur_nanos, ts};

const MAX_RECENT_ACTIONS: usize = 10;
/// How long a start that failed for a passing reason waits before the next try.
const RETRY_DELAY: i64 = 2_000_000_000;

/// What the buffer lets happen now (Temporal's rules, per start's resolved overlap policy).
#[derive(Default)]
struct Decision {
    /// ALLOW_ALL starts: all at once, untracked.
    overlapping: Vec<PendingStart>,
    /// The one start that may run now, tracked.
    next: Option<PendingStart>,
    keep: Vec<PendingStart>,
    skipped: i64,
    cancel: bool,
    terminate: bool,
}

fn decide(buffer: Vec<PendingStart>, running: bool, default_policy: i32) -> Decision {
    let mut d = Decision::default();
    for start in buffer {
        let policy = match start.overlap_policy {
            0 => default_policy,
            p => p,
        };
        let policy = ScheduleOverlapPolicy::try_from(policy).unwrap_or(ScheduleOverlapPolicy::Skip);
        if policy == ScheduleOverlapPolicy::AllowAll {
            d.overlapping.push(start);
            continue;
        }
        if !running && d.next.is_none() {
            d.next = Some(start);
            continue;
        }
        match policy {
            ScheduleOverlapPolicy::BufferOne if d.keep.is_empty() => d.keep.push(start),
            ScheduleOverlapPolicy::BufferAll => d.keep.push(start),
            ScheduleOverlapPolicy::CancelOther | ScheduleOverlapPolicy::TerminateOther
                if running =>
            {
                if policy == ScheduleOverlapPolicy::CancelOther {
                    d.cancel = true;
                } else {
                    d.terminate = true;
                }
                d.keep.push(start);
            }
            // Not running: this one replaces the one that was going to start.
            ScheduleOverlapPolicy::CancelOther | ScheduleOverlapPolicy::TerminateOther => {
                d.next = Some(start)
            }
            _ => d.skipped += 1,
        }
    }
    if d.cancel || d.terminate {
        // They would be stopped at once too.
        d.overlapping.clear();
    }
    d
}

/// Records the close of a run the schedule started.
fn record_close(record: &mut ScheduleRecord, closed: &ScheduledRunClosed) {
    let info = record.info.get_or_insert_with(Default::default);
    let tracked = match info
        .running_workflows
        .iter()
        .position(|w| w.workflow_id == closed.workflow_id)
    {
        Some(i) => {
            info.running_workflows.remove(i);
            true
        }
        None => false,
    };
    for action in info.recent_actions.iter_mut() {
        if action
            .start_workflow_result
            .as_ref()
            .is_some_and(|r| r.workflow_id == closed.workflow_id)
        {
            action.start_workflow_status = closed.status;
        }
    }
    if record.stopping_run_id == closed.first_run_id {
        record.stopping_run_id.clear();
    }
    if !tracked {
        return;
    }
    let status = WorkflowExecutionStatus::try_from(closed.status).unwrap_or_default();
    match status {
        WorkflowExecutionStatus::Completed => {
            record.last_completion_result = closed.result.clone();
            record.continued_failure = None;
        }
        WorkflowExecutionStatus::Failed | WorkflowExecutionStatus::TimedOut => {
            record.continued_failure = closed.failure.clone();
            let schedule = record.schedule.get_or_insert_with(Default::default);
            if schedule
                .policies
                .as_ref()
                .is_some_and(|p| p.pause_on_failure)
            {
                let state = schedule.state.get_or_insert_with(Default::default);
                state.paused = true;
                state.notes = if status == WorkflowExecutionStatus::Failed {
                    let message = closed.failure.as_ref().map_or("", |f| f.message.as_str());
                    format!(
                        "paused due to workflow failure: {}: {message}",
                        closed.workflow_id
                    )
                } else {
                    format!("paused due to workflow timeout: {}", closed.workflow_id)
                };
                record.conflict_token += 1;
            }
        }
        _ => {}
    }
}

/// Queues every time due by `now` since the last step; paused or used-up schedules skip them
/// silently, times older than the catch-up window are counted missed.
fn collect_due(record: &mut ScheduleRecord, spec: &CompiledSpec, seed: &str, now: i64) {
    let schedule = record.schedule.clone().unwrap_or_default();
    let catchup = dur_nanos(&schedule.policies.unwrap_or_default().catchup_window);
    let mut after = at(record.processed_until);
    while let Some(next) = spec.next_time(seed, after) {
        let actual = nanos_of(next.actual);
        if actual > now {
            break;
        }
        after = next.nominal;
        record.processed_until = nanos_of(next.nominal);
        let state = record
            .schedule
            .get_or_insert_with(Default::default)
            .state
            .get_or_insert_with(Default::default);
        if state.paused || (state.limited_actions && state.remaining_actions <= 0) {
            continue;
        }
        if now - actual > catchup {
            record
                .info
                .get_or_insert_with(Default::default)
                .missed_catchup_window += 1;
            continue;
        }
        if state.limited_actions {
            state.remaining_actions -= 1;
            record.conflict_token += 1;
        }
        buffer_start(
            record,
            PendingStart {
                nominal: nanos_of(next.nominal),
                actual,
                overlap_policy: 0,
                manual: false,
            },
        );
    }
    if record.processed_until < now && spec.next_time(seed, at(now)).is_none() {
        record.processed_until = now;
    }
}

impl Engine {
    /// One step of the scheduler run `key`, after hearing `closed` if given.
    pub(crate) async fn run_scheduler(
        &self,
        key: &RunKey,
        closed: Option<ScheduledRunClosed>,
    ) -> Result<()> {
        self.run_scheduler_with(key, closed, |_, _| Ok(())).await
    }

    /// A step after `change` (an update or a patch) was applied to the record and the run's
    /// state; an error of `change` is returned and nothing is written.
    pub(crate) async fn run_scheduler_with(
        &self,
        key: &RunKey,
        closed: Option<ScheduledRunClosed>,
        change: impl FnOnce(&mut ScheduleRecord, &mut MutableState) -> Result<()>,
    ) -> Result<()> {
        let ns = self.namespaces().by_id(&key.namespace_id).await?;
        let mut guard = self.lock(key).await?;
        let mut txn = self.begin(&guard);
        if !txn.running() {
            return Err(Error::NotFound("schedule not found".into()));
        }
        let Some(mut record) = txn.ms.schedule.take() else {
            return Ok(());
        };
        change(&mut record, &mut txn.ms)?;
        if let Some(closed) = &closed {
            record_close(&mut record, closed);
        }
        let now = txn.now;
        let seed = seed(&ns.id, &record.schedule_id);
        let spec = super::compiled(record.schedule.as_ref().expect("a scheduler's record"))?;
        collect_due(&mut record, &spec, &seed, now);
        let retry = self.take_actions(&ns, &mut record, now).await;
        let wake = match spec.next_time(&seed, at(record.processed_until)) {
            Some(next) => nanos_of(next.actual),
            None => 0,
        };
        let wake = match retry {
            true if wake == 0 => now + RETRY_DELAY,
            true => wake.min(now + RETRY_DELAY),
            false => wake,
        };
        if wake != 0 && (wake != record.next_wake || record.next_wake <= now) {
            txn.task(TaskKind::ScheduleWake, wake, 0);
        }
        record.next_wake = wake;
        self.refresh_listing(&ns, &mut txn.ms, &record, &spec, now);
        txn.ms.schedule = Some(record);
        if txn.ms != *guard.state() {
            txn.visibility = true;
            self.commit(&mut guard, txn).await?;
        }
        Ok(())
    }

    /// Keeps the run's search attribute `TemporalSchedulePaused` and its listing memo current.
    fn refresh_listing(
        &self,
        ns: &Namespace,
        ms: &mut MutableState,
        record: &ScheduleRecord,
        spec: &CompiledSpec,
        now: i64,
    ) {
        let paused = record
            .schedule
            .as_ref()
            .and_then(|s| s.state.as_ref())
            .is_some_and(|s| s.paused);
        ms.search_attributes
            .get_or_insert_with(Default::default)
            .indexed_fields
            .insert(SCHEDULE_PAUSED.into(), typed_payload("Bool", paused.into()));
        ms.memo.get_or_insert_with(Default::default).fields.insert(
            LIST_INFO_MEMO.into(),
            super::list::info_memo(record, spec, &ns.id, now),
        );
    }

    /// Starts what the buffer lets start; true when a start failed for a passing reason and
    /// should be tried again soon.
    async fn take_actions(&self, ns: &Namespace, record: &mut ScheduleRecord, now: i64) -> bool {
        let default_policy = record
            .schedule
            .as_ref()
            .and_then(|s| s.policies.as_ref())
            .map_or(ScheduleOverlapPolicy::Skip as i32, |p| p.overlap_policy);
        loop {
            let running = record
                .info
                .as_ref()
                .is_some_and(|i| !i.running_workflows.is_empty());
            let decision = decide(std::mem::take(&mut record.buffer), running, default_policy);
            record.buffer = decision.keep;
            record
                .info
                .get_or_insert_with(Default::default)
                .overlap_skipped += decision.skipped;
            if decision.cancel || decision.terminate {
                self.stop_running(ns, record, decision.terminate).await;
            }
            // Each start with whether it is tracked; what could not start goes back, in order.
            let mut starts: Vec<(PendingStart, bool)> = decision
                .overlapping
                .into_iter()
                .map(|s| (s, false))
                .collect();
            let progressed = decision.next.is_some();
            starts.extend(decision.next.map(|s| (s, true)));
            let mut starts = starts.into_iter();
            while let Some((start, tracked)) = starts.next() {
                if self.start_one(ns, record, &start, tracked, now).await {
                    let back: Vec<PendingStart> = std::iter::once(start)
                        .chain(starts.map(|(s, _)| s))
                        .collect();
                    record.buffer.splice(0..0, back);
                    return true;
                }
            }
            if !progressed {
                return false;
            }
        }
    }

    /// Asks the tracked running workflow to stop (once per run).
    async fn stop_running(&self, ns: &Namespace, record: &mut ScheduleRecord, terminate: bool) {
        let Some(running) = record
            .info
            .as_ref()
            .and_then(|i| i.running_workflows.first().cloned())
        else {
            return;
        };
        if record.stopping_run_id == running.run_id {
            return;
        }
        let call = SystemCallBody {
            kind: if terminate {
                CallKind::Terminate
            } else {
                CallKind::Cancel
            } as i32,
            namespace_id: ns.id.clone(),
            workflow_id: running.workflow_id.clone(),
            run_id: running.run_id.clone(),
            identity: identity(ns, record),
            reason: format!(
                "{} by schedule overlap policy",
                if terminate { "terminated" } else { "cancelled" }
            ),
            ..Default::default()
        };
        match self.system_call(call).await {
            Ok(_) | Err(Error::NotFound(_)) => record.stopping_run_id = running.run_id,
            Err(e) => {
                tracing::warn!(schedule_id = %record.schedule_id, error = %e, "could not stop the running workflow; trying at the next step")
            }
        }
    }

    /// Starts one run; true when it failed for a passing reason (try again).
    async fn start_one(
        &self,
        ns: &Namespace,
        record: &mut ScheduleRecord,
        start: &PendingStart,
        tracked: bool,
        now: i64,
    ) -> bool {
        let Some(schedule_action::Action::StartWorkflow(action)) = record
            .schedule
            .as_ref()
            .and_then(|s| s.action.as_ref())
            .and_then(|a| a.action.clone())
        else {
            return false;
        };
        let workflow_id = format!("{}-{}", action.workflow_id, rfc3339_seconds(start.nominal));
        let request = SignalWithStartWorkflowExecutionRequest {
            namespace: ns.name.clone(),
            workflow_id: workflow_id.clone(),
            workflow_type: action.workflow_type,
            task_queue: action.task_queue,
            input: action.input,
            workflow_execution_timeout: action.workflow_execution_timeout,
            workflow_run_timeout: action.workflow_run_timeout,
            workflow_task_timeout: action.workflow_task_timeout,
            identity: identity(ns, record),
            request_id: format!("{}-{}-{}", record.schedule_id, start.nominal, start.actual),
            workflow_id_reuse_policy: if start.manual {
                WorkflowIdReusePolicy::AllowDuplicate
            } else {
                WorkflowIdReusePolicy::RejectDuplicate
            } as i32,
            retry_policy: action.retry_policy,
            memo: action.memo,
            search_attributes: action.search_attributes,
            header: action.header,
            user_metadata: action.user_metadata,
            priority: action.priority,
            ..Default::default()
        };
        let mut marks = SearchAttributes::default();
        marks.indexed_fields.insert(
            SCHEDULED_START_TIME.into(),
            typed_payload(
                "Datetime",
                at(start.nominal)
                    .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
                    .into(),
            ),
        );
        marks.indexed_fields.insert(
            SCHEDULED_BY_ID.into(),
            typed_payload("Keyword", record.schedule_id.clone().into()),
        );
        let carry = StartCarry {
            last_completion_result: tracked
                .then(|| record.last_completion_result.clone())
                .flatten(),
            continued_failure: tracked.then(|| record.continued_failure.clone()).flatten(),
            search_attributes: Some(marks),
        };
        let call = SystemCallBody {
            kind: CallKind::Start as i32,
            namespace_id: ns.id.clone(),
            request: Some(request),
            carry: Some(carry),
            ..Default::default()
        };
        let run_id = match self.system_call(call).await {
            Ok(run_id) => run_id,
            Err(Error::WorkflowAlreadyStarted { .. }) => {
                tracing::debug!(schedule_id = %record.schedule_id, %workflow_id, "already started; this start is dropped");
                return false;
            }
            Err(e @ (Error::InvalidArgument(_) | Error::NamespaceNotFound { .. })) => {
                tracing::warn!(schedule_id = %record.schedule_id, %workflow_id, error = %e, "the schedule's action cannot start; this start is dropped");
                return false;
            }
            Err(e) => {
                tracing::warn!(schedule_id = %record.schedule_id, %workflow_id, error = %e, "start failed; trying again");
                return true;
            }
        };
        let execution = WorkflowExecution {
            workflow_id,
            run_id,
        };
        let info = record.info.get_or_insert_with(Default::default);
        info.action_count += 1;
        info.recent_actions.push(ScheduleActionResult {
            schedule_time: Some(ts(start.actual)),
            actual_time: Some(ts(now)),
            start_workflow_result: Some(execution.clone()),
            start_workflow_status: WorkflowExecutionStatus::Running as i32,
        });
        let excess = info.recent_actions.len().saturating_sub(MAX_RECENT_ACTIONS);
        info.recent_actions.drain(..excess);
        if tracked {
            info.running_workflows.push(execution);
        }
        false
    }
}

fn identity(ns: &Namespace, record: &ScheduleRecord) -> String {
    format!("temporal-scheduler-{}-{}", ns.name, record.schedule_id)
}
