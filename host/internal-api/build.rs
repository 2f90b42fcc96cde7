//! Generates messages, clients and servers for `proto/sundial/internal/v1/internal.proto`
//! with protox (no `protoc` needed on the machine).

fn main() {
    let proto = "sundial/internal/v1/internal.proto";
    println!("cargo:rerun-if-changed=proto/{proto}");
    let fds = protox::compile([proto], ["proto"]).expect("compile the internal proto");
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(fds)
        .expect("generate the internal API");
}
