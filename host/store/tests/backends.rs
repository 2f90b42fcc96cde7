//! One persistence suite, run against every backend on real databases: SQLite (memory and
//! file), PostgreSQL and MariaDB/MySQL. Each run gets its own schema/database.
//!
//! URLs: `SUNDIAL_TEST_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/test`),
//! `SUNDIAL_TEST_MYSQL_URL` (default `mysql://root@127.0.0.1:3306/test`).

use sundial_store::*;

#[path = "support/group_suite.rs"]
mod group_suite;
#[path = "support/visibility_suite.rs"]
mod visibility_suite;

fn uid() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// Drops a per-test schema/database after the suite.
async fn drop_scratch(base_env: &str, default: &str, statement: String) {
    let base = std::env::var(base_env).unwrap_or_else(|_| default.into());
    let pool = sqlx::AnyPool::connect(&base).await.unwrap();
    sqlx::query(&statement).execute(&pool).await.unwrap();
}

async fn fresh_postgres() -> String {
    let base = std::env::var("SUNDIAL_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    sqlx::any::install_default_drivers();
    let schema = format!("sundial_t_{}", uid());
    let pool = sqlx::AnyPool::connect(&base)
        .await
        .expect("PostgreSQL must be running (see README)");
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&pool)
        .await
        .unwrap();
    let sep = if base.contains('?') { '&' } else { '?' };
    format!("{base}{sep}options=-c%20search_path%3D{schema}")
}

async fn fresh_mysql() -> String {
    let base = std::env::var("SUNDIAL_TEST_MYSQL_URL")
        .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".into());
    sqlx::any::install_default_drivers();
    let db = format!("sundial_t_{}", uid());
    let pool = sqlx::AnyPool::connect(&base)
        .await
        .expect("MariaDB/MySQL must be running (see README)");
    sqlx::query(&format!("CREATE DATABASE {db}"))
        .execute(&pool)
        .await
        .unwrap();
    let (prefix, _) = base.rsplit_once('/').unwrap();
    format!("{prefix}/{db}")
}

fn key(ns: &str, wf: &str, run: &str) -> RunKey {
    RunKey {
        namespace_id: ns.into(),
        workflow_id: wf.into(),
        run_id: run.into(),
    }
}

async fn suite(store: SqlStore) {
    shards(&store).await;
    cluster(&store).await;
    namespaces(&store).await;
    executions(&store).await;
    group_suite::groups(&store).await;
    visibility_suite::visibility(&store).await;
}

async fn shards(store: &SqlStore) {
    let mut first = Vec::new();
    let mut second = Vec::new();
    for shard in 0..3 {
        first.push(store.acquire_shard(shard, "a").await.unwrap());
    }
    for shard in 0..3 {
        second.push(store.acquire_shard(shard, "b").await.unwrap());
    }
    for (a, b) in first.iter().zip(&second) {
        assert!(b > a, "range ids must grow on every acquisition");
    }
    // A write fenced on the old range id fails: the previous owner cannot write.
    let stale = WorkflowCommit {
        shard_id: 0,
        range_id: first[0],
        workflow_id: "w".into(),
        namespace_id: "n".into(),
        ..Default::default()
    };
    assert!(matches!(
        store.commit(&stale).await,
        Err(Error::ShardOwnershipLost { .. })
    ));
}

