//! The cluster's archival settings, and Temporal's rules for a namespace's archival state and
//! URI (register and update): a URI cannot change once set, enabling without one takes the
//! cluster's default, and every new URI is validated by the archiver of its scheme.

use crate::{Error, Provider, Result, Uri};

/// `ArchivalState` values (`temporal.api.enums.v1`).
pub const UNSPECIFIED: i32 = 0;
pub const DISABLED: i32 = 1;
pub const ENABLED: i32 = 2;

/// How the cluster archives one kind of record (histories, or visibility records).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct KindSettings {
    /// The cluster archives this kind (`archival.<kind>.state: enabled`); otherwise a
    /// namespace's archival requests are ignored, as on Temporal.
    pub enabled: bool,
    /// Archived records are read back (`enableRead`).
    pub read: bool,
    /// A new namespace that names no state gets this one
    /// (`namespaceDefaults.archival.<kind>.state`).
    pub default_enabled: bool,
    /// A namespace that enables archival without a URI gets this one.
    pub default_uri: String,
}

/// What kind of record a URI is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    History,
    Visibility,
}

/// The cluster's archival: what it archives, and the archivers by URI scheme.
#[derive(Clone, Default)]
pub struct Settings {
    pub history: KindSettings,
    pub visibility: KindSettings,
    pub provider: Provider,
}

impl Settings {
    pub fn kind(&self, kind: Kind) -> &KindSettings {
        match kind {
            Kind::History => &self.history,
            Kind::Visibility => &self.visibility,
        }
    }

    /// Checks a URI with the archiver of its scheme.
    pub async fn validate_uri(&self, kind: Kind, uri: &str) -> Result<()> {
        let uri = Uri::parse(uri)?;
        let archiver = self.provider.archiver(&uri)?;
        match kind {
            Kind::History => archiver.validate_history_uri(&uri).await,
            Kind::Visibility => archiver.validate_visibility_uri(&uri).await,
        }
    }

    /// A namespace's (state, URI) of `kind` after a register (`current` None) or update
    /// request asking for `state` (0: unspecified) and `uri` ("" for none). Unchanged when
    /// the cluster does not archive this kind.
    pub async fn next_state(
        &self,
        kind: Kind,
        current: Option<(i32, &str)>,
        state: i32,
        uri: &str,
    ) -> Result<(i32, String)> {
        let k = self.kind(kind);
        let registering = current.is_none();
        let (cur_state, cur_uri) = current.unwrap_or((DISABLED, ""));
        if !k.enabled {
            return Ok((cur_state.max(DISABLED), cur_uri.to_string()));
        }
        let state = match state {
            UNSPECIFIED if registering && k.default_enabled => ENABLED,
            UNSPECIFIED if registering => DISABLED,
            s => s,
        };
        let next = transition((cur_state, cur_uri), state, uri, &k.default_uri)?;
        if !next.1.is_empty() && next.1 != cur_uri {
            self.validate_uri(kind, &next.1).await?;
        }
        Ok(next)
    }
}

/// Temporal's archival state machine for one kind: the state after a request.
fn transition(
    (state, uri): (i32, &str),
    requested: i32,
    requested_uri: &str,
    default_uri: &str,
) -> Result<(i32, String)> {
    if !uri.is_empty() && !requested_uri.is_empty() && uri != requested_uri {
        return Err(Error::InvalidArgument(
            "Cannot update existing archival URI".into(),
        ));
    }
    let keep = || Ok((state.max(DISABLED), uri.to_string()));
    match (uri.is_empty(), requested) {
        // A URI is set: only the state moves.
        (false, ENABLED) => Ok((ENABLED, uri.to_string())),
        (false, DISABLED) => Ok((DISABLED, uri.to_string())),
        (false, _) => keep(),
        // Never enabled yet.
        (true, ENABLED) => {
            let uri = if requested_uri.is_empty() {
                default_uri
            } else {
                requested_uri
            };
            if uri.is_empty() {
                return Err(Error::InvalidArgument(
                    "archival is enabled but no URI is set, and the cluster has no default URI"
                        .into(),
                ));
            }
            Ok((ENABLED, uri.to_string()))
        }
        (true, _) if !requested_uri.is_empty() => Ok((DISABLED, requested_uri.to_string())),
        (true, _) => keep(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEFAULT: &str = "file:///default";

    fn t(state: (i32, &str), requested: i32, uri: &str) -> Result<(i32, String)> {
        transition(state, requested, uri, DEFAULT)
    }

    #[test]
    fn temporals_state_machine() {
        let never = (DISABLED, "");
        assert_eq!(t(never, ENABLED, ""), Ok((ENABLED, DEFAULT.into())));
        assert_eq!(
            t(never, ENABLED, "file:///x"),
            Ok((ENABLED, "file:///x".into()))
        );
        assert_eq!(
            t(never, DISABLED, "file:///x"),
            Ok((DISABLED, "file:///x".into()))
        );
        assert_eq!(
            t(never, UNSPECIFIED, "file:///x"),
            Ok((DISABLED, "file:///x".into()))
        );
        assert_eq!(t(never, DISABLED, ""), Ok((DISABLED, "".into())));
        assert_eq!(t(never, UNSPECIFIED, ""), Ok((DISABLED, "".into())));

        let on = (ENABLED, "file:///x");
        assert_eq!(t(on, DISABLED, ""), Ok((DISABLED, "file:///x".into())));
        assert_eq!(
            t(on, UNSPECIFIED, "file:///x"),
            Ok((ENABLED, "file:///x".into()))
        );
        assert_eq!(t(on, ENABLED, ""), Ok((ENABLED, "file:///x".into())));
        let off = (DISABLED, "file:///x");
        assert_eq!(t(off, ENABLED, ""), Ok((ENABLED, "file:///x".into())));
        assert_eq!(t(off, UNSPECIFIED, ""), Ok((DISABLED, "file:///x".into())));

        for state in [on, off] {
            assert_eq!(
                t(state, ENABLED, "file:///y"),
                Err(Error::InvalidArgument(
                    "Cannot update existing archival URI".into()
                ))
            );
        }
        assert!(transition(never, ENABLED, "", "").is_err());
    }

    #[tokio::test]
    async fn requests_follow_the_cluster_and_uris_are_validated() {
        let tmp = std::env::temp_dir();
        let mut s = Settings::default();
        // The cluster does not archive histories: requests are ignored, as on Temporal.
        assert_eq!(
            s.next_state(Kind::History, None, ENABLED, "file:///x")
                .await,
            Ok((DISABLED, String::new()))
        );
        s.provider
            .serve("file", std::sync::Arc::new(crate::FileArchiver::default()));
        s.history = KindSettings {
            enabled: true,
            read: true,
            default_enabled: true,
            default_uri: format!("file://{}/sundial-archive-test", tmp.display()),
        };
        // Registering without a state takes the namespace default, with the default URI.
        let (state, uri) = s
            .next_state(Kind::History, None, UNSPECIFIED, "")
            .await
            .unwrap();
        assert_eq!(state, ENABLED);
        assert_eq!(uri, s.history.default_uri);
        // Updating with no state changes nothing.
        assert_eq!(
            s.next_state(Kind::History, Some((ENABLED, &uri)), UNSPECIFIED, "")
                .await,
            Ok((ENABLED, uri.clone()))
        );
        for bad in ["s3://bucket/x", "no-scheme", "file://host/x"] {
            let r = s.next_state(Kind::History, None, ENABLED, bad).await;
            assert!(matches!(r, Err(Error::InvalidArgument(_))), "{bad}: {r:?}");
        }
    }
}
