//! What the server's integration tests share: a gRPC client that sends already-encoded
//! request bytes (so tests can send what no SDK would) and decodes the reply, a start request,
//! and the development certificates of config/mtls-certs.sh.
#![allow(dead_code)] // each test binary uses a part of it

use std::marker::PhantomData;

use prost::Message;
use temporalio_protos::temporal::api::common::v1::WorkflowType;
use temporalio_protos::temporal::api::taskqueue::v1::TaskQueue;
use temporalio_protos::temporal::api::workflowservice::v1::StartWorkflowExecutionRequest;
use tonic::codec::{BufferSettings, Codec, CompressionEncoding, EncodeBuf, Encoder};
use tonic::transport::Channel;
use tonic_prost::ProstDecoder;

pub const WORKFLOW_SERVICE: &str = "/temporal.api.workflowservice.v1.WorkflowService/";

/// Sends raw request bytes, decodes the reply as `U`.
pub struct RawCodec<U>(pub PhantomData<U>);

pub struct RawEncoder;

impl Encoder for RawEncoder {
    type Item = Vec<u8>;
    type Error = tonic::Status;
    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        use bytes::BufMut;
        dst.put_slice(&item);
        Ok(())
    }
}

impl<U: Message + Default + Send + 'static> Codec for RawCodec<U> {
    type Encode = Vec<u8>;
    type Decode = U;
    type Encoder = RawEncoder;
    type Decoder = ProstDecoder<U>;
    fn encoder(&mut self) -> RawEncoder {
        RawEncoder
    }
    fn decoder(&mut self) -> ProstDecoder<U> {
        ProstDecoder::new(BufferSettings::default())
    }
}

/// One WorkflowService call with `body` as the request bytes, gzip-compressed if asked.
pub async fn raw_call<U: Message + Default + Send + 'static>(
    channel: &Channel,
    method: &str,
    body: Vec<u8>,
    gzip: bool,
) -> Result<U, tonic::Status> {
    let mut grpc = tonic::client::Grpc::new(channel.clone())
        .max_decoding_message_size(64 << 20)
        .max_encoding_message_size(64 << 20);
    if gzip {
        grpc = grpc.send_compressed(CompressionEncoding::Gzip);
    }
    grpc.ready().await.expect("channel ready");
    let path = format!("{WORKFLOW_SERVICE}{method}").parse().unwrap();
    grpc.unary(tonic::Request::new(body), path, RawCodec::<U>(PhantomData))
        .await
        .map(|r| r.into_inner())
}

/// Connects to a server started in this process.
pub async fn connect(addr: std::net::SocketAddr) -> Channel {
    Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .expect("connect")
}

/// A start of a `Probe` workflow on `queue`, with a fresh request id.
pub fn start_request(
    namespace: &str,
    workflow_id: &str,
    queue: &str,
) -> StartWorkflowExecutionRequest {
    StartWorkflowExecutionRequest {
        namespace: namespace.into(),
        workflow_id: workflow_id.into(),
        workflow_type: Some(WorkflowType {
            name: "Probe".into(),
        }),
        task_queue: Some(TaskQueue {
            name: queue.into(),
            ..Default::default()
        }),
        request_id: uuid::Uuid::new_v4().to_string(),
        ..Default::default()
    }
}

/// Runs config/mtls-certs.sh (a new CA each time) into `out` (needs `openssl`).
pub fn mtls_certs(out: &std::path::Path) {
    let repo = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let made = std::process::Command::new("bash")
        .arg(repo.join("config/mtls-certs.sh"))
        .arg(out)
        .output()
        .expect("run config/mtls-certs.sh");
    assert!(
        made.status.success(),
        "mtls-certs.sh: {}",
        String::from_utf8_lossy(&made.stderr)
    );
}
