//! `archival:` and `namespaceDefaults:`, with Temporal's keys: whether the cluster archives
//! histories and visibility records, whether it reads them back, the file archiver's modes,
//! and what a new namespace gets. Validated with Temporal's rules; each error names its key.

use std::sync::Arc;

use serde::Deserialize;
use sundial_archival::{FileArchiver, FileModes, KindSettings, Settings};

use super::{Config, Error};

/// `archival:`
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ArchivalConfig {
    pub history: ArchivalKindConfig,
    pub visibility: ArchivalKindConfig,
}

/// `archival.history` / `archival.visibility`
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default, rename_all = "camelCase")]
pub struct ArchivalKindConfig {
    /// `enabled`, `disabled`, `paused` (behaves as disabled) or empty (disabled).
    pub state: String,
    /// Archived records are read back (GetWorkflowExecutionHistory, ListArchived...).
    pub enable_read: bool,
    pub provider: Option<ArchiverProviderConfig>,
}

/// `archival.<kind>.provider`
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ArchiverProviderConfig {
    /// The built-in `file` archiver's settings.
    pub filestore: Option<FilestoreConfig>,
}

/// `archival.<kind>.provider.filestore`
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default, rename_all = "camelCase")]
pub struct FilestoreConfig {
    /// Octal, e.g. `"0666"`.
    pub file_mode: Option<String>,
    /// Octal, e.g. `"0766"`.
    pub dir_mode: Option<String>,
}

/// `namespaceDefaults:`
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct NamespaceDefaultsConfig {
    pub archival: NamespaceArchivalDefaults,
}

/// `namespaceDefaults.archival`
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct NamespaceArchivalDefaults {
    pub history: NamespaceArchivalDefault,
    pub visibility: NamespaceArchivalDefault,
}

/// `namespaceDefaults.archival.<kind>`
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct NamespaceArchivalDefault {
    /// `enabled` or `disabled` (empty: disabled).
    pub state: String,
    #[serde(rename = "URI")]
    pub uri: String,
}

impl ArchivalConfig {
    /// Temporal's development server settings: both kinds archived and read with the file
    /// archiver, off for namespaces unless they turn it on.
    pub fn development() -> (ArchivalConfig, NamespaceDefaultsConfig) {
        let kind = || ArchivalKindConfig {
            state: "enabled".into(),
            enable_read: true,
            provider: Some(ArchiverProviderConfig {
                filestore: Some(FilestoreConfig {
                    file_mode: Some("0666".into()),
                    dir_mode: Some("0766".into()),
                }),
            }),
        };
        let default = |uri: &str| NamespaceArchivalDefault {
            state: "disabled".into(),
            uri: uri.into(),
        };
        (
            ArchivalConfig {
                history: kind(),
                visibility: kind(),
            },
            NamespaceDefaultsConfig {
                archival: NamespaceArchivalDefaults {
                    history: default("file:///tmp/sundial_archival/development"),
                    visibility: default("file:///tmp/sundial_vis_archival/development"),
                },
            },
        )
    }
}

fn octal(key: String, text: &Option<String>, default: u32) -> Result<u32, Error> {
    let Some(text) = text else {
        return Ok(default);
    };
    let digits = text.strip_prefix("0o").unwrap_or(text);
    match u32::from_str_radix(digits, 8) {
        Ok(mode) if mode <= 0o7777 => Ok(mode),
        _ => Err(Error::Invalid {
            key,
            message: format!("{text:?} is not an octal file mode like \"0666\""),
        }),
    }
}

impl Config {
    pub(super) fn validate_archival(&self) -> Result<(), Error> {
        self.archival_settings().map(drop)
    }

    /// The archival settings the server runs with: every rule of `validate` is checked here.
    pub fn archival_settings(&self) -> Result<Settings, Error> {
        let mut settings = Settings::default();
        let mut modes = FileModes::default();
        let defaults = &self.namespace_defaults.archival;
        for (name, kind, default) in [
            ("history", &self.archival.history, &defaults.history),
            (
                "visibility",
                &self.archival.visibility,
                &defaults.visibility,
            ),
        ] {
            let invalid = |key: String, message: String| Err(Error::Invalid { key, message });
            let state_key = format!("archival.{name}.state");
            let enabled = match kind.state.to_ascii_lowercase().as_str() {
                "enabled" => true,
                "" | "disabled" | "paused" => false,
                other => {
                    return invalid(
                        state_key,
                        format!("{other:?}: use enabled, disabled or paused"),
                    );
                }
            };
            let default_key = format!("namespaceDefaults.archival.{name}");
            let default_enabled = match default.state.to_ascii_lowercase().as_str() {
                "enabled" => true,
                "" | "disabled" => false,
                other => {
                    return invalid(
                        format!("{default_key}.state"),
                        format!("{other:?}: use enabled or disabled"),
                    );
                }
            };
            if enabled {
                if default.uri.is_empty() {
                    return invalid(
                        format!("{default_key}.URI"),
                        format!("must be set when {state_key} is enabled"),
                    );
                }
                if let Err(e) = sundial_archival::Uri::parse(&default.uri) {
                    return invalid(format!("{default_key}.URI"), e.to_string());
                }
            } else {
                let needs =
                    |key: &str| invalid(key.to_string(), format!("needs {state_key}: enabled"));
                if kind.enable_read {
                    return needs(&format!("archival.{name}.enableRead"));
                }
                if default_enabled {
                    return needs(&format!("{default_key}.state"));
                }
                if !default.uri.is_empty() {
                    return needs(&format!("{default_key}.URI"));
                }
                if kind.provider.is_some() {
                    return needs(&format!("archival.{name}.provider"));
                }
            }
            if let Some(fs) = kind.provider.as_ref().and_then(|p| p.filestore.as_ref()) {
                let key = format!("archival.{name}.provider.filestore");
                modes.file = octal(format!("{key}.fileMode"), &fs.file_mode, modes.file)?;
                modes.dir = octal(format!("{key}.dirMode"), &fs.dir_mode, modes.dir)?;
            }
            let k = KindSettings {
                enabled,
                read: enabled && kind.enable_read,
                default_enabled,
                default_uri: default.uri.clone(),
            };
            match name {
                "history" => settings.history = k,
                _ => settings.visibility = k,
            }
        }
        settings
            .provider
            .serve("file", Arc::new(FileArchiver { modes }));
        // Archiver plugins join the provider once loaded; their schemes count here.
        let plugin_schemes = self.archiver_schemes();
        for (name, uri) in [
            ("history", &settings.history.default_uri),
            ("visibility", &settings.visibility.default_uri),
        ] {
            if !uri.is_empty()
                && let Ok(u) = sundial_archival::Uri::parse(uri)
                && settings.provider.archiver(&u).is_err()
                && !plugin_schemes.iter().any(|(s, _)| *s == u.scheme())
            {
                let mut schemes = settings.provider.schemes();
                schemes.extend(plugin_schemes.iter().map(|(s, _)| *s));
                return Err(Error::Invalid {
                    key: format!("namespaceDefaults.archival.{name}.URI"),
                    message: format!(
                        "no archiver serves the scheme {:?}; use {}",
                        u.scheme(),
                        schemes.join(", ")
                    ),
                });
            }
        }
        Ok(settings)
    }
}
