//! Archiving closed runs. A run whose namespace archives gets an `ArchiveRun` task at close
//! instead of `DeleteRun`. The task fires after a random part of the archive delay and copies
//! the run's history and visibility record to the namespace's URIs through the cluster's
//! archivers. Once both copies are made, it schedules `DeleteRun` at close + retention.
//!
//! A failed attempt is tried again with growing backoff, forever (`tasks.rs`), so a run is
//! never deleted unarchived. The targets are computed again at each attempt: a namespace that
//! turns archival off lets its pending runs go to deletion.

use std::collections::HashMap;
use std::sync::Arc;

use prost::Message;
use sundial_archival::{
    ArchiveHistoryRequest, Archiver, GetHistoryRequest, HistoryPage, HistorySource,
    QueryVisibilityRequest, Settings, Uri, VisibilityRecord,
};
use temporalio_protos::temporal::api::{
    common::v1::WorkflowExecution,
    history::v1::History,
    workflowservice::v1::{
        GetWorkflowExecutionHistoryResponse, ListArchivedWorkflowExecutionsResponse,
    },
};

use super::{Engine, execution_info};
use crate::error::{Error, Result};
use crate::namespace::Namespace;
use crate::state::{MutableState, TaskKind};
use crate::time::dur_nanos;
use sundial_store::RunKey;

/// Batches of events per page read while archiving.
const BATCHES_PER_PAGE: usize = 64;

impl Engine {
    /// Whether runs of the namespace are archived when they close.
    pub(crate) fn archives(&self, namespace_id: &str) -> bool {
        let settings = self.namespaces().archival();
        let (history, visibility) = archive_targets(&settings, self, namespace_id);
        history.is_some() || visibility.is_some()
    }

    /// How long after its close a run is archived: a random part of the configured delay.
    pub(crate) fn archive_delay(&self) -> i64 {
        let max = self.archive_delay_limit().as_nanos() as u64;
        if max == 0 {
            return 0;
        }
        (uuid::Uuid::new_v4().as_u128() as u64 % max) as i64
    }

    /// How long after its close a run of the namespace is deleted: its retention, unless
    /// overridden (for tests).
    pub(crate) fn retention(&self, namespace_id: &str) -> i64 {
        match self.retention_override() {
            Some(d) => d.as_nanos() as i64,
            None => self.namespaces().cached_retention(namespace_id),
        }
    }

    fn count_attempt(&self, kind: &str, done: &Result<()>, close_time: i64) {
        let lag = crate::time::now_nanos() - close_time;
        self.inner.archive_metrics.attempt(kind, done.is_ok(), lag);
    }

    /// Archives a closed run and schedules its deletion at retention.
    pub(super) async fn archive_run(&self, key: &RunKey) -> Result<()> {
        let ms = match self.snapshot(key).await {
            Ok(ms) => ms,
            Err(Error::NotFound(_)) => return Ok(()),
            Err(e) => return Err(e),
        };
        if ms.close_time == 0 {
            return Ok(()); // running again (reset): it archives when it closes
        }
        let settings = self.namespaces().archival();
        let (history, visibility) = archive_targets(&settings, self, &key.namespace_id);
        let namespace = self
            .namespaces()
            .cached_by_id(&key.namespace_id)
            .map(|n| n.name.clone())
            .unwrap_or_default();
        let shard_id = self.shard_of(&key.namespace_id, &key.workflow_id);
        if let Some(uri) = &history {
            let request = ArchiveHistoryRequest {
                shard_id,
                namespace_id: key.namespace_id.clone(),
                namespace: namespace.clone(),
                workflow_id: key.workflow_id.clone(),
                run_id: key.run_id.clone(),
                next_event_id: ms.close_event_id + 1,
                close_failover_version: 0,
            };
            let source = Arc::new(StoreHistory {
                engine: self.clone(),
                shard_id,
                key: key.clone(),
            });
            let done = async {
                let (archiver, u) = archiver_of(&settings, uri)?;
                let archived = archiver.archive_history(&u, &request, source).await;
                archived.map_err(failed(uri))
            }
            .await;
            self.count_attempt("history", &done, ms.close_time);
            done?;
        }
        if let Some(uri) = &visibility {
            let record = visibility_record(&ms, &namespace, history.as_deref());
            let done = async {
                let (archiver, u) = archiver_of(&settings, uri)?;
                let archived = archiver.archive_visibility(&u, &record).await;
                archived.map_err(failed(uri))
            }
            .await;
            self.count_attempt("visibility", &done, ms.close_time);
            done?;
        }
        tracing::debug!(workflow_id = %key.workflow_id, run_id = %key.run_id, "run archived");
        let mut guard = self.lock(key).await?;
        let mut txn = self.begin(&guard);
        let retention = self.retention(&key.namespace_id);
        txn.task(TaskKind::DeleteRun, ms.close_time + retention, 0);
        self.commit(&mut guard, txn).await
    }
}

