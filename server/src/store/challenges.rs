//! One-time codes for the customer challenge (step-up), and the per-session send window.

use sqlx::Row;

use super::Db;

/// The latest code of a session.
#[derive(Debug, Clone)]
pub struct Challenge {
    pub id: String,
    pub code_hash: String,
    pub failures: i64,
    pub expires_at: i64,
}

/// Counts a send in the session's window of `window_ms`, or refuses it when `max_sends` were
/// made in it already; one statement, so racing sends cannot both slip under the limit. Err
/// carries the window's start when refused.
pub async fn count_send(
    db: &Db,
    session_id: &str,
    now: i64,
    window_ms: i64,
    max_sends: i64,
) -> Result<Result<(), Option<i64>>, sqlx::Error> {
    let counted = sqlx::query(
        "UPDATE hosted_sessions SET \
           challenge_sends = CASE WHEN challenge_window IS NULL OR challenge_window <= $1 THEN 1 ELSE challenge_sends + 1 END, \
           challenge_window = CASE WHEN challenge_window IS NULL OR challenge_window <= $1 THEN $2 ELSE challenge_window END \
         WHERE id = $3 AND (challenge_window IS NULL OR challenge_window <= $1 OR challenge_sends < $4)",
    )
    .bind(now - window_ms)
    .bind(now)
    .bind(session_id)
    .bind(max_sends)
    .execute(db.writer())
    .await?;
    if counted.rows_affected() == 1 {
        return Ok(Ok(()));
    }
    let window: Option<i64> = sqlx::query("SELECT challenge_window FROM hosted_sessions WHERE id = $1")
        .bind(session_id)
        .fetch_one(db.pool())
        .await?
        .try_get(0)?;
    Ok(Err(window))
}

#[allow(clippy::too_many_arguments)]
pub async fn insert(
    db: &Db,
    id: &str,
    session_id: &str,
    code_hash: &str,
    destination: &str,
    expires_at: i64,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO challenges (id, session_id, code_hash, destination, expires_at, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(id)
    .bind(session_id)
    .bind(code_hash)
    .bind(destination)
    .bind(expires_at)
    .bind(now)
    .execute(db.writer())
    .await?;
    Ok(())
}

pub async fn latest(db: &Db, session_id: &str) -> Result<Option<Challenge>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT id, code_hash, failures, expires_at FROM challenges WHERE session_id = $1 \
         ORDER BY created_at DESC, id DESC LIMIT 1",
    )
    .bind(session_id)
    .fetch_optional(db.pool())
    .await?;
    row.map(|r| {
        Ok(Challenge {
            id: r.try_get("id")?,
            code_hash: r.try_get("code_hash")?,
            failures: r.try_get("failures")?,
            expires_at: r.try_get("expires_at")?,
        })
    })
    .transpose()
}

/// Accepts the code, only while still unlocked and unexpired (a racing wrong guess may have
/// locked it); false otherwise.
pub async fn accept(db: &Db, id: &str, now: i64, max_failures: i64) -> Result<bool, sqlx::Error> {
    let ok = sqlx::query("UPDATE challenges SET verified_at = $1 WHERE id = $2 AND failures < $3 AND expires_at > $1")
        .bind(now)
        .bind(id)
        .bind(max_failures)
        .execute(db.writer())
        .await?;
    Ok(ok.rows_affected() == 1)
}

/// Counts a wrong guess; `None` when the code was locked already, else the failures so far.
pub async fn count_failure(db: &Db, id: &str, max_failures: i64) -> Result<Option<i64>, sqlx::Error> {
    let counted = sqlx::query("UPDATE challenges SET failures = failures + 1 WHERE id = $1 AND failures < $2")
        .bind(id)
        .bind(max_failures)
        .execute(db.writer())
        .await?;
    if counted.rows_affected() == 0 {
        return Ok(None);
    }
    let failures: i64 =
        sqlx::query("SELECT failures FROM challenges WHERE id = $1").bind(id).fetch_one(db.pool()).await?.try_get(0)?;
    Ok(Some(failures))
}
