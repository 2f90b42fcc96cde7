//! The frontend's rate limits, as Temporal applies them, in its order: long-running calls at
//! once per namespace and method (`frontend.namespaceCount`), then calls a second per namespace
//! (`frontend.namespaceRPS`), then calls a second on this frontend (`frontend.rps`). Each rate
//! is a set of priority buckets per class of call ([`priorities`]): polls drain before starts,
//! and the operator's calls (`caller-type: operator`) have a share of their own. A call over a
//! limit is answered `ResourceExhausted` with Temporal's message, cause and scope, which the
//! SDKs back off from and retry. Limits follow the dynamic config as it changes; global keys are
//! shared out between the live frontends.
//!
//! A layer behind authorization and in front of routing: a call is limited where it arrives,
//! once, whichever node serves it.

mod limits;
mod priorities;

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::task::{Context, Poll};
use std::time::Instant;

use prometheus::{GaugeVec, IntGaugeVec, Opts, Registry};
use prost::Message;
use sundial_api::protos::temporal::api::enums::v1::{
    ResourceExhaustedCause, ResourceExhaustedScope,
};
use sundial_api::protos::temporal::api::workflowservice::v1::GetWorkflowExecutionHistoryRequest;
use sundial_dynamic_config::DynamicConfig;
use sundial_quotas::PriorityBuckets;
use sundial_services::{Error, tally_label};
use tower::{Layer, Service};

use crate::wire::CallInfo;
use limits::{Cached, Limits};
use priorities::Class;

/// Namespaces kept at most before idle ones are forgotten.
const NAMESPACES_KEPT: usize = 1024;

/// The buckets of one scope, a set per class.
#[derive(Debug)]
struct Buckets {
    execution: PriorityBuckets,
    visibility: PriorityBuckets,
    namespace_change: PriorityBuckets,
    limits: Cached,
}

impl Buckets {
    fn new() -> Buckets {
        Buckets {
            execution: PriorityBuckets::new(Class::Execution.priorities()),
            visibility: PriorityBuckets::new(Class::Visibility.priorities()),
            namespace_change: PriorityBuckets::new(Class::NamespaceChange.priorities()),
            limits: Cached::default(),
        }
    }

    fn of(&self, class: Class) -> &PriorityBuckets {
        match class {
            Class::Execution => &self.execution,
            Class::Visibility => &self.visibility,
            Class::NamespaceChange => &self.namespace_change,
        }
    }

    fn allow(&self, class: Class, priority: u8, now: Instant, limits: &Limits) -> bool {
        self.of(class).allow(
            priority as usize,
            now,
            limits.of(class),
            limits.operator_ratio,
        )
    }

    fn is_idle(&self, now: Instant, limits: &Limits) -> bool {
        [Class::Execution, Class::Visibility, Class::NamespaceChange]
            .into_iter()
            .all(|c| self.of(c).is_idle(now, limits.of(c), limits.operator_ratio))
    }
}

/// One namespace on this frontend: its buckets and its long-running calls by method.
#[derive(Debug)]
struct NamespaceLimits {
    buckets: Buckets,
    running: Mutex<HashMap<&'static str, Arc<AtomicI64>>>,
}

impl NamespaceLimits {
    fn running(&self, method: &'static str) -> Arc<AtomicI64> {
        self.running
            .lock()
            .unwrap()
            .entry(method)
            .or_default()
            .clone()
    }

    fn is_idle(&self, now: Instant, limits: &Limits) -> bool {
        self.running
            .lock()
            .unwrap()
            .values()
            .all(|n| n.load(Ordering::Relaxed) == 0)
            && self.buckets.is_idle(now, limits)
    }
}

/// Temporal's gauges of the limits: `host_rps_limit`, and `service_pending_requests` (the
/// long-running calls of a namespace and method in progress).
struct Gauges {
    host_rps_limit: GaugeVec,
    pending: IntGaugeVec,
}

