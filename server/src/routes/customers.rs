//! Customers and their saved payment methods: `/api/customers` (admin token + account header,
//! or an API key with `customers.read` / `customers.write`).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::list::{ListQuery, Listable, ODataParams};
use crate::customers::{self, CreateCustomer, SaveAnswer, UpdateCustomer, remove_payment_method, save_payment_method};
use crate::domain::odata::{Field, FieldType, Resource};
use crate::domain::payment::{RequestInfo, Usage};
use crate::domain::payment_method::PaymentMethodInput;
use crate::domain::session::Locale;
use crate::error::ApiResult;
use crate::extract::Json;
use crate::extract::auth::{CustomersRead, CustomersWrite, Merchant};
use crate::extract::idempotency::IdempotencyKey;
use crate::idempotency::keyed;
use crate::payments::Answer;
use crate::state::AppState;
use crate::store::{customers as customer_store, payment_methods};
use crate::views::{CustomerObject, PaymentMethodObject};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_customer, list_customers))
        .routes(routes!(get_customer, update_customer, delete_customer))
        .routes(routes!(save_method, list_methods))
        .routes(routes!(remove_method))
}

pub struct Customers;

impl Listable for Customers {
    const RESOURCE: &'static Resource = &Resource {
        fields: &[
            Field { name: "id", column: "id", ty: FieldType::Text },
            Field { name: "email", column: "email", ty: FieldType::Text },
            Field { name: "name", column: "name", ty: FieldType::Text },
            Field { name: "reference", column: "reference", ty: FieldType::Text },
            Field { name: "created_at", column: "created_at", ty: FieldType::DateTime },
        ],
        key: "id",
        nullable: &["email", "name", "reference"],
        properties: &["id", "object", "email", "name", "phone", "reference", "metadata", "created_at", "updated_at"],
    };
}

pub struct PaymentMethods;

impl Listable for PaymentMethods {
    const RESOURCE: &'static Resource = &Resource {
        fields: &[
            Field { name: "id", column: "id", ty: FieldType::Text },
            Field { name: "type", column: "type", ty: FieldType::OneOf(crate::domain::account::MethodType::WORDS) },
            Field { name: "usage", column: "usage", ty: FieldType::OneOf(Usage::WORDS) },
            Field { name: "created_at", column: "created_at", ty: FieldType::DateTime },
        ],
        key: "id",
        nullable: &[],
        properties: &[
            "id",
            "object",
            "customer_id",
            "type",
            "brand",
            "last4",
            "exp_month",
            "exp_year",
            "funding",
            "bank_name",
            "account_type",
            "usage",
            "fingerprint",
            "created_at",
        ],
    };
}

/// Creates a customer (event `customer.created`).
#[utoipa::path(
    post, path = "/api/customers", tag = "customers",
    security(("admin_token" = []), ("api_key" = ["customers.write"])),
    params(("X-Payment-Account-Uid" = Option<String>, Header, description = "With an admin token")),
    request_body = CreateCustomer,
    responses((status = 201, body = CustomerObject), (status = 400), (status = 401), (status = 403))
)]
async fn create_customer(
    auth: Merchant<CustomersWrite>,
    State(state): State<AppState>,
    Json(body): Json<CreateCustomer>,
) -> ApiResult<(StatusCode, Json<CustomerObject>)> {
    Ok((StatusCode::CREATED, Json(customers::create(&state, &auth.account, body).await?)))
}

/// Lists the account's customers (OData: id, email, name, reference, created_at).
#[utoipa::path(
    get, path = "/api/customers", tag = "customers",
    security(("admin_token" = []), ("api_key" = ["customers.read"])),
    params(("X-Payment-Account-Uid" = Option<String>, Header), ODataParams),
    responses((status = 200, description = "{value, @odata.count?, @odata.nextLink?}"), (status = 400), (status = 501))
)]
async fn list_customers(
    auth: Merchant<CustomersRead>,
    State(state): State<AppState>,
    list: ListQuery<Customers>,
) -> ApiResult<Json<serde_json::Value>> {
    let scope = customer_store::listed(&auth.account.uid);
    list.answer::<_, CustomerObject>(state.db(), scope, customer_store::from_row).await
}

