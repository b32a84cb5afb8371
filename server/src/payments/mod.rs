//! Money after the checkout (SPEC §7): direct payments (`validate`, autopay), captures, voids,
//! refunds, ACH settlement and terminals. The API and (later) the dashboard both come here.
//!
//! Every movement is an [`Operation`] with a stable id that the processor sees as its
//! idempotency reference, in three steps:
//!
//! 1. one transaction records the operation and reserves what it needs on the payment with a
//!    conditional UPDATE (a capture or void holds the payment; a refund reserves its amount
//!    against what is left), so racing requests in any process cannot both have it;
//! 2. the processor call, with the operation's id as the reference;
//! 3. one transaction applies the move (status and amounts in the `WHERE`), appends the ledger
//!    entry, writes the events and the idempotent answer, and marks the operation done.
//!
//! A crash between 1 and 3 leaves the operation `pending`; [`recovery::recover_stuck`] asks the
//! processor (or repeats the idempotent call) and finishes it the same way.

pub mod abandoned;
pub mod direct;
pub mod movements;
pub mod recovery;
pub mod settlement;
pub mod terminals;

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde_json::Value;
use sqlx::AnyConnection;

use crate::domain::event::EventType;
use crate::domain::ids::has_shape;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::idempotency::Idempotency;
use crate::processor::{Charge, ProcessorError};
use crate::state::AppState;
use crate::store::operations::{self, Operation};
use crate::store::payments::{self, Payment};
use crate::store::{WriteTx, accounts, events, idempotency};

/// The account's payment `id`, or 404.
pub async fn find(state: &AppState, account_uid: &str, id: &str) -> ApiResult<Payment> {
    if !has_shape(id, "pay") {
        return Err(ApiError::not_found("payment"));
    }
    payments::get(state.db(), account_uid, id).await?.ok_or_else(|| ApiError::not_found("payment"))
}

/// An answer ready to send (and to replay for its `Idempotency-Key`).
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: StatusCode,
    pub body: String,
}

impl Answer {
    pub fn json<T: serde::Serialize>(status: StatusCode, value: &T) -> Self {
        Answer { status, body: crate::store::to_json_text(value) }
    }

    /// An error object as the answer (a decline that keeps its failed payment).
    pub fn error(err: &ApiError) -> Self {
        Answer { status: err.status(), body: err.body_text() }
    }
}

impl IntoResponse for Answer {
    fn into_response(self) -> Response {
        (self.status, [(header::CONTENT_TYPE, "application/json")], self.body).into_response()
    }
}

/// Runs a money movement under an `Idempotency-Key` (one key space per account, so a key names
/// one request to one path), for the API and the dashboard alike: a retry replays the first
/// answer, the same key with another body is 422, and once the movement is recorded its key is
/// answered only by its end (see [`Idempotency::hand_to_operation`]).
pub async fn keyed<T: DeserializeOwned>(
    state: &AppState,
    account_uid: &str,
    key: Option<String>,
    path: &str,
    raw: Value,
    run: impl AsyncFnOnce(T, &Idempotency) -> ApiResult<Answer>,
) -> Response {
    crate::idempotency::keyed(
        state.db(),
        &state.config().master_key,
        format!("payments:{account_uid}"),
        key,
        path,
        raw,
        run,
    )
    .await
}

/// Writes the operation's idempotent answer, in the transaction that finishes it.
async fn answer_key(conn: &mut AnyConnection, op: &Operation, answer: &Answer) -> Result<(), sqlx::Error> {
    if let Some((scope, key)) = &op.idempotency {
        let request_id = crate::telemetry::current_request_id().unwrap_or_default();
        idempotency::finish(conn, scope, key, answer.status.as_u16(), &answer.body, &request_id).await?;
    }
    Ok(())
}

/// A charge the processor approved after recovery had given its operation up (recovery asked
/// first, when the processor had not seen it yet): no payment records it, so it is undone, and
/// the undo's outcome is answered. None for an operation finished any other way (with this very
/// charge), which needs nothing.
async fn undo_if_abandoned(state: &AppState, op: &Operation, charge: &Charge) -> ApiResult<Option<abandoned::Undo>> {
    let given_up = operations::get(state.db(), &op.id)
        .await?
        .is_some_and(|f| f.failure_code.as_deref() == Some(recovery::ABANDONED));
    if !given_up {
        return Ok(None);
    }
    let account = accounts::get(state.db(), &op.account_uid)
        .await?
        .ok_or_else(|| anyhow::anyhow!("operation {} without account", op.id))?;
    Ok(Some(abandoned::undo_charge(state, &account, charge, op.amount, &op.id, crate::store::now_ms()).await))
}

/// The processor did not answer: the operation stays pending and recovery resolves it.
fn unavailable(op: &Operation, err: &anyhow::Error) -> ApiError {
    tracing::error!(error = format!("{err:#}"), operation = %op.id, kind = %op.kind, "processor unavailable");
    ApiError::new(
        ErrorCode::ProcessorUnavailable,
        "The payment processor did not answer; the operation will be completed shortly",
    )
}

/// How a processor error ends an operation: refused (finish it as failed) or unknown (pending).
enum Called<T> {
    Done(T),
    Refused(&'static str),
    Unknown(anyhow::Error),
}

impl<T> From<Result<T, ProcessorError>> for Called<T> {
    fn from(r: Result<T, ProcessorError>) -> Self {
        match r {
            Ok(v) => Called::Done(v),
            Err(ProcessorError::Refused(why)) => Called::Refused(why),
            Err(ProcessorError::Unavailable(e)) => Called::Unknown(e),
        }
    }
}

/// Records an event about a payment (the payment as the API shows it).
async fn payment_event(conn: &mut WriteTx, payment: &Payment, kind: EventType) -> Result<(), sqlx::Error> {
    payment_events(conn, payment, &[kind]).await
}

/// Records several events about a payment, in this order.
async fn payment_events(conn: &mut WriteTx, payment: &Payment, kinds: &[EventType]) -> Result<(), sqlx::Error> {
    let data = events::data(&crate::views::PaymentObject::from(payment));
    let items: Vec<(EventType, String)> = kinds.iter().map(|k| (*k, data.clone())).collect();
    events::record_all(conn, &payment.account_uid, &items).await
}
