//! The history shards this node owns: each with the range id it was acquired with (every
//! commit is fenced on it) and the task id counter of that ownership.
//!
//! Ownership changes at run time (a cluster moves shards between nodes). Work queued under an
//! ownership carries its range id; when the shard is released or re-acquired, such work is
//! stale and is dropped where it is next looked at: the new owner loads the same durable
//! tasks from the database.

use std::sync::atomic::{AtomicI64, Ordering};

use crate::error::{Error, Result};

pub(crate) struct Shards {
    slots: Vec<Slot>,
}

struct Slot {
    /// 0 while this node does not own the shard.
    range_id: AtomicI64,
    next_task_id: AtomicI64,
    /// Serializes acquiring and releasing this shard.
    change: tokio::sync::Mutex<()>,
}

impl Shards {
    pub fn new(count: i32) -> Shards {
        Shards {
            slots: (0..count)
                .map(|_| Slot {
                    range_id: AtomicI64::new(0),
                    next_task_id: AtomicI64::new(0),
                    change: tokio::sync::Mutex::new(()),
                })
                .collect(),
        }
    }

    pub fn count(&self) -> i32 {
        self.slots.len() as i32
    }

    /// The range id this node holds the shard with; `ShardNotOwned` when it does not.
    pub fn range(&self, shard_id: i32) -> Result<i64> {
        match self.slots[shard_id as usize]
            .range_id
            .load(Ordering::Acquire)
        {
            0 => Err(Error::ShardNotOwned { shard_id }),
            r => Ok(r),
        }
    }

    /// Whether work queued under `range_id` is still this node's to do.
    pub fn is_current(&self, shard_id: i32, range_id: i64) -> bool {
        range_id != 0
            && self.slots[shard_id as usize]
                .range_id
                .load(Ordering::Acquire)
                == range_id
    }

    /// A fresh task id: the range id in the high bits keeps owners' ids apart.
    pub fn next_task_id(&self, shard_id: i32) -> i64 {
        self.slots[shard_id as usize]
            .next_task_id
            .fetch_add(1, Ordering::Relaxed)
    }

    pub fn owned(&self) -> Vec<i32> {
        (0..self.count())
            .filter(|s| self.range(*s).is_ok())
            .collect()
    }

    pub async fn lock_change(&self, shard_id: i32) -> tokio::sync::MutexGuard<'_, ()> {
        self.slots[shard_id as usize].change.lock().await
    }

    /// Records a new ownership (the caller holds the change lock).
    pub fn set_owned(&self, shard_id: i32, range_id: i64) {
        let slot = &self.slots[shard_id as usize];
        slot.next_task_id.store(range_id << 32, Ordering::Relaxed);
        slot.range_id.store(range_id, Ordering::Release);
    }

    /// Forgets an ownership; returns the range id it had, if there was one. Given a
    /// `range_id`, only that ownership is released: a newer one stays.
    pub fn set_released(&self, shard_id: i32, range_id: Option<i64>) -> Option<i64> {
        let slot = &self.slots[shard_id as usize];
        let old = match range_id {
            Some(r) => slot
                .range_id
                .compare_exchange(r, 0, Ordering::AcqRel, Ordering::Acquire)
                .unwrap_or(0),
            None => slot.range_id.swap(0, Ordering::AcqRel),
        };
        (old != 0).then_some(old)
    }
}
