//! Hosted checkout: how a session looks to the merchant and to the browser, expiry, and (in
//! `confirm`) the exactly-once confirm with its crash recovery.

pub mod challenge;
pub mod confirm;
pub mod settlement;

use app::wire::{ChallengeState, LineItem, MerchantView, SavedMethodView, SessionConfig};
use serde::Serialize;
use utoipa::ToSchema;

use crate::app::AppState;
use crate::domain::account::{Branding, MethodType};
use crate::domain::session::{AvsField, FraudSignals, mask_email};
use crate::domain::time::Timestamp;
use crate::domain::validate::Metadata;
use crate::error::ApiResult;
use crate::store::accounts::Account;
use crate::store::payment_methods::SavedMethod;
use crate::store::sessions::{self, Session};
use crate::store::{events, now_ms};

/// A hosted session as the merchant sees it (SPEC §11).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SessionObject {
    pub id: String,
    /// Same as `id` (the creation answer's name for it).
    pub session_id: String,
    pub object: &'static str,
    pub status: String,
    pub amount: i64,
    pub currency: String,
    pub description: Option<String>,
    pub reference: Option<String>,
    pub line_items: Option<Vec<LineItem>>,
    pub tax_amount: Option<i64>,
    pub shipping_amount: Option<i64>,
    pub customer_id: Option<String>,
    pub customer_email: Option<String>,
    pub success_url: String,
    pub cancel_url: String,
    pub layout: String,
    pub allowed_methods: Vec<MethodType>,
    pub setup_future_usage: String,
    pub required_avs_fields: Vec<AvsField>,
    pub locale: String,
    pub branding: Option<Branding>,
    pub fraud_signals: Option<FraudSignals>,
    pub metadata: Metadata,
    pub payment_id: Option<String>,
    pub fee_amount: Option<i64>,
    pub total_amount: Option<i64>,
    /// The session credential, while the session is active.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    pub hosted_url: String,
    pub embed_url: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub expires_at: Timestamp,
    pub completed_at: Option<Timestamp>,
}

/// The merchant's view; the credential only while the session is active.
pub fn merchant_view(state: &AppState, s: &Session, now: i64) -> ApiResult<SessionObject> {
    let status = s.status_at(now).to_owned();
    let base = &state.config().public_url;
    let client_secret = if status == "active" { Some(s.client_secret(&state.config().master_key)?) } else { None };
    let hosted_url = match &client_secret {
        Some(secret) => format!("{base}/{}#cs={secret}", s.id),
        None => format!("{base}/{}", s.id),
    };
    Ok(SessionObject {
        id: s.id.clone(),
        session_id: s.id.clone(),
        object: "hosted_session",
        status,
        amount: s.amount,
        currency: s.currency.clone(),
        description: s.description.clone(),
        reference: s.reference.clone(),
        line_items: s.line_items.clone(),
        tax_amount: s.tax_amount,
        shipping_amount: s.shipping_amount,
        customer_id: s.customer_id.clone(),
        customer_email: s.customer_email.clone(),
        success_url: s.success_url.clone(),
        cancel_url: s.cancel_url.clone(),
        layout: s.layout.clone(),
        allowed_methods: s.allowed_methods.clone(),
        setup_future_usage: s.setup_future_usage.as_str().to_owned(),
        required_avs_fields: s.required_avs_fields.clone(),
        locale: s.locale.clone(),
        branding: s.branding.clone(),
        fraud_signals: s.fraud_signals.clone(),
        metadata: s.metadata.clone(),
        payment_id: s.payment_id.clone(),
        fee_amount: s.fee_amount,
        total_amount: s.total_amount,
        client_secret,
        hosted_url,
        embed_url: format!("{base}/embed/{}", s.id),
        created_at: Timestamp(s.created_at),
        updated_at: Timestamp(s.updated_at),
        expires_at: Timestamp(s.expires_at),
        completed_at: s.completed_at.map(Timestamp),
    })
}

/// Where a challenge code goes: the session's email, else its customer's.
pub async fn challenge_destination(state: &AppState, s: &Session) -> ApiResult<Option<String>> {
    if let Some(email) = &s.customer_email {
        return Ok(Some(email.clone()));
    }
    if let Some(id) = &s.customer_id {
        let customer = crate::store::customers::get(state.db(), &s.account_uid, id).await?;
        return Ok(customer.and_then(|c| c.email));
    }
    Ok(None)
}

