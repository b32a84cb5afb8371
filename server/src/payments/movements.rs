//! Captures, voids and refunds of an existing payment, exactly once however they race.

use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;

use super::{Answer, Called, answer_key, find, payment_events, unavailable};
use crate::domain::event::{EventType, acting_as};
use crate::domain::money::{Amount, Requested};
use crate::domain::payment::{Move, OperationKind, OperationStatus, PaymentStatus, TransactionKind};
use crate::domain::validate;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::idempotency::Idempotency;
use crate::state::AppState;
use crate::store::accounts::Account;
use crate::store::operations::{self, Operation};
use crate::store::payments::{self, Outcome, Payment};
use crate::store::{events, now_ms};
use crate::views::{PaymentObject, RefundObject};

/// `POST /api/payments/{id}/capture`
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CaptureRequest {
    /// Up to what was authorized; without it, all of it. A partial capture releases the rest.
    #[serde(default, deserialize_with = "crate::domain::validate::present")]
    #[schema(value_type = i64, minimum = 0, nullable = false)]
    pub amount: Option<Requested>,
}

/// `POST /api/payments/{id}/refund`
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefundRequest {
    /// Up to what is left (captured − refunded); without it, all that is left.
    #[serde(default, deserialize_with = "crate::domain::validate::present")]
    #[schema(value_type = i64, minimum = 0, nullable = false)]
    pub amount: Option<Requested>,
    /// Up to 500 characters, e.g. `requested_by_customer`.
    #[serde(default)]
    pub reason: Option<String>,
}

/// 409 `invalid_state`: the payment's status does not allow this operation.
fn cannot(payment: &Payment, kind: OperationKind) -> ApiError {
    let done = match kind {
        OperationKind::Capture => "captured",
        OperationKind::Void => "voided",
        _ => "refunded",
    };
    let why = match (payment.status, kind) {
        (PaymentStatus::Processing, OperationKind::Refund) => {
            "An ACH payment can be refunded once it has settled".to_owned()
        }
        (status, _) => format!("A payment that is {status} cannot be {done}"),
    };
    ApiError::invalid_state(why)
}

/// The processor's reference of the charge an operation moves.
pub(super) fn charge_of(payment: &Payment) -> ApiResult<&str> {
    payment
        .processor_ref
        .as_deref()
        .ok_or_else(|| anyhow::anyhow!("payment {} has no charge at the processor", payment.id).into())
}

fn too_large(message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::AmountTooLarge, message).with_param("amount")
}

/// Why a capture or void could not hold the payment, read back after the conditional UPDATE
/// refused (the payment changed meanwhile, or another operation holds it).
fn hold_refusal(
    state: &AppState,
    payment: &Payment,
    mv: Move,
    kind: OperationKind,
    amount: Amount,
    now: i64,
) -> ApiError {
    if !mv.applies_to(payment.status) {
        cannot(payment, kind)
    } else if payment.pending_op.is_some() {
        ApiError::invalid_state("Another capture or void of this payment is in progress")
    } else if amount > payment.total_amount {
        too_large("amount is more than was authorized")
    } else if kind == OperationKind::Capture && authorization_expired(state, payment, now) {
        let days = state.config().authorization_window.in_days().unwrap_or_default();
        ApiError::invalid_state(format!(
            "The authorization expired: a payment must be captured within {days} days of its authorization, \
             and this one is being voided"
        ))
    } else {
        ApiError::invalid_state("The payment changed meanwhile; retry")
    }
}

/// True when the payment's authorization can no longer be captured at `now` (a payment is made
/// when it is authorized).
pub fn authorization_expired(state: &AppState, payment: &Payment, now: i64) -> bool {
    state.config().authorization_window.expired(payment.created_at, now)
}

/// When the payment's authorization can no longer be captured, if ever.
pub fn capture_deadline(state: &AppState, payment: &Payment) -> Option<i64> {
    state.config().authorization_window.deadline(payment.created_at)
}

