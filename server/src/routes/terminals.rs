//! Card-present terminals: `/api/terminals` (admin token + account header, or an API key with
//! `terminals.read` / `terminals.write`), the payments started on them, and in sandbox mode a
//! simulated card.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::list::{ListQuery, Listable, ODataParams};
use crate::domain::odata::{Field, FieldType, Resource};
use crate::error::{ApiError, ApiResult};
use crate::extract::auth::{Merchant, TerminalsRead, TerminalsWrite};
use crate::extract::idempotency::IdempotencyKey;
use crate::extract::{Json, NoFields, OptionalBody};
use crate::payments::terminals::{self, CreateTerminal, SimulateCard, StartTerminalPayment, UpdateTerminal};
use crate::state::AppState;
use crate::store::terminals as terminal_store;
use crate::views::{PaymentObject, TerminalObject};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_terminal, list_terminals))
        .routes(routes!(get_terminal, update_terminal, delete_terminal))
        .routes(routes!(start_payment))
        .routes(routes!(cancel_payment))
        .routes(routes!(simulate_card))
}

pub struct Terminals;

impl Listable for Terminals {
    const RESOURCE: &'static Resource = &Resource {
        fields: &[
            Field { name: "id", column: "id", ty: FieldType::Text },
            Field { name: "label", column: "label", ty: FieldType::Text },
            Field { name: "serial_number", column: "serial_number", ty: FieldType::Text },
            Field {
                name: "status",
                column: "status",
                ty: FieldType::OneOf(crate::domain::terminal::TerminalStatus::WORDS),
            },
            Field { name: "created_at", column: "created_at", ty: FieldType::DateTime },
        ],
        key: "id",
        nullable: &[],
        properties: &[
            "id",
            "object",
            "label",
            "serial_number",
            "model",
            "location",
            "status",
            "payment_id",
            "metadata",
            "created_at",
            "updated_at",
        ],
    };
}

/// Registers a terminal (status `online`).
#[utoipa::path(
    post, path = "/api/terminals", tag = "terminals",
    security(("admin_token" = []), ("api_key" = ["terminals.write"])),
    params(("X-Payment-Account-Uid" = Option<String>, Header)),
    request_body = CreateTerminal,
    responses((status = 201, body = TerminalObject), (status = 400), (status = 409))
)]
async fn create_terminal(
    auth: Merchant<TerminalsWrite>,
    State(state): State<AppState>,
    Json(body): Json<CreateTerminal>,
) -> ApiResult<(StatusCode, Json<TerminalObject>)> {
    Ok((StatusCode::CREATED, Json(terminals::create(&state, &auth.account, body).await?)))
}

/// Lists the account's terminals (OData: id, label, serial_number, status, created_at).
#[utoipa::path(
    get, path = "/api/terminals", tag = "terminals",
    security(("admin_token" = []), ("api_key" = ["terminals.read"])),
    params(("X-Payment-Account-Uid" = Option<String>, Header), ODataParams),
    responses((status = 200, description = "{value, @odata.count?, @odata.nextLink?}"), (status = 400), (status = 501))
)]
async fn list_terminals(
    auth: Merchant<TerminalsRead>,
    State(state): State<AppState>,
    list: ListQuery<Terminals>,
) -> ApiResult<Json<Value>> {
    let scope = terminal_store::listed(&auth.account.uid);
    list.answer::<_, TerminalObject>(state.db(), scope, terminal_store::from_row).await
}

#[utoipa::path(
    get, path = "/api/terminals/{id}", tag = "terminals",
    security(("admin_token" = []), ("api_key" = ["terminals.read"])),
    params(("X-Payment-Account-Uid" = Option<String>, Header)),
    responses((status = 200, body = TerminalObject), (status = 404))
)]
async fn get_terminal(
    auth: Merchant<TerminalsRead>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<TerminalObject>> {
    Ok(Json(terminals::find(&state, &auth.account.uid, &id).await?.into()))
}

/// Changes a terminal: label, serial number, model, location, metadata, and `status` online or
/// offline (not while a payment is pending on it: 409 `resource_in_use`).
#[utoipa::path(
    patch, path = "/api/terminals/{id}", tag = "terminals",
    security(("admin_token" = []), ("api_key" = ["terminals.write"])),
    params(("X-Payment-Account-Uid" = Option<String>, Header)),
    request_body = UpdateTerminal,
    responses((status = 200, body = TerminalObject), (status = 400), (status = 404), (status = 409))
)]
async fn update_terminal(
    auth: Merchant<TerminalsWrite>,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Json(body): Json<UpdateTerminal>,
) -> ApiResult<Json<TerminalObject>> {
    Ok(Json(terminals::update(&state, &auth.account, &id, body).await?))
}

