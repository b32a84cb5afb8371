//! Confirm, exactly once (SPEC §5).
//!
//! 1. Checks that need no lock: session state, the fee quote, the instrument (402s, 400s), AVS,
//!    step-up.
//! 2. The claim: one conditional UPDATE moves the session `active → processing` for this attempt
//!    (only at the quoted version, with attempts left), and the attempt is recorded — one
//!    transaction. Every other confirm now fails the claim.
//! 3. The processor call, with the attempt id as its idempotency key.
//! 4. [`finish_attempt`]: in one transaction, the payment (or the failed attempt), its ledger,
//!    the consent record, the saved method, the events, the idempotency answer, and the session
//!    `processing → completed` (or back to `active`).
//!
//! A crash between 2 and 4 leaves the session `processing`; [`recover_stuck`] asks the processor
//! about the attempt and finishes it the same way. The unique index on payments' `attempt_id`
//! (and on a session's live payment) makes a second payment impossible even then.

use std::time::Instant;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::{merchant_view, wallet_unlocked};
use crate::auth::secrets::fingerprint;
use crate::domain::account::MethodType;
use crate::domain::card::{card_error, decline};
use crate::domain::event::EventType;
use crate::domain::fees::fee_for;
use crate::domain::ids::{has_shape, new_id};
use crate::domain::money::{Amount, Currency};
use crate::domain::payment::{
    Consent, Mandate, PaymentStatus, RequestInfo, TransactionKind, Usage, checkout_mandate_text,
};
use crate::domain::payment_method::{Billing, PaymentMethodInput};
use crate::domain::session::{AttemptStatus, AvsField, FutureUsage, SessionStatus, signed_success_url};
use crate::domain::time::Timestamp;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::idempotency::Idempotency;
use crate::payments::Answer;
use crate::processor::{AuthorizeRequest, Charge, Checked, Outcome, ProcessorError};
use crate::state::AppState;
use crate::store::accounts::Account;
use crate::store::batch::Batch;
use crate::store::customers::{self, NewCustomer};
use crate::store::payment_methods::{self, NewSavedMethod};
use crate::store::payments::{self, Payment};
use crate::store::quotes::{self, Quote};
use crate::store::sessions::{self, MAX_CONFIRM_ATTEMPTS, Session};
use crate::store::{WriteTx, Written, attempts, events, is_unique_violation, now_ms};
use crate::views::{CustomerObject, PaymentMethodObject, PaymentObject};
use app::wire::ConfirmStatus;

/// `POST /v1/hosted-sessions/{id}/confirm`
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfirmRequest {
    /// Required (SPEC §5): its absence is answered 400 `parameter_missing` by the handler,
    /// which reads it as optional so that it can name the parameter.
    #[serde(default)]
    #[schema(required = true, nullable = false)]
    pub fee_quote_id: Option<String>,
    pub payment_method: PaymentMethodInput,
    #[serde(default)]
    pub save_payment_method: bool,
}

/// What an attempt needs to be finished by anyone, later (stored with the attempt).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AttemptRecord {
    pub amount: Amount,
    pub fee_amount: Amount,
    pub total_amount: Amount,
    pub currency: Currency,
    pub method_type: MethodType,
    pub save: bool,
    pub consent: Consent,
    /// The instrument's fingerprint (keyed HMAC of the card or bank account), for a method
    /// saved from this attempt: recovery, which never sees the card, saves it with this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    /// The request's `Idempotency-Key` (key space, key): whoever finishes the attempt, the
    /// request or recovery, stores the key's answer with the outcome.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<(String, String)>,
}

/// The session's fee quote named `id`, if any (read by the route beside the idempotency key, so
/// that the two reads cost one wait).
pub async fn load_quote(state: &AppState, session_id: &str, id: Option<&str>) -> ApiResult<Option<Quote>> {
    match id {
        Some(id) if has_shape(id, "fq") => Ok(quotes::get(state.db(), session_id, id).await?),
        _ => Ok(None),
    }
}

pub fn stale(message: &str) -> ApiError {
    ApiError::new(ErrorCode::QuoteStale, message)
}

