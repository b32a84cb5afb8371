//! Webhooks merchants can trust (SPEC §7): subscriptions with their signing secrets, and every
//! event delivered at least once, signed per Standard Webhooks, retried on a schedule, logged.
//! The API and (later) the dashboard both come here.

pub mod client;
pub mod delivery;

use serde::Deserialize;
use utoipa::ToSchema;

use crate::domain::event::EventType;
use crate::domain::ids::has_shape;
use crate::domain::validate::{self, nullable};
use crate::domain::webhook::{MAX_WEBHOOKS, new_secret};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::state::AppState;
use crate::store::accounts::Account;
use crate::store::webhooks::{self, NewWebhook, Webhook, WebhookChanges};
use crate::store::{deliveries, events, now_ms};
use crate::views::WebhookObject;

/// After a rotation the old secret keeps signing for this long, beside the new one.
pub const ROTATION_OVERLAP_MS: i64 = 24 * 3600 * 1000;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWebhook {
    #[schema(example = "https://shop.example/webhooks/govifi")]
    pub url: String,
    /// Event types, or `["*"]` for all.
    pub events: Vec<String>,
    /// Default true.
    #[serde(default)]
    pub enabled: Option<bool>,
    #[serde(default)]
    pub description: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateWebhook {
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub events: Option<Vec<String>>,
    /// Switching on again clears `disabled_reason`.
    #[serde(default)]
    pub enabled: Option<bool>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
}

/// `None` for `["*"]` (every type), else the types named.
fn parse_events(events: &[String]) -> ApiResult<Option<Vec<EventType>>> {
    if events.is_empty() {
        return Err(ApiError::invalid("events", "events names at least one event type, or \"*\" for all"));
    }
    if events.iter().any(|e| e == "*") {
        return Ok(None);
    }
    let mut out: Vec<EventType> = Vec::new();
    for (i, e) in events.iter().enumerate() {
        let kind = EventType::parse(e)
            .ok_or_else(|| ApiError::invalid(format!("events[{i}]"), format!("{e:?} is not an event type")))?;
        if !out.contains(&kind) {
            out.push(kind);
        }
    }
    Ok(Some(out))
}

async fn check_url(state: &AppState, url: &str) -> ApiResult<String> {
    let config = state.config();
    client::check_url(url.trim(), config.webhook_allow_private, config.sandbox)
        .await
        .map(|u| u.to_string())
        .map_err(|m| ApiError::invalid("url", format!("url: {m}")))
}

/// The account's subscription `id`, or 404.
pub async fn find(state: &AppState, account_uid: &str, id: &str) -> ApiResult<Webhook> {
    let found = if has_shape(id, "whk") { webhooks::get(state.db(), account_uid, id).await? } else { None };
    found.ok_or_else(|| ApiError::not_found("webhook"))
}

/// An event of the account, or 404.
async fn find_event(state: &AppState, account_uid: &str, id: &str) -> ApiResult<crate::store::events::Event> {
    let found = if has_shape(id, "evt") { events::get(state.db(), account_uid, id).await? } else { None };
    found.ok_or_else(|| ApiError::not_found("event"))
}

/// Subscribes a URL; the answer carries the signing secret, shown only now.
pub async fn create(state: &AppState, account: &Account, body: CreateWebhook) -> ApiResult<WebhookObject> {
    let url = check_url(state, &body.url).await?;
    let events = parse_events(&body.events)?;
    if let Some(d) = &body.description {
        validate::text("description", d, 500)?;
    }
    let secret = new_secret();
    let new = NewWebhook {
        url: &url,
        events: events.as_deref(),
        enabled: body.enabled.unwrap_or(true),
        description: body.description.as_deref(),
    };
    let mut tx = state.db().begin_write().await?;
    // Every event is written once per subscription, in its own transaction: the count is
    // bounded as Stripe bounds it.
    if webhooks::count_for_insert(&mut tx, &account.uid).await? >= MAX_WEBHOOKS {
        tx.end_refused().await?;
        return Err(ApiError::new(
            ErrorCode::InvalidState,
            format!("An account has at most {MAX_WEBHOOKS} webhook endpoints; delete one to add another"),
        ));
    }
    let webhook = webhooks::insert(&mut tx, &state.config().master_key, &account.uid, new, &secret).await?;
    let mut object = WebhookObject::from(webhook);
    let event_id = events::record(&mut tx, &account.uid, EventType::WebhookCreated, &object.for_events()).await?;
    // The other subscriptions are told; the new one is not told of itself.
    deliveries::withdraw(&mut tx, &object.id, &event_id).await?;
    tx.commit().await?;
    object.secret = Some(secret);
    Ok(object)
}

pub async fn update(state: &AppState, account: &Account, id: &str, body: UpdateWebhook) -> ApiResult<WebhookObject> {
    let webhook = find(state, &account.uid, id).await?;
    let url = match &body.url {
        Some(u) => Some(check_url(state, u).await?),
        None => None,
    };
    let events = body.events.as_deref().map(parse_events).transpose()?;
    if let Some(Some(d)) = &body.description {
        validate::text("description", d, 500)?;
    }
    let changes = WebhookChanges {
        url: url.as_deref(),
        events: events.as_ref().map(|e| e.as_deref()),
        enabled: body.enabled,
        description: body.description.as_ref().map(|d| d.as_deref()),
    };
    let mut tx = state.db().begin_write().await?;
    webhooks::update(&mut tx, &webhook.id, changes).await?;
    // Deleted meanwhile: nothing to report, and no such subscription.
    let changed = webhooks::get_on(&mut tx, &account.uid, &webhook.id).await?.ok_or_else(gone)?;
    let object = WebhookObject::from(changed);
    events::record(&mut tx, &account.uid, EventType::WebhookUpdated, &object.for_events()).await?;
    tx.commit().await?;
    Ok(object)
}

fn gone() -> ApiError {
    ApiError::not_found("webhook")
}

pub async fn delete(state: &AppState, account: &Account, id: &str) -> ApiResult<()> {
    let webhook = find(state, &account.uid, id).await?;
    let mut tx = state.db().begin_write().await?;
    if !webhooks::delete(&mut tx, &account.uid, &webhook.id).await? {
        return Err(gone());
    }
    let mut object = WebhookObject::from(webhook);
    object.enabled = false;
    events::record(&mut tx, &account.uid, EventType::WebhookDeleted, &object.for_events()).await?;
    tx.commit().await?;
    Ok(())
}

/// A new signing secret (shown only now); for 24 hours deliveries carry both signatures.
pub async fn rotate_secret(state: &AppState, account: &Account, id: &str) -> ApiResult<WebhookObject> {
    let webhook = find(state, &account.uid, id).await?;
    let secret = new_secret();
    let until = now_ms() + ROTATION_OVERLAP_MS;
    let mut tx = state.db().begin_write().await?;
    if !webhooks::rotate_secret(&mut tx, &state.config().master_key, &webhook.id, &secret, until).await? {
        return Err(gone());
    }
    let rotated = webhooks::get_on(&mut tx, &account.uid, &webhook.id).await?.ok_or_else(gone)?;
    let mut object = WebhookObject::from(rotated);
    events::record(&mut tx, &account.uid, EventType::WebhookSecretRotated, &object.for_events()).await?;
    tx.commit().await?;
    object.secret = Some(secret);
    Ok(object)
}

/// The answer of `test` and `redeliver`: which deliveries were queued.
#[derive(Debug, serde::Serialize, ToSchema)]
pub struct Queued {
    pub event_id: String,
    pub deliveries: Vec<String>,
}

/// Sends a `webhook.test` event to this subscription only.
pub async fn send_test(state: &AppState, account: &Account, id: &str) -> ApiResult<Queued> {
    let webhook = find(state, &account.uid, id).await?;
    // As every `webhook.*` event shows a subscription: the event may be resent to others.
    let view = WebhookObject::from(webhook.clone()).for_events();
    let mut tx = state.db().begin_write().await?;
    let event_id = events::record_for_one(&mut tx, &account.uid, EventType::WebhookTest, &view, &webhook.id).await?;
    tx.commit().await?;
    let queued = deliveries::of_event(state.db(), &event_id).await?;
    Ok(Queued { event_id, deliveries: queued })
}

/// Delivers an event again (same `webhook-id`) to one subscription: the dashboard's delivery
/// log, where the others must not get it twice. Refused while the subscription is disabled.
pub async fn redeliver_to(state: &AppState, account: &Account, webhook_id: &str, event_id: &str) -> ApiResult<Queued> {
    let webhook = find(state, &account.uid, webhook_id).await?;
    let event = find_event(state, &account.uid, event_id).await?;
    if !webhook.enabled {
        return Err(ApiError::new(ErrorCode::InvalidState, "This endpoint is disabled; enable it to deliver to it"));
    }
    if !(webhook.takes(event.kind) || event.kind == EventType::WebhookTest) {
        return Err(ApiError::invalid("event_id", format!("this endpoint does not take {} events", event.kind)));
    }
    let mut tx = state.db().begin_write().await?;
    let id = deliveries::insert_one(&mut tx, &webhook.id, &account.uid, &event.id, event.kind, now_ms()).await?;
    tx.will_wake_deliveries();
    tx.commit().await?;
    Ok(Queued { event_id: event.id, deliveries: vec![id] })
}

/// Delivers an event again (same `webhook-id`) to every enabled subscription that takes it.
pub async fn redeliver(state: &AppState, account: &Account, event_id: &str) -> ApiResult<Queued> {
    let event = find_event(state, &account.uid, event_id).await?;
    let now = now_ms();
    let mut ids = Vec::new();
    // Read before the transaction: a read from the pool while it holds a connection would ask
    // for a second one (N redeliveries at once on a pool of N would wait for each other).
    let subscribed = webhooks::enabled(state.db(), &account.uid).await?;
    let mut tx = state.db().begin_write().await?;
    for webhook in subscribed {
        if webhook.takes(event.kind) {
            ids.push(deliveries::insert_one(&mut tx, &webhook.id, &account.uid, &event.id, event.kind, now).await?);
        }
    }
    tx.will_wake_deliveries();
    tx.commit().await?;
    Ok(Queued { event_id: event.id, deliveries: ids })
}
