//! A change to one run in progress: new events (with ids), buffered events, durable tasks.

use temporalio_protos::temporal::api::{
    common::v1::WorkerVersionStamp,
    enums::v1::{EventType, SuggestContinueAsNewReason, TaskQueueKind, WorkflowExecutionStatus},
    history::v1::{
        HistoryEvent, WorkflowTaskScheduledEventAttributes, WorkflowTaskStartedEventAttributes,
        history_event::Attributes,
    },
    taskqueue::v1::TaskQueue,
};

use super::{Engine, Staged};
use crate::matching::QueueKind;
use crate::state::{MutableState, Task, TaskKind, WorkflowTaskInfo};
use crate::time::{SECOND, dur, now_nanos, ts};
use sundial_matching::Poller;
use sundial_store::RunKey;

/// Event id given to an event while it waits in the buffer (Temporal uses the same marker).
pub(crate) const BUFFERED_EVENT_ID: i64 = -123;

/// Default and maximum workflow task timeouts (Temporal's defaults).
pub(crate) const DEFAULT_WFT_TIMEOUT: i64 = 10 * SECOND;
pub(crate) const MAX_WFT_TIMEOUT: i64 = 120 * SECOND;

/// A workflow task timeout as Temporal takes it: the default when unset, capped.
pub(crate) fn wft_timeout_or_default(nanos: i64) -> i64 {
    if nanos <= 0 {
        DEFAULT_WFT_TIMEOUT
    } else {
        nanos.min(MAX_WFT_TIMEOUT)
    }
}

/// A run timeout bounded by the execution timeout, as Temporal fills it in (zero: no limit).
pub(crate) fn bounded_run_timeout(run: i64, execution: i64) -> i64 {
    match (run, execution) {
        (0, e) => e,
        (r, 0) => r,
        (r, e) => r.min(e),
    }
}

pub(crate) struct Txn<'a> {
    pub engine: &'a Engine,
    pub shard_id: i32,
    pub ms: MutableState,
    pub now: i64,
    pub events: Vec<HistoryEvent>,
    pub tasks: Vec<Task>,
    pub visibility: bool,
    /// The run's namespace name and the ids of other namespaces commands name (filled
    /// before commands are applied).
    pub ns_name: String,
    pub ns_ids: std::collections::HashMap<String, String>,
    /// Set when this change closed the run.
    pub closed_now: bool,
    /// Protocol messages of the completing workflow task not yet applied.
    pub messages: Vec<temporalio_protos::temporal::api::protocol::v1::Message>,
    /// What waiting update callers learn once this change is committed.
    pub update_notices: Vec<(String, super::updates::Stage)>,
}

