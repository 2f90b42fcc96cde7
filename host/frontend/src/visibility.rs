//! WorkflowService's visibility listings: List, Scan, the deprecated ListOpen and ListClosed
//! (turned into queries), Count and the server's search attributes.

use sundial_api::protos::temporal::api::workflowservice::v1::*;
use tonic::{Request, Status};

use super::workflow::WorkflowHandler;
use super::{Res, ok, to_status};

impl WorkflowHandler {
    /// One page of a visibility listing: what List, Scan, ListOpen and ListClosed share.
    async fn list(
        &self,
        namespace: &str,
        query: &str,
        page_size: i32,
        token: &[u8],
    ) -> Result<ListWorkflowExecutionsResponse, Status> {
        self.fe
            .workflows
            .list_workflows(namespace, query, page_size, token)
            .await
            .map_err(to_status)
    }

    pub(super) async fn visibility_list_workflow_executions(
        &self,
        r: Request<ListWorkflowExecutionsRequest>,
    ) -> Res<ListWorkflowExecutionsResponse> {
        let r = r.into_inner();
        ok(self
            .list(&r.namespace, &r.query, r.page_size, &r.next_page_token)
            .await?)
    }

    pub(super) async fn visibility_list_archived_workflow_executions(
        &self,
        r: Request<ListArchivedWorkflowExecutionsRequest>,
    ) -> Res<ListArchivedWorkflowExecutionsResponse> {
        ok(self
            .fe
            .workflows
            .list_archived(r.into_inner())
            .await
            .map_err(to_status)?)
    }

    /// Served by List, as on Temporal (Scan is deprecated there).
    pub(super) async fn visibility_scan_workflow_executions(
        &self,
        r: Request<ScanWorkflowExecutionsRequest>,
    ) -> Res<ScanWorkflowExecutionsResponse> {
        let r = r.into_inner();
        let page = self
            .list(&r.namespace, &r.query, r.page_size, &r.next_page_token)
            .await?;
        ok(ScanWorkflowExecutionsResponse {
            executions: page.executions,
            next_page_token: page.next_page_token,
        })
    }

    pub(super) async fn visibility_list_open_workflow_executions(
        &self,
        r: Request<ListOpenWorkflowExecutionsRequest>,
    ) -> Res<ListOpenWorkflowExecutionsResponse> {
        let r = r.into_inner();
        let query = open_query(&r)?;
        let page = self
            .list(
                &r.namespace,
                &query,
                r.maximum_page_size,
                &r.next_page_token,
            )
            .await?;
        ok(ListOpenWorkflowExecutionsResponse {
            executions: page.executions,
            next_page_token: page.next_page_token,
        })
    }

    pub(super) async fn visibility_list_closed_workflow_executions(
        &self,
        r: Request<ListClosedWorkflowExecutionsRequest>,
    ) -> Res<ListClosedWorkflowExecutionsResponse> {
        let r = r.into_inner();
        let query = closed_query(&r)?;
        let page = self
            .list(
                &r.namespace,
                &query,
                r.maximum_page_size,
                &r.next_page_token,
            )
            .await?;
        ok(ListClosedWorkflowExecutionsResponse {
            executions: page.executions,
            next_page_token: page.next_page_token,
        })
    }

    pub(super) async fn visibility_count_workflow_executions(
        &self,
        r: Request<CountWorkflowExecutionsRequest>,
    ) -> Res<CountWorkflowExecutionsResponse> {
        let r = r.into_inner();
        ok(self
            .fe
            .workflows
            .count_workflows(&r.namespace, &r.query)
            .await
            .map_err(to_status)?)
    }

    /// The system and predefined attributes (custom ones are per namespace: OperatorService
    /// ListSearchAttributes).
    pub(super) async fn visibility_get_search_attributes(
        &self,
        _r: Request<GetSearchAttributesRequest>,
    ) -> Res<GetSearchAttributesResponse> {
        ok(GetSearchAttributesResponse {
            keys: super::operator::server_attributes(),
        })
    }
}

/// A quoted string literal of the query language.
fn quote(v: &str) -> String {
    format!("'{}'", v.replace('\'', "''"))
}

fn time_range(
    column: &str,
    f: &Option<sundial_api::protos::temporal::api::filter::v1::StartTimeFilter>,
) -> Result<Option<String>, Status> {
    let Some(f) = f.as_ref() else {
        return Ok(None);
    };
    let earliest = nanos(&f.earliest_time).unwrap_or(0);
    let latest = nanos(&f.latest_time).unwrap_or(i64::MAX);
    if earliest > latest {
        return Err(Status::invalid_argument(
            "EarliestTime in StartTimeFilter should not be larger than LatestTime.",
        ));
    }
    Ok(Some(format!("{column} BETWEEN {earliest} AND {latest}")))
}

/// The query ListOpenWorkflowExecutions stands for.
fn open_query(
    r: &sundial_api::protos::temporal::api::workflowservice::v1::ListOpenWorkflowExecutionsRequest,
) -> Result<String, Status> {
    use sundial_api::protos::temporal::api::workflowservice::v1::list_open_workflow_executions_request::Filters;
    let mut parts = vec!["ExecutionStatus = 'Running'".to_string()];
    parts.extend(time_range("StartTime", &r.start_time_filter)?);
    match &r.filters {
        Some(Filters::ExecutionFilter(e)) => {
            parts.push(format!("WorkflowId = {}", quote(&e.workflow_id)))
        }
        Some(Filters::TypeFilter(t)) => parts.push(format!("WorkflowType = {}", quote(&t.name))),
        None => {}
    }
    Ok(parts.join(" AND "))
}

/// The query ListClosedWorkflowExecutions stands for: its time filter is on CloseTime, and
/// of its other filters only one applies (status, else type, else execution), as on Temporal.
fn closed_query(
    r: &sundial_api::protos::temporal::api::workflowservice::v1::ListClosedWorkflowExecutionsRequest,
) -> Result<String, Status> {
    use sundial_api::protos::temporal::api::workflowservice::v1::list_closed_workflow_executions_request::Filters;
    let mut parts = vec!["ExecutionStatus != 'Running'".to_string()];
    parts.extend(time_range("CloseTime", &r.start_time_filter)?);
    match &r.filters {
        Some(Filters::ExecutionFilter(e)) => {
            parts.push(format!("WorkflowId = {}", quote(&e.workflow_id)))
        }
        Some(Filters::TypeFilter(t)) => parts.push(format!("WorkflowType = {}", quote(&t.name))),
        Some(Filters::StatusFilter(s)) => {
            let name = (s.status >= 2)
                .then(|| sundial_visquery::STATUS_NAMES.get(s.status as usize))
                .flatten()
                .ok_or_else(|| {
                    Status::invalid_argument(
                        "StatusFilter must be specified and must be not Running.",
                    )
                })?;
            parts.push(format!("ExecutionStatus = '{name}'"));
        }
        None => {}
    }
    Ok(parts.join(" AND "))
}

/// Unix nanos of a timestamp, if set and after the epoch.
fn nanos(t: &Option<prost_types::Timestamp>) -> Option<i64> {
    t.as_ref()
        .map(|t| t.seconds * 1_000_000_000 + t.nanos as i64)
        .filter(|n| *n > 0)
}
