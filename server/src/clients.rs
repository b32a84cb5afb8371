//! Tenants (`cli_`): the merchant organisations that own payment accounts (admin token).

use serde::Deserialize;
use utoipa::ToSchema;

use crate::domain::ids;
use crate::domain::validate::{self, Metadata, nullable};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::state::AppState;
use crate::store::clients::{self as client_store, Client, ClientChanges, Deleted};
use crate::views::ClientObject;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateClient {
    #[schema(example = "City of Example")]
    pub name: String,
    #[serde(default)]
    pub contact_email: Option<String>,
    #[serde(default)]
    pub metadata: Metadata,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateClient {
    #[serde(default)]
    pub name: Option<String>,
    /// `null` clears it.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub contact_email: Option<Option<String>>,
    #[serde(default)]
    pub metadata: Option<Metadata>,
}

/// The tenant `id`, or 404.
pub async fn find(state: &AppState, id: &str) -> ApiResult<Client> {
    if !ids::has_shape(id, "cli") {
        return Err(ApiError::not_found("client"));
    }
    client_store::get(state.db(), id).await?.ok_or_else(|| ApiError::not_found("client"))
}

/// Creates a tenant.
pub async fn create(state: &AppState, body: &CreateClient) -> ApiResult<ClientObject> {
    let name = validate::text("name", &body.name, 200)?;
    if let Some(email) = &body.contact_email {
        validate::email("contact_email", email)?;
    }
    validate::metadata("metadata", &body.metadata)?;
    let client = client_store::insert(state.db(), &name, body.contact_email.as_deref(), &body.metadata).await?;
    Ok(client.into())
}

/// Changes a tenant's name, contact email or metadata.
pub async fn update(state: &AppState, id: &str, body: UpdateClient) -> ApiResult<ClientObject> {
    find(state, id).await?;
    let name = body.name.as_deref().map(|n| validate::text("name", n, 200)).transpose()?;
    if let Some(Some(email)) = &body.contact_email {
        validate::email("contact_email", email)?;
    }
    if let Some(m) = &body.metadata {
        validate::metadata("metadata", m)?;
    }
    let changes = ClientChanges { name, contact_email: body.contact_email, metadata: body.metadata };
    let client = client_store::update(state.db(), id, changes).await?.ok_or_else(|| ApiError::not_found("client"))?;
    Ok(client.into())
}

/// Deletes a tenant that has no payment accounts (409 `resource_in_use` otherwise).
pub async fn delete(state: &AppState, id: &str) -> ApiResult<()> {
    if !ids::has_shape(id, "cli") {
        return Err(ApiError::not_found("client"));
    }
    match client_store::delete(state.db(), id).await? {
        Deleted::Yes => Ok(()),
        Deleted::NotFound => Err(ApiError::not_found("client")),
        Deleted::InUse => Err(ApiError::new(ErrorCode::ResourceInUse, "The client still has payment accounts")),
    }
}
