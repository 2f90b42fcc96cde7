//! Cluster metadata and membership in the shared database.
//!
//! Every time here comes from the database's clock (milliseconds since the epoch), so nodes
//! whose own clocks disagree still agree on who is alive: a node is live while its
//! `heartbeat_at` is younger than the expiry the caller applies.

use async_trait::async_trait;
use sqlx::Row;

use crate::sql::decode_text;
use crate::{Backend, Error, Result, SqlStore};

/// What is fixed when a cluster's database is created.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterMetadata {
    pub cluster_id: String,
    pub num_history_shards: i32,
    /// What nodes present to each other's internal listeners: only a process that can read
    /// this database can call them.
    pub internal_secret: String,
}

/// One node's membership row as it writes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    /// Unique among live nodes; a node keeps its name across restarts.
    pub node_name: String,
    /// New on every start: tells a restarted node's row from its predecessor's.
    pub session_id: String,
    /// The services it runs: `frontend`, `history`, `matching`, `worker`.
    pub services: Vec<String>,
    /// Where clients reach its frontend.
    pub rpc_address: String,
    /// Where other nodes reach its internal services.
    pub internal_address: String,
    /// `active` or `draining`.
    pub state: String,
}

/// A membership row as read back, with its times.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberRow {
    pub member: Member,
    pub session_start: i64,
    pub heartbeat_at: i64,
}

/// Which node took a shard last, and the range id it got.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShardOwner {
    pub shard_id: i32,
    pub range_id: i64,
    pub owner_node: Option<String>,
}

#[async_trait]
pub trait ClusterStore: Send + Sync {
    /// The cluster's metadata; `proposed` is stored first when the database has none yet.
    async fn cluster_metadata(&self, proposed: &ClusterMetadata) -> Result<ClusterMetadata>;
    /// The database clock, in milliseconds since the epoch.
    async fn db_now_ms(&self) -> Result<i64>;
    /// Adds this node's row, or takes over a row of the same name whose heartbeat is older
    /// than `expiry_ms` (a dead predecessor). False when a live row of that name exists.
    async fn join_member(&self, member: &Member, expiry_ms: i64) -> Result<bool>;
    /// Refreshes this session's heartbeat and state; false when its row is gone or was taken
    /// over by another session (this node was presumed dead).
    async fn heartbeat_member(
        &self,
        node_name: &str,
        session_id: &str,
        state: &str,
    ) -> Result<bool>;
    /// Every membership row, by name, and the database clock's now.
    async fn members(&self) -> Result<(i64, Vec<MemberRow>)>;
    /// Removes this session's row (a clean leave).
    async fn remove_member(&self, node_name: &str, session_id: &str) -> Result<()>;
    /// Every shard's last owner.
    async fn shard_owners(&self) -> Result<Vec<ShardOwner>>;
}

impl SqlStore {
    /// The database clock as a SQL expression (milliseconds since the epoch, BIGINT).
    fn now_sql(&self) -> &'static str {
        match self.backend() {
            Backend::Sqlite => "CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)",
            Backend::Postgres => "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)",
            Backend::Mysql => "CAST(UNIX_TIMESTAMP(CURRENT_TIMESTAMP(3)) * 1000 AS SIGNED)",
        }
    }

    /// A statement with `{now}` replaced by the clock and placeholders in the backend's form.
    fn cluster_sql(&self, text: &str) -> String {
        self.adapt(&text.replace("{now}", self.now_sql()))
    }
}

fn member_row(r: &sqlx::any::AnyRow) -> Result<MemberRow> {
    let services = decode_text(r, 2)?;
    Ok(MemberRow {
        member: Member {
            node_name: decode_text(r, 0)?,
            session_id: decode_text(r, 1)?,
            services: services
                .split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
            rpc_address: decode_text(r, 3)?,
            internal_address: decode_text(r, 4)?,
            state: decode_text(r, 7)?,
        },
        session_start: r.try_get(5)?,
        heartbeat_at: r.try_get(6)?,
    })
}

#[async_trait]
impl ClusterStore for SqlStore {
    async fn cluster_metadata(&self, proposed: &ClusterMetadata) -> Result<ClusterMetadata> {
        let insert = self.cluster_sql(
            "INSERT INTO cluster_metadata (singleton, cluster_id, num_history_shards, \
             internal_secret, created_at) VALUES (1, ?, ?, ?, {now})",
        );
        match sqlx::query(&insert)
            .bind(&proposed.cluster_id)
            .bind(proposed.num_history_shards)
            .bind(&proposed.internal_secret)
            .execute(&mut *self.conn().await?)
            .await
        {
            Ok(_) => {}
            Err(e) if Self::is_unique_violation(&e) => {}
            Err(e) => return Err(e.into()),
        }
        let row = sqlx::query(
            "SELECT cluster_id, num_history_shards, internal_secret FROM cluster_metadata \
             WHERE singleton = 1",
        )
        .fetch_one(&mut *self.conn().await?)
        .await?;
        Ok(ClusterMetadata {
            cluster_id: decode_text(&row, 0)?,
            num_history_shards: row.try_get(1)?,
            internal_secret: decode_text(&row, 2)?,
        })
    }

