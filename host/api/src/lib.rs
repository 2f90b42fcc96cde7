//! Server-side gRPC stubs for the Temporal API.
//!
//! Only the service traits are generated in this crate; every message type is the one shipped
//! by the official `temporalio-protos` crate, re-exported here as [`protos`].

pub use temporalio_protos as protos;

/// `temporal.api.workflowservice.v1.WorkflowService` server trait and router glue.
pub mod workflowservice {
    #![allow(clippy::all, missing_docs)]
    tonic::include_proto!("temporal.api.workflowservice.v1");
}

/// `temporal.api.operatorservice.v1.OperatorService` server trait and router glue.
pub mod operatorservice {
    #![allow(clippy::all, missing_docs)]
    tonic::include_proto!("temporal.api.operatorservice.v1");
}

pub mod codec;
pub mod field_mask;
pub mod json;
pub mod wire;

/// Every method of the services above, generated from the official descriptors.
pub mod methods {
    /// One gRPC method.
    #[derive(Debug)]
    pub struct Method {
        /// Full path, e.g. `/temporal.api.workflowservice.v1.WorkflowService/StartWorkflowExecution`.
        pub path: &'static str,
        /// Full protobuf name of the request message.
        pub request_type: &'static str,
        /// Field number of the request's top-level `namespace` string, if it has one.
        pub namespace_field: Option<i32>,
        /// Field number of the request's top-level `task_token`, if it has one.
        pub task_token_field: Option<i32>,
        /// Field numbers leading to the workflow id the request is about (empty: none), e.g.
        /// `[2, 1]` for `workflow_execution.workflow_id`.
        pub workflow_id_path: &'static [i32],
        /// Field numbers leading to the name of the request's task queue (empty: none).
        pub task_queue_path: &'static [i32],
    }

    include!(concat!(env!("OUT_DIR"), "/methods.rs"));

    /// The method served at `path`.
    pub fn by_path(path: &str) -> Option<&'static Method> {
        static INDEX: std::sync::OnceLock<
            std::collections::HashMap<&'static str, &'static Method>,
        > = std::sync::OnceLock::new();
        INDEX
            .get_or_init(|| METHODS.iter().map(|m| (m.path, m)).collect())
            .get(path)
            .copied()
    }
}
