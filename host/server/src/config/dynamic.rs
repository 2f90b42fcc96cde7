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
    /// `limit.historyCount.suggestContinueAsNew`: a workflow task started at or past this many
    /// events suggests continue-as-new (default 4096).
    pub suggest_continue_as_new_events: i64,
    /// `limit.historySize.suggestContinueAsNew`: likewise for the history's size in bytes
    /// (default 4 MiB).
    pub suggest_continue_as_new_bytes: i64,
    /// `system.enableEagerWorkflowStart`: a start that asks for it gets its first workflow
    /// task in the response (default true).
    pub eager_workflow_start: bool,
    /// `frontend.enableCancelWorkerPollsOnShutdown`: ShutdownWorker ends the worker's waiting
    /// polls, and namespaces advertise `workerPollCompleteOnShutdown` (default false).
    pub cancel_polls_on_shutdown: bool,
    /// Keys given that Sundial does not use.
    pub ignored: Vec<String>,
}

impl Default for DynamicSettings {
    fn default() -> Self {
        let engine = sundial_history::Options::default();
        DynamicSettings {
            archive_delay: engine.archive_delay,
            retention_override: None,
            suggest_continue_as_new_events: engine.suggest_continue_as_new_events,
            suggest_continue_as_new_bytes: engine.suggest_continue_as_new_bytes,
            eager_workflow_start: true,
            cancel_polls_on_shutdown: engine.cancel_polls_on_shutdown,
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

fn count(key: &str, value: &serde_norway::Value) -> Result<i64, Error> {
    match value.as_i64() {
        Some(n) if n >= 1 => Ok(n),
        _ => Err(Error::Invalid {
            key: key.to_string(),
            message: format!("{value:?} is not a whole number of at least 1"),
        }),
    }
}

fn flag(key: &str, value: &serde_norway::Value) -> Result<bool, Error> {
    value.as_bool().ok_or_else(|| Error::Invalid {
        key: key.to_string(),
        message: format!("{value:?} is not true or false"),
    })
}

/// Temporal keys for behaviours Sundial always has (their production default is on): given
/// `true` they are accepted quietly; `false` is refused, since Sundial cannot switch them off.
const ALWAYS_ON: &[&str] = &[
    "frontend.enableUpdateWorkflowExecution",
    "frontend.enableUpdateWorkflowExecutionAsyncAccepted",
    "frontend.enableExecuteMultiOperation",
    "frontend.activityAPIsEnabled",
    "system.forceSearchAttributesCacheRefreshOnRead",
];

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
            "limit.historyCount.suggestContinueAsNew" => {
                self.dynamic.suggest_continue_as_new_events = count(key, &value)?;
            }
            "limit.historySize.suggestContinueAsNew" => {
                self.dynamic.suggest_continue_as_new_bytes = count(key, &value)?;
            }
            "system.enableEagerWorkflowStart" => {
                self.dynamic.eager_workflow_start = flag(key, &value)?;
            }
            "frontend.enableCancelWorkerPollsOnShutdown" => {
                self.dynamic.cancel_polls_on_shutdown = flag(key, &value)?;
            }
            _ if ALWAYS_ON.contains(&key) => {
                if !flag(key, &value)? {
                    return Err(Error::Invalid {
                        key: key.to_string(),
                        message: "Sundial always has this on; it cannot be switched off".into(),
                    });
                }
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
        c.apply_dynamic_value("limit.historyCount.suggestContinueAsNew=50")
            .unwrap();
        assert_eq!(c.dynamic.suggest_continue_as_new_events, 50);
        assert_eq!(c.dynamic.suggest_continue_as_new_bytes, 4 * 1024 * 1024);
        c.apply_dynamic_value("system.enableEagerWorkflowStart=false")
            .unwrap();
        assert!(!c.dynamic.eager_workflow_start);
        assert!(!c.dynamic.cancel_polls_on_shutdown);
        c.apply_dynamic_value("frontend.enableCancelWorkerPollsOnShutdown=true")
            .unwrap();
        assert!(c.dynamic.cancel_polls_on_shutdown);
        c.apply_dynamic_value("frontend.enableUpdateWorkflowExecution=true")
            .unwrap();
        c.apply_dynamic_value("worker.buildIdScavengerEnabled=true")
            .unwrap();
        assert_eq!(c.dynamic.ignored, ["worker.buildIdScavengerEnabled"]);
        for (bad, words) in [
            ("no-equals", "give KEY=VALUE"),
            ("history.archivalProcessorArchiveDelay=5", "not a duration"),
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
}
