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
/// record, 2 a delete; `r` the row as binary JSON: kind, the record's columns in
/// `RECORD_COLUMNS` order but `data` (version is `r ->> 19`), its attribute rows (name, type,
/// seq, string, number, double), and where `data` is in the batch's bytes. A delete's row is
/// kind, namespace id, run id. Made on each connection; nothing is stored.
pub(crate) const SQLITE_VISIBILITY_WRITES: &str = "\
    CREATE TEMP VIEW IF NOT EXISTS visibility_write AS SELECT 0 AS kind, X'' AS r, X'' AS data;
    CREATE TEMP TRIGGER IF NOT EXISTS visibility_write_row INSTEAD OF INSERT ON visibility_write
    BEGIN
        INSERT INTO visibility_counts (namespace_id, status, runs)
            SELECT namespace_id, status, -1 FROM visibility
            WHERE namespace_id = NEW.r ->> 1 AND run_id = NEW.r ->> 2
            AND (NEW.kind = 2 OR version < NEW.r ->> 19)
            ON CONFLICT (namespace_id, status) DO UPDATE SET runs = runs + excluded.runs;
        INSERT INTO visibility_counts (namespace_id, status, runs)
            SELECT NEW.r ->> 1, NEW.r ->> 6, 1
            WHERE NEW.kind = 1 AND NOT EXISTS (SELECT 1 FROM visibility
                WHERE namespace_id = NEW.r ->> 1 AND run_id = NEW.r ->> 2
                AND version >= NEW.r ->> 19)
            ON CONFLICT (namespace_id, status) DO UPDATE SET runs = runs + excluded.runs;
        DELETE FROM visibility_attrs
            WHERE namespace_id = NEW.r ->> 1 AND run_id = NEW.r ->> 2
            AND EXISTS (SELECT 1 FROM visibility
                WHERE namespace_id = NEW.r ->> 1 AND run_id = NEW.r ->> 2
                AND (NEW.kind = 2 OR version < NEW.r ->> 19));
        DELETE FROM visibility
            WHERE namespace_id = NEW.r ->> 1 AND run_id = NEW.r ->> 2
            AND (NEW.kind = 2 OR version < NEW.r ->> 19);
        INSERT INTO visibility_attrs
            (namespace_id, run_id, name, ty, seq, str_value, num_value, dbl_value)
            SELECT NEW.r ->> 1, NEW.r ->> 2, a.value ->> 0, a.value ->> 1, a.value ->> 2,
                a.value ->> 3, a.value ->> 4, a.value ->> 5
            FROM json_each(NEW.r, '$[20]') AS a
            WHERE NEW.kind = 1 AND NOT EXISTS (SELECT 1 FROM visibility
                WHERE namespace_id = NEW.r ->> 1 AND run_id = NEW.r ->> 2);
        INSERT INTO visibility (namespace_id, run_id, workflow_id, workflow_type, task_queue,
            status, start_time, execution_time, close_time, sort_time, history_length,
            history_size_bytes, execution_duration, state_transition_count, parent_workflow_id,
            parent_run_id, root_workflow_id, root_run_id, version, data)
            SELECT NEW.r ->> 1, NEW.r ->> 2, NEW.r ->> 3, NEW.r ->> 4, NEW.r ->> 5,
                NEW.r ->> 6, NEW.r ->> 7, NEW.r ->> 8, NEW.r ->> 9, NEW.r ->> 10, NEW.r ->> 11,
                NEW.r ->> 12, NEW.r ->> 13, NEW.r ->> 14, NEW.r ->> 15, NEW.r ->> 16,
                NEW.r ->> 17, NEW.r ->> 18, NEW.r ->> 19, NEW.data
            WHERE NEW.kind = 1 AND NOT EXISTS (SELECT 1 FROM visibility
                WHERE namespace_id = NEW.r ->> 1 AND run_id = NEW.r ->> 2);
    END;";

/// A batch's whole transaction. `?1` is the rows as a JSON array, `?2` the records' `data`
/// one after another; each row is made binary JSON once (see group_writes.rs). The trigger
/// gets the rows in the array's order.
const SQLITE_VISIBILITY_QUERY: &str = "\
    BEGIN;
    WITH w(j) AS MATERIALIZED (SELECT jsonb(value) FROM json_each(?1))
    INSERT INTO temp.visibility_write (kind, r, data)
        SELECT j ->> 0, j, substr(?2, j ->> 21, j ->> 22) FROM w;
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

/// One row of the view.
enum Row<'a> {
    Record {
        columns: [Arg; RECORD_ARGS],
        attrs: Vec<[Arg; 6]>,
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
            Row::Record {
                columns,
                attrs,
                data,
            } => {
                let mut seq = s.serialize_seq(Some(RECORD_ARGS + 4))?;
                seq.serialize_element(&1)?;
                for c in columns {
                    seq.serialize_element(c)?;
                }
                seq.serialize_element(attrs)?;
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
                        columns: record_args(r),
                        attrs: attr_args(r),
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
