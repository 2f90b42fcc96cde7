//! The mapper end to end, natively: tokens signed here with the committed test keys
//! (tests/keys, made once with openssl), key sets served by a fake fetcher.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::{Value, json};
use sundial_plugin_sdk::roles::*;
use sundial_plugin_sdk::{Claims, NamespaceRole};

use jwt_claim_mapper::Mapper;
use jwt_claim_mapper::cache::Fetch;
use jwt_claim_mapper::config::Config;
use jwt_claim_mapper::jwks::KeySet;
use jwt_claim_mapper::token::Alg;

const RSA1: &[u8] = include_bytes!("keys/rsa1.pem");
const RSA1_PUB: &[u8] = include_bytes!("keys/rsa1.pub.pem");
const RSA2: &[u8] = include_bytes!("keys/rsa2.pem");
const EC1: &[u8] = include_bytes!("keys/ec1.pem");
const JWKS: &[u8] = include_bytes!("keys/jwks.json");
const JWKS_ROTATED: &[u8] = include_bytes!("keys/jwks-rotated.json");

const NOW: i64 = 1_800_000_000;
const SOURCE: &str = "https://idp.test/jwks.json";

type Docs = HashMap<String, Result<Vec<u8>, String>>;

/// Serves documents by URI and counts fetches.
#[derive(Clone, Default)]
struct FakeSources {
    docs: Rc<RefCell<Docs>>,
    calls: Rc<RefCell<usize>>,
}

impl FakeSources {
    fn with(uri: &str, doc: &[u8]) -> FakeSources {
        let f = FakeSources::default();
        f.set(uri, Ok(doc));
        f
    }
    fn set(&self, uri: &str, doc: Result<&[u8], &str>) {
        self.docs
            .borrow_mut()
            .insert(uri.into(), doc.map(<[u8]>::to_vec).map_err(str::to_owned));
    }
    fn calls(&self) -> usize {
        *self.calls.borrow()
    }
}

impl Fetch for FakeSources {
    fn fetch(&mut self, uri: &str) -> Result<Vec<u8>, String> {
        *self.calls.borrow_mut() += 1;
        self.docs
            .borrow()
            .get(uri)
            .cloned()
            .unwrap_or_else(|| Err("not found".into()))
    }
}

fn config(pairs: &[(&str, &str)]) -> Config {
    let mut map: HashMap<String, String> = HashMap::new();
    map.insert("key-source-uris".into(), SOURCE.into());
    for (k, v) in pairs {
        map.insert(k.to_string(), v.to_string());
    }
    Config::load(|k| map.get(k).cloned(), |_| {}).unwrap()
}

fn sign_with(alg: Algorithm, kid: Option<&str>, claims: &Value, key: &EncodingKey) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    encode(&header, claims, key).unwrap()
}

fn rs256(kid: &str, claims: &Value) -> String {
    sign_with(
        Algorithm::RS256,
        Some(kid),
        claims,
        &EncodingKey::from_rsa_pem(RSA1).unwrap(),
    )
}

fn es256(kid: &str, claims: &Value) -> String {
    sign_with(
        Algorithm::ES256,
        Some(kid),
        claims,
        &EncodingKey::from_ec_pem(EC1).unwrap(),
    )
}

/// A token put together by hand (any header, no real signature).
fn raw_token(header: &Value, claims: &Value, signature: &[u8]) -> String {
    let part = |v: &Value| URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap());
    format!(
        "{}.{}.{}",
        part(header),
        part(claims),
        URL_SAFE_NO_PAD.encode(signature)
    )
}

fn bearer(jwt: &str) -> String {
    format!("Bearer {jwt}")
}

struct Setup {
    mapper: Mapper,
    sources: FakeSources,
    start: Instant,
}

impl Setup {
    fn new(pairs: &[(&str, &str)]) -> Setup {
        Setup {
            mapper: Mapper::new(Ok(config(pairs))),
            sources: FakeSources::with(SOURCE, JWKS),
            start: Instant::now(),
        }
    }

    fn map_at(&mut self, after: Duration, auth: &str, audience: &str) -> Result<Claims, String> {
        let mut sources = self.sources.clone();
        self.mapper
            .get_claims(auth, audience, self.start + after, NOW, &mut sources)
    }

    fn map(&mut self, auth: &str) -> Result<Claims, String> {
        self.map_at(Duration::ZERO, auth, "")
    }
}

