//! Wallet sessions (SPEC §7): the merchant makes one for a customer; with its credential the
//! element (wallet mode) lists, adds and removes that customer's saved methods.

use app::wire::{MerchantView, SavedMethodView, WalletConfig};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::list::{ListQuery, Listable, ODataParams};
use crate::customers::{self, CreateWalletSession, SaveAnswer, remove_payment_method, save_payment_method};
use crate::domain::account::MethodType;
use crate::domain::odata::{Field, FieldType, Resource};
use crate::domain::payment::{RequestInfo, Usage};
use crate::domain::payment_method::PaymentMethodInput;
use crate::domain::session::mask_email;
use crate::domain::time::Timestamp;
use crate::error::{ApiError, ApiResult};
use crate::extract::Json;
use crate::extract::auth::{CustomersWrite, Merchant};
use crate::extract::idempotency::IdempotencyKey;
use crate::extract::wallet::WalletAuth;
use crate::idempotency::{Idempotency, keyed};
use crate::payments::Answer;
use crate::state::AppState;
use crate::store::customers as customer_store;
use crate::store::payment_methods;
use crate::views::WalletSessionObject;

pub fn router(state: AppState) -> OpenApiRouter<AppState> {
    let browser = OpenApiRouter::new()
        .routes(routes!(wallet_config))
        .routes(routes!(list_wallet_methods, add_wallet_method))
        .routes(routes!(remove_wallet_method))
        .layer(super::browser::cors(state));
    OpenApiRouter::new().routes(routes!(create_wallet_session)).merge(browser)
}

/// Creates a wallet session for a customer (admin token + account header, or an API key with
/// `customers.write`).
#[utoipa::path(
    post, path = "/v1/wallet-sessions", tag = "wallets",
    security(("admin_token" = []), ("api_key" = ["customers.write"])),
    params(("X-Payment-Account-Uid" = Option<String>, Header)),
    request_body = CreateWalletSession,
    responses((status = 201, body = WalletSessionObject), (status = 400), (status = 401), (status = 403))
)]
async fn create_wallet_session(
    auth: Merchant<CustomersWrite>,
    State(state): State<AppState>,
    Json(body): Json<CreateWalletSession>,
) -> ApiResult<(StatusCode, Json<WalletSessionObject>)> {
    Ok((StatusCode::CREATED, Json(customers::create_wallet_session(&state, &auth.account, body).await?)))
}

#[utoipa::path(
    get, path = "/v1/wallet-sessions/{id}/config", tag = "wallets",
    security(("wallet_credential" = [])),
    responses((status = 200, body = WalletConfig), (status = 401), (status = 403), (status = 410))
)]
async fn wallet_config(auth: WalletAuth, State(state): State<AppState>) -> ApiResult<Json<WalletConfig>> {
    let customer = customer_store::get(state.db(), &auth.account.uid, &auth.wallet.customer_id).await?;
    let branding = auth.account.branding.clone();
    Ok(Json(WalletConfig {
        wallet_session_id: auth.wallet.id.clone(),
        merchant: MerchantView {
            display_name: branding.display_name.or_else(|| Some(auth.account.name.clone())),
            logo_url: branding.logo_url,
            primary_color: Some(app::color::accessible_primary(branding.primary_color.as_deref())),
        },
        customer_email_hint: customer.and_then(|c| c.email).as_deref().map(mask_email),
        locale: auth.wallet.locale.as_str().to_owned(),
        return_url: auth.wallet.return_url.clone(),
        expires_at: Timestamp(auth.wallet.expires_at).to_rfc3339(),
        methods: crate::accounts::usable_methods(&auth.account)
            .into_iter()
            .filter(|m| matches!(m, MethodType::Card | MethodType::Ach))
            .collect(),
    }))
}

/// A customer's saved methods as the customer sees them (OData: id, type, created_at).
pub struct WalletMethods;

