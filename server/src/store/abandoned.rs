//! References recovery gave up, watched at the processor for a late approval to undo (see
//! `payments::abandoned`).

use sqlx::Row;

use super::batch::Stmt;
use super::{Db, amount_column};
use crate::domain::money::Amount;

/// One watched reference.
#[derive(Debug, Clone)]
pub struct Watched {
    pub reference: String,
    pub account_uid: String,
    pub amount: Amount,
    pub abandoned_at: i64,
}

/// Starts watching `reference` (in the transaction that gives it up); first looked up at `check_at`.
pub fn watch_stmt(reference: &str, account_uid: &str, amount: Amount, now: i64, check_at: i64) -> Stmt {
    Stmt::new(
        "INSERT INTO abandoned_charges (reference, account_uid, amount, abandoned_at, check_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .text(reference)
    .text(account_uid)
    .int(amount.minor())
    .int(now)
    .int(check_at)
}

/// The references due a lookup at `now`, the longest due first.
pub async fn due(db: &Db, now: i64, limit: i64) -> Result<Vec<Watched>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT reference, account_uid, amount, abandoned_at FROM abandoned_charges \
         WHERE check_at <= $1 AND refusal IS NULL ORDER BY check_at LIMIT $2",
    )
    .bind(now)
    .bind(limit)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Watched {
                reference: r.try_get("reference")?,
                account_uid: r.try_get("account_uid")?,
                amount: amount_column(r, "amount")?,
                abandoned_at: r.try_get("abandoned_at")?,
            })
        })
        .collect()
}

/// Looks `reference` up again at `at`.
pub async fn recheck(db: &Db, reference: &str, at: i64) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE abandoned_charges SET check_at = $1 WHERE reference = $2")
        .bind(at)
        .bind(reference)
        .execute(db.writer())
        .await?;
    Ok(())
}

/// Keeps `reference` for an operator: the processor refused to undo its charge.
pub async fn refused(db: &Db, reference: &str, why: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE abandoned_charges SET refusal = $1 WHERE reference = $2")
        .bind(why)
        .bind(reference)
        .execute(db.writer())
        .await?;
    Ok(())
}

/// Stops watching `reference`: its charge is undone, declined or returned, or it never came.
pub async fn forget(db: &Db, reference: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM abandoned_charges WHERE reference = $1").bind(reference).execute(db.writer()).await?;
    Ok(())
}

/// Whether `reference` is still watched (not undone, nor refused): for tests and operators.
pub async fn watched(db: &Db, reference: &str) -> Result<bool, sqlx::Error> {
    let row = sqlx::query("SELECT 1 FROM abandoned_charges WHERE reference = $1 AND refusal IS NULL")
        .bind(reference)
        .fetch_optional(db.pool())
        .await?;
    Ok(row.is_some())
}
