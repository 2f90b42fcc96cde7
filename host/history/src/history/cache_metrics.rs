//! The run cache's figures, as Temporal's history service reports its mutable-state cache:
//! `cache_requests`, `cache_miss` (the run's state was read from the database) and
//! `cache_latency` (the lookup, waiting for the run's lock and any read included), with
//! cache_type `mutablestate` and operation `HistoryCacheGetOrCreate`, by namespace id.

use std::time::Duration;

use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry};
use sundial_services::{TIMER_BUCKETS, tally_label};

const LABELS: [&str; 4] = ["cache_type", "namespace_id", "operation", "service_name"];

pub(crate) struct CacheMetrics {
    requests: IntCounterVec,
    miss: IntCounterVec,
    latency: HistogramVec,
}

impl Default for CacheMetrics {
    fn default() -> Self {
        let counter = |name: &str| {
            IntCounterVec::new(Opts::new(name, format!("{name} counter")), &LABELS)
                .expect("valid metric")
        };
        CacheMetrics {
            requests: counter("cache_requests"),
            miss: counter("cache_miss"),
            latency: HistogramVec::new(
                HistogramOpts::new("cache_latency", "A run-cache lookup, in seconds.")
                    .buckets(TIMER_BUCKETS.to_vec()),
                &LABELS,
            )
            .expect("valid metric"),
        }
    }
}

impl CacheMetrics {
    pub(crate) fn register(&self, registry: &Registry) -> prometheus::Result<()> {
        registry.register(Box::new(self.requests.clone()))?;
        registry.register(Box::new(self.miss.clone()))?;
        registry.register(Box::new(self.latency.clone()))
    }

    /// A run of `namespace_id` was looked up; `missed` when its state had to be read.
    pub(crate) fn looked_up(&self, namespace_id: &str, missed: bool, took: Duration) {
        let id = tally_label(namespace_id);
        let labels = [
            "mutablestate",
            id.as_str(),
            "HistoryCacheGetOrCreate",
            "history",
        ];
        self.requests.with_label_values(&labels).inc();
        if missed {
            self.miss.with_label_values(&labels).inc();
        }
        self.latency
            .with_label_values(&labels)
            .observe(took.as_secs_f64());
    }
}
