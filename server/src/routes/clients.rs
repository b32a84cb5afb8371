//! Tenants: `/api/clients` (admin token, no account header).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::list::{ListQuery, Listable};
use crate::domain::ids;
use crate::domain::odata::{Field, FieldType, Resource};
use crate::domain::time::Timestamp;
use crate::domain::validate::{self, Metadata, nullable};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::extract::Json;
use crate::extract::auth::AdminToken;
use crate::state::AppState;
use crate::store::clients::{self, Client, ClientChanges, Deleted};
use crate::store::odata::Scope;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(create_client, list_clients)).routes(routes!(
        get_client,
        update_client,
        delete_client
    ))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ClientObject {
    id: String,
    object: &'static str,
    name: String,
    contact_email: Option<String>,
    metadata: Metadata,
    created_at: Timestamp,
    updated_at: Timestamp,
}

impl From<Client> for ClientObject {
    fn from(c: Client) -> Self {
        ClientObject {
            id: c.id,
            object: "client",
            name: c.name,
            contact_email: c.contact_email,
            metadata: c.metadata,
            created_at: Timestamp(c.created_at),
            updated_at: Timestamp(c.updated_at),
        }
    }
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
        properties: &["id", "object", "name", "contact_email", "metadata", "created_at", "updated_at"],
    };
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateClient {
    #[schema(example = "City of Example")]
    name: String,
    #[serde(default)]
    contact_email: Option<String>,
    #[serde(default)]
    metadata: Metadata,
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
    let name = validate::text("name", &body.name, 200)?;
    if let Some(email) = &body.contact_email {
        validate::email("contact_email", email)?;
    }
    validate::metadata("metadata", &body.metadata)?;
    let client = clients::insert(state.db(), &name, body.contact_email.as_deref(), &body.metadata).await?;
    Ok((StatusCode::CREATED, Json(client.into())))
}

/// Lists tenants (OData: id, name, contact_email, created_at).
#[utoipa::path(
    get, path = "/api/clients", tag = "clients", security(("admin_token" = [])),
    params(("$filter" = Option<String>, Query), ("$orderby" = Option<String>, Query), ("$top" = Option<i64>, Query),
           ("$skip" = Option<i64>, Query), ("$count" = Option<bool>, Query), ("$select" = Option<String>, Query)),
    responses((status = 200, description = "{value, @odata.count?, @odata.nextLink?}"), (status = 400), (status = 501))
)]
async fn list_clients(
    _auth: AdminToken,
    State(state): State<AppState>,
    list: ListQuery<Clients>,
) -> ApiResult<Json<serde_json::Value>> {
    let scope = Scope { table: "clients", columns: clients::COLUMNS, condition: "", binds: vec![] };
    list.answer::<_, ClientObject>(state.db(), scope, clients::from_row).await
}

async fn find(state: &AppState, id: &str) -> ApiResult<Client> {
    if !ids::has_shape(id, "cli") {
        return Err(ApiError::not_found("client"));
    }
    clients::get(state.db(), id).await?.ok_or_else(|| ApiError::not_found("client"))
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
    Ok(Json(find(&state, &id).await?.into()))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateClient {
    #[serde(default)]
    name: Option<String>,
    /// `null` clears it.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    contact_email: Option<Option<String>>,
    #[serde(default)]
    metadata: Option<Metadata>,
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
    find(&state, &id).await?;
    let name = body.name.as_deref().map(|n| validate::text("name", n, 200)).transpose()?;
    if let Some(Some(email)) = &body.contact_email {
        validate::email("contact_email", email)?;
    }
    if let Some(m) = &body.metadata {
        validate::metadata("metadata", m)?;
    }
    let changes = ClientChanges { name, contact_email: body.contact_email, metadata: body.metadata };
    let client = clients::update(state.db(), &id, changes).await?.ok_or_else(|| ApiError::not_found("client"))?;
    Ok(Json(client.into()))
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
    if !ids::has_shape(&id, "cli") {
        return Err(ApiError::not_found("client"));
    }
    match clients::delete(state.db(), &id).await? {
        Deleted::Yes => Ok(StatusCode::NO_CONTENT),
        Deleted::NotFound => Err(ApiError::not_found("client")),
        Deleted::InUse => Err(ApiError::new(ErrorCode::ResourceInUse, "The client still has payment accounts")),
    }
}
