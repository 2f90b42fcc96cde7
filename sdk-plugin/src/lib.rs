//! # sundial-plugin-sdk
//!
//! What a Rust plugin for Sundial needs: guest bindings for the `sundial:plugin@0.2.0` worlds
//! (`authorizer`, `claim-mapper`), a logging and config shim over the `host` interface that also
//! works in native unit tests, role and permission helpers that follow Temporal's rules, Temporal's
//! method metadata table, and [`default_authorize`], Temporal's default authorizer.
//!
//! An authorizer plugin:
//!
//! ```ignore
//! use sundial_plugin_sdk::{Authorization, Authorizer, CallTarget, Claims};
//!
//! struct MyPlugin;
//!
//! impl Authorizer for MyPlugin {
//!     fn authorize(claims: Option<Claims>, target: CallTarget) -> Result<Authorization, String> {
//!         Ok(sundial_plugin_sdk::default_authorize(claims.as_ref(), &target))
//!     }
//! }
//!
//! sundial_plugin_sdk::export_authorizer!(MyPlugin with_types_in sundial_plugin_sdk::authorizer);
//! ```
//!
//! A claim mapper implements [`ClaimMapper`] and ends with
//! `sundial_plugin_sdk::export_claim_mapper!(MyMapper with_types_in sundial_plugin_sdk::claim_mapper);`.
//! Both macros also accept the short form `export_authorizer!(MyPlugin)`.

// The generated bindings name this crate by its external path (so that the export macros work
// from plugin crates); this makes the same path resolve inside the crate too.
extern crate self as sundial_plugin_sdk;

/// Bindings for the `authorizer` world. They own the `types` and `host` interfaces, which the
/// `claim-mapper` bindings reuse, so a [`Claims`] is one type whichever world a crate exports.
pub mod authorizer {
    wit_bindgen::generate!({
        path: "../wit",
        world: "authorizer",
        pub_export_macro: true,
        export_macro_name: "export_authorizer",
        default_bindings_module: "sundial_plugin_sdk::authorizer",
        runtime_path: "sundial_plugin_sdk::__private::wit_bindgen::rt",
        additional_derives: [PartialEq, Eq],
    });
}

/// Bindings for the `claim-mapper` world (sharing `types` and `host` with [`authorizer`]).
pub mod claim_mapper {
    wit_bindgen::generate!({
        path: "../wit",
        world: "claim-mapper",
        pub_export_macro: true,
        export_macro_name: "export_claim_mapper",
        default_bindings_module: "sundial_plugin_sdk::claim_mapper",
        runtime_path: "sundial_plugin_sdk::__private::wit_bindgen::rt",
        with: {
            "sundial:plugin/types@0.2.0": crate::authorizer::sundial::plugin::types,
            "sundial:plugin/host@0.2.0": crate::authorizer::sundial::plugin::host,
        },
    });
}

#[doc(hidden)]
pub mod __private {
    pub use wit_bindgen;
}

pub mod authorize;
pub mod host;
pub mod methods;
pub mod permissions;
pub mod roles;

/// The records of `sundial:plugin/types`.
pub mod types {
    pub use crate::authorizer::sundial::plugin::types::*;
}

pub use authorize::default_authorize;
pub use types::{
    AuthInfo, Authorization, CallTarget, Claims, Decision, NamespaceRole, Principal, Role,
    Timestamp, TlsSubject,
};

/// The trait an authorizer plugin implements (`sundial:plugin/access-control`).
pub use authorizer::exports::sundial::plugin::access_control::Guest as Authorizer;
/// The trait a claim mapper plugin implements (`sundial:plugin/claim-mapping`).
pub use claim_mapper::exports::sundial::plugin::claim_mapping::Guest as ClaimMapper;

/// `export_authorizer!(MyPlugin with_types_in sundial_plugin_sdk::authorizer)` exports a type
/// implementing [`Authorizer`] as the component's `access-control` interface.
pub use authorizer::export_authorizer;
/// `export_claim_mapper!(MyMapper with_types_in sundial_plugin_sdk::claim_mapper)` exports a
/// type implementing [`ClaimMapper`] as the component's `claim-mapping` interface.
pub use claim_mapper::export_claim_mapper;

