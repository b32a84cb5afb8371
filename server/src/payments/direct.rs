//! Direct payments: `POST /api/payments/validate` authorizes (or, with `capture`, sells) a card,
//! a bank account, an Apple Pay token or a saved method; with `off_session` it charges a method
//! saved for autopay without the customer. No convenience fee: the customer saw no quote.

use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{Answer, Called, answer_key, payment_events, unavailable, undo_if_abandoned};
use crate::domain::account::MethodType;
use crate::domain::card::{card_error, decline};
use crate::domain::event::EventType;
use crate::domain::fees::disclosure;
use crate::domain::ids::{has_shape, new_id};
use crate::domain::money::{Amount, Currency};
use crate::domain::payment::{
    Consent, MethodDetails, OperationKind, OperationStatus, PaymentStatus, TransactionKind, Usage, mandate_text,
};
use crate::domain::payment_method::PaymentMethodInput;
use crate::domain::session::Locale;
use crate::domain::time::Timestamp;
use crate::domain::validate::{self, Metadata};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::idempotency::Idempotency;
use crate::processor::{AuthorizeRequest, Charge, Checked, Outcome, Tokenized};
use crate::state::AppState;
use crate::store::accounts::Account;
use crate::store::operations::{self, Operation};
use crate::store::payment_methods::{self, SavedMethod};
use crate::store::payments::{self, Payment};
use crate::store::{customers, now_ms};
use crate::views::PaymentObject;

/// `POST /api/payments/validate`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ValidateRequest {
    /// Minor units, more than 0.
    pub amount: Amount,
    pub currency: Currency,
    /// As in confirm: `card`, `ach`, `apple_pay`, or `saved` (`{payment_method_id}`).
    pub payment_method: PaymentMethodInput,
    /// Capture at once (a sale); otherwise only authorize. ACH always debits.
    #[serde(default)]
    pub capture: bool,
    /// Charge a method saved `off_session` without the customer (autopay).
    #[serde(default)]
    pub off_session: bool,
    #[serde(default)]
    pub customer_id: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub reference: Option<String>,
    #[serde(default)]
    pub metadata: Option<Metadata>,
}

/// What finishing an authorization needs, kept with its operation (no card number).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DirectRecord {
    pub amount: Amount,
    pub currency: Currency,
    pub method_type: MethodType,
    pub capture: bool,
    pub customer_id: Option<String>,
    pub description: Option<String>,
    pub reference: Option<String>,
    pub metadata: Metadata,
    pub consent: Option<Consent>,
}

/// Checks a request and returns the instrument, its kind, and the saved method it names.
async fn check(
    state: &AppState,
    account: &Account,
    req: &ValidateRequest,
) -> ApiResult<(Checked, MethodType, Option<SavedMethod>)> {
    if req.amount.is_zero() {
        return Err(ApiError::invalid("amount", "amount must be a positive integer"));
    }
    if req.currency != account.currency {
        return Err(ApiError::invalid("currency", format!("this account takes {}", account.currency)));
    }
    if let Some(d) = &req.description {
        validate::text("description", d, 500)?;
    }
    if let Some(r) = &req.reference {
        validate::text("reference", r, 255)?;
    }
    if let Some(m) = &req.metadata {
        validate::metadata("metadata", m)?;
    }
    let now = Timestamp::now().year_month();
    let (checked, kind, saved) = match &req.payment_method {
        PaymentMethodInput::Card { card, .. } => (Checked::Card(card.check(now, true)?), MethodType::Card, None),
        PaymentMethodInput::Ach { ach, .. } => (Checked::Bank(ach.check("payment_method.ach")?), MethodType::Ach, None),
        PaymentMethodInput::ApplePay { apple_pay, .. } => {
            (Checked::ApplePay(apple_pay.check("payment_method.apple_pay.token")?), MethodType::ApplePay, None)
        }
        PaymentMethodInput::Saved { saved } => {
            let param = "payment_method.saved.payment_method_id";
            let method = if has_shape(&saved.payment_method_id, "pm") {
                payment_methods::get_in_account(state.db(), &account.uid, &saved.payment_method_id).await?
            } else {
                None
            };
            let method = method.ok_or_else(|| ApiError::invalid(param, "no such saved payment method"))?;
            if req.customer_id.as_ref().is_some_and(|c| *c != method.customer_id) {
                return Err(ApiError::invalid(param, "this saved method belongs to another customer"));
            }
            crate::customers::chargeable(&method, Timestamp::now())?;
            let token = method.processor_token(&state.config().master_key)?;
            (Checked::Saved { token }, method.kind, Some(method))
        }
    };
    if req.off_session {
        match &saved {
            None => return Err(ApiError::invalid("off_session", "off_session charges a saved payment method")),
            Some(m) if m.usage != Usage::OffSession => {
                return Err(ApiError::invalid(
                    "off_session",
                    "this method was saved for use with the customer present (on_session); it cannot be charged off_session",
                ));
            }
            Some(_) => {}
        }
    }
    crate::accounts::require_method(account, kind, "payment_method.type")?;
    if saved.is_none()
        && let Some(id) = &req.customer_id
    {
        let found = if has_shape(id, "cus") { customers::get(state.db(), &account.uid, id).await? } else { None };
        found.ok_or_else(|| ApiError::invalid("customer_id", "customer_id names no customer of this account"))?;
    }
    Ok((checked, kind, saved))
}

