//! WorkflowService's visibility listings: List, Scan, the deprecated ListOpen and ListClosed
//! (turned into queries), Count and the server's search attributes.

use sundial_api::protos::temporal::api::workflowservice::v1::*;
use tonic::{Request, Response, Status};

use super::to_status;
use super::workflow::WorkflowHandler;

type Res<T> = Result<Response<T>, Status>;

fn ok<T>(v: T) -> Res<T> {
    Ok(Response::new(v))
}

impl WorkflowHandler {
    /// One page of a visibility listing: what List, Scan, ListOpen and ListClosed share.
    async fn list(
        &self,
        namespace: &str,
        query: &str,
        page_size: i32,
        token: &[u8],
    ) -> Result<ListWorkflowExecutionsResponse, Status> {
        let ns = self.fe.namespace(namespace).await?;
        self.fe
            .engine
            .list_workflows(&ns, query, page_size, token)
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
        let query = sundial_engine::open_query(&r).map_err(to_status)?;
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
        let query = sundial_engine::closed_query(&r).map_err(to_status)?;
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
        let ns = self.fe.namespace(&r.namespace).await?;
        ok(self
            .fe
            .engine
            .count_workflows(&ns, &r.query)
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
