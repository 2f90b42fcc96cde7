//! The built-in S3 archiver: histories and visibility records of closed runs as JSON objects
//! in `s3://bucket/prefix` (see [`layout`]), over any S3-protocol store. Requests are signed
//! with SigV4 and go out through the host's granted HTTP; the endpoint, region, path style and
//! credentials come from the plugin's config. Visibility queries take List's language, evaluated
//! with `sundial-visquery` over the namespace's records, newest close first.

pub mod layout;
#[cfg(target_arch = "wasm32")]
mod s3;

/// What went wrong, in the kinds the WIT's `plugin-error` has.
#[derive(Debug)]
pub enum Failure {
    InvalidArgument(String),
    NotFound(String),
    Retryable(String),
    NonRetryable(String),
}

#[cfg(target_arch = "wasm32")]
mod component {
    use sundial_visquery::archived::types_by_name;

    use crate::Failure;
    use crate::layout::{self, HistoryToken, Location, StoredRecord};
    use crate::s3::Store;

    wit_bindgen::generate!({
        path: "../../wit",
        world: "archiver",
    });

    use exports::sundial::plugin::history_archival::{
        self, ArchiveHistoryRequest, GetHistoryRequest,
    };
    use exports::sundial::plugin::visibility_archival::{
        self, QueryVisibilityRequest, QueryVisibilityResponse, VisibilityRecord,
    };
    use sundial::plugin::history_source::{self, HistoryPage};
    use sundial::plugin::types::PluginError;
    use sundial::plugin::{host, proto_json};

    const HISTORY: &str = "temporal.api.history.v1.History";
    const MEMO: &str = "temporal.api.common.v1.Memo";
    /// Events asked of the server per page while archiving.
    const READ_PAGE: u32 = 1000;

    impl From<Failure> for PluginError {
        fn from(f: Failure) -> PluginError {
            match f {
                Failure::InvalidArgument(m) => PluginError::InvalidArgument(m),
                Failure::NotFound(m) => PluginError::NotFound(m),
                Failure::Retryable(m) => PluginError::Retryable(m),
                Failure::NonRetryable(m) => PluginError::NonRetryable(m),
            }
        }
    }

    fn store() -> Result<Store, PluginError> {
        Ok(Store::from_config(host::config)?)
    }

    fn location(uri: &str) -> Result<Location, PluginError> {
        Location::parse(uri).map_err(PluginError::InvalidArgument)
    }

    fn corrupt(what: &str, e: impl std::fmt::Display) -> PluginError {
        PluginError::NonRetryable(format!("{what}: {e}"))
    }

    fn validate(uri: &str) -> Result<(), PluginError> {
        let l = location(uri)?;
        let store = store()?;
        Ok(store.head_bucket(&store.bucket(&l.bucket)?)?)
    }

    struct Plugin;

    impl history_archival::Guest for Plugin {
        fn validate_uri(uri: String) -> Result<(), PluginError> {
            validate(&uri)
        }

        fn archive_history(uri: String, r: ArchiveHistoryRequest) -> Result<(), PluginError> {
            let l = location(&uri)?;
            let mut batches = Vec::new();
            let mut token = Vec::new();
            loop {
                let page = match history_source::read_history(
                    &r.namespace_id,
                    &r.workflow_id,
                    &r.run_id,
                    READ_PAGE,
                    &token,
                ) {
                    Ok(p) => p,
                    // Deleted already: nothing left to archive.
                    Err(PluginError::NotFound(_)) => return Ok(()),
                    Err(e) => return Err(e),
                };
                batches.extend(page.batches);
                if page.next_page_token.is_empty() {
                    break;
                }
                token = page.next_page_token;
            }
            let mut doc = Vec::with_capacity(batches.len());
            for b in &batches {
                let json = proto_json::to_json(HISTORY, b)?;
                doc.push(
                    serde_json::from_str::<serde_json::Value>(&json)
                        .map_err(|e| corrupt("a batch", e))?,
                );
            }
            let last = doc
                .iter()
                .filter_map(|b| {
                    b["events"].as_array()?.last()?["eventId"]
                        .as_str()?
                        .parse::<i64>()
                        .ok()
                })
                .last()
                .unwrap_or(0);
            if last + 1 != r.next_event_id {
                return Err(PluginError::NonRetryable(format!(
                    "history was mutated: its last event is {last}, the close said {}",
                    r.next_event_id - 1
                )));
            }
            let data = serde_json::to_vec_pretty(&doc).expect("JSON values serialize");
            let store = store()?;
            let key = l.history_key(
                &r.namespace_id,
                &r.workflow_id,
                &r.run_id,
                r.close_failover_version,
            );
            Ok(store.put(&store.bucket(&l.bucket)?, &key, data)?)
        }