/// The consent an autopay charge carries: the mandate the customer accepted when saving.
fn autopay_consent(account: &Account, method: &SavedMethod, amount: Amount, currency: &Currency) -> Consent {
    let (text, accepted_at, ip, user_agent) = match &method.mandate {
        Some(m) => (m.text.clone(), m.accepted_at.clone(), m.ip.clone(), m.user_agent.clone()),
        // Saved before mandates were kept with methods: the standard text, as of the save.
        None => {
            (mandate_text(&account.display_name(), Locale::En), Timestamp(method.created_at).to_rfc3339(), None, None)
        }
    };
    Consent {
        fee_quote_id: None,
        fee_amount: Amount::ZERO,
        disclosure: disclosure(Amount::ZERO, amount, currency, method.kind, Locale::En),
        mandate: Some(text),
        accepted_at,
        ip,
        user_agent,
    }
}

/// Authorizes (or sells) a direct payment. A decline answers 402 with the failed payment's id;
/// the payment is kept.
pub async fn validate(
    state: &AppState,
    account: &Account,
    req: ValidateRequest,
    key: &Idempotency,
) -> ApiResult<Answer> {
    let (checked, kind, saved) = check(state, account, &req).await?;
    let customer_id = saved.as_ref().map(|m| m.customer_id.clone()).or(req.customer_id.clone());
    let consent = match (&saved, req.off_session) {
        (Some(method), true) => Some(autopay_consent(account, method, req.amount, &req.currency)),
        _ => None,
    };
    let record = DirectRecord {
        amount: req.amount,
        currency: req.currency.clone(),
        method_type: kind,
        capture: req.capture,
        customer_id,
        description: req.description.clone(),
        reference: req.reference.clone(),
        metadata: req.metadata.clone().unwrap_or_default(),
        consent,
    };
    let processor = state.processor(account)?;
    let now = now_ms();
    let mut op = Operation::new(OperationKind::Authorize, &new_id("pay"), &account.uid, req.amount, now);
    op.request = Some(crate::store::to_json_text(&record));
    op.idempotency = key.held_key();
    let mut conn = state.db().writer().acquire().await?;
    operations::insert(&mut conn, &op).await?;
    drop(conn);
    key.hand_to_operation();

    let called: Called<Charge> = processor
        .authorize(AuthorizeRequest {
            reference: &op.id,
            amount: req.amount,
            currency: &req.currency,
            instrument: checked.instrument(),
            capture: req.capture,
            billing: req.payment_method.billing(),
            challenge_passed: false,
            reject_avs_mismatch: account.reject_avs_mismatch,
            save: false,
        })
        .await
        .into();
    let charge = match called {
        Called::Done(charge) => charge,
        // The processor refused the instrument outright (an unknown token): a decline.
        Called::Refused(why) => {
            tracing::info!(operation = %op.id, reason = why, "processor refused the instrument");
            refused_charge(saved.as_ref())
        }
        Called::Unknown(e) => return Err(unavailable(&op, &e)),
    };
    finish_authorize(state, account, &op, &record, charge).await
}

/// A decline for an instrument the processor would not even take.
pub fn refused_charge(saved: Option<&SavedMethod>) -> Charge {
    let details = saved
        .map(|m| Tokenized {
            token: String::new(),
            brand: m.brand.clone(),
            last4: m.last4.clone(),
            exp_month: m.exp_month.map(|v| v as u32),
            exp_year: m.exp_year.map(|v| v as u32),
            funding: m.funding,
            bank_name: m.bank_name.clone(),
            account_type: m.account_type.clone(),
        })
        .unwrap_or_default();
    Charge {
        outcome: Outcome::Declined { processor_ref: String::new(), decline_code: "invalid_payment_method".into() },
        details,
    }
}

