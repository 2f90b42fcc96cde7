//! Visibility: the records behind List/Count, and the queue that writes them.
//!
//! A change that affects a run's listing stores a `Visibility` task (the run's encoded
//! `WorkflowExecutionInfo`) in the same commit as the change. A single writer drains those
//! tasks in batches into the visibility store, versioned by task id so a replayed or late
//! task never regresses a record; a workflow update never waits on the visibility index.
//! Deletions go through the same queue, after the writes that came before them: a run's
//! deletion stores a `DeleteVisibility` task with it.

use std::collections::HashMap;

use prost::Message;
use sundial_store::{VisibilityRecord, VisibilityWrite};
use sundial_visquery::{QueryError, ValueType, values};
use temporalio_protos::temporal::api::{
    common::v1::{Payload, SearchAttributes},
    workflow::v1::WorkflowExecutionInfo,
    workflowservice::v1::{
        CountWorkflowExecutionsResponse, ListWorkflowExecutionsResponse,
        count_workflow_executions_response::AggregationGroup,
    },
};
use tokio::sync::{mpsc, oneshot};

use super::Engine;
use crate::error::{Error, Result, invalid};
use crate::matching::Queued;
use crate::namespace::Namespace;
use crate::state::TaskKind;
use crate::time::SECOND;

/// Largest page a listing returns (a larger or unset page size gets this, as on Temporal).
pub const MAX_PAGE_SIZE: i32 = 1000;
/// Most writes applied in one store transaction.
const BATCH: usize = 500;
/// How long the writer waits for more writes before a batch that is not full.
const GATHER: std::time::Duration = std::time::Duration::from_millis(20);

pub(crate) enum Op {
    /// A durable visibility task (a write or a deletion), acknowledged once written.
    Task(Box<Queued>),
    /// Answered once everything queued before it is written.
    Flush(oneshot::Sender<()>),
}

pub(crate) type Sender = mpsc::UnboundedSender<Op>;

fn query_error(e: QueryError) -> Error {
    Error::InvalidArgument(e.to_string())
}

fn nanos(t: &Option<prost_types::Timestamp>) -> Option<i64> {
    t.as_ref()
        .map(|t| t.seconds * SECOND + t.nanos as i64)
        .filter(|n| *n > 0)
}

/// The type a stored attribute is indexed as: the namespace's registration, the server's
/// predefined list, else the type the payload says it has.
fn attribute_type(ns: Option<&Namespace>, name: &str, p: &Payload) -> Option<ValueType> {
    ns.and_then(|n| n.attribute_type(name))
        .or_else(|| sundial_visquery::predefined_type(name))
        .or_else(|| {
            p.metadata
                .get("type")
                .and_then(|t| std::str::from_utf8(t).ok())
                .and_then(ValueType::from_name)
        })
}

/// Builds the record a visibility task writes.
pub(crate) fn record(
    namespace_id: &str,
    info: &WorkflowExecutionInfo,
    ns: Option<&Namespace>,
    version: i64,
    data: Vec<u8>,
) -> VisibilityRecord {
    let exec = info.execution.clone().unwrap_or_default();
    let close_time = nanos(&info.close_time);
    let closed = close_time.is_some();
    let start_time = nanos(&info.start_time).unwrap_or(0);
    let root = info.root_execution.clone().unwrap_or_default();
    let mut attributes = Vec::new();
    if let Some(sa) = &info.search_attributes {
        let mut names: Vec<_> = sa.indexed_fields.keys().collect();
        names.sort();
        for name in names {
            let p = &sa.indexed_fields[name];
            let Some(ty) = attribute_type(ns, name, p) else {
                continue;
            };
            match values::decode(ty, &p.data).ok() {
                Some(v) if !v.is_empty() => attributes.push((name.clone(), ty, v)),
                _ => {}
            }
        }
    }
    VisibilityRecord {
        namespace_id: namespace_id.to_string(),
        run_id: exec.run_id.clone(),
        workflow_id: exec.workflow_id.clone(),
        workflow_type: info
            .r#type
            .as_ref()
            .map(|t| t.name.clone())
            .unwrap_or_default(),
        task_queue: info.task_queue.clone(),
        status: info.status,
        start_time,
        execution_time: nanos(&info.execution_time).unwrap_or(start_time),
        close_time,
        history_length: closed.then_some(info.history_length),
        history_size_bytes: closed.then_some(info.history_size_bytes),
        execution_duration: closed.then(|| {
            info.execution_duration
                .as_ref()
                .map(|d| d.seconds * SECOND + d.nanos as i64)
                .unwrap_or(0)
        }),
        state_transition_count: closed.then_some(info.state_transition_count),
        parent_workflow_id: info
            .parent_execution
            .as_ref()
            .map(|p| p.workflow_id.clone()),
        parent_run_id: info.parent_execution.as_ref().map(|p| p.run_id.clone()),
        root_workflow_id: root.workflow_id,
        root_run_id: root.run_id,
        attributes,
        version,
        data,
    }
}

