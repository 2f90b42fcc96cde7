//! Temporal's JSON dialect over proto3 JSON: camelCase names out (either name in), 64-bit
//! integers as strings, enums by name (in: also by number, and by the short names older
//! clients send, `BufferOne` for `SCHEDULE_OVERLAP_POLICY_BUFFER_ONE`), and the payload
//! shorthand, on unless the caller turns it off: a `json/plain` payload is written as its
//! JSON value, a `json/protobuf` one as its object with `_protoMessageType`, and a list of
//! payloads as a bare array; what a caller sends is read the same way back.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use prost_reflect::{
    DeserializeOptions, DynamicMessage, EnumDescriptor, Kind, MessageDescriptor, ReflectMessage,
    SerializeOptions,
};
use serde_json::{Map, Value};

const PAYLOAD: &str = "temporal.api.common.v1.Payload";
const PAYLOADS: &str = "temporal.api.common.v1.Payloads";
const MESSAGE_TYPE_KEY: &str = "_protoMessageType";
/// `binary/null` in base64, as a standard payload's metadata holds it.
const BINARY_NULL: &str = "YmluYXJ5L251bGw=";

/// A request of type `desc` read from JSON.
pub fn read(
    desc: MessageDescriptor,
    mut value: Value,
    shorthand: bool,
) -> Result<DynamicMessage, String> {
    walk(&desc, &mut value, &mut |m, v| inbound(m, v, shorthand))?;
    DynamicMessage::deserialize_with_options(desc, value, &DeserializeOptions::new())
        .map_err(|e| e.to_string())
}

/// A reply as JSON. It fails only for an `Any` of a type the descriptor set lacks.
pub fn write(message: &DynamicMessage, shorthand: bool) -> Result<Value, String> {
    let mut value = message
        .serialize_with_options(serde_json::value::Serializer, &SerializeOptions::new())
        .map_err(|e| e.to_string())?;
    if shorthand {
        let _ = walk(&message.descriptor(), &mut value, &mut |m, v| {
            Ok(outbound(m, v))
        });
    }
    Ok(value)
}

/// What to do with one value of a message-typed field: `Ok(true)` when handled (not walked
/// into).
type Visit<'a> = dyn FnMut(&MessageDescriptor, &mut Value) -> Result<bool, String> + 'a;

/// Calls `visit` on every message value inside `value` (of type `desc`), outermost first,
/// and fixes enum names on the way in. Keys that name no field are left for the decoder
/// to refuse.
fn walk(desc: &MessageDescriptor, value: &mut Value, visit: &mut Visit<'_>) -> Result<(), String> {
    let Value::Object(fields) = value else {
        return Ok(());
    };
    for (key, v) in fields.iter_mut() {
        let Some(field) = desc
            .get_field_by_json_name(key)
            .or_else(|| desc.get_field_by_name(key))
        else {
            continue;
        };
        let kind = if field.is_map() {
            match field.kind() {
                Kind::Message(entry) => entry.map_entry_value_field().kind(),
                other => other,
            }
        } else {
            field.kind()
        };
        let mut each = |v: &mut Value| -> Result<(), String> {
            match &kind {
                Kind::Enum(e) => legacy_enum(e, v),
                Kind::Message(m)
                    if !m.full_name().starts_with("google.protobuf.") && !visit(m, v)? =>
                {
                    walk(m, v, visit)?;
                }
                _ => {}
            }
            Ok(())
        };
        match v {
            Value::Array(items) if field.is_list() => items.iter_mut().try_for_each(&mut each)?,
            Value::Object(entries) if field.is_map() => {
                entries.values_mut().try_for_each(&mut each)?
            }
            _ if field.is_list() || field.is_map() => {}
            v => each(v)?,
        }
    }
    Ok(())
}

/// `BufferOne` (for an enum `ScheduleOverlapPolicy`) as `SCHEDULE_OVERLAP_POLICY_BUFFER_ONE`,
/// when the text is not a value's name already.
fn legacy_enum(e: &EnumDescriptor, v: &mut Value) {
    let Value::String(text) = v else { return };
    if e.get_value_by_name(text).is_some() {
        return;
    }
    let full = format!("{}_{}", screaming_snake(e.name()), screaming_snake(text));
    if e.get_value_by_name(&full).is_some() {
        *text = full;
    }
}

/// `BufferOne` → `BUFFER_ONE`, `ScheduleOverlapPolicy` → `SCHEDULE_OVERLAP_POLICY`.
fn screaming_snake(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 4);
    let mut prev_lower = false;
    for c in text.chars() {
        if c.is_ascii_uppercase() && prev_lower {
            out.push('_');
        }
        prev_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
        out.push(c.to_ascii_uppercase());
    }
    out
}

