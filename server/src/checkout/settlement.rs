//! ACH debits settle (or come back) after the checkout: `processing` payments are asked about
//! and moved to `captured` or `failed`, with their ledger entry and event, exactly once.

use crate::app::AppState;
use crate::error::ApiResult;
use crate::processor::Settlement;
use crate::routes::payments::PaymentObject;
use crate::store::{accounts, events, payments};

pub async fn settle_due(state: &AppState, now: i64) -> ApiResult<usize> {
    let mut settled = 0;
    for payment in payments::awaiting_settlement(state.db(), 100).await? {
        let Some(processor_ref) = payment.processor_ref.as_deref() else { continue };
        let Some(account) = accounts::get(state.db(), &payment.account_uid).await? else { continue };
        let processor = state.processor(&account);
        let outcome = match processor.settlement(processor_ref, now).await {
            Ok(o) => o,
            Err(e) => {
                tracing::warn!(payment = %payment.id, error = %e, "settlement check failed; will retry");
                continue;
            }
        };
        let (to, captured, decline, ledger, event) = match &outcome {
            Settlement::Pending => continue,
            Settlement::Settled => ("captured", payment.total_amount, None, "settlement", "payment.succeeded"),
            Settlement::Returned { code, .. } => ("failed", 0, Some(code.as_str()), "failure", "payment.failed"),
        };
        let mut tx = state.db().begin_write().await?;
        if !payments::settle(&mut tx, &payment.id, to, captured, decline).await? {
            continue; // another process settled it
        }
        payments::record_transaction(&mut tx, &payment.id, ledger, payment.total_amount).await?;
        let updated = payments::get_on(&mut tx, &payment.id).await?.expect("the payment we just updated exists");
        events::record(&mut tx, &payment.account_uid, event, &PaymentObject::from(updated)).await?;
        tx.commit().await?;
        if let Settlement::Returned { return_code, .. } = &outcome {
            tracing::info!(payment = %payment.id, %return_code, "ACH debit returned");
        }
        settled += 1;
    }
    Ok(settled)
}
