//! `temporal.api.workflowservice.v1.WorkflowService` handlers. Methods not listed here answer
//! `Unimplemented` (the generated default).

use sundial_api::protos::temporal::api::workflowservice::v1::{
    get_system_info_response::Capabilities, *,
};
use sundial_api::workflowservice::workflow_service_server::WorkflowService;
use tonic::{Request, Response, Status};

use super::{Frontend, long_poll_wait, query_wait, to_status};

pub struct WorkflowHandler {
    pub fe: Frontend,
}

type Res<T> = Result<Response<T>, Status>;

fn ok<T>(v: T) -> Res<T> {
    Ok(Response::new(v))
}

#[tonic::async_trait]
impl WorkflowService for WorkflowHandler {
    async fn register_namespace(
        &self,
        r: Request<RegisterNamespaceRequest>,
    ) -> Res<RegisterNamespaceResponse> {
        self.fe
            .engine
            .namespaces()
            .register(r.into_inner())
            .await
            .map_err(to_status)?;
        ok(RegisterNamespaceResponse {})
    }

    async fn describe_namespace(
        &self,
        r: Request<DescribeNamespaceRequest>,
    ) -> Res<DescribeNamespaceResponse> {
        let r = r.into_inner();
        ok(self
            .fe
            .engine
            .namespaces()
            .describe(&r.namespace, &r.id)
            .await
            .map_err(to_status)?)
    }

    async fn list_namespaces(
        &self,
        r: Request<ListNamespacesRequest>,
    ) -> Res<ListNamespacesResponse> {
        let r = r.into_inner();
        ok(self
            .fe
            .engine
            .namespaces()
            .list(r.page_size, &r.next_page_token)
            .await
            .map_err(to_status)?)
    }

    async fn update_namespace(
        &self,
        r: Request<UpdateNamespaceRequest>,
    ) -> Res<UpdateNamespaceResponse> {
        ok(self
            .fe
            .engine
            .namespaces()
            .update(r.into_inner())
            .await
            .map_err(to_status)?)
    }

    async fn start_workflow_execution(
        &self,
        r: Request<StartWorkflowExecutionRequest>,
    ) -> Res<StartWorkflowExecutionResponse> {
        let r = r.into_inner();
        let ns = self.fe.namespace(&r.namespace).await?;
        ok(self
            .fe
            .engine
            .start_workflow(&ns, r)
            .await
            .map_err(to_status)?)
    }

    async fn signal_with_start_workflow_execution(
        &self,
        r: Request<SignalWithStartWorkflowExecutionRequest>,
    ) -> Res<SignalWithStartWorkflowExecutionResponse> {
        let r = r.into_inner();
        let ns = self.fe.namespace(&r.namespace).await?;
        let (run_id, started) = self
            .fe
            .engine
            .start_or_signal(&ns, r, true)
            .await
            .map_err(to_status)?;
        ok(SignalWithStartWorkflowExecutionResponse {
            run_id,
            started,
            ..Default::default()
        })
    }

    async fn get_workflow_execution_history(
        &self,
        r: Request<GetWorkflowExecutionHistoryRequest>,
    ) -> Res<GetWorkflowExecutionHistoryResponse> {
        let wait = long_poll_wait(r.metadata(), self.fe.engine.options().history_poll_timeout);
        let r = r.into_inner();
        let ns = self.fe.namespace(&r.namespace).await?;
        ok(self
            .fe
            .engine
            .get_history(&ns, r, wait)
            .await
            .map_err(to_status)?)
    }

    async fn poll_workflow_task_queue(
        &self,
        r: Request<PollWorkflowTaskQueueRequest>,
    ) -> Res<PollWorkflowTaskQueueResponse> {
        let wait = long_poll_wait(r.metadata(), self.fe.engine.options().poll_timeout);
        let r = r.into_inner();
        let ns = self.fe.namespace(&r.namespace).await?;
        ok(self
            .fe
            .engine
            .poll_workflow_task(&ns, r, wait)
            .await
            .map_err(to_status)?)
    }

    async fn respond_workflow_task_completed(
        &self,
        r: Request<RespondWorkflowTaskCompletedRequest>,
    ) -> Res<RespondWorkflowTaskCompletedResponse> {
        let r = r.into_inner();
        let ns = self.fe.namespace(&r.namespace).await?;
        ok(self
            .fe
            .engine
            .complete_workflow_task(&ns, r)
            .await
            .map_err(to_status)?)
    }

