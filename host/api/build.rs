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
    // The whole set, for proto3 JSON of any message (`json.rs`).
    let out = PathBuf::from(env::var("OUT_DIR").unwrap());
    fs::write(out.join("descriptors.bin"), &bytes).expect("write descriptors.bin");
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

    fs::write(out.join("methods.rs"), method_table(&fds)).expect("write methods.rs");
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

/// Where a request names its workflow id: a top-level `workflow_id` string, or the
/// `workflow_id` (field 1) of a top-level `WorkflowExecution`, or of the one in an `UpdateRef`.
fn workflow_id_path(m: &prost_types::DescriptorProto) -> Option<Vec<i32>> {
    const STRING: i32 = 9;
    if let Some(f) = m
        .field
        .iter()
        .find(|f| f.name() == "workflow_id" && f.r#type == Some(STRING))
    {
        return Some(vec![f.number()]);
    }
    for f in &m.field {
        // A repeated field names several workflows: not one route.
        if f.label() == prost_types::field_descriptor_proto::Label::Repeated {
            continue;
        }
        match f.type_name() {
            ".temporal.api.common.v1.WorkflowExecution" => return Some(vec![f.number(), 1]),
            // UpdateRef.workflow_execution is field 1.
            ".temporal.api.update.v1.UpdateRef" => return Some(vec![f.number(), 1, 1]),
            _ => {}
        }
    }
    None
}

fn prost_build_config() -> tonic_prost_build::Config {
    tonic_prost_build::Config::new()
}

/// A table of every served method: full gRPC path, request message, and the field number of
/// the request's top-level `namespace` string (what the authorization layer reads).
fn method_table(fds: &tonic_prost_build::FileDescriptorSet) -> String {
    // FieldDescriptorProto.Type.TYPE_STRING
    const STRING: i32 = 9;
    const BYTES: i32 = 12;
    let mut messages = std::collections::HashMap::new();
    for file in &fds.file {
        for m in &file.message_type {
            messages.insert(format!(".{}.{}", file.package(), m.name()), m);
        }
    }
    let mut rows = String::new();
    for file in &fds.file {
        for service in &file.service {
            for method in &service.method {
                let input = method.input_type();
                let namespace_field = messages
                    .get(input)
                    .and_then(|m| {
                        m.field
                            .iter()
                            .find(|f| f.name() == "namespace" && f.r#type == Some(STRING))
                    })
                    .map(|f| f.number());
                let task_token_field = messages
                    .get(input)
                    .and_then(|m| {
                        m.field
                            .iter()
                            .find(|f| f.name() == "task_token" && f.r#type == Some(BYTES))
                    })
                    .map(|f| f.number());
                let workflow_id_path = messages
                    .get(input)
                    .and_then(|m| workflow_id_path(m))
                    .unwrap_or_default();
                let task_queue_path = messages
                    .get(input)
                    .and_then(|m| {
                        m.field.iter().find(|f| {
                            f.name() == "task_queue"
                                && f.type_name() == ".temporal.api.taskqueue.v1.TaskQueue"
                        })
                    })
                    // TaskQueue.name is field 1.
                    .map(|f| vec![f.number(), 1])
                    .unwrap_or_default();
                rows.push_str(&format!(
                    "    Method {{ path: \"/{}.{}/{}\", request_type: \"{}\", namespace_field: {:?}, task_token_field: {:?}, workflow_id_path: &{:?}, task_queue_path: &{:?} }},\n",
                    file.package(),
                    service.name(),
                    method.name(),
                    input.trim_start_matches('.'),
                    namespace_field,
                    task_token_field,
                    workflow_id_path,
                    task_queue_path,
                ));
            }
        }
    }
    format!("pub static METHODS: &[Method] = &[\n{rows}];\n")
}
