//! Temporal's default JWT claim mapper as a Sundial component.
//!
//! A caller's `authorization` value must be `Bearer <jwt>`. The JWT must be RS256 or ES256 with
//! a `kid` naming a key of the configured JSON Web Key Sets; `exp`, `nbf` and `iat` are checked
//! with a leeway, `aud` must contain the server's audience when one is configured. The
//! permissions claim (`["<namespace>:<role>", ...]`) becomes the roles; `temporal-system` (and,
//! by default, `system`) is cluster-wide. An empty `authorization` value maps to claims with no
//! roles. Config keys: see [`config`].
//!
//! Keys are kept in the instance (the host reuses warm instances): fetched on first use,
//! refetched when older than `refresh-interval` and, at most once per `unknown-kid-refresh`,
//! when a token names a key id not in the set, so rotated keys are picked up promptly.

pub mod cache;
pub mod config;
pub mod fetch;
pub mod jwks;
pub mod token;

use std::sync::Mutex;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use sundial_plugin_sdk::{AuthInfo, ClaimMapper, Claims, host};

use cache::{Fetch, KeyCache};
use config::Config;

/// The mapper's state in one instance.
pub struct Mapper {
    config: Result<Config, String>,
    cache: KeyCache,
}

impl Mapper {
    pub fn new(config: Result<Config, String>) -> Mapper {
        Mapper {
            config,
            cache: KeyCache::default(),
        }
    }

    pub fn cache(&self) -> &KeyCache {
        &self.cache
    }

    /// Maps `auth_token` (the raw `authorization` value) to claims. `now` drives the key
    /// cache, `unix_now` (seconds) the token's time claims.
    pub fn get_claims(
        &mut self,
        auth_token: &str,
        audience: &str,
        now: Instant,
        unix_now: i64,
        fetcher: &mut dyn Fetch,
    ) -> Result<Claims, String> {
        let config = self.config.as_ref().map_err(Clone::clone)?;
        let Some(jwt) = token::bearer(auth_token)? else {
            return Ok(Claims::empty(token::AUTH_TYPE));
        };
        let header = token::parse_header(jwt)?;
        let key = self
            .cache
            .key(
                now,
                header.alg,
                &header.kid,
                &config.sources,
                fetcher,
                &host::warn,
            )
            .ok_or_else(|| token::unknown_kid(&header.kid))?;
        token::verify(jwt, &header, key, audience, unix_now, &config.rules)
    }
}

#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
static STATE: Mutex<Option<Mapper>> = Mutex::new(None);

/// The component's export. (Native builds, for tests, do not export it: a native cdylib cannot
/// carry the component-model symbol names.)
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
struct Component;

impl ClaimMapper for Component {
    fn auth_info_required() -> bool {
        true
    }

    fn get_claims(info: AuthInfo) -> Result<Claims, String> {
        let mut state = STATE
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mapper =
            state.get_or_insert_with(|| Mapper::new(Config::load(host::config, host::warn)));
        let unix_now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        mapper.get_claims(
            &info.auth_token,
            &info.audience,
            Instant::now(),
            unix_now,
            &mut fetch::Sources,
        )
    }
}

#[cfg(target_arch = "wasm32")]
sundial_plugin_sdk::export_claim_mapper!(Component with_types_in sundial_plugin_sdk::claim_mapper);
