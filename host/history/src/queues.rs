//! The timer queue (durable tasks that are due later) and the acknowledger that deletes the
//! rows of finished tasks in batches.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::Mutex;

use tokio::sync::Notify;

use crate::matching::Queued;

struct Entry {
    fire_time: i64,
    seq: u64,
    item: Queued,
}

impl PartialEq for Entry {
    fn eq(&self, o: &Self) -> bool {
        (self.fire_time, self.seq) == (o.fire_time, o.seq)
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Entry {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (self.fire_time, self.seq).cmp(&(o.fire_time, o.seq))
    }
}

/// Due-time ordered tasks; [`TimerQueue::next_due`] waits for the earliest.
#[derive(Default)]
pub(crate) struct TimerQueue {
    heap: Mutex<(BinaryHeap<Reverse<Entry>>, u64)>,
    changed: Notify,
}

impl TimerQueue {
    pub fn push(&self, fire_time: i64, item: Queued) {
        let mut guard = self.heap.lock().unwrap();
        let seq = guard.1;
        guard.1 += 1;
        let earliest = guard.0.peek().map(|Reverse(e)| e.fire_time);
        guard.0.push(Reverse(Entry {
            fire_time,
            seq,
            item,
        }));
        drop(guard);
        if earliest.is_none_or(|e| fire_time < e) {
            self.changed.notify_one();
        }
    }

    /// Drops every task `keep` refuses (the tasks of a shard this node gave up).
    pub fn retain(&self, mut keep: impl FnMut(&Queued) -> bool) {
        self.heap
            .lock()
            .unwrap()
            .0
            .retain(|Reverse(e)| keep(&e.item));
    }

    /// Waits until the earliest task is due and returns all that are due.
    pub async fn next_due(&self) -> Vec<Queued> {
        loop {
            let notified = self.changed.notified();
            let wait = {
                let mut guard = self.heap.lock().unwrap();
                let now = crate::time::now_nanos();
                let mut due = Vec::new();
                while let Some(Reverse(e)) = guard.0.peek() {
                    if e.fire_time <= now {
                        let Reverse(e) = guard.0.pop().expect("peeked");
                        due.push(e.item);
                    } else {
                        break;
                    }
                }
                if !due.is_empty() {
                    return due;
                }
                guard.0.peek().map(|Reverse(e)| (e.fire_time - now) as u64)
            };
            match wait {
                Some(nanos) => {
                    let _ = tokio::time::timeout(std::time::Duration::from_nanos(nanos), notified)
                        .await;
                }
                None => notified.await,
            }
        }
    }
}

/// Finished task ids per shard ownership (shard id, range id), waiting to be deleted.
#[derive(Default)]
pub(crate) struct Acks {
    pending: Mutex<HashMap<(i32, i64), Vec<i64>>>,
}

impl Acks {
    pub fn ack(&self, shard_id: i32, range_id: i64, task_id: i64) {
        if task_id < 0 {
            return; // no row (`NOT_STORED`: a query task, a sticky timeout)
        }
        self.pending
            .lock()
            .unwrap()
            .entry((shard_id, range_id))
            .or_default()
            .push(task_id);
    }
    pub fn take(&self) -> HashMap<(i32, i64), Vec<i64>> {
        std::mem::take(&mut *self.pending.lock().unwrap())
    }
    /// Drops a released shard's pending deletions: its rows are the next owner's now.
    pub fn forget_shard(&self, shard_id: i32) {
        self.pending
            .lock()
            .unwrap()
            .retain(|(s, _), _| *s != shard_id);
    }
}