/// Captures an authorized payment (all of it, or `amount` of it), once.
pub async fn capture(
    state: &AppState,
    account: &Account,
    payment_id: &str,
    req: &CaptureRequest,
    key: &Idempotency,
) -> ApiResult<Answer> {
    let payment = find(state, &account.uid, payment_id).await?;
    if !Move::CAPTURE.applies_to(payment.status) {
        return Err(cannot(&payment, OperationKind::Capture));
    }
    let amount = match req.amount {
        None => payment.total_amount,
        Some(Requested::Within(amount)) => amount,
        Some(Requested::PastMax) => return Err(too_large("amount is more than was authorized")),
    };
    if amount.is_zero() {
        return Err(ApiError::invalid("amount", "amount must be a positive integer"));
    }
    if amount > payment.total_amount {
        return Err(too_large(format!(
            "amount {} is more than the {} authorized",
            amount.minor(),
            payment.total_amount.minor()
        )));
    }
    let charge = charge_of(&payment)?;
    let processor = state.processor(account)?;
    let op = hold(state, account, &payment, OperationKind::Capture, Move::CAPTURE, amount, key).await?;
    let called: Called<()> = processor.capture(charge, amount, &op.id).await.into();
    match called {
        Called::Done(()) => finish_hold(state, &op).await,
        Called::Refused(why) => refuse_hold(state, &op, why).await,
        Called::Unknown(e) => Err(unavailable(&op, &e)),
    }
}

/// Releases an authorization that was not captured, once; a payment still pending on its
/// terminal (nothing charged yet) is voided as the terminal's cancel does it.
pub async fn void(state: &AppState, account: &Account, payment_id: &str, key: &Idempotency) -> ApiResult<Answer> {
    let payment = find(state, &account.uid, payment_id).await?;
    if payment.status == PaymentStatus::PendingTerminal {
        return super::terminals::void_pending(state, &payment, key).await;
    }
    if !Move::VOID.applies_to(payment.status) {
        return Err(cannot(&payment, OperationKind::Void));
    }
    let charge = charge_of(&payment)?;
    let processor = state.processor(account)?;
    let op = hold(state, account, &payment, OperationKind::Void, Move::VOID, payment.total_amount, key).await?;
    let called: Called<()> = processor.void(charge, &op.id).await.into();
    match called {
        Called::Done(()) => finish_hold(state, &op).await,
        Called::Refused(why) => refuse_hold(state, &op, why).await,
        Called::Unknown(e) => Err(unavailable(&op, &e)),
    }
}

/// The actor of the events of a void the expiry pass makes.
pub const EXPIRY_ACTOR: &str = "system:authorization_expiry";

/// Voids the authorizations that have waited longer than the installation's window for their
/// capture (none, with no window), as a void from the API would (`voided`, a `void` ledger
/// entry, `payment.voided`). A capture or void that holds the payment first wins; a crash mid-void leaves its operation
/// to recovery like any other. A void that fails here (the processor refused it, or could not
/// be asked) is tried again after a tenth of the time since the deadline (5 s to an hour), so
/// it neither calls the processor at every pass nor keeps the pass from the payments behind it.
pub async fn expire_authorizations(state: &AppState, now: i64) -> ApiResult<usize> {
    let Some(cutoff) = state.config().authorization_window.cutoff(now) else {
        return Ok(0);
    };
    let mut voided = 0;
    for payment in payments::authorized_before(state.db(), cutoff, now, 50).await? {
        let outcome = match crate::store::accounts::get(state.db(), &payment.account_uid).await? {
            // Its event names the server's job as the actor, so a merchant tells it from a void
            // of their own.
            Some(account) => {
                acting_as(EXPIRY_ACTOR.to_owned(), void(state, &account, &payment.id, &Idempotency::none()))
                    .await
                    .map(|_| ())
            }
            None => Err(anyhow::anyhow!("payment {} without account", payment.id).into()),
        };
        match outcome {
            Ok(()) => {
                tracing::info!(payment = %payment.id, "an authorization expired uncaptured: voided");
                voided += 1;
            }
            Err(e) => {
                let late = now - capture_deadline(state, &payment).unwrap_or(now);
                let at = now + crate::domain::time::recheck_after(late);
                // Nothing to put off when it was captured or voided meanwhile.
                if payments::defer_expiry(state.db(), &payment.id, at).await? {
                    tracing::warn!(payment = %payment.id, error = %e, retry_at = at, "voiding an expired authorization failed; will retry");
                }
            }
        }
    }
    Ok(voided)
}

