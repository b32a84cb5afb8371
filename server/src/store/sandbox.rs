//! The sandbox processor's own records (`sandbox_*` tables), kept as an external acquirer keeps
//! them on its side: tokens, charges keyed by the caller's reference, and the movements on them.
//! The behaviour and display details are the processor's JSON; this module only stores them.

use sqlx::Row;

use super::batch::Stmt;
use super::{Db, now_ms};
use crate::domain::money::Amount;

/// A capture, void or refund on a charge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Movement {
    Capture,
    Void,
    Refund,
}

impl Movement {
    fn kind(self) -> &'static str {
        match self {
            Movement::Capture => "capture",
            Movement::Void => "void",
            Movement::Refund => "refund",
        }
    }

    /// The change to the charge, binding $1 = amount, $2 = processor_ref; it changes no row
    /// when the charge does not allow it.
    fn change(self) -> &'static str {
        match self {
            Movement::Capture => {
                "UPDATE sandbox_charges SET captured = $1 WHERE processor_ref = $2 AND captured = 0 AND voided = 0 \
                 AND $1 > 0 AND $1 <= amount"
            }
            Movement::Void => {
                "UPDATE sandbox_charges SET voided = 1 WHERE processor_ref = $2 AND captured = 0 AND voided = 0 AND $1 = 0"
            }
            Movement::Refund => {
                "UPDATE sandbox_charges SET refunded = refunded + $1 WHERE processor_ref = $2 AND $1 > 0 \
                 AND refunded + $1 <= captured"
            }
        }
    }
}

/// What became of a movement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Moved {
    Made,
    /// The reference was seen before: answered as the first time, nothing moved again.
    Seen,
    /// The charge does not allow it (nothing recorded).
    Refused,
}

/// Records a movement under the caller's reference together with its change to the charge, in
/// one transaction.
pub async fn move_charge(
    db: &Db,
    movement: Movement,
    processor_ref: &str,
    amount: Amount,
    reference: &str,
) -> Result<Moved, sqlx::Error> {
    let mut tx = db.begin_write().await?;
    let new = sqlx::query(
        "INSERT INTO sandbox_operations (reference, processor_ref, kind, amount, created_at) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (reference) DO NOTHING",
    )
    .bind(reference)
    .bind(processor_ref)
    .bind(movement.kind())
    .bind(amount.minor())
    .bind(now_ms())
    .execute(&mut *tx)
    .await?;
    if new.rows_affected() == 0 {
        return Ok(Moved::Seen);
    }
    let done = sqlx::query(movement.change()).bind(amount.minor()).bind(processor_ref).execute(&mut *tx).await?;
    if done.rows_affected() == 0 {
        return Ok(Moved::Refused);
    }
    tx.commit().await?;
    Ok(Moved::Made)
}

/// A token's behaviour and display details (JSON texts).
pub async fn token(db: &Db, token: &str) -> Result<Option<(String, String)>, sqlx::Error> {
    let row = sqlx::query("SELECT behaviour, details FROM sandbox_tokens WHERE token = $1")
        .bind(token)
        .fetch_optional(db.pool())
        .await?;
    row.map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).transpose()
}

pub async fn insert_token(db: &Db, token: &str, behaviour: &str, details: &str) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO sandbox_tokens (token, behaviour, details, created_at) VALUES ($1, $2, $3, $4)")
        .bind(token)
        .bind(behaviour)
        .bind(details)
        .bind(now_ms())
        .execute(db.writer())
        .await?;
    Ok(())
}

/// A charge as the processor recorded it.
pub struct NewCharge<'a> {
    pub reference: &'a str,
    pub processor_ref: &'a str,
    /// JSON: the outcome and display details.
    pub charge: String,
    /// JSON: what the instrument does.
    pub behaviour: String,
    pub amount: Amount,
    pub settle_at: Option<i64>,
    /// What it took at once (a sale, an ACH debit), else zero.
    pub captured: Amount,
}

/// Records a charge durably (on SQLite in the writer's group commit); `false` when the reference
/// was seen before (the first record stands).
pub async fn record_charge(db: &Db, charge: NewCharge<'_>) -> Result<bool, sqlx::Error> {
    let record = Stmt::new(
        "INSERT INTO sandbox_charges (reference, processor_ref, charge, behaviour, amount, settle_at, created_at, \
         captured) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (reference) DO NOTHING",
    )
    .text(charge.reference)
    .text(charge.processor_ref)
    .text(charge.charge)
    .text(charge.behaviour)
    .int(charge.amount.minor())
    .opt_int(charge.settle_at)
    .int(now_ms())
    .int(charge.captured.minor());
    Ok(db.write_one(record).await? == 1)
}

/// The charge recorded under a caller's reference (its JSON).
pub async fn charge_by_reference(db: &Db, reference: &str) -> Result<Option<String>, sqlx::Error> {
    let row = sqlx::query("SELECT charge FROM sandbox_charges WHERE reference = $1")
        .bind(reference)
        .fetch_optional(db.pool())
        .await?;
    row.map(|r| r.try_get(0)).transpose()
}

/// A charge's JSON, its behaviour's and when it settles, by the processor's own reference.
pub async fn charge_by_ref(db: &Db, processor_ref: &str) -> Result<Option<(String, String, Option<i64>)>, sqlx::Error> {
    let row = sqlx::query("SELECT charge, behaviour, settle_at FROM sandbox_charges WHERE processor_ref = $1")
        .bind(processor_ref)
        .fetch_optional(db.pool())
        .await?;
    row.map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?))).transpose()
}
