//! Generates only the server traits for the Temporal services. Message types are not
//! generated here: `extern_path` points every package at the official `temporalio-protos`
//! crate, which hands us its compiled descriptor set through its `links` metadata.

use std::{env, fs, path::PathBuf};

use prost::Message;

fn main() {
    let descriptor_path = env::var("DEP_TEMPORALIO_PROTOS_DESCRIPTOR_PATH")
        .expect("temporalio-protos exposes its descriptor set via links metadata");
    println!("cargo:rerun-if-changed={descriptor_path}");
    let bytes = fs::read(&descriptor_path).expect("read temporalio-protos descriptor set");
    let mut fds = tonic_prost_build::FileDescriptorSet::decode(bytes.as_slice())
        .expect("decode descriptor set");
    // Keep only the two services we serve; everything else is referenced through extern_path.
    let wanted = [
        "temporal/api/workflowservice/v1/service.proto",
        "temporal/api/operatorservice/v1/service.proto",
    ];
    for file in &mut fds.file {
        if !wanted.contains(&file.name()) {
            file.service.clear();
        }
    }

    let out = PathBuf::from(env::var("OUT_DIR").unwrap());
    let mut builder = tonic_prost_build::configure()
        .build_client(false)
        .build_server(true)
        .generate_default_stubs(true)
        .codec_path("crate::codec::Codec")
        .out_dir(&out);
    for pkg in [
        ".temporal",
        ".google",
        ".grpc",
        ".coresdk",
        ".nexusannotations",
    ] {
        builder = builder.extern_path(
            pkg,
            format!("::temporalio_protos{}", pkg.replace('.', "::")),
        );
    }
    builder
        .compile_fds_with_config(fds, prost_build_config())
        .expect("generate service stubs");
}

fn prost_build_config() -> tonic_prost_build::Config {
    tonic_prost_build::Config::new()
}
