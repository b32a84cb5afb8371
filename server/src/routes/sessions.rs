//! Hosted sessions, the merchant's side: `/v1/hosted-sessions` (admin token + account header,
//! or an API key with `sessions.write` / `sessions.read`).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::list::{ListQuery, Listable, ODataParams};
use crate::checkout::{self, merchant_view};
use crate::domain::odata::{Field, FieldType, Resource};
use crate::domain::session::{CreateSession, UpdateSession};
use crate::error::ApiResult;
use crate::extract::auth::{Merchant, SessionsRead, SessionsWrite};
use crate::extract::idempotency::IdempotencyKey;
use crate::extract::{Json, NoFields};
use crate::idempotency::{Idempotency, fingerprint, opened};
use crate::state::AppState;
use crate::store::now_ms;
use crate::store::odata::fetch_page;
use crate::store::sessions;
use crate::views::SessionObject;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_session, list_sessions))
        .routes(routes!(verify_redirect))
        .routes(routes!(get_session, update_session))
        .routes(routes!(expire_session))
}

pub struct Sessions;

impl Listable for Sessions {
    const RESOURCE: &'static Resource = &Resource {
        fields: &[
            Field { name: "id", column: "id", ty: FieldType::Text },
            Field {
                name: "status",
                column: "status",
                ty: FieldType::OneOf(crate::domain::session::SessionStatus::WORDS),
            },
            Field { name: "amount", column: "amount", ty: FieldType::Int },
            Field { name: "currency", column: "currency", ty: FieldType::Text },
            Field { name: "customer_id", column: "customer_id", ty: FieldType::Text },
            Field { name: "reference", column: "reference", ty: FieldType::Text },
            Field { name: "created_at", column: "created_at", ty: FieldType::DateTime },
            Field { name: "expires_at", column: "expires_at", ty: FieldType::DateTime },
        ],
        key: "id",
        nullable: &["customer_id", "reference"],
        properties: &[
            "id",
            "session_id",
            "object",
            "status",
            "amount",
            "currency",
            "description",
            "reference",
            "line_items",
            "tax_amount",
            "shipping_amount",
            "customer_id",
            "customer_email",
            "success_url",
            "cancel_url",
            "layout",
            "allowed_methods",
            "setup_future_usage",
            "required_avs_fields",
            "locale",
            "branding",
            "fraud_signals",
            "metadata",
            "payment_id",
            "fee_amount",
            "total_amount",
            "client_secret",
            "hosted_url",
            "embed_url",
            "created_at",
            "updated_at",
            "expires_at",
            "completed_at",
        ],
    };
}

/// Creates a hosted session. With `Idempotency-Key`, a retry with the same body answers the
/// original session; another body with the key is 422.
#[utoipa::path(
    post, path = "/v1/hosted-sessions", tag = "hosted sessions",
    security(("admin_token" = []), ("api_key" = ["sessions.write"])),
    params(("X-Payment-Account-Uid" = Option<String>, Header), ("Idempotency-Key" = Option<String>, Header)),
    request_body = CreateSession,
    responses((status = 201, body = SessionObject), (status = 400), (status = 401), (status = 403), (status = 422))
)]
async fn create_session(
    auth: Merchant<SessionsWrite>,
    State(state): State<AppState>,
    IdempotencyKey(key): IdempotencyKey,
    Json(raw): Json<Value>,
) -> Response {
    let print = fingerprint(&state.config().master_key, "POST", "/v1/hosted-sessions", &raw);
    let scope = format!("create_session:{}", auth.account.uid);
    let idempotency = match Idempotency::claim(state.db(), scope.clone(), key.clone(), &print).await {
        Ok(i) => i,
        Err(replay) => return opened(replay, &state.config().master_key, &scope, key.as_deref().unwrap_or("")).await,
    };
    match checkout::merchant::create(&state, &auth.account, raw, &idempotency).await {
        Ok((_, text)) => {
            (StatusCode::CREATED, [(axum::http::header::CONTENT_TYPE, "application/json")], text).into_response()
        }
        Err(e) => {
            idempotency.abandon(state.db()).await;
            e.into_response()
        }
    }
}

