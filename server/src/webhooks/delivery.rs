//! The delivery loop, in every server process: lease due deliveries (one statement, so each
//! attempt is made by one process), POST each event signed per Standard Webhooks, and record
//! the attempt and what follows (done, the next try on the schedule, or failed). A process that
//! dies mid-attempt leaves a lease that runs out; another process then attempts it again.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use rand::Rng;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::client::{TIMEOUT, is_blocked, literal_allowed};
use crate::domain::event::EventType;
use crate::domain::time::Timestamp;
use crate::domain::webhook::{DISABLE_AFTER_MS, MAX_ATTEMPTS, STREAK_GAP_MS, retry_delay_ms, signature};
use crate::error::ApiResult;
use crate::state::AppState;
use crate::store::deliveries::{self, Attempt, Claimed, Next};
use crate::store::webhooks::{self, Webhook};
use crate::store::{NEW_DELIVERIES, events, now_ms};
use crate::views::{EventObject, WebhookObject};

/// A lease outlasts an attempt (its timeout) with room to record it.
pub const LEASE_MS: i64 = TIMEOUT.as_millis() as i64 + 15_000;
/// Deliveries leased per pass.
const BATCH: i64 = 50;
/// The longest the loop sleeps: deliveries made due by other processes are found this soon.
const IDLE: Duration = Duration::from_millis(500);
/// Subscriptions delivered to at once by a process: after an outage thousands may be due
/// together, and each is an outbound socket and a database connection's work. With this many
/// running, the loop leases no more until some finish (at most this plus one batch run).
const MAX_RUNNING: usize = 64;
/// How often the queue gauges are read (a count over the due deliveries, not for every pass).
const GAUGE_EVERY: Duration = Duration::from_secs(5);
/// The most of an answer kept in the log.
const KEEP_BODY: usize = 1024;

/// One pass at `now`: lease what is due and attempt it all (a subscription's deliveries one
/// after another, in the order of their events; different subscriptions at once), waiting for
/// every attempt. Returns how many were leased. Tests call this with a clock of their own.
pub async fn deliver_due(state: &AppState, now: i64) -> ApiResult<usize> {
    let queues = lease_due(state, now, &[]).await?;
    let count = queues.iter().map(|(_, queue)| queue.len()).sum();
    let runs = queues.into_iter().map(|(_, queue)| tokio::spawn(run_queue(state.clone(), queue, now, None)));
    for run in futures_util::future::join_all(runs).await {
        if let Err(e) = run {
            tracing::error!(error = %e, "a webhook delivery task failed");
        }
    }
    Ok(count)
}

/// Leases what is due at `now`, except the subscriptions in `busy` (this process is still
/// sending to them), and groups it by subscription.
async fn lease_due(state: &AppState, now: i64, busy: &[String]) -> ApiResult<Vec<(String, Vec<Claimed>)>> {
    let claimed = deliveries::claim(state.db(), state.delivery_holder(), now, LEASE_MS, BATCH, busy).await?;
    let mut by_webhook: BTreeMap<String, Vec<Claimed>> = BTreeMap::new();
    for c in claimed {
        by_webhook.entry(c.webhook_id.clone()).or_default().push(c);
    }
    Ok(by_webhook.into_iter().collect())
}

/// One subscription's leased deliveries, one after another. Each attempt first renews its
/// lease (a queue behind a slow endpoint may outlast the lease it was taken with: if another
/// process took a delivery meanwhile, that process attempts it, not this one), and happens at
/// its own time on the pass's clock. Stops early, between attempts, when `shutdown` turns true.
async fn run_queue(state: AppState, queue: Vec<Claimed>, now: i64, shutdown: Option<watch::Receiver<bool>>) {
    let started = Instant::now();
    for c in queue {
        if shutdown.as_ref().is_some_and(|s| *s.borrow()) {
            break;
        }
        let at = now + started.elapsed().as_millis() as i64;
        match deliveries::renew(state.db(), &c.id, state.delivery_holder(), at + LEASE_MS).await {
            Ok(true) => {}
            Ok(false) => continue,
            Err(e) => {
                tracing::warn!(delivery = %c.id, error = %e, "could not renew a webhook lease; it will be made again");
                continue;
            }
        }
        if let Err(e) = attempt(&state, &c, at).await {
            tracing::warn!(delivery = %c.id, error = %e, "a webhook attempt could not be recorded; it will be made again");
        }
    }
    // The loop may lease this subscription's next deliveries now.
    NEW_DELIVERIES.notify_one();
}

/// A `Retry-After` value as seconds from now: a number of seconds, or an HTTP date (RFC 9110
/// §10.2.3; a date already past is 0).
fn retry_after_secs(value: &str) -> Option<i64> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<i64>() {
        return Some(secs);
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(std::time::SystemTime::now()).map_or(0, |d| d.as_secs().min(i64::MAX as u64) as i64))
}

/// The answer of one attempt, as the log keeps it, and whether it counts as delivered.
struct Outcome {
    status: Option<StatusCode>,
    retry_after: Option<i64>,
    error: Option<String>,
    body: Option<String>,
}