impl Listable for WalletMethods {
    const RESOURCE: &'static Resource = &Resource {
        fields: &[
            Field { name: "id", column: "id", ty: FieldType::Text },
            Field { name: "type", column: "type", ty: FieldType::OneOf(MethodType::WORDS) },
            Field { name: "created_at", column: "created_at", ty: FieldType::DateTime },
        ],
        key: "id",
        nullable: &[],
        properties: &["id", "type", "brand", "last4", "exp_month", "exp_year", "bank_name", "account_type"],
    };
}

/// The customer's saved methods: brand and last 4, never more, newest first (OData: id, type,
/// created_at).
#[utoipa::path(
    get, path = "/v1/wallet-sessions/{id}/payment-methods", tag = "wallets",
    security(("wallet_credential" = [])),
    params(ODataParams),
    responses((status = 200, description = "{value: [SavedMethodView], @odata.count?, @odata.nextLink?}"),
              (status = 400), (status = 401), (status = 410), (status = 501))
)]
async fn list_wallet_methods(
    auth: WalletAuth,
    State(state): State<AppState>,
    list: ListQuery<WalletMethods>,
) -> ApiResult<Json<Value>> {
    let scope = payment_methods::live_listed(&auth.account.uid, &auth.wallet.customer_id);
    list.answer::<_, SavedMethodView>(state.db(), scope, payment_methods::from_row).await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddWalletMethod {
    /// card or ach, as in confirm.
    payment_method: PaymentMethodInput,
    /// Default on_session.
    #[serde(default)]
    usage: Option<Usage>,
}

/// Saves a new method to the customer's wallet. With an `Idempotency-Key` (the element sends one,
/// and keeps it when the network failed), a retry answers the first save instead of saving the
/// method twice.
#[utoipa::path(
    post, path = "/v1/wallet-sessions/{id}/payment-methods", tag = "wallets",
    security(("wallet_credential" = [])),
    params(("Idempotency-Key" = Option<String>, Header)),
    request_body = AddWalletMethod,
    responses((status = 201, body = SavedMethodView), (status = 400), (status = 402), (status = 409, description = "the customer has 100 saved methods already"), (status = 410), (status = 422))
)]
async fn add_wallet_method(
    auth: WalletAuth,
    State(state): State<AppState>,
    who: RequestInfo,
    IdempotencyKey(key): IdempotencyKey,
    Json(raw): Json<Value>,
) -> Response {
    let scope = format!("wallet:{}", auth.wallet.id);
    let path = "/v1/wallet-sessions/{id}/payment-methods";
    keyed(state.db(), &state.config().master_key, scope, key, path, raw, async |body: AddWalletMethod, idempotency| {
        add(&state, &auth, &who, body, idempotency).await
    })
    .await
}

async fn add(
    state: &AppState,
    auth: &WalletAuth,
    who: &RequestInfo,
    body: AddWalletMethod,
    keep: &Idempotency,
) -> ApiResult<Answer> {
    if !matches!(body.payment_method, PaymentMethodInput::Card { .. } | PaymentMethodInput::Ach { .. }) {
        return Err(ApiError::invalid("payment_method.type", "a wallet saves card or ach methods"));
    }
    let usage = body.usage.unwrap_or(Usage::OnSession);
    // The answer is kept for the key in the save's own transaction: a retry after any failure
    // either finds it or finds nothing saved.
    let how = SaveAnswer {
        who,
        locale: auth.wallet.locale,
        keep,
        answer: |m| Answer::json(StatusCode::CREATED, &SavedMethodView::from(m.clone())),
    };
    save_payment_method(state, &auth.account, &auth.wallet.customer_id, &body.payment_method, usage, how).await
}

/// Removes a saved method from the customer's wallet.
#[utoipa::path(
    delete, path = "/v1/wallet-sessions/{id}/payment-methods/{pm}", tag = "wallets",
    security(("wallet_credential" = [])),
    responses((status = 204), (status = 404), (status = 410))
)]
async fn remove_wallet_method(
    auth: WalletAuth,
    State(state): State<AppState>,
    Path((_id, pm)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    remove_payment_method(&state, &auth.account.uid, &auth.wallet.customer_id, &pm).await?;
    Ok(StatusCode::NO_CONTENT)
}
