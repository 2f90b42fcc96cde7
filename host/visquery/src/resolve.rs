//! Names and values: a parsed [`Query`] checked against the system attributes and a
//! namespace's custom ones, with every literal turned into a typed [`Value`].

use crate::parser::{Cmp, Expr, Literal, Query};
use crate::values::{Value, ValueType, parse_datetime, parse_duration};
use crate::{QueryError, invalid_expr, unsupported};

/// The columns every visibility record has.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Column {
    WorkflowId,
    RunId,
    WorkflowType,
    TaskQueue,
    ExecutionStatus,
    StartTime,
    ExecutionTime,
    CloseTime,
    HistoryLength,
    HistorySizeBytes,
    StateTransitionCount,
    ExecutionDuration,
    ParentWorkflowId,
    ParentRunId,
    RootWorkflowId,
    RootRunId,
}

impl Column {
    pub const ALL: [Column; 16] = [
        Column::WorkflowId,
        Column::RunId,
        Column::WorkflowType,
        Column::TaskQueue,
        Column::ExecutionStatus,
        Column::StartTime,
        Column::ExecutionTime,
        Column::CloseTime,
        Column::HistoryLength,
        Column::HistorySizeBytes,
        Column::StateTransitionCount,
        Column::ExecutionDuration,
        Column::ParentWorkflowId,
        Column::ParentRunId,
        Column::RootWorkflowId,
        Column::RootRunId,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Column::WorkflowId => "WorkflowId",
            Column::RunId => "RunId",
            Column::WorkflowType => "WorkflowType",
            Column::TaskQueue => "TaskQueue",
            Column::ExecutionStatus => "ExecutionStatus",
            Column::StartTime => "StartTime",
            Column::ExecutionTime => "ExecutionTime",
            Column::CloseTime => "CloseTime",
            Column::HistoryLength => "HistoryLength",
            Column::HistorySizeBytes => "HistorySizeBytes",
            Column::StateTransitionCount => "StateTransitionCount",
            Column::ExecutionDuration => "ExecutionDuration",
            Column::ParentWorkflowId => "ParentWorkflowId",
            Column::ParentRunId => "ParentRunId",
            Column::RootWorkflowId => "RootWorkflowId",
            Column::RootRunId => "RootRunId",
        }
    }

    /// The type it is listed with (ExecutionStatus is a Keyword by name, an integer stored).
    pub fn value_type(self) -> ValueType {
        match self {
            Column::StartTime | Column::ExecutionTime | Column::CloseTime => ValueType::Datetime,
            Column::HistoryLength
            | Column::HistorySizeBytes
            | Column::StateTransitionCount
            | Column::ExecutionDuration => ValueType::Int,
            _ => ValueType::Keyword,
        }
    }

    pub fn from_name(name: &str) -> Option<Column> {
        Self::ALL.into_iter().find(|c| c.name() == name)
    }
}

/// Attributes the server itself sets, kept with the custom ones.
pub const PREDEFINED: &[(&str, ValueType)] = &[
    ("BatcherNamespace", ValueType::Keyword),
    ("BatcherUser", ValueType::Keyword),
    ("BinaryChecksums", ValueType::KeywordList),
    ("BuildIds", ValueType::KeywordList),
    ("TemporalChangeVersion", ValueType::KeywordList),
    ("TemporalExternalPayloadCount", ValueType::Int),
    ("TemporalExternalPayloadSizeBytes", ValueType::Int),
    ("TemporalNamespaceDivision", ValueType::Keyword),
    ("TemporalPauseInfo", ValueType::KeywordList),
    ("TemporalReportedProblems", ValueType::KeywordList),
    ("TemporalSchedulePaused", ValueType::Bool),
    ("TemporalScheduledById", ValueType::Keyword),
    ("TemporalScheduledStartTime", ValueType::Datetime),
    (
        "TemporalUsedWorkerDeploymentVersions",
        ValueType::KeywordList,
    ),
    ("TemporalWorkerDeployment", ValueType::Keyword),
    ("TemporalWorkerDeploymentVersion", ValueType::Keyword),
    ("TemporalWorkflowVersioningBehavior", ValueType::Keyword),
];

pub fn predefined_type(name: &str) -> Option<ValueType> {
    PREDEFINED.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
}

