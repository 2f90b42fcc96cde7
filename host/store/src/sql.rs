//! The sqlx implementation of every store trait, over sqlx's `Any` driver.
//!
//! Statements are written once with `?` placeholders; for PostgreSQL they are rewritten to
//! `$n` when the store is built. The three dialects differ only in upserts, row locks and DDL
//! (`migrations/<backend>/`).

use std::collections::HashMap;
use std::str::FromStr;

use async_trait::async_trait;
use sqlx::any::{AnyConnectOptions, AnyRow};
use sqlx::{Connection, Row};

use crate::connections::{Conn, Connections};

use crate::*;

/// Which database a [`SqlStore`] talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
    Mysql,
}

impl Backend {
    /// Picks the backend from a connection URL's scheme.
    pub fn from_url(url: &str) -> Option<Backend> {
        let scheme = url.split(':').next()?;
        match scheme {
            "sqlite" => Some(Backend::Sqlite),
            "postgres" | "postgresql" => Some(Backend::Postgres),
            "mysql" | "mariadb" => Some(Backend::Mysql),
            _ => None,
        }
    }
}

/// SQL store over a connection pool (SQLite: one connection).
#[derive(Clone)]
pub struct SqlStore {
    pub(crate) conns: Connections,
    backend: Backend,
    sql: std::sync::Arc<HashMap<&'static str, String>>,
    /// Group-commit writers (see `group_commit`); `None` inside a writer itself.
    writers: Option<crate::group_commit::Writers>,
    /// For an in-memory SQLite database: a connection held open for the store's life. The
    /// database lives as long as one connection to it does, and the store closes its one
    /// connection when it cannot tell the connection's state: without this, the next
    /// connection would find an empty database.
    _keeper: Option<std::sync::Arc<tokio::sync::Mutex<sqlx::AnyConnection>>>,
    /// The least number of matching runs for which a SQLite listing probes attributes run by
    /// run in listing order (see `visibility::SqlStore::matches_many`).
    pub(crate) probe_floor: i64,
}

/// In-memory SQLite URLs get a name of their own, so every connection of one store (and the
/// keeper) opens the same database; `sqlite::memory:` would give each connection a new one.
fn named_memory_url(url: &str) -> Option<String> {
    static SEQ: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    if url == "sqlite::memory:" || url == "sqlite://:memory:" {
        let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        return Some(format!(
            "sqlite:file:sundial-memory-{}-{n}?mode=memory&cache=shared",
            std::process::id()
        ));
    }
    url.contains("mode=memory").then(|| url.to_string())
}

const STATEMENTS: &[(&str, &str)] = &[
    (
        "shard_get",
        "SELECT range_id FROM shards WHERE shard_id = ?",
    ),
    (
        "shard_insert",
        "INSERT INTO shards (shard_id, range_id, owner_node) VALUES (?, ?, ?)",
    ),
    (
        "shard_bump",
        "UPDATE shards SET range_id = ?, owner_node = ? WHERE shard_id = ? AND range_id = ?",
    ),
    (
        "ns_insert",
        "INSERT INTO namespaces (id, name, data, version) VALUES (?, ?, ?, ?)",
    ),
    (
        "ns_update",
        "UPDATE namespaces SET data = ?, version = ? WHERE id = ? AND version = ?",
    ),
    (
        "ns_by_name",
        "SELECT id, name, data, version FROM namespaces WHERE name = ?",
    ),
    (
        "ns_by_id",
        "SELECT id, name, data, version FROM namespaces WHERE id = ?",
    ),
    (
        "ns_list",
        "SELECT id, name, data, version FROM namespaces WHERE name > ? ORDER BY name LIMIT ?",
    ),
    (
        "current_get",
        "SELECT run_id FROM current_executions WHERE shard_id = ? AND namespace_id = ? AND workflow_id = ?",
    ),
    (
        "current_insert",
        "INSERT INTO current_executions (shard_id, namespace_id, workflow_id, run_id) VALUES (?, ?, ?, ?)",
    ),
    (
        "current_move",
        "UPDATE current_executions SET run_id = ? WHERE shard_id = ? AND namespace_id = ? AND workflow_id = ? AND run_id = ?",
    ),
    (
        "current_delete",
        "DELETE FROM current_executions WHERE shard_id = ? AND namespace_id = ? AND workflow_id = ? AND run_id = ?",
    ),
    (
        "exec_get",
        "SELECT state, db_version FROM executions WHERE shard_id = ? AND namespace_id = ? AND workflow_id = ? AND run_id = ?",
    ),
    (
        "exec_insert",
        "INSERT INTO executions (shard_id, namespace_id, workflow_id, run_id, state, db_version) VALUES (?, ?, ?, ?, ?, ?)",
    ),
    (
        "exec_update",
        "UPDATE executions SET state = ?, db_version = ? WHERE shard_id = ? AND namespace_id = ? AND workflow_id = ? AND run_id = ? AND db_version = ?",
    ),
    (
        "exec_delete",
        "DELETE FROM executions WHERE shard_id = ? AND namespace_id = ? AND workflow_id = ? AND run_id = ?",
    ),
    (
        "history_read",
        "SELECT first_event_id, last_event_id, data FROM history_batches WHERE shard_id = ? AND namespace_id = ? AND workflow_id = ? AND run_id = ? AND last_event_id >= ? ORDER BY first_event_id LIMIT ?",
    ),
    (
        "history_delete",
        "DELETE FROM history_batches WHERE shard_id = ? AND namespace_id = ? AND workflow_id = ? AND run_id = ?",
    ),
    (
        "task_load",
        "SELECT task_id, queue_hash, visible_at, data FROM tasks \
         WHERE shard_id = ? AND queue_hash = ? ORDER BY visible_at, task_id LIMIT ?",
    ),
    (
        "task_count_queue",
        "SELECT COUNT(*) FROM tasks WHERE queue_hash = ? AND visible_at <= ?",
    ),
    (
        "task_queue_hashes",
        "SELECT DISTINCT queue_hash FROM tasks WHERE shard_id = ? AND queue_hash <> 0",
    ),
];

