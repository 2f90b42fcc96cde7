//! `temporal.api.workflowservice.v1.WorkflowService` handlers. Methods not listed here answer
//! `Unimplemented` (the generated default).

use sundial_api::protos::temporal::api::workflowservice::v1::*;
use sundial_api::workflowservice::workflow_service_server::WorkflowService;
use sundial_services::{ActivityRef, Workflows};
use tonic::Request;

use super::{Answered, Frontend, Res, long_poll_wait, ok, ok_answered, query_wait, to_status};
use super::{activity_ops, batches, execution_options, namespaces, schedules};

pub struct WorkflowHandler {
    pub fe: Frontend,
}

impl WorkflowHandler {
    fn wf(&self) -> &dyn Workflows {
        &*self.fe.workflows
    }
}

#[tonic::async_trait]
impl WorkflowService for WorkflowHandler {
    async fn register_namespace(
        &self,
        r: Request<RegisterNamespaceRequest>,
    ) -> Res<RegisterNamespaceResponse> {
        namespaces::register(&*self.fe.namespaces, r.into_inner()).await
    }

    async fn describe_namespace(
        &self,
        r: Request<DescribeNamespaceRequest>,
    ) -> Res<DescribeNamespaceResponse> {
        namespaces::describe(&*self.fe.namespaces, r.into_inner()).await
    }

    async fn list_namespaces(
        &self,
        r: Request<ListNamespacesRequest>,
    ) -> Res<ListNamespacesResponse> {
        namespaces::list(&*self.fe.namespaces, r.into_inner()).await
    }

    async fn update_namespace(
        &self,
        r: Request<UpdateNamespaceRequest>,
    ) -> Res<UpdateNamespaceResponse> {
        namespaces::update(&*self.fe.namespaces, r.into_inner()).await
    }

    async fn start_workflow_execution(
        &self,
        r: Request<StartWorkflowExecutionRequest>,
    ) -> Res<StartWorkflowExecutionResponse> {
        let r = r.into_inner();
        let response = self.wf().start_workflow(r).await.map_err(to_status)?;
        let started = Answered::Started(response.started);
        ok_answered(response, started)
    }

    async fn signal_with_start_workflow_execution(
        &self,
        r: Request<SignalWithStartWorkflowExecutionRequest>,
    ) -> Res<SignalWithStartWorkflowExecutionResponse> {
        let r = r.into_inner();
        ok(self.wf().signal_with_start(r).await.map_err(to_status)?)
    }

    async fn get_workflow_execution_history(
        &self,
        r: Request<GetWorkflowExecutionHistoryRequest>,
    ) -> Res<GetWorkflowExecutionHistoryResponse> {
        let wait = long_poll_wait(r.metadata(), self.wf().limits().history_poll_timeout);
        let r = r.into_inner();
        ok(self.wf().get_history(r, wait).await.map_err(to_status)?)
    }

    async fn poll_workflow_task_queue(
        &self,
        r: Request<PollWorkflowTaskQueueRequest>,
    ) -> Res<PollWorkflowTaskQueueResponse> {
        let wait = long_poll_wait(r.metadata(), self.wf().limits().poll_timeout);
        let r = r.into_inner();
        ok(self
            .fe
            .task_queues
            .poll_workflow_task(r, wait)
            .await
            .map_err(to_status)?)
    }

    async fn respond_workflow_task_completed(
        &self,
        r: Request<RespondWorkflowTaskCompletedRequest>,
    ) -> Res<RespondWorkflowTaskCompletedResponse> {
        let r = r.into_inner();
        ok(self
            .wf()
            .complete_workflow_task(r)
            .await
            .map_err(to_status)?)
    }

    async fn respond_workflow_task_failed(
        &self,
        r: Request<RespondWorkflowTaskFailedRequest>,
    ) -> Res<RespondWorkflowTaskFailedResponse> {
        let r = r.into_inner();
        self.wf().fail_workflow_task(r).await.map_err(to_status)?;
        ok(RespondWorkflowTaskFailedResponse {})
    }

    async fn poll_activity_task_queue(
        &self,
        r: Request<PollActivityTaskQueueRequest>,
    ) -> Res<PollActivityTaskQueueResponse> {
        let wait = long_poll_wait(r.metadata(), self.wf().limits().poll_timeout);
        let r = r.into_inner();
        let response = self
            .fe
            .task_queues
            .poll_activity_task(r, wait)
            .await
            .map_err(to_status)?;
        let attempt = Answered::ActivityAttempt(response.attempt);
        ok_answered(response, attempt)
    }

