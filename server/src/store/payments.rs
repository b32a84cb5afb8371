//! Payments (`pay_`) and their ledger of transactions.

use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use utoipa::ToSchema;

use super::{Db, json_column, now_ms, to_json_text};
use crate::domain::ids::new_id;
use crate::domain::validate::Metadata;

/// How the customer paid, as it may be shown (never a number).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MethodDetails {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub brand: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last4: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exp_month: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exp_year: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bank_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub funding: Option<String>,
}

/// What the customer agreed to (SPEC §5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Consent {
    pub fee_quote_id: String,
    pub fee_amount: i64,
    pub disclosure: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mandate: Option<String>,
    /// RFC 3339
    pub accepted_at: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Payment {
    pub id: String,
    pub account_uid: String,
    pub status: String,
    pub amount: i64,
    pub fee_amount: i64,
    pub total_amount: i64,
    pub amount_captured: i64,
    pub amount_refunded: i64,
    pub currency: String,
    pub payment_method: MethodDetails,
    pub avs_result: Option<String>,
    pub decline_code: Option<String>,
    pub session_id: Option<String>,
    pub attempt_id: Option<String>,
    pub customer_id: Option<String>,
    pub terminal_id: Option<String>,
    pub processor: String,
    pub processor_ref: Option<String>,
    pub reference: Option<String>,
    pub description: Option<String>,
    pub metadata: Metadata,
    pub consent: Option<Consent>,
    pub created_at: i64,
    pub updated_at: i64,
}

pub const COLUMNS: &str = "id, account_uid, status, amount, fee_amount, total_amount, amount_captured, amount_refunded, \
     currency, payment_method, avs_result, decline_code, session_id, attempt_id, customer_id, terminal_id, processor, \
     processor_ref, reference, description, metadata, consent, created_at, updated_at";

pub fn from_row(row: &AnyRow) -> Result<Payment, sqlx::Error> {
    let consent: Option<String> = row.try_get("consent")?;
    Ok(Payment {
        id: row.try_get("id")?,
        account_uid: row.try_get("account_uid")?,
        status: row.try_get("status")?,
        amount: row.try_get("amount")?,
        fee_amount: row.try_get("fee_amount")?,
        total_amount: row.try_get("total_amount")?,
        amount_captured: row.try_get("amount_captured")?,
        amount_refunded: row.try_get("amount_refunded")?,
        currency: row.try_get("currency")?,
        payment_method: json_column(row, "payment_method")?,
        avs_result: row.try_get("avs_result")?,
        decline_code: row.try_get("decline_code")?,
        session_id: row.try_get("session_id")?,
        attempt_id: row.try_get("attempt_id")?,
        customer_id: row.try_get("customer_id")?,
        terminal_id: row.try_get("terminal_id")?,
        processor: row.try_get("processor")?,
        processor_ref: row.try_get("processor_ref")?,
        reference: row.try_get("reference")?,
        description: row.try_get("description")?,
        metadata: json_column(row, "metadata")?,
        consent: consent.map(|c| serde_json::from_str(&c)).transpose().map_err(|e| sqlx::Error::Decode(e.into()))?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// A new payment with a fresh id (the caller fills in the rest).
pub fn new_payment(account_uid: &str, currency: &str, processor: &str) -> Payment {
    let now = now_ms();
    Payment {
        id: new_id("pay"),
        account_uid: account_uid.to_owned(),
        status: String::new(),
        amount: 0,
        fee_amount: 0,
        total_amount: 0,
        amount_captured: 0,
        amount_refunded: 0,
        currency: currency.to_owned(),
        payment_method: MethodDetails::default(),
        avs_result: None,
        decline_code: None,
        session_id: None,
        attempt_id: None,
        customer_id: None,
        terminal_id: None,
        processor: processor.to_owned(),
        processor_ref: None,
        reference: None,
        description: None,
        metadata: Metadata::new(),
        consent: None,
        created_at: now,
        updated_at: now,
    }
}

pub async fn insert(conn: &mut AnyConnection, p: &Payment) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO payments (id, account_uid, status, amount, fee_amount, total_amount, amount_captured, \
         amount_refunded, currency, payment_method, avs_result, decline_code, session_id, attempt_id, customer_id, \
         terminal_id, processor, processor_ref, reference, description, metadata, consent, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, \
         $22, $23, $24)",
    )
    .bind(&p.id)
    .bind(&p.account_uid)
    .bind(&p.status)
    .bind(p.amount)
    .bind(p.fee_amount)
    .bind(p.total_amount)
    .bind(p.amount_captured)
    .bind(p.amount_refunded)
    .bind(&p.currency)
    .bind(to_json_text(&p.payment_method))
    .bind(&p.avs_result)
    .bind(&p.decline_code)
    .bind(&p.session_id)
    .bind(&p.attempt_id)
    .bind(&p.customer_id)
    .bind(&p.terminal_id)
    .bind(&p.processor)
    .bind(&p.processor_ref)
    .bind(&p.reference)
    .bind(&p.description)
    .bind(to_json_text(&p.metadata))
    .bind(p.consent.as_ref().map(to_json_text))
    .bind(p.created_at)
    .bind(p.updated_at)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn get(db: &Db, account_uid: &str, id: &str) -> Result<Option<Payment>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM payments WHERE id = $1 AND account_uid = $2");
    let row = sqlx::query(&sql).bind(id).bind(account_uid).fetch_optional(db.pool()).await?;
    row.as_ref().map(from_row).transpose()
}

pub async fn get_on(conn: &mut AnyConnection, id: &str) -> Result<Option<Payment>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM payments WHERE id = $1");
    let row = sqlx::query(&sql).bind(id).fetch_optional(conn).await?;
    row.as_ref().map(from_row).transpose()
}

