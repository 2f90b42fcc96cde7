//! Property-based fuzzing of the query language (stable Rust, runs in the normal test suite):
//! no input makes parsing, resolution or evaluation panic; generated valid queries always
//! compile; a query and its negation never both select a record.

use std::collections::HashMap;

use proptest::prelude::*;
use sundial_visquery::{Column, Record, Value, ValueType, compile, eval};

fn schema() -> HashMap<String, ValueType> {
    [
        ("Kw", ValueType::Keyword),
        ("Txt", ValueType::Text),
        ("Num", ValueType::Int),
        ("Dbl", ValueType::Double),
        ("Flag", ValueType::Bool),
        ("When", ValueType::Datetime),
        ("Tags", ValueType::KeywordList),
    ]
    .into_iter()
    .map(|(n, t)| (n.to_string(), t))
    .collect()
}

/// A record with some attributes set and some not.
#[derive(Debug, Clone)]
struct Rec {
    attrs: HashMap<String, Vec<Value>>,
    closed: Option<i64>,
    status: i64,
}

impl Record for Rec {
    fn column(&self, c: Column) -> Option<Value> {
        match c {
            Column::ExecutionStatus => Some(Value::Int(self.status)),
            Column::CloseTime => self.closed.map(Value::Time),
            Column::StartTime => Some(Value::Time(1_000)),
            Column::WorkflowId => Some(Value::Str("wf-1".into())),
            Column::HistoryLength => self.closed.map(|_| Value::Int(12)),
            _ => None,
        }
    }
    fn attr(&self, name: &str) -> Vec<Value> {
        self.attrs.get(name).cloned().unwrap_or_default()
    }
}

fn record() -> impl Strategy<Value = Rec> {
    (
        proptest::option::of("[a-c]{0,3}"),
        proptest::option::of("[a-c ]{0,8}"),
        proptest::option::of(-3i64..3),
        proptest::option::of(-2.0f64..2.0),
        proptest::option::of(any::<bool>()),
        proptest::option::of(0i64..3000),
        proptest::collection::vec("[a-c]{1,2}", 0..3),
        proptest::option::of(0i64..3000),
        1i64..8,
    )
        .prop_map(|(kw, txt, num, dbl, flag, when, tags, closed, status)| {
            let mut attrs = HashMap::new();
            if let Some(v) = kw {
                attrs.insert("Kw".into(), vec![Value::Str(v)]);
            }
            if let Some(v) = txt {
                attrs.insert("Txt".into(), vec![Value::Str(v)]);
            }
            if let Some(v) = num {
                attrs.insert("Num".into(), vec![Value::Int(v)]);
            }
            if let Some(v) = dbl {
                attrs.insert("Dbl".into(), vec![Value::Double(v)]);
            }
            if let Some(v) = flag {
                attrs.insert("Flag".into(), vec![Value::Bool(v)]);
            }
            if let Some(v) = when {
                attrs.insert("When".into(), vec![Value::Time(v)]);
            }
            if !tags.is_empty() {
                attrs.insert("Tags".into(), tags.into_iter().map(Value::Str).collect());
            }
            Rec {
                attrs,
                closed,
                status,
            }
        })
}