fn map(auth: &str) -> Result<Claims, String> {
    Setup::new(&[]).map(auth)
}

fn base_claims() -> Value {
    json!({"sub": "alice", "exp": NOW + 600, "permissions": ["orders:read", "orders:write"]})
}

fn roles(c: &Claims) -> Vec<(String, u8)> {
    c.namespaces
        .iter()
        .map(|n| (n.namespace.clone(), n.role))
        .collect()
}

#[test]
fn valid_rs256() {
    let claims = map(&bearer(&rs256("rsa1", &base_claims()))).unwrap();
    assert_eq!(claims.subject, "alice");
    assert_eq!(claims.auth_type, "jwt");
    assert_eq!(claims.system, 0);
    assert_eq!(
        claims.namespaces,
        vec![NamespaceRole {
            namespace: "orders".into(),
            role: READ | WRITE
        }]
    );
    assert_eq!(claims.expires_at, Some((NOW + 600) * 1_000_000_000));
    assert_eq!(claims.extensions, None);
}

#[test]
fn valid_es256() {
    let claims = map(&bearer(&es256("ec1", &base_claims()))).unwrap();
    assert_eq!(claims.subject, "alice");
    assert_eq!(roles(&claims), [("orders".to_string(), READ | WRITE)]);
}

#[test]
fn scheme_is_case_insensitive() {
    let jwt = rs256("rsa1", &base_claims());
    for scheme in ["bearer", "BEARER", "BeArEr"] {
        assert!(map(&format!("{scheme} {jwt}")).is_ok(), "{scheme}");
    }
}

#[test]
fn empty_token_is_empty_claims() {
    let mut s = Setup::new(&[]);
    let claims = s.map("").unwrap();
    assert_eq!(claims, Claims::empty("jwt"));
    assert_eq!(s.sources.calls(), 0, "no key fetch for an empty token");
}

#[test]
fn expired() {
    let mut c = base_claims();
    c["exp"] = json!(NOW - 100);
    assert_eq!(
        map(&bearer(&rs256("rsa1", &c))).unwrap_err(),
        "token expired"
    );
    // Within the default leeway of 5 s.
    c["exp"] = json!(NOW - 4);
    assert!(map(&bearer(&rs256("rsa1", &c))).is_ok());
    // A larger configured leeway.
    c["exp"] = json!(NOW - 100);
    let mut s = Setup::new(&[("leeway", "120")]);
    assert!(s.map(&bearer(&rs256("rsa1", &c))).is_ok());
}

#[test]
fn not_yet_valid() {
    let mut c = base_claims();
    c["nbf"] = json!(NOW + 100);
    assert_eq!(
        map(&bearer(&rs256("rsa1", &c))).unwrap_err(),
        "token not yet valid"
    );
    c["nbf"] = json!(NOW + 4);
    assert!(map(&bearer(&rs256("rsa1", &c))).is_ok());
    let mut c = base_claims();
    c["iat"] = json!(NOW + 100);
    let e = map(&bearer(&rs256("rsa1", &c))).unwrap_err();
    assert!(e.starts_with("token not yet valid"), "{e}");
}

#[test]
fn exp_is_optional_and_sets_expires_at() {
    let c = json!({"sub": "svc", "permissions": ["ns:read"]});
    let claims = map(&bearer(&rs256("rsa1", &c))).unwrap();
    assert_eq!(claims.expires_at, None);
    let c = json!({"exp": NOW + 1});
    let claims = map(&bearer(&es256("ec1", &c))).unwrap();
    assert_eq!(claims.expires_at, Some(1_800_000_001_000_000_000));
    assert_eq!(claims.subject, "");
}

#[test]
fn bad_time_claims_are_malformed() {
    let c = json!({"exp": "tomorrow"});
    let e = map(&bearer(&rs256("rsa1", &c))).unwrap_err();
    assert!(e.starts_with("malformed token") && e.contains("exp"), "{e}");
}

