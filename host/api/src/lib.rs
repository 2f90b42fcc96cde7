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
