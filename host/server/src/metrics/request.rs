//! The frontend's request metrics, named, labelled and bucketed as Temporal's (tally) emits
//! them, so its dashboards and alerts read Sundial unchanged: `service_requests`,
//! `service_errors` (unexpected errors only), `service_error_with_type`,
//! `service_errors_resource_exhausted` and `service_latency` (seconds), by `operation` (the
//! bare method name), `namespace` (`_unknown_` for calls without one) and `service_name`.
//!
//! A layer in front of the others, so calls refused by authorization or answered by another
//! node count too, once, where they arrived. It also logs, once, every call that fails with an
//! internal error, with its operation, namespace and workflow id.

use std::task::{Context, Poll};
use std::time::Instant;

use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry};
use prost::Message;
use sundial_api::methods;
use sundial_api::protos::google::rpc::Status as RpcStatus;
use sundial_api::protos::temporal::api::enums::v1::{
    ResourceExhaustedCause, ResourceExhaustedScope,
};
use sundial_api::protos::temporal::api::errordetails::v1::ResourceExhaustedFailure;
use sundial_frontend::{Answered, short_enum_name};

use crate::metrics::action::ActionMetrics;
use sundial_services::{TIMER_BUCKETS, tally_label};
use tonic::Code;
use tower::{Layer, Service};

use crate::wire::{
    CallInfo, field_at_path, field_string, first_message, message_bytes, rejoin, uncompressed,
};

/// The namespace label of a call that names none.
const UNKNOWN_NAMESPACE: &str = "_unknown_";

const LABELS: [&str; 3] = ["operation", "namespace", "service_name"];

pub struct RequestMetrics {
    requests: IntCounterVec,
    errors: IntCounterVec,
    errors_by_type: IntCounterVec,
    resource_exhausted: IntCounterVec,
    latency: HistogramVec,
    actions: ActionMetrics,
}

impl RequestMetrics {
    pub fn register(registry: &Registry) -> prometheus::Result<RequestMetrics> {
        let counter = |name: &str, help: &str, extra: &[&str]| {
            let labels: Vec<&str> = LABELS.iter().chain(extra).copied().collect();
            let c = IntCounterVec::new(Opts::new(name, help), &labels)?;
            registry.register(Box::new(c.clone()))?;
            Ok::<_, prometheus::Error>(c)
        };
        let latency = HistogramVec::new(
            HistogramOpts::new("service_latency", "service_latency histogram")
                .buckets(TIMER_BUCKETS.to_vec()),
            &LABELS,
        )?;
        registry.register(Box::new(latency.clone()))?;
        Ok(RequestMetrics {
            requests: counter(
                "service_requests",
                "The number of RPC requests received by the service.",
                &[],
            )?,
            errors: counter(
                "service_errors",
                "The number of unexpected service request errors.",
                &[],
            )?,
            errors_by_type: counter(
                "service_error_with_type",
                "The number of all service request errors by error type.",
                &["error_type"],
            )?,
            resource_exhausted: counter(
                "service_errors_resource_exhausted",
                "service_errors_resource_exhausted counter",
                &["resource_exhausted_cause", "resource_exhausted_scope"],
            )?,
            latency,
            actions: ActionMetrics::register(registry)?,
        })
    }

    /// Records one answered call.
    fn record(
        &self,
        call: &Call,
        answer: &http::HeaderMap,
        answered: Option<Answered>,
        took: std::time::Duration,
    ) {
        let labels = [call.operation.as_str(), &call.namespace, call.service];
        self.requests.with_label_values(&labels).inc();
        self.latency
            .with_label_values(&labels)
            .observe(took.as_secs_f64());
        let status = tonic::Status::from_header_map(answer);
        let Some(status) = status.filter(|s| s.code() != Code::Ok) else {
            self.actions.succeeded(
                &call.operation,
                &call.namespace,
                call.message.as_deref(),
                answered,
            );
            return;
        };
        let details = RpcStatus::decode(status.details()).unwrap_or_default();
        let detail_type = details
            .details
            .first()
            .and_then(|d| d.type_url.rsplit('.').next())
            .and_then(|name| name.strip_suffix("Failure"))
            .map(str::to_string);
        let error_type = format!(
            "serviceerror_{}",
            detail_type.unwrap_or_else(|| code_type(status.code()).to_string())
        );
        let typed = [labels[0], labels[1], labels[2], &error_type];
        self.errors_by_type.with_label_values(&typed).inc();
        let mut namespace_scoped = false;
        if status.code() == Code::ResourceExhausted {
            let failure = details
                .details
                .iter()
                .find(|d| d.type_url.ends_with(".ResourceExhaustedFailure"))
                .and_then(|d| ResourceExhaustedFailure::decode(d.value.as_slice()).ok())
                .unwrap_or_default();
            let cause = ResourceExhaustedCause::try_from(failure.cause).unwrap_or_default();
            let scope = ResourceExhaustedScope::try_from(failure.scope).unwrap_or_default();
            namespace_scoped = scope == ResourceExhaustedScope::Namespace;
            let (cause, scope) = (
                short_enum_name(cause.as_str_name()),
                short_enum_name(scope.as_str_name()),
            );
            let exhausted = [labels[0], labels[1], labels[2], &cause, &scope];
            self.resource_exhausted.with_label_values(&exhausted).inc();
        }
        if !expected(status.code()) && !namespace_scoped {
            self.errors.with_label_values(&labels).inc();
        }
        if matches!(
            status.code(),
            Code::Internal | Code::Unknown | Code::DataLoss
        ) {
            tracing::error!(
                operation = %call.operation,
                namespace = %call.namespace,
                workflow_id = %call.workflow_id(),
                grpc_code = ?status.code(),
                error = %status.message(),
                "request failed"
            );
        }
    }
}

