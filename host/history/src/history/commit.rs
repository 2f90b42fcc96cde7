//! Committing runs' changes: one run's, or several runs' of one workflow id at once (a reset,
//! a continue-as-new), as one database transaction fenced by the shard's range id, with the
//! change's events, tasks and visibility record; then the tasks are scheduled, waiting
//! callers told and the outcome counted.

use std::sync::Arc;

use prost::Message;
use sundial_store::{
    CurrentRunUpdate, ExecutionWrite, HistoryBatch, RunKey, TaskRow, WorkflowCommit,
};
use temporalio_protos::temporal::api::{
    enums::v1::WorkflowExecutionStatus,
    history::v1::{History, HistoryEvent},
};

use super::history_cache::CachedHistory;
use super::{
    Engine, Progress, RunGuard, Slot, Staged, Txn, execution_info, paging, workflow_metrics,
};
use crate::error::{Error, Result};
use crate::matching::Queued;
use crate::state::{MutableState, Task, TaskKind};
use crate::time::now_nanos;

impl Engine {
    /// Commits one run's change; on success the guard holds the new state.
    pub(crate) async fn commit(&self, guard: &mut RunGuard, txn: Txn<'_>) -> Result<()> {
        let staged = txn.finish(
            guard.key.clone(),
            Some(guard.slot.loaded.as_ref().unwrap().1),
        );
        let (shard_id, workflow_id) = (guard.shard_id, guard.key.workflow_id.clone());
        self.commit_staged(shard_id, &workflow_id, None, vec![(Some(guard), staged)])
            .await
    }

    /// Commits changes to one or more runs of one workflow id (same shard) atomically.
    pub(crate) async fn commit_staged(
        &self,
        shard_id: i32,
        workflow_id: &str,
        current: Option<CurrentRunUpdate>,
        mut parts: Vec<(Option<&mut RunGuard>, Staged)>,
    ) -> Result<()> {
        let namespace_id = parts[0].1.key.namespace_id.clone();
        // A run locked under an earlier ownership of the shard commits under that one (and
        // fails if it is gone); a new run under the present one.
        let range_id = match parts
            .iter()
            .find_map(|(g, _)| g.as_ref().map(|g| g.range_id))
        {
            Some(r) => r,
            None => self.inner.shards.range(shard_id)?,
        };
        let mut commit = WorkflowCommit {
            shard_id,
            range_id,
            workflow_id: workflow_id.to_string(),
            namespace_id,
            current,
            ..Default::default()
        };
        let mut queued = Vec::new();
        let written_at = now_nanos();
        // Each part's new batch of events, kept for a cached history if the run stays open
        // and has one (or is new, and gets one).
        let mut written: Vec<Option<HistoryBatch>> = Vec::with_capacity(parts.len());
        // Each part's close event, if it closes the run and someone long-polls it.
        let mut closes: Vec<Option<Arc<HistoryEvent>>> = Vec::with_capacity(parts.len());
        for (guard, s) in parts.iter_mut() {
            let running = s.state.status == WorkflowExecutionStatus::Running as i32;
            let keep = running && guard.as_ref().is_none_or(|g| g.slot.history.is_some());
            closes.push(
                s.txn_events
                    .last()
                    .filter(|e| !running && e.event_id == s.state.close_event_id)
                    .filter(|_| self.watched(&s.key))
                    .map(|e| Arc::new(e.clone())),
            );
            s.state.state_transitions += 1;
            let expected = s.expected_db_version;
            if !s.txn_events.is_empty() {
                let first = s.txn_events[0].event_id;
                let last = s.txn_events[s.txn_events.len() - 1].event_id;
                let data = History {
                    events: std::mem::take(&mut s.txn_events),
                }
                .encode_to_vec();
                s.state.history_size_bytes += data.len() as i64;
                let batch = HistoryBatch {
                    key: s.key.clone(),
                    first_event_id: first,
                    last_event_id: last,
                    data,
                };
                written.push(keep.then(|| batch.clone()));
                commit.history.push(batch);
            } else {
                written.push(None);
            }
            if s.visibility {
                s.tasks.push(Task {
                    kind: TaskKind::Visibility as i32,
                    namespace_id: s.key.namespace_id.clone(),
                    workflow_id: s.key.workflow_id.clone(),
                    run_id: s.key.run_id.clone(),
                    visibility_info: execution_info(&s.state).encode_to_vec(),
                    ..Default::default()
                });
            }
            for task in s.tasks.drain(..) {
                let (row, q) = self.stored_task(shard_id, range_id, task, written_at);
                queued.push((q, row.queue_hash, row.visible_at));
                commit.tasks.push(row);
            }
            commit.executions.push(ExecutionWrite {
                key: s.key.clone(),
                state: s.state.encode_to_vec(),
                expected_db_version: expected,
                new_db_version: expected.unwrap_or(0) + 1,
            });
        }
        // The commit must land whole, with its tasks scheduled, even if the caller goes away
        // half way (a client that disconnects, a node whose call is cut): it runs in a task of
        // its own. Meanwhile the runs' cached states count as unknown, so a caller dropped
        // before the end leaves them to be read again from the database.
        let mut histories = Vec::with_capacity(parts.len());
        for (guard, _) in parts.iter_mut() {
            histories.push(guard.as_mut().and_then(|g| {
                g.slot.loaded = None;
                g.slot.history.take()
            }));
        }
        let budget = self.inner.history_budget.clone();
        let new_runs: Vec<(RunKey, MutableState, i64, Option<HistoryBatch>)> = parts
            .iter()
            .zip(&mut written)
            .filter(|((g, _), _)| g.is_none())
            .map(|((_, s), batch)| {
                let version = s.expected_db_version.unwrap_or(0) + 1;
                (s.key.clone(), s.state.clone(), version, batch.take())
            })
            .collect();
        let transitions: Vec<(String, i64)> = parts
            .iter()
            .map(|(_, s)| (s.state.namespace_id.clone(), s.state.state_transitions))
            .collect();
        let closed: Vec<workflow_metrics::Closed> = parts
            .iter()
            .filter(|(_, s)| s.closed_now)
            .map(|(_, s)| workflow_metrics::Closed::of(&s.state))
            .collect();
        let buffers: Vec<i64> = queued.iter().map(|(_, hash, _)| *hash).collect();
        let engine = self.clone();
        let committed = tokio::spawn(async move {
            engine.inner.store.commit(&commit).await?;
            for (key, state, version, batch) in new_runs {
                // A new run: seed the cache before its first tasks run.
                let history = batch.and_then(|b| CachedHistory::start(&budget, vec![b]));
                let slot = Arc::new(tokio::sync::Mutex::new(Slot {
                    loaded: Some((state, version)),
                    history,
                    range_id,
                }));
                let mut cache = engine.inner.cache.lock().unwrap();
                engine.make_room(&mut cache);
                cache.insert(key, slot);
            }
            engine.schedule_committed(queued);
            let metrics = &engine.inner.workflow_metrics;
            let name_of = |id: &str| engine.namespaces().cached_by_id(id);
            for (namespace_id, count) in &transitions {
                let ns = name_of(namespace_id);
                metrics.committed(ns.as_ref().map_or("", |n| n.name.as_str()), *count);
            }
            for run in &closed {
                let ns = name_of(&run.namespace_id);
                metrics.closed(ns.as_ref().map_or("", |n| n.name.as_str()), run);
            }
            Ok::<(), sundial_store::Error>(())
        })
        .await
        .map_err(|e| Error::Internal(format!("the commit task failed: {e}")))?;
        if let Err(e) = committed {
            if let sundial_store::Error::ShardOwnershipLost { .. } = e {
                self.lost_shard(shard_id, range_id);
            } else {
                self.reread_tasks(shard_id, range_id, buffers);
            }
            return Err(e.into());
        }
        let parts = parts.into_iter().zip(written).zip(histories).zip(closes);
        for ((((guard, mut s), batch), history), close_event) in parts {
            let new_version = s.expected_db_version.unwrap_or(0) + 1;
            let closed = s.state.status != WorkflowExecutionStatus::Running as i32;
            let key = s.key.clone();
            self.flush_queries(&key, &s.state);
            self.publish_updates(&key, std::mem::take(&mut s.update_notices));
            self.close_updates(&key, &s.state);
            if let Some(g) = guard {
                // A closed run's history is left to the database: no more workflow tasks.
                g.slot.history = history.filter(|_| !closed).and_then(|mut h| match batch {
                    Some(b) => h
                        .append(b.first_event_id, b.last_event_id, b.data)
                        .then_some(h),
                    None => Some(h),
                });
                g.slot.loaded = Some((s.state, new_version));
            }
            self.publish(&key, Progress { close_event });
        }
        Ok(())
    }