/// Checks search attributes a request or command sets, and stamps each payload with its type
/// (`type` metadata) so readers can decode it. `InvalidArgument` names the bad attribute.
pub fn validate_search_attributes(ns: &Namespace, sa: &mut SearchAttributes) -> Result<()> {
    if sa.indexed_fields.len() > 100 {
        return Err(invalid(format!(
            "number of search attributes {} exceeds limit 100",
            sa.indexed_fields.len()
        )));
    }
    let mut total = 0usize;
    for (name, p) in sa.indexed_fields.iter_mut() {
        let Some(ty) = ns.attribute_type(name) else {
            if sundial_visquery::Column::from_name(name).is_some() {
                return Err(invalid(format!(
                    "{name} attribute can't be set in SearchAttributes"
                )));
            }
            return Err(invalid(format!(
                "Namespace {} has no mapping defined for search attribute {name}",
                ns.name
            )));
        };
        if let Err(value) = values::decode(ty, &p.data) {
            return Err(invalid(format!(
                "invalid value for search attribute {name} of type {}: {value}",
                ty.name()
            )));
        }
        if p.data.len() > 2048 {
            return Err(invalid(format!(
                "search attribute {name} value size {} exceeds size limit 2048",
                p.data.len()
            )));
        }
        total += name.len() + p.data.len();
        p.metadata
            .insert("type".into(), ty.name().as_bytes().to_vec());
        p.metadata
            .entry("encoding".into())
            .or_insert_with(|| b"json/plain".to_vec());
    }
    if total > 40 * 1024 {
        return Err(invalid(format!(
            "total size of search attributes {total} exceeds size limit 40960"
        )));
    }
    Ok(())
}

impl Engine {
    /// Starts the visibility writer on the queue `rx` (whose sender the engine holds).
    pub(crate) fn spawn_visibility_writer(&self, mut rx: mpsc::UnboundedReceiver<Op>) {
        let engine = self.clone();
        tokio::spawn(async move {
            let mut ops = Vec::new();
            let mut since = (std::time::Instant::now(), 0usize);
            while rx.recv_many(&mut ops, BATCH).await > 0 {
                // Gather a little more first: every transaction is several statements (each a
                // round trip to SQLite's worker thread), so fewer, larger batches cost less.
                if ops.len() < BATCH {
                    tokio::time::sleep(GATHER).await;
                    while ops.len() < BATCH {
                        match rx.try_recv() {
                            Ok(op) => ops.push(op),
                            Err(_) => break,
                        }
                    }
                }
                since.1 += ops.len();
                engine
                    .write_visibility_batch(std::mem::take(&mut ops))
                    .await;
                // Planner statistics after many writes, or after a while with some.
                let elapsed = since.0.elapsed().as_secs();
                if (since.1 >= 10_000 && elapsed >= 60) || elapsed >= 600 {
                    if let Err(e) = engine.inner.visibility_store.maintain().await {
                        tracing::warn!(error = %e, "visibility store maintenance failed");
                    }
                    since = (std::time::Instant::now(), 0);
                }
            }
        });
    }

