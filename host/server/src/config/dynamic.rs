//! Dynamic config: `--dynamic-config-value KEY=VALUE` flags, as `temporal server start-dev`
//! takes them (the value is YAML/JSON: `history.archivalProcessorArchiveDelay='"2s"'`), and
//! Temporal's dynamic-config file (`dynamicConfigClient: {filepath, pollInterval}`), read again
//! when it changes. The keys and their lookup live in `sundial-dynamic-config`; keys Sundial
//! does not use are kept aside and logged at start, so a setup written for Temporal works.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
pub use sundial_dynamic_config::Values;

use super::{Config, Error};

/// Where the dynamic-config file is, and how often it is looked at (Temporal's keys).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default, rename_all = "camelCase")]
pub struct DynamicConfigClient {
    pub filepath: Option<PathBuf>,
    #[serde(with = "super::units::duration_required")]
    pub poll_interval: Duration,
}

impl Default for DynamicConfigClient {
    fn default() -> Self {
        DynamicConfigClient {
            filepath: None,
            poll_interval: Duration::from_secs(10),
        }
    }
}

/// The shortest `pollInterval` Temporal allows.
const MIN_POLL_INTERVAL: Duration = Duration::from_secs(5);

/// Reads a dynamic-config file; the error names the file and the key.
pub fn read_file(path: &Path) -> Result<Values, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read dynamic config file {}: {e}", path.display()))?;
    Values::from_yaml(&text).map_err(|e| format!("dynamic config file {}: {e}", path.display()))
}

impl Config {
    /// Applies one `KEY=VALUE` dynamic config value.
    pub fn apply_dynamic_value(&mut self, pair: &str) -> Result<(), Error> {
        self.dynamic.add_flag(pair).map_err(|e| Error::Invalid {
            key: e.key,
            message: e.message,
        })
    }

    /// The dynamic-config file, resolved against the config file's directory.
    pub fn dynamic_config_file(&self) -> Option<PathBuf> {
        self.dynamic_config_client
            .filepath
            .as_ref()
            .map(|p| self.resolve(p))
    }

    /// What the flags and the file say now.
    pub fn dynamic_values(&self) -> Result<Values, String> {
        let file = match self.dynamic_config_file() {
            Some(path) => read_file(&path)?,
            None => Values::default(),
        };
        Ok(self.dynamic.clone().then(file))
    }

    pub(super) fn validate_dynamic(&self) -> Result<(), Error> {
        if self.dynamic_config_client.poll_interval < MIN_POLL_INTERVAL {
            return Err(Error::Invalid {
                key: "dynamicConfigClient.pollInterval".into(),
                message: format!(
                    "{} is shorter than 5s",
                    humantime::format_duration(self.dynamic_config_client.poll_interval)
                ),
            });
        }
        if let Some(path) = self.dynamic_config_file() {
            read_file(&path).map_err(|message| Error::Invalid {
                key: "dynamicConfigClient.filepath".into(),
                message,
            })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sundial_dynamic_config::{DynamicConfig, Scope, keys};

    #[test]
    fn flags_apply_and_bad_ones_name_their_key() {
        let mut c = Config::default();
        c.apply_dynamic_value("history.archivalProcessorArchiveDelay=\"2s\"")
            .unwrap();
        c.apply_dynamic_value("limit.historyCount.suggestContinueAsNew=50")
            .unwrap();
        c.apply_dynamic_value("frontend.enableUpdateWorkflowExecution=true")
            .unwrap();
        c.apply_dynamic_value("worker.buildIdScavengerEnabled=true")
            .unwrap();
        let values = c.dynamic_values().unwrap();
        assert_eq!(values.ignored, ["worker.buildIdScavengerEnabled"]);
        let live = DynamicConfig::new(values);
        assert_eq!(
            live.duration(&keys::ARCHIVE_DELAY, Scope::default()),
            Some(Duration::from_secs(2))
        );
        assert_eq!(
            live.int(&keys::SUGGEST_CAN_EVENTS, Scope::namespace("x")),
            Some(50)
        );
        for (bad, words) in [
            ("no-equals", "give KEY=VALUE"),
            (
                "history.archivalProcessorArchiveDelay=\"soon\"",
                "invalid duration",
            ),
            ("limit.historyCount.suggestContinueAsNew=0", "at least 1"),
            (
                "limit.historySize.suggestContinueAsNew=\"big\"",
                "whole number",
            ),
            (
                "system.enableEagerWorkflowStart=yes please",
                "true or false",
            ),
            (
                "frontend.activityAPIsEnabled=false",
                "cannot be switched off",
            ),
        ] {
            let e = c.apply_dynamic_value(bad).unwrap_err().to_string();
            assert!(e.contains(words), "{bad}: {e}");
        }
    }

    #[test]
    fn the_file_is_read_and_checked() {
        let dir = std::env::temp_dir().join(format!("sundial-dc-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("dc.yaml");
        std::fs::write(&file, "limit.maxIDLength:\n  - value: 200\n").unwrap();
        let yaml = format!(
            "dynamicConfigClient: {{filepath: {}, pollInterval: 5s}}",
            file.display()
        );
        let c = Config::parse_yaml(&yaml, "t.yaml").unwrap();
        c.validate().unwrap();
        let live = DynamicConfig::new(c.dynamic_values().unwrap());
        assert_eq!(live.int(&keys::MAX_ID_LENGTH, Scope::default()), Some(200));
        std::fs::write(&file, "limit.maxIDLength:\n  - value: -1\n").unwrap();
        let e = c.validate().unwrap_err().to_string();
        assert!(
            e.contains("dynamicConfigClient.filepath") && e.contains("limit.maxIDLength"),
            "{e}"
        );
        let c = Config::parse_yaml("dynamicConfigClient: {pollInterval: 1s}", "t.yaml").unwrap();
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("dynamicConfigClient.pollInterval"), "{e}");
        std::fs::remove_dir_all(&dir).ok();
    }
}