/// Errors a caller's request explains (Temporal's list): not counted in `service_errors`.
fn expected(code: Code) -> bool {
    matches!(
        code,
        Code::Cancelled
            | Code::InvalidArgument
            | Code::NotFound
            | Code::AlreadyExists
            | Code::PermissionDenied
            | Code::FailedPrecondition
            | Code::OutOfRange
            | Code::Unauthenticated
    )
}

/// The Go error type Temporal's SDK-side `serviceerror` package gives a status without details.
pub(crate) fn code_type(code: Code) -> &'static str {
    match code {
        Code::Cancelled => "Canceled",
        Code::InvalidArgument => "InvalidArgument",
        Code::NotFound => "NotFound",
        Code::AlreadyExists => "AlreadyExists",
        Code::PermissionDenied => "PermissionDenied",
        Code::ResourceExhausted => "ResourceExhausted",
        Code::FailedPrecondition => "FailedPrecondition",
        Code::Aborted => "Aborted",
        Code::Unimplemented => "Unimplemented",
        Code::Unavailable => "Unavailable",
        Code::DeadlineExceeded => "DeadlineExceeded",
        Code::DataLoss => "DataLoss",
        _ => "Internal",
    }
}

/// What the labels of a call say, and what its log line would.
struct Call {
    operation: String,
    namespace: String,
    service: &'static str,
    /// The request message and where its workflow id is, read only for a log line.
    message: Option<bytes::Bytes>,
    workflow_id_path: &'static [i32],
}

impl Call {
    fn workflow_id(&self) -> String {
        self.message
            .as_ref()
            .and_then(|m| field_at_path(m, self.workflow_id_path).ok().flatten())
            .map(|id| String::from_utf8_lossy(id).into_owned())
            .unwrap_or_default()
    }
}

#[derive(Clone)]
pub struct RequestMetricsLayer {
    pub metrics: std::sync::Arc<RequestMetrics>,
}

impl<S> Layer<S> for RequestMetricsLayer {
    type Service = Measured<S>;
    fn layer(&self, inner: S) -> Measured<S> {
        Measured {
            inner,
            metrics: self.metrics.clone(),
        }
    }
}

#[derive(Clone)]
pub struct Measured<S> {
    inner: S,
    metrics: std::sync::Arc<RequestMetrics>,
}

type Req = http::Request<tonic::body::Body>;
type Res = http::Response<tonic::body::Body>;