    async fn record_activity_task_heartbeat(
        &self,
        r: Request<RecordActivityTaskHeartbeatRequest>,
    ) -> Res<RecordActivityTaskHeartbeatResponse> {
        let mut r = r.into_inner();
        let a = ActivityRef::Token(std::mem::take(&mut r.task_token));
        let reply = self
            .wf()
            .activity_heartbeat(&r.namespace, a, &r.identity, r.details)
            .await
            .map_err(to_status)?;
        ok(RecordActivityTaskHeartbeatResponse {
            cancel_requested: reply.cancel_requested,
            activity_paused: reply.paused,
            activity_reset: reply.reset,
        })
    }

    async fn record_activity_task_heartbeat_by_id(
        &self,
        r: Request<RecordActivityTaskHeartbeatByIdRequest>,
    ) -> Res<RecordActivityTaskHeartbeatByIdResponse> {
        let mut r = r.into_inner();
        let a = ActivityRef::Id {
            workflow_id: std::mem::take(&mut r.workflow_id),
            run_id: std::mem::take(&mut r.run_id),
            activity_id: std::mem::take(&mut r.activity_id),
        };
        let reply = self
            .wf()
            .activity_heartbeat(&r.namespace, a, &r.identity, r.details)
            .await
            .map_err(to_status)?;
        ok(RecordActivityTaskHeartbeatByIdResponse {
            cancel_requested: reply.cancel_requested,
            activity_paused: reply.paused,
            activity_reset: reply.reset,
        })
    }

    async fn respond_activity_task_completed(
        &self,
        r: Request<RespondActivityTaskCompletedRequest>,
    ) -> Res<RespondActivityTaskCompletedResponse> {
        let mut r = r.into_inner();
        let a = ActivityRef::Token(std::mem::take(&mut r.task_token));
        self.wf()
            .activity_completed(&r.namespace, a, &r.identity, r.result)
            .await
            .map_err(to_status)?;
        ok(RespondActivityTaskCompletedResponse {})
    }

    async fn respond_activity_task_completed_by_id(
        &self,
        r: Request<RespondActivityTaskCompletedByIdRequest>,
    ) -> Res<RespondActivityTaskCompletedByIdResponse> {
        let mut r = r.into_inner();
        let a = ActivityRef::Id {
            workflow_id: std::mem::take(&mut r.workflow_id),
            run_id: std::mem::take(&mut r.run_id),
            activity_id: std::mem::take(&mut r.activity_id),
        };
        self.wf()
            .activity_completed(&r.namespace, a, &r.identity, r.result)
            .await
            .map_err(to_status)?;
        ok(RespondActivityTaskCompletedByIdResponse {})
    }

    async fn respond_activity_task_failed(
        &self,
        r: Request<RespondActivityTaskFailedRequest>,
    ) -> Res<RespondActivityTaskFailedResponse> {
        let mut r = r.into_inner();
        let a = ActivityRef::Token(std::mem::take(&mut r.task_token));
        self.wf()
            .activity_failed(
                &r.namespace,
                a,
                &r.identity,
                r.failure,
                r.last_heartbeat_details,
            )
            .await
            .map_err(to_status)?;
        ok(RespondActivityTaskFailedResponse::default())
    }

    async fn respond_activity_task_failed_by_id(
        &self,
        r: Request<RespondActivityTaskFailedByIdRequest>,
    ) -> Res<RespondActivityTaskFailedByIdResponse> {
        let mut r = r.into_inner();
        let a = ActivityRef::Id {
            workflow_id: std::mem::take(&mut r.workflow_id),
            run_id: std::mem::take(&mut r.run_id),
            activity_id: std::mem::take(&mut r.activity_id),
        };
        self.wf()
            .activity_failed(
                &r.namespace,
                a,
                &r.identity,
                r.failure,
                r.last_heartbeat_details,
            )
            .await
            .map_err(to_status)?;
        ok(RespondActivityTaskFailedByIdResponse::default())
    }

    async fn respond_activity_task_canceled(
        &self,
        r: Request<RespondActivityTaskCanceledRequest>,
    ) -> Res<RespondActivityTaskCanceledResponse> {
        let mut r = r.into_inner();
        let a = ActivityRef::Token(std::mem::take(&mut r.task_token));
        self.wf()
            .activity_canceled(&r.namespace, a, &r.identity, r.details)
            .await
            .map_err(to_status)?;
        ok(RespondActivityTaskCanceledResponse {})
    }

