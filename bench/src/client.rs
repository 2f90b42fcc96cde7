//! A thin unary gRPC client for WorkflowService: the official message types, tonic's generic
//! client, and the method name as a string.

use std::time::Duration;

use prost::Message;
use tonic::transport::{Channel, Endpoint};
use tonic_prost::ProstCodec;

const SERVICE: &str = "/temporal.api.workflowservice.v1.WorkflowService/";

#[derive(Clone)]
pub struct Client {
    channel: Channel,
    pub namespace: String,
}

impl Client {
    pub async fn connect(address: &str, namespace: &str) -> anyhow::Result<Client> {
        let channel = Endpoint::from_shared(format!("http://{address}"))?
            .connect_timeout(Duration::from_secs(5))
            .tcp_nodelay(true)
            .http2_adaptive_window(true)
            .connect()
            .await?;
        Ok(Client {
            channel,
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
        let mut grpc = tonic::client::Grpc::new(self.channel.clone())
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
