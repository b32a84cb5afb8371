//! Webhook subscriptions (`whk_`): the URL, the event types, and the signing secrets (sealed;
//! those a rotation replaced kept, and signing, for a while after it).

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::{Backend, Db, WriteTx, now_ms};
use crate::auth::sealed;
use crate::config::MasterKey;
use crate::domain::event::EventType;
use crate::domain::ids::new_id;

#[derive(Debug, Clone)]
pub struct Webhook {
    pub id: String,
    pub account_uid: String,
    pub url: String,
    /// `None`: every event type (`"*"`).
    pub events: Option<Vec<EventType>>,
    pub enabled: bool,
    pub description: Option<String>,
    pub disabled_reason: Option<String>,
    pub failing_since: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

const COLUMNS: &str = "id, account_uid, url, all_events, enabled, description, disabled_reason, \
                       failing_since, created_at, updated_at";

/// For OData lists (the event types are read separately).
pub const LIST_COLUMNS: &str = COLUMNS;

fn secret_context(id: &str) -> String {
    format!("webhook.secret:{id}")
}

fn from_row(r: &AnyRow, events: Option<Vec<EventType>>) -> Result<Webhook, sqlx::Error> {
    Ok(Webhook {
        id: r.try_get("id")?,
        account_uid: r.try_get("account_uid")?,
        url: r.try_get("url")?,
        events,
        enabled: r.try_get::<i64, _>("enabled")? != 0,
        description: r.try_get("description")?,
        disabled_reason: r.try_get("disabled_reason")?,
        failing_since: r.try_get("failing_since")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

impl Webhook {
    /// True when the subscription takes events of this type.
    pub fn takes(&self, kind: EventType) -> bool {
        self.events.as_ref().is_none_or(|types| types.contains(&kind))
    }
}

/// At most this many replaced secrets sign beside the current one (the newest kept), so that a
/// run of rotations cannot grow every delivery's signature header without bound.
pub const MAX_PREVIOUS_SECRETS: i64 = 10;

/// The secrets that sign a delivery at `now`: the current one first, then each one a rotation
/// replaced whose overlap has not ended, newest first.
pub async fn signing_secrets(db: &Db, key: &MasterKey, webhook: &Webhook, now: i64) -> anyhow::Result<Vec<String>> {
    let context = secret_context(&webhook.id);
    // The current secret and the replaced ones in one statement, so that a rotation committing
    // between two reads cannot leave the new secret out of the signatures.
    let rows = sqlx::query(
        "SELECT secret, 0 AS previous, 0 AS until_ms FROM webhooks WHERE id = $1 \
         UNION ALL \
         SELECT secret, previous, until_ms FROM (SELECT secret, 1 AS previous, until_ms FROM webhook_previous_secrets \
           WHERE webhook_id = $1 AND until_ms > $2 ORDER BY until_ms DESC LIMIT $3) replaced \
         ORDER BY previous, until_ms DESC",
    )
    .bind(&webhook.id)
    .bind(now)
    .bind(MAX_PREVIOUS_SECRETS)
    .fetch_all(db.pool())
    .await?;
    if rows.is_empty() {
        anyhow::bail!("webhook {} is gone", webhook.id);
    }
    rows.iter().map(|r| sealed::open_string(key, &context, &r.try_get::<String, _>("secret")?)).collect()
}

/// Reads a row and its event types.
pub async fn read(db: &Db, r: &AnyRow) -> Result<Webhook, sqlx::Error> {
    let id: String = r.try_get("id")?;
    let all = r.try_get::<i64, _>("all_events")? != 0;
    let events = if all { None } else { Some(event_types(db.pool(), &id).await?) };
    from_row(r, events)
}

async fn event_types<'c, E: sqlx::Executor<'c, Database = sqlx::Any>>(
    on: E,
    id: &str,
) -> Result<Vec<EventType>, sqlx::Error> {
    let rows = sqlx::query("SELECT event_type FROM webhook_event_types WHERE webhook_id = $1 ORDER BY event_type")
        .bind(id)
        .fetch_all(on)
        .await?;
    rows.iter().map(|r| super::enum_column(r, "event_type")).collect()
}

async fn set_event_types(conn: &mut AnyConnection, id: &str, events: &[EventType]) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM webhook_event_types WHERE webhook_id = $1").bind(id).execute(&mut *conn).await?;
    for kind in events {
        sqlx::query("INSERT INTO webhook_event_types (webhook_id, event_type) VALUES ($1, $2)")
            .bind(id)
            .bind(kind.as_str())
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

pub struct NewWebhook<'a> {
    pub url: &'a str,
    pub events: Option<&'a [EventType]>,
    pub enabled: bool,
    pub description: Option<&'a str>,
}

/// How many subscriptions the account has, counted in the caller's transaction once it holds
/// the account's row (on PostgreSQL; SQLite's writes are one after the another), so that two
/// creations at once count each other. The row lock lets foreign-key checks through: the
/// account's sessions and payments are not held up meanwhile.
pub async fn count_for_insert(tx: &mut WriteTx, account_uid: &str) -> Result<i64, sqlx::Error> {
    if tx.backend() == Backend::Postgres {
        sqlx::query("SELECT uid FROM payment_accounts WHERE uid = $1 FOR NO KEY UPDATE")
            .bind(account_uid)
            .execute(&mut **tx)
            .await?;
    }
    sqlx::query_scalar("SELECT COUNT(*) FROM webhooks WHERE account_uid = $1 AND deleted_at IS NULL")
        .bind(account_uid)
        .fetch_one(&mut **tx)
        .await
}

/// Creates a subscription with a new secret (in the caller's transaction); answers it.
pub async fn insert(
    conn: &mut AnyConnection,
    key: &MasterKey,
    account_uid: &str,
    new: NewWebhook<'_>,
    secret: &str,
) -> Result<Webhook, sqlx::Error> {
    let id = new_id("whk");
    let now = now_ms();
    sqlx::query(
        "INSERT INTO webhooks (id, account_uid, url, all_events, enabled, description, secret, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
    )
    .bind(&id)
    .bind(account_uid)
    .bind(new.url)
    .bind(i64::from(new.events.is_none()))
    .bind(i64::from(new.enabled))
    .bind(new.description)
    .bind(sealed::seal(key, &secret_context(&id), secret.as_bytes()))
    .bind(now)
    .execute(&mut *conn)
    .await?;
    if let Some(events) = new.events {
        set_event_types(conn, &id, events).await?;
    }
    get_on(conn, account_uid, &id).await?.ok_or(sqlx::Error::RowNotFound)
}

/// [`get`] on a transaction's connection (it sees the transaction's own changes).
pub async fn get_on(conn: &mut AnyConnection, account_uid: &str, id: &str) -> Result<Option<Webhook>, sqlx::Error> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM webhooks WHERE id = $1 AND account_uid = $2 AND deleted_at IS NULL"
    ))
    .bind(id)
    .bind(account_uid)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(r) = row else { return Ok(None) };
    let all = r.try_get::<i64, _>("all_events")? != 0;
    let events = if all { None } else { Some(event_types(&mut *conn, id).await?) };
    from_row(&r, events).map(Some)
}

pub async fn get(db: &Db, account_uid: &str, id: &str) -> Result<Option<Webhook>, sqlx::Error> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM webhooks WHERE id = $1 AND account_uid = $2 AND deleted_at IS NULL"
    ))
    .bind(id)
    .bind(account_uid)
    .fetch_optional(db.pool())
    .await?;
    match row {
        Some(r) => Ok(Some(read(db, &r).await?)),
        None => Ok(None),
    }
}

