//! JSON Web Key Sets (RFC 7517): the RSA and P-256 EC keys, by key id.

use std::collections::HashMap;

use jsonwebtoken::DecodingKey;
use serde_json::Value;

use crate::token::Alg;

/// Verification keys by `kid`: RSA keys for RS256, EC P-256 keys for ES256.
#[derive(Clone, Default)]
pub struct KeySet {
    rsa: HashMap<String, DecodingKey>,
    ec: HashMap<String, DecodingKey>,
}

impl KeySet {
    pub fn get(&self, alg: Alg, kid: &str) -> Option<&DecodingKey> {
        match alg {
            Alg::Rs256 => self.rsa.get(kid),
            Alg::Es256 => self.ec.get(kid),
        }
    }

    pub fn len(&self) -> usize {
        self.rsa.len() + self.ec.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Adds the usable keys of one JWKS document. A document that is not a key set is an
    /// error; a key of another type or curve, or without `kid`, is skipped and `warn`ed about.
    pub fn add_jwks(&mut self, body: &[u8], warn: &dyn Fn(&str)) -> Result<(), String> {
        let doc: Value =
            serde_json::from_slice(body).map_err(|e| format!("not a JSON Web Key Set: {e}"))?;
        let keys = doc
            .get("keys")
            .and_then(Value::as_array)
            .ok_or("not a JSON Web Key Set: no \"keys\" array")?;
        for key in keys {
            let str_field = |name: &str| key.get(name).and_then(Value::as_str);
            let Some(kid) = str_field("kid") else {
                warn("skipping a JWKS key without \"kid\"");
                continue;
            };
            let kty = str_field("kty").unwrap_or("");
            let parsed = match kty {
                "RSA" => match (str_field("n"), str_field("e")) {
                    (Some(n), Some(e)) => DecodingKey::from_rsa_components(n, e)
                        .map(|k| (Alg::Rs256, k))
                        .map_err(|e| e.to_string()),
                    _ => Err("no \"n\" or \"e\"".to_string()),
                },
                "EC" => match (str_field("crv"), str_field("x"), str_field("y")) {
                    (Some("P-256"), Some(x), Some(y)) => DecodingKey::from_ec_components(x, y)
                        .map(|k| (Alg::Es256, k))
                        .map_err(|e| e.to_string()),
                    (Some("P-256"), _, _) => Err("no \"x\" or \"y\"".to_string()),
                    (crv, _, _) => Err(format!("unsupported curve {:?}", crv.unwrap_or(""))),
                },
                other => Err(format!("unsupported key type {other:?}")),
            };
            match parsed {
                Ok((Alg::Rs256, k)) => {
                    self.rsa.insert(kid.to_owned(), k);
                }
                Ok((Alg::Es256, k)) => {
                    self.ec.insert(kid.to_owned(), k);
                }
                Err(e) => warn(&format!("skipping JWKS key {kid:?}: {e}")),
            }
        }
        Ok(())
    }
}