fn event_type(a: &Attributes) -> EventType {
    use Attributes as A;
    match a {
        A::WorkflowExecutionStartedEventAttributes(_) => EventType::WorkflowExecutionStarted,
        A::WorkflowExecutionCompletedEventAttributes(_) => EventType::WorkflowExecutionCompleted,
        A::WorkflowExecutionFailedEventAttributes(_) => EventType::WorkflowExecutionFailed,
        A::WorkflowExecutionTimedOutEventAttributes(_) => EventType::WorkflowExecutionTimedOut,
        A::WorkflowTaskScheduledEventAttributes(_) => EventType::WorkflowTaskScheduled,
        A::WorkflowTaskStartedEventAttributes(_) => EventType::WorkflowTaskStarted,
        A::WorkflowTaskCompletedEventAttributes(_) => EventType::WorkflowTaskCompleted,
        A::WorkflowTaskTimedOutEventAttributes(_) => EventType::WorkflowTaskTimedOut,
        A::WorkflowTaskFailedEventAttributes(_) => EventType::WorkflowTaskFailed,
        A::ActivityTaskScheduledEventAttributes(_) => EventType::ActivityTaskScheduled,
        A::ActivityTaskStartedEventAttributes(_) => EventType::ActivityTaskStarted,
        A::ActivityTaskCompletedEventAttributes(_) => EventType::ActivityTaskCompleted,
        A::ActivityTaskFailedEventAttributes(_) => EventType::ActivityTaskFailed,
        A::ActivityTaskTimedOutEventAttributes(_) => EventType::ActivityTaskTimedOut,
        A::ActivityTaskCancelRequestedEventAttributes(_) => EventType::ActivityTaskCancelRequested,
        A::ActivityTaskCanceledEventAttributes(_) => EventType::ActivityTaskCanceled,
        A::TimerStartedEventAttributes(_) => EventType::TimerStarted,
        A::TimerFiredEventAttributes(_) => EventType::TimerFired,
        A::TimerCanceledEventAttributes(_) => EventType::TimerCanceled,
        A::WorkflowExecutionCancelRequestedEventAttributes(_) => {
            EventType::WorkflowExecutionCancelRequested
        }
        A::WorkflowExecutionCanceledEventAttributes(_) => EventType::WorkflowExecutionCanceled,
        A::MarkerRecordedEventAttributes(_) => EventType::MarkerRecorded,
        A::WorkflowExecutionSignaledEventAttributes(_) => EventType::WorkflowExecutionSignaled,
        A::WorkflowExecutionTerminatedEventAttributes(_) => EventType::WorkflowExecutionTerminated,
        A::WorkflowExecutionContinuedAsNewEventAttributes(_) => {
            EventType::WorkflowExecutionContinuedAsNew
        }
        A::UpsertWorkflowSearchAttributesEventAttributes(_) => {
            EventType::UpsertWorkflowSearchAttributes
        }
        A::WorkflowPropertiesModifiedEventAttributes(_) => EventType::WorkflowPropertiesModified,
        A::StartChildWorkflowExecutionInitiatedEventAttributes(_) => {
            EventType::StartChildWorkflowExecutionInitiated
        }
        A::StartChildWorkflowExecutionFailedEventAttributes(_) => {
            EventType::StartChildWorkflowExecutionFailed
        }
        A::ChildWorkflowExecutionStartedEventAttributes(_) => {
            EventType::ChildWorkflowExecutionStarted
        }
        A::ChildWorkflowExecutionCompletedEventAttributes(_) => {
            EventType::ChildWorkflowExecutionCompleted
        }
        A::ChildWorkflowExecutionFailedEventAttributes(_) => {
            EventType::ChildWorkflowExecutionFailed
        }
        A::ChildWorkflowExecutionCanceledEventAttributes(_) => {
            EventType::ChildWorkflowExecutionCanceled
        }
        A::ChildWorkflowExecutionTimedOutEventAttributes(_) => {
            EventType::ChildWorkflowExecutionTimedOut
        }
        A::ChildWorkflowExecutionTerminatedEventAttributes(_) => {
            EventType::ChildWorkflowExecutionTerminated
        }
        A::SignalExternalWorkflowExecutionInitiatedEventAttributes(_) => {
            EventType::SignalExternalWorkflowExecutionInitiated
        }
        A::SignalExternalWorkflowExecutionFailedEventAttributes(_) => {
            EventType::SignalExternalWorkflowExecutionFailed
        }
        A::ExternalWorkflowExecutionSignaledEventAttributes(_) => {
            EventType::ExternalWorkflowExecutionSignaled
        }
        A::RequestCancelExternalWorkflowExecutionInitiatedEventAttributes(_) => {
            EventType::RequestCancelExternalWorkflowExecutionInitiated
        }
        A::RequestCancelExternalWorkflowExecutionFailedEventAttributes(_) => {
            EventType::RequestCancelExternalWorkflowExecutionFailed
        }
        A::ExternalWorkflowExecutionCancelRequestedEventAttributes(_) => {
            EventType::ExternalWorkflowExecutionCancelRequested
        }
        A::WorkflowExecutionUpdateAcceptedEventAttributes(_) => {
            EventType::WorkflowExecutionUpdateAccepted
        }
        A::WorkflowExecutionUpdateCompletedEventAttributes(_) => {
            EventType::WorkflowExecutionUpdateCompleted
        }
        A::WorkflowExecutionUpdateRejectedEventAttributes(_) => {
            EventType::WorkflowExecutionUpdateRejected
        }
        A::WorkflowExecutionUpdateAdmittedEventAttributes(_) => {
            EventType::WorkflowExecutionUpdateAdmitted
        }
        A::WorkflowExecutionOptionsUpdatedEventAttributes(_) => {
            EventType::WorkflowExecutionOptionsUpdated
        }
        _ => EventType::Unspecified,
    }
}

