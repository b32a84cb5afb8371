//! The session credential (`cs_<id>_secret_<random>`) on the browser calls (SPEC §3, §5):
//! valid for its own session only, from allowed origins only, and rate limited per credential.

use axum::extract::{FromRequestParts, RawPathParams};
use axum::http::header;
use axum::http::request::Parts;

use super::auth::{Kind, bearer};
use crate::auth::secrets::{hash_secret, hashes_match};
use crate::domain::ids::has_shape;
use crate::domain::limit::RateRule;
use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;
use crate::store::accounts::Account;
use crate::store::now_ms;
use crate::store::sessions::{self, Budget, Presented, Session};

/// A browser call authenticated by its session's client secret.
#[derive(Debug, Clone)]
pub struct SessionAuth {
    pub session: Session,
    pub account: Account,
}

/// The origins a session's browser calls may come from: the platform's own and the account's.
pub fn origin_allowed(state: &AppState, account: &Account, origin: &str) -> bool {
    origin == state.config().public_origin() || account.allowed_origins.iter().any(|o| o == origin)
}

impl FromRequestParts<AppState> for SessionAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let credential = match bearer(parts)? {
            (Kind::Session, credential) => credential.to_owned(),
            (Kind::Wallet, _) => {
                return Err(ApiError::new(ErrorCode::InsufficientScope, "A wallet credential cannot make payments"));
            }
            _ => return Err(ApiError::unauthenticated("This route takes the session's client_secret")),
        };
        let invalid = || ApiError::unauthenticated("The session credential is invalid");
        let (session_id, _) = credential.split_once("_secret_").ok_or_else(invalid)?;
        if !has_shape(session_id, "cs") {
            return Err(invalid());
        }
        let path_id = RawPathParams::from_request_parts(parts, state)
            .await
            .ok()
            .and_then(|params| params.iter().find(|(k, _)| *k == "id").map(|(_, v)| v.to_owned()))
            // An id no session could have names another session, not the database's problem
            // (PostgreSQL's text cannot even hold a `%00` in it).
            .filter(|id| has_shape(id, "cs"));
        // A header that is not text is an origin no list allows.
        let origin = parts.headers.get(header::ORIGIN).map(|origin| origin.to_str().unwrap_or(""));
        let secret_hash = hash_secret(&credential);
        let presented = Presented {
            secret_hash: &secret_hash,
            path_id: path_id.as_deref(),
            origin,
            public_origin: &state.config().public_origin(),
        };
        let rule = RateRule::BROWSER_CREDENTIAL;
        let now = now_ms();
        let (session, account, budget) =
            sessions::get_with_account_spending(state.db(), session_id, presented, rule, now)
                .await?
                .ok_or_else(invalid)?;
        if !hashes_match(&secret_hash, &session.secret_hash) {
            return Err(invalid());
        }
        if path_id.as_deref() != Some(session_id) {
            return Err(ApiError::new(ErrorCode::SessionMismatch, "This credential belongs to another session"));
        }
        // Requests without Origin (same-origin GETs, server tools) are not refused for that.
        if origin.is_some_and(|origin| !origin_allowed(state, &account, origin)) {
            return Err(ApiError::new(ErrorCode::OriginNotAllowed, "This site may not use this checkout session"));
        }
        match budget {
            // Spent with the read (PostgreSQL), after the same checks as above.
            Budget::Spent => {}
            Budget::Refused { retry_after } => return Err(ApiError::rate_limited(retry_after)),
            Budget::NotAsked => super::spend_browser_budget(state, &session.id).await?,
        }
        Ok(SessionAuth { session, account })
    }
}