/// Appends a ledger entry.
pub async fn record_transaction(
    conn: &mut AnyConnection,
    payment_id: &str,
    kind: &str,
    amount: i64,
) -> Result<(), sqlx::Error> {
    // The next position in this payment's ledger (unique: a racing writer fails rather than interleaves).
    sqlx::query(
        "INSERT INTO payment_transactions (id, payment_id, type, amount, created_at, position) \
         SELECT $1, $2, $3, $4, $5, COALESCE(MAX(position), 0) + 1 FROM payment_transactions WHERE payment_id = $2",
    )
    .bind(new_id("txn"))
    .bind(payment_id)
    .bind(kind)
    .bind(amount)
    .bind(now_ms())
    .execute(conn)
    .await?;
    Ok(())
}

/// The first ledger entries of a new payment, in one statement (positions 1, 2, …).
pub async fn record_initial(
    conn: &mut AnyConnection,
    payment_id: &str,
    entries: &[(&str, i64)],
) -> Result<(), sqlx::Error> {
    if entries.is_empty() {
        return Ok(());
    }
    let now = now_ms();
    let rows: Vec<String> = (0..entries.len())
        .map(|i| {
            format!("(${}, ${}, ${}, ${}, ${}, ${})", i * 6 + 1, i * 6 + 2, i * 6 + 3, i * 6 + 4, i * 6 + 5, i * 6 + 6)
        })
        .collect();
    let sql = format!(
        "INSERT INTO payment_transactions (id, payment_id, type, amount, created_at, position) VALUES {}",
        rows.join(", ")
    );
    let mut q = sqlx::query(&sql);
    for (i, (kind, amount)) in entries.iter().enumerate() {
        q = q.bind(new_id("txn")).bind(payment_id).bind(*kind).bind(*amount).bind(now).bind(i as i64 + 1);
    }
    q.execute(conn).await?;
    Ok(())
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Transaction {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub amount: i64,
    pub created_at: crate::domain::time::Timestamp,
}

pub async fn transactions(db: &Db, payment_id: &str) -> Result<Vec<Transaction>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT id, type, amount, created_at FROM payment_transactions WHERE payment_id = $1 ORDER BY position",
    )
    .bind(payment_id)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Transaction {
                id: r.try_get("id")?,
                kind: r.try_get("type")?,
                amount: r.try_get("amount")?,
                created_at: crate::domain::time::Timestamp(r.try_get("created_at")?),
            })
        })
        .collect()
}

/// ACH payments still waiting for their settlement.
pub async fn awaiting_settlement(db: &Db, limit: i64) -> Result<Vec<Payment>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM payments WHERE status = 'processing' ORDER BY updated_at LIMIT $1");
    let rows = sqlx::query(&sql).bind(limit).fetch_all(db.pool()).await?;
    rows.iter().map(from_row).collect()
}

/// processing → `to`, once (the settlement job may run in several processes).
pub async fn settle(
    conn: &mut AnyConnection,
    id: &str,
    to: &str,
    amount_captured: i64,
    decline_code: Option<&str>,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE payments SET status = $1, amount_captured = $2, decline_code = $3, updated_at = $4 \
         WHERE id = $5 AND status = 'processing'",
    )
    .bind(to)
    .bind(amount_captured)
    .bind(decline_code)
    .bind(now_ms())
    .bind(id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}
