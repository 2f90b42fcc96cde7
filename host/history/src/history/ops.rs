//! Smaller operations on runs and queues: reverse history, sticky reset, deletion.

use prost::Message;
use temporalio_protos::temporal::api::{
    enums::v1::WorkflowExecutionStatus,
    history::v1::History,
    workflowservice::v1::{
        DeleteWorkflowExecutionRequest, GetWorkflowExecutionHistoryReverseRequest,
        GetWorkflowExecutionHistoryReverseResponse, ResetStickyTaskQueueRequest,
    },
};

use super::{Engine, RunGuard};
use crate::error::{Result, invalid};
use crate::namespace::Namespace;
use crate::state::{HistoryPageToken, Task, TaskKind};
use crate::time::now_nanos;

const DEFAULT_PAGE_SIZE: i64 = 1000;

impl Engine {
    /// History newest event first; the page token holds the next (lower) event id to return.
    pub async fn get_history_reverse(
        &self,
        ns: &Namespace,
        req: GetWorkflowExecutionHistoryReverseRequest,
    ) -> Result<GetWorkflowExecutionHistoryReverseResponse> {
        let exec = req.execution.clone().unwrap_or_default();
        let mut key = self.resolve(&ns.id, &exec).await?;
        let ms = self.snapshot(&key).await?;
        let mut top = ms.next_event_id - 1;
        if !req.next_page_token.is_empty() {
            let t = HistoryPageToken::decode(req.next_page_token.as_slice())
                .map_err(|_| invalid("Invalid NextPageToken."))?;
            key.run_id = t.run_id;
            top = t.next_event_id;
        }
        let page = if req.maximum_page_size <= 0 {
            DEFAULT_PAGE_SIZE
        } else {
            req.maximum_page_size as i64
        };
        let bottom = (top - page + 1).max(1);
        let mut events = self.read_events(&key, bottom, top).await?;
        events.reverse();
        let next_page_token = if bottom > 1 {
            HistoryPageToken {
                run_id: key.run_id.clone(),
                next_event_id: bottom - 1,
            }
            .encode_to_vec()
        } else {
            Vec::new()
        };
        Ok(GetWorkflowExecutionHistoryReverseResponse {
            history: Some(History { events }),
            next_page_token,
        })
    }

    /// Forgets the run's sticky queue: its next workflow task goes to the normal queue.
    pub async fn reset_sticky_task_queue(
        &self,
        ns: &Namespace,
        req: ResetStickyTaskQueueRequest,
    ) -> Result<()> {
        let exec = req.execution.clone().unwrap_or_default();
        let key = self.resolve(&ns.id, &exec).await?;
        let mut guard = self.lock(&key).await?;
        if guard.state().sticky_task_queue.is_empty() {
            return Ok(());
        }
        let mut txn = self.begin(&guard);
        txn.ms.sticky_task_queue.clear();
        self.commit(&mut guard, txn).await
    }

    /// Deletes a run (terminating it first if it is still running).
    pub async fn delete_workflow(
        &self,
        ns: &Namespace,
        req: DeleteWorkflowExecutionRequest,
    ) -> Result<()> {
        let exec = req.workflow_execution.clone().unwrap_or_default();
        let key = self.resolve(&ns.id, &exec).await?;
        let mut guard = self.lock(&key).await?;
        if guard.state().status == WorkflowExecutionStatus::Running as i32 {
            let mut txn = self.begin(&guard);
            txn.terminate("Delete workflow execution", None, "");
            self.commit(&mut guard, txn).await?;
        }
        let result = self.delete_run(guard).await;
        self.forget(&key);
        result
    }

    /// Deletes the locked run from the store. The removal of its visibility record is a task
    /// stored in the same transaction, run once the deletion is committed: a crash in between
    /// leaves the task to run at the next start, never a listed run that no longer exists.
    pub(super) async fn delete_run(&self, mut guard: RunGuard) -> Result<()> {
        let (shard_id, range_id) = (guard.shard_id, guard.range_id);
        let task = Task {
            kind: TaskKind::DeleteVisibility as i32,
            namespace_id: guard.key.namespace_id.clone(),
            workflow_id: guard.key.workflow_id.clone(),
            run_id: guard.key.run_id.clone(),
            ..Default::default()
        };
        let (row, queued) = self.stored_task(shard_id, range_id, task, now_nanos());
        let result = self
            .inner
            .store
            .delete_run(shard_id, range_id, &guard.key, std::slice::from_ref(&row))
            .await;
        guard.slot.loaded = None;
        guard.slot.history = None;
        drop(guard);
        if result.is_err() {
            self.reread_tasks(shard_id, range_id, vec![row.queue_hash]);
        }
        result?;
        self.schedule_committed([(queued, row.queue_hash, row.visible_at)]);
        Ok(())
    }
}
