//! Extractors whose rejections answer in SPEC §2's error shape.

pub mod auth;
pub mod idempotency;
mod json;
pub mod session;
pub mod wallet;

use axum::extract::FromRequestParts;

use crate::domain::limit::RateRule;
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::now_ms;

pub use json::{BODY_LIMIT, Json, NoFields, OptionalBody, from_value as parse_json_value, parse as parse_json};

/// Who made the request (address and user agent), for consent records.
impl<S: Send + Sync> FromRequestParts<S> for crate::domain::payment::RequestInfo {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &S) -> Result<Self, Self::Rejection> {
        let ClientAddr(peer) = ClientAddr::from_request_parts(parts, state).await?;
        let user_agent = parts
            .headers
            .get(axum::http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.chars().take(512).collect());
        Ok(crate::domain::payment::RequestInfo { ip: peer.map(|p| p.ip().to_string()), user_agent })
    }
}

/// The peer's address when the server runs with connect info (absent in `oneshot` tests).
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub Option<std::net::SocketAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientAddr(parts.extensions.get::<axum::extract::ConnectInfo<std::net::SocketAddr>>().map(|c| c.0)))
    }
}

/// Spends one request of a browser credential's budget (SPEC §5: 120 a minute, bursts of 30),
/// counted across every server process on the database. This process's own limiter refuses a
/// flood on one credential first, without asking the database.
pub(crate) async fn spend_browser_budget(state: &AppState, key: &str) -> Result<(), ApiError> {
    if let Err(not_until) = state.limiter().check_key(&key.to_owned()) {
        let wait = not_until.wait_time_from(governor::clock::Clock::now(&governor::clock::DefaultClock::default()));
        return Err(ApiError::rate_limited(wait.as_secs() + 1));
    }
    match state.db().limits().take(key, RateRule::BROWSER_CREDENTIAL, now_ms()).await? {
        Ok(()) => Ok(()),
        Err(retry_after) => Err(ApiError::rate_limited(retry_after)),
    }
}
