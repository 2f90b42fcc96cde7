//! Group commit: workflow commits that arrive while a transaction is running wait for it and
//! then go to the database together, in one transaction with multi-row inserts — one fsync
//! and a handful of statements for the whole group instead of seven or eight per commit.
//!
//! A group is all or nothing. If it fails (a start racing for the same workflow id, a stale
//! shard owner), it is rolled back and its commits are retried one by one, so each caller
//! gets the outcome its own commit would have had alone.

use tokio::sync::{mpsc, oneshot};

use crate::sql::SqlStore;
use crate::{Error, Result, WorkflowCommit};

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
    while rx.recv_many(&mut group, MAX_GROUP).await > 0 {
        let commits: Vec<&WorkflowCommit> = group.iter().map(|j| &j.commit).collect();
        let outcome = store.commit_group(&commits).await;
        drop(commits);
        match outcome {
            Ok(()) => {
                for job in group.drain(..) {
                    let _ = job.done.send(Ok(()));
                }
            }
            // Only the statement-by-statement form names a failure as the commit alone
            // would have: each commit is tried again alone that way.
            Err(_) => {
                for job in group.drain(..) {
                    let outcome = store.commit_one_by_one(&[&job.commit]).await;
                    let _ = job.done.send(outcome);
                }
            }
        }
    }
}
