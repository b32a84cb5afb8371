//! Card-present terminals (SPEC §7, §11): register them, start a payment on one (it waits as
//! `pending_terminal`, the terminal `busy`), then a card is presented (`captured` or `failed`) or
//! the payment is cancelled (`voided`). One pending payment per terminal.

use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;

use super::{Answer, Called, answer_key, direct, payment_event, payment_events, unavailable, undo_if_abandoned};
use crate::domain::account::MethodType;
use crate::domain::card::CardNumber;
use crate::domain::event::EventType;
use crate::domain::ids::has_shape;
use crate::domain::money::{Amount, Currency};
use crate::domain::payment::{MethodDetails, Move, OperationKind, OperationStatus, PaymentStatus, TransactionKind};
use crate::domain::terminal::TerminalStatus;
use crate::domain::validate::{self, Metadata, nullable};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::idempotency::Idempotency;
use crate::processor::{AuthorizeRequest, Charge, Instrument, Outcome};
use crate::state::AppState;
use crate::store::accounts::Account;
use crate::store::operations::{self, Operation};
use crate::store::payments::{self, Payment};
use crate::store::terminals::{self, NewTerminal, Terminal};
use crate::store::{Patch, is_unique_violation, now_ms};
use crate::views::{PaymentObject, TerminalObject};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTerminal {
    pub label: String,
    pub serial_number: String,
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub location: Option<String>,
    #[serde(default)]
    pub metadata: Option<Metadata>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateTerminal {
    #[serde(default)]
    pub label: Option<String>,
    #[serde(default)]
    pub serial_number: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub model: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub location: Option<Option<String>>,
    /// `online` or `offline` (`busy` is the terminal's own doing).
    #[serde(default)]
    pub status: Option<TerminalStatus>,
    #[serde(default)]
    pub metadata: Option<Metadata>,
}

/// `POST /api/terminals/{id}/payments`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartTerminalPayment {
    pub amount: Amount,
    pub currency: Currency,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub reference: Option<String>,
    #[serde(default)]
    pub metadata: Option<Metadata>,
}

/// `POST /api/terminals/{id}/simulate` (sandbox): the card the customer presents.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SimulateCard {
    #[schema(example = "4242424242424242")]
    pub card_number: String,
}

/// Never the card number.
impl std::fmt::Debug for SimulateCard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimulateCard").finish_non_exhaustive()
    }
}

fn in_use(message: &str) -> ApiError {
    ApiError::new(ErrorCode::ResourceInUse, message)
}

fn check_text(label: Option<&str>, serial: Option<&str>, model: Option<&str>, location: Option<&str>) -> ApiResult<()> {
    if let Some(l) = label {
        validate::text("label", l, 200)?;
    }
    if let Some(s) = serial {
        validate::text("serial_number", s, 100)?;
    }
    if let Some(m) = model {
        validate::text("model", m, 100)?;
    }
    if let Some(l) = location {
        validate::text("location", l, 200)?;
    }
    Ok(())
}

/// The account's terminal `id`, or 404.
pub async fn find(state: &AppState, account_uid: &str, id: &str) -> ApiResult<Terminal> {
    let found = if has_shape(id, "trm") { terminals::get(state.db(), account_uid, id).await? } else { None };
    found.ok_or_else(|| ApiError::not_found("terminal"))
}

