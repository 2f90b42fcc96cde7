//! Builds the `plugins/` workspace for wasm32-wasip2 (its own target directory,
//! `plugins/target`) and copies the default components next to this crate's output, so the
//! server embeds them. The test fixtures built alongside stay in `plugins/target` for tests.

use std::path::PathBuf;
use std::process::Command;

/// Crates whose components the server embeds: (crate directory, component file).
const EMBEDDED: &[&str] = &[
    "jwt_claim_mapper",
    "cert_claim_mapper",
    "default_authorizer",
    "nop_authorizer",
    "file_visibility_store",
];

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let repo = manifest
        .join("../..")
        .canonicalize()
        .expect("repository root");
    let plugins = repo.join("plugins");
    for path in [
        "plugins/Cargo.toml",
        "plugins/Cargo.lock",
        "plugins/jwt-claim-mapper",
        "plugins/cert-claim-mapper",
        "plugins/default-authorizer",
        "plugins/nop-authorizer",
        "plugins/file-visibility-store",
        "host/visquery/src",
        "plugins/allow-namespaces",
        "plugins/static-claims",
        "plugins/echo-claims",
        "plugins/hostile",
        "sdk-plugin/src",
        "sdk-plugin/Cargo.toml",
        "wit",
    ] {
        println!("cargo:rerun-if-changed={}", repo.join(path).display());
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut build = Command::new(cargo);
    build
        .current_dir(&plugins)
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip2",
            "--manifest-path",
        ])
        .arg(plugins.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(plugins.join("target"));
    // What cargo sets for this build script must not leak into the nested build.
    for var in [
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_BUILD_TARGET",
        "CARGO_TARGET_DIR",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_PRIMARY_PACKAGE",
    ] {
        build.env_remove(var);
    }
    let status = build.status().expect("run cargo for plugins/");
    if !status.success() {
        panic!(
            "building plugins/ for wasm32-wasip2 failed (is the target installed? \
             `rustup target add wasm32-wasip2`)"
        );
    }
    let built = plugins.join("target/wasm32-wasip2/release");
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap());
    for name in EMBEDDED {
        let file = format!("{name}.wasm");
        std::fs::copy(built.join(&file), out.join(&file))
            .unwrap_or_else(|e| panic!("copy {file}: {e}"));
    }
    println!("cargo:rustc-env=SUNDIAL_PLUGINS_BUILT={}", built.display());
}