/// A named statement as written, with `?` placeholders.
pub(crate) fn raw(name: &str) -> &'static str {
    STATEMENTS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, text)| *text)
        .expect("a known statement")
}

pub(crate) fn rewrite_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 16);
    let mut n = 0;
    for c in sql.chars() {
        if c == '?' {
            n += 1;
            out.push('$');
            out.push_str(&n.to_string());
        } else {
            out.push(c);
        }
    }
    out
}

impl SqlStore {
    /// Connects, applies the embedded migrations for the backend, and returns the store.
    ///
    /// SQLite uses one connection (one writer; an in-memory database lives as long as it).
    pub async fn connect(url: &str, max_connections: u32) -> Result<SqlStore> {
        sqlx::any::install_default_drivers();
        let backend = Backend::from_url(url).ok_or_else(|| {
            Error::Database(sqlx::Error::Configuration(
                format!(
                    "unsupported database url scheme in {url:?}: use sqlite:, postgres: or mysql:"
                )
                .into(),
            ))
        })?;
        let memory_url = named_memory_url(url);
        let url = memory_url.as_deref().unwrap_or(url);
        let options = AnyConnectOptions::from_str(url)?;
        let keeper = match &memory_url {
            Some(_) => {
                use sqlx::ConnectOptions;
                Some(std::sync::Arc::new(tokio::sync::Mutex::new(
                    options.connect().await?,
                )))
            }
            None => None,
        };
        let conns = Connections::open(backend, options, max_connections).await?;
        // Nodes of a cluster may start together on a new database: one migrates at a time
        // (sqlx's own lock does not hold through the `Any` driver on MariaDB).
        let (take, give) = match backend {
            Backend::Sqlite => ("", ""),
            Backend::Postgres => (
                "SELECT pg_advisory_lock(hashtext(current_schema() || '.sundial_migrations'))",
                "SELECT pg_advisory_unlock(hashtext(current_schema() || '.sundial_migrations'))",
            ),
            Backend::Mysql => (
                "SELECT GET_LOCK(CONCAT('sundial_migrations.', DATABASE()), 60)",
                "SELECT RELEASE_LOCK(CONCAT('sundial_migrations.', DATABASE()))",
            ),
        };
        // One connection migrates (on SQLite it is the only one; its database serves one
        // process).
        let mut conn = conns.acquire().await?;
        if !take.is_empty() {
            sqlx::query(take).execute(&mut *conn).await?;
        }
        let migrated = match backend {
            Backend::Sqlite => sqlx::migrate!("./migrations/sqlite").run(&mut *conn).await,
            Backend::Postgres => {
                sqlx::migrate!("./migrations/postgres")
                    .run(&mut *conn)
                    .await
            }
            Backend::Mysql => sqlx::migrate!("./migrations/mysql").run(&mut *conn).await,
        };
        if !give.is_empty() {
            sqlx::query(give).execute(&mut *conn).await?;
        }
        drop(conn);
        migrated?;
        let sql = STATEMENTS
            .iter()
            .map(|(name, text)| {
                let text = if backend == Backend::Postgres {
                    rewrite_placeholders(text)
                } else {
                    (*text).to_string()
                };
                (*name, text)
            })
            .collect();
        let mut store = SqlStore {
            conns,
            backend,
            sql: std::sync::Arc::new(sql),
            writers: None,
            _keeper: keeper,
            probe_floor: 1000,
        };
        // One writer for SQLite (it has one connection); one per shard lane elsewhere.
        let lanes = if backend == Backend::Sqlite { 1 } else { 4 };
        store.writers = Some(crate::group_commit::Writers::spawn(&store, lanes));
        Ok(store)
    }

