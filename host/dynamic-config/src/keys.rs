//! The keys Sundial reads, with Temporal's names, and the kind of value each takes.

use std::time::Duration;

use serde_norway::Value;

use crate::{Error, error};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Bool,
    /// A whole number of at least 1.
    Count,
    /// A string such as `"10s"`, or a number of seconds.
    Duration,
    /// A number of at least 0 (a rate, a ratio, a limit).
    Number,
    /// A behaviour Sundial always has: `true` is taken, `false` refused.
    AlwaysOn,
    /// A list of strings.
    Strings,
}

/// One key Sundial reads.
#[derive(Clone, Copy, Debug)]
pub struct Setting {
    pub key: &'static str,
    pub kind: Kind,
}

const fn setting(key: &'static str, kind: Kind) -> Setting {
    Setting { key, kind }
}

pub const ARCHIVE_DELAY: Setting = setting("history.archivalProcessorArchiveDelay", Kind::Duration);
/// Sundial's own, for tests: closed runs are deleted this long after their close.
pub const RETENTION_OVERRIDE: Setting =
    setting("sundial.testing.retentionOverride", Kind::Duration);
pub const SUGGEST_CAN_EVENTS: Setting =
    setting("limit.historyCount.suggestContinueAsNew", Kind::Count);
pub const SUGGEST_CAN_BYTES: Setting =
    setting("limit.historySize.suggestContinueAsNew", Kind::Count);
pub const EAGER_WORKFLOW_START: Setting = setting("system.enableEagerWorkflowStart", Kind::Bool);
pub const CANCEL_POLLS_ON_SHUTDOWN: Setting =
    setting("frontend.enableCancelWorkerPollsOnShutdown", Kind::Bool);
/// How long a task-queue poll waits before answering empty.
pub const POLL_TIMEOUT: Setting = setting("matching.longPollExpirationInterval", Kind::Duration);
/// How long a history long poll (`wait_new_event`) waits.
pub const HISTORY_POLL_TIMEOUT: Setting =
    setting("history.longPollExpirationInterval", Kind::Duration);
/// Largest payload blob accepted, in bytes.
pub const BLOB_SIZE_LIMIT: Setting = setting("limit.blobSize.error", Kind::Count);
/// Longest id or name accepted.
pub const MAX_ID_LENGTH: Setting = setting("limit.maxIDLength", Kind::Count);
/// The `Host` headers the HTTP API answers (`*` matches any run of characters); none: all.
pub const HTTP_ALLOWED_HOSTS: Setting = setting("frontend.httpAllowedHosts", Kind::Strings);

/// Calls a second per frontend (`frontend.globalRPS`: across the cluster, split between
/// the frontends, when above 0).
pub const FRONTEND_RPS: Setting = setting("frontend.rps", Kind::Number);
pub const FRONTEND_GLOBAL_RPS: Setting = setting("frontend.globalRPS", Kind::Number);
/// Calls a second per frontend to RegisterNamespace, UpdateNamespace and versioning updates.
pub const FRONTEND_NAMESPACE_CHANGE_RPS: Setting = setting(
    "frontend.rps.namespaceReplicationInducingAPIs",
    Kind::Number,
);
/// Calls a second per namespace, and the burst as a ratio of the rate.
pub const NAMESPACE_RPS: Setting = setting("frontend.namespaceRPS", Kind::Number);
pub const GLOBAL_NAMESPACE_RPS: Setting = setting("frontend.globalNamespaceRPS", Kind::Number);
pub const NAMESPACE_BURST_RATIO: Setting = setting("frontend.namespaceBurstRatio", Kind::Number);
/// The same for the visibility calls (list, count, scan).
pub const NAMESPACE_VISIBILITY_RPS: Setting =
    setting("frontend.namespaceRPS.visibility", Kind::Number);
pub const GLOBAL_NAMESPACE_VISIBILITY_RPS: Setting =
    setting("frontend.globalNamespaceRPS.visibility", Kind::Number);
pub const NAMESPACE_VISIBILITY_BURST_RATIO: Setting =
    setting("frontend.namespaceBurstRatio.visibility", Kind::Number);
/// The same for the namespace-changing calls.
pub const NAMESPACE_CHANGE_RPS: Setting = setting(
    "frontend.namespaceRPS.namespaceReplicationInducingAPIs",
    Kind::Number,
);
pub const GLOBAL_NAMESPACE_CHANGE_RPS: Setting = setting(
    "frontend.globalNamespaceRPS.namespaceReplicationInducingAPIs",
    Kind::Number,
);
pub const NAMESPACE_CHANGE_BURST_RATIO: Setting = setting(
    "frontend.namespaceBurstRatio.namespaceReplicationInducingAPIs",
    Kind::Number,
);
/// Long-running calls (polls, queries, updates) at once per namespace and method.
pub const NAMESPACE_COUNT: Setting = setting("frontend.namespaceCount", Kind::Number);
pub const GLOBAL_NAMESPACE_COUNT: Setting = setting("frontend.globalNamespaceCount", Kind::Number);
/// The share of a rate that the operator's calls (priority 0) fill at.
pub const OPERATOR_RPS_RATIO: Setting = setting("system.operatorRPSRatio", Kind::Number);

