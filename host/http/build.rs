//! Compiles the service definitions of the official `temporalio-protos` crate again, this
//! time keeping their method options: the crate's own descriptor set is built without the
//! `google.api.http` annotations that say where each method lives in the HTTP API. The
//! sources are found through `cargo metadata` (the version in this build's lock file), so
//! the routes always come from the same protos as the message types.

use std::{env, fs, path::PathBuf};

/// The files compiled; everything they import comes along.
const FILES: &[&str] = &[
    "temporal/api/workflowservice/v1/service.proto",
    "temporal/api/operatorservice/v1/service.proto",
    "temporal/api/errordetails/v1/message.proto",
    "google/rpc/status.proto",
];

fn main() {
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap()).join("Cargo.toml");
    let metadata = cargo_metadata::MetadataCommand::new()
        .manifest_path(&manifest)
        // Only the packages this build can use: no manifests of other platforms' crates
        // are fetched to answer.
        .other_options(vec![
            "--filter-platform".to_string(),
            env::var("TARGET").expect("cargo sets TARGET"),
        ])
        .exec()
        .expect("cargo metadata");
    let package = metadata
        .packages
        .iter()
        .find(|p| p.name.as_str() == "temporalio-protos")
        .expect("temporalio-protos is a dependency");
    let root = package
        .manifest_path
        .parent()
        .expect("a manifest has a directory")
        .join("protos");
    let includes = [root.join("api_upstream"), root.clone()];
    for file in FILES {
        for include in &includes {
            let path = include.join(file);
            if path.exists() {
                println!("cargo:rerun-if-changed={path}");
            }
        }
    }
    let set = protox::Compiler::new(&includes)
        .expect("the include paths exist")
        .include_imports(true)
        .include_source_info(false)
        .open_files(FILES)
        .unwrap_or_else(|e| panic!("compile {FILES:?} from {root}: {e}"))
        .encode_file_descriptor_set();
    let out = PathBuf::from(env::var("OUT_DIR").unwrap());
    fs::write(out.join("http_descriptors.bin"), set).expect("write http_descriptors.bin");
}
