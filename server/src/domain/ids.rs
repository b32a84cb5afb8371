//! Prefixed, unguessable identifiers and secrets (SPEC §2).

use rand::RngCore;

/// Random characters at the end of an id: 22 base62 characters carry about 131 bits.
const ID_RANDOM_LEN: usize = 22;

/// Characters of an id's time part: milliseconds since 1970 in [`SORTABLE`] digits (62^8 ms
/// reach the year 8888).
const ID_TIME_LEN: usize = 8;

/// Base62 digits in ASCII order, so that ids sort by their time part.
const SORTABLE: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

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

/// A new id such as `pay_0UfKx2Qa8fJ2…` for the prefix `pay`: the time it was made, then random
/// characters. Ids made together sort together, so the rows a write inserts land on the same
/// few index pages (the newest) instead of one random page each, which is fewer pages for every
/// commit to write and sync.
pub fn new_id(prefix: &str) -> String {
    let ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis());
    new_id_at(prefix, u64::try_from(ms).unwrap_or(u64::MAX))
}

fn new_id_at(prefix: &str, ms: u64) -> String {
    let mut time = [b'0'; ID_TIME_LEN];
    let mut rest = ms;
    for digit in time.iter_mut().rev() {
        *digit = SORTABLE[(rest % 62) as usize];
        rest /= 62;
    }
    let time = std::str::from_utf8(&time).expect("ASCII digits");
    format!("{prefix}_{time}{}", random_base62(ID_RANDOM_LEN))
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
        assert_eq!(a.len(), 4 + ID_TIME_LEN + ID_RANDOM_LEN);
        assert_ne!(a, b);
    }

    #[test]
    fn ids_sort_by_the_time_they_were_made() {
        let times = [0, 61, 62, 1_780_000_000_000, 1_780_000_000_001, 1_780_000_003_844, 62u64.pow(8) - 1];
        let ids: Vec<String> = times.iter().map(|&ms| new_id_at("att", ms)).collect();
        assert!(ids.windows(2).all(|w| w[0][..4 + ID_TIME_LEN] < w[1][..4 + ID_TIME_LEN]), "{ids:?}");
        assert!(ids.iter().all(|id| has_shape(id, "att")));
        assert_eq!(&new_id_at("x", 0)[..2 + ID_TIME_LEN], "x_00000000");
        assert_eq!(&new_id_at("x", 63)[..2 + ID_TIME_LEN], "x_00000011");
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
