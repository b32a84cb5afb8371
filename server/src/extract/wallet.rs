//! The wallet credential (`ws_<id>_secret_<random>`): a customer managing their saved methods,
//! for its own wallet session only, from allowed origins, until it expires.

use axum::extract::{FromRequestParts, RawPathParams};
use axum::http::header;
use axum::http::request::Parts;

use super::auth::{Kind, bearer};
use super::session::origin_allowed;
use crate::auth::secrets::verify_secret;
use crate::domain::ids::has_shape;
use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;
use crate::store::accounts::Account;
use crate::store::now_ms;
use crate::store::wallet_sessions::{self, WalletSession};

/// A call authenticated by a wallet session's client secret.
#[derive(Debug, Clone)]
pub struct WalletAuth {
    pub wallet: WalletSession,
    pub account: Account,
}

impl FromRequestParts<AppState> for WalletAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let credential = match bearer(parts)? {
            (Kind::Wallet, credential) => credential.to_owned(),
            _ => return Err(ApiError::unauthenticated("This route takes a wallet session's client_secret")),
        };
        let invalid = || ApiError::unauthenticated("The wallet credential is invalid");
        let (wallet_id, _) = credential.split_once("_secret_").ok_or_else(invalid)?;
        if !has_shape(wallet_id, "ws") {
            return Err(invalid());
        }
        let (wallet, account) = wallet_sessions::get_with_account(state.db(), wallet_id).await?.ok_or_else(invalid)?;
        if !verify_secret(&credential, &wallet.secret_hash) {
            return Err(invalid());
        }
        let path_id = RawPathParams::from_request_parts(parts, state)
            .await
            .ok()
            .and_then(|params| params.iter().find(|(k, _)| *k == "id").map(|(_, v)| v.to_owned()));
        if path_id.as_deref() != Some(wallet.id.as_str()) {
            return Err(ApiError::new(ErrorCode::SessionMismatch, "This credential belongs to another wallet session"));
        }
        if wallet.expires_at <= now_ms() {
            return Err(ApiError::new(ErrorCode::SessionExpired, "This wallet session has expired"));
        }
        if let Some(origin) = parts.headers.get(header::ORIGIN)
            && !origin_allowed(state, &account, origin.to_str().unwrap_or(""))
        {
            return Err(ApiError::new(ErrorCode::OriginNotAllowed, "This site may not use this wallet session"));
        }
        super::spend_browser_budget(state, &wallet.id).await?;
        Ok(WalletAuth { wallet, account })
    }
}
