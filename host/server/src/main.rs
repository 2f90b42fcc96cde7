//! `sundial`: run the server.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use sundial_server::config::{Config, NamespaceConfig};

#[derive(Parser)]
#[command(
    name = "sundial",
    version,
    about = "A workflow server that speaks the Temporal API"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Development server on an embedded SQLite database (in memory unless --db-filename).
    StartDev {
        /// IP address to listen on.
        #[arg(long, default_value = "127.0.0.1")]
        ip: String,
        /// Port of the frontend gRPC service.
        #[arg(short, long, default_value_t = 7233)]
        port: u16,
        /// SQLite file to keep state in across restarts (created if missing).
        #[arg(short = 'f', long)]
        db_filename: Option<PathBuf>,
        /// Extra namespaces to create (the `default` namespace always exists).
        #[arg(short = 'n', long = "namespace")]
        namespaces: Vec<String>,
        /// Log level: error, warn, info, debug.
        #[arg(long, default_value = "info")]
        log_level: String,
        /// Log format: text or json (one JSON object a line).
        #[arg(long, default_value = "text")]
        log_format: String,
        /// Serve no web UI.
        #[arg(long)]
        headless: bool,
        /// Port of the web UI (on `--ip`); default: `--port` + 1000, as Temporal's.
        #[arg(long)]
        ui_port: Option<u16>,
        /// Port of the HTTP API (on `--ip`); default: a free port, logged at start.
        #[arg(long, default_value_t = 0)]
        http_port: u16,
        /// A dynamic config value, `KEY=VALUE` (the value in YAML or JSON), as Temporal's
        /// flag: e.g. `history.archivalProcessorArchiveDelay='"2s"'`. Keys Sundial does not
        /// use are logged and ignored. Repeatable.
        #[arg(long = "dynamic-config-value")]
        dynamic_config_values: Vec<String>,
        /// Port to serve Prometheus metrics on (`/metrics`, on `--ip`); none: not served.
        #[arg(long)]
        metrics_port: Option<u16>,
    },
    /// Server from a YAML config file (PostgreSQL, MySQL or SQLite).
    Start {
        #[arg(short, long)]
        config: PathBuf,
        /// Overrides `log.level` from the file.
        #[arg(long)]
        log_level: Option<String>,
        /// Overrides `log.format` from the file: text or json.
        #[arg(long)]
        log_format: Option<String>,
        /// Overrides `cluster.node_name`: one file can serve every node of a cluster.
        #[arg(long)]
        node_name: Option<String>,
        /// Overrides `server.port`.
        #[arg(short, long)]
        port: Option<u16>,
        /// Overrides `server.internal_port` (where the other nodes call this one).
        #[arg(long)]
        internal_port: Option<u16>,
        /// Overrides `cluster.services`: the services this node runs, comma-separated
        /// (`frontend,history,matching,worker`; default all).
        #[arg(long, value_delimiter = ',')]
        services: Option<Vec<String>>,
        /// A dynamic config value, `KEY=VALUE`, as for `start-dev`. Repeatable.
        #[arg(long = "dynamic-config-value")]
        dynamic_config_values: Vec<String>,
    },
    /// Look at the cluster a config file's database belongs to.
    Cluster {
        #[command(subcommand)]
        command: ClusterCommand,
    },
    /// Manage the plugins of a running server.
    Plugin {
        #[command(subcommand)]
        command: PluginCommand,
    },
}

#[derive(Subcommand)]
enum ClusterCommand {
    /// The nodes in the database's membership table: live and recently dead, with their
    /// services, addresses and the number of history shards each owns.
    Members {
        #[arg(short, long)]
        config: PathBuf,
    },
}

/// `sundial cluster members`.
async fn cluster_members(config: PathBuf) -> i32 {
    let result = async {
        let c = Config::from_yaml(&config)?;
        c.validate()?;
        let store = sundial_store::SqlStore::connect(&c.persistence.url, 2).await?;
        sundial_server::cluster::members_table(&store).await
    }
    .await;
    match result {
        Ok(table) => {
            print!("{table}");
            0
        }
        Err(e) => {
            eprintln!("sundial: {e:#}");
            1
        }
    }
}

#[derive(Subcommand)]
enum PluginCommand {
    /// Reload plugins now: the server reads its config file and every plugin file again and
    /// swaps in what changed. A version that fails to load is refused; the old one keeps
    /// serving. Exits non-zero if anything was refused.
    Reload {
        /// The server's admin listener (`admin.listen`), e.g. 127.0.0.1:7244.
        #[arg(long, conflicts_with = "config")]
        admin: Option<String>,
        /// Or the server's config file, to read `admin.listen` from.
        #[arg(short, long)]
        config: Option<PathBuf>,
    },
}