/// Step 3 of an authorization: the payment (approved, pending ACH, or failed), its ledger, its
/// events and the answer, in one transaction. Recovery calls it too; the second caller writes
/// nothing and answers what the first wrote.
pub async fn finish_authorize(
    state: &AppState,
    account: &Account,
    op: &Operation,
    record: &DirectRecord,
    charge: Charge,
) -> ApiResult<Answer> {
    let now = now_ms();
    let shown: MethodDetails = charge.details.shown_as(record.method_type);
    let (status, decline): (PaymentStatus, Option<(ErrorCode, String)>) = match &charge.outcome {
        Outcome::Approved { pending: true, .. } => (PaymentStatus::Processing, None),
        Outcome::Approved { captured: true, .. } => (PaymentStatus::Captured, None),
        Outcome::Approved { .. } => (PaymentStatus::Authorized, None),
        Outcome::Declined { decline_code, .. } => {
            (PaymentStatus::Failed, Some((ErrorCode::of_decline(decline_code), decline_code.clone())))
        }
        // Nobody is there to be challenged: a failed payment that needs the customer.
        Outcome::ChallengeRequired => {
            let code = ErrorCode::AuthenticationRequired;
            (PaymentStatus::Failed, Some((code, code.as_str().to_owned())))
        }
    };
    let mut payment =
        Payment::new(&account.uid, status, record.amount, record.currency.clone(), shown, &account.processor_type);
    payment.id = op.payment_id.clone();
    payment.customer_id = record.customer_id.clone();
    payment.description = record.description.clone();
    payment.reference = record.reference.clone();
    payment.metadata = record.metadata.clone();
    payment.consent = record.consent.clone();
    match &charge.outcome {
        Outcome::Approved { processor_ref, avs_result, captured, .. } => {
            payment.processor_ref = Some(processor_ref.clone());
            payment.avs_result = avs_result.clone();
            if *captured {
                payment.amount_captured = record.amount;
            }
        }
        Outcome::Declined { processor_ref, .. } => {
            payment.processor_ref = (!processor_ref.is_empty()).then(|| processor_ref.clone());
        }
        Outcome::ChallengeRequired => {}
    }
    payment.decline_code = decline.as_ref().map(|(_, code)| code.clone());

    let mut tx = state.db().begin_write().await?;
    let op_status = if decline.is_some() { OperationStatus::Failed } else { OperationStatus::Succeeded };
    if !operations::finish(&mut tx, &op.id, op_status, payment.decline_code.as_deref(), now).await? {
        tx.end_refused().await?;
        if let Some(undo) = undo_if_abandoned(state, op, &charge).await? {
            return Err(undo.given_up("try again"));
        }
        return answer_of_payment(state, account, &op.payment_id).await;
    }
    payments::insert(&mut tx, &payment).await?;
    let (ledger, kinds): (Vec<(TransactionKind, Amount)>, Vec<EventType>) = match status {
        PaymentStatus::Failed => (vec![(TransactionKind::Failure, record.amount)], vec![EventType::PaymentFailed]),
        PaymentStatus::Processing => {
            (vec![(TransactionKind::Authorization, record.amount)], vec![EventType::PaymentProcessing])
        }
        PaymentStatus::Captured => (
            vec![(TransactionKind::Authorization, record.amount), (TransactionKind::Capture, record.amount)],
            vec![EventType::PaymentAuthorized, EventType::PaymentCaptured, EventType::PaymentSucceeded],
        ),
        _ => (vec![(TransactionKind::Authorization, record.amount)], vec![EventType::PaymentAuthorized]),
    };
    payments::record_initial(&mut tx, &payment.id, &ledger).await?;
    payment_events(&mut tx, &payment, &kinds).await?;
    let answer = match &decline {
        Some((code, decline_code)) => Answer::error(&declined(*code, decline_code, &payment.id)),
        None => Answer::json(StatusCode::CREATED, &PaymentObject::from(&payment)),
    };
    answer_key(&mut tx, op, &answer).await?;
    tx.commit().await?;
    tracing::info!(payment = %payment.id, status = %payment.status, "direct payment");
    metrics::counter!("govifi_direct_payments_total", "status" => payment.status.as_str()).increment(1);
    Ok(answer)
}

/// 402 for a declined direct payment, naming the failed payment that was kept.
fn declined(code: ErrorCode, decline_code: &str, payment_id: &str) -> ApiError {
    let err = if code == ErrorCode::AuthenticationRequired {
        card_error(code, "The card needs the customer to pass a verification challenge; charge it on a checkout")
    } else {
        decline(decline_code)
    };
    err.with_extra("payment_id", payment_id)
}

/// The answer for a payment someone else already wrote.
async fn answer_of_payment(state: &AppState, account: &Account, payment_id: &str) -> ApiResult<Answer> {
    let payment = payments::get(state.db(), &account.uid, payment_id)
        .await?
        .ok_or_else(|| ApiError::invalid_state("This payment attempt was abandoned; try again"))?;
    Ok(match (&payment.status, &payment.decline_code) {
        (PaymentStatus::Failed, Some(code)) => Answer::error(&declined(ErrorCode::of_decline(code), code, &payment.id)),
        _ => Answer::json(StatusCode::CREATED, &PaymentObject::from(&payment)),
    })
}
