//! Webhook subscriptions and their delivery log: `/api/webhooks` (admin token + account header,
//! or an API key with `webhooks.read` / `webhooks.write`).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde_json::Value;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::list::{ListQuery, Listable, ODataParams};
use crate::domain::odata::{Field, FieldType, Resource};
use crate::error::ApiResult;
use crate::extract::auth::{Merchant, WebhooksRead, WebhooksWrite};
use crate::extract::{Json, NoFields};
use crate::state::AppState;
use crate::store::odata::fetch_page;
use crate::store::{deliveries, webhooks as webhook_store};
use crate::views::{DeliveryObject, WebhookObject};
use crate::webhooks::{self, CreateWebhook, Queued, UpdateWebhook};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_webhook, list_webhooks))
        .routes(routes!(get_webhook, update_webhook, delete_webhook))
        .routes(routes!(rotate_secret))
        .routes(routes!(list_deliveries))
        .routes(routes!(send_test))
}

pub struct Webhooks;

impl Listable for Webhooks {
    const RESOURCE: &'static Resource = &Resource {
        fields: &[
            Field { name: "id", column: "id", ty: FieldType::Text },
            Field { name: "url", column: "url", ty: FieldType::Text },
            Field { name: "enabled", column: "enabled", ty: FieldType::Bool },
            Field { name: "created_at", column: "created_at", ty: FieldType::DateTime },
        ],
        key: "id",
        nullable: &[],
        properties: &[
            "id",
            "object",
            "url",
            "events",
            "enabled",
            "description",
            "disabled_reason",
            "created_at",
            "updated_at",
        ],
    };
}

pub struct Deliveries;

impl Listable for Deliveries {
    const RESOURCE: &'static Resource = &Resource {
        fields: &[
            Field { name: "id", column: "id", ty: FieldType::Text },
            Field { name: "event_id", column: "event_id", ty: FieldType::Text },
            Field {
                name: "event_type",
                column: "event_type",
                ty: FieldType::OneOf(crate::domain::event::EventType::WORDS),
            },
            Field {
                name: "status",
                column: "status",
                ty: FieldType::OneOf(crate::domain::webhook::DeliveryStatus::WORDS),
            },
            Field { name: "created_at", column: "created_at", ty: FieldType::DateTime },
        ],
        key: "id",
        nullable: &[],
        properties: &[
            "id",
            "object",
            "webhook_id",
            "event_id",
            "event_type",
            "status",
            "attempts",
            "next_attempt_at",
            "created_at",
            "updated_at",
        ],
    };
}

/// Subscribes a URL to event types (or `["*"]`); the answer carries the `whsec_…` signing
/// secret, shown only now. Private and loopback addresses are refused unless the operator
/// allows them (`GOVIFI_WEBHOOK_ALLOW_PRIVATE`, true in sandbox mode).
#[utoipa::path(
    post, path = "/api/webhooks", tag = "webhooks",
    security(("admin_token" = []), ("api_key" = ["webhooks.write"])),
    params(("X-Payment-Account-Uid" = Option<String>, Header)),
    request_body = CreateWebhook,
    responses((status = 201, body = WebhookObject), (status = 400), (status = 401), (status = 403),
              (status = 409, description = "the account has its 16 endpoints already"))
)]
async fn create_webhook(
    auth: Merchant<WebhooksWrite>,
    State(state): State<AppState>,
    Json(body): Json<CreateWebhook>,
) -> ApiResult<(StatusCode, Json<WebhookObject>)> {
    Ok((StatusCode::CREATED, Json(webhooks::create(&state, &auth.account, body).await?)))
}

/// Lists the account's subscriptions (OData: id, url, enabled, created_at).
#[utoipa::path(
    get, path = "/api/webhooks", tag = "webhooks",
    security(("admin_token" = []), ("api_key" = ["webhooks.read"])),
    params(("X-Payment-Account-Uid" = Option<String>, Header), ODataParams),
    responses((status = 200, description = "{value, @odata.count?, @odata.nextLink?}"), (status = 400), (status = 501))
)]
async fn list_webhooks(
    auth: Merchant<WebhooksRead>,
    State(state): State<AppState>,
    list: ListQuery<Webhooks>,
) -> ApiResult<Json<Value>> {
    let page =
        fetch_page(state.db(), webhook_store::listed(&auth.account.uid), &list.query, Webhooks::RESOURCE).await?;
    let mut items: Vec<WebhookObject> = Vec::with_capacity(page.rows.len());
    for row in &page.rows {
        items.push(webhook_store::read(state.db(), row).await?.into());
    }
    Ok(Json(list.respond(&items, page.count, page.has_more)))
}

