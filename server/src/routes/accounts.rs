//! Payment accounts and their API keys: `/api/paymentaccounts` (admin token, no account header).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::list::{ListQuery, Listable};
use crate::domain::account::{Branding, FeeRule, MethodType, ProcessorConfig, parse_origin, validate_fee_rules};
use crate::domain::ids;
use crate::domain::money::Currency;
use crate::domain::odata::{Field, FieldType, Resource};
use crate::domain::time::Timestamp;
use crate::domain::validate::{self, Metadata, nullable};
use crate::error::{ApiError, ApiResult};
use crate::extract::Json;
use crate::extract::auth::AdminToken;
use crate::state::AppState;
use crate::store::accounts::{self, Account, AccountChanges, NewAccount};
use crate::store::api_keys::{self, ApiKey, SCOPES};
use crate::store::odata::Scope;
use crate::store::{Bind, clients};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_account, list_accounts))
        .routes(routes!(get_account, update_account))
        .routes(routes!(rotate_redirect_secret))
        .routes(routes!(create_api_key, list_api_keys))
        .routes(routes!(revoke_api_key))
}

/// How the account's processor shows: its type, and whether credentials are stored (never them).
#[derive(Debug, Serialize, ToSchema)]
pub struct ProcessorView {
    #[serde(rename = "type")]
    kind: String,
    credentials_configured: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AccountObject {
    uid: String,
    /// Same as `uid`.
    id: String,
    object: &'static str,
    client_id: String,
    name: String,
    currency: String,
    processor: ProcessorView,
    enabled_methods: Vec<MethodType>,
    fee_rules: Vec<FeeRule>,
    branding: Branding,
    allowed_origins: Vec<String>,
    statement_descriptor: Option<String>,
    reject_avs_mismatch: bool,
    metadata: Metadata,
    created_at: Timestamp,
    updated_at: Timestamp,
    /// Only when the account is created or the secret rotated.
    #[serde(skip_serializing_if = "Option::is_none")]
    redirect_signing_secret: Option<String>,
}

impl From<Account> for AccountObject {
    fn from(a: Account) -> Self {
        AccountObject {
            id: a.uid.clone(),
            uid: a.uid,
            object: "payment_account",
            client_id: a.client_id,
            name: a.name,
            currency: a.currency.to_string(),
            processor: ProcessorView { kind: a.processor_type, credentials_configured: a.has_processor_credentials },
            enabled_methods: a.enabled_methods,
            fee_rules: a.fee_rules,
            branding: a.branding,
            allowed_origins: a.allowed_origins,
            statement_descriptor: a.statement_descriptor,
            reject_avs_mismatch: a.reject_avs_mismatch,
            metadata: a.metadata,
            created_at: Timestamp(a.created_at),
            updated_at: Timestamp(a.updated_at),
            redirect_signing_secret: None,
        }
    }
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

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAccount {
    client_id: String,
    name: String,
    currency: Currency,
    /// Default `{"type": "sandbox"}`.
    #[serde(default)]
    processor: Option<ProcessorConfig>,
    /// Default: card, ach and apple_pay.
    #[serde(default)]
    enabled_methods: Option<Vec<MethodType>>,
    #[serde(default)]
    fee_rules: Vec<FeeRule>,
    #[serde(default)]
    branding: Branding,
    #[serde(default)]
    allowed_origins: Vec<String>,
    #[serde(default)]
    statement_descriptor: Option<String>,
    /// Decline cards whose address check fails (default false: approve and report `avs_result`).
    #[serde(default)]
    reject_avs_mismatch: bool,
    #[serde(default)]
    metadata: Metadata,
}

fn check_methods(methods: &[MethodType]) -> Result<(), ApiError> {
    if methods.is_empty() {
        return Err(ApiError::invalid("enabled_methods", "enable at least one method"));
    }
    Ok(())
}

fn check_origins(origins: &[String]) -> Result<Vec<String>, ApiError> {
    if origins.len() > 50 {
        return Err(ApiError::invalid("allowed_origins", "at most 50 origins"));
    }
    let mut out: Vec<String> = Vec::with_capacity(origins.len());
    for (i, o) in origins.iter().enumerate() {
        let origin = parse_origin(o).map_err(|m| ApiError::invalid(format!("allowed_origins[{i}]"), m))?;
        if !out.contains(&origin) {
            out.push(origin);
        }
    }
    Ok(out)
}

/// Card networks take 5 to 22 characters: letters, digits, spaces and a little punctuation.
fn check_descriptor(d: &str) -> Result<String, ApiError> {
    let d = d.trim();
    let ok = (5..=22).contains(&d.chars().count())
        && d.chars().any(|c| c.is_ascii_alphabetic())
        && d.chars().all(|c| c.is_ascii_alphanumeric() || " .-*&#/,".contains(c));
    if ok {
        Ok(d.to_owned())
    } else {
        Err(ApiError::invalid(
            "statement_descriptor",
            "statement_descriptor must be 5 to 22 letters, digits, spaces or .-*&#/, with at least one letter",
        ))
    }
}

fn with_secret(account: Account, secret: String) -> AccountObject {
    let mut object = AccountObject::from(account);
    object.redirect_signing_secret = Some(secret);
    object
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
    let sandbox = state.config().sandbox;
    if !ids::has_shape(&body.client_id, "cli") || clients::get(state.db(), &body.client_id).await?.is_none() {
        return Err(ApiError::invalid("client_id", "client_id names no client"));
    }
    let name = validate::text("name", &body.name, 200)?;
    let enabled_methods = body.enabled_methods.unwrap_or_else(|| MethodType::ALL.to_vec());
    check_methods(&enabled_methods)?;
    validate_fee_rules(&body.fee_rules)?;
    body.branding.validate("branding", sandbox)?;
    let allowed_origins = check_origins(&body.allowed_origins)?;
    let statement_descriptor = body.statement_descriptor.as_deref().map(check_descriptor).transpose()?;
    validate::metadata("metadata", &body.metadata)?;
    let new = NewAccount {
        client_id: body.client_id,
        name,
        currency: body.currency,
        processor: body.processor.unwrap_or(ProcessorConfig::Sandbox { credentials: None }),
        enabled_methods,
        fee_rules: body.fee_rules,
        branding: body.branding,
        allowed_origins,
        statement_descriptor,
        reject_avs_mismatch: body.reject_avs_mismatch,
        metadata: body.metadata,
    };
    let (account, secret) = accounts::insert(state.db(), &state.config().master_key, new).await?;
    Ok((StatusCode::CREATED, Json(with_secret(account, secret))))
}

/// Lists payment accounts (OData: uid, client_id, name, created_at).
#[utoipa::path(
    get, path = "/api/paymentaccounts", tag = "payment accounts", security(("admin_token" = [])),
    params(("$filter" = Option<String>, Query), ("$orderby" = Option<String>, Query), ("$top" = Option<i64>, Query),
           ("$skip" = Option<i64>, Query), ("$count" = Option<bool>, Query), ("$select" = Option<String>, Query)),
    responses((status = 200, description = "{value, @odata.count?, @odata.nextLink?}"), (status = 400), (status = 501))
)]
async fn list_accounts(
    _auth: AdminToken,
    State(state): State<AppState>,
    list: ListQuery<Accounts>,
) -> ApiResult<Json<serde_json::Value>> {
    let scope = Scope { table: "payment_accounts", columns: accounts::COLUMNS, condition: "", binds: vec![] };
    list.answer::<_, AccountObject>(state.db(), scope, accounts::from_row).await
}

