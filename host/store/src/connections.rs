//! The store's database connections: a pool for PostgreSQL and MySQL/MariaDB, and for SQLite
//! its one connection, held by one caller at a time.
//!
//! SQLite is not pooled because sqlx's pool pings a connection when it is given back (and, by
//! default, before it is handed out). sqlx runs a SQLite connection on a thread of its own, so
//! each ping is a hand-over to that thread and back: as costly as the statement it follows.
//! One connection needs no pool; what the pool's release did that matters is done here when
//! the connection is next taken (see [`Connections::acquire`]).

use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyConnection, AnyPool, ConnectOptions, Connection};
use tokio::sync::{Mutex, OwnedMutexGuard};

use crate::Result;
use crate::sql::Backend;
use crate::sql::SqlStore;

/// How long a caller waits for a pooled connection before the store reports the database
/// unavailable (PostgreSQL/MySQL): a bounded pool must not leave calls, and the cluster's
/// routing retries, hanging on a database that is away.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// Where the store's connections come from.
#[derive(Clone)]
pub(crate) enum Connections {
    Pool(AnyPool),
    /// SQLite's connection, opened again (with `options`) after one was closed.
    One {
        options: Arc<AnyConnectOptions>,
        file: bool,
        conn: Arc<Mutex<Option<AnyConnection>>>,
    },
}

/// A connection taken from [`Connections`]; given back when dropped.
pub(crate) enum Conn {
    Pooled(PoolConnection<Any>),
    One(OwnedMutexGuard<Option<AnyConnection>>),
}

impl Deref for Conn {
    type Target = AnyConnection;
    fn deref(&self) -> &AnyConnection {
        match self {
            Conn::Pooled(c) => c,
            Conn::One(c) => c.as_ref().expect("an open connection while held"),
        }
    }
}

impl DerefMut for Conn {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        match self {
            Conn::Pooled(c) => c,
            Conn::One(c) => c.as_mut().expect("an open connection while held"),
        }
    }
}

impl Conn {
    /// A pooled connection is closed when dropped instead of given back (a SQLite connection
    /// is left as it is: [`Connections::acquire`] looks at it when next taken).
    pub(crate) fn close_on_drop(&mut self) {
        if let Conn::Pooled(c) = self {
            c.close_on_drop();
        }
    }

    /// Closes the connection instead of giving it back: its state is not known.
    pub(crate) async fn discard(mut self) {
        self.close_on_drop();
        if let Conn::One(c) = &mut self
            && let Some(conn) = c.take()
        {
            let _ = conn.close().await;
        }
    }
}

impl Connections {
    /// Opens the backend's connections.
    pub(crate) async fn open(
        backend: Backend,
        options: AnyConnectOptions,
        max_connections: u32,
    ) -> Result<Connections> {
        let pool_options = match backend {
            Backend::Sqlite => {
                let url = options.database_url.as_str();
                let file = !url.contains(":memory:") && !url.contains("mode=memory");
                let conns = Connections::One {
                    options: Arc::new(options),
                    file,
                    conn: Arc::new(Mutex::new(None)),
                };
                drop(conns.acquire().await?);
                return Ok(conns);
            }
            Backend::Postgres => AnyPoolOptions::new()
                .max_connections(max_connections.max(2))
                .acquire_timeout(ACQUIRE_TIMEOUT)
                // Statements are cached per connection; after a few runs PostgreSQL would
                // plan them once for any parameters, and such a generic plan cannot know how
                // selective a visibility filter (or a 500-entry IN list) is. Plan each run.
                .after_connect(|conn, _| {
                    Box::pin(async move {
                        sqlx::query("SET plan_cache_mode = force_custom_plan")
                            .execute(conn)
                            .await?;
                        Ok(())
                    })
                }),
            Backend::Mysql => AnyPoolOptions::new()
                .max_connections(max_connections.max(2))
                .acquire_timeout(ACQUIRE_TIMEOUT),
        };
        let options = match backend {
            // A group commit's text holds the values it writes (text_batch.rs): sqlx would
            // log a slow one whole, workflow payloads and all.
            Backend::Mysql | Backend::Postgres => options.disable_statement_logging(),
            Backend::Sqlite => options,
        };
        Ok(Connections::Pool(pool_options.connect_with(options).await?))
    }

    /// A connection for the caller alone until dropped.
    ///
    /// SQLite's: SQLite rolls a transaction back by itself on some errors (a full disk, an
    /// I/O error); sqlx's ROLLBACK then fails and it goes on counting a transaction that is
    /// not there, so the connection's next transaction would be a savepoint that never
    /// commits: acknowledged writes, then lost. A connection that counts a transaction when
    /// taken may only have the rollback of a dropped transaction pending: a ping lets sqlx
    /// finish it; if it still counts one, it is closed and another opened.
    pub(crate) async fn acquire(&self) -> Result<Conn> {
        let (options, file, conn) = match self {
            Connections::Pool(pool) => return Ok(Conn::Pooled(pool.acquire().await?)),
            Connections::One {
                options,
                file,
                conn,
            } => (options, *file, conn),
        };
        let mut held = conn.clone().lock_owned().await;
        if let Some(c) = held.as_mut()
            && c.is_in_transaction()
        {
            let pinged = c.ping().await;
            if pinged.is_err() || c.is_in_transaction() {
                tracing::warn!("a SQLite connection left in a transaction is closed");
                if let Some(c) = held.take() {
                    let _ = c.close().await;
                }
            }
        }
        if held.is_none() {
            let mut c = options.connect().await?;
            for views in [
                crate::group_writes::SQLITE_GROUP_WRITES,
                crate::visibility_sqlite::SQLITE_VISIBILITY_WRITES,
            ] {
                sqlx::query(views).execute(&mut c).await?;
            }
            if file {
                // Both are the connection's own: set on every one.
                sqlx::query("PRAGMA journal_mode = WAL")
                    .execute(&mut c)
                    .await?;
                sqlx::query("PRAGMA synchronous = FULL")
                    .execute(&mut c)
                    .await?;
            }
            *held = Some(c);
        }
        Ok(Conn::One(held))
    }
}

impl SqlStore {
    /// SQLite: runs `text`, a whole transaction (BEGIN … COMMIT) in one query, kept prepared,
    /// with `rows` and `bytes` as `?1` and `?2`. A failed check stops it before its COMMIT (or
    /// at it); it is then rolled back, and a connection whose transaction cannot be is not
    /// used again.
    pub(crate) async fn run_sqlite_transaction(
        &self,
        text: &'static str,
        rows: String,
        bytes: Vec<u8>,
    ) -> Result<()> {
        let mut conn = self.conn().await?;
        let done = sqlx::query(text)
            .bind(rows)
            .bind(bytes)
            .execute(&mut *conn)
            .await;
        if let Err(e) = done {
            if sqlx::query("ROLLBACK").execute(&mut *conn).await.is_err() {
                conn.discard().await;
            }
            return Err(e.into());
        }
        Ok(())
    }
}
