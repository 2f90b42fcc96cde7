//! Visibility kept by a `visibility-store` plugin: the store trait the engine writes and
//! queries through, over whichever version of the plugin is live (hot reload included).

use std::sync::Arc;

use async_trait::async_trait;
use sundial_plugin_host::Fault;
use sundial_plugin_host::visibility_storage::{
    AttributeValue, Change, ExecutionRecord, ListRequest, Query, SearchAttribute,
};
use sundial_store::{
    Error, Result, Value, VisibilityPage, VisibilityQuery, VisibilityRecord, VisibilityStore,
    VisibilityWrite,
};

use crate::plugins::Plugins;

/// The engine's visibility store when `persistence.visibility_store` names a plugin.
pub struct PluginVisibility {
    pub plugins: Arc<Plugins>,
}

fn external(f: Fault) -> Error {
    Error::External {
        message: f.to_string(),
        retryable: true,
    }
}

fn record(r: &VisibilityRecord) -> ExecutionRecord {
    ExecutionRecord {
        namespace_id: r.namespace_id.clone(),
        run_id: r.run_id.clone(),
        workflow_id: r.workflow_id.clone(),
        workflow_type: r.workflow_type.clone(),
        task_queue: r.task_queue.clone(),
        status: r.status,
        start_time: r.start_time,
        execution_time: r.execution_time,
        close_time: r.close_time,
        history_length: r.history_length,
        history_size_bytes: r.history_size_bytes,
        execution_duration: r.execution_duration,
        state_transition_count: r.state_transition_count,
        parent_workflow_id: r.parent_workflow_id.clone(),
        parent_run_id: r.parent_run_id.clone(),
        root_workflow_id: r.root_workflow_id.clone(),
        root_run_id: r.root_run_id.clone(),
        search_attributes: r
            .attributes
            .iter()
            .map(|(name, ty, values)| SearchAttribute {
                name: name.clone(),
                value_type: ty.name().to_string(),
                values: values
                    .iter()
                    .map(|v| match v {
                        Value::Str(s) => AttributeValue::Text(s.clone()),
                        Value::Int(i) => AttributeValue::Int(*i),
                        Value::Double(d) => AttributeValue::Double(*d),
                        Value::Bool(b) => AttributeValue::Boolean(*b),
                        Value::Time(t) => AttributeValue::Time(*t),
                    })
                    .collect(),
            })
            .collect(),
        version: r.version,
        info: r.data.clone(),
    }
}

fn query(q: &VisibilityQuery<'_>) -> Query {
    Query {
        namespace_id: q.namespace_id.to_string(),
        namespace: q.namespace.to_string(),
        text: q.text.to_string(),
        custom_attributes: q
            .custom_attributes
            .iter()
            .map(|(n, t)| (n.clone(), t.name().to_string()))
            .collect(),
    }
}

impl PluginVisibility {
    fn plugin(&self) -> Result<Arc<sundial_plugin_host::VisibilityStorePlugin>> {
        self.plugins
            .live()
            .visibility
            .clone()
            .ok_or(Error::External {
                message: "the visibility store plugin is not loaded".into(),
                retryable: true,
            })
    }
}

#[async_trait]
impl VisibilityStore for PluginVisibility {
    async fn write_visibility(&self, writes: &[VisibilityWrite]) -> Result<()> {
        let changes: Vec<Change> = writes
            .iter()
            .map(|w| match w {
                VisibilityWrite::Upsert(r) => Change::Upsert(record(r)),
                VisibilityWrite::Delete {
                    namespace_id,
                    run_id,
                } => Change::Delete((namespace_id.clone(), run_id.clone())),
            })
            .collect();
        self.plugin()?.write(&changes).await.map_err(external)
    }

    async fn list_visibility(
        &self,
        q: &VisibilityQuery<'_>,
        page_size: usize,
        token: &[u8],
    ) -> Result<VisibilityPage> {
        let response = self
            .plugin()?
            .list(&ListRequest {
                query: query(q),
                page_size: page_size as u32,
                next_page_token: token.to_vec(),
            })
            .await
            .map_err(|f| {
                // The store refuses tokens it did not make as invalid arguments.
                if f.to_string().contains("invalid page token") {
                    Error::BadPageToken
                } else {
                    external(f)
                }
            })?;
        Ok(VisibilityPage {
            executions: response.executions,
            next_page_token: response.next_page_token,
        })
    }

    async fn count_visibility(&self, q: &VisibilityQuery<'_>) -> Result<Vec<(Option<i32>, i64)>> {
        let grouped = q.resolved.group_by.is_some();
        let response = self
            .plugin()?
            .count(&query(q), grouped)
            .await
            .map_err(external)?;
        Ok(if grouped {
            response
                .groups
                .iter()
                .map(|g| (Some(g.status), g.count))
                .collect()
        } else {
            vec![(None, response.count)]
        })
    }
}
