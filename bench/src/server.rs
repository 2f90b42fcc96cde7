//! Starting a server under test on a free port, and reading its CPU time and memory from
//! /proc while it runs.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use temporalio_protos::temporal::api::workflowservice::v1::{
    GetSystemInfoRequest, GetSystemInfoResponse,
};

use crate::client::Client;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Storage {
    /// In-memory SQLite (both servers' dev default).
    Memory,
    /// A SQLite file (Sundial: WAL with synchronous=FULL).
    SqliteFile,
    /// PostgreSQL at --postgres-url (Sundial only: the Temporal dev server has no such mode).
    Postgres,
    /// MySQL/MariaDB at --mysql-url (Sundial only).
    Mysql,
}

#[derive(Clone, Debug)]
pub enum Kind {
    Sundial { bin: PathBuf },
    Temporal { cli: PathBuf },
}

impl Kind {
    pub fn name(&self) -> &'static str {
        match self {
            Kind::Sundial { .. } => "sundial",
            Kind::Temporal { .. } => "temporal",
        }
    }
}

#[derive(Clone, Debug)]
pub struct DbUrls {
    pub postgres: String,
    pub mysql: String,
}

pub struct Server {
    pub address: String,
    pub pid: u32,
    pub ready: Duration,
    child: Child,
    /// Db files, configs and the log; removed on drop.
    scratch: tempfile::TempDir,
    cleanup: Option<Box<dyn FnOnce() + Send>>,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn sh(program: &str, args: &[&str]) -> anyhow::Result<()> {
    let out = Command::new(program).args(args).output()?;
    anyhow::ensure!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

/// Both servers are measured without their rate limits (Temporal's defaults: 2400 calls a
/// second per frontend and per namespace), which would otherwise cap the faster one.
const UNLIMITED: [&str; 4] = [
    "--dynamic-config-value",
    "frontend.rps=1000000",
    "--dynamic-config-value",
    "frontend.namespaceRPS=1000000",
];

impl Server {
    pub async fn start(kind: &Kind, storage: Storage, urls: &DbUrls) -> anyhow::Result<Server> {
        let scratch = tempfile::Builder::new()
            .prefix("sundial-bench-")
            .tempdir()?;
        let port = free_port();
        let address = format!("127.0.0.1:{port}");
        let log = std::fs::File::create(scratch.path().join("server.log"))?;
        let mut cleanup: Option<Box<dyn FnOnce() + Send>> = None;
        let mut cmd = match kind {
            Kind::Sundial { bin } => {
                let mut c = Command::new(bin);
                match storage {
                    Storage::Memory => {
                        c.args(["start-dev", "--headless", "--port", &port.to_string()]);
                    }
                    Storage::SqliteFile => {
                        let db = scratch.path().join("sundial.db");
                        c.args([
                            "start-dev",
                            "--headless",
                            "--port",
                            &port.to_string(),
                            "--db-filename",
                        ])
                        .arg(db);
                    }
                    Storage::Postgres | Storage::Mysql => {
                        let name = format!("bench_{}", uuid::Uuid::new_v4().simple());
                        let url = if storage == Storage::Postgres {
                            sh(
                                "psql",
                                &[&urls.postgres, "-qc", &format!("CREATE SCHEMA {name}")],
                            )?;
                            let (base, drop_sql) =
                                (urls.postgres.clone(), format!("DROP SCHEMA {name} CASCADE"));
                            cleanup = Some(Box::new(move || {
                                let _ = sh("psql", &[&base, "-qc", &drop_sql]);
                            }));
                            format!("{}?options=-c%20search_path%3D{name}", urls.postgres)
                        } else {
                            let (host, user) = mysql_host_user(&urls.mysql);
                            let create = format!("CREATE DATABASE {name}");
                            sh("mariadb", &["-h", &host, "-u", &user, "-e", &create])?;
                            let drop_sql = format!("DROP DATABASE {name}");
                            cleanup = Some(Box::new(move || {
                                let _ = sh("mariadb", &["-h", &host, "-u", &user, "-e", &drop_sql]);
                            }));
                            let base = urls.mysql.rsplit_once('/').map(|(b, _)| b).unwrap();
                            format!("{base}/{name}")
                        };
                        let config = scratch.path().join("sundial.yaml");
                        std::fs::write(
                            &config,
                            format!(
                                "server: {{ip: 127.0.0.1, port: {port}}}\npersistence: {{url: {url:?}, max_connections: 20}}\n"
                            ),
                        )?;
                        c.args(["start", "--config"]).arg(config);
                    }
                }
                c.args(["--log-level", "warn"]);
                c.args(UNLIMITED);
                c
            }
            Kind::Temporal { cli } => {
                let mut c = Command::new(cli);
                c.args([
                    "server",
                    "start-dev",
                    "--headless",
                    "--ip",
                    "127.0.0.1",
                    "--port",
                    &port.to_string(),
                    "--log-level",
                    "warn",
                ]);
                c.args(UNLIMITED);
                match storage {
                    Storage::Memory => {}
                    Storage::SqliteFile => {
                        c.arg("--db-filename")
                            .arg(scratch.path().join("temporal.db"));
                    }
                    Storage::Postgres | Storage::Mysql => {
                        anyhow::bail!("the Temporal dev server runs on SQLite only")
                    }
                }
                c
            }
        };
        let began = Instant::now();
        let child = cmd
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()?;
        let pid = child.id();
        let mut server = Server {
            address,
            pid,
            ready: Duration::ZERO,
            child,
            scratch,
            cleanup,
        };
        // Ready = the first GetSystemInfo that succeeds.
        loop {
            if let Ok(c) = Client::connect(&server.address, "default").await {
                let r: Result<GetSystemInfoResponse, _> = c
                    .call("GetSystemInfo", GetSystemInfoRequest::default(), None)
                    .await;
                if r.is_ok() {
                    break;
                }
            }
            if let Some(status) = server.child.try_wait()? {
                anyhow::bail!(
                    "{} exited with {status} while starting:\n{}",
                    kind.name(),
                    server.log_tail()
                );
            }
            anyhow::ensure!(
                began.elapsed() < Duration::from_secs(60),
                "{} not ready after 60 s:\n{}",
                kind.name(),
                server.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        server.ready = began.elapsed();
        Ok(server)
    }

    pub fn log_tail(&self) -> String {
        let text =
            std::fs::read_to_string(self.scratch.path().join("server.log")).unwrap_or_default();
        text[text.len().saturating_sub(3000)..].to_string()
    }

    /// User + system CPU seconds the server has used so far.
    pub fn cpu_seconds(&self) -> f64 {
        proc_cpu_seconds(self.pid)
    }

    /// (current RSS, peak RSS) in MiB.
    pub fn rss_mib(&self) -> (f64, f64) {
        proc_rss_mib(self.pid)
    }

    pub fn stop(mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(f) = self.cleanup.take() {
            f();
        }
    }
}

/// User + system CPU seconds process `pid` has used so far (0 if it is gone).
pub fn proc_cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name, which is in parentheses and may contain spaces.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of proc_pid_stat(5); `rest` starts at field 3.
    (ticks(11) + ticks(12)) / clock_ticks()
}

/// (current RSS, peak RSS) of process `pid` in MiB.
pub fn proc_rss_mib(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kib = |key: &str| {
        status
            .lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (kib("VmRSS:") / 1024.0, kib("VmHWM:") / 1024.0)
}

fn clock_ticks() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .unwrap_or(100.0)
    })
}

fn mysql_host_user(url: &str) -> (String, String) {
    // mysql://user[:pass]@host:port/db
    let rest = url.trim_start_matches("mysql://");
    let (auth, hostpart) = rest.split_once('@').unwrap_or(("root", rest));
    let user = auth.split(':').next().unwrap_or("root").to_string();
    let host = hostpart
        .split(['/', ':'])
        .next()
        .unwrap_or("127.0.0.1")
        .to_string();
    (host, user)
}