fn inbound(m: &MessageDescriptor, v: &mut Value, shorthand: bool) -> Result<bool, String> {
    if !shorthand {
        return Ok(false);
    }
    match m.full_name() {
        PAYLOAD => {
            payload_in(v)?;
            Ok(true)
        }
        PAYLOADS => {
            match v {
                Value::Array(items) => {
                    items.iter_mut().try_for_each(payload_in)?;
                    let items = std::mem::take(items);
                    *v = Value::Object(Map::from_iter([(
                        "payloads".to_string(),
                        Value::Array(items),
                    )]));
                }
                // The standard form; its payloads may still be shorthand.
                Value::Object(fields) => {
                    if let Some(Value::Array(items)) = fields.get_mut("payloads") {
                        items.iter_mut().try_for_each(payload_in)?;
                    }
                }
                _ => {}
            }
            Ok(true)
        }
        _ => Ok(false),
    }
}

fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let url = text.contains(['-', '_']);
    let padded = text.len().is_multiple_of(4);
    let engine = match (url, padded) {
        (false, true) => &STANDARD,
        (false, false) => &STANDARD_NO_PAD,
        (true, true) => &URL_SAFE,
        (true, false) => &URL_SAFE_NO_PAD,
    };
    engine.decode(text).ok()
}

/// A payload in the standard form: `metadata` (base64 values, an `encoding` among them) and
/// `data` and nothing else, or `binary/null` metadata alone.
fn is_standard(fields: &Map<String, Value>) -> bool {
    let Some(Value::Object(metadata)) = fields.get("metadata") else {
        return false;
    };
    let Some(encoding) = metadata.get("encoding") else {
        return false;
    };
    if !fields.contains_key("data") {
        return fields.len() == 1 && encoding == BINARY_NULL;
    }
    fields.len() == 2
        && matches!(fields.get("data"), Some(Value::String(d)) if decode_base64(d).is_some())
        && metadata
            .values()
            .all(|v| matches!(v, Value::String(s) if decode_base64(s).is_some()))
}

fn standard(metadata: &[(&str, &[u8])], data: &[u8]) -> Value {
    let metadata: Map<String, Value> = metadata
        .iter()
        .map(|(k, v)| (k.to_string(), Value::String(STANDARD.encode(v))))
        .collect();
    let mut fields = Map::new();
    fields.insert("metadata".into(), Value::Object(metadata));
    if !data.is_empty() {
        fields.insert("data".into(), Value::String(STANDARD.encode(data)));
    }
    Value::Object(fields)
}

fn payload_in(v: &mut Value) -> Result<(), String> {
    if let Value::Object(fields) = v
        && is_standard(fields)
    {
        return Ok(());
    }
    *v = match std::mem::take(v) {
        Value::Null => standard(&[("encoding", b"binary/null")], b""),
        Value::Object(mut fields) if fields.contains_key(MESSAGE_TYPE_KEY) => {
            let Some(Value::String(message_type)) = fields.remove(MESSAGE_TYPE_KEY) else {
                return Err(format!("{MESSAGE_TYPE_KEY} must be a string"));
            };
            let data = serde_json::to_vec(&fields).expect("JSON serializes");
            standard(
                &[
                    ("encoding", b"json/protobuf"),
                    ("messageType", message_type.as_bytes()),
                ],
                &data,
            )
        }
        other => {
            let data = serde_json::to_vec(&other).expect("JSON serializes");
            standard(&[("encoding", b"json/plain")], &data)
        }
    };
    Ok(())
}

fn outbound(m: &MessageDescriptor, v: &mut Value) -> bool {
    match m.full_name() {
        PAYLOAD => {
            if let Some(short) = payload_out(v) {
                *v = short;
            }
            true
        }
        PAYLOADS => {
            let Value::Object(fields) = v else {
                return true;
            };
            let mut items = match fields.remove("payloads") {
                Some(Value::Array(items)) => items,
                _ => Vec::new(),
            };
            let short: Option<Vec<Value>> = items.iter().map(payload_out).collect();
            match short {
                Some(short) => *v = Value::Array(short),
                None => {
                    // Not every payload has a shorthand: the standard form, each payload
                    // written short where it can be.
                    for item in &mut items {
                        if let Some(s) = payload_out(item) {
                            *item = s;
                        }
                    }
                    fields.insert("payloads".into(), Value::Array(items));
                }
            }
            true
        }
        _ => false,
    }
}

