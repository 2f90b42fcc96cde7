//! Calls between nodes, counted as Temporal's services count their calls to each other:
//! `client_requests`, `client_errors{error_type}` and `client_latency` (seconds), by
//! `operation` (`HistoryClient<call>` or `MatchingClient<call>`), `namespace`, `service_name`
//! (the calling service) and `service_role` (the called one). A call forwarded to the node that
//! owns its shard or queue counts under the frontend's method name; the nodes' internal calls
//! under theirs. Sundial's services on one node call each other in process: no client calls.

use std::time::Duration;

use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry};
use sundial_services::TIMER_BUCKETS;

const LABELS: [&str; 4] = ["namespace", "operation", "service_name", "service_role"];

/// The namespace label of a call that names none (or whose name the caller does not have).
pub const UNKNOWN_NAMESPACE: &str = "_unknown_";

/// One call to another node.
pub struct ClientCall<'a> {
    pub namespace: &'a str,
    /// The called service's name for it, e.g. `PollActivityTaskQueue`.
    pub method: &'a str,
    /// The calling service: `frontend`, `history`.
    pub from: &'a str,
    /// The called service: `history` or `matching`.
    pub to: &'a str,
}

pub struct ClientMetrics {
    requests: IntCounterVec,
    errors: IntCounterVec,
    latency: HistogramVec,
}

impl ClientMetrics {
    pub fn register(registry: &Registry) -> prometheus::Result<ClientMetrics> {
        let requests = IntCounterVec::new(
            Opts::new("client_requests", "Calls to another node's services."),
            &LABELS,
        )?;
        let labels: Vec<&str> = LABELS.iter().copied().chain(["error_type"]).collect();
        let errors = IntCounterVec::new(
            Opts::new("client_errors", "Calls to another node that failed."),
            &labels,
        )?;
        let latency = HistogramVec::new(
            HistogramOpts::new("client_latency", "Calls to another node, in seconds.")
                .buckets(TIMER_BUCKETS.to_vec()),
            &LABELS,
        )?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(errors.clone()))?;
        registry.register(Box::new(latency.clone()))?;
        Ok(ClientMetrics {
            requests,
            errors,
            latency,
        })
    }

    /// Records a call; `failed` names its error's type (`serviceerror_Unavailable`, ...).
    pub fn record(&self, call: &ClientCall, took: Duration, failed: Option<&str>) {
        let client = match call.to {
            "history" => "HistoryClient",
            _ => "MatchingClient",
        };
        let operation = format!("{client}{}", call.method);
        let labels = [call.namespace, operation.as_str(), call.from, call.to];
        self.requests.with_label_values(&labels).inc();
        self.latency
            .with_label_values(&labels)
            .observe(took.as_secs_f64());
        if let Some(error_type) = failed {
            self.errors
                .with_label_values(&[labels[0], labels[1], labels[2], labels[3], error_type])
                .inc();
        }
    }
}

/// The error type of a gRPC status, as Temporal's metrics name it.
pub fn error_type(code: tonic::Code) -> String {
    format!("serviceerror_{}", crate::metrics::request::code_type(code))
}
