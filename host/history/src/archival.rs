//! A namespace's archival state and URIs as register and update requests change them. The
//! rules (Temporal's state machine, URI validation by scheme) are `sundial-archival`'s.

use sundial_archival::{Kind, Settings};
use temporalio_protos::temporal::api::namespace::v1::NamespaceConfig;

use crate::error::{Error, Result};

/// An archiver's refusal as the namespace API answers it.
pub(crate) fn error(e: sundial_archival::Error) -> Error {
    match e {
        sundial_archival::Error::Retryable(m) => Error::Unavailable(m),
        other => Error::InvalidArgument(other.to_string()),
    }
}

/// Applies a register (`registering`) or update request's archival (state, URI) of each
/// kind to `config`; whether anything changed.
pub(crate) async fn apply(
    settings: &Settings,
    config: &mut NamespaceConfig,
    registering: bool,
    history: (i32, &str),
    visibility: (i32, &str),
) -> Result<bool> {
    let mut changed = false;
    for (kind, (state, uri)) in [(Kind::History, history), (Kind::Visibility, visibility)] {
        let (cur_state, cur_uri) = match kind {
            Kind::History => (
                &mut config.history_archival_state,
                &mut config.history_archival_uri,
            ),
            Kind::Visibility => (
                &mut config.visibility_archival_state,
                &mut config.visibility_archival_uri,
            ),
        };
        let current = (!registering).then_some((*cur_state, cur_uri.as_str()));
        let (next_state, next_uri) = settings
            .next_state(kind, current, state, uri)
            .await
            .map_err(error)?;
        if next_state != *cur_state || next_uri != *cur_uri {
            *cur_state = next_state;
            *cur_uri = next_uri;
            changed = true;
        }
    }
    Ok(changed)
}
