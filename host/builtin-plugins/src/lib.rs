//! The default plugin components, embedded in the server: the config names them with
//! `builtin: <name>` instead of a `file:`.

/// `(name, component bytes)` of every embedded component.
pub const BUILTINS: &[(&str, &[u8])] = &[
    (
        "jwt-claim-mapper",
        include_bytes!(concat!(env!("OUT_DIR"), "/jwt_claim_mapper.wasm")),
    ),
    (
        "cert-claim-mapper",
        include_bytes!(concat!(env!("OUT_DIR"), "/cert_claim_mapper.wasm")),
    ),
    (
        "default-authorizer",
        include_bytes!(concat!(env!("OUT_DIR"), "/default_authorizer.wasm")),
    ),
    (
        "nop-authorizer",
        include_bytes!(concat!(env!("OUT_DIR"), "/nop_authorizer.wasm")),
    ),
    (
        "file-visibility-store",
        include_bytes!(concat!(env!("OUT_DIR"), "/file_visibility_store.wasm")),
    ),
    (
        "s3-archiver",
        include_bytes!(concat!(env!("OUT_DIR"), "/s3_archiver.wasm")),
    ),
];

/// The embedded component called `name`.
pub fn builtin(name: &str) -> Option<&'static [u8]> {
    BUILTINS.iter().find(|(n, _)| *n == name).map(|(_, b)| *b)
}

/// The world each builtin implements.
pub fn kind(name: &str) -> Option<&'static str> {
    match name {
        "jwt-claim-mapper" | "cert-claim-mapper" => Some("claim-mapper"),
        "default-authorizer" | "nop-authorizer" => Some("authorizer"),
        "file-visibility-store" => Some("visibility-store"),
        "s3-archiver" => Some("archiver"),
        _ => None,
    }
}

/// Where the nested build put every component of `plugins/`, test fixtures included.
pub const BUILT_DIR: &str = env!("SUNDIAL_PLUGINS_BUILT");