/// The move a held operation makes.
fn move_of(kind: OperationKind) -> Move {
    match kind {
        OperationKind::Void => Move::VOID,
        _ => Move::CAPTURE,
    }
}

/// Step 1 of a capture or void: the operation, holding the payment, in one transaction.
async fn hold(
    state: &AppState,
    account: &Account,
    payment: &Payment,
    kind: OperationKind,
    mv: Move,
    amount: Amount,
    key: &Idempotency,
) -> ApiResult<Operation> {
    let now = now_ms();
    let mut op = Operation::new(kind, &payment.id, &account.uid, amount, now);
    op.idempotency = key.held_key();
    let mut tx = state.db().begin_write().await?;
    // A capture holds only an authorization that has not expired (a void releases any).
    let capture = kind == OperationKind::Capture;
    let window = state.config().authorization_window;
    let (within, made_after) = if capture { (Some(amount), window.cutoff(now)) } else { (None, None) };
    if !payments::hold(&mut tx, &payment.id, &op.id, mv, within, made_after, now).await? {
        tx.end_refused().await?;
        let now_is = payments::get(state.db(), &account.uid, &payment.id).await?.unwrap_or_else(|| payment.clone());
        return Err(hold_refusal(state, &now_is, mv, kind, amount, now));
    }
    operations::insert(&mut tx, &op).await?;
    tx.commit().await?;
    key.hand_to_operation();
    Ok(op)
}

/// Step 3 of a capture or void the processor has made: the move, the ledger entry, the events
/// and the answer, in one transaction. Recovery calls it too; the second caller changes nothing.
pub async fn finish_hold(state: &AppState, op: &Operation) -> ApiResult<Answer> {
    let now = now_ms();
    let mv = move_of(op.kind);
    let mut tx = state.db().begin_write().await?;
    if !operations::finish(&mut tx, &op.id, OperationStatus::Succeeded, None, now).await? {
        tx.end_refused().await?;
        return settled_answer(state, op).await;
    }
    let outcome =
        Outcome { amount_captured: (op.kind == OperationKind::Capture).then_some(op.amount), ..Default::default() };
    if !payments::complete_hold(&mut tx, &op.payment_id, &op.id, mv, outcome, now).await? {
        return Err(anyhow::anyhow!("payment {} is not held by operation {}", op.payment_id, op.id).into());
    }
    let (entry, kinds): (TransactionKind, &[EventType]) = match op.kind {
        OperationKind::Void => (TransactionKind::Void, &[EventType::PaymentVoided]),
        _ => (TransactionKind::Capture, &[EventType::PaymentCaptured, EventType::PaymentSucceeded]),
    };
    payments::record_transaction(&mut tx, &op.payment_id, entry, op.amount).await?;
    let payment =
        payments::get_on(&mut tx, &op.payment_id).await?.ok_or_else(|| anyhow::anyhow!("payment vanished"))?;
    payment_events(&mut tx, &payment, kinds).await?;
    let answer = Answer::json(StatusCode::OK, &PaymentObject::from(&payment));
    answer_key(&mut tx, op, &answer).await?;
    tx.commit().await?;
    tracing::info!(payment = %payment.id, operation = %op.id, kind = %op.kind, amount = op.amount.minor(), "payment moved");
    Ok(answer)
}

