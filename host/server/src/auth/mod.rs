//! Authorization of every call: a tower layer in front of all services. For each request it
//! maps the caller's credentials to claims (claim mapper plugin, cached per credentials until
//! the claims expire), then asks the authorizer plugin about every namespace the request
//! names — the request's own, and those inside workflow commands and multi-operations.
//!
//! Denied: `PermissionDenied` "Request unauthorized." with a `PermissionDeniedFailure` detail
//! (the authorizer's reason, if any). Credentials the mapper rejects, oversized tokens, and
//! missing credentials where required: `Unauthenticated`. A plugin fault fails closed.

use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use prost::Message;
use sundial_api::methods::{self, Method};
use sundial_api::protos::temporal::api::command::v1::command::Attributes;
use sundial_api::protos::temporal::api::errordetails::v1::PermissionDeniedFailure;
use sundial_api::protos::temporal::api::workflowservice::v1::{
    ExecuteMultiOperationRequest, RespondWorkflowTaskCompletedRequest,
    execute_multi_operation_request::operation::Operation,
};
use sundial_history::Engine;
use sundial_plugin_host::{AuthInfo, CallTarget, Claims, Decision, TlsSubject};
use tonic::{Code, Status};
use tower::{Layer, Service};

use crate::plugins::{Live, Plugins};
use crate::wire::{CallInfo, field_bytes, field_string, first_message, message_bytes, rejoin};
use claims_cache::cache_key;

const WORKFLOW_SERVICE: &str = "/temporal.api.workflowservice.v1.WorkflowService/";
const HEALTH_CHECK: &str = "/grpc.health.v1.Health/Check";
const GET_SYSTEM_INFO: &str = "/temporal.api.workflowservice.v1.WorkflowService/GetSystemInfo";

type BoxFuture<T> = std::pin::Pin<Box<dyn Future<Output = T> + Send>>;

mod claims_cache;
mod record;

pub use claims_cache::ClaimsCache;
pub use record::DecisionRecord;

/// What the layer shares between calls. The claims cache and the decision record follow
/// the `authorization` settings, so they live with the plugins ([`Live`]) and change with a
/// reload.
pub struct Auth {
    plugins: Arc<Plugins>,
    engine: Engine,
}

impl Auth {
    pub fn new(plugins: Arc<Plugins>, engine: Engine) -> Auth {
        Auth { plugins, engine }
    }
}

/// The tower layer.
#[derive(Clone)]
pub struct AuthLayer {
    pub auth: Arc<Auth>,
}

impl<S> Layer<S> for AuthLayer {
    type Service = AuthService<S>;

    fn layer(&self, inner: S) -> AuthService<S> {
        AuthService {
            inner,
            auth: self.auth.clone(),
        }
    }
}

#[derive(Clone)]
pub struct AuthService<S> {
    inner: S,
    auth: Arc<Auth>,
}

type Req = http::Request<tonic::body::Body>;
type Res = http::Response<tonic::body::Body>;

impl<S> Service<Req> for AuthService<S>
where
    S: Service<Req, Response = Res> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = Res;
    type Error = S::Error;
    type Future = BoxFuture<Result<Res, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        // The service that was polled ready serves this call; its clone waits for the next.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let auth = self.auth.clone();
        Box::pin(async move {
            let live = auth.plugins.live();
            if live.mapper.is_none()
                && live.authorizer.is_none()
                && !live.settings.require_credentials
            {
                return inner.call(req).await;
            }
            match auth.check(&live, req).await {
                Ok(req) => inner.call(req).await,
                Err(status) => Ok(status.into_http()),
            }
        })
    }
}

fn unauthenticated(message: &str) -> Status {
    Status::new(Code::Unauthenticated, message)
}

fn denied(reason: Option<String>) -> Status {
    sundial_frontend::with_detail(
        Code::PermissionDenied,
        "Request unauthorized.".into(),
        PermissionDeniedFailure {
            reason: reason.unwrap_or_default(),
        },
    )
}

/// One authorization question: this API on this namespace.
struct Question {
    api: String,
    namespace: String,
}

