//! The committed events of runs whose state is cached, kept as the encoded batches their
//! commits wrote, so that a workflow task's poll is answered without reading the history
//! back from the database (a non-sticky poll carries the whole history, every time).
//!
//! A run's cached history always starts at event 1 and runs without a gap to the last event
//! committed; when that cannot be kept (a commit that failed, a budget reached, the run
//! closed), the run has none and its events are read from the database as before.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use prost::Message;
use sundial_store::HistoryBatch;
use temporalio_protos::temporal::api::history::v1::{History, HistoryEvent};

use crate::error::Result;

/// The most bytes of history all cached runs keep in memory together.
pub(crate) const BUDGET: usize = 32 << 20;

/// The most bytes of history one run keeps in memory.
const MAX_RUN_BYTES: usize = 256 << 10;

/// Bytes of history cached by all runs together, bounded by a budget.
#[derive(Debug)]
pub(crate) struct Budget {
    used: AtomicUsize,
    max: usize,
}

impl Budget {
    pub(crate) fn new(max: usize) -> Arc<Budget> {
        Arc::new(Budget {
            used: AtomicUsize::new(0),
            max,
        })
    }

    /// Takes `bytes` if they fit.
    fn take(&self, bytes: usize) -> bool {
        self.used
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |used| {
                (used + bytes <= self.max).then_some(used + bytes)
            })
            .is_ok()
    }

    #[cfg(test)]
    fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }
}

/// One committed batch of events, encoded as a `History`.
struct Batch {
    first: i64,
    last: i64,
    data: Vec<u8>,
}

/// A run's events `1..next`, as written.
pub(super) struct CachedHistory {
    batches: Vec<Batch>,
    bytes: usize,
    budget: Arc<Budget>,
}

impl CachedHistory {
    /// A run's history from its first batches (which must begin with event 1); `None` when
    /// they do not, or do not fit.
    pub(super) fn start(budget: &Arc<Budget>, batches: Vec<HistoryBatch>) -> Option<Self> {
        if batches.first().map(|b| b.first_event_id) != Some(1) {
            return None;
        }
        let mut history = CachedHistory {
            batches: Vec::with_capacity(batches.len().max(8)),
            bytes: 0,
            budget: budget.clone(),
        };
        for b in batches {
            if !history.append(b.first_event_id, b.last_event_id, b.data) {
                return None;
            }
        }
        Some(history)
    }

    /// The id the next event will have.
    pub(super) fn next_event_id(&self) -> i64 {
        self.batches.last().map_or(1, |b| b.last + 1)
    }

    /// Adds the batch a commit wrote; `false` when it does not follow on or does not fit (the
    /// history is then to be dropped).
    pub(super) fn append(&mut self, first: i64, last: i64, data: Vec<u8>) -> bool {
        let size = data.len();
        if first != self.next_event_id()
            || last < first
            || self.bytes + size > MAX_RUN_BYTES
            || !self.budget.take(size)
        {
            return false;
        }
        self.bytes += size;
        self.batches.push(Batch { first, last, data });
        true
    }

    /// Events `from..=to`, which must all be here.
    pub(super) fn events(&self, from: i64, to: i64) -> Result<Vec<HistoryEvent>> {
        let start = self.batches.partition_point(|b| b.last < from);
        let batches = self.batches[start..].iter().take_while(|b| b.first <= to);
        decode_range(batches.map(|b| b.data.as_slice()), from, to)
    }
}

/// The events `from..=to` found in encoded batches (each a `History`), in their order.
pub(super) fn decode_range<'a>(
    batches: impl IntoIterator<Item = &'a [u8]>,
    from: i64,
    to: i64,
) -> Result<Vec<HistoryEvent>> {
    let mut out = Vec::new();
    for data in batches {
        let events = History::decode(data)?.events;
        out.extend(
            events
                .into_iter()
                .filter(|e| e.event_id >= from && e.event_id <= to),
        );
    }
    Ok(out)
}

impl Drop for CachedHistory {
    fn drop(&mut self) {
        self.budget.used.fetch_sub(self.bytes, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sundial_store::RunKey;

    fn batch(first: i64, last: i64) -> HistoryBatch {
        let events = (first..=last)
            .map(|event_id| HistoryEvent {
                event_id,
                ..Default::default()
            })
            .collect();
        HistoryBatch {
            key: RunKey {
                namespace_id: "ns".into(),
                workflow_id: "wf".into(),
                run_id: "run".into(),
            },
            first_event_id: first,
            last_event_id: last,
            data: History { events }.encode_to_vec(),
        }
    }

    fn ids(events: Vec<HistoryEvent>) -> Vec<i64> {
        events.into_iter().map(|e| e.event_id).collect()
    }

    #[test]
    fn serves_any_range_of_what_was_appended() {
        let budget = Budget::new(1 << 20);
        let mut h = CachedHistory::start(&budget, vec![batch(1, 3)]).unwrap();
        let b = batch(4, 6);
        assert!(h.append(4, 6, b.data));
        assert_eq!(h.next_event_id(), 7);
        assert_eq!(ids(h.events(1, 6).unwrap()), vec![1, 2, 3, 4, 5, 6]);
        assert_eq!(ids(h.events(3, 5).unwrap()), vec![3, 4, 5]);
        assert_eq!(ids(h.events(6, 6).unwrap()), vec![6]);
    }

    #[test]
    fn refuses_a_gap_a_start_past_one_and_what_does_not_fit() {
        let budget = Budget::new(1 << 20);
        assert!(CachedHistory::start(&budget, vec![batch(2, 3)]).is_none());
        let mut h = CachedHistory::start(&budget, vec![batch(1, 3)]).unwrap();
        assert!(!h.append(5, 6, batch(5, 6).data));
        let small = Budget::new(10);
        assert!(CachedHistory::start(&small, vec![batch(1, 30)]).is_none());
        assert_eq!(small.used(), 0);
    }

    #[test]
    fn gives_its_bytes_back_when_dropped() {
        let budget = Budget::new(1 << 20);
        let h = CachedHistory::start(&budget, vec![batch(1, 3), batch(4, 9)]).unwrap();
        assert!(budget.used() > 0);
        drop(h);
        assert_eq!(budget.used(), 0);
    }
}
