//! The customer challenge (step-up): a 6-digit code by email, ten minutes to use it, five tries;
//! at most three codes per session every ten minutes, and fifteen wrong codes per session.

use rand::Rng;

use super::{challenge_destination, confirm::closed};
use crate::auth::secrets::fingerprint;
use crate::domain::ids::new_id;
use crate::domain::session::mask_email;
use crate::domain::time::Timestamp;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::state::AppState;
use crate::store::sessions::{self, Session};
use crate::store::{challenges, now_ms};

pub const CODE_TTL_MS: i64 = 10 * 60 * 1000;
pub const SEND_WINDOW_MS: i64 = 10 * 60 * 1000;
pub const MAX_SENDS: i64 = 3;
pub const MAX_FAILURES: i64 = 5;
/// Wrong codes a session may have over all its codes. Each new code starts its five tries
/// afresh, so without this a session open a day could be guessed at about 2,000 times (three
/// codes every ten minutes); with it, 15 guesses of a million codes, then the checkout's
/// step-up is closed and the customer starts a new one.
pub const MAX_SESSION_FAILURES: i64 = 15;
const CAPS: (i64, i64) = (MAX_FAILURES, MAX_SESSION_FAILURES);

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
    // No new code once the session's wrong codes are spent: none could verify.
    if challenges::latest(state.db(), &session.id).await?.is_some_and(|c| c.session_failures >= MAX_SESSION_FAILURES) {
        return Err(locked_for_good(session, now));
    }

    let code = format!("{:06}", rand::rngs::OsRng.gen_range(0..1_000_000u32));
    let expires_at = now + CODE_TTL_MS;
    let hash = code_hash(state, &session.id, &code);
    let limit = (SEND_WINDOW_MS, MAX_SENDS);
    let id = new_id("chl");
    if let Err(free_at) =
        challenges::insert_within(state.db(), &id, &session.id, &hash, &destination, expires_at, now, limit).await?
    {
        let wait = ((free_at - now) / 1000).max(1) as u64;
        return Err(ApiError::rate_limited(wait).with_param("challenge"));
    }

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
    if let Err(e) = state.mailer().send(state.db(), &destination, subject, &body).await {
        tracing::error!(error = format!("{e:#}"), "sending a challenge code failed");
        // Nobody got this code: the one sent before it still works, and the send is not counted.
        // (A send that timed out may have gone: its code stands.)
        if crate::mail::surely_not_sent(&e)
            && let Err(e) = challenges::withdraw(state.db(), &id).await
        {
            tracing::warn!(error = %e, "taking back an unsent challenge failed");
        }
        return Err(ApiError::new(ErrorCode::EmailUnavailable, "The verification code could not be sent; try again"));
    }
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
    let Some(challenge) = challenges::latest(state.db(), &session.id).await? else {
        return Err(invalid("No code was sent yet; ask for one first", MAX_FAILURES));
    };
    if challenge.session_failures >= MAX_SESSION_FAILURES {
        return Err(locked_for_good(session, now));
    }
    if challenge.failures >= MAX_FAILURES {
        return Err(locked(challenge.expires_at, now));
    }
    if challenge.expires_at <= now {
        return Err(invalid("The code has expired; ask for a new one", 0));
    }
    let presented = code.trim();
    let well_formed = presented.len() == 6 && presented.bytes().all(|b| b.is_ascii_digit());
    let matches = well_formed && {
        use subtle::ConstantTimeEq;
        code_hash(state, &session.id, presented).as_bytes().ct_eq(challenge.code_hash.as_bytes()).into()
    };
    if matches {
        if challenges::accept(state.db(), &challenge.id, now, CAPS).await? {
            sessions::mark_challenge_satisfied(state.db(), &session.id, now).await?;
            return Ok(());
        }
        return Err(refused(state, session, now).await);
    }
    match challenges::count_failure(state.db(), &challenge.id, CAPS).await? {
        None => Err(refused(state, session, now).await),
        Some(failures) => {
            // The fewer of the code's tries left and the session's.
            let left = (MAX_FAILURES - failures).min(MAX_SESSION_FAILURES - challenge.session_failures - 1);
            Err(invalid("The code is not correct", left.max(0)))
        }
    }
}

/// Why racing guesses left the code unusable: its own five tries, or the session's fifteen.
async fn refused(state: &AppState, session: &Session, now: i64) -> ApiError {
    match challenges::latest(state.db(), &session.id).await {
        Ok(Some(c)) if c.session_failures >= MAX_SESSION_FAILURES => locked_for_good(session, now),
        Ok(Some(c)) => locked(c.expires_at, now),
        Ok(None) => locked(now, now),
        Err(e) => e.into(),
    }
}

/// The session's wrong codes reached [`MAX_SESSION_FAILURES`]: no new code helps, so the answer
/// waits for the session's end (a new checkout is the way on).
fn locked_for_good(session: &Session, now: i64) -> ApiError {
    locked_until(
        session.expires_at,
        now,
        "Too many wrong codes for this checkout: it can no longer be verified. Start the payment again.",
    )
}

fn locked(expires_at: i64, now: i64) -> ApiError {
    locked_until(expires_at, now, "Too many wrong codes: this code is locked. Ask for a new one.")
}

/// 429 on `code`, with `Retry-After` until `until`.
fn locked_until(until: i64, now: i64, message: &str) -> ApiError {
    let wait = ((until - now) / 1000).max(1) as u64;
    ApiError::new(ErrorCode::RateLimited, message).with_retry_after(wait).with_param("code")
}

/// For the challenge/send answer.
pub fn expiry_text(expires_at: i64) -> String {
    Timestamp(expires_at).to_rfc3339()
}