impl Auth {
    async fn check(&self, live: &Live, req: Req) -> Result<Req, Status> {
        let settings = &live.settings;
        let path = req.uri().path().to_string();
        let (token, extras) = {
            // The request body is not `Sync`: nothing borrowed from `req` may live across
            // an await below.
            let headers = req.headers();
            let header = |name: &str| -> Result<String, Status> {
                match headers.get(name) {
                    None => Ok(String::new()),
                    Some(v) => {
                        if v.len() > settings.max_token_bytes {
                            return Err(unauthenticated("authorization token too large"));
                        }
                        v.to_str()
                            .map(str::to_string)
                            .map_err(|_| unauthenticated("malformed authorization header"))
                    }
                }
            };
            (
                header(&settings.auth_header)?,
                header(&settings.extras_header)?,
            )
        };
        let exempt = path == HEALTH_CHECK || path == GET_SYSTEM_INFO;
        // Set by the TLS listener; a verified client certificate counts as credentials.
        let tls = req
            .extensions()
            .get::<crate::tls::TlsConnectInfo>()
            .cloned();
        let subject = tls.as_ref().and_then(|t| t.peer.clone());
        let no_credentials = token.is_empty() && subject.is_none();
        let peer = match &tls {
            Some(t) => t.remote_addr,
            None => req
                .extensions()
                .get::<tonic::transport::server::TcpConnectInfo>()
                .and_then(|c| c.remote_addr()),
        };
        if settings.require_credentials && no_credentials && !exempt {
            return Err(unauthenticated("missing credentials"));
        }
        let claims = match &live.mapper {
            None => None,
            Some(mapper) => {
                if no_credentials && mapper.auth_info_required().await {
                    None
                } else {
                    Some(self.claims(live, &token, &extras, tls.as_ref()).await?)
                }
            }
        };
        let Some(authorizer) = &live.authorizer else {
            return Ok(req);
        };

        let method = methods::by_path(&path);
        // The metrics layer, first on the way in, left the message it read; a request it
        // could not read is read here again, to answer with what is wrong with it.
        let known = req
            .extensions()
            .get::<CallInfo>()
            .and_then(|c| c.message.clone());
        let (req, request, questions) = match method {
            Some(m) => {
                let (req, message) = match known {
                    Some(message) => (req, message),
                    None => {
                        let (parts, body) = req.into_parts();
                        let (body, rest) = first_message(body).await?;
                        let message = message_bytes(&parts.headers, &body)?;
                        (
                            http::Request::from_parts(parts, rejoin(body, rest)),
                            message,
                        )
                    }
                };
                let questions = self.questions(m, &message).await?;
                (req, message, questions)
            }
            // Health checks and anything not in the API tables: no namespace.
            None => (
                req,
                Bytes::new(),
                vec![Question {
                    api: path.clone(),
                    namespace: String::new(),
                }],
            ),
        };
        let request_type = method.map(|m| m.request_type).unwrap_or_default();
        for q in questions {
            let target = CallTarget {
                api_name: q.api,
                namespace: q.namespace,
                request_type: request_type.to_string(),
                request: request.to_vec(),
            };
            let answer = authorizer.authorize(claims.as_ref(), &target).await;
            if let (Ok(d), Some(record)) = (&answer, &live.decisions) {
                record.append(&record::Recorded {
                    claims: claims.as_ref(),
                    target: &target,
                    allowed: d.decision == Decision::Allow,
                    reason: d.reason.as_deref(),
                    peer,
                });
            }
            match answer {
                Ok(d) if d.decision == Decision::Allow => {}
                Ok(d) => {
                    tracing::debug!(api = %target.api_name, namespace = %target.namespace,
                        subject = claims.as_ref().map(|c| c.subject.as_str()).unwrap_or(""),
                        reason = d.reason.as_deref().unwrap_or(""), "call denied");
                    return Err(denied(d.reason));
                }
                Err(fault) => {
                    tracing::warn!(api = %target.api_name, error = %fault, "authorizer fault; call denied");
                    return Err(denied(None));
                }
            }
        }
        Ok(req)
    }