async fn find(state: &AppState, uid: &str) -> ApiResult<Account> {
    if !ids::has_shape(uid, "pa") {
        return Err(ApiError::not_found("payment account"));
    }
    accounts::get(state.db(), uid).await?.ok_or_else(|| ApiError::not_found("payment account"))
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
    Ok(Json(find(&state, &uid).await?.into()))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateAccount {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    processor: Option<ProcessorConfig>,
    #[serde(default)]
    enabled_methods: Option<Vec<MethodType>>,
    #[serde(default)]
    fee_rules: Option<Vec<FeeRule>>,
    #[serde(default)]
    branding: Option<Branding>,
    #[serde(default)]
    allowed_origins: Option<Vec<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    statement_descriptor: Option<Option<String>>,
    #[serde(default)]
    reject_avs_mismatch: Option<bool>,
    #[serde(default)]
    metadata: Option<Metadata>,
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
    find(&state, &uid).await?;
    let sandbox = state.config().sandbox;
    let name = body.name.as_deref().map(|n| validate::text("name", n, 200)).transpose()?;
    if let Some(m) = &body.enabled_methods {
        check_methods(m)?;
    }
    if let Some(rules) = &body.fee_rules {
        validate_fee_rules(rules)?;
    }
    if let Some(b) = &body.branding {
        b.validate("branding", sandbox)?;
    }
    let allowed_origins = body.allowed_origins.as_deref().map(check_origins).transpose()?;
    let statement_descriptor = match body.statement_descriptor {
        Some(Some(d)) => Some(Some(check_descriptor(&d)?)),
        other => other,
    };
    if let Some(m) = &body.metadata {
        validate::metadata("metadata", m)?;
    }
    let changes = AccountChanges {
        name,
        processor: body.processor,
        enabled_methods: body.enabled_methods,
        fee_rules: body.fee_rules,
        branding: body.branding,
        allowed_origins,
        statement_descriptor,
        reject_avs_mismatch: body.reject_avs_mismatch,
        metadata: body.metadata,
    };
    let account = accounts::update(state.db(), &state.config().master_key, &uid, changes)
        .await?
        .ok_or_else(|| ApiError::not_found("payment account"))?;
    Ok(Json(account.into()))
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
) -> ApiResult<Json<AccountObject>> {
    find(&state, &uid).await?;
    let secret = accounts::rotate_redirect_secret(state.db(), &state.config().master_key, &uid)
        .await?
        .ok_or_else(|| ApiError::not_found("payment account"))?;
    let account = find(&state, &uid).await?;
    Ok(Json(with_secret(account, secret)))
}

// ----- API keys -----

#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyObject {
    id: String,
    object: &'static str,
    account_uid: String,
    /// The key itself: only in the answer that created it.
    #[serde(skip_serializing_if = "Option::is_none")]
    key: Option<String>,
    prefix: String,
    label: String,
    scopes: Vec<String>,
    expires_at: Option<Timestamp>,
    last_used_at: Option<Timestamp>,
    revoked_at: Option<Timestamp>,
    created_at: Timestamp,
}

