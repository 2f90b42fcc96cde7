//! Server configuration: defaults, then the YAML file, then CLI flags; `validate()` last.
//! Unknown keys are an error naming the key's path.

use std::path::Path;
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
        Self::parse_yaml(&text, &path.display().to_string())
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
        if tracing_subscriber::EnvFilter::try_new(&self.log.level).is_err() {
            return invalid(
                "log.level",
                format!("{:?} is not a log level", self.log.level),
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
