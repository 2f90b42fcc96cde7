//! What a listing of archived runs answers for an archived visibility record.

use std::collections::HashMap;

use sundial_api::protos::temporal::api::{
    common::v1::{Payload, SearchAttributes, WorkflowExecution, WorkflowType},
    workflow::v1::WorkflowExecutionInfo,
};
use sundial_visquery::{ValueType, predefined_type};

use crate::VisibilityRecord;

impl VisibilityRecord {
    /// The record as `ListArchivedWorkflowExecutions` answers it. `types` (custom search
    /// attribute name to type name) types the stringified attribute values again.
    pub fn execution_info(&self, types: &HashMap<String, String>) -> WorkflowExecutionInfo {
        let r = self;
        let ts = |nanos: i64| (nanos != 0).then(|| timestamp(nanos));
        let indexed_fields = r
            .search_attributes
            .iter()
            .map(|(name, text)| {
                let ty = types
                    .get(name)
                    .and_then(|t| ValueType::from_name(t))
                    .or_else(|| predefined_type(name));
                let mut metadata =
                    HashMap::from([("encoding".to_string(), b"json/plain".to_vec())]);
                if let Some(t) = ty {
                    metadata.insert("type".to_string(), t.name().as_bytes().to_vec());
                }
                let payload = Payload {
                    metadata,
                    data: text.as_bytes().to_vec(),
                    ..Default::default()
                };
                (name.clone(), payload)
            })
            .collect();
        WorkflowExecutionInfo {
            execution: Some(WorkflowExecution {
                workflow_id: r.workflow_id.clone(),
                run_id: r.run_id.clone(),
            }),
            r#type: Some(WorkflowType {
                name: r.workflow_type_name.clone(),
            }),
            start_time: ts(r.start_time),
            close_time: ts(r.close_time),
            // Temporal fills a missing execution time with the start time.
            execution_time: ts(if r.execution_time == 0 {
                r.start_time
            } else {
                r.execution_time
            }),
            status: r.status,
            history_length: r.history_length,
            memo: r.memo.clone(),
            search_attributes: (!r.search_attributes.is_empty())
                .then_some(SearchAttributes { indexed_fields }),
            execution_duration: (r.execution_duration > 0).then(|| duration(r.execution_duration)),
            ..Default::default()
        }
    }
}

fn timestamp(nanos: i64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: nanos.div_euclid(1_000_000_000),
        nanos: nanos.rem_euclid(1_000_000_000) as i32,
    }
}

fn duration(nanos: i64) -> prost_types::Duration {
    prost_types::Duration {
        seconds: nanos / 1_000_000_000,
        nanos: (nanos % 1_000_000_000) as i32,
    }
}
