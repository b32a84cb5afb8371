//! Tenants: `/api/clients` (admin token, no account header).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::list::{ListQuery, Listable, ODataParams};
use crate::clients::{self, CreateClient, UpdateClient};
use crate::domain::odata::{Field, FieldType, Resource};
use crate::error::ApiResult;
use crate::extract::Json;
use crate::extract::auth::AdminToken;
use crate::state::AppState;
use crate::store::clients as client_store;
use crate::views::ClientObject;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(create_client, list_clients)).routes(routes!(
        get_client,
        update_client,
        delete_client
    ))
}

pub struct Clients;

impl Listable for Clients {
    const RESOURCE: &'static Resource = &Resource {
        fields: &[
            Field { name: "id", column: "id", ty: FieldType::Text },
            Field { name: "name", column: "name", ty: FieldType::Text },
            Field { name: "contact_email", column: "contact_email", ty: FieldType::Text },
            Field { name: "created_at", column: "created_at", ty: FieldType::DateTime },
        ],
        key: "id",
        nullable: &["contact_email"],
        properties: &["id", "object", "name", "contact_email", "metadata", "created_at", "updated_at"],
    };
}

/// Creates a tenant.
#[utoipa::path(
    post, path = "/api/clients", tag = "clients", security(("admin_token" = [])),
    request_body = CreateClient,
    responses((status = 201, body = ClientObject), (status = 400), (status = 401), (status = 403))
)]
async fn create_client(
    _auth: AdminToken,
    State(state): State<AppState>,
    Json(body): Json<CreateClient>,
) -> ApiResult<(StatusCode, Json<ClientObject>)> {
    Ok((StatusCode::CREATED, Json(clients::create(&state, &body).await?)))
}

/// Lists tenants (OData: id, name, contact_email, created_at).
#[utoipa::path(
    get, path = "/api/clients", tag = "clients", security(("admin_token" = [])),
    params(ODataParams),
    responses((status = 200, description = "{value, @odata.count?, @odata.nextLink?}"), (status = 400), (status = 501))
)]
async fn list_clients(
    _auth: AdminToken,
    State(state): State<AppState>,
    list: ListQuery<Clients>,
) -> ApiResult<Json<serde_json::Value>> {
    list.answer::<_, ClientObject>(state.db(), client_store::listed(), client_store::from_row).await
}

/// Gets a tenant.
#[utoipa::path(
    get, path = "/api/clients/{id}", tag = "clients", security(("admin_token" = [])),
    responses((status = 200, body = ClientObject), (status = 404))
)]
async fn get_client(
    _auth: AdminToken,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<ClientObject>> {
    Ok(Json(clients::find(&state, &id).await?.into()))
}

/// Changes a tenant's name, contact email or metadata.
#[utoipa::path(
    patch, path = "/api/clients/{id}", tag = "clients", security(("admin_token" = [])),
    request_body = UpdateClient,
    responses((status = 200, body = ClientObject), (status = 400), (status = 404))
)]
async fn update_client(
    _auth: AdminToken,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Json(body): Json<UpdateClient>,
) -> ApiResult<Json<ClientObject>> {
    Ok(Json(clients::update(&state, &id, body).await?))
}

/// Deletes a tenant that has no payment accounts (409 `resource_in_use` otherwise).
#[utoipa::path(
    delete, path = "/api/clients/{id}", tag = "clients", security(("admin_token" = [])),
    responses((status = 204), (status = 404), (status = 409))
)]
async fn delete_client(
    _auth: AdminToken,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    clients::delete(&state, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
