//! One extractor per credential kind (SPEC §3), so a handler's signature says what it accepts:
//!
//! - [`AdminToken`]: an OAuth access token with the admin scope (account-agnostic routes);
//! - [`AdminAccount`]: that token plus `X-Payment-Account-Uid`;
//! - [`ApiKeyAuth<S>`]: an account API key carrying scope `S`;
//! - [`Merchant<S>`]: either of the two above (account-scoped platform routes);
//! - session and wallet credentials live with the browser routes.
//!
//! Another kind of credential where one is expected is 401; a valid one without the scope is 403.

use std::marker::PhantomData;

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;

use crate::auth::tokens::TokenIdentity;
use crate::domain::ids;
use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;
use crate::store::accounts::{self, Account};
use crate::store::api_keys::{self, ApiKey};
use crate::store::app_clients::ADMIN_SCOPE;

pub const ACCOUNT_HEADER: &str = "x-payment-account-uid";

/// The kinds of bearer credential, told apart by shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Jwt,
    ApiKey,
    Session,
    Wallet,
}

/// The bearer credential of a request and its kind; 401 when absent or unrecognisable.
pub fn bearer(parts: &Parts) -> Result<(Kind, &str), ApiError> {
    let value = parts
        .headers
        .get(header::AUTHORIZATION)
        .ok_or_else(|| ApiError::unauthenticated("Send a credential as Authorization: Bearer …"))?
        .to_str()
        .map_err(|_| ApiError::unauthenticated("The Authorization header is not readable"))?;
    let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
        return Err(ApiError::unauthenticated("Send a credential as Authorization: Bearer …"));
    }
    let kind = if token.starts_with("gk_") {
        Kind::ApiKey
    } else if token.starts_with("cs_") && token.contains("_secret_") {
        Kind::Session
    } else if token.starts_with("ws_") && token.contains("_secret_") {
        Kind::Wallet
    } else if token.split('.').count() == 3 {
        Kind::Jwt
    } else {
        return Err(ApiError::unauthenticated("The credential is not recognised"));
    };
    Ok((kind, token))
}

fn wrong_kind(expected: &str) -> ApiError {
    ApiError::unauthenticated(format!("This route takes {expected}"))
}

/// A verified admin access token.
#[derive(Debug, Clone)]
pub struct AdminToken(pub TokenIdentity);

impl FromRequestParts<AppState> for AdminToken {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        match bearer(parts)? {
            (Kind::Jwt, token) => admin_token(token, state).await,
            _ => Err(wrong_kind("an admin access token from /oauth2/token")),
        }
    }
}

async fn admin_token(token: &str, state: &AppState) -> Result<AdminToken, ApiError> {
    let identity = state.tokens().verify(token).await.map_err(|e| {
        if let crate::auth::tokens::TokenError::Internal(err) = e {
            return ApiError::Internal(err);
        }
        tracing::info!(reason = %e, "access token refused");
        ApiError::unauthenticated("The access token is invalid or expired")
    })?;
    if !identity.has_scope(ADMIN_SCOPE) {
        return Err(ApiError::new(ErrorCode::InsufficientScope, format!("The token lacks the {ADMIN_SCOPE} scope")));
    }
    Ok(AdminToken(identity))
}

/// The account named by `X-Payment-Account-Uid`, if the header is present.
fn account_header(parts: &Parts) -> Result<Option<&str>, ApiError> {
    match parts.headers.get(ACCOUNT_HEADER) {
        None => Ok(None),
        Some(v) => v
            .to_str()
            .map(|s| Some(s.trim()))
            .map_err(|_| ApiError::invalid("X-Payment-Account-Uid", "X-Payment-Account-Uid is not readable")),
    }
}

async fn load_account(state: &AppState, uid: &str) -> Result<Account, ApiError> {
    if !ids::has_shape(uid, "pa") {
        return Err(ApiError::not_found("payment account"));
    }
    accounts::get(state.db(), uid).await?.ok_or_else(|| ApiError::not_found("payment account"))
}

/// An admin token acting on the account named by `X-Payment-Account-Uid`.
#[derive(Debug, Clone)]
pub struct AdminAccount {
    pub token: AdminToken,
    pub account: Account,
}

impl FromRequestParts<AppState> for AdminAccount {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let token = AdminToken::from_request_parts(parts, state).await?;
        admin_account(parts, state, token).await
    }
}

