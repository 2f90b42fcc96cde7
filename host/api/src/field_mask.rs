//! Field masks checked against the message they apply to, as Go's `fieldmaskpb.New` checks
//! them on Temporal: every path must name fields of that message (through singular message
//! fields), in their proto names.

use crate::json::POOL;

/// Checks `paths` against the message type `full_name`; the error is worded as Go's.
pub fn check(full_name: &str, paths: &[String]) -> Result<(), String> {
    let Some(message) = POOL.get_message_by_name(full_name) else {
        return Err(format!("{full_name} is not a Temporal message"));
    };
    let invalid = |path: &str| format!("proto: invalid path {path:?} for message {full_name:?}");
    for path in paths {
        let mut current = Some(message.clone());
        for name in path.split('.') {
            let field = current
                .as_ref()
                .and_then(|m| m.get_field_by_name(name))
                .ok_or_else(|| invalid(path))?;
            // Only a singular message field leads further.
            current = match field.kind() {
                prost_reflect::Kind::Message(m) if !field.is_list() && !field.is_map() => Some(m),
                _ => None,
            };
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPTIONS: &str = "temporal.api.workflow.v1.WorkflowExecutionOptions";

    #[test]
    fn paths_name_fields_of_the_message() {
        let paths = |p: &[&str]| p.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            check(
                OPTIONS,
                &paths(&["versioning_override", "priority.priority_key"])
            ),
            Ok(())
        );
        assert_eq!(
            check(OPTIONS, &paths(&["bogus"])),
            Err(format!(
                "proto: invalid path \"bogus\" for message \"{OPTIONS}\""
            ))
        );
        assert!(check(OPTIONS, &paths(&["priority.priority_key.x"])).is_err());
        assert!(check(OPTIONS, &paths(&["priority.nope"])).is_err());
        assert!(check(OPTIONS, &paths(&["versioningOverride"])).is_err());
    }
}