/// The account's enabled subscriptions.
pub async fn enabled(db: &Db, account_uid: &str) -> Result<Vec<Webhook>, sqlx::Error> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM webhooks WHERE account_uid = $1 AND enabled = 1 AND deleted_at IS NULL ORDER BY created_at"
    ))
    .bind(account_uid)
    .fetch_all(db.pool())
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        out.push(read(db, r).await?);
    }
    Ok(out)
}

/// A subscription by id alone (the delivery worker), deleted ones included.
pub async fn get_any(db: &Db, id: &str) -> Result<Option<(Webhook, bool)>, sqlx::Error> {
    let row = sqlx::query(&format!("SELECT {COLUMNS}, deleted_at FROM webhooks WHERE id = $1"))
        .bind(id)
        .fetch_optional(db.pool())
        .await?;
    match row {
        Some(r) => {
            let deleted = r.try_get::<Option<i64>, _>("deleted_at")?.is_some();
            Ok(Some((read(db, &r).await?, deleted)))
        }
        None => Ok(None),
    }
}

/// What a PATCH changes.
#[derive(Default)]
pub struct WebhookChanges<'a> {
    pub url: Option<&'a str>,
    /// `Some(None)`: every type.
    pub events: Option<Option<&'a [EventType]>>,
    pub enabled: Option<bool>,
    pub description: Option<Option<&'a str>>,
}

