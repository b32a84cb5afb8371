//! Mail that went nowhere but here (sandbox without SMTP): `GET /api/outbox`.

use sqlx::Row;

use super::{Db, now_ms};
use crate::domain::ids::new_id;

#[derive(Debug, Clone)]
pub struct Message {
    pub id: String,
    pub recipient: String,
    pub subject: String,
    pub body: String,
    pub created_at: i64,
}

pub async fn insert(db: &Db, recipient: &str, subject: &str, body: &str) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO outbox_messages (id, recipient, subject, body, created_at) VALUES ($1, $2, $3, $4, $5)")
        .bind(new_id("msg"))
        .bind(recipient)
        .bind(subject)
        .bind(body)
        .bind(now_ms())
        .execute(db.writer())
        .await?;
    Ok(())
}

/// Deletes by the index `outbox_messages_created`.
pub(crate) const PURGE_SQL: &str = "DELETE FROM outbox_messages WHERE created_at < $1";

/// Forgets messages older than `keep_ms` (they hold challenge codes and receipts in plain text).
pub async fn purge(db: &Db, now: i64, keep_ms: i64) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(PURGE_SQL).bind(now - keep_ms).execute(db.writer()).await?;
    Ok(done.rows_affected())
}

/// Every message, for an OData list (newest first unless asked otherwise).
pub fn listed() -> super::odata::Scope<'static> {
    super::odata::Scope {
        table: "outbox_messages",
        columns: "id, recipient, subject, body, created_at",
        condition: "",
        binds: vec![],
    }
}

pub fn from_row(r: &sqlx::any::AnyRow) -> Result<Message, sqlx::Error> {
    Ok(Message {
        id: r.try_get("id")?,
        recipient: r.try_get("recipient")?,
        subject: r.try_get("subject")?,
        body: r.try_get("body")?,
        created_at: r.try_get("created_at")?,
    })
}
