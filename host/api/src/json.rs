//! Temporal's messages as proto3 JSON (camelCase names, enums by name, 64-bit integers as
//! strings, bytes as base64): what `temporal workflow show --output json` prints and the SDKs
//! read back. Converted through the official descriptor set with `prost-reflect`.

use std::sync::LazyLock;

use prost::Message;
use prost_reflect::{DescriptorPool, DynamicMessage, MessageDescriptor};

pub(crate) static POOL: LazyLock<DescriptorPool> = LazyLock::new(|| {
    DescriptorPool::decode(&include_bytes!(concat!(env!("OUT_DIR"), "/descriptors.bin"))[..])
        .expect("the official descriptor set decodes")
});

fn descriptor(full_name: &str) -> MessageDescriptor {
    POOL.get_message_by_name(full_name)
        .unwrap_or_else(|| panic!("{full_name} is not a Temporal message"))
}

/// `message` (of the type `full_name`, e.g. `temporal.api.history.v1.History`) as JSON.
pub fn to_json<M: Message>(message: &M, full_name: &str) -> serde_json::Value {
    let dynamic = DynamicMessage::decode(descriptor(full_name), message.encode_to_vec().as_slice())
        .expect("a message decodes as its own type");
    serde_json::to_value(&dynamic).expect("a message serializes")
}

/// A message of the type `full_name` read from JSON; the error says what is wrong.
pub fn from_json<M: Message + Default>(
    value: serde_json::Value,
    full_name: &str,
) -> Result<M, String> {
    let dynamic =
        DynamicMessage::deserialize(descriptor(full_name), value).map_err(|e| e.to_string())?;
    M::decode(dynamic.encode_to_vec().as_slice()).map_err(|e| e.to_string())
}

/// Protobuf bytes of the message type `full_name` as JSON text, for callers that name the
/// type themselves (plugins): an unknown type or bytes that do not decode are errors.
pub fn bytes_to_json(full_name: &str, data: &[u8]) -> Result<String, String> {
    let descriptor = POOL
        .get_message_by_name(full_name)
        .ok_or_else(|| format!("{full_name} is not a Temporal message"))?;
    let dynamic = DynamicMessage::decode(descriptor, data)
        .map_err(|e| format!("the bytes are not a {full_name}: {e}"))?;
    serde_json::to_string(&dynamic).map_err(|e| e.to_string())
}

/// The reverse of [`bytes_to_json`].
pub fn json_to_bytes(full_name: &str, json: &str) -> Result<Vec<u8>, String> {
    let descriptor = POOL
        .get_message_by_name(full_name)
        .ok_or_else(|| format!("{full_name} is not a Temporal message"))?;
    let mut de = serde_json::Deserializer::from_str(json);
    let dynamic = DynamicMessage::deserialize(descriptor, &mut de)
        .map_err(|e| format!("not a {full_name} in JSON: {e}"))?;
    de.end()
        .map_err(|e| format!("not a {full_name} in JSON: {e}"))?;
    Ok(dynamic.encode_to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protos::temporal::api::{
        common::v1::{Payload, Payloads},
        enums::v1::EventType,
        history::v1::{
            History, HistoryEvent, WorkflowExecutionStartedEventAttributes,
            history_event::Attributes,
        },
    };

    #[test]
    fn a_history_round_trips_in_temporals_json_form() {
        let history = History {
            events: vec![HistoryEvent {
                event_id: 1,
                event_type: EventType::WorkflowExecutionStarted as i32,
                attributes: Some(Attributes::WorkflowExecutionStartedEventAttributes(
                    WorkflowExecutionStartedEventAttributes {
                        input: Some(Payloads {
                            payloads: vec![Payload {
                                data: b"\"hi\"".to_vec(),
                                ..Default::default()
                            }],
                        }),
                        ..Default::default()
                    },
                )),
                ..Default::default()
            }],
        };
        let json = to_json(&history, "temporal.api.history.v1.History");
        let event = &json["events"][0];
        assert_eq!(event["eventId"], "1");
        assert_eq!(event["eventType"], "EVENT_TYPE_WORKFLOW_EXECUTION_STARTED");
        assert_eq!(
            event["workflowExecutionStartedEventAttributes"]["input"]["payloads"][0]["data"],
            "ImhpIg=="
        );
        let back: History = from_json(json, "temporal.api.history.v1.History").unwrap();
        assert_eq!(back, history);
        let bad = serde_json::json!({"events": [{"eventId": "x"}]});
        assert!(from_json::<History>(bad, "temporal.api.history.v1.History").is_err());
    }

    #[test]
    fn named_types_convert_from_bytes_and_refuse_what_they_cannot() {
        let history = History {
            events: vec![HistoryEvent {
                event_id: 7,
                ..Default::default()
            }],
        };
        let name = "temporal.api.history.v1.History";
        let text = bytes_to_json(name, &history.encode_to_vec()).unwrap();
        assert!(text.contains(r#""eventId":"7""#), "{text}");
        let back = json_to_bytes(name, &text).unwrap();
        assert_eq!(History::decode(back.as_slice()).unwrap(), history);
        assert!(
            bytes_to_json("no.Such", b"")
                .unwrap_err()
                .contains("no.Such")
        );
        assert!(bytes_to_json(name, b"\xff\xff").is_err());
        assert!(json_to_bytes(name, "{\"events\": 3}").is_err());
        assert!(json_to_bytes(name, "{} trailing").is_err());
    }
}