    /// Numbers a task in its shard and makes the row to store and the copy to schedule once
    /// that row is committed.
    pub(super) fn stored_task(
        &self,
        shard_id: i32,
        range_id: i64,
        task: Task,
        written_at: i64,
    ) -> (TaskRow, Queued) {
        let task_id = self.next_task_id(shard_id);
        let row = TaskRow {
            task_id,
            queue_hash: paging::queue_hash(&task),
            visible_at: paging::visible_at(&task, written_at),
            data: task.encode_to_vec(),
        };
        let queued = Queued {
            shard_id,
            range_id,
            task_id,
            task,
        };
        (row, queued)
    }

    /// After a commit that failed, which the database may have applied all the same (the
    /// connection broke after the COMMIT went out): its tasks may be rows that nothing holds,
    /// so the buffers they would be in are read again from the database.
    pub(super) fn reread_tasks(&self, shard_id: i32, range_id: i64, mut buffers: Vec<i64>) {
        buffers.sort_unstable();
        buffers.dedup();
        if !buffers.is_empty() {
            self.inner.paging.add_queues(shard_id, range_id, &buffers);
            self.page_in_due();
        }
    }

    /// Schedules the committed tasks the pager holds in memory, each given with its row's
    /// queue hash and due time; the others wait in the database until the pager reads them.
    pub(super) fn schedule_committed(&self, tasks: impl IntoIterator<Item = (Queued, i64, i64)>) {
        let now = now_nanos();
        for (q, queue_hash, visible_at) in tasks {
            if self.inner.paging.admit(&q, queue_hash, visible_at, now) {
                self.schedule(q);
            }
        }
    }
}
