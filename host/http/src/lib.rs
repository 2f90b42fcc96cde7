//! Temporal's HTTP API: every WorkflowService and OperatorService method under the paths the
//! protos' `google.api.http` options give it (`/api/v1/namespaces/{namespace}/workflows`, and
//! the same without `/api/v1`), in Temporal's JSON dialect. Each call is made in process to
//! the gRPC service with the caller's `authorization` header and connection details, so it is
//! counted, authorized and limited exactly like a gRPC call.

mod call;
mod descriptors;
mod dialect;
mod errors;
mod query;
mod routes;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};
use prost::Message;
use serde_json::{Map, Value, json};

pub use call::GrpcService;
use routes::{Body, Miss, Routes};

/// The largest request body read, as Temporal's.
pub const MAX_BODY_BYTES: usize = 4 << 20;

/// Serves HTTP calls by passing them to a gRPC service.
#[derive(Clone)]
pub struct Gateway {
    /// Built on the first call: the descriptors behind them take several MiB, which a server
    /// whose HTTP API is never called does not hold.
    routes: std::sync::Arc<std::sync::OnceLock<Routes>>,
    grpc: GrpcService,
    /// `client-version` sent with calls whose caller names none.
    version: HeaderValue,
    /// More headers passed on as gRPC metadata (Temporal's `httpAdditionalForwardedHeaders`).
    extra_headers: std::sync::Arc<ExtraHeaders>,
}

/// Header names passed on beside the usual ones: exact, or a prefix given as `x-*`.
#[derive(Debug, Default)]
pub struct ExtraHeaders {
    exact: Vec<String>,
    prefixes: Vec<String>,
}

impl ExtraHeaders {
    /// From the configured names (case does not matter; a trailing `*` makes a prefix).
    pub fn new<S: AsRef<str>>(names: &[S]) -> ExtraHeaders {
        let mut out = ExtraHeaders::default();
        for name in names {
            let name = name.as_ref().to_ascii_lowercase();
            match name.strip_suffix('*') {
                Some(prefix) => out.prefixes.push(prefix.to_string()),
                None => out.exact.push(name),
            }
        }
        out
    }

    fn passes(&self, name: &str) -> bool {
        self.exact.iter().any(|e| e == name) || self.prefixes.iter().any(|p| name.starts_with(p))
    }
}

/// How the answer is written and the body read, from the query and the media types.
struct Form {
    pretty: bool,
    shorthand_out: bool,
    shorthand_in: bool,
}

impl Gateway {
    /// A gateway to `grpc` (the service stack gRPC calls go through).
    pub fn new(grpc: GrpcService, server_version: &str, extra_headers: ExtraHeaders) -> Gateway {
        Gateway {
            routes: std::sync::Arc::default(),
            grpc,
            version: HeaderValue::from_str(server_version).unwrap_or(HeaderValue::from_static("0")),
            extra_headers: std::sync::Arc::new(extra_headers),
        }
    }

    fn routes(&self) -> &Routes {
        self.routes.get_or_init(|| {
            Routes::from_pool(&descriptors::POOL)
                .expect("the routes of the compiled protos are well formed")
        })
    }