/// True when saved methods may be offered: there is a customer, and any challenge is passed.
/// (Showing a customer's wallet is itself guarded by the challenge when one is required.)
pub fn wallet_unlocked(s: &Session) -> bool {
    s.customer_id.is_some() && (!s.risk_demands_challenge() || s.challenge_satisfied)
}

/// The browser's view (SPEC §5): what the checkout needs, and nothing else — no full email,
/// metadata, fraud signals, success URL or secrets.
pub async fn browser_config(state: &AppState, s: &Session, account: &Account, now: i64) -> ApiResult<SessionConfig> {
    let branding = match &s.branding {
        Some(overrides) => account.branding.overlaid(overrides),
        None => account.branding.clone(),
    };
    let destination = challenge_destination(state, s).await?;
    let saved: Vec<SavedMethod> = if wallet_unlocked(s) { saved_methods(state, s).await? } else { Vec::new() };
    let methods: Vec<MethodType> = s.allowed_methods.clone();
    Ok(SessionConfig {
        session_id: s.id.clone(),
        status: s.status_at(now).to_owned(),
        amount: s.amount,
        currency: s.currency.clone(),
        description: s.description.clone(),
        line_items: s.line_items.clone().unwrap_or_default(),
        tax_amount: s.tax_amount,
        shipping_amount: s.shipping_amount,
        merchant: MerchantView {
            display_name: branding.display_name.or_else(|| Some(account.name.clone())),
            logo_url: branding.logo_url,
            // Darkened if needed so white text on it, and it on white, reach 4.5:1.
            primary_color: Some(app::color::accessible_primary(branding.primary_color.as_deref())),
        },
        allowed_methods: methods.iter().map(|m| m.as_str().to_owned()).collect(),
        setup_future_usage: s.setup_future_usage.as_str().to_owned(),
        required_avs_fields: s
            .required_avs_fields
            .iter()
            .map(|f| serde_json::to_value(f).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default())
            .collect(),
        locale: s.locale.clone(),
        expires_at: Timestamp(s.expires_at).to_rfc3339(),
        cancel_url: s.cancel_url.replace(crate::domain::session::PLACEHOLDER, &s.id),
        layout: s.layout.clone(),
        challenge: ChallengeState {
            required: s.risk_demands_challenge(),
            satisfied: s.challenge_satisfied,
            destination_hint: destination.as_deref().map(mask_email),
        },
        saved_payment_methods: saved
            .into_iter()
            .filter(|m| s.allowed_methods.iter().any(|a| a.as_str() == m.kind))
            .map(SavedMethodView::from)
            .collect(),
    })
}

/// The session customer's live saved methods.
pub async fn saved_methods(state: &AppState, s: &Session) -> ApiResult<Vec<SavedMethod>> {
    let Some(customer_id) = &s.customer_id else { return Ok(Vec::new()) };
    Ok(crate::store::payment_methods::live(state.db(), &s.account_uid, customer_id).await?)
}

/// Writes down the expiry of a session that is active past `expires_at` (with its
/// `checkout.session.expired` event, exactly once) and returns the session as it now stands.
pub async fn expire_if_due(state: &AppState, s: Session, now: i64) -> ApiResult<Session> {
    if !(s.status == "active" && s.expires_at <= now) {
        return Ok(s);
    }
    expire(state, &s.id, now, true).await?;
    Ok(sessions::get(state.db(), &s.id).await?.unwrap_or(s))
}

/// active → expired with its event in one transaction; false if the session was not active
/// (or, with `only_if_due`, not yet due).
pub async fn expire(state: &AppState, id: &str, now: i64, only_if_due: bool) -> ApiResult<bool> {
    let mut tx = state.db().begin_write().await?;
    if !sessions::mark_expired(&mut tx, id, now, only_if_due).await? {
        return Ok(false);
    }
    let session = sessions::get_on(&mut tx, id).await?.expect("the session we just expired exists");
    let view = merchant_view(state, &session, now)?;
    events::record(&mut tx, &session.account_uid, "checkout.session.expired", &view).await?;
    tx.commit().await?;
    Ok(true)
}

/// The expiry job's pass: every overdue session expired, each with its event.
pub async fn expire_overdue(state: &AppState) -> ApiResult<usize> {
    let now = now_ms();
    let mut count = 0;
    loop {
        let due = sessions::due_for_expiry(state.db(), now, 100).await?;
        if due.is_empty() {
            return Ok(count);
        }
        let batch = due.len();
        for id in due {
            if expire(state, &id, now, true).await? {
                count += 1;
            }
        }
        if batch < 100 {
            return Ok(count);
        }
    }
}
