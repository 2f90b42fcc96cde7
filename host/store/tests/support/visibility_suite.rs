//! The visibility part of the persistence suite: a data set with every attribute type, written
//! in batches (with stale and newer versions, and a delete), then many queries whose SQL
//! answers (paged) must equal what the in-memory evaluator of `sundial-visquery` says.

use std::collections::HashMap;

use sundial_store::*;
use sundial_visquery::{Column, Record, compile, eval};

const SECOND: i64 = 1_000_000_000;
const BASE: i64 = 1_700_000_000 * SECOND;

fn schema() -> HashMap<String, ValueType> {
    [
        ("CustomerId", ValueType::Keyword),
        ("Notes", ValueType::Text),
        ("Amount", ValueType::Int),
        ("Score", ValueType::Double),
        ("Vip", ValueType::Bool),
        ("Due", ValueType::Datetime),
        ("Tags", ValueType::KeywordList),
    ]
    .into_iter()
    .map(|(n, t)| (n.to_string(), t))
    .collect()
}

struct Rec<'a>(&'a VisibilityRecord);

impl Record for Rec<'_> {
    fn column(&self, c: Column) -> Option<Value> {
        let r = self.0;
        let s = |v: &str| Some(Value::Str(v.to_string()));
        match c {
            Column::WorkflowId => s(&r.workflow_id),
            Column::RunId => s(&r.run_id),
            Column::WorkflowType => s(&r.workflow_type),
            Column::TaskQueue => s(&r.task_queue),
            Column::ExecutionStatus => Some(Value::Int(r.status as i64)),
            Column::StartTime => Some(Value::Time(r.start_time)),
            Column::ExecutionTime => Some(Value::Time(r.execution_time)),
            Column::CloseTime => r.close_time.map(Value::Time),
            Column::HistoryLength => r.history_length.map(Value::Int),
            Column::HistorySizeBytes => r.history_size_bytes.map(Value::Int),
            Column::StateTransitionCount => r.state_transition_count.map(Value::Int),
            Column::ExecutionDuration => r.execution_duration.map(Value::Int),
            Column::ParentWorkflowId => r.parent_workflow_id.as_deref().and_then(s),
            Column::ParentRunId => r.parent_run_id.as_deref().and_then(s),
            Column::RootWorkflowId => s(&r.root_workflow_id),
            Column::RootRunId => s(&r.root_run_id),
        }
    }
    fn attr(&self, name: &str) -> Vec<Value> {
        self.0
            .attributes
            .iter()
            .find(|(n, _, _)| n == name)
            .map(|(_, _, v)| v.clone())
            .unwrap_or_default()
    }
}

