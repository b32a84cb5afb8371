//! Hosted sessions, the merchant's side (SPEC §4): create, change while active, expire, and
//! check a signed success redirect. The API and the sandbox demo both come here.

use axum::http::StatusCode;
use serde_json::Value;

use super::{expire, expire_if_due, merchant_view};
use crate::auth::secrets::{hash_secret, verify_secret};
use crate::domain::account::{MethodType, web_url};
use crate::domain::ids::{has_shape, new_id, random_base62};
use crate::domain::money::Amount;
use crate::domain::session::{
    CreateSession, DEFAULT_EXPIRES_IN, FutureUsage, Layout, Locale, RiskLevel, SessionStatus, UpdateSession,
    check_locale, check_return_url, redirect_signature, settle_amount,
};
use crate::domain::validate;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::extract::parse_json_value;
use crate::idempotency::Idempotency;
use crate::state::AppState;
use crate::store::accounts::Account;
use crate::store::sessions::{self, AmountChange, Session};
use crate::store::{customers, now_ms};
use crate::views::SessionObject;

/// Creates a session for `account` from a request body; the object and its JSON text (what the
/// API answers). Also used by the sandbox demo, which plays a merchant's back end.
pub async fn create(
    state: &AppState,
    account: &Account,
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
        return Err(ApiError::new(
            ErrorCode::ParameterMissing,
            "setup_future_usage needs customer_id or customer_email",
        )
        .with_param("customer_id"));
    }
    if body.fraud_signals.as_ref().and_then(|f| f.risk_level) == Some(RiskLevel::High)
        && body.customer_email.is_none()
        && customer.as_ref().and_then(|c| c.email.as_ref()).is_none()
    {
        return Err(ApiError::new(
            ErrorCode::ParameterMissing,
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
                crate::accounts::require_method(account, m, format!("allowed_methods[{i}]"))?;
                if !out.contains(&m) {
                    out.push(m);
                }
            }
            out
        }
        None => crate::accounts::usable_methods(account),
    };
    let expires_in = body.expires_in_seconds.unwrap_or(DEFAULT_EXPIRES_IN);
    if !(300..=86_400).contains(&expires_in) {
        return Err(ApiError::invalid("expires_in_seconds", "expires_in_seconds must be from 300 to 86400"));
    }
    // Each field once, in the order first given (a repeat anywhere is dropped, so the list is
    // never longer than the fields there are).
    let mut avs = Vec::new();
    for field in body.required_avs_fields.unwrap_or_default() {
        if !avs.contains(&field) {
            avs.push(field);
        }
    }
    let locale = match &body.locale {
        Some(l) => check_locale(l)?,
        None => Locale::En,
    };
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
        status: SessionStatus::Active,
        version: 1,
        amount,
        currency: body.currency,
        description: body.description,
        reference: body.reference,
        line_items: body.line_items,
        tax_amount: body.tax_amount,
        shipping_amount: body.shipping_amount,
        customer_id: customer.map(|c| c.id),
        customer_email: body.customer_email,
        success_url: body.success_url,
        cancel_url: body.cancel_url,
        layout: body.layout.unwrap_or(Layout::Hosted),
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
    // The answer carries the session's credential: kept sealed, like the session's own copy.
    idempotency.finish_sealed(&mut tx, &state.config().master_key, StatusCode::CREATED, &text).await?;
    tx.commit().await?;
    Ok((view, text))
}

/// The account's session `id`, with its expiry written down if it is due; 404 otherwise.
pub async fn find(state: &AppState, account_uid: &str, id: &str) -> ApiResult<Session> {
    let s = if has_shape(id, "cs") { sessions::get(state.db(), id).await? } else { None };
    match s {
        Some(s) if s.account_uid == account_uid => expire_if_due(state, s, now_ms()).await,
        _ => Err(ApiError::not_found("hosted session")),
    }
}

