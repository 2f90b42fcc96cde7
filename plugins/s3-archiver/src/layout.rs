//! Where the archiver keeps things in a bucket, and the visibility records as JSON objects.
//! Pure (no I/O), so it is tested natively.
//!
//! Under the URI's prefix, per namespace id:
//! - `<ns>/history/<workflow id>/<run id>/<close failover version>.json`: the whole history,
//!   a JSON array of `temporal.api.history.v1.History` batches in proto3 JSON (what
//!   `temporal workflow show -o json` prints);
//! - `<ns>/visibility/<newest-first close time>_<run id>.json`: the run's visibility record.
//!   The time is `i64::MAX - close time in ns`, zero-padded, so S3's ascending key order is
//!   newest close first, the order of a listing.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use sundial_visquery::ValueType;
use sundial_visquery::archived::ArchivedRun;

/// An `s3://bucket/prefix` URI taken apart.
#[derive(Clone, Debug, PartialEq)]
pub struct Location {
    pub bucket: String,
    /// Empty, or ends with `/`.
    pub prefix: String,
}

impl Location {
    pub fn parse(uri: &str) -> Result<Location, String> {
        let rest = uri
            .strip_prefix("s3://")
            .ok_or_else(|| format!("{uri:?} is not an s3:// URI"))?;
        let (bucket, path) = rest.split_once('/').unwrap_or((rest, ""));
        let valid_bucket = (3..=63).contains(&bucket.len())
            && bucket
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
            && !bucket.starts_with(['-', '.'])
            && !bucket.ends_with(['-', '.']);
        if !valid_bucket {
            return Err(format!(
                "{uri:?}: {bucket:?} is not an S3 bucket name (3 to 63 lower-case letters, digits, - and .)"
            ));
        }
        let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
        let prefix = parts.iter().map(|p| format!("{p}/")).collect();
        Ok(Location {
            bucket: bucket.to_string(),
            prefix,
        })
    }

    pub fn history_dir(&self, namespace_id: &str, workflow_id: &str, run_id: &str) -> String {
        format!(
            "{}{namespace_id}/history/{workflow_id}/{run_id}/",
            self.prefix
        )
    }

    pub fn history_key(&self, ns: &str, workflow_id: &str, run_id: &str, version: i64) -> String {
        format!(
            "{}{version}.json",
            self.history_dir(ns, workflow_id, run_id)
        )
    }

    pub fn visibility_dir(&self, namespace_id: &str) -> String {
        format!("{}{namespace_id}/visibility/", self.prefix)
    }

    pub fn visibility_key(&self, namespace_id: &str, close_time: i64, run_id: &str) -> String {
        let newest_first = i64::MAX - close_time.max(0);
        format!(
            "{}{newest_first:019}_{run_id}.json",
            self.visibility_dir(namespace_id)
        )
    }
}

/// The close failover version a history key holds, if it is one.
pub fn history_version(key: &str) -> Option<i64> {
    key.rsplit('/').next()?.strip_suffix(".json")?.parse().ok()
}

/// A closed run's visibility record as stored: the WIT record in JSON, the memo in proto3 JSON.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct StoredRecord {
    pub namespace_id: String,
    pub namespace: String,
    pub workflow_id: String,
    pub run_id: String,
    pub workflow_type_name: String,
    /// Unix nanoseconds.
    pub start_time: i64,
    pub execution_time: i64,
    pub close_time: i64,
    pub status: i32,
    pub history_length: i64,
    pub memo: serde_json::Value,
    pub search_attributes: HashMap<String, String>,
    pub history_archival_uri: String,
    pub execution_duration: i64,
}

impl StoredRecord {
    /// The record as a visibility query sees it.
    pub fn view<'a>(&'a self, types: &'a HashMap<String, ValueType>) -> ArchivedRun<'a> {
        ArchivedRun {
            workflow_id: &self.workflow_id,
            run_id: &self.run_id,
            workflow_type: &self.workflow_type_name,
            status: self.status,
            start_time: self.start_time,
            execution_time: self.execution_time,
            close_time: self.close_time,
            history_length: self.history_length,
            execution_duration: self.execution_duration,
            search_attributes: &self.search_attributes,
            types,
        }
    }
}

/// Where a history read continues.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryToken {
    pub close_failover_version: i64,
    pub next_batch_idx: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_name_a_bucket_and_a_prefix() {
        let l = Location::parse("s3://archive-bucket/temporal//h/").unwrap();
        assert_eq!(l.bucket, "archive-bucket");
        assert_eq!(l.prefix, "temporal/h/");
        assert_eq!(Location::parse("s3://bkt").unwrap().prefix, "");
        for bad in [
            "gs://bkt/x",
            "s3://",
            "s3://Upper/x",
            "s3://ab/x",
            "s3://-bucket",
        ] {
            assert!(Location::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            l.history_key("ns", "wf", "run", 0),
            "temporal/h/ns/history/wf/run/0.json"
        );
        assert_eq!(history_version("p/ns/history/wf/run/12.json"), Some(12));
    }

    #[test]
    fn visibility_keys_sort_newest_close_first() {
        let l = Location::parse("s3://bkt/v").unwrap();
        let older = l.visibility_key("ns", 1_000, "b");
        let newer = l.visibility_key("ns", 2_000, "a");
        assert!(newer < older);
        assert!(older.starts_with("v/ns/visibility/"));
        let far = l.visibility_key("ns", 9, "z");
        let near = l.visibility_key("ns", 10_000_000_000_000_000, "z");
        assert!(near < far, "fixed width keeps the order across magnitudes");
    }
}
