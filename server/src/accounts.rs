//! Payment accounts (SPEC §7): their configuration (methods, fee rules, branding, origins,
//! processor), the redirect signing secret, and their API keys. The platform API and the
//! dashboard both come here.

use serde::Deserialize;
use utoipa::ToSchema;

use crate::domain::account::{Branding, FeeRule, MethodType, ProcessorConfig, parse_origin, validate_fee_rules};
use crate::domain::event::EventType;
use crate::domain::ids;
use crate::domain::money::Currency;
use crate::domain::time::Timestamp;
use crate::domain::validate::{self, Metadata, nullable};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::store::accounts::{self, Account, AccountChanges, NewAccount};
use crate::store::api_keys::{self, SCOPES};
use crate::store::{clients, events};
use crate::views::{AccountObject, ApiKeyObject};

/// Refuses a method the account does not take (`enabled_methods`): 400 on `param`. The one
/// place for that rule: sessions, direct payments and saved methods call it.
pub fn require_method(account: &Account, kind: MethodType, param: impl Into<String>) -> ApiResult<()> {
    if !account.enabled_methods.contains(&kind) {
        return Err(ApiError::invalid(param, format!("{kind} is not enabled on this account")));
    }
    // An account made before the currency rule below may still list it.
    if !takes_in(kind, &account.currency) {
        return Err(ApiError::invalid(param, format!("{kind} is not available in {}", account.currency)));
    }
    Ok(())
}

/// Whether a method can move money in a currency: an ACH debit moves US dollars only.
pub fn takes_in(kind: MethodType, currency: &Currency) -> bool {
    kind != MethodType::Ach || currency.is_usd()
}

