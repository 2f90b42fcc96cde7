//! Example authorizer: a call is allowed when it targets one of the namespaces listed in the
//! plugin's `namespaces` config value (comma-separated), or is one of the calls every client
//! needs (health check, GetSystemInfo). Everything else is denied with a reason.

use sundial_plugin_sdk::methods::is_always_allowed;
use sundial_plugin_sdk::{Authorization, Authorizer, CallTarget, Claims, host};

struct Plugin;

impl Authorizer for Plugin {
    fn authorize(_claims: Option<Claims>, target: CallTarget) -> Result<Authorization, String> {
        let listed = host::config("namespaces").unwrap_or_default();
        let allowed = is_always_allowed(&target.api_name)
            || (!target.namespace.is_empty()
                && listed.split(',').any(|n| n.trim() == target.namespace));
        Ok(if allowed {
            Authorization::allow(None)
        } else {
            Authorization::deny(Some(format!(
                "namespace {:?} is not allowed",
                target.namespace
            )))
        })
    }
}

sundial_plugin_sdk::export_authorizer!(Plugin with_types_in sundial_plugin_sdk::authorizer);