/// Whether a name belongs to the server (system, predefined, or `Temporal…`): it cannot be
/// registered as a custom attribute.
pub fn is_reserved(name: &str) -> bool {
    Column::from_name(name).is_some()
        || predefined_type(name).is_some()
        || name.starts_with("Temporal")
        || matches!(
            name,
            "NamespaceId" | "Memo" | "MemoEncoding" | "VisibilityTaskKey" | "ScheduleId"
        )
}

/// What the resolver needs to know of a namespace.
pub trait Schema {
    /// The type of a registered custom attribute.
    fn custom_type(&self, name: &str) -> Option<ValueType>;
}

impl Schema for std::collections::HashMap<String, ValueType> {
    fn custom_type(&self, name: &str) -> Option<ValueType> {
        self.get(name).copied()
    }
}

/// A resolved attribute.
#[derive(Clone, Debug, PartialEq)]
pub enum Field {
    System(Column),
    /// A custom or predefined attribute, stored by name.
    Attr {
        name: String,
        ty: ValueType,
    },
}

impl Field {
    pub fn value_type(&self) -> ValueType {
        match self {
            Field::System(c) => c.value_type(),
            Field::Attr { ty, .. } => *ty,
        }
    }
    pub fn name(&self) -> &str {
        match self {
            Field::System(c) => c.name(),
            Field::Attr { name, .. } => name,
        }
    }
}

/// A typed filter in negation normal form: NOT is pushed down into the atoms (`negated`, or
/// the inverse comparison). Comparisons follow SQL: a missing value (NULL) matches nothing,
/// not even `!=` or a negated atom; a negated atom on an attribute holds when the attribute
/// is set and no value of it matches.
#[derive(Clone, Debug, PartialEq)]
pub enum Filter {
    And(Vec<Filter>),
    Or(Vec<Filter>),
    Compare {
        field: Field,
        op: Cmp,
        value: Value,
    },
    In {
        field: Field,
        values: Vec<Value>,
        negated: bool,
    },
    Between {
        field: Field,
        low: Value,
        high: Value,
        negated: bool,
    },
    StartsWith {
        field: Field,
        prefix: String,
        negated: bool,
    },
    IsNull {
        field: Field,
        negated: bool,
    },
    /// Text: some word of the query value occurs in the attribute's text (a word that is
    /// several tokens, like `north-star`, needs all of them). Case-insensitive. Negated, it
    /// also holds where the attribute is unset (as on Temporal).
    TextMatch {
        field: Field,
        words: Vec<Vec<String>>,
        negated: bool,
    },
    /// KeywordList: the list holds at least one of `values` (lower-cased: KeywordList
    /// matching is case-insensitive). Negated, it also holds where the attribute is unset.
    Contains {
        field: Field,
        values: Vec<String>,
        negated: bool,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GroupBy {
    ExecutionStatus,
}

/// A query ready to run.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Resolved {
    pub filter: Option<Filter>,
    pub group_by: Option<GroupBy>,
}

/// Splits text into the tokens Text attributes are matched by: runs of letters and digits,
/// lower-cased. Stored text is indexed by these tokens.
pub fn text_tokens(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|t| !t.is_empty())
        .map(|t| t.to_lowercase())
        .collect()
}

/// The words of a Text query value (split on spaces), each as its tokens.
fn text_words(field: &Field, value: &str) -> Result<Vec<Vec<String>>, QueryError> {
    let words: Vec<Vec<String>> = value
        .split_whitespace()
        .map(text_tokens)
        .filter(|t| !t.is_empty())
        .collect();
    if words.is_empty() {
        return Err(invalid_expr(format_args!(
            "no tokens found filtering on Text type search attribute {}",
            field.name()
        )));
    }
    Ok(words)
}

pub fn resolve(q: &Query, schema: &dyn Schema) -> Result<Resolved, QueryError> {
    let filter = q.filter.as_ref().map(|e| expr(e, schema)).transpose()?;
    let group_by = match q.group_by.as_slice() {
        [] => None,
        [one] => match field(one, schema)? {
            Field::System(Column::ExecutionStatus) => Some(GroupBy::ExecutionStatus),
            f => {
                return Err(unsupported(format_args!(
                    "'GROUP BY' clause is not supported for search attribute {}",
                    f.name()
                )));
            }
        },
        _ => {
            return Err(unsupported(
                "'GROUP BY' clause supports only a single field",
            ));
        }
    };
    for (name, _) in &q.order_by {
        field(name, schema)?;
    }
    if !q.order_by.is_empty() {
        return Err(unsupported("'ORDER BY' clause"));
    }
    Ok(Resolved { filter, group_by })
}

