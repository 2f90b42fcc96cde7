//! SQLite's group commit in one call to its driver. sqlx runs each SQLite connection on a
//! thread of its own and hands every statement over to it and every answer back; a hand-over
//! costs two thread wake-ups, more than SQLite takes to run the statement. A group's
//! statements (the shard checks, the execution and current-run writes, the history and task
//! inserts) therefore go over as one multi-statement query between the transaction's BEGIN
//! and COMMIT: three hand-overs per group instead of one per statement.
//!
//! The answers come back statement by statement, in order, and are checked before the COMMIT
//! exactly as the statement-by-statement path checks them; a group that fails is rolled back
//! (the caller then retries its commits one by one on that path, which names the failure).

use futures::TryStreamExt;
use sqlx::{Either, Row};

use crate::sql::SqlStore;
use crate::{CurrentRunUpdate, Error, Result, WorkflowCommit};

/// Rows per multi-row INSERT, under SQLite's bind-parameter limit (32766).
const ROWS_PER_INSERT: usize = 200;

/// A value to bind, in the order the query text names them.
enum Arg<'a> {
    Int(i64),
    Text(&'a str),
    Blob(&'a [u8]),
}

/// What one statement's answer must be.
enum Expect {
    /// A shard's row with this range id.
    Range { shard_id: i32, range_id: i64 },
    /// Exactly one row changed, else this conflict.
    OneChange(String),
    /// Nothing to check.
    Done,
}

#[derive(Default)]
struct Group<'a> {
    text: String,
    args: Vec<Arg<'a>>,
    expects: Vec<Expect>,
}

impl<'a> Group<'a> {
    fn statement(&mut self, sql: &str, args: impl IntoIterator<Item = Arg<'a>>, expect: Expect) {
        self.text.push_str(sql);
        self.text.push_str(";\n");
        self.args.extend(args);
        self.expects.push(expect);
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
}

fn mismatch(what: &str) -> Error {
    Error::Database(sqlx::Error::Protocol(format!("group commit: {what}")))
}

impl SqlStore {
    /// Commits `commits` in one transaction, in order, handing the statements to SQLite's
    /// driver thread in one go.
    pub(crate) async fn commit_batch_sqlite(&self, commits: &[&WorkflowCommit]) -> Result<()> {
        let group = self.group_statements(commits);
        let mut tx = self.pool.begin().await?;
        // Not kept prepared: a group's text changes with its makeup, and would push the
        // statements that are the same every time out of the connection's cache.
        let mut query = sqlx::query(&group.text).persistent(false);
        for arg in group.args {
            query = match arg {
                Arg::Int(v) => query.bind(v),
                Arg::Text(v) => query.bind(v),
                Arg::Blob(v) => query.bind(v),
            };
        }
        let mut expects = group.expects.iter();
        let mut found_range: Option<i64> = None;
        {
            // Deprecated in sqlx 0.8 for every driver but SQLite's, which supports it: see the
            // module's comment for why it is worth it here.
            #[allow(deprecated)]
            let mut answers = query.fetch_many(&mut *tx);
            while let Some(step) = answers.try_next().await? {
                match step {
                    Either::Right(row) => found_range = Some(row.try_get(0)?),
                    Either::Left(done) => {
                        match expects.next() {
                            Some(Expect::Range { shard_id, range_id }) => {
                                let found = found_range.unwrap_or(-1);
                                if found != *range_id {
                                    return Err(Error::ShardOwnershipLost {
                                        shard_id: *shard_id,
                                        expected: *range_id,
                                        found,
                                    });
                                }
                            }
                            Some(Expect::OneChange(conflict)) if done.rows_affected() != 1 => {
                                return Err(Error::Conflict(conflict.clone()));
                            }
                            Some(_) => {}
                            None => {
                                return Err(mismatch("more answers than statements"));
                            }
                        }
                        found_range = None;
                    }
                }
            }
        }
        if expects.next().is_some() {
            return Err(mismatch("fewer answers than statements"));
        }
        tx.commit().await?;
        Ok(())
    }