impl From<ApiKey> for ApiKeyObject {
    fn from(k: ApiKey) -> Self {
        ApiKeyObject {
            id: k.id,
            object: "api_key",
            account_uid: k.account_uid,
            key: None,
            prefix: k.prefix,
            label: k.label,
            scopes: k.scopes,
            expires_at: k.expires_at.map(Timestamp),
            last_used_at: k.last_used_at.map(Timestamp),
            revoked_at: k.revoked_at.map(Timestamp),
            created_at: Timestamp(k.created_at),
        }
    }
}

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
        ],
    };
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKey {
    #[schema(example = "Billing back end")]
    label: String,
    /// Any of sessions.read, sessions.write, payments.read, payments.write, refunds.write,
    /// customers.read, customers.write, terminals.read, terminals.write, webhooks.read,
    /// webhooks.write, or `*`. A `.write` scope includes its `.read`.
    scopes: Vec<String>,
    /// RFC 3339; must be in the future.
    #[serde(default)]
    expires_at: Option<String>,
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
    let account = find(&state, &uid).await?;
    let label = validate::text("label", &body.label, 100)?;
    if body.scopes.is_empty() {
        return Err(ApiError::invalid("scopes", "give at least one scope"));
    }
    let mut scopes: Vec<String> = Vec::new();
    for (i, s) in body.scopes.iter().enumerate() {
        if !SCOPES.contains(&s.as_str()) {
            return Err(ApiError::invalid(format!("scopes[{i}]"), format!("{s:?} is not a scope")));
        }
        if !scopes.contains(s) {
            scopes.push(s.clone());
        }
    }
    let expires_at = match &body.expires_at {
        None => None,
        Some(text) => {
            let t = Timestamp::parse_rfc3339(text)
                .ok_or_else(|| ApiError::invalid("expires_at", "expires_at must be an RFC 3339 date-time"))?;
            if t <= Timestamp::now() {
                return Err(ApiError::invalid("expires_at", "expires_at must be in the future"));
            }
            Some(t.millis())
        }
    };
    let (key, secret) = api_keys::create(state.db(), &account.uid, &label, &scopes, expires_at).await?;
    let mut object = ApiKeyObject::from(key);
    object.key = Some(secret);
    Ok((StatusCode::CREATED, Json(object)))
}

/// Lists the account's API keys (never the keys themselves).
#[utoipa::path(
    get, path = "/api/paymentaccounts/{uid}/api-keys", tag = "payment accounts", security(("admin_token" = [])),
    params(("$filter" = Option<String>, Query), ("$orderby" = Option<String>, Query), ("$top" = Option<i64>, Query),
           ("$skip" = Option<i64>, Query), ("$count" = Option<bool>, Query), ("$select" = Option<String>, Query)),
    responses((status = 200, description = "{value, @odata.count?, @odata.nextLink?}"), (status = 404))
)]
async fn list_api_keys(
    _auth: AdminToken,
    State(state): State<AppState>,
    Path(uid): Path<String>,
    list: ListQuery<ApiKeys>,
) -> ApiResult<Json<serde_json::Value>> {
    let account = find(&state, &uid).await?;
    let scope = Scope {
        table: "api_keys",
        columns: api_keys::COLUMNS,
        condition: "account_uid = $1",
        binds: vec![Bind::Text(account.uid)],
    };
    list.answer::<_, ApiKeyObject>(state.db(), scope, api_keys::from_row).await
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
    let account = find(&state, &uid).await?;
    if ids::has_shape(&id, "ak") && api_keys::revoke(state.db(), &account.uid, &id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("API key"))
    }
}
