//! One-time codes for the customer challenge (step-up), and the per-session send limit.

use sqlx::Row;

use super::{Backend, Db, WriteTx};

/// The latest code of a session.
#[derive(Debug, Clone)]
pub struct Challenge {
    pub id: String,
    pub code_hash: String,
    pub failures: i64,
    pub expires_at: i64,
    /// Wrong codes over all of the session's challenges.
    pub session_failures: i64,
}

/// The wrong codes of a `challenges` row's session, over all its codes.
const SESSION_FAILURES: &str = "CAST((SELECT COALESCE(SUM(c.failures), 0) FROM challenges c WHERE c.session_id = challenges.session_id) AS BIGINT)";

/// The condition that the challenge's session has fewer than `$n` wrong codes over all its
/// codes, in the statement that counts or accepts one (so racing guesses cannot pass it).
fn session_under(n: usize) -> String {
    format!("{SESSION_FAILURES} < ${n}")
}

/// A new code for the session, unless `max_sends` codes were sent in the `window_ms` before
/// `now` (a sliding window: never more than `max_sends` in any such span). The count and the
/// insert are one statement, after the session's row is taken on PostgreSQL, so racing sends
/// cannot both slip under the limit. `Err` carries when the oldest send in the window leaves it.
#[allow(clippy::too_many_arguments)]
pub async fn insert_within(
    db: &Db,
    id: &str,
    session_id: &str,
    code_hash: &str,
    destination: &str,
    expires_at: i64,
    now: i64,
    (window_ms, max_sends): (i64, i64),
) -> Result<Result<(), i64>, sqlx::Error> {
    let mut tx = db.begin_write().await?;
    if tx.backend() == Backend::Postgres {
        sqlx::query("SELECT id FROM hosted_sessions WHERE id = $1 FOR NO KEY UPDATE")
            .bind(session_id)
            .execute(&mut *tx)
            .await?;
    }
    let done = sqlx::query(
        "INSERT INTO challenges (id, session_id, code_hash, destination, expires_at, created_at) \
         SELECT $1, $2, $3, $4, $5, $6 \
         WHERE (SELECT COUNT(*) FROM challenges WHERE session_id = $2 AND created_at > $7) < $8",
    )
    .bind(id)
    .bind(session_id)
    .bind(code_hash)
    .bind(destination)
    .bind(expires_at)
    .bind(now)
    .bind(now - window_ms)
    .bind(max_sends)
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() == 1 {
        tx.commit().await?;
        return Ok(Ok(()));
    }
    let oldest: Option<i64> =
        sqlx::query_scalar("SELECT MIN(created_at) FROM challenges WHERE session_id = $1 AND created_at > $2")
            .bind(session_id)
            .bind(now - window_ms)
            .fetch_one(&mut *tx)
            .await?;
    tx.end_refused().await?;
    Ok(Err(oldest.unwrap_or(now) + window_ms))
}

/// Takes back a challenge whose code could not be sent: the code sent before it (if any) is the
/// latest again, and the failed send counts against no limit. Only while untouched.
pub async fn withdraw(db: &Db, id: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM challenges WHERE id = $1 AND failures = 0 AND verified_at IS NULL")
        .bind(id)
        .execute(db.writer())
        .await?;
    Ok(())
}

pub async fn latest(db: &Db, session_id: &str) -> Result<Option<Challenge>, sqlx::Error> {
    let row = sqlx::query(&format!(
        "SELECT id, code_hash, failures, expires_at, {SESSION_FAILURES} AS session_failures \
         FROM challenges WHERE session_id = $1 ORDER BY created_at DESC, id DESC LIMIT 1",
    ))
    .bind(session_id)
    .fetch_optional(db.pool())
    .await?;
    row.map(|r| {
        Ok(Challenge {
            id: r.try_get("id")?,
            code_hash: r.try_get("code_hash")?,
            failures: r.try_get("failures")?,
            expires_at: r.try_get("expires_at")?,
            session_failures: r.try_get("session_failures")?,
        })
    })
    .transpose()
}

/// Accepts the code, only while it and its session are still unlocked and it is unexpired (a
/// racing wrong guess may have locked either); false otherwise. `(code, session)` caps.
pub async fn accept(db: &Db, id: &str, now: i64, (max_failures, max_session): (i64, i64)) -> Result<bool, sqlx::Error> {
    let mut tx = db.begin_write().await?;
    lock_session_of(&mut tx, id).await?;
    let ok = sqlx::query(&format!(
        "UPDATE challenges SET verified_at = $1 WHERE id = $2 AND failures < $3 AND expires_at > $1 AND {}",
        session_under(4)
    ))
    .bind(now)
    .bind(id)
    .bind(max_failures)
    .bind(max_session)
    .execute(&mut *tx)
    .await?;
    if ok.rows_affected() == 1 {
        tx.commit().await?;
        return Ok(true);
    }
    tx.end_refused().await?;
    Ok(false)
}

/// On PostgreSQL, takes the challenge's session row first: a guess's statement then starts
/// after the racing ones have committed, so its count of the session's wrong codes includes
/// theirs (under READ COMMITTED each statement reads what was committed when it began; the row
/// lock on the challenge alone would re-check the code's own count, not the session's sum).
/// SQLite's one writer runs them one after another anyway.
async fn lock_session_of(tx: &mut WriteTx, challenge_id: &str) -> Result<(), sqlx::Error> {
    if tx.backend() == Backend::Postgres {
        sqlx::query(
            "SELECT s.id FROM hosted_sessions s \
             WHERE s.id = (SELECT c.session_id FROM challenges c WHERE c.id = $1) FOR NO KEY UPDATE",
        )
        .bind(challenge_id)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// Counts a wrong guess; `None` when the code or its session was locked already, else the
/// code's failures so far.
pub async fn count_failure(
    db: &Db,
    id: &str,
    (max_failures, max_session): (i64, i64),
) -> Result<Option<i64>, sqlx::Error> {
    let mut tx = db.begin_write().await?;
    lock_session_of(&mut tx, id).await?;
    let counted = sqlx::query(&format!(
        "UPDATE challenges SET failures = failures + 1 WHERE id = $1 AND failures < $2 AND {}",
        session_under(3)
    ))
    .bind(id)
    .bind(max_failures)
    .bind(max_session)
    .execute(&mut *tx)
    .await?;
    if counted.rows_affected() == 0 {
        tx.end_refused().await?;
        return Ok(None);
    }
    let failures: i64 =
        sqlx::query("SELECT failures FROM challenges WHERE id = $1").bind(id).fetch_one(&mut *tx).await?.try_get(0)?;
    tx.commit().await?;
    Ok(Some(failures))
}