/// Every key Sundial reads.
pub const ALL: &[Setting] = &[
    FRONTEND_RPS,
    FRONTEND_GLOBAL_RPS,
    FRONTEND_NAMESPACE_CHANGE_RPS,
    NAMESPACE_RPS,
    GLOBAL_NAMESPACE_RPS,
    NAMESPACE_BURST_RATIO,
    NAMESPACE_VISIBILITY_RPS,
    GLOBAL_NAMESPACE_VISIBILITY_RPS,
    NAMESPACE_VISIBILITY_BURST_RATIO,
    NAMESPACE_CHANGE_RPS,
    GLOBAL_NAMESPACE_CHANGE_RPS,
    NAMESPACE_CHANGE_BURST_RATIO,
    NAMESPACE_COUNT,
    GLOBAL_NAMESPACE_COUNT,
    OPERATOR_RPS_RATIO,
    ARCHIVE_DELAY,
    RETENTION_OVERRIDE,
    SUGGEST_CAN_EVENTS,
    SUGGEST_CAN_BYTES,
    EAGER_WORKFLOW_START,
    CANCEL_POLLS_ON_SHUTDOWN,
    POLL_TIMEOUT,
    HISTORY_POLL_TIMEOUT,
    BLOB_SIZE_LIMIT,
    MAX_ID_LENGTH,
    HTTP_ALLOWED_HOSTS,
    setting("frontend.enableUpdateWorkflowExecution", Kind::AlwaysOn),
    setting(
        "frontend.enableUpdateWorkflowExecutionAsyncAccepted",
        Kind::AlwaysOn,
    ),
    setting("frontend.enableExecuteMultiOperation", Kind::AlwaysOn),
    setting("frontend.activityAPIsEnabled", Kind::AlwaysOn),
    setting(
        "system.forceSearchAttributesCacheRefreshOnRead",
        Kind::AlwaysOn,
    ),
];

/// The key Sundial reads that `key` names (keys are case-insensitive); `None` for others.
pub fn setting_of(key: &str) -> Option<&'static Setting> {
    ALL.iter().find(|s| s.key.eq_ignore_ascii_case(key))
}

/// A key as Sundial spells it.
pub fn canonical(key: &str) -> Option<&'static str> {
    setting_of(key).map(|s| s.key)
}

impl Kind {
    /// Refuses a value of the wrong kind.
    pub fn check(self, key: &str, value: &Value) -> Result<(), Error> {
        match self {
            Kind::Bool => value
                .as_bool()
                .map(|_| ())
                .ok_or_else(|| error(key, format!("{value:?} is not true or false"))),
            Kind::Count => match value.as_i64() {
                Some(n) if n >= 1 => Ok(()),
                _ => Err(error(
                    key,
                    format!("{value:?} is not a whole number of at least 1"),
                )),
            },
            Kind::Number => match value.as_f64() {
                Some(n) if n >= 0.0 && n.is_finite() => Ok(()),
                _ => Err(error(
                    key,
                    format!("{value:?} is not a number of at least 0"),
                )),
            },
            Kind::Duration => duration(value).map(|_| ()).map_err(|m| error(key, m)),
            Kind::AlwaysOn => match value.as_bool() {
                Some(true) => Ok(()),
                Some(false) => Err(error(
                    key,
                    "Sundial always has this on; it cannot be switched off",
                )),
                None => Err(error(key, format!("{value:?} is not true or false"))),
            },
            Kind::Strings => match value.as_sequence() {
                Some(items) if items.iter().all(Value::is_string) => Ok(()),
                _ => Err(error(key, format!("{value:?} is not a list of strings"))),
            },
        }
    }
}

/// A duration as Temporal takes one: a string such as `"10s"`, or a number of seconds.
pub fn duration(value: &Value) -> Result<Duration, String> {
    match value {
        Value::String(text) => {
            humantime::parse_duration(text).map_err(|e| format!("invalid duration {text:?}: {e}"))
        }
        Value::Number(n) => match n.as_u64() {
            Some(seconds) => Ok(Duration::from_secs(seconds)),
            None => Err(format!("{n} is not a number of seconds")),
        },
        other => Err(format!(
            "{other:?} is not a duration: give a quoted string such as '\"2s\"'"
        )),
    }
}
