//! The identity provider's RS256 signing keys: the private key sealed, the public parts plain.

use sqlx::Row;

use super::{Db, now_ms};

/// A stored key (the private key still sealed).
#[derive(Debug, Clone)]
pub struct StoredKey {
    pub kid: String,
    pub private_key_sealed: String,
    pub public_n: String,
    pub public_e: String,
    pub retired_at: Option<i64>,
}

/// The newest key that still signs.
pub async fn newest_active(db: &Db) -> Result<Option<String>, sqlx::Error> {
    let row =
        sqlx::query("SELECT kid FROM signing_keys WHERE retired_at IS NULL ORDER BY created_at DESC, kid DESC LIMIT 1")
            .fetch_optional(db.pool())
            .await?;
    row.map(|r| r.try_get(0)).transpose()
}

/// Retires every key but `kid`.
pub async fn retire_all_but(db: &Db, kid: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE signing_keys SET retired_at = $1 WHERE retired_at IS NULL AND kid <> $2")
        .bind(now_ms())
        .bind(kid)
        .execute(db.writer())
        .await?;
    Ok(())
}

/// Keys still signing or retired after `horizon`: (kid, n, e), newest first.
pub async fn published_since(db: &Db, horizon: i64) -> Result<Vec<(String, String, String)>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT kid, public_n, public_e FROM signing_keys WHERE retired_at IS NULL OR retired_at > $1 \
         ORDER BY created_at DESC",
    )
    .bind(horizon)
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(|r| Ok((r.try_get("kid")?, r.try_get("public_n")?, r.try_get("public_e")?))).collect()
}

pub async fn get(db: &Db, kid: &str) -> Result<Option<StoredKey>, sqlx::Error> {
    let row = sqlx::query("SELECT kid, private_key, public_n, public_e, retired_at FROM signing_keys WHERE kid = $1")
        .bind(kid)
        .fetch_optional(db.pool())
        .await?;
    row.map(|r| {
        Ok(StoredKey {
            kid: r.try_get("kid")?,
            private_key_sealed: r.try_get("private_key")?,
            public_n: r.try_get("public_n")?,
            public_e: r.try_get("public_e")?,
            retired_at: r.try_get("retired_at")?,
        })
    })
    .transpose()
}

pub async fn insert(db: &Db, kid: &str, private_key_sealed: &str, n: &str, e: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO signing_keys (kid, private_key, public_n, public_e, created_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(kid)
    .bind(private_key_sealed)
    .bind(n)
    .bind(e)
    .bind(now_ms())
    .execute(db.writer())
    .await?;
    Ok(())
}
