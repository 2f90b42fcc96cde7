//! Temporal's visibility query language, as `ListWorkflowExecutions` and
//! `CountWorkflowExecutions` take it: the WHERE part of a SQL statement (optionally followed by
//! GROUP BY / ORDER BY) over system and custom search attributes.
//!
//! Three steps, each its own module:
//! - [`parse`]: text → [`Query`] (syntax only; errors are `malformed SQL query` or
//!   `operation is not supported`, as on Temporal).
//! - [`resolve`]: names → system columns or registered custom attributes, literals → typed
//!   [`Value`]s, operators checked per type → [`Resolved`] (errors are `invalid expression`
//!   or `invalid search attribute`).
//! - [`eval`]: a [`Filter`] against one record, with SQL's three-valued logic; the built-in SQL
//!   store translates the same [`Filter`] into SQL instead.
//!
//! [`values`] decodes search attribute payloads (JSON) into typed values for storage.

pub mod archived;
mod eval;
mod lexer;
mod parser;
mod resolve;
pub mod values;

pub use eval::{Record, eval};
pub use parser::{Cmp, Expr, Literal, Query, parse};
pub use resolve::{
    Column, Field, Filter, GroupBy, PREDEFINED, Resolved, STATUS_NAMES, Schema, is_reserved,
    predefined_type, resolve, status_by_name, text_tokens,
};
pub use values::{Value, ValueType};

/// A query the server refuses, with the text Temporal puts after `invalid query: `.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueryError(pub String);

impl std::fmt::Display for QueryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "invalid query: {}", self.0)
    }
}

impl std::error::Error for QueryError {}

pub(crate) fn malformed(detail: impl std::fmt::Display) -> QueryError {
    QueryError(format!("malformed SQL query: {detail}"))
}

pub(crate) fn unsupported(detail: impl std::fmt::Display) -> QueryError {
    QueryError(format!("operation is not supported: {detail}"))
}

pub(crate) fn invalid_expr(detail: impl std::fmt::Display) -> QueryError {
    QueryError(format!("invalid expression: {detail}"))
}

/// Parses and resolves in one step.
pub fn compile(query: &str, schema: &dyn Schema) -> Result<Resolved, QueryError> {
    resolve(&parse(query)?, schema)
}

/// Adds `condition` to a query's WHERE part, keeping its ORDER BY / GROUP BY clause:
/// `a = 1 ORDER BY b` becomes `<condition> AND (a = 1) ORDER BY b`. A query that does not
/// tokenize is returned as is (its compilation reports the error).
pub fn and_where(query: &str, condition: &str) -> String {
    let Ok(tokens) = lexer::tokenize(query) else {
        return query.to_string();
    };
    let mut depth = 0i32;
    let mut split = query.len();
    for (i, t) in tokens.iter().enumerate() {
        match &t.tok {
            lexer::Tok::LParen => depth += 1,
            lexer::Tok::RParen => depth -= 1,
            lexer::Tok::Word(w)
                if depth == 0
                    && (w.eq_ignore_ascii_case("order") || w.eq_ignore_ascii_case("group"))
                    && tokens.get(i + 1).is_some_and(
                        |n| matches!(&n.tok, lexer::Tok::Word(b) if b.eq_ignore_ascii_case("by")),
                    ) =>
            {
                split = t.end - t.text.len();
                break;
            }
            _ => {}
        }
    }
    let (filter, rest) = query.split_at(split);
    if filter.trim().is_empty() {
        format!("{condition} {rest}").trim_end().to_string()
    } else {
        format!("{condition} AND ({}) {rest}", filter.trim())
            .trim_end()
            .to_string()
    }
}

#[cfg(test)]
mod and_where_tests {
    use super::and_where;

    #[test]
    fn keeps_the_trailing_clauses() {
        assert_eq!(and_where("", "X IS NULL"), "X IS NULL");
        assert_eq!(
            and_where("a = 1 OR b = 2", "X IS NULL"),
            "X IS NULL AND (a = 1 OR b = 2)"
        );
        assert_eq!(
            and_where("a = 'order by' ORDER BY StartTime", "X IS NULL"),
            "X IS NULL AND (a = 'order by') ORDER BY StartTime"
        );
        assert_eq!(
            and_where("GROUP BY ExecutionStatus", "X IS NULL"),
            "X IS NULL GROUP BY ExecutionStatus"
        );
    }
}

/// Renames a field in a query and maps the strings it is compared with (`=`, `IN`,
/// `STARTS_WITH`, ...): with `ScheduleId`, `WorkflowId` and a prefix, `ScheduleId = 'a'` becomes
/// `WorkflowId = 'temporal-sys-scheduler:a'`. A query that does not tokenize is returned as is.
pub fn rename_field(query: &str, from: &str, to: &str, map: impl Fn(&str) -> String) -> String {
    let Ok(tokens) = lexer::tokenize(query) else {
        return query.to_string();
    };
    let mut out = String::with_capacity(query.len());
    let mut copied = 0;
    let mut mapping: Option<i32> = None;
    let mut splice = |out: &mut String, start: usize, end: usize, with: &str| {
        out.push_str(&query[copied..start]);
        out.push_str(with);
        copied = end;
    };
    for t in &tokens {
        let start = t.end - t.text.len();
        match (&t.tok, mapping) {
            (lexer::Tok::Word(w) | lexer::Tok::Quoted(w), _) if w == from => {
                splice(&mut out, start, t.end, to);
                mapping = Some(0);
            }
            (lexer::Tok::Str(v), Some(_)) => {
                let quoted = format!("'{}'", map(v).replace('\\', "\\\\").replace('\'', "\\'"));
                splice(&mut out, start, t.end, &quoted);
            }
            (lexer::Tok::LParen, Some(d)) => mapping = Some(d + 1),
            (lexer::Tok::RParen, Some(d)) => mapping = (d > 0).then_some(d - 1),
            (lexer::Tok::Word(w), Some(0))
                if w.eq_ignore_ascii_case("and") || w.eq_ignore_ascii_case("or") =>
            {
                mapping = None
            }
            _ => {}
        }
    }
    out.push_str(&query[copied..]);
    out
}

#[cfg(test)]
mod rename_field_tests {
    use super::rename_field;

    #[test]
    fn renames_the_field_and_maps_its_values_only() {
        let p = |v: &str| format!("p:{v}");
        assert_eq!(
            rename_field(
                "ScheduleId = 'a' AND Owner = 'b'",
                "ScheduleId",
                "WorkflowId",
                p
            ),
            "WorkflowId = 'p:a' AND Owner = 'b'"
        );
        assert_eq!(
            rename_field(
                "(ScheduleId IN ('a', 'b')) OR x = 'c'",
                "ScheduleId",
                "WorkflowId",
                p
            ),
            "(WorkflowId IN ('p:a', 'p:b')) OR x = 'c'"
        );
        assert_eq!(
            rename_field(
                "ScheduleId STARTS_WITH \"it's\"",
                "ScheduleId",
                "WorkflowId",
                p
            ),
            "WorkflowId STARTS_WITH 'p:it\\'s'"
        );
    }
}
