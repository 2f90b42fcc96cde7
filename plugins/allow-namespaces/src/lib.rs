//! Example authorizer: a call is allowed when it targets one of the namespaces listed in the
//! plugin's `namespaces` config value (comma-separated), or is one of the calls every client
//! needs (health check, GetSystemInfo). Everything else is denied with a reason.

wit_bindgen::generate!({ path: "../../wit", world: "authorizer" });

use exports::sundial::plugin::access_control::Guest;
use sundial::plugin::host;
use sundial::plugin::types::{Authorization, CallTarget, Claims, Decision};

const ALWAYS: &[&str] = &[
    "/grpc.health.v1.Health/Check",
    "/temporal.api.workflowservice.v1.WorkflowService/GetSystemInfo",
];

struct Plugin;

impl Guest for Plugin {
    fn authorize(_claims: Option<Claims>, target: CallTarget) -> Result<Authorization, String> {
        let listed = host::config("namespaces").unwrap_or_default();
        let allowed = ALWAYS.contains(&target.api_name.as_str())
            || (!target.namespace.is_empty()
                && listed.split(',').any(|n| n.trim() == target.namespace));
        Ok(if allowed {
            Authorization {
                decision: Decision::Allow,
                reason: None,
                principal: None,
            }
        } else {
            Authorization {
                decision: Decision::Deny,
                reason: Some(format!("namespace {:?} is not allowed", target.namespace)),
                principal: None,
            }
        })
    }
}

export!(Plugin);
