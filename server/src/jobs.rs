//! Background work, in every server process (each step is safe to run concurrently: every state
//! change is a conditional update): expire overdue sessions, recover confirms a crash left
//! `processing`, settle ACH debits, finish money movements a crash left pending, undo charges
//! approved after their attempt was given up, void terminal payments that waited too long for a
//! card and authorizations left uncaptured for a week, forget old idempotency keys and ended
//! sessions' fee quotes and codes, trim rate-limiter state, drain the metrics' histogram samples;
//! and, in a loop of their own, send receipts.

use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::state::AppState;
use crate::store::{idempotency, now_ms};
use crate::{checkout, payments};

const TICK: Duration = Duration::from_secs(1);
const HOUSEKEEPING_EVERY: u32 = 60;

/// How long the outbox keeps a message (a week: the sandbox's codes live ten minutes).
pub const OUTBOX_KEEP_MS: i64 = 7 * 24 * 3600 * 1000;

/// How long an ended session's fee quotes and challenge codes are kept (a week: a session lives
/// a day at most, and support may ask what a customer was quoted).
pub const SESSION_DETAILS_KEEP_MS: i64 = 7 * 24 * 3600 * 1000;

/// Runs one pass of every job but receipts, which have their own loop (tests call this directly).
pub async fn tick(state: &AppState, housekeeping: bool) {
    let now = now_ms();
    // The recorder keeps every histogram sample until it is drained: a render of /metrics
    // drains them, and so does this, so a server nobody scrapes does not grow by the request.
    state.metrics().run_upkeep();
    if let Err(e) = checkout::expire_overdue(state).await {
        tracing::warn!(error = %e, "expiring sessions failed");
    }
    if let Err(e) = checkout::confirm::recover_stuck(state, now).await {
        tracing::warn!(error = %e, "recovering confirms failed");
    }
    if let Err(e) = payments::settlement::settle_due(state, now).await {
        tracing::warn!(error = %e, "settling ACH debits failed");
    }
    if let Err(e) = payments::recovery::recover_stuck(state, now).await {
        tracing::warn!(error = %e, "recovering money movements failed");
    }
    if let Err(e) = payments::abandoned::watch_due(state, now).await {
        tracing::warn!(error = %e, "watching abandoned charges failed");
    }
    if let Err(e) = payments::terminals::expire_pending(state, now).await {
        tracing::warn!(error = %e, "voiding terminal payments that waited too long failed");
    }
    if let Err(e) = payments::movements::expire_authorizations(state, now).await {
        tracing::warn!(error = %e, "voiding expired authorizations failed");
    }
    if housekeeping {
        // An in-progress key older than recovery's horizon belongs to a crashed request.
        if let Err(e) = idempotency::purge(state.db(), now, 10 * checkout::confirm::STUCK_AFTER_MS).await {
            tracing::warn!(error = %e, "purging idempotency keys failed");
        }
        state.limiter().retain_recent();
        state.auth_failures().retain_recent();
        if let Err(e) = state.db().limits().purge(now).await {
            tracing::warn!(error = %e, "purging rate-limit keys failed");
        }
        if let Err(e) = crate::store::outbox::purge(state.db(), now, OUTBOX_KEEP_MS).await {
            tracing::warn!(error = %e, "purging the outbox failed");
        }
        if let Err(e) = crate::store::sessions::purge_details(state.db(), now - SESSION_DETAILS_KEEP_MS, 5_000).await {
            tracing::warn!(error = %e, "purging ended sessions' quotes and codes failed");
        }
        // Dashboard sessions idle past their expiry, failed sign-ins out of the lock window.
        if let Err(e) = crate::store::dashboard::purge(state.db(), now).await {
            tracing::warn!(error = %e, "purging dashboard sessions failed");
        }
    }
}

/// Starts the loops; they stop when `shutdown` turns true. Receipts have a loop of their own:
/// a slow or unreachable mail server must not hold recovery, settlement or expiry back.
pub fn spawn(state: AppState, shutdown: watch::Receiver<bool>) -> JoinHandle<()> {
    let receipts = every_tick(state.clone(), shutdown.clone(), |state, _| async move {
        if let Err(e) = checkout::receipts::send_due(&state, now_ms()).await {
            tracing::warn!(error = %e, "sending receipts failed");
        }
    });
    let passes =
        every_tick(state, shutdown, |state, n| async move { tick(&state, n.is_multiple_of(HOUSEKEEPING_EVERY)).await });
    tokio::spawn(async move {
        let _ = passes.await;
        let _ = receipts.await;
    })
}

/// Runs `pass` once a second until `shutdown` turns true.
fn every_tick<F, Fut>(state: AppState, mut shutdown: watch::Receiver<bool>, pass: F) -> JoinHandle<()>
where
    F: Fn(AppState, u32) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    tokio::spawn(async move {
        let mut n: u32 = 0;
        loop {
            tokio::select! {
                _ = tokio::time::sleep(TICK) => {}
                _ = shutdown.changed() => {}
            }
            if *shutdown.borrow() {
                return;
            }
            n = n.wrapping_add(1);
            // Each pass runs as a task of its own: a pass that panics is logged and the next
            // one runs (expiry, recovery and settlement never stop silently).
            if let Err(e) = tokio::spawn(pass(state.clone(), n)).await {
                tracing::error!(error = %e, "a background pass failed; the next one runs as usual");
            }
        }
    })
}
