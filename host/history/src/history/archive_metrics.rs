//! What archival reports to Prometheus: attempts by kind and result, and how long after its
//! close a run was archived.

use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry};

/// The archival metrics; created with the engine, exported once registered.
pub(crate) struct ArchiveMetrics {
    attempts: IntCounterVec,
    lag: HistogramVec,
}

impl Default for ArchiveMetrics {
    fn default() -> Self {
        let attempts = IntCounterVec::new(
            Opts::new(
                "sundial_archival_attempts_total",
                "Archive attempts of closed runs, by kind (history, visibility) and result (ok, failed).",
            ),
            &["kind", "result"],
        )
        .expect("valid metric");
        let lag = HistogramVec::new(
            HistogramOpts::new(
                "sundial_archival_lag_seconds",
                "Time from a run's close to its archived copy, by kind.",
            )
            .buckets(vec![
                1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0, 600.0, 1800.0, 3600.0, 21600.0, 86400.0,
            ]),
            &["kind"],
        )
        .expect("valid metric");
        ArchiveMetrics { attempts, lag }
    }
}

impl ArchiveMetrics {
    pub(crate) fn register(&self, registry: &Registry) -> prometheus::Result<()> {
        registry.register(Box::new(self.attempts.clone()))?;
        registry.register(Box::new(self.lag.clone()))
    }

    /// One attempt of `kind`; `lag_nanos` (now − close) when it succeeded.
    pub(crate) fn attempt(&self, kind: &str, ok: bool, lag_nanos: i64) {
        let result = if ok { "ok" } else { "failed" };
        self.attempts.with_label_values(&[kind, result]).inc();
        if ok {
            self.lag
                .with_label_values(&[kind])
                .observe(lag_nanos.max(0) as f64 / 1e9);
        }
    }
}
