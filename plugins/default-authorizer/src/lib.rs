//! Temporal's default authorizer as a component: health checks and GetSystemInfo are open, a
//! caller without claims is denied, and otherwise the caller's role (system, or system OR-ed
//! with the target namespace's) must be at least what the method needs (read 2, write 4,
//! admin 8, compared as integers). See `sundial_plugin_sdk::default_authorize`.

use sundial_plugin_sdk::{Authorization, Authorizer, CallTarget, Claims};

struct DefaultAuthorizer;

impl Authorizer for DefaultAuthorizer {
    fn authorize(claims: Option<Claims>, target: CallTarget) -> Result<Authorization, String> {
        Ok(sundial_plugin_sdk::default_authorize(
            claims.as_ref(),
            &target,
        ))
    }
}

sundial_plugin_sdk::export_authorizer!(DefaultAuthorizer with_types_in sundial_plugin_sdk::authorizer);
