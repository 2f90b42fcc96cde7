//! Token handling that needs no host: the bearer header, the JWT header, signature and claim
//! checks, and permissions.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};
use sundial_plugin_sdk::permissions;
use sundial_plugin_sdk::{Claims, host};

use crate::config::{PermissionSyntax, TokenRules};

/// `auth-type` of the claims this mapper returns.
pub const AUTH_TYPE: &str = "jwt";

pub const ERR_FORMAT: &str = "unexpected authorization token format: expected \"Bearer <jwt>\"";
pub const ERR_SCHEME: &str = "unexpected name in authorization token: expected \"Bearer\"";
pub const ERR_BAD_SIGNATURE: &str = "bad signature";
pub const ERR_EXPIRED: &str = "token expired";
pub const ERR_NOT_YET_VALID: &str = "token not yet valid";
pub const ERR_ISSUED_IN_FUTURE: &str = "token not yet valid: issued in the future";
pub const ERR_AUDIENCE: &str = "audience mismatch";

/// The algorithms accepted (as Temporal's stock key provider): nothing else is even looked at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Alg {
    Rs256,
    Es256,
}

impl Alg {
    pub fn name(self) -> &'static str {
        match self {
            Alg::Rs256 => "RS256",
            Alg::Es256 => "ES256",
        }
    }

    fn jsonwebtoken(self) -> Algorithm {
        match self {
            Alg::Rs256 => Algorithm::RS256,
            Alg::Es256 => Algorithm::ES256,
        }
    }
}

/// What the JWT header says about how to verify it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenHeader {
    pub alg: Alg,
    pub kid: String,
}

pub fn malformed(detail: impl std::fmt::Display) -> String {
    format!("malformed token: {detail}")
}

pub fn unsupported_algorithm(alg: &str) -> String {
    format!("unsupported algorithm {alg:?} (only RS256 and ES256 are accepted)")
}

pub fn unknown_kid(kid: &str) -> String {
    format!("unknown key id {kid:?}")
}

/// The JWT in an `authorization` value: `None` for an empty value (no credentials), else the
/// part after `Bearer ` (scheme case-insensitive, split at the first space).
pub fn bearer(auth_token: &str) -> Result<Option<&str>, String> {
    if auth_token.is_empty() {
        return Ok(None);
    }
    let (scheme, token) = auth_token.split_once(' ').ok_or(ERR_FORMAT)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(ERR_SCHEME.into());
    }
    Ok(Some(token))
}

/// Reads the header: the algorithm must be RS256 or ES256 and `kid` a string. Done before any
/// key is looked up, so `none`, HS*, PS*, RS384... never reach a key.
pub fn parse_header(token: &str) -> Result<TokenHeader, String> {
    let mut parts = token.split('.');
    let (Some(header), Some(_), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(malformed("expected three dot-separated parts"));
    };
    let bytes = URL_SAFE_NO_PAD
        .decode(header)
        .map_err(|e| malformed(format!("header is not base64url: {e}")))?;
    let header: Map<String, Value> = serde_json::from_slice(&bytes)
        .map_err(|e| malformed(format!("header is not a JSON object: {e}")))?;
    let alg = match header.get("alg") {
        Some(Value::String(a)) if a == "RS256" => Alg::Rs256,
        Some(Value::String(a)) if a == "ES256" => Alg::Es256,
        Some(Value::String(a)) => return Err(unsupported_algorithm(a)),
        Some(other) => return Err(unsupported_algorithm(&other.to_string())),
        None => return Err(malformed("no \"alg\" header")),
    };
    let Some(Value::String(kid)) = header.get("kid") else {
        return Err(malformed("no \"kid\" header"));
    };
    Ok(TokenHeader {
        alg,
        kid: kid.clone(),
    })
}

/// Checks the signature with `key`, then the claims at `now` (unix seconds), and maps them.
/// `audience`, when not empty, must be in `aud`.
pub fn verify(
    token: &str,
    header: &TokenHeader,
    key: &DecodingKey,
    audience: &str,
    now: i64,
    rules: &TokenRules,
) -> Result<Claims, String> {
    let mut validation = Validation::new(header.alg.jsonwebtoken());
    // Time and audience are checked below, with Temporal's rules (exp optional, aud required
    // only when an audience is configured).
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    validation.leeway = 0;
    let payload = jsonwebtoken::decode::<Map<String, Value>>(token, key, &validation)
        .map_err(|e| match e.kind() {
            ErrorKind::InvalidSignature => ERR_BAD_SIGNATURE.to_string(),
            ErrorKind::InvalidAlgorithm => {
                format!("key {:?} does not fit {}", header.kid, header.alg.name())
            }
            _ => malformed(e),
        })?
        .claims;

    let leeway = i64::try_from(rules.leeway_secs).unwrap_or(i64::MAX);
    let exp = time_claim(&payload, "exp")?;
    if exp.is_some_and(|exp| now as f64 > exp + leeway as f64) {
        return Err(ERR_EXPIRED.into());
    }
    if time_claim(&payload, "nbf")?.is_some_and(|nbf| nbf > now.saturating_add(leeway) as f64) {
        return Err(ERR_NOT_YET_VALID.into());
    }
    if time_claim(&payload, "iat")?.is_some_and(|iat| iat > now.saturating_add(leeway) as f64) {
        return Err(ERR_ISSUED_IN_FUTURE.into());
    }
    if !audience.is_empty() && !has_audience(payload.get("aud"), audience) {
        return Err(ERR_AUDIENCE.into());
    }
    let subject = match payload.get("sub") {
        None => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(_) => return Err(malformed("\"sub\" is not a string")),
    };

    let mut claims = Claims::empty(AUTH_TYPE);
    claims.subject = subject;
    claims.expires_at = exp.map(unix_nanos);
    add_permissions(&mut claims, &payload, rules);
    Ok(claims)
}

/// A NumericDate claim: absent, or a JSON number (integer or not).
fn time_claim(payload: &Map<String, Value>, name: &str) -> Result<Option<f64>, String> {
    match payload.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => Ok(n.as_f64()),
        Some(_) => Err(malformed(format!("{name:?} is not a number"))),
    }
}

/// Unix seconds to unix nanoseconds, saturating.
pub fn unix_nanos(secs: f64) -> i64 {
    // `as` saturates; whole seconds stay exact for any real date.
    (secs * 1e9) as i64
}

fn has_audience(aud: Option<&Value>, audience: &str) -> bool {
    match aud {
        Some(Value::String(a)) => a == audience,
        Some(Value::Array(list)) => list.iter().any(|a| a.as_str() == Some(audience)),
        _ => false,
    }
}

/// Adds the roles of the permissions claim: a JSON array of strings; anything else grants
/// nothing, non-string entries are skipped.
pub fn add_permissions(claims: &mut Claims, payload: &Map<String, Value>, rules: &TokenRules) {
    let Some(Value::Array(entries)) = payload.get(&rules.permissions_claim_name) else {
        return;
    };
    for entry in entries {
        let Value::String(entry) = entry else {
            host::warn(&format!(
                "skipping a {:?} entry that is not a string: {entry}",
                rules.permissions_claim_name
            ));
            continue;
        };
        let permission = match &rules.syntax {
            PermissionSyntax::Colon => permissions::parse(entry, rules.permission_options),
            PermissionSyntax::Regex(re) => re.captures(entry).map(|caps| {
                let group = |name| caps.name(name).map_or("", |m| m.as_str());
                permissions::resolve(group("namespace"), group("role"), rules.permission_options)
            }),
        };
        if let Some(permission) = permission {
            claims.apply_permission(permission);
        }
    }
}
