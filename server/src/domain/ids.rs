//! Prefixed, unguessable identifiers and secrets (SPEC §2).

use rand::RngCore;

/// Characters after an id's prefix (see [`ordered_base62`]).
const ID_LEN: usize = 24;

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

/// The time-ordered part of an id: milliseconds since 1970 in this many base62 characters
/// (enough until the year 8900).
const ID_TIME_LEN: usize = 8;

/// Base62 digits in ASCII order, so that a fixed-width number written in them sorts as text.
const BASE62_SORTED: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// 24 base62 characters: the creation time in milliseconds (8, sorting as text), then 16 random
/// ones (about 95 bits: still unguessable). Rows made together then sit together in every index
/// on their id: an insert appends near the end of the index instead of dirtying a random page,
/// so a commit writes (and syncs) fewer pages. The creation time an id shows is in the object
/// anyway (`created`).
pub fn ordered_base62() -> String {
    let mut ms = time::OffsetDateTime::now_utc().unix_timestamp_nanos().max(0) as u128 / 1_000_000;
    let mut time = [b'0'; ID_TIME_LEN];
    for c in time.iter_mut().rev() {
        *c = BASE62_SORTED[(ms % 62) as usize];
        ms /= 62;
    }
    let mut out: String = time.iter().map(|&c| char::from(c)).collect();
    out.push_str(&random_base62(ID_LEN - ID_TIME_LEN));
    out
}

/// A new id such as `pay_0TzXq1Ab8fJ2…` for the prefix `pay` (see [`ordered_base62`]).
pub fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", ordered_base62())
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
        assert_eq!(a.len(), 4 + ID_LEN);
        assert_ne!(a, b);
    }

    #[test]
    fn ids_made_later_sort_after() {
        let first = new_id("pay");
        std::thread::sleep(std::time::Duration::from_millis(2));
        let second = new_id("pay");
        assert!(first < second, "{first} then {second}");
        assert!(second.bytes().skip(4).all(|b| BASE62.contains(&b)));
        // The random part still varies within a millisecond.
        let same_ms: std::collections::HashSet<String> = (0..100).map(|_| new_id("pay")).collect();
        assert_eq!(same_ms.len(), 100);
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
