//! Customers and their saved payment methods: `/api/customers` (admin token + account header,
//! or an API key with `customers.read` / `customers.write`).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::list::{ListQuery, Listable};
use crate::customers::{remove_payment_method, save_payment_method};
use crate::domain::event::EventType;
use crate::domain::ids;
use crate::domain::odata::{Field, FieldType, Resource};
use crate::domain::payment::{RequestInfo, Usage};
use crate::domain::payment_method::PaymentMethodInput;
use crate::domain::session::Locale;
use crate::domain::validate::{self, Metadata, nullable};
use crate::error::{ApiError, ApiResult};
use crate::extract::Json;
use crate::extract::auth::{CustomersRead, CustomersWrite, Merchant};
use crate::state::AppState;
use crate::store::customers::{self, Customer, CustomerChanges, NewCustomer};
use crate::store::odata::Scope;
use crate::store::payment_methods;
use crate::store::{Bind, events};
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
        properties: &["id", "object", "email", "name", "phone", "reference", "metadata", "created_at", "updated_at"],
    };
}

pub struct PaymentMethods;

impl Listable for PaymentMethods {
    const RESOURCE: &'static Resource = &Resource {
        fields: &[
            Field { name: "id", column: "id", ty: FieldType::Text },
            Field { name: "type", column: "type", ty: FieldType::Text },
            Field { name: "usage", column: "usage", ty: FieldType::Text },
            Field { name: "created_at", column: "created_at", ty: FieldType::DateTime },
        ],
        key: "id",
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

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCustomer {
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    phone: Option<String>,
    #[serde(default)]
    reference: Option<String>,
    #[serde(default)]
    metadata: Metadata,
}

/// Checks the optional contact fields shared by create and update.
fn check_contact(
    email: Option<&str>,
    name: Option<&str>,
    phone: Option<&str>,
    reference: Option<&str>,
) -> Result<(), ApiError> {
    if let Some(e) = email {
        validate::email("email", e)?;
    }
    if let Some(n) = name {
        validate::text("name", n, 200)?;
    }
    if let Some(p) = phone {
        let digits = p.chars().filter(char::is_ascii_digit).count();
        if !(7..=15).contains(&digits) || !p.chars().all(|c| c.is_ascii_digit() || " +-().".contains(c)) {
            return Err(ApiError::invalid("phone", "phone must be a telephone number (7 to 15 digits)"));
        }
    }
    if let Some(r) = reference {
        validate::text("reference", r, 255)?;
    }
    Ok(())
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
    check_contact(body.email.as_deref(), body.name.as_deref(), body.phone.as_deref(), body.reference.as_deref())?;
    validate::metadata("metadata", &body.metadata)?;
    let new = NewCustomer {
        email: body.email,
        name: body.name.map(|n| n.trim().to_owned()),
        phone: body.phone,
        reference: body.reference,
        metadata: body.metadata,
    };
    let mut tx = state.db().begin_write().await?;
    let customer = customers::insert(&mut tx, &auth.account.uid, new).await?;
    let object = CustomerObject::from(customer);
    events::record(&mut tx, &auth.account.uid, EventType::CustomerCreated, &object).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(object)))
}

/// Lists the account's customers (OData: id, email, name, reference, created_at).
#[utoipa::path(
    get, path = "/api/customers", tag = "customers",
    security(("admin_token" = []), ("api_key" = ["customers.read"])),
    params(("X-Payment-Account-Uid" = Option<String>, Header), ("$filter" = Option<String>, Query),
           ("$orderby" = Option<String>, Query), ("$top" = Option<i64>, Query), ("$skip" = Option<i64>, Query),
           ("$count" = Option<bool>, Query), ("$select" = Option<String>, Query)),
    responses((status = 200, description = "{value, @odata.count?, @odata.nextLink?}"), (status = 400), (status = 501))
)]
async fn list_customers(
    auth: Merchant<CustomersRead>,
    State(state): State<AppState>,
    list: ListQuery<Customers>,
) -> ApiResult<Json<serde_json::Value>> {
    let scope = Scope {
        table: "customers",
        columns: customers::COLUMNS,
        condition: "account_uid = $1 AND deleted_at IS NULL",
        binds: vec![Bind::Text(auth.account.uid.clone())],
    };
    list.answer::<_, CustomerObject>(state.db(), scope, customers::from_row).await
}