#[utoipa::path(
    get, path = "/api/webhooks/{id}", tag = "webhooks",
    security(("admin_token" = []), ("api_key" = ["webhooks.read"])),
    params(("X-Payment-Account-Uid" = Option<String>, Header)),
    responses((status = 200, body = WebhookObject), (status = 404))
)]
async fn get_webhook(
    auth: Merchant<WebhooksRead>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<WebhookObject>> {
    Ok(Json(webhooks::find(&state, &auth.account.uid, &id).await?.into()))
}

/// Changes the URL, the event types, the description, or switches the subscription on or off.
#[utoipa::path(
    patch, path = "/api/webhooks/{id}", tag = "webhooks",
    security(("admin_token" = []), ("api_key" = ["webhooks.write"])),
    params(("X-Payment-Account-Uid" = Option<String>, Header)),
    request_body = UpdateWebhook,
    responses((status = 200, body = WebhookObject), (status = 400), (status = 404))
)]
async fn update_webhook(
    auth: Merchant<WebhooksWrite>,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Json(body): Json<UpdateWebhook>,
) -> ApiResult<Json<WebhookObject>> {
    Ok(Json(webhooks::update(&state, &auth.account, &id, body).await?))
}

/// Removes a subscription; its pending deliveries are not attempted.
#[utoipa::path(
    delete, path = "/api/webhooks/{id}", tag = "webhooks",
    security(("admin_token" = []), ("api_key" = ["webhooks.write"])),
    params(("X-Payment-Account-Uid" = Option<String>, Header)),
    responses((status = 204), (status = 404))
)]
async fn delete_webhook(
    auth: Merchant<WebhooksWrite>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    webhooks::delete(&state, &auth.account, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A new signing secret, shown only now. For 24 hours deliveries carry both signatures
/// (`webhook-signature: v1,<new> v1,<old>`), so receivers can switch without losing one.
#[utoipa::path(
    post, path = "/api/webhooks/{id}/rotate-secret", tag = "webhooks",
    security(("admin_token" = []), ("api_key" = ["webhooks.write"])),
    params(("X-Payment-Account-Uid" = Option<String>, Header)),
    responses((status = 200, body = WebhookObject), (status = 404))
)]
async fn rotate_secret(
    auth: Merchant<WebhooksWrite>,
    State(state): State<AppState>,
    Path(id): Path<String>,
    _no_fields: NoFields,
) -> ApiResult<Json<WebhookObject>> {
    Ok(Json(webhooks::rotate_secret(&state, &auth.account, &id).await?))
}

/// The delivery log: each event sent to this subscription, with every attempt (time, status,
/// duration, error, the first 1 KiB of the answer). OData: id, event_id, event_type, status,
/// created_at.
#[utoipa::path(
    get, path = "/api/webhooks/{id}/deliveries", tag = "webhooks",
    security(("admin_token" = []), ("api_key" = ["webhooks.read"])),
    params(("X-Payment-Account-Uid" = Option<String>, Header), ODataParams),
    responses((status = 200, description = "{value: [webhook_delivery], …}"), (status = 404))
)]
async fn list_deliveries(
    auth: Merchant<WebhooksRead>,
    State(state): State<AppState>,
    Path(id): Path<String>,
    list: ListQuery<Deliveries>,
) -> ApiResult<Json<Value>> {
    let webhook = webhooks::find(&state, &auth.account.uid, &id).await?;
    let scope = deliveries::listed(&auth.account.uid, &webhook.id);
    list.answer::<_, DeliveryObject>(state.db(), scope, deliveries::from_row).await
}

/// Sends a `webhook.test` event to this subscription only (202).
#[utoipa::path(
    post, path = "/api/webhooks/{id}/test", tag = "webhooks",
    security(("admin_token" = []), ("api_key" = ["webhooks.write"])),
    params(("X-Payment-Account-Uid" = Option<String>, Header)),
    responses((status = 202, body = Queued), (status = 404))
)]
async fn send_test(
    auth: Merchant<WebhooksWrite>,
    State(state): State<AppState>,
    Path(id): Path<String>,
    _no_fields: NoFields,
) -> ApiResult<(StatusCode, Json<Queued>)> {
    Ok((StatusCode::ACCEPTED, Json(webhooks::send_test(&state, &auth.account, &id).await?)))
}
