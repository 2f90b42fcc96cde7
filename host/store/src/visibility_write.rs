//! Visibility writes: a batch of upserts and deletes applied in order in one transaction, an
//! older version never replacing a newer one, and the per-status counts kept in step.
//!
//! PostgreSQL runs it statement by statement (this file); MySQL/MariaDB as two multi-statement
//! queries, the lookups then the writes (visibility_batch.rs). SQLite runs the whole
//! transaction as one query of unchanging text (visibility_sqlite.rs): each statement
//! through sqlx's SQLite driver is a hand-over to the connection's thread and back, and a
//! batch took five to eight of them.

use std::collections::{BTreeMap, HashMap};

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Connection, Row};

use crate::sql::decode_text;
use crate::visibility::{Arg, attr_rows, bind_args, int_column, value_column};
use crate::*;

const RECORD_COLUMNS: &str = "namespace_id, run_id, workflow_id, workflow_type, task_queue, status, start_time, execution_time, close_time, sort_time, history_length, history_size_bytes, execution_duration, state_transition_count, parent_workflow_id, parent_run_id, root_workflow_id, root_run_id, version, data";
/// Values of a record's row before `data` (the columns above but the last).
pub(crate) const RECORD_ARGS: usize = 19;

/// A batch's writes in the order they are made: each run of upserts between deletes holds
/// the newest write per run only (within the batch; the table's is checked when writing).
pub(crate) enum Step<'a> {
    Upserts(Vec<&'a VisibilityRecord>),
    Delete {
        namespace_id: &'a str,
        run_id: &'a str,
    },
}

pub(crate) fn steps(writes: &[VisibilityWrite]) -> Vec<Step<'_>> {
    let mut out = Vec::new();
    let mut run: Vec<&VisibilityRecord> = Vec::new();
    for w in writes {
        match w {
            VisibilityWrite::Upsert(r) => run.push(r),
            VisibilityWrite::Delete {
                namespace_id,
                run_id,
            } => {
                out.push(Step::Upserts(newest(&run)));
                run.clear();
                out.push(Step::Delete {
                    namespace_id,
                    run_id,
                });
            }
        }
    }
    out.push(Step::Upserts(newest(&run)));
    out
}

/// The newest of `records` per run.
fn newest<'a>(records: &[&'a VisibilityRecord]) -> Vec<&'a VisibilityRecord> {
    let mut newest: HashMap<(&str, &str), &VisibilityRecord> = HashMap::new();
    for r in records {
        let key = (r.namespace_id.as_str(), r.run_id.as_str());
        match newest.get(&key) {
            Some(n) if n.version >= r.version => {}
            _ => {
                newest.insert(key, r);
            }
        }
    }
    newest.into_values().collect()
}

/// A record's row in `visibility`, but `data`, in [`RECORD_COLUMNS`] order.
pub(crate) fn record_args(r: &VisibilityRecord) -> [Arg; RECORD_ARGS] {
    let opt_int = |v: Option<i64>| v.map(Arg::Int).unwrap_or(Arg::Null);
    let opt_text = |v: &Option<String>| v.clone().map(Arg::Text).unwrap_or(Arg::Null);
    [
        Arg::Text(r.namespace_id.clone()),
        Arg::Text(r.run_id.clone()),
        Arg::Text(r.workflow_id.clone()),
        Arg::Text(r.workflow_type.clone()),
        Arg::Text(r.task_queue.clone()),
        Arg::Int(r.status as i64),
        Arg::Int(r.start_time),
        Arg::Int(r.execution_time),
        opt_int(r.close_time),
        Arg::Int(r.sort_time()),
        opt_int(r.history_length),
        opt_int(r.history_size_bytes),
        opt_int(r.execution_duration),
        opt_int(r.state_transition_count),
        opt_text(&r.parent_workflow_id),
        opt_text(&r.parent_run_id),
        Arg::Text(r.root_workflow_id.clone()),
        Arg::Text(r.root_run_id.clone()),
        Arg::Int(r.version),
    ]
}

/// A record's rows in `visibility_attrs` but its key: name, type, seq, and the value in the
/// column of its type (str_value, num_value, dbl_value; the other two NULL).
pub(crate) fn attr_args(r: &VisibilityRecord) -> Vec<[Arg; 6]> {
    let mut out = Vec::new();
    for (name, ty, values) in &r.attributes {
        for (seq, v) in attr_rows(*ty, values).into_iter().enumerate() {
            let (s, n, d) = match (v, value_column(*ty)) {
                (Arg::Text(s), _) => (Arg::Text(s), Arg::Null, Arg::Null),
                (Arg::Float(f), _) => (Arg::Null, Arg::Null, Arg::Float(f)),
                (Arg::Int(i), "dbl_value") => (Arg::Null, Arg::Null, Arg::Float(i as f64)),
                (other, _) => (Arg::Null, other, Arg::Null),
            };
            out.push([
                Arg::Text(name.clone()),
                Arg::Int(*ty as i64),
                Arg::Int(seq as i64),
                s,
                n,
                d,
            ]);
        }
    }
    out
}

