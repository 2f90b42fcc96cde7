//! A worker shutting down (ShutdownWorker): its sticky queue's tasks go to the normal queue
//! at once, and, with Temporal's `frontend.enableCancelWorkerPollsOnShutdown`, its waiting
//! polls end empty wherever their queues are, so the SDK's graceful shutdown
//! (`workerPollCompleteOnShutdown`) need not wait out a long poll.

use temporalio_protos::temporal::api::{
    enums::v1::TaskQueueType, workflowservice::v1::ShutdownWorkerRequest,
};

use super::Engine;
use crate::error::Result;
use crate::matching::QueueKind;
use crate::namespace::Namespace;
use crate::peers::CancelWorkerPollsRequest;
use crate::state::TaskKind;

impl Engine {
    pub async fn shutdown_worker(&self, ns: &Namespace, req: ShutdownWorkerRequest) -> Result<()> {
        if self.cancel_polls_on_shutdown(&ns.name) {
            self.cancel_worker_polls(ns, &req).await;
        }
        if req.sticky_task_queue.is_empty() {
            return Ok(());
        }
        let key = Self::queue_key(&ns.id, &req.sticky_task_queue, QueueKind::Workflow);
        for mut q in self.inner.matching.remove_queue(&key) {
            q.task.kind = TaskKind::StickyTimeout as i32;
            if let Err(e) = self.run_task_anywhere(&q).await {
                tracing::warn!(error = %e, "moving a sticky task back to its normal queue failed");
            }
        }
        Ok(())
    }

    /// Ends the worker's polls here (its sticky queue's, and any other queue this node holds)
    /// and on the nodes that own its task queue's workflow and activity queues. Best effort,
    /// as on Temporal: a node that cannot be reached is logged.
    async fn cancel_worker_polls(&self, ns: &Namespace, req: &ShutdownWorkerRequest) {
        // As on Temporal: nothing without both the instance and its task queue.
        if req.worker_instance_key.is_empty() || req.task_queue.is_empty() {
            return;
        }
        let request = CancelWorkerPollsRequest {
            namespace_id: ns.id.clone(),
            worker_instance_key: req.worker_instance_key.clone(),
            identity: req.identity.clone(),
            task_queues: [&req.task_queue, &req.sticky_task_queue]
                .into_iter()
                .filter(|q| !q.is_empty())
                .cloned()
                .collect(),
        };
        self.cancel_worker_polls_here(&request);
        let types = match req.task_queue_types.as_slice() {
            [] => vec![
                TaskQueueType::Workflow as i32,
                TaskQueueType::Activity as i32,
            ],
            given => given.to_vec(),
        };
        let mut nodes: Vec<String> = types
            .into_iter()
            .filter_map(|t| match TaskQueueType::try_from(t) {
                Ok(TaskQueueType::Workflow) => Some(QueueKind::Workflow),
                Ok(TaskQueueType::Activity) => Some(QueueKind::Activity),
                _ => None, // Nexus queues are not served here.
            })
            .filter_map(|kind| self.queue_node(&Self::queue_key(&ns.id, &req.task_queue, kind)))
            .collect();
        nodes.sort();
        nodes.dedup();
        for node in nodes {
            if let Err(e) = self
                .peers()
                .cancel_worker_polls(&node, request.clone())
                .await
            {
                tracing::warn!(node, error = %e, "ending a shut-down worker's polls failed");
            }
        }
    }

    /// This node is stopping: every poll waiting here ends empty now, later ones at once.
    /// Answers how many it ended.
    pub fn stop_polls(&self) -> usize {
        self.inner.matching.stop_polls()
    }

    /// Ends a shut-down worker's polls waiting on this node; answers how many.
    pub fn cancel_worker_polls_here(&self, request: &CancelWorkerPollsRequest) -> usize {
        let queues: Vec<&str> = request.task_queues.iter().map(String::as_str).collect();
        self.inner.matching.cancel_worker_polls(
            &request.namespace_id,
            &request.worker_instance_key,
            &request.identity,
            &queues,
        )
    }
}