/// Why a session cannot change now.
fn refuse_change(s: &Session, now: i64) -> ApiError {
    match s.status_at(now) {
        SessionStatus::Completed => ApiError::new(ErrorCode::AlreadyConfirmed, "This checkout session is already paid"),
        SessionStatus::Expired => ApiError::session_expired("This checkout session has expired"),
        SessionStatus::Processing => {
            ApiError::new(ErrorCode::ConfirmInProgress, "A payment for this session is being processed")
        }
        SessionStatus::Active => ApiError::new(ErrorCode::ConfirmInProgress, "The session changed meanwhile; retry"),
    }
}

/// Changes the amount, line items, tax, shipping, description or metadata while the session is
/// active; earlier fee quotes become stale (the version moves on).
pub async fn update(state: &AppState, account_uid: &str, id: &str, body: &UpdateSession) -> ApiResult<SessionObject> {
    // Optimistic: the change is computed from one read and written only if the session is still
    // at that version and active; a concurrent change makes us read again.
    for _ in 0..5 {
        let s = find(state, account_uid, id).await?;
        let now = now_ms();
        if s.status_at(now) != SessionStatus::Active {
            return Err(refuse_change(&s, now));
        }
        let line_items = match &body.line_items {
            Some(v) => v.clone(),
            None => s.line_items.clone(),
        };
        let pick = |patch: &Option<Option<Amount>>, current: Option<Amount>| match patch {
            Some(v) => *v,
            None => current,
        };
        let tax = pick(&body.tax_amount, s.tax_amount);
        let shipping = pick(&body.shipping_amount, s.shipping_amount);
        // Without a new amount, line items decide it; else the current amount must still fit.
        let requested = body.amount.or(if line_items.is_some() { None } else { Some(s.amount) });
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
            amount,
            line_items: line_items.as_deref(),
            tax_amount: tax,
            shipping_amount: shipping,
            description: description.as_deref(),
            metadata: &metadata,
        };
        if sessions::update_if_unchanged(state.db(), &s.id, s.version, now, change).await? {
            let updated = find(state, account_uid, id).await?;
            return merchant_view(state, &updated, now_ms());
        }
    }
    let s = find(state, account_uid, id).await?;
    Err(refuse_change(&s, now_ms()))
}

/// Expires an active session at once; on an expired one it answers the session again.
pub async fn expire_now(state: &AppState, account_uid: &str, id: &str) -> ApiResult<SessionObject> {
    let s = find(state, account_uid, id).await?;
    let now = now_ms();
    if s.status_at(now) == SessionStatus::Active {
        expire(state, &s.id, now, false).await?;
    }
    let s = find(state, account_uid, id).await?;
    match s.status_at(now_ms()) {
        SessionStatus::Expired => merchant_view(state, &s, now_ms()),
        _ => Err(refuse_change(&s, now_ms())),
    }
}

/// True when a success redirect URL carries a valid signature of one of the account's payments.
pub async fn verify_redirect(state: &AppState, account: &Account, url: &str) -> ApiResult<bool> {
    let url = web_url(url, true).map_err(|m| ApiError::invalid("url", m))?;
    let param = |name: &str| url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned());
    let (Some(session_id), Some(payment_id), Some(ts), Some(sig)) =
        (param("govifi_session_id"), param("govifi_payment_id"), param("govifi_ts"), param("govifi_sig"))
    else {
        return Ok(false);
    };
    let Ok(ts) = ts.parse::<i64>() else { return Ok(false) };
    let session = if has_shape(&session_id, "cs") { sessions::get(state.db(), &session_id).await? } else { None };
    let valid = match session {
        Some(s) if s.account_uid == account.uid && s.payment_id.as_deref() == Some(payment_id.as_str()) => {
            let secret = account.redirect_secret(&state.config().master_key)?;
            signature_matches(&secret, ts, &session_id, &payment_id, &sig)
        }
        _ => false,
    };
    Ok(valid)
}

/// Whether `sig` is the redirect's signature under `secret`: the check a merchant makes with
/// its signing secret alone (the demo's receipt page makes it the same way).
pub fn signature_matches(secret: &str, ts: i64, session_id: &str, payment_id: &str, sig: &str) -> bool {
    // Compared as secrets are compared: in constant time.
    verify_secret(sig, &hash_secret(&redirect_signature(secret, ts, session_id, payment_id)))
}
