//! What a plugin may reach beyond clocks and random numbers, by grant.

use std::path::PathBuf;
use std::sync::Arc;

use wasmtime_wasi_http::{RequestOptions, WasiHttpHooks};

/// Capabilities granted to a plugin by the operator.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Grants {
    /// Destinations of outgoing HTTP: `host` (the scheme's default port) or `host:port`.
    /// The check is made on the address the host connects to, not on a header.
    pub http: Vec<String>,
    /// Directories the plugin may read.
    pub directories: Vec<DirectoryGrant>,
}

/// A host directory visible to the plugin at `guest`: read-only unless `writable` (a
/// visibility store keeping its records there, say).
#[derive(Clone, Debug, PartialEq)]
pub struct DirectoryGrant {
    pub host: PathBuf,
    pub guest: String,
    pub writable: bool,
}

/// Whether `authority` (host and port, as connected to) matches a granted entry.
pub fn http_allowed(
    granted: &[String],
    scheme_is_https: bool,
    host: &str,
    port: Option<u16>,
) -> bool {
    let port = port.unwrap_or(if scheme_is_https { 443 } else { 80 });
    let host = host.trim_start_matches('[').trim_end_matches(']');
    granted.iter().any(|entry| {
        let (ghost, gport) = split_host_port(entry);
        let gport = gport.unwrap_or(if scheme_is_https { 443 } else { 80 });
        ghost.eq_ignore_ascii_case(host) && gport == port
    })
}

fn split_host_port(entry: &str) -> (&str, Option<u16>) {
    let entry = entry.trim();
    if let Some(rest) = entry.strip_prefix('[') {
        // [v6]:port
        if let Some((h, p)) = rest.split_once(']') {
            return (h, p.strip_prefix(':').and_then(|p| p.parse().ok()));
        }
    }
    match entry.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => match p.parse() {
            Ok(p) => (h, Some(p)),
            Err(_) => (entry, None),
        },
        _ => (entry, None),
    }
}

/// The wasi:http hooks of one store: outgoing requests only to granted destinations.
pub(crate) struct HttpHooks {
    granted: Vec<String>,
    plugin: Arc<str>,
}

impl HttpHooks {
    pub(crate) fn new(granted: Vec<String>, plugin: Arc<str>) -> HttpHooks {
        HttpHooks { granted, plugin }
    }
}

impl WasiHttpHooks for HttpHooks {
    fn send_request(
        &mut self,
        request: http::Request<wasmtime_wasi_http::WasiBody>,
        options: Option<RequestOptions>,
        fut: Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
    ) -> Box<
        dyn Future<
                Output = wasmtime_wasi_http::Result<(
                    http::Response<wasmtime_wasi_http::WasiBody>,
                    Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
                )>,
            > + Send,
    > {
        let uri = request.uri();
        let https = uri.scheme() == Some(&http::uri::Scheme::HTTPS);
        let allowed = uri
            .authority()
            .is_some_and(|a| http_allowed(&self.granted, https, a.host(), a.port_u16()));
        if !allowed {
            tracing::warn!(plugin = &*self.plugin, uri = %uri, "plugin HTTP request denied: destination not granted");
            return Box::new(async { Err(wasmtime_wasi_http::Error::HttpRequestDenied) });
        }
        _ = fut;
        Box::new(async move {
            use http_body_util::BodyExt;
            let (res, io) = wasmtime_wasi_http::default_send_request(request, options).await?;
            Ok((
                res.map(BodyExt::boxed_unsync),
                Box::new(io) as Box<dyn Future<Output = _> + Send>,
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations() {
        let g = vec!["keys.example.com".to_string(), "127.0.0.1:8080".to_string()];
        assert!(http_allowed(&g, true, "keys.example.com", None));
        assert!(http_allowed(&g, true, "KEYS.example.com", Some(443)));
        assert!(!http_allowed(&g, true, "keys.example.com", Some(8443)));
        assert!(!http_allowed(&g, false, "keys.example.com", Some(443)));
        assert!(http_allowed(&g, false, "127.0.0.1", Some(8080)));
        assert!(!http_allowed(&g, false, "127.0.0.1", Some(8081)));
        assert!(!http_allowed(&g, false, "evil.example.com", Some(8080)));
        assert!(!http_allowed(&[], false, "127.0.0.1", Some(8080)));
        assert!(http_allowed(
            &["[::1]:9000".into()],
            false,
            "[::1]",
            Some(9000)
        ));
    }
}