    async fn respond_workflow_task_failed(
        &self,
        r: Request<RespondWorkflowTaskFailedRequest>,
    ) -> Res<RespondWorkflowTaskFailedResponse> {
        let r = r.into_inner();
        let ns = self.fe.namespace(&r.namespace).await?;
        self.fe
            .engine
            .fail_workflow_task(&ns, r)
            .await
            .map_err(to_status)?;
        ok(RespondWorkflowTaskFailedResponse {})
    }

    async fn poll_activity_task_queue(
        &self,
        r: Request<PollActivityTaskQueueRequest>,
    ) -> Res<PollActivityTaskQueueResponse> {
        let wait = long_poll_wait(r.metadata(), self.fe.engine.options().poll_timeout);
        let r = r.into_inner();
        let ns = self.fe.namespace(&r.namespace).await?;
        ok(self
            .fe
            .engine
            .poll_activity_task(&ns, r, wait)
            .await
            .map_err(to_status)?)
    }

    async fn record_activity_task_heartbeat(
        &self,
        r: Request<RecordActivityTaskHeartbeatRequest>,
    ) -> Res<RecordActivityTaskHeartbeatResponse> {
        let r = r.into_inner();
        let (ns, a) = self
            .fe
            .activity_by_token(&r.namespace, &r.task_token)
            .await?;
        let cancel_requested = self
            .fe
            .engine
            .activity_heartbeat(&ns, a, &r.identity, r.details)
            .await
            .map_err(to_status)?;
        ok(RecordActivityTaskHeartbeatResponse {
            cancel_requested,
            ..Default::default()
        })
    }

    async fn record_activity_task_heartbeat_by_id(
        &self,
        r: Request<RecordActivityTaskHeartbeatByIdRequest>,
    ) -> Res<RecordActivityTaskHeartbeatByIdResponse> {
        let r = r.into_inner();
        let (ns, a) = self
            .fe
            .activity_by_id(&r.namespace, r.workflow_id, r.run_id, r.activity_id)
            .await?;
        let cancel_requested = self
            .fe
            .engine
            .activity_heartbeat(&ns, a, &r.identity, r.details)
            .await
            .map_err(to_status)?;
        ok(RecordActivityTaskHeartbeatByIdResponse {
            cancel_requested,
            ..Default::default()
        })
    }

    async fn respond_activity_task_completed(
        &self,
        r: Request<RespondActivityTaskCompletedRequest>,
    ) -> Res<RespondActivityTaskCompletedResponse> {
        let r = r.into_inner();
        let (ns, a) = self
            .fe
            .activity_by_token(&r.namespace, &r.task_token)
            .await?;
        self.fe
            .engine
            .activity_completed(&ns, a, &r.identity, r.result)
            .await
            .map_err(to_status)?;
        ok(RespondActivityTaskCompletedResponse {})
    }

    async fn respond_activity_task_completed_by_id(
        &self,
        r: Request<RespondActivityTaskCompletedByIdRequest>,
    ) -> Res<RespondActivityTaskCompletedByIdResponse> {
        let r = r.into_inner();
        let (ns, a) = self
            .fe
            .activity_by_id(&r.namespace, r.workflow_id, r.run_id, r.activity_id)
            .await?;
        self.fe
            .engine
            .activity_completed(&ns, a, &r.identity, r.result)
            .await
            .map_err(to_status)?;
        ok(RespondActivityTaskCompletedByIdResponse {})
    }

    async fn respond_activity_task_failed(
        &self,
        r: Request<RespondActivityTaskFailedRequest>,
    ) -> Res<RespondActivityTaskFailedResponse> {
        let r = r.into_inner();
        let (ns, a) = self
            .fe
            .activity_by_token(&r.namespace, &r.task_token)
            .await?;
        self.fe
            .engine
            .activity_failed(&ns, a, &r.identity, r.failure, r.last_heartbeat_details)
            .await
            .map_err(to_status)?;
        ok(RespondActivityTaskFailedResponse::default())
    }

