//! A group commit's writes (group_writes.rs) sent in the form each backend runs best. sqlx
//! runs each SQLite connection on a thread of its own and hands every statement over to it
//! and every answer back; a hand-over costs two thread wake-ups, more than SQLite takes to run
//! the statement. PostgreSQL and MySQL/MariaDB pay a network round trip per statement. So on
//! SQLite a group's whole transaction (BEGIN, the writes and their checks, COMMIT) is one
//! query of unchanging text that takes the writes as data, and a failed check stops it before
//! its COMMIT; PostgreSQL gets one statement whose parts are data-modifying `WITH` clauses and
//! whose checks raise, MySQL/MariaDB one multi-statement query, both with the values written
//! in (group_batch.rs).
//!
//! Sent one by one, each failure is told apart (a start that lost the race for its workflow
//! id is `AlreadyExists`); `group_commit` retries the commits of a failed group that way, each
//! alone.

use std::ops::Range;

use sqlx::Connection;

use crate::group_writes::{SQLITE_GROUP_QUERY, Write, sqlite_args, writes};
use crate::sql::{Backend, SqlStore, raw};
use crate::{Error, Result, TaskRow, WorkflowCommit};

/// Rows per multi-row INSERT, under every backend's bind-parameter limit.
const ROWS_PER_INSERT: usize = 200;

/// A value to bind, in the order the query text names them.
#[derive(Clone, Copy)]
pub(crate) enum Arg<'a> {
    Int32(i32),
    Int(i64),
    Text(&'a str),
    Blob(&'a [u8]),
}

/// What one statement's answer must be.
pub(crate) enum Expect {
    /// A shard's row with this range id.
    Range { shard_id: i32, range_id: i64 },
    /// Exactly one row changed, else this conflict.
    OneChange(String),
    /// A new current run: a unique violation means another run is current (this message).
    NewCurrent(String),
    /// Nothing to check.
    Done,
}

/// One statement of a group: its text with `?` placeholders, what its answer must be, and
/// where its values are in the group's.
pub(crate) struct Statement {
    pub(crate) sql: String,
    pub(crate) expect: Expect,
    pub(crate) args: Range<usize>,
}

/// A group's statements and their values in order.
#[derive(Default)]
pub(crate) struct Group<'a> {
    pub(crate) statements: Vec<Statement>,
    pub(crate) args: Vec<Arg<'a>>,
}

impl<'a> Group<'a> {
    fn statement(&mut self, sql: &str, args: impl IntoIterator<Item = Arg<'a>>, expect: Expect) {
        let first = self.args.len();
        self.args.extend(args);
        self.statements.push(Statement {
            sql: sql.to_string(),
            expect,
            args: first..self.args.len(),
        });
    }

    /// A multi-row INSERT of `rows` (each `columns` values) in chunks.
    fn insert(&mut self, prefix: &str, columns: usize, rows: Vec<Vec<Arg<'a>>>) {
        let group = format!("({})", vec!["?"; columns].join(", "));
        let mut rows = rows.into_iter().peekable();
        while rows.peek().is_some() {
            let chunk: Vec<Vec<Arg<'a>>> = rows.by_ref().take(ROWS_PER_INSERT).collect();
            let text = format!("{prefix}{}", vec![group.as_str(); chunk.len()].join(", "));
            self.statement(&text, chunk.into_iter().flatten(), Expect::Done);
        }
    }

    /// Multi-row INSERTs of task rows, each with its shard id.
    fn tasks(&mut self, rows: impl Iterator<Item = (i32, &'a TaskRow)>) {
        let rows = rows
            .map(|(shard_id, t)| {
                vec![
                    Arg::Int32(shard_id),
                    Arg::Int(t.task_id),
                    Arg::Int(t.queue_hash),
                    Arg::Int(t.visible_at),
                    Arg::Blob(&t.data),
                ]
            })
            .collect();
        self.insert(
            "INSERT INTO tasks (shard_id, task_id, queue_hash, visible_at, data) VALUES ",
            5,
            rows,
        );
    }
}

/// Binds `args` to `query`, in order.
fn bind<'q>(
    mut query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    args: &'q [Arg<'_>],
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    for arg in args {
        query = match arg {
            Arg::Int32(v) => query.bind(*v),
            Arg::Int(v) => query.bind(*v),
            Arg::Text(v) => query.bind(*v),
            Arg::Blob(v) => query.bind(*v),
        };
    }
    query
}