/// One well-formed predicate.
fn predicate() -> impl Strategy<Value = String> {
    let kw = "'[a-c]{0,3}'";
    prop_oneof![
        (prop_oneof!["=", "!=", "<", "<=", ">", ">="], kw)
            .prop_map(|(op, v)| format!("Kw {op} {v}")),
        kw.prop_map(|v| format!("Kw STARTS_WITH {v}")),
        kw.prop_map(|v| format!("Kw NOT STARTS_WITH {v}")),
        ("[a-c]{1,2}", "[a-c]{1,2}").prop_map(|(a, b)| format!("Kw IN ('{a}', '{b}')")),
        ("[a-c]{1,3}", prop_oneof!["=", "!="]).prop_map(|(v, op)| format!("Txt {op} '{v} x'")),
        (prop_oneof!["=", "!=", "<", ">="], -4i64..4).prop_map(|(op, v)| format!("Num {op} {v}")),
        (-4i64..4, -4i64..4).prop_map(|(a, b)| format!("Num BETWEEN {a} AND {b}")),
        (-4i64..4, -4i64..4).prop_map(|(a, b)| format!("Num NOT BETWEEN {a} AND {b}")),
        (prop_oneof!["<", ">", "="], -2.0f64..2.0).prop_map(|(op, v)| format!("Dbl {op} {v:.3}")),
        any::<bool>().prop_map(|b| format!("Flag = {b}")),
        (0i64..3000).prop_map(|v| format!("When > {v}")),
        "[a-c]{1,2}".prop_map(|v| format!("Tags = '{v}'")),
        ("[a-c]{1,2}", "[a-c]{1,2}").prop_map(|(a, b)| format!("Tags NOT IN ('{a}', '{b}')")),
        (0i64..3000).prop_map(|v| format!("CloseTime < {v}")),
        Just("CloseTime IS NULL".to_string()),
        Just("Kw IS NOT NULL".to_string()),
        prop_oneof!["'Running'", "'Completed'", "'Failed'", "3"]
            .prop_map(|v| format!("ExecutionStatus = {v}")),
        (0i64..20).prop_map(|v| format!("HistoryLength >= {v}")),
    ]
}

/// A boolean combination of predicates.
fn query() -> impl Strategy<Value = String> {
    predicate().prop_recursive(4, 24, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a}) AND ({b})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a} OR {b}")),
            inner.prop_map(|a| format!("NOT ({a})")),
        ]
    })
}

const VOCABULARY: &[&str] = &[
    "Kw",
    "Txt",
    "Num",
    "Tags",
    "WorkflowId",
    "ExecutionStatus",
    "StartTime",
    "Bogus",
    "`Kw`",
    "`x y`",
    "=",
    "!=",
    "<>",
    "<",
    ">=",
    "(",
    ")",
    ",",
    "AND",
    "OR",
    "NOT",
    "IN",
    "BETWEEN",
    "IS",
    "NULL",
    "STARTS_WITH",
    "LIKE",
    "ORDER",
    "GROUP",
    "BY",
    "LIMIT",
    "DESC",
    "true",
    "'a'",
    "''",
    "'Running'",
    "'2024-01-01T00:00:00Z'",
    "1",
    "-2.5",
    "1e3",
    "'unterminated",
    "\"dq\"",
    "#",
    "ü",
    "SELECT",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn any_text_is_answered_without_panicking(q in "\\PC{0,80}") {
        let _ = compile(&q, &schema());
    }

    #[test]
    fn any_token_soup_is_answered_without_panicking(
        words in proptest::collection::vec(proptest::sample::select(VOCABULARY), 0..14),
        r in record(),
    ) {
        let q = words.join(" ");
        if let Ok(resolved) = compile(&q, &schema())
            && let Some(f) = &resolved.filter
        {
            let _ = eval(f, &r);
        }
    }

    #[test]
    fn generated_queries_compile_and_never_agree_with_their_negation(q in query(), r in record()) {
        let s = schema();
        let positive = compile(&q, &s).map_err(|e| TestCaseError::fail(format!("{q}: {e}")))?;
        let negative = compile(&format!("NOT ({q})"), &s).unwrap();
        let p = eval(positive.filter.as_ref().unwrap(), &r);
        let n = eval(negative.filter.as_ref().unwrap(), &r);
        prop_assert!(!(p == Some(true) && n == Some(true)), "{q} and its negation both hold for {r:?}");
        // Known values are exact opposites; only unknown stays unknown.
        if let (Some(a), Some(b)) = (p, n) {
            prop_assert_ne!(a, b, "{}", q);
        }
    }
}