impl<S> Service<Req> for Measured<S>
where
    S: Service<Req, Response = Res> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send,
{
    type Response = Res;
    type Error = S::Error;
    type Future = std::pin::Pin<Box<dyn Future<Output = Result<Res, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        let path = req.uri().path().to_string();
        // Health checks are not the API's calls.
        let method = methods::by_path(&path);
        let Some(method) = method.filter(|_| !path.starts_with("/grpc.health")) else {
            return Box::pin(self.inner.call(req));
        };
        // WorkflowService and OperatorService are both the frontend's, as on Temporal.
        let service = "frontend";
        // The ready service is taken; a clone stays for the next call.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let metrics = self.metrics.clone();
        Box::pin(async move {
            let began = Instant::now();
            let operation = path.rsplit('/').next().unwrap_or_default().to_string();
            let (mut parts, body) = req.into_parts();
            let (read, rest) = match first_message(body).await {
                Ok(b) => b,
                Err(status) => {
                    let answer = status.into_http();
                    let call = Call {
                        operation,
                        namespace: UNKNOWN_NAMESPACE.into(),
                        service,
                        message: None,
                        workflow_id_path: &[],
                    };
                    metrics.record(&call, answer.headers(), None, began.elapsed());
                    return Ok(answer);
                }
            };
            let message = message_bytes(&parts.headers, &read).ok();
            // Passed on decompressed: the layers after this one and the service then read
            // it without inflating it again (each inflate allocates tens of kilobytes).
            let read = match &message {
                Some(m) => uncompressed(&mut parts.headers, read, m),
                None => read,
            };
            let named = method
                .namespace_field
                .and_then(|field| field_string(message.as_ref()?, field).ok())
                .unwrap_or_default();
            let namespace = if named.is_empty() {
                UNKNOWN_NAMESPACE.into()
            } else {
                tally_label(&named)
            };
            let mut req = http::Request::from_parts(parts, rejoin(read, rest));
            req.extensions_mut().insert(CallInfo {
                method,
                namespace: named,
                message: message.clone(),
            });
            let answer = inner.call(req).await?;
            let call = Call {
                operation,
                namespace,
                service,
                message,
                workflow_id_path: method.workflow_id_path,
            };
            let answered = answer.extensions().get::<Answered>().copied();
            metrics.record(&call, answer.headers(), answered, began.elapsed());
            Ok(answer)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_values_as_tally_writes_them() {
        assert_eq!(
            short_enum_name("RESOURCE_EXHAUSTED_CAUSE_RPS_LIMIT"),
            "RpsLimit"
        );
        assert_eq!(
            short_enum_name("RESOURCE_EXHAUSTED_CAUSE_CONCURRENT_LIMIT"),
            "ConcurrentLimit"
        );
        assert_eq!(
            short_enum_name("RESOURCE_EXHAUSTED_SCOPE_NAMESPACE"),
            "Namespace"
        );
        assert_eq!(tally_label("my-ns.prod"), "my_ns_prod");
    }

    #[test]
    fn a_failed_call_names_its_workflow() {
        use sundial_api::protos::temporal::api::common::v1::WorkflowExecution;
        use sundial_api::protos::temporal::api::workflowservice::v1::DescribeWorkflowExecutionRequest;
        let method = methods::by_path(
            "/temporal.api.workflowservice.v1.WorkflowService/DescribeWorkflowExecution",
        )
        .unwrap();
        let request = DescribeWorkflowExecutionRequest {
            namespace: "default".into(),
            execution: Some(WorkflowExecution {
                workflow_id: "order-7".into(),
                run_id: String::new(),
            }),
        };
        let call = Call {
            operation: "DescribeWorkflowExecution".into(),
            namespace: "default".into(),
            service: "frontend",
            message: Some(request.encode_to_vec().into()),
            workflow_id_path: method.workflow_id_path,
        };
        assert_eq!(call.workflow_id(), "order-7");
    }

    #[test]
    fn an_answer_is_counted_by_its_status_and_details() {
        let registry = Registry::new();
        let m = RequestMetrics::register(&registry).unwrap();
        let call = Call {
            operation: "DescribeWorkflowExecution".into(),
            namespace: "default".into(),
            service: "frontend",
            message: None,
            workflow_id_path: &[],
        };
        let answer = |status: tonic::Status| status.into_http::<tonic::body::Body>();
        let took = std::time::Duration::from_millis(3);
        m.record(
            &call,
            answer(tonic::Status::not_found("gone")).headers(),
            None,
            took,
        );
        m.record(
            &call,
            answer(tonic::Status::internal("boom")).headers(),
            None,
            took,
        );
        let mut ok = http::HeaderMap::new();
        ok.insert("content-type", "application/grpc".parse().unwrap());
        m.record(&call, &ok, None, took);
        let labels = ["DescribeWorkflowExecution", "default", "frontend"];
        assert_eq!(m.requests.with_label_values(&labels).get(), 3);
        assert_eq!(m.errors.with_label_values(&labels).get(), 1);
        let typed = |t: &str| {
            m.errors_by_type
                .with_label_values(&[labels[0], labels[1], labels[2], t])
                .get()
        };
        assert_eq!(
            (
                typed("serviceerror_NotFound"),
                typed("serviceerror_Internal")
            ),
            (1, 1)
        );
        assert_eq!(m.latency.with_label_values(&labels).get_sample_count(), 3);
    }
}
