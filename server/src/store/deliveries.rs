//! Webhook deliveries (`wd_`): one event to one subscription, its attempts, and the lease a
//! process takes to attempt it (so with several processes each attempt is made by one).

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::batch::Stmt;
use super::{Backend, Db, enum_column, now_ms, to_json_text};
use crate::domain::event::EventType;
use crate::domain::ids::new_id;
use crate::domain::webhook::DeliveryStatus;

/// One attempt, as the delivery log shows it.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Attempt {
    /// RFC 3339
    pub at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_status: Option<u16>,
    pub duration_ms: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The first 1 KiB of the answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_body: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Delivery {
    pub id: String,
    pub webhook_id: String,
    pub account_uid: String,
    pub event_id: String,
    pub event_type: EventType,
    pub status: DeliveryStatus,
    pub attempts: Vec<Attempt>,
    pub next_attempt_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

pub const COLUMNS: &str =
    "id, webhook_id, account_uid, event_id, event_type, status, attempts, next_attempt_at, created_at, updated_at";

pub fn from_row(r: &AnyRow) -> Result<Delivery, sqlx::Error> {
    Ok(Delivery {
        id: r.try_get("id")?,
        webhook_id: r.try_get("webhook_id")?,
        account_uid: r.try_get("account_uid")?,
        event_id: r.try_get("event_id")?,
        event_type: enum_column(r, "event_type")?,
        status: enum_column(r, "status")?,
        attempts: super::json_column(r, "attempts")?,
        next_attempt_at: r.try_get("next_attempt_at")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

/// A delivery of each of these events (just written, in this transaction) to every enabled
/// subscription of the account that takes its type, due at once — one statement however many
/// events, inside the transaction that writes them, so none is ever skipped.
pub async fn fan_out(
    conn: &mut AnyConnection,
    account_uid: &str,
    events: &[(&str, EventType)],
    now: i64,
) -> Result<u64, sqlx::Error> {
    match fan_out_stmt(account_uid, events, now) {
        Some(stmt) => stmt.execute(conn).await,
        None => Ok(0),
    }
}

/// Takes back one subscription's delivery of an event, in the transaction that wrote both (a
/// new subscription is not told of its own creation).
pub async fn withdraw(conn: &mut AnyConnection, webhook_id: &str, event_id: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM webhook_deliveries WHERE webhook_id = $1 AND event_id = $2")
        .bind(webhook_id)
        .bind(event_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// [`fan_out`]'s statement (none for no events). It names the events rather than reading them
/// back, so it can share a batch with their INSERT.
pub fn fan_out_stmt(account_uid: &str, events: &[(&str, EventType)], now: i64) -> Option<Stmt> {
    if events.is_empty() {
        return None;
    }
    let rows: Vec<String> = (0..events.len())
        .map(|i| {
            let (id, kind) = (i * 2 + 4, i * 2 + 5);
            if i == 0 { format!("SELECT ${id} AS id, ${kind} AS type") } else { format!("SELECT ${id}, ${kind}") }
        })
        .collect();
    // The id joins the event's and the subscription's random parts: unique per pair, unguessable.
    let sql = format!(
        "INSERT INTO webhook_deliveries (id, webhook_id, account_uid, event_id, event_type, status, next_attempt_at, \
         created_at, updated_at) \
         SELECT 'wd_' || SUBSTR(e.id, 5) || SUBSTR(w.id, 5), w.id, w.account_uid, e.id, e.type, $1, $2, $2, $2 \
         FROM ({}) e JOIN webhooks w ON w.account_uid = $3 \
         WHERE w.enabled = 1 AND w.deleted_at IS NULL \
         AND (w.all_events = 1 OR EXISTS \
              (SELECT 1 FROM webhook_event_types t WHERE t.webhook_id = w.id AND t.event_type = e.type))",
        rows.join(" UNION ALL ")
    );
    let mut stmt = Stmt::new(sql).text(DeliveryStatus::Pending.as_str()).int(now).text(account_uid).waking_deliveries();
    for (id, kind) in events {
        stmt = stmt.text(*id).text(kind.as_str());
    }
    Some(stmt)
}

/// A new delivery of an event to one subscription (a test event, a redelivery), due at once.
pub async fn insert_one(
    conn: &mut AnyConnection,
    webhook_id: &str,
    account_uid: &str,
    event_id: &str,
    event_type: EventType,
    now: i64,
) -> Result<String, sqlx::Error> {
    let id = new_id("wd");
    sqlx::query(
        "INSERT INTO webhook_deliveries (id, webhook_id, account_uid, event_id, event_type, status, next_attempt_at, \
         created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $7)",
    )
    .bind(&id)
    .bind(webhook_id)
    .bind(account_uid)
    .bind(event_id)
    .bind(event_type.as_str())
    .bind(DeliveryStatus::Pending.as_str())
    .bind(now)
    .execute(conn)
    .await?;
    Ok(id)
}

/// The deliveries of an event (their ids).
pub async fn of_event(db: &Db, event_id: &str) -> Result<Vec<String>, sqlx::Error> {
    let rows = sqlx::query("SELECT id FROM webhook_deliveries WHERE event_id = $1 ORDER BY created_at, id")
        .bind(event_id)
        .fetch_all(db.pool())
        .await?;
    rows.iter().map(|r| r.try_get(0)).collect()
}

/// A delivery a process has leased for one attempt.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub id: String,
    pub webhook_id: String,
    pub event_id: String,
    pub attempt_count: i64,
    pub created_at: i64,
}

/// Leases up to `limit` due deliveries to `holder` until `now + lease_ms`, oldest first, in one
/// statement, leaving out the subscriptions in `skip`: a delivery leased by another process (or
/// whose lease has not run out) is not taken. On PostgreSQL rows another claimer is locking
/// are skipped, not waited for.
pub async fn claim(
    db: &Db,
    holder: &str,
    now: i64,
    lease_ms: i64,
    limit: i64,
    skip: &[String],
) -> Result<Vec<Claimed>, sqlx::Error> {
    let skip_locked = if db.backend() == Backend::Postgres { " FOR UPDATE SKIP LOCKED" } else { "" };
    let skip_webhooks = not_in_webhooks(skip.len(), 6);
    // The lease condition stands in the outer WHERE too: PostgreSQL re-checks it on a row that
    // another claimer changed meanwhile.
    let sql = format!(
        "UPDATE webhook_deliveries SET lease_until = $1, leased_by = $2, updated_at = $3 \
         WHERE status = $4 AND next_attempt_at <= $3 AND (lease_until IS NULL OR lease_until < $3) AND id IN \
         (SELECT id FROM webhook_deliveries WHERE status = $4 AND next_attempt_at <= $3 \
          AND (lease_until IS NULL OR lease_until < $3){skip_webhooks} ORDER BY next_attempt_at, created_at, id \
          LIMIT $5{skip_locked}) \
         RETURNING id, webhook_id, event_id, attempt_count, created_at"
    );
    let mut query = sqlx::query(&sql)
        .bind(now + lease_ms)
        .bind(holder)
        .bind(now)
        .bind(DeliveryStatus::Pending.as_str())
        .bind(limit);
    for webhook_id in skip {
        query = query.bind(webhook_id);
    }
    let rows = query.fetch_all(db.writer()).await?;
    let mut claimed = rows
        .iter()
        .map(|r| {
            Ok(Claimed {
                id: r.try_get("id")?,
                webhook_id: r.try_get("webhook_id")?,
                event_id: r.try_get("event_id")?,
                attempt_count: r.try_get("attempt_count")?,
                created_at: r.try_get("created_at")?,
            })
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
    // RETURNING has no order: attempt in the order the events happened.
    claimed.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
    Ok(claimed)
}

/// Extends `holder`'s lease on a delivery until `until`, before an attempt; false when the
/// delivery is no longer `holder`'s to attempt (another process took it after the lease ran
/// out, or it is done).
pub async fn renew(db: &Db, id: &str, holder: &str, until: i64) -> Result<bool, sqlx::Error> {
    let done =
        sqlx::query("UPDATE webhook_deliveries SET lease_until = $1 WHERE id = $2 AND leased_by = $3 AND status = $4")
            .bind(until)
            .bind(id)
            .bind(holder)
            .bind(DeliveryStatus::Pending.as_str())
            .execute(db.writer())
            .await?;
    Ok(done.rows_affected() == 1)
}

/// What an attempt leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    Succeeded,
    RetryAt(i64),
    Failed,
}

/// Records an attempt by the lease holder and what comes next; false when the lease was lost
/// (another process took the delivery after it ran out) — then nothing is written.
pub async fn record_attempt(
    db: &Db,
    id: &str,
    holder: &str,
    attempt: &Attempt,
    next: Next,
) -> Result<bool, sqlx::Error> {
    let row = sqlx::query("SELECT attempts FROM webhook_deliveries WHERE id = $1 AND leased_by = $2 AND status = $3")
        .bind(id)
        .bind(holder)
        .bind(DeliveryStatus::Pending.as_str())
        .fetch_optional(db.pool())
        .await?;
    let Some(row) = row else { return Ok(false) };
    let mut attempts: Vec<Attempt> = super::json_column(&row, "attempts")?;
    attempts.push(attempt.clone());
    let (status, next_at) = match next {
        Next::Succeeded => (DeliveryStatus::Succeeded, None),
        Next::RetryAt(at) => (DeliveryStatus::Pending, Some(at)),
        Next::Failed => (DeliveryStatus::Failed, None),
    };
    debug_assert!(status == DeliveryStatus::Pending || DeliveryStatus::Pending.can_become(status));
    let done = sqlx::query(
        "UPDATE webhook_deliveries SET attempts = $1, attempt_count = attempt_count + 1, status = $2, \
         next_attempt_at = $3, lease_until = NULL, leased_by = NULL, updated_at = $4 \
         WHERE id = $5 AND leased_by = $6 AND status = $7",
    )
    .bind(to_json_text(&attempts))
    .bind(status.as_str())
    .bind(next_at)
    .bind(now_ms())
    .bind(id)
    .bind(holder)
    .bind(DeliveryStatus::Pending.as_str())
    .execute(db.writer())
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Ends a leased delivery without an attempt (its subscription is gone or off).
pub async fn abandon(db: &Db, id: &str, holder: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE webhook_deliveries SET status = $1, next_attempt_at = NULL, lease_until = NULL, leased_by = NULL, \
         updated_at = $2 WHERE id = $3 AND leased_by = $4 AND status = $5",
    )
    .bind(DeliveryStatus::Failed.as_str())
    .bind(now_ms())
    .bind(id)
    .bind(holder)
    .bind(DeliveryStatus::Pending.as_str())
    .execute(db.writer())
    .await?;
    Ok(())
}

/// Gives back every lease `holder` has (a process stopping): the deliveries are due again.
pub async fn release_all(db: &Db, holder: &str) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE webhook_deliveries SET lease_until = NULL, leased_by = NULL WHERE leased_by = $1 AND status = $2",
    )
    .bind(holder)
    .bind(DeliveryStatus::Pending.as_str())
    .execute(db.writer())
    .await?;
    Ok(done.rows_affected())
}

/// How many deliveries are due now, and since when the oldest has been.
pub async fn queue(db: &Db, now: i64) -> Result<(i64, Option<i64>), sqlx::Error> {
    let row = sqlx::query(
        "SELECT COUNT(*), MIN(next_attempt_at) FROM webhook_deliveries WHERE status = $1 AND next_attempt_at <= $2",
    )
    .bind(DeliveryStatus::Pending.as_str())
    .bind(now)
    .fetch_one(db.pool())
    .await?;
    Ok((row.try_get(0)?, row.try_get(1)?))
}

/// ` AND webhook_id NOT IN ($first, …)` for `n` subscriptions to leave out (nothing for none).
fn not_in_webhooks(n: usize, first: usize) -> String {
    if n == 0 {
        return String::new();
    }
    let params: Vec<String> = (first..first + n).map(|i| format!("${i}")).collect();
    format!(" AND webhook_id NOT IN ({})", params.join(", "))
}

/// When the next pending delivery can be leased (to sleep until then): one in flight when its
/// lease ends, not before; none of the subscriptions in `skip` (whose queues this process runs
/// already: their rows are leased when that run ends).
pub async fn next_due(db: &Db, skip: &[String]) -> Result<Option<i64>, sqlx::Error> {
    let skip_webhooks = not_in_webhooks(skip.len(), 2);
    let sql = format!(
        "SELECT MIN(CASE WHEN lease_until > next_attempt_at THEN lease_until ELSE next_attempt_at END) \
         FROM webhook_deliveries WHERE status = $1{skip_webhooks}"
    );
    let mut query = sqlx::query(&sql).bind(DeliveryStatus::Pending.as_str());
    for webhook_id in skip {
        query = query.bind(webhook_id);
    }
    query.fetch_one(db.pool()).await?.try_get(0)
}

pub async fn get(db: &Db, account_uid: &str, id: &str) -> Result<Option<Delivery>, sqlx::Error> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM webhook_deliveries WHERE id = $1 AND account_uid = $2"))
        .bind(id)
        .bind(account_uid)
        .fetch_optional(db.pool())
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// One webhook's deliveries, within its account, as a list's scope.
pub fn listed(account_uid: &str, webhook_id: &str) -> super::odata::Scope<'static> {
    super::odata::Scope {
        table: "webhook_deliveries",
        columns: COLUMNS,
        condition: "webhook_id = $1 AND account_uid = $2",
        binds: vec![super::Bind::Text(webhook_id.to_owned()), super::Bind::Text(account_uid.to_owned())],
    }
}
