//! Reading a gRPC request on the wire, before any handler decodes it: the message out of its
//! frame (gunzipped) and top-level fields by number. The server's authorization, routing and
//! metrics layers read every request this way; it is fuzzed (`fuzz/`, target `wire`).

use bytes::Bytes;
use tonic::Status;

fn malformed() -> Status {
    Status::invalid_argument("malformed request")
}

/// The request message's bytes out of its gRPC frame `body`, decompressed as `grpc_encoding`
/// (the request's `grpc-encoding` header) says. A message over `max` bytes, compressed or
/// not, is `ResourceExhausted`; decompression stops there.
pub fn message_bytes(
    grpc_encoding: Option<&str>,
    body: &[u8],
    max: usize,
) -> Result<Bytes, Status> {
    if body.len() < 5 {
        return Err(malformed());
    }
    let compressed = body[0] == 1;
    let len = u32::from_be_bytes([body[1], body[2], body[3], body[4]]) as usize;
    let payload = body.get(5..5 + len).ok_or_else(malformed)?;
    if !compressed {
        if payload.len() > max {
            return Err(Status::resource_exhausted("request too large"));
        }
        return Ok(Bytes::copy_from_slice(payload));
    }
    let encoding = grpc_encoding.unwrap_or("");
    if encoding != "gzip" {
        return Err(Status::unimplemented(format!(
            "Content is compressed with `{encoding}` which isn't supported"
        )));
    }
    let mut out = Vec::new();
    let mut reader = std::io::Read::take(flate2::read::GzDecoder::new(payload), max as u64 + 1);
    std::io::Read::read_to_end(&mut reader, &mut out).map_err(|_| malformed())?;
    if out.len() > max {
        return Err(Status::resource_exhausted("request too large"));
    }
    Ok(out.into())
}

/// The last value of top-level length-delimited field `number` (protobuf: last one wins).
pub fn field_bytes(mut buf: &[u8], number: i32) -> Result<Option<&[u8]>, Status> {
    use prost::encoding::{WireType, decode_key, decode_varint};
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
                let len = decode_varint(&mut buf).map_err(|_| malformed())?;
                let len = usize::try_from(len).map_err(|_| malformed())?;
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

/// Field `number` as a string (empty when absent).
pub fn field_string(buf: &[u8], number: i32) -> Result<String, Status> {
    match field_bytes(buf, number)? {
        Some(v) => String::from_utf8(v.to_vec()).map_err(|_| malformed()),
        None => Ok(String::new()),
    }
}

/// The bytes at a path of nested fields (e.g. `[2, 1]`: field 1 of the message in field 2).
pub fn field_at_path<'a>(mut buf: &'a [u8], path: &[i32]) -> Result<Option<&'a [u8]>, Status> {
    for number in path {
        match field_bytes(buf, *number)? {
            Some(inner) => buf = inner,
            None => return Ok(None),
        }
    }
    Ok((!path.is_empty()).then_some(buf))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(compressed: bool, payload: &[u8]) -> Vec<u8> {
        let mut body = vec![compressed as u8];
        body.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        body.extend_from_slice(payload);
        body
    }

    #[test]
    fn a_gzip_bomb_stops_at_the_limit() {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(&vec![0u8; 10 << 20]).unwrap();
        let body = frame(true, &gz.finish().unwrap());
        assert!(body.len() < 100 << 10, "the bomb is small");
        let err = message_bytes(Some("gzip"), &body, 1 << 20).unwrap_err();
        assert_eq!(err.code(), tonic::Code::ResourceExhausted);
        let err = message_bytes(Some("br"), &body, 1 << 20).unwrap_err();
        assert_eq!(err.code(), tonic::Code::Unimplemented);
    }

    #[test]
    fn fields_are_read_by_number_and_truncation_is_an_error() {
        // field 1: "ab"; field 3: varint 150; field 1 again: "cd" (the last one wins).
        let message = [0x0a, 2, b'a', b'b', 0x18, 0x96, 0x01, 0x0a, 2, b'c', b'd'];
        assert_eq!(field_string(&message, 1).unwrap(), "cd");
        assert_eq!(field_string(&message, 2).unwrap(), "");
        assert!(field_bytes(&message[..message.len() - 1], 1).is_err());
        assert!(field_bytes(&[0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f], 1).is_err());
        let body = frame(false, &message);
        assert_eq!(&message_bytes(None, &body, 64).unwrap()[..], &message);
        assert!(message_bytes(None, &body[..body.len() - 1], 64).is_err());
    }
}
