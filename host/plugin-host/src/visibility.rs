//! The `visibility-store` world: a component that keeps visibility records and answers
//! List/Count. Calls run under the plugin's limits like every other plugin call; a failure
//! comes back as a [`Fault`] (the server retries writes and fails queries with Unavailable).

use std::sync::Mutex;

use wasmtime::component::{HasSelf, InstancePre, Linker};

use crate::{Fault, Loaded, State, Warm};

mod bindings {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "visibility-store",
        exports: { default: async },
        with: {
            "sundial:plugin/types": crate::bindings::sundial::plugin::types,
            "sundial:plugin/host": crate::bindings::sundial::plugin::host,
        },
    });
}

/// The records and requests of the `visibility-storage` interface.
pub mod visibility_storage {
    pub use super::bindings::exports::sundial::plugin::visibility_storage::{
        AttributeValue, Change, CountGroup, CountResponse, ExecutionRecord, ListRequest,
        ListResponse, Query, SearchAttribute,
    };
}

use bindings::sundial::plugin::types::PluginError;
use visibility_storage::*;

pub(crate) fn add_to_linker(linker: &mut Linker<State>) -> wasmtime::Result<()> {
    bindings::VisibilityStore::add_to_linker::<State, HasSelf<State>>(linker, |s| s)
}

fn error_text(e: PluginError) -> String {
    match e {
        PluginError::InvalidArgument(m) => format!("invalid argument: {m}"),
        PluginError::NotFound(m) => format!("not found: {m}"),
        PluginError::Retryable(m) => format!("retryable: {m}"),
        PluginError::NonRetryable(m) => format!("non-retryable: {m}"),
    }
}

/// A loaded visibility-store component.
pub struct VisibilityStorePlugin {
    pre: bindings::VisibilityStorePre<State>,
    loaded: Loaded,
    idle: Mutex<Vec<Warm<bindings::VisibilityStore>>>,
}

impl VisibilityStorePlugin {
    pub(crate) fn new(
        pre: InstancePre<State>,
        loaded: Loaded,
    ) -> wasmtime::Result<VisibilityStorePlugin> {
        Ok(VisibilityStorePlugin {
            pre: bindings::VisibilityStorePre::new(pre)?,
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

    /// Applies changes in order.
    pub async fn write(&self, changes: &[Change]) -> Result<(), Fault> {
        self.loaded
            .run(
                &self.idle,
                async |s| self.pre.instantiate_async(s).await,
                async |i, s| {
                    Ok(i.sundial_plugin_visibility_storage()
                        .call_write(s, changes)
                        .await?
                        .map_err(error_text))
                },
            )
            .await
    }

    pub async fn list(&self, request: &ListRequest) -> Result<ListResponse, Fault> {
        self.loaded
            .run(
                &self.idle,
                async |s| self.pre.instantiate_async(s).await,
                async |i, s| {
                    Ok(i.sundial_plugin_visibility_storage()
                        .call_list(s, request)
                        .await?
                        .map_err(error_text))
                },
            )
            .await
    }

    pub async fn count(
        &self,
        query: &Query,
        group_by_status: bool,
    ) -> Result<CountResponse, Fault> {
        self.loaded
            .run(
                &self.idle,
                async |s| self.pre.instantiate_async(s).await,
                async |i, s| {
                    Ok(i.sundial_plugin_visibility_storage()
                        .call_count(s, query, group_by_status)
                        .await?
                        .map_err(error_text))
                },
            )
            .await
    }
}