/// Largest page of archived runs a listing returns (Temporal's
/// `frontend.visibilityArchivalQueryMaxPageSize`).
const MAX_ARCHIVED_PAGE: i32 = 10_000;
/// Events per page of an archived history when the request names no size.
const HISTORY_PAGE: i32 = 256;

impl Engine {
    /// A page of a run's history read from the archive (the run is gone from the store).
    pub(crate) async fn archived_history(
        &self,
        ns: &Namespace,
        execution: &WorkflowExecution,
        page_size: i32,
        token: Vec<u8>,
    ) -> Result<GetWorkflowExecutionHistoryResponse> {
        let (uri, _) = ns.archival_uris_set();
        let Some(uri) = uri else {
            // Never archived: whether the run ever existed cannot be told.
            return Err(Error::InvalidArgument(
                "Requested workflow history not found, may have passed retention period.".into(),
            ));
        };
        let settings = self.namespaces().archival();
        let (archiver, parsed) = archiver_of(&settings, uri).map_err(|_| {
            Error::InvalidArgument(format!("no archiver serves the history URI {uri}"))
        })?;
        let page = archiver
            .get_history(
                &parsed,
                &GetHistoryRequest {
                    namespace_id: ns.id.clone(),
                    workflow_id: execution.workflow_id.clone(),
                    run_id: execution.run_id.clone(),
                    close_failover_version: None,
                    page_size: if page_size <= 0 {
                        HISTORY_PAGE
                    } else {
                        page_size
                    } as u32,
                    next_page_token: token,
                },
            )
            .await
            .map_err(read_error)?;
        Ok(GetWorkflowExecutionHistoryResponse {
            history: Some(History {
                events: page.batches.into_iter().flat_map(|b| b.events).collect(),
            }),
            next_page_token: page.next_page_token,
            archived: true,
            ..Default::default()
        })
    }

    /// A page of archived runs matching `query`, in the archiver's syntax.
    pub async fn list_archived(
        &self,
        ns: &Namespace,
        query: &str,
        page_size: i32,
        token: Vec<u8>,
    ) -> Result<ListArchivedWorkflowExecutionsResponse> {
        let settings = self.namespaces().archival();
        let invalid = |m: &str| Err(Error::InvalidArgument(m.to_string()));
        if !settings.visibility.enabled {
            return invalid("Cluster is not configured for visibility archival.");
        }
        if !settings.visibility.read {
            return invalid("Cluster is not configured for reading archived visibility records.");
        }
        let Some(uri) = ns.archival_uris().1 else {
            return invalid("Namespace is not configured for visibility archival.");
        };
        let page_size = match page_size {
            p if p <= 0 => MAX_ARCHIVED_PAGE,
            p if p > MAX_ARCHIVED_PAGE => {
                return invalid(&format!(
                    "PageSize is larger than allowed {MAX_ARCHIVED_PAGE}."
                ));
            }
            p => p,
        };
        let (archiver, parsed) = archiver_of(&settings, uri)?;
        let request = QueryVisibilityRequest {
            namespace_id: ns.id.clone(),
            page_size: page_size as u32,
            next_page_token: token,
            query: query.to_string(),
            search_attribute_types: ns
                .search_attributes
                .iter()
                .map(|(name, ty)| (name.clone(), ty.name().to_string()))
                .collect(),
        };
        let page = archiver
            .query_visibility(&parsed, &request)
            .await
            .map_err(read_error)?;
        Ok(ListArchivedWorkflowExecutionsResponse {
            executions: page
                .records
                .iter()
                .map(|r| r.execution_info(&request.search_attribute_types))
                .collect(),
            next_page_token: page.next_page_token,
        })
    }
}

/// The URIs a namespace's runs are archived to now (history, visibility): where both the
/// cluster and the namespace have archival of that kind enabled.
fn archive_targets(
    settings: &Settings,
    engine: &Engine,
    namespace_id: &str,
) -> (Option<String>, Option<String>) {
    let Some(ns) = engine.namespaces().cached_by_id(namespace_id) else {
        return (None, None);
    };
    let (history, visibility) = ns.archival_uris();
    (
        history
            .filter(|_| settings.history.enabled)
            .map(str::to_string),
        visibility
            .filter(|_| settings.visibility.enabled)
            .map(str::to_string),
    )
}

