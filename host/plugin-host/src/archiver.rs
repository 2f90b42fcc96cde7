//! The `archiver` world: a component that copies closed runs' histories and visibility
//! records to a store of its own and reads them back, for the URI schemes the server routes to
//! it. [`ArchiverPlugin`] is a [`sundial_archival::Archiver`], so the server uses a component
//! exactly like its built-in file archiver.
//!
//! While `archive-history` runs, the component reads the run through the host import
//! `history-source.read-history`, backed by the [`HistorySource`] the server passes for that
//! call and no other: outside such a call, the import answers an error. What the component
//! answers keeps its kind (invalid argument, not found, retryable, non-retryable); a trap, a
//! missed deadline or a memory blow-up comes back as `Retryable`, since archival tries again
//! until a version of the plugin succeeds.

use std::sync::{Arc, Mutex};

use prost::Message;
use sundial_api::protos::temporal::api::{common::v1::Memo, history::v1::History};
use sundial_archival::{self as archival, HistorySource, Uri};
use wasmtime::component::{HasSelf, InstancePre, Linker};

use crate::{Fault, Loaded, State, Warm};

mod bindings {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "archiver",
        exports: { default: async },
        imports: { "sundial:plugin/history-source.read-history": async },
        with: {
            "sundial:plugin/types": crate::bindings::sundial::plugin::types,
            "sundial:plugin/host": crate::bindings::sundial::plugin::host,
        },
    });
}

use bindings::exports::sundial::plugin::{
    history_archival as wit_history, visibility_archival as wit_visibility,
};
use bindings::sundial::plugin::history_source::{self, HistoryPage};
use bindings::sundial::plugin::types::PluginError;

pub(crate) fn add_to_linker(linker: &mut Linker<State>) -> wasmtime::Result<()> {
    bindings::Archiver::add_to_linker::<State, HasSelf<State>>(linker, |s| s)
}

fn to_plugin(e: archival::Error) -> PluginError {
    match e {
        archival::Error::InvalidArgument(m) => PluginError::InvalidArgument(m),
        archival::Error::NotFound(m) => PluginError::NotFound(m),
        archival::Error::Retryable(m) => PluginError::Retryable(m),
        archival::Error::NonRetryable(m) => PluginError::NonRetryable(m),
    }
}

fn from_plugin(name: &str, e: PluginError) -> archival::Error {
    let said = |m: String| format!("archiver {name}: {m}");
    match e {
        PluginError::InvalidArgument(m) => archival::Error::InvalidArgument(said(m)),
        PluginError::NotFound(m) => archival::Error::NotFound(said(m)),
        PluginError::Retryable(m) => archival::Error::Retryable(said(m)),
        PluginError::NonRetryable(m) => archival::Error::NonRetryable(said(m)),
    }
}

/// A call that did not finish: worth trying again (with the next version, maybe).
fn from_fault(f: Fault) -> archival::Error {
    archival::Error::Retryable(f.to_string())
}