async fn cluster(store: &SqlStore) {
    // The first proposal is kept; later ones read it back.
    let mine = ClusterMetadata {
        cluster_id: "c1".into(),
        num_history_shards: 8,
        internal_secret: "s1".into(),
    };
    let other = ClusterMetadata {
        cluster_id: "c2".into(),
        num_history_shards: 16,
        internal_secret: "s2".into(),
    };
    assert_eq!(store.cluster_metadata(&mine).await.unwrap(), mine);
    assert_eq!(store.cluster_metadata(&other).await.unwrap(), mine);

    // Shard owners were recorded by `shards` (which ran first).
    let owners = store.shard_owners().await.unwrap();
    assert_eq!(owners.len(), 3);
    assert!(owners.iter().all(|o| o.owner_node.as_deref() == Some("b")));

    let member = |session: &str| Member {
        node_name: "n1".into(),
        session_id: session.into(),
        services: vec!["frontend".into(), "history".into()],
        rpc_address: "127.0.0.1:7233".into(),
        internal_address: "127.0.0.1:7234".into(),
        state: "active".into(),
    };
    let before = store.db_now_ms().await.unwrap();
    assert!(store.join_member(&member("s1"), 8000).await.unwrap());
    // A second session under a live name is refused; the first keeps its row.
    assert!(!store.join_member(&member("s2"), 8000).await.unwrap());
    assert!(
        store
            .heartbeat_member("n1", "s1", "draining")
            .await
            .unwrap()
    );
    assert!(
        store
            .heartbeat_member("n1", "s1", "draining")
            .await
            .unwrap()
    );
    assert!(!store.heartbeat_member("n1", "s2", "active").await.unwrap());
    let (now, rows) = store.members().await.unwrap();
    assert_eq!(rows.len(), 1);
    let row = &rows[0];
    assert_eq!(row.member.session_id, "s1");
    assert_eq!(row.member.services, vec!["frontend", "history"]);
    assert_eq!(row.member.state, "draining");
    assert!(
        row.heartbeat_at >= before && now >= row.heartbeat_at,
        "{before} {row:?} {now}"
    );
    assert!(
        now - before < 60_000,
        "the database clock is in milliseconds"
    );
    // Once its heartbeat is older than the expiry, a new session takes the name over, and the
    // old session's heartbeats fail from then on.
    tokio::time::sleep(std::time::Duration::from_millis(30)).await;
    assert!(store.join_member(&member("s2"), 10).await.unwrap());
    assert!(!store.heartbeat_member("n1", "s1", "active").await.unwrap());
    store.remove_member("n1", "s1").await.unwrap();
    assert_eq!(
        store.members().await.unwrap().1.len(),
        1,
        "only its own session's row goes"
    );
    store.remove_member("n1", "s2").await.unwrap();
    assert!(store.members().await.unwrap().1.is_empty());
}

async fn namespaces(store: &SqlStore) {
    let name = format!("ns-{}", uid());
    let row = NamespaceRow {
        id: uid(),
        name: name.clone(),
        data: vec![1, 2, 3],
        version: 1,
    };
    store.create_namespace(&row).await.unwrap();
    let dup = NamespaceRow {
        id: uid(),
        ..row.clone()
    };
    assert!(matches!(
        store.create_namespace(&dup).await,
        Err(Error::AlreadyExists(_))
    ));
    assert_eq!(
        store.get_namespace_by_name(&name).await.unwrap().unwrap(),
        row
    );
    assert_eq!(
        store.get_namespace_by_id(&row.id).await.unwrap().unwrap(),
        row
    );
    assert!(
        store
            .get_namespace_by_name("missing")
            .await
            .unwrap()
            .is_none()
    );
    let updated = NamespaceRow {
        data: vec![9],
        version: 2,
        ..row.clone()
    };
    store.update_namespace(&updated, 1).await.unwrap();
    assert!(matches!(
        store.update_namespace(&updated, 1).await,
        Err(Error::Conflict(_))
    ));
    let listed = store.list_namespaces("", 1000).await.unwrap();
    assert!(listed.iter().any(|n| n.name == name && n.data == vec![9]));
}

