//! Prefixed, unguessable identifiers and secrets (SPEC §2).

use rand::Rng;
use rand::distributions::Alphanumeric;

/// Random characters after an id's prefix: 24 base62 characters carry about 143 bits.
const ID_RANDOM_LEN: usize = 24;

/// A random base62 string from the operating system's generator.
pub fn random_base62(len: usize) -> String {
    rand::rngs::OsRng.sample_iter(&Alphanumeric).take(len).map(char::from).collect()
}

/// A new id such as `pay_8fJ2…` for the prefix `pay`.
pub fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", random_base62(ID_RANDOM_LEN))
}

/// True when `s` is `prefix_` followed by base62 characters only (cheap shape check before a
/// database lookup, and a guard against odd characters in paths).
pub fn has_shape(s: &str, prefix: &str) -> bool {
    s.strip_prefix(prefix)
        .and_then(|rest| rest.strip_prefix('_'))
        .is_some_and(|rest| !rest.is_empty() && rest.len() <= 64 && rest.bytes().all(|b| b.is_ascii_alphanumeric()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_carry_their_prefix_and_differ() {
        let a = new_id("pay");
        let b = new_id("pay");
        assert!(has_shape(&a, "pay"), "{a}");
        assert_eq!(a.len(), 4 + ID_RANDOM_LEN);
        assert_ne!(a, b);
    }

    #[test]
    fn shape_check_rejects_foreign_ids() {
        assert!(!has_shape("cus_abc", "pay"));
        assert!(!has_shape("pay_", "pay"));
        assert!(!has_shape("pay_ab-c", "pay"));
        assert!(!has_shape("pay_abc'--", "pay"));
        assert!(has_shape("pay_abc", "pay"));
    }
}
