//! The few S3 calls the archiver makes, signed with SigV4 (presigned URLs, `rusty-s3`) and sent
//! over the host's outgoing HTTP (`wasi:http`, through `wstd`), which reaches only the hosts the
//! operator grants.

use std::time::Duration;

use rusty_s3::actions::ListObjectsV2;
use rusty_s3::{Bucket, Credentials, S3Action, UrlStyle};
use serde::Deserialize;
use wstd::http::{Body, Client, Method, Request};

use crate::Failure;

/// How long a signed request stays valid: the call's deadline is far shorter.
const SIGNED_FOR: Duration = Duration::from_secs(300);

/// The store's settings, from the plugin's config (Temporal's `s3store` names).
pub struct Store {
    endpoint: url::Url,
    region: String,
    path_style: bool,
    credentials: Option<Credentials>,
}

impl Store {
    /// `endpoint` (default `https://s3.<region>.amazonaws.com`), `region` (default
    /// `us-east-1`), `s3ForcePathStyle`, `accessKeyId`, `secretAccessKey`, `sessionToken`.
    pub fn from_config(config: impl Fn(&str) -> Option<String>) -> Result<Store, Failure> {
        let region = config("region").unwrap_or_else(|| "us-east-1".into());
        let endpoint =
            config("endpoint").unwrap_or_else(|| format!("https://s3.{region}.amazonaws.com"));
        let endpoint = endpoint.parse().map_err(|e| {
            Failure::InvalidArgument(format!("config endpoint {endpoint:?} is not a URL: {e}"))
        })?;
        let path_style = matches!(config("s3ForcePathStyle").as_deref(), Some("true" | "1"));
        let credentials = match (config("accessKeyId"), config("secretAccessKey")) {
            (Some(key), Some(secret)) => Some(match config("sessionToken") {
                Some(token) => Credentials::new_with_token(key, secret, token),
                None => Credentials::new(key, secret),
            }),
            (None, None) => None,
            _ => {
                return Err(Failure::InvalidArgument(
                    "config accessKeyId and secretAccessKey go together".into(),
                ));
            }
        };
        Ok(Store {
            endpoint,
            region,
            path_style,
            credentials,
        })
    }

    pub fn bucket(&self, name: &str) -> Result<Bucket, Failure> {
        let style = match self.path_style {
            true => UrlStyle::Path,
            false => UrlStyle::VirtualHost,
        };
        Bucket::new(
            self.endpoint.clone(),
            style,
            name.to_string(),
            self.region.clone(),
        )
        .map_err(|e| Failure::InvalidArgument(format!("bucket {name:?}: {e}")))
    }

    fn creds(&self) -> Option<&Credentials> {
        self.credentials.as_ref()
    }

    /// Whether the bucket exists and these credentials reach it.
    pub fn head_bucket(&self, bucket: &Bucket) -> Result<(), Failure> {
        let url = bucket.head_bucket(self.creds()).sign(SIGNED_FOR);
        match send(Method::HEAD, url, None)? {
            (200, _) => Ok(()),
            (404, _) => Err(Failure::InvalidArgument(format!(
                "bucket {:?} does not exist",
                bucket.name()
            ))),
            (status, body) => Err(http_failure("HEAD", bucket.name(), status, &body)),
        }
    }

    pub fn put(&self, bucket: &Bucket, key: &str, data: Vec<u8>) -> Result<(), Failure> {
        let url = bucket.put_object(self.creds(), key).sign(SIGNED_FOR);
        match send(Method::PUT, url, Some(data))? {
            (200, _) => Ok(()),
            (status, body) => Err(http_failure("PUT", key, status, &body)),
        }
    }

    /// The object's bytes; None when there is no such object.
    pub fn get(&self, bucket: &Bucket, key: &str) -> Result<Option<Vec<u8>>, Failure> {
        let url = bucket.get_object(self.creds(), key).sign(SIGNED_FOR);
        match send(Method::GET, url, None)? {
            (200, body) => Ok(Some(body)),
            (404, _) => Ok(None),
            (status, body) => Err(http_failure("GET", key, status, &body)),
        }
    }

    /// Up to 1000 keys under `prefix` after `start_after`, ascending; whether more follow.
    pub fn list(
        &self,
        bucket: &Bucket,
        prefix: &str,
        start_after: &str,
    ) -> Result<(Vec<String>, bool), Failure> {
        let mut action: ListObjectsV2<'_> = bucket.list_objects_v2(self.creds());
        action.with_prefix(prefix);
        if !start_after.is_empty() {
            action.with_start_after(start_after);
        }
        let url = action.sign(SIGNED_FOR);
        let (status, body) = send(Method::GET, url, None)?;
        if status != 200 {
            return Err(http_failure("LIST", prefix, status, &body));
        }
        let listed: ListBucketResult = quick_xml::de::from_reader(body.as_slice())
            .map_err(|e| Failure::Retryable(format!("listing {prefix}: unreadable answer: {e}")))?;
        let mut keys = Vec::with_capacity(listed.contents.len());
        for c in listed.contents {
            // Asked with encoding-type=url: keys come percent-encoded.
            let key = percent_encoding::percent_decode_str(&c.key)
                .decode_utf8()
                .map_err(|e| {
                    Failure::Retryable(format!("listing {prefix}: a key is not UTF-8: {e}"))
                })?;
            keys.push(key.into_owned());
        }
        let more = listed.is_truncated && !keys.is_empty();
        Ok((keys, more))
    }
}

/// What a ListObjectsV2 answer holds that the archiver reads (only the keys: stores differ
/// in the rest, some leave out ETags).
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListBucketResult {
    #[serde(default)]
    contents: Vec<Listed>,
    #[serde(default)]
    is_truncated: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Listed {
    key: String,
}

fn http_failure(what: &str, key: &str, status: u16, body: &[u8]) -> Failure {
    let detail = String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned();
    let message = format!("{what} {key}: HTTP {status}: {detail}");
    match status {
        400 => Failure::InvalidArgument(message),
        // Credentials, throttling, outages: the operator or time may fix them.
        _ => Failure::Retryable(message),
    }
}

/// One request; the status and the whole answer.
fn send(method: Method, url: url::Url, body: Option<Vec<u8>>) -> Result<(u16, Vec<u8>), Failure> {
    wstd::runtime::block_on(async move {
        let body = body.map_or_else(Body::empty, Body::from);
        let request = Request::builder()
            .method(method)
            .uri(url.as_str())
            .body(body)
            .map_err(|e| Failure::InvalidArgument(format!("request to {url}: {e}")))?;
        let response = Client::new()
            .send(request)
            .await
            .map_err(|e| Failure::Retryable(format!("{url}: {e}")))?;
        let status = response.status().as_u16();
        let mut body = response.into_body();
        let bytes = body
            .contents()
            .await
            .map_err(|e| Failure::Retryable(format!("{url}: reading the answer: {e}")))?
            .to_vec();
        Ok((status, bytes))
    })
}
