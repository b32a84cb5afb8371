//! The optional `Idempotency-Key` header (the claim it makes is `crate::idempotency`).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use crate::error::ApiError;

/// The `Idempotency-Key` header, if sent (at most 255 characters).
#[derive(Debug, Clone)]
pub struct IdempotencyKey(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let Some(value) = parts.headers.get("idempotency-key") else { return Ok(IdempotencyKey(None)) };
        let key = value
            .to_str()
            .map_err(|_| ApiError::invalid("Idempotency-Key", "Idempotency-Key must be printable text"))?
            .trim()
            .to_owned();
        if key.is_empty() || key.chars().count() > 255 {
            return Err(ApiError::invalid("Idempotency-Key", "Idempotency-Key must be 1 to 255 characters"));
        }
        Ok(IdempotencyKey(Some(key)))
    }
}
