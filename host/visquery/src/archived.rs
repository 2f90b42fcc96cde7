//! Archived runs as a query sees them. What an archiver keeps of a closed run (its system
//! columns, its search attributes as text) is evaluated here, by the built-in file archiver and
//! by archiver components alike.

use std::collections::HashMap;

use crate::{Column, Record, Value, ValueType, predefined_type, values};

/// One archived run's queryable fields.
pub struct ArchivedRun<'a> {
    pub workflow_id: &'a str,
    pub run_id: &'a str,
    pub workflow_type: &'a str,
    /// `WorkflowExecutionStatus` value.
    pub status: i32,
    /// Unix nanoseconds.
    pub start_time: i64,
    pub execution_time: i64,
    pub close_time: i64,
    pub history_length: i64,
    /// Nanoseconds.
    pub execution_duration: i64,
    /// Each value as text (a list as a JSON array).
    pub search_attributes: &'a HashMap<String, String>,
    /// The namespace's custom attribute types (see [`types_by_name`]).
    pub types: &'a HashMap<String, ValueType>,
}

impl Record for ArchivedRun<'_> {
    fn column(&self, c: Column) -> Option<Value> {
        let s = |v: &str| Some(Value::Str(v.to_string()));
        match c {
            Column::WorkflowId => s(self.workflow_id),
            Column::RunId => s(self.run_id),
            Column::WorkflowType => s(self.workflow_type),
            Column::ExecutionStatus => Some(Value::Int(self.status as i64)),
            Column::StartTime => Some(Value::Time(self.start_time)),
            Column::ExecutionTime => Some(Value::Time(self.execution_time)),
            Column::CloseTime => Some(Value::Time(self.close_time)),
            Column::HistoryLength => Some(Value::Int(self.history_length)),
            Column::ExecutionDuration => Some(Value::Int(self.execution_duration)),
            _ => None,
        }
    }

    fn attr(&self, name: &str) -> Vec<Value> {
        let Some(text) = self.search_attributes.get(name) else {
            return Vec::new();
        };
        let ty = self
            .types
            .get(name)
            .copied()
            .or_else(|| predefined_type(name));
        ty.and_then(|t| values::decode(t, text.as_bytes()).ok())
            .unwrap_or_default()
    }
}

/// Custom attribute types from (name, type name) pairs; unknown type names are left out.
pub fn types_by_name<'a>(
    pairs: impl IntoIterator<Item = (&'a String, &'a String)>,
) -> HashMap<String, ValueType> {
    pairs
        .into_iter()
        .filter_map(|(n, t)| Some((n.clone(), ValueType::from_name(t)?)))
        .collect()
}
