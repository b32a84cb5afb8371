//! App clients of the built-in OAuth 2.0 identity provider.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Db, now_ms};
use crate::auth::secrets::hash_secret;
use crate::domain::ids::random_base62;

/// The scope that opens the platform's admin routes.
pub const ADMIN_SCOPE: &str = "com.govineer.payments/admin";

#[derive(Debug, Clone)]
pub struct AppClient {
    pub client_id: String,
    pub name: String,
    pub scopes: Vec<String>,
    pub secret_hash: String,
    pub created_at: i64,
    pub disabled: bool,
}

fn from_row(row: &AnyRow) -> Result<AppClient, sqlx::Error> {
    let scopes: String = row.try_get("scopes")?;
    Ok(AppClient {
        client_id: row.try_get("client_id")?,
        name: row.try_get("name")?,
        scopes: scopes.split_whitespace().map(str::to_owned).collect(),
        secret_hash: row.try_get("secret_hash")?,
        created_at: row.try_get("created_at")?,
        disabled: row.try_get::<Option<i64>, _>("disabled_at")?.is_some(),
    })
}

/// A new app client with the admin scope; returns it and its secret (shown once, kept hashed).
pub async fn create(db: &Db, name: &str) -> Result<(AppClient, String), sqlx::Error> {
    // Shaped like Cognito's: a 26-character lowercase id and a long secret.
    let client_id = random_base62(40).to_ascii_lowercase().chars().take(26).collect::<String>();
    let secret = random_base62(48);
    let client = insert(db, &client_id, name, &secret).await?;
    Ok((client, secret))
}

async fn insert(db: &Db, client_id: &str, name: &str, secret: &str) -> Result<AppClient, sqlx::Error> {
    let now = now_ms();
    sqlx::query(
        "INSERT INTO app_clients (client_id, name, secret_hash, scopes, created_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(client_id)
    .bind(name)
    .bind(hash_secret(secret))
    .bind(ADMIN_SCOPE)
    .bind(now)
    .execute(db.writer())
    .await?;
    Ok(AppClient {
        client_id: client_id.to_owned(),
        name: name.to_owned(),
        scopes: vec![ADMIN_SCOPE.to_owned()],
        secret_hash: hash_secret(secret),
        created_at: now,
        disabled: false,
    })
}

/// Makes sure an app client with exactly these credentials exists (`GOVIFI_BOOTSTRAP_CLIENT_*`):
/// created if missing, its secret reset if it changed.
pub async fn ensure(db: &Db, client_id: &str, secret: &str, name: &str) -> Result<(), sqlx::Error> {
    let updated = sqlx::query("UPDATE app_clients SET secret_hash = $1, disabled_at = NULL WHERE client_id = $2")
        .bind(hash_secret(secret))
        .bind(client_id)
        .execute(db.writer())
        .await?;
    if updated.rows_affected() == 0 {
        match insert(db, client_id, name, secret).await {
            Ok(_) => {}
            // Another process inserted it between our UPDATE and INSERT: its row has the same secret.
            Err(e) if super::is_unique_violation(&e) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

pub async fn find(db: &Db, client_id: &str) -> Result<Option<AppClient>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT client_id, name, scopes, secret_hash, created_at, disabled_at FROM app_clients WHERE client_id = $1",
    )
    .bind(client_id)
    .fetch_optional(db.pool())
    .await?;
    row.as_ref().map(from_row).transpose()
}

pub async fn count(db: &Db) -> Result<i64, sqlx::Error> {
    sqlx::query("SELECT COUNT(*) FROM app_clients").fetch_one(db.pool()).await?.try_get(0)
}