    fn group_statements<'a>(&self, commits: &[&'a WorkflowCommit]) -> Group<'a> {
        let mut group = Group::default();
        let mut fenced: Vec<(i32, i64)> = Vec::new();
        for c in commits {
            if !fenced.contains(&(c.shard_id, c.range_id)) {
                fenced.push((c.shard_id, c.range_id));
                group.statement(
                    self.q("shard_get"),
                    [Arg::Int(c.shard_id.into())],
                    Expect::Range {
                        shard_id: c.shard_id,
                        range_id: c.range_id,
                    },
                );
            }
        }
        for c in commits {
            let shard = || Arg::Int(c.shard_id.into());
            match &c.current {
                None | Some(CurrentRunUpdate::Keep) => {}
                Some(CurrentRunUpdate::Create { run_id }) => group.statement(
                    self.q("current_insert"),
                    [
                        shard(),
                        Arg::Text(&c.namespace_id),
                        Arg::Text(&c.workflow_id),
                        Arg::Text(run_id),
                    ],
                    Expect::Done,
                ),
                Some(CurrentRunUpdate::Move {
                    from_run_id,
                    run_id,
                }) => group.statement(
                    self.q("current_move"),
                    [
                        Arg::Text(run_id),
                        shard(),
                        Arg::Text(&c.namespace_id),
                        Arg::Text(&c.workflow_id),
                        Arg::Text(from_run_id),
                    ],
                    Expect::OneChange(format!(
                        "current run of {:?} is no longer {from_run_id}",
                        c.workflow_id
                    )),
                ),
            }
            for e in &c.executions {
                let key = [
                    Arg::Text(&e.key.namespace_id),
                    Arg::Text(&e.key.workflow_id),
                    Arg::Text(&e.key.run_id),
                ];
                match e.expected_db_version {
                    None => group.statement(
                        self.q("exec_insert"),
                        [shard()]
                            .into_iter()
                            .chain(key)
                            .chain([Arg::Blob(&e.state), Arg::Int(e.new_db_version)]),
                        Expect::Done,
                    ),
                    Some(expected) => group.statement(
                        self.q("exec_update"),
                        [Arg::Blob(&e.state), Arg::Int(e.new_db_version), shard()]
                            .into_iter()
                            .chain(key)
                            .chain([Arg::Int(expected)]),
                        Expect::OneChange(format!(
                            "run {} changed concurrently (expected db version {expected})",
                            e.key.run_id
                        )),
                    ),
                }
            }
        }
        let history = commits
            .iter()
            .flat_map(|c| c.history.iter().map(move |h| (c.shard_id, h)))
            .map(|(shard_id, h)| {
                vec![
                    Arg::Int(shard_id.into()),
                    Arg::Text(&h.key.namespace_id),
                    Arg::Text(&h.key.workflow_id),
                    Arg::Text(&h.key.run_id),
                    Arg::Int(h.first_event_id),
                    Arg::Int(h.last_event_id),
                    Arg::Blob(&h.data),
                ]
            })
            .collect();
        group.insert(
            "INSERT INTO history_batches (shard_id, namespace_id, workflow_id, run_id, first_event_id, last_event_id, data) VALUES ",
            7,
            history,
        );
        let tasks = commits
            .iter()
            .flat_map(|c| c.tasks.iter().map(move |t| (c.shard_id, t)))
            .map(|(shard_id, t)| {
                vec![
                    Arg::Int(shard_id.into()),
                    Arg::Int(t.task_id),
                    Arg::Int(t.queue_hash),
                    Arg::Int(t.visible_at),
                    Arg::Blob(&t.data),
                ]
            })
            .collect();
        group.insert(
            "INSERT INTO tasks (shard_id, task_id, queue_hash, visible_at, data) VALUES ",
            5,
            tasks,
        );
        group
    }
}
