//! A group commit's writes, in the order they are made, and SQLite's form of them.
//!
//! Every backend makes the same writes: first a check per shard that it is still this node's
//! (its range id unchanged), then each commit's current-run and execution writes in commit
//! order, then the history and task rows. PostgreSQL and MySQL/MariaDB send them as statements
//! (group_query.rs, group_batch.rs). SQLite sends the whole transaction as one query whose
//! text never changes, so that it is prepared once per connection: the writes go as data (a
//! JSON array of rows and one blob that holds their byte strings), inserted in order into a
//! temporary view whose trigger makes each write and its check. A group's statements as text
//! would differ with its makeup (how many commits, of which kinds, how many rows), too many
//! texts for sqlx's per-connection cache of prepared statements: preparing them anew took a
//! fifth of the server's instructions (BENCHMARKS.md, issue 22).

use serde::Serialize;

use crate::{CurrentRunUpdate, HistoryBatch, RunKey, TaskRow, WorkflowCommit};

/// One write of a group commit.
pub(crate) enum Write<'a> {
    /// The shard's range id must still be `range_id` (else another node owns the shard).
    Range {
        shard_id: i32,
        range_id: i64,
    },
    /// The workflow id gets its first current run.
    CurrentInsert {
        commit: &'a WorkflowCommit,
        run_id: &'a str,
    },
    /// The workflow id's current run moves from `from_run_id` (which it must still be).
    CurrentMove {
        commit: &'a WorkflowCommit,
        from_run_id: &'a str,
        run_id: &'a str,
    },
    /// A new run's state.
    ExecInsert {
        shard_id: i32,
        key: &'a RunKey,
        state: &'a [u8],
        version: i64,
    },
    /// A run's state, which must still be at db version `expected`.
    ExecUpdate {
        shard_id: i32,
        key: &'a RunKey,
        state: &'a [u8],
        version: i64,
        expected: i64,
    },
    History {
        shard_id: i32,
        batch: &'a HistoryBatch,
    },
    Task {
        shard_id: i32,
        task: &'a TaskRow,
    },
}

/// The writes of `commits`, in the order they are made.
pub(crate) fn writes<'a>(commits: &[&'a WorkflowCommit]) -> Vec<Write<'a>> {
    let mut out = Vec::new();
    for c in commits {
        let fence = Write::Range {
            shard_id: c.shard_id,
            range_id: c.range_id,
        };
        let fenced = out.iter().any(|w| {
            matches!(w, Write::Range { shard_id, range_id }
                if (*shard_id, *range_id) == (c.shard_id, c.range_id))
        });
        if !fenced {
            out.push(fence);
        }
    }
    for c in commits {
        match &c.current {
            None | Some(CurrentRunUpdate::Keep) => {}
            Some(CurrentRunUpdate::Create { run_id }) => {
                out.push(Write::CurrentInsert { commit: c, run_id })
            }
            Some(CurrentRunUpdate::Move {
                from_run_id,
                run_id,
            }) => out.push(Write::CurrentMove {
                commit: c,
                from_run_id,
                run_id,
            }),
        }
        for e in &c.executions {
            out.push(match e.expected_db_version {
                None => Write::ExecInsert {
                    shard_id: c.shard_id,
                    key: &e.key,
                    state: &e.state,
                    version: e.new_db_version,
                },
                Some(expected) => Write::ExecUpdate {
                    shard_id: c.shard_id,
                    key: &e.key,
                    state: &e.state,
                    version: e.new_db_version,
                    expected,
                },
            });
        }
    }
    for c in commits {
        out.extend(c.history.iter().map(|batch| Write::History {
            shard_id: c.shard_id,
            batch,
        }));
    }
    for c in commits {
        out.extend(c.tasks.iter().map(|task| Write::Task {
            shard_id: c.shard_id,
            task,
        }));
    }
    out
}