impl Claims {
    /// Claims with no subject and no roles, authenticated by `auth_type`.
    pub fn empty(auth_type: impl Into<String>) -> Self {
        Claims {
            subject: String::new(),
            system: roles::UNDEFINED,
            namespaces: Vec::new(),
            auth_type: auth_type.into(),
            extensions: None,
            expires_at: None,
        }
    }

    /// The role granted on `namespace` by its own entries (several entries are OR-ed), without
    /// the system role. Names are case-sensitive.
    pub fn namespace_role(&self, namespace: &str) -> Role {
        self.namespaces
            .iter()
            .filter(|n| n.namespace == namespace)
            .fold(roles::UNDEFINED, |acc, n| acc | n.role)
    }

    /// What the caller may do on `namespace`: the system role OR-ed with the namespace's
    /// entries. An empty namespace (a cluster-wide call) gets the system role only.
    pub fn effective_role(&self, namespace: &str) -> Role {
        if namespace.is_empty() {
            self.system
        } else {
            self.system | self.namespace_role(namespace)
        }
    }

    /// ORs `role` into the entry for `namespace`, adding one if there is none (even for a zero
    /// role, as Temporal's mapper does: the entry then grants nothing).
    pub fn grant(&mut self, namespace: &str, role: Role) {
        match self
            .namespaces
            .iter_mut()
            .find(|n| n.namespace == namespace)
        {
            Some(entry) => entry.role |= role,
            None => self.namespaces.push(NamespaceRole {
                namespace: namespace.to_owned(),
                role,
            }),
        }
    }

    /// ORs `role` into the system (cluster-wide) role.
    pub fn grant_system(&mut self, role: Role) {
        self.system |= role;
    }
}

impl Authorization {
    /// An allow, with the identity the server may propagate.
    pub fn allow(principal: Option<Principal>) -> Self {
        Authorization {
            decision: Decision::Allow,
            reason: None,
            principal,
        }
    }

    /// A deny; `reason` is returned to the caller with PermissionDenied.
    pub fn deny(reason: Option<String>) -> Self {
        Authorization {
            decision: Decision::Deny,
            reason,
            principal: None,
        }
    }

    pub fn is_allowed(&self) -> bool {
        self.decision == Decision::Allow
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use roles::*;

    #[test]
    fn grant_ors_into_one_entry() {
        let mut c = Claims::empty("t");
        c.grant("ns", READ);
        c.grant("ns", WRITE);
        c.grant("other", UNDEFINED);
        assert_eq!(
            c.namespaces,
            vec![
                NamespaceRole {
                    namespace: "ns".into(),
                    role: READ | WRITE
                },
                NamespaceRole {
                    namespace: "other".into(),
                    role: UNDEFINED
                },
            ]
        );
    }

    #[test]
    fn effective_role_ors_system_and_every_entry() {
        let mut c = Claims::empty("t");
        c.system = WORKER;
        c.namespaces = vec![
            NamespaceRole {
                namespace: "ns".into(),
                role: READ,
            },
            NamespaceRole {
                namespace: "ns".into(),
                role: WRITE,
            },
            NamespaceRole {
                namespace: "NS".into(),
                role: ADMIN,
            },
        ];
        assert_eq!(c.namespace_role("ns"), READ | WRITE);
        assert_eq!(c.effective_role("ns"), WORKER | READ | WRITE);
        assert_eq!(c.effective_role("NS"), WORKER | ADMIN);
        assert_eq!(c.effective_role("missing"), WORKER);
        assert_eq!(c.effective_role(""), WORKER);
    }

    #[test]
    fn empty_claims() {
        let c = Claims::empty("jwt");
        assert_eq!(c.auth_type, "jwt");
        assert_eq!(
            (c.subject.as_str(), c.system, c.namespaces.len()),
            ("", 0, 0)
        );
        assert_eq!((c.extensions, c.expires_at), (None, None));
    }

    #[test]
    fn authorization_constructors() {
        assert!(Authorization::allow(None).is_allowed());
        let d = Authorization::deny(Some("no".into()));
        assert!(!d.is_allowed());
        assert_eq!(d.reason.as_deref(), Some("no"));
    }
}