/// Retires a terminal (a busy one: 409 `resource_in_use`).
#[utoipa::path(
    delete, path = "/api/terminals/{id}", tag = "terminals",
    security(("admin_token" = []), ("api_key" = ["terminals.write"])),
    params(("X-Payment-Account-Uid" = Option<String>, Header)),
    responses((status = 204), (status = 404), (status = 409))
)]
async fn delete_terminal(
    auth: Merchant<TerminalsWrite>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    terminals::delete(&state, &auth.account, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Starts a card-present payment: 201 `pending_terminal`, the terminal `busy`. One at a time
/// (another: 409 `resource_in_use`; an offline terminal: 409 `invalid_state`).
#[utoipa::path(
    post, path = "/api/terminals/{id}/payments", tag = "terminals",
    security(("admin_token" = []), ("api_key" = ["terminals.write"])),
    params(("X-Payment-Account-Uid" = Option<String>, Header), ("Idempotency-Key" = Option<String>, Header)),
    request_body = StartTerminalPayment,
    responses((status = 201, body = PaymentObject), (status = 400), (status = 404), (status = 409))
)]
async fn start_payment(
    auth: Merchant<TerminalsWrite>,
    State(state): State<AppState>,
    Path(id): Path<String>,
    IdempotencyKey(key): IdempotencyKey,
    Json(raw): Json<Value>,
) -> Response {
    let account = auth.account;
    let path = format!("/api/terminals/{id}/payments");
    crate::payments::keyed(&state, &account.uid, key, &path, raw, async |body: StartTerminalPayment, idem| {
        terminals::start_payment(&state, &account, &id, body, idem).await
    })
    .await
}

/// Cancels the payment pending on the terminal: `voided`, the terminal online again.
#[utoipa::path(
    post, path = "/api/terminals/{id}/cancel", tag = "terminals",
    security(("admin_token" = []), ("api_key" = ["terminals.write"])),
    params(("X-Payment-Account-Uid" = Option<String>, Header), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = PaymentObject), (status = 404), (status = 409))
)]
async fn cancel_payment(
    auth: Merchant<TerminalsWrite>,
    State(state): State<AppState>,
    Path(id): Path<String>,
    IdempotencyKey(key): IdempotencyKey,
    OptionalBody(raw): OptionalBody,
) -> Response {
    let account = auth.account;
    let path = format!("/api/terminals/{id}/cancel");
    // The answer of a cancel sent again with its key is the first one's (the payment voided),
    // not a 409 for a terminal that no longer has it.
    crate::payments::keyed(&state, &account.uid, key, &path, raw, async |_: NoFields, idem| {
        terminals::cancel(&state, &account, &id, idem).await
    })
    .await
}

/// Sandbox only: presents a test card (SPEC §9) at the terminal. An approved card leaves the
/// pending payment `captured`, a declined one `failed` (with `decline_code`).
#[utoipa::path(
    post, path = "/api/terminals/{id}/simulate", tag = "terminals",
    security(("admin_token" = []), ("api_key" = ["terminals.write"])),
    params(("X-Payment-Account-Uid" = Option<String>, Header), ("Idempotency-Key" = Option<String>, Header)),
    request_body = SimulateCard,
    responses((status = 200, body = PaymentObject), (status = 402), (status = 404), (status = 409), (status = 503))
)]
async fn simulate_card(
    auth: Merchant<TerminalsWrite>,
    State(state): State<AppState>,
    Path(id): Path<String>,
    IdempotencyKey(key): IdempotencyKey,
    Json(raw): Json<Value>,
) -> Response {
    if !state.config().sandbox {
        return ApiError::not_found("route").into_response();
    }
    let account = auth.account;
    let path = format!("/api/terminals/{id}/simulate");
    crate::payments::keyed(&state, &account.uid, key, &path, raw, async |body: SimulateCard, idem| {
        terminals::simulate(&state, &account, &id, body, idem).await
    })
    .await
}