    /// Refreshes SQLite's query planner statistics where tables changed much (cheap
    /// otherwise; bounded by `analysis_limit`). PostgreSQL (autovacuum) and MySQL (InnoDB's
    /// persistent statistics) keep theirs without being asked.
    pub async fn optimize(&self) -> Result<()> {
        if self.backend == Backend::Sqlite {
            sqlx::query("PRAGMA analysis_limit = 1000")
                .execute(&mut *self.conn().await?)
                .await?;
            sqlx::query("PRAGMA optimize = 0x10002")
                .execute(&mut *self.conn().await?)
                .await?;
        }
        Ok(())
    }

    /// Lowers the number of matching runs from which a SQLite listing reads in listing order
    /// and probes attributes run by run (1000 by default). For tests: both plans on little data.
    pub fn set_probe_floor(&mut self, runs: i64) {
        self.probe_floor = runs.max(1);
    }

    /// What a database left alone does after a bulk load, at once: statistics everywhere,
    /// and on PostgreSQL the visibility map too (VACUUM; for index-only counts). For
    /// benchmarks that fill a database and then measure it.
    pub async fn settle(&self) -> Result<()> {
        let statements: &[&str] = match self.backend {
            Backend::Sqlite => &["ANALYZE"],
            Backend::Postgres => &[
                "VACUUM ANALYZE visibility",
                "VACUUM ANALYZE visibility_attrs",
            ],
            Backend::Mysql => &["ANALYZE TABLE visibility, visibility_attrs"],
        };
        for s in statements {
            sqlx::query(s).execute(&mut *self.conn().await?).await?;
        }
        Ok(())
    }

    /// A connection for the caller alone until dropped.
    pub(crate) async fn conn(&self) -> Result<Conn> {
        self.conns.acquire().await
    }

    pub(crate) fn without_writers(&self) -> SqlStore {
        SqlStore {
            writers: None,
            ..self.clone()
        }
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub(crate) fn q(&self, name: &str) -> &str {
        &self.sql[name]
    }

    pub(crate) fn adapt(&self, text: &str) -> String {
        if self.backend == Backend::Postgres {
            rewrite_placeholders(text)
        } else {
            text.to_string()
        }
    }

    pub(crate) fn row_lock_suffix(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite => "",
            _ => " FOR UPDATE",
        }
    }

    pub(crate) fn is_unique_violation(err: &sqlx::Error) -> bool {
        match err {
            sqlx::Error::Database(db) => {
                db.is_unique_violation()
                    || db
                        .code()
                        .is_some_and(|c| c == "23505" || c == "1062" || c == "2067" || c == "1555")
                    || db.message().contains("UNIQUE constraint failed")
                    || db.message().contains("Duplicate entry")
            }
            _ => false,
        }
    }

    pub(crate) async fn check_range(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        shard_id: i32,
        range_id: i64,
    ) -> Result<()> {
        let text = format!("{}{}", self.q("shard_get"), self.row_lock_suffix());
        let row = sqlx::query(&text)
            .bind(shard_id)
            .fetch_optional(&mut **tx)
            .await?;
        let found: i64 = match row {
            Some(r) => r.try_get(0)?,
            None => -1,
        };
        if found != range_id {
            return Err(Error::ShardOwnershipLost {
                shard_id,
                expected: range_id,
                found,
            });
        }
        Ok(())
    }
}

