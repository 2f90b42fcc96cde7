//! Temporal's `global.metrics` keys: where Prometheus scrapes the server's metrics.

use serde::Deserialize;

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct GlobalConfig {
    pub metrics: MetricsConfig,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    pub prometheus: PrometheusConfig,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default, rename_all = "camelCase")]
pub struct PrometheusConfig {
    /// `ip:port` to serve the metrics on; none: not served (they stay on `admin.listen`'s
    /// `/metrics` when that is set).
    pub listen_address: Option<String>,
    /// The path Prometheus scrapes (Temporal's default `/metrics`).
    pub handler_path: String,
    /// Accepted as Temporal takes it: `tally` (its default), the only exposition served.
    pub framework: String,
}

impl Default for PrometheusConfig {
    fn default() -> Self {
        PrometheusConfig {
            listen_address: None,
            handler_path: "/metrics".into(),
            framework: String::new(),
        }
    }
}

impl super::Config {
    pub(super) fn validate_metrics(&self) -> Result<(), super::Error> {
        let p = &self.global.metrics.prometheus;
        let invalid = |key: &str, message: String| {
            Err(super::Error::Invalid {
                key: format!("global.metrics.prometheus.{key}"),
                message,
            })
        };
        if let Some(listen) = &p.listen_address
            && listen.parse::<std::net::SocketAddr>().is_err()
        {
            return invalid(
                "listenAddress",
                format!("{listen:?} is not an ip:port address"),
            );
        }
        if !p.handler_path.starts_with('/') {
            return invalid(
                "handlerPath",
                format!("{:?} must start with /", p.handler_path),
            );
        }
        if !matches!(p.framework.as_str(), "" | "tally") {
            return invalid(
                "framework",
                format!(
                    "{:?}: Sundial serves Temporal's default (tally) exposition only",
                    p.framework
                ),
            );
        }
        Ok(())
    }
}