    async fn respond_activity_task_canceled_by_id(
        &self,
        r: Request<RespondActivityTaskCanceledByIdRequest>,
    ) -> Res<RespondActivityTaskCanceledByIdResponse> {
        let mut r = r.into_inner();
        let a = ActivityRef::Id {
            workflow_id: std::mem::take(&mut r.workflow_id),
            run_id: std::mem::take(&mut r.run_id),
            activity_id: std::mem::take(&mut r.activity_id),
        };
        self.wf()
            .activity_canceled(&r.namespace, a, &r.identity, r.details)
            .await
            .map_err(to_status)?;
        ok(RespondActivityTaskCanceledByIdResponse {})
    }

    async fn request_cancel_workflow_execution(
        &self,
        r: Request<RequestCancelWorkflowExecutionRequest>,
    ) -> Res<RequestCancelWorkflowExecutionResponse> {
        let r = r.into_inner();
        self.wf().request_cancel(r).await.map_err(to_status)?;
        ok(RequestCancelWorkflowExecutionResponse {})
    }

    async fn signal_workflow_execution(
        &self,
        r: Request<SignalWorkflowExecutionRequest>,
    ) -> Res<SignalWorkflowExecutionResponse> {
        ok(self.wf().signal(r.into_inner()).await.map_err(to_status)?)
    }

    async fn terminate_workflow_execution(
        &self,
        r: Request<TerminateWorkflowExecutionRequest>,
    ) -> Res<TerminateWorkflowExecutionResponse> {
        let r = r.into_inner();
        self.wf().terminate(r).await.map_err(to_status)?;
        ok(TerminateWorkflowExecutionResponse {})
    }

    async fn update_workflow_execution_options(
        &self,
        r: Request<UpdateWorkflowExecutionOptionsRequest>,
    ) -> Res<UpdateWorkflowExecutionOptionsResponse> {
        execution_options::update(self.wf(), r.into_inner()).await
    }

    async fn describe_workflow_execution(
        &self,
        r: Request<DescribeWorkflowExecutionRequest>,
    ) -> Res<DescribeWorkflowExecutionResponse> {
        let r = r.into_inner();
        ok(self.wf().describe_workflow(r).await.map_err(to_status)?)
    }

    async fn list_workflow_executions(
        &self,
        r: Request<ListWorkflowExecutionsRequest>,
    ) -> Res<ListWorkflowExecutionsResponse> {
        self.visibility_list_workflow_executions(r).await
    }

    async fn list_archived_workflow_executions(
        &self,
        r: Request<ListArchivedWorkflowExecutionsRequest>,
    ) -> Res<ListArchivedWorkflowExecutionsResponse> {
        self.visibility_list_archived_workflow_executions(r).await
    }

    async fn scan_workflow_executions(
        &self,
        r: Request<ScanWorkflowExecutionsRequest>,
    ) -> Res<ScanWorkflowExecutionsResponse> {
        self.visibility_scan_workflow_executions(r).await
    }

    async fn list_open_workflow_executions(
        &self,
        r: Request<ListOpenWorkflowExecutionsRequest>,
    ) -> Res<ListOpenWorkflowExecutionsResponse> {
        self.visibility_list_open_workflow_executions(r).await
    }

    async fn list_closed_workflow_executions(
        &self,
        r: Request<ListClosedWorkflowExecutionsRequest>,
    ) -> Res<ListClosedWorkflowExecutionsResponse> {
        self.visibility_list_closed_workflow_executions(r).await
    }

    async fn count_workflow_executions(
        &self,
        r: Request<CountWorkflowExecutionsRequest>,
    ) -> Res<CountWorkflowExecutionsResponse> {
        self.visibility_count_workflow_executions(r).await
    }

    async fn get_search_attributes(
        &self,
        r: Request<GetSearchAttributesRequest>,
    ) -> Res<GetSearchAttributesResponse> {
        self.visibility_get_search_attributes(r).await
    }

    async fn query_workflow(&self, r: Request<QueryWorkflowRequest>) -> Res<QueryWorkflowResponse> {
        let wait = query_wait(r.metadata());
        let r = r.into_inner();
        ok(self.wf().query_workflow(r, wait).await.map_err(to_status)?)
    }

    async fn respond_query_task_completed(
        &self,
        r: Request<RespondQueryTaskCompletedRequest>,
    ) -> Res<RespondQueryTaskCompletedResponse> {
        let r = r.into_inner();
        self.wf().respond_query_task(r).await.map_err(to_status)?;
        ok(RespondQueryTaskCompletedResponse {})
    }

