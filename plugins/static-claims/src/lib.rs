//! Example claim mapper. A caller whose `authorization` header is `Bearer <token>`, with
//! `<token>` equal to the `token` config value, gets the subject in `subject` and the roles in
//! `permissions` (comma-separated `<namespace>:<read|write|worker|admin>`, the JWT mapper's
//! spelling; `temporal-system:<role>` is cluster-wide). Any other token is an error. The claims
//! never expire (`expires-at` none).

use sundial_plugin_sdk::permissions::{self, PermissionOptions};
use sundial_plugin_sdk::{AuthInfo, ClaimMapper, Claims, host};

struct Plugin;

impl ClaimMapper for Plugin {
    fn auth_info_required() -> bool {
        true
    }

    fn get_claims(info: AuthInfo) -> Result<Claims, String> {
        let expected = host::config("token").ok_or("no token configured")?;
        let presented = info
            .auth_token
            .split_once(' ')
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token)
            .ok_or("expected `Bearer <token>`")?;
        if presented != expected {
            return Err("unknown token".into());
        }
        let mut claims = Claims::empty("static");
        claims.subject = host::config("subject").unwrap_or_default();
        // Only `temporal-system` is cluster-wide here, as before the SDK existed.
        let options = PermissionOptions {
            system_alias: false,
        };
        for entry in host::config("permissions").unwrap_or_default().split(',') {
            if let Some(permission) = permissions::parse(entry.trim(), options) {
                claims.apply_permission(permission);
            }
        }
        Ok(claims)
    }
}

sundial_plugin_sdk::export_claim_mapper!(Plugin with_types_in sundial_plugin_sdk::claim_mapper);
