//! The limits in force, from the dynamic config with Temporal's keys and defaults. A global
//! key (`frontend.globalRPS`, `frontend.globalNamespaceRPS`, ...) above 0 is shared out between
//! the live frontends and replaces its per-frontend key.

use std::sync::Mutex;

use sundial_dynamic_config::{DynamicConfig, Scope, Setting, keys};

use super::priorities::Class;
use sundial_quotas::Quota;

/// Temporal's defaults.
const FRONTEND_RPS: f64 = 2400.0;
const NAMESPACE_CHANGE_HOST_RPS: f64 = 20.0;
const HOST_BURST_RATIO: f64 = 2.0;
const NAMESPACE_RPS: f64 = 2400.0;
const NAMESPACE_BURST_RATIO: f64 = 2.0;
pub const NAMESPACE_VISIBILITY_RPS: f64 = 10.0;
const NAMESPACE_VISIBILITY_BURST_RATIO: f64 = 1.0;
const NAMESPACE_CHANGE_RPS: f64 = 1.0;
const GLOBAL_NAMESPACE_CHANGE_RPS: f64 = 10.0;
const NAMESPACE_CHANGE_BURST_RATIO: f64 = 10.0;
const NAMESPACE_COUNT: f64 = 1200.0;
const OPERATOR_RPS_RATIO: f64 = 0.2;

/// The quotas of one scope (this frontend, or one namespace on it).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Limits {
    pub execution: Quota,
    pub visibility: Quota,
    pub namespace_change: Quota,
    pub operator_ratio: f64,
    /// Long-running calls at once, per method (namespaces only).
    pub concurrent: f64,
}

impl Limits {
    pub fn of(&self, class: Class) -> Quota {
        match class {
            Class::Execution => self.execution,
            Class::Visibility => self.visibility,
            Class::NamespaceChange => self.namespace_change,
        }
    }

    /// This frontend's limits.
    pub fn host(config: &DynamicConfig, frontends: usize) -> Limits {
        let read =
            |s: &Setting, default: f64| config.number(s, Scope::default()).unwrap_or(default);
        let rate = shared(
            read(&keys::FRONTEND_GLOBAL_RPS, 0.0),
            frontends,
            read(&keys::FRONTEND_RPS, FRONTEND_RPS),
        );
        let execution = Quota::with_burst_ratio(rate, HOST_BURST_RATIO);
        Limits {
            execution,
            visibility: execution,
            namespace_change: Quota::with_burst_ratio(
                read(
                    &keys::FRONTEND_NAMESPACE_CHANGE_RPS,
                    NAMESPACE_CHANGE_HOST_RPS,
                ),
                HOST_BURST_RATIO,
            ),
            operator_ratio: read(&keys::OPERATOR_RPS_RATIO, OPERATOR_RPS_RATIO),
            concurrent: f64::INFINITY,
        }
    }

    /// One namespace's limits on this frontend.
    pub fn namespace(config: &DynamicConfig, namespace: &str, frontends: usize) -> Limits {
        let scope = Scope::namespace(namespace);
        let read = |s: &Setting, default: f64| config.number(s, scope).unwrap_or(default);
        let quota = |global: &Setting,
                     global_default,
                     local: &Setting,
                     local_default,
                     ratio: &Setting,
                     ratio_default| {
            Quota::with_burst_ratio(
                shared(
                    read(global, global_default),
                    frontends,
                    read(local, local_default),
                ),
                read(ratio, ratio_default),
            )
        };
        Limits {
            execution: quota(
                &keys::GLOBAL_NAMESPACE_RPS,
                0.0,
                &keys::NAMESPACE_RPS,
                NAMESPACE_RPS,
                &keys::NAMESPACE_BURST_RATIO,
                NAMESPACE_BURST_RATIO,
            ),
            visibility: quota(
                &keys::GLOBAL_NAMESPACE_VISIBILITY_RPS,
                0.0,
                &keys::NAMESPACE_VISIBILITY_RPS,
                NAMESPACE_VISIBILITY_RPS,
                &keys::NAMESPACE_VISIBILITY_BURST_RATIO,
                NAMESPACE_VISIBILITY_BURST_RATIO,
            ),
            namespace_change: quota(
                &keys::GLOBAL_NAMESPACE_CHANGE_RPS,
                GLOBAL_NAMESPACE_CHANGE_RPS,
                &keys::NAMESPACE_CHANGE_RPS,
                NAMESPACE_CHANGE_RPS,
                &keys::NAMESPACE_CHANGE_BURST_RATIO,
                NAMESPACE_CHANGE_BURST_RATIO,
            ),
            operator_ratio: read(&keys::OPERATOR_RPS_RATIO, OPERATOR_RPS_RATIO),
            concurrent: shared(
                read(&keys::GLOBAL_NAMESPACE_COUNT, 0.0),
                frontends,
                read(&keys::NAMESPACE_COUNT, NAMESPACE_COUNT),
            ),
        }
    }
}

/// A global quota's share on one of `frontends` frontends, or the local quota when the global
/// one is 0.
fn shared(global: f64, frontends: usize, local: f64) -> f64 {
    if global > 0.0 {
        global / frontends.max(1) as f64
    } else {
        local
    }
}

/// Limits kept until the dynamic config or the number of frontends changes.
#[derive(Debug, Default)]
pub struct Cached {
    kept: Mutex<Option<(u64, usize, Limits)>>,
}

impl Cached {
    pub fn get(
        &self,
        config: &DynamicConfig,
        frontends: usize,
        compute: impl FnOnce() -> Limits,
    ) -> Limits {
        let generation = config.generation();
        let mut kept = self.kept.lock().unwrap();
        match *kept {
            Some((g, f, limits)) if g == generation && f == frontends => limits,
            _ => {
                let limits = compute();
                *kept = Some((generation, frontends, limits));
                limits
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use sundial_dynamic_config::Values;

    use super::*;

    #[test]
    fn temporal_s_defaults_and_a_namespace_s_own() {
        let config = DynamicConfig::new(Values::default());
        let host = Limits::host(&config, 1);
        assert_eq!(
            (host.execution.rate, host.execution.burst),
            (2400.0, 4800.0)
        );
        assert_eq!(host.namespace_change.rate, 20.0);
        let ns = Limits::namespace(&config, "default", 1);
        assert_eq!((ns.execution.rate, ns.execution.burst), (2400.0, 4800.0));
        assert_eq!((ns.visibility.rate, ns.visibility.burst), (10.0, 10.0));
        // The global default (10) wins over the local one (1), with a burst of ten times it.
        assert_eq!(
            (ns.namespace_change.rate, ns.namespace_change.burst),
            (10.0, 100.0)
        );
        assert_eq!(ns.concurrent, 1200.0);

        let config = DynamicConfig::new(
            Values::from_yaml(
                r#"
frontend.namespaceRPS:
  - value: 50
  - value: 5
    constraints: {namespace: noisy}
frontend.globalNamespaceRPS:
  - value: 30
    constraints: {namespace: shared}
frontend.namespaceBurstRatio:
  - value: 1.5
frontend.globalRPS:
  - value: 900
"#,
            )
            .unwrap(),
        );
        assert_eq!(
            Limits::namespace(&config, "default", 3).execution.rate,
            50.0
        );
        let noisy = Limits::namespace(&config, "noisy", 3).execution;
        assert_eq!((noisy.rate, noisy.burst), (5.0, 7.0));
        assert_eq!(Limits::namespace(&config, "shared", 3).execution.rate, 10.0);
        assert_eq!(Limits::host(&config, 3).execution.rate, 300.0);
    }
}