/// Checks one answer against what its statement expected.
pub(crate) fn check(expect: &Expect, found_range: Option<i64>, changed: u64) -> Result<()> {
    match expect {
        Expect::Range { shard_id, range_id } => {
            let found = found_range.unwrap_or(-1);
            if found != *range_id {
                return Err(Error::ShardOwnershipLost {
                    shard_id: *shard_id,
                    expected: *range_id,
                    found,
                });
            }
        }
        Expect::OneChange(conflict) if changed != 1 => {
            return Err(Error::Conflict(conflict.clone()));
        }
        _ => {}
    }
    Ok(())
}

/// A statement's failure: a lost race for the current run when it made a new one.
fn failed(expect: &Expect, e: sqlx::Error) -> Error {
    match expect {
        Expect::NewCurrent(taken) if SqlStore::is_unique_violation(&e) => {
            Error::AlreadyExists(taken.clone())
        }
        _ => e.into(),
    }
}

impl SqlStore {
    /// Commits `commits` in one transaction, in order, in the backend's best form.
    pub(crate) async fn commit_group(&self, commits: &[&WorkflowCommit]) -> Result<()> {
        match self.backend() {
            Backend::Sqlite => self.commit_as_statements(commits).await,
            Backend::Postgres | Backend::Mysql => {
                self.run_whole(&self.group_statements(commits)).await
            }
        }
    }

    /// Commits `commits` in one transaction, statement by statement: every backend can, and
    /// each failure comes back named.
    pub(crate) async fn commit_one_by_one(&self, commits: &[&WorkflowCommit]) -> Result<()> {
        self.run_one_by_one(&self.group_statements(commits)).await
    }

