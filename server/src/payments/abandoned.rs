//! Charges approved after recovery gave their attempt up. Recovery gives an attempt (a confirm's,
//! a direct authorization's or a terminal charge's) up when the processor has not seen its
//! reference; a call still on its way may reach the processor after that and be approved, with
//! no payment to record it. The request that made the call undoes such a charge as soon as its
//! finish is refused. So that a crash of that request (or a processor that did not answer the
//! undo) leaves no charge behind, the transaction that gives an attempt up also starts watching
//! its reference (`store::abandoned`), and [`watch_due`] looks each watched reference up now and
//! then and undoes an approval it finds: for a day while the processor has not seen it, and
//! until it is undone once it has (a bank debit until it settles, an undo until the processor
//! answers it). An undo is made under a reference of its own,
//! which the processor takes once, so the request and the watch (in any process) may both make
//! it.

use crate::domain::money::Amount;
use crate::domain::time::recheck_after;
use crate::error::{ApiError, ApiResult};
use crate::processor::{Charge, Outcome, ProcessorError, Settlement};
use crate::state::AppState;
use crate::store::abandoned::{self, Watched};
use crate::store::accounts::{self, Account};
use crate::store::batch::Stmt;

/// How long a given-up reference the processor has not seen is watched. No call reaches a
/// processor a day late. (A charge it has seen is watched until it is undone.)
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
    /// Nothing was taken: the processor declined it, or a bank debit came back.
    NothingTaken,
    /// A bank debit not settled yet: the watch refunds it once it has (a debit that comes back
    /// needs nothing).
    Waiting,
    /// The processor will not undo it: it stays in `abandoned_charges` with the refusal, for an
    /// operator to refund by hand.
    Refused,
    /// The processor did not answer: the watch tries again.
    Unanswered,
}

impl Undo {
    fn as_str(self) -> &'static str {
        match self {
            Undo::Done => "undone",
            Undo::NothingTaken => "nothing_taken",
            Undo::Waiting => "waiting",
            Undo::Refused => "refused",
            Undo::Unanswered => "unanswered",
        }
    }

    /// The 409 for the request whose approval arrived after its attempt was given up: whether
    /// the customer may `retry` now depends on whether the approval is already undone.
    pub fn given_up(self, retry: &str) -> ApiError {
        let first = "This attempt was given up before the processor's answer arrived";
        ApiError::invalid_state(match self {
            Undo::Done => format!("{first}, and its approval was undone: {retry}"),
            Undo::NothingTaken => format!("{first}; nothing was taken: {retry}"),
            Undo::Waiting => {
                format!("{first}; the bank debit is refunded once it settles, and meanwhile you may {retry}")
            }
            Undo::Refused | Undo::Unanswered => format!(
                "{first}, and undoing it is not confirmed yet: do not {retry} until the first charge is reversed"
            ),
        })
    }
}

/// Undoes at the processor an approved charge that no payment records (made under `reference`
/// for `amount`): a card voided, or refunded when captured; a bank debit refunded once it has
/// settled. Done, the reference is no longer watched; refused, it is kept for an operator; else
/// the watch tries again later.
pub async fn undo_charge(
    state: &AppState,
    account: &Account,
    charge: &Charge,
    amount: Amount,
    reference: &str,
    now: i64,
) -> Undo {
    let Outcome::Approved { processor_ref, captured, pending, .. } = &charge.outcome else {
        forget(state, reference).await;
        return Undo::NothingTaken;
    };
    let undo = format!("{reference}_undo");
    let undone = match state.processor(account) {
        // A bank debit is refunded only once it has settled (as a payment's would be): refunded
        // before, a debit that then came back would be paid back twice.
        Ok(processor) if *pending => match processor.settlement(processor_ref, now).await {
            Ok(Settlement::Pending) => {
                metrics::counter!("govifi_late_charge_undos_total", "outcome" => Undo::Waiting.as_str()).increment(1);
                return Undo::Waiting;
            }
            Ok(Settlement::Returned { .. }) => {
                forget(state, reference).await;
                return Undo::NothingTaken;
            }
            Ok(Settlement::Settled) => processor.refund(processor_ref, amount, &undo).await,
            Err(e) => Err(e),
        },
        Ok(processor) if *captured => processor.refund(processor_ref, amount, &undo).await,
        Ok(processor) => processor.void(processor_ref, &undo).await,
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
                "a charge approved after its attempt was given up could not be undone: an operator must refund it (abandoned_charges)");
            if let Err(e) = abandoned::refused(state.db(), reference, why).await {
                tracing::error!(%reference, error = %e, "could not record the refusal; the watch asks again");
            }
            Undo::Refused
        }
        Err(ProcessorError::Unavailable(e)) => {
            tracing::warn!(%reference, %processor_ref, error = format!("{e:#}"),
                "undoing a charge approved after its attempt was given up: the processor did not answer; the watch tries again");
            Undo::Unanswered
        }
    };
    // Undos tried, by outcome (the request's and each process's watch may try the same one).
    metrics::counter!("govifi_late_charge_undos_total", "outcome" => result.as_str()).increment(1);
    result
}

/// A reference no longer watched. Failing that only means one more lookup, whose undo the
/// processor answers as it did the first time.
async fn forget(state: &AppState, reference: &str) {
    if let Err(e) = abandoned::forget(state.db(), reference).await {
        tracing::warn!(%reference, error = %e, "could not stop watching an abandoned reference");
    }
}

/// One pass over the watched references that are due: answers how many it settled (undone,
/// declined or returned, refused, or past their day unseen).
pub async fn watch_due(state: &AppState, now: i64) -> ApiResult<usize> {
    let mut settled = 0;
    for watched in abandoned::due(state.db(), now, 50).await? {
        let done = match check(state, &watched, now).await {
            Ok(done) => done,
            Err(e) => {
                tracing::warn!(reference = %watched.reference, error = format!("{e:#}"), "watching an abandoned reference");
                false
            }
        };
        if done {
            // Forgotten, or kept with its refusal (which `due` passes over).
            settled += 1;
            continue;
        }
        // Still watched: looked up again later, behind the others.
        let later = now + recheck_after(now - watched.abandoned_at);
        if let Err(e) = abandoned::recheck(state.db(), &watched.reference, later).await {
            tracing::warn!(reference = %watched.reference, error = %e, "putting an abandoned reference's next lookup off");
        }
    }
    Ok(settled)
}

/// Looks one reference up: an approval is undone, anything else forgotten, as is a reference
/// the processor has not seen for a day. True when the reference is settled.
async fn check(state: &AppState, watched: &Watched, now: i64) -> ApiResult<bool> {
    let Some(account) = accounts::get(state.db(), &watched.account_uid).await? else {
        return Err(anyhow::anyhow!("account {} not found", watched.account_uid).into());
    };
    let processor = state.processor(&account)?;
    let found = processor.lookup(&watched.reference).await.map_err(|e| anyhow::anyhow!("processor lookup: {e}"))?;
    match found {
        Some(charge) => Ok(matches!(
            undo_charge(state, &account, &charge, watched.amount, &watched.reference, now).await,
            Undo::Done | Undo::NothingTaken | Undo::Refused
        )),
        None if now - watched.abandoned_at >= WATCH_FOR_MS => {
            forget(state, &watched.reference).await;
            Ok(true)
        }
        None => Ok(false),
    }
}