async fn find(state: &AppState, account_uid: &str, id: &str) -> ApiResult<Customer> {
    if !ids::has_shape(id, "cus") {
        return Err(ApiError::not_found("customer"));
    }
    customers::get(state.db(), account_uid, id).await?.ok_or_else(|| ApiError::not_found("customer"))
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
    Ok(Json(find(&state, &auth.account.uid, &id).await?.into()))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateCustomer {
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    email: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    name: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    phone: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    reference: Option<Option<String>>,
    #[serde(default)]
    metadata: Option<Metadata>,
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
    find(&state, &auth.account.uid, &id).await?;
    let inner = |v: &Option<Option<String>>| v.as_ref().and_then(|x| x.as_deref()).map(str::to_owned);
    check_contact(
        inner(&body.email).as_deref(),
        inner(&body.name).as_deref(),
        inner(&body.phone).as_deref(),
        inner(&body.reference).as_deref(),
    )?;
    if let Some(m) = &body.metadata {
        validate::metadata("metadata", m)?;
    }
    let changes = CustomerChanges {
        email: body.email,
        name: body.name.map(|n| n.map(|n| n.trim().to_owned())),
        phone: body.phone,
        reference: body.reference,
        metadata: body.metadata,
    };
    let customer = customers::update(state.db(), &auth.account.uid, &id, changes)
        .await?
        .ok_or_else(|| ApiError::not_found("customer"))?;
    Ok(Json(customer.into()))
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
    if ids::has_shape(&id, "cus") && customers::delete(state.db(), &auth.account.uid, &id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("customer"))
    }
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
    params(("X-Payment-Account-Uid" = Option<String>, Header)),
    request_body = SaveMethod,
    responses((status = 201, body = PaymentMethodObject), (status = 400), (status = 402), (status = 404))
)]
async fn save_method(
    auth: Merchant<CustomersWrite>,
    State(state): State<AppState>,
    who: RequestInfo,
    Path(id): Path<String>,
    Json(body): Json<SaveMethod>,
) -> ApiResult<(StatusCode, Json<PaymentMethodObject>)> {
    let customer = find(&state, &auth.account.uid, &id).await?;
    // The merchant's back end records the customer's mandate it collected (English text).
    let saved =
        save_payment_method(&state, &auth.account, &customer.id, &body.payment_method, body.usage, &who, Locale::En)
            .await?;
    Ok((StatusCode::CREATED, Json(PaymentMethodObject::from(saved))))
}

/// Lists a customer's saved methods (brand, last 4, expiry; never more).
#[utoipa::path(
    get, path = "/api/customers/{id}/payment-methods", tag = "customers",
    security(("admin_token" = []), ("api_key" = ["customers.read"])),
    params(("X-Payment-Account-Uid" = Option<String>, Header)),
    responses((status = 200, description = "{value: [payment_method]}"), (status = 404))
)]
async fn list_methods(
    auth: Merchant<CustomersRead>,
    State(state): State<AppState>,
    Path(id): Path<String>,
    list: ListQuery<PaymentMethods>,
) -> ApiResult<Json<serde_json::Value>> {
    let customer = find(&state, &auth.account.uid, &id).await?;
    let scope = Scope {
        table: "payment_methods",
        columns: payment_methods::COLUMNS,
        condition: "customer_id = $1 AND account_uid = $2 AND deleted_at IS NULL",
        binds: vec![Bind::Text(customer.id), Bind::Text(auth.account.uid.clone())],
    };
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
    let customer = find(&state, &auth.account.uid, &id).await?;
    remove_payment_method(&state, &auth.account.uid, &customer.id, &pm).await?;
    Ok(StatusCode::NO_CONTENT)
}
