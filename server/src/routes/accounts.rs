//! Payment accounts and their API keys: `/api/paymentaccounts` (admin token, no account header).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::list::{ListQuery, Listable, ODataParams};
use crate::accounts::{self, CreateAccount, CreateApiKey, UpdateAccount};
use crate::domain::odata::{Field, FieldType, Resource};
use crate::error::ApiResult;
use crate::extract::auth::AdminToken;
use crate::extract::{Json, NoFields};
use crate::state::AppState;
use crate::store::{accounts as account_store, api_keys};
use crate::views::{AccountObject, ApiKeyObject};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_account, list_accounts))
        .routes(routes!(get_account, update_account))
        .routes(routes!(rotate_redirect_secret))
        .routes(routes!(create_api_key, list_api_keys))
        .routes(routes!(revoke_api_key))
}

pub struct Accounts;

impl Listable for Accounts {
    const RESOURCE: &'static Resource = &Resource {
        fields: &[
            Field { name: "uid", column: "uid", ty: FieldType::Text },
            Field { name: "client_id", column: "client_id", ty: FieldType::Text },
            Field { name: "name", column: "name", ty: FieldType::Text },
            Field { name: "created_at", column: "created_at", ty: FieldType::DateTime },
        ],
        key: "uid",
        nullable: &[],
        properties: &[
            "uid",
            "id",
            "object",
            "client_id",
            "name",
            "currency",
            "processor",
            "enabled_methods",
            "fee_rules",
            "branding",
            "allowed_origins",
            "statement_descriptor",
            "reject_avs_mismatch",
            "metadata",
            "created_at",
            "updated_at",
        ],
    };
}

/// Creates a payment account; the answer carries its `redirect_signing_secret`, shown only now.
#[utoipa::path(
    post, path = "/api/paymentaccounts", tag = "payment accounts", security(("admin_token" = [])),
    request_body = CreateAccount,
    responses((status = 201, body = AccountObject), (status = 400), (status = 401), (status = 403))
)]
async fn create_account(
    _auth: AdminToken,
    State(state): State<AppState>,
    Json(body): Json<CreateAccount>,
) -> ApiResult<(StatusCode, Json<AccountObject>)> {
    Ok((StatusCode::CREATED, Json(accounts::create(&state, body).await?)))
}

/// Lists payment accounts (OData: uid, client_id, name, created_at).
#[utoipa::path(
    get, path = "/api/paymentaccounts", tag = "payment accounts", security(("admin_token" = [])),
    params(ODataParams),
    responses((status = 200, description = "{value, @odata.count?, @odata.nextLink?}"), (status = 400), (status = 501))
)]
async fn list_accounts(
    _auth: AdminToken,
    State(state): State<AppState>,
    list: ListQuery<Accounts>,
) -> ApiResult<Json<serde_json::Value>> {
    list.answer::<_, AccountObject>(state.db(), account_store::listed(), account_store::from_row).await
}

/// Gets a payment account.
#[utoipa::path(
    get, path = "/api/paymentaccounts/{uid}", tag = "payment accounts", security(("admin_token" = [])),
    responses((status = 200, body = AccountObject), (status = 404))
)]
async fn get_account(
    _auth: AdminToken,
    State(state): State<AppState>,
    Path(uid): Path<String>,
) -> ApiResult<Json<AccountObject>> {
    Ok(Json(accounts::find(&state, &uid).await?.into()))
}

/// Changes an account's configuration (currency and client are fixed at creation).
#[utoipa::path(
    patch, path = "/api/paymentaccounts/{uid}", tag = "payment accounts", security(("admin_token" = [])),
    request_body = UpdateAccount,
    responses((status = 200, body = AccountObject), (status = 400), (status = 404))
)]
async fn update_account(
    _auth: AdminToken,
    State(state): State<AppState>,
    Path(uid): Path<String>,
    Json(body): Json<UpdateAccount>,
) -> ApiResult<Json<AccountObject>> {
    Ok(Json(accounts::update(&state, &uid, body).await?))
}

/// Replaces the redirect signing secret; the answer shows the new one (only now).
#[utoipa::path(
    post, path = "/api/paymentaccounts/{uid}/rotate-redirect-secret", tag = "payment accounts",
    security(("admin_token" = [])),
    responses((status = 200, body = AccountObject), (status = 404))
)]
async fn rotate_redirect_secret(
    _auth: AdminToken,
    State(state): State<AppState>,
    Path(uid): Path<String>,
    _no_fields: NoFields,
) -> ApiResult<Json<AccountObject>> {
    Ok(Json(accounts::rotate_redirect_secret(&state, &uid).await?))
}

// ----- API keys -----

pub struct ApiKeys;

impl Listable for ApiKeys {
    const RESOURCE: &'static Resource = &Resource {
        fields: &[
            Field { name: "id", column: "id", ty: FieldType::Text },
            Field { name: "label", column: "label", ty: FieldType::Text },
            Field { name: "expires_at", column: "expires_at", ty: FieldType::DateTime },
            Field { name: "last_used_at", column: "last_used_at", ty: FieldType::DateTime },
            Field { name: "revoked_at", column: "revoked_at", ty: FieldType::DateTime },
            Field { name: "created_at", column: "created_at", ty: FieldType::DateTime },
        ],
        key: "id",
        nullable: &["expires_at", "last_used_at", "revoked_at"],
        properties: &[
            "id",
            "object",
            "account_uid",
            "prefix",
            "label",
            "scopes",
            "expires_at",
            "last_used_at",
            "revoked_at",
            "created_at",
            "updated_at",
        ],
    };
}

/// Creates an API key for the account; the answer carries `key`, shown only now.
#[utoipa::path(
    post, path = "/api/paymentaccounts/{uid}/api-keys", tag = "payment accounts", security(("admin_token" = [])),
    request_body = CreateApiKey,
    responses((status = 201, body = ApiKeyObject), (status = 400), (status = 404))
)]
async fn create_api_key(
    _auth: AdminToken,
    State(state): State<AppState>,
    Path(uid): Path<String>,
    Json(body): Json<CreateApiKey>,
) -> ApiResult<(StatusCode, Json<ApiKeyObject>)> {
    Ok((StatusCode::CREATED, Json(accounts::create_api_key(&state, &uid, &body).await?)))
}

/// Lists the account's API keys, never the keys themselves (OData: id, label, expires_at,
/// last_used_at, revoked_at, created_at).
#[utoipa::path(
    get, path = "/api/paymentaccounts/{uid}/api-keys", tag = "payment accounts", security(("admin_token" = [])),
    params(ODataParams),
    responses((status = 200, description = "{value, @odata.count?, @odata.nextLink?}"), (status = 404))
)]
async fn list_api_keys(
    _auth: AdminToken,
    State(state): State<AppState>,
    Path(uid): Path<String>,
    list: ListQuery<ApiKeys>,
) -> ApiResult<Json<serde_json::Value>> {
    let account = accounts::find(&state, &uid).await?;
    list.answer::<_, ApiKeyObject>(state.db(), api_keys::listed(&account.uid), api_keys::from_row).await
}

/// Revokes an API key; it stops working at once.
#[utoipa::path(
    delete, path = "/api/paymentaccounts/{uid}/api-keys/{id}", tag = "payment accounts",
    security(("admin_token" = [])),
    responses((status = 204), (status = 404))
)]
async fn revoke_api_key(
    _auth: AdminToken,
    State(state): State<AppState>,
    Path((uid, id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    accounts::revoke_api_key(&state, &uid, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
