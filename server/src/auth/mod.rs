//! Credentials: the identity provider (signing keys, tokens, an external issuer), secret
//! hashing, and encryption at rest.

pub mod external;
pub mod failures;
pub mod forwarded;
pub mod keys;
pub mod sealed;
pub mod secrets;
pub mod tokens;