fn authentication_required() -> ApiError {
    card_error(ErrorCode::AuthenticationRequired, "The customer must pass a verification challenge first")
}

/// The refusal for a session that is not (or no longer) open for a confirm.
pub fn closed(s: &Session, now: i64) -> Option<ApiError> {
    match s.status_at(now) {
        SessionStatus::Expired => Some(ApiError::session_expired("This checkout session has expired")),
        SessionStatus::Completed => {
            Some(ApiError::new(ErrorCode::AlreadyConfirmed, "This checkout session is already paid"))
        }
        SessionStatus::Processing => {
            Some(ApiError::new(ErrorCode::ConfirmInProgress, "A payment for this session is being processed"))
        }
        SessionStatus::Active => None,
    }
}

fn require_avs(session: &Session, billing: Option<&Billing>) -> ApiResult<()> {
    for field in &session.required_avs_fields {
        let (param, present) = match field {
            AvsField::Cardholder => ("cardholder_name", billing.and_then(|b| b.cardholder_name.as_deref())),
            AvsField::Zip => ("postal_code", billing.and_then(|b| b.postal_code.as_deref())),
            AvsField::Address => ("address_line1", billing.and_then(|b| b.address_line1.as_deref())),
        };
        if present.is_none_or(|v| v.trim().is_empty()) {
            return Err(ApiError::missing(format!("payment_method.billing.{param}")));
        }
    }
    Ok(())
}

fn allowed(session: &Session, kind: MethodType) -> ApiResult<()> {
    // (A session made before ACH was kept to USD may list it in another currency.)
    if session.allowed_methods.contains(&kind) && crate::accounts::takes_in(kind, &session.currency) {
        Ok(())
    } else {
        Err(ApiError::invalid("payment_method.type", format!("{} is not offered on this checkout", kind.as_str())))
    }
}

/// The whole confirm; the answer is a response because idempotent replays are answers too.
/// `quote` is [`load_quote`] of the request's `fee_quote_id`, read ahead by the caller.
pub async fn confirm(
    state: &AppState,
    session: Session,
    account: &Account,
    request: ConfirmRequest,
    quote: ApiResult<Option<Quote>>,
    client: RequestInfo,
    idempotency: Idempotency,
) -> Response {
    match run(state, session, account, request, quote, client, &idempotency).await {
        Ok(response) => response,
        // The session's own state answers retries after a crash (recovery does not answer keys).
        Err(err) => idempotency.conclude(state.db(), err).await,
    }
}

