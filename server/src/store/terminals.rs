//! Card-present terminals (`trm_`). A terminal is `busy` with exactly the payment pending on
//! it; taking and freeing it are conditional UPDATEs, so two payments can never share one.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::odata::Scope;
use super::{Db, Patch, enum_column, json_column, now_ms, to_json_text};
use crate::domain::ids::new_id;
use crate::domain::terminal::TerminalStatus;
use crate::domain::validate::Metadata;

#[derive(Debug, Clone)]
pub struct Terminal {
    pub id: String,
    pub account_uid: String,
    pub label: String,
    pub serial_number: String,
    pub model: Option<String>,
    pub location: Option<String>,
    pub status: TerminalStatus,
    pub payment_id: Option<String>,
    pub metadata: Metadata,
    pub created_at: i64,
    pub updated_at: i64,
}

pub const COLUMNS: &str =
    "id, account_uid, label, serial_number, model, location, status, payment_id, metadata, created_at, updated_at";

/// An account's terminals (not deleted) as a list's scope.
pub fn listed(account_uid: &str) -> Scope<'static> {
    Scope::account_live("terminals", COLUMNS, account_uid)
}

pub fn from_row(r: &AnyRow) -> Result<Terminal, sqlx::Error> {
    Ok(Terminal {
        id: r.try_get("id")?,
        account_uid: r.try_get("account_uid")?,
        label: r.try_get("label")?,
        serial_number: r.try_get("serial_number")?,
        model: r.try_get("model")?,
        location: r.try_get("location")?,
        status: enum_column(r, "status")?,
        payment_id: r.try_get("payment_id")?,
        metadata: json_column(r, "metadata")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

pub struct NewTerminal {
    pub label: String,
    pub serial_number: String,
    pub model: Option<String>,
    pub location: Option<String>,
    pub status: TerminalStatus,
    pub metadata: Metadata,
}

/// Registers a terminal; `Err` with a unique violation when the serial number is taken.
pub async fn insert(db: &Db, account_uid: &str, new: NewTerminal) -> Result<Terminal, sqlx::Error> {
    let now = now_ms();
    let t = Terminal {
        id: new_id("trm"),
        account_uid: account_uid.to_owned(),
        label: new.label,
        serial_number: new.serial_number,
        model: new.model,
        location: new.location,
        status: new.status,
        payment_id: None,
        metadata: new.metadata,
        created_at: now,
        updated_at: now,
    };
    sqlx::query(&format!("INSERT INTO terminals ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"))
        .bind(&t.id)
        .bind(&t.account_uid)
        .bind(&t.label)
        .bind(&t.serial_number)
        .bind(&t.model)
        .bind(&t.location)
        .bind(t.status.as_str())
        .bind(&t.payment_id)
        .bind(to_json_text(&t.metadata))
        .bind(t.created_at)
        .bind(t.updated_at)
        .execute(db.writer())
        .await?;
    Ok(t)
}

pub async fn get(db: &Db, account_uid: &str, id: &str) -> Result<Option<Terminal>, sqlx::Error> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM terminals WHERE id = $1 AND account_uid = $2 AND deleted_at IS NULL"
    ))
    .bind(id)
    .bind(account_uid)
    .fetch_optional(db.pool())
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// Applies a PATCH; a status change only while the terminal is not busy. False when the
/// terminal is gone or (with a status change) busy.
pub async fn update(db: &Db, id: &str, patch: &Patch, changes_status: bool) -> Result<bool, sqlx::Error> {
    let condition = changes_status.then(|| ("status <>", super::Bind::Text(TerminalStatus::Busy.as_str().into())));
    patch.apply_where(db, "terminals", "id", id, "deleted_at IS NULL", condition).await
}

/// Retires a terminal that is not busy; false when it is gone or busy.
pub async fn delete(db: &Db, account_uid: &str, id: &str) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE terminals SET deleted_at = $1, updated_at = $1 WHERE id = $2 AND account_uid = $3 \
         AND deleted_at IS NULL AND status <> $4",
    )
    .bind(now_ms())
    .bind(id)
    .bind(account_uid)
    .bind(TerminalStatus::Busy.as_str())
    .execute(db.writer())
    .await?;
    Ok(done.rows_affected() == 1)
}

/// online → busy with `payment_id`; false when the terminal is not online (busy, offline, gone).
pub async fn occupy(conn: &mut AnyConnection, id: &str, payment_id: &str, now: i64) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE terminals SET status = $1, payment_id = $2, updated_at = $3 \
         WHERE id = $4 AND status = $5 AND deleted_at IS NULL",
    )
    .bind(TerminalStatus::Busy.as_str())
    .bind(payment_id)
    .bind(now)
    .bind(id)
    .bind(TerminalStatus::Online.as_str())
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// busy → online once `payment_id` is done with it.
pub async fn free(conn: &mut AnyConnection, id: &str, payment_id: &str, now: i64) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE terminals SET status = $1, payment_id = NULL, updated_at = $2 WHERE id = $3 AND payment_id = $4",
    )
    .bind(TerminalStatus::Online.as_str())
    .bind(now)
    .bind(id)
    .bind(payment_id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}