/// The methods an account's payments can use: those it enables that its currency takes (an
/// account made before that rule may still list ACH in another currency).
pub fn usable_methods(account: &Account) -> Vec<MethodType> {
    account.enabled_methods.iter().copied().filter(|kind| takes_in(*kind, &account.currency)).collect()
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAccount {
    pub client_id: String,
    pub name: String,
    pub currency: Currency,
    /// Default `{"type": "sandbox"}`.
    #[serde(default)]
    pub processor: Option<ProcessorConfig>,
    /// Default: card, ach and apple_pay.
    #[serde(default)]
    pub enabled_methods: Option<Vec<MethodType>>,
    #[serde(default)]
    pub fee_rules: Vec<FeeRule>,
    #[serde(default)]
    pub branding: Branding,
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    #[serde(default)]
    pub statement_descriptor: Option<String>,
    /// Decline cards whose address check fails (default false: approve and report `avs_result`).
    #[serde(default)]
    pub reject_avs_mismatch: bool,
    #[serde(default)]
    pub metadata: Metadata,
}

fn check_methods(methods: &[MethodType], currency: &Currency) -> Result<(), ApiError> {
    if methods.is_empty() {
        return Err(ApiError::invalid("enabled_methods", "enable at least one method"));
    }
    if let Some(kind) = methods.iter().find(|kind| !takes_in(**kind, currency)) {
        return Err(ApiError::invalid("enabled_methods", format!("{kind} is not available in {currency}")));
    }
    Ok(())
}

fn check_origins(origins: &[String], sandbox: bool) -> Result<Vec<String>, ApiError> {
    if origins.len() > 50 {
        return Err(ApiError::invalid("allowed_origins", "at most 50 origins"));
    }
    let mut out: Vec<String> = Vec::with_capacity(origins.len());
    for (i, o) in origins.iter().enumerate() {
        let origin = parse_origin(o, sandbox).map_err(|m| ApiError::invalid(format!("allowed_origins[{i}]"), m))?;
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

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateAccount {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub processor: Option<ProcessorConfig>,
    #[serde(default)]
    pub enabled_methods: Option<Vec<MethodType>>,
    #[serde(default)]
    pub fee_rules: Option<Vec<FeeRule>>,
    #[serde(default)]
    pub branding: Option<Branding>,
    #[serde(default)]
    pub allowed_origins: Option<Vec<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub statement_descriptor: Option<Option<String>>,
    #[serde(default)]
    pub reject_avs_mismatch: Option<bool>,
    #[serde(default)]
    pub metadata: Option<Metadata>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKey {
    #[schema(example = "Billing back end")]
    pub label: String,
    /// Any of sessions.read, sessions.write, payments.read, payments.write, refunds.write,
    /// customers.read, customers.write, terminals.read, terminals.write, webhooks.read,
    /// webhooks.write, or `*`. A `.write` scope includes its `.read`.
    pub scopes: Vec<String>,
    /// RFC 3339; must be in the future.
    #[serde(default)]
    pub expires_at: Option<String>,
}

/// The payment account `uid`, or 404.
pub async fn find(state: &AppState, uid: &str) -> ApiResult<Account> {
    if !ids::has_shape(uid, "pa") {
        return Err(ApiError::not_found("payment account"));
    }
    accounts::get(state.db(), uid).await?.ok_or_else(|| ApiError::not_found("payment account"))
}

/// Creates a payment account; the answer carries its `redirect_signing_secret`, shown only now.
pub async fn create(state: &AppState, body: CreateAccount) -> ApiResult<AccountObject> {
    let sandbox = state.config().sandbox;
    if !ids::has_shape(&body.client_id, "cli") || clients::get(state.db(), &body.client_id).await?.is_none() {
        return Err(ApiError::invalid("client_id", "client_id names no client"));
    }
    let name = validate::text("name", &body.name, 200)?;
    // By default every method the account's currency can take.
    let enabled_methods = body
        .enabled_methods
        .unwrap_or_else(|| MethodType::ALL.iter().copied().filter(|kind| takes_in(*kind, &body.currency)).collect());
    check_methods(&enabled_methods, &body.currency)?;
    validate_fee_rules(&body.fee_rules)?;
    body.branding.validate("branding", sandbox)?;
    let allowed_origins = check_origins(&body.allowed_origins, sandbox)?;
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
    Ok(with_secret(account, secret))
}

/// Changes an account's configuration (currency and client are fixed at creation).
pub async fn update(state: &AppState, uid: &str, body: UpdateAccount) -> ApiResult<AccountObject> {
    let account = find(state, uid).await?;
    let sandbox = state.config().sandbox;
    let name = body.name.as_deref().map(|n| validate::text("name", n, 200)).transpose()?;
    if let Some(m) = &body.enabled_methods {
        check_methods(m, &account.currency)?;
    }
    if let Some(rules) = &body.fee_rules {
        validate_fee_rules(rules)?;
    }
    if let Some(b) = &body.branding {
        b.validate("branding", sandbox)?;
    }
    let allowed_origins = body.allowed_origins.as_deref().map(|o| check_origins(o, sandbox)).transpose()?;
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
    let mut tx = state.db().begin_write().await?;
    let account = accounts::update(&mut tx, &state.config().master_key, uid, changes)
        .await?
        .ok_or_else(|| ApiError::not_found("payment account"))?;
    let object = AccountObject::from(account);
    events::record(&mut tx, uid, EventType::AccountUpdated, &object).await?;
    tx.commit().await?;
    Ok(object)
}

/// Replaces the redirect signing secret; the answer shows the new one (only now).
pub async fn rotate_redirect_secret(state: &AppState, uid: &str) -> ApiResult<AccountObject> {
    let mut tx = state.db().begin_write().await?;
    let secret = accounts::rotate_redirect_secret(&mut tx, &state.config().master_key, uid)
        .await?
        .ok_or_else(|| ApiError::not_found("payment account"))?;
    let account = accounts::get_on(&mut tx, uid).await?.ok_or_else(|| ApiError::not_found("payment account"))?;
    events::record(&mut tx, uid, EventType::AccountRedirectSecretRotated, &AccountObject::from(account.clone()))
        .await?;
    tx.commit().await?;
    Ok(with_secret(account, secret))
}

/// Creates an API key for the account; the answer carries `key`, shown only now.
pub async fn create_api_key(state: &AppState, uid: &str, body: &CreateApiKey) -> ApiResult<ApiKeyObject> {
    let account = find(state, uid).await?;
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
    let mut tx = state.db().begin_write().await?;
    let (key, secret) = api_keys::create(&mut tx, &account.uid, &label, &scopes, expires_at).await?;
    let mut object = ApiKeyObject::from(key);
    events::record(&mut tx, &account.uid, EventType::ApiKeyCreated, &object).await?;
    tx.commit().await?;
    object.key = Some(secret);
    Ok(object)
}

/// Revokes an API key; it stops working at once.
pub async fn revoke_api_key(state: &AppState, uid: &str, id: &str) -> ApiResult<()> {
    let account = find(state, uid).await?;
    if !ids::has_shape(id, "ak") {
        return Err(ApiError::not_found("API key"));
    }
    let mut tx = state.db().begin_write().await?;
    let revoked = api_keys::revoke(&mut tx, &account.uid, id).await?.ok_or_else(|| ApiError::not_found("API key"))?;
    events::record(&mut tx, &account.uid, EventType::ApiKeyRevoked, &ApiKeyObject::from(revoked)).await?;
    tx.commit().await?;
    Ok(())
}