/// Resolves a name: custom attribute, system column, predefined attribute, `ScheduleId`
/// (= WorkflowId), then the name with the `Temporal` prefix added or removed.
fn field(name: &str, schema: &dyn Schema) -> Result<Field, QueryError> {
    let lookup = |n: &str| -> Option<Field> {
        if let Some(ty) = schema.custom_type(n) {
            return Some(Field::Attr {
                name: n.to_string(),
                ty,
            });
        }
        if let Some(c) = Column::from_name(n) {
            return Some(Field::System(c));
        }
        predefined_type(n).map(|ty| Field::Attr {
            name: n.to_string(),
            ty,
        })
    };
    if let Some(f) = lookup(name) {
        return Ok(f);
    }
    if name == "ScheduleId" {
        return Ok(Field::System(Column::WorkflowId));
    }
    let other = match name.strip_prefix("Temporal") {
        Some(rest) => rest.to_string(),
        None => format!("Temporal{name}"),
    };
    lookup(&other).ok_or_else(|| QueryError(format!("invalid search attribute: {name}")))
}

fn expr(e: &Expr, schema: &dyn Schema) -> Result<Filter, QueryError> {
    Ok(match e {
        Expr::And(a, b) => Filter::And(vec![expr(a, schema)?, expr(b, schema)?]),
        Expr::Or(a, b) => Filter::Or(vec![expr(a, schema)?, expr(b, schema)?]),
        Expr::Not(a) => negate(expr(a, schema)?),
        Expr::Compare { name, op, value } => {
            let f = field(name, schema)?;
            match f.value_type() {
                ValueType::Text => {
                    only(&f, *op, &[Cmp::Eq, Cmp::Ne])?;
                    Filter::TextMatch {
                        words: text_words(&f, &string_value(&f, value)?)?,
                        field: f,
                        negated: *op == Cmp::Ne,
                    }
                }
                ValueType::KeywordList => {
                    only(&f, *op, &[Cmp::Eq, Cmp::Ne])?;
                    Filter::Contains {
                        values: vec![string_value(&f, value)?.to_lowercase()],
                        field: f,
                        negated: *op == Cmp::Ne,
                    }
                }
                _ => Filter::Compare {
                    value: typed(&f, value)?,
                    field: f,
                    op: *op,
                },
            }
        }
        Expr::In {
            name,
            values,
            negated,
        } => {
            let f = field(name, schema)?;
            match f.value_type() {
                ValueType::Text => {
                    return Err(op_error(&f, if *negated { "NOT IN" } else { "IN" }));
                }
                ValueType::KeywordList => Filter::Contains {
                    values: values
                        .iter()
                        .map(|v| string_value(&f, v).map(|s| s.to_lowercase()))
                        .collect::<Result<_, _>>()?,
                    field: f,
                    negated: *negated,
                },
                _ => Filter::In {
                    values: values
                        .iter()
                        .map(|v| typed(&f, v))
                        .collect::<Result<_, _>>()?,
                    field: f,
                    negated: *negated,
                },
            }
        }
        Expr::Between {
            name,
            low,
            high,
            negated,
        } => {
            let f = field(name, schema)?;
            if matches!(f.value_type(), ValueType::Text | ValueType::KeywordList) {
                return Err(invalid_expr(format_args!(
                    "cannot do range condition on search attribute '{}' of type {}",
                    f.name(),
                    f.value_type().name()
                )));
            }
            Filter::Between {
                low: typed(&f, low)?,
                high: typed(&f, high)?,
                field: f,
                negated: *negated,
            }
        }
        Expr::StartsWith {
            name,
            prefix,
            negated,
        } => {
            let f = field(name, schema)?;
            let op = if *negated {
                "NOT STARTS_WITH"
            } else {
                "STARTS_WITH"
            };
            if matches!(f.value_type(), ValueType::Text | ValueType::KeywordList) {
                return Err(op_error(&f, op));
            }
            // Other types check the value first (so the error is about the value).
            typed(&f, prefix)?;
            if f.value_type() != ValueType::Keyword || f == Field::System(Column::ExecutionStatus) {
                return Err(op_error(
                    &f,
                    if *negated {
                        "NOT STARTS_WITH"
                    } else {
                        "STARTS_WITH"
                    },
                ));
            }
            Filter::StartsWith {
                prefix: string_value(&f, prefix)?,
                field: f,
                negated: *negated,
            }
        }
        Expr::Unsupported { name, op } => return Err(op_error(&field(name, schema)?, op)),
        Expr::IsNull { name, negated } => Filter::IsNull {
            field: field(name, schema)?,
            negated: *negated,
        },
    })
}

