//! Fee quotes (SPEC §5): the fee and total the customer sees before paying, computed from the
//! account's fee rules; a quote lives 15 minutes and binds the confirm to that fee.

use app::wire::{FeeQuote, QuoteRequest};

use super::confirm::closed;
use super::{expire_if_due, saved_methods, wallet_unlocked};
use crate::domain::account::{Funding, MethodType};
use crate::domain::fees::price;
use crate::domain::ids::new_id;
use crate::domain::time::Timestamp;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::store::accounts::Account;
use crate::store::quotes::{self, Quote};
use crate::store::sessions::Session;

pub const QUOTE_TTL_MS: i64 = 15 * 60 * 1000;

/// Quotes the fee for a method (and card BIN, or saved method) on an open session.
pub async fn quote(
    state: &AppState,
    session: Session,
    account: &Account,
    req: &QuoteRequest,
    now: i64,
) -> ApiResult<FeeQuote> {
    let session = expire_if_due(state, session, now).await?;
    if let Some(refusal) = closed(&session, now) {
        return Err(refusal);
    }
    let kind = req.payment_method_type;
    let processor = state.processor(account)?;
    let mut saved_method = None;
    let (bin, funding): (Option<String>, Option<Funding>) = match (&req.saved_payment_method_id, kind) {
        (Some(id), _) => {
            if !wallet_unlocked(&session) {
                return Err(ApiError::invalid(
                    "saved_payment_method_id",
                    "saved methods are not available on this checkout yet",
                ));
            }
            let method = saved_methods(state, &session)
                .await?
                .into_iter()
                .find(|m| &m.id == id)
                .ok_or_else(|| ApiError::invalid("saved_payment_method_id", "no such saved payment method"))?;
            crate::customers::chargeable(&method, Timestamp::now())?;
            if method.kind != kind {
                return Err(ApiError::invalid(
                    "payment_method_type",
                    "payment_method_type does not match the saved method",
                ));
            }
            saved_method = Some(method.id.clone());
            (None, method.funding)
        }
        (None, MethodType::Card) => match req.card_bin.as_deref() {
            Some(bin) => {
                if !(6..=8).contains(&bin.len()) || !bin.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(ApiError::invalid("card_bin", "card_bin must be 6 to 8 digits"));
                }
                (Some(bin.to_owned()), Some(processor.card_funding(bin).await))
            }
            // Quoted before the card is known: the rules that do not ask for a funding apply,
            // and confirm answers 409 `quote_stale` if the card used falls under another one.
            None => (None, None),
        },
        (None, _) => (None, None),
    };
    if !session.allowed_methods.contains(&kind) || !crate::accounts::takes_in(kind, &session.currency) {
        return Err(ApiError::invalid(
            "payment_method_type",
            format!("{} is not offered on this checkout", kind.as_str()),
        ));
    }
    let priced = price(&account.fee_rules, kind, funding, session.amount, &session.currency, session.locale)
        .ok_or_else(|| ApiError::invalid("amount", "the total is too large"))?;
    let (fee, total) = (priced.fee, priced.total);
    let quote = Quote {
        id: new_id("fq"),
        session_id: session.id.clone(),
        method_type: kind,
        card_bin: bin,
        funding,
        saved_method,
        rule_index: fee.rule_index.map(|i| i as i64),
        session_version: session.version,
        amount: session.amount,
        fee_amount: fee.amount,
        total_amount: total,
        currency: session.currency.clone(),
        disclosure: priced.disclosure,
        expires_at: now + QUOTE_TTL_MS,
        created_at: now,
    };
    quotes::insert(state.db(), &quote).await?;
    Ok(FeeQuote {
        fee_quote_id: quote.id,
        amount: quote.amount.minor(),
        fee_amount: quote.fee_amount.minor(),
        total_amount: quote.total_amount.minor(),
        currency: quote.currency.to_string(),
        disclosure: quote.disclosure,
        expires_at: Timestamp(quote.expires_at).to_rfc3339(),
    })
}