async fn admin_account(parts: &Parts, state: &AppState, token: AdminToken) -> Result<AdminAccount, ApiError> {
    let uid = account_header(parts)?.ok_or_else(|| ApiError::missing("X-Payment-Account-Uid"))?;
    Ok(AdminAccount { token, account: load_account(state, uid).await? })
}

/// A scope an account API key must carry for a route.
pub trait Scope: Send + Sync + 'static {
    const NAME: &'static str;
    /// The scope of a payment endpoint (`/api/payments/…`), where a wallet credential is 403
    /// `insufficient_scope` rather than 401 (SPEC §3).
    const PAYMENTS: bool;
}

macro_rules! scopes {
    ($($ty:ident => $name:literal, $payments:literal;)*) => {$(
        #[doc = concat!("The `", $name, "` scope.")]
        #[derive(Debug, Clone, Copy)]
        pub struct $ty;
        impl Scope for $ty {
            const NAME: &'static str = $name;
            const PAYMENTS: bool = $payments;
        }
    )*};
}

scopes! {
    SessionsRead => "sessions.read", false;
    SessionsWrite => "sessions.write", false;
    PaymentsRead => "payments.read", true;
    PaymentsWrite => "payments.write", true;
    RefundsWrite => "refunds.write", true;
    CustomersRead => "customers.read", false;
    CustomersWrite => "customers.write", false;
    TerminalsRead => "terminals.read", false;
    // Its routes start, charge and cancel terminal payments (and add terminals).
    TerminalsWrite => "terminals.write", true;
    WebhooksRead => "webhooks.read", false;
    WebhooksWrite => "webhooks.write", false;
}

/// An account API key with scope `S`; it names its account itself.
#[derive(Debug, Clone)]
pub struct ApiKeyAuth<S> {
    pub key: ApiKey,
    pub account: Account,
    _scope: PhantomData<S>,
}

impl<S: Scope> FromRequestParts<AppState> for ApiKeyAuth<S> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        match bearer(parts)? {
            (Kind::ApiKey, secret) => api_key::<S>(parts, state, secret).await,
            _ => Err(wrong_kind("an account API key")),
        }
    }
}

async fn api_key<S: Scope>(parts: &Parts, state: &AppState, secret: &str) -> Result<ApiKeyAuth<S>, ApiError> {
    let key = api_keys::authenticate(state.db(), secret)
        .await?
        .ok_or_else(|| ApiError::unauthenticated("The API key is invalid, revoked or expired"))?;
    if let Some(uid) = account_header(parts)?
        && uid != key.account_uid
    {
        return Err(ApiError::new(ErrorCode::AccountForbidden, "This API key belongs to another payment account"));
    }
    if !key.allows(S::NAME) {
        return Err(ApiError::new(ErrorCode::InsufficientScope, format!("The API key lacks the {} scope", S::NAME)));
    }
    let account = load_account(state, &key.account_uid).await?;
    Ok(ApiKeyAuth { key, account, _scope: PhantomData })
}

/// Who acts on an account-scoped platform route.
#[derive(Debug, Clone)]
pub enum Actor {
    Admin { client_id: String },
    ApiKey { key_id: String },
}

/// An admin token with `X-Payment-Account-Uid`, or an API key with scope `S`.
#[derive(Debug, Clone)]
pub struct Merchant<S> {
    pub account: Account,
    pub actor: Actor,
    _scope: PhantomData<S>,
}

impl<S: Scope> FromRequestParts<AppState> for Merchant<S> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        match bearer(parts)? {
            (Kind::Jwt, token) => {
                let token = admin_token(token, state).await?;
                let admin = admin_account(parts, state, token).await?;
                let client_id = admin.token.0.client_id.clone();
                Ok(Merchant { account: admin.account, actor: Actor::Admin { client_id }, _scope: PhantomData })
            }
            (Kind::ApiKey, secret) => {
                let auth = api_key::<S>(parts, state, secret).await?;
                Ok(Merchant {
                    account: auth.account,
                    actor: Actor::ApiKey { key_id: auth.key.id },
                    _scope: PhantomData,
                })
            }
            (Kind::Wallet, _) if S::PAYMENTS => {
                Err(ApiError::new(ErrorCode::InsufficientScope, "A wallet credential cannot make or see payments"))
            }
            _ => Err(wrong_kind("an admin access token or an account API key")),
        }
    }
}
