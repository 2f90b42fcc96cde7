//! Test fixture: a claim mapper whose claims' subject spells out the `auth-info` it received,
//! so a server test can see exactly what reached the mapper (through the recorded decisions).
//! Grants nothing; the claims are never cached (no `expires-at`).

use sundial_plugin_sdk::{AuthInfo, ClaimMapper, Claims};

struct Plugin;

impl ClaimMapper for Plugin {
    fn auth_info_required() -> bool {
        false
    }

    fn get_claims(info: AuthInfo) -> Result<Claims, String> {
        let mut claims = Claims::empty("echo");
        claims.subject = match &info.tls_subject {
            Some(s) => format!(
                "token={:?} sni={:?} dn={:?} cn={:?} o={:?} ou={:?}",
                info.auth_token,
                info.tls_server_name,
                s.distinguished_name,
                s.common_name,
                s.organization,
                s.organizational_unit
            ),
            None => format!(
                "token={:?} sni={:?} no certificate",
                info.auth_token, info.tls_server_name
            ),
        };
        Ok(claims)
    }
}

sundial_plugin_sdk::export_claim_mapper!(Plugin with_types_in sundial_plugin_sdk::claim_mapper);
