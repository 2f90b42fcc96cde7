//! Figures of one run, and the summary over runs: medians per server, ratios Sundial/Temporal.

use std::collections::BTreeMap;

use crate::worker::Measured;

#[derive(Clone, Debug, serde::Serialize)]
pub struct RunFigures {
    pub scenario: String,
    pub server: String,
    pub storage: String,
    pub completed: u64,
    pub errors: u64,
    pub wall_s: f64,
    pub throughput: f64,
    pub start_p50_ms: f64,
    pub start_p95_ms: f64,
    pub start_p99_ms: f64,
    pub e2e_p50_ms: f64,
    pub e2e_p95_ms: f64,
    pub e2e_p99_ms: f64,
    pub cpu_s: f64,
    pub cpu_ms_per_workflow: f64,
    pub peak_rss_mib: f64,
    pub idle_rss_mib: f64,
    pub ready_ms: f64,
    /// Workflow tasks that carried only new events (the sticky worker's).
    pub partial_histories: u64,
}

fn percentile(values: &[f64], p: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * (v.len() as f64 - 1.0)).round() as usize;
    v[rank.min(v.len() - 1)]
}

fn median(values: &[f64]) -> f64 {
    percentile(values, 50.0)
}

impl RunFigures {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        scenario: &str,
        server: &str,
        storage: &str,
        m: &Measured,
        cpu_s: f64,
        peak_rss_mib: f64,
        idle_rss_mib: f64,
        ready_ms: f64,
    ) -> RunFigures {
        let wall_s = m.wall.as_secs_f64();
        RunFigures {
            scenario: scenario.into(),
            server: server.into(),
            storage: storage.into(),
            completed: m.completed,
            errors: m.errors,
            wall_s,
            throughput: m.completed as f64 / wall_s.max(1e-9),
            start_p50_ms: percentile(&m.start_ms, 50.0),
            start_p95_ms: percentile(&m.start_ms, 95.0),
            start_p99_ms: percentile(&m.start_ms, 99.0),
            e2e_p50_ms: percentile(&m.e2e_ms, 50.0),
            e2e_p95_ms: percentile(&m.e2e_ms, 95.0),
            e2e_p99_ms: percentile(&m.e2e_ms, 99.0),
            partial_histories: m.partial_histories,
            cpu_s,
            cpu_ms_per_workflow: cpu_s * 1e3 / (m.completed.max(1) as f64),
            peak_rss_mib,
            idle_rss_mib,
            ready_ms,
        }
    }
}

pub struct Summary<'a> {
    runs: &'a [RunFigures],
}

/// (label, value of a run, higher is better)
type Metric = (&'static str, fn(&RunFigures) -> f64, bool);

const METRICS: &[Metric] = &[
    ("throughput (workflows/s)", |r| r.throughput, true),
    (
        "server CPU per workflow (ms)",
        |r| r.cpu_ms_per_workflow,
        false,
    ),
    ("start latency p50 (ms)", |r| r.start_p50_ms, false),
    ("start latency p95 (ms)", |r| r.start_p95_ms, false),
    ("start latency p99 (ms)", |r| r.start_p99_ms, false),
    ("end-to-end p50 (ms)", |r| r.e2e_p50_ms, false),
    ("end-to-end p95 (ms)", |r| r.e2e_p95_ms, false),
    ("end-to-end p99 (ms)", |r| r.e2e_p99_ms, false),
    ("peak RSS (MiB)", |r| r.peak_rss_mib, false),
    ("idle RSS after start (MiB)", |r| r.idle_rss_mib, false),
    ("start to ready (ms)", |r| r.ready_ms, false),
    ("errors", |r| r.errors as f64, false),
    ("workflows completed", |r| r.completed as f64, true),
];

impl<'a> Summary<'a> {
    pub fn new(runs: &'a [RunFigures]) -> Summary<'a> {
        Summary { runs }
    }

    /// One table per (scenario, storage): medians per server and the ratio.
    pub fn markdown(&self) -> String {
        let mut groups: BTreeMap<(String, String), BTreeMap<String, Vec<&RunFigures>>> =
            BTreeMap::new();
        for r in self.runs {
            groups
                .entry((r.storage.clone(), r.scenario.clone()))
                .or_default()
                .entry(r.server.clone())
                .or_default()
                .push(r);
        }
        let mut out = String::new();
        for ((storage, scenario), servers) in groups {
            let sundial = servers.get("sundial");
            let temporal = servers.get("temporal");
            let runs = sundial.or(temporal).map(|v| v.len()).unwrap_or(0);
            out.push_str(&format!(
                "\n### {scenario}, {storage} (median of {runs} runs)\n\n| metric | Sundial | Temporal | ratio |\n|---|---:|---:|---:|\n"
            ));
            for (label, get, higher_better) in METRICS {
                let med = |runs: Option<&Vec<&RunFigures>>| {
                    runs.map(|v| median(&v.iter().map(|r| get(r)).collect::<Vec<_>>()))
                };
                let (s, t) = (med(sundial), med(temporal));
                let ratio = match (s, t) {
                    (Some(s), Some(t)) if *higher_better && t > 0.0 => {
                        format!("{:.1}× more", s / t)
                    }
                    (Some(s), Some(t)) if !*higher_better && s > 0.0 && t > 0.0 => {
                        if t >= s {
                            format!("{:.1}× less", t / s)
                        } else {
                            format!("{:.1}× more", s / t)
                        }
                    }
                    _ => String::new(),
                };
                let show = |v: Option<f64>| v.map(fmt).unwrap_or_else(|| "—".into());
                out.push_str(&format!(
                    "| {label} | {} | {} | {ratio} |\n",
                    show(s),
                    show(t)
                ));
            }
        }
        out
    }
}

fn fmt(v: f64) -> String {
    if v.is_nan() {
        "—".into()
    } else if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}
