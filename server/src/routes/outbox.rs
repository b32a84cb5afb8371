//! The sandbox mail outbox: where challenge codes go without SMTP (admin token, sandbox only).

use axum::extract::State;
use serde::Serialize;
use sqlx::Row;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::list::ValueList;
use crate::domain::time::Timestamp;
use crate::error::{ApiError, ApiResult};
use crate::extract::Json;
use crate::extract::auth::AdminToken;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_outbox))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OutboxMessage {
    id: String,
    to: String,
    subject: String,
    body: String,
    created_at: Timestamp,
}

/// The latest 100 messages, newest first.
#[utoipa::path(
    get, path = "/api/outbox", tag = "operations", security(("admin_token" = [])),
    responses((status = 200, body = ValueList<OutboxMessage>), (status = 404, description = "Not in sandbox mode"))
)]
async fn list_outbox(_auth: AdminToken, State(state): State<AppState>) -> ApiResult<Json<ValueList<OutboxMessage>>> {
    if !state.config().sandbox {
        return Err(ApiError::not_found("route"));
    }
    let rows = sqlx::query("SELECT id, recipient, subject, body, created_at FROM outbox_messages ORDER BY created_at DESC, id DESC LIMIT 100")
        .fetch_all(state.db().pool())
        .await?;
    let value = rows
        .iter()
        .map(|r| {
            Ok(OutboxMessage {
                id: r.try_get("id")?,
                to: r.try_get("recipient")?,
                subject: r.try_get("subject")?,
                body: r.try_get("body")?,
                created_at: Timestamp(r.try_get("created_at")?),
            })
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
    Ok(Json(ValueList { value }))
}
