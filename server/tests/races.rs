//! Exactly once: concurrent confirms, idempotent retries, a crash between claim and completion,
//! and two server processes sharing one database.

mod support;

use std::sync::Arc;

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::Row;
use support::{Auth, Call, TestApp, When, card};

fn sid(s: &Value) -> &str {
    s["session_id"].as_str().unwrap()
}

fn confirm_request(s: &Value, quote: &str, key: &str, number: &str) -> axum::http::Request<axum::body::Body> {
    axum::http::Request::post(format!("/v1/hosted-sessions/{}/confirm", sid(s)))
        .header("authorization", format!("Bearer {}", s["client_secret"].as_str().unwrap()))
        .header("content-type", "application/json")
        .header("idempotency-key", key)
        .body(axum::body::Body::from(json!({"fee_quote_id": quote, "payment_method": card(number)}).to_string()))
        .unwrap()
}

/// A request through another router (one whose processor is interrupted).
async fn via(router: &axum::Router, req: axum::http::Request<axum::body::Body>) -> support::TestResponse {
    support::TestResponse::read(tower::ServiceExt::oneshot(router.clone(), req).await.expect("router answers")).await
}

/// Live payments of a session (not failed) and charges the processor approved for it.
async fn payments_and_charges(app: &TestApp, session_id: &str) -> (i64, i64) {
    let payments: i64 = sqlx::query("SELECT COUNT(*) FROM payments WHERE session_id = $1 AND status <> 'failed'")
        .bind(session_id)
        .fetch_one(app.db().pool())
        .await
        .unwrap()
        .get(0);
    let charges: i64 = sqlx::query(
        "SELECT COUNT(*) FROM sandbox_charges c JOIN confirm_attempts a ON a.id = c.reference \
         WHERE a.session_id = $1 AND c.charge LIKE '%approved%'",
    )
    .bind(session_id)
    .fetch_one(app.db().pool())
    .await
    .unwrap()
    .get(0);
    (payments, charges)
}

