//! The visibility query language (List/Count workflow executions, schedules, batch queries):
//! any text is parsed, resolved against a schema with custom attributes of every type, and
//! evaluated against a record, or refused with a query error: no panic, no hang.
#![no_main]

use std::collections::HashMap;

use libfuzzer_sys::fuzz_target;
use sundial_visquery::{
    Column, Record, Value, ValueType, and_where, compile, eval, rename_field,
};

struct Row;

impl Record for Row {
    fn column(&self, c: Column) -> Option<Value> {
        match c {
            Column::CloseTime => None,
            Column::StartTime | Column::ExecutionTime => Some(Value::Time(1_700_000_000_000_000_000)),
            Column::HistoryLength | Column::HistorySizeBytes => Some(Value::Int(12)),
            _ => Some(Value::Str("x".into())),
        }
    }

    fn attr(&self, name: &str) -> Vec<Value> {
        match name {
            "CustomInt" => vec![Value::Int(7)],
            "CustomDouble" => vec![Value::Double(0.5)],
            "CustomText" => vec![Value::Str("hello world".into())],
            "CustomList" => vec![Value::Str("a".into()), Value::Str("b".into())],
            _ => vec![],
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(query) = std::str::from_utf8(data) else {
        return;
    };
    let schema: HashMap<String, ValueType> = [
        ("CustomInt", ValueType::Int),
        ("CustomDouble", ValueType::Double),
        ("CustomBool", ValueType::Bool),
        ("CustomKeyword", ValueType::Keyword),
        ("CustomText", ValueType::Text),
        ("CustomDatetime", ValueType::Datetime),
        ("CustomList", ValueType::KeywordList),
    ]
    .into_iter()
    .map(|(n, t)| (n.to_string(), t))
    .collect();
    if let Ok(resolved) = compile(query, &schema)
        && let Some(filter) = &resolved.filter
    {
        let _ = eval(filter, &Row);
    }
    // The rewrites the server applies to queries before compiling them.
    let scoped = and_where(query, "TemporalNamespaceDivision IS NULL");
    let _ = compile(&scoped, &schema);
    let renamed = rename_field(query, "ScheduleId", "WorkflowId", |v| format!("prefix:{v}"));
    let _ = compile(&renamed, &schema);
    for ty in [ValueType::Int, ValueType::Datetime, ValueType::KeywordList, ValueType::Double] {
        let _ = sundial_visquery::values::decode(ty, data);
    }
});
