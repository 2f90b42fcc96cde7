//! The error of every service operation. The frontend maps each variant to a gRPC status.

use temporalio_protos::temporal::api::enums::v1::{ResourceExhaustedCause, ResourceExhaustedScope};

/// Errors returned by service operations.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    InvalidArgument(String),
    #[error("{message}")]
    NamespaceNotFound { namespace: String, message: String },
    #[error("{0}")]
    NotFound(String),
    #[error("Namespace {0} already exists.")]
    NamespaceAlreadyExists(String),
    #[error("{message}")]
    WorkflowAlreadyStarted {
        message: String,
        start_request_id: String,
        run_id: String,
        /// The first run of the chain the running (or last) run belongs to.
        first_execution_run_id: String,
    },
    #[error("{0}")]
    FailedPrecondition(String),
    #[error("{0}")]
    Unimplemented(String),
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    Internal(String),
    /// The workflow's query handler failed (the SDKs raise it as a query failure).
    #[error("{message}")]
    QueryFailed {
        message: String,
        failure: Option<Box<temporalio_protos::temporal::api::failure::v1::Failure>>,
    },
    #[error("{0}")]
    DeadlineExceeded(String),
    /// A limit is reached: a rate, or a namespace's concurrent work (batch operations).
    #[error("{message}")]
    ResourceExhausted {
        message: String,
        cause: ResourceExhaustedCause,
        scope: ResourceExhaustedScope,
    },
    /// The run's history shard is not owned by this node (now): another node serves it, or
    /// nobody does for a moment while it moves.
    #[error("shard {shard_id} is not owned by this node")]
    ShardNotOwned { shard_id: i32 },
    /// A concurrent change won; the caller may retry.
    #[error("{0}")]
    Conflict(String),
}

pub type Result<T> = std::result::Result<T, Error>;

impl From<sundial_store::Error> for Error {
    fn from(e: sundial_store::Error) -> Self {
        match e {
            sundial_store::Error::ShardOwnershipLost { shard_id, .. } => {
                Error::ShardNotOwned { shard_id }
            }
            sundial_store::Error::Conflict(m) => Error::Conflict(m),
            sundial_store::Error::AlreadyExists(m) => Error::Conflict(m),
            sundial_store::Error::Closed => Error::Unavailable(e.to_string()),
            sundial_store::Error::BadPageToken => {
                Error::InvalidArgument("Invalid NextPageToken.".into())
            }
            sundial_store::Error::External { message, .. } => Error::Unavailable(message),
            other if other.is_transient() => Error::Unavailable(other.to_string()),
            other => Error::Internal(other.to_string()),
        }
    }
}

impl From<prost::DecodeError> for Error {
    fn from(e: prost::DecodeError) -> Self {
        Error::Internal(format!("corrupt stored record: {e}"))
    }
}
