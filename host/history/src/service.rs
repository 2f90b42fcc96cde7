//! The engine as the services' handles: [`Namespaces`] and [`Workflows`] in process. Each call
//! resolves the namespace its request names, then runs the engine's operation.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use sundial_services::{
    ActivityRef, Batches, Error, HeartbeatReply, Limits, Namespaces, Result, Schedules, TaskQueues,
    UpdateWithStart, Workflows,
};
use temporalio_protos::temporal::api::{
    common::v1::Payloads,
    failure::v1::Failure,
    namespace::v1::{NamespaceInfo, namespace_info::Capabilities},
    workflowservice::v1::*,
};

use crate::Engine;
use crate::history::ActivityRef as EngineActivity;
use crate::history::links;
use crate::namespace::Namespace;

impl Engine {
    /// What a namespace's clients may use here, as DescribeNamespace tells the SDKs: only what
    /// the engine really does, with the dynamic config's switches.
    fn capabilities(&self, info: &mut Option<NamespaceInfo>) {
        if let Some(info) = info {
            let namespace = info.name.clone();
            info.capabilities = Some(Capabilities {
                eager_workflow_start: self.eager_workflow_start(&namespace),
                worker_poll_complete_on_shutdown: self.cancel_polls_on_shutdown(&namespace),
                sync_update: true,
                async_update: true,
                ..Default::default()
            });
            info.supports_schedules = true;
        }
    }

    async fn ns(&self, name: &str) -> Result<Arc<Namespace>> {
        self.namespaces().by_name(name).await
    }

    /// The namespace and the activity a reference names (a token must be of that namespace).
    async fn activity(
        &self,
        namespace: &str,
        a: ActivityRef,
    ) -> Result<(Arc<Namespace>, EngineActivity)> {
        let ns = self.ns(namespace).await?;
        let a = match a {
            ActivityRef::Token(bytes) => EngineActivity::Token(self.decode_token(&ns, &bytes)?),
            ActivityRef::Id {
                workflow_id,
                run_id,
                activity_id,
            } => EngineActivity::Id {
                workflow_id,
                run_id,
                activity_id,
            },
        };
        Ok((ns, a))
    }
}

#[async_trait::async_trait]
impl Namespaces for Engine {
    async fn register_namespace(&self, r: RegisterNamespaceRequest) -> Result<()> {
        self.namespaces().register(r).await
    }
    async fn describe_namespace(&self, name: &str, id: &str) -> Result<DescribeNamespaceResponse> {
        let mut d = self.namespaces().describe(name, id).await?;
        self.capabilities(&mut d.namespace_info);
        Ok(d)
    }
    async fn list_namespaces(
        &self,
        page_size: i32,
        token: &[u8],
    ) -> Result<ListNamespacesResponse> {
        let mut list = self.namespaces().list(page_size, token).await?;
        for d in &mut list.namespaces {
            self.capabilities(&mut d.namespace_info);
        }
        Ok(list)
    }
    async fn update_namespace(&self, r: UpdateNamespaceRequest) -> Result<UpdateNamespaceResponse> {
        let mut u = self.namespaces().update(r).await?;
        self.capabilities(&mut u.namespace_info);
        Ok(u)
    }
    async fn add_search_attributes(
        &self,
        namespace: &str,
        attributes: &HashMap<String, i32>,
    ) -> Result<()> {
        self.namespaces()
            .add_search_attributes(namespace, attributes)
            .await
    }
    async fn remove_search_attributes(&self, namespace: &str, names: &[String]) -> Result<()> {
        self.namespaces()
            .remove_search_attributes(namespace, names)
            .await
    }
    async fn custom_search_attributes(&self, namespace: &str) -> Result<HashMap<String, i32>> {
        let ns = self.ns(namespace).await?;
        Ok(ns
            .search_attributes
            .iter()
            .map(|(n, t)| (n.clone(), *t as i32))
            .collect())
    }
}

