//! Runs recently seen closed, remembered by a hash of their run id so that the timeouts
//! they leave behind (a workflow task's, an activity's, a timer's, each due long after the
//! run ended) are dropped without reading the closed run's state back from the database.
//! A closed run never runs again, so a hit is always right; a miss (forgotten, or closed
//! on another node) only costs the read.

use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;

use super::paging::stable_hash;

/// How many closed runs are remembered (the oldest are forgotten first): about a megabyte.
const CAPACITY: usize = 1 << 16;

#[derive(Default)]
pub(super) struct ClosedRuns {
    inner: Mutex<Remembered>,
}

#[derive(Default)]
struct Remembered {
    order: VecDeque<u64>,
    set: HashSet<u64>,
}

impl ClosedRuns {
    pub(super) fn remember(&self, run_id: &str) {
        let hash = stable_hash(&[run_id]);
        let mut r = self.inner.lock().unwrap();
        if !r.set.insert(hash) {
            return;
        }
        r.order.push_back(hash);
        if r.order.len() > CAPACITY
            && let Some(old) = r.order.pop_front()
        {
            r.set.remove(&old);
        }
    }

    pub(super) fn is_closed(&self, run_id: &str) -> bool {
        let hash = stable_hash(&[run_id]);
        self.inner.lock().unwrap().set.contains(&hash)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_the_latest_runs_only() {
        let runs = ClosedRuns::default();
        runs.remember("first");
        assert!(runs.is_closed("first"));
        assert!(!runs.is_closed("second"));
        for i in 0..CAPACITY {
            runs.remember(&format!("run-{i}"));
        }
        assert!(!runs.is_closed("first"));
        assert!(runs.is_closed(&format!("run-{}", CAPACITY - 1)));
    }
}
