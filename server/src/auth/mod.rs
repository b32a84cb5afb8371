//! Credentials: secret hashing, encryption at rest, (later) tokens and the identity provider.

pub mod sealed;
pub mod secrets;
