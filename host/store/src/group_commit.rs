//! Group commit: workflow commits that arrive while a transaction is running wait for it and
//! then go to the database together, in one transaction with multi-row inserts — one fsync
//! and a handful of statements for the whole group instead of seven or eight per commit.
//!
//! A group is all or nothing. If it fails (a start racing for the same workflow id, a stale
//! shard owner), it is rolled back and its commits are retried one by one, so each caller
//! gets the outcome its own commit would have had alone.

use std::collections::HashMap;

use tokio::sync::{mpsc, oneshot};

use crate::sql::{Backend, SqlStore};
use crate::{CurrentRunUpdate, Error, Result, TaskRow, WorkflowCommit};

/// Largest group: bounds a transaction's size and the wait of its first commit.
const MAX_GROUP: usize = 128;

struct Job {
    commit: WorkflowCommit,
    done: oneshot::Sender<Result<()>>,
}

/// Writer lanes; a commit goes to the lane of its shard, so one shard's commits stay in order.
#[derive(Clone)]
pub(crate) struct Writers {
    lanes: Vec<mpsc::UnboundedSender<Job>>,
}

impl Writers {
    /// Starts `lanes` writer tasks over a copy of `store` (which has no writers itself, so
    /// the tasks end when the last store holding these senders is dropped).
    pub(crate) fn spawn(store: &SqlStore, lanes: usize) -> Writers {
        let lanes = (0..lanes.max(1))
            .map(|_| {
                let (tx, rx) = mpsc::unbounded_channel();
                tokio::spawn(run_lane(store.without_writers(), rx));
                tx
            })
            .collect();
        Writers { lanes }
    }

    pub(crate) async fn submit(&self, commit: WorkflowCommit) -> Result<()> {
        let lane = &self.lanes[commit.shard_id.unsigned_abs() as usize % self.lanes.len()];
        let (done, wait) = oneshot::channel();
        lane.send(Job { commit, done }).map_err(|_| Error::Closed)?;
        wait.await.map_err(|_| Error::Closed)?
    }
}

async fn run_lane(store: SqlStore, mut rx: mpsc::UnboundedReceiver<Job>) {
    let mut group = Vec::with_capacity(MAX_GROUP);
    let one_call = matches!(store.backend(), Backend::Sqlite | Backend::Postgres);
    while rx.recv_many(&mut group, MAX_GROUP).await > 0 {
        let commits: Vec<&WorkflowCommit> = group.iter().map(|j| &j.commit).collect();
        let outcome = if one_call {
            store.commit_group_in_one_query(&commits).await
        } else {
            store.commit_batch(&commits).await
        };
        drop(commits);
        match outcome {
            Ok(()) => {
                for job in group.drain(..) {
                    let _ = job.done.send(Ok(()));
                }
            }
            // (A group of one that failed as one query is tried again statement by statement,
            // which tells a unique violation from other failures.)
            Err(e) if group.len() == 1 && !one_call => {
                let job = group.pop().expect("one job");
                let _ = job.done.send(Err(e));
            }
            Err(_) => {
                for job in group.drain(..) {
                    let outcome = store.commit_batch(&[&job.commit]).await;
                    let _ = job.done.send(outcome);
                }
            }
        }
    }
}

/// Rows per multi-row INSERT: under every backend's bind-parameter limit.
const ROWS_PER_INSERT: usize = 200;

