//! A transaction's statements sent as one text query, with their values written in.
//!
//! A bound (prepared) statement is one statement and costs a round trip of its own; through
//! sqlx a statement not kept prepared costs two on PostgreSQL (its parse and description,
//! then its execution). A query of the text protocol takes several statements in one round
//! trip but no bound values, so every value is written into the text: a number as a number, a
//! byte string as hexadecimal, and — PostgreSQL's text columns — a string as an escaped
//! string literal. No value is ever read as SQL. The server answers the statements in order
//! and stops at the first that fails. Used by the group commit (group_batch.rs) and the
//! visibility writer (visibility_batch.rs) on MySQL/MariaDB and PostgreSQL.

use std::fmt::Write as _;

use futures::TryStreamExt;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Either};

use crate::Result;
use crate::connections::Conn;
use crate::sql::Backend;

/// Largest query text sent as one batch: a larger one (big payloads written as hex take twice
/// their size) goes statement by statement, well under the servers' default
/// `max_allowed_packet` (16 MiB on MariaDB, 64 MiB on MySQL 8; PostgreSQL takes up to 1 GiB).
pub(crate) const MAX_BATCH_BYTES: usize = 4 << 20;

/// A value written into a batch's text.
#[derive(Clone, Copy)]
pub(crate) enum Literal<'a> {
    Int(i64),
    Float(f64),
    /// A string for a string column: a binary string on MySQL/MariaDB (written as its bytes),
    /// text on PostgreSQL.
    Text(&'a str),
    Bytes(&'a [u8]),
}

impl Literal<'_> {
    /// Length of the literal's text, or an upper bound of it.
    pub(crate) fn len(&self) -> usize {
        match self {
            Literal::Int(_) | Literal::Float(_) => 24,
            Literal::Text(s) => 3 + 2 * s.len(),
            Literal::Bytes(b) => 20 + 2 * b.len(),
        }
    }

    fn write(&self, backend: Backend, text: &mut String) {
        match (self, backend) {
            (Literal::Int(v), _) => write!(text, "{v}").expect("writing to a String"),
            // The shortest form that reads back as the same double; on MySQL the exponent
            // makes it a DOUBLE literal rather than an exact DECIMAL.
            (Literal::Float(v), _) => write!(text, "{v:e}").expect("writing to a String"),
            (Literal::Text(s), Backend::Postgres) => {
                // An escape string: its reading does not depend on
                // `standard_conforming_strings`. A NUL (which text cannot hold) ends the
                // query's text early, and the server rejects the query.
                text.push_str("E'");
                for c in s.chars() {
                    match c {
                        '\\' => text.push_str("\\\\"),
                        '\'' => text.push_str("''"),
                        c => text.push(c),
                    }
                }
                text.push('\'');
            }
            (Literal::Bytes(b), Backend::Postgres) => {
                text.push_str("decode('");
                text.push_str(&hex::encode(b));
                text.push_str("', 'hex')");
            }
            (Literal::Text(s), _) => Literal::Bytes(s.as_bytes()).write(backend, text),
            (Literal::Bytes(b), _) => {
                text.push_str("X'");
                text.push_str(&hex::encode(b));
                text.push('\'');
            }
        }
    }
}

/// Appends `sql` to `text` with each `?` replaced by the next of `values`.
pub(crate) fn push_sql<'a>(
    text: &mut String,
    backend: Backend,
    sql: &str,
    mut values: impl Iterator<Item = Literal<'a>>,
) {
    for (i, part) in sql.split('?').enumerate() {
        if i > 0 {
            values
                .next()
                .expect("a value per placeholder")
                .write(backend, text);
        }
        text.push_str(part);
    }
}

/// Appends `sql` to `text` as a statement of its own, values written in as by [`push_sql`].
pub(crate) fn push_statement<'a>(
    text: &mut String,
    backend: Backend,
    sql: &str,
    values: impl Iterator<Item = Literal<'a>>,
) {
    if !text.is_empty() {
        text.push_str(";\n");
    }
    push_sql(text, backend, sql, values);
}

/// What a statement answered: its rows, and how many rows it changed.
#[derive(Default)]
pub(crate) struct Answer {
    pub(crate) rows: Vec<AnyRow>,
    pub(crate) changed: u64,
}

/// A pooled connection inside a transaction that sqlx does not track (its BEGIN went in a
/// batch's text). Dropped before [`Batch::end`] — the caller cancelled, or a step failed
/// without a clean ROLLBACK — it is closed rather than pooled, and the server rolls back.
pub(crate) struct Batch {
    conn: Conn,
    open: bool,
}

impl Batch {
    pub(crate) fn new(conn: Conn) -> Batch {
        Batch { conn, open: true }
    }

    /// The connection, for statements of the transaction sent otherwise.
    pub(crate) fn conn(&mut self) -> &mut AnyConnection {
        &mut self.conn
    }

    /// Sends `text` and reads every statement's answer. The server stops at a statement that
    /// fails; its error is returned.
    pub(crate) async fn run(&mut self, text: &str) -> sqlx::Result<Vec<Answer>> {
        run(&mut self.conn, text).await
    }

    /// Sends `text`, which ends the transaction (a last statement `COMMIT`): if a statement
    /// fails, the rest (the COMMIT among them) is not run, and the transaction is rolled back.
    pub(crate) async fn run_to_end(mut self, text: &str) -> Result<()> {
        match run(&mut self.conn, text).await {
            Ok(_) => {
                self.open = false;
                Ok(())
            }
            Err(e) => self.finish(Err(e.into())).await,
        }
    }

    /// Commits if `outcome` (the checks of the batch's answers) is `Ok`, else rolls back and
    /// returns it.
    pub(crate) async fn finish(self, outcome: Result<()>) -> Result<()> {
        match outcome {
            Ok(()) => self.end("COMMIT").await,
            Err(e) => {
                // Should the ROLLBACK fail too, the connection is closed (see `Drop`).
                let _ = self.end("ROLLBACK").await;
                Err(e)
            }
        }
    }

    /// Ends the transaction with `COMMIT` or `ROLLBACK`.
    pub(crate) async fn end(mut self, statement: &str) -> Result<()> {
        // Through the `Executor` trait: `RawSql::execute`'s future is not `Send` for every
        // lifetime, which the spawned writers need.
        sqlx::Executor::execute(&mut *self.conn, sqlx::raw_sql(statement)).await?;
        self.open = false;
        Ok(())
    }
}

impl Drop for Batch {
    fn drop(&mut self) {
        if self.open {
            self.conn.close_on_drop();
        }
    }
}

async fn run(conn: &mut AnyConnection, text: &str) -> sqlx::Result<Vec<Answer>> {
    let mut answers = Vec::new();
    let mut current = Answer::default();
    let mut stream = sqlx::Executor::fetch_many(conn, sqlx::raw_sql(text));
    while let Some(answer) = stream.try_next().await? {
        match answer {
            Either::Right(row) => current.rows.push(row),
            Either::Left(done) => {
                current.changed = done.rows_affected();
                answers.push(std::mem::take(&mut current));
            }
        }
    }
    Ok(answers)
}