/// Lists the account's sessions (OData: id, status, amount, currency, customer_id, reference,
/// created_at, expires_at).
#[utoipa::path(
    get, path = "/v1/hosted-sessions", tag = "hosted sessions",
    security(("admin_token" = []), ("api_key" = ["sessions.read"])),
    params(("X-Payment-Account-Uid" = Option<String>, Header), ODataParams),
    responses((status = 200, description = "{value, @odata.count?, @odata.nextLink?}"), (status = 400), (status = 501))
)]
async fn list_sessions(
    auth: Merchant<SessionsRead>,
    State(state): State<AppState>,
    list: ListQuery<Sessions>,
) -> ApiResult<Json<Value>> {
    // Overdue sessions are listed, filtered and shown as expired even before the expiry job
    // has reached them.
    let now = now_ms();
    let page =
        fetch_page(state.db(), sessions::listed(&auth.account.uid, now), &list.query, Sessions::RESOURCE).await?;
    let mut items = Vec::with_capacity(page.rows.len());
    for row in &page.rows {
        items.push(merchant_view(&state, &sessions::from_row(row)?, now)?);
    }
    Ok(Json(list.respond(&items, page.count, page.has_more)))
}

/// Gets a session: status, amounts, `payment_id` once completed, fee and total paid.
#[utoipa::path(
    get, path = "/v1/hosted-sessions/{id}", tag = "hosted sessions",
    security(("admin_token" = []), ("api_key" = ["sessions.read"])),
    params(("X-Payment-Account-Uid" = Option<String>, Header)),
    responses((status = 200, body = SessionObject), (status = 404))
)]
async fn get_session(
    auth: Merchant<SessionsRead>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<SessionObject>> {
    let session = checkout::merchant::find(&state, &auth.account.uid, &id).await?;
    Ok(Json(merchant_view(&state, &session, now_ms())?))
}

/// Changes the amount, line items, tax, shipping, description or metadata while the session is
/// active. Fee quotes made before become stale.
#[utoipa::path(
    patch, path = "/v1/hosted-sessions/{id}", tag = "hosted sessions",
    security(("admin_token" = []), ("api_key" = ["sessions.write"])),
    params(("X-Payment-Account-Uid" = Option<String>, Header)),
    request_body = UpdateSession,
    responses((status = 200, body = SessionObject), (status = 400), (status = 404), (status = 409), (status = 410))
)]
async fn update_session(
    auth: Merchant<SessionsWrite>,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Json(body): Json<UpdateSession>,
) -> ApiResult<Json<SessionObject>> {
    Ok(Json(checkout::merchant::update(&state, &auth.account.uid, &id, &body).await?))
}

/// Expires an active session at once; on an expired one it answers the session again.
#[utoipa::path(
    post, path = "/v1/hosted-sessions/{id}/expire", tag = "hosted sessions",
    security(("admin_token" = []), ("api_key" = ["sessions.write"])),
    params(("X-Payment-Account-Uid" = Option<String>, Header)),
    responses((status = 200, body = SessionObject), (status = 404), (status = 409))
)]
async fn expire_session(
    auth: Merchant<SessionsWrite>,
    State(state): State<AppState>,
    Path(id): Path<String>,
    _no_fields: NoFields,
) -> ApiResult<Json<SessionObject>> {
    Ok(Json(checkout::merchant::expire_now(&state, &auth.account.uid, &id).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyRedirect {
    /// The full URL the customer arrived at.
    url: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RedirectValidity {
    valid: bool,
}

/// Checks a success redirect's signature for merchants who prefer not to compute it.
#[utoipa::path(
    post, path = "/v1/hosted-sessions/verify-redirect", tag = "hosted sessions",
    security(("admin_token" = []), ("api_key" = ["sessions.read"])),
    params(("X-Payment-Account-Uid" = Option<String>, Header)),
    request_body = VerifyRedirect,
    responses((status = 200, body = RedirectValidity), (status = 400))
)]
async fn verify_redirect(
    auth: Merchant<SessionsRead>,
    State(state): State<AppState>,
    Json(body): Json<VerifyRedirect>,
) -> ApiResult<Json<RedirectValidity>> {
    let valid = checkout::merchant::verify_redirect(&state, &auth.account, &body.url).await?;
    Ok(Json(RedirectValidity { valid }))
}
