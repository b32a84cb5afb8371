//! Prefixed, unguessable identifiers and secrets (SPEC §2).

use rand::RngCore;

/// Random characters after an id's prefix: 24 base62 characters carry about 143 bits.
const ID_RANDOM_LEN: usize = 24;

const BASE62: &[u8; 62] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// A random base62 string from the operating system's generator. The bytes are read in one call
/// (every request's id is one of these; a read per character was a system call each), and a
/// byte below 248 = 4 × 62 maps onto the 62 characters evenly; the others are dropped.
pub fn random_base62(len: usize) -> String {
    let mut out = String::with_capacity(len);
    let mut bytes = [0u8; 64];
    while out.len() < len {
        // A few more than needed: about 3 % of bytes are dropped.
        let take = ((len - out.len()) + 4).min(bytes.len());
        rand::rngs::OsRng.fill_bytes(&mut bytes[..take]);
        for &b in bytes[..take].iter().filter(|&&b| b < 248) {
            if out.len() == len {
                break;
            }
            out.push(char::from(BASE62[usize::from(b % 62)]));
        }
    }
    out
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
    fn base62_strings_have_their_length_and_use_every_character() {
        assert_eq!(random_base62(0), "");
        assert_eq!(random_base62(200).len(), 200);
        let text: String = (0..200).map(|_| random_base62(32)).collect();
        assert!(text.bytes().all(|b| BASE62.contains(&b)));
        // 6,400 draws over 62 characters: each appears (expected about 103 times).
        assert!(BASE62.iter().all(|c| text.as_bytes().contains(c)));
    }

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
