//! Reading key sources: `file://` with std::fs (a directory the host preopened), `http://` and
//! `https://` with wasi:http's outgoing handler (inside a component only).

use std::io::Read;

use crate::cache::Fetch;

/// Largest key set document read.
pub const MAX_BODY: usize = 1 << 20;

/// The fetcher the component uses.
pub struct Sources;

impl Fetch for Sources {
    fn fetch(&mut self, uri: &str) -> Result<Vec<u8>, String> {
        let lower = uri.to_ascii_lowercase();
        if lower.starts_with("file://") {
            read_file(&uri["file://".len()..])
        } else if lower.starts_with("http://") || lower.starts_with("https://") {
            http_get(uri)
        } else {
            Err("unsupported key source scheme (file, http and https are)".into())
        }
    }
}

/// `file://` URIs: host empty or `localhost`, then an absolute path (percent-escapes decoded).
pub fn file_path(rest: &str) -> Result<String, String> {
    let slash = rest.find('/').ok_or("file URI without a path")?;
    let host = &rest[..slash];
    if !host.is_empty() && !host.eq_ignore_ascii_case("localhost") {
        return Err(format!(
            "file URI host must be empty or localhost, not {host:?}"
        ));
    }
    percent_decode(&rest[slash..])
}

fn read_file(rest: &str) -> Result<Vec<u8>, String> {
    let path = file_path(rest)?;
    let file = std::fs::File::open(&path).map_err(|e| format!("cannot open {path}: {e}"))?;
    let mut body = Vec::new();
    file.take(MAX_BODY as u64 + 1)
        .read_to_end(&mut body)
        .map_err(|e| format!("cannot read {path}: {e}"))?;
    if body.len() > MAX_BODY {
        return Err(format!("{path} is larger than {MAX_BODY} bytes"));
    }
    Ok(body)
}

fn percent_decode(s: &str) -> Result<String, String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s
                .get(i + 1..i + 3)
                .ok_or("bad percent-escape in file URI")?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| "bad percent-escape in file URI")?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "file URI path is not UTF-8".into())
}

/// An http(s) URI taken apart: (https, authority, path with query).
pub fn split_http_uri(uri: &str) -> Result<(bool, &str, String), String> {
    let (https, rest) = match uri.split_once("://") {
        Some((s, rest)) if s.eq_ignore_ascii_case("https") => (true, rest),
        Some((s, rest)) if s.eq_ignore_ascii_case("http") => (false, rest),
        _ => return Err("not an http(s) URI".into()),
    };
    let rest = rest.split('#').next().unwrap_or(rest);
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    if authority.is_empty() {
        return Err("URI without a host".into());
    }
    if authority.contains('@') {
        return Err("credentials in key source URIs are not supported".into());
    }
    let path = if path.starts_with('/') {
        path.to_owned()
    } else {
        format!("/{path}")
    };
    Ok((https, authority, path))
}

#[cfg(not(target_arch = "wasm32"))]
fn http_get(uri: &str) -> Result<Vec<u8>, String> {
    split_http_uri(uri)?;
    Err("http(s) key sources are only fetched inside a component".into())
}

