//! The frontend service: WorkflowService and OperatorService gRPC handlers over the handles
//! of `sundial-services` (history and matching behind them; this crate does not depend on
//! the engine). Authorization and routing to other nodes are layers in front of it, in the
//! server.

mod activity_ops;
mod batches;
mod errors;
mod execution_options;
mod multi_operation;
mod namespaces;
mod operator;
mod schedules;
mod system;
mod visibility;
mod workflow;

use std::sync::Arc;
use std::time::Duration;

use sundial_services::{Batches, Namespaces, Schedules, TaskQueues, Workflows};
use tonic::Status;

pub use errors::with_detail;
pub use errors::{short_enum_name, to_status};
pub use operator::OperatorHandler;
pub use workflow::WorkflowHandler;

/// What the handlers share.
#[derive(Clone)]
pub struct Frontend {
    pub namespaces: Arc<dyn Namespaces>,
    pub workflows: Arc<dyn Workflows>,
    pub task_queues: Arc<dyn TaskQueues>,
    pub schedules: Arc<dyn Schedules>,
    pub batches: Arc<dyn Batches>,
    pub cluster_id: String,
    pub persistence: String,
}

/// A handler's answer.
type Res<T> = Result<tonic::Response<T>, Status>;

fn ok<T>(v: T) -> Res<T> {
    Ok(tonic::Response::new(v))
}

/// What an answer says that its request does not, for Temporal's `action` metric (it counts
/// only starts that started a run, and activity tasks past their first attempt); left in the
/// response's extensions for the server's request metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answered {
    Started(bool),
    ActivityAttempt(i32),
}

fn ok_answered<T>(v: T, answered: Answered) -> Res<T> {
    let mut response = tonic::Response::new(v);
    response.extensions_mut().insert(answered);
    Ok(response)
}

/// Parses the `grpc-timeout` header (e.g. `69999m`).
fn grpc_timeout(meta: &tonic::metadata::MetadataMap) -> Option<Duration> {
    parse_grpc_timeout(meta.get("grpc-timeout")?.to_str().ok()?)
}

/// The `grpc-timeout` of a request's headers.
pub fn grpc_timeout_of(headers: &http::HeaderMap) -> Option<Duration> {
    parse_grpc_timeout(headers.get("grpc-timeout")?.to_str().ok()?)
}

fn parse_grpc_timeout(v: &str) -> Option<Duration> {
    let (num, unit) = v.split_at(v.len().checked_sub(1)?);
    let n: u64 = num.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n * 3600),
        "M" => Duration::from_secs(n * 60),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

/// How long a long poll may wait: the server's limit, but always returning before the
/// caller's deadline (a second early, or half the time for very short deadlines).
fn long_poll_wait(meta: &tonic::metadata::MetadataMap, limit: Duration) -> Duration {
    match grpc_timeout(meta) {
        Some(t) if t > Duration::from_secs(2) => limit.min(t - Duration::from_secs(1)),
        Some(t) => limit.min(t / 2),
        None => limit,
    }
}

/// How long a query waits for a worker's answer: until just before the caller's deadline
/// (so the caller gets the server's DeadlineExceeded), at most a minute.
fn query_wait(meta: &tonic::metadata::MetadataMap) -> Duration {
    let limit = Duration::from_secs(60);
    match grpc_timeout(meta) {
        Some(t) if t > Duration::from_millis(500) => limit.min(t - Duration::from_millis(200)),
        Some(t) => limit.min(t / 2),
        None => limit,
    }
}
