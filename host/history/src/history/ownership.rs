//! What this node owns and how work reaches the nodes that own the rest: history shards
//! acquired and released as the cluster's placement changes (queued work of a lost shard is
//! dropped, its new owner reloads it), and tasks handed to the node that owns their queue.

use std::sync::Arc;

use super::{Engine, cross};
use crate::error::{Error, Result};
use crate::matching::{QueueKey, QueueKind, Queued};
use crate::time::now_nanos;
use sundial_matching::Queues;

impl Engine {
    /// Takes a shard for this node (fencing off its previous owner) and schedules its pending
    /// tasks. Nothing if it owns the shard already.
    pub async fn acquire_shard(&self, shard_id: i32) -> Result<()> {
        let shards = &self.inner.shards;
        let _change = shards.lock_change(shard_id).await;
        if shards.range(shard_id).is_ok() {
            return Ok(());
        }
        let range_id = self
            .inner
            .store
            .acquire_shard(shard_id, &self.inner.options.node_name)
            .await?;
        // Its tasks wait in the database until paged in; the queues they feed are named
        // before the shard counts as owned, so none is passed over.
        self.inner.paging.start(shard_id, range_id);
        let queues = self.inner.store.task_queue_hashes(shard_id).await?;
        self.inner.paging.add_queues(shard_id, range_id, &queues);
        shards.set_owned(shard_id, range_id);
        // Only now may its tasks be read: one run before it counted as owned would be
        // dropped as a stale ownership's.
        self.inner.paging.open(shard_id, range_id);
        let metrics = &self.inner.shard_metrics;
        metrics.created.inc();
        metrics.owned.set(shards.owned().len() as i64);
        tracing::debug!(shard_id, range_id, queues = queues.len(), "shard acquired");
        self.page_in_due();
        Ok(())
    }

    /// Gives a shard up: its queued work and cached runs are dropped (the next owner loads
    /// them from the database). Nothing if it is not owned.
    pub async fn release_shard(&self, shard_id: i32) {
        let _change = self.inner.shards.lock_change(shard_id).await;
        if let Some(range_id) = self.inner.shards.set_released(shard_id, None) {
            self.forget_shard(shard_id, range_id);
            tracing::debug!(shard_id, "shard released");
        }
    }

    /// The cluster's membership changed (the shard controller's count).
    pub fn membership_changed(&self) {
        self.inner.shard_metrics.membership_changed.inc();
    }

    /// Connects the engine to the other nodes of its cluster (once, before it serves).
    pub fn set_peers(&self, peers: Arc<dyn crate::peers::Peers>) {
        if self.inner.peers.set(peers).is_err() {
            tracing::warn!("the engine's peers were set already");
        }
    }

    pub(crate) fn has_peers(&self) -> bool {
        self.inner.peers.get().is_some()
    }

    pub(crate) fn peers(&self) -> &dyn crate::peers::Peers {
        match self.inner.peers.get() {
            Some(p) => p.as_ref(),
            None => &crate::peers::NoPeers,
        }
    }

    /// Hands a task from another node's history to this node's matching; false (not taken)
    /// for a sticky queue that no worker polls.
    pub async fn add_task(&self, request: crate::peers::AddTaskRequest) -> Result<bool> {
        let kind = match request.kind {
            1 => QueueKind::Workflow,
            2 => QueueKind::Activity,
            k => return Err(Error::InvalidArgument(format!("no task queue kind {k}"))),
        };
        let q = cross::queued_from_wire(request.task)?;
        let key = Self::queue_key(&request.namespace_id, &request.task_queue, kind);
        let matching = &*self.inner.matching;
        Ok(Queues::add_task(matching, &key, q, request.only_if_polled)
            .await
            .unwrap_or_else(|never| match never {}))
    }

