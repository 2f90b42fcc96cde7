//! Server configuration: defaults, then the YAML file, then CLI flags; `validate()` last.
//! Unknown keys are an error naming the key's path.
//!
//! `plugins` holds the authorization and plugin sections, `tls` the TLS section, `units` the
//! parsers of durations and byte sizes.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

mod archival;
mod dynamic;
mod metrics;
mod plugins;
#[cfg(test)]
mod tests;
mod tls;
mod units;

pub use archival::*;
pub use dynamic::{DynamicConfigClient, Values as DynamicValues, read_file as read_dynamic_config};
pub use metrics::*;
pub use plugins::*;
pub use tls::*;
use units::duration_text;

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub server: ServerConfig,
    pub persistence: PersistenceConfig,
    /// Namespaces created at start when missing.
    pub namespaces: Vec<NamespaceConfig>,
    pub log: LogConfig,
    /// Who may call what: the claim mapper and authorizer plugins to use.
    pub authorization: AuthorizationConfig,
    /// WebAssembly plugins, by name.
    pub plugins: Vec<PluginConfig>,
    /// The admin HTTP listener: `/metrics` and `POST /plugins/reload`.
    pub admin: AdminConfig,
    /// TLS for the frontend listener and between services (Temporal's `global.tls` keys).
    pub tls: TlsConfig,
    /// Temporal's `global` keys Sundial takes besides TLS: the metrics endpoint.
    pub global: GlobalConfig,
    /// This node's place among the Sundial nodes that share the database.
    pub cluster: ClusterConfig,
    /// How the history service holds its shards' tasks.
    pub history: HistoryConfig,
    /// Whether closed runs' histories and visibility records are archived (Temporal's keys).
    pub archival: ArchivalConfig,
    /// What a new namespace gets when its registration does not say (Temporal's keys).
    #[serde(rename = "namespaceDefaults")]
    pub namespace_defaults: NamespaceDefaultsConfig,
    /// Where Temporal's dynamic-config file is (read again when it changes).
    #[serde(rename = "dynamicConfigClient")]
    pub dynamic_config_client: DynamicConfigClient,
    /// Values given with `--dynamic-config-value`.
    #[serde(skip)]
    pub dynamic: DynamicValues,
    /// The file this config came from (relative plugin paths are resolved against its
    /// directory; a reload reads it again).
    #[serde(skip)]
    pub source: Option<PathBuf>,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    pub ip: String,
    pub port: u16,
    /// Where the other nodes of a cluster call this one (on `ip`). Unset: a free port is
    /// taken on PostgreSQL and MySQL (the membership table publishes it) and none on SQLite.
    pub internal_port: Option<u16>,
    /// Where the HTTP API listens (on `ip`; Temporal's `rpc.httpPort`); 0 takes a free
    /// port; unset: not served.
    pub http_port: Option<u16>,
    /// Where the web UI listens (on `ip`), with the HTTP API beside it on the same origin;
    /// 0 takes a free port; unset: not served.
    pub ui_port: Option<u16>,
    /// Headers the HTTP API passes on as gRPC metadata beside the usual ones (Temporal's
    /// `httpAdditionalForwardedHeaders`): names, or prefixes ending in `*`.
    pub http_additional_forwarded_headers: Vec<String>,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct PersistenceConfig {
    /// sqlx URL: `sqlite::memory:`, `sqlite:///path/file.db?mode=rwc`, `postgres://…`, `mysql://…`.
    pub url: String,
    pub max_connections: u32,
    /// Fixed when the database is created.
    pub num_history_shards: i32,
    /// A `visibility-store` plugin (by name) that keeps visibility records instead of the
    /// database; none: the database's own visibility tables.
    pub visibility_store: Option<String>,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct NamespaceConfig {
    pub name: String,
    /// e.g. `72h`, `2days`.
    #[serde(default, with = "duration_text")]
    pub retention: Option<Duration>,
}

/// `cluster:`
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ClusterConfig {
    /// This node's name: unique among the live nodes, and kept across restarts so that a
    /// restarted node gets its shards back. Default: the host name and the frontend port.
    pub node_name: Option<String>,
    /// The cluster's id: a node refuses a database that belongs to another cluster. Default:
    /// whatever the database holds (the first node gives a new database a random id).
    pub id: Option<String>,
    /// The services this node runs, any of `frontend`, `history`, `matching` and `worker`
    /// (Temporal's names). Default: all four. A node without `frontend` opens no public
    /// listener; one without `history` owns no shard; one without `matching` owns no task
    /// queue. A SQLite database serves one node, which runs them all.
    pub services: Option<Vec<String>>,
}

/// `history:`
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct HistoryConfig {
    /// Most pending tasks held in memory for each task queue of a shard, and for a shard's
    /// other tasks (timers, transfers, visibility writes; as many again of these when due
    /// within a second); the rest wait in the database and are paged in as these finish.
    pub max_tasks_in_memory: usize,
    /// Tasks due further ahead than this wait in the database (e.g. `60s`).
    #[serde(with = "units::duration_required")]
    pub task_lookahead: Duration,
}

impl Default for HistoryConfig {
    fn default() -> Self {
        let engine = sundial_history::Options::default();
        HistoryConfig {
            max_tasks_in_memory: engine.max_tasks_in_memory,
            task_lookahead: engine.task_lookahead,
        }
    }
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `error`, `warn`, `info`, `debug` or a tracing filter.
    pub level: String,
    /// `text` (Temporal's `console` is taken too) or `json`: one JSON object a line, for log
    /// shippers.
    pub format: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            server: ServerConfig::default(),
            persistence: PersistenceConfig::default(),
            namespaces: vec![NamespaceConfig {
                name: "default".into(),
                retention: None,
            }],
            log: LogConfig::default(),
            authorization: AuthorizationConfig::default(),
            plugins: Vec::new(),
            admin: AdminConfig::default(),
            tls: TlsConfig::default(),
            global: GlobalConfig::default(),
            cluster: ClusterConfig::default(),
            history: HistoryConfig::default(),
            archival: ArchivalConfig::default(),
            namespace_defaults: NamespaceDefaultsConfig::default(),
            dynamic_config_client: DynamicConfigClient::default(),
            dynamic: DynamicValues::default(),
            source: None,
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            ip: "127.0.0.1".into(),
            port: 7233,
            internal_port: None,
            http_port: None,
            ui_port: None,
            http_additional_forwarded_headers: Vec::new(),
        }
    }
}

