//! Evaluating a [`Filter`] against one record in memory, with SQL's three-valued logic (so a
//! store that filters in memory answers exactly as the SQL stores do).

use std::cmp::Ordering;

use crate::parser::Cmp;
use crate::resolve::{Column, Field, Filter, text_tokens};
use crate::values::Value;

/// A visibility record as the evaluator sees it.
pub trait Record {
    /// A system column's value; `None` is SQL NULL (e.g. CloseTime while running).
    fn column(&self, c: Column) -> Option<Value>;
    /// A custom or predefined attribute's values (several for a KeywordList); empty if unset.
    fn attr(&self, name: &str) -> Vec<Value>;
}

fn values(r: &dyn Record, f: &Field) -> Vec<Value> {
    match f {
        Field::System(c) => r.column(*c).into_iter().collect(),
        Field::Attr { name, .. } => r.attr(name),
    }
}

fn compare(a: &Value, b: &Value) -> Option<Ordering> {
    use Value::*;
    match (a, b) {
        (Str(x), Str(y)) => Some(x.as_bytes().cmp(y.as_bytes())),
        (Bool(x), Bool(y)) => Some(x.cmp(y)),
        (Int(x) | Time(x), Int(y) | Time(y)) => Some(x.cmp(y)),
        (Int(x) | Time(x), Double(y)) => (*x as f64).partial_cmp(y),
        (Double(x), Int(y) | Time(y)) => x.partial_cmp(&(*y as f64)),
        (Double(x), Double(y)) => x.partial_cmp(y),
        _ => None,
    }
}

fn holds(op: Cmp, o: Ordering) -> bool {
    match op {
        Cmp::Eq => o == Ordering::Equal,
        Cmp::Ne => o != Ordering::Equal,
        Cmp::Lt => o == Ordering::Less,
        Cmp::Le => o != Ordering::Greater,
        Cmp::Gt => o == Ordering::Greater,
        Cmp::Ge => o != Ordering::Less,
    }
}

/// `Some(true)` if the record matches, `Some(false)` if it does not, `None` if unknown (a NULL
/// was compared). Only `Some(true)` selects a record.
pub fn eval(f: &Filter, r: &dyn Record) -> Option<bool> {
    // Unknown when the field is unset; else whether some value matches (then `negated`).
    let any = |field: &Field, negated: bool, test: &dyn Fn(&Value) -> bool| {
        let vs = values(r, field);
        (!vs.is_empty()).then(|| vs.iter().any(test) != negated)
    };
    match f {
        Filter::And(parts) => combine(parts, r, false),
        Filter::Or(parts) => combine(parts, r, true),
        Filter::Compare { field, op, value } => any(field, false, &|v| {
            compare(v, value).is_some_and(|o| holds(*op, o))
        }),
        Filter::In {
            field,
            values: set,
            negated,
        } => any(field, *negated, &|v| {
            set.iter().any(|s| compare(v, s) == Some(Ordering::Equal))
        }),
        Filter::Between {
            field,
            low,
            high,
            negated,
        } => any(field, *negated, &|v| {
            compare(v, low).is_some_and(|o| o != Ordering::Less)
                && compare(v, high).is_some_and(|o| o != Ordering::Greater)
        }),
        Filter::StartsWith {
            field,
            prefix,
            negated,
        } => any(
            field,
            *negated,
            &|v| matches!(v, Value::Str(s) if starts_with_ignore_ascii_case(s, prefix)),
        ),
        Filter::IsNull { field, negated } => Some(values(r, field).is_empty() != *negated),
        // Text and KeywordList atoms are never unknown: unset means "does not match".
        Filter::TextMatch {
            field,
            words,
            negated,
        } => {
            let have: Vec<String> = values(r, field)
                .iter()
                .flat_map(|v| match v {
                    Value::Str(s) => text_tokens(s),
                    _ => Vec::new(),
                })
                .collect();
            let hit = words.iter().any(|w| w.iter().all(|t| have.contains(t)));
            Some(hit != *negated)
        }
        Filter::Contains {
            field,
            values: wanted,
            negated,
        } => {
            let hit = values(r, field)
                .iter()
                .any(|v| matches!(v, Value::Str(s) if wanted.contains(&s.to_lowercase())));
            Some(hit != *negated)
        }
    }
}

/// AND (`decisive` false) or OR (`decisive` true) in three-valued logic: the decisive value
/// wins, else any unknown part makes the whole unknown.
fn combine(parts: &[Filter], r: &dyn Record, decisive: bool) -> Option<bool> {
    let mut unknown = false;
    for p in parts {
        match eval(p, r) {
            Some(b) if b == decisive => return Some(decisive),
            None => unknown = true,
            Some(_) => {}
        }
    }
    if unknown { None } else { Some(!decisive) }
}

/// STARTS_WITH as Temporal's SQLite store answers it (LIKE): ASCII letters match either case.
pub fn starts_with_ignore_ascii_case(s: &str, prefix: &str) -> bool {
    s.len() >= prefix.len() && s.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ValueType, compile};
    use std::collections::HashMap;

    struct Rec {
        status: i64,
        close: Option<i64>,
        attrs: HashMap<&'static str, Vec<Value>>,
    }

    impl Record for Rec {
        fn column(&self, c: Column) -> Option<Value> {
            match c {
                Column::ExecutionStatus => Some(Value::Int(self.status)),
                Column::CloseTime => self.close.map(Value::Time),
                Column::WorkflowId => Some(Value::Str("order-17".into())),
                _ => None,
            }
        }
        fn attr(&self, name: &str) -> Vec<Value> {
            self.attrs.get(name).cloned().unwrap_or_default()
        }
    }

    #[test]
    fn three_valued_logic() {
        let schema: HashMap<String, ValueType> = [
            ("Tags".to_string(), ValueType::KeywordList),
            ("Amount".to_string(), ValueType::Int),
            ("Notes".to_string(), ValueType::Text),
        ]
        .into();
        let running = Rec {
            status: 1,
            close: None,
            attrs: [
                ("Tags", vec![Value::Str("a".into()), Value::Str("b".into())]),
                ("Notes", vec![Value::Str("Quick brown fox".into())]),
            ]
            .into(),
        };
        let t = |q: &str| {
            eval(
                compile(q, &schema).unwrap().filter.as_ref().unwrap(),
                &running,
            )
        };
        assert_eq!(t("ExecutionStatus = 'Running'"), Some(true));
        assert_eq!(t("CloseTime > 0"), None);
        assert_eq!(t("NOT CloseTime > 0"), None);
        assert_eq!(
            t("CloseTime > 0 OR WorkflowId STARTS_WITH 'order-'"),
            Some(true)
        );
        assert_eq!(t("CloseTime IS NULL"), Some(true));
        assert_eq!(t("Amount != 3"), None);
        assert_eq!(t("Tags = 'b'"), Some(true));
        assert_eq!(t("Tags in ('x', 'a')"), Some(true));
        assert_eq!(t("Tags != 'c'"), Some(true));
        assert_eq!(t("Tags = 'B'"), Some(true));
        assert_eq!(t("Notes = 'FOX quick'"), Some(true));
        assert_eq!(t("Notes = 'cat dog'"), Some(false));
        assert_eq!(t("Notes = 'cat brown-fox'"), Some(true));
        assert_eq!(t("Notes = 'fox-cat'"), Some(false));
        assert_eq!(t("Amount = 3"), None);
        assert_eq!(t("WorkflowId STARTS_WITH 'ORDER'"), Some(true));
        assert_eq!(t("WorkflowId between 'order-1' and 'order-2'"), Some(true));
    }
}
