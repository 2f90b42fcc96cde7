//! Per-plugin metrics (Prometheus): calls by outcome, latency, denials, faults by cause, the
//! loaded version and reloads.

use std::time::Duration;

use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry};

use crate::Fault;

/// The plugin metrics, registered in one registry. Cheap to clone.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    calls: IntCounterVec,
    latency: HistogramVec,
    denials: IntCounterVec,
    faults: IntCounterVec,
    loaded: IntGaugeVec,
    reloads: IntCounterVec,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// Metrics in a registry of their own.
    pub fn new() -> Metrics {
        Metrics::register(Registry::new()).expect("fresh registry")
    }

    /// Metrics registered in `registry`.
    pub fn register(registry: Registry) -> prometheus::Result<Metrics> {
        let calls = IntCounterVec::new(
            Opts::new(
                "sundial_plugin_calls_total",
                "Plugin calls by outcome (allow, deny, claims, fault).",
            ),
            &["plugin", "outcome"],
        )?;
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "sundial_plugin_call_seconds",
                "Time a plugin call took, waiting for capacity and instantiation included.",
            )
            .buckets(vec![
                5e-6, 1e-5, 2e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 5e-2, 0.1,
                0.5, 1.0, 5.0,
            ]),
            &["plugin"],
        )?;
        let denials = IntCounterVec::new(
            Opts::new(
                "sundial_plugin_denials_total",
                "Deny decisions of an authorizer.",
            ),
            &["plugin"],
        )?;
        let faults = IntCounterVec::new(
            Opts::new(
                "sundial_plugin_faults_total",
                "Calls without an answer, by cause (refused, deadline, memory, fuel, trap, failed).",
            ),
            &["plugin", "cause"],
        )?;
        let loaded = IntGaugeVec::new(
            Opts::new(
                "sundial_plugin_loaded",
                "1 for the version (sha256 of the component) each plugin runs now.",
            ),
            &["plugin", "kind", "sha256"],
        )?;
        let reloads = IntCounterVec::new(
            Opts::new(
                "sundial_plugin_reloads_total",
                "Attempts to load a new version, by result (loaded, refused).",
            ),
            &["plugin", "result"],
        )?;
        registry.register(Box::new(calls.clone()))?;
        registry.register(Box::new(latency.clone()))?;
        registry.register(Box::new(denials.clone()))?;
        registry.register(Box::new(faults.clone()))?;
        registry.register(Box::new(loaded.clone()))?;
        registry.register(Box::new(reloads.clone()))?;
        Ok(Metrics {
            registry,
            calls,
            latency,
            denials,
            faults,
            loaded,
            reloads,
        })
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The text exposition of every metric in the registry.
    pub fn render(&self) -> String {
        use prometheus::Encoder;
        let mut out = Vec::new();
        let _ = prometheus::TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }

    pub(crate) fn observe(&self, plugin: &str, took: Duration, fault: Option<&Fault>) {
        self.latency
            .with_label_values(&[plugin])
            .observe(took.as_secs_f64());
        if let Some(f) = fault {
            self.calls.with_label_values(&[plugin, "fault"]).inc();
            self.faults
                .with_label_values(&[plugin, f.cause.label()])
                .inc();
        }
    }

    pub(crate) fn decision(&self, plugin: &str, allowed: bool) {
        let outcome = if allowed { "allow" } else { "deny" };
        self.calls.with_label_values(&[plugin, outcome]).inc();
        if !allowed {
            self.denials.with_label_values(&[plugin]).inc();
        }
    }

    pub(crate) fn claims(&self, plugin: &str) {
        self.calls.with_label_values(&[plugin, "claims"]).inc();
    }

    /// Records that `plugin` now runs the version `sha256` (and no longer any other).
    pub fn set_loaded(&self, plugin: &str, kind: &str, sha256: &str) {
        // Forget the versions this plugin ran before (the gauge keeps one series per label set).
        let families = prometheus::core::Collector::collect(&self.loaded);
        for family in &families {
            for metric in family.get_metric() {
                let label = |name: &str| {
                    metric
                        .get_label()
                        .iter()
                        .find(|l| l.name() == name)
                        .map(|l| l.value().to_string())
                        .unwrap_or_default()
                };
                if label("plugin") == plugin {
                    let _ = self.loaded.remove_label_values(&[
                        &label("plugin"),
                        &label("kind"),
                        &label("sha256"),
                    ]);
                }
            }
        }
        self.loaded
            .with_label_values(&[plugin, kind, sha256])
            .set(1);
    }

    pub fn reloaded(&self, plugin: &str, ok: bool) {
        let result = if ok { "loaded" } else { "refused" };
        self.reloads.with_label_values(&[plugin, result]).inc();
    }
}
