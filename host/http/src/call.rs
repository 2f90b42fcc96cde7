//! A call made in process to the gRPC service, through every layer a gRPC client's call
//! passes (metrics, authorization, rate limits, routing): the request framed as gRPC frames
//! it, the answer read back from the frame and the status trailers.

use std::convert::Infallible;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use http::{HeaderMap, HeaderValue, Request, Response};
use http_body_util::{BodyExt, Full};
use tower::ServiceExt;

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
    let mut frame = BytesMut::with_capacity(message.len() + 5);
    frame.put_u8(0);
    frame.put_u32(message.len() as u32);
    frame.put_slice(&message);
    let mut request = Request::builder()
        .method(http::Method::POST)
        .uri(format!("http://sundial{path}"))
        .version(http::Version::HTTP_2)
        .body(tonic::body::Body::new(Full::new(frame.freeze())))
        .map_err(|e| tonic::Status::internal(format!("building the call: {e}")))?;
    *request.extensions_mut() = extensions;
    let headers = request.headers_mut();
    headers.extend(metadata);
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/grpc"),
    );
    headers.insert(http::header::TE, HeaderValue::from_static("trailers"));
    let response = match service.oneshot(request).await {
        Ok(r) => r,
        Err(never) => match never {},
    };
    // A call refused before it ran answers with its status in the headers alone.
    if let Some(status) = tonic::Status::from_header_map(response.headers())
        && status.code() != tonic::Code::Ok
    {
        return Err(status);
    }
    let collected = response
        .into_body()
        .collect()
        .await
        .map_err(|e| tonic::Status::internal(format!("reading the reply: {e}")))?;
    let status = collected
        .trailers()
        .and_then(tonic::Status::from_header_map)
        .unwrap_or_else(|| tonic::Status::internal("the reply carried no status"));
    if status.code() != tonic::Code::Ok {
        return Err(status);
    }
    let mut body = collected.to_bytes();
    if body.len() < 5 {
        return Err(tonic::Status::internal("the reply carried no message"));
    }
    let compressed = body.get_u8();
    let len = body.get_u32() as usize;
    if compressed != 0 || body.len() < len {
        return Err(tonic::Status::internal("the reply's frame cannot be read"));
    }
    Ok(body.split_to(len))
}
