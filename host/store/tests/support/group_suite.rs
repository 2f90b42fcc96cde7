//! Commits that reach the store together go to the database as one group: each keeps the
//! outcome it would have had alone, and writes of one run in one group are made in order.

use futures::future::join_all;
use sundial_store::*;

fn uid() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

fn key(ns: &str, wf: &str, run: &str) -> RunKey {
    RunKey {
        namespace_id: ns.into(),
        workflow_id: wf.into(),
        run_id: run.into(),
    }
}

/// A new run of a new workflow id: its state, a history batch and a task (`task_id`), whose
/// data is empty for even ids.
fn start(shard_id: i32, range_id: i64, ns: &str, task_id: i64) -> WorkflowCommit {
    // Quotes and backslashes (`\x41` too) must reach the table as they are where the values
    // are written into the query's text.
    let (wf, run) = (format!("wf-{}-'\"é\\x41\\\u{1}", uid()), uid());
    let k = key(ns, &wf, &run);
    WorkflowCommit {
        shard_id,
        range_id,
        workflow_id: wf.clone(),
        namespace_id: ns.into(),
        current: Some(CurrentRunUpdate::Create { run_id: run }),
        executions: vec![ExecutionWrite {
            key: k.clone(),
            state: vec![1; 300],
            expected_db_version: None,
            new_db_version: 1,
        }],
        history: vec![HistoryBatch {
            key: k,
            first_event_id: 1,
            last_event_id: 3,
            data: vec![task_id as u8; 40],
        }],
        tasks: vec![TaskRow {
            task_id,
            queue_hash: -7,
            visible_at: i64::MAX - task_id,
            data: if task_id % 2 == 0 { vec![] } else { vec![2; 5] },
        }],
    }
}

/// The run `commit` started, updated from db version `from` to `from + 1`.
fn update(commit: &WorkflowCommit, from: i64) -> WorkflowCommit {
    let mut next = commit.clone();
    next.current = None;
    next.executions[0].expected_db_version = Some(from);
    next.executions[0].new_db_version = from + 1;
    next.executions[0].state = vec![from as u8 + 1; 10];
    next.history[0].first_event_id = 3 * from + 1;
    next.history[0].last_event_id = 3 * from + 3;
    next.tasks.clear();
    next
}

pub async fn groups(store: &SqlStore) {
    let shard = 5;
    let range = store.acquire_shard(shard, "g").await.unwrap();
    let ns = uid();
    let started: Vec<WorkflowCommit> = (0..12)
        .map(|i| start(shard, range, &ns, 1000 + i))
        .collect();
    join_all(started.iter().map(|c| store.commit(c)))
        .await
        .into_iter()
        .for_each(|r| r.unwrap());

    // One group: good commits, a duplicate start, a stale update, a chain of three updates
    // of one run, and a commit fenced on an old range id.
    let mut batch = vec![
        start(shard, range, &ns, 2000),
        started[0].clone(),
        update(&started[1], 5),
    ];
    batch.extend((1..=3).map(|v| update(&started[2], v)));
    batch.push(start(shard, range - 1, &ns, 2001));
    batch.extend((3..8).map(|i| update(&started[i], 1)));
    let outcomes = join_all(batch.iter().map(|c| store.commit(c))).await;
    assert!(outcomes[0].is_ok(), "{:?}", outcomes[0]);
    assert!(
        matches!(outcomes[1], Err(Error::AlreadyExists(_))),
        "{:?}",
        outcomes[1]
    );
    assert!(
        matches!(outcomes[2], Err(Error::Conflict(_))),
        "{:?}",
        outcomes[2]
    );
    for o in &outcomes[3..6] {
        assert!(o.is_ok(), "{o:?}");
    }
    assert!(
        matches!(outcomes[6], Err(Error::ShardOwnershipLost { .. })),
        "{:?}",
        outcomes[6]
    );
    for o in &outcomes[7..] {
        assert!(o.is_ok(), "{o:?}");
    }

    // What was written is what was committed, byte for byte.
    let k = |c: &WorkflowCommit| c.executions[0].key.clone();
    let chained = store
        .get_state(shard, &k(&started[2]))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((chained.state, chained.db_version), (vec![4; 10], 4));
    let history = store
        .read_history(shard, &k(&started[2]), 1, 100)
        .await
        .unwrap();
    assert_eq!(
        history.iter().map(|b| b.first_event_id).collect::<Vec<_>>(),
        vec![1, 4, 7, 10]
    );
    assert_eq!(history[0].data, vec![(1002 % 256) as u8; 40]);
    let untouched = store
        .get_state(shard, &k(&started[1]))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((untouched.state, untouched.db_version), (vec![1; 300], 1));
    assert_eq!(
        store
            .get_current_run(shard, &ns, &batch[0].workflow_id)
            .await
            .unwrap(),
        Some(batch[0].executions[0].key.run_id.clone())
    );
    assert_eq!(
        store
            .get_current_run(shard, &ns, &batch[6].workflow_id)
            .await
            .unwrap(),
        None,
        "the fenced commit wrote nothing"
    );
    let tasks = store.read_tasks(shard, -7, 1000).await.unwrap();
    let mut ids: Vec<(i64, Vec<u8>, i64)> = tasks
        .into_iter()
        .map(|t| (t.task_id, t.data, t.visible_at))
        .collect();
    ids.sort();
    let expected: Vec<(i64, Vec<u8>, i64)> = (1000..1012)
        .chain([2000])
        .map(|id| {
            let data = if id % 2 == 0 { vec![] } else { vec![2; 5] };
            (id, data, i64::MAX - id)
        })
        .collect();
    assert_eq!(ids, expected);

    // A commit larger than one batch's text may be (MySQL/MariaDB and PostgreSQL write the
    // values into it, byte strings as hex) lands whole all the same.
    let mut big = start(shard, range, &ns, 3000);
    big.executions[0].state = (0..3 << 20).map(|i: u32| (i % 251) as u8).collect();
    store.commit(&big).await.unwrap();
    let stored = store.get_state(shard, &k(&big)).await.unwrap().unwrap();
    assert!(
        stored.state == big.executions[0].state,
        "the big state read back differs"
    );
}
