//! Payments: `/api/payments` (admin token + account header, or an API key with
//! `payments.read` / `payments.write` / `refunds.write`): direct payments and autopay, capture,
//! void, refunds, and reading payments with their consent record, ledger and refunds.

use axum::extract::{Path, State};
use axum::response::Response;
use serde_json::Value;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::list::{ListQuery, Listable, ODataParams};
use crate::domain::odata::{Field, FieldType, Resource};
use crate::domain::payment::OperationKind;
use crate::error::ApiResult;
use crate::extract::auth::{Merchant, PaymentsRead, PaymentsWrite, RefundsWrite};
use crate::extract::idempotency::IdempotencyKey;
use crate::extract::{Json, NoFields, OptionalBody};
use crate::payments::movements::{self, CaptureRequest, RefundRequest};
use crate::payments::{
    self,
    direct::{self, ValidateRequest},
    keyed,
};
use crate::state::AppState;
use crate::store::operations;
use crate::store::payments::{self as payment_store, Transaction};
use crate::views::{PaymentObject, RefundObject};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_payments))
        .routes(routes!(validate_payment))
        .routes(routes!(get_payment))
        .routes(routes!(list_transactions))
        .routes(routes!(capture_payment))
        .routes(routes!(void_payment))
        .routes(routes!(refund_payment))
        .routes(routes!(list_refunds))
}

pub struct Payments;

impl Listable for Payments {
    const RESOURCE: &'static Resource = &Resource {
        fields: &[
            Field { name: "id", column: "id", ty: FieldType::Text },
            Field {
                name: "status",
                column: "status",
                ty: FieldType::OneOf(crate::domain::payment::PaymentStatus::WORDS),
            },
            Field { name: "amount", column: "amount", ty: FieldType::Int },
            Field { name: "currency", column: "currency", ty: FieldType::Text },
            Field { name: "session_id", column: "session_id", ty: FieldType::Text },
            Field { name: "customer_id", column: "customer_id", ty: FieldType::Text },
            Field { name: "terminal_id", column: "terminal_id", ty: FieldType::Text },
            Field { name: "reference", column: "reference", ty: FieldType::Text },
            Field { name: "created_at", column: "created_at", ty: FieldType::DateTime },
        ],
        key: "id",
        nullable: &["customer_id", "reference", "session_id", "terminal_id"],
        properties: &[
            "id",
            "object",
            "status",
            "amount",
            "fee_amount",
            "total_amount",
            "amount_captured",
            "amount_refunded",
            "currency",
            "payment_method",
            "avs_result",
            "decline_code",
            "session_id",
            "customer_id",
            "terminal_id",
            "processor",
            "reference",
            "description",
            "metadata",
            "consent",
            "created_at",
            "updated_at",
        ],
    };
}

/// Lists the account's payments (OData: id, status, amount, currency, session_id, customer_id,
/// terminal_id, reference, created_at).
#[utoipa::path(
    get, path = "/api/payments", tag = "payments",
    security(("admin_token" = []), ("api_key" = ["payments.read"])),
    params(("X-Payment-Account-Uid" = Option<String>, Header), ODataParams),
    responses((status = 200, description = "{value, @odata.count?, @odata.nextLink?}"), (status = 400), (status = 501))
)]
async fn list_payments(
    auth: Merchant<PaymentsRead>,
    State(state): State<AppState>,
    list: ListQuery<Payments>,
) -> ApiResult<Json<serde_json::Value>> {
    let scope = payment_store::listed(&auth.account.uid, None);
    list.answer::<_, PaymentObject>(state.db(), scope, payment_store::from_row).await
}

/// Gets a payment, with its consent record.
#[utoipa::path(
    get, path = "/api/payments/{id}", tag = "payments",
    security(("admin_token" = []), ("api_key" = ["payments.read"])),
    params(("X-Payment-Account-Uid" = Option<String>, Header)),
    responses((status = 200, body = PaymentObject), (status = 404))
)]
async fn get_payment(
    auth: Merchant<PaymentsRead>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<PaymentObject>> {
    Ok(Json(payments::find(&state, &auth.account.uid, &id).await?.into()))
}

/// A payment's ledger entries (OData: id, type, amount, created_at; oldest first unless
/// `$orderby` says otherwise).
pub struct Transactions;

/// The order a payment's ledger entries were written in (not a field callers name).
const LEDGER_POSITION: Field = Field { name: "position", column: "position", ty: FieldType::Int };

impl Listable for Transactions {
    const RESOURCE: &'static Resource = &Resource {
        fields: &[
            Field { name: "id", column: "id", ty: FieldType::Text },
            Field {
                name: "type",
                column: "type",
                ty: FieldType::OneOf(crate::domain::payment::TransactionKind::WORDS),
            },
            Field { name: "amount", column: "amount", ty: FieldType::Int },
            Field { name: "created_at", column: "created_at", ty: FieldType::DateTime },
        ],
        // Unique within a payment, and the order its entries were written in.
        key: "position",
        nullable: &[],
        properties: &["id", "type", "amount", "created_at"],
    };
}