/// NOT f, pushed down to the atoms.
fn negate(f: Filter) -> Filter {
    match f {
        Filter::And(parts) => Filter::Or(parts.into_iter().map(negate).collect()),
        Filter::Or(parts) => Filter::And(parts.into_iter().map(negate).collect()),
        Filter::Compare { field, op, value } => Filter::Compare {
            field,
            op: match op {
                Cmp::Eq => Cmp::Ne,
                Cmp::Ne => Cmp::Eq,
                Cmp::Lt => Cmp::Ge,
                Cmp::Ge => Cmp::Lt,
                Cmp::Le => Cmp::Gt,
                Cmp::Gt => Cmp::Le,
            },
            value,
        },
        Filter::In {
            field,
            values,
            negated,
        } => Filter::In {
            field,
            values,
            negated: !negated,
        },
        Filter::Between {
            field,
            low,
            high,
            negated,
        } => Filter::Between {
            field,
            low,
            high,
            negated: !negated,
        },
        Filter::StartsWith {
            field,
            prefix,
            negated,
        } => Filter::StartsWith {
            field,
            prefix,
            negated: !negated,
        },
        Filter::IsNull { field, negated } => Filter::IsNull {
            field,
            negated: !negated,
        },
        Filter::TextMatch {
            field,
            words,
            negated,
        } => Filter::TextMatch {
            field,
            words,
            negated: !negated,
        },
        Filter::Contains {
            field,
            values,
            negated,
        } => Filter::Contains {
            field,
            values,
            negated: !negated,
        },
    }
}

fn op_error(f: &Field, op: &str) -> QueryError {
    unsupported(format_args!(
        "operator '{op}' not supported for {} type search attribute '{}'",
        f.value_type().name(),
        f.name()
    ))
}

fn only(f: &Field, op: Cmp, allowed: &[Cmp]) -> Result<(), QueryError> {
    if allowed.contains(&op) {
        Ok(())
    } else {
        Err(op_error(f, op.symbol()))
    }
}

fn literal_text(v: &Literal) -> String {
    match v {
        Literal::Str(s) => s.clone(),
        Literal::Int(i) => i.to_string(),
        Literal::Float(f) => f.to_string(),
        Literal::Bool(b) => b.to_string(),
    }
}

/// A literal as Go prints it with its type, as Temporal's messages show it.
fn literal_go(v: &Literal) -> String {
    match v {
        Literal::Str(s) => format!("{s:?} (type: string)"),
        Literal::Int(i) => format!("{i} (type: int64)"),
        Literal::Float(f) => format!("{f} (type: float64)"),
        Literal::Bool(b) => format!("{b} (type: bool)"),
    }
}

fn type_error(f: &Field, v: &Literal) -> QueryError {
    invalid_expr(format_args!(
        "invalid value type for search attribute {} of type {}: {}",
        f.name(),
        f.value_type().name(),
        literal_go(v)
    ))
}

fn string_value(f: &Field, v: &Literal) -> Result<String, QueryError> {
    match v {
        Literal::Str(s) => Ok(s.clone()),
        other => Err(type_error(f, other)),
    }
}

/// A literal as a value of the field's type.
fn typed(f: &Field, v: &Literal) -> Result<Value, QueryError> {
    let bad = || type_error(f, v);
    if *f == Field::System(Column::ExecutionStatus) {
        return match v {
            Literal::Str(s) => status_by_name(s)
                .map(Value::Int)
                .ok_or_else(|| invalid_expr(format_args!("invalid ExecutionStatus value '{s}'"))),
            Literal::Int(i) if (0..=8).contains(i) => Ok(Value::Int(*i)),
            other => Err(invalid_expr(format_args!(
                "invalid ExecutionStatus value '{}'",
                literal_text(other)
            ))),
        };
    }
    if *f == Field::System(Column::ExecutionDuration) {
        return match v {
            Literal::Int(i) => Ok(Value::Int(*i)),
            Literal::Str(s) => parse_duration(s).map(Value::Int).ok_or_else(|| {
                invalid_expr(format_args!(
                    "invalid duration value for search attribute ExecutionDuration: {s}"
                ))
            }),
            _ => Err(bad()),
        };
    }
    match (f.value_type(), v) {
        (ValueType::Keyword | ValueType::Text | ValueType::KeywordList, Literal::Str(s)) => {
            Ok(Value::Str(s.clone()))
        }
        (ValueType::Int, Literal::Int(i)) => Ok(Value::Int(*i)),
        (ValueType::Int | ValueType::Double, Literal::Float(x)) => Ok(Value::Double(*x)),
        (ValueType::Double, Literal::Int(i)) => Ok(Value::Double(*i as f64)),
        (ValueType::Datetime, Literal::Str(s)) => parse_datetime(s)
            .map(Value::Time)
            .ok_or_else(|| invalid_expr(format_args!("unable to parse datetime '{s}'"))),
        (ValueType::Datetime, Literal::Int(i)) => Ok(Value::Time(*i)),
        (ValueType::Bool, Literal::Bool(b)) => Ok(Value::Bool(*b)),
        _ => Err(bad()),
    }
}