/// The processor refused a capture or void: nothing moved; the payment is let go, and the 409
/// is the operation's answer for its `Idempotency-Key`.
pub async fn refuse_hold(state: &AppState, op: &Operation, why: &str) -> ApiResult<Answer> {
    let now = now_ms();
    let refusal = ApiError::invalid_state(format!("The processor refused the {}: {why}", op.kind));
    let mut tx = state.db().begin_write().await?;
    if operations::finish(&mut tx, &op.id, OperationStatus::Failed, Some(why), now).await? {
        payments::unhold(&mut tx, &op.payment_id, &op.id, now).await?;
        answer_key(&mut tx, op, &Answer::error(&refusal)).await?;
        tx.commit().await?;
    }
    tracing::info!(operation = %op.id, kind = %op.kind, reason = why, "the processor refused");
    Err(refusal)
}

/// Refunds `amount` (or all that is left) of a captured payment. Many partial refunds may run
/// at once; each reserves its amount first, so together they never pass what was captured.
pub async fn refund(
    state: &AppState,
    account: &Account,
    payment_id: &str,
    req: &RefundRequest,
    key: &Idempotency,
) -> ApiResult<Answer> {
    let payment = find(state, &account.uid, payment_id).await?;
    if !Move::REFUND_PART.applies_to(payment.status) {
        return Err(cannot(&payment, OperationKind::Refund));
    }
    if let Some(reason) = &req.reason {
        validate::text("reason", reason, 500)?;
    }
    let left = payment.refundable();
    let amount = match req.amount {
        None => left,
        Some(Requested::Within(amount)) if amount.is_zero() => {
            return Err(ApiError::invalid("amount", "amount must be a positive integer"));
        }
        Some(Requested::Within(amount)) => amount,
        Some(Requested::PastMax) => return Err(too_large("amount is more than is left to refund")),
    };
    if amount.is_zero() || amount > left {
        return Err(too_large(format!("amount {} is more than the {} left to refund", amount.minor(), left.minor())));
    }
    let charge = charge_of(&payment)?.to_owned();
    let processor = state.processor(account)?;
    let now = now_ms();
    let mut op = Operation::new(OperationKind::Refund, &payment.id, &account.uid, amount, now);
    op.reason = req.reason.clone();
    op.idempotency = key.held_key();
    let mut tx = state.db().begin_write().await?;
    if !payments::reserve_refund(&mut tx, &payment.id, amount, now).await? {
        tx.end_refused().await?;
        let now_is = payments::get(state.db(), &account.uid, &payment.id).await?.unwrap_or(payment);
        return Err(if Move::REFUND_PART.applies_to(now_is.status) {
            too_large(format!(
                "amount {} is more than the {} left to refund",
                amount.minor(),
                now_is.refundable().minor()
            ))
        } else {
            cannot(&now_is, OperationKind::Refund)
        });
    }
    operations::insert(&mut tx, &op).await?;
    tx.commit().await?;
    key.hand_to_operation();
    let called: Called<()> = processor.refund(&charge, amount, &op.id).await.into();
    match called {
        Called::Done(()) => finish_refund(state, &op).await,
        Called::Refused(why) => refuse_refund(state, &op, why).await,
        Called::Unknown(e) => Err(unavailable(&op, &e)),
    }
}

