//! The built-in `file` archiver: each archived history is one JSON file (an array of
//! `History` batches in proto3 JSON) in the URI's directory, each visibility record one JSON
//! file under a directory per namespace (see `file_visibility.rs`). Files are written to a
//! temporary name and renamed into place, so a copy is whole or absent, and archiving a run
//! twice, even at once, leaves one correct copy.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sundial_api::json;
use sundial_api::protos::temporal::api::history::v1::History;

use crate::{
    ArchiveHistoryRequest, Archiver, Error, GetHistoryRequest, HistoryPage, HistorySource,
    QueryVisibilityRequest, QueryVisibilityResponse, Result, Uri, VisibilityRecord,
};

const HISTORY: &str = "temporal.api.history.v1.History";
/// Events read from the source per page while archiving.
const READ_PAGE: u32 = 250;

/// Unix permissions of the files and directories the archiver creates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileModes {
    pub file: u32,
    pub dir: u32,
}

impl Default for FileModes {
    /// Temporal's development defaults.
    fn default() -> Self {
        FileModes {
            file: 0o666,
            dir: 0o766,
        }
    }
}

/// The `file` scheme's archiver.
#[derive(Clone, Debug, Default)]
pub struct FileArchiver {
    pub modes: FileModes,
}

/// Where a `get-history` page continues.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PageToken {
    close_failover_version: i64,
    next_batch_idx: usize,
}

/// A short stable digest of `parts` (hex), naming a run's files.
pub(crate) fn digest(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0]);
    }
    h.finalize()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn io(what: &str, path: &Path, e: std::io::Error) -> Error {
    Error::Retryable(format!("{what} {}: {e}", path.display()))
}

impl FileArchiver {
    /// The directory of a `file` URI, checked: a path, and a directory if it exists.
    pub(crate) async fn directory(&self, uri: &Uri) -> Result<PathBuf> {
        if uri.scheme() != "file" {
            return Err(Error::InvalidArgument(format!("{uri} is not a file URI")));
        }
        if uri
            .host()
            .is_some_and(|h| !h.is_empty() && h != "localhost")
        {
            return Err(Error::InvalidArgument(format!(
                "{uri} names a host; a file URI names a local directory (file:///path)"
            )));
        }
        let dir = uri.file_path()?;
        if dir.as_os_str().is_empty() || dir == Path::new("/") {
            return Err(Error::InvalidArgument(format!("{uri} names no directory")));
        }
        match tokio::fs::metadata(&dir).await {
            Ok(m) if !m.is_dir() => Err(Error::InvalidArgument(format!(
                "{} exists and is not a directory",
                dir.display()
            ))),
            _ => Ok(dir),
        }
    }

    /// Writes `data` to `path` whole: a temporary file beside it, renamed into place.
    pub(crate) async fn write_whole(&self, path: &Path, data: &[u8]) -> Result<()> {
        let dir = path.parent().expect("an archive file has a directory");
        self.make_dir(dir).await?;
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        let tmp = dir.join(format!(".{name}.{}.tmp", uuid::Uuid::new_v4().simple()));
        tokio::fs::write(&tmp, data)
            .await
            .map_err(|e| io("writing", &tmp, e))?;
        set_mode(&tmp, self.modes.file).await?;
        if let Err(e) = tokio::fs::rename(&tmp, path).await {
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(io("renaming into", path, e));
        }
        Ok(())
    }

    async fn make_dir(&self, dir: &Path) -> Result<()> {
        if tokio::fs::metadata(dir).await.is_ok_and(|m| m.is_dir()) {
            return Ok(());
        }
        let mut builder = tokio::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        builder.mode(self.modes.dir);
        builder
            .create(dir)
            .await
            .map_err(|e| io("creating directory", dir, e))
    }

    fn history_prefix(r: (&str, &str, &str)) -> String {
        format!("{}_", digest(&[r.0, r.1, r.2]))
    }

    /// The highest close version archived of a run, if any.
    async fn latest_version(&self, dir: &Path, prefix: &str) -> Result<Option<i64>> {
        let mut entries = match tokio::fs::read_dir(dir).await {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io("listing", dir, e)),
        };
        let mut best = None;
        while let Some(entry) = entries
            .next_entry()
            .await
            .map_err(|e| io("listing", dir, e))?
        {
            let name = entry.file_name().to_string_lossy().into_owned();
            let version = name
                .strip_prefix(prefix)
                .and_then(|rest| rest.strip_suffix(".history"))
                .and_then(|v| v.parse::<i64>().ok());
            if let Some(v) = version {
                best = best.max(Some(v));
            }
        }
        Ok(best)
    }
}

