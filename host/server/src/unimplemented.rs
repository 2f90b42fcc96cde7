//! Logs every call answered `Unimplemented`: the methods Sundial does not serve yet, as the
//! SDKs and the CLI reach them. The test suites read these lines to fail a run whose scenarios
//! reached one.

use std::task::{Context, Poll};

use tower::{Layer, Service};

/// The log line's message, which the suites look for.
pub const MESSAGE: &str = "answered Unimplemented";

#[derive(Clone, Default)]
pub struct UnimplementedLog;

impl<S> Layer<S> for UnimplementedLog {
    type Service = LogUnimplemented<S>;
    fn layer(&self, inner: S) -> LogUnimplemented<S> {
        LogUnimplemented { inner }
    }
}

#[derive(Clone)]
pub struct LogUnimplemented<S> {
    inner: S,
}

type Req = http::Request<tonic::body::Body>;
type Res = http::Response<tonic::body::Body>;

impl<S> Service<Req> for LogUnimplemented<S>
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
        let path = req.uri().path().to_string();
        let call = self.inner.call(req);
        Box::pin(async move {
            let response = call.await?;
            // An error answer carries its status in the headers (gRPC's trailers-only form).
            let code = tonic::Code::Unimplemented as i32;
            if response
                .headers()
                .get("grpc-status")
                .is_some_and(|s| s.as_bytes() == code.to_string().as_bytes())
            {
                tracing::warn!(method = %path, "{MESSAGE}");
            }
            Ok(response)
        })
    }
}