impl SqlStore {
    /// Commits `commits` in one transaction, in order.
    pub(crate) async fn commit_batch(&self, commits: &[&WorkflowCommit]) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        let mut fenced: HashMap<i32, i64> = HashMap::new();
        for c in commits {
            if fenced.insert(c.shard_id, c.range_id) != Some(c.range_id) {
                self.check_range(&mut tx, c.shard_id, c.range_id).await?;
            }
        }
        for c in commits {
            self.write_current(&mut tx, c).await?;
            self.write_executions(&mut tx, c).await?;
        }
        let history: Vec<_> = commits
            .iter()
            .flat_map(|c| c.history.iter().map(move |h| (c.shard_id, h)))
            .collect();
        for chunk in history.chunks(ROWS_PER_INSERT) {
            let text = self.multi_insert(
                "INSERT INTO history_batches (shard_id, namespace_id, workflow_id, run_id, first_event_id, last_event_id, data) VALUES ",
                7,
                chunk.len(),
            );
            let mut q = sqlx::query(&text);
            for (shard_id, h) in chunk {
                q = q
                    .bind(*shard_id)
                    .bind(&h.key.namespace_id)
                    .bind(&h.key.workflow_id)
                    .bind(&h.key.run_id)
                    .bind(h.first_event_id)
                    .bind(h.last_event_id)
                    .bind(&h.data);
            }
            q.execute(&mut *tx).await?;
        }
        let tasks: Vec<_> = commits
            .iter()
            .flat_map(|c| c.tasks.iter().map(move |t| (c.shard_id, t)))
            .collect();
        self.insert_tasks(&mut tx, &tasks).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Inserts task rows, each with its shard id, in as few statements as the backend allows.
    pub(crate) async fn insert_tasks(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        tasks: &[(i32, &TaskRow)],
    ) -> Result<()> {
        for chunk in tasks.chunks(ROWS_PER_INSERT) {
            let text = self.multi_insert(
                "INSERT INTO tasks (shard_id, task_id, queue_hash, visible_at, data) VALUES ",
                5,
                chunk.len(),
            );
            let mut q = sqlx::query(&text);
            for (shard_id, t) in chunk {
                q = q
                    .bind(*shard_id)
                    .bind(t.task_id)
                    .bind(t.queue_hash)
                    .bind(t.visible_at)
                    .bind(&t.data);
            }
            q.execute(&mut **tx).await?;
        }
        Ok(())
    }

    /// `prefix` followed by `rows` groups of `columns` placeholders, in the backend's syntax.
    fn multi_insert(&self, prefix: &str, columns: usize, rows: usize) -> String {
        let group = format!("({})", vec!["?"; columns].join(", "));
        let text = format!("{prefix}{}", vec![group; rows].join(", "));
        if self.backend() == Backend::Postgres {
            self.adapt(&text)
        } else {
            text
        }
    }

    async fn write_current(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        c: &WorkflowCommit,
    ) -> Result<()> {
        match &c.current {
            None | Some(CurrentRunUpdate::Keep) => Ok(()),
            Some(CurrentRunUpdate::Create { run_id }) => {
                let res = sqlx::query(self.q("current_insert"))
                    .bind(c.shard_id)
                    .bind(&c.namespace_id)
                    .bind(&c.workflow_id)
                    .bind(run_id)
                    .execute(&mut **tx)
                    .await;
                match res {
                    Ok(_) => Ok(()),
                    Err(e) if Self::is_unique_violation(&e) => Err(Error::AlreadyExists(format!(
                        "a run of workflow id {:?} is current",
                        c.workflow_id
                    ))),
                    Err(e) => Err(e.into()),
                }
            }
            Some(CurrentRunUpdate::Move {
                from_run_id,
                run_id,
            }) => {
                let done = sqlx::query(self.q("current_move"))
                    .bind(run_id)
                    .bind(c.shard_id)
                    .bind(&c.namespace_id)
                    .bind(&c.workflow_id)
                    .bind(from_run_id)
                    .execute(&mut **tx)
                    .await?;
                if done.rows_affected() != 1 {
                    return Err(Error::Conflict(format!(
                        "current run of {:?} is no longer {from_run_id}",
                        c.workflow_id
                    )));
                }
                Ok(())
            }
        }
    }

    async fn write_executions(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        c: &WorkflowCommit,
    ) -> Result<()> {
        for e in &c.executions {
            match e.expected_db_version {
                None => {
                    sqlx::query(self.q("exec_insert"))
                        .bind(c.shard_id)
                        .bind(&e.key.namespace_id)
                        .bind(&e.key.workflow_id)
                        .bind(&e.key.run_id)
                        .bind(&e.state)
                        .bind(e.new_db_version)
                        .execute(&mut **tx)
                        .await?;
                }
                Some(expected) => {
                    let done = sqlx::query(self.q("exec_update"))
                        .bind(&e.state)
                        .bind(e.new_db_version)
                        .bind(c.shard_id)
                        .bind(&e.key.namespace_id)
                        .bind(&e.key.workflow_id)
                        .bind(&e.key.run_id)
                        .bind(expected)
                        .execute(&mut **tx)
                        .await?;
                    if done.rows_affected() != 1 {
                        return Err(Error::Conflict(format!(
                            "run {} changed concurrently (expected db version {expected})",
                            e.key.run_id
                        )));
                    }
                }
            }
        }
        Ok(())
    }
}
