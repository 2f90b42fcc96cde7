//! Example claim mapper. A caller whose `authorization` header is `Bearer <token>`, with
//! `<token>` equal to the `token` config value, gets the subject in `subject` and the roles in
//! `permissions` (comma-separated `<namespace>:<read|write|worker|admin>`, the JWT mapper's
//! spelling; `temporal-system:<role>` is cluster-wide). Any other token is an error.

wit_bindgen::generate!({ path: "../../wit", world: "claim-mapper" });

use exports::sundial::plugin::claim_mapping::Guest;
use sundial::plugin::host;
use sundial::plugin::types::{AuthInfo, Claims, NamespaceRole};

struct Plugin;

fn role(word: &str) -> u8 {
    match word.to_ascii_lowercase().as_str() {
        "worker" => 1,
        "read" => 2,
        "write" => 4,
        "admin" => 8,
        _ => 0,
    }
}

impl Guest for Plugin {
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
        let mut claims = Claims {
            subject: host::config("subject").unwrap_or_default(),
            system: 0,
            namespaces: Vec::new(),
            auth_type: "static".into(),
            extensions: None,
        };
        for entry in host::config("permissions").unwrap_or_default().split(',') {
            let Some((namespace, word)) = entry.trim().split_once(':') else {
                continue;
            };
            if namespace == "temporal-system" {
                claims.system |= role(word);
            } else if let Some(existing) = claims
                .namespaces
                .iter_mut()
                .find(|n| n.namespace == namespace)
            {
                existing.role |= role(word);
            } else {
                claims.namespaces.push(NamespaceRole {
                    namespace: namespace.into(),
                    role: role(word),
                });
            }
        }
        Ok(claims)
    }
}

export!(Plugin);