/// The payment's ledger: authorization, capture, void, refund, settlement and failure entries,
/// oldest first (OData: id, type, amount, created_at).
#[utoipa::path(
    get, path = "/api/payments/{id}/transactions", tag = "payments",
    security(("admin_token" = []), ("api_key" = ["payments.read"])),
    params(("X-Payment-Account-Uid" = Option<String>, Header), ODataParams),
    responses((status = 200, description = "{value: [Transaction], @odata.count?, @odata.nextLink?}"), (status = 400),
              (status = 404), (status = 501))
)]
async fn list_transactions(
    auth: Merchant<PaymentsRead>,
    State(state): State<AppState>,
    Path(id): Path<String>,
    mut list: ListQuery<Transactions>,
) -> ApiResult<Json<Value>> {
    let payment = payments::find(&state, &auth.account.uid, &id).await?;
    list.ascending_by_default(&LEDGER_POSITION);
    let scope = payment_store::transactions_listed(&payment.id);
    list.answer::<Transaction, Transaction>(state.db(), scope, payment_store::transaction_from_row).await
}

/// Authorizes a payment (`capture: true`: a sale) with a card, bank account, Apple Pay token or
/// saved method; `off_session: true` charges a method saved for autopay without the customer.
/// No convenience fee applies. A decline is 402 `card_error` with `payment_id` (the failed
/// payment is kept).
#[utoipa::path(
    post, path = "/api/payments/validate", tag = "payments",
    security(("admin_token" = []), ("api_key" = ["payments.write"])),
    params(("X-Payment-Account-Uid" = Option<String>, Header), ("Idempotency-Key" = Option<String>, Header)),
    request_body = ValidateRequest,
    responses(
        (status = 201, body = PaymentObject), (status = 400),
        (status = 402, description = "card_error: card_declined (decline_code, payment_id), incorrect_number, invalid_expiry, invalid_cvc, authentication_required"),
        (status = 409), (status = 422), (status = 503, description = "processor_unavailable: resolved later; retry with the same key")
    )
)]
async fn validate_payment(
    auth: Merchant<PaymentsWrite>,
    State(state): State<AppState>,
    IdempotencyKey(key): IdempotencyKey,
    Json(raw): Json<Value>,
) -> Response {
    let account = auth.account;
    keyed(&state, &account.uid, key, "/api/payments/validate", raw, async |req: ValidateRequest, idem| {
        direct::validate(&state, &account, req, idem).await
    })
    .await
}

/// Captures an authorized payment: all of it, or `amount` (a partial capture releases the rest).
/// Once: a second capture is 409 `invalid_state`; more than authorized is 400 `amount_too_large`.
/// Within 7 days of the authorization (the installation's `GOVIFI_AUTHORIZATION_DAYS`): after
/// that it is 409 `invalid_state`, and the server voids the payment by itself (`payment.voided`).
#[utoipa::path(
    post, path = "/api/payments/{id}/capture", tag = "payments",
    security(("admin_token" = []), ("api_key" = ["payments.write"])),
    params(("X-Payment-Account-Uid" = Option<String>, Header), ("Idempotency-Key" = Option<String>, Header)),
    request_body(content = Option<CaptureRequest>, description = "Optional"),
    responses((status = 200, body = PaymentObject), (status = 400), (status = 404), (status = 409), (status = 503))
)]
async fn capture_payment(
    auth: Merchant<PaymentsWrite>,
    State(state): State<AppState>,
    Path(id): Path<String>,
    IdempotencyKey(key): IdempotencyKey,
    OptionalBody(raw): OptionalBody,
) -> Response {
    let account = auth.account;
    let path = format!("/api/payments/{id}/capture");
    keyed(&state, &account.uid, key, &path, raw, async |req: CaptureRequest, idem| {
        movements::capture(&state, &account, &id, &req, idem).await
    })
    .await
}

