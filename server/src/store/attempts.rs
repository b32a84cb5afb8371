//! Confirm attempts: one row per confirm that claimed a session. Its id is the reference the
//! processor sees, so a crash can be resolved by asking the processor about it.

use sqlx::{AnyConnection, Row};

use super::batch::Stmt;
use super::{Db, to_json_text};
use crate::domain::session::AttemptStatus;

/// Records an attempt (inside the claim's transaction) with what recovery needs to finish it.
pub fn insert_stmt<T: serde::Serialize>(id: &str, session_id: &str, record: &T, now: i64) -> Stmt {
    Stmt::new("INSERT INTO confirm_attempts (id, session_id, status, request, created_at) VALUES ($1, $2, $3, $4, $5)")
        .text(id)
        .text(session_id)
        .text(AttemptStatus::Processing.as_str())
        .text(to_json_text(record))
        .int(now)
}

/// An attempt's end.
pub fn finish_stmt(id: &str, status: AttemptStatus, now: i64) -> Stmt {
    Stmt::new("UPDATE confirm_attempts SET status = $1, finished_at = $2 WHERE id = $3")
        .text(status.as_str())
        .int(now)
        .text(id)
}

pub async fn finish(conn: &mut AnyConnection, id: &str, status: AttemptStatus, now: i64) -> Result<(), sqlx::Error> {
    finish_stmt(id, status, now).execute(conn).await?;
    Ok(())
}

/// The record stored with an attempt.
pub async fn record<T: serde::de::DeserializeOwned>(db: &Db, id: &str) -> Result<Option<T>, sqlx::Error> {
    let row =
        sqlx::query("SELECT request FROM confirm_attempts WHERE id = $1").bind(id).fetch_optional(db.pool()).await?;
    match row {
        Some(r) => {
            let text: String = r.try_get(0)?;
            serde_json::from_str(&text)
                .map(Some)
                .map_err(|e| sqlx::Error::Decode(format!("attempt record: {e}").into()))
        }
        None => Ok(None),
    }
}

/// What became of an attempt (tests and recovery).
pub async fn status(db: &Db, id: &str) -> Result<Option<AttemptStatus>, sqlx::Error> {
    let row =
        sqlx::query("SELECT status FROM confirm_attempts WHERE id = $1").bind(id).fetch_optional(db.pool()).await?;
    row.map(|r| super::enum_column(&r, "status")).transpose()
}
