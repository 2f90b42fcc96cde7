//! Archival: closed runs' histories and visibility records copied to a long-term store before
//! retention deletes them, and read back from there.
//!
//! An [`Archiver`] serves one or more URI schemes. `file` is built in ([`FileArchiver`]);
//! others come from archiver plugin components. The [`Provider`] picks the archiver of a URI's
//! scheme. History archivers read the run's history themselves, through the [`HistorySource`]
//! the server hands them, page by page.

mod file;
mod file_visibility;
mod memo;
mod record;
pub mod settings;

use std::collections::HashMap;
use std::sync::Arc;

use sundial_api::protos::temporal::api::{common::v1::Memo, history::v1::History};

pub use file::{FileArchiver, FileModes};
pub use settings::{Kind, KindSettings, Settings};

/// What an archiver answers when it cannot do what was asked.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    InvalidArgument(String),
    #[error("{0}")]
    NotFound(String),
    /// Worth trying again later (the store is unreachable, say).
    #[error("{0}")]
    Retryable(String),
    /// Trying again will not help (the history changed under the archiver, say).
    #[error("{0}")]
    NonRetryable(String),
}

pub type Result<T> = std::result::Result<T, Error>;

/// An archival URI: absolute, with a scheme that names its archiver.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Uri(url::Url);

impl Uri {
    pub fn parse(text: &str) -> Result<Uri> {
        url::Url::parse(text)
            .map(Uri)
            .map_err(|e| Error::InvalidArgument(format!("invalid archival URI {text:?}: {e}")))
    }
    pub fn scheme(&self) -> &str {
        self.0.scheme()
    }
    /// The local directory of a `file` URI.
    pub fn file_path(&self) -> Result<std::path::PathBuf> {
        self.0
            .to_file_path()
            .map_err(|()| Error::InvalidArgument(format!("{self} names no local path")))
    }
    pub fn host(&self) -> Option<&str> {
        self.0.host_str()
    }
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

impl std::fmt::Display for Uri {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0.as_str())
    }
}

/// A page of a run's history: whole batches of events.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HistoryPage {
    pub batches: Vec<History>,
    /// Empty on the last page.
    pub next_page_token: Vec<u8>,
}

/// Where a history archiver reads the run it archives.
#[async_trait::async_trait]
pub trait HistorySource: Send + Sync {
    /// A page of the run's history, about `page_size` events. A run whose history is gone
    /// answers `NotFound`.
    async fn read_history(
        &self,
        namespace_id: &str,
        workflow_id: &str,
        run_id: &str,
        page_size: u32,
        next_page_token: &[u8],
    ) -> Result<HistoryPage>;
}

/// One closed run to archive.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ArchiveHistoryRequest {
    pub shard_id: i32,
    pub namespace_id: String,
    pub namespace: String,
    pub workflow_id: String,
    pub run_id: String,
    /// The run's last event id + 1.
    pub next_event_id: i64,
    pub close_failover_version: i64,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct GetHistoryRequest {
    pub namespace_id: String,
    pub workflow_id: String,
    pub run_id: String,
    /// None: the highest archived version.
    pub close_failover_version: Option<i64>,
    pub page_size: u32,
    pub next_page_token: Vec<u8>,
}

/// A closed run's visibility record as archived.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct VisibilityRecord {
    pub namespace_id: String,
    pub namespace: String,
    pub workflow_id: String,
    pub run_id: String,
    pub workflow_type_name: String,
    /// Times in Unix nanoseconds.
    pub start_time: i64,
    pub execution_time: i64,
    pub close_time: i64,
    /// `WorkflowExecutionStatus` value.
    pub status: i32,
    pub history_length: i64,
    /// Memo fields: JSON of each payload as `temporal workflow describe` prints it.
    #[serde(with = "memo")]
    pub memo: Option<Memo>,
    /// Search attributes, each value as text (a list as a JSON array).
    pub search_attributes: HashMap<String, String>,
    pub history_archival_uri: String,
    /// Nanoseconds.
    pub execution_duration: i64,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct QueryVisibilityRequest {
    pub namespace_id: String,
    pub page_size: u32,
    pub next_page_token: Vec<u8>,
    /// In the archiver's query syntax (the file archiver takes List's).
    pub query: String,
    /// Custom search attribute name to type name (`Keyword`, `Datetime`, ...).
    pub search_attribute_types: HashMap<String, String>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct QueryVisibilityResponse {
    /// The matching records, as archived (see [`VisibilityRecord::execution_info`]).
    pub records: Vec<VisibilityRecord>,
    pub next_page_token: Vec<u8>,
}

/// History and visibility archival for the URI schemes an archiver serves.
#[async_trait::async_trait]
pub trait Archiver: Send + Sync {
    /// Checks a history URI's form when a namespace sets it.
    async fn validate_history_uri(&self, uri: &Uri) -> Result<()>;
    /// Archives one closed run, read from `source`. May be called again, even concurrently,
    /// for the same run: one correct copy results. A run whose history is gone succeeds.
    async fn archive_history(
        &self,
        uri: &Uri,
        request: &ArchiveHistoryRequest,
        source: Arc<dyn HistorySource>,
    ) -> Result<()>;
    /// A page of an archived history: whole batches, at least `page_size` events unless it is
    /// the last page.
    async fn get_history(&self, uri: &Uri, request: &GetHistoryRequest) -> Result<HistoryPage>;

    async fn validate_visibility_uri(&self, uri: &Uri) -> Result<()>;
    /// Stores one record; idempotent.
    async fn archive_visibility(&self, uri: &Uri, record: &VisibilityRecord) -> Result<()>;
    async fn query_visibility(
        &self,
        uri: &Uri,
        request: &QueryVisibilityRequest,
    ) -> Result<QueryVisibilityResponse>;
}

/// The archivers of a server, by URI scheme.
#[derive(Clone, Default)]
pub struct Provider {
    by_scheme: HashMap<String, Arc<dyn Archiver>>,
}

impl Provider {
    /// Serves `scheme` with `archiver` (replacing an earlier one).
    pub fn serve(&mut self, scheme: &str, archiver: Arc<dyn Archiver>) {
        self.by_scheme.insert(scheme.to_ascii_lowercase(), archiver);
    }

    /// The archiver of a URI's scheme.
    pub fn archiver(&self, uri: &Uri) -> Result<&Arc<dyn Archiver>> {
        self.by_scheme.get(uri.scheme()).ok_or_else(|| {
            Error::InvalidArgument(format!(
                "no archiver serves the URI scheme {:?} of {uri}",
                uri.scheme()
            ))
        })
    }

    pub fn schemes(&self) -> Vec<&str> {
        let mut out: Vec<&str> = self.by_scheme.keys().map(String::as_str).collect();
        out.sort();
        out
    }
}