/// `sundial plugin reload`.
async fn plugin_reload(admin: Option<String>, config: Option<PathBuf>) -> i32 {
    let admin = match (admin, config) {
        (Some(a), _) => a,
        (None, Some(path)) => match Config::from_yaml(&path) {
            Ok(c) => match c.admin.listen {
                Some(a) => a,
                None => {
                    eprintln!(
                        "sundial: {} has no `admin.listen`: the server has no admin listener",
                        path.display()
                    );
                    return 2;
                }
            },
            Err(e) => {
                eprintln!("sundial: {e}");
                return 2;
            }
        },
        (None, None) => {
            eprintln!("sundial: give --admin <ip:port> or --config <file>");
            return 2;
        }
    };
    match sundial_server::admin::request_reload(&admin).await {
        Ok((ok, report)) => {
            print!("{report}");
            if ok { 0 } else { 1 }
        }
        Err(e) => {
            eprintln!("sundial: cannot reach the admin listener at {admin}: {e:#}");
            1
        }
    }
}

fn init_logging(level: &str, format: &str) {
    let filter = sundial_server::config::log_filter(level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if format == "json" {
        // One object a line, its fields flattened beside `message`, for log shippers.
        logs.json().flatten_event(true).init();
    } else {
        // Colour codes only on a terminal: logs written to files stay greppable.
        logs.with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init();
    }
}

fn build_config(cli: Cli) -> anyhow::Result<Config> {
    Ok(match cli.command {
        Command::StartDev {
            ip,
            port,
            db_filename,
            namespaces,
            log_level,
            log_format,
            headless,
            ui_port,
            http_port,
            dynamic_config_values,
            metrics_port,
        } => {
            let mut c = Config::default();
            c.global.metrics.prometheus.listen_address = metrics_port.map(|p| format!("{ip}:{p}"));
            // The dev server's own default, as Temporal's: a visibility rate ten times the
            // production one. Given first, so a flag overrides it.
            c.apply_dynamic_value("frontend.namespaceRPS.visibility=100")?;
            for v in &dynamic_config_values {
                c.apply_dynamic_value(v)?;
            }
            c.server.ip = ip;
            c.server.port = port;
            c.server.http_port = Some(http_port);
            c.server.ui_port = match (headless, ui_port) {
                (true, _) => None,
                (false, Some(p)) => Some(p),
                (false, None) => Some(port.checked_add(1000).ok_or_else(|| {
                    anyhow::anyhow!("--port {port} leaves no --ui-port at +1000; give --ui-port")
                })?),
            };
            if let Some(path) = db_filename {
                c.persistence.url = format!("sqlite://{}?mode=rwc", path.display());
            }
            // The dev server's default namespace keeps closed workflows for one day.
            c.namespaces[0].retention = Some(std::time::Duration::from_secs(24 * 3600));
            for name in namespaces {
                if name != "default" {
                    c.namespaces.push(NamespaceConfig {
                        name,
                        retention: None,
                    });
                }
            }
            c.log.level = log_level;
            c.log.format = log_format;
            // As Temporal's development server: archival on for the cluster, with the file
            // archiver; off for each namespace until it turns it on.
            (c.archival, c.namespace_defaults) =
                sundial_server::config::ArchivalConfig::development();
            c
        }
        Command::Plugin { .. } | Command::Cluster { .. } => unreachable!("handled before"),
        Command::Start {
            config,
            log_level,
            log_format,
            node_name,
            port,
            internal_port,
            services,
            dynamic_config_values,
        } => {
            let mut c = Config::from_yaml(&config)?;
            for v in &dynamic_config_values {
                c.apply_dynamic_value(v)?;
            }
            if let Some(l) = log_level {
                c.log.level = l;
            }
            if let Some(f) = log_format {
                c.log.format = f;
            }
            if let Some(n) = node_name {
                c.cluster.node_name = Some(n);
            }
            if let Some(p) = port {
                c.server.port = p;
            }
            if let Some(p) = internal_port {
                c.server.internal_port = Some(p);
            }
            if let Some(s) = services {
                c.cluster.services = Some(s.into_iter().map(|s| s.trim().to_string()).collect());
            }
            c
        }
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Plugin {
            command: PluginCommand::Reload { admin, config },
        } => std::process::exit(plugin_reload(admin, config).await),
        Command::Cluster {
            command: ClusterCommand::Members { config },
        } => std::process::exit(cluster_members(config).await),
        _ => {}
    }
    let config = match build_config(cli) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("sundial: {e:#}");
            std::process::exit(2);
        }
    };
    if let Err(e) = config.validate() {
        eprintln!("sundial: {e}");
        std::process::exit(2);
    }
    init_logging(&config.log.level, &config.log.format);
    let (tx, rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                    .expect("signal handler");
            tokio::select! { _ = ctrl_c => {}, _ = term.recv() => {} }
        }
        #[cfg(not(unix))]
        let _ = ctrl_c.await;
        tracing::info!("shutting down");
        let _ = tx.send(());
    });
    let running = match sundial_server::start(&config, Some(rx)).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("sundial: {e:#}");
            std::process::exit(1);
        }
    };
    // Once asked to stop, long polls and calls in flight get a few seconds to end.
    let mut stopping = running.membership.left();
    let mut waiting = std::pin::pin!(running.wait());
    tokio::select! {
        done = &mut waiting => return done,
        _ = stopping.wait_for(|left| *left) => {}
    }
    match tokio::time::timeout(std::time::Duration::from_secs(5), waiting).await {
        Ok(done) => done,
        Err(_) => {
            tracing::info!("calls still in flight after 5 s; exiting");
            Ok(())
        }
    }
}
