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