#[test]
fn wrong_signature() {
    // Signed with another RSA key under rsa1's kid.
    let forged = sign_with(
        Algorithm::RS256,
        Some("rsa1"),
        &base_claims(),
        &EncodingKey::from_rsa_pem(RSA2).unwrap(),
    );
    assert_eq!(map(&bearer(&forged)).unwrap_err(), "bad signature");
    // A genuine token whose payload was swapped.
    let jwt = rs256("rsa1", &base_claims());
    let parts: Vec<&str> = jwt.split('.').collect();
    let other =
        URL_SAFE_NO_PAD.encode(br#"{"sub":"mallory","permissions":["temporal-system:admin"]}"#);
    let tampered = format!("{}.{}.{}", parts[0], other, parts[2]);
    assert_eq!(map(&bearer(&tampered)).unwrap_err(), "bad signature");
    // An ES256 token signed by the EC key but naming... the right kid with a garbage signature.
    let jwt = es256("ec1", &base_claims());
    let mut parts: Vec<String> = jwt.split('.').map(str::to_owned).collect();
    parts[2] = URL_SAFE_NO_PAD.encode([7u8; 64]);
    assert_eq!(map(&bearer(&parts.join("."))).unwrap_err(), "bad signature");
}

#[test]
fn audience() {
    let mut s = Setup::new(&[]);
    let mut c = base_claims();
    c["aud"] = json!("other");
    let e = s
        .map_at(Duration::ZERO, &bearer(&rs256("rsa1", &c)), "sundial")
        .unwrap_err();
    assert_eq!(e, "audience mismatch");
    c["aud"] = json!("sundial");
    assert!(
        s.map_at(Duration::ZERO, &bearer(&rs256("rsa1", &c)), "sundial")
            .is_ok()
    );
    c["aud"] = json!(["a", "sundial"]);
    assert!(
        s.map_at(Duration::ZERO, &bearer(&rs256("rsa1", &c)), "sundial")
            .is_ok()
    );
    c["aud"] = json!(["a", "b"]);
    let e = s
        .map_at(Duration::ZERO, &bearer(&rs256("rsa1", &c)), "sundial")
        .unwrap_err();
    assert_eq!(e, "audience mismatch");
    // Missing aud, audience configured: mismatch.
    let e = s
        .map_at(
            Duration::ZERO,
            &bearer(&rs256("rsa1", &base_claims())),
            "sundial",
        )
        .unwrap_err();
    assert_eq!(e, "audience mismatch");
    // No audience configured: aud is not looked at.
    c["aud"] = json!("whatever");
    assert!(
        s.map_at(Duration::ZERO, &bearer(&rs256("rsa1", &c)), "")
            .is_ok()
    );
}

#[test]
fn unknown_kid() {
    assert_eq!(
        map(&bearer(&rs256("nope", &base_claims()))).unwrap_err(),
        "unknown key id \"nope\""
    );
    // An RSA kid does not name an EC key, and the other way round.
    assert_eq!(
        map(&bearer(&es256("rsa1", &base_claims()))).unwrap_err(),
        "unknown key id \"rsa1\""
    );
    assert_eq!(
        map(&bearer(&rs256("ec1", &base_claims()))).unwrap_err(),
        "unknown key id \"ec1\""
    );
    // Keys of other types in the set are skipped.
    assert_eq!(
        map(&bearer(&rs256("hmac1", &base_claims()))).unwrap_err(),
        "unknown key id \"hmac1\""
    );
}

#[test]
fn alg_none_refused_before_key_lookup() {
    let mut s = Setup::new(&[]);
    let jwt = raw_token(&json!({"alg": "none", "kid": "rsa1"}), &base_claims(), b"");
    let e = s.map(&bearer(&jwt)).unwrap_err();
    assert_eq!(
        e,
        "unsupported algorithm \"none\" (only RS256 and ES256 are accepted)"
    );
    assert_eq!(s.sources.calls(), 0);
    // Without the trailing signature part at all: malformed.
    let e = s.map(&bearer(jwt.trim_end_matches('.'))).unwrap_err();
    assert!(e.starts_with("malformed token"), "{e}");
}

#[test]
fn hs256_with_public_key_bytes_refused() {
    let mut s = Setup::new(&[]);
    let jwt = sign_with(
        Algorithm::HS256,
        Some("rsa1"),
        &base_claims(),
        &EncodingKey::from_secret(RSA1_PUB),
    );
    let e = s.map(&bearer(&jwt)).unwrap_err();
    assert_eq!(
        e,
        "unsupported algorithm \"HS256\" (only RS256 and ES256 are accepted)"
    );
    assert_eq!(s.sources.calls(), 0);
}

#[test]
fn other_algorithms_refused() {
    for alg in ["RS384", "RS512", "PS256", "ES384", "EdDSA", "HS512"] {
        let jwt = raw_token(&json!({"alg": alg, "kid": "rsa1"}), &base_claims(), b"sig");
        let e = map(&bearer(&jwt)).unwrap_err();
        assert!(
            e.starts_with(&format!("unsupported algorithm \"{alg}\"")),
            "{e}"
        );
    }
}

#[test]
fn malformed() {
    let cases = [
        ("Bearer", "unexpected authorization token format"),
        ("eyJhbGciOi", "unexpected authorization token format"),
        (
            "Basic dXNlcjpwdw==",
            "unexpected name in authorization token",
        ),
        (
            "Token abc.def.ghi",
            "unexpected name in authorization token",
        ),
        ("Bearer ", "malformed token"),
        ("Bearer abc", "malformed token"),
        ("Bearer a.b.c.d", "malformed token"),
        ("Bearer !!!.e30.x", "malformed token"),
        ("Bearer e30.e30.x", "malformed token: no \"alg\" header"),
    ];
    for (auth, want) in cases {
        let e = map(auth).unwrap_err();
        assert!(e.starts_with(want), "{auth:?}: {e}");
    }
    // Two spaces: the token part is " <jwt>", which is not a JWT.
    let e = map(&format!("Bearer  {}", rs256("rsa1", &base_claims()))).unwrap_err();
    assert!(e.starts_with("malformed token"), "{e}");
    // kid missing or not a string.
    let e = map(&bearer(&sign_with(
        Algorithm::RS256,
        None,
        &base_claims(),
        &EncodingKey::from_rsa_pem(RSA1).unwrap(),
    )))
    .unwrap_err();
    assert_eq!(e, "malformed token: no \"kid\" header");
    let jwt = raw_token(&json!({"alg": "RS256", "kid": 7}), &base_claims(), b"sig");
    assert_eq!(
        map(&bearer(&jwt)).unwrap_err(),
        "malformed token: no \"kid\" header"
    );
    // sub not a string.
    let e = map(&bearer(&rs256("rsa1", &json!({"sub": 42})))).unwrap_err();
    assert_eq!(e, "malformed token: \"sub\" is not a string");
    // Payload not a JSON object (validly signed).
    let key = EncodingKey::from_rsa_pem(RSA1).unwrap();
    let e = map(&bearer(&sign_with(
        Algorithm::RS256,
        Some("rsa1"),
        &json!([1, 2]),
        &key,
    )))
    .unwrap_err();
    assert!(e.starts_with("malformed token"), "{e}");
}

fn permissions_of(entries: Value, pairs: &[(&str, &str)]) -> Claims {
    let c = json!({"sub": "p", "permissions": entries});
    Setup::new(pairs).map(&bearer(&rs256("rsa1", &c))).unwrap()
}

#[test]
fn permissions_parsing() {
    let c = permissions_of(
        json!([
            "default:READ",
            "default:worker",
            "Prod:admin",
            "temporal-system:read",
            7,
            null,
            "nocolon",
            "x:owner"
        ]),
        &[],
    );
    assert_eq!(c.system, READ);
    assert_eq!(
        roles(&c),
        [
            ("default".to_string(), READ | WORKER),
            ("Prod".to_string(), ADMIN),
            ("x".to_string(), 0)
        ]
    );
}

#[test]
fn system_alias_switch() {
    let c = permissions_of(json!(["system:admin"]), &[]);
    assert_eq!(c.system, ADMIN);
    assert!(c.namespaces.is_empty());
    let c = permissions_of(json!(["system:admin"]), &[("system-alias", "true")]);
    assert_eq!(c.system, ADMIN);
    let c = permissions_of(
        json!(["system:admin", "temporal-system:write"]),
        &[("system-alias", "false")],
    );
    assert_eq!(c.system, WRITE);
    assert_eq!(roles(&c), [("system".to_string(), ADMIN)]);
}

#[test]
fn permissions_claim_shapes() {
    for not_a_list in [
        json!("ns:admin"),
        json!({"ns": "admin"}),
        json!(null),
        json!(8),
    ] {
        let c = permissions_of(not_a_list, &[]);
        assert_eq!((c.system, c.namespaces.len()), (0, 0));
    }
    let c = json!({"roles": ["ns:write"], "permissions": ["ns:read"]});
    let claims = Setup::new(&[("permissions-claim-name", "roles")])
        .map(&bearer(&rs256("rsa1", &c)))
        .unwrap();
    assert_eq!(roles(&claims), [("ns".to_string(), WRITE)]);
}

#[test]
fn permissions_regex() {
    let re = [("permissions-regex", "^(?P<role>[a-z]+)@(?P<namespace>.+)$")];
    let c = permissions_of(
        json!([
            "read@orders",
            "admin@temporal-system",
            "orders:write",
            "WRITE@x"
        ]),
        &re,
    );
    assert_eq!(c.system, ADMIN);
    assert_eq!(roles(&c), [("orders".to_string(), READ)]);
    // A regex without both groups falls back to colon syntax.
    let c = permissions_of(
        json!(["orders:write"]),
        &[("permissions-regex", "^(?P<role>.*)$")],
    );
    assert_eq!(roles(&c), [("orders".to_string(), WRITE)]);
}

#[test]
fn keys_fetched_lazily_and_refreshed_on_interval() {
    let mut s = Setup::new(&[("refresh-interval", "5m")]);
    assert_eq!(s.sources.calls(), 0);
    let jwt = bearer(&rs256("rsa1", &base_claims()));
    s.map(&jwt).unwrap();
    s.map_at(Duration::from_secs(200), &jwt, "").unwrap();
    assert_eq!(s.sources.calls(), 1);
    s.map_at(Duration::from_secs(301), &jwt, "").unwrap();
    assert_eq!(s.sources.calls(), 2);
    s.map_at(Duration::from_secs(400), &jwt, "").unwrap();
    assert_eq!(s.sources.calls(), 2);
}

#[test]
fn refresh_interval_zero_never_refetches() {
    let mut s = Setup::new(&[("refresh-interval", "0")]);
    let jwt = bearer(&rs256("rsa1", &base_claims()));
    s.map(&jwt).unwrap();
    s.map_at(Duration::from_secs(100_000), &jwt, "").unwrap();
    assert_eq!(s.sources.calls(), 1);
    // Except for an unknown kid.
    s.map_at(
        Duration::from_secs(100_001),
        &bearer(&rs256("nope", &base_claims())),
        "",
    )
    .unwrap_err();
    assert_eq!(s.sources.calls(), 2);
}

#[test]
fn key_rotation_picked_up_on_unknown_kid_at_most_once_per_interval() {
    let mut s = Setup::new(&[("refresh-interval", "1h")]);
    let old = bearer(&rs256("rsa1", &base_claims()));
    s.map(&old).unwrap();
    assert_eq!(s.sources.calls(), 1);

    // The issuer rotates to rsa2.
    s.sources.set(SOURCE, Ok(JWKS_ROTATED));
    let key2 = EncodingKey::from_rsa_pem(RSA2).unwrap();
    let new = bearer(&sign_with(
        Algorithm::RS256,
        Some("rsa2"),
        &base_claims(),
        &key2,
    ));
    let claims = s.map_at(Duration::from_secs(10), &new, "").unwrap();
    assert_eq!(claims.subject, "alice");
    assert_eq!(s.sources.calls(), 2);
    // The whole set was replaced: rsa1 is gone, and asking for it again within a second
    // does not refetch.
    let e = s
        .map_at(Duration::from_millis(10_500), &old, "")
        .unwrap_err();
    assert_eq!(e, "unknown key id \"rsa1\"");
    assert_eq!(s.sources.calls(), 2);
    // After unknown-kid-refresh has passed it does (and still does not find it).
    s.map_at(Duration::from_secs(12), &old, "").unwrap_err();
    assert_eq!(s.sources.calls(), 3);
}

#[test]
fn refresh_is_all_or_nothing() {
    const SECOND: &str = "file:///keys/second.json";
    let mut s = Setup::new(&[
        ("key-source-uris", &format!("{SOURCE},{SECOND}")),
        ("refresh-interval", "60s"),
    ]);
    s.sources.set(SECOND, Ok(br#"{"keys": []}"#));
    let jwt = bearer(&rs256("rsa1", &base_claims()));
    s.map(&jwt).unwrap();
    assert_eq!(s.mapper.cache().keys().len(), 2);

    // The second source breaks; the first now has only the rotated key.
    s.sources.set(SOURCE, Ok(JWKS_ROTATED));
    s.sources.set(SECOND, Err("connection refused"));
    let before = s.sources.calls();
    s.map_at(Duration::from_secs(61), &jwt, "").unwrap();
    assert!(s.sources.calls() > before, "a refresh was attempted");
    assert_eq!(s.mapper.cache().keys().len(), 2, "old keys kept");
    assert!(s.mapper.cache().keys().get(Alg::Rs256, "rsa2").is_none());

    // A broken document counts as a failure too.
    s.sources.set(SECOND, Ok(b"<html>"));
    s.map_at(Duration::from_secs(63), &jwt, "").unwrap();
    assert!(s.mapper.cache().keys().get(Alg::Rs256, "rsa1").is_some());

    // Both good again: the new set replaces the old one whole.
    s.sources.set(SECOND, Ok(br#"{"keys": []}"#));
    s.map_at(Duration::from_secs(65), &jwt, "").unwrap_err();
    assert_eq!(s.mapper.cache().keys().len(), 1);
    assert!(s.mapper.cache().keys().get(Alg::Rs256, "rsa2").is_some());
}

#[test]
fn failed_first_fetch_retried_but_throttled() {
    let mut s = Setup::new(&[]);
    s.sources.set(SOURCE, Err("down"));
    let jwt = bearer(&rs256("rsa1", &base_claims()));
    assert_eq!(s.map(&jwt).unwrap_err(), "unknown key id \"rsa1\"");
    assert_eq!(s.sources.calls(), 1);
    s.map_at(Duration::from_millis(300), &jwt, "").unwrap_err();
    assert_eq!(s.sources.calls(), 1, "no retry within unknown-kid-refresh");
    s.sources.set(SOURCE, Ok(JWKS));
    s.map_at(Duration::from_millis(1_200), &jwt, "").unwrap();
    assert_eq!(s.sources.calls(), 2);
}

#[test]
fn bad_config_refuses_every_token() {
    let mut map = HashMap::new();
    map.insert("refresh-interval".to_string(), "soon".to_string());
    let config = Config::load(|k| map.get(k).cloned(), |_| {});
    let mut mapper = Mapper::new(config);
    let e = mapper
        .get_claims("", "", Instant::now(), NOW, &mut FakeSources::default())
        .unwrap_err();
    assert!(e.starts_with("invalid config \"refresh-interval\""), "{e}");
}

#[test]
fn jwks_parsing() {
    let warnings = RefCell::new(Vec::<String>::new());
    let warn = |m: &str| warnings.borrow_mut().push(m.to_owned());
    let mut set = KeySet::default();
    set.add_jwks(JWKS, &warn).unwrap();
    assert_eq!(set.len(), 2);
    assert!(set.get(Alg::Rs256, "rsa1").is_some());
    assert!(set.get(Alg::Es256, "ec1").is_some());
    assert_eq!(
        warnings.borrow().len(),
        2,
        "oct and OKP keys skipped: {:?}",
        warnings.borrow()
    );

    let odd = json!({"keys": [
        {"kty": "RSA", "n": "AQAB", "e": "AQAB"},
        {"kty": "EC", "crv": "P-384", "kid": "p384", "x": "AA", "y": "AA"},
        {"kty": "RSA", "kid": "no-n", "e": "AQAB"}
    ]});
    let mut set = KeySet::default();
    set.add_jwks(&serde_json::to_vec(&odd).unwrap(), &|_| {})
        .unwrap();
    assert!(set.is_empty());

    assert!(KeySet::default().add_jwks(b"not json", &|_| {}).is_err());
    assert!(
        KeySet::default()
            .add_jwks(b"{\"keys\": 1}", &|_| {})
            .is_err()
    );
    assert!(KeySet::default().add_jwks(b"[]", &|_| {}).is_err());
}

#[test]
fn file_source_end_to_end() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/keys/jwks.json");
    let mut map = HashMap::new();
    map.insert("key-source-uris".to_string(), format!("file://{path}"));
    let mut mapper = Mapper::new(Config::load(|k| map.get(k).cloned(), |_| {}));
    let claims = mapper
        .get_claims(
            &bearer(&es256("ec1", &base_claims())),
            "",
            Instant::now(),
            NOW,
            &mut jwt_claim_mapper::fetch::Sources,
        )
        .unwrap();
    assert_eq!(claims.subject, "alice");
}