async fn run(
    state: &AppState,
    session: Session,
    account: &Account,
    req: ConfirmRequest,
    quote: ApiResult<Option<Quote>>,
    client: RequestInfo,
    idempotency: &Idempotency,
) -> ApiResult<Response> {
    let started = Instant::now();
    let now = now_ms();
    let session = super::expire_if_due(state, session, now).await?;
    if let Some(refusal) = closed(&session, now) {
        return Err(refusal);
    }

    // The fee quote binds the confirm to what the customer was shown.
    if req.fee_quote_id.is_none() {
        return Err(ApiError::missing("fee_quote_id"));
    }
    let quote =
        quote?.ok_or_else(|| ApiError::invalid("fee_quote_id", "fee_quote_id names no quote of this session"))?;
    if quote.expires_at <= now {
        return Err(stale("The fee quote has expired; ask for a new one"));
    }
    if quote.session_version != session.version || quote.amount != session.amount {
        return Err(stale("The amount changed since the fee was quoted; ask for a new quote"));
    }

    // The instrument, checked before anything is charged.
    let processor = state.processor(account)?;
    let year_month = Timestamp(now).year_month();
    let billing = req.payment_method.billing();
    let (checked, kind, funding) = match &req.payment_method {
        PaymentMethodInput::Card { card, billing } => {
            allowed(&session, MethodType::Card)?;
            let card = card.check(year_month, true)?;
            require_avs(&session, billing.as_ref())?;
            let funding = processor.card_funding(card.number.bin8()).await;
            (Checked::Card(card), MethodType::Card, Some(funding))
        }
        PaymentMethodInput::Ach { ach, .. } => {
            allowed(&session, MethodType::Ach)?;
            (Checked::Bank(ach.check("payment_method.ach")?), MethodType::Ach, None)
        }
        PaymentMethodInput::ApplePay { apple_pay, .. } => {
            allowed(&session, MethodType::ApplePay)?;
            (Checked::ApplePay(apple_pay.check("payment_method.apple_pay.token")?), MethodType::ApplePay, None)
        }
        PaymentMethodInput::Saved { saved } => {
            if !wallet_unlocked(&session) {
                return Err(if session.customer_id.is_some() {
                    authentication_required()
                } else {
                    ApiError::invalid(
                        "payment_method.saved.payment_method_id",
                        "this session has no customer with saved methods",
                    )
                });
            }
            let customer_id = session.customer_id.as_deref().unwrap_or_default();
            let method = if has_shape(&saved.payment_method_id, "pm") {
                payment_methods::get(state.db(), &session.account_uid, customer_id, &saved.payment_method_id).await?
            } else {
                None
            };
            let method = method.ok_or_else(|| {
                ApiError::invalid(
                    "payment_method.saved.payment_method_id",
                    "no such saved payment method for this customer",
                )
            })?;
            // A saved method was checked (and address-verified) when it was saved; only its
            // expiry can have changed.
            crate::customers::chargeable(&method, Timestamp::now())?;
            let kind = method.kind;
            allowed(&session, kind)?;
            let funding = method.funding;
            let token = method.processor_token(&state.config().master_key)?;
            (Checked::Saved { token }, kind, funding)
        }
    };

    // The quote was for this method, and the instrument falls under the quoted fee rule.
    let quoted_saved = quote.saved_method.as_deref();
    let method_matches = match &req.payment_method {
        PaymentMethodInput::Saved { saved } => quoted_saved == Some(saved.payment_method_id.as_str()),
        _ => quoted_saved.is_none() && quote.method_type == kind,
    };
    if !method_matches {
        return Err(stale("The fee was quoted for another payment method; ask for a new quote"));
    }
    let fee = fee_for(&account.fee_rules, kind, funding, session.amount);
    if fee.rule_index.map(|i| i as i64) != quote.rule_index || fee.amount != quote.fee_amount {
        return Err(stale("This card falls under a different fee than the one quoted; ask for a new quote"));
    }

    // Step-up before anything reaches the processor.
    if session.risk_demands_challenge() && !session.challenge_satisfied {
        return Err(authentication_required());
    }

    let save = req.save_payment_method
        && session.setup_future_usage != FutureUsage::Off
        && matches!(checked, Checked::Card(_) | Checked::Bank(_));
    let mandate = (session.setup_future_usage == FutureUsage::OffSession && save)
        .then(|| checkout_mandate_text(&merchant_name(account, &session), session.locale));
    let instrument_print = match (&checked, save) {
        (Checked::Card(card), true) => Some(crate::customers::card_print(state, account, card)),
        (Checked::Bank(bank), true) => Some(crate::customers::bank_print(state, account, bank)),
        _ => None,
    };
    let record = AttemptRecord {
        amount: session.amount,
        fee_amount: quote.fee_amount,
        total_amount: quote.total_amount,
        currency: session.currency.clone(),
        method_type: kind,
        save,
        consent: Consent {
            fee_quote_id: Some(quote.id.clone()),
            fee_amount: quote.fee_amount,
            disclosure: quote.disclosure.clone(),
            mandate,
            accepted_at: Timestamp(now).to_rfc3339(),
            ip: client.ip,
            user_agent: client.user_agent,
        },
        fingerprint: instrument_print,
        key: idempotency.named_key(),
    };

    // The claim: the idempotency key, one conditional UPDATE, and the attempt, as one write of
    // one round trip (on PostgreSQL one statement); if the key or the session was taken
    // meanwhile, none of the three is kept.
    let attempt_id = new_id("att");
    let mut claim = Batch::new();
    let key = idempotency.take_stmt().map(|take| claim.push_guard(take));
    // The session's end is judged at the claim, not at the request's start: the checks above
    // may have asked the processor (the card's funding) meanwhile. A refusal says why at the
    // same instant.
    let claim_at = now_ms();
    claim.push_guard(sessions::claim_for_confirm(&session.id, quote.session_version, &attempt_id, claim_at));
    claim.push(attempts::insert_stmt(&attempt_id, &session.id, &record, now));
    let started = timed("checks", started);
    let claimed = state.db().write(claim).await?;
    let started = timed("claim", started);
    match claimed {
        // From here the attempt owns the key: its finish (here, or recovery's after a crash or
        // a processor that did not answer) answers it, so a retry never charges again.
        Written::Kept(_) => {
            idempotency.mark_taken();
            idempotency.hand_to_operation();
        }
        // Nothing was written: another request took the key first, or the session was not
        // claimable (PostgreSQL does not say which: a key held elsewhere is committed there).
        Written::Refused(Some(changed)) if key.is_some_and(|key| changed[key] != 1) => {
            return Ok(idempotency.taken_elsewhere(state.db()).await?);
        }
        Written::Refused(Some(_)) => return Err(claim_refusal(state, &session.id, &quote, claim_at).await?),
        Written::Refused(None) => {
            if let Some(answer) = idempotency.held_elsewhere(state.db()).await? {
                return Ok(answer);
            }
            return Err(claim_refusal(state, &session.id, &quote, claim_at).await?);
        }
    }

    let instrument = checked.instrument();
    let charge = processor
        .authorize(AuthorizeRequest {
            reference: &attempt_id,
            amount: quote.total_amount,
            currency: &session.currency,
            instrument,
            capture: true,
            billing,
            challenge_passed: session.challenge_satisfied,
            reject_avs_mismatch: account.reject_avs_mismatch,
            save,
        })
        .await;
    let started = timed("authorize", started);
    let charge = match charge {
        Ok(charge) => charge,
        Err(ProcessorError::Refused(why)) => {
            // The processor refused the instrument outright (e.g. an Apple Pay token it cannot use).
            tracing::info!(attempt = %attempt_id, reason = why, "processor refused the instrument");
            Charge {
                outcome: Outcome::Declined {
                    processor_ref: String::new(),
                    decline_code: "invalid_payment_method".into(),
                },
                details: crate::processor::Tokenized::default(),
            }
        }
        Err(ProcessorError::Unavailable(e)) => {
            // The attempt's fate is unknown: the session stays `processing` and recovery asks the
            // processor about it later.
            tracing::error!(error = format!("{e:#}"), attempt = %attempt_id, "processor unavailable during confirm");
            return Err(ApiError::new(
                ErrorCode::ProcessorUnavailable,
                "The payment processor did not answer; the payment will be resolved shortly",
            ));
        }
    };
    let finished = finish_attempt(state, &session, account, &attempt_id, &record, charge, Some(idempotency)).await;
    timed("finish", started);
    finished
}