    async fn respond_activity_task_failed_by_id(
        &self,
        r: Request<RespondActivityTaskFailedByIdRequest>,
    ) -> Res<RespondActivityTaskFailedByIdResponse> {
        let r = r.into_inner();
        let (ns, a) = self
            .fe
            .activity_by_id(&r.namespace, r.workflow_id, r.run_id, r.activity_id)
            .await?;
        self.fe
            .engine
            .activity_failed(&ns, a, &r.identity, r.failure, r.last_heartbeat_details)
            .await
            .map_err(to_status)?;
        ok(RespondActivityTaskFailedByIdResponse::default())
    }

    async fn respond_activity_task_canceled(
        &self,
        r: Request<RespondActivityTaskCanceledRequest>,
    ) -> Res<RespondActivityTaskCanceledResponse> {
        let r = r.into_inner();
        let (ns, a) = self
            .fe
            .activity_by_token(&r.namespace, &r.task_token)
            .await?;
        self.fe
            .engine
            .activity_canceled(&ns, a, &r.identity, r.details)
            .await
            .map_err(to_status)?;
        ok(RespondActivityTaskCanceledResponse {})
    }

    async fn respond_activity_task_canceled_by_id(
        &self,
        r: Request<RespondActivityTaskCanceledByIdRequest>,
    ) -> Res<RespondActivityTaskCanceledByIdResponse> {
        let r = r.into_inner();
        let (ns, a) = self
            .fe
            .activity_by_id(&r.namespace, r.workflow_id, r.run_id, r.activity_id)
            .await?;
        self.fe
            .engine
            .activity_canceled(&ns, a, &r.identity, r.details)
            .await
            .map_err(to_status)?;
        ok(RespondActivityTaskCanceledByIdResponse {})
    }

    async fn request_cancel_workflow_execution(
        &self,
        r: Request<RequestCancelWorkflowExecutionRequest>,
    ) -> Res<RequestCancelWorkflowExecutionResponse> {
        let r = r.into_inner();
        let ns = self.fe.namespace(&r.namespace).await?;
        self.fe
            .engine
            .request_cancel(&ns, r)
            .await
            .map_err(to_status)?;
        ok(RequestCancelWorkflowExecutionResponse {})
    }

    async fn signal_workflow_execution(
        &self,
        r: Request<SignalWorkflowExecutionRequest>,
    ) -> Res<SignalWorkflowExecutionResponse> {
        let r = r.into_inner();
        let ns = self.fe.namespace(&r.namespace).await?;
        self.fe.engine.signal(&ns, r).await.map_err(to_status)?;
        ok(SignalWorkflowExecutionResponse::default())
    }

    async fn terminate_workflow_execution(
        &self,
        r: Request<TerminateWorkflowExecutionRequest>,
    ) -> Res<TerminateWorkflowExecutionResponse> {
        let r = r.into_inner();
        let ns = self.fe.namespace(&r.namespace).await?;
        self.fe.engine.terminate(&ns, r).await.map_err(to_status)?;
        ok(TerminateWorkflowExecutionResponse {})
    }

    async fn describe_workflow_execution(
        &self,
        r: Request<DescribeWorkflowExecutionRequest>,
    ) -> Res<DescribeWorkflowExecutionResponse> {
        let r = r.into_inner();
        let ns = self.fe.namespace(&r.namespace).await?;
        ok(self
            .fe
            .engine
            .describe_workflow(&ns, r)
            .await
            .map_err(to_status)?)
    }

    async fn list_workflow_executions(
        &self,
        r: Request<ListWorkflowExecutionsRequest>,
    ) -> Res<ListWorkflowExecutionsResponse> {
        self.visibility_list_workflow_executions(r).await
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
        let ns = self.fe.namespace(&r.namespace).await?;
        ok(self
            .fe
            .engine
            .query_workflow(&ns, r, wait)
            .await
            .map_err(to_status)?)
    }

    async fn respond_query_task_completed(
        &self,
        r: Request<RespondQueryTaskCompletedRequest>,
    ) -> Res<RespondQueryTaskCompletedResponse> {
        let r = r.into_inner();
        let ns = self.fe.namespace(&r.namespace).await?;
        self.fe
            .engine
            .respond_query_task(&ns, r)
            .await
            .map_err(to_status)?;
        ok(RespondQueryTaskCompletedResponse {})
    }

    async fn get_workflow_execution_history_reverse(
        &self,
        r: Request<GetWorkflowExecutionHistoryReverseRequest>,
    ) -> Res<GetWorkflowExecutionHistoryReverseResponse> {
        let r = r.into_inner();
        let ns = self.fe.namespace(&r.namespace).await?;
        ok(self
            .fe
            .engine
            .get_history_reverse(&ns, r)
            .await
            .map_err(to_status)?)
    }

