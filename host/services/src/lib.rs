//! The handles between Sundial's services. The frontend serves the public gRPC API through
//! [`Namespaces`], [`Workflows`], [`TaskQueues`], [`Schedules`] and
//! [`Batches`]; the engine (history and matching) implements them in
//! process. The frontend depends on this crate only, so a change to history or matching does
//! not rebuild it.

mod error;

/// Temporal's buckets for timers, in seconds, as its default (tally) exposition writes them.
pub const TIMER_BUCKETS: [f64; 19] = [
    0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0,
    200.0, 500.0, 1000.0,
];

/// Label values as Temporal's default (tally) Prometheus exposition writes them: any character
/// but `[A-Za-z0-9_]` becomes `_` (`my-ns` is `my_ns`), so its dashboards' queries match.
pub fn tally_label(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

use std::collections::HashMap;
use std::time::Duration;

use temporalio_protos::temporal::api::{
    common::v1::Payloads, failure::v1::Failure, workflowservice::v1::*,
};

pub use error::{Error, Result};

/// The name of this (single) cluster, as namespaces and GetClusterInfo report it.
pub const CLUSTER_NAME: &str = "active";

/// The namespace registry, as the frontend uses it.
/// What a heartbeat answers the worker: whether the activity is to stop, and why.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HeartbeatReply {
    pub cancel_requested: bool,
    /// Paused by PauseActivity.
    pub paused: bool,
    /// Reset by ResetActivity.
    pub reset: bool,
}

#[async_trait::async_trait]
pub trait Namespaces: Send + Sync {
    async fn register_namespace(&self, r: RegisterNamespaceRequest) -> Result<()>;
    /// By name or by id (exactly one of them set).
    async fn describe_namespace(&self, name: &str, id: &str) -> Result<DescribeNamespaceResponse>;
    async fn list_namespaces(&self, page_size: i32, token: &[u8])
    -> Result<ListNamespacesResponse>;
    async fn update_namespace(&self, r: UpdateNamespaceRequest) -> Result<UpdateNamespaceResponse>;
    /// Registers custom search attributes (name to `IndexedValueType`).
    async fn add_search_attributes(
        &self,
        namespace: &str,
        attributes: &HashMap<String, i32>,
    ) -> Result<()>;
    async fn remove_search_attributes(&self, namespace: &str, names: &[String]) -> Result<()>;
    /// The namespace's custom search attributes (name to `IndexedValueType`).
    async fn custom_search_attributes(&self, namespace: &str) -> Result<HashMap<String, i32>>;
}

/// Which activity a response or heartbeat is about.
#[derive(Clone, Debug)]
pub enum ActivityRef {
    /// The task token the activity was handed with.
    Token(Vec<u8>),
    Id {
        workflow_id: String,
        run_id: String,
        activity_id: String,
    },
}

/// The limits the frontend applies to long polls, and the cluster's shape.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Longest a task-queue poll waits.
    pub poll_timeout: Duration,
    /// Longest a history long poll waits.
    pub history_poll_timeout: Duration,
    pub num_history_shards: i32,
}

/// What update-with-start answers once its namespace resolves: both responses, or which
/// operation failed (0: start, 1: update) and why.
pub type UpdateWithStart = std::result::Result<
    (
        StartWorkflowExecutionResponse,
        UpdateWorkflowExecutionResponse,
    ),
    (usize, Error),
>;

/// Workflows: what history serves. Every request names its namespace; `wait` is
/// how long a long poll may wait.
#[async_trait::async_trait]
pub trait Workflows: Send + Sync {
    fn limits(&self) -> Limits;

    async fn start_workflow(
        &self,
        r: StartWorkflowExecutionRequest,
    ) -> Result<StartWorkflowExecutionResponse>;
    /// Signal-with-start: the run id, and whether it started.
    async fn signal_with_start(
        &self,
        r: SignalWithStartWorkflowExecutionRequest,
    ) -> Result<SignalWithStartWorkflowExecutionResponse>;
    async fn signal(
        &self,
        r: SignalWorkflowExecutionRequest,
    ) -> Result<SignalWorkflowExecutionResponse>;
    async fn request_cancel(&self, r: RequestCancelWorkflowExecutionRequest) -> Result<()>;
    async fn terminate(&self, r: TerminateWorkflowExecutionRequest) -> Result<()>;
    async fn delete_workflow(&self, r: DeleteWorkflowExecutionRequest) -> Result<()>;
    async fn reset_workflow(
        &self,
        r: ResetWorkflowExecutionRequest,
    ) -> Result<ResetWorkflowExecutionResponse>;
    async fn update_workflow_options(
        &self,
        r: UpdateWorkflowExecutionOptionsRequest,
    ) -> Result<UpdateWorkflowExecutionOptionsResponse>;
    async fn describe_workflow(
        &self,
        r: DescribeWorkflowExecutionRequest,
    ) -> Result<DescribeWorkflowExecutionResponse>;
    async fn get_history(
        &self,
        r: GetWorkflowExecutionHistoryRequest,
        wait: Duration,
    ) -> Result<GetWorkflowExecutionHistoryResponse>;
    async fn get_history_reverse(
        &self,
        r: GetWorkflowExecutionHistoryReverseRequest,
    ) -> Result<GetWorkflowExecutionHistoryReverseResponse>;

    async fn complete_workflow_task(
        &self,
        r: RespondWorkflowTaskCompletedRequest,
    ) -> Result<RespondWorkflowTaskCompletedResponse>;
    async fn fail_workflow_task(&self, r: RespondWorkflowTaskFailedRequest) -> Result<()>;
    async fn reset_sticky_task_queue(&self, r: ResetStickyTaskQueueRequest) -> Result<()>;

