//! ACH debits settle (or come back) after the payment: `processing` payments are asked about
//! and moved to `captured` (`payment.captured`, `payment.succeeded`) or `failed` with the return code
//! (`payment.failed`), each with its ledger entry, exactly once. Each is asked about when its
//! check is due, and a payment not ready yet goes behind the others, so none holds the queue.

use super::payment_events;
use crate::domain::event::EventType;
use crate::domain::payment::{Move, TransactionKind};
use crate::error::ApiResult;
use crate::processor::Settlement;
use crate::state::AppState;
use crate::store::{accounts, now_ms, payments};

/// A debit still pending is asked about again this much later at the soonest; an older one
/// a tenth of its age later (a real debit takes days: every few hours then, not every few
/// seconds), at most [`STUCK_RECHECK_MS`] later.
pub const PENDING_RECHECK_MS: i64 = crate::domain::time::RECHECK_SOONEST_MS;
/// A check that failed (the processor did not answer) is tried again this much later.
pub const FAILED_RECHECK_MS: i64 = 60_000;
/// A payment that cannot be asked about at all (no processor reference, its account gone, a
/// sandbox-era payment outside sandbox mode) is looked at again this much later.
pub const STUCK_RECHECK_MS: i64 = crate::domain::time::RECHECK_LATEST_MS;

pub async fn settle_due(state: &AppState, now: i64) -> ApiResult<usize> {
    let mut settled = 0;
    for payment in payments::awaiting_settlement(state.db(), now, 100).await? {
        let defer = async |after: i64| payments::defer_settlement_check(state.db(), &payment.id, now + after).await;
        let Some(processor_ref) = payment.processor_ref.as_deref() else {
            defer(STUCK_RECHECK_MS).await?;
            continue;
        };
        let Some(account) = accounts::get(state.db(), &payment.account_uid).await? else {
            defer(STUCK_RECHECK_MS).await?;
            continue;
        };
        // (Outside sandbox mode a sandbox-era payment stays as it is.)
        let Ok(processor) = state.processor(&account) else {
            defer(STUCK_RECHECK_MS).await?;
            continue;
        };
        let outcome = match processor.settlement(processor_ref, now).await {
            Ok(o) => o,
            Err(e) => {
                tracing::warn!(payment = %payment.id, error = %e, "settlement check failed; will retry");
                defer(FAILED_RECHECK_MS).await?;
                continue;
            }
        };
        // (A debit still pending leaves before the writer is taken.)
        let (mv, captured, code, return_code) = match &outcome {
            Settlement::Pending => {
                defer(crate::domain::time::recheck_after(now - payment.created_at)).await?;
                continue;
            }
            Settlement::Settled => (Move::SETTLE, Some(payment.total_amount), None, None),
            Settlement::Returned { code, return_code } => {
                (Move::RETURN, None, Some(code.as_str()), Some(return_code.as_str()))
            }
        };
        let mut tx = state.db().begin_write().await?;
        let moved = payments::apply(&mut tx, &payment.id, mv, captured, code, return_code, now_ms()).await?;
        if !moved {
            continue; // another process settled it
        }
        // A settled debit is captured, as a captured card is: both events, in that order.
        let (entry, events): (_, &[EventType]) = match &outcome {
            Settlement::Returned { .. } => (TransactionKind::Failure, &[EventType::PaymentFailed]),
            _ => (TransactionKind::Settlement, &[EventType::PaymentCaptured, EventType::PaymentSucceeded]),
        };
        payments::record_transaction(&mut tx, &payment.id, entry, payment.total_amount).await?;
        let updated = payments::get_on(&mut tx, &payment.id).await?.expect("the payment we just updated exists");
        payment_events(&mut tx, &updated, events).await?;
        tx.commit().await?;
        if let Settlement::Returned { return_code, .. } = &outcome {
            tracing::info!(payment = %payment.id, %return_code, "ACH debit returned");
        }
        settled += 1;
    }
    Ok(settled)
}
