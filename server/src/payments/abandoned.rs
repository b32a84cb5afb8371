//! Charges approved after recovery gave their attempt up. Recovery gives an attempt (a confirm's,
//! a direct authorization's or a terminal charge's) up when the processor has not seen its
//! reference; a call still on its way may reach the processor after that and be approved, with
//! no payment to record it. The request that made the call undoes such a charge as soon as its
//! finish is refused. So that a crash of that request (or a processor that did not answer the
//! undo) leaves no charge behind, the transaction that gives an attempt up also starts watching
//! its reference (`store::abandoned`), and [`watch_due`] looks each watched reference up now and
//! then for a day and undoes an approval it finds. An undo is made under a reference of its own,
//! which the processor takes once, so the request and the watch may both make it.

use crate::domain::money::Amount;
use crate::domain::time::recheck_after;
use crate::error::ApiResult;
use crate::processor::{Charge, Outcome, ProcessorError};
use crate::state::AppState;
use crate::store::abandoned::{self, Watched};
use crate::store::accounts::{self, Account};
use crate::store::batch::Stmt;

/// How long a given-up reference is watched. No call reaches a processor a day late.
pub const WATCH_FOR_MS: i64 = 24 * 3_600_000;
/// The first lookup after the attempt is given up.
const FIRST_CHECK_MS: i64 = 5_000;

/// Starts watching a reference given up at `now` (in the transaction that gives it up).
pub fn watch_stmt(reference: &str, account_uid: &str, amount: Amount, now: i64) -> Stmt {
    abandoned::watch_stmt(reference, account_uid, amount, now, now + FIRST_CHECK_MS)
}

/// What became of an undo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Undo {
    /// Voided or refunded (now, or by an earlier undo under the same reference).
    Done,
    /// The processor will not undo it: an operator must refund it.
    Refused,
    /// The processor did not answer: the watch tries again.
    Unanswered,
}

/// Undoes at the processor an approved charge that no payment records (made under `reference`
/// for `amount`): voided, or refunded when captured or an accepted bank debit. Done or refused,
/// the reference is no longer watched; unanswered, the watch tries again later.
pub async fn undo_charge(
    state: &AppState,
    account: &Account,
    charge: &Charge,
    amount: Amount,
    reference: &str,
) -> Undo {
    let Outcome::Approved { processor_ref, captured, pending, .. } = &charge.outcome else {
        forget(state, reference).await;
        return Undo::Done;
    };
    let undone = match state.processor(account) {
        Ok(processor) => {
            let undo = format!("{reference}_undo");
            // An accepted bank debit (pending) is already taken: it is refunded, as a captured
            // card is; only an uncaptured card authorization can be voided.
            if *captured || *pending {
                processor.refund(processor_ref, amount, &undo).await
            } else {
                processor.void(processor_ref, &undo).await
            }
        }
        Err(e) => Err(ProcessorError::Unavailable(anyhow::anyhow!("{e}"))),
    };
    let result = match undone {
        Ok(()) => {
            tracing::warn!(%reference, %processor_ref, "undid a charge approved after its attempt was given up");
            forget(state, reference).await;
            Undo::Done
        }
        Err(ProcessorError::Refused(why)) => {
            tracing::error!(%reference, %processor_ref, error = why,
                "a charge approved after its attempt was given up could not be undone: an operator must refund it");
            forget(state, reference).await;
            Undo::Refused
        }
        Err(ProcessorError::Unavailable(e)) => {
            tracing::warn!(%reference, %processor_ref, error = format!("{e:#}"),
                "undoing a charge approved after its attempt was given up: the processor did not answer; the watch tries again");
            Undo::Unanswered
        }
    };
    let outcome = match result {
        Undo::Done => "undone",
        Undo::Refused => "refused",
        Undo::Unanswered => "unanswered",
    };
    metrics::counter!("govifi_late_charge_undos_total", "outcome" => outcome).increment(1);
    result
}

/// A reference no longer watched. Failing that only means one more lookup, whose undo the
/// processor answers as it did the first time.
async fn forget(state: &AppState, reference: &str) {
    if let Err(e) = abandoned::forget(state.db(), reference).await {
        tracing::warn!(%reference, error = %e, "could not stop watching an abandoned reference");
    }
}

/// One pass: looks up every watched reference that is due; true for each that the pass settled
/// (undone, declined, or past its day).
pub async fn watch_due(state: &AppState, now: i64) -> ApiResult<usize> {
    let mut settled = 0;
    for watched in abandoned::due(state.db(), now, 50).await? {
        match check(state, &watched, now).await {
            Ok(true) => settled += 1,
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(reference = %watched.reference, error = format!("{e:#}"), "watching an abandoned reference")
            }
        }
        // Whatever happened, one that is still watched is looked up again later, behind the others.
        if abandoned::watched(state.db(), &watched.reference).await? {
            abandoned::recheck(state.db(), &watched.reference, now + recheck_after(now - watched.abandoned_at)).await?;
        }
    }
    Ok(settled)
}

/// Looks one reference up: an approval is undone, a decline forgotten, nothing seen for a day
/// forgotten too. True when the reference is settled.
async fn check(state: &AppState, watched: &Watched, now: i64) -> ApiResult<bool> {
    let Some(account) = accounts::get(state.db(), &watched.account_uid).await? else {
        return Err(anyhow::anyhow!("account {} not found", watched.account_uid).into());
    };
    let processor = state.processor(&account)?;
    let found = processor.lookup(&watched.reference).await.map_err(|e| anyhow::anyhow!("processor lookup: {e}"))?;
    match found {
        Some(charge) => {
            Ok(undo_charge(state, &account, &charge, watched.amount, &watched.reference).await != Undo::Unanswered)
        }
        None if now - watched.abandoned_at >= WATCH_FOR_MS => {
            forget(state, &watched.reference).await;
            Ok(true)
        }
        None => Ok(false),
    }
}
