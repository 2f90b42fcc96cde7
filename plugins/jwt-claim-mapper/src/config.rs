//! The mapper's config values (the `config` map of the plugin in the server's YAML).

use std::time::Duration;

use regex::Regex;
use sundial_plugin_sdk::permissions::PermissionOptions;

use crate::cache::KeySources;

pub const KEY_SOURCE_URIS: &str = "key-source-uris";
pub const REFRESH_INTERVAL: &str = "refresh-interval";
pub const UNKNOWN_KID_REFRESH: &str = "unknown-kid-refresh";
pub const LEEWAY: &str = "leeway";
pub const PERMISSIONS_CLAIM_NAME: &str = "permissions-claim-name";
pub const PERMISSIONS_REGEX: &str = "permissions-regex";
pub const SYSTEM_ALIAS: &str = "system-alias";

pub const DEFAULT_REFRESH_INTERVAL: Duration = Duration::from_secs(60);
pub const DEFAULT_UNKNOWN_KID_REFRESH: Duration = Duration::from_secs(1);
pub const DEFAULT_LEEWAY_SECS: u64 = 5;
pub const DEFAULT_PERMISSIONS_CLAIM_NAME: &str = "permissions";

/// How permission strings are taken apart.
#[derive(Clone, Debug)]
pub enum PermissionSyntax {
    /// `<namespace>:<word>`, split at the first `:`.
    Colon,
    /// The first match's `namespace` and `role` groups; entries that do not match are skipped.
    Regex(Regex),
}

#[derive(Clone, Debug)]
pub struct Config {
    pub sources: KeySources,
    pub rules: TokenRules,
}

/// What [`crate::token::verify`] needs besides the token and the key.
#[derive(Clone, Debug)]
pub struct TokenRules {
    pub leeway_secs: u64,
    pub permissions_claim_name: String,
    pub syntax: PermissionSyntax,
    pub permission_options: PermissionOptions,
}

impl Default for TokenRules {
    fn default() -> Self {
        TokenRules {
            leeway_secs: DEFAULT_LEEWAY_SECS,
            permissions_claim_name: DEFAULT_PERMISSIONS_CLAIM_NAME.into(),
            syntax: PermissionSyntax::Colon,
            permission_options: PermissionOptions::default(),
        }
    }
}

impl Config {
    /// Reads the config through `get` (the host's `config`). A value that cannot be used is an
    /// error (the mapper then refuses every token, naming the key), except a bad
    /// `permissions-regex`, which falls back to colon syntax with a warning as Temporal does.
    pub fn load(
        get: impl Fn(&str) -> Option<String>,
        warn: impl Fn(&str),
    ) -> Result<Config, String> {
        let bad = |key: &str, e: String| format!("invalid config {key:?}: {e}");
        let duration = |key: &str, default: Duration| -> Result<Duration, String> {
            match get(key) {
                None => Ok(default),
                Some(v) => parse_duration(&v).map_err(|e| bad(key, e)),
            }
        };

        let key_source_uris: Vec<String> = get(KEY_SOURCE_URIS)
            .unwrap_or_default()
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        if key_source_uris.is_empty() {
            warn("no key-source-uris configured: every token will be refused (unknown key id)");
        }
        let refresh = duration(REFRESH_INTERVAL, DEFAULT_REFRESH_INTERVAL)?;
        let unknown_kid_refresh = duration(UNKNOWN_KID_REFRESH, DEFAULT_UNKNOWN_KID_REFRESH)?;
        let leeway = duration(LEEWAY, Duration::from_secs(DEFAULT_LEEWAY_SECS))?;

        let system_alias = match get(SYSTEM_ALIAS) {
            None => true,
            Some(v) if v.trim().eq_ignore_ascii_case("true") => true,
            Some(v) if v.trim().eq_ignore_ascii_case("false") => false,
            Some(v) => {
                return Err(bad(
                    SYSTEM_ALIAS,
                    format!("{v:?} is neither true nor false"),
                ));
            }
        };

        let syntax = match get(PERMISSIONS_REGEX).filter(|r| !r.is_empty()) {
            None => PermissionSyntax::Colon,
            Some(pattern) => match Regex::new(&pattern) {
                Ok(re) => {
                    let names: Vec<&str> = re.capture_names().flatten().collect();
                    if names.contains(&"namespace") && names.contains(&"role") {
                        PermissionSyntax::Regex(re)
                    } else {
                        warn(
                            "permissions-regex has no `namespace` and `role` groups; using <namespace>:<role>",
                        );
                        PermissionSyntax::Colon
                    }
                }
                Err(e) => {
                    warn(&format!(
                        "permissions-regex does not compile ({e}); using <namespace>:<role>"
                    ));
                    PermissionSyntax::Colon
                }
            },
        };

        Ok(Config {
            sources: KeySources {
                uris: key_source_uris,
                refresh_interval: (!refresh.is_zero()).then_some(refresh),
                unknown_kid_refresh,
            },
            rules: TokenRules {
                leeway_secs: leeway.as_secs(),
                permissions_claim_name: get(PERMISSIONS_CLAIM_NAME)
                    .filter(|n| !n.is_empty())
                    .unwrap_or_else(|| DEFAULT_PERMISSIONS_CLAIM_NAME.into()),
                syntax,
                permission_options: PermissionOptions { system_alias },
            },
        })
    }
}

