//! Records the engine persists: a run's mutable state, durable shard tasks and task tokens.
//! They are Sundial's own protobuf messages (derived with prost), embedding Temporal's types.

use temporalio_protos::temporal::api::{
    common::v1::{Memo, Payloads, SearchAttributes},
    failure::v1::Failure,
    history::v1::{
        ActivityTaskScheduledEventAttributes, HistoryEvent, WorkflowExecutionStartedEventAttributes,
    },
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
    /// A sticky workflow task was not picked up in time: move it to the normal queue.
    StickyTimeout = 7,
    /// Retention elapsed: delete the closed run.
    DeleteRun = 8,
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
}

impl Task {
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
}

/// Page token of GetWorkflowExecutionHistory.
#[derive(Clone, PartialEq, prost::Message)]
pub struct HistoryPageToken {
    #[prost(string, tag = "1")]
    pub run_id: String,
    #[prost(int64, tag = "2")]
    pub next_event_id: i64,
}

/// Page token of ListWorkflowExecutions.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ListPageToken {
    #[prost(int64, tag = "1")]
    pub start_time: i64,
    #[prost(string, tag = "2")]
    pub run_id: String,
}