/// The view SQLite's form inserts a group's writes into, one row each, and the trigger that
/// makes them: `kind` says which write a row is, `r` is the row as binary JSON (read by
/// position, without parsing), `data` its byte string. One trigger whose statements each
/// apply to one kind runs cheaper than a trigger per kind. A failed check raises, which stops
/// the query before its COMMIT. Made on each connection; nothing is stored.
pub(crate) const SQLITE_GROUP_WRITES: &str = "\
    CREATE TEMP VIEW IF NOT EXISTS group_write AS SELECT 0 AS kind, X'' AS r, X'' AS data;
    CREATE TEMP TRIGGER IF NOT EXISTS group_write_row INSTEAD OF INSERT ON group_write BEGIN
        SELECT RAISE(ABORT, 'the shard has moved') WHERE NEW.kind = 1
            AND (SELECT range_id FROM shards WHERE shard_id = NEW.r ->> 1) IS NOT NEW.r ->> 6;
        INSERT INTO current_executions (shard_id, namespace_id, workflow_id, run_id)
            SELECT NEW.r ->> 1, NEW.r ->> 2, NEW.r ->> 3, NEW.r ->> 4 WHERE NEW.kind = 2;
        UPDATE current_executions SET run_id = NEW.r ->> 4
            WHERE NEW.kind = 3 AND shard_id = NEW.r ->> 1 AND namespace_id = NEW.r ->> 2
            AND workflow_id = NEW.r ->> 3 AND run_id = NEW.r ->> 5;
        SELECT RAISE(ABORT, 'the current run has moved') WHERE NEW.kind = 3 AND changes() <> 1;
        INSERT INTO executions (shard_id, namespace_id, workflow_id, run_id, state, db_version)
            SELECT NEW.r ->> 1, NEW.r ->> 2, NEW.r ->> 3, NEW.r ->> 4, NEW.data, NEW.r ->> 6
            WHERE NEW.kind = 4;
        UPDATE executions SET state = NEW.data, db_version = NEW.r ->> 6
            WHERE NEW.kind = 5 AND shard_id = NEW.r ->> 1 AND namespace_id = NEW.r ->> 2
            AND workflow_id = NEW.r ->> 3 AND run_id = NEW.r ->> 4 AND db_version = NEW.r ->> 7;
        SELECT RAISE(ABORT, 'the run has changed') WHERE NEW.kind = 5 AND changes() <> 1;
        INSERT INTO history_batches (shard_id, namespace_id, workflow_id, run_id,
            first_event_id, last_event_id, data)
            SELECT NEW.r ->> 1, NEW.r ->> 2, NEW.r ->> 3, NEW.r ->> 4, NEW.r ->> 6, NEW.r ->> 7,
            NEW.data WHERE NEW.kind = 6;
        INSERT INTO tasks (shard_id, task_id, queue_hash, visible_at, data)
            SELECT NEW.r ->> 1, NEW.r ->> 6, NEW.r ->> 7, NEW.r ->> 8, NEW.data
            WHERE NEW.kind = 7;
    END;";

/// SQLite's form of a group: its whole transaction, the same text for every group. `?1` is
/// the writes as a JSON array of rows (kind, shard id, the run's key, the other run id, three
/// numbers, and the byte string's place in `?2`: 1-based start and length), `?2` their byte
/// strings one after another. Each row is made binary JSON once, in a materialized table:
/// json_each renders an element's `value` as text again at every mention, and parsing it
/// again cost more than the rest of the query's JSON work (BENCHMARKS.md). The rows reach the
/// trigger in the array's order (json_each walks it in order, the materialized table keeps
/// it, and SQLite hands an INSERT's rows to INSTEAD OF triggers as they come; an ORDER BY
/// would add a sort per group); the store's tests check that writes of one run in one group
/// are made in order. (jsonb_each would hand rows over as binary JSON itself, but the SQLite
/// that sqlx bundles, 3.46, does not have it.)
pub(crate) const SQLITE_GROUP_QUERY: &str = "\
    BEGIN;
    WITH w(j) AS MATERIALIZED (SELECT jsonb(value) FROM json_each(?1))
    INSERT INTO temp.group_write (kind, r, data)
        SELECT j ->> 0, j, substr(?2, j ->> 9, j ->> 10) FROM w;
    COMMIT;";

/// One row of the view, as a JSON array: kind, shard id, the run's key, the other run id, three
/// numbers, and where the byte string is.
#[derive(Serialize)]
struct Row<'a>(
    u8,
    i32,
    &'a str,
    &'a str,
    &'a str,
    &'a str,
    i64,
    i64,
    i64,
    usize,
    usize,
);

