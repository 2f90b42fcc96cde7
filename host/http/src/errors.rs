//! Failed calls as HTTP answers: the `google.rpc.Status` of the call as JSON (with its
//! details, e.g. a `NotFoundFailure`), under the HTTP status gRPC gateways give its code.

use http::StatusCode;
use prost_reflect::{DynamicMessage, SerializeOptions};
use serde_json::{Value, json};
use tonic::Code;

use crate::descriptors::POOL;

/// The HTTP status of a gRPC code.
pub fn http_status(code: Code) -> StatusCode {
    match code {
        Code::Ok => StatusCode::OK,
        Code::Cancelled => StatusCode::from_u16(499).expect("499 is a status"),
        Code::Unknown | Code::Internal | Code::DataLoss => StatusCode::INTERNAL_SERVER_ERROR,
        Code::InvalidArgument | Code::FailedPrecondition | Code::OutOfRange => {
            StatusCode::BAD_REQUEST
        }
        Code::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
        Code::NotFound => StatusCode::NOT_FOUND,
        Code::AlreadyExists | Code::Aborted => StatusCode::CONFLICT,
        Code::PermissionDenied => StatusCode::FORBIDDEN,
        Code::Unauthenticated => StatusCode::UNAUTHORIZED,
        Code::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
        Code::Unimplemented => StatusCode::NOT_IMPLEMENTED,
        Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
    }
}

/// The body of a failed call: the status its details carry (the server's
/// `google.rpc.Status`, details resolved to their types), else one made of code and message
/// (no `details` key: an empty list is left out, as in proto JSON).
pub fn status_body(status: &tonic::Status) -> Value {
    let from_details = (!status.details().is_empty())
        .then(|| POOL.get_message_by_name("google.rpc.Status"))
        .flatten()
        .and_then(|desc| DynamicMessage::decode(desc, status.details()).ok())
        .and_then(|m| {
            m.serialize_with_options(serde_json::value::Serializer, &SerializeOptions::new())
                .ok()
        });
    match from_details {
        Some(Value::Object(mut body)) => {
            body.insert("code".into(), json!(status.code() as i32));
            body.insert("message".into(), json!(status.message()));
            Value::Object(body)
        }
        _ => json!({"code": status.code() as i32, "message": status.message()}),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    #[test]
    fn details_are_written_with_their_type() {
        // A google.rpc.Status holding an empty NotFoundFailure, encoded by hand: field 1
        // (code) 5, field 3 (details) an Any whose field 1 is the type URL.
        let url = "type.googleapis.com/temporal.api.errordetails.v1.NotFoundFailure";
        let any = prost_types::Any {
            type_url: url.into(),
            value: Vec::new(),
        };
        #[derive(Clone, PartialEq, prost::Message)]
        struct RpcStatus {
            #[prost(int32, tag = "1")]
            code: i32,
            #[prost(string, tag = "2")]
            message: String,
            #[prost(message, repeated, tag = "3")]
            details: Vec<prost_types::Any>,
        }
        let details = RpcStatus {
            code: 5,
            message: "gone".into(),
            details: vec![any],
        }
        .encode_to_vec();
        let status = tonic::Status::with_details(Code::NotFound, "gone", details.into());
        assert_eq!(
            status_body(&status),
            json!({"code": 5, "message": "gone", "details": [{"@type": url}]})
        );
        let plain = tonic::Status::unavailable("later");
        assert_eq!(status_body(&plain)["code"], 14);
        assert_eq!(http_status(Code::ResourceExhausted), 429);
        assert_eq!(http_status(Code::FailedPrecondition), 400);
    }
}
