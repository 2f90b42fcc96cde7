//! What GetSystemInfo and GetClusterInfo say of this server.

use sundial_api::protos::temporal::api::workflowservice::v1::{
    GetClusterInfoResponse, GetSystemInfoResponse, get_system_info_response::Capabilities,
};

use super::Frontend;

/// The server's version and what it can do, as the SDKs check it: only what Sundial does.
pub(super) fn system_info() -> GetSystemInfoResponse {
    GetSystemInfoResponse {
        server_version: env!("CARGO_PKG_VERSION").to_string(),
        capabilities: Some(Capabilities {
            signal_and_query_header: true,
            internal_error_differentiation: true,
            activity_failure_include_heartbeat: true,
            encoded_failure_attributes: true,
            upsert_memo: true,
            eager_workflow_start: true,
            sdk_metadata: true,
            // The SDKs then send the worker's build id as a version stamp, which the events
            // record, not as a binary checksum (worker versioning itself is not served yet).
            build_id_based_versioning: true,
            // Counts grouped by ExecutionStatus, and schedules, are served.
            count_group_by_execution_status: true,
            supports_schedules: true,
            ..Default::default()
        }),
    }
}

pub(super) fn cluster_info(fe: &Frontend) -> GetClusterInfoResponse {
    GetClusterInfoResponse {
        server_version: env!("CARGO_PKG_VERSION").to_string(),
        cluster_id: fe.cluster_id.clone(),
        cluster_name: sundial_services::CLUSTER_NAME.to_string(),
        history_shard_count: fe.workflows.limits().num_history_shards,
        persistence_store: fe.persistence.clone(),
        visibility_store: fe.persistence.clone(),
        initial_failover_version: 1,
        failover_version_increment: 10,
        ..Default::default()
    }
}
