//! Dynamic config values, as `temporal server start-dev --dynamic-config-value KEY=VALUE`
//! takes them (the value is YAML/JSON: `history.archivalProcessorArchiveDelay='"2s"'`). The
//! keys Sundial uses are applied; any other is kept in `ignored` and logged at start, so a
//! command line written for Temporal works here too.

use std::time::Duration;

use super::{Config, Error};

/// The settings dynamic config values change.
#[derive(Clone, Debug, PartialEq)]
pub struct DynamicSettings {
    /// `history.archivalProcessorArchiveDelay`: a run is archived within this long of its
    /// close (default 5 minutes).
    pub archive_delay: Duration,
    /// `sundial.testing.retentionOverride` (Sundial's own, for tests): closed runs are deleted
    /// this long after their close instead of after their namespace's retention.
    pub retention_override: Option<Duration>,
    /// Keys given that Sundial does not use.
    pub ignored: Vec<String>,
}

impl Default for DynamicSettings {
    fn default() -> Self {
        DynamicSettings {
            archive_delay: sundial_history::Options::default().archive_delay,
            retention_override: None,
            ignored: Vec::new(),
        }
    }
}

fn duration(key: &str, value: &serde_norway::Value) -> Result<Duration, Error> {
    let invalid = |message: String| Error::Invalid {
        key: key.to_string(),
        message,
    };
    match value {
        serde_norway::Value::String(text) => humantime::parse_duration(text)
            .map_err(|e| invalid(format!("invalid duration {text:?}: {e}"))),
        other => Err(invalid(format!(
            "{other:?} is not a duration: give a quoted string such as '\"2s\"'"
        ))),
    }
}

impl Config {
    /// Applies one `KEY=VALUE` dynamic config value.
    pub fn apply_dynamic_value(&mut self, pair: &str) -> Result<(), Error> {
        let Some((key, text)) = pair.split_once('=') else {
            return Err(Error::Invalid {
                key: "--dynamic-config-value".into(),
                message: format!("{pair:?}: give KEY=VALUE"),
            });
        };
        let key = key.trim();
        let value: serde_norway::Value =
            serde_norway::from_str(text).map_err(|e| Error::Invalid {
                key: key.to_string(),
                message: format!("{text:?} is not a YAML or JSON value: {e}"),
            })?;
        match key {
            "history.archivalProcessorArchiveDelay" => {
                self.dynamic.archive_delay = duration(key, &value)?;
            }
            "sundial.testing.retentionOverride" => {
                self.dynamic.retention_override = Some(duration(key, &value)?);
            }
            _ => self.dynamic.ignored.push(key.to_string()),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_keys_apply_and_others_are_kept_aside() {
        let mut c = Config::default();
        c.apply_dynamic_value("history.archivalProcessorArchiveDelay=\"2s\"")
            .unwrap();
        assert_eq!(c.dynamic.archive_delay, Duration::from_secs(2));
        c.apply_dynamic_value("sundial.testing.retentionOverride=\"3s\"")
            .unwrap();
        assert_eq!(c.dynamic.retention_override, Some(Duration::from_secs(3)));
        c.apply_dynamic_value("frontend.enableUpdateWorkflowExecution=true")
            .unwrap();
        assert_eq!(
            c.dynamic.ignored,
            ["frontend.enableUpdateWorkflowExecution"]
        );
        for (bad, words) in [
            ("no-equals", "give KEY=VALUE"),
            ("history.archivalProcessorArchiveDelay=5", "not a duration"),
            (
                "history.archivalProcessorArchiveDelay=\"soon\"",
                "invalid duration",
            ),
        ] {
            let e = c.apply_dynamic_value(bad).unwrap_err().to_string();
            assert!(e.contains(words), "{bad}: {e}");
        }
    }
}
