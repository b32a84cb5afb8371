//! Hosted checkout: how a session looks to the merchant and to the browser, expiry, and (in
//! `confirm`) the exactly-once confirm with its crash recovery.

pub mod challenge;
pub mod confirm;
pub mod merchant;
pub mod quote;
pub mod receipts;

use app::wire::{ChallengeState, MerchantView, SavedMethodView, SessionConfig};

use crate::domain::account::MethodType;
use crate::domain::event::EventType;
use crate::domain::session::{SessionStatus, mask_email};
use crate::domain::time::Timestamp;
use crate::error::ApiResult;
use crate::state::AppState;
use crate::store::accounts::Account;
use crate::store::payment_methods::SavedMethod;
use crate::store::sessions::{self as session_store, Session};
use crate::store::{events, now_ms};
use crate::views::{SessionObject, session_object};

/// The merchant's view of a session; the credential only while it is active.
pub fn merchant_view(state: &AppState, s: &Session, now: i64) -> ApiResult<SessionObject> {
    Ok(session_object(state.config(), s, now)?)
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
    // An expired card is not offered (the wallet still lists it, to be removed).
    let year_month = Timestamp(now).year_month();
    let saved: Vec<SavedMethod> = if wallet_unlocked(s) {
        saved_methods(state, s).await?.into_iter().filter(|m| !m.expired(year_month)).collect()
    } else {
        Vec::new()
    };
    let methods: Vec<MethodType> = s.allowed_methods.clone();
    Ok(SessionConfig {
        session_id: s.id.clone(),
        status: s.status_at(now).into(),
        amount: s.amount.minor(),
        currency: s.currency.to_string(),
        description: s.description.clone(),
        line_items: s.line_items.clone().unwrap_or_default(),
        tax_amount: s.tax_amount.map(|a| a.minor()),
        shipping_amount: s.shipping_amount.map(|a| a.minor()),
        merchant: MerchantView {
            display_name: branding.display_name.or_else(|| Some(account.name.clone())),
            logo_url: branding.logo_url,
            // Darkened if needed so white text on it, and it on white, reach 4.5:1.
            primary_color: Some(app::color::accessible_primary(branding.primary_color.as_deref())),
        },
        allowed_methods: methods.to_vec(),
        setup_future_usage: s.setup_future_usage,
        required_avs_fields: s.required_avs_fields.clone(),
        locale: s.locale.as_str().to_owned(),
        expires_at: Timestamp(s.expires_at).to_rfc3339(),
        expires_in: (s.expires_at - now).max(0) / 1000,
        cancel_url: crate::domain::session::customer_cancel_url(&s.cancel_url, &s.id),
        layout: s.layout,
        challenge: ChallengeState {
            required: s.risk_demands_challenge(),
            satisfied: s.challenge_satisfied,
            destination_hint: destination.as_deref().map(mask_email),
        },
        saved_payment_methods: saved
            .into_iter()
            .filter(|m| s.allowed_methods.contains(&m.kind))
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
    if !(s.status == SessionStatus::Active && s.expires_at <= now) {
        return Ok(s);
    }
    expire(state, &s.id, now, true).await?;
    Ok(session_store::get(state.db(), &s.id).await?.unwrap_or(s))
}

/// active → expired with its event in one transaction; false if the session was not active
/// (or, with `only_if_due`, not yet due).
pub async fn expire(state: &AppState, id: &str, now: i64, only_if_due: bool) -> ApiResult<bool> {
    let mut tx = state.db().begin_write().await?;
    if !session_store::mark_expired(&mut tx, id, now, only_if_due).await? {
        return Ok(false);
    }
    let session = session_store::get_on(&mut tx, id).await?.expect("the session we just expired exists");
    let view = merchant_view(state, &session, now)?;
    events::record(&mut tx, &session.account_uid, EventType::CheckoutSessionExpired, &view).await?;
    tx.commit().await?;
    Ok(true)
}

/// Sessions one pass of the expiry job expires at most: a backlog (one merchant's thousands of
/// sessions due at once) is worked off over several passes, while confirm recovery and
/// settlement, which run after it, still run every second. (A session past its expiry is
/// refused by confirm whether or not the job has reached it.)
pub const EXPIRED_PER_PASS: usize = 500;

/// The expiry job's pass: overdue sessions expired (at most [`EXPIRED_PER_PASS`]), each with
/// its event.
pub async fn expire_overdue(state: &AppState) -> ApiResult<usize> {
    let now = now_ms();
    let mut count = 0;
    let mut looked = 0;
    let mut after = None;
    while looked < EXPIRED_PER_PASS {
        let due = session_store::due_for_expiry(state.db(), now, after.as_ref(), 100).await?;
        let batch = due.len();
        after = due.last().cloned();
        for (_, id) in due {
            // One session that can't be expired (a row the code can't read) is logged and
            // passed over (the next batch starts after it), not allowed to stop expiry for
            // every merchant behind it.
            match expire(state, &id, now, true).await {
                Ok(true) => count += 1,
                Ok(false) => {}
                Err(e) => tracing::error!(session = %id, error = %e, "expiring a session failed"),
            }
        }
        looked += batch;
        if batch < 100 {
            break;
        }
    }
    Ok(count)
}