/// An archiver's answer to a read, as the API returns it.
fn read_error(e: sundial_archival::Error) -> Error {
    match e {
        sundial_archival::Error::InvalidArgument(m) => Error::InvalidArgument(m),
        sundial_archival::Error::NotFound(m) => Error::NotFound(m),
        sundial_archival::Error::Retryable(m) => Error::Unavailable(m),
        sundial_archival::Error::NonRetryable(m) => Error::Internal(m),
    }
}

/// An archiver's refusal, as an error the task retries.
fn failed(uri: &str) -> impl Fn(sundial_archival::Error) -> Error + '_ {
    move |e| Error::Unavailable(format!("archiving to {uri}: {e}"))
}

/// The archiver of a URI's scheme, and the URI parsed.
fn archiver_of(settings: &Settings, uri: &str) -> Result<(Arc<dyn Archiver>, Uri)> {
    let parsed = Uri::parse(uri).map_err(failed(uri))?;
    let archiver = settings.provider.archiver(&parsed).map_err(failed(uri))?;
    Ok((archiver.clone(), parsed))
}

/// The archived form of a closed run's visibility record.
fn visibility_record(
    ms: &MutableState,
    namespace: &str,
    history_uri: Option<&str>,
) -> VisibilityRecord {
    let info = execution_info(ms);
    let exec = info.execution.clone().unwrap_or_default();
    let search_attributes: HashMap<String, String> = info
        .search_attributes
        .iter()
        .flat_map(|sa| sa.indexed_fields.iter())
        .map(|(name, p)| (name.clone(), String::from_utf8_lossy(&p.data).into_owned()))
        .collect();
    VisibilityRecord {
        namespace_id: ms.namespace_id.clone(),
        namespace: namespace.to_string(),
        workflow_id: exec.workflow_id,
        run_id: exec.run_id,
        workflow_type_name: info.r#type.map(|t| t.name).unwrap_or_default(),
        start_time: ms.start_time,
        execution_time: ms.execution_time,
        close_time: ms.close_time,
        status: info.status,
        history_length: info.history_length,
        memo: info.memo,
        search_attributes,
        history_archival_uri: history_uri.unwrap_or_default().to_string(),
        execution_duration: dur_nanos(&info.execution_duration),
    }
}

/// The history of the run being archived, as the store holds it, for its archiver to read.
/// Only that run: an archiver (a plugin, maybe) asking for another is refused.
struct StoreHistory {
    engine: Engine,
    shard_id: i32,
    key: RunKey,
}

#[async_trait::async_trait]
impl HistorySource for StoreHistory {
    async fn read_history(
        &self,
        namespace_id: &str,
        workflow_id: &str,
        run_id: &str,
        _page_size: u32,
        token: &[u8],
    ) -> sundial_archival::Result<HistoryPage> {
        let bad = |m: String| sundial_archival::Error::InvalidArgument(m);
        let from: i64 = if token.is_empty() {
            1
        } else {
            std::str::from_utf8(token)
                .ok()
                .and_then(|t| t.parse().ok())
                .ok_or_else(|| bad("next page token is corrupted".into()))?
        };
        let key = &self.key;
        if (namespace_id, workflow_id, run_id)
            != (&*key.namespace_id, &*key.workflow_id, &*key.run_id)
        {
            return Err(bad(format!(
                "only the run being archived can be read ({}/{}), not {workflow_id}/{run_id}",
                key.workflow_id, key.run_id
            )));
        }
        let rows = self
            .engine
            .inner
            .store
            .read_history(self.shard_id, key, from, BATCHES_PER_PAGE as i64)
            .await
            .map_err(|e| sundial_archival::Error::Retryable(e.to_string()))?;
        if rows.is_empty() && from == 1 {
            return Err(sundial_archival::Error::NotFound(format!(
                "no history of run {run_id}"
            )));
        }
        let mut page = HistoryPage::default();
        for row in &rows {
            let batch = History::decode(row.data.as_slice())
                .map_err(|e| sundial_archival::Error::NonRetryable(e.to_string()))?;
            page.batches.push(batch);
        }
        if rows.len() == BATCHES_PER_PAGE
            && let Some(last) = rows.last()
        {
            page.next_page_token = (last.last_event_id + 1).to_string().into_bytes();
        }
        Ok(page)
    }
}