#[cfg(target_arch = "wasm32")]
fn http_get(uri: &str) -> Result<Vec<u8>, String> {
    use wasi::http::outgoing_handler;
    use wasi::http::types::{
        ErrorCode, Fields, IncomingBody, Method, OutgoingRequest, RequestOptions, Scheme,
    };
    use wasi::io::streams::StreamError;

    const TIMEOUT_NS: u64 = 5_000_000_000;

    let (https, authority, path) = split_http_uri(uri)?;
    let request = OutgoingRequest::new(Fields::new());
    let fail = |what: &str| format!("cannot build the request ({what})");
    request
        .set_method(&Method::Get)
        .map_err(|()| fail("method"))?;
    let scheme = if https { Scheme::Https } else { Scheme::Http };
    request
        .set_scheme(Some(&scheme))
        .map_err(|()| fail("scheme"))?;
    request
        .set_authority(Some(authority))
        .map_err(|()| fail("authority"))?;
    request
        .set_path_with_query(Some(&path))
        .map_err(|()| fail("path"))?;
    let options = RequestOptions::new();
    // Hosts may not support every timeout; the call's own deadline still applies.
    let _ = options.set_connect_timeout(Some(TIMEOUT_NS));
    let _ = options.set_first_byte_timeout(Some(TIMEOUT_NS));
    let _ = options.set_between_bytes_timeout(Some(TIMEOUT_NS));

    let describe = |e: ErrorCode| format!("request failed: {e:?}");
    let pending = outgoing_handler::handle(request, Some(options)).map_err(describe)?;
    pending.subscribe().block();
    let response = pending
        .get()
        .ok_or("no response")?
        .map_err(|()| "response already taken")?
        .map_err(describe)?;
    let status = response.status();
    if status != 200 {
        return Err(format!("HTTP status {status}"));
    }
    let body = response
        .consume()
        .map_err(|()| "response body already taken")?;
    let stream = body
        .stream()
        .map_err(|()| "response body stream already taken")?;
    let mut out = Vec::new();
    loop {
        match stream.blocking_read(64 * 1024) {
            Ok(chunk) => {
                out.extend_from_slice(&chunk);
                if out.len() > MAX_BODY {
                    return Err(format!("response larger than {MAX_BODY} bytes"));
                }
            }
            Err(StreamError::Closed) => break,
            Err(StreamError::LastOperationFailed(e)) => {
                return Err(format!(
                    "reading the response failed: {}",
                    e.to_debug_string()
                ));
            }
        }
    }
    drop(stream);
    drop(IncomingBody::finish(body));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_uris() {
        assert_eq!(file_path("/keys/jwks.json").unwrap(), "/keys/jwks.json");
        assert_eq!(
            file_path("localhost/keys/a%20b.json").unwrap(),
            "/keys/a b.json"
        );
        assert_eq!(file_path("LOCALHOST/k").unwrap(), "/k");
        assert!(file_path("example.com/keys").is_err());
        assert!(file_path("relative").is_err());
        assert!(file_path("/bad%zz").is_err());
    }

    #[test]
    fn reads_files_with_a_size_limit() {
        let dir = std::env::temp_dir().join(format!("jwt-mapper-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let small = dir.join("small.json");
        std::fs::write(&small, b"{\"keys\":[]}").unwrap();
        let uri = format!("file://{}", small.display());
        assert_eq!(Sources.fetch(&uri).unwrap(), b"{\"keys\":[]}");
        let big = dir.join("big.json");
        std::fs::write(&big, vec![b' '; MAX_BODY + 1]).unwrap();
        let e = Sources
            .fetch(&format!("file://{}", big.display()))
            .unwrap_err();
        assert!(e.contains("larger than"), "{e}");
        let e = Sources
            .fetch(&format!("file://{}", dir.join("missing").display()))
            .unwrap_err();
        assert!(e.contains("cannot open"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn http_uris() {
        assert_eq!(
            split_http_uri("https://idp.example/.well-known/jwks.json").unwrap(),
            (true, "idp.example", "/.well-known/jwks.json".into())
        );
        assert_eq!(
            split_http_uri("http://127.0.0.1:8080").unwrap(),
            (false, "127.0.0.1:8080", "/".into())
        );
        assert_eq!(
            split_http_uri("HTTP://h/k?x=1#frag").unwrap(),
            (false, "h", "/k?x=1".into())
        );
        assert_eq!(
            split_http_uri("http://h?x=1").unwrap(),
            (false, "h", "/?x=1".into())
        );
        assert!(split_http_uri("http:///path").is_err());
        assert!(split_http_uri("https://user:pw@h/k").is_err());
        assert!(Sources.fetch("ftp://h/k").is_err());
    }
}
