//! Customers and their saved methods, shared by the platform API, wallet sessions and the
//! checkout: contact details checked, methods tokenized with the account's processor and the
//! token kept sealed, every change with its event.

use crate::auth::secrets::fingerprint;
use crate::auth::secrets::hash_secret;
use crate::domain::account::MethodType;
use crate::domain::card::{BankAccount, Card, card_error};
use crate::domain::event::EventType;
use crate::domain::ids;
use crate::domain::ids::{has_shape, new_id, random_base62};
use crate::domain::payment::{Mandate, RequestInfo, Usage, mandate_text};
use crate::domain::payment_method::{MAX_SAVED_METHODS, PaymentMethodInput};
use crate::domain::session::Locale;
use crate::domain::session::{check_locale, check_return_url};
use crate::domain::time::Timestamp;
use crate::domain::validate::{self, Metadata, nullable};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::idempotency::Idempotency;
use crate::payments::Answer;
use crate::processor::{Instrument, ProcessorError};
use crate::state::AppState;
use crate::store::accounts::Account;
use crate::store::customers::{self as customer_store, Customer, CustomerChanges, NewCustomer};
use crate::store::events;
use crate::store::now_ms;
use crate::store::payment_methods::{self, NewSavedMethod, SavedMethod};
use crate::store::wallet_sessions::{self, WalletSession};
use crate::views::{CustomerObject, PaymentMethodObject, WalletSessionObject};
use serde::Deserialize;
use utoipa::ToSchema;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCustomer {
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub reference: Option<String>,
    #[serde(default)]
    pub metadata: Metadata,
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

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateCustomer {
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub email: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub name: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub phone: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub reference: Option<Option<String>>,
    #[serde(default)]
    pub metadata: Option<Metadata>,
}

/// The account's customer `id`, or 404.
pub async fn find(state: &AppState, account_uid: &str, id: &str) -> ApiResult<Customer> {
    if !ids::has_shape(id, "cus") {
        return Err(ApiError::not_found("customer"));
    }
    customer_store::get(state.db(), account_uid, id).await?.ok_or_else(|| ApiError::not_found("customer"))
}

/// Creates a customer (event `customer.created`).
pub async fn create(state: &AppState, account: &Account, body: CreateCustomer) -> ApiResult<CustomerObject> {
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
    let customer = customer_store::insert(&mut tx, &account.uid, new).await?;
    let object = CustomerObject::from(customer);
    events::record(&mut tx, &account.uid, EventType::CustomerCreated, &object).await?;
    tx.commit().await?;
    Ok(object)
}

/// Changes a customer (`null` clears a field).
pub async fn update(state: &AppState, account: &Account, id: &str, body: UpdateCustomer) -> ApiResult<CustomerObject> {
    find(state, &account.uid, id).await?;
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
    let customer = customer_store::update(state.db(), &account.uid, id, changes)
        .await?
        .ok_or_else(|| ApiError::not_found("customer"))?;
    Ok(customer.into())
}

/// Deletes a customer and detaches their saved methods, each with its `payment_method.removed`
/// event, in one transaction.
pub async fn delete(state: &AppState, account: &Account, id: &str) -> ApiResult<()> {
    if !ids::has_shape(id, "cus") {
        return Err(ApiError::not_found("customer"));
    }
    let now = now_ms();
    let mut tx = state.db().begin_write().await?;
    if !customer_store::delete(&mut tx, &account.uid, id, now).await? {
        return Err(ApiError::not_found("customer"));
    }
    for method in payment_methods::detach_all(&mut tx, id, now).await? {
        events::record(&mut tx, &account.uid, EventType::PaymentMethodRemoved, &PaymentMethodObject::from(method))
            .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// A card's fingerprint as its account sees it: the same card gives the same value within one
/// payment account and unrelated values in two, so that the accounts of one installation cannot
/// link their customers through it.
pub fn card_print(state: &AppState, account: &Account, card: &Card) -> String {
    fingerprint(&state.config().master_key, &format!("card@{}", account.uid), card.number.expose())
}

/// A bank account's fingerprint as its account sees it (as [`card_print`]).
pub fn bank_print(state: &AppState, account: &Account, bank: &BankAccount) -> String {
    let value = format!("{}:{}", bank.routing_number, bank.account_number());
    fingerprint(&state.config().master_key, &format!("ach@{}", account.uid), &value)
}

/// Refuses a saved card whose expiry has passed (402 `invalid_expiry`, before any processor
/// call, as for a card typed in): the checkout and direct charges alike.
pub fn chargeable(method: &SavedMethod, now: Timestamp) -> ApiResult<()> {
    if method.expired(now.year_month()) {
        return Err(card_error(ErrorCode::InvalidExpiry, "This saved card has expired; use another payment method"));
    }
    Ok(())
}

/// How a save answers: whose request it is and the answer it gives, which is kept for its
/// `Idempotency-Key` in the save's own transaction.
pub struct SaveAnswer<'a> {
    pub who: &'a RequestInfo,
    pub locale: Locale,
    pub keep: &'a Idempotency,
    pub answer: fn(&SavedMethod) -> Answer,
}

/// Tokenizes an instrument with the account's processor and saves it for the customer, with its
/// `payment_method.saved` event. A method saved `off_session` keeps the autopay mandate, accepted
/// now by whoever made the request (`who`).
pub async fn save_payment_method(
    state: &AppState,
    account: &Account,
    customer_id: &str,
    method: &PaymentMethodInput,
    usage: Usage,
    how: SaveAnswer<'_>,
) -> ApiResult<Answer> {
    let SaveAnswer { who, locale, keep, answer } = how;
    let master = &state.config().master_key;
    let enabled = |kind: MethodType| crate::accounts::require_method(account, kind, "payment_method.type");
    let processor = state.processor(account)?;
    let now = Timestamp::now();
    let (kind, tokenized, print) = match method {
        PaymentMethodInput::Card { card, .. } => {
            enabled(MethodType::Card)?;
            // Saving is not a charge: the CVC is optional here.
            let card = card.check(now.year_month(), false)?;
            let print = card_print(state, account, &card);
            (MethodType::Card, processor.tokenize(Instrument::Card(&card)).await, print)
        }
        PaymentMethodInput::Ach { ach, .. } => {
            enabled(MethodType::Ach)?;
            let bank = ach.check("payment_method.ach")?;
            let print = bank_print(state, account, &bank);
            (MethodType::Ach, processor.tokenize(Instrument::Bank(&bank)).await, print)
        }
        other => {
            return Err(ApiError::invalid(
                "payment_method.type",
                format!("a {} method cannot be saved here; use card or ach", other.type_name()),
            ));
        }
    };
    let tokenized = tokenized.map_err(|e| match e {
        ProcessorError::Refused(why) => {
            card_error(ErrorCode::CardDeclined, why).with_extra("decline_code", "generic_decline")
        }
        ProcessorError::Unavailable(err) => ApiError::Internal(err),
    })?;
    let mandate = (usage == Usage::OffSession).then(|| Mandate {
        text: mandate_text(&account.display_name(), locale),
        accepted_at: now.to_rfc3339(),
        ip: who.ip.clone(),
        user_agent: who.user_agent.clone(),
    });
    let mut tx = state.db().begin_write().await?;
    if payment_methods::live_count_on(&mut tx, customer_id).await? >= MAX_SAVED_METHODS {
        return Err(ApiError::new(
            ErrorCode::InvalidState,
            format!("A customer keeps at most {MAX_SAVED_METHODS} saved payment methods; remove one to save another"),
        ));
    }
    let saved = payment_methods::insert(
        &mut tx,
        master,
        NewSavedMethod {
            account_uid: &account.uid,
            customer_id,
            kind,
            tokenized: &tokenized,
            usage,
            fingerprint: print,
            mandate,
        },
    )
    .await?
    .ok_or_else(|| ApiError::not_found("customer"))?;
    events::record(&mut tx, &account.uid, EventType::PaymentMethodSaved, &PaymentMethodObject::from(saved.clone()))
        .await?;
    let answer = answer(&saved);
    keep.finish(&mut tx, answer.status, &answer.body).await?;
    tx.commit().await?;
    Ok(answer)
}

/// Detaches a customer's saved method, with its `payment_method.removed` event.
pub async fn remove_payment_method(state: &AppState, account_uid: &str, customer_id: &str, pm: &str) -> ApiResult<()> {
    let method = if ids::has_shape(pm, "pm") {
        payment_methods::get(state.db(), account_uid, customer_id, pm).await?
    } else {
        None
    };
    let method = method.ok_or_else(|| ApiError::not_found("payment method"))?;
    let mut tx = state.db().begin_write().await?;
    if !payment_methods::remove(&mut tx, customer_id, &method.id).await? {
        return Err(ApiError::not_found("payment method"));
    }
    events::record(&mut tx, account_uid, EventType::PaymentMethodRemoved, &PaymentMethodObject::from(method)).await?;
    tx.commit().await?;
    Ok(())
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWalletSession {
    pub customer_id: String,
    /// Where the customer goes when done.
    pub return_url: String,
    /// 300 to 86400; default 1800.
    #[serde(default)]
    pub expires_in_seconds: Option<i64>,
    /// en (default) or es.
    #[serde(default)]
    pub locale: Option<String>,
}

/// Makes a wallet session for a customer: a `ws_…_secret_…` credential with which the element
/// (wallet mode) lists, adds and removes that customer's saved methods.
pub async fn create_wallet_session(
    state: &AppState,
    account: &Account,
    body: CreateWalletSession,
) -> ApiResult<WalletSessionObject> {
    let customer = if has_shape(&body.customer_id, "cus") {
        customer_store::get(state.db(), &account.uid, &body.customer_id).await?
    } else {
        None
    };
    let customer =
        customer.ok_or_else(|| ApiError::invalid("customer_id", "customer_id names no customer of this account"))?;
    check_return_url("return_url", &body.return_url, state.config().sandbox)?;
    let expires_in = body.expires_in_seconds.unwrap_or(1800);
    if !(300..=86_400).contains(&expires_in) {
        return Err(ApiError::invalid("expires_in_seconds", "expires_in_seconds must be from 300 to 86400"));
    }
    let locale = match &body.locale {
        Some(l) => check_locale(l)?,
        None => Locale::En,
    };
    let now = now_ms();
    let id = new_id("ws");
    let secret = format!("{id}_secret_{}", random_base62(32));
    let expires_at = now + expires_in * 1000;
    let wallet = WalletSession {
        id: id.clone(),
        account_uid: account.uid.clone(),
        customer_id: customer.id.clone(),
        return_url: body.return_url.clone(),
        locale,
        secret_hash: hash_secret(&secret),
        created_at: now,
        expires_at,
    };
    wallet_sessions::insert(state.db(), &wallet).await?;
    let base = &state.config().public_url;
    Ok(WalletSessionObject {
        wallet_session_id: id.clone(),
        object: "wallet_session",
        customer_id: customer.id,
        wallet_url: format!("{base}/wallet/{id}#ws={secret}"),
        client_secret: secret,
        return_url: body.return_url,
        locale,
        expires_at: Timestamp(expires_at),
        created_at: Timestamp(now),
        id,
    })
}
