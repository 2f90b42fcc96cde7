//! Claims the mapper gave, kept per distinct credentials until they expire (or the cache's
//! time limit), so a caller's token is mapped once rather than on every call.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use sundial_plugin_host::Claims;

/// The cache, sized by `authorization.claims_cache_entries` (0: nothing is kept). A reload
/// that changes the size starts a new one.
pub struct ClaimsCache {
    entries: u64,
    cache: moka::sync::Cache<[u8; 32], Arc<Cached>>,
}

/// Claims for one set of credentials, valid until `until`.
struct Cached {
    claims: Claims,
    until: SystemTime,
    generation: u64,
}

struct Expiry;

impl moka::Expiry<[u8; 32], Arc<Cached>> for Expiry {
    fn expire_after_create(
        &self,
        _key: &[u8; 32],
        value: &Arc<Cached>,
        _now: std::time::Instant,
    ) -> Option<Duration> {
        Some(
            value
                .until
                .duration_since(SystemTime::now())
                .unwrap_or(Duration::ZERO),
        )
    }
}

impl ClaimsCache {
    pub fn new(entries: u64) -> ClaimsCache {
        ClaimsCache {
            entries,
            cache: moka::sync::Cache::builder()
                .max_capacity(entries)
                .expire_after(Expiry)
                .build(),
        }
    }

    /// The number of entries it was made for.
    pub fn entries(&self) -> u64 {
        self.entries
    }

    /// The claims cached under `key` by the mapper of `generation`, while still valid.
    pub(super) fn get(&self, key: &[u8; 32], generation: u64) -> Option<Claims> {
        self.cache
            .get(key)
            .filter(|hit| hit.generation == generation && hit.until > SystemTime::now())
            .map(|hit| hit.claims.clone())
    }

    /// Keeps `claims` under `key` until `until`.
    pub(super) fn insert(&self, key: [u8; 32], claims: Claims, until: SystemTime, generation: u64) {
        if self.entries == 0 || until <= SystemTime::now() {
            return;
        }
        self.cache.insert(
            key,
            Arc::new(Cached {
                claims,
                until,
                generation,
            }),
        );
    }
}

/// Everything the claim mapper sees, hashed: two callers share cached claims only when they
/// presented the same token, extras and certificate subject.
pub(super) fn cache_key(
    token: &str,
    extras: &str,
    audience: &str,
    subject: Option<&crate::tls::PeerSubject>,
    server_name: Option<&str>,
) -> [u8; 32] {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    let mut part = |p: Option<&str>| match p {
        None => h.update([0u8]),
        Some(p) => {
            h.update([1u8]);
            h.update((p.len() as u64).to_le_bytes());
            h.update(p.as_bytes());
        }
    };
    part(Some(token));
    part(Some(extras));
    part(Some(audience));
    part(server_name);
    match subject {
        None => part(None),
        Some(s) => {
            part(Some(&s.distinguished_name));
            part(s.common_name.as_deref());
            for list in [&s.organization, &s.organizational_unit] {
                part(Some(&list.len().to_string()));
                for item in list {
                    part(Some(item));
                }
            }
        }
    }
    h.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificate_subjects_have_their_own_cached_claims() {
        let subject = |cn: &str| crate::tls::PeerSubject {
            distinguished_name: format!("CN={cn}"),
            common_name: Some(cn.into()),
            organization: vec![],
            organizational_unit: vec![],
        };
        let (a, b) = (subject("a"), subject("b"));
        let none = cache_key("", "", "", None, None);
        assert_ne!(none, cache_key("", "", "", Some(&a), None));
        assert_ne!(
            cache_key("", "", "", Some(&a), None),
            cache_key("", "", "", Some(&b), None)
        );
        assert_ne!(
            cache_key("", "", "", Some(&a), Some("x")),
            cache_key("", "", "", Some(&a), None)
        );
        assert_eq!(
            cache_key("t", "", "", Some(&a), None),
            cache_key("t", "", "", Some(&subject("a")), None)
        );
    }

    fn claims() -> Claims {
        Claims {
            subject: "s".into(),
            system: 0,
            namespaces: vec![],
            auth_type: String::new(),
            extensions: None,
            expires_at: None,
        }
    }

    #[test]
    fn a_cache_of_no_entries_keeps_nothing() {
        let later = SystemTime::now() + Duration::from_secs(60);
        let none = ClaimsCache::new(0);
        none.insert([1; 32], claims(), later, 1);
        assert!(none.get(&[1; 32], 1).is_none());
        let some = ClaimsCache::new(10);
        some.insert([1; 32], claims(), later, 1);
        assert!(some.get(&[1; 32], 1).is_some());
        assert!(some.get(&[1; 32], 2).is_none(), "another mapper's claims");
    }
}
