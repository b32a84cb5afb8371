//! The optional `Idempotency-Key` header and the claim it makes on a key space.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use sha2::{Digest, Sha256};
use sqlx::AnyConnection;

use crate::error::{ApiError, ErrorType};
use crate::store::{Db, idempotency};
use crate::telemetry::REQUEST_ID_HEADER;

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

/// What identifies "the same request": method, path and the body with its keys sorted.
pub fn fingerprint(method: &str, path: &str, body: &Value) -> String {
    let mut hasher = Sha256::new();
    hasher.update(method.as_bytes());
    hasher.update(b" ");
    hasher.update(path.as_bytes());
    hasher.update(b"\n");
    hasher.update(canonical(body).as_bytes());
    hex::encode(hasher.finalize())
}

/// JSON with object keys sorted at every level, whatever order they arrived in.
fn canonical(v: &Value) -> String {
    match v {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let items: Vec<String> =
                keys.iter().map(|k| format!("{}:{}", Value::String((*k).clone()), canonical(&map[*k]))).collect();
            format!("{{{}}}", items.join(","))
        }
        Value::Array(items) => format!("[{}]", items.iter().map(canonical).collect::<Vec<_>>().join(",")),
        other => other.to_string(),
    }
}

/// A request's hold on its idempotency key (or nothing, without the header).
#[derive(Debug, Clone)]
pub struct Idempotency {
    claimed: Option<(String, String)>,
}

impl Idempotency {
    /// Claims `key` in `scope`. A finished earlier request is answered again, byte for byte,
    /// as the `Err` response; another body with the key is 422; a key still in use is 409.
    pub async fn claim(db: &Db, scope: String, key: Option<String>, fingerprint: &str) -> Result<Self, Response> {
        let Some(key) = key else { return Ok(Idempotency { claimed: None }) };
        match idempotency::claim(db, &scope, &key, fingerprint).await {
            Ok(idempotency::Claim::New) => Ok(Idempotency { claimed: Some((scope, key)) }),
            Ok(idempotency::Claim::Replay { status, body, request_id }) => {
                let mut response = (
                    StatusCode::from_u16(status).unwrap_or(StatusCode::OK),
                    [(header::CONTENT_TYPE, "application/json")],
                    body,
                )
                    .into_response();
                response.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
                // The answer names the request that produced it.
                if let Some(id) = request_id.and_then(|id| HeaderValue::from_str(&id).ok()) {
                    response.headers_mut().insert(REQUEST_ID_HEADER, id);
                }
                Err(response)
            }
            Ok(idempotency::Claim::Mismatch) => Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                ErrorType::IdempotencyError,
                "idempotency_key_reused",
                "This Idempotency-Key was used with a different request",
            )
            .into_response()),
            Ok(idempotency::Claim::InProgress) => Err(ApiError::new(
                StatusCode::CONFLICT,
                ErrorType::IdempotencyError,
                "idempotency_in_progress",
                "A request with this Idempotency-Key is still being processed; retry shortly",
            )
            .into_response()),
            Err(e) => Err(ApiError::from(e).into_response()),
        }
    }

    pub fn is_claimed(&self) -> bool {
        self.claimed.is_some()
    }

    /// Stores the answer (call inside the transaction that makes the change it reports).
    pub async fn finish(&self, conn: &mut AnyConnection, status: StatusCode, body: &str) -> Result<(), sqlx::Error> {
        if let Some((scope, key)) = &self.claimed {
            let request_id = crate::telemetry::current_request_id().unwrap_or_default();
            idempotency::finish(conn, scope, key, status.as_u16(), body, &request_id).await?;
        }
        Ok(())
    }

    /// Lets the key be used again (the request ended with nothing worth repeating).
    pub async fn abandon(&self, db: &Db) {
        if let Some((scope, key)) = &self.claimed
            && let Err(e) = idempotency::abandon(db, scope, key).await
        {
            tracing::warn!(error = %e, "could not release an idempotency key");
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_same_request_in_another_key_order_has_the_same_fingerprint() {
        let a = json!({"amount": 5, "card": {"b": 1, "a": [1, {"y": 2, "x": 1}]}});
        let b: Value = serde_json::from_str(r#"{"card":{"a":[1,{"x":1,"y":2}],"b":1},"amount":5}"#).unwrap();
        assert_eq!(fingerprint("POST", "/x", &a), fingerprint("POST", "/x", &b));
        assert_ne!(fingerprint("POST", "/x", &a), fingerprint("POST", "/y", &a));
        assert_ne!(fingerprint("POST", "/x", &a), fingerprint("POST", "/x", &json!({"amount": 6})));
    }
}