fn record(ns: &str, i: i64) -> VisibilityRecord {
    let status = [1, 2, 3, 4, 5, 6, 7][(i % 7) as usize];
    let closed = status != 1;
    // Ties on start and close times, so paging must break them by run id.
    let start_time = BASE + (i / 3) * SECOND;
    let close_time = closed.then_some(BASE + 1000 * SECOND + (i / 4) * SECOND);
    let mut attributes = Vec::new();
    if i % 5 != 0 {
        attributes.push((
            "CustomerId".to_string(),
            ValueType::Keyword,
            vec![Value::Str(format!("cust-{}", i % 4))],
        ));
    }
    if i % 3 == 0 {
        attributes.push((
            "Notes".into(),
            ValueType::Text,
            vec![Value::Str(
                ["Quick brown fox", "lazy dog sleeps", "brown dog, quick!"][(i % 9 / 3) as usize]
                    .into(),
            )],
        ));
    }
    if i % 2 == 0 {
        attributes.push((
            "Amount".into(),
            ValueType::Int,
            vec![Value::Int(i * 10 - 50)],
        ));
    }
    if i % 4 != 1 {
        attributes.push((
            "Score".into(),
            ValueType::Double,
            vec![Value::Double(i as f64 / 4.0)],
        ));
    }
    if i % 6 < 4 {
        attributes.push(("Vip".into(), ValueType::Bool, vec![Value::Bool(i % 2 == 1)]));
    }
    if i % 7 < 5 {
        attributes.push((
            "Due".into(),
            ValueType::Datetime,
            vec![Value::Time(BASE + i * 3600 * SECOND)],
        ));
    }
    if i % 3 != 2 {
        let tags: Vec<Value> = ["red", "green", "blue"]
            .iter()
            .take((i % 4) as usize)
            .map(|t| Value::Str(t.to_string()))
            .collect();
        if !tags.is_empty() {
            attributes.push(("Tags".into(), ValueType::KeywordList, tags));
        }
    }
    let run_id = format!("{:08x}-run-{i}", (i * 2654435761) % 0xffff_ffff);
    VisibilityRecord {
        namespace_id: ns.to_string(),
        run_id: run_id.clone(),
        workflow_id: format!("wf-{}", i % 12),
        workflow_type: ["Order", "Payment", "Shipment"][(i % 3) as usize].into(),
        task_queue: if i % 2 == 0 { "tq-a" } else { "tq-b" }.into(),
        status,
        start_time,
        execution_time: start_time + (i % 2) * SECOND,
        close_time,
        history_length: closed.then_some(10 + i),
        history_size_bytes: closed.then_some(1000 + i),
        execution_duration: close_time.map(|c| c - start_time),
        state_transition_count: closed.then_some(5 + i % 3),
        parent_workflow_id: (i % 8 == 3).then(|| "parent-1".to_string()),
        parent_run_id: (i % 8 == 3).then(|| "parent-run".to_string()),
        root_workflow_id: if i % 8 == 3 {
            "parent-1".into()
        } else {
            format!("wf-{}", i % 12)
        },
        root_run_id: if i % 8 == 3 {
            "parent-run".into()
        } else {
            run_id
        },
        attributes,
        version: 100 + i,
        data: format!("row-{i}").into_bytes(),
    }
}

