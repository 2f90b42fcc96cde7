//! Routing: a call about one workflow is served by the node that owns the workflow's history
//! shard, a poll or description of a task queue by the node that owns the queue. A tower
//! layer behind authorization reads the request's namespace and workflow id (or task token,
//! or task queue) off the wire; when another node owns it, the call goes there unchanged, to
//! that node's internal listener, and its answer comes back as is. Every other call (and any
//! call while this node is alone) is served here.
//!
//! A forwarded call carries a hop count; a node that gets a call already forwarded twice
//! serves it itself, so a call never circles while owners move. Serving a call for a shard it
//! does not own, a node answers `Unavailable`, which the SDKs retry.

use std::sync::Arc;
use std::task::{Context, Poll};

use prost::Message;
use sundial_api::methods::{self, Method};
use sundial_api::protos::temporal::api::workflowservice::v1::ExecuteMultiOperationRequest;
use sundial_api::protos::temporal::api::workflowservice::v1::execute_multi_operation_request::operation::Operation;
use sundial_history::Engine;
use tonic::Status;
use tower::{Layer, Service};

use crate::cluster::peers::{ClusterPeers, SECRET_HEADER};
use crate::metrics::client::{ClientCall, ClientMetrics, UNKNOWN_NAMESPACE, error_type};
use crate::wire::CallInfo;
use crate::wire::{field_at_path, field_bytes, field_string, first_message, message_bytes, rejoin};
use sundial_services::tally_label;

const HOPS_HEADER: &str = "sundial-hops";
const MAX_HOPS: u32 = 2;
const SERVICE: &str = "/temporal.api.workflowservice.v1.WorkflowService/";

/// The node a call must go to.
enum Route {
    Shard {
        namespace_id: String,
        workflow_id: String,
    },
    Queue {
        namespace_id: String,
        queue: String,
        kind: i32,
    },
}

#[derive(Clone)]
pub struct RoutingLayer {
    pub engine: Engine,
    pub peers: Arc<ClusterPeers>,
    /// False for a node that can have no peers (SQLite): every call is served here.
    pub clustered: bool,
    pub client_metrics: Arc<ClientMetrics>,
}

impl<S> Layer<S> for RoutingLayer {
    type Service = Routing<S>;
    fn layer(&self, inner: S) -> Routing<S> {
        Routing {
            inner,
            layer: self.clone(),
        }
    }
}

#[derive(Clone)]
pub struct Routing<S> {
    inner: S,
    layer: RoutingLayer,
}

type Req = http::Request<tonic::body::Body>;
type Res = http::Response<tonic::body::Body>;

impl<S> Service<Req> for Routing<S>
where
    S: Service<Req, Response = Res> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
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
        let layer = self.layer.clone();
        Box::pin(async move {
            let method = match methods::by_path(req.uri().path()) {
                Some(m) if routed(m) => m,
                _ => return inner.call(req).await,
            };
            // A node that can have no peers has nothing to read. (One alone in a cluster
            // still goes the long way: a node may join and take shards before this one sees
            // it, and the long way retries while owners move.)
            if !layer.clustered {
                return inner.call(req).await;
            }
            let hops = req
                .headers()
                .get(HOPS_HEADER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u32>().ok())
                .unwrap_or(0);
            let (parts, body) = req.into_parts();
            // These calls are unary: the first message is the whole request, and what
            // remains of the body is its end. Kept, so the call can be sent again.
            let (read, _end) = match first_message(body).await {
                Ok(b) => b,
                Err(status) => return Ok(status.into_http()),
            };
            // The metrics layer, first on the way in, left the message it read.
            let message = match parts.extensions.get::<CallInfo>() {
                Some(CallInfo {
                    message: Some(m), ..
                }) => Some(m.clone()),
                _ => message_bytes(&parts.headers, &read).ok(),
            };
            // The node a call was routed to serves it; the node it came to retries it, with the
            // owner looked up again, while the owner is unreachable or moving (Unavailable),
            // within the call's deadline: a node's death costs callers time, not errors. The
            // last Unavailable is answered with a tenth of the deadline left, so that the caller
            // gets it rather than a deadline of its own.
            let budget = sundial_frontend::grpc_timeout_of(&parts.headers)
                .map_or(RETRY_BUDGET, |t| t - t / 10)
                .min(RETRY_BUDGET);
            let deadline = tokio::time::Instant::now() + budget;
            let mut backoff = std::time::Duration::from_millis(50);
            // The Unavailable answer of the try before: a try again that outlasts the budget
            // (the database is away, say, and a call waits for a connection) is dropped, and
            // this answer stands.
            let mut previous: Option<Res> = None;
            loop {
                let node = match &message {
                    Some(m) if hops < MAX_HOPS => layer.owner(method, m).await,
                    _ => None, // the handler reports a malformed request
                };
                let request = http::Request::from_parts(
                    parts.clone(),
                    rejoin(read.clone(), tonic::body::Body::empty()),
                );
                let (mut local, target, via) = (inner.clone(), node.clone(), layer.clone());
                let attempt = async move {
                    Ok(match &target {
                        None => {
                            tower::ServiceExt::ready(&mut local)
                                .await?
                                .call(request)
                                .await?
                        }
                        Some((node, role)) => via.forward(node, role, hops, request).await,
                    })
                };
                let response = match previous.take() {
                    None => attempt.await?,
                    Some(previous) => match tokio::time::timeout_at(deadline, attempt).await {
                        Ok(response) => response?,
                        Err(_) => return Ok(previous),
                    },
                };
                let unavailable = response
                    .headers()
                    .get("grpc-status")
                    .is_some_and(|s| s.as_bytes() == b"14");
                if !unavailable || hops > 0 || tokio::time::Instant::now() + backoff >= deadline {
                    if unavailable {
                        tracing::debug!(method = %parts.uri.path(), hops, "answering Unavailable");
                    }
                    return Ok(response);
                }
                tracing::debug!(method = %parts.uri.path(), node = ?node, "Unavailable; trying again");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(std::time::Duration::from_millis(500));
                previous = Some(response);
            }
        })
    }
}

