//! Server configuration: defaults, then the YAML file, then CLI flags; `validate()` last.
//! Unknown keys are an error naming the key's path.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

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
    /// The file this config came from (relative plugin paths are resolved against its
    /// directory; a reload reads it again).
    #[serde(skip)]
    pub source: Option<PathBuf>,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AuthorizationConfig {
    /// Name of a `claim-mapper` plugin; none: callers have no claims.
    pub claim_mapper: Option<String>,
    /// Name of an `authorizer` plugin; none: every call is allowed (logged loudly at start).
    pub authorizer: Option<String>,
    /// gRPC header carrying the caller's token.
    pub auth_header: String,
    /// gRPC header carrying extra data for the claim mapper.
    pub extras_header: String,
    /// Audience handed to the claim mapper (a JWT's `aud` must contain it); empty: none.
    pub audience: String,
    /// Callers presenting no credentials get `Unauthenticated` instead of reaching the
    /// authorizer with no claims (health checks and GetSystemInfo excepted).
    pub require_credentials: bool,
    /// Longest token (and extras) accepted, in bytes.
    pub max_token_bytes: usize,
    /// Claims kept per distinct credentials, each until its expiry at the latest.
    pub claims_cache_entries: u64,
    /// Upper bound on how long claims are reused, whatever their expiry.
    #[serde(with = "duration_required")]
    pub claims_cache_ttl: Duration,
    /// Appends every authorizer decision to this file as a JSON line in the case format of
    /// `sundial-plugin-test` (request included): recorded requests to test a plugin against.
    /// For debugging: requests hold payloads.
    pub record_decisions: Option<PathBuf>,
}

/// One plugin component.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PluginConfig {
    pub name: String,
    /// `claim-mapper`, `authorizer` or `visibility-store`.
    pub kind: String,
    /// A component file (relative to the config file); or
    #[serde(default)]
    pub file: Option<PathBuf>,
    /// one of the components built into the server: `jwt-claim-mapper`, `cert-claim-mapper`,
    /// `default-authorizer`, `nop-authorizer`.
    #[serde(default)]
    pub builtin: Option<String>,
    #[serde(default)]
    pub limits: PluginLimits,
    #[serde(default)]
    pub grants: PluginGrants,
    /// Values the plugin reads with `host.config(key)`.
    #[serde(default)]
    pub config: BTreeMap<String, String>,
    /// Reload when the file changes (default true).
    #[serde(default = "yes")]
    pub watch: bool,
}

fn yes() -> bool {
    true
}

