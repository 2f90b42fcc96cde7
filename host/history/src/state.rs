//! Records the engine persists: a run's mutable state, durable shard tasks and task tokens.
//! They are Sundial's own protobuf messages (derived with prost), embedding Temporal's types.

use temporalio_protos::temporal::api::{
    common::v1::{Memo, Payloads, Priority, SearchAttributes, WorkerVersionStamp},
    failure::v1::Failure,
    history::v1::{
        ActivityTaskScheduledEventAttributes, HistoryEvent,
        RequestCancelExternalWorkflowExecutionInitiatedEventAttributes,
        SignalExternalWorkflowExecutionInitiatedEventAttributes,
        StartChildWorkflowExecutionInitiatedEventAttributes,
        WorkflowExecutionStartedEventAttributes,
    },
    sdk::v1::UserMetadata,
    workflow::v1::{ResetPointInfo, VersioningOverride},
};

/// Everything the engine knows about one run between events.
#[derive(Clone, PartialEq, prost::Message)]
pub struct MutableState {
    #[prost(string, tag = "1")]
    pub namespace_id: String,
    #[prost(string, tag = "2")]
    pub workflow_id: String,
    #[prost(string, tag = "3")]
    pub run_id: String,
    /// The attributes of event 1: type, task queue, timeouts, input, retry policy, header.
    #[prost(message, optional, tag = "4")]
    pub started: Option<WorkflowExecutionStartedEventAttributes>,
    #[prost(int64, tag = "5")]
    pub start_time: i64,
    /// When the first workflow task may run (start time plus any start delay/backoff).
    #[prost(int64, tag = "6")]
    pub execution_time: i64,
    #[prost(int64, tag = "7")]
    pub close_time: i64,
    /// `temporal.api.enums.v1.WorkflowExecutionStatus`.
    #[prost(int32, tag = "8")]
    pub status: i32,
    #[prost(int64, tag = "9")]
    pub next_event_id: i64,
    /// Started event id of the last completed workflow task (the SDK's "previous started").
    #[prost(int64, tag = "10")]
    pub last_completed_wft_started_id: i64,
    #[prost(string, tag = "11")]
    pub start_request_id: String,
    #[prost(message, optional, tag = "12")]
    pub workflow_task: Option<WorkflowTaskInfo>,
    #[prost(message, repeated, tag = "13")]
    pub activities: Vec<ActivityInfo>,
    #[prost(message, repeated, tag = "14")]
    pub timers: Vec<TimerInfo>,
    /// Events that arrived while a workflow task was running; written after it completes.
    #[prost(message, repeated, tag = "15")]
    pub buffered_events: Vec<HistoryEvent>,
    #[prost(string, tag = "16")]
    pub sticky_task_queue: String,
    #[prost(int64, tag = "17")]
    pub sticky_schedule_to_start_nanos: i64,
    #[prost(bool, tag = "18")]
    pub cancel_requested: bool,
    #[prost(message, optional, tag = "19")]
    pub memo: Option<Memo>,
    #[prost(message, optional, tag = "20")]
    pub search_attributes: Option<SearchAttributes>,
    #[prost(int64, tag = "21")]
    pub history_size_bytes: i64,
    #[prost(int64, tag = "22")]
    pub state_transitions: i64,
    /// Request ids already applied (signals, cancel requests), for idempotent retries.
    #[prost(string, repeated, tag = "23")]
    pub applied_request_ids: Vec<String>,
    /// Workflow execution deadline (from the execution timeout), 0 if none.
    #[prost(int64, tag = "24")]
    pub execution_expiration: i64,
    /// Run deadline (from the run timeout), 0 if none.
    #[prost(int64, tag = "25")]
    pub run_expiration: i64,
    /// Counter stamped on dispatched tasks so stale copies can be recognised.
    #[prost(int64, tag = "26")]
    pub dispatch_stamp: i64,
    /// Event id of the close event, 0 while running.
    #[prost(int64, tag = "27")]
    pub close_event_id: i64,
    /// Run id of the run this one continued into (continue-as-new), if any.
    #[prost(string, tag = "28")]
    pub new_execution_run_id: String,
    /// Child workflows initiated and not yet closed (as far as this run knows).
    #[prost(message, repeated, tag = "29")]
    pub children: Vec<ChildInfo>,
    /// Signals to other workflows initiated and not yet delivered.
    #[prost(message, repeated, tag = "30")]
    pub external_signals: Vec<ExternalSignalInfo>,
    /// Cancel requests to other workflows initiated and not yet delivered.
    #[prost(message, repeated, tag = "31")]
    pub external_cancels: Vec<ExternalCancelInfo>,
    /// Updates accepted or completed by this run (for deduplication and polls).
    #[prost(message, repeated, tag = "32")]
    pub updates: Vec<UpdateInfo>,
    /// Cron schedule this run belongs to (copied to each run of the chain).
    #[prost(string, tag = "33")]
    pub cron_schedule: String,
    /// Whether the pending workflow task's scheduled/started events are not written yet (a
    /// retried task, like Temporal's transient workflow task).
    #[prost(bool, tag = "34")]
    pub transient_wft: bool,
    /// The summary and details given at start (on event 1 too), for DescribeWorkflowExecution.
    #[prost(message, optional, tag = "35")]
    pub user_metadata: Option<UserMetadata>,
    /// The worker version of the last completed workflow task.
    #[prost(message, optional, tag = "36")]
    pub most_recent_worker_version: Option<WorkerVersionStamp>,
    /// Where the run may be reset to: the first workflow task each build id completed.
    #[prost(message, repeated, tag = "37")]
    pub auto_reset_points: Vec<ResetPointInfo>,
    /// A scheduler run (`temporal-sys-scheduler:<schedule id>`): the schedule it runs.
    #[prost(message, optional, tag = "38")]
    pub schedule: Option<crate::history::schedules::ScheduleRecord>,
    /// A batch job's run (its workflow id is the job id): the job's progress.
    #[prost(message, optional, tag = "39")]
    pub batch: Option<crate::history::batch::BatchRecord>,
    /// The versioning override UpdateWorkflowExecutionOptions set (none: the worker's choice).
    #[prost(message, optional, tag = "40")]
    pub versioning_override: Option<VersioningOverride>,
    /// The priority UpdateWorkflowExecutionOptions set (none: as the run started).
    #[prost(message, optional, tag = "41")]
    pub priority: Option<Priority>,
    /// Whether an override was ever set: DescribeWorkflowExecution then shows versioning info
    /// (empty once the override is unset), as Temporal does.
    #[prost(bool, tag = "42")]
    pub has_versioning_info: bool,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ChildInfo {
    #[prost(int64, tag = "1")]
    pub initiated_event_id: i64,
    /// Event id of ChildWorkflowExecutionStarted once written; 0 before.
    #[prost(int64, tag = "2")]
    pub started_event_id: i64,
    #[prost(string, tag = "3")]
    pub namespace_id: String,
    /// Run id of the child once started.
    #[prost(string, tag = "4")]
    pub run_id: String,
    #[prost(string, tag = "5")]
    pub request_id: String,
    #[prost(message, optional, tag = "6")]
    pub initiated: Option<StartChildWorkflowExecutionInitiatedEventAttributes>,
    /// Whether the started event was recorded (it may still wait in the buffer).
    #[prost(bool, tag = "7")]
    pub started: bool,
    /// The command's summary and details, which the child's start event carries too.
    #[prost(message, optional, tag = "8")]
    pub user_metadata: Option<UserMetadata>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ExternalSignalInfo {
    #[prost(int64, tag = "1")]
    pub initiated_event_id: i64,
    #[prost(string, tag = "2")]
    pub request_id: String,
    #[prost(message, optional, tag = "3")]
    pub initiated: Option<SignalExternalWorkflowExecutionInitiatedEventAttributes>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ExternalCancelInfo {
    #[prost(int64, tag = "1")]
    pub initiated_event_id: i64,
    #[prost(string, tag = "2")]
    pub request_id: String,
    #[prost(message, optional, tag = "3")]
    pub initiated: Option<RequestCancelExternalWorkflowExecutionInitiatedEventAttributes>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct UpdateInfo {
    #[prost(string, tag = "1")]
    pub update_id: String,
    #[prost(int64, tag = "2")]
    pub accepted_event_id: i64,
    /// 0 while accepted and not completed.
    #[prost(int64, tag = "3")]
    pub completed_event_id: i64,
    #[prost(message, optional, tag = "4")]
    pub outcome: Option<temporalio_protos::temporal::api::update::v1::Outcome>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct WorkflowTaskInfo {
    #[prost(int64, tag = "1")]
    pub scheduled_event_id: i64,
    /// 0 while not started.
    #[prost(int64, tag = "2")]
    pub started_event_id: i64,
    #[prost(int32, tag = "3")]
    pub attempt: i32,
    #[prost(int64, tag = "4")]
    pub scheduled_time: i64,
    #[prost(int64, tag = "5")]
    pub started_time: i64,
    /// The queue this task was dispatched to (sticky or normal).
    #[prost(string, tag = "6")]
    pub task_queue: String,
    #[prost(bool, tag = "7")]
    pub sticky: bool,
    #[prost(string, tag = "8")]
    pub request_id: String,
    #[prost(int64, tag = "9")]
    pub stamp: i64,
    #[prost(int64, tag = "10")]
    pub timeout_nanos: i64,
    #[prost(string, tag = "11")]
    pub identity: String,
    /// Scheduled only to deliver updates: if the worker rejects them all and does nothing
    /// else, no event of this task is written (Temporal's speculative workflow task).
    #[prost(bool, tag = "12")]
    pub speculative: bool,
    /// The build id of the worker that started it (empty: none said).
    #[prost(string, tag = "13")]
    pub build_id: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ActivityInfo {
    #[prost(int64, tag = "1")]
    pub scheduled_event_id: i64,
    #[prost(message, optional, tag = "2")]
    pub attrs: Option<ActivityTaskScheduledEventAttributes>,
    /// When the current attempt was (or will be) dispatched.
    #[prost(int64, tag = "3")]
    pub scheduled_time: i64,
    #[prost(int64, tag = "4")]
    pub first_scheduled_time: i64,
    /// 0 while the current attempt has not started.
    #[prost(int64, tag = "5")]
    pub started_time: i64,
    #[prost(int32, tag = "6")]
    pub attempt: i32,
    #[prost(string, tag = "7")]
    pub started_identity: String,
    #[prost(string, tag = "8")]
    pub started_request_id: String,
    #[prost(int64, tag = "9")]
    pub last_heartbeat_time: i64,
    #[prost(message, optional, tag = "10")]
    pub heartbeat_details: Option<Payloads>,
    #[prost(bool, tag = "11")]
    pub cancel_requested: bool,
    #[prost(int64, tag = "12")]
    pub cancel_requested_event_id: i64,
    #[prost(message, optional, tag = "13")]
    pub last_failure: Option<Failure>,
    #[prost(int64, tag = "14")]
    pub stamp: i64,
    /// Paused (PauseActivity): no attempt is dispatched until it is unpaused; one running
    /// goes on, and its heartbeats tell the worker.
    #[prost(bool, tag = "15")]
    pub paused: bool,
    #[prost(message, optional, tag = "16")]
    pub pause: Option<ActivityPause>,
    /// Reset (ResetActivity) while an attempt ran: that attempt's heartbeats tell the worker.
    #[prost(bool, tag = "17")]
    pub reset_requested: bool,
    /// With the reset: the next attempt starts without the heartbeat details.
    #[prost(bool, tag = "18")]
    pub reset_heartbeats: bool,
    /// When the last failed or timed-out attempt ended.
    #[prost(int64, tag = "19")]
    pub last_attempt_complete_time: i64,
    /// The build id of the worker running the current attempt.
    #[prost(string, tag = "20")]
    pub started_build_id: String,
}

/// Who paused an activity, when and why.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ActivityPause {
    #[prost(int64, tag = "1")]
    pub time: i64,
    #[prost(string, tag = "2")]
    pub identity: String,
    #[prost(string, tag = "3")]
    pub reason: String,
    #[prost(string, tag = "4")]
    pub request_id: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct TimerInfo {
    #[prost(string, tag = "1")]
    pub timer_id: String,
    #[prost(int64, tag = "2")]
    pub started_event_id: i64,
    #[prost(int64, tag = "3")]
    pub fire_time: i64,
}

/// What a durable shard task does when it runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum TaskKind {
    Unspecified = 0,
    /// Hand the run's pending workflow task to matching (at `fire_time`, if set).
    DispatchWorkflowTask = 1,
    /// Hand a pending activity attempt to matching (at `fire_time`: retry backoff).
    DispatchActivity = 2,
    UserTimer = 3,
    WorkflowTaskTimeout = 4,
    ActivityTimeout = 5,
    WorkflowTimeout = 6,
    /// A sticky workflow task was not picked up in time: move it to the normal queue. Kept in
    /// memory only (armed from the dispatch task's `sticky_timeout_at`); rows of this kind
    /// are from older versions.
    StickyTimeout = 7,
    /// Retention elapsed: delete the closed run.
    DeleteRun = 8,
    /// Start the child workflow initiated by event `event_id`.
    StartChild = 9,
    /// Deliver the signal initiated by event `event_id` to its target.
    SignalExternal = 10,
    /// Deliver the cancel request initiated by event `event_id` to its target.
    CancelExternal = 11,
    /// This (child) run closed at event `event_id`: tell the parent.
    NotifyParent = 12,
    /// The parent closed: apply its close policy (`policy`) to the target child.
    ParentClosePolicy = 13,
    /// A query for a worker (never stored; lives only in matching).
    Query = 14,
    /// Write the run's visibility record (`visibility_info`), versioned by the task id.
    Visibility = 15,
    /// Archive the closed run's history and visibility record, then schedule `DeleteRun`.
    ArchiveRun = 16,
    /// A scheduler run's next due time (or a change to it): take the actions due.
    ScheduleWake = 17,
    /// A run a schedule started closed (its chain ended): tell the scheduler.
    ScheduledRunClosed = 18,
    /// A batch job's next step.
    BatchWake = 19,
    /// The run was deleted: remove its visibility record (stored with the deletion, so a
    /// crash right after cannot leave the record behind).
    DeleteVisibility = 20,
}

/// A durable task of a shard: stored in the same transaction as the change that made it.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Task {
    #[prost(enumeration = "TaskKind", tag = "1")]
    pub kind: i32,
    #[prost(string, tag = "2")]
    pub namespace_id: String,
    #[prost(string, tag = "3")]
    pub workflow_id: String,
    #[prost(string, tag = "4")]
    pub run_id: String,
    /// Unix nanos when it is due; 0 means now.
    #[prost(int64, tag = "5")]
    pub fire_time: i64,
    /// Scheduled event id (workflow task, activity) or timer started event id.
    #[prost(int64, tag = "6")]
    pub event_id: i64,
    #[prost(int32, tag = "7")]
    pub attempt: i32,
    /// `temporal.api.enums.v1.TimeoutType` for timeout tasks.
    #[prost(int32, tag = "8")]
    pub timeout_type: i32,
    #[prost(string, tag = "9")]
    pub task_queue: String,
    #[prost(int64, tag = "10")]
    pub stamp: i64,
    /// Target run of a cross-workflow task (ParentClosePolicy).
    #[prost(string, tag = "11")]
    pub target_namespace_id: String,
    #[prost(string, tag = "12")]
    pub target_workflow_id: String,
    #[prost(string, tag = "13")]
    pub target_run_id: String,
    /// `temporal.api.enums.v1.ParentClosePolicy`.
    #[prost(int32, tag = "14")]
    pub policy: i32,
    /// Query tasks: the query's id.
    #[prost(string, tag = "15")]
    pub query_id: String,
    /// Visibility tasks: the encoded `WorkflowExecutionInfo` to index.
    #[prost(bytes = "vec", tag = "16")]
    pub visibility_info: Vec<u8>,
    /// For a task sent to a sticky queue: the run's normal queue, where the task goes instead
    /// when the sticky queue's node finds no worker polling it.
    #[prost(string, tag = "17")]
    pub normal_task_queue: String,
    /// For a workflow task sent to a sticky queue: when it goes to the normal queue if no
    /// worker has started it by then (Unix nanos; its sticky schedule-to-start timeout). The
    /// timeout is kept in memory only, armed whenever this task is scheduled (committed, or
    /// read back after a restart or a shard's move). 0 on rows of older versions, which
    /// stored the timeout as a task of its own.
    #[prost(int64, tag = "18")]
    pub sticky_timeout_at: i64,
}

impl MutableState {
    /// The first run of the chain this run belongs to (itself when it began the chain).
    pub fn first_execution_run_id(&self) -> &str {
        match self
            .started
            .as_ref()
            .map(|s| s.first_execution_run_id.as_str())
        {
            Some(first) if !first.is_empty() => first,
            _ => &self.run_id,
        }
    }
}

impl Task {
    /// The run this task belongs to.
    pub fn run_key(&self) -> sundial_store::RunKey {
        sundial_store::RunKey {
            namespace_id: self.namespace_id.clone(),
            workflow_id: self.workflow_id.clone(),
            run_id: self.run_id.clone(),
        }
    }

    pub fn task_kind(&self) -> TaskKind {
        TaskKind::try_from(self.kind).unwrap_or(TaskKind::Unspecified)
    }
}

/// The opaque token handed to workers with a workflow or activity task.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TaskToken {
    #[prost(string, tag = "1")]
    pub namespace_id: String,
    #[prost(string, tag = "2")]
    pub workflow_id: String,
    #[prost(string, tag = "3")]
    pub run_id: String,
    #[prost(int64, tag = "4")]
    pub scheduled_event_id: i64,
    #[prost(int32, tag = "5")]
    pub attempt: i32,
    #[prost(int64, tag = "6")]
    pub started_event_id: i64,
    #[prost(string, tag = "7")]
    pub activity_id: String,
    /// true for activity tasks.
    #[prost(bool, tag = "8")]
    pub activity: bool,
    #[prost(int64, tag = "9")]
    pub stamp: i64,
    /// Set for a query task: the id the answer is matched to.
    #[prost(string, tag = "10")]
    pub query_id: String,
}

/// The namespace record stored in `namespaces.data`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct NamespaceRecord {
    #[prost(message, optional, tag = "1")]
    pub info: Option<temporalio_protos::temporal::api::namespace::v1::NamespaceInfo>,
    #[prost(message, optional, tag = "2")]
    pub config: Option<temporalio_protos::temporal::api::namespace::v1::NamespaceConfig>,
    #[prost(message, optional, tag = "3")]
    pub replication:
        Option<temporalio_protos::temporal::api::replication::v1::NamespaceReplicationConfig>,
    #[prost(int64, tag = "4")]
    pub config_version: i64,
    #[prost(int64, tag = "5")]
    pub failover_version: i64,
    #[prost(bool, tag = "6")]
    pub is_global: bool,
    /// Custom search attributes: name → `IndexedValueType`.
    #[prost(map = "string, int32", tag = "7")]
    pub search_attributes: std::collections::HashMap<String, i32>,
}

/// Page token of GetWorkflowExecutionHistory.
#[derive(Clone, PartialEq, prost::Message)]
pub struct HistoryPageToken {
    #[prost(string, tag = "1")]
    pub run_id: String,
    #[prost(int64, tag = "2")]
    pub next_event_id: i64,
}