    /// Answers one HTTP request. Its extensions (the connection's details) go with the call.
    pub async fn handle<B>(&self, request: Request<B>) -> Response<Full<Bytes>>
    where
        B: http_body::Body<Data = Bytes> + Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let (parts, body) = request.into_parts();
        let params = query_pairs(parts.uri.query());
        let form = form(&parts.headers, &params);
        let (route, bindings) = match self.routes().find(&parts.method, parts.uri.path()) {
            Ok(found) => found,
            Err(Miss::NotFound) => {
                return answer(
                    StatusCode::NOT_FOUND,
                    &json!({"code": 5, "message": "Not Found"}),
                    false,
                );
            }
            Err(Miss::WrongVerb) => {
                return answer(
                    StatusCode::NOT_IMPLEMENTED,
                    &json!({"code": 12, "message": "Method Not Allowed"}),
                    false,
                );
            }
        };
        let body = match Limited::new(body, MAX_BODY_BYTES).collect().await {
            Ok(b) => b.to_bytes(),
            Err(e) => return invalid(&format!("reading the body: {e}"), form.pretty),
        };
        let desc = route.method.input();
        let mut object = match &route.body {
            Body::None => Map::new(),
            Body::Whole => match parse_object(&body) {
                Ok(o) => o,
                Err(e) => return invalid(&e, form.pretty),
            },
            Body::Field(field) => {
                let mut object = Map::new();
                if !body.is_empty() {
                    match serde_json::from_slice::<Value>(&body) {
                        Ok(v) => {
                            object.insert(field.clone(), v);
                        }
                        Err(e) => {
                            return invalid(&format!("the body is not JSON: {e}"), form.pretty);
                        }
                    }
                }
                object
            }
        };
        if route.body != Body::Whole {
            for (name, value) in &params {
                if name == "pretty" || name == "noPayloadShorthand" {
                    continue;
                }
                let path: Vec<String> = name.split('.').map(str::to_string).collect();
                if let Err(e) = query::set(&desc, &mut object, &path, value, true) {
                    return invalid(&e, form.pretty);
                }
            }
        }
        for (path, value) in &bindings {
            if let Err(e) = query::set(&desc, &mut object, path, value, false) {
                return invalid(&e, form.pretty);
            }
        }
        let message = match dialect::read(desc, Value::Object(object), form.shorthand_in) {
            Ok(m) => m,
            Err(e) => return invalid(&e, form.pretty),
        };
        let metadata = self.forwarded(&parts.headers);
        let reply = call::unary(
            self.grpc.clone(),
            &route.grpc_path,
            message.encode_to_vec(),
            metadata,
            parts.extensions,
        )
        .await;
        let written = reply.map(|bytes| {
            prost_reflect::DynamicMessage::decode(route.method.output(), bytes)
                .map_err(|e| e.to_string())
                .and_then(|reply| dialect::write(&reply, form.shorthand_out))
        });
        match written {
            Ok(Ok(json)) => answer(StatusCode::OK, &json, form.pretty),
            Ok(Err(e)) => {
                tracing::error!(method = %route.grpc_path, route = %route.template, error = %e, "a reply cannot be written as JSON");
                let status =
                    tonic::Status::internal(format!("the reply cannot be written as JSON: {e}"));
                answer(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    &errors::status_body(&status),
                    form.pretty,
                )
            }
            Err(status) => answer(
                errors::http_status(status.code()),
                &errors::status_body(&status),
                form.pretty,
            ),
        }
    }

    /// The headers a call carries on as gRPC metadata: credentials, `Grpc-Metadata-*` with
    /// the prefix taken off, the forwarding chain, the configured extra headers, and the
    /// client's name and version (this server's when the caller gives none).
    fn forwarded(&self, headers: &HeaderMap) -> HeaderMap {
        let mut out = HeaderMap::new();
        for (name, value) in headers {
            let n = name.as_str();
            if matches!(
                n,
                "authorization"
                    | "authorization-extras"
                    | "x-forwarded-for"
                    | "client-name"
                    | "client-version"
            ) || (self.extra_headers.passes(n) && !is_transport_header(n))
            {
                out.append(name.clone(), value.clone());
            } else if let Some(rest) = n.strip_prefix("grpc-metadata-")
                && let Ok(name) = HeaderName::from_bytes(rest.as_bytes())
                && !rest.starts_with("grpc-")
                && !matches!(rest, "content-type" | "te")
            {
                out.append(name, value.clone());
            }
        }
        if !out.contains_key("client-name") {
            out.insert(
                "client-name",
                HeaderValue::from_static("temporal-server-http"),
            );
            out.insert("client-version", self.version.clone());
        }
        out
    }
}