#[cfg(unix)]
async fn set_mode(path: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    tokio::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .await
        .map_err(|e| io("setting the mode of", path, e))
}

#[cfg(not(unix))]
async fn set_mode(_: &Path, _: u32) -> Result<()> {
    Ok(())
}

#[async_trait::async_trait]
impl Archiver for FileArchiver {
    async fn validate_history_uri(&self, uri: &Uri) -> Result<()> {
        self.directory(uri).await.map(drop)
    }

    async fn archive_history(
        &self,
        uri: &Uri,
        r: &ArchiveHistoryRequest,
        source: Arc<dyn HistorySource>,
    ) -> Result<()> {
        let dir = self.directory(uri).await?;
        let mut batches: Vec<History> = Vec::new();
        let mut token = Vec::new();
        loop {
            let page = match source
                .read_history(
                    &r.namespace_id,
                    &r.workflow_id,
                    &r.run_id,
                    READ_PAGE,
                    &token,
                )
                .await
            {
                Ok(p) => p,
                // Deleted already: nothing left to archive.
                Err(Error::NotFound(_)) => return Ok(()),
                Err(e) => return Err(e),
            };
            batches.extend(page.batches);
            if page.next_page_token.is_empty() {
                break;
            }
            token = page.next_page_token;
        }
        let last = batches
            .iter()
            .flat_map(|b| b.events.last())
            .last()
            .map_or(0, |e| e.event_id);
        if last + 1 != r.next_event_id {
            return Err(Error::NonRetryable(format!(
                "history was mutated: its last event is {last}, the close said {}",
                r.next_event_id - 1
            )));
        }
        let doc: Vec<serde_json::Value> =
            batches.iter().map(|b| json::to_json(b, HISTORY)).collect();
        let data = serde_json::to_vec_pretty(&doc).expect("JSON values serialize");
        let prefix = Self::history_prefix((&r.namespace_id, &r.workflow_id, &r.run_id));
        let path = dir.join(format!("{prefix}{}.history", r.close_failover_version));
        self.write_whole(&path, &data).await
    }

    async fn get_history(&self, uri: &Uri, r: &GetHistoryRequest) -> Result<HistoryPage> {
        if r.page_size == 0 {
            return Err(Error::InvalidArgument("page size must be positive".into()));
        }
        let dir = self.directory(uri).await?;
        let prefix = Self::history_prefix((&r.namespace_id, &r.workflow_id, &r.run_id));
        let (version, from) = if r.next_page_token.is_empty() {
            let version = match r.close_failover_version {
                Some(v) => Some(v),
                None => self.latest_version(&dir, &prefix).await?,
            };
            (version, 0)
        } else {
            let t: PageToken = serde_json::from_slice(&r.next_page_token)
                .map_err(|_| Error::InvalidArgument("next page token is corrupted".into()))?;
            (Some(t.close_failover_version), t.next_batch_idx)
        };
        let not_found = || Error::NotFound("requested workflow history does not exist".into());
        let version = version.ok_or_else(not_found)?;
        let path = dir.join(format!("{prefix}{version}.history"));
        let data = match tokio::fs::read(&path).await {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(not_found()),
            Err(e) => return Err(io("reading", &path, e)),
        };
        let doc: Vec<serde_json::Value> = serde_json::from_slice(&data).map_err(|e| {
            Error::NonRetryable(format!(
                "{} is not an archived history: {e}",
                path.display()
            ))
        })?;
        let mut page = HistoryPage::default();
        let mut events = 0usize;
        for (i, value) in doc.into_iter().enumerate().skip(from) {
            if events >= r.page_size as usize {
                page.next_page_token = serde_json::to_vec(&PageToken {
                    close_failover_version: version,
                    next_batch_idx: i,
                })
                .expect("a token serializes");
                break;
            }
            let batch: History = json::from_json(value, HISTORY)
                .map_err(|e| Error::NonRetryable(format!("{}: batch {i}: {e}", path.display())))?;
            events += batch.events.len();
            page.batches.push(batch);
        }
        Ok(page)
    }

    async fn validate_visibility_uri(&self, uri: &Uri) -> Result<()> {
        self.directory(uri).await.map(drop)
    }

    async fn archive_visibility(&self, uri: &Uri, record: &VisibilityRecord) -> Result<()> {
        crate::file_visibility::archive(self, uri, record).await
    }

    async fn query_visibility(
        &self,
        uri: &Uri,
        request: &QueryVisibilityRequest,
    ) -> Result<QueryVisibilityResponse> {
        crate::file_visibility::query(self, uri, request).await
    }
}
