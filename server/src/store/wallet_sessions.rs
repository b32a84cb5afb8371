//! Wallet sessions (`ws_`): a short-lived credential for a customer to manage saved methods.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::accounts::{self, Account};
use super::{Db, enum_column};
use crate::domain::session::Locale;

#[derive(Debug, Clone)]
pub struct WalletSession {
    pub id: String,
    pub account_uid: String,
    pub customer_id: String,
    pub return_url: String,
    pub locale: Locale,
    /// SHA-256 of the credential.
    pub secret_hash: String,
    pub created_at: i64,
    pub expires_at: i64,
}

const COLUMNS: &str = "id, account_uid, customer_id, return_url, locale, secret_hash, created_at, expires_at";

fn from_row(r: &AnyRow) -> Result<WalletSession, sqlx::Error> {
    Ok(WalletSession {
        id: r.try_get("id")?,
        account_uid: r.try_get("account_uid")?,
        customer_id: r.try_get("customer_id")?,
        return_url: r.try_get("return_url")?,
        locale: enum_column(r, "locale")?,
        secret_hash: r.try_get("secret_hash")?,
        created_at: r.try_get("created_at")?,
        expires_at: r.try_get("expires_at")?,
    })
}

pub async fn insert(db: &Db, w: &WalletSession) -> Result<(), sqlx::Error> {
    sqlx::query(&format!("INSERT INTO wallet_sessions ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"))
        .bind(&w.id)
        .bind(&w.account_uid)
        .bind(&w.customer_id)
        .bind(&w.return_url)
        .bind(w.locale.as_str())
        .bind(&w.secret_hash)
        .bind(w.created_at)
        .bind(w.expires_at)
        .execute(db.writer())
        .await?;
    Ok(())
}

/// A wallet session with its payment account, in one read (every wallet call needs both).
pub async fn get_with_account(db: &Db, id: &str) -> Result<Option<(WalletSession, Account)>, sqlx::Error> {
    static SQL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let sql = SQL.get_or_init(|| accounts::select_with_account("wallet_sessions", COLUMNS));
    let Some(row) = sqlx::query(sql).bind(id).fetch_optional(db.pool()).await? else { return Ok(None) };
    Ok(Some((from_row(&row)?, accounts::from_columns(&row, accounts::JOINED)?)))
}

pub async fn get(db: &Db, id: &str) -> Result<Option<WalletSession>, sqlx::Error> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM wallet_sessions WHERE id = $1"))
        .bind(id)
        .fetch_optional(db.pool())
        .await?;
    row.as_ref().map(from_row).transpose()
}
