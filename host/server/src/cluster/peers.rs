//! The engine's [`Peers`] over the internal gRPC API: owners from the placement of the live
//! membership view, one lazily connected channel per peer's internal address, and the
//! cluster's secret on every call.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use sundial_history::peers::{
    AddTaskRequest, CancelWorkerPollsRequest, HistoryReply, HistoryRequest, Peers,
};
use sundial_history::{Error, Result};
use sundial_internal_api::history_client::HistoryClient;
use sundial_internal_api::matching_client::MatchingClient;
use tokio::sync::watch;
use tonic::transport::{Channel, Endpoint};

use super::{View, placement};
use crate::metrics::client::{ClientCall, ClientMetrics, UNKNOWN_NAMESPACE, error_type};

/// The header that carries the cluster's internal secret between nodes.
pub const SECRET_HEADER: &str = "sundial-cluster-secret";

pub struct ClusterPeers {
    me: String,
    view: watch::Receiver<View>,
    secret: tonic::metadata::MetadataValue<tonic::metadata::Ascii>,
    channels: Mutex<HashMap<String, Channel>>,
    /// Dials peers with TLS when `tls.internode` is set.
    tls: Option<super::internode::TlsConnector>,
    metrics: Arc<ClientMetrics>,
}

impl ClusterPeers {
    pub fn new(
        me: String,
        view: watch::Receiver<View>,
        secret: &str,
        internode: &super::internode::Internode,
        metrics: Arc<ClientMetrics>,
    ) -> anyhow::Result<Arc<Self>> {
        Ok(Arc::new(ClusterPeers {
            me,
            view,
            secret: secret.parse()?,
            channels: Mutex::new(HashMap::new()),
            tls: internode.connector(),
            metrics,
        }))
    }

    /// Counts an internal call from this node's `from` service to `to` on another.
    fn count<T>(
        &self,
        from: &str,
        to: &str,
        method: &str,
        began: std::time::Instant,
        result: &std::result::Result<T, tonic::Status>,
    ) {
        let call = ClientCall {
            namespace: UNKNOWN_NAMESPACE,
            method,
            from,
            to,
        };
        let failed = result.as_ref().err().map(|s| error_type(s.code()));
        self.metrics
            .record(&call, began.elapsed(), failed.as_deref());
    }

    /// The owner among the live nodes running `service`; `None` for this node.
    fn owner(&self, key: u64, service: &str) -> Option<String> {
        let view = self.view.borrow();
        let nodes = view.running(service);
        match placement::owner(key, &nodes) {
            Some(n) if n != self.me => Some(n.to_string()),
            _ => None,
        }
    }

    /// The owner of a history shard (`None`: this node).
    pub fn shard_node(&self, shard_id: i32) -> Option<String> {
        self.owner(shard_id as u64, "history")
    }

    /// The owner of a task queue (`None`: this node).
    pub fn queue_node(&self, namespace_id: &str, queue: &str, kind: i32) -> Option<String> {
        self.owner(placement::queue_key(namespace_id, queue, kind), "matching")
    }

    /// A channel to `node`'s internal listener, with the secret to present there.
    pub fn channel(&self, node: &str) -> Result<Channel> {
        let address = self.member(node, |m| m.internal_address.clone());
        let Some(address) = address.filter(|a| !a.is_empty()) else {
            return Err(Error::Unavailable(format!(
                "node {node} is not in the membership view"
            )));
        };
        let mut channels = self.channels.lock().unwrap();
        if let Some(c) = channels.get(&address) {
            return Ok(c.clone());
        }
        // With TLS the connector wraps the connection; the scheme stays `http` for tonic.
        let endpoint = Endpoint::from_shared(format!("http://{address}"))
            .map_err(|e| Error::Internal(format!("internal address {address}: {e}")))?
            .connect_timeout(Duration::from_secs(2))
            .tcp_nodelay(true)
            .http2_keep_alive_interval(Duration::from_secs(10))
            .keep_alive_timeout(Duration::from_secs(5));
        let channel = match &self.tls {
            Some(tls) => endpoint.connect_with_connector_lazy(tls.clone()),
            None => endpoint.connect_lazy(),
        };
        channels.insert(address, channel.clone());
        Ok(channel)
    }