/// Records how long a step of a confirm took (`govifi_confirm_step_seconds{step}`, which
/// `cargo xtask bench` prints); the next step starts now.
fn timed(step: &'static str, since: Instant) -> Instant {
    let now = Instant::now();
    metrics::histogram!("govifi_confirm_step_seconds", "step" => step).record((now - since).as_secs_f64());
    now
}

/// Why a claim failed, read back from the session.
async fn claim_refusal(state: &AppState, id: &str, quote: &Quote, now: i64) -> ApiResult<ApiError> {
    let Some(s) = sessions::get(state.db(), id).await? else { return Ok(ApiError::not_found("hosted session")) };
    if let Some(refusal) = closed(&s, now) {
        return Ok(refusal);
    }
    if s.version != quote.session_version {
        return Ok(stale("The amount changed since the fee was quoted; ask for a new quote"));
    }
    if s.confirm_attempts >= MAX_CONFIRM_ATTEMPTS {
        let until = ((s.expires_at - now) / 1000).max(1) as u64;
        return Ok(ApiError::rate_limited(until).with_param("confirm"));
    }
    Ok(ApiError::new(ErrorCode::ConfirmInProgress, "A payment for this session is being processed"))
}

/// The merchant's name as this checkout shows it (the session's branding first).
pub(crate) fn merchant_name(account: &Account, s: &Session) -> String {
    s.branding.as_ref().and_then(|b| b.display_name.clone()).unwrap_or_else(|| account.display_name())
}