/// Matching's side: the workers' polls, and what their queues hold.
#[async_trait::async_trait]
impl TaskQueues for Engine {
    async fn poll_workflow_task(
        &self,
        r: PollWorkflowTaskQueueRequest,
        wait: Duration,
    ) -> Result<PollWorkflowTaskQueueResponse> {
        let ns = self.ns(&r.namespace).await?;
        Engine::poll_workflow_task(self, &ns, r, wait).await
    }
    async fn poll_activity_task(
        &self,
        r: PollActivityTaskQueueRequest,
        wait: Duration,
    ) -> Result<PollActivityTaskQueueResponse> {
        let ns = self.ns(&r.namespace).await?;
        Engine::poll_activity_task(self, &ns, r, wait).await
    }
    async fn describe_task_queue(
        &self,
        r: DescribeTaskQueueRequest,
    ) -> Result<DescribeTaskQueueResponse> {
        let ns = self.ns(&r.namespace).await?;
        Engine::describe_task_queue(self, &ns, r).await
    }
    async fn shutdown_worker(&self, r: ShutdownWorkerRequest) -> Result<()> {
        let ns = self.ns(&r.namespace).await?;
        Engine::shutdown_worker(self, &ns, r).await
    }
}

#[async_trait::async_trait]
impl Workflows for Engine {
    fn limits(&self) -> Limits {
        Limits {
            poll_timeout: self.poll_timeout(),
            history_poll_timeout: self.history_poll_timeout(),
            num_history_shards: self.options().num_shards,
        }
    }

    async fn start_workflow(
        &self,
        r: StartWorkflowExecutionRequest,
    ) -> Result<StartWorkflowExecutionResponse> {
        let ns = self.ns(&r.namespace).await?;
        Engine::start_workflow(self, &ns, r).await
    }
    async fn signal_with_start(
        &self,
        r: SignalWithStartWorkflowExecutionRequest,
    ) -> Result<SignalWithStartWorkflowExecutionResponse> {
        let ns = self.ns(&r.namespace).await?;
        Engine::signal_with_start(self, &ns, r).await
    }
    async fn signal(
        &self,
        r: SignalWorkflowExecutionRequest,
    ) -> Result<SignalWorkflowExecutionResponse> {
        let ns = self.ns(&r.namespace).await?;
        let (workflow_id, request_id) = (
            r.workflow_execution
                .as_ref()
                .map(|e| e.workflow_id.clone())
                .unwrap_or_default(),
            r.request_id.clone(),
        );
        let run_id = Engine::signal(self, &ns, r).await?;
        Ok(SignalWorkflowExecutionResponse {
            link: Some(links::signaled(
                &ns.name,
                &workflow_id,
                &run_id,
                &request_id,
            )),
        })
    }
    async fn request_cancel(&self, r: RequestCancelWorkflowExecutionRequest) -> Result<()> {
        let ns = self.ns(&r.namespace).await?;
        Engine::request_cancel(self, &ns, r).await
    }
    async fn terminate(&self, r: TerminateWorkflowExecutionRequest) -> Result<()> {
        let ns = self.ns(&r.namespace).await?;
        Engine::terminate(self, &ns, r).await
    }
    async fn delete_workflow(&self, r: DeleteWorkflowExecutionRequest) -> Result<()> {
        let ns = self.ns(&r.namespace).await?;
        Engine::delete_workflow(self, &ns, r).await
    }
    async fn reset_workflow(
        &self,
        r: ResetWorkflowExecutionRequest,
    ) -> Result<ResetWorkflowExecutionResponse> {
        let ns = self.ns(&r.namespace).await?;
        Engine::reset_workflow(self, &ns, r).await
    }
    async fn pause_activity(&self, r: PauseActivityRequest) -> Result<()> {
        let ns = self.ns(&r.namespace).await?;
        Engine::pause_activity(self, &ns, r).await
    }
    async fn unpause_activity(&self, r: UnpauseActivityRequest) -> Result<()> {
        let ns = self.ns(&r.namespace).await?;
        Engine::unpause_activity(self, &ns, r).await
    }
    async fn reset_activity(&self, r: ResetActivityRequest) -> Result<()> {
        let ns = self.ns(&r.namespace).await?;
        Engine::reset_activity(self, &ns, r).await
    }
    async fn update_activity_options(
        &self,
        r: UpdateActivityOptionsRequest,
    ) -> Result<UpdateActivityOptionsResponse> {
        let ns = self.ns(&r.namespace).await?;
        let activity_options = Some(Engine::update_activity_options(self, &ns, r).await?);
        Ok(UpdateActivityOptionsResponse { activity_options })
    }
    async fn update_workflow_options(
        &self,
        r: UpdateWorkflowExecutionOptionsRequest,
    ) -> Result<UpdateWorkflowExecutionOptionsResponse> {
        let ns = self.ns(&r.namespace).await?;
        let options = Engine::update_workflow_options(self, &ns, r).await?;
        Ok(UpdateWorkflowExecutionOptionsResponse {
            workflow_execution_options: Some(options),
            ..Default::default()
        })
    }
    async fn describe_workflow(
        &self,
        r: DescribeWorkflowExecutionRequest,
    ) -> Result<DescribeWorkflowExecutionResponse> {
        let ns = self.ns(&r.namespace).await?;
        Engine::describe_workflow(self, &ns, r).await
    }
    async fn get_history(
        &self,
        r: GetWorkflowExecutionHistoryRequest,
        wait: Duration,
    ) -> Result<GetWorkflowExecutionHistoryResponse> {
        let ns = self.ns(&r.namespace).await?;
        // A run gone from the store may be in the archive (Temporal reads it there only
        // when the request names the run).
        let archived = (!r.skip_archival && self.namespaces().archival().history.read)
            .then(|| r.execution.clone())
            .flatten()
            .filter(|e| !e.run_id.is_empty())
            .map(|e| (e, r.maximum_page_size, r.next_page_token.clone()));
        let live = Engine::get_history(self, &ns, r, wait).await;
        match (live, archived) {
            (Err(Error::NotFound(_)), Some((execution, size, token))) => {
                self.archived_history(&ns, &execution, size, token).await
            }
            (live, _) => live,
        }
    }
    async fn get_history_reverse(
        &self,
        r: GetWorkflowExecutionHistoryReverseRequest,
    ) -> Result<GetWorkflowExecutionHistoryReverseResponse> {
        let ns = self.ns(&r.namespace).await?;
        Engine::get_history_reverse(self, &ns, r).await
    }