impl PluginConfig {
    /// A component built into the server, with default limits, no grants and no config.
    pub fn builtin(name: &str, kind: &str, builtin: &str) -> PluginConfig {
        PluginConfig {
            name: name.into(),
            kind: kind.into(),
            file: None,
            builtin: Some(builtin.into()),
            limits: PluginLimits::default(),
            grants: PluginGrants::default(),
            config: BTreeMap::new(),
            // A built-in component has no file to watch.
            watch: false,
        }
    }
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct PluginLimits {
    /// Wall-clock budget of one call, e.g. `100ms`.
    #[serde(with = "duration_required")]
    pub deadline: Duration,
    /// Memory cap, e.g. `16MiB`.
    #[serde(with = "byte_size")]
    pub memory: usize,
    /// Fuel per call (about one unit per wasm instruction); none: unmetered.
    pub fuel: Option<u64>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct PluginGrants {
    /// Outgoing HTTP destinations, `host` or `host:port`.
    pub http: Vec<String>,
    /// Directories the plugin may read.
    pub directories: Vec<DirectoryGrantConfig>,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DirectoryGrantConfig {
    /// Directory on the server (relative to the config file).
    pub host: PathBuf,
    /// Where the plugin sees it, e.g. `/keys`.
    pub guest: String,
    /// Whether the plugin may write there (default: read-only).
    #[serde(default)]
    pub writable: bool,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    /// `ip:port` of the admin HTTP listener; none: no listener.
    pub listen: Option<String>,
}

impl Default for AuthorizationConfig {
    fn default() -> Self {
        AuthorizationConfig {
            claim_mapper: None,
            authorizer: None,
            auth_header: "authorization".into(),
            extras_header: "authorization-extras".into(),
            audience: String::new(),
            require_credentials: false,
            max_token_bytes: 16 * 1024,
            claims_cache_entries: 10_000,
            claims_cache_ttl: Duration::from_secs(300),
            record_decisions: None,
        }
    }
}

impl Default for PluginLimits {
    fn default() -> Self {
        PluginLimits {
            deadline: Duration::from_millis(100),
            memory: 16 << 20,
            fuel: None,
        }
    }
}

/// `tls:` — the keys are spelled as in Temporal's `global.tls` (camelCase), so a Temporal
/// config section can be copied. Empty strings and lists mean "not set", as there.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default, rename_all = "camelCase")]
pub struct TlsConfig {
    /// The public gRPC listener (SDKs, CLI).
    pub frontend: GroupTls,
    /// Service-to-service traffic: applies once services run in separate processes; all
    /// services share one process today, so it is validated but has no connection to guard.
    pub internode: GroupTls,
    /// How often certificate files are read again (a changed certificate or CA pool is used by
    /// the next handshakes); unset or `0s`: loaded once at start.
    #[serde(with = "duration_text")]
    pub refresh_interval: Option<Duration>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct GroupTls {
    pub server: ServerTls,
    pub client: ClientTls,
}

/// The listening side. TLS is on iff `keyFile` or `keyData` is set.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default, rename_all = "camelCase")]
pub struct ServerTls {
    /// PEM certificate chain (leaf first), a file (relative to the config file)…
    pub cert_file: String,
    /// …or the base64 of the PEM text.
    pub cert_data: String,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1), a file…
    pub key_file: String,
    /// …or the base64 of the PEM text.
    pub key_data: String,
    /// CA certificates (PEM files) that client certificates must chain to…
    pub client_ca_files: Vec<String>,
    /// …or base64 PEM blobs (each may hold several certificates).
    pub client_ca_data: Vec<String>,
    /// Ask every client for a certificate and verify it against the client CAs; when false no
    /// client certificate is requested at all (there is no "verify if presented" mode).
    pub require_client_auth: bool,
}

/// The dialling side. TLS is on iff a root CA is given or `forceTLS` is true.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default, rename_all = "camelCase")]
pub struct ClientTls {
    /// Name the server's certificate must carry (DNS SAN); also sent as SNI.
    pub server_name: String,
    /// Turns off all verification of the server's certificate (chain and name).
    pub disable_host_verification: bool,
    /// CA certificates (PEM files) the server's chain must lead to…
    pub root_ca_files: Vec<String>,
    /// …or base64 PEM blobs.
    pub root_ca_data: Vec<String>,
    /// Use TLS with the system's trust roots when no root CA is given.
    #[serde(rename = "forceTLS")]
    pub force_tls: bool,
}

impl ServerTls {
    /// Temporal's rule: a key turns TLS on; a certificate alone does not.
    pub fn enabled(&self) -> bool {
        !self.key_file.is_empty() || !self.key_data.is_empty()
    }
}

impl ClientTls {
    pub fn enabled(&self) -> bool {
        !self.root_ca_files.is_empty() || !self.root_ca_data.is_empty() || self.force_tls
    }
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    pub ip: String,
    pub port: u16,
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

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `error`, `warn`, `info`, `debug` or a tracing filter.
    pub level: String,
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
            source: None,
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            ip: "127.0.0.1".into(),
            port: 7233,
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
        }
    }
}

mod duration_text {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        let text = Option::<String>::deserialize(d)?;
        text.map(|t| {
            humantime::parse_duration(&t)
                .map_err(|e| serde::de::Error::custom(format!("invalid duration {t:?}: {e}")))
        })
        .transpose()
    }
}

