//! The one table that turns engine errors into gRPC statuses, with Temporal's error details
//! (the SDKs parse them, e.g. to raise `WorkflowAlreadyStartedError`).

use prost::Message;
use sundial_api::protos::google::rpc::Status as RpcStatus;
use sundial_api::protos::temporal::api::errordetails::v1::{
    NamespaceAlreadyExistsFailure, NamespaceNotFoundFailure, NotFoundFailure, QueryFailedFailure,
    ResourceExhaustedFailure, WorkflowExecutionAlreadyStartedFailure,
};
use sundial_services::Error;
use tonic::{Code, Status};

pub fn with_detail<M: Message + prost::Name>(code: Code, message: String, detail: M) -> Status {
    let status = RpcStatus {
        code: code as i32,
        message: message.clone(),
        details: vec![prost_types::Any {
            type_url: format!("type.googleapis.com/{}", M::full_name()),
            value: detail.encode_to_vec(),
        }],
    };
    Status::with_details(code, message, status.encode_to_vec().into())
}

/// A Temporal enum value's name as its Go code prints it: `RESOURCE_EXHAUSTED_CAUSE_RPS_LIMIT`
/// is `RpsLimit`, `COMMAND_TYPE_START_TIMER` is `StartTimer`.
pub fn short_enum_name(proto_name: &str) -> String {
    let rest = [
        "RESOURCE_EXHAUSTED_CAUSE_",
        "RESOURCE_EXHAUSTED_SCOPE_",
        "COMMAND_TYPE_",
    ]
    .iter()
    .find_map(|p| proto_name.strip_prefix(p))
    .unwrap_or(proto_name);
    rest.split('_')
        .map(|w| {
            let mut c = w.chars();
            match c.next() {
                Some(f) => f
                    .to_uppercase()
                    .chain(c.flat_map(char::to_lowercase))
                    .collect(),
                None => String::new(),
            }
        })
        .collect()
}

pub fn to_status(e: Error) -> Status {
    match e {
        Error::InvalidArgument(m) => Status::invalid_argument(m),
        Error::NamespaceNotFound { namespace, message } => with_detail(
            Code::NotFound,
            message,
            NamespaceNotFoundFailure { namespace },
        ),
        Error::NotFound(m) => with_detail(
            Code::NotFound,
            m,
            // Empty, as Temporal's: the clusters are named only when a namespace is active
            // elsewhere.
            NotFoundFailure::default(),
        ),
        Error::NamespaceAlreadyExists(name) => with_detail(
            Code::AlreadyExists,
            format!("Namespace {name} already exists."),
            NamespaceAlreadyExistsFailure {},
        ),
        Error::WorkflowAlreadyStarted {
            message,
            start_request_id,
            run_id,
            first_execution_run_id,
        } => with_detail(
            Code::AlreadyExists,
            message,
            WorkflowExecutionAlreadyStartedFailure {
                start_request_id,
                run_id,
                first_execution_run_id,
            },
        ),
        Error::QueryFailed { message, failure } => with_detail(
            Code::InvalidArgument,
            message,
            QueryFailedFailure {
                failure: failure.map(|f| *f),
            },
        ),
        Error::DeadlineExceeded(m) => Status::deadline_exceeded(m),
        Error::ResourceExhausted {
            message,
            cause,
            scope,
        } => {
            let mut status = with_detail(
                Code::ResourceExhausted,
                message,
                ResourceExhaustedFailure {
                    cause: cause as i32,
                    scope: scope as i32,
                },
            );
            // Temporal names the cause and scope in headers too, as its Go enums print them.
            for (header, name) in [
                ("x-resource-exhausted-cause", cause.as_str_name()),
                ("x-resource-exhausted-scope", scope.as_str_name()),
            ] {
                if let Ok(value) = short_enum_name(name).parse() {
                    status.metadata_mut().insert(header, value);
                }
            }
            status
        }
        Error::FailedPrecondition(m) => Status::failed_precondition(m),
        Error::Unimplemented(m) => Status::unimplemented(m),
        Error::Unavailable(m) | Error::Conflict(m) => Status::unavailable(m),
        // The SDKs retry Unavailable: by then the shard has an owner again.
        e @ Error::ShardNotOwned { .. } => Status::unavailable(e.to_string()),
        // Logged once, with the call's operation, namespace and workflow id, by the server's
        // request metrics layer.
        Error::Internal(m) => Status::internal(m),
    }
}
