//! The sandbox mail outbox: where challenge codes go without SMTP (admin token, sandbox only).

use axum::extract::State;
use serde::Serialize;

use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::list::{ListQuery, Listable, ODataParams};
use crate::domain::odata::{Field, FieldType, Resource};
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

/// The messages the sandbox sent, newest first (OData: id, to, subject, created_at).
pub struct Messages;

impl Listable for Messages {
    const RESOURCE: &'static Resource = &Resource {
        fields: &[
            Field { name: "id", column: "id", ty: FieldType::Text },
            Field { name: "to", column: "recipient", ty: FieldType::Text },
            Field { name: "subject", column: "subject", ty: FieldType::Text },
            Field { name: "created_at", column: "created_at", ty: FieldType::DateTime },
        ],
        key: "id",
        nullable: &[],
        properties: &["id", "to", "subject", "body", "created_at"],
    };
}

impl From<outbox::Message> for OutboxMessage {
    fn from(m: outbox::Message) -> Self {
        OutboxMessage {
            id: m.id,
            to: m.recipient,
            subject: m.subject,
            body: m.body,
            created_at: Timestamp(m.created_at),
        }
    }
}

/// The messages the sandbox sent (receipts, challenge codes), newest first; sandbox mode only
/// (OData: id, to, subject, created_at).
#[utoipa::path(
    get, path = "/api/outbox", tag = "operations", security(("admin_token" = [])),
    params(ODataParams),
    responses((status = 200, description = "{value: [OutboxMessage], @odata.count?, @odata.nextLink?}"),
              (status = 400), (status = 404, description = "Not in sandbox mode"), (status = 501))
)]
async fn list_outbox(
    _auth: AdminToken,
    State(state): State<AppState>,
    list: ListQuery<Messages>,
) -> ApiResult<Json<serde_json::Value>> {
    if !state.config().sandbox {
        return Err(ApiError::not_found("route"));
    }
    list.answer::<_, OutboxMessage>(state.db(), outbox::listed(), outbox::from_row).await
}
