//! Encryption at rest: AES-256-GCM under the master key.
//!
//! Stored form: `v1.` + base64(nonce ‖ ciphertext ‖ tag). Each value is bound to what it is for
//! (`context`, e.g. `payment_account.redirect_secret:pa_…`) as associated data, so a ciphertext
//! copied into another row or column does not decrypt.

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use anyhow::{Context, anyhow};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::config::MasterKey;

const PREFIX: &str = "v1.";

pub fn seal(key: &MasterKey, context: &str, plaintext: &[u8]) -> String {
    let cipher = Aes256Gcm::new((&key.0).into());
    let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
    let ciphertext = cipher
        .encrypt(&nonce, Payload { msg: plaintext, aad: context.as_bytes() })
        .expect("AES-GCM encryption of an in-memory buffer cannot fail");
    let mut out = nonce.to_vec();
    out.extend_from_slice(&ciphertext);
    format!("{PREFIX}{}", STANDARD.encode(out))
}

/// True for a value [`seal`] made (as opposed to plain text stored beside such values).
pub fn is_sealed(value: &str) -> bool {
    value.starts_with(PREFIX)
}

pub fn open(key: &MasterKey, context: &str, sealed: &str) -> anyhow::Result<Vec<u8>> {
    let body = sealed.strip_prefix(PREFIX).ok_or_else(|| anyhow!("unknown sealed-value format"))?;
    let bytes = STANDARD.decode(body).context("sealed value is not base64")?;
    if bytes.len() < 12 + 16 {
        return Err(anyhow!("sealed value is too short"));
    }
    let (nonce, ciphertext) = bytes.split_at(12);
    let cipher = Aes256Gcm::new((&key.0).into());
    cipher
        .decrypt(Nonce::from_slice(nonce), Payload { msg: ciphertext, aad: context.as_bytes() })
        .map_err(|_| anyhow!("sealed value does not decrypt under this master key ({context})"))
}

pub fn open_string(key: &MasterKey, context: &str, sealed: &str) -> anyhow::Result<String> {
    String::from_utf8(open(key, context, sealed)?).context("sealed value is not UTF-8")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_other_keys_contexts_and_tampering() {
        let key = MasterKey::generate();
        let sealed = seal(&key, "ctx:a", b"grs_secret");
        assert!(!sealed.contains("grs_secret"));
        assert_eq!(open(&key, "ctx:a", &sealed).unwrap(), b"grs_secret");
        assert!(open(&MasterKey::generate(), "ctx:a", &sealed).is_err());
        assert!(open(&key, "ctx:b", &sealed).is_err());
        let mut tampered = sealed.clone().into_bytes();
        let last = tampered.len() - 3;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        assert!(open(&key, "ctx:a", std::str::from_utf8(&tampered).unwrap()).is_err());
        assert_ne!(seal(&key, "ctx:a", b"x"), seal(&key, "ctx:a", b"x"), "nonces differ");
    }
}