/// The limits of this frontend and of every namespace called on it.
pub struct RateLimits {
    config: Arc<DynamicConfig>,
    /// Live frontends, for the global quotas.
    frontends: AtomicUsize,
    host: Buckets,
    namespaces: RwLock<HashMap<String, Arc<NamespaceLimits>>>,
    gauges: Gauges,
}

/// A call as the limits see it.
pub struct Admission<'a> {
    pub operation: &'static str,
    pub namespace: &'a str,
    /// `caller-type: operator`: priority 0.
    pub operator: bool,
    /// A history read that waits for new events.
    pub long_poll: bool,
}

/// A long-running call in progress; it stops counting when dropped.
pub struct Running {
    count: Arc<AtomicI64>,
    pending: prometheus::IntGauge,
}

impl Drop for Running {
    fn drop(&mut self) {
        let left = self.count.fetch_sub(1, Ordering::Relaxed) - 1;
        self.pending.set(left);
    }
}

impl RateLimits {
    pub fn new(config: Arc<DynamicConfig>, registry: &Registry) -> prometheus::Result<RateLimits> {
        let host_rps_limit = GaugeVec::new(
            Opts::new("host_rps_limit", "The calls a second this frontend admits."),
            &["service_name"],
        )?;
        registry.register(Box::new(host_rps_limit.clone()))?;
        let pending = IntGaugeVec::new(
            Opts::new(
                "service_pending_requests",
                "Long-running calls in progress, by namespace and method.",
            ),
            &["operation", "namespace", "service_name"],
        )?;
        registry.register(Box::new(pending.clone()))?;
        let limits = RateLimits {
            config,
            frontends: AtomicUsize::new(1),
            host: Buckets::new(),
            namespaces: RwLock::default(),
            gauges: Gauges {
                host_rps_limit,
                pending,
            },
        };
        limits.host_limits();
        Ok(limits)
    }

    /// The live frontends changed.
    pub fn set_frontends(&self, n: usize) {
        self.frontends.store(n.max(1), Ordering::Relaxed);
    }

    fn host_limits(&self) -> Limits {
        let frontends = self.frontends.load(Ordering::Relaxed);
        self.host.limits.get(&self.config, frontends, || {
            let limits = Limits::host(&self.config, frontends);
            self.gauges
                .host_rps_limit
                .with_label_values(&["frontend"])
                .set(limits.execution.rate);
            limits
        })
    }

    fn namespace(&self, name: &str) -> Arc<NamespaceLimits> {
        if let Some(found) = self.namespaces.read().unwrap().get(name) {
            return found.clone();
        }
        let mut all = self.namespaces.write().unwrap();
        if all.len() >= NAMESPACES_KEPT {
            let now = Instant::now();
            let frontends = self.frontends.load(Ordering::Relaxed);
            all.retain(|name, ns| {
                let limits = ns.buckets.limits.get(&self.config, frontends, || {
                    Limits::namespace(&self.config, name, frontends)
                });
                Arc::strong_count(ns) > 1 || !ns.is_idle(now, &limits)
            });
        }
        all.entry(name.to_string())
            .or_insert_with(|| {
                Arc::new(NamespaceLimits {
                    buckets: Buckets::new(),
                    running: Mutex::default(),
                })
            })
            .clone()
    }