fn ns_row(r: &AnyRow) -> Result<NamespaceRow> {
    Ok(NamespaceRow {
        id: r.try_get(0)?,
        name: r.try_get(1)?,
        data: r.try_get(2)?,
        version: r.try_get(3)?,
    })
}

#[async_trait]
impl ShardStore for SqlStore {
    async fn acquire_shard(&self, shard_id: i32, owner_node: &str) -> Result<i64> {
        loop {
            let current = sqlx::query(self.q("shard_get"))
                .bind(shard_id)
                .fetch_optional(&mut *self.conn().await?)
                .await?;
            match current {
                None => {
                    match sqlx::query(self.q("shard_insert"))
                        .bind(shard_id)
                        .bind(1i64)
                        .bind(owner_node)
                        .execute(&mut *self.conn().await?)
                        .await
                    {
                        Ok(_) => return Ok(1),
                        Err(e) if Self::is_unique_violation(&e) => continue,
                        Err(e) => return Err(e.into()),
                    }
                }
                Some(row) => {
                    let range: i64 = row.try_get(0)?;
                    let done = sqlx::query(self.q("shard_bump"))
                        .bind(range + 1)
                        .bind(owner_node)
                        .bind(shard_id)
                        .bind(range)
                        .execute(&mut *self.conn().await?)
                        .await?;
                    if done.rows_affected() == 1 {
                        return Ok(range + 1);
                    }
                }
            }
        }
    }
}