    async fn get_workflow_execution_history_reverse(
        &self,
        r: Request<GetWorkflowExecutionHistoryReverseRequest>,
    ) -> Res<GetWorkflowExecutionHistoryReverseResponse> {
        let r = r.into_inner();
        ok(self.wf().get_history_reverse(r).await.map_err(to_status)?)
    }

    async fn reset_sticky_task_queue(
        &self,
        r: Request<ResetStickyTaskQueueRequest>,
    ) -> Res<ResetStickyTaskQueueResponse> {
        let r = r.into_inner();
        self.wf()
            .reset_sticky_task_queue(r)
            .await
            .map_err(to_status)?;
        ok(ResetStickyTaskQueueResponse {})
    }

    async fn describe_task_queue(
        &self,
        r: Request<DescribeTaskQueueRequest>,
    ) -> Res<DescribeTaskQueueResponse> {
        let r = r.into_inner();
        ok(self
            .fe
            .task_queues
            .describe_task_queue(r)
            .await
            .map_err(to_status)?)
    }

    async fn delete_workflow_execution(
        &self,
        r: Request<DeleteWorkflowExecutionRequest>,
    ) -> Res<DeleteWorkflowExecutionResponse> {
        let r = r.into_inner();
        self.wf().delete_workflow(r).await.map_err(to_status)?;
        ok(DeleteWorkflowExecutionResponse {})
    }

    async fn update_workflow_execution(
        &self,
        r: Request<UpdateWorkflowExecutionRequest>,
    ) -> Res<UpdateWorkflowExecutionResponse> {
        let wait = long_poll_wait(r.metadata(), self.wf().limits().poll_timeout);
        let r = r.into_inner();
        ok(self
            .wf()
            .update_workflow(r, wait)
            .await
            .map_err(to_status)?)
    }

    async fn poll_workflow_execution_update(
        &self,
        r: Request<PollWorkflowExecutionUpdateRequest>,
    ) -> Res<PollWorkflowExecutionUpdateResponse> {
        let wait = long_poll_wait(r.metadata(), self.wf().limits().poll_timeout);
        let r = r.into_inner();
        ok(self.wf().poll_update(r, wait).await.map_err(to_status)?)
    }

    async fn execute_multi_operation(
        &self,
        r: Request<ExecuteMultiOperationRequest>,
    ) -> Res<ExecuteMultiOperationResponse> {
        self.update_with_start(r).await
    }

    async fn reset_workflow_execution(
        &self,
        r: Request<ResetWorkflowExecutionRequest>,
    ) -> Res<ResetWorkflowExecutionResponse> {
        let r = r.into_inner();
        ok(self.wf().reset_workflow(r).await.map_err(to_status)?)
    }

    async fn shutdown_worker(
        &self,
        r: Request<ShutdownWorkerRequest>,
    ) -> Res<ShutdownWorkerResponse> {
        let r = r.into_inner();
        self.fe
            .task_queues
            .shutdown_worker(r)
            .await
            .map_err(to_status)?;
        ok(ShutdownWorkerResponse {})
    }

    async fn get_system_info(
        &self,
        _r: Request<GetSystemInfoRequest>,
    ) -> Res<GetSystemInfoResponse> {
        ok(super::system::system_info())
    }

    async fn get_cluster_info(
        &self,
        _r: Request<GetClusterInfoRequest>,
    ) -> Res<GetClusterInfoResponse> {
        ok(super::system::cluster_info(&self.fe))
    }

    async fn pause_activity(&self, r: Request<PauseActivityRequest>) -> Res<PauseActivityResponse> {
        let r = r.into_inner();
        self.wf().pause_activity(r).await.map_err(to_status)?;
        ok(PauseActivityResponse {})
    }

    async fn unpause_activity(
        &self,
        r: Request<UnpauseActivityRequest>,
    ) -> Res<UnpauseActivityResponse> {
        let r = r.into_inner();
        self.wf().unpause_activity(r).await.map_err(to_status)?;
        ok(UnpauseActivityResponse {})
    }

    async fn reset_activity(&self, r: Request<ResetActivityRequest>) -> Res<ResetActivityResponse> {
        let r = r.into_inner();
        self.wf().reset_activity(r).await.map_err(to_status)?;
        ok(ResetActivityResponse {})
    }

    async fn update_activity_options(
        &self,
        r: Request<UpdateActivityOptionsRequest>,
    ) -> Res<UpdateActivityOptionsResponse> {
        let r = r.into_inner();
        ok(self
            .wf()
            .update_activity_options(r)
            .await
            .map_err(to_status)?)
    }

