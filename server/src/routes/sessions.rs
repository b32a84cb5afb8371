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

use super::list::{ListQuery, Listable};
use crate::app::AppState;
use crate::auth::secrets::{hash_secret, verify_secret};
use crate::checkout::{self, SessionObject, merchant_view};
use crate::domain::account::{MethodType, web_url};
use crate::domain::ids::{has_shape, new_id, random_base62};
use crate::domain::odata::{Field, FieldType, Resource};
use crate::domain::session::{
    CreateSession, DEFAULT_EXPIRES_IN, FutureUsage, Layout, RiskLevel, UpdateSession, check_locale, check_return_url,
    redirect_signature, settle_amount,
};
use crate::domain::validate;
use crate::error::{ApiError, ApiResult, ErrorType};
use crate::extract::auth::{Merchant, SessionsRead, SessionsWrite};
use crate::extract::idempotency::{Idempotency, IdempotencyKey, fingerprint};
use crate::extract::{Json, parse_json_value};
use crate::store::odata::{Scope, fetch_page};
use crate::store::sessions::{self, AmountChange, Session};
use crate::store::{Bind, accounts, customers, now_ms};

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
            Field { name: "status", column: "status", ty: FieldType::Text },
            Field { name: "amount", column: "amount", ty: FieldType::Int },
            Field { name: "currency", column: "currency", ty: FieldType::Text },
            Field { name: "customer_id", column: "customer_id", ty: FieldType::Text },
            Field { name: "reference", column: "reference", ty: FieldType::Text },
            Field { name: "created_at", column: "created_at", ty: FieldType::DateTime },
            Field { name: "expires_at", column: "expires_at", ty: FieldType::DateTime },
        ],
        key: "id",
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
    let print = fingerprint("POST", "/v1/hosted-sessions", &raw);
    let idempotency =
        match Idempotency::claim(state.db(), format!("create_session:{}", auth.account.uid), key, &print).await {
            Ok(i) => i,
            Err(replay) => return replay,
        };
    match create(&state, &auth.account, raw, &idempotency).await {
        Ok((_, text)) => {
            (StatusCode::CREATED, [(axum::http::header::CONTENT_TYPE, "application/json")], text).into_response()
        }
        Err(e) => {
            idempotency.abandon(state.db()).await;
            e.into_response()
        }
    }
}