/// The shorthand of a standard payload, if it has one.
fn payload_out(v: &Value) -> Option<Value> {
    let Value::Object(fields) = v else {
        return None;
    };
    let Some(Value::Object(metadata)) = fields.get("metadata") else {
        return None;
    };
    let text = |key: &str| match metadata.get(key) {
        Some(Value::String(s)) => decode_base64(s),
        _ => None,
    };
    let data = match fields.get("data") {
        Some(Value::String(d)) => decode_base64(d)?,
        _ => Vec::new(),
    };
    match text("encoding")?.as_slice() {
        b"binary/null" => Some(serde_json::json!({"metadata": {"encoding": BINARY_NULL}})),
        b"json/plain" if metadata.len() == 1 => serde_json::from_slice(&data).ok(),
        b"json/protobuf" if metadata.len() == 2 => {
            let message_type = String::from_utf8(text("messageType")?).ok()?;
            if message_type.is_empty() {
                return None;
            }
            let Ok(Value::Object(mut object)) = serde_json::from_slice(&data) else {
                return None;
            };
            object.insert(MESSAGE_TYPE_KEY.into(), Value::String(message_type));
            Some(Value::Object(object))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::descriptors::POOL;
    use serde_json::json;

    fn desc(name: &str) -> MessageDescriptor {
        POOL.get_message_by_name(name).unwrap()
    }

    const START: &str = "temporal.api.workflowservice.v1.StartWorkflowExecutionRequest";

    #[test]
    fn shorthand_payloads_round_trip() {
        let request = json!({
            "namespace": "default",
            "workflowId": "w",
            "workflowType": {"name": "T"},
            "input": ["text", {"a": 1}, null, {"_protoMessageType": "foo.Bar", "x": "y"}],
            "workflowExecutionTimeout": "1.500s",
        });
        let message = read(desc(START), request.clone(), true).unwrap();
        let payloads = message.get_field_by_name("input").unwrap();
        let payloads = payloads
            .as_message()
            .unwrap()
            .get_field_by_name("payloads")
            .unwrap();
        let items = payloads.as_list().unwrap();
        let encoding = |i: usize| {
            let p = items[i].as_message().unwrap();
            let md = p.get_field_by_name("metadata").unwrap();
            let md = md.as_map().unwrap();
            md[&prost_reflect::MapKey::String("encoding".into())]
                .as_bytes()
                .unwrap()
                .to_vec()
        };
        assert_eq!(encoding(0), b"json/plain");
        assert_eq!(encoding(2), b"binary/null");
        assert_eq!(encoding(3), b"json/protobuf");
        let out = write(&message, true).unwrap();
        assert_eq!(out["input"][0], "text");
        assert_eq!(out["input"][1], json!({"a": 1}));
        assert_eq!(
            out["input"][2],
            json!({"metadata": {"encoding": BINARY_NULL}})
        );
        assert_eq!(
            out["input"][3],
            json!({"_protoMessageType": "foo.Bar", "x": "y"})
        );
        assert_eq!(out["workflowExecutionTimeout"], "1.500s");
        // Without the shorthand: the standard form, both ways.
        let plain = write(&message, false).unwrap();
        assert_eq!(
            plain["input"]["payloads"][0]["data"],
            STANDARD.encode("\"text\"")
        );
        let back = read(desc(START), plain, false).unwrap();
        assert_eq!(back, message);
        assert!(
            read(desc(START), request, false).is_err(),
            "shorthand needs the dialect"
        );
    }

    #[test]
    fn standard_payloads_pass_the_shorthand_reader_unchanged() {
        let standard = json!({"metadata": {"encoding": STANDARD.encode("binary/plain")}, "data": STANDARD.encode([1u8, 2, 3])});
        let request = json!({"namespace": "d", "input": {"payloads": [standard.clone()]}});
        let message = read(desc(START), request, true).unwrap();
        let out = write(&message, true).unwrap();
        assert_eq!(
            out["input"],
            json!({"payloads": [standard]}),
            "no shorthand for binary/plain"
        );
    }

    #[test]
    fn enums_are_read_by_any_of_their_names() {
        let name = "temporal.api.workflowservice.v1.StartWorkflowExecutionRequest";
        for policy in [
            json!("WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE"),
            json!("RejectDuplicate"),
            json!(3),
        ] {
            let m = read(desc(name), json!({"workflowIdReusePolicy": policy}), true).unwrap();
            assert_eq!(
                m.get_field_by_name("workflow_id_reuse_policy")
                    .unwrap()
                    .as_enum_number(),
                Some(3),
                "{policy}"
            );
        }
        assert!(
            read(
                desc(name),
                json!({"workflowIdReusePolicy": "Nonsense"}),
                true
            )
            .is_err()
        );
        assert_eq!(
            screaming_snake("ScheduleOverlapPolicy"),
            "SCHEDULE_OVERLAP_POLICY"
        );
        assert_eq!(screaming_snake("BufferOne"), "BUFFER_ONE");
    }

    #[test]
    fn unknown_fields_and_bad_values_are_refused() {
        let err = read(desc(START), json!({"noSuchField": 1}), true).unwrap_err();
        assert!(err.contains("noSuchField"), "{err}");
        assert!(read(desc(START), json!({"namespace": 5}), true).is_err());
        assert!(read(desc(START), json!({"input": [1], "workflowId": "w"}), true).is_ok());
    }
}
