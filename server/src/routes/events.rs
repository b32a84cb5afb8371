//! The event log (the transactional outbox): `/api/events` (admin token + account header, or an
//! API key with `webhooks.read`).

use axum::extract::{Path, State};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::list::{ListQuery, Listable, ODataParams};
use crate::domain::ids;
use crate::domain::odata::{Field, FieldType, Resource};
use crate::error::{ApiError, ApiResult};
use crate::extract::auth::{Merchant, WebhooksRead, WebhooksWrite};
use crate::extract::{Json, NoFields};
use crate::state::AppState;
use crate::store::events;
use crate::views::EventObject;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_events)).routes(routes!(get_event)).routes(routes!(redeliver_event))
}

pub struct Events;

impl Listable for Events {
    const RESOURCE: &'static Resource = &Resource {
        fields: &[
            Field { name: "id", column: "id", ty: FieldType::Text },
            Field { name: "type", column: "type", ty: FieldType::OneOf(crate::domain::event::EventType::WORDS) },
            Field { name: "created_at", column: "created_at", ty: FieldType::DateTime },
        ],
        key: "id",
        nullable: &[],
        properties: &["id", "object", "type", "created_at", "account_uid", "actor", "data"],
    };
}

/// Lists the account's events, newest first (OData: id, type, created_at).
#[utoipa::path(
    get, path = "/api/events", tag = "events",
    security(("admin_token" = []), ("api_key" = ["webhooks.read"])),
    params(("X-Payment-Account-Uid" = Option<String>, Header), ODataParams),
    responses((status = 200, description = "{value, @odata.count?, @odata.nextLink?}"), (status = 400), (status = 501))
)]
async fn list_events(
    auth: Merchant<WebhooksRead>,
    State(state): State<AppState>,
    list: ListQuery<Events>,
) -> ApiResult<Json<serde_json::Value>> {
    list.answer::<_, EventObject>(state.db(), events::listed(&auth.account.uid), events::from_row).await
}

/// Gets an event.
#[utoipa::path(
    get, path = "/api/events/{id}", tag = "events",
    security(("admin_token" = []), ("api_key" = ["webhooks.read"])),
    params(("X-Payment-Account-Uid" = Option<String>, Header)),
    responses((status = 200, body = EventObject), (status = 404))
)]
async fn get_event(
    auth: Merchant<WebhooksRead>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<EventObject>> {
    if !ids::has_shape(&id, "evt") {
        return Err(ApiError::not_found("event"));
    }
    let event = events::get(state.db(), &auth.account.uid, &id).await?.ok_or_else(|| ApiError::not_found("event"))?;
    Ok(Json(event.into()))
}

/// Delivers the event again, with the same `webhook-id`, to every enabled subscription that
/// takes its type (202).
#[utoipa::path(
    post, path = "/api/events/{id}/redeliver", tag = "events",
    security(("admin_token" = []), ("api_key" = ["webhooks.write"])),
    params(("X-Payment-Account-Uid" = Option<String>, Header)),
    responses((status = 202, body = crate::webhooks::Queued), (status = 404))
)]
async fn redeliver_event(
    auth: Merchant<WebhooksWrite>,
    State(state): State<AppState>,
    Path(id): Path<String>,
    _no_fields: NoFields,
) -> ApiResult<(axum::http::StatusCode, Json<crate::webhooks::Queued>)> {
    Ok((axum::http::StatusCode::ACCEPTED, Json(crate::webhooks::redeliver(&state, &auth.account, &id).await?)))
}