/// (initiated event id, started event id) of a child's close event.
fn child_close_ids(a: &mut Attributes) -> Option<(i64, &mut i64)> {
    use Attributes as A;
    match a {
        A::ChildWorkflowExecutionCompletedEventAttributes(a) => {
            Some((a.initiated_event_id, &mut a.started_event_id))
        }
        A::ChildWorkflowExecutionFailedEventAttributes(a) => {
            Some((a.initiated_event_id, &mut a.started_event_id))
        }
        A::ChildWorkflowExecutionCanceledEventAttributes(a) => {
            Some((a.initiated_event_id, &mut a.started_event_id))
        }
        A::ChildWorkflowExecutionTimedOutEventAttributes(a) => {
            Some((a.initiated_event_id, &mut a.started_event_id))
        }
        A::ChildWorkflowExecutionTerminatedEventAttributes(a) => {
            Some((a.initiated_event_id, &mut a.started_event_id))
        }
        _ => None,
    }
}

impl<'a> Txn<'a> {
    pub fn new(engine: &'a Engine, shard_id: i32, ms: MutableState) -> Txn<'a> {
        Txn {
            engine,
            shard_id,
            ms,
            now: now_nanos(),
            events: Vec::new(),
            tasks: Vec::new(),
            visibility: false,
            ns_name: String::new(),
            ns_ids: Default::default(),
            closed_now: false,
            messages: Vec::new(),
            update_notices: Vec::new(),
        }
    }

    pub fn running(&self) -> bool {
        self.ms.status == WorkflowExecutionStatus::Running as i32
    }

    fn make_event(&self, attrs: Attributes) -> HistoryEvent {
        HistoryEvent {
            event_id: BUFFERED_EVENT_ID,
            event_time: Some(ts(self.now)),
            event_type: event_type(&attrs) as i32,
            version: 0,
            task_id: self.engine.next_task_id(self.shard_id),
            attributes: Some(attrs),
            ..Default::default()
        }
    }

    /// Appends an event to history now; returns its id.
    pub fn add(&mut self, attrs: impl Into<Attributes>) -> i64 {
        let mut e = self.make_event(attrs.into());
        e.event_id = self.ms.next_event_id;
        self.ms.next_event_id += 1;
        self.events.push(e);
        self.ms.next_event_id - 1
    }

    /// Whether a workflow task is running (events from outside must wait in the buffer).
    pub fn wft_started(&self) -> bool {
        self.ms
            .workflow_task
            .as_ref()
            .is_some_and(|w| w.started_event_id > 0)
    }

    /// Adds an event caused from outside the workflow: buffered while a workflow task runs.
    /// Returns the event id, or [`BUFFERED_EVENT_ID`].
    pub fn add_external(&mut self, attrs: impl Into<Attributes>) -> i64 {
        if self.wft_started() {
            let e = self.make_event(attrs.into());
            self.ms.buffered_events.push(e);
            BUFFERED_EVENT_ID
        } else {
            self.add(attrs)
        }
    }

    /// Like [`Txn::add_external`], for an event workers may ignore (they need not know it).
    pub fn add_external_ignorable(&mut self, attrs: impl Into<Attributes>) {
        let buffered = self.add_external(attrs) == BUFFERED_EVENT_ID;
        let event = match buffered {
            true => self.ms.buffered_events.last_mut(),
            false => self.events.last_mut(),
        };
        if let Some(e) = event {
            e.worker_may_ignore = true;
        }
    }

    /// Buffers an event caused by a command that is not the command's own event (it follows
    /// the task's command events, and is dropped if the workflow closes in the same task).
    pub fn buffer(&mut self, attrs: impl Into<Attributes>) {
        let e = self.make_event(attrs.into());
        self.ms.buffered_events.push(e);
    }

    /// Writes buffered events to history, fixing references to buffered started events.
    pub fn flush_buffered(&mut self) -> bool {
        if self.ms.buffered_events.is_empty() {
            return false;
        }
        let buffered = std::mem::take(&mut self.ms.buffered_events);
        let mut started_ids = std::collections::HashMap::new();
        let mut child_started = std::collections::HashMap::new();
        for mut e in buffered {
            e.event_id = self.ms.next_event_id;
            self.ms.next_event_id += 1;
            use Attributes as A;
            match e.attributes.as_mut() {
                Some(A::ActivityTaskStartedEventAttributes(a)) => {
                    started_ids.insert(a.scheduled_event_id, e.event_id);
                }
                Some(A::ActivityTaskCompletedEventAttributes(a))
                    if a.started_event_id == BUFFERED_EVENT_ID =>
                {
                    a.started_event_id =
                        started_ids.get(&a.scheduled_event_id).copied().unwrap_or(0);
                }
                Some(A::ActivityTaskFailedEventAttributes(a))
                    if a.started_event_id == BUFFERED_EVENT_ID =>
                {
                    a.started_event_id =
                        started_ids.get(&a.scheduled_event_id).copied().unwrap_or(0);
                }
                Some(A::ActivityTaskTimedOutEventAttributes(a))
                    if a.started_event_id == BUFFERED_EVENT_ID =>
                {
                    a.started_event_id =
                        started_ids.get(&a.scheduled_event_id).copied().unwrap_or(0);
                }
                Some(A::ActivityTaskCanceledEventAttributes(a))
                    if a.started_event_id == BUFFERED_EVENT_ID =>
                {
                    a.started_event_id =
                        started_ids.get(&a.scheduled_event_id).copied().unwrap_or(0);
                }
                Some(A::ChildWorkflowExecutionStartedEventAttributes(a)) => {
                    child_started.insert(a.initiated_event_id, e.event_id);
                    if let Some(c) = self
                        .ms
                        .children
                        .iter_mut()
                        .find(|c| c.initiated_event_id == a.initiated_event_id)
                    {
                        c.started_event_id = e.event_id;
                    }
                }
                Some(attrs) => {
                    if let Some((initiated, started)) = child_close_ids(attrs)
                        && *started == BUFFERED_EVENT_ID
                    {
                        *started = child_started.get(&initiated).copied().unwrap_or(0);
                    }
                }
                _ => {}
            }
            self.events.push(e);
        }
        true
    }

    pub fn task(&mut self, kind: TaskKind, fire_time: i64, event_id: i64) -> &mut Task {
        self.tasks.push(Task {
            kind: kind as i32,
            namespace_id: self.ms.namespace_id.clone(),
            workflow_id: self.ms.workflow_id.clone(),
            run_id: self.ms.run_id.clone(),
            fire_time,
            event_id,
            ..Default::default()
        });
        self.tasks.last_mut().expect("just pushed")
    }

    pub fn normal_task_queue(&self) -> String {
        self.ms
            .started
            .as_ref()
            .and_then(|s| s.task_queue.as_ref())
            .map(|t| t.name.clone())
            .unwrap_or_default()
    }

    pub fn wft_timeout_nanos(&self) -> i64 {
        wft_timeout_or_default(crate::time::dur_nanos(
            &self
                .ms
                .started
                .as_ref()
                .and_then(|s| s.workflow_task_timeout),
        ))
    }

    /// Schedules a workflow task unless one is pending; sticky when the sticky worker is alive.
    pub fn schedule_workflow_task(&mut self, attempt: i32) {
        self.schedule_wft(attempt, false, true);
    }

    /// Schedules a workflow task that only delivers updates (see `WorkflowTaskInfo`).
    pub fn schedule_speculative_workflow_task(&mut self) {
        self.schedule_wft(1, true, true);
    }

    /// Schedules the first workflow task and starts it at once for `identity` (eager workflow
    /// start: the task goes back in the start response instead of to matching).
    pub fn start_eager_workflow_task(&mut self, identity: &str, request_id: &str) {
        self.schedule_wft(1, false, false);
        let poller = Poller {
            identity: identity.to_string(),
            ..Default::default()
        };
        if let Some(wft) = self.ms.workflow_task.clone() {
            self.start_workflow_task(wft, &poller, request_id.to_string());
        }
    }

    /// Marks a scheduled workflow task started by `poller`: its started event (unless the
    /// task is transient) and its start-to-close timeout.
    pub fn start_workflow_task(
        &mut self,
        mut wft: WorkflowTaskInfo,
        poller: &Poller,
        request_id: String,
    ) -> WorkflowTaskInfo {
        wft.build_id = poller.build_id.clone();
        wft.identity = poller.identity.clone();
        wft.request_id = request_id;
        wft.started_event_id = if self.ms.transient_wft {
            wft.scheduled_event_id + 1
        } else {
            let next = self.ms.next_event_id;
            self.add(self.workflow_task_started(&wft, next))
        };
        wft.started_time = self.now;
        self.ms.workflow_task = Some(wft.clone());
        let t = self.task(
            TaskKind::WorkflowTaskTimeout,
            wft.started_time + wft.timeout_nanos,
            wft.scheduled_event_id,
        );
        t.attempt = wft.attempt;
        t.stamp = wft.stamp;
        wft
    }

    fn schedule_wft(&mut self, attempt: i32, speculative: bool, dispatch: bool) {
        if !self.running() || self.ms.workflow_task.is_some() {
            return;
        }
        let normal = self.normal_task_queue();
        // Like Temporal, the event names the sticky queue whenever the run has one; the task
        // goes there only while its worker polls, else straight to the normal queue.
        let has_sticky = !self.ms.sticky_task_queue.is_empty();
        let sticky = has_sticky
            && self.engine.queue_is_live(&Engine::queue_key(
                &self.ms.namespace_id,
                &self.ms.sticky_task_queue,
                QueueKind::Workflow,
            ));
        let (event_queue, kind) = if has_sticky {
            (self.ms.sticky_task_queue.clone(), TaskQueueKind::Sticky)
        } else {
            (normal.clone(), TaskQueueKind::Normal)
        };
        let queue = if sticky {
            self.ms.sticky_task_queue.clone()
        } else {
            normal.clone()
        };
        let timeout = self.wft_timeout_nanos();
        // A retried task's events are written only once it completes (Temporal's transient
        // workflow task): failing attempts leave no trace in history.
        let transient = attempt > 1 || speculative;
        let id = if transient {
            self.ms.next_event_id
        } else {
            self.add(WorkflowTaskScheduledEventAttributes {
                task_queue: Some(TaskQueue {
                    name: event_queue,
                    kind: kind as i32,
                    normal_name: if has_sticky {
                        normal.clone()
                    } else {
                        String::new()
                    },
                }),
                start_to_close_timeout: Some(dur(timeout)),
                attempt,
            })
        };
        self.ms.transient_wft = transient;
        self.ms.dispatch_stamp += 1;
        let stamp = self.ms.dispatch_stamp;
        self.ms.workflow_task = Some(WorkflowTaskInfo {
            scheduled_event_id: id,
            attempt,
            scheduled_time: self.now,
            task_queue: queue.clone(),
            sticky,
            stamp,
            timeout_nanos: timeout,
            speculative,
            ..Default::default()
        });
        if !dispatch {
            return;
        }
        let sticky_timeout_at = self.now + self.ms.sticky_schedule_to_start_nanos.max(SECOND);
        let t = self.task(TaskKind::DispatchWorkflowTask, 0, id);
        t.task_queue = queue;
        t.stamp = stamp;
        t.attempt = attempt;
        if sticky {
            t.normal_task_queue = normal;
            t.sticky_timeout_at = sticky_timeout_at;
        }
    }

    /// The started event of a workflow task that starts as event `started_id`: the history's
    /// size, and whether (and why) the worker should continue as new.
    pub fn workflow_task_started(
        &self,
        wft: &WorkflowTaskInfo,
        started_id: i64,
    ) -> WorkflowTaskStartedEventAttributes {
        let (events, bytes) = self.engine.suggest_continue_as_new(&self.ms.namespace_id);
        let size = self.ms.history_size_bytes;
        let mut reasons = Vec::new();
        if size >= bytes {
            reasons.push(SuggestContinueAsNewReason::HistorySizeTooLarge as i32);
        }
        if started_id >= events {
            reasons.push(SuggestContinueAsNewReason::TooManyHistoryEvents as i32);
        }
        WorkflowTaskStartedEventAttributes {
            scheduled_event_id: wft.scheduled_event_id,
            identity: wft.identity.clone(),
            request_id: wft.request_id.clone(),
            history_size_bytes: size,
            worker_version: worker_version(&wft.build_id),
            suggest_continue_as_new: !reasons.is_empty(),
            suggest_continue_as_new_reasons: reasons,
            ..Default::default()
        }
    }

    /// The scheduled and started events of a transient workflow task, as the worker sees
    /// them (ids follow the last written event).
    pub fn transient_events(&self) -> Vec<HistoryEvent> {
        let Some(w) = self.ms.workflow_task.as_ref() else {
            return Vec::new();
        };
        let normal = self.normal_task_queue();
        let mut scheduled = self.make_event(
            WorkflowTaskScheduledEventAttributes {
                task_queue: Some(TaskQueue {
                    name: w.task_queue.clone(),
                    kind: if w.sticky {
                        TaskQueueKind::Sticky
                    } else {
                        TaskQueueKind::Normal
                    } as i32,
                    normal_name: if w.sticky { normal } else { String::new() },
                }),
                start_to_close_timeout: Some(dur(w.timeout_nanos)),
                attempt: w.attempt,
            }
            .into(),
        );
        scheduled.event_id = w.scheduled_event_id;
        scheduled.event_time = Some(ts(w.scheduled_time));
        let mut out = vec![scheduled];
        if w.started_event_id > 0 {
            // Counted as Temporal counts: the events written before the task started.
            let mut started =
                self.make_event(self.workflow_task_started(w, w.scheduled_event_id).into());
            started.event_id = w.started_event_id;
            started.event_time = Some(ts(w.started_time));
            out.push(started);
        }
        out
    }

    /// Writes a transient workflow task's events (it is completing).
    pub fn write_transient(&mut self) {
        if !self.ms.transient_wft {
            return;
        }
        for e in self.transient_events() {
            self.ms.next_event_id = e.event_id + 1;
            self.events.push(e);
        }
        self.ms.transient_wft = false;
    }

    pub fn finish(mut self, key: RunKey, expected_db_version: Option<i64>) -> Staged {
        let has_parent = self
            .ms
            .started
            .as_ref()
            .is_some_and(|s| s.parent_workflow_execution.is_some());
        // A child's last run closed (not continued into another run): tell the parent.
        if self.closed_now && has_parent && self.ms.new_execution_run_id.is_empty() {
            let close = self.ms.close_event_id;
            self.task(TaskKind::NotifyParent, 0, close);
        }
        // A run a schedule started closed for good: tell the schedule.
        if self.closed_now
            && self.ms.new_execution_run_id.is_empty()
            && super::schedules::scheduled_by_id(&self.ms).is_some()
        {
            self.task(TaskKind::ScheduledRunClosed, 0, 0);
        }
        Staged {
            key,
            state: self.ms,
            expected_db_version,
            txn_events: self.events,
            tasks: self.tasks,
            visibility: self.visibility,
            update_notices: self.update_notices,
            closed_now: self.closed_now,
        }
    }
}

/// The worker version a started event records for a worker that said its build id.
pub(crate) fn worker_version(build_id: &str) -> Option<WorkerVersionStamp> {
    (!build_id.is_empty()).then(|| WorkerVersionStamp {
        build_id: build_id.to_string(),
        use_versioning: false,
    })
}