/// Step 3 of a refund the processor made: the reserved amount becomes refunded (the status
/// follows what is left), the ledger entry, `refund.created` and `payment.refunded`, the answer.
pub async fn finish_refund(state: &AppState, op: &Operation) -> ApiResult<Answer> {
    let now = now_ms();
    let mut tx = state.db().begin_write().await?;
    if !operations::finish(&mut tx, &op.id, OperationStatus::Succeeded, None, now).await? {
        tx.end_refused().await?;
        return settled_answer(state, op).await;
    }
    if !payments::complete_refund(&mut tx, &op.payment_id, op.amount, now).await? {
        return Err(anyhow::anyhow!("refund {} has no reservation on {}", op.id, op.payment_id).into());
    }
    payments::record_transaction(&mut tx, &op.payment_id, TransactionKind::Refund, op.amount).await?;
    let payment =
        payments::get_on(&mut tx, &op.payment_id).await?.ok_or_else(|| anyhow::anyhow!("payment vanished"))?;
    let done = Operation { status: OperationStatus::Succeeded, updated_at: now, ..op.clone() };
    let refund = RefundObject::new(&done, &payment.currency);
    let news = [
        (EventType::RefundCreated, events::data(&refund)),
        (EventType::PaymentRefunded, events::data(&PaymentObject::from(&payment))),
    ];
    events::record_all(&mut tx, &payment.account_uid, &news).await?;
    let answer = Answer::json(StatusCode::CREATED, &refund);
    answer_key(&mut tx, op, &answer).await?;
    tx.commit().await?;
    tracing::info!(payment = %payment.id, refund = %op.id, amount = op.amount.minor(), status = %payment.status, "refunded");
    Ok(answer)
}

/// The processor refused a refund: the reservation is given back and the refund is `failed`,
/// with its `refund.created`.
pub async fn refuse_refund(state: &AppState, op: &Operation, why: &str) -> ApiResult<Answer> {
    let now = now_ms();
    let mut tx = state.db().begin_write().await?;
    if !operations::finish(&mut tx, &op.id, OperationStatus::Failed, Some(why), now).await? {
        tx.end_refused().await?;
        return settled_answer(state, op).await;
    }
    payments::release_refund(&mut tx, &op.payment_id, op.amount, now).await?;
    let payment =
        payments::get_on(&mut tx, &op.payment_id).await?.ok_or_else(|| anyhow::anyhow!("payment vanished"))?;
    let failed = Operation {
        status: OperationStatus::Failed,
        failure_code: Some(why.to_owned()),
        updated_at: now,
        ..op.clone()
    };
    let refund = RefundObject::new(&failed, &payment.currency);
    // The refund exists (listed, `failed`): its event, as a refund made has, and no
    // `payment.refunded` (nothing was).
    events::record_all(&mut tx, &payment.account_uid, &[(EventType::RefundCreated, events::data(&refund))]).await?;
    let answer = Answer::json(StatusCode::CREATED, &refund);
    answer_key(&mut tx, op, &answer).await?;
    tx.commit().await?;
    tracing::warn!(payment = %payment.id, refund = %op.id, reason = why, "the processor refused a refund");
    Ok(answer)
}

/// The answer for an operation someone else finished first (recovery, or the request itself).
async fn settled_answer(state: &AppState, op: &Operation) -> ApiResult<Answer> {
    let done = operations::get(state.db(), &op.id).await?.ok_or_else(|| anyhow::anyhow!("operation vanished"))?;
    let payment = payments::get(state.db(), &done.account_uid, &done.payment_id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("payment vanished"))?;
    match (done.kind, done.status) {
        (OperationKind::Refund, _) => {
            Ok(Answer::json(StatusCode::CREATED, &RefundObject::new(&done, &payment.currency)))
        }
        (_, OperationStatus::Succeeded) => Ok(Answer::json(StatusCode::OK, &PaymentObject::from(&payment))),
        _ => Err(ApiError::invalid_state(format!(
            "The processor refused the {}: {}",
            done.kind,
            done.failure_code.as_deref().unwrap_or("refused")
        ))),
    }
}

/// A payment's first `limit` refunds, oldest first.
pub async fn refunds(
    state: &AppState,
    account: &Account,
    payment_id: &str,
    limit: i64,
) -> ApiResult<Vec<RefundObject>> {
    let payment = find(state, &account.uid, payment_id).await?;
    let ops = operations::of_payment(state.db(), &payment.id, OperationKind::Refund, limit).await?;
    Ok(ops.iter().map(|op| RefundObject::new(op, &payment.currency)).collect())
}
