//! Claim mapper for mutual TLS: the caller's verified client certificate decides its roles.
//!
//! Config (the plugin's `config` map in the server's YAML):
//! - `cn:<common name>` — permissions for a certificate whose subject CN is exactly that;
//! - `dn:<distinguished name>` — permissions for that exact RFC 4514 subject
//!   (`CN=worker,OU=ops,O=Acme`, most significant part last, as the server prints it).
//!
//! Permissions are comma-separated `<namespace>:<read|write|worker|admin>` entries, the JWT
//! mapper's spelling (`temporal-system:<role>` is cluster-wide). When both a `dn:` and a `cn:`
//! entry match, the caller gets both. A certificate that matches no entry gets claims with no
//! roles (subject set), so the authorizer denies it with a reason. A caller without a
//! certificate (a server without `requireClientAuth`) is refused: `Unauthenticated`.
//!
//! The claims say they expire in an hour, so the server caches them per certificate subject
//! (for at most its `claims_cache_ttl`); a config change reloads the plugin and drops them.

use sundial_plugin_sdk::permissions::{self, PermissionOptions};
use sundial_plugin_sdk::{AuthInfo, ClaimMapper, Claims, TlsSubject, host};

struct Plugin;

/// How long the server may reuse the claims (it caps this at its `claims_cache_ttl`).
const CACHE_FOR: std::time::Duration = std::time::Duration::from_secs(3600);

/// The claims for `subject`, with the mapping read through `lookup`.
fn claims_for(
    subject: Option<&TlsSubject>,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<Claims, String> {
    let subject = subject.ok_or("no client certificate")?;
    let mut claims = Claims::empty("mtls");
    claims.subject = subject
        .common_name
        .clone()
        .unwrap_or_else(|| subject.distinguished_name.clone());
    let options = PermissionOptions {
        system_alias: false,
    };
    let dn = lookup(&format!("dn:{}", subject.distinguished_name));
    let cn = subject
        .common_name
        .as_ref()
        .and_then(|cn| lookup(&format!("cn:{cn}")));
    for list in [dn, cn].into_iter().flatten() {
        for entry in list.split(',') {
            if let Some(permission) = permissions::parse(entry.trim(), options) {
                claims.apply_permission(permission);
            }
        }
    }
    Ok(claims)
}

impl ClaimMapper for Plugin {
    fn auth_info_required() -> bool {
        true
    }

    fn get_claims(info: AuthInfo) -> Result<Claims, String> {
        let mut claims = claims_for(info.tls_subject.as_ref(), host::config)?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_err(|_| "the clock is before 1970")?;
        claims.expires_at = Some((now + CACHE_FOR).as_nanos() as i64);
        Ok(claims)
    }
}

sundial_plugin_sdk::export_claim_mapper!(Plugin with_types_in sundial_plugin_sdk::claim_mapper);

#[cfg(test)]
mod tests {
    use super::*;
    use sundial_plugin_sdk::roles::{ADMIN, READ, UNDEFINED, WORKER, WRITE};

    fn subject(cn: Option<&str>, dn: &str) -> TlsSubject {
        TlsSubject {
            distinguished_name: dn.into(),
            common_name: cn.map(str::to_string),
            organization: vec![],
            organizational_unit: vec![],
        }
    }

    fn config(key: &str) -> Option<String> {
        match key {
            "cn:writer" => Some("default:write, orders:read".into()),
            "cn:reader" => Some("default:read".into()),
            "cn:ops" => Some("temporal-system:admin".into()),
            "dn:CN=writer,O=Acme" => Some("billing:worker".into()),
            _ => None,
        }
    }

    #[test]
    fn common_name_maps_to_roles() {
        let c = claims_for(Some(&subject(Some("writer"), "CN=writer")), config).unwrap();
        assert_eq!(c.subject, "writer");
        assert_eq!(c.auth_type, "mtls");
        assert_eq!(c.namespace_role("default"), WRITE);
        assert_eq!(c.namespace_role("orders"), READ);
        assert_eq!(c.namespace_role("billing"), UNDEFINED);
        let r = claims_for(Some(&subject(Some("reader"), "CN=reader")), config).unwrap();
        assert_eq!(r.namespace_role("default"), READ);
        let ops = claims_for(Some(&subject(Some("ops"), "CN=ops")), config).unwrap();
        assert_eq!(ops.system, ADMIN);
    }

    #[test]
    fn distinguished_name_and_common_name_both_apply() {
        let c = claims_for(Some(&subject(Some("writer"), "CN=writer,O=Acme")), config).unwrap();
        assert_eq!(c.namespace_role("billing"), WORKER);
        assert_eq!(c.namespace_role("default"), WRITE);
    }

    #[test]
    fn unmapped_certificate_gets_no_roles_and_no_certificate_is_refused() {
        let c = claims_for(Some(&subject(None, "O=Nobody")), config).unwrap();
        assert_eq!(c.subject, "O=Nobody");
        assert!(c.namespaces.is_empty());
        assert_eq!(c.system, UNDEFINED);
        assert!(claims_for(None, config).is_err());
    }
}
