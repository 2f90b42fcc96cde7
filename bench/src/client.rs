//! A thin unary gRPC client for WorkflowService: the official message types, tonic's generic
//! client, and the method name as a string.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use prost::Message;
use tonic::transport::{Channel, Endpoint};
use tonic_prost::ProstCodec;

const SERVICE: &str = "/temporal.api.workflowservice.v1.WorkflowService/";

/// Calls go to the addresses in turn (several nodes of a cluster, or one server).
#[derive(Clone)]
pub struct Client {
    channels: Arc<Vec<Channel>>,
    next: Arc<AtomicUsize>,
    pub namespace: String,
}

impl Client {
    /// `addresses`: one `host:port`, or several separated by commas.
    pub async fn connect(addresses: &str, namespace: &str) -> anyhow::Result<Client> {
        let mut channels = Vec::new();
        for address in addresses
            .split(',')
            .map(str::trim)
            .filter(|a| !a.is_empty())
        {
            channels.push(
                Endpoint::from_shared(format!("http://{address}"))?
                    .connect_timeout(Duration::from_secs(5))
                    .tcp_nodelay(true)
                    .http2_adaptive_window(true)
                    .connect()
                    .await?,
            );
        }
        anyhow::ensure!(!channels.is_empty(), "no address given");
        Ok(Client {
            channels: Arc::new(channels),
            next: Arc::new(AtomicUsize::new(0)),
            namespace: namespace.to_string(),
        })
    }

    /// One unary call; `timeout` becomes the `grpc-timeout` header, which long polls use.
    pub async fn call<Req, Resp>(
        &self,
        method: &str,
        req: Req,
        timeout: Option<Duration>,
    ) -> Result<Resp, tonic::Status>
    where
        Req: Message + Send + Sync + 'static,
        Resp: Message + Default + Send + Sync + 'static,
    {
        let turn = self.next.fetch_add(1, Ordering::Relaxed) % self.channels.len();
        let mut grpc = tonic::client::Grpc::new(self.channels[turn].clone())
            .max_decoding_message_size(64 << 20)
            .max_encoding_message_size(64 << 20);
        grpc.ready()
            .await
            .map_err(|e| tonic::Status::unavailable(e.to_string()))?;
        let path = format!("{SERVICE}{method}")
            .parse()
            .expect("valid method path");
        let mut request = tonic::Request::new(req);
        if let Some(t) = timeout {
            request.set_timeout(t);
        }
        grpc.unary(request, path, ProstCodec::<Req, Resp>::default())
            .await
            .map(|r| r.into_inner())
    }
}