        fn get_history(uri: String, r: GetHistoryRequest) -> Result<HistoryPage, PluginError> {
            if r.page_size == 0 {
                return Err(PluginError::InvalidArgument(
                    "page size must be positive".into(),
                ));
            }
            let l = location(&uri)?;
            let store = store()?;
            let bucket = store.bucket(&l.bucket)?;
            let (version, from) = if r.next_page_token.is_empty() {
                let version = match r.close_failover_version {
                    Some(v) => Some(v),
                    None => {
                        let dir = l.history_dir(&r.namespace_id, &r.workflow_id, &r.run_id);
                        let (keys, _) = store.list(&bucket, &dir, "")?;
                        keys.iter().filter_map(|k| layout::history_version(k)).max()
                    }
                };
                (version, 0)
            } else {
                let t: HistoryToken = serde_json::from_slice(&r.next_page_token).map_err(|_| {
                    PluginError::InvalidArgument("next page token is corrupted".into())
                })?;
                (Some(t.close_failover_version), t.next_batch_idx)
            };
            let not_found =
                || PluginError::NotFound("requested workflow history does not exist".into());
            let version = version.ok_or_else(not_found)?;
            let key = l.history_key(&r.namespace_id, &r.workflow_id, &r.run_id, version);
            let data = store.get(&bucket, &key)?.ok_or_else(not_found)?;
            let doc: Vec<serde_json::Value> =
                serde_json::from_slice(&data).map_err(|e| corrupt(&key, e))?;
            let mut page = HistoryPage {
                batches: Vec::new(),
                next_page_token: Vec::new(),
            };
            let mut events = 0usize;
            for (i, batch) in doc.iter().enumerate().skip(from) {
                if events >= r.page_size as usize {
                    page.next_page_token = serde_json::to_vec(&HistoryToken {
                        close_failover_version: version,
                        next_batch_idx: i,
                    })
                    .expect("a token serializes");
                    break;
                }
                events += batch["events"].as_array().map_or(0, Vec::len);
                page.batches
                    .push(proto_json::from_json(HISTORY, &batch.to_string())?);
            }
            Ok(page)
        }
    }

    fn stored(r: VisibilityRecord) -> Result<StoredRecord, PluginError> {
        let memo = if r.memo.is_empty() {
            serde_json::Value::Null
        } else {
            let json = proto_json::to_json(MEMO, &r.memo)?;
            serde_json::from_str(&json).map_err(|e| corrupt("the memo", e))?
        };
        Ok(StoredRecord {
            namespace_id: r.namespace_id,
            namespace: r.namespace,
            workflow_id: r.workflow_id,
            run_id: r.run_id,
            workflow_type_name: r.workflow_type,
            start_time: r.start_time,
            execution_time: r.execution_time,
            close_time: r.close_time,
            status: r.status,
            history_length: r.history_length,
            memo,
            search_attributes: r.search_attributes.into_iter().collect(),
            history_archival_uri: r.history_archival_uri,
            execution_duration: r.execution_duration,
        })
    }

    fn record(r: StoredRecord) -> Result<VisibilityRecord, PluginError> {
        let memo = match &r.memo {
            serde_json::Value::Null => Vec::new(),
            m => proto_json::from_json(MEMO, &m.to_string())?,
        };
        let mut search_attributes: Vec<(String, String)> =
            r.search_attributes.into_iter().collect();
        search_attributes.sort();
        Ok(VisibilityRecord {
            namespace_id: r.namespace_id,
            namespace: r.namespace,
            workflow_id: r.workflow_id,
            run_id: r.run_id,
            workflow_type: r.workflow_type_name,
            start_time: r.start_time,
            execution_time: r.execution_time,
            close_time: r.close_time,
            status: r.status,
            history_length: r.history_length,
            memo,
            search_attributes,
            history_archival_uri: r.history_archival_uri,
            execution_duration: r.execution_duration,
        })
    }

    impl visibility_archival::Guest for Plugin {
        fn validate_uri(uri: String) -> Result<(), PluginError> {
            validate(&uri)
        }

        fn archive_visibility(uri: String, entry: VisibilityRecord) -> Result<(), PluginError> {
            if entry.namespace_id.is_empty()
                || entry.workflow_id.is_empty()
                || entry.run_id.is_empty()
            {
                return Err(PluginError::InvalidArgument(
                    "a visibility record needs its namespace id, workflow id and run id".into(),
                ));
            }
            let l = location(&uri)?;
            let key = l.visibility_key(&entry.namespace_id, entry.close_time, &entry.run_id);
            let data = serde_json::to_vec_pretty(&stored(entry)?).expect("a record serializes");
            let store = store()?;
            Ok(store.put(&store.bucket(&l.bucket)?, &key, data)?)
        }

        fn query_visibility(
            uri: String,
            r: QueryVisibilityRequest,
        ) -> Result<QueryVisibilityResponse, PluginError> {
            if r.page_size == 0 {
                return Err(PluginError::InvalidArgument(
                    "page size must be positive".into(),
                ));
            }
            let types = types_by_name(r.search_attribute_types.iter().map(|(n, t)| (n, t)));
            let resolved = sundial_visquery::compile(&r.query, &types)
                .map_err(|e| PluginError::InvalidArgument(e.to_string()))?;
            let l = location(&uri)?;
            let store = store()?;
            let bucket = store.bucket(&l.bucket)?;
            let dir = l.visibility_dir(&r.namespace_id);
            let mut after = String::from_utf8(r.next_page_token)
                .map_err(|_| PluginError::InvalidArgument("next page token is corrupted".into()))?;
            let mut records = Vec::new();
            loop {
                let (keys, more) = store.list(&bucket, &dir, &after)?;
                for key in keys {
                    if records.len() == r.page_size as usize {
                        // Full: the next page starts after the last record taken.
                        return Ok(QueryVisibilityResponse {
                            records,
                            next_page_token: after.into_bytes(),
                        });
                    }
                    after = key;
                    let Some(data) = store.get(&bucket, &after)? else {
                        continue;
                    };
                    let rec: StoredRecord =
                        serde_json::from_slice(&data).map_err(|e| corrupt(&after, e))?;
                    let selected = match &resolved.filter {
                        None => true,
                        Some(f) => sundial_visquery::eval(f, &rec.view(&types)) == Some(true),
                    };
                    if selected {
                        records.push(record(rec)?);
                    }
                }
                if !more {
                    return Ok(QueryVisibilityResponse {
                        records,
                        next_page_token: Vec::new(),
                    });
                }
            }
        }
    }

    export!(Plugin);
}