    async fn db_now_ms(&self) -> Result<i64> {
        let row = sqlx::query(&format!("SELECT {}", self.now_sql()))
            .fetch_one(&mut *self.conn().await?)
            .await?;
        Ok(row.try_get(0)?)
    }

    async fn join_member(&self, m: &Member, expiry_ms: i64) -> Result<bool> {
        let services = m.services.join(",");
        let take_over = self.cluster_sql(
            "UPDATE cluster_members SET session_id = ?, services = ?, rpc_address = ?, \
             internal_address = ?, state = ?, session_start = {now}, heartbeat_at = {now} \
             WHERE node_name = ? AND heartbeat_at < {now} - ?",
        );
        let done = sqlx::query(&take_over)
            .bind(&m.session_id)
            .bind(&services)
            .bind(&m.rpc_address)
            .bind(&m.internal_address)
            .bind(&m.state)
            .bind(&m.node_name)
            .bind(expiry_ms)
            .execute(&mut *self.conn().await?)
            .await?;
        if done.rows_affected() == 1 {
            return Ok(true);
        }
        let insert = self.cluster_sql(
            "INSERT INTO cluster_members (node_name, session_id, services, rpc_address, \
             internal_address, state, session_start, heartbeat_at) \
             VALUES (?, ?, ?, ?, ?, ?, {now}, {now})",
        );
        match sqlx::query(&insert)
            .bind(&m.node_name)
            .bind(&m.session_id)
            .bind(&services)
            .bind(&m.rpc_address)
            .bind(&m.internal_address)
            .bind(&m.state)
            .execute(&mut *self.conn().await?)
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if Self::is_unique_violation(&e) => Ok(false),
            Err(e) => Err(Error::from(e)),
        }
    }

    async fn heartbeat_member(
        &self,
        node_name: &str,
        session_id: &str,
        state: &str,
    ) -> Result<bool> {
        let text = self.cluster_sql(
            "UPDATE cluster_members SET heartbeat_at = {now}, state = ? \
             WHERE node_name = ? AND session_id = ?",
        );
        let done = sqlx::query(&text)
            .bind(state)
            .bind(node_name)
            .bind(session_id)
            .execute(&mut *self.conn().await?)
            .await?;
        // MySQL counts only rows it changed: a heartbeat within the same millisecond with the
        // same state changes nothing. Read the row back before calling the session lost.
        if done.rows_affected() == 1 {
            return Ok(true);
        }
        let row = sqlx::query(
            &self.adapt("SELECT 1 FROM cluster_members WHERE node_name = ? AND session_id = ?"),
        )
        .bind(node_name)
        .bind(session_id)
        .fetch_optional(&mut *self.conn().await?)
        .await?;
        Ok(row.is_some())
    }

    async fn members(&self) -> Result<(i64, Vec<MemberRow>)> {
        let now = self.db_now_ms().await?;
        let rows = sqlx::query(
            "SELECT node_name, session_id, services, rpc_address, internal_address, \
             session_start, heartbeat_at, state FROM cluster_members ORDER BY node_name",
        )
        .fetch_all(&mut *self.conn().await?)
        .await?;
        Ok((now, rows.iter().map(member_row).collect::<Result<_>>()?))
    }

    async fn remove_member(&self, node_name: &str, session_id: &str) -> Result<()> {
        sqlx::query(
            &self.adapt("DELETE FROM cluster_members WHERE node_name = ? AND session_id = ?"),
        )
        .bind(node_name)
        .bind(session_id)
        .execute(&mut *self.conn().await?)
        .await?;
        Ok(())
    }

    async fn shard_owners(&self) -> Result<Vec<ShardOwner>> {
        let rows =
            sqlx::query("SELECT shard_id, range_id, owner_node FROM shards ORDER BY shard_id")
                .fetch_all(&mut *self.conn().await?)
                .await?;
        rows.iter()
            .map(|r| {
                let owner = match r.try_get::<Option<String>, _>(2) {
                    Ok(o) => o,
                    Err(_) => r
                        .try_get::<Option<Vec<u8>>, _>(2)?
                        .map(|b| String::from_utf8_lossy(&b).into_owned()),
                };
                Ok(ShardOwner {
                    shard_id: r.try_get(0)?,
                    range_id: r.try_get(1)?,
                    owner_node: owner,
                })
            })
            .collect()
    }
}
