//! Money movements made at a processor (`payment_operations`): authorizations of direct
//! payments, captures, voids, refunds (`re_`) and terminal charges. The id is the reference the
//! processor sees; a row left `pending` by a crash is finished from the processor's record.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::{Db, amount_column, enum_column};
use crate::domain::ids::new_id;
use crate::domain::money::Amount;
use crate::domain::payment::{OperationKind, OperationStatus};

#[derive(Debug, Clone)]
pub struct Operation {
    pub id: String,
    pub payment_id: String,
    pub account_uid: String,
    pub kind: OperationKind,
    pub amount: Amount,
    pub reason: Option<String>,
    pub status: OperationStatus,
    pub failure_code: Option<String>,
    /// What finishing needs (JSON), for kinds that carry more than the amount.
    pub request: Option<String>,
    /// The `Idempotency-Key` whose answer this operation writes, as (scope, key).
    pub idempotency: Option<(String, String)>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Operation {
    /// A new pending operation; refunds get a `re_` id (the refund's), others `op_`.
    pub fn new(kind: OperationKind, payment_id: &str, account_uid: &str, amount: Amount, now: i64) -> Operation {
        let prefix = if kind == OperationKind::Refund { "re" } else { "op" };
        Operation {
            id: new_id(prefix),
            payment_id: payment_id.to_owned(),
            account_uid: account_uid.to_owned(),
            kind,
            amount,
            reason: None,
            status: OperationStatus::Pending,
            failure_code: None,
            request: None,
            idempotency: None,
            created_at: now,
            updated_at: now,
        }
    }
}

const COLUMNS: &str = "id, payment_id, account_uid, kind, amount, reason, status, failure_code, request, \
                       idempotency_scope, idempotency_key, created_at, updated_at";

pub fn from_row(r: &AnyRow) -> Result<Operation, sqlx::Error> {
    let scope: Option<String> = r.try_get("idempotency_scope")?;
    let key: Option<String> = r.try_get("idempotency_key")?;
    Ok(Operation {
        id: r.try_get("id")?,
        payment_id: r.try_get("payment_id")?,
        account_uid: r.try_get("account_uid")?,
        kind: enum_column(r, "kind")?,
        amount: amount_column(r, "amount")?,
        reason: r.try_get("reason")?,
        status: enum_column(r, "status")?,
        failure_code: r.try_get("failure_code")?,
        request: r.try_get("request")?,
        idempotency: scope.zip(key),
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

pub async fn insert(conn: &mut AnyConnection, op: &Operation) -> Result<(), sqlx::Error> {
    sqlx::query(&format!(
        "INSERT INTO payment_operations ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
    ))
    .bind(&op.id)
    .bind(&op.payment_id)
    .bind(&op.account_uid)
    .bind(op.kind.as_str())
    .bind(op.amount.minor())
    .bind(&op.reason)
    .bind(op.status.as_str())
    .bind(&op.failure_code)
    .bind(&op.request)
    .bind(op.idempotency.as_ref().map(|(s, _)| s.as_str()))
    .bind(op.idempotency.as_ref().map(|(_, k)| k.as_str()))
    .bind(op.created_at)
    .bind(op.updated_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// pending → `status`, once: false when the operation was already finished (by the request
/// itself or by recovery, whichever came second).
pub async fn finish(
    conn: &mut AnyConnection,
    id: &str,
    status: OperationStatus,
    failure_code: Option<&str>,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE payment_operations SET status = $1, failure_code = $2, updated_at = $3 WHERE id = $4 AND status = $5",
    )
    .bind(status.as_str())
    .bind(failure_code)
    .bind(now)
    .bind(id)
    .bind(OperationStatus::Pending.as_str())
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn get(db: &Db, id: &str) -> Result<Option<Operation>, sqlx::Error> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM payment_operations WHERE id = $1"))
        .bind(id)
        .fetch_optional(db.pool())
        .await?;
    row.as_ref().map(from_row).transpose()
}

pub async fn get_on(conn: &mut AnyConnection, id: &str) -> Result<Option<Operation>, sqlx::Error> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM payment_operations WHERE id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// A payment's operations of one kind (its refunds), for an OData list.
pub fn listed(payment_id: &str, kind: OperationKind) -> super::odata::Scope<'static> {
    super::odata::Scope {
        table: "payment_operations",
        columns: COLUMNS,
        condition: "payment_id = $1 AND kind = $2",
        binds: vec![super::Bind::Text(payment_id.to_owned()), super::Bind::Text(kind.as_str().to_owned())],
    }
}

/// A payment's operations of one kind, oldest first (a payment's refunds).
pub async fn of_payment(
    db: &Db,
    payment_id: &str,
    kind: OperationKind,
    limit: i64,
) -> Result<Vec<Operation>, sqlx::Error> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM payment_operations WHERE payment_id = $1 AND kind = $2 ORDER BY created_at, id LIMIT $3"
    ))
    .bind(payment_id)
    .bind(kind.as_str())
    .bind(limit)
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(from_row).collect()
}

/// Operations still pending since before `before` whose recovery is due at `now`: a crash (or
/// a processor that did not answer) left them half done.
pub async fn stuck(db: &Db, before: i64, now: i64, limit: i64) -> Result<Vec<Operation>, sqlx::Error> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM payment_operations WHERE status = $1 AND created_at < $2 AND recover_at <= $3 \
         ORDER BY created_at LIMIT $4"
    ))
    .bind(OperationStatus::Pending.as_str())
    .bind(before)
    .bind(now)
    .bind(limit)
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(from_row).collect()
}

/// Puts a stuck operation's next recovery off until `at` (while it is still pending).
pub async fn defer_recovery(db: &Db, id: &str, at: i64) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE payment_operations SET recover_at = $1 WHERE id = $2 AND status = $3")
        .bind(at)
        .bind(id)
        .bind(OperationStatus::Pending.as_str())
        .execute(db.writer())
        .await?;
    Ok(())
}
