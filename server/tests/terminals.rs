//! Card-present terminals: registering them, one pending payment at a time, a card presented
//! (approved or declined), a cancel, and the events, on SQLite and PostgreSQL.

mod support;

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};
use support::{Auth, Merchant, TestApp};

async fn terminal(app: &TestApp, m: &Merchant, serial: &str) -> Value {
    let r = app
        .call(
            Method::POST,
            "/api/terminals",
            Auth::Bearer(&m.key),
            Some(json!({"label": "Front desk", "serial_number": serial, "model": "S700", "location": "City Hall"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    r.json()
}

async fn start(app: &TestApp, m: &Merchant, tid: &str, amount: i64) -> support::TestResponse {
    app.call(
        Method::POST,
        format!("/api/terminals/{tid}/payments"),
        Auth::Bearer(&m.key),
        Some(json!({"amount": amount, "currency": "USD", "reference": "COUNTER-1"})),
    )
    .await
}

async fn present(app: &TestApp, m: &Merchant, tid: &str, number: &str) -> support::TestResponse {
    app.call(
        Method::POST,
        format!("/api/terminals/{tid}/simulate"),
        Auth::Bearer(&m.key),
        Some(json!({"card_number": number})),
    )
    .await
}

async fn status_of(app: &TestApp, m: &Merchant, tid: &str) -> Value {
    app.call(Method::GET, format!("/api/terminals/{tid}"), Auth::Bearer(&m.key), None).await.json()
}

db_tests! {
    async fn an_approved_card_completes_the_pending_payment(app) {
        let m = app.merchant().await;
        let t = terminal(&app, &m, "SN-1").await;
        assert_eq!(t["object"], "terminal");
        assert_eq!(t["status"], "online");
        let tid = t["id"].as_str().unwrap().to_owned();
        assert!(tid.starts_with("trm_"));
        let r = start(&app, &m, &tid, 2_500).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        let p = r.json();
        assert_eq!(p["status"], "pending_terminal");
        assert_eq!(p["terminal_id"], tid);
        assert_eq!(p["fee_amount"], 0);
        let pid = p["id"].as_str().unwrap().to_owned();
        let busy = status_of(&app, &m, &tid).await;
        assert_eq!(busy["status"], "busy");
        assert_eq!(busy["payment_id"], pid);
        // One pending payment at a time; a busy terminal is neither deleted nor switched off.
        start(&app, &m, &tid, 100).await.assert_error(409, "resource_in_use");
        app.call(Method::DELETE, format!("/api/terminals/{tid}"), Auth::Bearer(&m.key), None).await.assert_error(409, "resource_in_use");
        app.call(Method::PATCH, format!("/api/terminals/{tid}"), Auth::Bearer(&m.key), Some(json!({"status": "offline"}))).await.assert_error(409, "resource_in_use");

        let r = present(&app, &m, &tid, "4242424242424242").await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        let done = r.json();
        assert_eq!(done["status"], "captured");
        assert_eq!(done["amount_captured"], 2_500);
        assert_eq!(done["payment_method"]["last4"], "4242");
        assert_eq!(done["payment_method"]["brand"], "visa");
        assert_eq!(status_of(&app, &m, &tid).await["status"], "online");
        assert_eq!(app.ledger(&m, &pid).await, vec![("authorization".into(), 2_500), ("capture".into(), 2_500)]);
        let types: Vec<String> = app.events(&m.uid).await.into_iter().filter(|(_, o)| o["id"] == pid).map(|(t, _)| t).collect();
        // As a direct sale: authorized, captured, succeeded; then the terminal's own.
        assert_eq!(types, vec!["payment.authorized", "payment.captured", "payment.succeeded", "terminal.payment.completed"]);
        // No payment pending any more; the captured one refunds like any other.
        present(&app, &m, &tid, "4242424242424242").await.assert_error(409, "invalid_state");
        let r = app.payment_call(&m, &format!("/api/payments/{pid}/refund"), Some(json!({"amount": 500})), None).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        app.assert_books_balance(&m, &pid).await;
    }

    async fn a_declined_card_fails_the_payment_and_frees_the_terminal(app) {
        let m = app.merchant().await;
        let tid = terminal(&app, &m, "SN-2").await["id"].as_str().unwrap().to_owned();
        let pid = start(&app, &m, &tid, 1_000).await.json()["id"].as_str().unwrap().to_owned();
        present(&app, &m, &tid, "4242424242424241").await.assert_error(402, "incorrect_number");
        assert_eq!(app.payment(&m, &pid).await["status"], "pending_terminal", "a misread card changes nothing");
        let r = present(&app, &m, &tid, "4000000000009995").await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        let p = r.json();
        assert_eq!(p["status"], "failed");
        assert_eq!(p["decline_code"], "insufficient_funds");
        assert_eq!(status_of(&app, &m, &tid).await["status"], "online");
        let types: Vec<String> = app.events(&m.uid).await.into_iter().filter(|(_, o)| o["id"] == pid).map(|(t, _)| t).collect();
        assert_eq!(types, vec!["payment.failed", "terminal.payment.failed"]);
        // The terminal takes the next payment.
        assert_eq!(start(&app, &m, &tid, 1_000).await.status, StatusCode::CREATED);
    }

    async fn a_cancel_voids_the_pending_payment(app) {
        let m = app.merchant().await;
        let tid = terminal(&app, &m, "SN-3").await["id"].as_str().unwrap().to_owned();
        app.call(Method::POST, format!("/api/terminals/{tid}/cancel"), Auth::Bearer(&m.key), None).await.assert_error(409, "invalid_state");
        let pid = start(&app, &m, &tid, 1_000).await.json()["id"].as_str().unwrap().to_owned();
        let r = app.call(Method::POST, format!("/api/terminals/{tid}/cancel"), Auth::Bearer(&m.key), None).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        assert_eq!(r.json()["status"], "voided");
        assert_eq!(status_of(&app, &m, &tid).await["status"], "online");
        present(&app, &m, &tid, "4242424242424242").await.assert_error(409, "invalid_state");
        let types: Vec<String> = app.events(&m.uid).await.into_iter().filter(|(_, o)| o["id"] == pid).map(|(t, _)| t).collect();
        assert_eq!(types, vec!["payment.voided"]);
        // Now it may go offline (and takes no payment), back online, and be retired.
        let r = app.call(Method::PATCH, format!("/api/terminals/{tid}"), Auth::Bearer(&m.key), Some(json!({"status": "offline", "location": null}))).await;
        assert_eq!(r.json()["status"], "offline");
        assert_eq!(r.json()["location"], Value::Null);
        start(&app, &m, &tid, 1_000).await.assert_error(409, "invalid_state");
        app.call(Method::PATCH, format!("/api/terminals/{tid}"), Auth::Bearer(&m.key), Some(json!({"status": "busy"}))).await.assert_error(400, "parameter_invalid");
        app.call(Method::PATCH, format!("/api/terminals/{tid}"), Auth::Bearer(&m.key), Some(json!({"status": "online"}))).await;
        assert_eq!(app.call(Method::DELETE, format!("/api/terminals/{tid}"), Auth::Bearer(&m.key), None).await.status, StatusCode::NO_CONTENT);
        app.call(Method::GET, format!("/api/terminals/{tid}"), Auth::Bearer(&m.key), None).await.assert_error(404, "resource_missing");
    }

    async fn a_void_of_the_pending_payment_cancels_it_at_the_terminal(app) {
        let m = app.merchant().await;
        let tid = terminal(&app, &m, "SN-4").await["id"].as_str().unwrap().to_owned();
        let pid = start(&app, &m, &tid, 1_500).await.json()["id"].as_str().unwrap().to_owned();
        let path = format!("/api/payments/{pid}/void");
        let void = || app.payment_call(&m, &path, None, Some("void-pending"));
        let r = void().await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        assert_eq!(r.json()["status"], "voided");
        assert_eq!(status_of(&app, &m, &tid).await["status"], "online", "the terminal is free again");
        // The key replays the answer; without it, a second void is refused.
        let again = void().await;
        assert_eq!((again.status, again.header("idempotent-replayed")), (StatusCode::OK, Some("true")));
        assert_eq!(again.body, r.body);
        app.payment_call(&m, &path, None, None).await.assert_error(409, "invalid_state");
        let types: Vec<String> = app.events(&m.uid).await.into_iter().filter(|(_, o)| o["id"] == pid).map(|(t, _)| t).collect();
        assert_eq!(types, vec!["payment.voided"]);
    }

    async fn a_payment_that_waits_too_long_for_a_card_is_voided(app) {
        let m = app.merchant().await;
        let tid = terminal(&app, &m, "SN-WAIT").await["id"].as_str().unwrap().to_owned();
        let waiting = start(&app, &m, &tid, 900).await.json()["id"].as_str().unwrap().to_owned();
        let other = terminal(&app, &m, "SN-NEW").await["id"].as_str().unwrap().to_owned();
        let fresh = start(&app, &m, &other, 700).await.json()["id"].as_str().unwrap().to_owned();
        // A pass before the timeout leaves both alone.
        server::jobs::tick(&app.state, false).await;
        assert_eq!(app.payment(&m, &waiting).await["status"], "pending_terminal");
        // The first was started longer ago than the timeout: the next pass voids it and frees
        // its terminal; the other one still waits.
        let long_ago = server::store::now_ms() - server::payments::terminals::PENDING_TIMEOUT_MS - 1_000;
        sqlx::query("UPDATE payments SET created_at = $1 WHERE id = $2").bind(long_ago).bind(&waiting)
            .execute(app.db().pool()).await.unwrap();
        server::jobs::tick(&app.state, false).await;
        assert_eq!(app.payment(&m, &waiting).await["status"], "voided");
        assert_eq!(status_of(&app, &m, &tid).await["status"], "online");
        assert_eq!(app.payment(&m, &fresh).await["status"], "pending_terminal");
        assert_eq!(status_of(&app, &m, &other).await["status"], "busy");
        let types: Vec<String> = app.events(&m.uid).await.into_iter().filter(|(_, o)| o["id"] == waiting).map(|(t, _)| t).collect();
        assert_eq!(types, vec!["payment.voided"]);
        // A card presented now finds nothing pending.
        present(&app, &m, &tid, "4242424242424242").await.assert_error(409, "invalid_state");
    }

    async fn a_start_or_cancel_sent_again_with_its_key_answers_as_the_first(app) {
        let m = app.merchant().await;
        let tid = terminal(&app, &m, "SN-KEY").await["id"].as_str().unwrap().to_owned();
        let bearer = format!("Bearer {}", m.key);
        let keyed = async |path: String, key: &str, body: &str| {
            let headers = [("authorization", bearer.as_str()), ("content-type", "application/json"), ("idempotency-key", key)];
            app.send(Method::POST, &path, &headers, axum::body::Body::from(body.to_owned())).await
        };
        let sale = r#"{"amount": 1200, "currency": "USD"}"#;
        let first = keyed(format!("/api/terminals/{tid}/payments"), "till-7-sale-1", sale).await;
        assert_eq!(first.status, StatusCode::CREATED, "{}", first.text());
        // The till lost the answer and retries: the same payment, not a 409 for its own.
        let again = keyed(format!("/api/terminals/{tid}/payments"), "till-7-sale-1", sale).await;
        assert_eq!(again.status, StatusCode::CREATED, "{}", again.text());
        assert_eq!(again.json()["id"], first.json()["id"]);
        // Another sale while it is pending is still refused.
        keyed(format!("/api/terminals/{tid}/payments"), "till-7-sale-2", sale).await.assert_error(409, "resource_in_use");
        let payments = app.call(Method::GET, "/api/payments", Auth::Bearer(&m.key), None).await.json();
        assert_eq!(payments["value"].as_array().unwrap().len(), 1, "one payment for one sale");

        let cancelled = keyed(format!("/api/terminals/{tid}/cancel"), "till-7-cancel-1", "").await;
        assert_eq!(cancelled.status, StatusCode::OK, "{}", cancelled.text());
        let cancelled_again = keyed(format!("/api/terminals/{tid}/cancel"), "till-7-cancel-1", "").await;
        assert_eq!(cancelled_again.status, StatusCode::OK, "{}", cancelled_again.text());
        assert_eq!((cancelled_again.json()["id"].clone(), cancelled_again.json()["status"].clone()), (first.json()["id"].clone(), json!("voided")));
        // Without its key a second cancel finds nothing pending.
        app.call(Method::POST, format!("/api/terminals/{tid}/cancel"), Auth::Bearer(&m.key), None).await.assert_error(409, "invalid_state");
    }

    async fn racing_payments_on_one_terminal_make_one(app) {
        let m = app.merchant().await;
        let tid = terminal(&app, &m, "SN-4").await["id"].as_str().unwrap().to_owned();
        let calls = (0..10).map(|_| start(&app, &m, &tid, 700));
        let statuses: Vec<u16> = futures_util::future::join_all(calls).await.iter().map(|r| r.status.as_u16()).collect();
        assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 1, "{statuses:?}");
        assert!(statuses.iter().all(|s| *s == 201 || *s == 409), "{statuses:?}");
        // A card presented twice at once is charged once.
        let presents = (0..6).map(|_| present(&app, &m, &tid, "4242424242424242"));
        let answers = futures_util::future::join_all(presents).await;
        assert_eq!(answers.iter().filter(|r| r.status == StatusCode::OK).count(), 1, "{:?}", answers.iter().map(|r| r.text()).collect::<Vec<_>>());
        let charges: i64 = sqlx::Row::get(&sqlx::query("SELECT COUNT(*) FROM sandbox_charges").fetch_one(app.db().pool()).await.unwrap(), 0);
        assert_eq!(charges, 1);
    }

    async fn terminals_are_listed_with_odata_and_checked(app) {
        let m = app.merchant().await;
        terminal(&app, &m, "SN-A").await;
        let b = terminal(&app, &m, "SN-B").await;
        app.call(Method::POST, "/api/terminals", Auth::Bearer(&m.key), Some(json!({"label": "Dup", "serial_number": "SN-A"}))).await.assert_error(409, "resource_in_use");
        app.call(Method::POST, "/api/terminals", Auth::Bearer(&m.key), Some(json!({"serial_number": "SN-C"}))).await.assert_error(400, "parameter_missing");
        app.call(Method::POST, "/api/terminals", Auth::Bearer(&m.key), Some(json!({"label": "X", "serial_number": "SN-D", "colour": "red"}))).await.assert_error(400, "unknown_field");
        let r = app.call(Method::GET, "/api/terminals?$filter=serial_number eq 'SN-B'&$select=id,serial_number,status&$count=true", Auth::Bearer(&m.key), None).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        assert_eq!(r.json()["value"], json!([{"id": b["id"], "serial_number": "SN-B", "status": "online"}]));
        assert_eq!(r.json()["@odata.count"], 1);
        app.call(Method::GET, "/api/terminals?$filter=model eq 'S700'", Auth::Bearer(&m.key), None).await.assert_error(400, "invalid_odata");
        // Scopes: terminals.read lists but cannot start payments.
        let reader = app.api_key(&m.token, &m.uid, &["terminals.read"]).await;
        assert_eq!(app.call(Method::GET, "/api/terminals", Auth::Bearer(&reader), None).await.status, StatusCode::OK);
        let tid = b["id"].as_str().unwrap();
        app.call(Method::POST, format!("/api/terminals/{tid}/payments"), Auth::Bearer(&reader), Some(json!({"amount": 1, "currency": "USD"}))).await.assert_error(403, "insufficient_scope");
        // Another account's terminal does not exist here.
        let other = app.merchant().await;
        app.call(Method::GET, format!("/api/terminals/{tid}"), Auth::Bearer(&other.key), None).await.assert_error(404, "resource_missing");
    }
}

#[tokio::test]
async fn simulate_is_a_sandbox_route() {
    let app = TestApp::spawn_with(support::Database::Sqlite, &[("GOVIFI_SANDBOX", "false")]).await.unwrap();
    let m = app.merchant().await;
    let tid = terminal(&app, &m, "SN-P").await["id"].as_str().unwrap().to_owned();
    start(&app, &m, &tid, 100).await;
    present(&app, &m, &tid, "4242424242424242").await.assert_error(404, "resource_missing");
}
