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
    "s3_archiver",
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
        "plugins/hostile-archiver",
        "plugins/s3-archiver",
        "sdk-plugin/src",
        "sdk-plugin/Cargo.toml",
        "wit",
    ] {
        println!("cargo:rerun-if-changed={}", repo.join(path).display());
    }
    ensure_wasm_target(&plugins);
    let mut build = pinned("cargo", &plugins);
    build
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
    // What cargo sets for this build script must not leak into the nested build (the fuzz
    // build's coverage flags, for one).
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
        panic!("building plugins/ for wasm32-wasip2 failed (see the nested cargo's errors above)");
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

/// `program` run in `plugins/` with the toolchain the repository pins (`rust-toolchain.toml`),
/// whichever one builds the host: `cargo +nightly fuzz` builds the server with nightly, while
/// the components keep being built as always.
fn pinned(program: &str, plugins: &std::path::Path) -> Command {
    let mut command = Command::new(program);
    command
        .current_dir(plugins)
        .env_remove("RUSTUP_TOOLCHAIN")
        .env_remove("RUSTC");
    command
}

/// The `targets` line of `rust-toolchain.toml` is applied only when rustup installs the
/// toolchain; a machine that already has it lacks the wasm32-wasip2 standard library. Add it
/// here, so `cargo build`/`cargo run` work on a fresh machine without a separate step.
fn ensure_wasm_target(plugins: &std::path::Path) {
    const TARGET: &str = "wasm32-wasip2";
    let libdir = pinned("rustc", plugins)
        .args(["--print", "target-libdir", "--target", TARGET])
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map(|out| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()));
    if libdir.as_deref().is_some_and(|dir| dir.is_dir()) {
        return;
    }
    println!("cargo:warning=installing the {TARGET} target with rustup (needed to build plugins/)");
    let added = pinned("rustup", plugins)
        .args(["target", "add", TARGET])
        .status();
    match added {
        Ok(status) if status.success() => {}
        Ok(status) => panic!("`rustup target add {TARGET}` failed ({status}); run it by hand"),
        Err(e) => panic!(
            "the {TARGET} target is missing and rustup could not be run ({e}); \
             install the target for this toolchain"
        ),
    }
}
