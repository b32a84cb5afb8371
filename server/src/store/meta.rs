//! Installation facts in the `meta` table.

use sqlx::Row;

use super::Db;

pub async fn get(db: &Db, key: &str) -> Result<Option<String>, sqlx::Error> {
    let row = sqlx::query("SELECT value FROM meta WHERE key = $1").bind(key).fetch_optional(db.pool()).await?;
    row.map(|r| r.try_get::<String, _>(0)).transpose()
}

/// Sets `key` only if it has no value yet; true when this call set it. Two processes starting
/// at once cannot both win.
pub async fn set_if_absent(db: &Db, key: &str, value: &str) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING")
        .bind(key)
        .bind(value)
        .execute(db.writer())
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Sets `key` to `new` only if it still holds `old`; true when this call changed it.
pub async fn replace(db: &Db, key: &str, old: &str, new: &str) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("UPDATE meta SET value = $1 WHERE key = $2 AND value = $3")
        .bind(new)
        .bind(key)
        .bind(old)
        .execute(db.writer())
        .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn set(db: &Db, key: &str, value: &str) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value")
        .bind(key)
        .bind(value)
        .execute(db.writer())
        .await?;
    Ok(())
}

pub async fn delete(db: &Db, key: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM meta WHERE key = $1").bind(key).execute(db.writer()).await?;
    Ok(())
}