    /// Runs `group` in a transaction of its own, statement by statement.
    pub(crate) async fn run_one_by_one(&self, group: &Group<'_>) -> Result<()> {
        let mut conn = self.conn().await?;
        let mut tx = conn.begin().await?;
        self.run_each(&mut tx, group).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Deletes done tasks of a shard this node still owns (its range id checked first), in
    /// one transaction, in the backend's best form.
    pub(crate) async fn delete_owned_tasks(
        &self,
        shard_id: i32,
        range_id: i64,
        task_ids: &[i64],
    ) -> Result<()> {
        let mut group = Group::default();
        group.statement(
            raw("shard_get"),
            [Arg::Int32(shard_id)],
            Expect::Range { shard_id, range_id },
        );
        for chunk in task_ids.chunks(500) {
            let marks = vec!["?"; chunk.len()].join(", ");
            let ids = chunk.iter().map(|id| Arg::Int(*id));
            group.statement(
                &format!("DELETE FROM tasks WHERE shard_id = ? AND task_id IN ({marks})"),
                std::iter::once(Arg::Int32(shard_id)).chain(ids),
                Expect::Done,
            );
        }
        // PostgreSQL's form does not name a failed check (see `run_whole`); one by one names
        // it, as `group_commit` does for commits. SQLite's already went one by one.
        match self.run_whole(&group).await {
            Err(_) if self.backend() == Backend::Postgres => self.run_one_by_one(&group).await,
            outcome => outcome,
        }
    }

    /// Runs `group`'s statements one by one in a transaction of the caller's, checking each
    /// answer.
    async fn run_each(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        group: &Group<'_>,
    ) -> Result<()> {
        for st in &group.statements {
            if let Expect::Range { shard_id, range_id } = st.expect {
                self.check_range(tx, shard_id, range_id).await?;
                continue;
            }
            let text = self.adapt(&st.sql);
            let done = bind(sqlx::query(&text), &group.args[st.args.clone()])
                .execute(&mut **tx)
                .await
                .map_err(|e| failed(&st.expect, e))?;
            check(&st.expect, None, done.rows_affected())?;
        }
        Ok(())
    }

    /// SQLite: the group's transaction as one query of unchanging text, kept prepared, that
    /// takes the writes as data. A failure is not told apart by write here; `group_commit`
    /// retries statement by statement to name it.
    pub(crate) async fn commit_as_statements(&self, commits: &[&WorkflowCommit]) -> Result<()> {
        let (rows, bytes) = sqlite_args(&writes(commits));
        self.run_sqlite_transaction(SQLITE_GROUP_QUERY, rows, bytes)
            .await
    }

    pub(crate) fn group_statements<'a>(&self, commits: &[&'a WorkflowCommit]) -> Group<'a> {
        let mut group = Group::default();
        let mut history = Vec::new();
        let mut tasks = Vec::new();
        for write in writes(commits) {
            match write {
                Write::Range { shard_id, range_id } => group.statement(
                    raw("shard_get"),
                    [Arg::Int32(shard_id)],
                    Expect::Range { shard_id, range_id },
                ),
                Write::CurrentInsert { commit: c, run_id } => group.statement(
                    raw("current_insert"),
                    [
                        Arg::Int32(c.shard_id),
                        Arg::Text(&c.namespace_id),
                        Arg::Text(&c.workflow_id),
                        Arg::Text(run_id),
                    ],
                    Expect::NewCurrent(format!(
                        "a run of workflow id {:?} is current",
                        c.workflow_id
                    )),
                ),
                Write::CurrentMove {
                    commit: c,
                    from_run_id,
                    run_id,
                } => group.statement(
                    raw("current_move"),
                    [
                        Arg::Text(run_id),
                        Arg::Int32(c.shard_id),
                        Arg::Text(&c.namespace_id),
                        Arg::Text(&c.workflow_id),
                        Arg::Text(from_run_id),
                    ],
                    Expect::OneChange(format!(
                        "current run of {:?} is no longer {from_run_id}",
                        c.workflow_id
                    )),
                ),
                Write::ExecInsert {
                    shard_id,
                    key,
                    state,
                    version,
                } => group.statement(
                    raw("exec_insert"),
                    [
                        Arg::Int32(shard_id),
                        Arg::Text(&key.namespace_id),
                        Arg::Text(&key.workflow_id),
                        Arg::Text(&key.run_id),
                        Arg::Blob(state),
                        Arg::Int(version),
                    ],
                    Expect::Done,
                ),
                Write::ExecUpdate {
                    shard_id,
                    key,
                    state,
                    version,
                    expected,
                } => group.statement(
                    raw("exec_update"),
                    [
                        Arg::Blob(state),
                        Arg::Int(version),
                        Arg::Int32(shard_id),
                        Arg::Text(&key.namespace_id),
                        Arg::Text(&key.workflow_id),
                        Arg::Text(&key.run_id),
                        Arg::Int(expected),
                    ],
                    Expect::OneChange(format!(
                        "run {} changed concurrently (expected db version {expected})",
                        key.run_id
                    )),
                ),
                Write::History { shard_id, batch: h } => history.push(vec![
                    Arg::Int32(shard_id),
                    Arg::Text(&h.key.namespace_id),
                    Arg::Text(&h.key.workflow_id),
                    Arg::Text(&h.key.run_id),
                    Arg::Int(h.first_event_id),
                    Arg::Int(h.last_event_id),
                    Arg::Blob(&h.data),
                ]),
                Write::Task { shard_id, task } => tasks.push((shard_id, task)),
            }
        }
        group.insert(
            "INSERT INTO history_batches (shard_id, namespace_id, workflow_id, run_id, first_event_id, last_event_id, data) VALUES ",
            7,
            history,
        );
        group.tasks(tasks.into_iter());
        group
    }

    /// Inserts task rows, each with its shard id, in a transaction of the caller's.
    pub(crate) async fn insert_tasks(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        tasks: &[(i32, &TaskRow)],
    ) -> Result<()> {
        let mut group = Group::default();
        group.tasks(tasks.iter().copied());
        self.run_each(tx, &group).await
    }
}
