//! Visibility writes: a batch of upserts and deletes applied in order in one transaction, an
//! older version never replacing a newer one, and the per-status counts kept in step.
//!
//! PostgreSQL and MySQL/MariaDB run it statement by statement (this file). SQLite runs the
//! whole transaction as one query of unchanging text (visibility_sqlite.rs): each statement
//! through sqlx's SQLite driver is a hand-over to the connection's thread and back, and a
//! batch took five to eight of them.

use std::collections::{BTreeMap, HashMap};

use sqlx::{Connection, Row};

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

impl SqlStore {
    /// Applies `writes` in order, in one transaction, in the backend's best form.
    pub(crate) async fn write_visibility_rows(&self, writes: &[VisibilityWrite]) -> Result<()> {
        if self.backend() == Backend::Sqlite {
            return self.write_visibility_as_one_query(writes).await;
        }
        let mut conn = self.conn().await?;
        let mut tx = conn.begin().await?;
        for step in steps(writes) {
            match step {
                Step::Upserts(records) => self.upsert_records(&mut tx, records).await?,
                Step::Delete {
                    namespace_id,
                    run_id,
                } => self.delete_record(&mut tx, namespace_id, run_id).await?,
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// Upserts records (at most one per run) in `tx`.
    async fn upsert_records(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        records: Vec<&VisibilityRecord>,
    ) -> Result<()> {
        // Per namespace, so every lookup is `namespace_id = ? AND run_id IN (…)`: an index
        // range on every database (row-value IN lists are not, on PostgreSQL). In name order:
        // writers of several nodes then lock the shared count rows in one order, and cannot
        // deadlock on them.
        let mut by_namespace: BTreeMap<&str, Vec<&VisibilityRecord>> = BTreeMap::new();
        for r in records {
            by_namespace.entry(&r.namespace_id).or_default().push(r);
        }
        for (namespace_id, runs) in by_namespace {
            for chunk in runs.chunks(500) {
                self.upsert_chunk(tx, namespace_id, chunk).await?;
            }
        }
        Ok(())
    }

    /// Upserts records of one namespace (at most one per run).
    async fn upsert_chunk(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        namespace_id: &str,
        chunk: &[&VisibilityRecord],
    ) -> Result<()> {
        let marks = vec!["?"; chunk.len()].join(", ");
        let text = self.adapt(&format!(
            "SELECT run_id, version, status FROM visibility WHERE namespace_id = ? AND run_id IN ({marks})"
        ));
        let mut q = sqlx::query(&text).bind(namespace_id);
        for r in chunk {
            q = q.bind(&r.run_id);
        }
        // run id -> (version, status)
        let mut stored: HashMap<String, (i64, i64)> = HashMap::new();
        for row in q.fetch_all(&mut **tx).await? {
            stored.insert(
                decode_text(&row, 0)?,
                (row.try_get(1)?, int_column(&row, 2)?),
            );
        }
        let fresh: Vec<&VisibilityRecord> = chunk
            .iter()
            .copied()
            .filter(|r| stored.get(&r.run_id).is_none_or(|(v, _)| *v < r.version))
            .collect();
        if fresh.is_empty() {
            return Ok(());
        }
        let mut counts = StatusCounts::default();
        for r in &fresh {
            if let Some((_, old)) = stored.get(&r.run_id) {
                counts.add(*old, -1);
            }
            counts.add(r.status as i64, 1);
        }
        self.apply_counts(tx, namespace_id, &counts).await?;
        let replaced: Vec<&str> = fresh
            .iter()
            .filter(|r| stored.contains_key(&r.run_id))
            .map(|r| r.run_id.as_str())
            .collect();
        if !replaced.is_empty() {
            let marks = vec!["?"; replaced.len()].join(", ");
            for table in ["visibility", "visibility_attrs"] {
                let text = self.adapt(&format!(
                    "DELETE FROM {table} WHERE namespace_id = ? AND run_id IN ({marks})"
                ));
                let mut q = sqlx::query(&text).bind(namespace_id);
                for run_id in &replaced {
                    q = q.bind(*run_id);
                }
                q.execute(&mut **tx).await?;
            }
        }
        let mut args = Vec::with_capacity(fresh.len() * RECORD_ARGS);
        let mut attrs = Vec::new();
        for r in &fresh {
            args.extend(record_args(r));
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
        // `data` is bytes: bound separately after each record's other columns.
        let groups: Vec<String> = args
            .chunks(RECORD_ARGS)
            .map(|row| format!("({}, ?)", placeholders(row)))
            .collect();
        let text = self.adapt(&format!(
            "INSERT INTO visibility ({RECORD_COLUMNS}) VALUES {}",
            groups.join(", ")
        ));
        let mut q = sqlx::query(&text);
        for (row, r) in args.chunks(RECORD_ARGS).zip(&fresh) {
            q = bind_args(q, row).bind(r.data.as_slice());
        }
        q.execute(&mut **tx).await?;
        for rows in attrs.chunks(500) {
            let groups: Vec<String> = rows
                .iter()
                .map(|row| format!("({})", placeholders(row)))
                .collect();
            let text = self.adapt(&format!(
                "INSERT INTO visibility_attrs (namespace_id, run_id, name, ty, seq, str_value, num_value, dbl_value) VALUES {}",
                groups.join(", ")
            ));
            let flat: Vec<Arg> = rows.iter().flat_map(|r| r.iter().cloned()).collect();
            bind_args(sqlx::query(&text), &flat)
                .execute(&mut **tx)
                .await?;
        }
        Ok(())
    }

    async fn delete_record(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        namespace_id: &str,
        run_id: &str,
    ) -> Result<()> {
        let text =
            self.adapt("SELECT status FROM visibility WHERE namespace_id = ? AND run_id = ?");
        let row = sqlx::query(&text)
            .bind(namespace_id)
            .bind(run_id)
            .fetch_optional(&mut **tx)
            .await?;
        let Some(row) = row else {
            return Ok(());
        };
        let mut counts = StatusCounts::default();
        counts.add(int_column(&row, 0)?, -1);
        self.apply_counts(tx, namespace_id, &counts).await?;
        for table in ["visibility", "visibility_attrs"] {
            let text = self.adapt(&format!(
                "DELETE FROM {table} WHERE namespace_id = ? AND run_id = ?"
            ));
            sqlx::query(&text)
                .bind(namespace_id)
                .bind(run_id)
                .execute(&mut **tx)
                .await?;
        }
        Ok(())
    }

    /// Adds `counts` to the namespace's rows of `visibility_counts`.
    async fn apply_counts(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        namespace_id: &str,
        counts: &StatusCounts,
    ) -> Result<()> {
        // In status order, for the same reason as namespaces are written in name order.
        let mut changes: Vec<(i64, i64)> =
            counts.0.iter().filter(|(_, d)| *d != 0).copied().collect();
        changes.sort_unstable();
        if changes.is_empty() {
            return Ok(());
        }
        let rows = vec!["(?, ?, ?)"; changes.len()].join(", ");
        let upsert = match self.backend() {
            Backend::Mysql => "ON DUPLICATE KEY UPDATE runs = runs + VALUES(runs)",
            _ => {
                "ON CONFLICT (namespace_id, status) DO UPDATE SET runs = visibility_counts.runs + excluded.runs"
            }
        };
        let text = self.adapt(&format!(
            "INSERT INTO visibility_counts (namespace_id, status, runs) VALUES {rows} {upsert}"
        ));
        let mut q = sqlx::query(&text);
        for (status, delta) in &changes {
            q = q.bind(namespace_id).bind(*status).bind(*delta);
        }
        q.execute(&mut **tx).await?;
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
