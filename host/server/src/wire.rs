//! Reading gRPC requests on the wire, before any handler decodes them: the first message of a
//! body, its bytes out of the gRPC frame (gunzipped), top-level fields by number, and putting
//! the body back together. The authorization and routing layers read requests this way.

use bytes::Bytes;
use http_body_util::BodyExt;
use tonic::Status;

/// What the first layer read of a call, left in the request's extensions for the layers
/// after it: the method, the namespace it names (empty for none) and its message.
#[derive(Clone, Debug)]
pub(crate) struct CallInfo {
    pub method: &'static sundial_api::methods::Method,
    pub namespace: String,
    pub message: Option<Bytes>,
}

impl CallInfo {
    /// The method's bare name, e.g. `StartWorkflowExecution`.
    pub fn operation(&self) -> &'static str {
        self.method.path.rsplit('/').next().unwrap_or_default()
    }
}

/// Largest request body read (the services' own limit).
const MAX_BODY: usize = crate::MAX_MESSAGE_SIZE + 5;

/// Reads the body until it holds the first whole gRPC message (or ends): the bytes read, and
/// the rest of the body. Not waiting for the end of the stream saves a round of socket reads
/// on every call.
pub(crate) async fn first_message(
    mut body: tonic::body::Body,
) -> Result<(Bytes, tonic::body::Body), Status> {
    let mut buf = bytes::BytesMut::new();
    loop {
        if buf.len() >= 5 {
            let len = u32::from_be_bytes([buf[1], buf[2], buf[3], buf[4]]) as usize;
            if len > crate::MAX_MESSAGE_SIZE {
                return Err(Status::resource_exhausted("request too large"));
            }
            if buf.len() >= 5 + len {
                break;
            }
        }
        match body.frame().await {
            None => break,
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    buf.extend_from_slice(&data);
                    if buf.len() > MAX_BODY {
                        return Err(Status::resource_exhausted("request too large"));
                    }
                }
            }
            Some(Err(status)) => return Err(status),
        }
    }
    Ok((buf.freeze(), body))
}

/// The request message's bytes out of its gRPC frame (decompressed).
pub(crate) fn message_bytes(headers: &http::HeaderMap, body: &[u8]) -> Result<Bytes, Status> {
    let malformed = || Status::invalid_argument("malformed request");
    if body.len() < 5 {
        return Err(malformed());
    }
    let compressed = body[0] == 1;
    let len = u32::from_be_bytes([body[1], body[2], body[3], body[4]]) as usize;
    let payload = body.get(5..5 + len).ok_or_else(malformed)?;
    if !compressed {
        return Ok(Bytes::copy_from_slice(payload));
    }
    let encoding = headers
        .get("grpc-encoding")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if encoding != "gzip" {
        return Err(Status::unimplemented(format!(
            "Content is compressed with `{encoding}` which isn't supported"
        )));
    }
    let mut out = Vec::new();
    let mut reader = std::io::Read::take(
        flate2::read::GzDecoder::new(payload),
        crate::MAX_MESSAGE_SIZE as u64 + 1,
    );
    std::io::Read::read_to_end(&mut reader, &mut out).map_err(|_| malformed())?;
    if out.len() > crate::MAX_MESSAGE_SIZE {
        return Err(Status::resource_exhausted("request too large"));
    }
    Ok(out.into())
}

/// The last value of top-level length-delimited field `number` (protobuf: last one wins).
pub(crate) fn field_bytes(mut buf: &[u8], number: i32) -> Result<Option<&[u8]>, Status> {
    use prost::encoding::{WireType, decode_key, decode_varint};
    let malformed = || Status::invalid_argument("malformed request");
    let mut found = None;
    while !buf.is_empty() {
        let (tag, wire) = decode_key(&mut buf).map_err(|_| malformed())?;
        match wire {
            WireType::Varint => {
                decode_varint(&mut buf).map_err(|_| malformed())?;
            }
            WireType::SixtyFourBit => buf = buf.get(8..).ok_or_else(malformed)?,
            WireType::ThirtyTwoBit => buf = buf.get(4..).ok_or_else(malformed)?,
            WireType::LengthDelimited => {
                let len = decode_varint(&mut buf).map_err(|_| malformed())? as usize;
                let value = buf.get(..len).ok_or_else(malformed)?;
                if tag as i32 == number {
                    found = Some(value);
                }
                buf = &buf[len..];
            }
            WireType::StartGroup | WireType::EndGroup => return Err(malformed()),
        }
    }
    Ok(found)
}

pub(crate) fn field_string(buf: &[u8], number: i32) -> Result<String, Status> {
    match field_bytes(buf, number)? {
        Some(v) => {
            String::from_utf8(v.to_vec()).map_err(|_| Status::invalid_argument("malformed request"))
        }
        None => Ok(String::new()),
    }
}

/// The bytes at a path of nested fields (e.g. `[2, 1]`: field 1 of the message in field 2).
pub(crate) fn field_at_path<'a>(
    mut buf: &'a [u8],
    path: &[i32],
) -> Result<Option<&'a [u8]>, Status> {
    for number in path {
        match field_bytes(buf, *number)? {
            Some(inner) => buf = inner,
            None => return Ok(None),
        }
    }
    Ok((!path.is_empty()).then_some(buf))
}

/// A body made of the bytes already read, then whatever `rest` still holds (for a unary call,
/// usually just its end).
pub(crate) fn rejoin(read: Bytes, rest: tonic::body::Body) -> tonic::body::Body {
    let head = futures::stream::once(async move { Ok::<_, Status>(http_body::Frame::data(read)) });
    let tail = http_body_util::BodyStream::new(rest);
    let stream = futures::StreamExt::chain(head, tail);
    tonic::body::Body::new(http_body_util::StreamBody::new(stream))
}
