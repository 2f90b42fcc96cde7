//! SQLite rolls a whole transaction back by itself on some errors: a full disk, an I/O error,
//! a trigger's `RAISE(ROLLBACK)`. sqlx's own ROLLBACK then fails and its connection goes on
//! counting a transaction that is not there; reused, its next transaction is a savepoint inside
//! one that never commits, so a commit that was acknowledged is held, seen only by that
//! connection, and lost at the next rollback or stop. The store must not reuse such a
//! connection: a commit acknowledged after the failure is in the file, for any reader.

use sundial_store::*;

fn create(range_id: i64, workflow_id: &str) -> WorkflowCommit {
    let key = RunKey {
        namespace_id: "ns".into(),
        workflow_id: workflow_id.into(),
        run_id: format!("run-{workflow_id}"),
    };
    WorkflowCommit {
        shard_id: 0,
        range_id,
        workflow_id: workflow_id.into(),
        namespace_id: "ns".into(),
        current: Some(CurrentRunUpdate::Create {
            run_id: key.run_id.clone(),
        }),
        executions: vec![ExecutionWrite {
            key: key.clone(),
            state: b"state".to_vec(),
            expected_db_version: None,
            new_db_version: 1,
        }],
        history: vec![HistoryBatch {
            key,
            first_event_id: 1,
            last_event_id: 2,
            data: vec![1; 10],
        }],
        tasks: vec![],
    }
}

#[tokio::test]
async fn a_commit_after_sqlite_rolled_back_on_its_own_is_durable() {
    let dir = std::env::temp_dir().join(format!(
        "sundial-rollback-{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}/s.db?mode=rwc", dir.display());
    let store = SqlStore::connect(&url, 1).await.unwrap();
    let range = store.acquire_shard(0, "a").await.unwrap();

    // A trigger stands in for the full disk: SQLite rolls the transaction back on its own.
    let reader = sqlx::SqlitePool::connect(&url).await.unwrap();
    sqlx::query(
        "CREATE TRIGGER full_disk BEFORE INSERT ON history_batches \
         WHEN NEW.workflow_id LIKE 'doomed%' BEGIN SELECT RAISE(ROLLBACK, 'disk full'); END",
    )
    .execute(&reader)
    .await
    .unwrap();

    store.commit(&create(range, "first")).await.unwrap();
    for round in 0..3 {
        let doomed = format!("doomed-{round}");
        let kept = format!("kept-{round}");
        assert!(store.commit(&create(range, &doomed)).await.is_err());
        // A commit refused the ordinary way (the workflow exists): its statement fails, and
        // SQLite keeps the transaction for the caller to roll back.
        assert!(store.commit(&create(range, "first")).await.is_err());
        store.commit(&create(range, &kept)).await.unwrap();
        // Read through another connection: committed, not held in a transaction still open.
        let rows: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM executions WHERE workflow_id IN (?, ?)")
                .bind(&doomed)
                .bind(&kept)
                .fetch_one(&reader)
                .await
                .unwrap();
        assert_eq!(
            rows, 1,
            "round {round}: the acknowledged commit is in the file, the failed one not"
        );
    }
    reader.close().await;
    std::fs::remove_dir_all(&dir).ok();
}
