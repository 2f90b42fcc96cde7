//! Temporal's default authorizer.

use crate::methods::{self, Scope};
use crate::{Authorization, CallTarget, Claims, Principal};

/// Decides `target` the way Temporal's default authorizer does:
///
/// 1. The health check and `WorkflowService/GetSystemInfo` are allowed, claims or not (with no
///    principal).
/// 2. No claims (the caller presented nothing) → deny.
/// 3. The method's [metadata](methods::method_metadata) gives the role to check: a cluster-scoped
///    method checks the system role, a namespace-scoped one the system role OR-ed with the
///    target namespace's; a method not in the tables is denied.
/// 4. Allowed iff that role, **as an integer**, is at least the required one (read 2, write 4,
///    admin 8): admin passes everything, write passes reads, worker (1) alone passes nothing.
/// 5. An allow carries `principal {kind: auth-type, name: subject}`; a deny has no reason.
pub fn default_authorize(claims: Option<&Claims>, target: &CallTarget) -> Authorization {
    if methods::is_always_allowed(&target.api_name) {
        return Authorization::allow(None);
    }
    let Some(claims) = claims else {
        return Authorization::deny(None);
    };
    let metadata = methods::method_metadata(&target.api_name);
    let has = match metadata.scope {
        Scope::Cluster => claims.system,
        Scope::Namespace => claims.effective_role(&target.namespace),
        Scope::Unknown => return Authorization::deny(None),
    };
    if has >= methods::required_role(metadata.access) {
        Authorization::allow(Some(Principal {
            kind: claims.auth_type.clone(),
            name: claims.subject.clone(),
        }))
    } else {
        Authorization::deny(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::methods::*;
    use crate::roles::*;
    use crate::{Decision, NamespaceRole, Role};

    fn target(api: &str, namespace: &str) -> CallTarget {
        CallTarget {
            api_name: api.to_owned(),
            namespace: namespace.to_owned(),
            request_type: String::new(),
            request: Vec::new(),
        }
    }

    fn wf(method: &str, namespace: &str) -> CallTarget {
        target(&format!("{WORKFLOW_SERVICE_PREFIX}{method}"), namespace)
    }

    fn claims(system: Role, namespaces: &[(&str, Role)]) -> Claims {
        Claims {
            subject: "alice".into(),
            system,
            namespaces: namespaces
                .iter()
                .map(|&(n, r)| NamespaceRole {
                    namespace: n.into(),
                    role: r,
                })
                .collect(),
            auth_type: "jwt".into(),
            extensions: None,
            expires_at: None,
        }
    }

    fn allowed(c: Option<&Claims>, t: &CallTarget) -> bool {
        default_authorize(c, t).is_allowed()
    }

    #[test]
    fn health_and_system_info_always_allowed() {
        for t in [target(HEALTH_CHECK, ""), target(GET_SYSTEM_INFO, "")] {
            let a = default_authorize(None, &t);
            assert_eq!(
                a,
                Authorization {
                    decision: Decision::Allow,
                    reason: None,
                    principal: None
                }
            );
            assert!(allowed(Some(&claims(0, &[])), &t));
        }
    }

    #[test]
    fn no_claims_denied() {
        let a = default_authorize(None, &wf("DescribeNamespace", "ns"));
        assert_eq!(
            a,
            Authorization {
                decision: Decision::Deny,
                reason: None,
                principal: None
            }
        );
    }

    #[test]
    fn empty_claims_denied() {
        let c = Claims::empty("jwt");
        assert!(!allowed(Some(&c), &wf("DescribeNamespace", "ns")));
        assert!(!allowed(Some(&c), &wf("ListNamespaces", "")));
    }

    #[test]
    fn allow_carries_principal_deny_has_no_reason() {
        let c = claims(ADMIN, &[]);
        let a = default_authorize(Some(&c), &wf("StartWorkflowExecution", "ns"));
        assert_eq!(a.decision, Decision::Allow);
        assert_eq!(a.reason, None);
        assert_eq!(
            a.principal,
            Some(Principal {
                kind: "jwt".into(),
                name: "alice".into()
            })
        );

        let c = claims(READ, &[]);
        let a = default_authorize(Some(&c), &wf("StartWorkflowExecution", "ns"));
        assert_eq!(
            a,
            Authorization {
                decision: Decision::Deny,
                reason: None,
                principal: None
            }
        );
    }

    #[test]
    fn namespace_roles_by_access() {
        let reader = claims(0, &[("ns", READ)]);
        assert!(allowed(
            Some(&reader),
            &wf("DescribeWorkflowExecution", "ns")
        ));
        assert!(allowed(Some(&reader), &wf("QueryWorkflow", "ns")));
        assert!(!allowed(Some(&reader), &wf("StartWorkflowExecution", "ns")));
        assert!(!allowed(
            Some(&reader),
            &wf("DescribeWorkflowExecution", "other")
        ));

        let writer = claims(0, &[("ns", WRITE)]);
        assert!(allowed(Some(&writer), &wf("QueryWorkflow", "ns")));
        assert!(allowed(Some(&writer), &wf("PollWorkflowTaskQueue", "ns")));
        assert!(!allowed(Some(&writer), &wf("UpdateNamespace", "ns")));

        let admin = claims(0, &[("ns", ADMIN)]);
        assert!(allowed(Some(&admin), &wf("UpdateNamespace", "ns")));
        assert!(allowed(Some(&admin), &wf("RegisterNamespace", "ns")));
        assert!(!allowed(Some(&admin), &wf("UpdateNamespace", "other")));
    }

    #[test]
    fn integer_comparison_not_bit_test() {
        // Worker alone passes nothing, not even reads.
        let worker = claims(0, &[("ns", WORKER)]);
        assert!(!allowed(Some(&worker), &wf("DescribeNamespace", "ns")));
        assert!(!allowed(Some(&worker), &wf("PollActivityTaskQueue", "ns")));
        // worker|read|write = 7 is still not admin.
        let seven = claims(0, &[("ns", WORKER | READ | WRITE)]);
        assert!(allowed(Some(&seven), &wf("StartWorkflowExecution", "ns")));
        assert!(!allowed(Some(&seven), &wf("UpdateNamespace", "ns")));
        // worker|read = 3 passes a read: 3 >= 2.
        let three = claims(0, &[("ns", WORKER | READ)]);
        assert!(allowed(Some(&three), &wf("DescribeNamespace", "ns")));
        // write (4) passes a read though it has no read bit.
        let writer = claims(0, &[("ns", WRITE)]);
        assert!(allowed(Some(&writer), &wf("DescribeNamespace", "ns")));
    }

    #[test]
    fn system_role_covers_every_namespace() {
        let c = claims(WRITE, &[]);
        assert!(allowed(Some(&c), &wf("StartWorkflowExecution", "any")));
        assert!(!allowed(Some(&c), &wf("UpdateNamespace", "any")));
        // System and namespace roles are OR-ed: read | write on ns.
        let c = claims(READ, &[("ns", WORKER)]);
        assert!(allowed(Some(&c), &wf("DescribeNamespace", "ns")));
        assert!(!allowed(Some(&c), &wf("StartWorkflowExecution", "ns")));
        // Two entries for one namespace are OR-ed: 1 | 4 = 5 >= 4.
        let c = claims(0, &[("ns", WORKER), ("ns", WRITE)]);
        assert!(allowed(Some(&c), &wf("StartWorkflowExecution", "ns")));
    }

    #[test]
    fn cluster_scope_needs_system_role() {
        let ns_admin = claims(0, &[("ns", ADMIN)]);
        assert!(!allowed(Some(&ns_admin), &wf("ListNamespaces", "")));
        assert!(!allowed(Some(&ns_admin), &wf("GetClusterInfo", "ns")));
        let sys_reader = claims(READ, &[]);
        assert!(allowed(Some(&sys_reader), &wf("ListNamespaces", "")));
        assert!(allowed(Some(&sys_reader), &wf("GetSearchAttributes", "")));
        let list_endpoints = target(&format!("{OPERATOR_SERVICE_PREFIX}ListNexusEndpoints"), "");
        assert!(!allowed(Some(&sys_reader), &list_endpoints));
        assert!(allowed(Some(&claims(ADMIN, &[])), &list_endpoints));
    }

    #[test]
    fn admin_service_needs_system_admin() {
        let t = target(&format!("{ADMIN_SERVICE_PREFIX}DescribeMutableState"), "ns");
        assert!(!allowed(Some(&claims(0, &[("ns", ADMIN)])), &t));
        assert!(!allowed(Some(&claims(WORKER | READ | WRITE, &[])), &t));
        assert!(allowed(Some(&claims(ADMIN, &[])), &t));
    }

    #[test]
    fn empty_namespace_uses_system_role_only() {
        let c = claims(0, &[("", ADMIN)]);
        assert!(!allowed(Some(&c), &wf("DescribeNamespace", "")));
        let c = claims(READ, &[]);
        assert!(allowed(Some(&c), &wf("DescribeNamespace", "")));
    }

    #[test]
    fn unknown_methods_denied_even_for_admin() {
        let admin = claims(ADMIN, &[]);
        assert!(!allowed(Some(&admin), &wf("NoSuchMethod", "ns")));
        assert!(!allowed(Some(&admin), &target("/some.Other/Method", "ns")));
        assert!(!allowed(Some(&admin), &target("", "")));
    }

    #[test]
    fn namespace_is_case_sensitive() {
        let c = claims(0, &[("Prod", ADMIN)]);
        assert!(!allowed(Some(&c), &wf("DescribeNamespace", "prod")));
    }
}