impl Default for PersistenceConfig {
    fn default() -> Self {
        PersistenceConfig {
            url: "sqlite::memory:".into(),
            max_connections: 10,
            num_history_shards: 4,
            visibility_store: None,
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: "info".into(),
            format: "text".into(),
        }
    }
}

/// A config problem, naming where it is.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("config file {path}: key `{key}`: {message}")]
    Parse {
        path: String,
        key: String,
        message: String,
    },
    #[error("config: key `{key}`: {message}")]
    Invalid { key: String, message: String },
}

/// The log filter `log.level` names (`info`, `sundial=debug,warn`, ...). Found by the
/// `config_yaml` fuzz target: each directive is trimmed first (tracing-subscriber's parser
/// slices an untrimmed directive with the offsets of its trimmed text, and panics when a space
/// before it meets a multi-byte character); span field filters (`[span{field=value}]`) are
/// refused (their values compile to automata that can take minutes to build).
pub fn log_filter(level: &str) -> Result<tracing_subscriber::EnvFilter, String> {
    if level.contains('{') {
        return Err("span field filters (`{...}`) are not accepted".into());
    }
    let directives: Vec<&str> = level
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .collect();
    tracing_subscriber::EnvFilter::try_new(directives.join(",")).map_err(|e| e.to_string())
}