    async fn complete_workflow_task(
        &self,
        r: RespondWorkflowTaskCompletedRequest,
    ) -> Result<RespondWorkflowTaskCompletedResponse> {
        let ns = self.ns(&r.namespace).await?;
        Engine::complete_workflow_task(self, &ns, r).await
    }
    async fn fail_workflow_task(&self, r: RespondWorkflowTaskFailedRequest) -> Result<()> {
        let ns = self.ns(&r.namespace).await?;
        Engine::fail_workflow_task(self, &ns, r).await
    }
    async fn reset_sticky_task_queue(&self, r: ResetStickyTaskQueueRequest) -> Result<()> {
        let ns = self.ns(&r.namespace).await?;
        Engine::reset_sticky_task_queue(self, &ns, r).await
    }

    async fn activity_heartbeat(
        &self,
        namespace: &str,
        activity: ActivityRef,
        identity: &str,
        details: Option<Payloads>,
    ) -> Result<HeartbeatReply> {
        let (ns, a) = self.activity(namespace, activity).await?;
        Engine::activity_heartbeat(self, &ns, a, identity, details).await
    }
    async fn activity_completed(
        &self,
        namespace: &str,
        activity: ActivityRef,
        identity: &str,
        result: Option<Payloads>,
    ) -> Result<()> {
        let (ns, a) = self.activity(namespace, activity).await?;
        Engine::activity_completed(self, &ns, a, identity, result).await
    }
    async fn activity_failed(
        &self,
        namespace: &str,
        activity: ActivityRef,
        identity: &str,
        failure: Option<Failure>,
        last_heartbeat_details: Option<Payloads>,
    ) -> Result<()> {
        let (ns, a) = self.activity(namespace, activity).await?;
        Engine::activity_failed(self, &ns, a, identity, failure, last_heartbeat_details).await
    }
    async fn activity_canceled(
        &self,
        namespace: &str,
        activity: ActivityRef,
        identity: &str,
        details: Option<Payloads>,
    ) -> Result<()> {
        let (ns, a) = self.activity(namespace, activity).await?;
        Engine::activity_canceled(self, &ns, a, identity, details).await
    }

    async fn query_workflow(
        &self,
        r: QueryWorkflowRequest,
        wait: Duration,
    ) -> Result<QueryWorkflowResponse> {
        let ns = self.ns(&r.namespace).await?;
        Engine::query_workflow(self, &ns, r, wait).await
    }
    async fn respond_query_task(&self, r: RespondQueryTaskCompletedRequest) -> Result<()> {
        let ns = self.ns(&r.namespace).await?;
        Engine::respond_query_task(self, &ns, r).await
    }
    async fn update_workflow(
        &self,
        r: UpdateWorkflowExecutionRequest,
        wait: Duration,
    ) -> Result<UpdateWorkflowExecutionResponse> {
        let ns = self.ns(&r.namespace).await?;
        Engine::update_workflow(self, &ns, r, wait).await
    }
    async fn poll_update(
        &self,
        r: PollWorkflowExecutionUpdateRequest,
        wait: Duration,
    ) -> Result<PollWorkflowExecutionUpdateResponse> {
        let ns = self.ns(&r.namespace).await?;
        Engine::poll_update(self, &ns, r, wait).await
    }
    async fn update_with_start(
        &self,
        namespace: &str,
        start: StartWorkflowExecutionRequest,
        update: UpdateWorkflowExecutionRequest,
        wait: Duration,
    ) -> Result<UpdateWithStart> {
        let ns = self.ns(namespace).await?;
        Ok(Engine::update_with_start(self, &ns, start, update, wait).await)
    }

