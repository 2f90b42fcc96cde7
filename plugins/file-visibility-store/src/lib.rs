//! A visibility store as a component: records live in an append-only JSON-lines log
//! (`visibility.jsonl`) in a directory the operator grants writable (`/data` unless the
//! plugin's config sets `directory`). Each instance keeps the records in memory and reads only
//! what was appended since its last call, so warm instances answer from memory; queries are
//! evaluated with `sundial-visquery`, the same semantics the built-in SQL store has.
//!
//! The server's writes come from one queue, in order; several instances may read at once (a
//! half-written last line is left for the next call). The log is never compacted: meant for
//! development and as an example of the world, not for millions of executions.

pub mod store;

#[cfg(target_arch = "wasm32")]
mod component {
    use std::cell::RefCell;

    use crate::store::{self, Index};

    wit_bindgen::generate!({
        path: "../../wit",
        world: "visibility-store",
    });

    use exports::sundial::plugin::visibility_storage::{
        Change, CountGroup, CountResponse, Guest, ListRequest, ListResponse, Query,
    };
    use sundial::plugin::host;
    use sundial::plugin::types::PluginError;

    thread_local! {
        static INDEX: RefCell<Index> = RefCell::new(Index::default());
    }

    fn log_path() -> String {
        let dir = host::config("directory").unwrap_or_else(|| "/data".into());
        format!("{}/visibility.jsonl", dir.trim_end_matches('/'))
    }

    fn retryable(e: String) -> PluginError {
        PluginError::Retryable(e)
    }

    fn with_index<T>(
        f: impl FnOnce(&mut Index) -> Result<T, PluginError>,
    ) -> Result<T, PluginError> {
        INDEX.with(|idx| {
            let mut idx = idx.borrow_mut();
            idx.refresh(&log_path()).map_err(retryable)?;
            f(&mut idx)
        })
    }

    fn query_of(q: &Query) -> store::QueryInput<'_> {
        store::QueryInput {
            namespace_id: &q.namespace_id,
            text: &q.text,
            custom: q
                .custom_attributes
                .iter()
                .map(|(n, t)| (n.as_str(), t.as_str()))
                .collect(),
        }
    }

    struct FileStore;

    impl Guest for FileStore {
        fn write(changes: Vec<Change>) -> Result<(), PluginError> {
            let lines: Vec<store::Line> = changes
                .into_iter()
                .map(|c| match c {
                    Change::Upsert(r) => store::Line::Upsert(Box::new(r.into())),
                    Change::Delete((namespace_id, run_id)) => store::Line::Delete {
                        namespace_id,
                        run_id,
                    },
                })
                .collect();
            store::append(&log_path(), &lines).map_err(retryable)?;
            with_index(|_| Ok(()))
        }

        fn list(request: ListRequest) -> Result<ListResponse, PluginError> {
            with_index(|idx| {
                let (executions, next_page_token) = idx
                    .list(
                        &query_of(&request.query),
                        request.page_size as usize,
                        &request.next_page_token,
                    )
                    .map_err(PluginError::InvalidArgument)?;
                Ok(ListResponse {
                    executions,
                    next_page_token,
                })
            })
        }

        fn count(query: Query, group_by_status: bool) -> Result<CountResponse, PluginError> {
            with_index(|idx| {
                let groups = idx
                    .count(&query_of(&query), group_by_status)
                    .map_err(PluginError::InvalidArgument)?;
                Ok(CountResponse {
                    count: groups.iter().map(|(_, n)| n).sum(),
                    groups: if group_by_status {
                        groups
                            .into_iter()
                            .map(|(status, count)| CountGroup { status, count })
                            .collect()
                    } else {
                        Vec::new()
                    },
                })
            })
        }
    }

    // The conversion needs the generated record type; it lives here, the logic in `store`.
    impl From<exports::sundial::plugin::visibility_storage::ExecutionRecord> for store::Stored {
        fn from(r: exports::sundial::plugin::visibility_storage::ExecutionRecord) -> Self {
            use exports::sundial::plugin::visibility_storage::AttributeValue as A;
            store::Stored {
                namespace_id: r.namespace_id,
                run_id: r.run_id,
                workflow_id: r.workflow_id,
                workflow_type: r.workflow_type,
                task_queue: r.task_queue,
                status: r.status,
                start_time: r.start_time,
                execution_time: r.execution_time,
                close_time: r.close_time,
                history_length: r.history_length,
                history_size_bytes: r.history_size_bytes,
                execution_duration: r.execution_duration,
                state_transition_count: r.state_transition_count,
                parent_workflow_id: r.parent_workflow_id,
                parent_run_id: r.parent_run_id,
                root_workflow_id: r.root_workflow_id,
                root_run_id: r.root_run_id,
                attributes: r
                    .search_attributes
                    .into_iter()
                    .map(|a| store::Attr {
                        name: a.name,
                        ty: a.value_type,
                        values: a
                            .values
                            .into_iter()
                            .map(|v| match v {
                                A::Text(s) => store::Val::S(s),
                                A::Int(i) => store::Val::I(i),
                                A::Double(d) => store::Val::D(d),
                                A::Boolean(b) => store::Val::B(b),
                                A::Time(t) => store::Val::T(t),
                            })
                            .collect(),
                    })
                    .collect(),
                version: r.version,
                info: store::encode_info(&r.info),
            }
        }
    }

    export!(FileStore);
}