/// Releases an authorization that was not captured (after a capture: 409 `invalid_state`).
#[utoipa::path(
    post, path = "/api/payments/{id}/void", tag = "payments",
    security(("admin_token" = []), ("api_key" = ["payments.write"])),
    params(("X-Payment-Account-Uid" = Option<String>, Header), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = PaymentObject), (status = 404), (status = 409), (status = 503))
)]
async fn void_payment(
    auth: Merchant<PaymentsWrite>,
    State(state): State<AppState>,
    Path(id): Path<String>,
    IdempotencyKey(key): IdempotencyKey,
    OptionalBody(raw): OptionalBody,
) -> Response {
    let account = auth.account;
    let path = format!("/api/payments/{id}/void");
    keyed(&state, &account.uid, key, &path, raw, async |_: NoFields, idem| {
        movements::void(&state, &account, &id, idem).await
    })
    .await
}

/// Refunds `amount` (or all that is left) of a captured payment; many partial refunds may be
/// made, never more than was captured. ACH payments only once settled.
#[utoipa::path(
    post, path = "/api/payments/{id}/refund", tag = "payments",
    security(("admin_token" = []), ("api_key" = ["refunds.write"])),
    params(("X-Payment-Account-Uid" = Option<String>, Header), ("Idempotency-Key" = Option<String>, Header)),
    request_body(content = Option<RefundRequest>, description = "Optional"),
    responses((status = 201, body = RefundObject), (status = 400), (status = 404), (status = 409), (status = 422), (status = 503))
)]
async fn refund_payment(
    auth: Merchant<RefundsWrite>,
    State(state): State<AppState>,
    Path(id): Path<String>,
    IdempotencyKey(key): IdempotencyKey,
    OptionalBody(raw): OptionalBody,
) -> Response {
    let account = auth.account;
    let path = format!("/api/payments/{id}/refund");
    keyed(&state, &account.uid, key, &path, raw, async |req: RefundRequest, idem| {
        movements::refund(&state, &account, &id, &req, idem).await
    })
    .await
}

/// A payment's refunds (OData: id, status, amount, created_at; oldest first unless `$orderby`
/// says otherwise).
pub struct Refunds;

const REFUND_CREATED: Field = Field { name: "created_at", column: "created_at", ty: FieldType::DateTime };

impl Listable for Refunds {
    const RESOURCE: &'static Resource = &Resource {
        fields: &[
            Field { name: "id", column: "id", ty: FieldType::Text },
            Field {
                name: "status",
                column: "status",
                ty: FieldType::OneOf(crate::domain::payment::OperationStatus::WORDS),
            },
            Field { name: "amount", column: "amount", ty: FieldType::Int },
            REFUND_CREATED,
        ],
        key: "id",
        nullable: &[],
        properties: &[
            "id",
            "object",
            "payment_id",
            "amount",
            "currency",
            "reason",
            "status",
            "failure_code",
            "created_at",
            "updated_at",
        ],
    };
}

/// The payment's refunds, oldest first (OData: id, status, amount, created_at).
#[utoipa::path(
    get, path = "/api/payments/{id}/refunds", tag = "payments",
    security(("admin_token" = []), ("api_key" = ["payments.read"])),
    params(("X-Payment-Account-Uid" = Option<String>, Header), ODataParams),
    responses((status = 200, description = "{value: [RefundObject], @odata.count?, @odata.nextLink?}"),
              (status = 400), (status = 404), (status = 501))
)]
async fn list_refunds(
    auth: Merchant<PaymentsRead>,
    State(state): State<AppState>,
    Path(id): Path<String>,
    mut list: ListQuery<Refunds>,
) -> ApiResult<Json<Value>> {
    let payment = payments::find(&state, &auth.account.uid, &id).await?;
    list.ascending_by_default(&REFUND_CREATED);
    let page = list.page(state.db(), operations::listed(&payment.id, OperationKind::Refund)).await?;
    let refunds = page
        .rows
        .iter()
        .map(|r| operations::from_row(r).map(|op| RefundObject::new(&op, &payment.currency)))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Json(list.respond(&refunds, page.count, page.has_more)))
}
