//! Visibility at scale: fills a database's visibility tables with N runs (directly through the
//! store, as the visibility queue writes them) and times List and Count queries on them.
//! Figures are medians of repeated runs of each query; the data set stays for the next run
//! (filling is skipped when the namespace already holds N runs).

use std::collections::HashMap;
use std::time::Instant;

use sundial_store::{
    SqlStore, Value, ValueType, VisibilityQuery, VisibilityRecord, VisibilityStore, VisibilityWrite,
};
use sundial_visquery::compile;

const NAMESPACE_ID: &str = "bench-visibility";
const SECOND: i64 = 1_000_000_000;
const BASE: i64 = 1_750_000_000 * SECOND;

fn schema() -> HashMap<String, ValueType> {
    [
        ("CustomerId".to_string(), ValueType::Keyword),
        ("Amount".to_string(), ValueType::Int),
        ("Tags".to_string(), ValueType::KeywordList),
    ]
    .into()
}

/// Run `i` of the data set: 10 workflow types, 4 task queues, about 1 in 20 running, a
/// customer out of 10,000, an amount, and 0–2 tags.
fn record(i: i64) -> VisibilityRecord {
    let running = i % 20 == 0;
    let status = if running {
        1
    } else {
        [2, 2, 2, 3, 4, 5, 7][(i % 7) as usize]
    };
    let start_time = BASE + i * SECOND / 10;
    let close_time = (!running).then_some(start_time + (i % 600) * SECOND);
    let run_id = format!(
        "{:032x}",
        (i as u128).wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835)
    );
    let mut attributes = vec![
        (
            "CustomerId".to_string(),
            ValueType::Keyword,
            vec![Value::Str(format!("customer-{}", i % 10_000))],
        ),
        (
            "Amount".to_string(),
            ValueType::Int,
            vec![Value::Int(i % 1_000)],
        ),
    ];
    let tags: Vec<Value> = ["priority", "gift", "export"]
        .iter()
        .take((i % 3) as usize)
        .map(|t| Value::Str(t.to_string()))
        .collect();
    if !tags.is_empty() {
        attributes.push(("Tags".to_string(), ValueType::KeywordList, tags));
    }
    VisibilityRecord {
        namespace_id: NAMESPACE_ID.into(),
        run_id: run_id.clone(),
        workflow_id: format!("order-{i}"),
        workflow_type: format!("Workflow{}", i % 10),
        task_queue: format!("queue-{}", i % 4),
        status,
        start_time,
        execution_time: start_time,
        close_time,
        history_length: close_time.map(|_| 11),
        history_size_bytes: close_time.map(|_| 2_000),
        execution_duration: close_time.map(|c| c - start_time),
        state_transition_count: close_time.map(|_| 6),
        parent_workflow_id: None,
        parent_run_id: None,
        root_workflow_id: format!("order-{i}"),
        root_run_id: run_id,
        attributes,
        version: 1,
        data: vec![0u8; 300],
    }
}