/// `?, NULL, ?…` for a row of values: NULLs are literals (see [`Arg::Null`]).
fn placeholders(row: &[Arg]) -> String {
    row.iter()
        .map(|a| if matches!(a, Arg::Null) { "NULL" } else { "?" })
        .collect::<Vec<_>>()
        .join(", ")
}

/// A value of a [`Planned`] statement.
pub(crate) enum Bound<'a> {
    /// An `Arg::Null` is a `NULL` in the text, not a value bound.
    Arg(Arg),
    Bytes(&'a [u8]),
}

/// A write statement, `?` placeholders, and its values in order.
pub(crate) struct Planned<'a> {
    pub(crate) sql: String,
    pub(crate) values: Vec<Bound<'a>>,
}

/// Upserted records by namespace, in name order, at most 500 runs in each: every lookup is
/// then `namespace_id = ? AND run_id IN (…)`, an index range on every database (row-value IN
/// lists are not, on PostgreSQL), and writers of several nodes lock the shared count rows in
/// one order, so they cannot deadlock on them.
pub(crate) fn chunks(records: Vec<&VisibilityRecord>) -> Vec<(&str, Vec<&VisibilityRecord>)> {
    let mut by_namespace: BTreeMap<&str, Vec<&VisibilityRecord>> = BTreeMap::new();
    for r in records {
        by_namespace.entry(&r.namespace_id).or_default().push(r);
    }
    let mut out = Vec::new();
    for (namespace_id, runs) in by_namespace {
        out.extend(runs.chunks(500).map(|c| (namespace_id, c.to_vec())));
    }
    out
}

/// The lookup of a chunk's stored versions: namespace id, then each run id.
pub(crate) fn versions_query(runs: usize) -> String {
    let marks = vec!["?"; runs].join(", ");
    format!(
        "SELECT run_id, version, status FROM visibility WHERE namespace_id = ? AND run_id IN ({marks})"
    )
}

/// What [`versions_query`] found: run id → (version, status).
pub(crate) fn stored_versions(rows: &[AnyRow]) -> Result<HashMap<String, (i64, i64)>> {
    rows.iter()
        .map(|row| Ok((decode_text(row, 0)?, (row.try_get(1)?, int_column(row, 2)?))))
        .collect()
}

/// The writes that upsert `chunk` (records of one namespace, at most one per run) over what
/// is `stored`: only records newer than the stored ones, the counts kept in step.
pub(crate) fn plan_upserts<'a>(
    backend: Backend,
    namespace_id: &str,
    chunk: &[&'a VisibilityRecord],
    stored: &HashMap<String, (i64, i64)>,
) -> Vec<Planned<'a>> {
    let fresh: Vec<&VisibilityRecord> = chunk
        .iter()
        .copied()
        .filter(|r| stored.get(&r.run_id).is_none_or(|(v, _)| *v < r.version))
        .collect();
    if fresh.is_empty() {
        return Vec::new();
    }
    let mut counts = StatusCounts::default();
    for r in &fresh {
        if let Some((_, old)) = stored.get(&r.run_id) {
            counts.add(*old, -1);
        }
        counts.add(r.status as i64, 1);
    }
    let mut out: Vec<Planned<'a>> = plan_counts(backend, namespace_id, &counts)
        .into_iter()
        .collect();
    let replaced: Vec<&str> = fresh
        .iter()
        .filter(|r| stored.contains_key(&r.run_id))
        .map(|r| r.run_id.as_str())
        .collect();
    if !replaced.is_empty() {
        let marks = vec!["?"; replaced.len()].join(", ");
        for table in ["visibility", "visibility_attrs"] {
            out.push(Planned {
                sql: format!("DELETE FROM {table} WHERE namespace_id = ? AND run_id IN ({marks})"),
                values: std::iter::once(namespace_id)
                    .chain(replaced.iter().copied())
                    .map(|s| Bound::Arg(Arg::Text(s.to_string())))
                    .collect(),
            });
        }
    }
    // `data` is bytes: a value after each record's other columns.
    let mut rows = Vec::with_capacity(fresh.len());
    let mut values = Vec::with_capacity(fresh.len() * (RECORD_ARGS + 1));
    let mut attrs = Vec::new();
    for r in &fresh {
        let args = record_args(r);
        rows.push(format!("({}, ?)", placeholders(&args)));
        values.extend(args.into_iter().map(Bound::Arg));
        values.push(Bound::Bytes(r.data.as_slice()));
        for [name, ty, seq, s, n, d] in attr_args(r) {
            attrs.push([
                Arg::Text(r.namespace_id.clone()),
                Arg::Text(r.run_id.clone()),
                name,
                ty,
                seq,
                s,
                n,
                d,
            ]);
        }
    }
    out.push(Planned {
        sql: format!(
            "INSERT INTO visibility ({RECORD_COLUMNS}) VALUES {}",
            rows.join(", ")
        ),
        values,
    });
    for rows in attrs.chunks(500) {
        let groups: Vec<String> = rows
            .iter()
            .map(|row| format!("({})", placeholders(row)))
            .collect();
        out.push(Planned {
            sql: format!(
                "INSERT INTO visibility_attrs (namespace_id, run_id, name, ty, seq, str_value, num_value, dbl_value) VALUES {}",
                groups.join(", ")
            ),
            values: rows.iter().flatten().cloned().map(Bound::Arg).collect(),
        });
    }
    out
}

