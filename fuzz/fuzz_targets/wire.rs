//! The request scanner every call meets before authorization: the gRPC frame (gzip-compressed
//! or not) and top-level fields read by number, then the nested paths routing reads. Any input
//! must give a value or an error: no panic, no hang, no allocation past the message limit.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sundial_api::wire::{field_at_path, field_bytes, field_string, message_bytes};

/// The largest message the fuzzed scanner accepts (the server's limit is larger; the logic is
/// the same and a small one keeps runs fast).
const MAX: usize = 1 << 20;

fuzz_target!(|data: &[u8]| {
    // As a framed body, with and without gzip announced.
    for encoding in [Some("gzip"), None, Some("br")] {
        if let Ok(message) = message_bytes(encoding, data, MAX) {
            assert!(message.len() <= MAX);
            scan(&message);
        }
    }
    // As a message already out of its frame.
    scan(data);
});

fn scan(message: &[u8]) {
    for number in [1, 2, 3, 4, 5, 6, 13, 14] {
        if let Ok(Some(value)) = field_bytes(message, number) {
            assert!(value.len() <= message.len());
            let _ = field_string(value, 1);
        }
        let _ = field_string(message, number);
    }
    for path in [&[2, 1][..], &[4, 1], &[6, 2, 1], &[]] {
        let _ = field_at_path(message, path);
    }
    // What the authorization layer decodes whole: commands naming other namespaces.
    use prost::Message;
    use sundial_api::protos::temporal::api::workflowservice::v1::{
        ExecuteMultiOperationRequest, RespondWorkflowTaskCompletedRequest,
    };
    let _ = RespondWorkflowTaskCompletedRequest::decode(message);
    let _ = ExecuteMultiOperationRequest::decode(message);
}
