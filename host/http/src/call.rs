//! A call made in process to the gRPC service, through every layer a gRPC client's call
//! passes (metrics, authorization, rate limits, routing): tonic's client frames the encoded
//! request and reads the answer and its status back, with a codec that leaves messages as
//! bytes (the gateway encodes and decodes them by their descriptors).

use std::convert::Infallible;

use bytes::{Buf, BufMut, Bytes};
use http::{HeaderMap, Request, Response};
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::metadata::MetadataMap;

/// The gRPC service as a value the gateway can clone per call.
pub type GrpcService = tower::util::BoxCloneSyncService<
    Request<tonic::body::Body>,
    Response<tonic::body::Body>,
    Infallible,
>;

/// Calls `path` with the encoded `message`; `metadata` and `extensions` go with the request
/// as a gRPC client's would (the caller's headers, its connection's details). The reply's
/// encoded message, or the status it failed with.
pub async fn unary(
    service: GrpcService,
    path: &str,
    message: Vec<u8>,
    metadata: HeaderMap,
    extensions: http::Extensions,
) -> Result<Bytes, tonic::Status> {
    let path: http::uri::PathAndQuery = path
        .parse()
        .map_err(|e| tonic::Status::internal(format!("the method path {path:?}: {e}")))?;
    let mut grpc =
        tonic::client::Grpc::with_origin(service, http::Uri::from_static("http://sundial"));
    if let Err(never) = grpc.ready().await {
        match never {}
    }
    let request =
        tonic::Request::from_parts(MetadataMap::from_headers(metadata), extensions, message);
    Ok(grpc.unary(request, path, RawCodec).await?.into_inner())
}

/// Messages as they are on the wire: written and read without decoding.
#[derive(Clone, Copy, Default)]
struct RawCodec;

impl Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Bytes;
    type Encoder = RawCodec;
    type Decoder = RawCodec;

    fn encoder(&mut self) -> RawCodec {
        RawCodec
    }

    fn decoder(&mut self) -> RawCodec {
        RawCodec
    }
}

impl Encoder for RawCodec {
    type Item = Vec<u8>;
    type Error = tonic::Status;

    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for RawCodec {
    type Item = Bytes;
    type Error = tonic::Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, tonic::Status> {
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}