pub async fn run(url: &str, rows: i64, repeats: usize) -> anyhow::Result<()> {
    let store = SqlStore::connect(url, 8).await?;
    let schema = schema();
    let custom: Vec<(String, ValueType)> = schema.iter().map(|(n, t)| (n.clone(), *t)).collect();
    let everything = compile("", &schema)?;
    let have = store
        .count_visibility(&bench_query("", &everything, &custom))
        .await?[0]
        .1;
    if have != rows {
        anyhow::ensure!(
            have < rows,
            "the namespace holds {have} runs, more than {rows}: use another database"
        );
        let started = Instant::now();
        let batch = 1_000;
        let mut i = have;
        while i < rows {
            let end = (i + batch).min(rows);
            let writes: Vec<VisibilityWrite> = (i..end)
                .map(|n| VisibilityWrite::Upsert(Box::new(record(n))))
                .collect();
            store.write_visibility(&writes).await?;
            i = end;
            if i % 100_000 == 0 {
                eprintln!(
                    "  {i} runs written ({:.0} s)",
                    started.elapsed().as_secs_f64()
                );
            }
        }
        let secs = started.elapsed().as_secs_f64();
        println!(
            "filled {} runs in {secs:.1} s ({:.0} runs/s)",
            rows - have,
            (rows - have) as f64 / secs
        );
    }
    // Statistics (and PostgreSQL's visibility map) as autovacuum, InnoDB or the server's
    // periodic SQLite optimize would leave them.
    store.settle().await?;
    println!("{rows} runs; median of {repeats} runs of each query");
    println!("| query | call | rows | median ms |");
    println!("|---|---|---|---|");
    let queries: &[&'static str] = &[
        "",
        "ExecutionStatus = 'Running'",
        "WorkflowType = 'Workflow3'",
        "WorkflowId = 'order-123456'",
        "CustomerId = 'customer-42'",
        "CustomerId = 'customer-42' AND ExecutionStatus = 'Completed'",
        "Amount > 990",
        "Tags = 'gift'",
        "WorkflowType = 'Workflow3' AND TaskQueue = 'queue-1' AND CloseTime > '2025-06-16T00:00:00Z'",
        "WorkflowId STARTS_WITH 'order-99999'",
    ];
    for text in queries {
        let resolved = compile(text, &schema)?;
        let q = bench_query(text, &resolved, &custom);
        let mut list_ms = Vec::new();
        let mut found = 0;
        for _ in 0..repeats {
            let t = Instant::now();
            let page = store.list_visibility(&q, 100, &[]).await?;
            list_ms.push(t.elapsed().as_secs_f64() * 1e3);
            found = page.executions.len();
        }
        let mut count_ms = Vec::new();
        let mut count = 0;
        for _ in 0..repeats {
            let t = Instant::now();
            count = store.count_visibility(&q).await?[0].1;
            count_ms.push(t.elapsed().as_secs_f64() * 1e3);
        }
        let shown = if text.is_empty() { "(all)" } else { text };
        println!(
            "| `{shown}` | List, first page of 100 | {found} | {:.1} |",
            median(list_ms)
        );
        println!("| `{shown}` | Count | {count} | {:.1} |", median(count_ms));
    }
    // A page deep into the listing, reached with page tokens.
    let resolved = compile("WorkflowType = 'Workflow3'", &schema)?;
    let q = bench_query("WorkflowType = 'Workflow3'", &resolved, &custom);
    let mut token = Vec::new();
    for _ in 0..49 {
        token = store
            .list_visibility(&q, 100, &token)
            .await?
            .next_page_token;
    }
    let mut ms = Vec::new();
    for _ in 0..repeats {
        let t = Instant::now();
        store.list_visibility(&q, 100, &token).await?;
        ms.push(t.elapsed().as_secs_f64() * 1e3);
    }
    println!(
        "| `WorkflowType = 'Workflow3'` | List, 50th page of 100 | 100 | {:.1} |",
        median(ms)
    );
    let grouped = compile("GROUP BY ExecutionStatus", &schema)?;
    let mut ms = Vec::new();
    for _ in 0..repeats {
        let t = Instant::now();
        store
            .count_visibility(&bench_query("GROUP BY ExecutionStatus", &grouped, &custom))
            .await?;
        ms.push(t.elapsed().as_secs_f64() * 1e3);
    }
    println!(
        "| `GROUP BY ExecutionStatus` | Count | {rows} | {:.1} |",
        median(ms)
    );
    Ok(())
}

fn bench_query<'a>(
    text: &'a str,
    resolved: &'a sundial_visquery::Resolved,
    custom: &[(String, ValueType)],
) -> VisibilityQuery<'a> {
    VisibilityQuery {
        namespace_id: NAMESPACE_ID,
        namespace: "bench",
        text,
        resolved,
        custom_attributes: custom.to_vec(),
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}
