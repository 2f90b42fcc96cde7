//! `authorization:`, `plugins:` and `admin:`: what the plugins are and who may call what.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::units::{byte_size, byte_size_opt, duration_required, duration_text};
use super::{Config, Error};

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
    /// Past this size (e.g. `64MiB`) the record starts a new file; the full one is kept as
    /// `<file>.1`, older ones shift up to `<file>.<record_decisions_keep>`.
    #[serde(with = "byte_size")]
    pub record_decisions_max_size: usize,
    /// How many full records are kept beside the current one (0: none).
    pub record_decisions_keep: usize,
}

/// One plugin component.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PluginConfig {
    pub name: String,
    /// `claim-mapper`, `authorizer`, `visibility-store` or `archiver`.
    pub kind: String,
    /// The archival URI schemes an `archiver` serves, e.g. `[s3]`.
    #[serde(default)]
    pub schemes: Vec<String>,
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
            schemes: Vec::new(),
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

/// Unset limits take the defaults of the plugin's kind ([`PluginConfig::deadline`],
/// [`PluginConfig::memory`]).
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct PluginLimits {
    /// Wall-clock budget of one call, e.g. `100ms`.
    #[serde(deserialize_with = "duration_text::deserialize")]
    pub deadline: Option<Duration>,
    /// Memory cap, e.g. `16MiB`.
    #[serde(deserialize_with = "byte_size_opt::deserialize")]
    pub memory: Option<usize>,
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
            record_decisions_max_size: 64 << 20,
            record_decisions_keep: 3,
        }
    }
}

impl PluginConfig {
    fn archiver(&self) -> bool {
        self.kind == "archiver"
    }

    /// The call deadline: as set, else 100ms (an archiver moves whole histories over the
    /// network: 30s).
    pub fn deadline(&self) -> Duration {
        let default = match self.archiver() {
            true => Duration::from_secs(30),
            false => Duration::from_millis(100),
        };
        self.limits.deadline.unwrap_or(default)
    }

    /// The memory cap: as set, else 16MiB (an archiver: 64MiB).
    pub fn memory(&self) -> usize {
        let default = match self.archiver() {
            true => 64 << 20,
            false => 16 << 20,
        };
        self.limits.memory.unwrap_or(default)
    }
}

impl Config {
    pub(super) fn validate_plugins(&self) -> Result<(), Error> {
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
                "claim-mapper" | "authorizer" | "visibility-store" | "archiver" => {}
                other => {
                    return invalid(
                        key("kind"),
                        format!(
                            "{other:?}: use claim-mapper, authorizer, visibility-store or archiver"
                        ),
                    );
                }
            }
            self.validate_schemes(i, p)?;
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
            if p.deadline().is_zero() {
                return invalid(key("limits.deadline"), "must be above zero".into());
            }
            if p.memory() < (1 << 20) || p.memory() > crate::plugins::MAX_PLUGIN_MEMORY {
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
        if a.record_decisions_max_size < 1024 {
            return invalid(
                "authorization.record_decisions_max_size".into(),
                format!(
                    "{} bytes: at least 1KiB (one recorded decision holds its request)",
                    a.record_decisions_max_size
                ),
            );
        }
        Ok(())
    }
}

impl Config {
    /// An archiver names the URI schemes it serves (each served once); other kinds none.
    fn validate_schemes(&self, i: usize, p: &PluginConfig) -> Result<(), Error> {
        let key = format!("plugins[{i}].schemes");
        let invalid = |message: String| {
            Err(Error::Invalid {
                key: key.clone(),
                message,
            })
        };
        if !p.archiver() {
            if !p.schemes.is_empty() {
                return invalid("only an archiver serves URI schemes".into());
            }
            return Ok(());
        }
        if p.schemes.is_empty() {
            return invalid("an archiver must serve at least one URI scheme, e.g. [s3]".into());
        }
        for scheme in &p.schemes {
            let mut chars = scheme.chars();
            let well_formed = chars.next().is_some_and(|c| c.is_ascii_lowercase())
                && chars.all(|c| {
                    c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '+' | '-' | '.')
                });
            if !well_formed {
                return invalid(format!(
                    "{scheme:?} is not a URI scheme (lower-case letters, digits, + - .)"
                ));
            }
            let earlier = self.plugins[..i]
                .iter()
                .find(|o| o.archiver() && o.schemes.contains(scheme));
            if let Some(o) = earlier {
                return invalid(format!(
                    "{scheme:?} is served by plugin {:?} already",
                    o.name
                ));
            }
        }
        Ok(())
    }

    /// The URI schemes archiver plugins serve, with the plugin serving each.
    pub fn archiver_schemes(&self) -> Vec<(&str, &str)> {
        self.plugins
            .iter()
            .filter(|p| p.archiver())
            .flat_map(|p| p.schemes.iter().map(|s| (s.as_str(), p.name.as_str())))
            .collect()
    }
}
