//! The services' error type (defined with the service handles, so the frontend needs no engine
//! to map it) and the engine's shorthand for invalid arguments.

pub use sundial_services::{Error, Result};

pub(crate) fn invalid(msg: impl Into<String>) -> Error {
    Error::InvalidArgument(msg.into())
}
