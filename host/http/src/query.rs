//! Request fields from outside the body: path variables and query parameters. A parameter
//! names a field by its proto or JSON name, nested ones by a dotted path
//! (`execution.runId=...`); a repeated field takes the parameter once per value; a
//! parameter that names no field is ignored, as in Temporal. Values are read as the field's
//! kind wants them (numbers, booleans, enums by name or number, timestamps and durations as
//! text, bytes as base64).

use prost_reflect::{FieldDescriptor, Kind, MessageDescriptor};
use serde_json::{Map, Value};

/// Sets the field at `path` (names as in the protos or in JSON) of `object` (a request of
/// type `desc`) from `text`. A path that names no singular field is `Ok(false)`.
pub fn set(
    desc: &MessageDescriptor,
    object: &mut Map<String, Value>,
    path: &[String],
    text: &str,
    append: bool,
) -> Result<bool, String> {
    let Some((first, rest)) = path.split_first() else {
        return Ok(false);
    };
    let Some(field) = find(desc, first) else {
        return Ok(false);
    };
    // One key per field, under its JSON name, whatever name the caller used before.
    let key = field.json_name().to_string();
    if field.name() != key
        && let Some(v) = object.remove(field.name())
    {
        object.entry(key.clone()).or_insert(v);
    }
    if rest.is_empty() {
        if field.is_map() {
            return Ok(false);
        }
        let value = scalar(&field, text)?;
        if field.is_list() {
            let entry = object
                .entry(key)
                .or_insert_with(|| Value::Array(Vec::new()));
            match entry {
                Value::Array(items) if append => items.push(value),
                other => *other = Value::Array(vec![value]),
            }
        } else {
            object.insert(key, value);
        }
        return Ok(true);
    }
    let Kind::Message(inner) = field.kind() else {
        return Ok(false);
    };
    if field.is_list() || field.is_map() || is_well_known(&inner) {
        return Ok(false);
    }
    let entry = object
        .entry(key)
        .or_insert_with(|| Value::Object(Map::new()));
    if !entry.is_object() {
        *entry = Value::Object(Map::new());
    }
    let Value::Object(nested) = entry else {
        unreachable!("made an object above")
    };
    set(&inner, nested, rest, text, append)
}

fn find(desc: &MessageDescriptor, name: &str) -> Option<FieldDescriptor> {
    desc.get_field_by_name(name)
        .or_else(|| desc.get_field_by_json_name(name))
}

fn is_well_known(m: &MessageDescriptor) -> bool {
    m.full_name().starts_with("google.protobuf.")
}

/// `text` as the JSON value the field's kind takes.
fn scalar(field: &FieldDescriptor, text: &str) -> Result<Value, String> {
    let bad = |what: &str| format!("{}: {text:?} is not {what}", field.name());
    Ok(match field.kind() {
        Kind::Bool => Value::Bool(text.parse().map_err(|_| bad("true or false"))?),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => {
            Value::from(text.parse::<i32>().map_err(|_| bad("a 32-bit integer"))?)
        }
        Kind::Uint32 | Kind::Fixed32 => Value::from(
            text.parse::<u32>()
                .map_err(|_| bad("an unsigned 32-bit integer"))?,
        ),
        Kind::Float | Kind::Double => match text.parse::<f64>() {
            Ok(f) if f.is_finite() => Value::from(f),
            _ => Value::String(text.to_string()),
        },
        Kind::Enum(e) => match text.parse::<i32>() {
            Ok(n) => Value::from(n),
            Err(_) if e.get_value_by_name(text).is_some() => Value::String(text.to_string()),
            Err(_) => return Err(bad(&format!("a value of {}", e.full_name()))),
        },
        Kind::Message(m) if !is_well_known(&m) => return Err(bad("a scalar")),
        // Strings, 64-bit integers (JSON takes them as text), bytes (base64), timestamps,
        // durations, and wrappers: the decoder checks the text.
        _ => Value::String(text.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::descriptors::POOL;
    use serde_json::json;

    fn fill(name: &str, pairs: &[(&str, &str)]) -> Result<Value, String> {
        let desc = POOL.get_message_by_name(name).unwrap();
        let mut object = Map::new();
        for (k, v) in pairs {
            let path: Vec<String> = k.split('.').map(str::to_string).collect();
            set(&desc, &mut object, &path, v, true)?;
        }
        Ok(Value::Object(object))
    }

    #[test]
    fn parameters_fill_nested_and_repeated_fields_by_either_name() {
        let got = fill(
            "temporal.api.workflowservice.v1.GetWorkflowExecutionHistoryRequest",
            &[
                ("execution.runId", "r"),
                ("execution.workflow_id", "w"),
                ("maximumPageSize", "7"),
                ("wait_new_event", "true"),
                ("historyEventFilterType", "2"),
                ("unknown", "x"),
                ("execution.nothing", "x"),
            ],
        )
        .unwrap();
        assert_eq!(
            got,
            json!({
                "execution": {"runId": "r", "workflowId": "w"},
                "maximumPageSize": 7,
                "waitNewEvent": true,
                "historyEventFilterType": 2,
            })
        );
        let got = fill(
            "temporal.api.workflowservice.v1.DescribeTaskQueueRequest",
            &[("taskQueueType", "TASK_QUEUE_TYPE_ACTIVITY")],
        )
        .unwrap();
        assert_eq!(got, json!({"taskQueueType": "TASK_QUEUE_TYPE_ACTIVITY"}));
    }

    #[test]
    fn values_of_the_wrong_kind_are_refused() {
        let name = "temporal.api.workflowservice.v1.ListWorkflowExecutionsRequest";
        assert!(
            fill(name, &[("pageSize", "many")])
                .unwrap_err()
                .contains("page_size")
        );
        let name = "temporal.api.workflowservice.v1.GetWorkflowExecutionHistoryRequest";
        assert!(fill(name, &[("waitNewEvent", "yes")]).is_err());
        assert!(fill(name, &[("historyEventFilterType", "SOMETIMES")]).is_err());
        assert!(fill(name, &[("execution", "x")]).is_err());
    }
}
