//! Customers' saved methods, shared by the platform API, wallet sessions and the checkout:
//! tokenize with the account's processor, keep the token sealed, write the event.

use crate::auth::secrets::fingerprint;
use crate::domain::account::MethodType;
use crate::domain::card::card_error;
use crate::domain::event::EventType;
use crate::domain::ids;
use crate::domain::payment::{Mandate, RequestInfo, Usage, mandate_text};
use crate::domain::payment_method::PaymentMethodInput;
use crate::domain::session::Locale;
use crate::domain::time::Timestamp;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::processor::{Instrument, ProcessorError};
use crate::state::AppState;
use crate::store::accounts::Account;
use crate::store::events;
use crate::store::payment_methods::{self, NewSavedMethod, SavedMethod};
use crate::views::PaymentMethodObject;

/// Tokenizes an instrument with the account's processor and saves it for the customer, with its
/// `payment_method.saved` event. A method saved `off_session` keeps the autopay mandate, accepted
/// now by whoever made the request (`who`).
pub async fn save_payment_method(
    state: &AppState,
    account: &Account,
    customer_id: &str,
    method: &PaymentMethodInput,
    usage: Usage,
    who: &RequestInfo,
    locale: Locale,
) -> ApiResult<SavedMethod> {
    let master = &state.config().master_key;
    let processor = state.processor(account);
    let now = Timestamp::now();
    let (kind, tokenized, print) = match method {
        PaymentMethodInput::Card { card, .. } => {
            // Saving is not a charge: the CVC is optional here.
            let card = card.check(now.year_month(), false)?;
            let print = fingerprint(master, "card", card.number.expose());
            (MethodType::Card, processor.tokenize(Instrument::Card(&card)).await, print)
        }
        PaymentMethodInput::Ach { ach, .. } => {
            let bank = ach.check("payment_method.ach")?;
            let print = fingerprint(master, "ach", &format!("{}:{}", bank.routing_number, bank.account_number()));
            (MethodType::Ach, processor.tokenize(Instrument::Bank(&bank)).await, print)
        }
        other => {
            return Err(ApiError::invalid(
                "payment_method.type",
                format!("a {} method cannot be saved here; use card or ach", other.type_name()),
            ));
        }
    };
    let tokenized = tokenized.map_err(|e| match e {
        ProcessorError::Refused(why) => {
            card_error(ErrorCode::CardDeclined, why).with_extra("decline_code", "generic_decline")
        }
        ProcessorError::Unavailable(err) => ApiError::Internal(err),
    })?;
    let mandate = (usage == Usage::OffSession).then(|| Mandate {
        text: mandate_text(&account.display_name(), locale),
        accepted_at: now.to_rfc3339(),
        ip: who.ip.clone(),
        user_agent: who.user_agent.clone(),
    });
    let mut tx = state.db().begin_write().await?;
    let saved = payment_methods::insert(
        &mut tx,
        master,
        NewSavedMethod {
            account_uid: &account.uid,
            customer_id,
            kind,
            tokenized: &tokenized,
            usage,
            fingerprint: print,
            mandate,
        },
    )
    .await?;
    events::record(&mut tx, &account.uid, EventType::PaymentMethodSaved, &PaymentMethodObject::from(saved.clone()))
        .await?;
    tx.commit().await?;
    Ok(saved)
}

/// Detaches a customer's saved method, with its `payment_method.removed` event.
pub async fn remove_payment_method(state: &AppState, account_uid: &str, customer_id: &str, pm: &str) -> ApiResult<()> {
    let method = if ids::has_shape(pm, "pm") {
        payment_methods::get(state.db(), account_uid, customer_id, pm).await?
    } else {
        None
    };
    let method = method.ok_or_else(|| ApiError::not_found("payment method"))?;
    let mut tx = state.db().begin_write().await?;
    if !payment_methods::remove(&mut tx, customer_id, &method.id).await? {
        return Err(ApiError::not_found("payment method"));
    }
    events::record(&mut tx, account_uid, EventType::PaymentMethodRemoved, &PaymentMethodObject::from(method)).await?;
    tx.commit().await?;
    Ok(())
}