async fn executions(store: &SqlStore) {
    let range = store.acquire_shard(0, "a").await.unwrap();
    let (ns, wf, run1, run2) = (uid(), format!("Wf-{}", uid()), uid(), uid());
    let k1 = key(&ns, &wf, &run1);
    let batch = |k: &RunKey, first: i64, last: i64| HistoryBatch {
        key: k.clone(),
        first_event_id: first,
        last_event_id: last,
        data: vec![first as u8; 10],
    };
    let create = WorkflowCommit {
        shard_id: 0,
        range_id: range,
        workflow_id: wf.clone(),
        namespace_id: ns.clone(),
        current: Some(CurrentRunUpdate::Create {
            run_id: run1.clone(),
        }),
        executions: vec![ExecutionWrite {
            key: k1.clone(),
            state: b"s1".to_vec(),
            expected_db_version: None,
            new_db_version: 1,
        }],
        history: vec![batch(&k1, 1, 2)],
        tasks: vec![TaskRow {
            task_id: 100,
            queue_hash: 0,
            visible_at: 50,
            data: b"t".to_vec(),
        }],
    };
    store.commit(&create).await.unwrap();
    assert_eq!(
        store.get_current_run(0, &ns, &wf).await.unwrap(),
        Some(run1.clone())
    );
    // The same id in other case is another workflow (ids are case-sensitive everywhere).
    assert_eq!(
        store
            .get_current_run(0, &ns, &wf.to_lowercase())
            .await
            .unwrap(),
        None
    );
    // A second create of the same workflow id fails and writes nothing.
    let dup = WorkflowCommit {
        tasks: vec![TaskRow {
            task_id: 101,
            queue_hash: 0,
            visible_at: 0,
            data: vec![],
        }],
        ..create.clone()
    };
    assert!(store.commit(&dup).await.is_err());
    let tasks = store.read_tasks(0, 0, 1000).await.unwrap();
    assert!(tasks.iter().any(|t| t.task_id == 100) && !tasks.iter().any(|t| t.task_id == 101));

    let update = WorkflowCommit {
        current: None,
        executions: vec![ExecutionWrite {
            key: k1.clone(),
            state: b"s2".to_vec(),
            expected_db_version: Some(1),
            new_db_version: 2,
        }],
        history: vec![batch(&k1, 3, 5)],
        tasks: vec![
            TaskRow {
                task_id: 102,
                queue_hash: 0,
                visible_at: 7,
                data: vec![2],
            },
            TaskRow {
                task_id: 103,
                queue_hash: 9,
                visible_at: 3,
                data: vec![3],
            },
        ],
        ..create.clone()
    };
    store.commit(&update).await.unwrap();
    // Tasks are paged per queue hash, in the order they may run.
    let ids = |rows: Vec<TaskRow>| -> Vec<i64> {
        rows.iter()
            .map(|t| t.task_id)
            .filter(|id| (100..=103).contains(id))
            .collect()
    };
    assert_eq!(
        ids(store.read_tasks(0, 0, 1000).await.unwrap()),
        vec![102, 100]
    );
    assert_eq!(ids(store.read_tasks(0, 9, 1000).await.unwrap()), vec![103]);
    assert_eq!(store.read_tasks(0, 0, 1).await.unwrap().len(), 1);
    assert!(store.task_queue_hashes(0).await.unwrap().contains(&9));
    assert_eq!(store.count_queue_tasks(9, 3).await.unwrap(), 1);
    assert_eq!(store.count_queue_tasks(9, 2).await.unwrap(), 0);
    // A stale db version is rejected, and the batch it carried is not written.
    let stale = WorkflowCommit {
        history: vec![batch(&k1, 6, 6)],
        tasks: vec![],
        ..update.clone()
    };
    assert!(matches!(
        store.commit(&stale).await,
        Err(Error::Conflict(_))
    ));
    let st = store.get_state(0, &k1).await.unwrap().unwrap();
    assert_eq!((st.state.as_slice(), st.db_version), (&b"s2"[..], 2));
    let h = store.read_history(0, &k1, 1, 100).await.unwrap();
    assert_eq!(
        h.iter().map(|b| b.first_event_id).collect::<Vec<_>>(),
        vec![1, 3]
    );
    let h = store.read_history(0, &k1, 4, 100).await.unwrap();
    assert_eq!(
        h.iter().map(|b| b.first_event_id).collect::<Vec<_>>(),
        vec![3]
    );

    // Moving the current pointer is conditional on where it points.
    let k2 = key(&ns, &wf, &run2);
    let next = WorkflowCommit {
        current: Some(CurrentRunUpdate::Move {
            from_run_id: run1.clone(),
            run_id: run2.clone(),
        }),
        executions: vec![ExecutionWrite {
            key: k2.clone(),
            state: b"r2".to_vec(),
            expected_db_version: None,
            new_db_version: 1,
        }],
        history: vec![batch(&k2, 1, 1)],
        tasks: vec![],
        ..create.clone()
    };
    store.commit(&next).await.unwrap();
    assert_eq!(
        store.get_current_run(0, &ns, &wf).await.unwrap(),
        Some(run2.clone())
    );
    let again = WorkflowCommit {
        executions: vec![],
        history: vec![],
        ..next.clone()
    };
    assert!(matches!(
        store.commit(&again).await,
        Err(Error::Conflict(_))
    ));

    // A previous owner cannot delete tasks: the shard's range id is checked first.
    assert!(matches!(
        store.delete_tasks(0, range - 1, &[100]).await,
        Err(Error::ShardOwnershipLost { .. })
    ));
    store.delete_tasks(0, range, &[100]).await.unwrap();
    assert!(
        !store
            .read_tasks(0, 0, 1000)
            .await
            .unwrap()
            .iter()
            .any(|t| t.task_id == 100)
    );
    let follow_up = TaskRow {
        task_id: 300,
        queue_hash: 0,
        visible_at: 0,
        data: vec![9],
    };
    store
        .delete_run(0, range, &k1, std::slice::from_ref(&follow_up))
        .await
        .unwrap();
    assert!(store.get_state(0, &k1).await.unwrap().is_none());
    assert!(
        store
            .read_tasks(0, 0, 1000)
            .await
            .unwrap()
            .iter()
            .any(|t| t.task_id == 300 && t.data == [9]),
        "the deletion's follow-up task is stored with it"
    );
    assert!(store.read_history(0, &k1, 1, 10).await.unwrap().is_empty());
    assert_eq!(
        store.get_current_run(0, &ns, &wf).await.unwrap(),
        Some(run2),
        "deleting an old run keeps the current pointer"
    );
}