    async fn reset_sticky_task_queue(
        &self,
        r: Request<ResetStickyTaskQueueRequest>,
    ) -> Res<ResetStickyTaskQueueResponse> {
        let r = r.into_inner();
        let ns = self.fe.namespace(&r.namespace).await?;
        self.fe
            .engine
            .reset_sticky_task_queue(&ns, r)
            .await
            .map_err(to_status)?;
        ok(ResetStickyTaskQueueResponse {})
    }

    async fn describe_task_queue(
        &self,
        r: Request<DescribeTaskQueueRequest>,
    ) -> Res<DescribeTaskQueueResponse> {
        let r = r.into_inner();
        let ns = self.fe.namespace(&r.namespace).await?;
        ok(self
            .fe
            .engine
            .describe_task_queue(&ns, r)
            .await
            .map_err(to_status)?)
    }

    async fn delete_workflow_execution(
        &self,
        r: Request<DeleteWorkflowExecutionRequest>,
    ) -> Res<DeleteWorkflowExecutionResponse> {
        let r = r.into_inner();
        let ns = self.fe.namespace(&r.namespace).await?;
        self.fe
            .engine
            .delete_workflow(&ns, r)
            .await
            .map_err(to_status)?;
        ok(DeleteWorkflowExecutionResponse {})
    }

    async fn update_workflow_execution(
        &self,
        r: Request<UpdateWorkflowExecutionRequest>,
    ) -> Res<UpdateWorkflowExecutionResponse> {
        let wait = long_poll_wait(r.metadata(), self.fe.engine.options().poll_timeout);
        let r = r.into_inner();
        let ns = self.fe.namespace(&r.namespace).await?;
        ok(self
            .fe
            .engine
            .update_workflow(&ns, r, wait)
            .await
            .map_err(to_status)?)
    }

    async fn poll_workflow_execution_update(
        &self,
        r: Request<PollWorkflowExecutionUpdateRequest>,
    ) -> Res<PollWorkflowExecutionUpdateResponse> {
        let wait = long_poll_wait(r.metadata(), self.fe.engine.options().poll_timeout);
        let r = r.into_inner();
        let ns = self.fe.namespace(&r.namespace).await?;
        ok(self
            .fe
            .engine
            .poll_update(&ns, r, wait)
            .await
            .map_err(to_status)?)
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
        let ns = self.fe.namespace(&r.namespace).await?;
        ok(self
            .fe
            .engine
            .reset_workflow(&ns, r)
            .await
            .map_err(to_status)?)
    }

    async fn shutdown_worker(
        &self,
        r: Request<ShutdownWorkerRequest>,
    ) -> Res<ShutdownWorkerResponse> {
        let r = r.into_inner();
        let ns = self.fe.namespace(&r.namespace).await?;
        self.fe
            .engine
            .shutdown_worker(&ns, r)
            .await
            .map_err(to_status)?;
        ok(ShutdownWorkerResponse {})
    }

    async fn get_system_info(
        &self,
        _r: Request<GetSystemInfoRequest>,
    ) -> Res<GetSystemInfoResponse> {
        ok(GetSystemInfoResponse {
            server_version: env!("CARGO_PKG_VERSION").to_string(),
            capabilities: Some(Capabilities {
                signal_and_query_header: true,
                internal_error_differentiation: true,
                activity_failure_include_heartbeat: true,
                encoded_failure_attributes: true,
                upsert_memo: true,
                sdk_metadata: true,
                ..Default::default()
            }),
        })
    }

    async fn get_cluster_info(
        &self,
        _r: Request<GetClusterInfoRequest>,
    ) -> Res<GetClusterInfoResponse> {
        ok(GetClusterInfoResponse {
            server_version: env!("CARGO_PKG_VERSION").to_string(),
            cluster_id: self.fe.cluster_id.clone(),
            cluster_name: sundial_engine::namespace::CLUSTER_NAME.to_string(),
            history_shard_count: self.fe.engine.options().num_shards,
            persistence_store: self.fe.persistence.clone(),
            visibility_store: self.fe.persistence.clone(),
            initial_failover_version: 1,
            failover_version_increment: 10,
            ..Default::default()
        })
    }
}