async fn attempt(state: &AppState, c: &Claimed, now: i64) -> ApiResult<()> {
    let holder = state.delivery_holder();
    let Some((webhook, deleted)) = webhooks::get_any(state.db(), &c.webhook_id).await? else {
        deliveries::abandon(state.db(), &c.id, holder).await?;
        return Ok(());
    };
    if deleted || !webhook.enabled {
        deliveries::abandon(state.db(), &c.id, holder).await?;
        return Ok(());
    }
    let Some(event) = events::get(state.db(), &webhook.account_uid, &c.event_id).await? else {
        deliveries::abandon(state.db(), &c.id, holder).await?;
        return Ok(());
    };
    let body = serde_json::to_vec(&EventObject::from(event)).map_err(anyhow::Error::from)?;
    let timestamp = Timestamp(now_ms()).unix_seconds();
    let signatures: Vec<String> = webhooks::signing_secrets(state.db(), &state.config().master_key, &webhook, now)
        .await?
        .iter()
        .filter_map(|s| signature(s, &c.event_id, timestamp, &body))
        .collect();

    let started = Instant::now();
    let outcome = if !literal_allowed(&webhook.url, state.config().webhook_allow_private) {
        Outcome { status: None, retry_after: None, error: Some("blocked_address".into()), body: None }
    } else {
        send(state, &webhook.url, &c.event_id, timestamp, &signatures.join(" "), body).await
    };
    let attempt = Attempt {
        at: Timestamp(now_ms()).to_rfc3339(),
        response_status: outcome.status.map(|s| s.as_u16()),
        duration_ms: started.elapsed().as_millis() as i64,
        error: outcome.error.clone(),
        response_body: outcome.body,
    };
    let delivered = outcome.status.is_some_and(|s| s.is_success());
    let gone = outcome.status == Some(StatusCode::GONE);
    let made = c.attempt_count as usize + 1;
    let next = if delivered {
        Next::Succeeded
    } else if gone || made >= MAX_ATTEMPTS {
        Next::Failed
    } else {
        let jitter: f64 = rand::thread_rng().gen_range(-1.0..=1.0);
        let scheduled = retry_delay_ms(made, jitter).expect("attempts remain");
        let wait = match (outcome.status, outcome.retry_after) {
            // The receiver says when (within a day): honoured when it is later than the
            // schedule, never sooner, so that a short `Retry-After` does not spend the ten
            // attempts in seconds.
            (Some(StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE), Some(secs)) => {
                (secs.clamp(1, 86_400) * 1000).max(scheduled)
            }
            _ => scheduled,
        };
        Next::RetryAt(now + wait)
    };
    let outcome_label = if delivered { "succeeded" } else { "failed" };
    metrics::counter!("govifi_webhook_attempts_total", "outcome" => outcome_label).increment(1);
    if !deliveries::record_attempt(state.db(), &c.id, holder, &attempt, next).await? {
        // The lease ran out and another process took the delivery: its attempt counts.
        return Ok(());
    }
    tracing::info!(delivery = %c.id, webhook = %webhook.id, event = %c.event_id, status = ?attempt.response_status,
        error = ?attempt.error, attempt = made, "webhook attempt");
    if matches!(next, Next::Failed) {
        // No attempt is left: the merchant has to redeliver it (an operator may want to know).
        metrics::counter!("govifi_webhook_deliveries_failed_total").increment(1);
        tracing::warn!(delivery = %c.id, webhook = %webhook.id, event = %c.event_id, attempts = made,
            "a webhook delivery failed for good");
    }

    // The failure streak: a 410 ends the subscription at once; five days of failures in a row do too.
    let failing_since = webhooks::note_outcome(state.db(), &webhook.id, delivered, now, STREAK_GAP_MS).await?;
    if gone {
        disable(state, &webhook, "the endpoint answered 410 Gone", now, None).await?;
    } else if failing_since.is_some_and(|since| now - since >= DISABLE_AFTER_MS) {
        let streak_began_by = Some(now - DISABLE_AFTER_MS);
        disable(state, &webhook, "every delivery failed for 5 days", now, streak_began_by).await?;
    }
    Ok(())
}

