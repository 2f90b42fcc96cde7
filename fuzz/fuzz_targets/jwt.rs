//! The JWT claim mapper's parsing: a JSON Web Key Set document and a bearer token (the input
//! split at its first NUL byte), mapped to claims or refused: no panic, no hang.
#![no_main]

use std::time::Instant;

use jwt_claim_mapper::Mapper;
use jwt_claim_mapper::cache::Fetch;
use jwt_claim_mapper::config::Config;
use libfuzzer_sys::fuzz_target;

/// Serves the fuzzed JWKS document for every key source.
struct Document<'a>(&'a [u8]);

impl Fetch for Document<'_> {
    fn fetch(&mut self, _uri: &str) -> Result<Vec<u8>, String> {
        Ok(self.0.to_vec())
    }
}

fuzz_target!(|data: &[u8]| {
    let (jwks, token) = match data.iter().position(|b| *b == 0) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &[][..]),
    };
    let Ok(token) = std::str::from_utf8(token) else {
        return;
    };
    let config = Config::load(
        |key| (key == "key-source-uris").then(|| "file:///keys/jwks.json".to_string()),
        |_| {},
    );
    let mut mapper = Mapper::new(config);
    let mut keys = jwt_claim_mapper::jwks::KeySet::default();
    let _ = keys.add_jwks(jwks, &|_| {});
    for auth in [token.to_string(), format!("Bearer {token}")] {
        let _ = mapper.get_claims(&auth, "sundial", Instant::now(), 1_700_000_000, &mut Document(jwks));
    }
});