    /// Writes one batch, retrying (once a second) until the store takes it.
    async fn write_visibility_batch(&self, ops: Vec<Op>) {
        let mut writes = Vec::new();
        let mut acks = Vec::new();
        let mut flushes = Vec::new();
        let mut types: HashMap<String, Option<std::sync::Arc<Namespace>>> = HashMap::new();
        for op in ops {
            match op {
                Op::Task(q) if q.task.task_kind() == TaskKind::DeleteVisibility => {
                    writes.push(VisibilityWrite::Delete {
                        namespace_id: q.task.namespace_id.clone(),
                        run_id: q.task.run_id.clone(),
                    });
                    acks.push(q);
                }
                Op::Task(q) => {
                    let info =
                        match WorkflowExecutionInfo::decode(q.task.visibility_info.as_slice()) {
                            Ok(i) => i,
                            Err(e) => {
                                tracing::warn!(error = %e, "dropping undecodable visibility task");
                                self.ack(&q);
                                continue;
                            }
                        };
                    let ns_id = q.task.namespace_id.clone();
                    if !types.contains_key(&ns_id) {
                        let ns = self.inner.namespaces.by_id(&ns_id).await.ok();
                        types.insert(ns_id.clone(), ns);
                    }
                    let ns = types[&ns_id].as_deref();
                    writes.push(VisibilityWrite::Upsert(Box::new(record(
                        &ns_id,
                        &info,
                        ns,
                        q.task_id,
                        q.task.visibility_info.clone(),
                    ))));
                    acks.push(q);
                }
                Op::Flush(done) => flushes.push(done),
            }
        }
        if !writes.is_empty() {
            while let Err(e) = self.inner.visibility_store.write_visibility(&writes).await {
                tracing::warn!(error = %e, writes = writes.len(), "visibility write failed; retrying in 1s");
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
        }
        for q in &acks {
            self.ack(q);
        }
        for f in flushes {
            let _ = f.send(());
        }
    }

    pub(crate) fn queue_visibility(&self, op: Op) {
        if self.inner.visibility.send(op).is_err() {
            tracing::warn!(
                "visibility writer stopped; the write is retried from its task at restart"
            );
        }
    }

    /// Waits until every visibility write queued so far is in the store.
    pub async fn flush_visibility(&self) {
        let (tx, rx) = oneshot::channel();
        self.queue_visibility(Op::Flush(tx));
        let _ = rx.await;
    }

    pub async fn list_workflows(
        &self,
        ns: &Namespace,
        query: &str,
        page_size: i32,
        token: &[u8],
    ) -> Result<ListWorkflowExecutionsResponse> {
        // A GROUP BY is accepted and ignored here, as on Temporal.
        let (query, resolved) = compile_listing(ns, query)?;
        let query = &query;
        let limit = if page_size <= 0 || page_size > MAX_PAGE_SIZE {
            MAX_PAGE_SIZE
        } else {
            page_size
        } as usize;
        let page = self
            .inner
            .visibility_store
            .list_visibility(&visibility_query(ns, query, &resolved), limit, token)
            .await?;
        let executions = page
            .executions
            .iter()
            .map(|d| WorkflowExecutionInfo::decode(d.as_slice()).map_err(Error::from))
            .collect::<Result<Vec<_>>>()?;
        Ok(ListWorkflowExecutionsResponse {
            executions,
            next_page_token: page.next_page_token,
        })
    }

    pub async fn count_workflows(
        &self,
        ns: &Namespace,
        query: &str,
    ) -> Result<CountWorkflowExecutionsResponse> {
        let (query, resolved) = compile_listing(ns, query)?;
        let query = &query;
        let rows = self
            .inner
            .visibility_store
            .count_visibility(&visibility_query(ns, query, &resolved))
            .await?;
        let count = rows.iter().map(|(_, n)| n).sum();
        let groups = match resolved.group_by {
            None => Vec::new(),
            Some(_) => rows
                .iter()
                .map(|(status, n)| {
                    let name = status
                        .and_then(|s| sundial_visquery::STATUS_NAMES.get(s as usize))
                        .copied()
                        .unwrap_or("Unspecified");
                    AggregationGroup {
                        group_values: vec![keyword_payload(name)],
                        count: *n,
                    }
                })
                .collect(),
        };
        Ok(CountWorkflowExecutionsResponse { count, groups })
    }
}

/// The query a listing runs (system runs left out) and its compiled form. An error is the
/// user's query's, with positions in what they wrote.
fn compile_listing(ns: &Namespace, query: &str) -> Result<(String, sundial_visquery::Resolved)> {
    let listing = without_system_runs(query);
    match sundial_visquery::compile(&listing, ns) {
        Ok(resolved) => Ok((listing, resolved)),
        Err(e) => Err(query_error(
            sundial_visquery::compile(query, ns).err().unwrap_or(e),
        )),
    }
}

/// Leaves out the runs of the server's own divisions (schedules), as Temporal does, unless the
/// query asks about a division.
fn without_system_runs(query: &str) -> String {
    if query
        .to_ascii_lowercase()
        .contains(&super::schedules::NAMESPACE_DIVISION.to_ascii_lowercase())
    {
        return query.to_string();
    }
    let hide = format!("{} IS NULL", super::schedules::NAMESPACE_DIVISION);
    sundial_visquery::and_where(query, &hide)
}

fn visibility_query<'a>(
    ns: &'a Namespace,
    text: &'a str,
    resolved: &'a sundial_visquery::Resolved,
) -> sundial_store::VisibilityQuery<'a> {
    let mut custom_attributes: Vec<(String, ValueType)> = ns
        .search_attributes
        .iter()
        .map(|(n, t)| (n.clone(), *t))
        .collect();
    custom_attributes.sort_by(|a, b| a.0.cmp(&b.0));
    sundial_store::VisibilityQuery {
        namespace_id: &ns.id,
        namespace: &ns.name,
        text,
        resolved,
        custom_attributes,
    }
}

/// A Keyword value as a search attribute payload.
pub(crate) fn keyword_payload(v: &str) -> Payload {
    typed_payload("Keyword", v.into())
}

/// A search attribute payload of a predefined type: JSON with the type in its metadata.
pub(crate) fn typed_payload(ty: &str, json: serde_json::Value) -> Payload {
    Payload {
        metadata: [
            ("encoding".to_string(), b"json/plain".to_vec()),
            ("type".to_string(), ty.as_bytes().to_vec()),
        ]
        .into(),
        data: serde_json::to_vec(&json).expect("JSON encodes"),
        ..Default::default()
    }
}