async fn send(state: &AppState, url: &str, event_id: &str, timestamp: i64, signatures: &str, body: Vec<u8>) -> Outcome {
    let request = state
        .webhook_client()
        .post(url)
        .header("content-type", "application/json")
        .header("webhook-id", event_id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signatures)
        .body(body);
    match request.send().await {
        Ok(mut response) => {
            let status = response.status();
            let retry_after = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(retry_after_secs);
            // Only the first 1 KiB is kept; the rest is not even read.
            let mut kept: Vec<u8> = Vec::new();
            while kept.len() < KEEP_BODY {
                match response.chunk().await {
                    Ok(Some(chunk)) => kept.extend_from_slice(&chunk[..chunk.len().min(KEEP_BODY - kept.len())]),
                    _ => break,
                }
            }
            let error = status.is_redirection().then(|| "redirect_not_followed".to_owned());
            Outcome {
                status: Some(StatusCode::from_u16(status.as_u16()).unwrap_or(StatusCode::BAD_GATEWAY)),
                retry_after,
                error,
                body: (!kept.is_empty()).then(|| String::from_utf8_lossy(&kept).into_owned()),
            }
        }
        Err(e) => {
            let error = if is_blocked(&e) {
                "blocked_address"
            } else if e.is_timeout() {
                "timeout"
            } else if e.is_connect() {
                "connection_failed"
            } else {
                "request_failed"
            };
            Outcome { status: None, retry_after: None, error: Some(error.into()), body: None }
        }
    }
}

/// Switches a subscription off, with its `webhook.disabled` event in the same transaction (so
/// a crash cannot keep one without the other), once.
/// Switches a subscription off, with its event; for a failure streak (`streak_began_by`) only
/// while the streak still runs and began by then.
async fn disable(
    state: &AppState,
    webhook: &Webhook,
    reason: &str,
    now: i64,
    streak_began_by: Option<i64>,
) -> ApiResult<()> {
    let mut tx = state.db().begin_write().await?;
    if !webhooks::disable(&mut tx, &webhook.id, reason, now, streak_began_by).await? {
        return Ok(()); // off already, or the streak ended meanwhile
    }
    // The row as it is now, not the copy read before the attempt: a change made during it (its
    // events, its description) is in the event too.
    let Some(off) = webhooks::get_on(&mut tx, &webhook.account_uid, &webhook.id).await? else {
        // Deleted meanwhile: its `webhook.deleted` said so already.
        tx.commit().await?;
        return Ok(());
    };
    events::record(&mut tx, &webhook.account_uid, EventType::WebhookDisabled, &WebhookObject::from(off).for_events())
        .await?;
    tx.commit().await?;
    tracing::warn!(webhook = %webhook.id, %reason, "webhook subscription disabled");
    Ok(())
}

/// Publishes the queue's depth and the age of its oldest due delivery.
async fn gauge(state: &AppState, now: i64) {
    if let Ok((depth, oldest)) = deliveries::queue(state.db(), now).await {
        metrics::gauge!("govifi_webhook_queue_depth").set(depth as f64);
        let age = oldest.map_or(0.0, |t| (now - t).max(0) as f64 / 1000.0);
        metrics::gauge!("govifi_webhook_oldest_due_seconds").set(age);
    }
}

/// Starts the loop; it stops when `shutdown` turns true, after the attempts in flight, and
/// gives back every lease it still holds. A slow subscription does not hold up the others: each
/// subscription's queue runs on its own, and the loop goes on leasing for the rest meanwhile.
pub fn spawn(state: AppState, mut shutdown: watch::Receiver<bool>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut running: HashMap<String, JoinHandle<()>> = HashMap::new();
        let mut gauged: Option<std::time::Instant> = None;
        loop {
            if *shutdown.borrow() {
                break;
            }
            running.retain(|_, run| !run.is_finished());
            let now = now_ms();
            if gauged.is_none_or(|at| at.elapsed() >= GAUGE_EVERY) {
                gauge(&state, now).await;
                gauged = Some(std::time::Instant::now());
            }
            if running.len() >= MAX_RUNNING {
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(50)) => {}
                    _ = shutdown.changed() => {}
                }
                continue;
            }
            let busy: Vec<String> = running.keys().cloned().collect();
            let leased = match lease_due(&state, now, &busy).await {
                Ok(queues) => {
                    let leased: usize = queues.iter().map(|(_, queue)| queue.len()).sum();
                    for (webhook, queue) in queues {
                        let run = tokio::spawn(run_queue(state.clone(), queue, now, Some(shutdown.clone())));
                        running.insert(webhook, run);
                    }
                    leased
                }
                Err(e) => {
                    tracing::warn!(error = %e, "leasing webhook deliveries failed; retrying shortly");
                    0
                }
            };
            if leased as i64 >= BATCH {
                continue; // more are due
            }
            running.retain(|_, run| !run.is_finished());
            let busy: Vec<String> = running.keys().cloned().collect();
            let until_due = match deliveries::next_due(state.db(), &busy).await {
                Ok(Some(at)) => Duration::from_millis((at - now_ms()).clamp(0, IDLE.as_millis() as i64) as u64),
                _ => IDLE,
            };
            tokio::select! {
                _ = NEW_DELIVERIES.notified() => {}
                _ = tokio::time::sleep(until_due) => {}
                _ = shutdown.changed() => {}
            }
        }
        for run in futures_util::future::join_all(running.into_values()).await {
            if let Err(e) = run {
                tracing::error!(error = %e, "a webhook delivery task failed");
            }
        }
        if let Err(e) = deliveries::release_all(state.db(), state.delivery_holder()).await {
            tracing::warn!(error = %e, "could not release webhook leases at shutdown");
        }
    })
}
