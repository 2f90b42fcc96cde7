//! SQLite's form of a visibility batch: the whole transaction as one query whose text never
//! changes (so it is prepared once per connection), taking the writes as data — as a group
//! commit does (group_writes.rs). Each write is a row inserted into a temporary view whose
//! trigger makes it: a record replaces a stored one only if it is newer, the per-status counts
//! move with it, and its attribute rows go with the record's. Statement by statement the same
//! batch took five to eight hand-overs to sqlx's SQLite thread, and texts that change with the
//! batch's size, prepared anew each time.

use serde::ser::{Serialize, SerializeSeq, Serializer};

use crate::visibility::Arg;
use crate::visibility_write::{RECORD_ARGS, Step, attr_args, record_args, steps};
use crate::*;

/// The view a batch's writes are inserted into and the trigger that makes them. `kind` 1 is a
/// record, 2 a delete (which has only the namespace and run ids); `attrs` a record's attribute
/// rows as a JSON array (name, type, seq, string, number, double). Made on each connection;
/// nothing is stored.
pub(crate) const SQLITE_VISIBILITY_WRITES: &str = "\
    CREATE TEMP VIEW IF NOT EXISTS visibility_write AS SELECT 0 AS kind, '' AS namespace_id,
        '' AS run_id, '' AS workflow_id, '' AS workflow_type, '' AS task_queue, 0 AS status,
        0 AS start_time, 0 AS execution_time, 0 AS close_time, 0 AS sort_time,
        0 AS history_length, 0 AS history_size_bytes, 0 AS execution_duration,
        0 AS state_transition_count, '' AS parent_workflow_id, '' AS parent_run_id,
        '' AS root_workflow_id, '' AS root_run_id, 0 AS version, '' AS attrs, X'' AS data;
    CREATE TEMP TRIGGER IF NOT EXISTS visibility_write_row INSTEAD OF INSERT ON visibility_write
    BEGIN
        INSERT INTO visibility_counts (namespace_id, status, runs)
            SELECT namespace_id, status, -1 FROM visibility
            WHERE namespace_id = NEW.namespace_id AND run_id = NEW.run_id
            AND (NEW.kind = 2 OR version < NEW.version)
            ON CONFLICT (namespace_id, status) DO UPDATE SET runs = runs + excluded.runs;
        INSERT INTO visibility_counts (namespace_id, status, runs)
            SELECT NEW.namespace_id, NEW.status, 1
            WHERE NEW.kind = 1 AND NOT EXISTS (SELECT 1 FROM visibility
                WHERE namespace_id = NEW.namespace_id AND run_id = NEW.run_id
                AND version >= NEW.version)
            ON CONFLICT (namespace_id, status) DO UPDATE SET runs = runs + excluded.runs;
        DELETE FROM visibility_attrs
            WHERE namespace_id = NEW.namespace_id AND run_id = NEW.run_id
            AND EXISTS (SELECT 1 FROM visibility
                WHERE namespace_id = NEW.namespace_id AND run_id = NEW.run_id
                AND (NEW.kind = 2 OR version < NEW.version));
        DELETE FROM visibility
            WHERE namespace_id = NEW.namespace_id AND run_id = NEW.run_id
            AND (NEW.kind = 2 OR version < NEW.version);
        INSERT INTO visibility_attrs
            (namespace_id, run_id, name, ty, seq, str_value, num_value, dbl_value)
            SELECT NEW.namespace_id, NEW.run_id, a.value ->> 0, a.value ->> 1, a.value ->> 2,
                a.value ->> 3, a.value ->> 4, a.value ->> 5
            FROM json_each(NEW.attrs) AS a
            WHERE NEW.kind = 1 AND NOT EXISTS (SELECT 1 FROM visibility
                WHERE namespace_id = NEW.namespace_id AND run_id = NEW.run_id);
        INSERT INTO visibility (namespace_id, run_id, workflow_id, workflow_type, task_queue,
            status, start_time, execution_time, close_time, sort_time, history_length,
            history_size_bytes, execution_duration, state_transition_count, parent_workflow_id,
            parent_run_id, root_workflow_id, root_run_id, version, data)
            SELECT NEW.namespace_id, NEW.run_id, NEW.workflow_id, NEW.workflow_type,
                NEW.task_queue, NEW.status, NEW.start_time, NEW.execution_time, NEW.close_time,
                NEW.sort_time, NEW.history_length, NEW.history_size_bytes,
                NEW.execution_duration, NEW.state_transition_count, NEW.parent_workflow_id,
                NEW.parent_run_id, NEW.root_workflow_id, NEW.root_run_id, NEW.version, NEW.data
            WHERE NEW.kind = 1 AND NOT EXISTS (SELECT 1 FROM visibility
                WHERE namespace_id = NEW.namespace_id AND run_id = NEW.run_id);
    END;";

