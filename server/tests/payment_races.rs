//! Exactly-once money movement: racing refunds and captures (in one process and across two
//! server processes on one database), and crashes between the processor's work and its record.

mod support;

use std::sync::Arc;

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};
use support::{Auth, Call, Merchant, TestApp, When, card};

fn post(m: &Merchant, path: &str, body: Option<Value>, key: Option<&str>) -> axum::http::Request<axum::body::Body> {
    let mut req = axum::http::Request::post(path).header("authorization", format!("Bearer {}", m.key));
    if let Some(k) = key {
        req = req.header("idempotency-key", k);
    }
    support::with_json(req, body)
}

/// Runs `request` on a router whose processor is interrupted, and returns once the processor
/// has done its part (the request is left hanging, as a crashed server leaves it).
async fn crash_after(
    app: &TestApp,
    call: Call,
    request: axum::http::Request<axum::body::Body>,
    done: impl AsyncFn() -> bool,
) {
    let router = support::interrupted_router(app, call, When::After);
    let task = tokio::spawn(async move { tower::ServiceExt::oneshot(router, request).await });
    for _ in 0..500 {
        if done().await {
            task.abort(); // the process dies before the answer is recorded
            let _ = task.await;
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("the processor never did its part");
}

async fn count(app: &TestApp, sql: &str, id: &str) -> i64 {
    sqlx::Row::get(&sqlx::query(sql).bind(id).fetch_one(app.db().pool()).await.unwrap(), 0)
}

fn later() -> i64 {
    server::store::now_ms() + server::payments::recovery::STUCK_AFTER_MS + 1000
}

db_tests! {
    async fn twenty_racing_refunds_of_a_tenth_refund_exactly_all(app) {
        let m = app.merchant().await;
        let pid = app.authorized(&m, 10_000, true).await;
        let path = format!("/api/payments/{pid}/refund");
        let calls = (0..20).map(|_| app.request(post(&m, &path, Some(json!({"amount": 1_000})), None)));
        let answers = futures_util::future::join_all(calls).await;
        let created = answers.iter().filter(|r| r.status == StatusCode::CREATED).count();
        assert_eq!(created, 10, "{:?}", answers.iter().map(|r| r.status).collect::<Vec<_>>());
        // The others find too little left, or (arriving after the tenth) nothing: a refunded payment.
        for r in answers.iter().filter(|r| r.status != StatusCode::CREATED) {
            match r.status.as_u16() {
                400 => r.assert_error(400, "amount_too_large"),
                _ => r.assert_error(409, "invalid_state"),
            };
        }
        let p = app.assert_books_balance(&m, &pid).await;
        assert_eq!(p["amount_refunded"], 10_000);
        assert_eq!(p["status"], "refunded");
        assert_eq!(app.processor_refunds(&pid).await, 10, "ten refunds at the processor, no more");
        let refund_events = app.events(&m.uid).await.iter().filter(|(t, _)| t == "refund.created").count();
        assert_eq!(refund_events, 10);
    }

    async fn ten_racing_captures_capture_once(app) {
        let m = app.merchant().await;
        let pid = app.authorized(&m, 10_000, false).await;
        let path = format!("/api/payments/{pid}/capture");
        let calls = (0..10).map(|i| app.request(post(&m, &path, Some(json!({"amount": 1_000 + i})), None)));
        let answers = futures_util::future::join_all(calls).await;
        let ok: Vec<_> = answers.iter().filter(|r| r.status == StatusCode::OK).collect();
        assert_eq!(ok.len(), 1, "{:?}", answers.iter().map(|r| r.status).collect::<Vec<_>>());
        for r in answers.iter().filter(|r| r.status != StatusCode::OK) {
            r.assert_error(409, "invalid_state");
        }
        let p = app.assert_books_balance(&m, &pid).await;
        assert_eq!(p["amount_captured"], ok[0].json()["amount_captured"]);
        assert_eq!(count(&app, "SELECT COUNT(*) FROM payment_transactions WHERE payment_id = $1 AND type = 'capture'", &pid).await, 1);
    }

    async fn a_capture_and_a_void_racing_make_one_move(app) {
        let m = app.merchant().await;
        for _ in 0..3 {
            let pid = app.authorized(&m, 3_000, false).await;
            let capture = app.request(post(&m, &format!("/api/payments/{pid}/capture"), None, None));
            let void = app.request(post(&m, &format!("/api/payments/{pid}/void"), None, None));
            let (c, v) = tokio::join!(capture, void);
            assert_eq!([c.status, v.status].iter().filter(|s| **s == StatusCode::OK).count(), 1, "{} / {}", c.text(), v.text());
            let p = app.assert_books_balance(&m, &pid).await;
            assert!(p["status"] == "captured" || p["status"] == "voided", "{p}");
            assert_eq!(app.ledger(&m, &pid).await.len(), 2, "authorization and one move");
        }
    }

    async fn refunds_split_across_two_server_processes_refund_exactly_all(app) {
        let a = support::ServerProcess::start(&app).await;
        let b = support::ServerProcess::start(&app).await;
        let m = app.merchant().await;
        let pid = app.authorized(&m, 10_000, true).await;
        let http = reqwest::Client::new();
        let calls = (0..20).map(|i| {
            let base = if i % 2 == 0 { &a.url } else { &b.url };
            http.post(format!("{base}/api/payments/{pid}/refund")).bearer_auth(&m.key).json(&json!({"amount": 1_000})).send()
        });
        let statuses: Vec<u16> = futures_util::future::join_all(calls).await.into_iter().map(|r| r.unwrap().status().as_u16()).collect();
        assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 10, "{statuses:?}");
        assert!(statuses.iter().all(|s| [201, 400, 409].contains(s)), "{statuses:?}");
        // And ten captures of one authorization across both: one.
        let auth = app.authorized(&m, 5_000, false).await;
        let calls = (0..10).map(|i| {
            let base = if i % 2 == 0 { &a.url } else { &b.url };
            http.post(format!("{base}/api/payments/{auth}/capture")).bearer_auth(&m.key).send()
        });
        let statuses: Vec<u16> = futures_util::future::join_all(calls).await.into_iter().map(|r| r.unwrap().status().as_u16()).collect();
        assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 1, "{statuses:?}");
        a.stop().await;
        b.stop().await;
        let p = app.assert_books_balance(&m, &pid).await;
        assert_eq!(p["amount_refunded"], 10_000);
        assert_eq!(app.processor_refunds(&pid).await, 10);
        app.assert_books_balance(&m, &auth).await;
    }

    async fn a_crash_after_the_processor_refunded_is_recovered_into_one_refund(app) {
        let m = app.merchant().await;
        let pid = app.authorized(&m, 10_000, true).await;
        let request = post(&m, &format!("/api/payments/{pid}/refund"), Some(json!({"amount": 4_000})), Some("refund-crash"));
        crash_after(&app, Call::Refund, request, async || app.processor_refunds(&pid).await == 1).await;
        // Refunded at the processor, not yet recorded: the amount is reserved, nothing else.
        let p = app.payment(&m, &pid).await;
        assert_eq!((p["status"].as_str(), p["amount_refunded"].as_i64()), (Some("captured"), Some(0)));
        // Meanwhile nothing can refund past what is left, and the key is still in use.
        app.payment_call(&m, &format!("/api/payments/{pid}/refund"), Some(json!({"amount": 6_001})), None).await.assert_error(400, "amount_too_large");
        app.payment_call(&m, &format!("/api/payments/{pid}/refund"), Some(json!({"amount": 4_000})), Some("refund-crash")).await.assert_error(409, "idempotency_in_progress");
        // Too soon for recovery; then recovery (in any process) finishes it, once.
        assert_eq!(server::payments::recovery::recover_stuck(&app.state, server::store::now_ms()).await.unwrap(), 0);
        assert_eq!(server::payments::recovery::recover_stuck(&app.state, later()).await.unwrap(), 1);
        assert_eq!(server::payments::recovery::recover_stuck(&app.state, later()).await.unwrap(), 0, "once");
        let p = app.assert_books_balance(&m, &pid).await;
        assert_eq!(p["amount_refunded"], 4_000);
        assert_eq!(p["status"], "partially_refunded");
        assert_eq!(count(&app, "SELECT COUNT(*) FROM payment_transactions WHERE payment_id = $1 AND type = 'refund'", &pid).await, 1, "one refund in the ledger");
        assert_eq!(app.processor_refunds(&pid).await, 1, "one refund at the processor");
        // The merchant's retry with the key gets the refund that was made.
        let replay = app.payment_call(&m, &format!("/api/payments/{pid}/refund"), Some(json!({"amount": 4_000})), Some("refund-crash")).await;
        assert_eq!(replay.status, StatusCode::CREATED, "{}", replay.text());
        assert_eq!(replay.json()["status"], "succeeded");
        assert_eq!(app.processor_refunds(&pid).await, 1);
    }

    async fn a_stuck_movement_recovery_cannot_resolve_waits_its_turn(app) {
        let m = app.merchant().await;
        let pid = app.authorized(&m, 10_000, true).await;
        let request = post(&m, &format!("/api/payments/{pid}/refund"), Some(json!({"amount": 4_000})), None);
        crash_after(&app, Call::Refund, request, async || app.processor_refunds(&pid).await == 1).await;
        let op: (String, i64) = sqlx::query_as("SELECT id, created_at FROM payment_operations WHERE payment_id = $1 AND kind = 'refund'").bind(&pid).fetch_one(app.db().pool()).await.unwrap();
        let recover_at = async || -> i64 {
            sqlx::query_scalar("SELECT recover_at FROM payment_operations WHERE id = $1").bind(&op.0).fetch_one(app.db().pool()).await.unwrap()
        };
        // A process that can't ask the processor (outside sandbox mode) puts it off.
        let master_key = app.state.config().master_key.to_base64();
        let config = support::test_config(&app.db.url, app.assets.path(), &[("GOVIFI_SANDBOX", "false"), ("GOVIFI_MASTER_KEY", &master_key)]);
        let outside = server::AppState::with_db(config, app.db().clone());
        let at = later();
        assert_eq!(server::payments::recovery::recover_stuck(&outside, at).await.unwrap(), 0);
        let due = recover_at().await;
        assert_eq!(due, at + server::domain::time::recheck_after(at - op.1));
        assert_eq!(server::payments::recovery::recover_stuck(&outside, at).await.unwrap(), 0);
        assert_eq!(recover_at().await, due, "not tried again before it is due");
        assert_eq!(server::payments::recovery::recover_stuck(&app.state, due - 1).await.unwrap(), 0);
        assert_eq!(server::payments::recovery::recover_stuck(&app.state, due).await.unwrap(), 1);
        let p = app.assert_books_balance(&m, &pid).await;
        assert_eq!(p["amount_refunded"], 4_000);
        assert_eq!(app.processor_refunds(&pid).await, 1, "one refund at the processor");
    }

    async fn a_refund_that_never_reached_the_processor_is_made_by_recovery(app) {
        let m = app.merchant().await;
        let pid = app.authorized(&m, 2_000, true).await;
        let router = support::interrupted_router(&app, Call::Refund, When::Before);
        let request = post(&m, &format!("/api/payments/{pid}/refund"), Some(json!({"amount": 500})), None);
        let task = tokio::spawn(async move { tower::ServiceExt::oneshot(router, request).await });
        for _ in 0..500 {
            if count(&app, "SELECT COUNT(*) FROM payment_operations WHERE payment_id = $1 AND kind = 'refund'", &pid).await == 1 { break }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        task.abort();
        let _ = task.await;
        assert_eq!(app.processor_refunds(&pid).await, 0);
        // The refund was promised (reserved): recovery makes it with the same reference.
        assert_eq!(server::payments::recovery::recover_stuck(&app.state, later()).await.unwrap(), 1);
        let p = app.assert_books_balance(&m, &pid).await;
        assert_eq!(p["amount_refunded"], 500);
        assert_eq!(app.processor_refunds(&pid).await, 1);
    }

    async fn a_crash_after_the_processor_captured_is_recovered_into_one_capture(app) {
        let m = app.merchant().await;
        let pid = app.authorized(&m, 9_000, false).await;
        let request = post(&m, &format!("/api/payments/{pid}/capture"), Some(json!({"amount": 7_000})), None);
        let captured_at_processor = async || {
            count(&app, "SELECT COUNT(*) FROM sandbox_operations o JOIN payments p ON p.processor_ref = o.processor_ref WHERE p.id = $1 AND o.kind = 'capture'", &pid).await == 1
        };
        crash_after(&app, Call::Capture, request, captured_at_processor).await;
        assert_eq!(app.payment(&m, &pid).await["status"], "authorized");
        // Held: no other capture or void meanwhile.
        app.payment_call(&m, &format!("/api/payments/{pid}/void"), None, None).await.assert_error(409, "invalid_state");
        assert_eq!(server::payments::recovery::recover_stuck(&app.state, later()).await.unwrap(), 1);
        let p = app.assert_books_balance(&m, &pid).await;
        assert_eq!((p["status"].as_str(), p["amount_captured"].as_i64()), (Some("captured"), Some(7_000)));
        assert_eq!(app.ledger(&m, &pid).await, vec![("authorization".into(), 9_000), ("capture".into(), 7_000)]);
    }

    async fn a_crash_after_a_direct_authorization_is_recovered_into_one_payment(app) {
        let m = app.merchant().await;
        let body = json!({"amount": 3_300, "currency": "USD", "payment_method": card("4242424242424242"), "capture": true});
        let request = post(&m, "/api/payments/validate", Some(body.clone()), Some("sale-crash"));
        crash_after(&app, Call::Authorize, request, async || {
            sqlx::Row::get::<i64, _>(&sqlx::query("SELECT COUNT(*) FROM sandbox_charges").fetch_one(app.db().pool()).await.unwrap(), 0) == 1
        })
        .await;
        let payments = |app: &TestApp| {
            let pool = app.db().pool().clone();
            async move { sqlx::Row::get::<i64, _>(&sqlx::query("SELECT COUNT(*) FROM payments").fetch_one(&pool).await.unwrap(), 0) }
        };
        assert_eq!(payments(&app).await, 0, "charged, not yet recorded");
        assert_eq!(server::payments::recovery::recover_stuck(&app.state, later()).await.unwrap(), 1);
        assert_eq!(payments(&app).await, 1);
        let replay = app.validate(&m, body, Some("sale-crash")).await;
        assert_eq!(replay.status, StatusCode::CREATED, "{}", replay.text());
        let pid = replay.json()["id"].as_str().unwrap().to_owned();
        let p = app.assert_books_balance(&m, &pid).await;
        assert_eq!(p["status"], "captured");
        let charges: i64 = sqlx::Row::get(&sqlx::query("SELECT COUNT(*) FROM sandbox_charges").fetch_one(app.db().pool()).await.unwrap(), 0);
        assert_eq!((charges, payments(&app).await), (1, 1), "one charge, one payment");
        let events = app.events(&m.uid).await.into_iter().filter(|(t, o)| t == "payment.captured" && o["id"] == pid.as_str()).count();
        assert_eq!(events, 1);
    }

    async fn an_authorization_the_processor_never_saw_is_given_up(app) {
        let m = app.merchant().await;
        let body = json!({"amount": 1_100, "currency": "USD", "payment_method": card("4242424242424242")});
        let router = support::interrupted_router(&app, Call::Authorize, When::Before);
        let request = post(&m, "/api/payments/validate", Some(body.clone()), Some("lost-sale"));
        let task = tokio::spawn(async move { tower::ServiceExt::oneshot(router, request).await });
        for _ in 0..500 {
            let ops: i64 = sqlx::Row::get(&sqlx::query("SELECT COUNT(*) FROM payment_operations").fetch_one(app.db().pool()).await.unwrap(), 0);
            if ops == 1 { break }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        task.abort();
        let _ = task.await;
        assert_eq!(server::payments::recovery::recover_stuck(&app.state, later()).await.unwrap(), 1);
        // Nothing was charged and nothing recorded; the key is free for the merchant's retry.
        let r = app.validate(&m, body, Some("lost-sale")).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        let charges: i64 = sqlx::Row::get(&sqlx::query("SELECT COUNT(*) FROM sandbox_charges").fetch_one(app.db().pool()).await.unwrap(), 0);
        assert_eq!(charges, 1);
    }

    async fn a_crash_after_the_processor_voided_is_recovered_into_one_void(app) {
        let m = app.merchant().await;
        let pid = app.authorized(&m, 4_000, false).await;
        let request = post(&m, &format!("/api/payments/{pid}/void"), None, Some("void-crash"));
        crash_after(&app, Call::Void, request, async || {
            count(&app, "SELECT c.voided FROM sandbox_charges c JOIN payments p ON p.processor_ref = c.processor_ref WHERE p.id = $1", &pid).await == 1
        })
        .await;
        assert_eq!(app.payment(&m, &pid).await["status"], "authorized", "released at the processor, not yet recorded");
        app.payment_call(&m, &format!("/api/payments/{pid}/capture"), None, None).await.assert_error(409, "invalid_state");
        assert_eq!(server::payments::recovery::recover_stuck(&app.state, later()).await.unwrap(), 1);
        assert_eq!(app.payment(&m, &pid).await["status"], "voided");
        assert_eq!(app.ledger(&m, &pid).await, vec![("authorization".into(), 4_000), ("void".into(), 4_000)]);
        let replay = app.payment_call(&m, &format!("/api/payments/{pid}/void"), None, Some("void-crash")).await;
        assert_eq!(replay.status, StatusCode::OK, "{}", replay.text());
        assert_eq!(replay.json()["status"], "voided");
    }

    async fn the_expiry_job_in_two_processes_and_a_merchant_void_racing_void_once(app) {
        let m = app.merchant().await;
        let expired = server::store::now_ms() - server::domain::payment::AUTHORIZATION_VALID_MS - 1_000;
        for round in 0..3 {
            let pid = app.authorized(&m, 2_500, false).await;
            sqlx::query("UPDATE payments SET created_at = $1 WHERE id = $2").bind(expired).bind(&pid)
                .execute(app.db().pool()).await.unwrap();
            // A second process's state on the same database and processor.
            let other = server::AppState::with_processor(app.state.config().clone(), app.state.db().clone(), app.state.sandbox());
            let now = server::store::now_ms();
            let job_a = server::payments::movements::expire_authorizations(&app.state, now);
            let job_b = server::payments::movements::expire_authorizations(&other, now);
            let merchant = app.request(post(&m, &format!("/api/payments/{pid}/void"), None, None));
            let (a, b, v) = tokio::join!(job_a, job_b, merchant);
            let by_jobs = a.unwrap() + b.unwrap();
            let by_merchant = usize::from(v.status == StatusCode::OK);
            assert_eq!(by_jobs + by_merchant, 1, "round {round}: one void ({by_jobs} by the jobs, merchant {})", v.text());
            let p = app.assert_books_balance(&m, &pid).await;
            assert_eq!(p["status"], "voided");
            assert_eq!(app.ledger(&m, &pid).await.len(), 2, "authorization and one void");
            assert_eq!(count(&app, "SELECT COUNT(*) FROM payment_operations WHERE payment_id = $1 AND kind = 'void'", &pid).await, 1);
            let voided = app.events(&m.uid).await.iter().filter(|(t, o)| t == "payment.voided" && o["id"] == pid).count();
            assert_eq!(voided, 1);
        }
    }

    async fn a_crash_after_the_processor_voided_an_expired_authorization_is_recovered_into_one_void(app) {
        let m = app.merchant().await;
        let pid = app.authorized(&m, 4_500, false).await;
        let expired = server::store::now_ms() - server::domain::payment::AUTHORIZATION_VALID_MS - 1_000;
        sqlx::query("UPDATE payments SET created_at = $1 WHERE id = $2").bind(expired).bind(&pid)
            .execute(app.db().pool()).await.unwrap();
        // The job's process dies once the processor has released the hold, before the record.
        let dying = support::interrupted_state(&app, Call::Void, When::After);
        let now = server::store::now_ms();
        let job = tokio::spawn(async move { server::payments::movements::expire_authorizations(&dying, now).await });
        let sql = "SELECT c.voided FROM sandbox_charges c JOIN payments p ON p.processor_ref = c.processor_ref WHERE p.id = $1";
        let mut released = false;
        for _ in 0..500 {
            if count(&app, sql, &pid).await == 1 {
                released = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert!(released, "the processor never released the hold");
        job.abort();
        let _ = job.await;
        assert_eq!(app.payment(&m, &pid).await["status"], "authorized", "released at the processor, not yet recorded");
        // Another process's pass does not void it again: the dead one's void still holds it.
        assert_eq!(server::payments::movements::expire_authorizations(&app.state, server::store::now_ms()).await.unwrap(), 0);
        assert_eq!(server::payments::recovery::recover_stuck(&app.state, later()).await.unwrap(), 1);
        let p = app.assert_books_balance(&m, &pid).await;
        assert_eq!(p["status"], "voided");
        assert_eq!(app.ledger(&m, &pid).await, vec![("authorization".into(), 4_500), ("void".into(), 4_500)]);
        let voided = app.events(&m.uid).await.iter().filter(|(t, o)| t == "payment.voided" && o["id"] == pid).count();
        assert_eq!(voided, 1);
        assert_eq!(server::payments::movements::expire_authorizations(&app.state, server::store::now_ms()).await.unwrap(), 0);
    }

    async fn an_expired_authorization_whose_void_is_refused_is_tried_again_later_not_at_every_pass(app) {
        let m = app.merchant().await;
        let window = server::domain::payment::AUTHORIZATION_VALID_MS;
        let now = server::store::now_ms();
        let pid = app.authorized(&m, 3_300, false).await;
        // A second past its deadline: put off by the shortest wait, 5 s.
        sqlx::query("UPDATE payments SET created_at = $1 WHERE id = $2").bind(now - window - 1_000).bind(&pid)
            .execute(app.db().pool()).await.unwrap();
        let voids = async || count(&app, "SELECT COUNT(*) FROM payment_operations WHERE payment_id = $1 AND kind = 'void'", &pid).await;
        // The processor refuses the void: the payment stays authorized, and is put off.
        let refusing = support::interrupted_state(&app, Call::Void, When::Refuse);
        assert_eq!(server::payments::movements::expire_authorizations(&refusing, now).await.unwrap(), 0);
        assert_eq!((app.payment(&m, &pid).await["status"].clone(), voids().await), (json!("authorized"), 1));
        // Passes right after it, in any process, leave it alone (no call, no operation)...
        let soon = now + server::domain::time::RECHECK_SOONEST_MS - 1;
        assert_eq!(server::payments::movements::expire_authorizations(&refusing, soon).await.unwrap(), 0);
        assert_eq!(server::payments::movements::expire_authorizations(&app.state, soon).await.unwrap(), 0);
        assert_eq!(voids().await, 1, "not tried again at every pass");
        // ...while one expired behind it is voided as usual...
        let behind = app.authorized(&m, 700, false).await;
        sqlx::query("UPDATE payments SET created_at = $1 WHERE id = $2").bind(now - window - 1_000).bind(&behind)
            .execute(app.db().pool()).await.unwrap();
        assert_eq!(server::payments::movements::expire_authorizations(&app.state, soon).await.unwrap(), 1);
        assert_eq!(app.payment(&m, &behind).await["status"], "voided");
        // ...and once its time comes, it is tried again, and voided.
        let later = now + server::domain::time::RECHECK_SOONEST_MS + 1;
        assert_eq!(server::payments::movements::expire_authorizations(&app.state, later).await.unwrap(), 1);
        let p = app.assert_books_balance(&m, &pid).await;
        assert_eq!((p["status"].clone(), voids().await), (json!("voided"), 2));
    }

    async fn a_crash_after_a_terminal_charge_is_recovered_and_frees_the_terminal(app) {
        let m = app.merchant().await;
        let t = app.call(axum::http::Method::POST, "/api/terminals", support::Auth::Bearer(&m.key), Some(json!({"label": "Desk", "serial_number": "SN-CRASH"}))).await.json();
        let tid = t["id"].as_str().unwrap().to_owned();
        let p = app.call(axum::http::Method::POST, format!("/api/terminals/{tid}/payments"), support::Auth::Bearer(&m.key), Some(json!({"amount": 1_250, "currency": "USD"}))).await.json();
        let pid = p["id"].as_str().unwrap().to_owned();
        let request = post(&m, &format!("/api/terminals/{tid}/simulate"), Some(json!({"card_number": "4242424242424242"})), None);
        crash_after(&app, Call::Authorize, request, async || {
            sqlx::Row::get::<i64, _>(&sqlx::query("SELECT COUNT(*) FROM sandbox_charges").fetch_one(app.db().pool()).await.unwrap(), 0) == 1
        })
        .await;
        assert_eq!(app.payment(&m, &pid).await["status"], "pending_terminal");
        // Charged at the processor: a cancel now would lose that, so it is refused until recovery.
        app.call(axum::http::Method::POST, format!("/api/terminals/{tid}/cancel"), support::Auth::Bearer(&m.key), None).await.assert_error(409, "invalid_state");
        assert_eq!(server::payments::recovery::recover_stuck(&app.state, later()).await.unwrap(), 1);
        let p = app.assert_books_balance(&m, &pid).await;
        assert_eq!(p["status"], "captured");
        let terminal = app.call(axum::http::Method::GET, format!("/api/terminals/{tid}"), support::Auth::Bearer(&m.key), None).await.json();
        assert_eq!(terminal["status"], "online");
        let completed = app.events(&m.uid).await.iter().filter(|(t, o)| t == "terminal.payment.completed" && o["id"] == pid.as_str()).count();
        assert_eq!(completed, 1);
    }

    async fn a_presented_card_the_processor_refuses_fails_the_payment(app) {
        let m = app.merchant().await;
        let t = app.call(axum::http::Method::POST, "/api/terminals", support::Auth::Bearer(&m.key), Some(json!({"label": "Desk", "serial_number": "SN-REFUSE"}))).await.json();
        let tid = t["id"].as_str().unwrap().to_owned();
        let p = app.call(axum::http::Method::POST, format!("/api/terminals/{tid}/payments"), support::Auth::Bearer(&m.key), Some(json!({"amount": 700, "currency": "USD"}))).await.json();
        let pid = p["id"].as_str().unwrap().to_owned();
        let router = support::interrupted_router(&app, Call::Authorize, When::Refuse);
        let request = post(&m, &format!("/api/terminals/{tid}/simulate"), Some(json!({"card_number": "4242424242424242"})), None);
        let r = support::TestResponse::read(tower::ServiceExt::oneshot(router, request).await.unwrap()).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        // A decline of a fixed code, not the processor's own text.
        assert_eq!(r.json()["status"], "failed");
        assert_eq!(r.json()["decline_code"], "invalid_payment_method");
        let p = app.assert_books_balance(&m, &pid).await;
        assert_eq!(p["decline_code"], "invalid_payment_method");
        let terminal = app.call(axum::http::Method::GET, format!("/api/terminals/{tid}"), support::Auth::Bearer(&m.key), None).await.json();
        assert_eq!(terminal["status"], "online", "free for the next card");
    }

    async fn a_presented_card_approved_after_recovery_gave_it_up_is_refunded_and_refused(app) {
        let m = app.merchant().await;
        let t = app.call(axum::http::Method::POST, "/api/terminals", support::Auth::Bearer(&m.key), Some(json!({"label": "Desk", "serial_number": "SN-LATE"}))).await.json();
        let tid = t["id"].as_str().unwrap().to_owned();
        let p = app.call(axum::http::Method::POST, format!("/api/terminals/{tid}/payments"), support::Auth::Bearer(&m.key), Some(json!({"amount": 1_900, "currency": "USD"}))).await.json();
        let pid = p["id"].as_str().unwrap().to_owned();
        let gate = Arc::new(tokio::sync::Notify::new());
        let router = support::interrupted_router(&app, Call::Authorize, When::GateBefore(gate.clone()));
        let request = post(&m, &format!("/api/terminals/{tid}/simulate"), Some(json!({"card_number": "4242424242424242"})), None);
        let task = tokio::spawn(async move { tower::ServiceExt::oneshot(router, request).await });
        let charges = "SELECT COUNT(*) FROM payment_operations WHERE payment_id = $1 AND kind = 'terminal_charge'";
        for _ in 0..500 {
            if count(&app, charges, &pid).await == 1 { break }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        // Recovery asks the processor, which has not seen the card yet: the attempt is given up
        // and the payment waits for a card again.
        assert_eq!(server::payments::recovery::recover_stuck(&app.state, later()).await.unwrap(), 1);
        assert_eq!(app.payment(&m, &pid).await["status"], "pending_terminal");
        gate.notify_one();
        let late = support::TestResponse::read(task.await.unwrap().unwrap()).await;
        late.assert_error(409, "invalid_state");
        let row = sqlx::query("SELECT c.captured, c.refunded FROM sandbox_charges c JOIN payment_operations o ON o.id = c.reference WHERE o.payment_id = $1")
            .bind(&pid).fetch_one(app.db().pool()).await.unwrap();
        let (captured, refunded): (i64, i64) = (sqlx::Row::get(&row, 0), sqlx::Row::get(&row, 1));
        assert_eq!((captured, refunded), (1_900, 1_900), "the approval was refunded at the processor");
        assert_eq!(app.payment(&m, &pid).await["status"], "pending_terminal", "not charged: the card is presented again");
        let r = app.call(axum::http::Method::POST, format!("/api/terminals/{tid}/simulate"), support::Auth::Bearer(&m.key), Some(json!({"card_number": "4242424242424242"}))).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        assert_eq!(app.assert_books_balance(&m, &pid).await["status"], "captured");
    }

    async fn a_refund_whose_record_fails_after_the_processor_refunded_keeps_its_key(app) {
        let m = app.merchant().await;
        let pid = app.authorized(&m, 10_000, true).await;
        let path = format!("/api/payments/{pid}/refund");
        let gate = Arc::new(tokio::sync::Notify::new());
        let router = support::interrupted_router(&app, Call::Refund, When::Gate(gate.clone()));
        let request = post(&m, &path, Some(json!({"amount": 4_000})), Some("refund-unrecorded"));
        let task = tokio::spawn(async move { tower::ServiceExt::oneshot(router, request).await });
        for _ in 0..500 {
            if app.processor_refunds(&pid).await == 1 { break }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert_eq!(app.processor_refunds(&pid).await, 1);
        // The processor refunded; the write that records it fails (the ledger is away a moment).
        let rename = |from: &str, to: &str| format!("ALTER TABLE {from} RENAME TO {to}");
        sqlx::query(&rename("payment_transactions", "payment_transactions_away")).execute(app.db().writer()).await.unwrap();
        gate.notify_one();
        let failed = support::TestResponse::read(task.await.unwrap().unwrap()).await;
        sqlx::query(&rename("payment_transactions_away", "payment_transactions")).execute(app.db().writer()).await.unwrap();
        assert_eq!(failed.status, StatusCode::INTERNAL_SERVER_ERROR, "{}", failed.text());
        // The money moved, so the key stays with the refund: a retry is 409, never a second refund.
        let retry = app.payment_call(&m, &path, Some(json!({"amount": 4_000})), Some("refund-unrecorded")).await;
        retry.assert_error(409, "idempotency_in_progress");
        assert_eq!(app.processor_refunds(&pid).await, 1);
        // Recovery records the refund the processor made, once, and answers the key with it.
        assert_eq!(server::payments::recovery::recover_stuck(&app.state, later()).await.unwrap(), 1);
        let replay = app.payment_call(&m, &path, Some(json!({"amount": 4_000})), Some("refund-unrecorded")).await;
        assert_eq!(replay.status, StatusCode::CREATED, "{}", replay.text());
        assert_eq!((replay.json()["status"].as_str(), replay.json()["amount"].as_i64()), (Some("succeeded"), Some(4_000)));
        assert_eq!(app.processor_refunds(&pid).await, 1, "one refund at the processor");
        let p = app.assert_books_balance(&m, &pid).await;
        assert_eq!(p["amount_refunded"], 4_000);
    }

    async fn a_capture_the_processor_refuses_in_recovery_answers_its_key(app) {
        let m = app.merchant().await;
        let pid = app.authorized(&m, 5_000, false).await;
        let path = format!("/api/payments/{pid}/capture");
        let router = support::interrupted_router(&app, Call::Capture, When::Before);
        let request = post(&m, &path, Some(json!({"amount": 5_000})), Some("capture-refused"));
        let task = tokio::spawn(async move { tower::ServiceExt::oneshot(router, request).await });
        for _ in 0..500 {
            if count(&app, "SELECT COUNT(*) FROM payment_operations WHERE payment_id = $1 AND kind = 'capture'", &pid).await == 1 { break }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        task.abort(); // the process dies before the call goes out
        let _ = task.await;
        // Meanwhile the authorization lapsed at the processor, which now refuses the capture.
        sqlx::query("UPDATE sandbox_charges SET voided = 1 WHERE processor_ref = (SELECT processor_ref FROM payments WHERE id = $1)")
            .bind(&pid)
            .execute(app.db().writer())
            .await
            .unwrap();
        assert_eq!(server::payments::recovery::recover_stuck(&app.state, later()).await.unwrap(), 1);
        // The refusal is the key's answer: a retry replays it instead of waiting on the key.
        // (Written by recovery, it names a request id of its own, which the replay's header
        // repeats, as any error's does.)
        let replay = app.payment_call(&m, &path, Some(json!({"amount": 5_000})), Some("capture-refused")).await;
        let error = replay.assert_error(409, "invalid_state");
        assert!(error["request_id"].as_str().is_some_and(|id| id.starts_with("req_")), "{error}");
        assert_eq!(replay.header("idempotent-replayed"), Some("true"));
        assert_eq!(app.payment(&m, &pid).await["status"], "authorized", "let go, not captured");
    }

    async fn an_authorization_approved_after_recovery_gave_it_up_is_undone(app) {
        late_approval_after_recovery_is_undone(&app, card("4242424242424242")).await;
    }

    async fn an_authorization_approved_after_recovery_gave_it_up_is_voided_though_its_server_died(app) {
        let m = app.merchant().await;
        let gate = Arc::new(tokio::sync::Notify::new());
        let router = support::interrupted_router(&app, Call::Authorize, When::GateBeforeThenHang(gate.clone()));
        let body = json!({"amount": 3_300, "currency": "USD", "payment_method": card("4242424242424242"), "capture": false});
        let request = post(&m, "/api/payments/validate", Some(body), Some("dying-sale"));
        let task = tokio::spawn(async move { tower::ServiceExt::oneshot(router, request).await });
        let op = async || -> Option<String> {
            sqlx::query_scalar("SELECT id FROM payment_operations WHERE account_uid = $1 AND kind = 'authorize'")
                .bind(&m.uid).fetch_optional(app.db().pool()).await.unwrap()
        };
        let mut reference = None;
        for _ in 0..500 {
            reference = op().await;
            if reference.is_some() { break }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        let reference = reference.expect("the authorization's operation");
        assert_eq!(server::payments::recovery::recover_stuck(&app.state, later()).await.unwrap(), 1);
        assert!(server::store::abandoned::watched(app.db(), &reference).await.unwrap());
        // The slow call is approved at the processor; its server dies before the undo.
        gate.notify_one();
        let charge = async || -> Option<(i64, i64)> {
            sqlx::query("SELECT amount, voided FROM sandbox_charges WHERE reference = $1").bind(&reference)
                .fetch_optional(app.db().pool()).await.unwrap().map(|r| (sqlx::Row::get(&r, 0), sqlx::Row::get(&r, 1)))
        };
        for _ in 0..500 {
            if charge().await.is_some() { break }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        task.abort();
        let _ = task.await;
        assert_eq!(charge().await, Some((3_300, 0)), "approved, and not undone by its request");
        let due = server::store::now_ms() + server::domain::time::RECHECK_SOONEST_MS + 1_000;
        assert_eq!(server::payments::abandoned::watch_due(&app.state, due).await.unwrap(), 1);
        let voided = charge().await.unwrap().1;
        assert_ne!(voided, 0, "the authorization was let go at the processor");
        assert!(!server::store::abandoned::watched(app.db(), &reference).await.unwrap());
        assert_eq!(count(&app, "SELECT COUNT(*) FROM payments WHERE account_uid = $1", &m.uid).await, 0);
    }

    async fn a_bank_debit_accepted_after_recovery_gave_it_up_is_refunded_once_it_settles(app) {
        // An accepted debit cannot be voided, and one refunded before it settles would be paid
        // back twice if it then came back: the watch refunds it once it has settled.
        let (m, reference) = late_bank_debit(&app, "000123456789").await;
        let refunded = async || count(&app, "SELECT refunded FROM sandbox_charges WHERE reference = $1", &reference).await;
        assert_eq!(refunded().await, 0, "not before it settles");
        // Still settling however slow this test runs.
        sqlx::query("UPDATE sandbox_charges SET settle_at = $1 WHERE reference = $2").bind(server::store::now_ms() + 86_400_000).bind(&reference).execute(app.db().writer()).await.unwrap();
        assert!(server::store::abandoned::watched(app.db(), &reference).await.unwrap());
        let due = server::store::now_ms() + server::domain::time::RECHECK_SOONEST_MS + 1_000;
        assert_eq!(server::payments::abandoned::watch_due(&app.state, due).await.unwrap(), 0, "still settling");
        assert_eq!(refunded().await, 0);
        sqlx::query("UPDATE sandbox_charges SET settle_at = 1 WHERE reference = $1").bind(&reference).execute(app.db().writer()).await.unwrap();
        let later = due + server::domain::time::RECHECK_LATEST_MS;
        assert_eq!(server::payments::abandoned::watch_due(&app.state, later).await.unwrap(), 1);
        assert_eq!(refunded().await, 2_100, "refunded in full once settled");
        assert!(!server::store::abandoned::watched(app.db(), &reference).await.unwrap());
        assert_eq!(count(&app, "SELECT COUNT(*) FROM payments WHERE account_uid = $1", &m.uid).await, 0);
    }

    async fn a_bank_debit_accepted_after_recovery_gave_it_up_and_returned_needs_nothing(app) {
        let (_, reference) = late_bank_debit(&app, "000222222227").await;
        sqlx::query("UPDATE sandbox_charges SET settle_at = 1 WHERE reference = $1").bind(&reference).execute(app.db().writer()).await.unwrap();
        let due = server::store::now_ms() + server::domain::time::RECHECK_SOONEST_MS + 1_000;
        assert_eq!(server::payments::abandoned::watch_due(&app.state, due).await.unwrap(), 1);
        assert_eq!(count(&app, "SELECT refunded FROM sandbox_charges WHERE reference = $1", &reference).await, 0, "the debit came back: nothing to pay back");
        assert!(!server::store::abandoned::watched(app.db(), &reference).await.unwrap());
    }

    async fn a_card_declined_after_recovery_gave_it_up_is_said_to_have_taken_nothing(app) {
        let m = app.merchant().await;
        let gate = Arc::new(tokio::sync::Notify::new());
        let router = support::interrupted_router(&app, Call::Authorize, When::GateBefore(gate.clone()));
        let body = json!({"amount": 900, "currency": "USD", "payment_method": card("4000000000000002"), "capture": true});
        let request = post(&m, "/api/payments/validate", Some(body), Some("late-decline"));
        let task = tokio::spawn(async move { tower::ServiceExt::oneshot(router, request).await });
        let reference = wait_for_authorization(&app, &m).await;
        assert_eq!(server::payments::recovery::recover_stuck(&app.state, later()).await.unwrap(), 1);
        gate.notify_one();
        let late = support::TestResponse::read(task.await.unwrap().unwrap()).await;
        late.assert_error(409, "invalid_state");
        assert!(late.text().contains("nothing was taken"), "not an approval undone: {}", late.text());
        assert!(!server::store::abandoned::watched(app.db(), &reference).await.unwrap(), "nothing left to watch");
    }

    async fn an_undo_the_processor_does_not_answer_is_made_by_the_watch(app) {
        let (reference, amount) = given_up_then_charged(&app).await;
        let refunded = async || count(&app, "SELECT refunded FROM sandbox_charges WHERE reference = $1", &reference).await;
        let due = server::store::now_ms() + server::domain::time::RECHECK_SOONEST_MS + 1_000;
        let down = support::interrupted_state(&app, Call::Refund, When::Down);
        assert_eq!(server::payments::abandoned::watch_due(&down, due).await.unwrap(), 0);
        assert_eq!(refunded().await, 0);
        assert!(server::store::abandoned::watched(app.db(), &reference).await.unwrap(), "asked again later");
        let later = due + server::domain::time::RECHECK_LATEST_MS;
        assert_eq!(server::payments::abandoned::watch_due(&app.state, later).await.unwrap(), 1);
        assert_eq!(refunded().await, amount);
        // An undo made again (as the request and the watch, or two processes, may both make it)
        // is one refund: the processor takes the undo's reference once.
        sqlx::query("INSERT INTO abandoned_charges (reference, account_uid, amount, abandoned_at, check_at) SELECT $1, account_uid, $2, 0, 0 FROM payment_operations WHERE id = $1")
            .bind(&reference).bind(amount).execute(app.db().writer()).await.unwrap();
        assert_eq!(server::payments::abandoned::watch_due(&app.state, later).await.unwrap(), 1);
        assert_eq!(refunded().await, amount, "refunded once");
        assert_eq!(count(&app, "SELECT COUNT(*) FROM sandbox_operations WHERE reference = $1 || '_undo'", &reference).await, 1);
    }

    async fn outside_sandbox_mode_the_outbox_is_not_found_and_a_watch_is_kept(app) {
        let m = app.merchant().await;
        let master_key = app.state.config().master_key.to_base64();
        let config = support::test_config(&app.db.url, app.assets.path(), &[("GOVIFI_SANDBOX", "false"), ("GOVIFI_MASTER_KEY", &master_key)]);
        let outside = server::AppState::with_db(config, app.db().clone());
        // The outbox holds challenge codes: the sandbox's only (SPEC §10).
        let outbox = || axum::http::Request::get("/api/outbox").header("authorization", format!("Bearer {}", m.token)).body(axum::body::Body::empty()).unwrap();
        assert_eq!(app.request(outbox()).await.status, StatusCode::OK);
        let r = support::TestResponse::read(tower::ServiceExt::oneshot(server::router(outside.clone()), outbox()).await.unwrap()).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text());
        // A process that cannot ask the processor keeps the watch for one that can.
        let (reference, amount) = given_up_then_charged(&app).await;
        let due = server::store::now_ms() + server::domain::time::RECHECK_SOONEST_MS + 1_000;
        assert_eq!(server::payments::abandoned::watch_due(&outside, due).await.unwrap(), 0);
        assert!(server::store::abandoned::watched(app.db(), &reference).await.unwrap());
        let later = due + server::domain::time::RECHECK_LATEST_MS;
        assert_eq!(server::payments::abandoned::watch_due(&app.state, later).await.unwrap(), 1);
        assert_eq!(count(&app, "SELECT refunded FROM sandbox_charges WHERE reference = $1", &reference).await, amount);
    }

    async fn a_refund_the_processor_refuses_is_failed_with_its_event_and_gives_its_amount_back(app) {
        let m = app.merchant().await;
        let pid = app.authorized(&m, 10_000, true).await;
        let refusing = support::interrupted_router(&app, Call::Refund, When::Refuse);
        let path = format!("/api/payments/{pid}/refund");
        let send = |router: axum::Router, key: &'static str| {
            let request = axum::http::Request::post(path.clone())
                .header("authorization", format!("Bearer {}", m.key))
                .header("content-type", "application/json")
                .header("idempotency-key", key)
                .body(axum::body::Body::from(json!({"amount": 4_000}).to_string()))
                .unwrap();
            async move { support::TestResponse::read(tower::ServiceExt::oneshot(router, request).await.unwrap()).await }
        };
        let r = send(refusing.clone(), "refused-1").await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        let refund = r.json();
        assert_eq!((refund["status"].as_str(), refund["amount"].as_i64()), (Some("failed"), Some(4_000)), "{refund}");
        // Nothing moved: the payment is as it was, its whole amount still refundable.
        let p = app.assert_books_balance(&m, &pid).await;
        assert_eq!((p["status"].as_str(), p["amount_refunded"].as_i64()), (Some("captured"), Some(0)));
        assert_eq!(app.ledger(&m, &pid).await, vec![("authorization".into(), 10_000), ("capture".into(), 10_000)]);
        // Its key answers the same refusal, with no second call.
        let replay = send(app.router.clone(), "refused-1").await;
        assert_eq!((replay.status, replay.json()["id"].clone()), (StatusCode::CREATED, refund["id"].clone()));
        // Listed, and announced once, with no `payment.refunded`.
        let listed = app.call(Method::GET, format!("/api/payments/{pid}/refunds"), Auth::Bearer(&m.key), None).await.json();
        assert_eq!(listed["value"][0]["status"], "failed");
        let events = app.events(&m.uid).await;
        let created: Vec<&Value> = events.iter().filter(|(t, o)| t == "refund.created" && o["payment_id"] == pid.as_str()).map(|(_, o)| o).collect();
        assert_eq!(created.len(), 1, "{events:?}");
        assert_eq!((created[0]["id"].clone(), created[0]["status"].as_str()), (refund["id"].clone(), Some("failed")));
        assert!(!events.iter().any(|(t, o)| t == "payment.refunded" && o["id"] == pid.as_str()));
        // The amount it reserved is back: the whole payment refunds now.
        let r = send(app.router.clone(), "after-refusal").await;
        assert_eq!((r.status, r.json()["status"].as_str().map(str::to_owned)), (StatusCode::CREATED, Some("succeeded".into())), "{}", r.text());
        let full = app.payment_call(&m, &path, Some(json!({"amount": 6_000})), None).await;
        assert_eq!(full.status, StatusCode::CREATED, "{}", full.text());
        assert_eq!(app.assert_books_balance(&m, &pid).await["status"], "refunded");
    }

    async fn an_undo_the_processor_refuses_is_kept_for_an_operator(app) {
        let (reference, _) = given_up_then_charged(&app).await;
        let due = server::store::now_ms() + server::domain::time::RECHECK_SOONEST_MS + 1_000;
        let refusing = support::interrupted_state(&app, Call::Refund, When::Refuse);
        assert_eq!(server::payments::abandoned::watch_due(&refusing, due).await.unwrap(), 1);
        let refusal: Option<String> = sqlx::query_scalar("SELECT refusal FROM abandoned_charges WHERE reference = $1").bind(&reference).fetch_one(app.db().pool()).await.unwrap();
        assert_eq!(refusal.as_deref(), Some("refused (test)"), "kept, with why");
        // The watch no longer looks at it.
        assert_eq!(server::payments::abandoned::watch_due(&app.state, due + 2 * server::domain::time::RECHECK_LATEST_MS).await.unwrap(), 0);
        assert_eq!(count(&app, "SELECT refunded FROM sandbox_charges WHERE reference = $1", &reference).await, 0);
    }
}

async fn late_approval_after_recovery_is_undone(app: &TestApp, payment_method: Value) {
    let m = app.merchant().await;
    let gate = Arc::new(tokio::sync::Notify::new());
    let router = support::interrupted_router(app, Call::Authorize, When::GateBefore(gate.clone()));
    let body = json!({"amount": 2_100, "currency": "USD", "payment_method": payment_method, "capture": true});
    let request = post(&m, "/api/payments/validate", Some(body), Some("late-sale"));
    let task = tokio::spawn(async move { tower::ServiceExt::oneshot(router, request).await });
    let authorizations = "SELECT COUNT(*) FROM payment_operations WHERE account_uid = $1 AND kind = 'authorize'";
    for _ in 0..500 {
        if count(app, authorizations, &m.uid).await == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    // Recovery asks the processor, which has not seen the call yet: the operation is given up.
    assert_eq!(server::payments::recovery::recover_stuck(&app.state, later()).await.unwrap(), 1);
    // Only then does the slow call reach the processor, which approves and captures it.
    gate.notify_one();
    let late = support::TestResponse::read(task.await.unwrap().unwrap()).await;
    late.assert_error(409, "invalid_state");
    // No payment records that charge, so it was refunded in full at the processor.
    let charge = sqlx::query("SELECT c.captured, c.refunded FROM sandbox_charges c JOIN payment_operations o ON o.id = c.reference WHERE o.account_uid = $1")
            .bind(&m.uid)
            .fetch_one(app.db().pool())
            .await
            .unwrap();
    let (captured, refunded): (i64, i64) = (sqlx::Row::get(&charge, 0), sqlx::Row::get(&charge, 1));
    assert_eq!((captured, refunded), (2_100, 2_100));
    assert_eq!(count(app, "SELECT COUNT(*) FROM payments WHERE account_uid = $1", &m.uid).await, 0);
}

db_tests! {
    async fn a_late_answer_after_recovery_changes_nothing(app) {
        let m = app.merchant().await;
        let pid = app.authorized(&m, 6_000, true).await;
        let gate = Arc::new(tokio::sync::Notify::new());
        let router = support::interrupted_router(&app, Call::Refund, When::Gate(gate.clone()));
        let request = post(&m, &format!("/api/payments/{pid}/refund"), Some(json!({"amount": 6_000})), None);
        let task = tokio::spawn(async move { tower::ServiceExt::oneshot(router, request).await });
        for _ in 0..500 {
            if app.processor_refunds(&pid).await == 1 { break }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert_eq!(server::payments::recovery::recover_stuck(&app.state, later()).await.unwrap(), 1);
        gate.notify_one();
        let late = support::TestResponse::read(task.await.unwrap().unwrap()).await;
        assert_eq!(late.status, StatusCode::CREATED, "{}", late.text());
        assert_eq!(late.json()["status"], "succeeded", "the refund that recovery recorded");
        let p = app.assert_books_balance(&m, &pid).await;
        assert_eq!(p["status"], "refunded");
        assert_eq!(count(&app, "SELECT COUNT(*) FROM payment_transactions WHERE payment_id = $1 AND type = 'refund'", &pid).await, 1);
        assert_eq!(app.events(&m.uid).await.iter().filter(|(t, _)| t == "refund.created").count(), 1);
    }
}

/// A bank debit from `account` whose call reached the processor only after recovery gave its
/// operation up: its request answered 409. The merchant and the operation's id.
async fn late_bank_debit(app: &TestApp, account: &str) -> (Merchant, String) {
    let m = app.merchant().await;
    let gate = Arc::new(tokio::sync::Notify::new());
    let router = support::interrupted_router(app, Call::Authorize, When::GateBefore(gate.clone()));
    let body = json!({"amount": 2_100, "currency": "USD", "payment_method": support::ach(account), "capture": true});
    let request = post(&m, "/api/payments/validate", Some(body), Some("late-debit"));
    let task = tokio::spawn(async move { tower::ServiceExt::oneshot(router, request).await });
    let reference = wait_for_authorization(app, &m).await;
    assert_eq!(server::payments::recovery::recover_stuck(&app.state, later()).await.unwrap(), 1);
    gate.notify_one();
    let late = support::TestResponse::read(task.await.unwrap().unwrap()).await;
    late.assert_error(409, "invalid_state");
    assert!(late.text().contains("refunded once it settles"), "{}", late.text());
    (m, reference)
}

/// A captured card charge under an operation recovery gave up, whose request died before it
/// could undo it: the operation's id and the amount.
async fn given_up_then_charged(app: &TestApp) -> (String, i64) {
    let m = app.merchant().await;
    let gate = Arc::new(tokio::sync::Notify::new());
    let router = support::interrupted_router(app, Call::Authorize, When::GateBeforeThenHang(gate.clone()));
    let body = json!({"amount": 1_700, "currency": "USD", "payment_method": card("4242424242424242"), "capture": true});
    let request = post(&m, "/api/payments/validate", Some(body), Some("dies"));
    let task = tokio::spawn(async move { tower::ServiceExt::oneshot(router, request).await });
    let reference = wait_for_authorization(app, &m).await;
    assert_eq!(server::payments::recovery::recover_stuck(&app.state, later()).await.unwrap(), 1);
    gate.notify_one();
    for _ in 0..500 {
        if count(app, "SELECT COUNT(*) FROM sandbox_charges WHERE reference = $1", &reference).await == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    task.abort();
    let _ = task.await;
    assert_eq!(count(app, "SELECT captured FROM sandbox_charges WHERE reference = $1", &reference).await, 1_700);
    (reference, 1_700)
}

/// The id of the merchant's one authorization, once its operation is recorded.
async fn wait_for_authorization(app: &TestApp, m: &Merchant) -> String {
    for _ in 0..500 {
        let id: Option<String> =
            sqlx::query_scalar("SELECT id FROM payment_operations WHERE account_uid = $1 AND kind = 'authorize'")
                .bind(&m.uid)
                .fetch_optional(app.db().pool())
                .await
                .unwrap();
        if let Some(id) = id {
            return id;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("no authorization was recorded");
}