/// `writes` as SQLite's form binds them: the JSON rows and the byte strings.
pub(crate) fn sqlite_args(writes: &[Write<'_>]) -> (String, Vec<u8>) {
    let size = writes.iter().map(|w| w.bytes().len()).sum::<usize>();
    // Never empty: an empty value might bind as NULL, and a substring of NULL is NULL.
    let mut bytes = Vec::with_capacity(size + 1);
    bytes.push(0);
    let rows: Vec<Row<'_>> = writes
        .iter()
        .map(|w| {
            let data = w.bytes();
            let at = bytes.len() + 1;
            bytes.extend_from_slice(data);
            let none = ("", "", "");
            let (kind, shard_id, (ns, wf, run), other, [a, b, c]) = match *w {
                Write::Range { shard_id, range_id } => (1, shard_id, none, "", [range_id, 0, 0]),
                Write::CurrentInsert { commit, run_id } => {
                    (2, commit.shard_id, commit.ids(run_id), "", [0; 3])
                }
                Write::CurrentMove {
                    commit,
                    from_run_id,
                    run_id,
                } => (3, commit.shard_id, commit.ids(run_id), from_run_id, [0; 3]),
                Write::ExecInsert {
                    shard_id,
                    key,
                    version,
                    ..
                } => (4, shard_id, key.ids(), "", [version, 0, 0]),
                Write::ExecUpdate {
                    shard_id,
                    key,
                    version,
                    expected,
                    ..
                } => (5, shard_id, key.ids(), "", [version, expected, 0]),
                Write::History { shard_id, batch } => (
                    6,
                    shard_id,
                    batch.key.ids(),
                    "",
                    [batch.first_event_id, batch.last_event_id, 0],
                ),
                Write::Task { shard_id, task } => (
                    7,
                    shard_id,
                    none,
                    "",
                    [task.task_id, task.queue_hash, task.visible_at],
                ),
            };
            Row(kind, shard_id, ns, wf, run, other, a, b, c, at, data.len())
        })
        .collect();
    let json = serde_json::to_string(&rows).expect("rows of numbers and strings");
    (json, bytes)
}

impl RunKey {
    fn ids(&self) -> (&str, &str, &str) {
        (&self.namespace_id, &self.workflow_id, &self.run_id)
    }
}

impl WorkflowCommit {
    /// The commit's workflow id with `run_id`.
    fn ids<'a>(&'a self, run_id: &'a str) -> (&'a str, &'a str, &'a str) {
        (&self.namespace_id, &self.workflow_id, run_id)
    }
}

impl Write<'_> {
    /// The write's byte string (a run's state, a history batch, a task), or none.
    fn bytes(&self) -> &[u8] {
        match self {
            Write::ExecInsert { state, .. } | Write::ExecUpdate { state, .. } => state,
            Write::History { batch, .. } => &batch.data,
            Write::Task { task, .. } => &task.data,
            Write::Range { .. } | Write::CurrentInsert { .. } | Write::CurrentMove { .. } => &[],
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::*;

    fn commit(run: &str, current: CurrentRunUpdate, expected: Option<i64>) -> WorkflowCommit {
        let key = RunKey {
            namespace_id: "ns".into(),
            workflow_id: "wf".into(),
            run_id: run.into(),
        };
        let version = expected.map_or(1, |v| v + 1);
        WorkflowCommit {
            shard_id: 1,
            range_id: 1,
            workflow_id: "wf".into(),
            namespace_id: "ns".into(),
            current: Some(current),
            executions: vec![ExecutionWrite {
                key: key.clone(),
                state: vec![version as u8; 3],
                expected_db_version: expected,
                new_db_version: version,
            }],
            history: vec![HistoryBatch {
                key,
                first_event_id: version,
                last_event_id: version,
                data: vec![9],
            }],
            tasks: vec![TaskRow {
                task_id: i64::from(run.as_bytes()[1]) * 100 + version,
                queue_hash: 3,
                visible_at: 0,
                data: vec![],
            }],
        }
    }

    /// SQLite's group query itself commits every kind of write. Through `Store::commit` a
    /// failing query would not show: its commits are retried one by one, with the same
    /// outcomes, only slower.
    #[tokio::test]
    async fn the_sqlite_query_commits_a_group_of_every_kind_of_write() {
        let store = SqlStore::connect("sqlite::memory:", 1).await.unwrap();
        assert_eq!(store.acquire_shard(1, "n").await.unwrap(), 1);
        let first = commit(
            "r1",
            CurrentRunUpdate::Create {
                run_id: "r1".into(),
            },
            None,
        );
        let next = commit("r1", CurrentRunUpdate::Keep, Some(1));
        let moved = commit(
            "r2",
            CurrentRunUpdate::Move {
                from_run_id: "r1".into(),
                run_id: "r2".into(),
            },
            None,
        );
        store
            .commit_as_statements(&[&first, &next, &moved])
            .await
            .unwrap();
        let key = &next.executions[0].key;
        let state = store.get_state(1, key).await.unwrap().unwrap();
        assert_eq!((state.state, state.db_version), (vec![2; 3], 2));
        let current = store.get_current_run(1, "ns", "wf").await.unwrap();
        assert_eq!(current.as_deref(), Some("r2"));
    }
}
