//! Fee quotes (`fq_`): what the customer was shown before paying, binding the confirm to it.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Db, amount_column, currency_column, enum_column, optional_enum};
use crate::domain::account::{Funding, MethodType};
use crate::domain::money::{Amount, Currency};

#[derive(Debug, Clone)]
pub struct Quote {
    pub id: String,
    pub session_id: String,
    pub method_type: MethodType,
    pub card_bin: Option<String>,
    pub funding: Option<Funding>,
    /// The saved method quoted for, if any.
    pub saved_method: Option<String>,
    /// Which fee rule applied (none: no fee).
    pub rule_index: Option<i64>,
    /// The session's version when quoted: a PATCH makes older quotes stale.
    pub session_version: i64,
    pub amount: Amount,
    pub fee_amount: Amount,
    pub total_amount: Amount,
    pub currency: Currency,
    pub disclosure: String,
    pub expires_at: i64,
    pub created_at: i64,
}

const COLUMNS: &str = "id, session_id, method_type, card_bin, funding, saved_method, rule_index, session_version, \
                       amount, fee_amount, total_amount, currency, disclosure, expires_at, created_at";

fn from_row(r: &AnyRow) -> Result<Quote, sqlx::Error> {
    Ok(Quote {
        id: r.try_get("id")?,
        session_id: r.try_get("session_id")?,
        method_type: enum_column(r, "method_type")?,
        card_bin: r.try_get("card_bin")?,
        funding: optional_enum(r, "funding")?,
        saved_method: r.try_get("saved_method")?,
        rule_index: r.try_get("rule_index")?,
        session_version: r.try_get("session_version")?,
        amount: amount_column(r, "amount")?,
        fee_amount: amount_column(r, "fee_amount")?,
        total_amount: amount_column(r, "total_amount")?,
        currency: currency_column(r, "currency")?,
        disclosure: r.try_get("disclosure")?,
        expires_at: r.try_get("expires_at")?,
        created_at: r.try_get("created_at")?,
    })
}

pub async fn insert(db: &Db, q: &Quote) -> Result<(), sqlx::Error> {
    sqlx::query(&format!(
        "INSERT INTO fee_quotes ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
    ))
    .bind(&q.id)
    .bind(&q.session_id)
    .bind(q.method_type.as_str())
    .bind(&q.card_bin)
    .bind(q.funding.map(Funding::as_str))
    .bind(&q.saved_method)
    .bind(q.rule_index)
    .bind(q.session_version)
    .bind(q.amount.minor())
    .bind(q.fee_amount.minor())
    .bind(q.total_amount.minor())
    .bind(q.currency.as_str())
    .bind(&q.disclosure)
    .bind(q.expires_at)
    .bind(q.created_at)
    .execute(db.writer())
    .await?;
    Ok(())
}

/// A quote of this session, if `id` names one.
pub async fn get(db: &Db, session_id: &str, id: &str) -> Result<Option<Quote>, sqlx::Error> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM fee_quotes WHERE id = $1 AND session_id = $2"))
        .bind(id)
        .bind(session_id)
        .fetch_optional(db.pool())
        .await?;
    row.as_ref().map(from_row).transpose()
}
