//! MySQL/MariaDB's form of a group commit: the transaction's opening and all its writes in
//! one multi-statement query, then COMMIT (or ROLLBACK) — two round trips for the group.
//!
//! A prepared statement is one statement and costs a round trip of its own, and these
//! servers have no data-modifying `WITH`, so sent as prepared statements a one-commit group
//! took six round trips (BEGIN, the shard check, the run's write, the history and task
//! inserts, COMMIT). A multi-statement query goes over the text protocol, which takes no
//! bound values: every value is written into the text as a number or a hexadecimal literal
//! (all the columns written are integers or binary strings), so no value is ever read as SQL.
//! The answers come back in order, one per statement, and each is checked as the
//! statement-by-statement form checks it; a statement that fails stops the rest. Any failure
//! rolls the whole group back, and `group_commit` then retries its commits one by one to
//! name it.

use std::fmt::Write as _;

use futures::TryStreamExt;
use sqlx::{AnyConnection, Either, Row};

use crate::connections::Conn;
use crate::group_query::{Arg, Expect, Group, check};
use crate::sql::SqlStore;
use crate::{Error, Result, WorkflowCommit};

/// Largest query text sent as one batch; a larger group (big payloads written as hex take
/// twice their size) goes statement by statement, well under the servers' default
/// `max_allowed_packet` (16 MiB on MariaDB, 64 MiB on MySQL 8).
const MAX_BATCH_BYTES: usize = 4 << 20;

impl Group<'_> {
    /// The group as one multi-statement query: `BEGIN`, then each statement with its values
    /// written in. `None` if it would be longer than [`MAX_BATCH_BYTES`].
    fn batch_text(&self) -> Option<String> {
        let values: usize = self.args.iter().map(Arg::literal_len).sum();
        let statements: usize = self.statements.iter().map(|s| s.sql.len() + 16).sum();
        if values + statements > MAX_BATCH_BYTES {
            return None;
        }
        let mut text = String::with_capacity(values + statements + 8);
        text.push_str("BEGIN");
        for st in &self.statements {
            text.push_str(";\n");
            let mut args = self.args[st.args.clone()].iter();
            for (i, part) in st.sql.split('?').enumerate() {
                if i > 0 {
                    args.next()
                        .expect("a value per placeholder")
                        .write_literal(&mut text);
                }
                text.push_str(part);
            }
            if matches!(st.expect, Expect::Range { .. }) {
                // The shard's row stays locked to the commit: an owner change waits for it.
                text.push_str(" FOR UPDATE");
            }
        }
        Some(text)
    }
}

impl Arg<'_> {
    /// Length of [`Arg::write_literal`]'s output, or an upper bound of it.
    fn literal_len(&self) -> usize {
        match self {
            Arg::Int32(_) | Arg::Int(_) => 20,
            Arg::Text(s) => 3 + 2 * s.len(),
            Arg::Blob(b) => 3 + 2 * b.len(),
        }
    }

    /// The value as a SQL literal: a decimal number, or `X'…'` for a text or byte string
    /// (the columns are binary strings, so the bytes go in as they are).
    fn write_literal(&self, text: &mut String) {
        match self {
            Arg::Int32(v) => write!(text, "{v}").expect("writing to a String"),
            Arg::Int(v) => write!(text, "{v}").expect("writing to a String"),
            Arg::Text(s) => write_hex(text, s.as_bytes()),
            Arg::Blob(b) => write_hex(text, b),
        }
    }
}

fn write_hex(text: &mut String, bytes: &[u8]) {
    text.push_str("X'");
    text.push_str(&hex::encode(bytes));
    text.push('\'');
}

/// A pooled connection inside a transaction that sqlx does not track (its BEGIN went in the
/// batch's text). Dropped before [`Batch::end`] — the caller cancelled, or a step failed
/// without a clean ROLLBACK — it is closed rather than pooled, and the server rolls back.
struct Batch {
    conn: Conn,
    open: bool,
}

impl Batch {
    /// Ends the transaction with `COMMIT` or `ROLLBACK`.
    async fn end(mut self, statement: &str) -> Result<()> {
        // Through the `Executor` trait: `RawSql::execute`'s future is not `Send` for every
        // lifetime, which the spawned writer needs.
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

/// Checks each statement's answer as it was expected; answer 0 is BEGIN's.
fn check_answers(group: &Group<'_>, answers: &[Answer]) -> Result<()> {
    if answers.len() != group.statements.len() + 1 {
        return Err(Error::Database(sqlx::Error::Protocol(format!(
            "a batch of {} statements had {} answers",
            group.statements.len() + 1,
            answers.len()
        ))));
    }
    for (st, answer) in group.statements.iter().zip(&answers[1..]) {
        check(&st.expect, answer.found_range, answer.changed)?;
    }
    Ok(())
}

impl SqlStore {
    /// MySQL/MariaDB: the group in two round trips (see the module's comment). A failure is
    /// not told apart by statement here; `group_commit` retries statement by statement to
    /// name it.
    pub(crate) async fn commit_as_batch(&self, commits: &[&WorkflowCommit]) -> Result<()> {
        let group = self.group_statements(commits);
        let Some(text) = group.batch_text() else {
            return self.commit_one_by_one(commits).await;
        };
        let mut batch = Batch {
            conn: self.conn().await?,
            open: true,
        };
        let outcome = match run_batch(&mut batch.conn, &text).await {
            Ok(answers) => check_answers(&group, &answers),
            Err(e) => Err(e.into()),
        };
        match outcome {
            Ok(()) => batch.end("COMMIT").await,
            Err(e) => {
                batch.end("ROLLBACK").await?;
                Err(e)
            }
        }
    }
}

/// What a statement of a batch answered: the first column of its last row (the range id
/// of a shard check), and how many rows it changed.
#[derive(Default)]
struct Answer {
    found_range: Option<i64>,
    changed: u64,
}

/// Sends `text` and reads every statement's answer. The server stops at a statement that
/// fails; its error is returned.
async fn run_batch(conn: &mut AnyConnection, text: &str) -> sqlx::Result<Vec<Answer>> {
    let mut answers = Vec::new();
    let mut current = Answer::default();
    let mut stream = sqlx::Executor::fetch_many(conn, sqlx::raw_sql(text));
    while let Some(answer) = stream.try_next().await? {
        match answer {
            Either::Right(row) => current.found_range = Some(row.try_get(0)?),
            Either::Left(done) => {
                current.changed = done.rows_affected();
                answers.push(std::mem::take(&mut current));
            }
        }
    }
    Ok(answers)
}