    /// Admits a call, or says which limit it is over. A long-running call is counted until
    /// the returned guard is dropped.
    pub fn admit(&self, call: &Admission) -> Result<Option<Running>, Error> {
        let Some((class, priority)) = priorities::of(call.operation) else {
            return Ok(None);
        };
        let priority = if call.operator { 0 } else { priority };
        let now = Instant::now();
        let mut running = None;
        if !call.namespace.is_empty() {
            let ns = self.namespace(call.namespace);
            let frontends = self.frontends.load(Ordering::Relaxed);
            let limits = ns.buckets.limits.get(&self.config, frontends, || {
                Limits::namespace(&self.config, call.namespace, frontends)
            });
            if priorities::is_long_running(call.operation)
                && (call.operation != "GetWorkflowExecutionHistory" || call.long_poll)
            {
                let count = ns.running(call.operation);
                let now_running = count.fetch_add(1, Ordering::Relaxed) + 1;
                let pending = self.gauges.pending.with_label_values(&[
                    call.operation,
                    &tally_label(call.namespace),
                    "frontend",
                ]);
                pending.set(now_running);
                let guard = Running { count, pending };
                if now_running as f64 > limits.concurrent {
                    return Err(exhausted(
                        "namespace concurrent poller limit exceeded",
                        ResourceExhaustedCause::ConcurrentLimit,
                        ResourceExhaustedScope::Namespace,
                    ));
                }
                running = Some(guard);
            }
            let ns_priority = if call.long_poll && priority != 0 {
                priorities::LONG_POLL_HISTORY
            } else {
                priority
            };
            if !ns.buckets.allow(class, ns_priority, now, &limits) {
                return Err(exhausted(
                    "namespace rate limit exceeded",
                    ResourceExhaustedCause::RpsLimit,
                    ResourceExhaustedScope::Namespace,
                ));
            }
        }
        let limits = self.host_limits();
        if !self.host.allow(class, priority, now, &limits) {
            return Err(exhausted(
                "service rate limit exceeded",
                ResourceExhaustedCause::RpsLimit,
                ResourceExhaustedScope::System,
            ));
        }
        Ok(running)
    }
}

/// Keeps the count of live frontends up to date.
pub fn follow_frontends(
    limits: &Arc<RateLimits>,
    mut view: tokio::sync::watch::Receiver<crate::cluster::View>,
) {
    let weak = Arc::downgrade(limits);
    tokio::spawn(async move {
        loop {
            let n = view.borrow_and_update().running("frontend").len();
            match weak.upgrade() {
                Some(limits) => limits.set_frontends(n),
                None => return,
            }
            if view.changed().await.is_err() {
                return;
            }
        }
    });
}

fn exhausted(message: &str, cause: ResourceExhaustedCause, scope: ResourceExhaustedScope) -> Error {
    Error::ResourceExhausted {
        message: message.into(),
        cause,
        scope,
    }
}

#[derive(Clone)]
pub struct RateLimitLayer {
    pub limits: Arc<RateLimits>,
}

impl<S> Layer<S> for RateLimitLayer {
    type Service = Limited<S>;
    fn layer(&self, inner: S) -> Limited<S> {
        Limited {
            inner,
            limits: self.limits.clone(),
        }
    }
}

#[derive(Clone)]
pub struct Limited<S> {
    inner: S,
    limits: Arc<RateLimits>,
}

type Req = http::Request<tonic::body::Body>;
type Res = http::Response<tonic::body::Body>;

impl<S> Service<Req> for Limited<S>
where
    S: Service<Req, Response = Res> + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Res;
    type Error = S::Error;
    type Future = std::pin::Pin<Box<dyn Future<Output = Result<Res, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        let Some(info) = req.extensions().get::<CallInfo>() else {
            return Box::pin(self.inner.call(req));
        };
        let operation = info.operation();
        let long_poll = operation == "GetWorkflowExecutionHistory"
            && info
                .message
                .as_ref()
                .and_then(|m| GetWorkflowExecutionHistoryRequest::decode(m.as_ref()).ok())
                .is_some_and(|r| r.wait_new_event);
        let operator = req
            .headers()
            .get("caller-type")
            .is_some_and(|v| v.as_bytes() == b"operator");
        let admitted = self.limits.admit(&Admission {
            operation,
            namespace: &info.namespace,
            operator,
            long_poll,
        });
        match admitted {
            Ok(running) => {
                let call = self.inner.call(req);
                Box::pin(async move {
                    let answer = call.await;
                    drop(running);
                    answer
                })
            }
            Err(e) => {
                let answer = sundial_frontend::to_status(e).into_http();
                Box::pin(async move { Ok(answer) })
            }
        }
    }
}

#[cfg(test)]
mod tests;