    async fn pause_activity_execution(
        &self,
        r: Request<PauseActivityExecutionRequest>,
    ) -> Res<PauseActivityExecutionResponse> {
        let r = activity_ops::pause(r.into_inner())?;
        self.wf().pause_activity(r).await.map_err(to_status)?;
        ok(PauseActivityExecutionResponse {})
    }

    async fn unpause_activity_execution(
        &self,
        r: Request<UnpauseActivityExecutionRequest>,
    ) -> Res<UnpauseActivityExecutionResponse> {
        let r = activity_ops::unpause(r.into_inner())?;
        self.wf().unpause_activity(r).await.map_err(to_status)?;
        ok(UnpauseActivityExecutionResponse {})
    }

    async fn reset_activity_execution(
        &self,
        r: Request<ResetActivityExecutionRequest>,
    ) -> Res<ResetActivityExecutionResponse> {
        let r = activity_ops::reset(r.into_inner())?;
        self.wf().reset_activity(r).await.map_err(to_status)?;
        ok(ResetActivityExecutionResponse {})
    }

    async fn update_activity_execution_options(
        &self,
        r: Request<UpdateActivityExecutionOptionsRequest>,
    ) -> Res<UpdateActivityExecutionOptionsResponse> {
        let r = activity_ops::update_options(r.into_inner())?;
        let updated = self
            .wf()
            .update_activity_options(r)
            .await
            .map_err(to_status)?;
        ok(UpdateActivityExecutionOptionsResponse {
            activity_options: updated.activity_options,
        })
    }

    async fn create_schedule(
        &self,
        r: Request<CreateScheduleRequest>,
    ) -> Res<CreateScheduleResponse> {
        schedules::create_schedule(&*self.fe.schedules, r.into_inner()).await
    }

    async fn describe_schedule(
        &self,
        r: Request<DescribeScheduleRequest>,
    ) -> Res<DescribeScheduleResponse> {
        schedules::describe_schedule(&*self.fe.schedules, r.into_inner()).await
    }

    async fn update_schedule(
        &self,
        r: Request<UpdateScheduleRequest>,
    ) -> Res<UpdateScheduleResponse> {
        schedules::update_schedule(&*self.fe.schedules, r.into_inner()).await
    }

    async fn patch_schedule(&self, r: Request<PatchScheduleRequest>) -> Res<PatchScheduleResponse> {
        schedules::patch_schedule(&*self.fe.schedules, r.into_inner()).await
    }

    async fn delete_schedule(
        &self,
        r: Request<DeleteScheduleRequest>,
    ) -> Res<DeleteScheduleResponse> {
        schedules::delete_schedule(&*self.fe.schedules, r.into_inner()).await
    }

    async fn list_schedule_matching_times(
        &self,
        r: Request<ListScheduleMatchingTimesRequest>,
    ) -> Res<ListScheduleMatchingTimesResponse> {
        schedules::list_schedule_matching_times(&*self.fe.schedules, r.into_inner()).await
    }

    async fn list_schedules(&self, r: Request<ListSchedulesRequest>) -> Res<ListSchedulesResponse> {
        schedules::list_schedules(&*self.fe.schedules, r.into_inner()).await
    }

    async fn count_schedules(
        &self,
        r: Request<CountSchedulesRequest>,
    ) -> Res<CountSchedulesResponse> {
        schedules::count_schedules(&*self.fe.schedules, r.into_inner()).await
    }

    async fn start_batch_operation(
        &self,
        r: Request<StartBatchOperationRequest>,
    ) -> Res<StartBatchOperationResponse> {
        batches::start_batch_operation(&*self.fe.batches, r.into_inner()).await
    }

    async fn stop_batch_operation(
        &self,
        r: Request<StopBatchOperationRequest>,
    ) -> Res<StopBatchOperationResponse> {
        batches::stop_batch_operation(&*self.fe.batches, r.into_inner()).await
    }

    async fn describe_batch_operation(
        &self,
        r: Request<DescribeBatchOperationRequest>,
    ) -> Res<DescribeBatchOperationResponse> {
        batches::describe_batch_operation(&*self.fe.batches, r.into_inner()).await
    }

    async fn list_batch_operations(
        &self,
        r: Request<ListBatchOperationsRequest>,
    ) -> Res<ListBatchOperationsResponse> {
        batches::list_batch_operations(&*self.fe.batches, r.into_inner()).await
    }
}