/// `WorkflowExecutionStatus` by the name queries use.
pub fn status_by_name(name: &str) -> Option<i64> {
    STATUS_NAMES
        .iter()
        .position(|n| *n == name)
        .map(|i| i as i64)
}

/// Status names by value (0 = Unspecified, 1 = Running … 8 = Paused).
pub const STATUS_NAMES: [&str; 9] = [
    "Unspecified",
    "Running",
    "Completed",
    "Failed",
    "Canceled",
    "Terminated",
    "ContinuedAsNew",
    "TimedOut",
    "Paused",
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compile;
    use std::collections::HashMap;

    fn schema() -> HashMap<String, ValueType> {
        [
            ("Tags", ValueType::KeywordList),
            ("Notes", ValueType::Text),
            ("Amount", ValueType::Int),
            ("Vip", ValueType::Bool),
        ]
        .into_iter()
        .map(|(n, t)| (n.to_string(), t))
        .collect()
    }

    #[test]
    fn names_resolve_in_order() {
        let s = schema();
        let r = compile(
            "ScheduleId = 'x' and ChangeVersion = 'v' and Amount > 1.5",
            &s,
        )
        .unwrap();
        let Some(Filter::And(parts)) = r.filter else {
            panic!()
        };
        assert!(
            matches!(&parts[0], Filter::And(p) if matches!(&p[0], Filter::Compare { field: Field::System(Column::WorkflowId), .. }))
        );
        assert_eq!(
            parts[1],
            Filter::Compare {
                field: Field::Attr {
                    name: "Amount".into(),
                    ty: ValueType::Int
                },
                op: Cmp::Gt,
                value: Value::Double(1.5)
            }
        );
    }

    #[test]
    fn per_type_rules() {
        let s = schema();
        let e = |q: &str| compile(q, &s).unwrap_err().0;
        assert_eq!(e("Foo = 'x'"), "invalid search attribute: Foo");
        assert_eq!(
            e("ExecutionStatus = 'Bogus'"),
            "invalid expression: invalid ExecutionStatus value 'Bogus'"
        );
        assert_eq!(
            e("StartTime > 'yesterday'"),
            "invalid expression: unable to parse datetime 'yesterday'"
        );
        assert_eq!(
            e("order by StartTime"),
            "operation is not supported: 'ORDER BY' clause"
        );
        assert_eq!(
            e("Tags > 'a'"),
            "operation is not supported: operator '>' not supported for KeywordList type search attribute 'Tags'"
        );
        assert_eq!(
            e("Amount = 'abc'"),
            "invalid expression: invalid value type for search attribute Amount of type Int: \"abc\" (type: string)"
        );
        assert_eq!(
            e("Notes = ' ,'"),
            "invalid expression: no tokens found filtering on Text type search attribute Notes"
        );
        assert_eq!(
            e("Amount = 1 order by Bogus"),
            "invalid search attribute: Bogus"
        );
        assert!(e("Notes starts_with 'a'").contains("not supported for Text"));
        assert!(e("Amount = 'abc'").starts_with("invalid expression"));
        assert!(e("group by WorkflowType").contains("'GROUP BY'"));
        let r = compile("Notes = 'Hello, World' group by ExecutionStatus", &s).unwrap();
        assert_eq!(r.group_by, Some(GroupBy::ExecutionStatus));
        assert!(
            matches!(r.filter, Some(Filter::TextMatch { ref words, .. }) if words == &[vec!["hello".to_string()], vec!["world".to_string()]])
        );
        assert!(matches!(
            compile("ExecutionStatus in ('Running', 2)", &s).unwrap().filter,
            Some(Filter::In { ref values, .. }) if values == &[Value::Int(1), Value::Int(2)]
        ));
    }
}
