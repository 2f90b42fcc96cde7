//! Archival through an `archiver` plugin: an [`Archiver`] the archival provider routes a URI
//! scheme to, calling whichever version of the plugin is live (hot reload included). While no
//! version is loaded, archiving fails as retryable and is tried again later.

use std::sync::Arc;

use async_trait::async_trait;
use sundial_archival::{
    ArchiveHistoryRequest, Archiver, Error, GetHistoryRequest, HistoryPage, HistorySource,
    QueryVisibilityRequest, QueryVisibilityResponse, Result, Settings, Uri, VisibilityRecord,
};
use sundial_plugin_host::ArchiverPlugin;

use crate::config::Config;
use crate::plugins::Plugins;

pub struct PluginArchiver {
    plugins: Arc<Plugins>,
    name: String,
}

/// Routes each archiver plugin's schemes to it.
pub fn serve_plugins(settings: &mut Settings, config: &Config, plugins: &Arc<Plugins>) {
    for (scheme, name) in config.archiver_schemes() {
        tracing::info!(
            scheme,
            plugin = name,
            "archival URIs of this scheme go to a plugin"
        );
        let archiver = PluginArchiver {
            plugins: plugins.clone(),
            name: name.to_string(),
        };
        settings.provider.serve(scheme, Arc::new(archiver));
    }
}

impl PluginArchiver {
    fn live(&self) -> Result<Arc<ArchiverPlugin>> {
        self.plugins.live().archiver(&self.name).ok_or_else(|| {
            Error::Retryable(format!("the archiver plugin {:?} is not loaded", self.name))
        })
    }
}

#[async_trait]
impl Archiver for PluginArchiver {
    async fn validate_history_uri(&self, uri: &Uri) -> Result<()> {
        self.live()?.validate_history_uri(uri).await
    }

    async fn archive_history(
        &self,
        uri: &Uri,
        request: &ArchiveHistoryRequest,
        source: Arc<dyn HistorySource>,
    ) -> Result<()> {
        self.live()?.archive_history(uri, request, source).await
    }

    async fn get_history(&self, uri: &Uri, request: &GetHistoryRequest) -> Result<HistoryPage> {
        self.live()?.get_history(uri, request).await
    }

    async fn validate_visibility_uri(&self, uri: &Uri) -> Result<()> {
        self.live()?.validate_visibility_uri(uri).await
    }

    async fn archive_visibility(&self, uri: &Uri, record: &VisibilityRecord) -> Result<()> {
        self.live()?.archive_visibility(uri, record).await
    }

    async fn query_visibility(
        &self,
        uri: &Uri,
        request: &QueryVisibilityRequest,
    ) -> Result<QueryVisibilityResponse> {
        self.live()?.query_visibility(uri, request).await
    }
}
