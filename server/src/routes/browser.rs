//! The browser calls of a hosted session (SPEC §5), authenticated by the session credential:
//! `/v1/hosted-sessions/{id}/config | quote-fee | challenge/send | challenge/verify | confirm`.

use std::time::Duration;

use app::wire::{ChallengeSent, ChallengeVerified, ChallengeVerify, FeeQuote, QuoteRequest, SessionConfig};
use axum::extract::State;
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use tower_http::cors::{AllowOrigin, CorsLayer};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::checkout::confirm::{self, ConfirmRequest};
use crate::checkout::{browser_config, challenge, expire_if_due, quote};
use crate::domain::ids::has_shape;
use crate::domain::payment::RequestInfo;
use crate::error::ApiResult;
use crate::extract::idempotency::IdempotencyKey;
use crate::extract::session::{SessionAuth, origin_allowed};
use crate::extract::{Json, NoFields, parse_json_value};
use crate::idempotency::{Idempotency, fingerprint};
use crate::state::AppState;
use crate::store::{accounts, now_ms, sessions, wallet_sessions};

pub fn router(state: AppState) -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(config))
        .routes(routes!(quote_fee))
        .routes(routes!(challenge_send))
        .routes(routes!(challenge_verify))
        .routes(routes!(confirm_session))
        .layer(cors(state))
}

/// CORS for the platform's origin and the allowed origins of the account behind the session in
/// the path (hosted or wallet). Requests from other origins are also refused outright by the
/// credential check (403), so this only decides what browsers may read.
pub fn cors(state: AppState) -> CorsLayer {
    CorsLayer::new()
        .allow_origin(AllowOrigin::async_predicate(move |origin: HeaderValue, parts: &axum::http::request::Parts| {
            let state = state.clone();
            let mut segments = parts.uri.path().split('/').skip(2);
            let (kind, id) = (segments.next().map(str::to_owned), segments.next().map(str::to_owned));
            async move {
                let (Ok(origin), Some(kind), Some(id)) = (origin.to_str(), kind, id) else { return false };
                let account_uid = match kind.as_str() {
                    "hosted-sessions" if has_shape(&id, "cs") => {
                        sessions::get(state.db(), &id).await.ok().flatten().map(|s| s.account_uid)
                    }
                    "wallet-sessions" if has_shape(&id, "ws") => {
                        wallet_sessions::get(state.db(), &id).await.ok().flatten().map(|w| w.account_uid)
                    }
                    _ => None,
                };
                let Some(uid) = account_uid else { return false };
                match accounts::get(state.db(), &uid).await {
                    Ok(Some(account)) => origin_allowed(&state, &account, origin),
                    _ => false,
                }
            }
        }))
        .allow_methods([Method::GET, Method::POST, Method::DELETE])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE, HeaderName::from_static("idempotency-key")])
        .expose_headers([
            HeaderName::from_static("x-request-id"),
            header::RETRY_AFTER,
            HeaderName::from_static("idempotent-replayed"),
        ])
        .max_age(Duration::from_secs(600))
}

/// The sanitized configuration. After the session ends it still answers, with its status.
#[utoipa::path(
    get, path = "/v1/hosted-sessions/{id}/config", tag = "browser",
    security(("session_credential" = [])),
    responses((status = 200, body = SessionConfig), (status = 401), (status = 403), (status = 429))
)]
async fn config(auth: SessionAuth, State(state): State<AppState>) -> ApiResult<Response> {
    let now = now_ms();
    let session = expire_if_due(&state, auth.session, now).await?;
    let config = browser_config(&state, &session, &auth.account, now).await?;
    let mut response = axum::Json(config).into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// Quotes the fee for a method (and card BIN): what the customer sees before paying.
#[utoipa::path(
    post, path = "/v1/hosted-sessions/{id}/quote-fee", tag = "browser",
    security(("session_credential" = [])),
    request_body = QuoteRequest,
    responses((status = 200, body = FeeQuote), (status = 400), (status = 402, description = "A saved card whose expiry has passed (`invalid_expiry`)"), (status = 409), (status = 410))
)]
async fn quote_fee(
    auth: SessionAuth,
    State(state): State<AppState>,
    Json(req): Json<QuoteRequest>,
) -> ApiResult<Json<FeeQuote>> {
    Ok(Json(quote::quote(&state, auth.session, &auth.account, &req, now_ms()).await?))
}

