//! The event log (the transactional outbox): `/api/events` (admin token + account header, or an
//! API key with `webhooks.read`).

use axum::extract::{Path, State};
use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::list::{ListQuery, Listable};
use crate::domain::ids;
use crate::domain::odata::{Field, FieldType, Resource};
use crate::domain::time::Timestamp;
use crate::error::{ApiError, ApiResult};
use crate::extract::Json;
use crate::extract::auth::{Merchant, WebhooksRead};
use crate::state::AppState;
use crate::store::Bind;
use crate::store::odata::{Scope, fetch_page};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_events)).routes(routes!(get_event))
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EventData {
    /// The resource as the API shows it.
    #[schema(value_type = Object)]
    pub object: serde_json::Value,
}

/// An event (SPEC §11): also the webhook payload.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EventObject {
    pub id: String,
    pub object: &'static str,
    #[serde(rename = "type")]
    pub kind: String,
    pub created_at: Timestamp,
    pub account_uid: String,
    pub data: EventData,
}

const COLUMNS: &str = "id, account_uid, type, data, created_at";

fn from_row(row: &AnyRow) -> Result<EventObject, sqlx::Error> {
    let data: String = row.try_get("data")?;
    Ok(EventObject {
        id: row.try_get("id")?,
        object: "event",
        kind: row.try_get("type")?,
        created_at: Timestamp(row.try_get("created_at")?),
        account_uid: row.try_get("account_uid")?,
        data: EventData { object: serde_json::from_str(&data).map_err(|e| sqlx::Error::Decode(e.into()))? },
    })
}

pub struct Events;

impl Listable for Events {
    const RESOURCE: &'static Resource = &Resource {
        fields: &[
            Field { name: "id", column: "id", ty: FieldType::Text },
            Field { name: "type", column: "type", ty: FieldType::Text },
            Field { name: "created_at", column: "created_at", ty: FieldType::DateTime },
        ],
        key: "id",
        properties: &["id", "object", "type", "created_at", "account_uid", "data"],
    };
}

/// Lists the account's events, newest first (OData: id, type, created_at).
#[utoipa::path(
    get, path = "/api/events", tag = "events",
    security(("admin_token" = []), ("api_key" = ["webhooks.read"])),
    params(("X-Payment-Account-Uid" = Option<String>, Header), ("$filter" = Option<String>, Query),
           ("$orderby" = Option<String>, Query), ("$top" = Option<i64>, Query), ("$skip" = Option<i64>, Query),
           ("$count" = Option<bool>, Query), ("$select" = Option<String>, Query)),
    responses((status = 200, description = "{value, @odata.count?, @odata.nextLink?}"), (status = 400), (status = 501))
)]
async fn list_events(
    auth: Merchant<WebhooksRead>,
    State(state): State<AppState>,
    list: ListQuery<Events>,
) -> ApiResult<Json<serde_json::Value>> {
    let scope = Scope {
        table: "events",
        columns: COLUMNS,
        condition: "account_uid = $1",
        binds: vec![Bind::Text(auth.account.uid.clone())],
    };
    let page = fetch_page(state.db(), scope, &list.query, Events::RESOURCE).await?;
    let items: Vec<EventObject> = page.rows.iter().map(from_row).collect::<Result<Vec<_>, _>>()?;
    Ok(Json(list.respond(&items, page.count, page.has_more)))
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
    let sql = format!("SELECT {COLUMNS} FROM events WHERE id = $1 AND account_uid = $2");
    let row = sqlx::query(&sql).bind(&id).bind(&auth.account.uid).fetch_optional(state.db().pool()).await?;
    let row = row.ok_or_else(|| ApiError::not_found("event"))?;
    Ok(Json(from_row(&row)?))
}
