//! What the server's integration tests share: a gRPC client that sends already-encoded
//! request bytes (so tests can send what no SDK would) and decodes the reply.

use std::marker::PhantomData;

use prost::Message;
use tonic::codec::{BufferSettings, Codec, CompressionEncoding, EncodeBuf, Encoder};
use tonic::transport::Channel;
use tonic_prost::ProstDecoder;

pub const WORKFLOW_SERVICE: &str = "/temporal.api.workflowservice.v1.WorkflowService/";

/// Sends raw request bytes, decodes the reply as `U`.
pub struct RawCodec<U>(PhantomData<U>);

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