    /// Offers a task to its queue: here when this node owns the queue, else on its owner. A
    /// durable task the owner cannot take now is tried again a second later.
    pub(crate) fn dispatch(&self, key: QueueKey, q: Queued) {
        let Some(node) = self.queue_node(&key) else {
            self.inner.matching.add(&key, q);
            return;
        };
        if q.task_id >= 0 && self.inner.shards.is_current(q.shard_id, q.range_id) {
            let handed = super::HandedOut {
                node: node.clone(),
                session: self.peers().session(&node),
                key: key.clone(),
                task: q.clone(),
            };
            self.inner
                .handed_out
                .lock()
                .unwrap()
                .insert((q.shard_id, q.task_id), handed);
        }
        let engine = self.clone();
        tokio::spawn(async move {
            let owner = OnNode {
                peers: engine.peers(),
                node: &node,
            };
            let sticky = !q.task.normal_task_queue.is_empty();
            let taken = owner.add_task(&key, q.clone(), sticky).await;
            if let Ok(false) = taken {
                // The sticky queue's worker is gone: the normal queue takes the task.
                engine
                    .inner
                    .handed_out
                    .lock()
                    .unwrap()
                    .remove(&(q.shard_id, q.task_id));
                let mut q = q;
                q.task.task_queue = std::mem::take(&mut q.task.normal_task_queue);
                let normal = Self::queue_key(&key.namespace_id, &q.task.task_queue, key.kind);
                engine.dispatch(normal, q);
                return;
            }
            if let Err(e) = taken {
                if q.task_id < 0 {
                    tracing::debug!(node, error = %e, "a query task could not reach its queue");
                    return;
                }
                tracing::debug!(node, error = %e, "task queue's node unreachable; retrying in 1s");
                engine
                    .inner
                    .handed_out
                    .lock()
                    .unwrap()
                    .remove(&(q.shard_id, q.task_id));
                if !engine.inner.shards.is_current(q.shard_id, q.range_id) {
                    // Another owner's task, passed on with a queue this node handed over: the
                    // timer queue holds only this node's own work, so it is retried here.
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                    engine.dispatch(key, q);
                    return;
                }
                let mut q = q;
                q.task.fire_time = now_nanos() + crate::time::SECOND;
                engine.inner.timers.push(q.task.fire_time, q);
            }
        });
    }

    /// Hands again the tasks given to another node's queue that are not started yet, where
    /// that queue has moved since (its node died or left, or another joined) or its node
    /// restarted (its new process does not hold them). Called on every change of the
    /// cluster's membership.
    pub fn redispatch_moved(&self) {
        let moved: Vec<(QueueKey, Queued)> = {
            let mut out = self.inner.handed_out.lock().unwrap();
            let keys: Vec<(i32, i64)> = out
                .iter()
                .filter(|(_, h)| {
                    self.queue_node(&h.key).as_deref() != Some(h.node.as_str())
                        || self.peers().session(&h.node) != h.session
                })
                .map(|(k, _)| *k)
                .collect();
            keys.iter()
                .filter_map(|k| out.remove(k))
                .map(|h| (h.key, h.task))
                .collect()
        };
        for (key, q) in moved {
            if self.inner.shards.is_current(q.shard_id, q.range_id) {
                self.dispatch(key, q);
            }
        }
    }

    /// Gives the queues this node holds but no longer owns (another node joined, or this
    /// one's view was behind) to their owners: their backlog goes there, and their waiting
    /// polls end empty, so the workers poll again where the queue is now. Called on every
    /// change of the cluster's membership.
    pub fn hand_over_queues(&self) {
        for key in self.inner.matching.queue_keys() {
            if self.queue_node(&key).is_none() {
                continue;
            }
            for q in self.inner.matching.remove_queue(&key) {
                self.dispatch(key.clone(), q);
            }
        }
    }

    /// The node that owns a task queue; `None` for this node.
    pub(super) fn queue_node(&self, key: &QueueKey) -> Option<String> {
        self.peers()
            .queue_owner(&key.namespace_id, &key.name, queue_kind_code(key.kind))
    }

    /// Whether a worker polls the queue lately; a queue on another node counts as polled (a
    /// sticky task sent there falls back to the normal queue at its schedule-to-start timeout).
    pub(crate) fn queue_is_live(&self, key: &QueueKey) -> bool {
        match self.queue_node(key) {
            None => self.inner.matching.has_live_poller(key),
            Some(_) => true,
        }
    }

