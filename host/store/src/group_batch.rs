//! MySQL/MariaDB's form of a group commit (mysql_batch.rs): the transaction's opening and all
//! its writes in one multi-statement query, then COMMIT (or ROLLBACK) — two round trips for
//! the group, where its statements one by one took six for a one-commit group (BEGIN, the
//! shard check, the run's write, the history and task inserts, COMMIT).
//!
//! The answers come back in order, one per statement, and each is checked as the
//! statement-by-statement form checks it. Any failure rolls the whole group back, and
//! `group_commit` then retries its commits one by one to name it. The deletes of done tasks
//! (a group of a range check and deletes) go the same way.

use sqlx::Row;

use crate::group_query::{Arg, Expect, Group, check};
use crate::mysql_batch::{Answer, Batch, Literal, MAX_BATCH_BYTES, push_statement};
use crate::sql::SqlStore;
use crate::{Error, Result, WorkflowCommit};

impl Group<'_> {
    /// The group as one multi-statement query: `BEGIN`, then each statement with its values
    /// written in. `None` if it would be longer than [`MAX_BATCH_BYTES`].
    fn batch_text(&self) -> Option<String> {
        let values: usize = self.args.iter().map(|a| a.literal().len()).sum();
        let statements: usize = self.statements.iter().map(|s| s.sql.len() + 16).sum();
        if values + statements > MAX_BATCH_BYTES {
            return None;
        }
        let mut text = String::with_capacity(values + statements + 8);
        text.push_str("BEGIN");
        for st in &self.statements {
            let values = self.args[st.args.clone()].iter().map(Arg::literal);
            push_statement(&mut text, &st.sql, values);
            if matches!(st.expect, Expect::Range { .. }) {
                // The shard's row stays locked to the commit: an owner change waits for it.
                text.push_str(" FOR UPDATE");
            }
        }
        Some(text)
    }
}

impl Arg<'_> {
    fn literal(&self) -> Literal<'_> {
        match self {
            Arg::Int32(v) => Literal::Int(i64::from(*v)),
            Arg::Int(v) => Literal::Int(*v),
            Arg::Text(s) => Literal::Bytes(s.as_bytes()),
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
    /// MySQL/MariaDB: the group in two round trips (see the module's comment).
    pub(crate) async fn commit_as_batch(&self, commits: &[&WorkflowCommit]) -> Result<()> {
        self.run_as_batch(&self.group_statements(commits)).await
    }

    /// Runs `group` as a batch and checks its answers, then commits or rolls back; a group
    /// too large for one batch goes statement by statement.
    pub(crate) async fn run_as_batch(&self, group: &Group<'_>) -> Result<()> {
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