/// Finishes an attempt the processor has answered, in one transaction. Used by the confirm
/// itself and by crash recovery; whichever comes second finds the session no longer held by the
/// attempt and changes nothing.
pub async fn finish_attempt(
    state: &AppState,
    session: &Session,
    account: &Account,
    attempt_id: &str,
    record: &AttemptRecord,
    charge: Charge,
    idempotency: Option<&Idempotency>,
) -> ApiResult<Response> {
    let now = now_ms();
    let shown = charge.details.shown_as(record.method_type);
    match &charge.outcome {
        Outcome::Approved { processor_ref, avs_result, pending, captured } => {
            let status = if *pending {
                PaymentStatus::Processing
            } else if *captured {
                PaymentStatus::Captured
            } else {
                PaymentStatus::Authorized
            };
            let mut payment = Payment::new(
                &session.account_uid,
                status,
                record.amount,
                session.currency.clone(),
                shown,
                &account.processor_type,
            );
            payment.fee_amount = record.fee_amount;
            payment.total_amount = record.total_amount;
            payment.amount_captured = if *captured { record.total_amount } else { Amount::ZERO };
            payment.avs_result = avs_result.clone();
            payment.session_id = Some(session.id.clone());
            payment.attempt_id = Some(attempt_id.to_owned());
            payment.processor_ref = Some(processor_ref.clone());
            payment.reference = session.reference.clone();
            payment.description = session.description.clone();
            payment.metadata = session.metadata.clone();
            payment.consent = Some(record.consent.clone());

            // Saving the method (rare) writes the customer and the method on their own first.
            let mut saving = if record.save { Some(state.db().begin_write().await?) } else { None };
            // The customer the payment (and any saved method) belongs to.
            let mut customer_id = session.customer_id.clone();
            let mut news: Vec<(EventType, String)> = Vec::new();
            if let (Some(tx), None) = (saving.as_mut(), &customer_id) {
                let customer = customers::insert(
                    tx,
                    &session.account_uid,
                    NewCustomer { email: session.customer_email.clone(), ..Default::default() },
                )
                .await?;
                news.push((EventType::CustomerCreated, events::data(&CustomerObject::from(customer.clone()))));
                customer_id = Some(customer.id);
            }
            payment.customer_id = customer_id.clone();

            // The session's move and everything that goes with it: one batch, one round trip. The
            // move is conditional; if it changed nothing, the transaction is dropped.
            let mut finish = Batch::new();
            finish.push_guard(sessions::complete_stmt(
                &session.id,
                attempt_id,
                &payment.id,
                record.fee_amount,
                record.total_amount,
                customer_id.as_deref(),
                now,
            ));
            finish.push(payments::insert_stmt(&payment));
            let mut ledger = vec![(TransactionKind::Authorization, record.total_amount)];
            if *captured {
                ledger.push((TransactionKind::Capture, record.total_amount));
            }
            finish.extend(payments::initial_stmt(&payment.id, &ledger));
            if let (Some(tx), Some(customer_id), false) =
                (saving.as_mut(), &customer_id, charge.details.token.is_empty())
            {
                let usage = if session.setup_future_usage == FutureUsage::OffSession {
                    Usage::OffSession
                } else {
                    Usage::OnSession
                };
                // The mandate the customer accepted on this checkout goes with the method.
                let mandate = record.consent.mandate.as_ref().map(|text| Mandate {
                    text: text.clone(),
                    accepted_at: record.consent.accepted_at.clone(),
                    ip: record.consent.ip.clone(),
                    user_agent: record.consent.user_agent.clone(),
                });
                // (An attempt recorded before fingerprints were kept: a keyed hash of the token,
                // never the token itself.)
                let print = record
                    .fingerprint
                    .clone()
                    .unwrap_or_else(|| fingerprint(&state.config().master_key, "token", &charge.details.token));
                // A customer deleted meanwhile gets nothing saved; the payment stands.
                let saved = payment_methods::insert(
                    tx,
                    &state.config().master_key,
                    NewSavedMethod {
                        account_uid: &session.account_uid,
                        customer_id,
                        kind: record.method_type,
                        tokenized: &charge.details,
                        usage,
                        fingerprint: print,
                        mandate,
                    },
                )
                .await?;
                if let Some(saved) = saved {
                    news.push((EventType::PaymentMethodSaved, events::data(&PaymentMethodObject::from(saved))));
                }
            }
            let view = events::data(&PaymentObject::from(&payment));
            if *pending {
                news.push((EventType::PaymentProcessing, view));
            } else {
                news.push((EventType::PaymentAuthorized, view.clone()));
                if *captured {
                    news.push((EventType::PaymentCaptured, view.clone()));
                    news.push((EventType::PaymentSucceeded, view));
                }
            }
            // The session as it now stands (just completed by this transaction).
            let mut completed = session.clone();
            completed.status = SessionStatus::Completed;
            completed.payment_id = Some(payment.id.clone());
            completed.fee_amount = Some(record.fee_amount);
            completed.total_amount = Some(record.total_amount);
            completed.completed_at = Some(now);
            completed.updated_at = now;
            completed.processing_attempt = None;
            completed.customer_id = customer_id.clone();
            news.push((EventType::CheckoutSessionCompleted, events::data(&merchant_view(state, &completed, now)?)));
            finish.extend(events::record_all_stmts(&session.account_uid, &news).into_iter().flatten());
            finish.push(attempts::finish_stmt(attempt_id, AttemptStatus::Succeeded, now));

            let secret = account.redirect_secret(&state.config().master_key)?;
            let result = app::wire::ConfirmResult {
                status: if *pending { ConfirmStatus::Processing } else { ConfirmStatus::Succeeded },
                session_id: session.id.clone(),
                payment_id: payment.id.clone(),
                amount: record.amount.minor(),
                fee_amount: record.fee_amount.minor(),
                total_amount: record.total_amount.minor(),
                currency: session.currency.to_string(),
                redirect_url: signed_success_url(&session.success_url, &session.id, &payment.id, now / 1000, &secret),
            };
            let body = serde_json::to_string(&result).map_err(anyhow::Error::from)?;
            finish.extend(idempotency.and_then(|idem| idem.finish_stmt(StatusCode::OK, &body)));
            if !finish_moved(state, saving, finish).await? {
                // Approved after recovery gave the attempt up (the processor had not seen it when
                // asked): no payment records this charge, so it is undone at the processor.
                if attempts::status(state.db(), attempt_id).await? == Some(AttemptStatus::Abandoned) {
                    let undo = crate::payments::abandoned::undo_charge(
                        state,
                        account,
                        &charge,
                        record.total_amount,
                        attempt_id,
                        now_ms(),
                    )
                    .await;
                    tracing::warn!(session = %session.id, attempt = %attempt_id, undo = ?undo, "a confirm approved after recovery reopened its session");
                }
                return already_finished(state, &session.id, idempotency, now).await;
            }
            tracing::info!(session = %session.id, payment = %payment.id, status = %payment.status, "checkout completed");
            metrics::counter!("govifi_confirms_total", "outcome" => "succeeded").increment(1);
            Ok((StatusCode::OK, [(axum::http::header::CONTENT_TYPE, "application/json")], body).into_response())
        }
        Outcome::Declined { processor_ref, decline_code } => {
            let mut payment = Payment::new(
                &session.account_uid,
                PaymentStatus::Failed,
                record.amount,
                session.currency.clone(),
                shown,
                &account.processor_type,
            );
            payment.fee_amount = record.fee_amount;
            payment.total_amount = record.total_amount;
            payment.decline_code = Some(decline_code.clone());
            payment.session_id = Some(session.id.clone());
            payment.attempt_id = Some(attempt_id.to_owned());
            payment.processor_ref = (!processor_ref.is_empty()).then(|| processor_ref.clone());
            payment.customer_id = session.customer_id.clone();
            payment.reference = session.reference.clone();
            payment.description = session.description.clone();
            payment.metadata = session.metadata.clone();
            let mut finish = Batch::new();
            finish.push_guard(sessions::release_stmt(&session.id, attempt_id, now));
            finish.push(payments::insert_stmt(&payment));
            finish.extend(payments::initial_stmt(&payment.id, &[(TransactionKind::Failure, record.total_amount)]));
            let failed = [(EventType::PaymentFailed, events::data(&PaymentObject::from(payment)))];
            finish.extend(events::record_all_stmts(&session.account_uid, &failed).into_iter().flatten());
            finish.push(attempts::finish_stmt(attempt_id, AttemptStatus::Declined, now));
            // A decline is repeated for its key, like any refusal of the request.
            let answer = Answer::error(&decline(decline_code));
            finish.extend(idempotency.and_then(|idem| idem.finish_stmt(answer.status, &answer.body)));
            if !finish_moved(state, None, finish).await? {
                return already_finished(state, &session.id, idempotency, now).await;
            }
            metrics::counter!("govifi_confirms_total", "outcome" => "declined").increment(1);
            Ok(answer.into_response())
        }
        Outcome::ChallengeRequired => {
            let mut finish = Batch::new();
            finish.push_guard(sessions::release_stmt(&session.id, attempt_id, now));
            finish.push(attempts::finish_stmt(attempt_id, AttemptStatus::ChallengeRequired, now));
            // After the challenge the same key confirms again.
            finish.extend(idempotency.and_then(Idempotency::release_stmt));
            if !finish_moved(state, None, finish).await? {
                return already_finished(state, &session.id, idempotency, now).await;
            }
            Err(authentication_required())
        }
    }
}

