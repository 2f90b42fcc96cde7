//! Temporal's noop authorizer as a component: every call is allowed, with no principal.

use sundial_plugin_sdk::{Authorization, Authorizer, CallTarget, Claims};

struct NopAuthorizer;

impl Authorizer for NopAuthorizer {
    fn authorize(_claims: Option<Claims>, _target: CallTarget) -> Result<Authorization, String> {
        Ok(Authorization::allow(None))
    }
}

// The short form of the export macro (the others spell out `with_types_in`).
sundial_plugin_sdk::export_authorizer!(NopAuthorizer);