/// Gets a customer.
#[utoipa::path(
    get, path = "/api/customers/{id}", tag = "customers",
    security(("admin_token" = []), ("api_key" = ["customers.read"])),
    params(("X-Payment-Account-Uid" = Option<String>, Header)),
    responses((status = 200, body = CustomerObject), (status = 404))
)]
async fn get_customer(
    auth: Merchant<CustomersRead>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<CustomerObject>> {
    Ok(Json(customers::find(&state, &auth.account.uid, &id).await?.into()))
}

/// Changes a customer (`null` clears a field).
#[utoipa::path(
    patch, path = "/api/customers/{id}", tag = "customers",
    security(("admin_token" = []), ("api_key" = ["customers.write"])),
    params(("X-Payment-Account-Uid" = Option<String>, Header)),
    request_body = UpdateCustomer,
    responses((status = 200, body = CustomerObject), (status = 400), (status = 404))
)]
async fn update_customer(
    auth: Merchant<CustomersWrite>,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Json(body): Json<UpdateCustomer>,
) -> ApiResult<Json<CustomerObject>> {
    Ok(Json(customers::update(&state, &auth.account, &id, body).await?))
}

/// Deletes a customer and their saved methods.
#[utoipa::path(
    delete, path = "/api/customers/{id}", tag = "customers",
    security(("admin_token" = []), ("api_key" = ["customers.write"])),
    params(("X-Payment-Account-Uid" = Option<String>, Header)),
    responses((status = 204), (status = 404))
)]
async fn delete_customer(
    auth: Merchant<CustomersWrite>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    customers::delete(&state, &auth.account, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SaveMethod {
    /// `card` or `ach`, as in confirm.
    payment_method: PaymentMethodInput,
    usage: Usage,
}

/// Tokenizes and saves a payment method for the customer (event `payment_method.saved`).
#[utoipa::path(
    post, path = "/api/customers/{id}/payment-methods", tag = "customers",
    security(("admin_token" = []), ("api_key" = ["customers.write"])),
    params(("X-Payment-Account-Uid" = Option<String>, Header), ("Idempotency-Key" = Option<String>, Header)),
    request_body = SaveMethod,
    responses((status = 201, body = PaymentMethodObject), (status = 400), (status = 402), (status = 404),
               (status = 409, description = "the customer has 100 saved methods already"))
)]
async fn save_method(
    auth: Merchant<CustomersWrite>,
    State(state): State<AppState>,
    who: RequestInfo,
    Path(id): Path<String>,
    IdempotencyKey(key): IdempotencyKey,
    Json(raw): Json<Value>,
) -> Response {
    // A back end that retries a save whose answer it lost (same key) gets the first method back,
    // not a second one with a second mandate.
    let scope = format!("payment-methods:{}", auth.account.uid);
    let path = format!("/api/customers/{id}/payment-methods");
    keyed(state.db(), &state.config().master_key, scope, key, &path, raw, async |body: SaveMethod, keep| {
        let customer = customers::find(&state, &auth.account.uid, &id).await?;
        // The merchant's back end records the customer's mandate it collected (English text).
        let how = SaveAnswer {
            who: &who,
            locale: Locale::En,
            keep,
            answer: |m| Answer::json(StatusCode::CREATED, &PaymentMethodObject::from(m.clone())),
        };
        save_payment_method(&state, &auth.account, &customer.id, &body.payment_method, body.usage, how).await
    })
    .await
}

/// Lists a customer's saved methods: brand, last 4, expiry, never more (OData: id, type, usage,
/// created_at).
#[utoipa::path(
    get, path = "/api/customers/{id}/payment-methods", tag = "customers",
    security(("admin_token" = []), ("api_key" = ["customers.read"])),
    params(("X-Payment-Account-Uid" = Option<String>, Header), ODataParams),
    responses((status = 200, description = "{value: [payment_method]}"), (status = 400), (status = 404), (status = 501))
)]
async fn list_methods(
    auth: Merchant<CustomersRead>,
    State(state): State<AppState>,
    Path(id): Path<String>,
    list: ListQuery<PaymentMethods>,
) -> ApiResult<Json<serde_json::Value>> {
    let customer = customers::find(&state, &auth.account.uid, &id).await?;
    let scope = payment_methods::live_listed(&auth.account.uid, &customer.id);
    list.answer::<_, PaymentMethodObject>(state.db(), scope, payment_methods::from_row).await
}

/// Removes a saved method (event `payment_method.removed`).
#[utoipa::path(
    delete, path = "/api/customers/{id}/payment-methods/{pm}", tag = "customers",
    security(("admin_token" = []), ("api_key" = ["customers.write"])),
    params(("X-Payment-Account-Uid" = Option<String>, Header)),
    responses((status = 204), (status = 404))
)]
async fn remove_method(
    auth: Merchant<CustomersWrite>,
    State(state): State<AppState>,
    Path((id, pm)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let customer = customers::find(&state, &auth.account.uid, &id).await?;
    remove_payment_method(&state, &auth.account.uid, &customer.id, &pm).await?;
    Ok(StatusCode::NO_CONTENT)
}
