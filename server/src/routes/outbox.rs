//! The sandbox mail outbox: where challenge codes go without SMTP (admin token, sandbox only).

use axum::extract::State;
use serde::Serialize;

use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::list::ValueList;
use crate::domain::time::Timestamp;
use crate::error::{ApiError, ApiResult};
use crate::extract::Json;
use crate::extract::auth::AdminToken;
use crate::state::AppState;
use crate::store::outbox;

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
    let value = outbox::latest(state.db(), 100)
        .await?
        .into_iter()
        .map(|m| OutboxMessage {
            id: m.id,
            to: m.recipient,
            subject: m.subject,
            body: m.body,
            created_at: Timestamp(m.created_at),
        })
        .collect();
    Ok(Json(ValueList { value }))
}