    /// The shards this node owns now.
    pub fn owned_shards(&self) -> Vec<i32> {
        self.inner.shards.owned()
    }

    /// Checks this node's ownerships against the range ids the database holds: a shard whose
    /// range id moved on was taken by another node, and is given up here.
    pub fn check_ownership(&self, stored: &[(i32, i64)]) {
        for &(shard_id, range_id) in stored {
            if let Ok(mine) = self.inner.shards.range(shard_id)
                && mine != range_id
            {
                self.lost_shard(shard_id, mine);
            }
        }
    }

    /// A commit found the shard taken by another node.
    pub(super) fn lost_shard(&self, shard_id: i32, range_id: i64) {
        if self
            .inner
            .shards
            .set_released(shard_id, Some(range_id))
            .is_some()
        {
            tracing::warn!(shard_id, range_id, "shard taken over by another node");
            self.inner.shard_metrics.closed.inc();
            self.forget_shard(shard_id, range_id);
        }
    }

    /// Drops what this node holds of its ownership `range_id` of a shard: queued tasks (in its
    /// queues, tasks of that shard sent by other owners stay), acks and cached runs.
    fn forget_shard(&self, shard_id: i32, range_id: i64) {
        let metrics = &self.inner.shard_metrics;
        metrics.removed.inc();
        metrics.owned.set(self.inner.shards.owned().len() as i64);
        self.inner.paging.stop(shard_id, range_id);
        self.inner
            .timers
            .retain(|q| q.shard_id != shard_id || q.range_id != range_id);
        self.inner
            .matching
            .retain(|q| q.task_id < 0 || q.shard_id != shard_id || q.range_id != range_id);
        self.inner.acks.forget_shard(shard_id);
        self.inner
            .handed_out
            .lock()
            .unwrap()
            .retain(|(shard, _), _| *shard != shard_id);
        let engine = self.clone();
        self.inner.cache.lock().unwrap().retain(|key, slot| {
            Arc::strong_count(slot) > 1
                || engine.shard_of(&key.namespace_id, &key.workflow_id) != shard_id
        });
    }

    /// Whether a queued task is of this node's ownership of its shard: `Ok(false)` for one of
    /// an earlier ownership (this node reloaded it when it took the shard: the copy is stale),
    /// `ShardNotOwned` for a shard this node does not own. A task of a later ownership proves
    /// another node took the shard since: this node gives it up there and then (its commits
    /// would be refused anyway), and the task is that owner's.
    pub(crate) fn is_current_here(&self, q: &Queued) -> Result<bool> {
        if q.task_id < 0 {
            return Ok(true);
        }
        let mine = self.inner.shards.range(q.shard_id)?;
        if q.range_id > mine {
            self.lost_shard(q.shard_id, mine);
            return Err(Error::ShardNotOwned {
                shard_id: q.shard_id,
            });
        }
        Ok(q.range_id == mine)
    }
}

/// A task queue another node owns, reached over the internal API.
struct OnNode<'a> {
    peers: &'a dyn crate::peers::Peers,
    node: &'a str,
}

#[async_trait::async_trait]
impl Queues<Queued> for OnNode<'_> {
    type Error = Error;
    async fn add_task(&self, key: &QueueKey, task: Queued, only_if_polled: bool) -> Result<bool> {
        let request = crate::peers::AddTaskRequest {
            namespace_id: key.namespace_id.clone(),
            task_queue: key.name.clone(),
            kind: queue_kind_code(key.kind),
            task: Some(cross::queued_to_wire(&task)),
            only_if_polled,
        };
        self.peers.add_task(self.node, request).await
    }
}

/// A queue kind as the internal API numbers it (1: workflow, 2: activity).
fn queue_kind_code(kind: QueueKind) -> i32 {
    match kind {
        QueueKind::Workflow => 1,
        QueueKind::Activity => 2,
    }
}