db_tests! {
    async fn fifty_concurrent_confirms_make_one_payment(app) {
        let m = app.merchant().await;
        let s = app.session(&m, json!({})).await;
        let quote = app.quote(&s, "card", Some("424242")).await;
        let calls = (0..50).map(|i| app.request(confirm_request(&s, &quote, &format!("key-{i}"), "4242424242424242")));
        let answers = futures_util::future::join_all(calls).await;
        let ok: Vec<_> = answers.iter().filter(|r| r.status == StatusCode::OK).collect();
        assert_eq!(ok.len(), 1, "exactly one confirm succeeds: {:?}", answers.iter().map(|r| r.status).collect::<Vec<_>>());
        // The per-credential burst (30) lets thirty through to race; the rest are rate limited.
        let mut conflicts = 0;
        for r in answers.iter().filter(|r| r.status != StatusCode::OK) {
            let code = r.json()["error"]["code"].as_str().unwrap().to_owned();
            match (r.status, code.as_str()) {
                (StatusCode::CONFLICT, "confirm_in_progress" | "already_confirmed") => conflicts += 1,
                (StatusCode::TOO_MANY_REQUESTS, "rate_limited") => {}
                _ => panic!("unexpected answer: {}", r.text()),
            }
        }
        // Everything the limiter let through (its burst, less the quote call) raced.
        assert!(conflicts >= 25, "the admitted confirms raced for the session ({conflicts} lost)");
        assert_eq!(payments_and_charges(&app, sid(&s)).await, (1, 1), "one payment, one charge");
        let completed = app.events(&m.uid).await.iter().filter(|(t, _)| t == "checkout.session.completed").count();
        assert_eq!(completed, 1);
    }

    async fn twenty_confirms_with_one_key_charge_once_and_answer_alike(app) {
        let m = app.merchant().await;
        let s = app.session(&m, json!({})).await;
        let quote = app.quote(&s, "card", Some("424242")).await;
        let calls = (0..20).map(|_| app.request(confirm_request(&s, &quote, "the-one-key", "4242424242424242")));
        let answers = futures_util::future::join_all(calls).await;
        let successes: Vec<&support::TestResponse> = answers.iter().filter(|r| r.status == StatusCode::OK).collect();
        assert!(!successes.is_empty());
        for r in &answers {
            if r.status == StatusCode::OK {
                assert_eq!(r.body, successes[0].body, "every success is the same answer, byte for byte");
            } else {
                assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text());
                assert_eq!(r.json()["error"]["code"], "idempotency_in_progress");
            }
        }
        assert_eq!(payments_and_charges(&app, sid(&s)).await, (1, 1));
        // Later retries replay it too.
        let replay = app.request(confirm_request(&s, &quote, "the-one-key", "4242424242424242")).await;
        assert_eq!(replay.status, StatusCode::OK);
        assert_eq!(replay.body, successes[0].body);
        assert_eq!(replay.header("idempotent-replayed"), Some("true"));
        // The same key with another body is refused.
        let other = app.request(confirm_request(&s, &quote, "the-one-key", "5555555555554444")).await;
        other.assert_error(422, "idempotency_key_reused");
    }

    async fn a_declined_attempt_replays_its_decline_without_charging_again(app) {
        let m = app.merchant().await;
        let s = app.session(&m, json!({})).await;
        let quote = app.quote(&s, "card", Some("400000")).await;
        let first = app.request(confirm_request(&s, &quote, "decline-key", "4000000000000002")).await;
        first.assert_error(402, "card_declined");
        let again = app.request(confirm_request(&s, &quote, "decline-key", "4000000000000002")).await;
        assert_eq!(again.status, StatusCode::PAYMENT_REQUIRED);
        assert_eq!(again.body, first.body, "byte for byte");
        assert_eq!(again.header("x-request-id"), first.header("x-request-id"), "the replay names the request it repeats");
        let attempts: i64 = sqlx::query("SELECT confirm_attempts FROM hosted_sessions WHERE id = $1").bind(sid(&s)).fetch_one(app.db().pool()).await.unwrap().get(0);
        assert_eq!(attempts, 1, "the replay did not reach the processor");
        // A new key is a new attempt, and the session is still payable.
        let quote = app.quote(&s, "card", Some("424242")).await;
        assert_eq!(app.request(confirm_request(&s, &quote, "second-key", "4242424242424242")).await.status, StatusCode::OK);
    }

    async fn a_stuck_confirm_recovery_cannot_resolve_waits_its_turn_behind_the_others(app) {
        let m = app.merchant().await;
        let s = app.session(&m, json!({})).await;
        let quote = app.quote(&s, "card", Some("424242")).await;
        crash_after_the_charge(&app, &s, &quote, "stuck-key").await;
        let recover_at = async || -> i64 {
            sqlx::query("SELECT recover_at FROM hosted_sessions WHERE id = $1").bind(sid(&s)).fetch_one(app.db().pool()).await.unwrap().get(0)
        };
        assert_eq!(recover_at().await, 0, "due at once");
        // A process whose processor can't be asked (here: started outside sandbox mode) fails to
        // resolve it: the session is put off, by a tenth of how long it has been stuck.
        let master_key = app.state.config().master_key.to_base64();
        let config = support::test_config(&app.db.url, app.assets.path(), &[("GOVIFI_SANDBOX", "false"), ("GOVIFI_MASTER_KEY", &master_key)]);
        let outside = server::AppState::with_db(config, app.db().clone());
        let since: i64 = sqlx::query("SELECT processing_since FROM hosted_sessions WHERE id = $1").bind(sid(&s)).fetch_one(app.db().pool()).await.unwrap().get(0);
        let later = server::store::now_ms() + server::checkout::confirm::STUCK_AFTER_MS + 1000;
        assert_eq!(server::checkout::confirm::recover_stuck(&outside, later).await.unwrap(), 0);
        let due = recover_at().await;
        assert_eq!(due, later + server::domain::time::recheck_after(later - since));
        assert!(due >= later + server::domain::time::RECHECK_SOONEST_MS);
        // Until then no pass takes it (it no longer stands in front of the sessions behind it)…
        assert_eq!(server::checkout::confirm::recover_stuck(&outside, later).await.unwrap(), 0);
        assert_eq!(recover_at().await, due, "not tried again");
        assert_eq!(server::checkout::confirm::recover_stuck(&app.state, due - 1).await.unwrap(), 0);
        assert_eq!(payments_and_charges(&app, sid(&s)).await, (0, 1));
        // …and then it is resolved, into its one payment.
        assert_eq!(server::checkout::confirm::recover_stuck(&app.state, due).await.unwrap(), 1);
        assert_eq!(payments_and_charges(&app, sid(&s)).await, (1, 1));
    }

    async fn a_crash_after_the_charge_is_recovered_into_exactly_one_payment(app) {
        let m = app.merchant().await;
        let s = app.session(&m, json!({})).await;
        let quote = app.quote(&s, "card", Some("424242")).await;
        crash_after_the_charge(&app, &s, &quote, "crash-key").await; // the process dies mid-confirm
        let status: String = sqlx::query("SELECT status FROM hosted_sessions WHERE id = $1").bind(sid(&s)).fetch_one(app.db().pool()).await.unwrap().get(0);
        assert_eq!(status, "processing");
        assert_eq!(payments_and_charges(&app, sid(&s)).await, (0, 1), "charged, not yet recorded");
        // Too soon: a confirm in flight elsewhere is not touched.
        assert_eq!(server::checkout::confirm::recover_stuck(&app.state, server::store::now_ms()).await.unwrap(), 0);
        // Later, recovery (in any process) asks the processor and finishes the attempt.
        let later = server::store::now_ms() + server::checkout::confirm::STUCK_AFTER_MS + 1000;
        assert_eq!(server::checkout::confirm::recover_stuck(&app.state, later).await.unwrap(), 1);
        assert_eq!(server::checkout::confirm::recover_stuck(&app.state, later).await.unwrap(), 0, "once");
        assert_eq!(payments_and_charges(&app, sid(&s)).await, (1, 1));
        let session = app.call(Method::GET, format!("/v1/hosted-sessions/{}", sid(&s)), Auth::Bearer(&m.key), None).await.json();
        assert_eq!(session["status"], "completed");
        let payment = app.call(Method::GET, format!("/api/payments/{}", session["payment_id"].as_str().unwrap()), Auth::Bearer(&m.key), None).await.json();
        assert_eq!(payment["status"], "captured");
        assert_eq!(payment["consent"]["fee_quote_id"], quote, "the consent survived the crash");
        assert_eq!(app.events(&m.uid).await.iter().filter(|(t, _)| t == "checkout.session.completed").count(), 1);
        // The customer's retry: nothing more is charged. With the crashed request's key it gets
        // the payment recovery recorded; with another key, the session is paid.
        let replay = app.request(confirm_request(&s, &quote, "crash-key", "4242424242424242")).await;
        assert_eq!(replay.status, StatusCode::OK, "{}", replay.text());
        assert_eq!(replay.header("idempotent-replayed"), Some("true"));
        assert_eq!(replay.json()["payment_id"], session["payment_id"]);
        assert!(replay.json()["redirect_url"].as_str().is_some_and(|u| u.contains("govifi_sig=")), "{}", replay.text());
        let r = app.request(confirm_request(&s, &quote, "retry-key", "4242424242424242")).await;
        r.assert_error(409, "already_confirmed");
        assert_eq!(payments_and_charges(&app, sid(&s)).await, (1, 1));
    }

    async fn a_confirm_whose_answer_was_lost_answers_its_key_once_recovered(app) {
        let m = app.merchant().await;
        let s = app.session(&m, json!({})).await;
        let quote = app.quote(&s, "card", Some("424242")).await;
        // The processor charged, but its answer never came back: 503, resolved later.
        let lost = support::interrupted_router(&app, Call::Authorize, When::Lost);
        let first = via(&lost, confirm_request(&s, &quote, "lost-key", "4242424242424242")).await;
        first.assert_error(503, "processor_unavailable");
        assert_eq!(payments_and_charges(&app, sid(&s)).await, (0, 1), "charged, not yet recorded");
        // A retry with the key before recovery is told to wait, and charges nothing.
        let early = app.request(confirm_request(&s, &quote, "lost-key", "4242424242424242")).await;
        early.assert_error(409, "idempotency_in_progress");
        assert_eq!(payments_and_charges(&app, sid(&s)).await, (0, 1));
        // Past the keys' retention, the housekeeping still keeps a key whose confirm is
        // unresolved: recovery writes its answer.
        let days = server::store::now_ms() + 49 * 3600 * 1000;
        server::store::idempotency::purge(app.db(), days, 10 * server::checkout::confirm::STUCK_AFTER_MS).await.unwrap();
        let kept: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM idempotency_keys WHERE scope = $1")
            .bind(format!("confirm:{}", sid(&s))).fetch_one(app.db().pool()).await.unwrap();
        assert_eq!(kept, 1);
        let later = server::store::now_ms() + server::checkout::confirm::STUCK_AFTER_MS + 1000;
        assert_eq!(server::checkout::confirm::recover_stuck(&app.state, later).await.unwrap(), 1);
        // Now the key answers with the payment, as the first request would have.
        let replay = app.request(confirm_request(&s, &quote, "lost-key", "4242424242424242")).await;
        assert_eq!(replay.status, StatusCode::OK, "{}", replay.text());
        assert_eq!(replay.header("idempotent-replayed"), Some("true"));
        assert_eq!(replay.json()["status"], "succeeded");
        let session = app.call(Method::GET, format!("/v1/hosted-sessions/{}", sid(&s)), Auth::Bearer(&m.key), None).await.json();
        assert_eq!(replay.json()["payment_id"], session["payment_id"]);
        let again = app.request(confirm_request(&s, &quote, "lost-key", "4242424242424242")).await;
        assert_eq!(again.body, replay.body, "byte for byte");
        assert_eq!(payments_and_charges(&app, sid(&s)).await, (1, 1));
    }

    async fn a_key_answered_days_late_is_kept_from_its_answer(app) {
        let m = app.merchant().await;
        let s = app.session(&m, json!({})).await;
        let quote = app.quote(&s, "card", Some("400000")).await;
        let lost = support::interrupted_router(&app, Call::Authorize, When::Lost);
        via(&lost, confirm_request(&s, &quote, "late-key", "4000000000000002")).await.assert_error(503, "processor_unavailable");
        // The key was taken 49 hours ago (the processor was out of reach since) ...
        sqlx::query("UPDATE idempotency_keys SET created_at = created_at - $1 WHERE key = 'late-key'")
            .bind(49_i64 * 3600 * 1000).execute(app.db().pool()).await.unwrap();
        let later = server::store::now_ms() + server::checkout::confirm::STUCK_AFTER_MS + 1000;
        assert_eq!(server::checkout::confirm::recover_stuck(&app.state, later).await.unwrap(), 1);
        // ... and answered now: the next housekeeping keeps it, so the customer's retry with the
        // key replays the decline instead of asking the processor again (the session is
        // payable again, so a forgotten key would be a second charge attempt).
        let minute_on = server::store::now_ms() + 60_000;
        server::store::idempotency::purge(app.db(), minute_on, 10 * server::checkout::confirm::STUCK_AFTER_MS).await.unwrap();
        let replay = app.request(confirm_request(&s, &quote, "late-key", "4000000000000002")).await;
        replay.assert_error(402, "card_declined");
        assert_eq!(replay.header("idempotent-replayed"), Some("true"));
        let attempts: i64 = sqlx::query("SELECT confirm_attempts FROM hosted_sessions WHERE id = $1").bind(sid(&s)).fetch_one(app.db().pool()).await.unwrap().get(0);
        assert_eq!(attempts, 1, "the retry did not reach the processor");
        // Its retention runs from the answer: gone 48 hours after it.
        let days_on = server::store::now_ms() + 49 * 3600 * 1000;
        server::store::idempotency::purge(app.db(), days_on, 10 * server::checkout::confirm::STUCK_AFTER_MS).await.unwrap();
        let kept: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM idempotency_keys WHERE key = 'late-key'").fetch_one(app.db().pool()).await.unwrap();
        assert_eq!(kept, 0);
    }

    async fn a_decline_whose_answer_was_lost_answers_its_key_with_the_decline(app) {
        let m = app.merchant().await;
        let s = app.session(&m, json!({})).await;
        let quote = app.quote(&s, "card", Some("400000")).await;
        let lost = support::interrupted_router(&app, Call::Authorize, When::Lost);
        via(&lost, confirm_request(&s, &quote, "lost-decline", "4000000000000002")).await.assert_error(503, "processor_unavailable");
        let later = server::store::now_ms() + server::checkout::confirm::STUCK_AFTER_MS + 1000;
        assert_eq!(server::checkout::confirm::recover_stuck(&app.state, later).await.unwrap(), 1);
        let replay = app.request(confirm_request(&s, &quote, "lost-decline", "4000000000000002")).await;
        replay.assert_error(402, "card_declined");
        assert_eq!(replay.header("idempotent-replayed"), Some("true"));
        let attempts: i64 = sqlx::query("SELECT confirm_attempts FROM hosted_sessions WHERE id = $1").bind(sid(&s)).fetch_one(app.db().pool()).await.unwrap().get(0);
        assert_eq!(attempts, 1, "the replay did not reach the processor");
        // The session is payable again, with another key.
        let quote = app.quote(&s, "card", Some("424242")).await;
        assert_eq!(app.request(confirm_request(&s, &quote, "new-key", "4242424242424242")).await.status, StatusCode::OK);
    }

    async fn a_second_recovery_of_a_reopened_attempt_leaves_the_key_to_its_new_attempt(app) {
        let m = app.merchant().await;
        let s = app.session(&m, json!({})).await;
        let quote = app.quote(&s, "card", Some("424242")).await;
        let crashed = async |key: &'static str| {
            let router = support::interrupted_router(&app, Call::Authorize, When::Before);
            let request = confirm_request(&s, &quote, key, "4242424242424242");
            let task = tokio::spawn(async move { tower::ServiceExt::oneshot(router, request).await });
            wait_for_status(&app, sid(&s), "processing").await;
            task.abort();
            let _ = task.await;
        };
        crashed("k1").await;
        let first: String = sqlx::query("SELECT id FROM confirm_attempts WHERE session_id = $1").bind(sid(&s)).fetch_one(app.db().pool()).await.unwrap().get(0);
        // One process reopens the session and frees the key; the page's retry takes it again.
        assert!(server::checkout::confirm::recover_one(&app.state, sid(&s), &first).await.unwrap());
        crashed("k1").await;
        // A second process that had listed the first attempt too: it changes nothing, and the
        // key stays with the new attempt (which will answer it).
        assert!(!server::checkout::confirm::recover_one(&app.state, sid(&s), &first).await.unwrap());
        let held: i64 = sqlx::query("SELECT COUNT(*) FROM idempotency_keys WHERE key = 'k1' AND state = 'in_progress'").fetch_one(app.db().pool()).await.unwrap().get(0);
        assert_eq!(held, 1, "the new attempt still holds its key");
        let later = server::store::now_ms() + server::checkout::confirm::STUCK_AFTER_MS + 1000;
        assert_eq!(server::checkout::confirm::recover_stuck(&app.state, later).await.unwrap(), 1);
        let r = app.request(confirm_request(&s, &quote, "k1", "4242424242424242")).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        assert_eq!(payments_and_charges(&app, sid(&s)).await, (1, 1));
    }

    async fn a_confirm_the_processor_never_saw_frees_its_key_once_recovered(app) {
        let m = app.merchant().await;
        let s = app.session(&m, json!({})).await;
        let quote = app.quote(&s, "card", Some("424242")).await;
        let down = support::interrupted_router(&app, Call::Authorize, When::Down);
        via(&down, confirm_request(&s, &quote, "down-key", "4242424242424242")).await.assert_error(503, "processor_unavailable");
        app.request(confirm_request(&s, &quote, "down-key", "4242424242424242")).await.assert_error(409, "idempotency_in_progress");
        let later = server::store::now_ms() + server::checkout::confirm::STUCK_AFTER_MS + 1000;
        assert_eq!(server::checkout::confirm::recover_stuck(&app.state, later).await.unwrap(), 1);
        assert_eq!(payments_and_charges(&app, sid(&s)).await, (0, 0), "nothing was charged");
        // Nothing happened for the key: the same request now runs, once.
        let r = app.request(confirm_request(&s, &quote, "down-key", "4242424242424242")).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        assert_eq!(r.header("idempotent-replayed"), None);
        assert_eq!(payments_and_charges(&app, sid(&s)).await, (1, 1));
    }

    async fn a_crash_before_the_processor_reopens_the_session(app) {
        let m = app.merchant().await;
        let s = app.session(&m, json!({})).await;
        let quote = app.quote(&s, "card", Some("424242")).await;
        let router = support::interrupted_router(&app, Call::Authorize, When::Before);
        let request = confirm_request(&s, &quote, "k1", "4242424242424242");
        let task = tokio::spawn(async move { tower::ServiceExt::oneshot(router, request).await });
        wait_for_status(&app, sid(&s), "processing").await;
        task.abort();
        let _ = task.await;
        // Meanwhile other confirms are refused, not run twice.
        app.request(confirm_request(&s, &quote, "k2", "4242424242424242")).await.assert_error(409, "confirm_in_progress");
        app.call(Method::PATCH, format!("/v1/hosted-sessions/{}", sid(&s)), Auth::Bearer(&m.key), Some(json!({"amount": 100}))).await
            .assert_error(409, "confirm_in_progress");
        let later = server::store::now_ms() + server::checkout::confirm::STUCK_AFTER_MS + 1000;
        // A back-off is the attempt's own: put off under another attempt's name, nothing moves;
        // under its own, it waits until then.
        let recover_at = async || -> i64 {
            sqlx::query("SELECT recover_at FROM hosted_sessions WHERE id = $1").bind(sid(&s)).fetch_one(app.db().pool()).await.unwrap().get(0)
        };
        server::store::sessions::defer_recovery(app.db(), sid(&s), "att_another", later).await.unwrap();
        assert_eq!(recover_at().await, 0);
        let attempt: String = sqlx::query("SELECT processing_attempt FROM hosted_sessions WHERE id = $1").bind(sid(&s)).fetch_one(app.db().pool()).await.unwrap().get(0);
        server::store::sessions::defer_recovery(app.db(), sid(&s), &attempt, later).await.unwrap();
        assert_eq!(server::checkout::confirm::recover_stuck(&app.state, later - 1).await.unwrap(), 0);
        assert_eq!(server::checkout::confirm::recover_stuck(&app.state, later).await.unwrap(), 1);
        assert_eq!(payments_and_charges(&app, sid(&s)).await, (0, 0), "nothing was charged");
        let attempt: String = sqlx::query("SELECT status FROM confirm_attempts WHERE session_id = $1").bind(sid(&s)).fetch_one(app.db().pool()).await.unwrap().get(0);
        assert_eq!(attempt, "abandoned");
        let r = app.request(confirm_request(&s, &quote, "k3", "4242424242424242")).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        assert_eq!(payments_and_charges(&app, sid(&s)).await, (1, 1));
        assert_eq!(recover_at().await, 0, "the next attempt started with no back-off");
    }

    async fn a_method_saved_by_recovery_carries_the_card_s_fingerprint(app) {
        let m = app.merchant().await;
        let saving = json!({"customer_email": "keep@example.com", "setup_future_usage": "on_session"});
        let confirm_saving = |s: &Value, quote: &str| {
            axum::http::Request::post(format!("/v1/hosted-sessions/{}/confirm", sid(s)))
                .header("authorization", format!("Bearer {}", s["client_secret"].as_str().unwrap()))
                .header("content-type", "application/json")
                .body(axum::body::Body::from(json!({"fee_quote_id": quote, "payment_method": card("5555555555554444"), "save_payment_method": true}).to_string()))
                .unwrap()
        };
        // A confirm that saves the card, crashed after the charge and finished by recovery.
        let s = app.session(&m, saving.clone()).await;
        let quote = app.quote(&s, "card", Some("555555")).await;
        let router = support::interrupted_router(&app, Call::Authorize, When::After);
        let task = tokio::spawn(tower::ServiceExt::oneshot(router, confirm_saving(&s, &quote)));
        wait_for_charge(&app, sid(&s)).await;
        task.abort();
        let _ = task.await;
        let later = server::store::now_ms() + server::checkout::confirm::STUCK_AFTER_MS + 1000;
        assert_eq!(server::checkout::confirm::recover_stuck(&app.state, later).await.unwrap(), 1);
        // The same card saved by a confirm that did not crash.
        let s2 = app.session(&m, saving).await;
        let quote2 = app.quote(&s2, "card", Some("555555")).await;
        assert_eq!(app.request(confirm_saving(&s2, &quote2)).await.status, StatusCode::OK);
        let prints: Vec<String> = sqlx::query_scalar("SELECT fingerprint FROM payment_methods ORDER BY created_at, id").fetch_all(app.db().pool()).await.unwrap();
        assert_eq!(prints.len(), 2);
        assert_eq!(prints[0], prints[1], "one card, one fingerprint, however it was saved");
        let tokens: Vec<String> = sqlx::query_scalar("SELECT c.charge FROM sandbox_charges c").fetch_all(app.db().pool()).await.unwrap();
        assert!(tokens.iter().all(|charge| !charge.contains(&prints[0])), "the fingerprint is not the processor's token");
        assert!(!prints[0].starts_with("tok_"), "{}", prints[0]);
    }

    async fn a_charge_approved_after_recovery_reopened_the_session_is_undone(app) {
        let m = app.merchant().await;
        let s = app.session(&m, json!({})).await;
        let quote = app.quote(&s, "card", Some("424242")).await;
        let gate = Arc::new(tokio::sync::Notify::new());
        let router = support::interrupted_router(&app, Call::Authorize, When::GateBefore(gate.clone()));
        let task = tokio::spawn(tower::ServiceExt::oneshot(router, confirm_request(&s, &quote, "slow-call", "4242424242424242")));
        wait_for_status(&app, sid(&s), "processing").await;
        // Recovery asks the processor, which has not seen the call yet: the session reopens.
        let later = server::store::now_ms() + server::checkout::confirm::STUCK_AFTER_MS + 1000;
        assert_eq!(server::checkout::confirm::recover_stuck(&app.state, later).await.unwrap(), 1);
        let watched: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM abandoned_charges").fetch_one(app.db().pool()).await.unwrap();
        assert_eq!(watched, 1, "the given-up attempt is watched");
        // Then the slow call arrives and is approved: no payment can record it, so it is refunded.
        gate.notify_one();
        let late = support::TestResponse::read(task.await.unwrap().unwrap()).await;
        late.assert_error(409, "confirm_in_progress");
        let row = sqlx::query("SELECT c.captured, c.refunded FROM sandbox_charges c JOIN confirm_attempts a ON a.id = c.reference WHERE a.session_id = $1")
            .bind(sid(&s)).fetch_one(app.db().pool()).await.unwrap();
        let (captured, refunded): (i64, i64) = (row.get(0), row.get(1));
        assert!(captured > 0);
        assert_eq!(refunded, captured, "the whole charge went back");
        assert_eq!(payments_and_charges(&app, sid(&s)).await.0, 0, "no payment");
        let watched: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM abandoned_charges").fetch_one(app.db().pool()).await.unwrap();
        assert_eq!(watched, 0, "undone by its request, so no longer watched");
        // The customer pays again, once.
        let r = app.request(confirm_request(&s, &quote, "again", "4242424242424242")).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        assert_eq!(payments_and_charges(&app, sid(&s)).await.0, 1);
    }

    async fn a_charge_approved_after_its_attempt_was_given_up_is_undone_though_its_server_died(app) {
        let m = app.merchant().await;
        let s = app.session(&m, json!({})).await;
        let quote = app.quote(&s, "card", Some("424242")).await;
        let gate = Arc::new(tokio::sync::Notify::new());
        let router = support::interrupted_router(&app, Call::Authorize, When::GateBeforeThenHang(gate.clone()));
        let task = tokio::spawn(tower::ServiceExt::oneshot(router, confirm_request(&s, &quote, "slow-call", "4242424242424242")));
        wait_for_status(&app, sid(&s), "processing").await;
        let attempt: String = sqlx::query_scalar("SELECT id FROM confirm_attempts WHERE session_id = $1")
            .bind(sid(&s)).fetch_one(app.db().pool()).await.unwrap();
        // Recovery asks the processor, which has not seen the call yet: the session reopens,
        // and the attempt's reference is watched from the same transaction.
        let later = server::store::now_ms() + server::checkout::confirm::STUCK_AFTER_MS + 1000;
        assert_eq!(server::checkout::confirm::recover_stuck(&app.state, later).await.unwrap(), 1);
        assert!(server::store::abandoned::watched(app.db(), &attempt).await.unwrap());
        // Nothing is undone while the processor has nothing under it.
        let soon = server::store::now_ms() + 6_000;
        assert_eq!(server::payments::abandoned::watch_due(&app.state, soon).await.unwrap(), 0);
        assert!(server::store::abandoned::watched(app.db(), &attempt).await.unwrap(), "still watched");
        // The slow call reaches the processor and is approved, and its server dies before it
        // can undo the charge.
        gate.notify_one();
        wait_for_charge(&app, sid(&s)).await;
        task.abort();
        let _ = task.await;
        let charge = async || -> (i64, i64) {
            let row = sqlx::query("SELECT captured, refunded FROM sandbox_charges WHERE reference = $1")
                .bind(&attempt).fetch_one(app.db().pool()).await.unwrap();
            (row.get(0), row.get(1))
        };
        let (captured, refunded) = charge().await;
        assert!(captured > 0);
        assert_eq!(refunded, 0);
        // The watch, not due before its next lookup, then finds the charge and refunds it, once.
        assert_eq!(server::payments::abandoned::watch_due(&app.state, soon).await.unwrap(), 0, "put off by the first lookup");
        let due = soon + server::domain::time::RECHECK_SOONEST_MS;
        assert_eq!(server::payments::abandoned::watch_due(&app.state, due).await.unwrap(), 1);
        assert_eq!(charge().await, (captured, captured), "the whole charge went back");
        assert!(!server::store::abandoned::watched(app.db(), &attempt).await.unwrap());
        assert_eq!(server::payments::abandoned::watch_due(&app.state, due + 3_600_000).await.unwrap(), 0);
        assert_eq!(charge().await, (captured, captured), "refunded once");
        assert_eq!(payments_and_charges(&app, sid(&s)).await.0, 0, "no payment");
    }

    async fn a_given_up_attempt_the_processor_never_sees_is_watched_for_a_day(app) {
        let m = app.merchant().await;
        let s = app.session(&m, json!({})).await;
        let quote = app.quote(&s, "card", Some("424242")).await;
        let router = support::interrupted_router(&app, Call::Authorize, When::Before);
        let task = tokio::spawn(tower::ServiceExt::oneshot(router, confirm_request(&s, &quote, "lost", "4242424242424242")));
        wait_for_status(&app, sid(&s), "processing").await;
        task.abort();
        let _ = task.await;
        let later = server::store::now_ms() + server::checkout::confirm::STUCK_AFTER_MS + 1000;
        assert_eq!(server::checkout::confirm::recover_stuck(&app.state, later).await.unwrap(), 1);
        let attempt: String = sqlx::query_scalar("SELECT id FROM confirm_attempts WHERE session_id = $1")
            .bind(sid(&s)).fetch_one(app.db().pool()).await.unwrap();
        let check_at = async || -> i64 {
            sqlx::query_scalar("SELECT check_at FROM abandoned_charges WHERE reference = $1").bind(&attempt).fetch_one(app.db().pool()).await.unwrap()
        };
        let first = check_at().await;
        // Each lookup that finds nothing puts the next one off (a tenth of the age, 5 s to 1 h).
        assert_eq!(server::payments::abandoned::watch_due(&app.state, first).await.unwrap(), 0);
        let second = check_at().await;
        assert!(second >= first + server::domain::time::RECHECK_SOONEST_MS, "{first} → {second}");
        let a_day = server::store::now_ms() + server::payments::abandoned::WATCH_FOR_MS;
        assert_eq!(server::payments::abandoned::watch_due(&app.state, a_day).await.unwrap(), 1, "a day on, it is let go");
        assert!(!server::store::abandoned::watched(app.db(), &attempt).await.unwrap());
        assert_eq!(payments_and_charges(&app, sid(&s)).await, (0, 0));
    }

    async fn a_recovery_that_finds_the_attempt_finished_leaves_its_record(app) {
        let m = app.merchant().await;
        let s = app.session(&m, json!({})).await;
        let quote = app.quote(&s, "card", Some("424242")).await;
        let r = app.request(confirm_request(&s, &quote, "paid", "4242424242424242")).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        let attempt: String = sqlx::query_scalar("SELECT id FROM confirm_attempts WHERE session_id = $1")
            .bind(sid(&s)).fetch_one(app.db().pool()).await.unwrap();
        // A second process's recovery listed the session while it was processing, and asked the
        // processor before the charge arrived there (as if: the record is hidden from it).
        sqlx::query("UPDATE sandbox_charges SET reference = 'hidden' WHERE reference = $1").bind(&attempt).execute(app.db().pool()).await.unwrap();
        assert!(!server::checkout::confirm::recover_one(&app.state, sid(&s), &attempt).await.unwrap(), "nothing to reopen");
        let status: String = sqlx::query_scalar("SELECT status FROM confirm_attempts WHERE id = $1").bind(&attempt).fetch_one(app.db().pool()).await.unwrap();
        assert_eq!(status, "succeeded", "a finished attempt is not marked given up (a late charge would be undone behind its payment)");
    }

    async fn a_late_finish_after_recovery_changes_nothing(app) {
        let m = app.merchant().await;
        let s = app.session(&m, json!({})).await;
        let quote = app.quote(&s, "card", Some("424242")).await;
        let gate = Arc::new(tokio::sync::Notify::new());
        let router = support::interrupted_router(&app, Call::Authorize, When::Gate(gate.clone()));
        let request = confirm_request(&s, &quote, "slow-key", "4242424242424242");
        let task = tokio::spawn(async move { tower::ServiceExt::oneshot(router, request).await });
        wait_for_charge(&app, sid(&s)).await;
        let later = server::store::now_ms() + server::checkout::confirm::STUCK_AFTER_MS + 1000;
        assert_eq!(server::checkout::confirm::recover_stuck(&app.state, later).await.unwrap(), 1);
        gate.notify_one();
        let late = support::TestResponse::read(task.await.unwrap().unwrap()).await;
        // The request gets the answer recovery kept for its key: the payment, as a retry would.
        assert_eq!(late.status, StatusCode::OK, "{}", late.text());
        let session = app.call(Method::GET, format!("/v1/hosted-sessions/{}", sid(&s)), Auth::Bearer(&m.key), None).await.json();
        assert_eq!(late.json()["payment_id"], session["payment_id"]);
        let retry = app.request(confirm_request(&s, &quote, "slow-key", "4242424242424242")).await;
        assert_eq!(retry.body, late.body, "the request and its retry answer alike");
        assert_eq!(payments_and_charges(&app, sid(&s)).await, (1, 1));
        assert_eq!(app.events(&m.uid).await.iter().filter(|(t, _)| t == "payment.succeeded").count(), 1);
    }

    async fn two_server_processes_sharing_the_database_make_one_payment(app) {
        let a = support::ServerProcess::start(&app).await;
        let b = support::ServerProcess::start(&app).await;
        let http = reqwest::Client::new();
        let token: Value = http.post(format!("{}/oauth2/token", a.url)).basic_auth(support::BOOTSTRAP_ID, Some(support::BOOTSTRAP_SECRET))
            .form(&[("grant_type", "client_credentials")]).send().await.unwrap().json().await.unwrap();
        let token = token["access_token"].as_str().unwrap().to_owned();
        let client: Value = http.post(format!("{}/api/clients", b.url)).bearer_auth(&token).json(&json!({"name": "Two"})).send().await.unwrap().json().await.unwrap();
        let account: Value = http.post(format!("{}/api/paymentaccounts", a.url)).bearer_auth(&token)
            .json(&json!({"client_id": client["id"], "name": "Shared", "currency": "USD"})).send().await.unwrap().json().await.unwrap();
        let uid = account["uid"].as_str().unwrap();
        let session: Value = http.post(format!("{}/v1/hosted-sessions", b.url)).bearer_auth(&token).header("x-payment-account-uid", uid)
            .json(&json!({"amount": 5000, "currency": "USD", "success_url": "https://a.example/s", "cancel_url": "https://a.example/c"}))
            .send().await.unwrap().json().await.unwrap();
        let secret = session["client_secret"].as_str().unwrap().to_owned();
        let id = session["session_id"].as_str().unwrap().to_owned();
        let quote: Value = http.post(format!("{}/v1/hosted-sessions/{id}/quote-fee", a.url)).bearer_auth(&secret)
            .json(&json!({"payment_method_type": "card", "card_bin": "424242"})).send().await.unwrap().json().await.unwrap();
        let quote = quote["fee_quote_id"].as_str().unwrap().to_owned();
        // 28 confirms and the quote stay within the credential's burst of 30, which the two
        // processes share.
        let calls = (0..28).map(|i| {
            let base = if i % 2 == 0 { &a.url } else { &b.url };
            http.post(format!("{base}/v1/hosted-sessions/{id}/confirm")).bearer_auth(&secret).header("idempotency-key", format!("p-{i}"))
                .header("user-agent", "CustomerBrowser/1.0")
                .json(&json!({"fee_quote_id": quote, "payment_method": card("4242424242424242")})).send()
        });
        let answers = futures_util::future::join_all(calls).await;
        let statuses: Vec<u16> = answers.into_iter().map(|r| r.unwrap().status().as_u16()).collect();
        assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 1, "{statuses:?}");
        assert!(statuses.iter().all(|s| *s == 200 || *s == 409), "{statuses:?}");
        assert_eq!(payments_and_charges(&app, &id).await, (1, 1));
        // The consent keeps who agreed: the customer's address (the connection's, no proxy is
        // trusted here) and user agent (SPEC §5).
        let done: Value = http.get(format!("{}/v1/hosted-sessions/{id}", a.url)).bearer_auth(&token).header("x-payment-account-uid", uid)
            .send().await.unwrap().json().await.unwrap();
        let payment: Value = http.get(format!("{}/api/payments/{}", b.url, done["payment_id"].as_str().unwrap())).bearer_auth(&token)
            .header("x-payment-account-uid", uid).send().await.unwrap().json().await.unwrap();
        assert_eq!(payment["consent"]["ip"], "127.0.0.1", "{payment}");
        assert_eq!(payment["consent"]["user_agent"], "CustomerBrowser/1.0", "{payment}");
        a.stop().await;
        b.stop().await;
    }

    async fn two_server_processes_share_one_credential_budget(app) {
        let m = app.merchant().await;
        let s = app.session(&m, json!({})).await;
        let (secret, id) = (s["client_secret"].as_str().unwrap().to_owned(), sid(&s).to_owned());
        let a = support::ServerProcess::start(&app).await;
        let b = support::ServerProcess::start(&app).await;
        let http = reqwest::Client::new();
        // 60 calls, half to each process: each alone would let its 30 through.
        let started = std::time::Instant::now();
        let calls = (0..60).map(|i| {
            let base = if i % 2 == 0 { &a.url } else { &b.url };
            http.get(format!("{base}/v1/hosted-sessions/{id}/config")).bearer_auth(&secret).send()
        });
        let answers = futures_util::future::join_all(calls).await;
        let elapsed_ms = started.elapsed().as_millis() as usize;
        let mut admitted = 0;
        for r in answers {
            let r = r.unwrap();
            match r.status().as_u16() {
                200 => admitted += 1,
                429 => {
                    let wait: u64 = r.headers()["retry-after"].to_str().unwrap().parse().unwrap();
                    assert!((1..=15).contains(&wait), "Retry-After {wait}");
                    assert_eq!(r.json::<Value>().await.unwrap()["error"]["code"], "rate_limited");
                }
                other => panic!("unexpected {other}"),
            }
        }
        // The burst, plus one more for each half second the calls took (the budget refills).
        assert!(admitted >= 30 && admitted <= 30 + elapsed_ms / 500 + 1, "{admitted} admitted in {elapsed_ms} ms");
        a.stop().await;
        b.stop().await;
    }
}

/// A confirm whose process dies once the processor charged, before anything was recorded.
async fn crash_after_the_charge(app: &TestApp, s: &Value, quote: &str, key: &str) {
    let router = support::interrupted_router(app, Call::Authorize, When::After);
    let request = confirm_request(s, quote, key, "4242424242424242");
    let task = tokio::spawn(async move { tower::ServiceExt::oneshot(router, request).await });
    wait_for_charge(app, sid(s)).await;
    task.abort();
    let _ = task.await;
}

async fn wait_for_charge(app: &TestApp, session_id: &str) {
    for _ in 0..500 {
        let (_, charges) = payments_and_charges(app, session_id).await;
        if charges > 0 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("the processor never charged");
}

async fn wait_for_status(app: &TestApp, session_id: &str, status: &str) {
    for _ in 0..500 {
        let s: String = sqlx::query("SELECT status FROM hosted_sessions WHERE id = $1")
            .bind(session_id)
            .fetch_one(app.db().pool())
            .await
            .unwrap()
            .get(0);
        if s == status {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("the session never became {status}");
}