impl Config {
    /// For a reload: the sections that apply only at start. Those of `self` that differ from
    /// the `running` config are named (by their YAML keys, for the warning) and set back to
    /// the running values, so what a reload applies is `authorization` and `plugins` only.
    pub fn keep_running_sections(&mut self, running: &Config) -> Vec<&'static str> {
        // Spelled out field by field: a new section must say whether a reload applies it.
        let Config {
            server,
            persistence,
            namespaces,
            log,
            authorization: _,
            plugins: _,
            admin,
            tls,
            global,
            cluster,
            history,
            archival,
            namespace_defaults,
            dynamic_config_client,
            dynamic,
            source: _,
        } = self;
        let mut changed = Vec::new();
        macro_rules! keep {
            ($($field:ident => $key:literal),*) => {$(
                if *$field != running.$field {
                    changed.push($key);
                    *$field = running.$field.clone();
                }
            )*};
        }
        keep!(
            admin => "admin",
            archival => "archival",
            cluster => "cluster",
            dynamic_config_client => "dynamicConfigClient",
            global => "global",
            history => "history",
            log => "log",
            namespace_defaults => "namespaceDefaults",
            namespaces => "namespaces",
            persistence => "persistence",
            server => "server",
            tls => "tls"
        );
        // Command-line values, never in the file.
        *dynamic = running.dynamic.clone();
        changed
    }

    pub fn from_yaml(path: &Path) -> Result<Config, Error> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
            path: path.display().to_string(),
            source,
        })?;
        let mut config = Self::parse_yaml(&text, &path.display().to_string())?;
        config.source = Some(path.to_path_buf());
        Ok(config)
    }

    /// `path` from the config, relative to the config file's directory.
    pub fn resolve(&self, path: &Path) -> PathBuf {
        match self.source.as_ref().and_then(|s| s.parent()) {
            Some(dir) if path.is_relative() => dir.join(path),
            _ => path.to_path_buf(),
        }
    }

    /// The services this node runs (`cluster.services`, all by default).
    pub fn services(&self) -> Vec<String> {
        match &self.cluster.services {
            Some(list) => list.clone(),
            None => crate::cluster::SERVICES
                .iter()
                .map(|s| s.to_string())
                .collect(),
        }
    }

    /// Whether the database is SQLite (one node, all services).
    pub fn is_sqlite(&self) -> bool {
        sundial_store::Backend::from_url(&self.persistence.url)
            == Some(sundial_store::Backend::Sqlite)
    }

    /// Whether this node runs `service`.
    pub fn runs(&self, service: &str) -> bool {
        self.services().iter().any(|s| s == service)
    }

    /// This node's name in the cluster: `cluster.node_name`, else `<host name>-<port>`.
    pub fn node_name(&self) -> String {
        if let Some(name) = &self.cluster.node_name {
            return name.clone();
        }
        let host = std::env::var("HOSTNAME")
            .ok()
            .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
            .map(|h| h.trim().to_string())
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "sundial".into());
        format!("{host}-{}", self.server.port)
    }

    pub fn parse_yaml(text: &str, path: &str) -> Result<Config, Error> {
        let de = serde_norway::Deserializer::from_str(text);
        serde_path_to_error::deserialize(de).map_err(|e| {
            let key = e.path().to_string();
            Error::Parse {
                path: path.to_string(),
                key: if key == "." {
                    "(top level)".into()
                } else {
                    key
                },
                message: e.into_inner().to_string(),
            }
        })
    }

    pub fn validate(&self) -> Result<(), Error> {
        let invalid = |key: &str, message: String| {
            Err(Error::Invalid {
                key: key.into(),
                message,
            })
        };
        if self.server.ip.parse::<std::net::IpAddr>().is_err() {
            return invalid(
                "server.ip",
                format!("{:?} is not an IP address", self.server.ip),
            );
        }
        if sundial_store::Backend::from_url(&self.persistence.url).is_none() {
            return invalid(
                "persistence.url",
                format!(
                    "{:?}: use sqlite:, postgres:// or mysql://",
                    self.persistence.url
                ),
            );
        }
        if !(1..=16384).contains(&self.persistence.num_history_shards) {
            return invalid(
                "persistence.num_history_shards",
                "must be between 1 and 16384".into(),
            );
        }
        for (i, ns) in self.namespaces.iter().enumerate() {
            if ns.name.is_empty() {
                return invalid(&format!("namespaces[{i}].name"), "must not be empty".into());
            }
        }
        if let Some(name) = &self.cluster.node_name
            && (name.is_empty()
                || name.len() > 200
                || name.chars().any(|c| c.is_whitespace() || c == ','))
        {
            return invalid(
                "cluster.node_name",
                format!("{name:?}: give 1 to 200 characters without spaces or commas"),
            );
        }
        if self
            .cluster
            .id
            .as_ref()
            .is_some_and(|id| id.is_empty() || id.len() > 200)
        {
            return invalid("cluster.id", "give 1 to 200 characters".into());
        }
        if let Some(services) = &self.cluster.services {
            let known = crate::cluster::SERVICES;
            if services.is_empty() {
                return invalid(
                    "cluster.services",
                    format!("name at least one of {}", known.join(", ")),
                );
            }
            for (i, s) in services.iter().enumerate() {
                if !known.contains(&s.as_str()) {
                    return invalid(
                        "cluster.services",
                        format!("{s:?} is not a service: use {}", known.join(", ")),
                    );
                }
                if services[..i].contains(s) {
                    return invalid("cluster.services", format!("{s:?} is named twice"));
                }
            }
            if self.is_sqlite() && services.len() < known.len() {
                return invalid(
                    "cluster.services",
                    "a SQLite database serves one node, which runs every service; run \
                     services apart on PostgreSQL or MySQL"
                        .into(),
                );
            }
        }
        if self.history.max_tasks_in_memory == 0 {
            return invalid("history.max_tasks_in_memory", "must be at least 1".into());
        }
        if self.history.task_lookahead.is_zero() {
            return invalid("history.task_lookahead", "must be longer than 0s".into());
        }
        self.validate_plugins()?;
        self.validate_tls()?;
        self.validate_archival()?;
        self.validate_metrics()?;
        self.validate_dynamic()?;
        if let Some(listen) = &self.admin.listen
            && listen.parse::<std::net::SocketAddr>().is_err()
        {
            return invalid(
                "admin.listen",
                format!("{listen:?} is not an ip:port address"),
            );
        }
        if !matches!(self.log.format.as_str(), "text" | "console" | "json") {
            return invalid(
                "log.format",
                format!("{:?}: use text or json", self.log.format),
            );
        }
        if let Err(e) = log_filter(&self.log.level) {
            return invalid(
                "log.level",
                format!("{:?} is not a log filter: {e}", self.log.level),
            );
        }
        Ok(())
    }
}
