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
    let presented = hash_secret(secret);
    presented.as_bytes().ct_eq(stored_hash.as_bytes()).into()
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
}