/// How long the node a call came to keeps trying while its owner is unreachable or moving.
const RETRY_BUDGET: std::time::Duration = std::time::Duration::from_secs(20);

/// Calls about one schedule (its id is field 2): served where its scheduler run lives.
const SCHEDULE_CALLS: &[&str] = &[
    "CreateSchedule",
    "DescribeSchedule",
    "UpdateSchedule",
    "PatchSchedule",
    "DeleteSchedule",
    "ListScheduleMatchingTimes",
];

/// Calls about one batch job (its id is field 3 of a start, 2 otherwise): served where the
/// job's run lives.
const BATCH_CALLS: &[&str] = &[
    "StartBatchOperation",
    "StopBatchOperation",
    "DescribeBatchOperation",
];

/// Whether calls of this method are about one workflow or one task queue.
fn routed(m: &Method) -> bool {
    let name = m.path.strip_prefix(SERVICE).unwrap_or_default();
    !m.workflow_id_path.is_empty()
        || m.task_token_field.is_some()
        || matches!(
            name,
            "ExecuteMultiOperation"
                | "PollWorkflowTaskQueue"
                | "PollActivityTaskQueue"
                | "DescribeTaskQueue"
                | "ShutdownWorker"
        )
        || SCHEDULE_CALLS.contains(&name)
        || BATCH_CALLS.contains(&name)
}

impl RoutingLayer {
    /// Sends a call to `node`'s internal listener as it came, plus the hop count and the
    /// cluster's secret; a node that does not answer is an `Unavailable` answer. Counted as a
    /// call from this node's frontend to `role` there.
    async fn forward(&self, node: &str, role: &str, hops: u32, request: Req) -> Res {
        let began = std::time::Instant::now();
        let namespace = request
            .extensions()
            .get::<CallInfo>()
            .map(|c| c.namespace.as_str())
            .filter(|n| !n.is_empty())
            .map_or_else(|| UNKNOWN_NAMESPACE.to_string(), tally_label);
        let method = request
            .uri()
            .path()
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_string();
        let answer = self.send(node, hops, request).await;
        let failed = tonic::Status::from_header_map(answer.headers())
            .filter(|s| s.code() != tonic::Code::Ok)
            .map(|s| error_type(s.code()));
        let call = ClientCall {
            namespace: &namespace,
            method: &method,
            from: "frontend",
            to: role,
        };
        self.client_metrics
            .record(&call, began.elapsed(), failed.as_deref());
        answer
    }

    async fn send(&self, node: &str, hops: u32, request: Req) -> Res {
        tracing::trace!(method = %request.uri().path(), node, hops, "forwarding");
        let mut channel = match self.peers.channel(node) {
            Ok(c) => c,
            Err(e) => return sundial_frontend::to_status(e).into_http(),
        };
        let (mut parts, body) = request.into_parts();
        parts.headers.insert(HOPS_HEADER, (hops + 1).into());
        parts
            .headers
            .insert(SECRET_HEADER, self.peers.secret_header());
        let request = http::Request::from_parts(parts, body);
        match tower::ServiceExt::ready(&mut channel).await {
            Ok(c) => match c.call(request).await {
                Ok(resp) => resp.map(tonic::body::Body::new),
                Err(e) => Status::unavailable(format!(
                    "node {node}, which serves this call, did not answer: {e}"
                ))
                .into_http(),
            },
            Err(e) => Status::unavailable(format!(
                "node {node}, which serves this call, is unreachable: {e}"
            ))
            .into_http(),
        }
    }