/// Runs and commits a finish batch whose guard is the session's conditional move out of
/// `processing` (in `tx` when one is open, else as a write of its own). False, with nothing
/// written, when another path (recovery, or a retry) finished the attempt first: the move
/// changed no row, or the payment's insert met that path's payment.
async fn finish_moved(state: &AppState, tx: Option<WriteTx>, finish: Batch) -> ApiResult<bool> {
    let ran = match tx {
        Some(mut tx) => {
            let guards = finish.guards().to_vec();
            let ran = match tx.run(finish).await {
                Ok(changed) if Batch::guards_hold(&guards, &changed) => return Ok(tx.commit().await.map(|()| true)?),
                Ok(_) => Ok(false),
                Err(e) => Err(e),
            };
            // Refused: the customer and method written before the finish are rolled back with
            // it, and what refused it (recovery's work, on SQLite perhaps still uncommitted in
            // the writer's group) is waited for, so that the reads after this see it.
            drop(tx);
            // (Failing that wait must not skip the undo the caller makes next.)
            if let Err(e) = state.db().settled().await {
                tracing::warn!(error = %e, "waiting for the writer after a refused finish");
            }
            ran
        }
        None => state.db().write(finish).await.map(|written| matches!(written, Written::Kept(_))),
    };
    match ran {
        Err(e) if is_unique_violation(&e) => Ok(false),
        ran => Ok(ran?),
    }
}

