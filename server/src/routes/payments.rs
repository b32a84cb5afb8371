//! Payments as merchants read them: `/api/payments` (admin token + account header, or an API
//! key with `payments.read`), with the consent record and the ledger.

use axum::extract::{Path, State};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::list::{ListQuery, Listable, ValueList};
use crate::app::AppState;
use crate::domain::ids;
use crate::domain::odata::{Field, FieldType, Resource};
use crate::domain::time::Timestamp;
use crate::domain::validate::Metadata;
use crate::error::{ApiError, ApiResult};
use crate::extract::Json;
use crate::extract::auth::{Merchant, PaymentsRead};
use crate::store::Bind;
use crate::store::odata::{Scope, fetch_page};
use crate::store::payments::{self, Consent, MethodDetails, Payment, Transaction};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_payments)).routes(routes!(get_payment)).routes(routes!(list_transactions))
}

/// A payment (SPEC §11).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PaymentObject {
    pub id: String,
    pub object: &'static str,
    pub status: String,
    pub amount: i64,
    pub fee_amount: i64,
    pub total_amount: i64,
    pub amount_captured: i64,
    pub amount_refunded: i64,
    pub currency: String,
    pub payment_method: MethodDetails,
    pub avs_result: Option<String>,
    pub decline_code: Option<String>,
    pub session_id: Option<String>,
    pub customer_id: Option<String>,
    pub terminal_id: Option<String>,
    pub processor: String,
    pub reference: Option<String>,
    pub description: Option<String>,
    pub metadata: Metadata,
    pub consent: Option<Consent>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl From<Payment> for PaymentObject {
    fn from(p: Payment) -> Self {
        PaymentObject {
            id: p.id,
            object: "payment",
            status: p.status,
            amount: p.amount,
            fee_amount: p.fee_amount,
            total_amount: p.total_amount,
            amount_captured: p.amount_captured,
            amount_refunded: p.amount_refunded,
            currency: p.currency,
            payment_method: p.payment_method,
            avs_result: p.avs_result,
            decline_code: p.decline_code,
            session_id: p.session_id,
            customer_id: p.customer_id,
            terminal_id: p.terminal_id,
            processor: p.processor,
            reference: p.reference,
            description: p.description,
            metadata: p.metadata,
            consent: p.consent,
            created_at: Timestamp(p.created_at),
            updated_at: Timestamp(p.updated_at),
        }
    }
}

pub struct Payments;

impl Listable for Payments {
    const RESOURCE: &'static Resource = &Resource {
        fields: &[
            Field { name: "id", column: "id", ty: FieldType::Text },
            Field { name: "status", column: "status", ty: FieldType::Text },
            Field { name: "amount", column: "amount", ty: FieldType::Int },
            Field { name: "currency", column: "currency", ty: FieldType::Text },
            Field { name: "session_id", column: "session_id", ty: FieldType::Text },
            Field { name: "customer_id", column: "customer_id", ty: FieldType::Text },
            Field { name: "terminal_id", column: "terminal_id", ty: FieldType::Text },
            Field { name: "reference", column: "reference", ty: FieldType::Text },
            Field { name: "created_at", column: "created_at", ty: FieldType::DateTime },
        ],
        key: "id",
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
    params(("X-Payment-Account-Uid" = Option<String>, Header), ("$filter" = Option<String>, Query),
           ("$orderby" = Option<String>, Query), ("$top" = Option<i64>, Query), ("$skip" = Option<i64>, Query),
           ("$count" = Option<bool>, Query), ("$select" = Option<String>, Query)),
    responses((status = 200, description = "{value, @odata.count?, @odata.nextLink?}"), (status = 400), (status = 501))
)]
async fn list_payments(
    auth: Merchant<PaymentsRead>,
    State(state): State<AppState>,
    list: ListQuery<Payments>,
) -> ApiResult<Json<serde_json::Value>> {
    let scope = Scope {
        table: "payments",
        columns: payments::COLUMNS,
        condition: "account_uid = $1",
        binds: vec![Bind::Text(auth.account.uid.clone())],
    };
    let page = fetch_page(state.db(), scope, &list.query, Payments::RESOURCE).await?;
    let items: Vec<PaymentObject> =
        page.rows.iter().map(payments::from_row).collect::<Result<Vec<_>, _>>()?.into_iter().map(Into::into).collect();
    Ok(Json(list.respond(&items, page.count, page.has_more)))
}

async fn find(state: &AppState, account_uid: &str, id: &str) -> ApiResult<Payment> {
    if !ids::has_shape(id, "pay") {
        return Err(ApiError::not_found("payment"));
    }
    payments::get(state.db(), account_uid, id).await?.ok_or_else(|| ApiError::not_found("payment"))
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
    Ok(Json(find(&state, &auth.account.uid, &id).await?.into()))
}

/// The payment's ledger: authorization, capture, settlement, failure entries.
#[utoipa::path(
    get, path = "/api/payments/{id}/transactions", tag = "payments",
    security(("admin_token" = []), ("api_key" = ["payments.read"])),
    params(("X-Payment-Account-Uid" = Option<String>, Header)),
    responses((status = 200, body = ValueList<Transaction>), (status = 404))
)]
async fn list_transactions(
    auth: Merchant<PaymentsRead>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<ValueList<Transaction>>> {
    let payment = find(&state, &auth.account.uid, &id).await?;
    Ok(Json(ValueList { value: payments::transactions(state.db(), &payment.id).await? }))
}
