//! The server's live dynamic config: the flags and the file at start, then the file read
//! again whenever it changes (every `dynamicConfigClient.pollInterval`). A file that no longer
//! reads, or names a bad value, is reported naming the key and changes nothing; the gauge
//! `dynamic_config_update_failure` (Temporal's) is 1 until a good version is read.

use std::sync::Arc;
use std::time::SystemTime;

use anyhow::Context;
use sundial_dynamic_config::{DynamicConfig, Scope, Values, keys};

use crate::config::{Config, read_dynamic_config};

/// The live dynamic config, watched for changes when a file is configured.
pub fn load(
    config: &Config,
    registry: &prometheus::Registry,
) -> anyhow::Result<Arc<DynamicConfig>> {
    let values = config
        .dynamic_values()
        .map_err(anyhow::Error::msg)
        .context("dynamic config")?;
    report(&values);
    let live = Arc::new(DynamicConfig::new(values));
    let failure = prometheus::IntGauge::new(
        "dynamic_config_update_failure",
        "1 while the dynamic-config file's last change could not be read",
    )?;
    registry.register(Box::new(failure.clone()))?;
    if let Some(path) = config.dynamic_config_file() {
        let flags = config.dynamic.clone();
        let interval = config.dynamic_config_client.poll_interval;
        let watched = live.clone();
        tracing::info!(file = %path.display(), every = %humantime::format_duration(interval), "watching the dynamic config file");
        tokio::spawn(async move {
            let mut seen = modified(&path);
            loop {
                tokio::time::sleep(interval).await;
                let now = modified(&path);
                if now == seen {
                    continue;
                }
                seen = now;
                match read_dynamic_config(&path) {
                    Ok(file) => {
                        let values = flags.clone().then(file);
                        report(&values);
                        watched.set(values);
                        failure.set(0);
                        tracing::info!(file = %path.display(), "dynamic config reloaded");
                    }
                    Err(e) => {
                        failure.set(1);
                        tracing::error!(error = %e, "dynamic config not reloaded; the previous values stay");
                    }
                }
            }
        });
    }
    Ok(live)
}

fn modified(path: &std::path::Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// Logs the keys Sundial does not use, and its test-only key.
fn report(values: &Values) {
    for key in &values.ignored {
        tracing::warn!(key = %key, "dynamic config key not used by Sundial; ignored");
    }
    let live = DynamicConfig::new(values.clone());
    if let Some(after) = live.duration(&keys::RETENTION_OVERRIDE, Scope::default()) {
        tracing::warn!(
            after = %humantime::format_duration(after),
            "sundial.testing.retentionOverride: closed runs are deleted this long after their \
             close, whatever their namespace's retention"
        );
    }
}