/// The answer when another path (recovery) finished the attempt first: the answer it kept for
/// the request's key, as a retry with the key would get it; else what the session now says.
async fn already_finished(
    state: &AppState,
    id: &str,
    idempotency: Option<&Idempotency>,
    now: i64,
) -> ApiResult<Response> {
    if let Some(kept) = idempotency
        && let Some(answer) = kept.kept_answer(state.db()).await?
    {
        return Ok(answer);
    }
    let s = sessions::get(state.db(), id).await?.ok_or_else(|| ApiError::not_found("hosted session"))?;
    Err(closed(&s, now)
        .unwrap_or_else(|| ApiError::new(ErrorCode::ConfirmInProgress, "This payment attempt was already resolved")))
}

/// Sessions held in `processing` for longer than this are considered crashed mid-confirm.
pub const STUCK_AFTER_MS: i64 = 60_000;

/// Resolves confirms a crash left half done: asks the processor about each attempt and
/// finishes it (payment and completion, or back to active). Safe to run in every process.
pub async fn recover_stuck(state: &AppState, now: i64) -> ApiResult<usize> {
    let mut resolved = 0;
    for stuck in sessions::stuck_in_processing(state.db(), now - STUCK_AFTER_MS, now, 50).await? {
        match recover_one(state, &stuck.id, &stuck.attempt_id).await {
            Ok(true) => resolved += 1,
            Ok(false) => {}
            Err(e) => {
                // Asked about again later (sooner while it is young), behind the others.
                let after = crate::domain::time::recheck_after(now - stuck.processing_since);
                tracing::warn!(session = %stuck.id, attempt = %stuck.attempt_id, error = %e, retry_in_ms = after, "recovery will retry");
                sessions::defer_recovery(state.db(), &stuck.id, &stuck.attempt_id, now + after).await?;
            }
        }
    }
    Ok(resolved)
}