pub async fn visibility(store: &SqlStore) {
    let ns = uuid::Uuid::new_v4().simple().to_string();
    let other_ns = uuid::Uuid::new_v4().simple().to_string();
    let mut records: Vec<VisibilityRecord> = (0..60).map(|i| record(&ns, i)).collect();
    // Two batches; the second repeats one record with an older version (ignored), updates one
    // with a newer version, and deletes one.
    let (first, second) = records.split_at(30);
    let mut writes: Vec<VisibilityWrite> = first
        .iter()
        .cloned()
        .map(|r| VisibilityWrite::Upsert(Box::new(r)))
        .collect();
    writes.push(VisibilityWrite::Upsert(Box::new(record(&other_ns, 1))));
    store.write_visibility(&writes).await.unwrap();
    let mut stale = records[4].clone();
    stale.version -= 1;
    stale.workflow_type = "Stale".into();
    let mut newer = records[5].clone();
    newer.version += 100;
    newer.workflow_type = "Renamed".into();
    newer.attributes.clear();
    // A run that closes (or changes status otherwise) moves between the per-status counts.
    newer.status = if newer.status == 1 { 2 } else { 1 };
    let deleted = records[6].clone();
    let mut writes: Vec<VisibilityWrite> = vec![
        VisibilityWrite::Upsert(Box::new(stale)),
        VisibilityWrite::Upsert(Box::new(newer.clone())),
        VisibilityWrite::Delete {
            namespace_id: ns.clone(),
            run_id: deleted.run_id.clone(),
        },
    ];
    writes.extend(
        second
            .iter()
            .cloned()
            .map(|r| VisibilityWrite::Upsert(Box::new(r))),
    );
    store.write_visibility(&writes).await.unwrap();
    // Writing the same batch again changes nothing (versions are not newer).
    store.write_visibility(&writes[3..]).await.unwrap();
    records[5] = newer;
    records.retain(|r| r.run_id != deleted.run_id);
    // A batch that fails (one attribute's value twice in the same place breaks a key) leaves
    // nothing behind: not its new run, not its newer version of a stored one, not their counts;
    // and the writes after it go in.
    let mut doomed = record(&ns, 99);
    doomed.attributes.push(doomed.attributes[0].clone());
    let mut renamed = records[7].clone();
    renamed.version += 5000;
    renamed.workflow_type = "Doomed".into();
    renamed.status = if renamed.status == 1 { 2 } else { 1 };
    let failed = store
        .write_visibility(&[
            VisibilityWrite::Upsert(Box::new(renamed)),
            VisibilityWrite::Upsert(Box::new(doomed)),
        ])
        .await;
    assert!(failed.is_err(), "a key broken twice over is refused");
    // One record per write: the same statement text then binds different attribute types
    // (NULLs included) in the same positions, which PostgreSQL's statement cache must take.
    for r in records.iter_mut().skip(10).take(12) {
        r.version += 1000;
        store
            .write_visibility(&[VisibilityWrite::Upsert(Box::new(r.clone()))])
            .await
            .unwrap();
    }

    let t = |s: i64| sundial_visquery::values::format_datetime(BASE + s * SECOND);
    let queries: Vec<String> = vec![
        String::new(),
        "WorkflowType = 'Order'".into(),
        "WorkflowType = 'Stale'".into(),
        "WorkflowType = 'Renamed'".into(),
        "WorkflowType != 'Order'".into(),
        "WorkflowId IN ('wf-1', 'wf-2', 'nope')".into(),
        "WorkflowId NOT IN ('wf-1', 'wf-2')".into(),
        "WorkflowId STARTS_WITH 'wf-1'".into(),
        "WorkflowId NOT STARTS_WITH 'wf-1'".into(),
        "WorkflowId BETWEEN 'wf-10' AND 'wf-3'".into(),
        "WorkflowId > 'wf-5' AND WorkflowId <= 'wf-8'".into(),
        "ExecutionStatus = 'Running'".into(),
        "ExecutionStatus != 'Running'".into(),
        "ExecutionStatus IN ('Failed', 'TimedOut') OR TaskQueue = 'tq-a'".into(),
        "NOT (ExecutionStatus = 'Completed' OR TaskQueue = 'tq-a')".into(),
        format!("StartTime > '{}'", t(5)),
        format!("StartTime BETWEEN '{}' AND '{}'", t(3), t(9)),
        format!("CloseTime < '{}'", t(1005)),
        format!("NOT CloseTime < '{}'", t(1005)),
        "CloseTime IS NULL".into(),
        "CloseTime IS NOT NULL AND HistoryLength >= 40".into(),
        "ExecutionDuration > '1000s'".into(),
        format!("ExecutionTime = '{}' OR ExecutionTime > '{}'", t(1), t(18)),
        "ParentWorkflowId = 'parent-1'".into(),
        "ParentWorkflowId IS NULL".into(),
        "RootWorkflowId = 'parent-1'".into(),
        "StateTransitionCount IN (5, 7)".into(),
        "CustomerId = 'cust-1'".into(),
        "CustomerId != 'cust-1'".into(),
        "CustomerId IS NULL".into(),
        "CustomerId IS NOT NULL".into(),
        "CustomerId STARTS_WITH 'cust-'".into(),
        "CustomerId IN ('cust-0', 'cust-3')".into(),
        "CustomerId NOT IN ('cust-0', 'cust-3')".into(),
        "NOT CustomerId = 'cust-2'".into(),
        "Notes = 'brown'".into(),
        "Notes = 'QUICK dog'".into(),
        "Notes = 'cat brown-fox'".into(),
        "Notes = 'fox-brown'".into(),
        "NOT Notes = 'fox'".into(),
        "Tags = 'RED'".into(),
        "CustomerId STARTS_WITH 'CUST-1'".into(),
        "CustomerId STARTS_WITH 'cust_'".into(),
        "WorkflowType STARTS_WITH 'pay'".into(),
        "Notes != 'dog'".into(),
        "Notes = 'cat'".into(),
        "Vip > false".into(),
        "Amount > 100".into(),
        "Amount <= -10 OR Amount BETWEEN 200 AND 300".into(),
        "Amount NOT BETWEEN 0 AND 400".into(),
        "Amount IN (0, 20, 40)".into(),
        "Amount != 100".into(),
        "Score >= 7.5".into(),
        "Score < 2".into(),
        "Score = 3.25".into(),
        "Vip = true".into(),
        "Vip != true".into(),
        "Vip = false AND Tags = 'red'".into(),
        format!("Due > '{}'", t(20 * 3600)),
        format!("Due BETWEEN '{}' AND '{}'", t(3600), t(10 * 3600)),
        "Due IS NULL".into(),
        "Tags = 'green'".into(),
        "Tags != 'green'".into(),
        "Tags IN ('blue', 'green')".into(),
        "Tags NOT IN ('red')".into(),
        "NOT Tags = 'red'".into(),
        "Tags IS NULL".into(),
        "(Tags = 'red' OR Notes = 'fox') AND NOT (Amount < 100 OR ExecutionStatus = 'Running')"
            .into(),
        "`CustomerId` = 'cust-3' and `WorkflowType` = 'Payment'".into(),
    ];
    let schema = schema();
    let custom: Vec<(String, ValueType)> = schema.iter().map(|(n, t)| (n.clone(), *t)).collect();
    for q in &queries {
        let resolved = compile(q, &schema).unwrap_or_else(|e| panic!("{q}: {e}"));
        let filter = resolved.filter.as_ref();
        let mut expected: Vec<&VisibilityRecord> = records
            .iter()
            .filter(|r| filter.is_none_or(|f| eval(f, &Rec(r)) == Some(true)))
            .collect();
        expected.sort_by(|a, b| {
            b.sort_time()
                .cmp(&a.sort_time())
                .then(b.start_time.cmp(&a.start_time))
                .then(a.run_id.cmp(&b.run_id))
        });
        let expected: Vec<Vec<u8>> = expected.iter().map(|r| r.data.clone()).collect();
        let query = VisibilityQuery {
            namespace_id: &ns,
            namespace: "visibility-suite",
            text: q,
            resolved: &resolved,
            custom_attributes: custom.clone(),
        };
        let mut got = Vec::new();
        let mut token = Vec::new();
        loop {
            let page = store
                .list_visibility(&query, 7, &token)
                .await
                .unwrap_or_else(|e| panic!("{q}: {e}"));
            assert!(page.executions.len() <= 7);
            // A full page always carries a token (the next may be empty), as on Temporal.
            assert_eq!(
                page.executions.len() == 7,
                !page.next_page_token.is_empty(),
                "{q}"
            );
            got.extend(page.executions);
            if page.next_page_token.is_empty() {
                break;
            }
            token = page.next_page_token;
        }
        let show = |v: &[Vec<u8>]| {
            v.iter()
                .map(|d| String::from_utf8_lossy(d).into_owned())
                .collect::<Vec<_>>()
        };
        assert_eq!(show(&got), show(&expected), "list: {q}");
        let count = store.count_visibility(&query).await.unwrap();
        assert_eq!(count, vec![(None, expected.len() as i64)], "count: {q}");
        let grouped = compile(&format!("{q} GROUP BY ExecutionStatus"), &schema).unwrap();
        let groups = store
            .count_visibility(&VisibilityQuery {
                resolved: &grouped,
                ..query.clone()
            })
            .await
            .unwrap();
        let mut by_status: std::collections::BTreeMap<i32, i64> = Default::default();
        for r in &records {
            if filter.is_none_or(|f| eval(f, &Rec(r)) == Some(true)) {
                *by_status.entry(r.status).or_default() += 1;
            }
        }
        let want: Vec<(Option<i32>, i64)> =
            by_status.into_iter().map(|(s, n)| (Some(s), n)).collect();
        assert_eq!(groups, want, "count group by: {q}");
    }
    let everything = compile("", &schema).unwrap();
    let all = |namespace_id| VisibilityQuery {
        namespace_id,
        namespace: "visibility-suite",
        text: "",
        resolved: &everything,
        custom_attributes: Vec::new(),
    };
    assert!(matches!(
        store.list_visibility(&all(&ns), 5, b"not a token").await,
        Err(Error::BadPageToken)
    ));
    // The other namespace is separate.
    let other = store
        .list_visibility(&all(&other_ns), 100, &[])
        .await
        .unwrap();
    assert_eq!(other.executions.len(), 1);
}
