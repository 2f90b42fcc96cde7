//! Running a shard's durable tasks: routing each to matching, the timer queue or the
//! visibility writer; running due ones (user timers, timeouts, delayed first workflow tasks,
//! retention); deleting finished ones and paging in those that wait in the database.

use temporalio_protos::temporal::api::{
    enums::v1::WorkflowExecutionStatus, history::v1::TimerFiredEventAttributes,
};

use prost::Message;

use super::{Engine, paging, visibility};
use crate::error::{Error, Result};
use crate::matching::{NOT_STORED, QueueKind, Queued};
use crate::state::{Task, TaskKind};
use crate::time::now_nanos;

impl Engine {
    pub(crate) async fn process_timer_task(&self, task: &Task) -> Result<()> {
        let key = task.run_key();
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
        if kind == TaskKind::ArchiveRun {
            return self.archive_run(&key).await;
        }
        if kind == TaskKind::ScheduleWake {
            return match self.run_scheduler(&key, None).await {
                Err(crate::error::Error::NotFound(_)) => Ok(()),
                other => other,
            };
        }
        if kind == TaskKind::ScheduledRunClosed {
            return self.notify_scheduler(task).await;
        }
        if kind == TaskKind::BatchWake {
            return self.run_batch(&key).await;
        }
        let obsolete_if_closed = matches!(
            kind,
            TaskKind::UserTimer
                | TaskKind::WorkflowTaskTimeout
                | TaskKind::StickyTimeout
                | TaskKind::ActivityTimeout
                | TaskKind::WorkflowTimeout
        );
        if obsolete_if_closed && self.inner.closed_runs.is_closed(&key.run_id) {
            return Ok(());
        }
        let mut guard = self.lock(&key).await?;
        if kind == TaskKind::DeleteRun {
            if guard.state().status == WorkflowExecutionStatus::Running as i32 {
                return Ok(());
            }
            self.delete_run(guard).await?;
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
        Ok(())
    }
}

impl Engine {
    /// Routes a durable task: dispatches to matching now, or waits in the timer queue.
    pub(crate) fn schedule(&self, q: Queued) {
        let kind = q.task.task_kind();
        let due_later = q.task.fire_time > now_nanos();
        match kind {
            TaskKind::DispatchWorkflowTask | TaskKind::DispatchActivity
                if !due_later && q.task.event_id > 0 =>
            {
                let qk = if kind == TaskKind::DispatchWorkflowTask {
                    QueueKind::Workflow
                } else {
                    QueueKind::Activity
                };
                let key = Self::queue_key(&q.task.namespace_id, &q.task.task_queue, qk);
                self.arm_sticky_timeout(&q);
                self.dispatch(key, q);
            }
            TaskKind::Visibility | TaskKind::DeleteVisibility => {
                self.queue_visibility(visibility::Op::Task(Box::new(q)))
            }
            TaskKind::Unspecified => {
                tracing::warn!(task_id = q.task_id, "dropping task of unknown kind");
                self.ack(&q);
            }
            _ => self.inner.timers.push(q.task.fire_time, q),
        }
    }

    /// Arms, in memory, the schedule-to-start timeout of a workflow task sent to a sticky
    /// queue: if no worker has started the task by then, it goes to the normal queue. Not a
    /// stored task: while the task is not started its dispatch row is stored, and scheduling
    /// that row again (after a restart, on a shard's next owner) arms the timeout again.
    fn arm_sticky_timeout(&self, q: &Queued) {
        let at = q.task.sticky_timeout_at;
        if at == 0 {
            return;
        }
        let timeout = Queued {
            shard_id: q.shard_id,
            range_id: q.range_id,
            task_id: NOT_STORED,
            task: Task {
                kind: TaskKind::StickyTimeout as i32,
                namespace_id: q.task.namespace_id.clone(),
                workflow_id: q.task.workflow_id.clone(),
                run_id: q.task.run_id.clone(),
                fire_time: at,
                event_id: q.task.event_id,
                stamp: q.task.stamp,
                ..Default::default()
            },
        };
        self.inner.timers.push(at, timeout);
    }

    pub(crate) fn ack(&self, q: &Queued) {
        self.inner.acks.ack(q.shard_id, q.range_id, q.task_id);
        if self.has_peers() {
            self.inner
                .handed_out
                .lock()
                .unwrap()
                .remove(&(q.shard_id, q.task_id));
        }
    }

