//! Running due shard tasks: user timers, timeouts, delayed first workflow tasks, retention.

use temporalio_protos::temporal::api::{
    enums::v1::WorkflowExecutionStatus, history::v1::TimerFiredEventAttributes,
};

use super::Engine;
use crate::error::Result;
use crate::state::{Task, TaskKind};
use sundial_store::RunKey;

impl Engine {
    pub(crate) async fn process_timer_task(&self, task: &Task) -> Result<()> {
        let key = RunKey {
            namespace_id: task.namespace_id.clone(),
            workflow_id: task.workflow_id.clone(),
            run_id: task.run_id.clone(),
        };
        let kind = task.task_kind();
        if matches!(
            kind,
            TaskKind::StartChild
                | TaskKind::SignalExternal
                | TaskKind::CancelExternal
                | TaskKind::NotifyParent
                | TaskKind::ParentClosePolicy
        ) {
            return self.process_transfer_task(task).await;
        }
        let mut guard = self.lock(&key).await?;
        if kind == TaskKind::DeleteRun {
            if guard.state().status == WorkflowExecutionStatus::Running as i32 {
                return Ok(());
            }
            let shard = guard.shard_id;
            let range = guard.range_id;
            self.inner.store.delete_run(shard, range, &key).await?;
            guard.slot.loaded = None;
            drop(guard);
            self.queue_visibility(super::visibility::Op::Delete {
                namespace_id: key.namespace_id.clone(),
                run_id: key.run_id.clone(),
            });
            tracing::debug!(workflow_id = %key.workflow_id, run_id = %key.run_id, "retention elapsed; run deleted");
            return Ok(());
        }
        let mut txn = self.begin(&guard);
        if !txn.running() {
            return Ok(());
        }
        match kind {
            TaskKind::UserTimer => {
                let Some(idx) = txn
                    .ms
                    .timers
                    .iter()
                    .position(|t| t.started_event_id == task.event_id)
                else {
                    return Ok(());
                };
                let timer = txn.ms.timers.remove(idx);
                txn.add_external(TimerFiredEventAttributes {
                    timer_id: timer.timer_id,
                    started_event_id: timer.started_event_id,
                });
                txn.schedule_workflow_task(1);
            }
            TaskKind::WorkflowTaskTimeout | TaskKind::StickyTimeout => {
                self.inner.queries.requeue_attached(&key);
                self.inner.updates.unsend(&key);
                txn.workflow_task_timeout(task)
            }
            TaskKind::ActivityTimeout => txn.activity_timeout(task),
            TaskKind::WorkflowTimeout => {
                if txn.ms.run_expiration == 0 || txn.ms.run_expiration > txn.now {
                    return Ok(());
                }
                txn.time_out();
            }
            // A delayed first workflow task (start delay or continue-as-new backoff).
            TaskKind::DispatchWorkflowTask
                if txn.ms.workflow_task.is_none() && txn.ms.last_completed_wft_started_id == 0 =>
            {
                txn.schedule_workflow_task(1);
            }
            _ => return Ok(()),
        }
        if txn.events.is_empty() && txn.tasks.is_empty() && txn.ms == *guard.state() {
            return Ok(());
        }
        self.commit(&mut guard, txn).await?;
        self.release_closed(guard);
        Ok(())
    }
}