pub async fn create(state: &AppState, account: &Account, body: CreateTerminal) -> ApiResult<TerminalObject> {
    check_text(Some(&body.label), Some(&body.serial_number), body.model.as_deref(), body.location.as_deref())?;
    let metadata = body.metadata.unwrap_or_default();
    validate::metadata("metadata", &metadata)?;
    let new = NewTerminal {
        label: body.label.trim().to_owned(),
        serial_number: body.serial_number.trim().to_owned(),
        model: body.model,
        location: body.location,
        status: TerminalStatus::Online,
        metadata,
    };
    match terminals::insert(state.db(), &account.uid, new).await {
        Ok(t) => Ok(t.into()),
        Err(e) if is_unique_violation(&e) => {
            Err(in_use("A terminal with this serial_number is already registered").with_param("serial_number"))
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn update(state: &AppState, account: &Account, id: &str, body: UpdateTerminal) -> ApiResult<TerminalObject> {
    let terminal = find(state, &account.uid, id).await?;
    let inner = |v: &Option<Option<String>>| v.as_ref().and_then(|x| x.clone());
    check_text(
        body.label.as_deref(),
        body.serial_number.as_deref(),
        inner(&body.model).as_deref(),
        inner(&body.location).as_deref(),
    )?;
    if body.status == Some(TerminalStatus::Busy) {
        return Err(ApiError::invalid("status", "status may be set to online or offline"));
    }
    if let Some(m) = &body.metadata {
        validate::metadata("metadata", m)?;
    }
    let mut patch = Patch::default();
    if let Some(l) = body.label {
        patch.text("label", Some(l.trim().to_owned()));
    }
    if let Some(s) = body.serial_number {
        patch.text("serial_number", Some(s.trim().to_owned()));
    }
    if let Some(m) = body.model {
        patch.text("model", m);
    }
    if let Some(l) = body.location {
        patch.text("location", l);
    }
    if let Some(s) = body.status {
        patch.text("status", Some(s.as_str().to_owned()));
    }
    if let Some(m) = &body.metadata {
        patch.json("metadata", m);
    }
    if !patch.is_empty() {
        match terminals::update(state.db(), &terminal.id, &patch, body.status.is_some()).await {
            Ok(true) => {}
            // Busy, or deleted meanwhile.
            Ok(false) => {
                find(state, &account.uid, &terminal.id).await?;
                return Err(in_use("The terminal has a payment pending; cancel it first"));
            }
            Err(e) if is_unique_violation(&e) => {
                return Err(
                    in_use("A terminal with this serial_number is already registered").with_param("serial_number")
                );
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(find(state, &account.uid, id).await?.into())
}

pub async fn delete(state: &AppState, account: &Account, id: &str) -> ApiResult<()> {
    let terminal = find(state, &account.uid, id).await?;
    if terminals::delete(state.db(), &account.uid, &terminal.id).await? {
        Ok(())
    } else {
        Err(in_use("The terminal has a payment pending; cancel it first"))
    }
}

/// Starts a card-present payment: `pending_terminal`, the terminal `busy`, in one transaction.
pub async fn start_payment(
    state: &AppState,
    account: &Account,
    id: &str,
    body: StartTerminalPayment,
    key: &Idempotency,
) -> ApiResult<Answer> {
    let terminal = find(state, &account.uid, id).await?;
    if body.amount.is_zero() {
        return Err(ApiError::invalid("amount", "amount must be a positive integer"));
    }
    if body.currency != account.currency {
        return Err(ApiError::invalid("currency", format!("this account takes {}", account.currency)));
    }
    if !account.enabled_methods.contains(&MethodType::Card) {
        return Err(ApiError::invalid("terminal", "card payments are not enabled on this account"));
    }
    if let Some(d) = &body.description {
        validate::text("description", d, 500)?;
    }
    if let Some(r) = &body.reference {
        validate::text("reference", r, 255)?;
    }
    let metadata = body.metadata.unwrap_or_default();
    validate::metadata("metadata", &metadata)?;
    let mut payment = Payment::new(
        &account.uid,
        PaymentStatus::PendingTerminal,
        body.amount,
        body.currency,
        MethodDetails::of_kind(MethodType::Card),
        &account.processor_type,
    );
    payment.terminal_id = Some(terminal.id.clone());
    payment.description = body.description;
    payment.reference = body.reference;
    payment.metadata = metadata;
    let mut tx = state.db().begin_write().await?;
    if !terminals::occupy(&mut tx, &terminal.id, &payment.id, payment.created_at).await? {
        tx.end_refused().await?;
        let now_is = find(state, &account.uid, id).await?;
        return Err(match now_is.status {
            TerminalStatus::Offline => ApiError::invalid_state("The terminal is offline"),
            _ => in_use("The terminal already has a payment pending"),
        });
    }
    payments::insert(&mut tx, &payment).await?;
    // A till that retries after a lost answer (same Idempotency-Key) is answered this payment,
    // not a second one or a 409 for its own.
    let answer = Answer::json(StatusCode::CREATED, &PaymentObject::from(payment));
    key.finish(&mut tx, answer.status, &answer.body).await?;
    tx.commit().await?;
    Ok(answer)
}

/// The payment pending on a terminal, or 409.
async fn pending_payment(state: &AppState, account: &Account, terminal: &Terminal) -> ApiResult<Payment> {
    let none = || ApiError::invalid_state("The terminal has no payment pending");
    let id = terminal.payment_id.as_deref().ok_or_else(none)?;
    let payment = payments::get(state.db(), &account.uid, id).await?.ok_or_else(none)?;
    if payment.status != PaymentStatus::PendingTerminal {
        return Err(none());
    }
    Ok(payment)
}

/// Cancels the payment pending on a terminal: `voided`, the terminal online again.
pub async fn cancel(state: &AppState, account: &Account, id: &str, key: &Idempotency) -> ApiResult<Answer> {
    let terminal = find(state, &account.uid, id).await?;
    let payment = pending_payment(state, account, &terminal).await?;
    void_pending(state, &payment, key).await
}

/// How long a payment may wait on its terminal for a card: a customer who walked away, or a
/// terminal that stopped answering, does not keep the terminal busy for ever.
pub const PENDING_TIMEOUT_MS: i64 = 15 * 60 * 1000;

/// Voids the payments pending on a terminal for longer than [`PENDING_TIMEOUT_MS`] with no card
/// being charged (`payment.voided`, the terminal online again), as a cancel would. One that a
/// card or a cancel reached first is left to it.
pub async fn expire_pending(state: &AppState, now: i64) -> ApiResult<usize> {
    let mut voided = 0;
    for payment in payments::pending_on_terminal_since(state.db(), now - PENDING_TIMEOUT_MS, 50).await? {
        match void_pending(state, &payment, &Idempotency::none()).await {
            Ok(_) => {
                tracing::info!(payment = %payment.id, "a terminal payment waited too long for a card: voided");
                voided += 1;
            }
            Err(ApiError::Client(_)) => {}
            // One that fails is logged and passed over; the others behind it still go.
            Err(e) => tracing::warn!(payment = %payment.id, error = %e, "voiding a terminal payment failed"),
        }
    }
    Ok(voided)
}

/// Voids a payment still pending on its terminal (nothing was charged): `voided`, its terminal
/// online again, `payment.voided`. The terminal's cancel and a void of the payment come here.
pub async fn void_pending(state: &AppState, payment: &Payment, key: &Idempotency) -> ApiResult<Answer> {
    let now = now_ms();
    let mut tx = state.db().begin_write().await?;
    // Not while a presented card is being charged (that charge holds the payment).
    if !payments::apply(&mut tx, &payment.id, Move::TERMINAL_CANCEL, None, None, None, now).await? {
        return Err(ApiError::invalid_state("The payment is being charged or is no longer pending"));
    }
    if let Some(terminal_id) = &payment.terminal_id {
        terminals::free(&mut tx, terminal_id, &payment.id, now).await?;
    }
    let payment = payments::get_on(&mut tx, &payment.id).await?.ok_or_else(|| anyhow::anyhow!("payment vanished"))?;
    payment_event(&mut tx, &payment, EventType::PaymentVoided).await?;
    let answer = Answer::json(StatusCode::OK, &PaymentObject::from(payment));
    // The key's answer is written with the void: no crash between them leaves it unanswered.
    key.finish(&mut tx, answer.status, &answer.body).await?;
    tx.commit().await?;
    Ok(answer)
}

/// Sandbox: a card presented at the terminal; the payment completes or fails as the card says.
pub async fn simulate(
    state: &AppState,
    account: &Account,
    id: &str,
    body: SimulateCard,
    key: &Idempotency,
) -> ApiResult<Answer> {
    // Test cards are presented in sandbox mode only (the route answers 404 too).
    if !state.config().sandbox {
        return Err(ApiError::not_found("route"));
    }
    let terminal = find(state, &account.uid, id).await?;
    let number = CardNumber::parse(&body.card_number).map_err(|e| e.with_param("card_number"))?;
    let payment = pending_payment(state, account, &terminal).await?;
    let processor = state.processor(account)?;
    let now = now_ms();
    let mut op = Operation::new(OperationKind::TerminalCharge, &payment.id, &account.uid, payment.amount, now);
    op.idempotency = key.held_key();
    let mut tx = state.db().begin_write().await?;
    if !payments::hold(&mut tx, &payment.id, &op.id, Move::TERMINAL_APPROVE, None, None, now).await? {
        return Err(ApiError::invalid_state("A card is already being charged for this payment"));
    }
    operations::insert(&mut tx, &op).await?;
    tx.commit().await?;
    key.hand_to_operation();
    let called: Called<Charge> = processor
        .authorize(AuthorizeRequest {
            reference: &op.id,
            amount: payment.amount,
            currency: &payment.currency,
            instrument: Instrument::Present(&number),
            capture: true,
            billing: None,
            challenge_passed: true, // the cardholder entered their PIN at the terminal
            reject_avs_mismatch: false,
            save: false,
        })
        .await
        .into();
    let charge = match called {
        Called::Done(charge) => charge,
        // The processor would not take the card at all: a decline of a fixed code, as a direct
        // payment's (its reason is the processor's text, for the log).
        Called::Refused(why) => {
            tracing::info!(operation = %op.id, reason = why, "the processor refused the presented card");
            direct::refused_charge(None)
        }
        Called::Unknown(e) => return Err(unavailable(&op, &e)),
    };
    finish_charge(state, &op, charge).await
}

/// Step 3 of a terminal charge: `captured` or `failed`, the terminal freed, the ledger, the
/// events (`terminal.payment.completed` / `.failed`) and the answer, in one transaction.
pub async fn finish_charge(state: &AppState, op: &Operation, charge: Charge) -> ApiResult<Answer> {
    let now = now_ms();
    let shown = charge.details.shown_as(MethodType::Card);
    let mut tx = state.db().begin_write().await?;
    let approved = matches!(charge.outcome, Outcome::Approved { .. });
    let status = if approved { OperationStatus::Succeeded } else { OperationStatus::Failed };
    let (mv, outcome, ledger, kinds) = match &charge.outcome {
        Outcome::Approved { processor_ref, avs_result, .. } => (
            Move::TERMINAL_APPROVE,
            payments::Outcome {
                amount_captured: Some(op.amount),
                decline_code: None,
                processor_ref: Some(processor_ref.as_str()),
                avs_result: avs_result.as_deref(),
                payment_method: Some(&shown),
            },
            vec![TransactionKind::Authorization, TransactionKind::Capture],
            vec![
                EventType::PaymentAuthorized,
                EventType::PaymentCaptured,
                EventType::PaymentSucceeded,
                EventType::TerminalPaymentCompleted,
            ],
        ),
        Outcome::Declined { processor_ref, decline_code } => (
            Move::TERMINAL_DECLINE,
            payments::Outcome {
                amount_captured: None,
                decline_code: Some(decline_code.as_str()),
                processor_ref: (!processor_ref.is_empty()).then_some(processor_ref.as_str()),
                avs_result: None,
                payment_method: Some(&shown),
            },
            vec![TransactionKind::Failure],
            vec![EventType::PaymentFailed, EventType::TerminalPaymentFailed],
        ),
        // A PIN was entered at the terminal: there is no further challenge to pass.
        Outcome::ChallengeRequired => (
            Move::TERMINAL_DECLINE,
            payments::Outcome {
                decline_code: Some(ErrorCode::AuthenticationRequired.as_str()),
                payment_method: Some(&shown),
                ..Default::default()
            },
            vec![TransactionKind::Failure],
            vec![EventType::PaymentFailed, EventType::TerminalPaymentFailed],
        ),
    };
    let failure_code = outcome.decline_code.map(str::to_owned);
    if !operations::finish(&mut tx, &op.id, status, failure_code.as_deref(), now).await? {
        tx.end_refused().await?;
        if let Some(undo) = undo_if_abandoned(state, op, &charge).await? {
            // Recovery gave the attempt up: the payment waits for a card again, and the card
            // may be presented again once its approval is undone.
            return Err(undo.given_up("present the card again"));
        }
        let payment = payments::get(state.db(), &op.account_uid, &op.payment_id)
            .await?
            .ok_or_else(|| anyhow::anyhow!("payment vanished"))?;
        return Ok(Answer::json(StatusCode::OK, &PaymentObject::from(payment)));
    }
    if !payments::complete_hold(&mut tx, &op.payment_id, &op.id, mv, outcome, now).await? {
        return Err(anyhow::anyhow!("payment {} is not held by operation {}", op.payment_id, op.id).into());
    }
    let payment =
        payments::get_on(&mut tx, &op.payment_id).await?.ok_or_else(|| anyhow::anyhow!("payment vanished"))?;
    if let Some(terminal_id) = &payment.terminal_id {
        terminals::free(&mut tx, terminal_id, &payment.id, now).await?;
    }
    let entries: Vec<(TransactionKind, Amount)> = ledger.into_iter().map(|k| (k, op.amount)).collect();
    for (kind, amount) in entries {
        payments::record_transaction(&mut tx, &payment.id, kind, amount).await?;
    }
    payment_events(&mut tx, &payment, &kinds).await?;
    let answer = Answer::json(StatusCode::OK, &PaymentObject::from(&payment));
    answer_key(&mut tx, op, &answer).await?;
    tx.commit().await?;
    tracing::info!(payment = %payment.id, status = %payment.status, "terminal payment");
    Ok(answer)
}