    /// Something of `node`'s membership row in the current view.
    fn member<T>(&self, node: &str, read: impl FnOnce(&sundial_store::Member) -> T) -> Option<T> {
        let view = self.view.borrow();
        view.members
            .iter()
            .find(|m| m.member.node_name == node)
            .map(|m| read(&m.member))
    }

    /// The secret as a header value, for forwarded calls.
    pub fn secret_header(&self) -> http::HeaderValue {
        http::HeaderValue::from_bytes(self.secret.as_encoded_bytes())
            .expect("the secret is a valid header value")
    }

    fn request<T>(&self, message: T) -> tonic::Request<T> {
        let mut r = tonic::Request::new(message);
        r.metadata_mut().insert(SECRET_HEADER, self.secret.clone());
        r.set_timeout(Duration::from_secs(30));
        r
    }
}

fn unavailable(node: &str, status: tonic::Status) -> Error {
    Error::Unavailable(format!(
        "node {node} did not answer: {} {}",
        status.code(),
        status.message()
    ))
}

#[async_trait]
impl Peers for ClusterPeers {
    fn shard_owner(&self, shard_id: i32) -> Option<String> {
        self.shard_node(shard_id)
    }

    fn queue_owner(&self, namespace_id: &str, queue: &str, kind: i32) -> Option<String> {
        self.queue_node(namespace_id, queue, kind)
    }

    fn session(&self, node: &str) -> Option<String> {
        self.member(node, |m| m.session_id.clone())
    }

    async fn history(&self, node: &str, request: HistoryRequest) -> Result<HistoryReply> {
        let mut client = HistoryClient::new(self.channel(node)?)
            .max_decoding_message_size(crate::MAX_MESSAGE_SIZE)
            .max_encoding_message_size(crate::MAX_MESSAGE_SIZE);
        let method = history_method(&request);
        let began = std::time::Instant::now();
        let result = client.apply(self.request(request)).await;
        self.count("history", "history", method, began, &result);
        result
            .map(|r| r.into_inner())
            .map_err(|s| unavailable(node, s))
    }

    async fn add_task(&self, node: &str, request: AddTaskRequest) -> Result<bool> {
        let mut client = MatchingClient::new(self.channel(node)?)
            .max_decoding_message_size(crate::MAX_MESSAGE_SIZE)
            .max_encoding_message_size(crate::MAX_MESSAGE_SIZE);
        let method = if request.kind == 2 {
            "AddActivityTask"
        } else {
            "AddWorkflowTask"
        };
        let began = std::time::Instant::now();
        let result = client.add_task(self.request(request)).await;
        self.count("history", "matching", method, began, &result);
        result
            .map(|r| !r.into_inner().sticky_unavailable)
            .map_err(|s| unavailable(node, s))
    }

    async fn cancel_worker_polls(
        &self,
        node: &str,
        request: CancelWorkerPollsRequest,
    ) -> Result<()> {
        let mut client = MatchingClient::new(self.channel(node)?);
        let began = std::time::Instant::now();
        let result = client.cancel_worker_polls(self.request(request)).await;
        self.count("frontend", "matching", "CancelWorkerPolls", began, &result);
        result.map(|_| ()).map_err(|s| unavailable(node, s))
    }
}

/// The name of a history call between nodes, for the client metrics.
fn history_method(request: &HistoryRequest) -> &'static str {
    use sundial_history::peers::Op;
    match &request.op {
        Some(Op::StartChild(_)) => "StartChildWorkflowExecution",
        Some(Op::SignalExternal(_)) => "SignalWorkflowExecution",
        Some(Op::CancelExternal(_)) => "RequestCancelWorkflowExecution",
        Some(Op::RecordChildClosed(_)) => "RecordChildExecutionCompleted",
        Some(Op::ParentClosePolicy(_)) => "ApplyParentClosePolicy",
        Some(Op::RecordTaskStarted(_)) => "RecordTaskStarted",
        Some(Op::QueryTask(_)) => "QueryWorkflow",
        Some(Op::RunTimerTask(_)) => "RunTimerTask",
        Some(Op::SystemCall(_)) => "SystemCall",
        None => "Unknown",
    }
}