/// Applies a PATCH in the caller's transaction.
pub async fn update(conn: &mut AnyConnection, id: &str, changes: WebhookChanges<'_>) -> Result<(), sqlx::Error> {
    let now = now_ms();
    if let Some(url) = changes.url {
        sqlx::query("UPDATE webhooks SET url = $1, updated_at = $2 WHERE id = $3")
            .bind(url)
            .bind(now)
            .bind(id)
            .execute(&mut *conn)
            .await?;
    }
    if let Some(events) = changes.events {
        sqlx::query("UPDATE webhooks SET all_events = $1, updated_at = $2 WHERE id = $3")
            .bind(i64::from(events.is_none()))
            .bind(now)
            .bind(id)
            .execute(&mut *conn)
            .await?;
        set_event_types(conn, id, events.unwrap_or_default()).await?;
    }
    if let Some(enabled) = changes.enabled {
        // Switching on again starts afresh: no disabling reason, no failure streak.
        sqlx::query(
            "UPDATE webhooks SET enabled = $1, disabled_reason = CASE WHEN $1 = 1 THEN NULL ELSE disabled_reason END, \
             failing_since = CASE WHEN $1 = 1 THEN NULL ELSE failing_since END, updated_at = $2 WHERE id = $3",
        )
        .bind(i64::from(enabled))
        .bind(now)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    }
    if let Some(description) = changes.description {
        sqlx::query("UPDATE webhooks SET description = $1, updated_at = $2 WHERE id = $3")
            .bind(description)
            .bind(now)
            .bind(id)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Replaces the secret (in the caller's transaction); the one replaced keeps signing until
/// `overlap_until`, beside any earlier ones whose overlap has not ended. False when there is
/// no such subscription.
pub async fn rotate_secret(
    conn: &mut AnyConnection,
    key: &MasterKey,
    id: &str,
    secret: &str,
    overlap_until: i64,
) -> Result<bool, sqlx::Error> {
    let now = now_ms();
    // Taking the row first means a rotation racing this one waits, then keeps this one's secret
    // among the replaced ones (each statement below reads what was committed before it).
    let taken = sqlx::query("UPDATE webhooks SET updated_at = $1 WHERE id = $2 AND deleted_at IS NULL")
        .bind(now)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    if taken.rows_affected() != 1 {
        return Ok(false);
    }
    sqlx::query(
        "INSERT INTO webhook_previous_secrets (webhook_id, secret, until_ms, rotated_at) \
         SELECT id, secret, $1, $2 FROM webhooks WHERE id = $3",
    )
    .bind(overlap_until)
    .bind(now)
    .bind(id)
    .execute(&mut *conn)
    .await?;
    sqlx::query("UPDATE webhooks SET secret = $1 WHERE id = $2")
        .bind(sealed::seal(key, &secret_context(id), secret.as_bytes()))
        .bind(id)
        .execute(&mut *conn)
        .await?;
    // What no longer signs: overlaps that ended, and all but the newest few.
    sqlx::query(
        "DELETE FROM webhook_previous_secrets WHERE webhook_id = $1 AND (until_ms <= $2 OR rotated_at < \
         COALESCE((SELECT rotated_at FROM webhook_previous_secrets WHERE webhook_id = $1 \
                   ORDER BY rotated_at DESC LIMIT 1 OFFSET $3), 0))",
    )
    .bind(id)
    .bind(now)
    .bind(MAX_PREVIOUS_SECRETS - 1)
    .execute(&mut *conn)
    .await?;
    Ok(true)
}

/// Deletes a subscription (in the caller's transaction); false when there is no such live one.
pub async fn delete(conn: &mut AnyConnection, account_uid: &str, id: &str) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE webhooks SET deleted_at = $1, enabled = 0, updated_at = $1 WHERE id = $2 AND account_uid = $3 \
         AND deleted_at IS NULL",
    )
    .bind(now_ms())
    .bind(id)
    .bind(account_uid)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Switches a subscription off for `reason`, once; false when it was off already.
pub async fn disable(
    conn: &mut AnyConnection,
    id: &str,
    reason: &str,
    now: i64,
    failing_since_at_most: Option<i64>,
) -> Result<bool, sqlx::Error> {
    // For a streak, the streak is checked in the same statement: a success another process
    // recorded meanwhile (or the merchant switching it back on) ended it.
    let streak = if failing_since_at_most.is_some() { " AND failing_since <= $4" } else { "" };
    let sql = format!(
        "UPDATE webhooks SET enabled = 0, disabled_reason = $1, updated_at = $2 WHERE id = $3 AND enabled = 1{streak}"
    );
    let mut query = sqlx::query(&sql).bind(reason).bind(now).bind(id);
    if let Some(at_most) = failing_since_at_most {
        query = query.bind(at_most);
    }
    let done = query.execute(conn).await?;
    Ok(done.rows_affected() == 1)
}

/// Notes an attempt's outcome for the failure streak: a success ends it; a failure starts one
/// if none runs, or if the last failure was more than `gap_ms` ago (no delivery was tried
/// meanwhile). Returns when the streak began (none after a success).
pub async fn note_outcome(db: &Db, id: &str, ok: bool, now: i64, gap_ms: i64) -> Result<Option<i64>, sqlx::Error> {
    if ok {
        sqlx::query("UPDATE webhooks SET failing_since = NULL WHERE id = $1").bind(id).execute(db.writer()).await?;
        return Ok(None);
    }
    sqlx::query(
        "UPDATE webhooks SET failing_since = CASE WHEN failing_since IS NULL OR last_failure_at IS NULL \
         OR last_failure_at < $2 - $3 THEN $2 ELSE failing_since END, last_failure_at = $2 WHERE id = $1",
    )
    .bind(id)
    .bind(now)
    .bind(gap_ms)
    .execute(db.writer())
    .await?;
    let row = sqlx::query("SELECT failing_since FROM webhooks WHERE id = $1").bind(id).fetch_one(db.pool()).await?;
    row.try_get(0)
}

/// An account's webhooks (not the deleted ones) as a list's scope.
pub fn listed(account_uid: &str) -> super::odata::Scope<'static> {
    super::odata::Scope::account_live("webhooks", LIST_COLUMNS, account_uid)
}