    async fn list_workflows(
        &self,
        namespace: &str,
        query: &str,
        page_size: i32,
        token: &[u8],
    ) -> Result<ListWorkflowExecutionsResponse> {
        let ns = self.ns(namespace).await?;
        Engine::list_workflows(self, &ns, query, page_size, token).await
    }
    async fn list_archived(
        &self,
        r: ListArchivedWorkflowExecutionsRequest,
    ) -> Result<ListArchivedWorkflowExecutionsResponse> {
        let ns = self.ns(&r.namespace).await?;
        Engine::list_archived(self, &ns, &r.query, r.page_size, r.next_page_token).await
    }
    async fn count_workflows(
        &self,
        namespace: &str,
        query: &str,
    ) -> Result<CountWorkflowExecutionsResponse> {
        let ns = self.ns(namespace).await?;
        Engine::count_workflows(self, &ns, query).await
    }
}

#[async_trait::async_trait]
impl Schedules for Engine {
    async fn create_schedule(&self, r: CreateScheduleRequest) -> Result<CreateScheduleResponse> {
        let ns = self.ns(&r.namespace).await?;
        Engine::create_schedule(self, &ns, r).await
    }
    async fn describe_schedule(
        &self,
        r: DescribeScheduleRequest,
    ) -> Result<DescribeScheduleResponse> {
        let ns = self.ns(&r.namespace).await?;
        Engine::describe_schedule(self, &ns, r).await
    }
    async fn update_schedule(&self, r: UpdateScheduleRequest) -> Result<()> {
        let ns = self.ns(&r.namespace).await?;
        Engine::update_schedule(self, &ns, r).await
    }
    async fn patch_schedule(&self, r: PatchScheduleRequest) -> Result<()> {
        let ns = self.ns(&r.namespace).await?;
        Engine::patch_schedule(self, &ns, r).await
    }
    async fn delete_schedule(&self, r: DeleteScheduleRequest) -> Result<()> {
        let ns = self.ns(&r.namespace).await?;
        Engine::delete_schedule(self, &ns, r).await
    }
    async fn list_schedule_matching_times(
        &self,
        r: ListScheduleMatchingTimesRequest,
    ) -> Result<ListScheduleMatchingTimesResponse> {
        let ns = self.ns(&r.namespace).await?;
        Engine::list_schedule_matching_times(self, &ns, r).await
    }
    async fn list_schedules(&self, r: ListSchedulesRequest) -> Result<ListSchedulesResponse> {
        let ns = self.ns(&r.namespace).await?;
        Engine::list_schedules(self, &ns, r).await
    }
    async fn count_schedules(&self, r: CountSchedulesRequest) -> Result<CountSchedulesResponse> {
        let ns = self.ns(&r.namespace).await?;
        Engine::count_schedules(self, &ns, r).await
    }
}

#[async_trait::async_trait]
impl Batches for Engine {
    async fn start_batch_operation(&self, r: StartBatchOperationRequest) -> Result<()> {
        let ns = self.ns(&r.namespace).await?;
        Engine::start_batch_operation(self, &ns, r).await
    }
    async fn stop_batch_operation(&self, r: StopBatchOperationRequest) -> Result<()> {
        let ns = self.ns(&r.namespace).await?;
        Engine::stop_batch_operation(self, &ns, r).await
    }
    async fn describe_batch_operation(
        &self,
        r: DescribeBatchOperationRequest,
    ) -> Result<DescribeBatchOperationResponse> {
        let ns = self.ns(&r.namespace).await?;
        Engine::describe_batch_operation(self, &ns, r).await
    }
    async fn list_batch_operations(
        &self,
        r: ListBatchOperationsRequest,
    ) -> Result<ListBatchOperationsResponse> {
        let ns = self.ns(&r.namespace).await?;
        Engine::list_batch_operations(self, &ns, r).await
    }
}
