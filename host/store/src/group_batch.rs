//! A group commit's forms as text with its values written in (text_batch.rs).
//!
//! MySQL/MariaDB: the transaction's opening and all its writes in one multi-statement query,
//! then COMMIT (or ROLLBACK) — two round trips for the group, where its statements one by one
//! took six for a one-commit group (BEGIN, the shard check, the run's write, the history and
//! task inserts, COMMIT). The answers come back in order, one per statement, and each is
//! checked as the statement-by-statement form checks it.
//!
//! PostgreSQL: the group is one statement, each write a data-modifying `WITH` clause, sent on
//! its own, so that it is a transaction of its own: one round trip, where BEGIN, the statement
//! bound (its parse, then its execution) and COMMIT took four. Its checks are made inside it
//! by `sundial_check` (migration 0006), which raises when one fails, and the raise rolls the
//! whole statement back.
//!
//! Any failure rolls the whole group back, and `group_commit` then retries its commits one by
//! one to name it. The deletes of done tasks (a group of a range check and deletes) go the
//! same way.

use std::fmt::Write as _;

use sqlx::Row;

use crate::group_query::{Arg, Expect, Group, check};
use crate::sql::{Backend, SqlStore};
use crate::text_batch::{Answer, Batch, Literal, MAX_BATCH_BYTES, push_sql, push_statement};
use crate::{Error, Result};

impl Group<'_> {
    /// An upper bound of the group's length as text, or `None` if it would be longer than
    /// [`MAX_BATCH_BYTES`].
    fn text_len(&self) -> Option<usize> {
        let values: usize = self.args.iter().map(|a| a.literal().len()).sum();
        let statements: usize = self.statements.iter().map(|s| s.sql.len() + 80).sum();
        Some(values + statements + 8).filter(|len| *len <= MAX_BATCH_BYTES)
    }

    /// MySQL/MariaDB's form: one multi-statement query, `BEGIN`, then each statement with its
    /// values written in.
    fn batch_text(&self) -> Option<String> {
        let mut text = String::with_capacity(self.text_len()?);
        text.push_str("BEGIN");
        for st in &self.statements {
            let values = self.args[st.args.clone()].iter().map(Arg::literal);
            push_statement(&mut text, Backend::Mysql, &st.sql, values);
            if matches!(st.expect, Expect::Range { .. }) {
                // The shard's row stays locked to the commit: an owner change waits for it.
                text.push_str(" FOR UPDATE");
            }
        }
        Some(text)
    }

    /// PostgreSQL's form: one statement, each part a `WITH` clause, then a `SELECT` that
    /// calls `sundial_check` on each part to check (the shard's range id, the count of rows
    /// changed).
    fn postgres_text(&self) -> Option<String> {
        let mut text = String::with_capacity(self.text_len()?);
        let mut checks = Vec::new();
        for (i, st) in self.statements.iter().enumerate() {
            let lead = if i == 0 { "WITH" } else { ",\n" };
            write!(text, "{lead} s{i} AS (").expect("writing to a String");
            let values = self.args[st.args.clone()].iter().map(Arg::literal);
            push_sql(&mut text, Backend::Postgres, &st.sql, values);
            match &st.expect {
                Expect::Range { shard_id, range_id } => {
                    // The shard's row stays locked to the commit: an owner change waits.
                    text.push_str(" FOR UPDATE");
                    checks.push(format!(
                        "sundial_check((SELECT range_id FROM s{i}) = {range_id}, 'shard {shard_id} has a new owner')"
                    ));
                }
                Expect::OneChange(_) => {
                    text.push_str(" RETURNING 1");
                    checks.push(format!(
                        "sundial_check((SELECT count(*) FROM s{i}) = 1, 'statement {i} changed no row')"
                    ));
                }
                Expect::NewCurrent(_) | Expect::Done => {}
            }
            text.push(')');
        }
        text.push_str("\nSELECT ");
        if checks.is_empty() {
            text.push('1');
        }
        text.push_str(&checks.join(", "));
        Some(text)
    }
}

impl Arg<'_> {
    fn literal(&self) -> Literal<'_> {
        match self {
            Arg::Int32(v) => Literal::Int(i64::from(*v)),
            Arg::Int(v) => Literal::Int(*v),
            Arg::Text(s) => Literal::Text(s),
            Arg::Blob(b) => Literal::Bytes(b),
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
        // A shard check's row holds the range id; no row: no such shard.
        let found_range = match answer.rows.last() {
            Some(row) => Some(row.try_get::<i64, _>(0)?),
            None => None,
        };
        check(&st.expect, found_range, answer.changed)?;
    }
    Ok(())
}

impl SqlStore {
    /// Runs `group` in one transaction, in the backend's best form: one statement on
    /// PostgreSQL, a batch on MySQL/MariaDB, statement by statement on SQLite (whose own form
    /// of a commit group is `commit_as_statements`). A failed check is named only where the
    /// answers are read (MySQL/MariaDB, SQLite); on PostgreSQL it raises inside the statement.
    pub(crate) async fn run_whole(&self, group: &Group<'_>) -> Result<()> {
        match self.backend() {
            Backend::Postgres => self.run_as_statement(group).await,
            Backend::Mysql => self.run_as_batch(group).await,
            Backend::Sqlite => self.run_one_by_one(group).await,
        }
    }

    /// Runs `group` as one statement in a transaction of its own; a group too large for one
    /// text goes statement by statement.
    async fn run_as_statement(&self, group: &Group<'_>) -> Result<()> {
        let Some(text) = group.postgres_text() else {
            return self.run_one_by_one(group).await;
        };
        let mut conn = self.conn().await?;
        // Through the `Executor` trait: see `Batch::end`.
        sqlx::Executor::execute(&mut *conn, sqlx::raw_sql(&text)).await?;
        Ok(())
    }

    /// Runs `group` as a batch and checks its answers, then commits or rolls back; a group
    /// too large for one batch goes statement by statement.
    async fn run_as_batch(&self, group: &Group<'_>) -> Result<()> {
        let Some(text) = group.batch_text() else {
            return self.run_one_by_one(group).await;
        };
        let mut batch = Batch::new(self.conn().await?);
        let outcome = match batch.run(&text).await {
            Ok(answers) => check_answers(group, &answers),
            Err(e) => Err(e.into()),
        };
        batch.finish(outcome).await
    }
}
