//! Account API keys (`gk_…`): created with a label and scopes, shown once, kept hashed.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::{Db, now_ms};
use crate::auth::secrets::{hash_secret, verify_secret};
use crate::domain::ids::{new_id, random_base62};

/// Every scope a key can carry (SPEC §3).
pub const SCOPES: &[&str] = &[
    "sessions.read",
    "sessions.write",
    "payments.read",
    "payments.write",
    "refunds.write",
    "customers.read",
    "customers.write",
    "terminals.read",
    "terminals.write",
    "webhooks.read",
    "webhooks.write",
    "*",
];

/// Only write `last_used_at` when it is older than this: a key used on every request should not
/// turn every request into a write.
const LAST_USED_RESOLUTION_MS: i64 = 60_000;

#[derive(Debug, Clone)]
pub struct ApiKey {
    pub id: String,
    pub account_uid: String,
    pub prefix: String,
    pub label: String,
    pub scopes: Vec<String>,
    pub expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
    pub created_at: i64,
}

impl ApiKey {
    /// `*` grants everything, and `x.write` includes `x.read`.
    pub fn allows(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| {
            s == "*" || s == scope || scope.strip_suffix(".read").is_some_and(|res| *s == format!("{res}.write"))
        })
    }
}

pub const COLUMNS: &str = "id, account_uid, prefix, label, scopes, expires_at, last_used_at, revoked_at, created_at";

pub fn from_row(row: &AnyRow) -> Result<ApiKey, sqlx::Error> {
    let scopes: String = row.try_get("scopes")?;
    Ok(ApiKey {
        id: row.try_get("id")?,
        account_uid: row.try_get("account_uid")?,
        prefix: row.try_get("prefix")?,
        label: row.try_get("label")?,
        scopes: scopes.split_whitespace().map(str::to_owned).collect(),
        expires_at: row.try_get("expires_at")?,
        last_used_at: row.try_get("last_used_at")?,
        revoked_at: row.try_get("revoked_at")?,
        created_at: row.try_get("created_at")?,
    })
}

/// A new key (in the caller's transaction); returns it and the secret key string (shown once).
pub async fn create(
    conn: &mut AnyConnection,
    account_uid: &str,
    label: &str,
    scopes: &[String],
    expires_at: Option<i64>,
) -> Result<(ApiKey, String), sqlx::Error> {
    let secret = format!("gk_{}", random_base62(40));
    let key = ApiKey {
        id: new_id("ak"),
        account_uid: account_uid.to_owned(),
        prefix: secret[..11].to_owned(),
        label: label.to_owned(),
        scopes: scopes.to_vec(),
        expires_at,
        last_used_at: None,
        revoked_at: None,
        created_at: now_ms(),
    };
    sqlx::query(
        "INSERT INTO api_keys (id, account_uid, key_hash, prefix, label, scopes, expires_at, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&key.id)
    .bind(&key.account_uid)
    .bind(hash_secret(&secret))
    .bind(&key.prefix)
    .bind(&key.label)
    .bind(key.scopes.join(" "))
    .bind(key.expires_at)
    .bind(key.created_at)
    .execute(conn)
    .await?;
    Ok((key, secret))
}

/// The live key behind a presented secret: not revoked, not expired. Marks it used.
pub async fn authenticate(db: &Db, presented: &str) -> Result<Option<ApiKey>, sqlx::Error> {
    let hash = hash_secret(presented);
    let sql = format!("SELECT {COLUMNS}, key_hash FROM api_keys WHERE key_hash = $1");
    let Some(row) = sqlx::query(&sql).bind(&hash).fetch_optional(db.pool()).await? else {
        return Ok(None);
    };
    let stored: String = row.try_get("key_hash")?;
    // Found by hash; compare again in constant time so the check never depends on how it was found.
    if !verify_secret(presented, &stored) {
        return Ok(None);
    }
    let key = from_row(&row)?;
    let now = now_ms();
    if key.revoked_at.is_some() || key.expires_at.is_some_and(|t| t <= now) {
        return Ok(None);
    }
    sqlx::query("UPDATE api_keys SET last_used_at = $1 WHERE id = $2 AND (last_used_at IS NULL OR last_used_at < $3)")
        .bind(now)
        .bind(&key.id)
        .bind(now - LAST_USED_RESOLUTION_MS)
        .execute(db.writer())
        .await?;
    Ok(Some(key))
}

pub async fn get(db: &Db, account_uid: &str, id: &str) -> Result<Option<ApiKey>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM api_keys WHERE id = $1 AND account_uid = $2");
    let row = sqlx::query(&sql).bind(id).bind(account_uid).fetch_optional(db.pool()).await?;
    row.as_ref().map(from_row).transpose()
}

/// Revokes a key at once (in the caller's transaction); answers it as revoked, or `None` when
/// there is no such unrevoked key on this account.
pub async fn revoke(conn: &mut AnyConnection, account_uid: &str, id: &str) -> Result<Option<ApiKey>, sqlx::Error> {
    let sql = format!(
        "UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND account_uid = $3 AND revoked_at IS NULL \
         RETURNING {COLUMNS}"
    );
    let row = super::first_returned(sqlx::query(&sql).bind(now_ms()).bind(id).bind(account_uid), conn).await?;
    row.as_ref().map(from_row).transpose()
}

/// An account's API keys as a list's scope.
pub fn listed(account_uid: &str) -> super::odata::Scope<'static> {
    super::odata::Scope::account("api_keys", COLUMNS, account_uid)
}
