//! The session credential (`cs_<id>_secret_<random>`) on the browser calls (SPEC §3, §5):
//! valid for its own session only, from allowed origins only, and rate limited per credential.

use axum::extract::{FromRequestParts, RawPathParams};
use axum::http::header;
use axum::http::request::Parts;

use super::auth::{Kind, bearer};
use crate::auth::secrets::verify_secret;
use crate::domain::ids::has_shape;
use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;
use crate::store::accounts::Account;
use crate::store::sessions::{self, Session};

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
        let (session, account) = sessions::get_with_account(state.db(), session_id).await?.ok_or_else(invalid)?;
        if !verify_secret(&credential, &session.secret_hash) {
            return Err(invalid());
        }
        let path_id = RawPathParams::from_request_parts(parts, state)
            .await
            .ok()
            .and_then(|params| params.iter().find(|(k, _)| *k == "id").map(|(_, v)| v.to_owned()));
        if path_id.as_deref() != Some(session_id) {
            return Err(ApiError::new(ErrorCode::SessionMismatch, "This credential belongs to another session"));
        }
        // Requests without Origin (same-origin GETs, server tools) are not refused for that.
        if let Some(origin) = parts.headers.get(header::ORIGIN) {
            let origin = origin.to_str().unwrap_or("");
            if !origin_allowed(state, &account, origin) {
                return Err(ApiError::new(ErrorCode::OriginNotAllowed, "This site may not use this checkout session"));
            }
        }
        super::spend_browser_budget(state, &session.id).await?;
        Ok(SessionAuth { session, account })
    }
}
