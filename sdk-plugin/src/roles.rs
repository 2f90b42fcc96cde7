//! Temporal's role bits. Roles are compared as integers by the default authorizer
//! (effective >= required), so `ADMIN` passes every check and `WORKER` alone passes none.

use crate::Role;

/// No role (an unknown permission word maps here).
pub const UNDEFINED: Role = 0;
/// `worker`.
pub const WORKER: Role = 1;
/// `read`.
pub const READ: Role = 2;
/// `write`.
pub const WRITE: Role = 4;
/// `admin`.
pub const ADMIN: Role = 8;

/// Every defined bit.
pub const ALL: Role = WORKER | READ | WRITE | ADMIN;

/// The role a permission word stands for, case-insensitively (`READ` is `read`); an unknown
/// word is [`UNDEFINED`]. No whitespace is trimmed: `" read"` is unknown.
pub fn from_word(word: &str) -> Role {
    const WORDS: [(&str, Role); 4] = [
        ("worker", WORKER),
        ("read", READ),
        ("write", WRITE),
        ("admin", ADMIN),
    ];
    WORDS
        .iter()
        .find(|(w, _)| w.eq_ignore_ascii_case(word))
        .map_or(UNDEFINED, |&(_, role)| role)
}

/// True if no bit outside [`ALL`] is set.
pub fn is_valid(role: Role) -> bool {
    role & !ALL == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_match_temporal() {
        assert_eq!((WORKER, READ, WRITE, ADMIN), (1, 2, 4, 8));
        assert_eq!(ALL, 0x0F);
    }

    #[test]
    fn words_are_case_insensitive() {
        assert_eq!(from_word("read"), READ);
        assert_eq!(from_word("READ"), READ);
        assert_eq!(from_word("Write"), WRITE);
        assert_eq!(from_word("wOrKeR"), WORKER);
        assert_eq!(from_word("admin"), ADMIN);
    }

    #[test]
    fn unknown_or_padded_words_are_undefined() {
        assert_eq!(from_word(""), UNDEFINED);
        assert_eq!(from_word(" read"), UNDEFINED);
        assert_eq!(from_word("read "), UNDEFINED);
        assert_eq!(from_word("owner"), UNDEFINED);
        assert_eq!(from_word("reader"), UNDEFINED);
    }

    #[test]
    fn validity() {
        assert!(is_valid(0));
        assert!(is_valid(ALL));
        assert!(!is_valid(16));
        assert!(!is_valid(0x1F));
    }
}