    /// The node that serves this call, when it is not this one, and the service there that
    /// does (`history` for a shard's call, `matching` for a queue's).
    async fn owner(&self, method: &Method, message: &[u8]) -> Option<(String, &'static str)> {
        let route = self.route(method, message).await.ok().flatten()?;
        match route {
            Route::Shard {
                namespace_id,
                workflow_id,
            } => {
                let shard = self.engine.shard_for(&namespace_id, &workflow_id);
                if self.engine.owns_shard(shard) {
                    return None;
                }
                Some((self.peers.shard_node(shard)?, "history"))
            }
            Route::Queue {
                namespace_id,
                queue,
                kind,
            } => Some((
                self.peers.queue_node(&namespace_id, &queue, kind)?,
                "matching",
            )),
        }
    }

    async fn route(&self, method: &Method, message: &[u8]) -> Result<Option<Route>, Status> {
        let name = method.path.strip_prefix(SERVICE).unwrap_or_default();
        // A task token names the run (and namespace) outright.
        if let Some(n) = method.task_token_field
            && let Some(bytes) = field_bytes(message, n)?
            && !bytes.is_empty()
        {
            let Ok(token) = sundial_history::state::TaskToken::decode(bytes) else {
                return Ok(None);
            };
            return Ok(Some(Route::Shard {
                namespace_id: token.namespace_id,
                workflow_id: token.workflow_id,
            }));
        }
        let Some(namespace_field) = method.namespace_field else {
            return Ok(None);
        };
        let namespace = field_string(message, namespace_field)?;
        let Ok(ns) = self.engine.namespaces().by_name(&namespace).await else {
            return Ok(None);
        };
        let namespace_id = ns.id.clone();
        let text = |bytes: Option<&[u8]>| {
            bytes
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .unwrap_or_default()
        };
        let queue = |kind: i32| -> Result<Option<Route>, Status> {
            let queue = text(field_at_path(message, method.task_queue_path)?);
            Ok((!queue.is_empty()).then(|| Route::Queue {
                namespace_id: namespace_id.clone(),
                queue,
                kind,
            }))
        };
        match name {
            "PollWorkflowTaskQueue" => return queue(1),
            "PollActivityTaskQueue" => return queue(2),
            "DescribeTaskQueue" => {
                let r = sundial_api::protos::temporal::api::workflowservice::v1::DescribeTaskQueueRequest::decode(message)
                    .map_err(|_| Status::invalid_argument("malformed request"))?;
                return queue(if r.task_queue_type == 2 { 2 } else { 1 });
            }
            "ShutdownWorker" => {
                let r = sundial_api::protos::temporal::api::workflowservice::v1::ShutdownWorkerRequest::decode(message)
                    .map_err(|_| Status::invalid_argument("malformed request"))?;
                return Ok((!r.sticky_task_queue.is_empty()).then(|| Route::Queue {
                    namespace_id: namespace_id.clone(),
                    queue: r.sticky_task_queue,
                    kind: 1,
                }));
            }
            "ExecuteMultiOperation" => {
                let r = ExecuteMultiOperationRequest::decode(message)
                    .map_err(|_| Status::invalid_argument("malformed request"))?;
                let workflow_id = r.operations.iter().find_map(|op| match &op.operation {
                    Some(Operation::StartWorkflow(s)) => Some(s.workflow_id.clone()),
                    Some(Operation::UpdateWorkflow(u)) => {
                        u.workflow_execution.as_ref().map(|e| e.workflow_id.clone())
                    }
                    None => None,
                });
                return Ok(workflow_id
                    .filter(|w| !w.is_empty())
                    .map(|workflow_id| Route::Shard {
                        namespace_id: namespace_id.clone(),
                        workflow_id,
                    }));
            }
            name if SCHEDULE_CALLS.contains(&name) => {
                let schedule_id = field_string(message, 2)?;
                return Ok((!schedule_id.is_empty()).then(|| Route::Shard {
                    namespace_id: namespace_id.clone(),
                    workflow_id: sundial_history::scheduler_workflow_id(&schedule_id),
                }));
            }
            name if BATCH_CALLS.contains(&name) => {
                let job_id =
                    field_string(message, if name == "StartBatchOperation" { 3 } else { 2 })?;
                return Ok((!job_id.is_empty()).then(|| Route::Shard {
                    namespace_id: namespace_id.clone(),
                    workflow_id: job_id,
                }));
            }
            _ => {}
        }
        let workflow_id = text(field_at_path(message, method.workflow_id_path)?);
        Ok((!workflow_id.is_empty()).then_some(Route::Shard {
            namespace_id,
            workflow_id,
        }))
    }
}