/// Sends a 6-digit code to the customer's email (at most 3 every 10 minutes).
#[utoipa::path(
    post, path = "/v1/hosted-sessions/{id}/challenge/send", tag = "browser",
    security(("session_credential" = [])),
    responses((status = 202, body = ChallengeSent), (status = 400), (status = 409, description = "The session is paid or being paid (`already_confirmed`, `confirm_in_progress`)"), (status = 410), (status = 429))
)]
async fn challenge_send(
    auth: SessionAuth,
    State(state): State<AppState>,
    _no_fields: NoFields,
) -> ApiResult<(StatusCode, Json<ChallengeSent>)> {
    let session = expire_if_due(&state, auth.session, now_ms()).await?;
    let (hint, expires_at) = challenge::send(&state, &session).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(ChallengeSent { destination_hint: hint, expires_at: challenge::expiry_text(expires_at) }),
    ))
}

/// Checks the code: `{verified: true}`, or 400 `invalid_code` with `attempts_remaining`; after
/// five wrong codes the challenge locks (429).
#[utoipa::path(
    post, path = "/v1/hosted-sessions/{id}/challenge/verify", tag = "browser",
    security(("session_credential" = [])),
    request_body = ChallengeVerify,
    responses((status = 200, body = ChallengeVerified), (status = 400), (status = 409, description = "The session is paid or being paid (`already_confirmed`, `confirm_in_progress`)"), (status = 410), (status = 429))
)]
async fn challenge_verify(
    auth: SessionAuth,
    State(state): State<AppState>,
    Json(body): Json<ChallengeVerify>,
) -> ApiResult<Json<ChallengeVerified>> {
    let session = expire_if_due(&state, auth.session, now_ms()).await?;
    challenge::verify(&state, &session, &body.code).await?;
    Ok(Json(ChallengeVerified { verified: true }))
}

/// Pays the session, exactly once. With `Idempotency-Key`, a retry answers the first result
/// byte for byte without charging again.
#[utoipa::path(
    post, path = "/v1/hosted-sessions/{id}/confirm", tag = "browser",
    security(("session_credential" = [])),
    params(("Idempotency-Key" = Option<String>, Header)),
    request_body = ConfirmRequest,
    responses(
        (status = 200, body = app::wire::ConfirmResult),
        (status = 400), (status = 402, description = "card_error: declined, incorrect_number, invalid_expiry, invalid_cvc, authentication_required"),
        (status = 409, description = "already_confirmed, confirm_in_progress, quote_stale, idempotency_in_progress"),
        (status = 410), (status = 422), (status = 429)
    )
)]
async fn confirm_session(
    auth: SessionAuth,
    State(state): State<AppState>,
    client: RequestInfo,
    IdempotencyKey(key): IdempotencyKey,
    Json(raw): Json<Value>,
) -> Response {
    let print = fingerprint(&state.config().master_key, "POST", "confirm", &raw);
    // The key is looked at now and taken inside the claim's transaction (one commit fewer); the
    // fee quote the body names is read at the same time (a replay does not need it).
    let quote_id = raw.get("fee_quote_id").and_then(Value::as_str);
    let (idempotency, quote) = tokio::join!(
        Idempotency::check(state.db(), format!("confirm:{}", auth.session.id), key, &print),
        confirm::load_quote(&state, &auth.session.id, quote_id),
    );
    let idempotency = match idempotency {
        Ok(i) => i,
        Err(replay) => return replay,
    };
    let request: ConfirmRequest = match parse_json_value(raw) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    confirm::confirm(&state, auth.session, &auth.account, request, quote, client, idempotency).await
}