/// Creates a session for `account` from a request body; the object and its JSON text (what the
/// API answers). Also used by the sandbox demo, which plays a merchant's back end.
pub async fn create(
    state: &AppState,
    account: &accounts::Account,
    raw: Value,
    idempotency: &Idempotency,
) -> ApiResult<(SessionObject, String)> {
    let body: CreateSession = parse_json_value(raw)?;
    let sandbox = state.config().sandbox;
    if body.currency != account.currency {
        return Err(ApiError::invalid("currency", format!("this account takes {}", account.currency)));
    }
    let amount = settle_amount(body.amount, body.line_items.as_deref(), body.tax_amount, body.shipping_amount)?;
    if let Some(d) = &body.description {
        validate::text("description", d, 500)?;
    }
    if let Some(r) = &body.reference {
        validate::text("reference", r, 255)?;
    }
    check_return_url("success_url", &body.success_url, sandbox)?;
    check_return_url("cancel_url", &body.cancel_url, sandbox)?;
    if let Some(email) = &body.customer_email {
        validate::email("customer_email", email)?;
    }
    let customer = match &body.customer_id {
        Some(id) => {
            let found = if has_shape(id, "cus") { customers::get(state.db(), &account.uid, id).await? } else { None };
            Some(
                found
                    .ok_or_else(|| ApiError::invalid("customer_id", "customer_id names no customer of this account"))?,
            )
        }
        None => None,
    };
    let usage = body.setup_future_usage.unwrap_or(FutureUsage::Off);
    if usage != FutureUsage::Off && customer.is_none() && body.customer_email.is_none() {
        return Err(ApiError::bad_request(
            "parameter_missing",
            "setup_future_usage needs customer_id or customer_email",
        )
        .with_param("customer_id"));
    }
    if body.fraud_signals.as_ref().and_then(|f| f.risk_level) == Some(RiskLevel::High)
        && body.customer_email.is_none()
        && customer.as_ref().and_then(|c| c.email.as_ref()).is_none()
    {
        return Err(ApiError::bad_request(
            "parameter_missing",
            "A high-risk session challenges the customer by email: give customer_email (or a customer with one)",
        )
        .with_param("customer_email"));
    }
    let allowed_methods = match body.allowed_methods {
        Some(methods) => {
            if methods.is_empty() {
                return Err(ApiError::invalid("allowed_methods", "allow at least one method"));
            }
            let mut out: Vec<MethodType> = Vec::new();
            for (i, m) in methods.into_iter().enumerate() {
                if !account.enabled_methods.contains(&m) {
                    return Err(ApiError::invalid(
                        format!("allowed_methods[{i}]"),
                        format!("{} is not enabled on this account", m.as_str()),
                    ));
                }
                if !out.contains(&m) {
                    out.push(m);
                }
            }
            out
        }
        None => account.enabled_methods.clone(),
    };
    let expires_in = body.expires_in_seconds.unwrap_or(DEFAULT_EXPIRES_IN);
    if !(300..=86_400).contains(&expires_in) {
        return Err(ApiError::invalid("expires_in_seconds", "expires_in_seconds must be from 300 to 86400"));
    }
    let mut avs = body.required_avs_fields.unwrap_or_default();
    avs.dedup();
    let locale = body.locale.unwrap_or_else(|| "en".into());
    check_locale(&locale)?;
    if let Some(b) = &body.branding {
        b.validate("branding", sandbox)?;
    }
    let metadata = body.metadata.unwrap_or_default();
    validate::metadata("metadata", &metadata)?;
    if let Some(ip) = body.fraud_signals.as_ref().and_then(|f| f.customer_ip.as_ref())
        && ip.parse::<std::net::IpAddr>().is_err()
    {
        return Err(ApiError::invalid("fraud_signals.customer_ip", "customer_ip must be an IP address"));
    }

    let now = now_ms();
    let id = new_id("cs");
    let secret = format!("{id}_secret_{}", random_base62(32));
    let session = Session {
        id: id.clone(),
        account_uid: account.uid.clone(),
        status: "active".into(),
        version: 1,
        amount: amount.minor(),
        currency: body.currency.to_string(),
        description: body.description,
        reference: body.reference,
        line_items: body.line_items,
        tax_amount: body.tax_amount.map(|a| a.minor()),
        shipping_amount: body.shipping_amount.map(|a| a.minor()),
        customer_id: customer.map(|c| c.id),
        customer_email: body.customer_email,
        success_url: body.success_url,
        cancel_url: body.cancel_url,
        layout: body.layout.unwrap_or(Layout::Hosted).as_str().to_owned(),
        allowed_methods,
        setup_future_usage: usage,
        required_avs_fields: avs,
        locale,
        branding: body.branding,
        fraud_signals: body.fraud_signals,
        metadata,
        secret_hash: hash_secret(&secret),
        secret_sealed: crate::auth::sealed::seal(
            &state.config().master_key,
            &sessions::secret_context(&id),
            secret.as_bytes(),
        ),
        confirm_attempts: 0,
        processing_attempt: None,
        processing_since: None,
        challenge_satisfied: false,
        payment_id: None,
        fee_amount: None,
        total_amount: None,
        created_at: now,
        updated_at: now,
        expires_at: now + expires_in * 1000,
        completed_at: None,
    };
    let view = merchant_view(state, &session, now)?;
    let text = serde_json::to_string(&view).map_err(anyhow::Error::from)?;
    let mut tx = state.db().begin_write().await?;
    sessions::insert(&mut tx, &session).await?;
    idempotency.finish(&mut tx, StatusCode::CREATED, &text).await?;
    tx.commit().await?;
    Ok((view, text))
}

/// Lists the account's sessions (OData: id, status, amount, currency, customer_id, reference,
/// created_at, expires_at).
#[utoipa::path(
    get, path = "/v1/hosted-sessions", tag = "hosted sessions",
    security(("admin_token" = []), ("api_key" = ["sessions.read"])),
    params(("X-Payment-Account-Uid" = Option<String>, Header), ("$filter" = Option<String>, Query),
           ("$orderby" = Option<String>, Query), ("$top" = Option<i64>, Query), ("$skip" = Option<i64>, Query),
           ("$count" = Option<bool>, Query), ("$select" = Option<String>, Query)),
    responses((status = 200, description = "{value, @odata.count?, @odata.nextLink?}"), (status = 400), (status = 501))
)]
async fn list_sessions(
    auth: Merchant<SessionsRead>,
    State(state): State<AppState>,
    list: ListQuery<Sessions>,
) -> ApiResult<Json<Value>> {
    // Overdue sessions are shown as expired even before the expiry job has passed.
    checkout::expire_overdue(&state).await?;
    let scope = Scope {
        table: "hosted_sessions",
        columns: sessions::COLUMNS,
        condition: "account_uid = $1",
        binds: vec![Bind::Text(auth.account.uid.clone())],
    };
    let page = fetch_page(state.db(), scope, &list.query, Sessions::RESOURCE).await?;
    let now = now_ms();
    let mut items = Vec::with_capacity(page.rows.len());
    for row in &page.rows {
        items.push(merchant_view(&state, &sessions::from_row(row)?, now)?);
    }
    Ok(Json(list.respond(&items, page.count, page.has_more)))
}

