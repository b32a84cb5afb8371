//! Money movements a crash (or a processor that did not answer) left `pending`: each is asked
//! about at the processor by its reference — an authorization looked up, a capture, void or
//! refund repeated with the same reference (the processor answers a known reference as it did
//! the first time, moving nothing again) — and finished exactly as the request would have.
//! Safe to run in every process: finishing is a conditional UPDATE on the operation.

use super::{direct, movements, terminals};
use crate::domain::ids::new_id;
use crate::domain::payment::OperationKind;
use crate::error::{ApiError, ApiResult};
use crate::processor::ProcessorError;
use crate::state::AppState;
use crate::store::operations::{self, Operation};
use crate::store::{accounts, now_ms, payments};

/// Operations pending for longer than this are considered abandoned by their request.
pub const STUCK_AFTER_MS: i64 = 60_000;
/// The failure code of an authorization or terminal charge given up here.
pub const ABANDONED: &str = "abandoned";

/// One pass: every operation pending since before `now - STUCK_AFTER_MS`.
pub async fn recover_stuck(state: &AppState, now: i64) -> ApiResult<usize> {
    let mut resolved = 0;
    for op in operations::stuck(state.db(), now - STUCK_AFTER_MS, now, 50).await? {
        // Any answer it writes for the operation's key names a request id of its own (SPEC:
        // an error's `request_id` is its `X-Request-Id`, which a replay repeats).
        match crate::telemetry::as_request(new_id("req"), recover_one(state, &op)).await {
            Ok(true) => {
                metrics::counter!("govifi_operations_recovered_total", "kind" => op.kind.as_str()).increment(1);
                resolved += 1
            }
            Ok(false) => {}
            Err(e) => {
                // Asked about again later (sooner while it is young), behind the others.
                let after = crate::domain::time::recheck_after(now - op.created_at);
                tracing::warn!(operation = %op.id, kind = %op.kind, error = format!("{e:#}"), retry_in_ms = after, "recovery will retry");
                operations::defer_recovery(state.db(), &op.id, now + after).await?;
            }
        }
    }
    Ok(resolved)
}

/// Finishes one operation from the processor's record; false when the processor cannot say yet.
async fn recover_one(state: &AppState, op: &Operation) -> ApiResult<bool> {
    let account = accounts::get(state.db(), &op.account_uid)
        .await?
        .ok_or_else(|| anyhow::anyhow!("operation {} without account", op.id))?;
    let processor = state.processor(&account)?;
    tracing::warn!(operation = %op.id, kind = %op.kind, payment = %op.payment_id, "recovering a money movement");
    let result = match op.kind {
        OperationKind::Authorize | OperationKind::TerminalCharge => {
            let charge = match processor.lookup(&op.id).await {
                Ok(found) => found,
                Err(e) => return Err(anyhow::anyhow!("processor lookup: {e}").into()),
            };
            match (op.kind, charge) {
                (OperationKind::Authorize, Some(charge)) => {
                    let record: direct::DirectRecord = serde_json::from_str(op.request.as_deref().unwrap_or("{}"))
                        .map_err(|e| anyhow::anyhow!("operation {} record: {e}", op.id))?;
                    direct::finish_authorize(state, &account, op, &record, charge).await.map(|_| ())
                }
                (_, Some(charge)) => match terminals::finish_charge(state, op, charge).await {
                    // Finished (or another process finished it first, which answers a 409).
                    Ok(_) | Err(ApiError::Client(_)) => Ok(()),
                    Err(e) => Err(e),
                },
                // The processor never saw it: nothing was charged. Give it up.
                (_, None) => return abandon(state, op).await,
            }
        }
        OperationKind::Capture | OperationKind::Void | OperationKind::Refund => {
            let payment = payments::get(state.db(), &op.account_uid, &op.payment_id)
                .await?
                .ok_or_else(|| anyhow::anyhow!("operation {} without payment", op.id))?;
            let processor_ref = movements::charge_of(&payment)?;
            let call = match op.kind {
                OperationKind::Capture => processor.capture(processor_ref, op.amount, &op.id).await,
                OperationKind::Void => processor.void(processor_ref, &op.id).await,
                _ => processor.refund(processor_ref, op.amount, &op.id).await,
            };
            match (call, op.kind) {
                (Ok(()), OperationKind::Refund) => movements::finish_refund(state, op).await.map(|_| ()),
                (Ok(()), _) => movements::finish_hold(state, op).await.map(|_| ()),
                (Err(ProcessorError::Refused(why)), OperationKind::Refund) => {
                    movements::refuse_refund(state, op, why).await.map(|_| ())
                }
                // A refusal is this operation's final answer (409); it is written down there.
                (Err(ProcessorError::Refused(why)), _) => match movements::refuse_hold(state, op, why).await {
                    // Written down (or someone else finished it first); a write that failed is
                    // tried again on the next pass.
                    Err(ApiError::Internal(e)) => Err(ApiError::Internal(e)),
                    Ok(_) | Err(ApiError::Client(_)) => Ok(()),
                },
                (Err(ProcessorError::Unavailable(e)), _) => return Err(anyhow::anyhow!("processor: {e:#}").into()),
            }
        }
    };
    result.map(|()| true)
}

/// An authorization or terminal charge the processor never saw: the operation fails, a held
/// payment is let go, and its `Idempotency-Key` is freed so the merchant may simply retry.
async fn abandon(state: &AppState, op: &Operation) -> ApiResult<bool> {
    let now = now_ms();
    let mut tx = state.db().begin_write().await?;
    if !operations::finish(&mut tx, &op.id, crate::domain::payment::OperationStatus::Failed, Some(ABANDONED), now)
        .await?
    {
        return Ok(false);
    }
    if op.kind == OperationKind::TerminalCharge {
        payments::unhold(&mut tx, &op.payment_id, &op.id, now).await?;
    }
    // Its call may still reach the processor: an approval then is undone (see `abandoned`).
    super::abandoned::watch_stmt(&op.id, &op.account_uid, op.amount, now).execute(&mut tx).await?;
    // The key is freed with the operation's end, so no crash between them keeps it held.
    if let Some((scope, key)) = &op.idempotency {
        crate::store::idempotency::abandon_stmt(scope, key).execute(&mut tx).await?;
    }
    tx.commit().await?;
    tracing::warn!(operation = %op.id, "abandoned a movement the processor never saw");
    Ok(true)
}