    /// Records a heartbeat; what the worker should know of the activity.
    async fn activity_heartbeat(
        &self,
        namespace: &str,
        activity: ActivityRef,
        identity: &str,
        details: Option<Payloads>,
    ) -> Result<HeartbeatReply>;
    async fn activity_completed(
        &self,
        namespace: &str,
        activity: ActivityRef,
        identity: &str,
        result: Option<Payloads>,
    ) -> Result<()>;
    async fn activity_failed(
        &self,
        namespace: &str,
        activity: ActivityRef,
        identity: &str,
        failure: Option<Failure>,
        last_heartbeat_details: Option<Payloads>,
    ) -> Result<()>;
    async fn activity_canceled(
        &self,
        namespace: &str,
        activity: ActivityRef,
        identity: &str,
        details: Option<Payloads>,
    ) -> Result<()>;

    /// The operators' activity calls.
    async fn pause_activity(&self, r: PauseActivityRequest) -> Result<()>;
    async fn unpause_activity(&self, r: UnpauseActivityRequest) -> Result<()>;
    async fn reset_activity(&self, r: ResetActivityRequest) -> Result<()>;
    async fn update_activity_options(
        &self,
        r: UpdateActivityOptionsRequest,
    ) -> Result<UpdateActivityOptionsResponse>;

    async fn query_workflow(
        &self,
        r: QueryWorkflowRequest,
        wait: Duration,
    ) -> Result<QueryWorkflowResponse>;
    async fn respond_query_task(&self, r: RespondQueryTaskCompletedRequest) -> Result<()>;
    async fn update_workflow(
        &self,
        r: UpdateWorkflowExecutionRequest,
        wait: Duration,
    ) -> Result<UpdateWorkflowExecutionResponse>;
    async fn poll_update(
        &self,
        r: PollWorkflowExecutionUpdateRequest,
        wait: Duration,
    ) -> Result<PollWorkflowExecutionUpdateResponse>;
    /// Update-with-start. The outer error is the request's as a whole (its namespace, say);
    /// the inner one names which operation failed (0: start, 1: update) and why.
    async fn update_with_start(
        &self,
        namespace: &str,
        start: StartWorkflowExecutionRequest,
        update: UpdateWorkflowExecutionRequest,
        wait: Duration,
    ) -> Result<UpdateWithStart>;

    /// One page of runs matching a visibility query.
    async fn list_workflows(
        &self,
        namespace: &str,
        query: &str,
        page_size: i32,
        token: &[u8],
    ) -> Result<ListWorkflowExecutionsResponse>;
    async fn count_workflows(
        &self,
        namespace: &str,
        query: &str,
    ) -> Result<CountWorkflowExecutionsResponse>;
    /// One page of archived runs matching a query in the archiver's syntax.
    async fn list_archived(
        &self,
        r: ListArchivedWorkflowExecutionsRequest,
    ) -> Result<ListArchivedWorkflowExecutionsResponse>;
}

/// Schedules, as the frontend uses them. Each request names its namespace.
/// Task queues: what matching serves to workers and to DescribeTaskQueue. The long polls take
/// a task from the queue's node and have history start it in its run; `wait` is how long a
/// poll may wait.
#[async_trait::async_trait]
pub trait TaskQueues: Send + Sync {
    async fn poll_workflow_task(
        &self,
        r: PollWorkflowTaskQueueRequest,
        wait: Duration,
    ) -> Result<PollWorkflowTaskQueueResponse>;
    async fn poll_activity_task(
        &self,
        r: PollActivityTaskQueueRequest,
        wait: Duration,
    ) -> Result<PollActivityTaskQueueResponse>;
    async fn describe_task_queue(
        &self,
        r: DescribeTaskQueueRequest,
    ) -> Result<DescribeTaskQueueResponse>;
    async fn shutdown_worker(&self, r: ShutdownWorkerRequest) -> Result<()>;
}

#[async_trait::async_trait]
pub trait Schedules: Send + Sync {
    async fn create_schedule(&self, r: CreateScheduleRequest) -> Result<CreateScheduleResponse>;
    async fn describe_schedule(
        &self,
        r: DescribeScheduleRequest,
    ) -> Result<DescribeScheduleResponse>;
    async fn update_schedule(&self, r: UpdateScheduleRequest) -> Result<()>;
    async fn patch_schedule(&self, r: PatchScheduleRequest) -> Result<()>;
    async fn delete_schedule(&self, r: DeleteScheduleRequest) -> Result<()>;
    async fn list_schedule_matching_times(
        &self,
        r: ListScheduleMatchingTimesRequest,
    ) -> Result<ListScheduleMatchingTimesResponse>;
    async fn list_schedules(&self, r: ListSchedulesRequest) -> Result<ListSchedulesResponse>;
    async fn count_schedules(&self, r: CountSchedulesRequest) -> Result<CountSchedulesResponse>;
}

/// Batch operations, as the frontend uses them. Each request names its namespace.
#[async_trait::async_trait]
pub trait Batches: Send + Sync {
    async fn start_batch_operation(&self, r: StartBatchOperationRequest) -> Result<()>;
    async fn stop_batch_operation(&self, r: StopBatchOperationRequest) -> Result<()>;
    async fn describe_batch_operation(
        &self,
        r: DescribeBatchOperationRequest,
    ) -> Result<DescribeBatchOperationResponse>;
    async fn list_batch_operations(
        &self,
        r: ListBatchOperationsRequest,
    ) -> Result<ListBatchOperationsResponse>;
}
