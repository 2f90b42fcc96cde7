//! Reading gRPC requests on the wire, before any handler decodes them: the first message of a
//! body, its bytes out of the gRPC frame and its fields (`sundial_api::wire`, fuzzed), and
//! putting the body back together. The authorization and routing layers read requests this way.

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

pub(crate) use sundial_api::wire::{field_at_path, field_bytes, field_string};

/// The request message's bytes out of its gRPC frame (decompressed as its `grpc-encoding`
/// header says), at most the services' message limit.
pub(crate) fn message_bytes(headers: &http::HeaderMap, body: &[u8]) -> Result<Bytes, Status> {
    let encoding = headers.get("grpc-encoding").and_then(|v| v.to_str().ok());
    sundial_api::wire::message_bytes(encoding, body, crate::MAX_MESSAGE_SIZE)
}

/// The first gRPC frame `read` again, holding `message` (its payload, decompressed)
/// uncompressed, with the request's `grpc-encoding` header gone; `read` as it was when it
/// is not one compressed frame.
pub(crate) fn uncompressed(headers: &mut http::HeaderMap, read: Bytes, message: &Bytes) -> Bytes {
    let one_compressed_frame = read.len() >= 5
        && read[0] == 1
        && u32::from_be_bytes([read[1], read[2], read[3], read[4]]) as usize == read.len() - 5;
    if !one_compressed_frame {
        return read;
    }
    headers.remove("grpc-encoding");
    let mut frame = bytes::BytesMut::with_capacity(5 + message.len());
    frame.extend_from_slice(&[0]);
    frame.extend_from_slice(&(message.len() as u32).to_be_bytes());
    frame.extend_from_slice(message);
    frame.freeze()
}

/// A body made of the bytes already read, then whatever `rest` still holds (for a unary call,
/// usually just its end).
pub(crate) fn rejoin(read: Bytes, rest: tonic::body::Body) -> tonic::body::Body {
    let head = futures::stream::once(async move { Ok::<_, Status>(http_body::Frame::data(read)) });
    let tail = http_body_util::BodyStream::new(rest);
    let stream = futures::StreamExt::chain(head, tail);
    tonic::body::Body::new(http_body_util::StreamBody::new(stream))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(flag: u8, payload: &[u8]) -> Vec<u8> {
        let mut f = vec![flag];
        f.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        f.extend_from_slice(payload);
        f
    }

    #[test]
    fn a_compressed_frame_goes_on_uncompressed_without_its_encoding() {
        let mut headers = http::HeaderMap::new();
        headers.insert("grpc-encoding", "gzip".parse().unwrap());
        let read = Bytes::from(frame(1, b"zipped"));
        let message = Bytes::from_static(b"the message");
        let out = uncompressed(&mut headers, read, &message);
        assert_eq!(out.as_ref(), frame(0, b"the message").as_slice());
        assert!(headers.get("grpc-encoding").is_none());
        // What the next layer reads back is the same message.
        assert_eq!(message_bytes(&headers, &out).unwrap(), message);
    }

    #[test]
    fn anything_but_one_compressed_frame_is_left_as_it_is() {
        let message = Bytes::from_static(b"m");
        for read in [
            frame(0, b"plain"),
            [frame(1, b"one"), frame(1, b"two")].concat(),
            vec![1, 0],
        ] {
            let mut headers = http::HeaderMap::new();
            headers.insert("grpc-encoding", "gzip".parse().unwrap());
            let out = uncompressed(&mut headers, Bytes::from(read.clone()), &message);
            assert_eq!(out.as_ref(), read.as_slice());
            assert!(headers.get("grpc-encoding").is_some());
        }
    }
}
