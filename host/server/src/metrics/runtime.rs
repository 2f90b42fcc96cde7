//! The process's figures under Temporal's runtime metric names, by `service_name` for each
//! service the node runs (Temporal's services each report their own; here they share one
//! process): `restarts` (1 for this start), `num_goroutines` (the runtime's live tasks) and
//! `memory_allocated` and `memory_heap` (the resident memory, in bytes: Rust has no garbage
//! collector's heap to report, so Temporal's GC figures are not emitted).

use std::time::Duration;

use prometheus::{GaugeVec, IntCounterVec, Opts, Registry};

/// How often the gauges are read again.
const EVERY: Duration = Duration::from_secs(5);

pub fn register(registry: &Registry, services: &[String]) -> prometheus::Result<()> {
    let labels = ["service_name"];
    let restarts = IntCounterVec::new(Opts::new("restarts", "Starts of the service."), &labels)?;
    let tasks = GaugeVec::new(
        Opts::new("num_goroutines", "Tasks alive in the server's runtime."),
        &labels,
    )?;
    let allocated = GaugeVec::new(
        Opts::new(
            "memory_allocated",
            "Resident memory of the process, in bytes.",
        ),
        &labels,
    )?;
    let heap = GaugeVec::new(
        Opts::new("memory_heap", "Resident memory of the process, in bytes."),
        &labels,
    )?;
    for m in [&tasks, &allocated, &heap] {
        registry.register(Box::new(m.clone()))?;
    }
    registry.register(Box::new(restarts.clone()))?;
    for service in services {
        restarts.with_label_values(&[service]).inc();
    }
    let services = services.to_vec();
    let runtime = tokio::runtime::Handle::current();
    tokio::spawn(async move {
        loop {
            let alive = runtime.metrics().num_alive_tasks() as f64;
            let resident = resident_bytes().unwrap_or(0) as f64;
            for service in &services {
                tasks.with_label_values(&[service]).set(alive);
                allocated.with_label_values(&[service]).set(resident);
                heap.with_label_values(&[service]).set(resident);
            }
            tokio::time::sleep(EVERY).await;
        }
    });
    Ok(())
}

/// The process's resident set, from `/proc/self/statm` (Linux).
fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}
