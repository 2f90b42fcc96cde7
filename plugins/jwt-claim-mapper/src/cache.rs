//! The key cache: fetched lazily, refreshed on a period and on an unknown key id, replaced
//! only by a refresh in which every source succeeded.

use std::time::{Duration, Instant};

use jsonwebtoken::DecodingKey;

use crate::jwks::KeySet;
use crate::token::Alg;

/// Where key set documents come from (the real one reads `file://` and `http(s)://` URIs).
pub trait Fetch {
    fn fetch(&mut self, uri: &str) -> Result<Vec<u8>, String>;
}

/// Where the keys come from and when to go back for them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeySources {
    pub uris: Vec<String>,
    /// Age after which the keys are refetched; None: never after the first success.
    pub refresh_interval: Option<Duration>,
    /// Least time between two fetches caused by an unknown key id, or by retries after a
    /// failed fetch.
    pub unknown_kid_refresh: Duration,
}

#[derive(Default)]
pub struct KeyCache {
    keys: KeySet,
    last_success: Option<Instant>,
    last_attempt: Option<Instant>,
    fetches: u64,
}

impl KeyCache {
    pub fn keys(&self) -> &KeySet {
        &self.keys
    }

    /// How many refreshes were attempted.
    pub fn fetches(&self) -> u64 {
        self.fetches
    }

    /// Fetches every source; on success the new set replaces the old one whole, on any
    /// failure the old set stays.
    pub fn refresh(
        &mut self,
        now: Instant,
        uris: &[String],
        fetcher: &mut dyn Fetch,
        log: &dyn Fn(&str),
    ) -> Result<(), String> {
        self.last_attempt = Some(now);
        self.fetches += 1;
        let mut fresh = KeySet::default();
        for uri in uris {
            let body = fetcher.fetch(uri).map_err(|e| format!("{uri}: {e}"))?;
            fresh
                .add_jwks(&body, log)
                .map_err(|e| format!("{uri}: {e}"))?;
        }
        self.keys = fresh;
        self.last_success = Some(now);
        Ok(())
    }

    fn retry_allowed(&self, now: Instant, sources: &KeySources) -> bool {
        self.last_attempt
            .is_none_or(|t| now.saturating_duration_since(t) >= sources.unknown_kid_refresh)
    }

    /// Whether the keys are missing or too old (a failed attempt is retried at most once per
    /// `unknown_kid_refresh`).
    pub fn due(&self, now: Instant, sources: &KeySources) -> bool {
        let stale = match self.last_success {
            None => true,
            Some(t) => sources
                .refresh_interval
                .is_some_and(|every| now.saturating_duration_since(t) >= every),
        };
        if !stale {
            return false;
        }
        let last_failed = self.last_attempt.is_some() && self.last_attempt != self.last_success;
        !last_failed || self.retry_allowed(now, sources)
    }

    /// The key for (`alg`, `kid`): refreshing first when [`due`](Self::due), and once more on
    /// an unknown kid unless a fetch happened less than `unknown_kid_refresh` ago. A failed
    /// refresh is logged with `warn` and the previous keys are used.
    pub fn key(
        &mut self,
        now: Instant,
        alg: Alg,
        kid: &str,
        sources: &KeySources,
        fetcher: &mut dyn Fetch,
        warn: &dyn Fn(&str),
    ) -> Option<&DecodingKey> {
        let mut refreshed = false;
        if self.due(now, sources) {
            refreshed = true;
            self.refresh_logged(now, &sources.uris, fetcher, warn);
        }
        if self.keys.get(alg, kid).is_none()
            && (!refreshed || sources.unknown_kid_refresh.is_zero())
            && self.retry_allowed(now, sources)
        {
            self.refresh_logged(now, &sources.uris, fetcher, warn);
        }
        self.keys.get(alg, kid)
    }

    fn refresh_logged(
        &mut self,
        now: Instant,
        uris: &[String],
        fetcher: &mut dyn Fetch,
        warn: &dyn Fn(&str),
    ) {
        if let Err(e) = self.refresh(now, uris, fetcher, warn) {
            warn(&format!(
                "key refresh failed, keeping the previous {} key(s): {e}",
                self.keys.len()
            ));
        }
    }
}