/// Adds `counts` to the namespace's rows of `visibility_counts`.
fn plan_counts(
    backend: Backend,
    namespace_id: &str,
    counts: &StatusCounts,
) -> Option<Planned<'static>> {
    // In status order, for the same reason as namespaces are written in name order.
    let mut changes: Vec<(i64, i64)> = counts.0.iter().filter(|(_, d)| *d != 0).copied().collect();
    changes.sort_unstable();
    if changes.is_empty() {
        return None;
    }
    let rows = vec!["(?, ?, ?)"; changes.len()].join(", ");
    let upsert = match backend {
        Backend::Mysql => "ON DUPLICATE KEY UPDATE runs = runs + VALUES(runs)",
        _ => {
            "ON CONFLICT (namespace_id, status) DO UPDATE SET runs = visibility_counts.runs + excluded.runs"
        }
    };
    let mut values = Vec::with_capacity(changes.len() * 3);
    for (status, delta) in changes {
        values.push(Bound::Arg(Arg::Text(namespace_id.to_string())));
        values.push(Bound::Arg(Arg::Int(status)));
        values.push(Bound::Arg(Arg::Int(delta)));
    }
    Some(Planned {
        sql: format!(
            "INSERT INTO visibility_counts (namespace_id, status, runs) VALUES {rows} {upsert}"
        ),
        values,
    })
}

impl SqlStore {
    /// Applies `writes` in order, in one transaction, in the backend's best form.
    pub(crate) async fn write_visibility_rows(&self, writes: &[VisibilityWrite]) -> Result<()> {
        match self.backend() {
            Backend::Sqlite => self.write_visibility_as_one_query(writes).await,
            Backend::Mysql | Backend::Postgres => self.write_visibility_as_batch(writes).await,
        }
    }

    /// Applies `writes` statement by statement.
    pub(crate) async fn write_visibility_one_by_one(
        &self,
        writes: &[VisibilityWrite],
    ) -> Result<()> {
        let mut conn = self.conn().await?;
        let mut tx = conn.begin().await?;
        for step in steps(writes) {
            match step {
                Step::Upserts(records) => {
                    for (namespace_id, chunk) in chunks(records) {
                        let text = self.adapt(&versions_query(chunk.len()));
                        let mut q = sqlx::query(&text).bind(namespace_id);
                        for r in &chunk {
                            q = q.bind(&r.run_id);
                        }
                        let stored = stored_versions(&q.fetch_all(&mut *tx).await?)?;
                        for planned in plan_upserts(self.backend(), namespace_id, &chunk, &stored) {
                            self.run_planned(&mut tx, &planned).await?;
                        }
                    }
                }
                Step::Delete {
                    namespace_id,
                    run_id,
                } => self.delete_record(&mut tx, namespace_id, run_id).await?,
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// Runs a planned write in `tx`.
    pub(crate) async fn run_planned(
        &self,
        tx: &mut AnyConnection,
        planned: &Planned<'_>,
    ) -> Result<()> {
        let text = self.adapt(&planned.sql);
        let mut q = sqlx::query(&text);
        for value in &planned.values {
            q = match value {
                Bound::Arg(a) => bind_args(q, std::slice::from_ref(a)),
                Bound::Bytes(b) => q.bind(*b),
            };
        }
        q.execute(&mut *tx).await?;
        Ok(())
    }

    async fn delete_record(
        &self,
        tx: &mut AnyConnection,
        namespace_id: &str,
        run_id: &str,
    ) -> Result<()> {
        let text =
            self.adapt("SELECT status FROM visibility WHERE namespace_id = ? AND run_id = ?");
        let row = sqlx::query(&text)
            .bind(namespace_id)
            .bind(run_id)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(row) = row else {
            return Ok(());
        };
        let mut counts = StatusCounts::default();
        counts.add(int_column(&row, 0)?, -1);
        if let Some(planned) = plan_counts(self.backend(), namespace_id, &counts) {
            self.run_planned(tx, &planned).await?;
        }
        for table in ["visibility", "visibility_attrs"] {
            let text = self.adapt(&format!(
                "DELETE FROM {table} WHERE namespace_id = ? AND run_id = ?"
            ));
            sqlx::query(&text)
                .bind(namespace_id)
                .bind(run_id)
                .execute(&mut *tx)
                .await?;
        }
        Ok(())
    }
}

/// Changes to a namespace's runs per status, in one write.
#[derive(Default)]
struct StatusCounts(Vec<(i64, i64)>);

impl StatusCounts {
    fn add(&mut self, status: i64, delta: i64) {
        match self.0.iter_mut().find(|(s, _)| *s == status) {
            Some((_, d)) => *d += delta,
            None => self.0.push((status, delta)),
        }
    }
}