mod duration_required {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let t = String::deserialize(d)?;
        humantime::parse_duration(&t)
            .map_err(|e| serde::de::Error::custom(format!("invalid duration {t:?}: {e}")))
    }
}

/// `16MiB`, `512KiB`, `1GiB`, `64MB` or a number of bytes.
mod byte_size {
    use serde::{Deserialize, Deserializer};

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Number(u64),
        Text(String),
    }

    pub fn parse(text: &str) -> Option<usize> {
        let t = text.trim();
        let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        let (num, unit) = t.split_at(split);
        let n: u64 = num.parse().ok()?;
        let mult: u64 = match unit.trim() {
            "" | "B" => 1,
            "KiB" => 1 << 10,
            "MiB" => 1 << 20,
            "GiB" => 1 << 30,
            "KB" | "kB" => 1000,
            "MB" => 1_000_000,
            "GB" => 1_000_000_000,
            _ => return None,
        };
        usize::try_from(n.checked_mul(mult)?).ok()
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
        match Raw::deserialize(d)? {
            Raw::Number(n) => usize::try_from(n).map_err(serde::de::Error::custom),
            Raw::Text(t) => parse(&t).ok_or_else(|| {
                serde::de::Error::custom(format!(
                    "invalid size {t:?}: use e.g. 16MiB, 512KiB or a number of bytes"
                ))
            }),
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

impl Config {
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
        self.validate_plugins()?;
        self.validate_tls()?;
        if let Some(listen) = &self.admin.listen
            && listen.parse::<std::net::SocketAddr>().is_err()
        {
            return invalid(
                "admin.listen",
                format!("{listen:?} is not an ip:port address"),
            );
        }
        if tracing_subscriber::EnvFilter::try_new(&self.log.level).is_err() {
            return invalid(
                "log.level",
                format!("{:?} is not a log level", self.log.level),
            );
        }
        Ok(())
    }
}

impl Config {
    fn validate_plugins(&self) -> Result<(), Error> {
        let invalid = |key: String, message: String| Err(Error::Invalid { key, message });
        let mut seen = std::collections::HashSet::new();
        for (i, p) in self.plugins.iter().enumerate() {
            let key = |k: &str| format!("plugins[{i}].{k}");
            if p.name.is_empty() {
                return invalid(key("name"), "must not be empty".into());
            }
            if !seen.insert(p.name.as_str()) {
                return invalid(key("name"), format!("{:?} is used by two plugins", p.name));
            }
            match p.kind.as_str() {
                "claim-mapper" | "authorizer" | "visibility-store" => {}
                "archiver" => {
                    return invalid(
                        key("kind"),
                        format!("{:?} plugins are not supported yet", p.kind),
                    );
                }
                other => {
                    return invalid(
                        key("kind"),
                        format!("{other:?}: use claim-mapper, authorizer or visibility-store"),
                    );
                }
            }
            match (&p.file, &p.builtin) {
                (Some(_), Some(_)) => {
                    return invalid(
                        key("builtin"),
                        "give either `file` or `builtin`, not both".into(),
                    );
                }
                (None, None) => {
                    return invalid(key("file"), "missing: give `file` or `builtin`".into());
                }
                (None, Some(b)) => match sundial_builtin_plugins::kind(b) {
                    None => {
                        let names: Vec<&str> = sundial_builtin_plugins::BUILTINS
                            .iter()
                            .map(|(n, _)| *n)
                            .collect();
                        return invalid(
                            key("builtin"),
                            format!(
                                "{b:?} is not a built-in plugin (there are: {})",
                                names.join(", ")
                            ),
                        );
                    }
                    Some(k) if k != p.kind => {
                        return invalid(
                            key("builtin"),
                            format!("{b:?} is a {k}, not a {}", p.kind),
                        );
                    }
                    Some(_) => {}
                },
                (Some(_), None) => {}
            }
            if p.limits.deadline.is_zero() {
                return invalid(key("limits.deadline"), "must be above zero".into());
            }
            if p.limits.memory < (1 << 20) || p.limits.memory > crate::plugins::MAX_PLUGIN_MEMORY {
                return invalid(
                    key("limits.memory"),
                    format!(
                        "must be between 1MiB and {}MiB",
                        crate::plugins::MAX_PLUGIN_MEMORY >> 20
                    ),
                );
            }
            if p.limits.fuel == Some(0) {
                return invalid(
                    key("limits.fuel"),
                    "must be above zero (omit it for no limit)".into(),
                );
            }
            for (j, h) in p.grants.http.iter().enumerate() {
                if h.is_empty() || h.contains('/') || h.contains('@') || h.contains(' ') {
                    return invalid(
                        key(&format!("grants.http[{j}]")),
                        format!("{h:?}: give a host or host:port, not a URL"),
                    );
                }
            }
            for (j, d) in p.grants.directories.iter().enumerate() {
                if !d.guest.starts_with('/') {
                    return invalid(
                        key(&format!("grants.directories[{j}].guest")),
                        format!("{:?}: must be an absolute path like /keys", d.guest),
                    );
                }
            }
        }
        let a = &self.authorization;
        for (field, wanted, name) in [
            (
                "authorization.claim_mapper",
                "claim-mapper",
                &a.claim_mapper,
            ),
            ("authorization.authorizer", "authorizer", &a.authorizer),
            (
                "persistence.visibility_store",
                "visibility-store",
                &self.persistence.visibility_store,
            ),
        ] {
            if let Some(name) = name {
                match self.plugins.iter().find(|p| &p.name == name) {
                    None => {
                        return invalid(
                            field.to_string(),
                            format!("no plugin named {name:?} in `plugins`"),
                        );
                    }
                    Some(p) if p.kind != wanted => {
                        return invalid(
                            field.to_string(),
                            format!("plugin {name:?} is a {}, not a {wanted}", p.kind),
                        );
                    }
                    Some(_) => {}
                }
            }
        }
        for (field, value) in [
            ("auth_header", &a.auth_header),
            ("extras_header", &a.extras_header),
        ] {
            if value.is_empty()
                || value.chars().any(|c| {
                    !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
                })
            {
                return invalid(
                    format!("authorization.{field}"),
                    format!("{value:?}: a lower-case gRPC header name"),
                );
            }
        }
        if a.max_token_bytes == 0 {
            return invalid(
                "authorization.max_token_bytes".into(),
                "must be above zero".into(),
            );
        }
        Ok(())
    }
}

impl Config {
    /// Shape checks only (no file is read here; certificates are loaded when the listener
    /// starts, and their errors are reported then).
    fn validate_tls(&self) -> Result<(), Error> {
        use base64::Engine as _;
        let invalid = |key: String, message: String| Err(Error::Invalid { key, message });
        let base64_ok = |text: &str| {
            base64::engine::general_purpose::STANDARD
                .decode(text.trim())
                .is_ok()
        };
        for (group, g) in [
            ("frontend", &self.tls.frontend),
            ("internode", &self.tls.internode),
        ] {
            let s = &g.server;
            let key = format!("tls.{group}.server");
            if !s.cert_file.is_empty() && !s.cert_data.is_empty() {
                return invalid(key, "certFile and certData cannot both be set".into());
            }
            if !s.key_file.is_empty() && !s.key_data.is_empty() {
                return invalid(key, "keyFile and keyData cannot both be set".into());
            }
            if !s.client_ca_files.is_empty() && !s.client_ca_data.is_empty() {
                return invalid(
                    key,
                    "clientCaFiles and clientCaData cannot both be set".into(),
                );
            }
            // Temporal silently serves plaintext in these cases; here they are errors.
            let has_cert = !s.cert_file.is_empty() || !s.cert_data.is_empty();
            if s.enabled() && !has_cert {
                return invalid(
                    key,
                    "a key is set but no certificate (certFile or certData)".into(),
                );
            }
            if !s.enabled() && has_cert {
                return invalid(
                    key,
                    "a certificate is set but no key (keyFile or keyData): TLS would stay off"
                        .into(),
                );
            }
            if s.require_client_auth && !s.enabled() {
                return invalid(
                    format!("{key}.requireClientAuth"),
                    "needs server TLS (certFile/keyFile or certData/keyData)".into(),
                );
            }
            let no_client_cas = s.client_ca_files.is_empty() && s.client_ca_data.is_empty();
            if s.require_client_auth && no_client_cas {
                return invalid(
                    format!("{key}.requireClientAuth"),
                    "needs clientCaFiles or clientCaData to verify client certificates against"
                        .into(),
                );
            }
            let c = &g.client;
            let ckey = format!("tls.{group}.client");
            if !c.root_ca_files.is_empty() && !c.root_ca_data.is_empty() {
                return invalid(ckey, "rootCaFiles and rootCaData cannot both be set".into());
            }
            for (field, list) in [
                ("server.clientCaFiles", &s.client_ca_files),
                ("server.clientCaData", &s.client_ca_data),
                ("client.rootCaFiles", &c.root_ca_files),
                ("client.rootCaData", &c.root_ca_data),
            ] {
                for (i, entry) in list.iter().enumerate() {
                    if entry.trim().is_empty() {
                        return invalid(
                            format!("tls.{group}.{field}[{i}]"),
                            "CA cannot be an empty string".into(),
                        );
                    }
                }
            }
            for (field, value) in [
                ("server.certData", &s.cert_data),
                ("server.keyData", &s.key_data),
            ] {
                if !value.is_empty() && !base64_ok(value) {
                    return invalid(
                        format!("tls.{group}.{field}"),
                        "not base64 (give the base64 of the PEM text)".into(),
                    );
                }
            }
            for (field, list) in [
                ("server.clientCaData", &s.client_ca_data),
                ("client.rootCaData", &c.root_ca_data),
            ] {
                for (i, entry) in list.iter().enumerate() {
                    if !base64_ok(entry) {
                        return invalid(
                            format!("tls.{group}.{field}[{i}]"),
                            "not base64 (give the base64 of the PEM text)".into(),
                        );
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each YAML text is refused (by parsing or validation) with an error naming the key and
    /// containing the words.
    fn assert_refused(cases: &[(&str, &str, &str)]) {
        for (yaml, key, words) in cases {
            let err = match Config::parse_yaml(yaml, "t.yaml") {
                Err(e) => e.to_string(),
                Ok(c) => c.validate().unwrap_err().to_string(),
            };
            assert!(err.contains(key), "{yaml}: {err}");
            assert!(err.contains(words), "{yaml}: {err}");
        }
    }

    #[test]
    fn shipped_examples_are_valid() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../config");
        let mut seen = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "yaml") {
                let text = std::fs::read_to_string(&path).unwrap();
                let config = Config::parse_yaml(&text, &path.display().to_string())
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                config
                    .validate()
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                seen += 1;
            }
        }
        assert!(seen >= 5, "the examples were not found in {dir}");
    }

    #[test]
    fn unknown_key_is_named() {
        let err = Config::parse_yaml("persistence:\n  urll: x\n", "t.yaml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("persistence"), "{err}");
        assert!(err.contains("urll"), "{err}");
    }

    #[test]
    fn parses_full_config() {
        let c = Config::parse_yaml(
            "server: {ip: 0.0.0.0, port: 7300}\npersistence: {url: 'postgres://localhost/test', num_history_shards: 8}\nnamespaces: [{name: a, retention: 72h}]\nlog: {level: debug}\n",
            "t.yaml",
        )
        .unwrap();
        assert_eq!(c.server.port, 7300);
        assert_eq!(
            c.namespaces[0].retention,
            Some(Duration::from_secs(72 * 3600))
        );
        c.validate().unwrap();
    }

    #[test]
    fn bad_values_are_named() {
        let mut c = Config::default();
        c.persistence.url = "redis://x".into();
        assert!(
            c.validate()
                .unwrap_err()
                .to_string()
                .contains("persistence.url")
        );
        let err = Config::parse_yaml("namespaces: [{name: a, retention: soon}]", "t.yaml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("namespaces[0].retention"), "{err}");
    }

    #[test]
    fn plugin_section_errors_name_the_key() {
        let cases = [
            (
                "plugins: [{name: a, kind: authorizer, fil: x.wasm}]",
                "plugins[0]",
                "fil",
            ),
            (
                "plugins: [{name: a, kind: authoriser, file: x.wasm}]",
                "plugins[0].kind",
                "authoriser",
            ),
            (
                "plugins: [{name: a, kind: authorizer}]",
                "plugins[0].file",
                "missing",
            ),
            (
                "plugins: [{name: a, kind: authorizer, builtin: jwt-claim-mapper}]",
                "plugins[0].builtin",
                "claim-mapper",
            ),
            (
                "plugins: [{name: a, kind: authorizer, builtin: nope}]",
                "plugins[0].builtin",
                "nope",
            ),
            (
                "plugins: [{name: a, kind: authorizer, file: a.wasm, limits: {memory: lots}}]",
                "plugins[0].limits.memory",
                "lots",
            ),
            (
                "plugins: [{name: a, kind: authorizer, file: a.wasm, limits: {deadline: 0s}}]",
                "plugins[0].limits.deadline",
                "above zero",
            ),
            (
                "plugins: [{name: a, kind: authorizer, file: a.wasm, grants: {http: ['http://x']}}]",
                "plugins[0].grants.http[0]",
                "not a URL",
            ),
            (
                "plugins: [{name: a, kind: authorizer, file: a.wasm, grants: {directories: [{host: ., guest: keys}]}}]",
                "plugins[0].grants.directories[0].guest",
                "absolute",
            ),
            (
                "plugins: [{name: a, kind: authorizer, file: a.wasm}, {name: a, kind: authorizer, file: b.wasm}]",
                "plugins[1].name",
                "two plugins",
            ),
            (
                "authorization: {authorizer: missing}",
                "authorization.authorizer",
                "no plugin",
            ),
            (
                "plugins: [{name: a, kind: authorizer, file: a.wasm}]\nauthorization: {claim_mapper: a}",
                "authorization.claim_mapper",
                "not a claim-mapper",
            ),
            (
                "authorization: {auth_header: Authorization}",
                "authorization.auth_header",
                "lower-case",
            ),
            ("admin: {listen: nowhere}", "admin.listen", "ip:port"),
            (
                "persistence: {visibility_store: files}",
                "persistence.visibility_store",
                "no plugin",
            ),
            (
                "plugins: [{name: a, kind: authorizer, file: a.wasm}]\npersistence: {visibility_store: a}",
                "persistence.visibility_store",
                "not a visibility-store",
            ),
            (
                "plugins: [{name: v, kind: visibility-store, builtin: nop-authorizer}]",
                "plugins[0].builtin",
                "is a authorizer",
            ),
        ];
        assert_refused(&cases);
        let ok = Config::parse_yaml(
            "plugins: [{name: jwt, kind: claim-mapper, builtin: jwt-claim-mapper, limits: {deadline: 2s, memory: 32MiB, fuel: 1000000}, grants: {http: ['127.0.0.1:8080']}, config: {key-source-uris: 'http://127.0.0.1:8080/jwks'}}, {name: authz, kind: authorizer, builtin: default-authorizer}]\nauthorization: {claim_mapper: jwt, authorizer: authz}\nadmin: {listen: '127.0.0.1:7244'}",
            "t.yaml",
        )
        .unwrap();
        ok.validate().unwrap();
        assert_eq!(ok.plugins[0].limits.memory, 32 << 20);
        assert_eq!(ok.plugins[0].limits.fuel, Some(1_000_000));
    }

    #[test]
    fn shipped_configs_are_valid() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config");
        let mut seen = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "yaml") {
                let c = Config::from_yaml(&path).unwrap_or_else(|e| panic!("{e}"));
                c.validate()
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                seen += 1;
            }
        }
        assert!(
            seen >= 3,
            "expected the shipped configs in {}",
            dir.display()
        );
    }

    #[test]
    fn tls_section_uses_temporal_spelling() {
        let c = Config::parse_yaml(
            "tls:\n  refreshInterval: 30s\n  frontend:\n    server: {certFile: s.pem, keyFile: s.key, clientCaFiles: [ca.pem], requireClientAuth: true}\n    client: {serverName: localhost, rootCaFiles: [ca.pem]}\n  internode:\n    server: {certData: YQ==, keyData: YQ==}\n    client: {forceTLS: true, disableHostVerification: true}\n",
            "t.yaml",
        )
        .unwrap();
        c.validate().unwrap();
        assert!(c.tls.frontend.server.enabled());
        assert!(c.tls.frontend.server.require_client_auth);
        assert!(c.tls.frontend.client.enabled());
        assert!(c.tls.internode.client.force_tls);
        assert_eq!(c.tls.refresh_interval, Some(Duration::from_secs(30)));
        assert!(!Config::default().tls.frontend.server.enabled());
    }

    #[test]
    fn tls_errors_name_the_key() {
        let cases = [
            (
                "tls: {frontend: {server: {clientCAFiles: [a]}}}",
                "tls.frontend.server",
                "clientCAFiles",
            ),
            (
                "tls: {frontend: {server: {certFile: a, certData: YQ==, keyFile: k}}}",
                "tls.frontend.server",
                "certFile and certData",
            ),
            (
                "tls: {internode: {server: {certFile: a, keyFile: k, keyData: YQ==}}}",
                "tls.internode.server",
                "keyFile and keyData",
            ),
            (
                "tls: {frontend: {server: {certFile: a, keyFile: k, clientCaFiles: [a], clientCaData: [YQ==]}}}",
                "tls.frontend.server",
                "clientCaFiles and clientCaData",
            ),
            (
                "tls: {frontend: {client: {rootCaFiles: [a], rootCaData: [YQ==]}}}",
                "tls.frontend.client",
                "rootCaFiles and rootCaData",
            ),
            (
                "tls: {frontend: {server: {certFile: a, keyFile: k, clientCaFiles: [' ']}}}",
                "tls.frontend.server.clientCaFiles[0]",
                "empty",
            ),
            (
                "tls: {internode: {client: {rootCaData: ['']}}}",
                "tls.internode.client.rootCaData[0]",
                "empty",
            ),
            (
                "tls: {frontend: {server: {certFile: a}}}",
                "tls.frontend.server",
                "no key",
            ),
            (
                "tls: {frontend: {server: {keyFile: k}}}",
                "tls.frontend.server",
                "no certificate",
            ),
            (
                "tls: {frontend: {server: {requireClientAuth: true}}}",
                "tls.frontend.server.requireClientAuth",
                "needs server TLS",
            ),
            (
                "tls: {frontend: {server: {certFile: a, keyFile: k, requireClientAuth: true}}}",
                "tls.frontend.server.requireClientAuth",
                "clientCaFiles",
            ),
            (
                "tls: {frontend: {server: {certData: '!!', keyFile: k}}}",
                "tls.frontend.server.certData",
                "base64",
            ),
            (
                "tls: {frontend: {client: {forceTls: true}}}",
                "tls.frontend.client",
                "forceTls",
            ),
            (
                "tls: {frontend: {hostOverrides: {}}}",
                "tls.frontend",
                "hostOverrides",
            ),
            (
                "tls: {refreshInterval: often}",
                "tls.refreshInterval",
                "often",
            ),
        ];
        assert_refused(&cases);
    }
}