/// `90` (seconds), `500ms`, `60s`, `5m`, `1h`, or a sequence like `1h30m`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("empty duration".into());
    }
    if let Ok(secs) = text.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    let mut total = Duration::ZERO;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(format!("{text:?} is not a duration (e.g. 90, 60s, 5m, 1h)"));
        }
        let n: u64 = rest[..digits]
            .parse()
            .map_err(|_| format!("{text:?}: number too large"))?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = match &rest[..unit_len] {
            "ms" => Duration::from_millis(1),
            "s" => Duration::from_secs(1),
            "m" => Duration::from_secs(60),
            "h" => Duration::from_secs(3600),
            u => return Err(format!("{text:?}: unknown unit {u:?} (ms, s, m, h)")),
        };
        rest = &rest[unit_len..];
        total = unit
            .checked_mul(u32::try_from(n).map_err(|_| format!("{text:?}: number too large"))?)
            .and_then(|d| total.checked_add(d))
            .ok_or_else(|| format!("{text:?}: too long"))?;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn load(pairs: &[(&str, &str)]) -> Result<Config, String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::load(|k| map.get(k).cloned(), |_| {})
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("60s"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration(" 1h30m "), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        for bad in ["", "s", "5d", "1.5s", "-1", "m5"] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn defaults() {
        let c = load(&[]).unwrap();
        assert!(c.sources.uris.is_empty());
        assert_eq!(c.sources.refresh_interval, Some(Duration::from_secs(60)));
        assert_eq!(c.sources.unknown_kid_refresh, Duration::from_secs(1));
        assert_eq!(c.rules.leeway_secs, 5);
        assert_eq!(c.rules.permissions_claim_name, "permissions");
        assert!(matches!(c.rules.syntax, PermissionSyntax::Colon));
        assert!(c.rules.permission_options.system_alias);
    }

    #[test]
    fn values() {
        let c = load(&[
            (
                KEY_SOURCE_URIS,
                "https://a/jwks.json, file:///keys/b.json\n  http://c/k",
            ),
            (REFRESH_INTERVAL, "0"),
            (UNKNOWN_KID_REFRESH, "250ms"),
            (LEEWAY, "30"),
            (PERMISSIONS_CLAIM_NAME, "roles"),
            (PERMISSIONS_REGEX, "^(?P<role>\\w+):(?P<namespace>.+)$"),
            (SYSTEM_ALIAS, "False"),
        ])
        .unwrap();
        assert_eq!(
            c.sources.uris,
            ["https://a/jwks.json", "file:///keys/b.json", "http://c/k"]
        );
        assert_eq!(c.sources.refresh_interval, None);
        assert_eq!(c.sources.unknown_kid_refresh, Duration::from_millis(250));
        assert_eq!(c.rules.leeway_secs, 30);
        assert_eq!(c.rules.permissions_claim_name, "roles");
        assert!(matches!(c.rules.syntax, PermissionSyntax::Regex(_)));
        assert!(!c.rules.permission_options.system_alias);
    }

    #[test]
    fn bad_values_name_the_key() {
        let e = load(&[(REFRESH_INTERVAL, "soon")]).unwrap_err();
        assert!(e.contains("refresh-interval"), "{e}");
        let e = load(&[(SYSTEM_ALIAS, "maybe")]).unwrap_err();
        assert!(e.contains("system-alias"), "{e}");
        let e = load(&[(LEEWAY, "-5")]).unwrap_err();
        assert!(e.contains("leeway"), "{e}");
    }

    #[test]
    fn unusable_regex_falls_back_to_colon() {
        let c = load(&[(PERMISSIONS_REGEX, "(")]).unwrap();
        assert!(matches!(c.rules.syntax, PermissionSyntax::Colon));
        let c = load(&[(PERMISSIONS_REGEX, "(?P<namespace>.*)")]).unwrap();
        assert!(matches!(c.rules.syntax, PermissionSyntax::Colon));
    }
}