/// Resolves one attempt from the processor's record ([`recover_stuck`] runs it for each stuck
/// session; two processes may both run it for one attempt). True when it changed anything.
pub async fn recover_one(state: &AppState, session_id: &str, attempt_id: &str) -> ApiResult<bool> {
    let Some(session) = sessions::get(state.db(), session_id).await? else { return Ok(false) };
    let account = crate::store::accounts::get(state.db(), &session.account_uid)
        .await?
        .ok_or_else(|| anyhow::anyhow!("session without account"))?;
    let record: Option<AttemptRecord> = attempts::record(state.db(), attempt_id).await?;
    let processor = state.processor(&account)?;
    let key = record.as_ref().and_then(|r| r.key.clone());
    let charge = processor.lookup(attempt_id).await.map_err(|e| anyhow::anyhow!("processor lookup: {e}"))?;
    match (charge, record) {
        (Some(charge), Some(record)) => {
            tracing::warn!(session = %session_id, attempt = %attempt_id, "recovering a confirm from the processor's record");
            // Either outcome (a payment or a decline) is written now, with the answer a retry
            // with the request's key gets.
            let key = key.map(|(scope, key)| Idempotency::resumed(scope, key));
            // The answer kept for the key names a request id of its own, as any answer does.
            let finish = finish_attempt(state, &session, &account, attempt_id, &record, charge, key.as_ref());
            // A finish that failed (the database) leaves the session processing: an error here
            // puts the next try off like any other.
            crate::telemetry::as_request(new_id("req"), finish).await?;
            Ok(true)
        }
        // The claim writes the attempt with its record, so this cannot happen; should it, the
        // session stays processing (no one can pay it twice) and recovery warns every hour.
        (Some(_), None) => Err(anyhow::anyhow!("attempt {attempt_id} was charged but has no record").into()),
        (None, record) => {
            // The processor never saw it: nothing was charged. Reopen the session.
            tracing::warn!(session = %session_id, attempt = %attempt_id, "reopening a session whose confirm never reached the processor");
            let now = now_ms();
            let mut tx = state.db().begin_write().await?;
            let released = sessions::release(&mut tx, session_id, attempt_id, now).await?;
            if !released {
                // The attempt ended meanwhile (its request finished it, or another process
                // reopened the session): its record stays as that left it, so that a charge
                // arriving now is undone only when the attempt really was given up.
                tx.end_refused().await?;
                return Ok(false);
            }
            attempts::finish(&mut tx, attempt_id, AttemptStatus::Abandoned, now).await?;
            // Its call may still reach the processor: an approval then is undone (watched from
            // this same transaction, so that a crash of the request that made it leaves none).
            match &record {
                Some(record) => {
                    crate::payments::abandoned::watch_stmt(attempt_id, &session.account_uid, record.total_amount, now)
                        .execute(&mut tx)
                        .await?;
                }
                None => {
                    tracing::error!(attempt = %attempt_id, "an attempt without its record: a late approval cannot be watched")
                }
            }
            // Nothing was charged: a retry with the request's key runs again.
            if let Some((scope, key)) = key {
                crate::store::idempotency::abandon_stmt(&scope, &key).execute(&mut tx).await?;
            }
            tx.commit().await?;
            Ok(released)
        }
    }
}
