//! `Idempotency-Key` records. A request takes its key with a primary-key insert (so two racing
//! requests cannot both take it); its answer is stored, and later requests with the same key and
//! the same body get that answer byte for byte.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::batch::Stmt;
use super::{Db, now_ms};

/// Keys are kept this long at least (SPEC §4: 24 h).
pub const RETENTION_MS: i64 = 48 * 3600 * 1000;

/// What identifies a key's request: the print stored with the key, and an older form of the same
/// print a key taken before an upgrade holds (compared, never stored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Print {
    pub current: String,
    pub legacy: Option<String>,
}

impl Print {
    fn matches(&self, stored: &str) -> bool {
        stored == self.current || self.legacy.as_deref() == Some(stored)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The key is free (or, after a take, this request holds it).
    New,
    /// The key's first request finished with this answer.
    Replay { status: u16, body: String, request_id: Option<String> },
    /// The key's first request is still running.
    InProgress,
    /// The key was used with another request.
    Mismatch,
}

crate::text_enum! {
    /// Where a key's first request stands.
    pub enum KeyState {
        InProgress => "in_progress",
        /// Answered: later requests with the key get that answer.
        Done => "done",
    }
}

const SELECT: &str = "SELECT fingerprint, state, status_code, body FROM idempotency_keys WHERE scope = $1 AND key = $2";

fn read_claim(row: &AnyRow, print: &Print) -> Result<Claim, sqlx::Error> {
    let stored: String = row.try_get(0)?;
    if !print.matches(&stored) {
        return Ok(Claim::Mismatch);
    }
    if super::enum_column::<KeyState>(row, "state")? != KeyState::Done {
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

/// What a key says now, without taking it (`New` when it is free).
pub async fn inspect(db: &Db, scope: &str, key: &str, print: &Print) -> Result<Claim, sqlx::Error> {
    match sqlx::query(SELECT).bind(scope).bind(key).fetch_optional(db.pool()).await? {
        Some(row) => read_claim(&row, print),
        None => Ok(Claim::New),
    }
}

/// Takes a free key (inside the caller's transaction, when given one); false if it is taken.
pub async fn take(conn: &mut AnyConnection, scope: &str, key: &str, fingerprint: &str) -> Result<bool, sqlx::Error> {
    Ok(take_stmt(scope, key, fingerprint).execute(conn).await? == 1)
}

/// [`take`]'s statement, for a batch: it changes one row when the key was free.
pub fn take_stmt(scope: &str, key: &str, fingerprint: &str) -> Stmt {
    Stmt::new(
        "INSERT INTO idempotency_keys (scope, key, fingerprint, state, created_at) VALUES ($1, $2, $3, $5, $4) \
         ON CONFLICT (scope, key) DO NOTHING",
    )
    .text(scope)
    .text(key)
    .text(fingerprint)
    .int(now_ms())
    .text(KeyState::InProgress.as_str())
}

/// Takes the key now, or says why not.
pub async fn claim(db: &Db, scope: &str, key: &str, print: &Print) -> Result<Claim, sqlx::Error> {
    let mut conn = db.writer().acquire().await?;
    if take(&mut conn, scope, key, &print.current).await? {
        return Ok(Claim::New);
    }
    match sqlx::query(SELECT).bind(scope).bind(key).fetch_optional(&mut *conn).await? {
        Some(row) => read_claim(&row, print),
        // Released between our insert and select: the caller may simply retry.
        None => Ok(Claim::InProgress),
    }
}

/// Records the answer of the request that holds the key (inside the transaction that makes the
/// change it reports, where there is one).
pub async fn finish(
    conn: &mut AnyConnection,
    scope: &str,
    key: &str,
    status: u16,
    body: &str,
    request_id: &str,
) -> Result<(), sqlx::Error> {
    finish_stmt(scope, key, status, body, request_id).execute(conn).await?;
    Ok(())
}

/// [`finish`]'s statement, for a batch. An answered key's retention runs from its answer
/// (`created_at` becomes the answer's time): recovery may answer a key days after it was
/// taken (a processor out of reach), and the merchant's retry must still replay that answer,
/// never run the movement again.
pub fn finish_stmt(scope: &str, key: &str, status: u16, body: &str, request_id: &str) -> Stmt {
    Stmt::new(
        "UPDATE idempotency_keys SET state = $5, status_code = $1, body = $2, created_at = $6 \
         WHERE scope = $3 AND key = $4",
    )
    .int(status as i64)
    .text(format!("{request_id}\n{body}"))
    .text(scope)
    .text(key)
    .text(KeyState::Done.as_str())
    .int(now_ms())
}

/// Stores the answer of a request that was refused before it took its key.
pub async fn answer_free(
    db: &Db,
    scope: &str,
    key: &str,
    fingerprint: &str,
    status: u16,
    body: &str,
    request_id: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO idempotency_keys (scope, key, fingerprint, state, status_code, body, created_at) \
         VALUES ($1, $2, $3, $7, $4, $5, $6) ON CONFLICT (scope, key) DO NOTHING",
    )
    .bind(scope)
    .bind(key)
    .bind(fingerprint)
    .bind(status as i64)
    .bind(format!("{request_id}\n{body}"))
    .bind(now_ms())
    .bind(KeyState::Done.as_str())
    .execute(db.writer())
    .await?;
    Ok(())
}

/// Releases a key whose request ended without an answer worth repeating (a conflict, a rate
/// limit, an internal error): a retry with it runs again.
pub async fn abandon(db: &Db, scope: &str, key: &str) -> Result<(), sqlx::Error> {
    abandon_stmt(scope, key).execute(&mut *db.writer().acquire().await?).await?;
    Ok(())
}

/// [`abandon`]'s statement, for a batch.
pub fn abandon_stmt(scope: &str, key: &str) -> Stmt {
    Stmt::new("DELETE FROM idempotency_keys WHERE scope = $1 AND key = $2 AND state = $3")
        .text(scope)
        .text(key)
        .text(KeyState::InProgress.as_str())
}

/// The keys left in progress longer than `$1`, but for those recovery will answer. The state is
/// a literal, as the partial index `idempotency_keys_in_progress` names it; the session is found
/// by its primary key.
pub(crate) fn stale_in_progress_sql() -> String {
    format!(
        "DELETE FROM idempotency_keys WHERE state = '{}' AND created_at < $1 AND NOT EXISTS \
         (SELECT 1 FROM payment_operations o WHERE o.status = $2 \
          AND o.idempotency_scope = idempotency_keys.scope AND o.idempotency_key = idempotency_keys.key) \
         AND NOT EXISTS (SELECT 1 FROM hosted_sessions s WHERE idempotency_keys.scope LIKE 'confirm:%' \
          AND s.id = SUBSTR(idempotency_keys.scope, 9) AND s.status = $3)",
        KeyState::InProgress.as_str()
    )
}

/// Forgets keys past their retention, and releases keys left `in_progress` by a crash.
pub async fn purge(db: &Db, now: i64, stale_in_progress_ms: i64) -> Result<u64, sqlx::Error> {
    // Answered keys past their retention (a key still in progress is the next statement's), a
    // batch at a time: a backlog never makes one statement that runs into PostgreSQL's
    // statement timeout (or, on SQLite, holds the one writer for long).
    let mut purged = 0;
    for _ in 0..PURGE_BATCHES {
        let batch = sqlx::query(
            "DELETE FROM idempotency_keys WHERE (scope, key) IN (SELECT scope, key FROM idempotency_keys \
             WHERE created_at < $1 AND state <> $2 ORDER BY created_at LIMIT $3)",
        )
        .bind(now - RETENTION_MS)
        .bind(KeyState::InProgress.as_str())
        .bind(PURGE_BATCH)
        .execute(db.writer())
        .await?
        .rows_affected();
        purged += batch;
        if batch < PURGE_BATCH as u64 {
            break;
        }
    }
    // A key whose money movement, or whose session's confirm (key space `confirm:<session>`), is
    // still being resolved stays taken: recovery writes its answer.
    let stale = sqlx::query(&stale_in_progress_sql())
        .bind(now - stale_in_progress_ms)
        .bind(crate::domain::payment::OperationStatus::Pending.as_str())
        .bind(crate::domain::session::SessionStatus::Processing.as_str())
        .execute(db.writer())
        .await?;
    Ok(purged + stale.rows_affected())
}

/// Keys one purge statement deletes at most, and statements one housekeeping pass makes: a
/// backlog is worked off over several passes.
const PURGE_BATCH: i64 = 5_000;
const PURGE_BATCHES: usize = 20;
