//! Permission strings, as Temporal's default JWT claim mapper reads them: `<namespace>:<word>`.
//!
//! - The entry is split at the **first** `:`; an entry without `:` grants nothing. Nothing is
//!   trimmed (`"ns : read"` is namespace `"ns "` with the unknown word `" read"`).
//! - The word is case-insensitive (see [`roles::from_word`]); an unknown word grants nothing.
//! - The namespace is case-sensitive. `temporal-system` means the system (cluster-wide) role.
//!   With [`PermissionOptions::system_alias`] on (the default), `system` means it too; with
//!   it off, `system` is an ordinary namespace name, as in Temporal's current code.
//! - Several entries for one namespace are OR-ed: `["ns:read", "ns:write"]` is read|write.

use crate::{Claims, Role, roles};

/// Temporal's system-local namespace: a permission on it is a system role.
pub const SYSTEM_NAMESPACE: &str = "temporal-system";
/// The short spelling of [`SYSTEM_NAMESPACE`] accepted when [`PermissionOptions::system_alias`]
/// is on (Temporal's docs use it; its code does not).
pub const SYSTEM_ALIAS: &str = "system";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PermissionOptions {
    /// Whether `system:<word>` grants a system role (default true).
    pub system_alias: bool,
}

impl Default for PermissionOptions {
    fn default() -> Self {
        PermissionOptions { system_alias: true }
    }
}

/// What a permission applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target<'a> {
    System,
    Namespace(&'a str),
}

/// One parsed permission.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Permission<'a> {
    pub target: Target<'a>,
    pub role: Role,
}

/// A permission from a namespace and a word already taken apart (e.g. by a regex).
pub fn resolve<'a>(namespace: &'a str, word: &str, options: PermissionOptions) -> Permission<'a> {
    let system =
        namespace == SYSTEM_NAMESPACE || (options.system_alias && namespace == SYSTEM_ALIAS);
    Permission {
        target: if system {
            Target::System
        } else {
            Target::Namespace(namespace)
        },
        role: roles::from_word(word),
    }
}

/// Parses `<namespace>:<word>`; `None` when the entry has no `:`.
pub fn parse(entry: &str, options: PermissionOptions) -> Option<Permission<'_>> {
    let (namespace, word) = entry.split_once(':')?;
    Some(resolve(namespace, word, options))
}

impl Claims {
    /// Adds what `permission` grants.
    pub fn apply_permission(&mut self, permission: Permission<'_>) {
        match permission.target {
            Target::System => self.grant_system(permission.role),
            Target::Namespace(ns) => self.grant(ns, permission.role),
        }
    }

    /// Parses each entry (see the module docs) and adds what it grants.
    pub fn add_permissions<'a>(
        &mut self,
        entries: impl IntoIterator<Item = &'a str>,
        options: PermissionOptions,
    ) {
        for entry in entries {
            if let Some(permission) = parse(entry, options) {
                self.apply_permission(permission);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::roles::*;

    fn claims(entries: &[&str], options: PermissionOptions) -> Claims {
        let mut c = Claims::empty("test");
        c.add_permissions(entries.iter().copied(), options);
        c
    }

    #[test]
    fn splits_at_first_colon() {
        let p = parse("ns:read", PermissionOptions::default()).unwrap();
        assert_eq!(
            p,
            Permission {
                target: Target::Namespace("ns"),
                role: READ
            }
        );
        // The word keeps everything after the first colon, so this is an unknown word.
        let p = parse("ns:read:x", PermissionOptions::default()).unwrap();
        assert_eq!(
            p,
            Permission {
                target: Target::Namespace("ns"),
                role: UNDEFINED
            }
        );
        assert_eq!(parse("no-colon", PermissionOptions::default()), None);
    }

    #[test]
    fn no_trimming() {
        let p = parse("ns : read", PermissionOptions::default()).unwrap();
        assert_eq!(
            p,
            Permission {
                target: Target::Namespace("ns "),
                role: UNDEFINED
            }
        );
    }

    #[test]
    fn namespace_is_case_sensitive_word_is_not() {
        let c = claims(&["Prod:READ", "prod:Write"], PermissionOptions::default());
        assert_eq!(c.namespace_role("Prod"), READ);
        assert_eq!(c.namespace_role("prod"), WRITE);
        assert_eq!(c.namespace_role("PROD"), UNDEFINED);
    }

    #[test]
    fn same_namespace_entries_are_ored() {
        let c = claims(
            &["ns:read", "ns:write", "ns:worker"],
            PermissionOptions::default(),
        );
        assert_eq!(c.namespace_role("ns"), READ | WRITE | WORKER);
        assert_eq!(c.namespaces.len(), 1);
    }

    #[test]
    fn temporal_system_is_system() {
        let off = PermissionOptions {
            system_alias: false,
        };
        for options in [PermissionOptions::default(), off] {
            let c = claims(&["temporal-system:admin", "temporal-system:read"], options);
            assert_eq!(c.system, ADMIN | READ);
            assert!(c.namespaces.is_empty());
        }
        // Case-sensitive: not the system namespace.
        let c = claims(&["Temporal-System:admin"], PermissionOptions::default());
        assert_eq!(c.system, UNDEFINED);
        assert_eq!(c.namespace_role("Temporal-System"), ADMIN);
    }

    #[test]
    fn system_alias_switch() {
        let c = claims(&["system:read"], PermissionOptions::default());
        assert_eq!(c.system, READ);
        assert!(c.namespaces.is_empty());

        let c = claims(
            &["system:read"],
            PermissionOptions {
                system_alias: false,
            },
        );
        assert_eq!(c.system, UNDEFINED);
        assert_eq!(c.namespace_role("system"), READ);
    }

    #[test]
    fn unknown_words_and_malformed_entries_grant_nothing() {
        let c = claims(
            &["ns:owner", "nocolon", "", "ns:", "system:owner"],
            PermissionOptions::default(),
        );
        assert_eq!(c.system, UNDEFINED);
        // Like Temporal's map, an unknown word still leaves a (zero) entry.
        assert_eq!(c.namespaces.len(), 1);
        assert_eq!(c.effective_role("ns"), UNDEFINED);
    }

    #[test]
    fn resolve_takes_parts() {
        let p = resolve("temporal-system", "ADMIN", PermissionOptions::default());
        assert_eq!(
            p,
            Permission {
                target: Target::System,
                role: ADMIN
            }
        );
    }
}
