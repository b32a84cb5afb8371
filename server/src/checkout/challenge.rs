//! The customer challenge (step-up): a 6-digit code by email, ten minutes to use it, five tries;
//! at most three codes per session every ten minutes.

use rand::Rng;
use sqlx::Row;

use super::{challenge_destination, confirm::closed};
use crate::auth::secrets::fingerprint;
use crate::domain::ids::new_id;
use crate::domain::session::mask_email;
use crate::domain::time::Timestamp;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::state::AppState;
use crate::store::now_ms;
use crate::store::sessions::{self, Session};

pub const CODE_TTL_MS: i64 = 10 * 60 * 1000;
pub const SEND_WINDOW_MS: i64 = 10 * 60 * 1000;
pub const MAX_SENDS: i64 = 3;
pub const MAX_FAILURES: i64 = 5;

fn code_hash(state: &AppState, session_id: &str, code: &str) -> String {
    // Keyed: six digits are easy to try offline against a plain hash.
    fingerprint(&state.config().master_key, &format!("challenge:{session_id}"), code)
}

/// Sends a new code; returns where it went (masked) and when it expires.
pub async fn send(state: &AppState, session: &Session) -> ApiResult<(String, i64)> {
    let now = now_ms();
    if let Some(refusal) = closed(session, now) {
        return Err(refusal);
    }
    let destination = challenge_destination(state, session).await?.ok_or_else(|| {
        ApiError::new(ErrorCode::ParameterMissing, "This checkout has no email address to send a code to")
            .with_param("customer_email")
    })?;

    // One statement counts the send within the window, or refuses it: racing sends cannot both
    // slip under the limit.
    let counted = sqlx::query(
        "UPDATE hosted_sessions SET \
           challenge_sends = CASE WHEN challenge_window IS NULL OR challenge_window <= $1 THEN 1 ELSE challenge_sends + 1 END, \
           challenge_window = CASE WHEN challenge_window IS NULL OR challenge_window <= $1 THEN $2 ELSE challenge_window END \
         WHERE id = $3 AND (challenge_window IS NULL OR challenge_window <= $1 OR challenge_sends < $4)",
    )
    .bind(now - SEND_WINDOW_MS)
    .bind(now)
    .bind(&session.id)
    .bind(MAX_SENDS)
    .execute(state.db().pool())
    .await?;
    if counted.rows_affected() == 0 {
        let window: Option<i64> = sqlx::query("SELECT challenge_window FROM hosted_sessions WHERE id = $1")
            .bind(&session.id)
            .fetch_one(state.db().pool())
            .await?
            .try_get(0)?;
        let wait = window.map_or(60, |w| ((w + SEND_WINDOW_MS - now) / 1000).max(1)) as u64;
        return Err(ApiError::rate_limited(wait).with_param("challenge"));
    }

    let code = format!("{:06}", rand::rngs::OsRng.gen_range(0..1_000_000u32));
    let expires_at = now + CODE_TTL_MS;
    sqlx::query(
        "INSERT INTO challenges (id, session_id, code_hash, destination, expires_at, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(new_id("chl"))
    .bind(&session.id)
    .bind(code_hash(state, &session.id, &code))
    .bind(&destination)
    .bind(expires_at)
    .bind(now)
    .execute(state.db().pool())
    .await?;

    let es = session.locale.is_spanish();
    let (subject, body) = if es {
        (
            "Su código de verificación",
            format!(
                "Su código de verificación es {code}. Vence en 10 minutos.\n\nSi no intentó pagar, ignore este mensaje."
            ),
        )
    } else {
        (
            "Your verification code",
            format!(
                "Your verification code is {code}. It expires in 10 minutes.\n\nIf you did not try to pay, ignore this message."
            ),
        )
    };
    state.mailer().send(state.db(), &destination, subject, &body).await.map_err(|e| {
        tracing::error!(error = format!("{e:#}"), "sending a challenge code failed");
        ApiError::new(ErrorCode::EmailUnavailable, "The verification code could not be sent; try again")
    })?;
    Ok((mask_email(&destination), expires_at))
}

/// Checks a code against the session's latest challenge.
pub async fn verify(state: &AppState, session: &Session, code: &str) -> ApiResult<()> {
    let now = now_ms();
    if let Some(refusal) = closed(session, now) {
        return Err(refusal);
    }
    let invalid = |message: &str, remaining: i64| {
        ApiError::new(ErrorCode::InvalidCode, message).with_param("code").with_extra("attempts_remaining", remaining)
    };
    let row = sqlx::query(
        "SELECT id, code_hash, failures, expires_at, verified_at FROM challenges WHERE session_id = $1 \
         ORDER BY created_at DESC, id DESC LIMIT 1",
    )
    .bind(&session.id)
    .fetch_optional(state.db().pool())
    .await?;
    let Some(row) = row else { return Err(invalid("No code was sent yet; ask for one first", MAX_FAILURES)) };
    let id: String = row.try_get("id")?;
    let stored: String = row.try_get("code_hash")?;
    let failures: i64 = row.try_get("failures")?;
    let expires_at: i64 = row.try_get("expires_at")?;
    if failures >= MAX_FAILURES {
        return Err(locked(expires_at, now));
    }
    if expires_at <= now {
        return Err(invalid("The code has expired; ask for a new one", 0));
    }
    let presented = code.trim();
    let well_formed = presented.len() == 6 && presented.bytes().all(|b| b.is_ascii_digit());
    let matches = well_formed && {
        use subtle::ConstantTimeEq;
        code_hash(state, &session.id, presented).as_bytes().ct_eq(stored.as_bytes()).into()
    };
    if matches {
        // Accepted only while still unlocked and unexpired (a racing wrong guess may have locked it).
        let ok =
            sqlx::query("UPDATE challenges SET verified_at = $1 WHERE id = $2 AND failures < $3 AND expires_at > $1")
                .bind(now)
                .bind(&id)
                .bind(MAX_FAILURES)
                .execute(state.db().pool())
                .await?;
        if ok.rows_affected() == 1 {
            sessions::mark_challenge_satisfied(state.db(), &session.id, now).await?;
            return Ok(());
        }
        return Err(locked(expires_at, now));
    }
    let counted = sqlx::query("UPDATE challenges SET failures = failures + 1 WHERE id = $1 AND failures < $2")
        .bind(&id)
        .bind(MAX_FAILURES)
        .execute(state.db().pool())
        .await?;
    if counted.rows_affected() == 0 {
        return Err(locked(expires_at, now));
    }
    let failures: i64 = sqlx::query("SELECT failures FROM challenges WHERE id = $1")
        .bind(&id)
        .fetch_one(state.db().pool())
        .await?
        .try_get(0)?;
    Err(invalid("The code is not correct", (MAX_FAILURES - failures).max(0)))
}

fn locked(expires_at: i64, now: i64) -> ApiError {
    let wait = ((expires_at - now) / 1000).max(1) as u64;
    ApiError::new(ErrorCode::RateLimited, "Too many wrong codes: this code is locked. Ask for a new one.")
        .with_retry_after(wait)
        .with_param("code")
}

/// For the challenge/send answer.
pub fn expiry_text(expires_at: i64) -> String {
    Timestamp(expires_at).to_rfc3339()
}
