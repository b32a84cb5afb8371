//! Extractors whose rejections answer in SPEC §2's error shape.

pub mod auth;
pub mod idempotency;
mod json;
pub mod session;
pub mod wallet;

pub use json::{BODY_LIMIT, Json, from_value as parse_json_value, parse as parse_json};

/// The peer's address when the server runs with connect info (absent in `oneshot` tests).
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub Option<std::net::SocketAddr>);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientAddr(parts.extensions.get::<axum::extract::ConnectInfo<std::net::SocketAddr>>().map(|c| c.0)))
    }
}
