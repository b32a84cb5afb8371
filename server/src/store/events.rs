//! The transactional outbox: an event is written in the same transaction as the change it
//! reports, so there is never a change without its event, or an event without its change; and
//! with it, its delivery to every subscription that takes it (never skipped, never late-joined).

use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::batch::{Batch, Stmt};
use super::{Db, WriteTx, deliveries, enum_column, now_ms, to_json_text};
use crate::domain::event::{EventType, current_actor};
use crate::domain::ids::random_base62;

/// A new event id whose order is the order events were made in this process (events list by
/// `created_at, id`, and several events often share a millisecond): a microsecond clock that
/// never repeats or goes back, then randomness.
fn next_id() -> String {
    use std::sync::atomic::{AtomicI64, Ordering};
    static LAST: AtomicI64 = AtomicI64::new(0);
    let now = (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000) as i64;
    let prev = LAST.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |last| Some(now.max(last + 1))).unwrap_or(now);
    format!("evt_{:017}{}", now.max(prev + 1), random_base62(12))
}

/// Records `type` about `object` (the resource as the API shows it) for an account.
pub async fn record<T: Serialize>(
    tx: &mut WriteTx,
    account_uid: &str,
    event_type: EventType,
    object: &T,
) -> Result<String, sqlx::Error> {
    let id = next_id();
    let now = now_ms();
    sqlx::query("INSERT INTO events (id, account_uid, type, data, created_at, actor) VALUES ($1, $2, $3, $4, $5, $6)")
        .bind(&id)
        .bind(account_uid)
        .bind(event_type.as_str())
        .bind(to_json_text(object))
        .bind(now)
        .bind(current_actor())
        .execute(&mut **tx)
        .await?;
    if deliveries::fan_out(tx, account_uid, &[(&id, event_type)], now).await? > 0 {
        tx.will_wake_deliveries();
    }
    Ok(id)
}

/// Records an event delivered to one subscription only (`webhook.test`).
pub async fn record_for_one<T: Serialize>(
    tx: &mut WriteTx,
    account_uid: &str,
    event_type: EventType,
    object: &T,
    webhook_id: &str,
) -> Result<String, sqlx::Error> {
    let id = next_id();
    let now = now_ms();
    sqlx::query("INSERT INTO events (id, account_uid, type, data, created_at, actor) VALUES ($1, $2, $3, $4, $5, $6)")
        .bind(&id)
        .bind(account_uid)
        .bind(event_type.as_str())
        .bind(to_json_text(object))
        .bind(now)
        .bind(current_actor())
        .execute(&mut **tx)
        .await?;
    deliveries::insert_one(tx, webhook_id, account_uid, &id, event_type, now).await?;
    tx.will_wake_deliveries();
    Ok(id)
}

/// Records several events about one account in one statement (in the order given).
pub async fn record_all(tx: &mut WriteTx, account_uid: &str, items: &[(EventType, String)]) -> Result<(), sqlx::Error> {
    let mut batch = Batch::new();
    batch.extend(record_all_stmts(account_uid, items).into_iter().flatten());
    tx.run(batch).await?;
    Ok(())
}

/// [`record_all`]'s two statements, for a batch run by [`WriteTx::run`]: the events, then their
/// deliveries.
pub fn record_all_stmts(account_uid: &str, items: &[(EventType, String)]) -> Option<[Stmt; 2]> {
    if items.is_empty() {
        return None;
    }
    let now = now_ms();
    let rows: Vec<String> = (0..items.len())
        .map(|i| {
            let p = i * 6;
            format!("(${}, ${}, ${}, ${}, ${}, ${})", p + 1, p + 2, p + 3, p + 4, p + 5, p + 6)
        })
        .collect();
    let mut events = Stmt::new(format!(
        "INSERT INTO events (id, account_uid, type, data, created_at, actor) VALUES {}",
        rows.join(", ")
    ));
    let ids: Vec<String> = items.iter().map(|_| next_id()).collect();
    let actor = current_actor();
    for ((kind, data), id) in items.iter().zip(&ids) {
        events = events
            .text(id.as_str())
            .text(account_uid)
            .text(kind.as_str())
            .text(data.as_str())
            .int(now)
            .opt_text(actor.clone());
    }
    let named: Vec<(&str, EventType)> = items.iter().zip(&ids).map(|((kind, _), id)| (id.as_str(), *kind)).collect();
    let deliveries = deliveries::fan_out_stmt(account_uid, &named, now)?;
    Some([events, deliveries])
}

/// JSON of a resource, for [`record_all`].
pub fn data<T: Serialize>(object: &T) -> String {
    to_json_text(object)
}

/// An event as stored: the resource's JSON as it was at the change.
#[derive(Debug, Clone)]
pub struct Event {
    pub id: String,
    pub account_uid: String,
    pub kind: EventType,
    pub data: serde_json::Value,
    pub created_at: i64,
    /// `user:<email>` when a dashboard user caused it.
    pub actor: Option<String>,
}

pub const COLUMNS: &str = "id, account_uid, type, data, created_at, actor";

pub fn from_row(row: &AnyRow) -> Result<Event, sqlx::Error> {
    let data: String = row.try_get("data")?;
    Ok(Event {
        id: row.try_get("id")?,
        account_uid: row.try_get("account_uid")?,
        kind: enum_column(row, "type")?,
        data: serde_json::from_str(&data).map_err(|e| sqlx::Error::Decode(e.into()))?,
        created_at: row.try_get("created_at")?,
        actor: row.try_get("actor")?,
    })
}

pub async fn get(db: &Db, account_uid: &str, id: &str) -> Result<Option<Event>, sqlx::Error> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM events WHERE id = $1 AND account_uid = $2"))
        .bind(id)
        .bind(account_uid)
        .fetch_optional(db.pool())
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// An account's events as a list's scope.
pub fn listed(account_uid: &str) -> super::odata::Scope<'static> {
    super::odata::Scope::account("events", COLUMNS, account_uid)
}
