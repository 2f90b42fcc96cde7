//! MySQL/MariaDB's form of a group commit (mysql_batch.rs): the transaction's opening and all
//! its writes in one multi-statement query, then COMMIT (or ROLLBACK) — two round trips for
//! the group, where its statements one by one took six for a one-commit group (BEGIN, the
//! shard check, the run's write, the history and task inserts, COMMIT).
//!
//! The answers come back in order, one per statement, and each is checked as the
//! statement-by-statement form checks it. Any failure rolls the whole group back, and
//! `group_commit` then retries its commits one by one to name it. The deletes of done tasks,
//! fenced by the same range check, go the same way.

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
        let group = self.group_statements(commits);
        let Some(text) = group.batch_text() else {
            return self.commit_one_by_one(commits).await;
        };
        let mut batch = Batch::new(self.conn().await?);
        let outcome = match batch.run(&text).await {
            Ok(answers) => check_answers(&group, &answers),
            Err(e) => Err(e.into()),
        };
        batch.finish(outcome).await
    }

    /// MySQL/MariaDB: deletes done tasks of a shard this node still owns in two round trips —
    /// BEGIN, the range check and the deletes in one query, then COMMIT or ROLLBACK.
    pub(crate) async fn delete_tasks_as_batch(
        &self,
        shard_id: i32,
        range_id: i64,
        task_ids: &[i64],
    ) -> Result<()> {
        let shard = Literal::Int(i64::from(shard_id));
        let mut text = String::from("BEGIN");
        let fence = "SELECT range_id FROM shards WHERE shard_id = ? FOR UPDATE";
        push_statement(&mut text, fence, std::iter::once(shard));
        for chunk in task_ids.chunks(500) {
            let marks = vec!["?"; chunk.len()].join(", ");
            let delete = format!("DELETE FROM tasks WHERE shard_id = ? AND task_id IN ({marks})");
            let ids = chunk.iter().map(|id| Literal::Int(*id));
            push_statement(&mut text, &delete, std::iter::once(shard).chain(ids));
        }
        let mut batch = Batch::new(self.conn().await?);
        let outcome = match batch.run(&text).await {
            Ok(answers) => {
                // Answer 0 is BEGIN's, 1 the range check's (no row: no such shard).
                let found = match answers.get(1).and_then(|a| a.rows.last()) {
                    Some(row) => Some(row.try_get::<i64, _>(0)?),
                    None => None,
                };
                check(&Expect::Range { shard_id, range_id }, found, 0)
            }
            Err(e) => Err(e.into()),
        };
        batch.finish(outcome).await
    }
}