/// A batch's whole transaction. `?1` is the rows as a JSON array, `?2` the records' `data`
/// one after another. Each row is made binary JSON once (see group_writes.rs) and each of its
/// fields read out of it once, into the view's columns: the trigger mentions them some fifty
/// times, and reading a field out of JSON at each mention cost more instructions than the
/// hand-overs saved (BENCHMARKS.md). The trigger gets the rows in the array's order.
const SQLITE_VISIBILITY_QUERY: &str = "\
    BEGIN;
    WITH w(j) AS MATERIALIZED (SELECT jsonb(value) FROM json_each(?1))
    INSERT INTO temp.visibility_write (kind, namespace_id, run_id, workflow_id, workflow_type,
        task_queue, status, start_time, execution_time, close_time, sort_time, history_length,
        history_size_bytes, execution_duration, state_transition_count, parent_workflow_id,
        parent_run_id, root_workflow_id, root_run_id, version, attrs, data)
        SELECT j ->> 0, j ->> 1, j ->> 2, j ->> 3, j ->> 4, j ->> 5, j ->> 6, j ->> 7, j ->> 8,
            j ->> 9, j ->> 10, j ->> 11, j ->> 12, j ->> 13, j ->> 14, j ->> 15, j ->> 16,
            j ->> 17, j ->> 18, j ->> 19, j -> 20, substr(?2, j ->> 21, j ->> 22)
        FROM w;
    COMMIT;";

impl Serialize for Arg {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            Arg::Text(v) => s.serialize_str(v),
            Arg::Int(v) => s.serialize_i64(*v),
            // JSON has no infinities or NaN: those are written as null (SQLite stores NaN as
            // NULL in any case).
            Arg::Float(v) => s.serialize_f64(*v),
            Arg::Null => s.serialize_none(),
        }
    }
}

/// One row of the query's JSON array: kind, the record's columns in `RECORD_COLUMNS` order but
/// `data`, its attribute rows, and where `data` is in the batch's bytes (1-based start and
/// length); a delete's is kind, namespace id, run id.
enum Row<'a> {
    Record {
        record: &'a VisibilityRecord,
        /// 1-based start and length of `data` in the batch's bytes.
        data: (usize, usize),
    },
    Delete {
        namespace_id: &'a str,
        run_id: &'a str,
    },
}

impl Serialize for Row<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            Row::Record { record, data } => {
                let mut seq = s.serialize_seq(Some(RECORD_ARGS + 4))?;
                seq.serialize_element(&1)?;
                for c in &record_args(record) {
                    seq.serialize_element(c)?;
                }
                seq.serialize_element(&attr_args(record))?;
                seq.serialize_element(&data.0)?;
                seq.serialize_element(&data.1)?;
                seq.end()
            }
            Row::Delete {
                namespace_id,
                run_id,
            } => (2, namespace_id, run_id).serialize(s),
        }
    }
}

/// `writes` as the query binds them: the JSON rows and the records' bytes.
fn args(writes: &[VisibilityWrite]) -> (String, Vec<u8>) {
    // Never empty: an empty value might bind as NULL, and a substring of NULL is NULL.
    let mut bytes = vec![0];
    let mut rows = Vec::with_capacity(writes.len());
    for step in steps(writes) {
        match step {
            Step::Upserts(records) => {
                for r in records {
                    let at = bytes.len() + 1;
                    bytes.extend_from_slice(&r.data);
                    rows.push(Row::Record {
                        record: r,
                        data: (at, r.data.len()),
                    });
                }
            }
            Step::Delete {
                namespace_id,
                run_id,
            } => rows.push(Row::Delete {
                namespace_id,
                run_id,
            }),
        }
    }
    let json = serde_json::to_string(&rows).expect("rows of numbers, strings and nulls");
    (json, bytes)
}

impl SqlStore {
    /// SQLite: the batch's transaction as one query (see the module's comment).
    pub(crate) async fn write_visibility_as_one_query(
        &self,
        writes: &[VisibilityWrite],
    ) -> Result<()> {
        let (rows, bytes) = args(writes);
        self.run_sqlite_transaction(SQLITE_VISIBILITY_QUERY, rows, bytes)
            .await
    }
}