    /// The caller's claims, from the cache or the mapper.
    async fn claims(
        &self,
        live: &Live,
        token: &str,
        extras: &str,
        tls: Option<&crate::tls::TlsConnectInfo>,
    ) -> Result<Claims, Status> {
        let settings = &live.settings;
        let subject = tls.and_then(|t| t.peer.as_deref());
        let server_name = tls.and_then(|t| t.server_name.as_deref());
        let key = cache_key(token, extras, &settings.audience, subject, server_name);
        if let Some(claims) = live.claims.get(&key, live.generation) {
            return Ok(claims);
        }
        let mapper = live.mapper.as_ref().expect("checked by the caller");
        let info = AuthInfo {
            auth_token: token.to_string(),
            extra_data: extras.to_string(),
            tls_subject: subject.map(|s| TlsSubject {
                distinguished_name: s.distinguished_name.clone(),
                common_name: s.common_name.clone(),
                organization: s.organization.clone(),
                organizational_unit: s.organizational_unit.clone(),
            }),
            tls_server_name: server_name.map(str::to_string),
            audience: settings.audience.clone(),
        };
        match mapper.plugin.get_claims(&info).await {
            Ok(claims) => {
                if let Some(expires) = claims.expires_at {
                    let expires = if expires <= 0 {
                        SystemTime::UNIX_EPOCH
                    } else {
                        SystemTime::UNIX_EPOCH + Duration::from_nanos(expires as u64)
                    };
                    let until = expires.min(SystemTime::now() + settings.claims_cache_ttl);
                    live.claims
                        .insert(key, claims.clone(), until, live.generation);
                }
                Ok(claims)
            }
            Err(fault) => {
                tracing::info!(error = %fault, "credentials refused");
                Err(unauthenticated("Request unauthenticated."))
            }
        }
    }

    /// Every (API, namespace) the request needs allowed.
    // Commands still carry a target namespace field (deprecated upstream, still honoured).
    #[allow(deprecated)]
    async fn questions(&self, method: &Method, message: &[u8]) -> Result<Vec<Question>, Status> {
        let mut namespace = match method.namespace_field {
            Some(n) => field_string(message, n)?,
            None => String::new(),
        };
        // A task token names its namespace even when the request leaves the field empty.
        if namespace.is_empty()
            && let Some(n) = method.task_token_field
            && let Some(token) = field_bytes(message, n)?
            && let Ok(token) = sundial_history::state::TaskToken::decode(token)
            && let Ok(ns) = self.engine.namespaces().by_id(&token.namespace_id).await
        {
            namespace = ns.name.clone();
        }
        let mut questions = vec![Question {
            api: method.path.to_string(),
            namespace: namespace.clone(),
        }];
        let mut ask = |api: &str, ns: &str| {
            if ns.is_empty() || ns == namespace {
                return;
            }
            let api = format!("{WORKFLOW_SERVICE}{api}");
            if !questions.iter().any(|q| q.api == api && q.namespace == ns) {
                questions.push(Question {
                    api,
                    namespace: ns.to_string(),
                });
            }
        };
        let name = method.path.rsplit('/').next().unwrap_or_default();
        match name {
            "RespondWorkflowTaskCompleted" => {
                let r = RespondWorkflowTaskCompletedRequest::decode(message)
                    .map_err(|_| Status::invalid_argument("malformed request"))?;
                for command in &r.commands {
                    match &command.attributes {
                        Some(Attributes::StartChildWorkflowExecutionCommandAttributes(a)) => {
                            ask("StartWorkflowExecution", &a.namespace)
                        }
                        Some(Attributes::SignalExternalWorkflowExecutionCommandAttributes(a)) => {
                            ask("SignalWorkflowExecution", &a.namespace)
                        }
                        Some(
                            Attributes::RequestCancelExternalWorkflowExecutionCommandAttributes(a),
                        ) => ask("RequestCancelWorkflowExecution", &a.namespace),
                        _ => {}
                    }
                }
            }
            "ExecuteMultiOperation" => {
                let r = ExecuteMultiOperationRequest::decode(message)
                    .map_err(|_| Status::invalid_argument("malformed request"))?;
                for op in &r.operations {
                    match &op.operation {
                        Some(Operation::StartWorkflow(s)) => {
                            ask("StartWorkflowExecution", &s.namespace)
                        }
                        Some(Operation::UpdateWorkflow(u)) => {
                            ask("UpdateWorkflowExecution", &u.namespace)
                        }
                        None => {}
                    }
                }
            }
            _ => {}
        }
        Ok(questions)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespace_field_is_read_from_the_wire() {
        use sundial_api::protos::temporal::api::workflowservice::v1::StartWorkflowExecutionRequest;
        let r = StartWorkflowExecutionRequest {
            namespace: "orders".into(),
            workflow_id: "w".into(),
            request_id: "r".into(),
            ..Default::default()
        };
        let bytes = r.encode_to_vec();
        assert_eq!(field_string(&bytes, 1).unwrap(), "orders");
        assert_eq!(field_string(&bytes, 99).unwrap(), "");
        assert!(field_string(&bytes[..bytes.len() - 1], 1).is_err());
    }
}