    pub(super) fn spawn_processors(&self) {
        let engine = self.clone();
        tokio::spawn(async move {
            loop {
                let due = engine.inner.timers.next_due().await;
                for q in due {
                    let engine = engine.clone();
                    tokio::spawn(async move { engine.run_due_task(q).await });
                }
            }
        });
        let engine = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_millis(250));
            loop {
                tick.tick().await;
                engine.delete_finished().await;
                engine.page_in_due();
            }
        });
    }

    /// Runs a task from the timer queue; failures are retried a second later.
    async fn run_due_task(&self, q: Queued) {
        // Every task here is of an ownership, stored or not (a sticky timeout).
        if !self.inner.shards.is_current(q.shard_id, q.range_id) {
            tracing::debug!(
                shard_id = q.shard_id,
                range_id = q.range_id,
                task_id = q.task_id,
                "dropping a due task of an ownership this node no longer has"
            );
            return; // the shard moved: its new owner runs the task
        }
        match q.task.task_kind() {
            TaskKind::DispatchWorkflowTask | TaskKind::DispatchActivity if q.task.event_id > 0 => {
                let mut q = q;
                q.task.fire_time = 0;
                self.schedule(q);
                return;
            }
            _ => {}
        }
        match self.process_timer_task(&q.task).await {
            Ok(()) => self.ack(&q),
            Err(Error::NotFound(_)) => self.ack(&q),
            Err(e) => {
                let mut q = q;
                // An archiver may be down for long: its task backs off, doubling up to 256 s.
                let delay = if q.task.task_kind() == TaskKind::ArchiveRun {
                    q.task.attempt = q.task.attempt.saturating_add(1);
                    crate::time::SECOND << q.task.attempt.clamp(0, 8)
                } else {
                    crate::time::SECOND
                };
                tracing::warn!(kind = ?q.task.task_kind(), error = %e, retry_in_ms = delay / 1_000_000, "task failed; retrying");
                q.task.fire_time = now_nanos() + delay;
                self.inner.timers.push(q.task.fire_time, q);
            }
        }
    }

    /// Deletes the rows of finished tasks; those that could not be deleted are tried again.
    async fn delete_finished(&self) {
        for ((shard_id, range_id), ids) in self.inner.acks.take() {
            match self
                .inner
                .store
                .delete_tasks(shard_id, range_id, &ids)
                .await
            {
                Ok(()) => self.inner.paging.deleted(shard_id, range_id, &ids),
                Err(sundial_store::Error::ShardOwnershipLost { .. }) => {
                    self.lost_shard(shard_id, range_id)
                }
                Err(e) => {
                    tracing::warn!(shard_id, error = %e, "could not delete finished tasks; trying again");
                    for id in ids {
                        self.inner.acks.ack(shard_id, range_id, id);
                    }
                }
            }
        }
    }

    /// Reads a page of a shard's tasks that wait in the database and schedules them (only
    /// the rows taken are decoded: the page also holds the tasks already in memory).
    async fn page_in(&self, read: paging::Read) {
        let rows = self
            .inner
            .store
            .read_tasks(read.shard_id, read.queue_hash, read.limit)
            .await
            .inspect_err(|e| {
                tracing::warn!(shard_id = read.shard_id, error = %e, "could not read waiting tasks; trying again")
            })
            .ok();
        let taken = self.inner.paging.finish(&read, rows, now_nanos());
        if !taken.is_empty() {
            tracing::debug!(
                shard_id = read.shard_id,
                queue_hash = read.queue_hash,
                tasks = taken.len(),
                "paged in tasks"
            );
        }
        for row in taken {
            // A row that does not decode is an unknown task: dropped and deleted.
            let task = Task::decode(row.data.as_slice()).unwrap_or_else(|e| {
                tracing::warn!(shard_id = read.shard_id, task_id = row.task_id, error = %e, "a task row does not decode");
                Task::default()
            });
            self.schedule(Queued {
                shard_id: read.shard_id,
                range_id: read.range_id,
                task_id: row.task_id,
                task,
            });
        }
    }

    /// Starts the page reads that are due (after a shard is acquired, and on every tick).
    pub(super) fn page_in_due(&self) {
        for read in self.inner.paging.due_reads(now_nanos()) {
            let engine = self.clone();
            tokio::spawn(async move { engine.page_in(read).await });
        }
    }
}
