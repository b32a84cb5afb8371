//! Hashing and checking of the secrets we issue (client secrets, API keys, session credentials).
//!
//! Every such secret carries at least 128 random bits, so a single SHA-256 is the right hash:
//! slow password hashes (argon2) defend guessable passwords and would only slow every
//! authenticated request here. Comparison is constant time.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Lowercase hex SHA-256 of a secret: what we store instead of the secret.
pub fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Checks a presented secret against a stored hash in constant time.
pub fn verify_secret(secret: &str, stored_hash: &str) -> bool {
    hashes_match(&hash_secret(secret), stored_hash)
}

/// [`verify_secret`] for a secret already hashed with [`hash_secret`].
pub fn hashes_match(presented_hash: &str, stored_hash: &str) -> bool {
    presented_hash.as_bytes().ct_eq(stored_hash.as_bytes()).into()
}

/// A stable, non-reversible fingerprint of a payment instrument (same card → same value on this
/// installation), keyed by the master key so it cannot be brute-forced from a leaked table.
pub fn fingerprint(master: &crate::config::MasterKey, kind: &str, value: &str) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<Sha256>::new_from_slice(&master.0).expect("HMAC takes any key length");
    mac.update(b"govifi.fingerprint.");
    mac.update(kind.as_bytes());
    mac.update(b":");
    mac.update(value.as_bytes());
    let digest = mac.finalize().into_bytes();
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..12])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_verifies_only_against_its_own_hash() {
        let stored = hash_secret("s3cret-value-with-entropy");
        assert_ne!(stored, "s3cret-value-with-entropy");
        assert_eq!(stored.len(), 64);
        assert!(verify_secret("s3cret-value-with-entropy", &stored));
        assert!(!verify_secret("s3cret-value-with-entropz", &stored));
        assert!(!verify_secret("", &stored));
    }

    #[test]
    fn fingerprints_are_stable_keyed_and_opaque() {
        let key = crate::config::MasterKey::generate();
        let a = fingerprint(&key, "card", "4242424242424242");
        assert_eq!(a, fingerprint(&key, "card", "4242424242424242"));
        assert_ne!(a, fingerprint(&key, "card", "5555555555554444"));
        assert_ne!(a, fingerprint(&crate::config::MasterKey::generate(), "card", "4242424242424242"));
        assert!(!a.contains("4242") && a.len() == 16);
    }
}