/// A record a component answered, as the server keeps it.
fn from_wit_record(
    plugin: &str,
    r: wit_visibility::VisibilityRecord,
) -> archival::Result<archival::VisibilityRecord> {
    let memo = match r.memo.is_empty() {
        true => None,
        false => Some(Memo::decode(r.memo.as_slice()).map_err(|e| {
            archival::Error::NonRetryable(format!(
                "archiver {plugin}: the memo of run {} does not decode: {e}",
                r.run_id
            ))
        })?),
    };
    Ok(archival::VisibilityRecord {
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

/// The most events a component may ask for in one `read-history` page.
const MAX_READ_PAGE: u32 = 1000;

impl history_source::Host for State {
    async fn read_history(
        &mut self,
        namespace_id: String,
        workflow_id: String,
        run_id: String,
        page_size: u32,
        next_page_token: Vec<u8>,
    ) -> Result<HistoryPage, PluginError> {
        let Some(source) = self.history.clone() else {
            return Err(PluginError::InvalidArgument(
                "read-history is only available during archive-history".into(),
            ));
        };
        let page = source
            .read_history(
                &namespace_id,
                &workflow_id,
                &run_id,
                page_size.clamp(1, MAX_READ_PAGE),
                &next_page_token,
            )
            .await
            .map_err(to_plugin)?;
        Ok(HistoryPage {
            batches: page.batches.iter().map(Message::encode_to_vec).collect(),
            next_page_token: page.next_page_token,
        })
    }
}

/// A loaded archiver component.
pub struct ArchiverPlugin {
    pre: bindings::ArchiverPre<State>,
    loaded: Loaded,
    idle: Mutex<Vec<Warm<bindings::Archiver>>>,
}

impl ArchiverPlugin {
    pub(crate) fn new(pre: InstancePre<State>, loaded: Loaded) -> wasmtime::Result<ArchiverPlugin> {
        Ok(ArchiverPlugin {
            pre: bindings::ArchiverPre::new(pre)?,
            loaded,
            idle: Mutex::new(Vec::new()),
        })
    }

    pub fn sha256(&self) -> &str {
        &self.loaded.sha256
    }

    pub fn name(&self) -> &str {
        &self.loaded.name
    }

    /// Runs one call; the component's own errors come back as they were answered.
    async fn call<T>(
        &self,
        call: impl AsyncFnOnce(
            &bindings::Archiver,
            &mut wasmtime::Store<State>,
        ) -> wasmtime::Result<Result<T, PluginError>>,
    ) -> archival::Result<T> {
        let answer = self
            .loaded
            .run(
                &self.idle,
                async |s| self.pre.instantiate_async(s).await,
                async |i, s| call(i, s).await.map(Ok),
            )
            .await
            .map_err(from_fault)?;
        answer.map_err(|e| from_plugin(&self.loaded.name, e))
    }
}

#[async_trait::async_trait]
impl archival::Archiver for ArchiverPlugin {
    async fn validate_history_uri(&self, uri: &Uri) -> archival::Result<()> {
        self.call(async |i, s| {
            i.sundial_plugin_history_archival()
                .call_validate_uri(s, uri.as_str())
                .await
        })
        .await
    }

    async fn archive_history(
        &self,
        uri: &Uri,
        r: &archival::ArchiveHistoryRequest,
        source: Arc<dyn HistorySource>,
    ) -> archival::Result<()> {
        let request = wit_history::ArchiveHistoryRequest {
            shard_id: r.shard_id,
            namespace_id: r.namespace_id.clone(),
            namespace: r.namespace.clone(),
            workflow_id: r.workflow_id.clone(),
            run_id: r.run_id.clone(),
            next_event_id: r.next_event_id,
            close_failover_version: r.close_failover_version,
        };
        self.call(async |i, s| {
            s.data_mut().history = Some(source);
            let answer = i
                .sundial_plugin_history_archival()
                .call_archive_history(&mut *s, uri.as_str(), &request)
                .await;
            s.data_mut().history = None;
            answer
        })
        .await
    }

    async fn get_history(
        &self,
        uri: &Uri,
        r: &archival::GetHistoryRequest,
    ) -> archival::Result<archival::HistoryPage> {
        let request = wit_history::GetHistoryRequest {
            namespace_id: r.namespace_id.clone(),
            workflow_id: r.workflow_id.clone(),
            run_id: r.run_id.clone(),
            close_failover_version: r.close_failover_version,
            page_size: r.page_size,
            next_page_token: r.next_page_token.clone(),
        };
        let page = self
            .call(async |i, s| {
                i.sundial_plugin_history_archival()
                    .call_get_history(s, uri.as_str(), &request)
                    .await
            })
            .await?;
        let batches = page
            .batches
            .iter()
            .map(|b| History::decode(b.as_slice()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| {
                archival::Error::NonRetryable(format!(
                    "archiver {}: a history batch does not decode: {e}",
                    self.loaded.name
                ))
            })?;
        Ok(archival::HistoryPage {
            batches,
            next_page_token: page.next_page_token,
        })
    }

    async fn validate_visibility_uri(&self, uri: &Uri) -> archival::Result<()> {
        self.call(async |i, s| {
            i.sundial_plugin_visibility_archival()
                .call_validate_uri(s, uri.as_str())
                .await
        })
        .await
    }

    async fn archive_visibility(
        &self,
        uri: &Uri,
        r: &archival::VisibilityRecord,
    ) -> archival::Result<()> {
        let mut search_attributes: Vec<(String, String)> = r
            .search_attributes
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        search_attributes.sort();
        let record = wit_visibility::VisibilityRecord {
            namespace_id: r.namespace_id.clone(),
            namespace: r.namespace.clone(),
            workflow_id: r.workflow_id.clone(),
            run_id: r.run_id.clone(),
            workflow_type: r.workflow_type_name.clone(),
            start_time: r.start_time,
            execution_time: r.execution_time,
            close_time: r.close_time,
            status: r.status,
            history_length: r.history_length,
            memo: r.memo.as_ref().map(Memo::encode_to_vec).unwrap_or_default(),
            search_attributes,
            history_archival_uri: r.history_archival_uri.clone(),
            execution_duration: r.execution_duration,
        };
        self.call(async |i, s| {
            i.sundial_plugin_visibility_archival()
                .call_archive_visibility(s, uri.as_str(), &record)
                .await
        })
        .await
    }

    async fn query_visibility(
        &self,
        uri: &Uri,
        r: &archival::QueryVisibilityRequest,
    ) -> archival::Result<archival::QueryVisibilityResponse> {
        let mut types: Vec<(String, String)> = r
            .search_attribute_types
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        types.sort();
        let request = wit_visibility::QueryVisibilityRequest {
            namespace_id: r.namespace_id.clone(),
            page_size: r.page_size,
            next_page_token: r.next_page_token.clone(),
            query: r.query.clone(),
            search_attribute_types: types,
        };
        let answer = self
            .call(async |i, s| {
                i.sundial_plugin_visibility_archival()
                    .call_query_visibility(s, uri.as_str(), &request)
                    .await
            })
            .await?;
        let records = answer
            .records
            .into_iter()
            .map(|r| from_wit_record(&self.loaded.name, r))
            .collect::<archival::Result<Vec<_>>>()?;
        Ok(archival::QueryVisibilityResponse {
            records,
            next_page_token: answer.next_page_token,
        })
    }
}

impl bindings::sundial::plugin::proto_json::Host for State {
    fn to_json(&mut self, message_name: String, data: Vec<u8>) -> Result<String, PluginError> {
        sundial_api::json::bytes_to_json(&message_name, &data).map_err(PluginError::InvalidArgument)
    }

    fn from_json(&mut self, message_name: String, json: String) -> Result<Vec<u8>, PluginError> {
        sundial_api::json::json_to_bytes(&message_name, &json).map_err(PluginError::InvalidArgument)
    }
}