async fn find(state: &AppState, account_uid: &str, id: &str) -> ApiResult<Session> {
    let s = if has_shape(id, "cs") { sessions::get(state.db(), id).await? } else { None };
    match s {
        Some(s) if s.account_uid == account_uid => checkout::expire_if_due(state, s, now_ms()).await,
        _ => Err(ApiError::not_found("hosted session")),
    }
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
    let session = find(&state, &auth.account.uid, &id).await?;
    Ok(Json(merchant_view(&state, &session, now_ms())?))
}

fn refuse_change(s: &Session, now: i64) -> ApiError {
    match s.status_at(now) {
        "completed" => ApiError::conflict("already_confirmed", "This checkout session is already paid"),
        "expired" => ApiError::new(
            StatusCode::GONE,
            ErrorType::InvalidRequestError,
            "session_expired",
            "This checkout session has expired",
        ),
        "processing" => ApiError::conflict("confirm_in_progress", "A payment for this session is being processed"),
        _ => ApiError::conflict("confirm_in_progress", "The session changed meanwhile; retry"),
    }
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
    // Optimistic: the change is computed from one read and written only if the session is still
    // at that version and active; a concurrent change makes us read again.
    for _ in 0..5 {
        let s = find(&state, &auth.account.uid, &id).await?;
        let now = now_ms();
        if s.status_at(now) != "active" {
            return Err(refuse_change(&s, now));
        }
        let line_items = match &body.line_items {
            Some(v) => v.clone(),
            None => s.line_items.clone(),
        };
        let pick = |patch: &Option<Option<crate::domain::money::Amount>>, current: Option<i64>| match patch {
            Some(v) => *v,
            None => current.and_then(crate::domain::money::Amount::new),
        };
        let tax = pick(&body.tax_amount, s.tax_amount);
        let shipping = pick(&body.shipping_amount, s.shipping_amount);
        // Without a new amount, line items decide it; else the current amount must still fit.
        let requested = body
            .amount
            .or_else(|| if line_items.is_some() { None } else { crate::domain::money::Amount::new(s.amount) });
        let amount = settle_amount(requested, line_items.as_deref(), tax, shipping)?;
        let description = match &body.description {
            Some(d) => d.clone(),
            None => s.description.clone(),
        };
        if let Some(d) = &description {
            validate::text("description", d, 500)?;
        }
        let metadata = body.metadata.clone().unwrap_or_else(|| s.metadata.clone());
        validate::metadata("metadata", &metadata)?;
        let change = AmountChange {
            amount: amount.minor(),
            line_items: line_items.as_deref(),
            tax_amount: tax.map(|a| a.minor()),
            shipping_amount: shipping.map(|a| a.minor()),
            description: description.as_deref(),
            metadata: &metadata,
        };
        let mut conn = state.db().pool().acquire().await?;
        if sessions::update_if_unchanged(&mut conn, &s.id, s.version, now, change).await? {
            drop(conn);
            let updated = find(&state, &auth.account.uid, &id).await?;
            return Ok(Json(merchant_view(&state, &updated, now_ms())?));
        }
    }
    let s = find(&state, &auth.account.uid, &id).await?;
    Err(refuse_change(&s, now_ms()))
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
) -> ApiResult<Json<SessionObject>> {
    let s = find(&state, &auth.account.uid, &id).await?;
    let now = now_ms();
    if s.status_at(now) == "active" {
        checkout::expire(&state, &s.id, now, false).await?;
    }
    let s = find(&state, &auth.account.uid, &id).await?;
    match s.status_at(now_ms()) {
        "expired" => Ok(Json(merchant_view(&state, &s, now_ms())?)),
        _ => Err(refuse_change(&s, now_ms())),
    }
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
    let url = web_url(&body.url, true).map_err(|m| ApiError::invalid("url", m))?;
    let param = |name: &str| url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned());
    let (Some(session_id), Some(payment_id), Some(ts), Some(sig)) =
        (param("govifi_session_id"), param("govifi_payment_id"), param("govifi_ts"), param("govifi_sig"))
    else {
        return Ok(Json(RedirectValidity { valid: false }));
    };
    let Ok(ts) = ts.parse::<i64>() else { return Ok(Json(RedirectValidity { valid: false })) };
    let session = if has_shape(&session_id, "cs") { sessions::get(state.db(), &session_id).await? } else { None };
    let valid = match session {
        Some(s) if s.account_uid == auth.account.uid && s.payment_id.as_deref() == Some(payment_id.as_str()) => {
            let secret = auth.account.redirect_secret(&state.config().master_key)?;
            let expected = redirect_signature(&secret, ts, &session_id, &payment_id);
            // Compare as secrets are compared: in constant time.
            verify_secret(&sig, &hash_secret(&expected))
        }
        _ => false,
    };
    Ok(Json(RedirectValidity { valid }))
}