#[tokio::test]
async fn sqlite_memory() {
    suite(SqlStore::connect("sqlite::memory:", 1).await.unwrap()).await;
    // Listings that match many runs probe attributes run by run in listing order (on little
    // data only with a lowered floor): both plans must give the same answers.
    let mut store = SqlStore::connect("sqlite::memory:", 1).await.unwrap();
    store.set_probe_floor(1);
    suite(store).await;
}

#[tokio::test]
async fn sqlite_file_survives_reopen() {
    let dir = std::env::temp_dir().join(format!("sundial-store-{}", uid()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}/s.db?mode=rwc", dir.display());
    suite(SqlStore::connect(&url, 1).await.unwrap()).await;
    // As a database written before migration 0003: its per-status counts are built from the
    // rows when the migration runs.
    let counts =
        "SELECT namespace_id, status, runs FROM visibility_counts WHERE runs <> 0 ORDER BY 1, 2";
    let from_rows =
        "SELECT namespace_id, status, COUNT(*) FROM visibility GROUP BY 1, 2 ORDER BY 1, 2";
    let rows = |pool: sqlx::SqlitePool, text: &'static str| async move {
        let rows: Vec<(String, i64, i64)> = sqlx::query_as(text).fetch_all(&pool).await.unwrap();
        rows
    };
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    let kept = rows(pool.clone(), counts).await;
    assert!(!kept.is_empty());
    assert_eq!(kept, rows(pool.clone(), from_rows).await);
    sqlx::query("DROP TABLE visibility_counts")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("DELETE FROM _sqlx_migrations WHERE version = 3")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let reopened = SqlStore::connect(&url, 1).await.unwrap();
    assert!(!reopened.list_namespaces("", 10).await.unwrap().is_empty());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    assert_eq!(rows(pool.clone(), counts).await, kept);
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn postgres() {
    let url = fresh_postgres().await;
    suite(SqlStore::connect(&url, 4).await.unwrap()).await;
    let schema = url.rsplit("%3D").next().unwrap().to_string();
    drop_scratch(
        "SUNDIAL_TEST_POSTGRES_URL",
        "postgres://postgres@127.0.0.1:5432/test",
        format!("DROP SCHEMA {schema} CASCADE"),
    )
    .await;
}

#[tokio::test]
async fn mysql() {
    let url = fresh_mysql().await;
    suite(SqlStore::connect(&url, 4).await.unwrap()).await;
    let db = url.rsplit('/').next().unwrap().to_string();
    drop_scratch(
        "SUNDIAL_TEST_MYSQL_URL",
        "mysql://root@127.0.0.1:3306/test",
        format!("DROP DATABASE {db}"),
    )
    .await;
}
