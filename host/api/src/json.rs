//! Temporal's messages as proto3 JSON (camelCase names, enums by name, 64-bit integers as
//! strings, bytes as base64): what `temporal workflow show --output json` prints and the SDKs
//! read back. Converted through the official descriptor set with `prost-reflect`.

use std::sync::LazyLock;

use prost::Message;
use prost_reflect::{DescriptorPool, DynamicMessage, MessageDescriptor};

static POOL: LazyLock<DescriptorPool> = LazyLock::new(|| {
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
}