/// Headers of the HTTP exchange itself, which never travel on as metadata.
fn is_transport_header(name: &str) -> bool {
    matches!(
        name,
        "host" | "content-type" | "content-length" | "te" | "connection" | "transfer-encoding"
    ) || name.starts_with("grpc-")
}

/// The query string's pairs, decoded as HTML forms and grpc-gateway do (`+` is a space).
fn query_pairs(query: Option<&str>) -> Vec<(String, String)> {
    form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .into_owned()
        .collect()
}

fn form(headers: &HeaderMap, params: &[(String, String)]) -> Form {
    let has = |name: &str| params.iter().any(|(k, _)| k == name);
    let media = |h: header::HeaderName| {
        headers
            .get(h)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase()
    };
    let accept = media(header::ACCEPT);
    let content = media(header::CONTENT_TYPE);
    Form {
        pretty: has("pretty") || accept.contains("+pretty"),
        shorthand_out: !(has("noPayloadShorthand") || accept.contains("no-payload-shorthand")),
        shorthand_in: !content.contains("no-payload-shorthand"),
    }
}

/// The body as a JSON object; an empty body is an empty object.
fn parse_object(body: &[u8]) -> Result<Map<String, Value>, String> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(o)) => Ok(o),
        Ok(_) => Err("the body must be a JSON object".into()),
        Err(e) => Err(format!("the body is not JSON: {e}")),
    }
}

fn invalid(message: &str, pretty: bool) -> Response<Full<Bytes>> {
    answer(
        StatusCode::BAD_REQUEST,
        &json!({"code": tonic::Code::InvalidArgument as i32, "message": message}),
        pretty,
    )
}

/// The answer to a call refused with `status` before it reached the gateway: its
/// `google.rpc.Status` body under the HTTP status of its code.
pub fn refusal(status: &tonic::Status) -> Response<Full<Bytes>> {
    answer(
        errors::http_status(status.code()),
        &errors::status_body(status),
        false,
    )
}

fn answer(status: StatusCode, body: &Value, pretty: bool) -> Response<Full<Bytes>> {
    let text = if pretty {
        serde_json::to_vec_pretty(body)
    } else {
        serde_json::to_vec(body)
    }
    .expect("JSON values serialize");
    let mut response = Response::new(Full::new(Bytes::from(text)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A gateway whose gRPC service is never called.
    fn gateway(extra: &[&str]) -> Gateway {
        let never = tower::service_fn(|_: Request<tonic::body::Body>| async {
            Ok::<_, std::convert::Infallible>(Response::new(tonic::body::Body::empty()))
        });
        Gateway::new(GrpcService::new(never), "1.2.3", ExtraHeaders::new(extra))
    }

    fn names(map: &HeaderMap) -> Vec<&str> {
        let mut out: Vec<&str> = map.keys().map(|k| k.as_str()).collect();
        out.sort_unstable();
        out
    }

    #[test]
    fn extra_headers_pass_by_name_or_prefix_and_transport_headers_never() {
        let mut headers = HeaderMap::new();
        for name in [
            "authorization",
            "x-tenant",
            "x-trace-id",
            "x-other",
            "accept",
            "host",
            "grpc-metadata-caller",
            "content-type",
        ] {
            headers.insert(HeaderName::from_static(name), HeaderValue::from_static("v"));
        }
        let plain = gateway(&[]).forwarded(&headers);
        assert_eq!(
            names(&plain),
            ["authorization", "caller", "client-name", "client-version"]
        );
        let extra = gateway(&["X-Tenant", "x-trace*", "host", "content-*"]).forwarded(&headers);
        assert_eq!(
            names(&extra),
            [
                "authorization",
                "caller",
                "client-name",
                "client-version",
                "x-tenant",
                "x-trace-id"
            ]
        );
    }
}