#[async_trait]
impl NamespaceStore for SqlStore {
    async fn create_namespace(&self, row: &NamespaceRow) -> Result<()> {
        let res = sqlx::query(self.q("ns_insert"))
            .bind(&row.id)
            .bind(&row.name)
            .bind(&row.data)
            .bind(row.version)
            .execute(&mut *self.conn().await?)
            .await;
        match res {
            Ok(_) => Ok(()),
            Err(e) if Self::is_unique_violation(&e) => {
                Err(Error::AlreadyExists(format!("namespace {:?}", row.name)))
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn update_namespace(&self, row: &NamespaceRow, expected_version: i64) -> Result<()> {
        let done = sqlx::query(self.q("ns_update"))
            .bind(&row.data)
            .bind(row.version)
            .bind(&row.id)
            .bind(expected_version)
            .execute(&mut *self.conn().await?)
            .await?;
        if done.rows_affected() != 1 {
            return Err(Error::Conflict(format!(
                "namespace {:?} changed concurrently",
                row.name
            )));
        }
        Ok(())
    }

    async fn get_namespace_by_name(&self, name: &str) -> Result<Option<NamespaceRow>> {
        let row = sqlx::query(self.q("ns_by_name"))
            .bind(name)
            .fetch_optional(&mut *self.conn().await?)
            .await?;
        row.as_ref().map(ns_row).transpose()
    }

    async fn get_namespace_by_id(&self, id: &str) -> Result<Option<NamespaceRow>> {
        let row = sqlx::query(self.q("ns_by_id"))
            .bind(id)
            .fetch_optional(&mut *self.conn().await?)
            .await?;
        row.as_ref().map(ns_row).transpose()
    }

    async fn list_namespaces(&self, after_name: &str, limit: i64) -> Result<Vec<NamespaceRow>> {
        let rows = sqlx::query(self.q("ns_list"))
            .bind(after_name)
            .bind(limit)
            .fetch_all(&mut *self.conn().await?)
            .await?;
        rows.iter().map(ns_row).collect()
    }
}

#[async_trait]
impl ExecutionStore for SqlStore {
    async fn get_current_run(
        &self,
        shard_id: i32,
        namespace_id: &str,
        workflow_id: &str,
    ) -> Result<Option<String>> {
        let row = sqlx::query(self.q("current_get"))
            .bind(shard_id)
            .bind(namespace_id)
            .bind(workflow_id)
            .fetch_optional(&mut *self.conn().await?)
            .await?;
        Ok(match row {
            Some(r) => Some(decode_text(&r, 0)?),
            None => None,
        })
    }

    async fn get_state(&self, shard_id: i32, key: &RunKey) -> Result<Option<StateRow>> {
        let row = sqlx::query(self.q("exec_get"))
            .bind(shard_id)
            .bind(&key.namespace_id)
            .bind(&key.workflow_id)
            .bind(&key.run_id)
            .fetch_optional(&mut *self.conn().await?)
            .await?;
        Ok(match row {
            Some(r) => Some(StateRow {
                state: r.try_get(0)?,
                db_version: r.try_get(1)?,
            }),
            None => None,
        })
    }

    async fn commit(&self, c: &WorkflowCommit) -> Result<()> {
        match &self.writers {
            Some(w) => w.submit(c.clone()).await,
            None => self.commit_group(&[c]).await,
        }
    }

    async fn read_history(
        &self,
        shard_id: i32,
        key: &RunKey,
        from_event_id: i64,
        limit: i64,
    ) -> Result<Vec<HistoryBatch>> {
        let rows = sqlx::query(self.q("history_read"))
            .bind(shard_id)
            .bind(&key.namespace_id)
            .bind(&key.workflow_id)
            .bind(&key.run_id)
            .bind(from_event_id)
            .bind(limit)
            .fetch_all(&mut *self.conn().await?)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(HistoryBatch {
                    key: key.clone(),
                    first_event_id: r.try_get(0)?,
                    last_event_id: r.try_get(1)?,
                    data: r.try_get(2)?,
                })
            })
            .collect()
    }

    async fn read_tasks(
        &self,
        shard_id: i32,
        queue_hash: i64,
        limit: usize,
    ) -> Result<Vec<TaskRow>> {
        let rows = sqlx::query(self.q("task_load"))
            .bind(shard_id)
            .bind(queue_hash)
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(&mut *self.conn().await?)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(TaskRow {
                    task_id: r.try_get(0)?,
                    queue_hash: r.try_get(1)?,
                    visible_at: r.try_get(2)?,
                    data: r.try_get(3)?,
                })
            })
            .collect()
    }

    async fn count_queue_tasks(&self, queue_hash: i64, visible_by: i64) -> Result<i64> {
        let row = sqlx::query(self.q("task_count_queue"))
            .bind(queue_hash)
            .bind(visible_by)
            .fetch_one(&mut *self.conn().await?)
            .await?;
        Ok(row.try_get(0)?)
    }

    async fn task_queue_hashes(&self, shard_id: i32) -> Result<Vec<i64>> {
        let rows = sqlx::query(self.q("task_queue_hashes"))
            .bind(shard_id)
            .fetch_all(&mut *self.conn().await?)
            .await?;
        rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
    }

    async fn delete_tasks(&self, shard_id: i32, range_id: i64, task_ids: &[i64]) -> Result<()> {
        self.delete_owned_tasks(shard_id, range_id, task_ids).await
    }

    async fn delete_run(
        &self,
        shard_id: i32,
        range_id: i64,
        key: &RunKey,
        tasks: &[TaskRow],
    ) -> Result<()> {
        let mut conn = self.conn().await?;
        let mut tx = conn.begin().await?;
        self.check_range(&mut tx, shard_id, range_id).await?;
        for stmt in ["current_delete", "exec_delete", "history_delete"] {
            sqlx::query(self.q(stmt))
                .bind(shard_id)
                .bind(&key.namespace_id)
                .bind(&key.workflow_id)
                .bind(&key.run_id)
                .execute(&mut *tx)
                .await?;
        }
        let rows: Vec<_> = tasks.iter().map(|t| (shard_id, t)).collect();
        self.insert_tasks(&mut tx, &rows).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// Reads a key column that MySQL stores as VARBINARY (returned as bytes) and the others as text.
pub(crate) fn decode_text(row: &AnyRow, idx: usize) -> Result<String> {
    match row.try_get::<String, _>(idx) {
        Ok(s) => Ok(s),
        Err(_) => {
            let bytes: Vec<u8> = row.try_get(idx)?;
            String::from_utf8(bytes).map_err(|e| Error::Database(sqlx::Error::Decode(Box::new(e))))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The store closes a connection whose state it cannot tell; an in-memory database must
    /// outlive that (it held every workflow of `start-dev`).
    #[tokio::test]
    async fn in_memory_database_survives_a_closed_connection() {
        let store = SqlStore::connect("sqlite::memory:", 1).await.unwrap();
        let other = SqlStore::connect("sqlite::memory:", 1).await.unwrap();
        let row = NamespaceRow {
            id: "id-1".into(),
            name: "kept".into(),
            data: vec![1],
            version: 1,
        };
        store.create_namespace(&row).await.unwrap();
        store.conn().await.unwrap().discard().await;
        assert_eq!(
            store.get_namespace_by_name("kept").await.unwrap(),
            Some(row)
        );
        // Two stores are two databases.
        assert_eq!(other.get_namespace_by_name("kept").await.unwrap(), None);
    }
}
