//! The internal listener's services: this node's history and matching for the other nodes
//! (`sundial.internal.v1`), and a check that every call carries the cluster's secret.

use std::sync::Arc;
use std::task::{Context, Poll};

use sundial_history::Engine;
use sundial_internal_api::history_server::History;
use sundial_internal_api::matching_server::Matching;
use sundial_internal_api::{
    AddTaskReply, AddTaskRequest, CancelWorkerPollsReply, CancelWorkerPollsRequest, HistoryReply,
    HistoryRequest,
};
use tonic::{Request, Response, Status};
use tower::{Layer, Service};

use super::peers::SECRET_HEADER;

pub struct HistoryService {
    pub engine: Engine,
}

#[tonic::async_trait]
impl History for HistoryService {
    async fn apply(
        &self,
        request: Request<HistoryRequest>,
    ) -> Result<Response<HistoryReply>, Status> {
        Ok(Response::new(
            self.engine.apply_history(request.into_inner()).await,
        ))
    }
}

pub struct MatchingService {
    pub engine: Engine,
}

#[tonic::async_trait]
impl Matching for MatchingService {
    async fn add_task(
        &self,
        request: Request<AddTaskRequest>,
    ) -> Result<Response<AddTaskReply>, Status> {
        let taken = self
            .engine
            .add_task(request.into_inner())
            .await
            .map_err(sundial_frontend::to_status)?;
        Ok(Response::new(AddTaskReply {
            sticky_unavailable: !taken,
        }))
    }

    async fn cancel_worker_polls(
        &self,
        request: Request<CancelWorkerPollsRequest>,
    ) -> Result<Response<CancelWorkerPollsReply>, Status> {
        let cancelled = self.engine.cancel_worker_polls_here(&request.into_inner());
        Ok(Response::new(CancelWorkerPollsReply {
            cancelled: cancelled as u32,
        }))
    }
}

/// Refuses calls that do not carry the cluster's secret: only a process that can read the
/// cluster's database calls a node's internal listener. Health checks pass.
#[derive(Clone)]
pub struct SecretLayer {
    pub secret: Arc<str>,
}

impl<S> Layer<S> for SecretLayer {
    type Service = SecretCheck<S>;
    fn layer(&self, inner: S) -> SecretCheck<S> {
        SecretCheck {
            inner,
            secret: self.secret.clone(),
        }
    }
}

#[derive(Clone)]
pub struct SecretCheck<S> {
    inner: S,
    secret: Arc<str>,
}

type Req = http::Request<tonic::body::Body>;
type Res = http::Response<tonic::body::Body>;

impl<S> Service<Req> for SecretCheck<S>
where
    S: Service<Req, Response = Res> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Res;
    type Error = S::Error;
    type Future = std::pin::Pin<Box<dyn Future<Output = Result<Res, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let presented = req
            .headers()
            .get(SECRET_HEADER)
            .map(|v| v.as_bytes() == self.secret.as_bytes())
            .unwrap_or(false);
        let health = req.uri().path().starts_with("/grpc.health.v1.Health/");
        Box::pin(async move {
            if presented || health {
                inner.call(req).await
            } else {
                Ok(Status::unauthenticated(
                    "this is a Sundial node's internal listener: only nodes of its cluster may call it",
                )
                .into_http())
            }
        })
    }
}
