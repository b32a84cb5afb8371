//! ACH debits settle (or come back) after the payment: `processing` payments are asked about
//! and moved to `captured` (`payment.succeeded`) or `failed` with the return code
//! (`payment.failed`), each with its ledger entry, exactly once.

use super::payment_event;
use crate::domain::event::EventType;
use crate::domain::payment::{Move, TransactionKind};
use crate::error::ApiResult;
use crate::processor::Settlement;
use crate::state::AppState;
use crate::store::{accounts, now_ms, payments};

pub async fn settle_due(state: &AppState, now: i64) -> ApiResult<usize> {
    let mut settled = 0;
    for payment in payments::awaiting_settlement(state.db(), 100).await? {
        let Some(processor_ref) = payment.processor_ref.as_deref() else { continue };
        let Some(account) = accounts::get(state.db(), &payment.account_uid).await? else { continue };
        // (Outside sandbox mode a sandbox-era payment stays as it is.)
        let Ok(processor) = state.processor(&account) else { continue };
        let outcome = match processor.settlement(processor_ref, now).await {
            Ok(o) => o,
            Err(e) => {
                tracing::warn!(payment = %payment.id, error = %e, "settlement check failed; will retry");
                continue;
            }
        };
        // (A debit still pending leaves before the writer is taken.)
        let (mv, captured, code, return_code) = match &outcome {
            Settlement::Pending => continue,
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
        let (entry, event) = match &outcome {
            Settlement::Returned { .. } => (TransactionKind::Failure, EventType::PaymentFailed),
            _ => (TransactionKind::Settlement, EventType::PaymentSucceeded),
        };
        payments::record_transaction(&mut tx, &payment.id, entry, payment.total_amount).await?;
        let updated = payments::get_on(&mut tx, &payment.id).await?.expect("the payment we just updated exists");
        payment_event(&mut tx, &updated, event).await?;
        tx.commit().await?;
        if let Settlement::Returned { return_code, .. } = &outcome {
            tracing::info!(payment = %payment.id, %return_code, "ACH debit returned");
        }
        settled += 1;
    }
    Ok(settled)
}
