//! `Idempotency-Key` records. The first request with a key claims it (a primary-key insert, so
//! two racing requests cannot both claim it); its answer is stored, and later requests with the
//! same key and the same body get that answer byte for byte.

use sqlx::{AnyConnection, Row};

use super::{Db, now_ms};

/// Keys are kept this long at least (SPEC §4: 24 h).
pub const RETENTION_MS: i64 = 48 * 3600 * 1000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// This request owns the key: do the work, then `finish` (or `abandon`).
    New,
    /// The key's first request finished with this answer.
    Replay { status: u16, body: String, request_id: Option<String> },
    /// The key's first request is still running.
    InProgress,
    /// The key was used with another request.
    Mismatch,
}

pub async fn claim(db: &Db, scope: &str, key: &str, fingerprint: &str) -> Result<Claim, sqlx::Error> {
    let inserted = sqlx::query(
        "INSERT INTO idempotency_keys (scope, key, fingerprint, state, created_at) VALUES ($1, $2, $3, 'in_progress', $4) \
         ON CONFLICT (scope, key) DO NOTHING",
    )
    .bind(scope)
    .bind(key)
    .bind(fingerprint)
    .bind(now_ms())
    .execute(db.pool())
    .await?;
    if inserted.rows_affected() == 1 {
        return Ok(Claim::New);
    }
    let Some(row) =
        sqlx::query("SELECT fingerprint, state, status_code, body FROM idempotency_keys WHERE scope = $1 AND key = $2")
            .bind(scope)
            .bind(key)
            .fetch_optional(db.pool())
            .await?
    else {
        // Abandoned between our insert and select: the caller may simply retry.
        return Ok(Claim::InProgress);
    };
    let stored: String = row.try_get(0)?;
    if stored != fingerprint {
        return Ok(Claim::Mismatch);
    }
    let state: String = row.try_get(1)?;
    if state != "done" {
        return Ok(Claim::InProgress);
    }
    let status: i64 = row.try_get::<Option<i64>, _>(2)?.unwrap_or(500);
    let stored_body: String = row.try_get::<Option<String>, _>(3)?.unwrap_or_default();
    // The answer is stored as "request_id\n" + body, so a replay can name the request it repeats.
    let (request_id, body) = match stored_body.split_once('\n') {
        Some((id, body)) if id.starts_with("req_") => (Some(id.to_owned()), body.to_owned()),
        _ => (None, stored_body),
    };
    Ok(Claim::Replay { status: status as u16, body, request_id })
}

/// Records the answer of the request that owns the key (inside the caller's transaction when
/// the answer must be written with the change it reports).
pub async fn finish(
    conn: &mut AnyConnection,
    scope: &str,
    key: &str,
    status: u16,
    body: &str,
    request_id: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE idempotency_keys SET state = 'done', status_code = $1, body = $2 WHERE scope = $3 AND key = $4",
    )
    .bind(status as i64)
    .bind(format!("{request_id}\n{body}"))
    .bind(scope)
    .bind(key)
    .execute(conn)
    .await?;
    Ok(())
}

/// Releases a key whose request ended without an answer worth repeating (a conflict, a rate
/// limit, an internal error): a retry with it runs again.
pub async fn abandon(db: &Db, scope: &str, key: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM idempotency_keys WHERE scope = $1 AND key = $2 AND state = 'in_progress'")
        .bind(scope)
        .bind(key)
        .execute(db.pool())
        .await?;
    Ok(())
}

/// Forgets keys past their retention, and releases claims left `in_progress` by a crash.
pub async fn purge(db: &Db, now: i64, stale_in_progress_ms: i64) -> Result<u64, sqlx::Error> {
    let old = sqlx::query("DELETE FROM idempotency_keys WHERE created_at < $1")
        .bind(now - RETENTION_MS)
        .execute(db.pool())
        .await?;
    let stale = sqlx::query("DELETE FROM idempotency_keys WHERE state = 'in_progress' AND created_at < $1")
        .bind(now - stale_in_progress_ms)
        .execute(db.pool())
        .await?;
    Ok(old.rows_affected() + stale.rows_affected())
}
