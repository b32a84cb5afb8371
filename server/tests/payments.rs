//! Money after the checkout, through the API: direct payments (authorize, sale, decline, ACH,
//! Apple Pay, autopay), capture, void, refunds, idempotent replays, the ledger and the events,
//! on SQLite and PostgreSQL.

mod support;

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};
use support::{Auth, TestApp, ach, card};

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_owned()
}

async fn event_types(app: &TestApp, uid: &str, object_id: &str) -> Vec<String> {
    app.events(uid)
        .await
        .into_iter()
        .filter(|(_, o)| o["id"] == object_id || o["payment_id"] == object_id)
        .map(|(t, _)| t)
        .collect()
}

db_tests! {
    async fn authorize_capture_and_refund_in_parts(app) {
        let m = app.merchant().await;
        let r = app.validate(&m, json!({"amount": 10_000, "currency": "USD", "payment_method": card("4242424242424242"),
            "reference": "INV-1", "description": "Water, May", "metadata": {"order": "1"}}), None).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        let p = r.json();
        assert_eq!(p["object"], "payment");
        assert_eq!(p["status"], "authorized");
        assert_eq!((p["amount"].as_i64(), p["fee_amount"].as_i64(), p["total_amount"].as_i64()), (Some(10_000), Some(0), Some(10_000)), "no convenience fee on direct payments");
        assert_eq!(p["amount_captured"], 0);
        assert_eq!(p["payment_method"]["brand"], "visa");
        assert_eq!(p["payment_method"]["last4"], "4242");
        assert_eq!(p["reference"], "INV-1");
        assert_eq!(p["consent"], Value::Null, "no quote, no mandate");
        let pid = id(&p);
        // The answer, the resource read back and the event's object are one and the same.
        assert_eq!(app.payment(&m, &pid).await, p);
        let authorized = app.events(&m.uid).await.into_iter().find(|(t, o)| t == "payment.authorized" && o["id"] == pid.as_str()).unwrap().1;
        assert_eq!(authorized, p);

        let captured = app.payment_call(&m, &format!("/api/payments/{pid}/capture"), Some(json!({"amount": 6_000})), None).await;
        assert_eq!(captured.status, StatusCode::OK, "{}", captured.text());
        assert_eq!(captured.json()["status"], "captured");
        assert_eq!(captured.json()["amount_captured"], 6_000);
        // Once.
        app.payment_call(&m, &format!("/api/payments/{pid}/capture"), None, None).await.assert_error(409, "invalid_state");

        let first = app.payment_call(&m, &format!("/api/payments/{pid}/refund"), Some(json!({"amount": 2_500, "reason": "requested_by_customer"})), None).await;
        assert_eq!(first.status, StatusCode::CREATED, "{}", first.text());
        let refund = first.json();
        assert!(refund["id"].as_str().unwrap().starts_with("re_"), "{refund}");
        assert_eq!(refund["object"], "refund");
        assert_eq!(refund["payment_id"], pid);
        assert_eq!(refund["amount"], 2_500);
        assert_eq!(refund["reason"], "requested_by_customer");
        assert_eq!(refund["status"], "succeeded");
        assert!(refund["updated_at"].as_str().unwrap() >= refund["created_at"].as_str().unwrap(), "{refund}");
        assert_eq!(app.payment(&m, &pid).await["status"], "partially_refunded");
        // More than is left: 400, and nothing changes.
        app.payment_call(&m, &format!("/api/payments/{pid}/refund"), Some(json!({"amount": 3_501})), None).await.assert_error(400, "amount_too_large");
        // Past the largest amount there is, too; a negative one is malformed.
        app.payment_call(&m, &format!("/api/payments/{pid}/refund"), Some(json!({"amount": 100_000_000_000u64})), None).await.assert_error(400, "amount_too_large");
        app.payment_call(&m, &format!("/api/payments/{pid}/refund"), Some(json!({"amount": -5})), None).await.assert_error(400, "parameter_invalid");
        // An explicit null is a client's bug, never "refund all that is left".
        let null = app.payment_call(&m, &format!("/api/payments/{pid}/refund"), Some(json!({"amount": null})), None).await;
        assert_eq!(null.assert_error(400, "parameter_invalid")["param"], "amount");
        let second = app.payment_call(&m, &format!("/api/payments/{pid}/refund"), Some(json!({"amount": 3_500})), None).await;
        assert_eq!(second.status, StatusCode::CREATED, "{}", second.text());
        let p = app.assert_books_balance(&m, &pid).await;
        assert_eq!(p["status"], "refunded");
        assert_eq!(p["amount_refunded"], 6_000);
        let ledger = app.ledger(&m, &pid).await;
        assert_eq!(ledger, vec![("authorization".into(), 10_000), ("capture".into(), 6_000), ("refund".into(), 2_500), ("refund".into(), 3_500)]);
        // A refunded payment moves no further: no refund, no void.
        app.payment_call(&m, &format!("/api/payments/{pid}/refund"), None, None).await.assert_error(409, "invalid_state");
        app.payment_call(&m, &format!("/api/payments/{pid}/void"), None, None).await.assert_error(409, "invalid_state");

        let refunds = app.call(Method::GET, format!("/api/payments/{pid}/refunds"), Auth::Bearer(&m.key), None).await;
        assert_eq!(refunds.status, StatusCode::OK);
        let amounts: Vec<i64> = refunds.json()["value"].as_array().unwrap().iter().map(|r| r["amount"].as_i64().unwrap()).collect();
        assert_eq!(amounts, vec![2_500, 3_500], "oldest first");
        // A list like every other: OData options are applied, never ignored.
        let listed = |query: &str| app.call(Method::GET, format!("/api/payments/{pid}/refunds?{query}"), Auth::Bearer(&m.key), None);
        let amounts_of = |v: Value| v["value"].as_array().unwrap().iter().map(|r| r["amount"].as_i64().unwrap()).collect::<Vec<_>>();
        assert_eq!(amounts_of(listed("$filter=amount gt 3000").await.json()), vec![3_500]);
        assert_eq!(amounts_of(listed("$orderby=created_at desc").await.json()), vec![3_500, 2_500]);
        let first = listed("$top=1&$count=true").await.json();
        assert_eq!((amounts_of(first.clone()), first["@odata.count"].as_i64()), (vec![2_500], Some(2)));
        let next = first["@odata.nextLink"].as_str().unwrap().to_owned();
        assert_eq!(amounts_of(app.call(Method::GET, next, Auth::Bearer(&m.key), None).await.json()), vec![3_500]);
        listed("$expand=payment").await.assert_error(501, "not_implemented");
        listed("$filter=reason eq 'x'").await.assert_error(400, "invalid_odata");
        let ledger = app.call(Method::GET, format!("/api/payments/{pid}/transactions?$filter=type eq 'refund'&$select=amount"), Auth::Bearer(&m.key), None).await.json();
        assert_eq!(ledger["value"], json!([{"amount": 2_500}, {"amount": 3_500}]));
        let types = event_types(&app, &m.uid, &pid).await;
        assert_eq!(types, vec!["payment.authorized", "payment.captured", "payment.succeeded", "refund.created", "payment.refunded", "refund.created", "payment.refunded"]);
    }

    async fn a_capture_beyond_the_authorization_and_a_void_after_capture_are_refused(app) {
        let m = app.merchant().await;
        let pid = app.authorized(&m, 10_000, false).await;
        app.payment_call(&m, &format!("/api/payments/{pid}/capture"), Some(json!({"amount": 10_001})), None).await.assert_error(400, "amount_too_large");
        app.payment_call(&m, &format!("/api/payments/{pid}/capture"), Some(json!({"amount": u64::MAX})), None).await.assert_error(400, "amount_too_large");
        app.payment_call(&m, &format!("/api/payments/{pid}/capture"), Some(json!({"amount": 0})), None).await.assert_error(400, "parameter_invalid");
        app.payment_call(&m, &format!("/api/payments/{pid}/capture"), Some(json!({"amount": null})), None).await.assert_error(400, "parameter_invalid");
        app.payment_call(&m, &format!("/api/payments/{pid}/capture"), Some(json!({"amount": 100, "tip": 5})), None).await.assert_error(400, "unknown_field");
        app.payment_call(&m, &format!("/api/payments/{pid}/refund"), Some(json!({"amount": 100})), None).await.assert_error(409, "invalid_state");
        // The whole authorization by default.
        let r = app.payment_call(&m, &format!("/api/payments/{pid}/capture"), None, None).await;
        assert_eq!(r.json()["amount_captured"], 10_000);
        app.payment_call(&m, &format!("/api/payments/{pid}/void"), None, None).await.assert_error(409, "invalid_state");
        app.assert_books_balance(&m, &pid).await;
    }

    async fn a_void_releases_an_authorization(app) {
        let m = app.merchant().await;
        let pid = app.authorized(&m, 5_000, false).await;
        let r = app.payment_call(&m, &format!("/api/payments/{pid}/void"), None, None).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        assert_eq!(r.json()["status"], "voided");
        app.payment_call(&m, &format!("/api/payments/{pid}/capture"), None, None).await.assert_error(409, "invalid_state");
        app.payment_call(&m, &format!("/api/payments/{pid}/void"), None, None).await.assert_error(409, "invalid_state");
        assert_eq!(app.ledger(&m, &pid).await, vec![("authorization".into(), 5_000), ("void".into(), 5_000)]);
        assert_eq!(event_types(&app, &m.uid, &pid).await, vec!["payment.authorized", "payment.voided"]);
        use sqlx::Row;
        let voided: i64 = sqlx::query("SELECT c.voided FROM sandbox_charges c JOIN payments p ON p.processor_ref = c.processor_ref WHERE p.id = $1")
            .bind(&pid).fetch_one(app.db().pool()).await.unwrap().get(0);
        assert_eq!(voided, 1, "released at the processor too");
    }

    async fn an_authorization_left_uncaptured_for_a_week_is_refused_capture_and_voided(app) {
        let m = app.merchant().await;
        let old = app.authorized(&m, 6_000, false).await;
        let young = app.authorized(&m, 7_000, false).await;
        let window = server::domain::payment::AUTHORIZATION_VALID_MS;
        let backdate = async |pid: &str, age: i64| {
            sqlx::query("UPDATE payments SET created_at = $1 WHERE id = $2").bind(server::store::now_ms() - age).bind(pid)
                .execute(app.db().pool()).await.unwrap();
        };
        // A minute inside the window it is still captured; past it, a capture is refused, even
        // before the job has voided it, and nothing reaches the processor.
        backdate(&young, window - 60_000).await;
        backdate(&old, window + 1_000).await;
        let refused = app.payment_call(&m, &format!("/api/payments/{old}/capture"), None, None).await;
        refused.assert_error(409, "invalid_state");
        assert!(refused.json()["error"]["message"].as_str().unwrap().contains("expired"), "{}", refused.text());
        assert_eq!(app.payment(&m, &old).await["status"], "authorized");
        let at_processor: i64 = sqlx::Row::get(&sqlx::query("SELECT COUNT(*) FROM sandbox_operations o JOIN payments p ON p.processor_ref = o.processor_ref WHERE p.id = $1")
            .bind(&old).fetch_one(app.db().pool()).await.unwrap(), 0);
        assert_eq!(at_processor, 0, "the refused capture never reached the processor");
        // The next pass voids the expired one (ledger, event, the processor's hold released);
        // the young one is left for its capture.
        server::jobs::tick(&app.state, false).await;
        let p = app.assert_books_balance(&m, &old).await;
        assert_eq!(p["status"], "voided");
        assert_eq!(app.ledger(&m, &old).await, vec![("authorization".into(), 6_000), ("void".into(), 6_000)]);
        assert_eq!(event_types(&app, &m.uid, &old).await, vec!["payment.authorized", "payment.voided"]);
        // The void's event says the server made it, when the authorization expired.
        let listed = app.call(Method::GET, "/api/events?$filter=type eq 'payment.voided'", Auth::Bearer(&m.key), None).await.json();
        let actors: Vec<Value> = listed["value"].as_array().unwrap().iter().map(|e| e["actor"].clone()).collect();
        assert_eq!(actors, vec![json!("system:authorization_expiry")], "{listed}");
        use sqlx::Row;
        let voided: i64 = sqlx::query("SELECT c.voided FROM sandbox_charges c JOIN payments p ON p.processor_ref = c.processor_ref WHERE p.id = $1")
            .bind(&old).fetch_one(app.db().pool()).await.unwrap().get(0);
        assert_eq!(voided, 1, "released at the processor");
        assert_eq!(app.payment(&m, &young).await["status"], "authorized");
        // Another pass changes nothing more; the young one captures.
        server::jobs::tick(&app.state, false).await;
        assert_eq!(event_types(&app, &m.uid, &old).await, vec!["payment.authorized", "payment.voided"]);
        let r = app.payment_call(&m, &format!("/api/payments/{young}/capture"), None, None).await;
        assert_eq!((r.status, r.json()["status"].clone()), (StatusCode::OK, json!("captured")), "{}", r.text());
        // A void is still the merchant's to make on an expired authorization the job has not reached.
        let late = app.authorized(&m, 800, false).await;
        backdate(&late, window + 1_000).await;
        let r = app.payment_call(&m, &format!("/api/payments/{late}/void"), None, None).await;
        assert_eq!((r.status, r.json()["status"].clone()), (StatusCode::OK, json!("voided")), "{}", r.text());
    }

    async fn a_sale_captures_at_once(app) {
        let m = app.merchant().await;
        let r = app.validate(&m, json!({"amount": 2_000, "currency": "USD", "payment_method": card("5555555555554444"), "capture": true}), None).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        let p = r.json();
        assert_eq!(p["status"], "captured");
        assert_eq!(p["amount_captured"], 2_000);
        let pid = id(&p);
        assert_eq!(app.ledger(&m, &pid).await, vec![("authorization".into(), 2_000), ("capture".into(), 2_000)]);
        // A refund of everything, by default.
        let r = app.payment_call(&m, &format!("/api/payments/{pid}/refund"), None, None).await;
        assert_eq!(r.json()["amount"], 2_000);
        assert_eq!(app.assert_books_balance(&m, &pid).await["status"], "refunded");
    }

    async fn a_decline_is_402_with_the_failed_payment_kept(app) {
        let m = app.merchant().await;
        let r = app.validate(&m, json!({"amount": 1_000, "currency": "USD", "payment_method": card("4000000000009995"), "capture": true}), None).await;
        let error = r.assert_error(402, "card_declined");
        assert_eq!(error["type"], "card_error");
        assert_eq!(error["decline_code"], "insufficient_funds");
        let pid = error["payment_id"].as_str().unwrap().to_owned();
        let p = app.payment(&m, &pid).await;
        assert_eq!(p["status"], "failed");
        assert_eq!(p["decline_code"], "insufficient_funds");
        assert_eq!(app.ledger(&m, &pid).await, vec![("failure".into(), 1_000)]);
        assert_eq!(event_types(&app, &m.uid, &pid).await, vec!["payment.failed"]);
        app.payment_call(&m, &format!("/api/payments/{pid}/capture"), None, None).await.assert_error(409, "invalid_state");
        // Checked before the processor: no payment at all.
        app.validate(&m, json!({"amount": 1_000, "currency": "USD", "payment_method": card("4242424242424241")}), None).await.assert_error(402, "incorrect_number");
        // A card that wants the customer challenged cannot be charged here.
        let r = app.validate(&m, json!({"amount": 1_000, "currency": "USD", "payment_method": card("4000002760003184")}), None).await;
        assert!(r.assert_error(402, "authentication_required")["payment_id"].is_string());
    }

    async fn bad_requests_are_refused_before_anything_happens(app) {
        let m = app.merchant().await;
        let visa = card("4242424242424242");
        app.validate(&m, json!({"amount": 0, "currency": "USD", "payment_method": visa}), None).await.assert_error(400, "parameter_invalid");
        app.validate(&m, json!({"amount": -5, "currency": "USD", "payment_method": visa}), None).await.assert_error(400, "parameter_invalid");
        app.validate(&m, json!({"amount": 100, "currency": "EUR", "payment_method": visa}), None).await.assert_error(400, "parameter_invalid");
        app.validate(&m, json!({"currency": "USD", "payment_method": visa}), None).await.assert_error(400, "parameter_missing");
        app.validate(&m, json!({"amount": 100, "currency": "USD", "payment_method": visa, "tip": 1}), None).await.assert_error(400, "unknown_field");
        app.validate(&m, json!({"amount": 100, "currency": "USD", "payment_method": visa, "customer_id": "cus_nope"}), None).await.assert_error(400, "parameter_invalid");
        app.validate(&m, json!({"amount": 100, "currency": "USD", "payment_method": visa, "off_session": true}), None).await.assert_error(400, "parameter_invalid");
        app.validate(&m, json!({"amount": 100, "currency": "USD", "payment_method": {"type": "saved", "saved": {"payment_method_id": "pm_nope"}}}), None).await.assert_error(400, "parameter_invalid");
        let bad_routing = json!({"type": "ach", "ach": {"routing_number": "110000001", "account_number": "000123456789", "account_type": "checking", "account_holder_name": "A"}});
        app.validate(&m, json!({"amount": 100, "currency": "USD", "payment_method": bad_routing}), None).await.assert_error(400, "invalid_routing_number");
        let count: i64 = sqlx::Row::get(&sqlx::query("SELECT COUNT(*) FROM payments").fetch_one(app.db().pool()).await.unwrap(), 0);
        assert_eq!(count, 0);
        // Unknown and foreign payments are 404, for every action.
        for action in ["capture", "void", "refund"] {
            app.payment_call(&m, &format!("/api/payments/pay_nope/{action}"), None, None).await.assert_error(404, "resource_missing");
        }
        let other = app.merchant().await;
        let theirs = app.authorized(&other, 100, false).await;
        app.payment_call(&m, &format!("/api/payments/{theirs}/capture"), None, None).await.assert_error(404, "resource_missing");
    }

    async fn scopes_guard_every_movement(app) {
        let m = app.merchant().await;
        let pid = app.authorized(&m, 1_000, true).await;
        let read_only = app.api_key(&m.token, &m.uid, &["payments.read"]).await;
        let as_reader = support::Merchant { key: read_only, ..m.clone() };
        app.validate(&as_reader, json!({"amount": 100, "currency": "USD", "payment_method": card("4242424242424242")}), None).await.assert_error(403, "insufficient_scope");
        app.payment_call(&as_reader, &format!("/api/payments/{pid}/refund"), None, None).await.assert_error(403, "insufficient_scope");
        // Refunds need refunds.write, not payments.write.
        let writer = app.api_key(&m.token, &m.uid, &["payments.write"]).await;
        let as_writer = support::Merchant { key: writer, ..m.clone() };
        app.payment_call(&as_writer, &format!("/api/payments/{pid}/refund"), None, None).await.assert_error(403, "insufficient_scope");
        let refunder = app.api_key(&m.token, &m.uid, &["refunds.write"]).await;
        let as_refunder = support::Merchant { key: refunder, ..m.clone() };
        assert_eq!(app.payment_call(&as_refunder, &format!("/api/payments/{pid}/refund"), Some(json!({"amount": 100})), None).await.status, StatusCode::CREATED);
        // An admin token with the account header works too; a session credential does not.
        let r = app.call(Method::POST, "/api/payments/validate", Auth::Account(&m.token, &m.uid),
            Some(json!({"amount": 100, "currency": "USD", "payment_method": card("4242424242424242")}))).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        let s = app.session(&m, json!({})).await;
        app.call(Method::POST, format!("/api/payments/{pid}/refund"), Auth::Bearer(s["client_secret"].as_str().unwrap()), None).await.assert_error(401, "unauthenticated");
    }

    async fn validate_and_refund_replay_with_one_key(app) {
        let m = app.merchant().await;
        let body = json!({"amount": 7_000, "currency": "USD", "payment_method": card("4242424242424242"), "capture": true});
        let first = app.validate(&m, body.clone(), Some("order-77")).await;
        assert_eq!(first.status, StatusCode::CREATED, "{}", first.text());
        let again = app.validate(&m, body.clone(), Some("order-77")).await;
        assert_eq!(again.status, StatusCode::CREATED);
        assert_eq!(again.body, first.body, "byte for byte");
        assert_eq!(again.header("idempotent-replayed"), Some("true"));
        let mut other = body.clone();
        other["amount"] = json!(7_001);
        app.validate(&m, other, Some("order-77")).await.assert_error(422, "idempotency_key_reused");
        let count: i64 = sqlx::Row::get(&sqlx::query("SELECT COUNT(*) FROM payments").fetch_one(app.db().pool()).await.unwrap(), 0);
        assert_eq!(count, 1, "one payment");
        // A key taken before the prints were keyed holds the bare SHA-256: its retry still replays.
        let print = server::idempotency::fingerprint(&app.state.config().master_key, "POST", "/api/payments/validate", &body);
        let stored: String = sqlx::query_scalar("SELECT fingerprint FROM idempotency_keys WHERE key = 'order-77'").fetch_one(app.db().pool()).await.unwrap();
        assert_eq!(stored, print.current, "kept keyed");
        sqlx::query("UPDATE idempotency_keys SET fingerprint = $1 WHERE key = 'order-77'").bind(print.legacy.as_deref().unwrap()).execute(app.db().pool()).await.unwrap();
        let upgraded = app.validate(&m, body.clone(), Some("order-77")).await;
        assert_eq!((upgraded.status, upgraded.header("idempotent-replayed")), (StatusCode::CREATED, Some("true")));
        assert_eq!(upgraded.body, first.body);

        let pid = id(&first.json());
        let refund_path = format!("/api/payments/{pid}/refund");
        let refund = |key| app.payment_call(&m, &refund_path, Some(json!({"amount": 1_000})), Some(key));
        let r1 = refund("refund-1").await;
        assert_eq!(r1.status, StatusCode::CREATED, "{}", r1.text());
        let r2 = refund("refund-1").await;
        assert_eq!(r2.body, r1.body);
        assert_eq!(app.payment(&m, &pid).await["amount_refunded"], 1_000, "one refund");
        assert_eq!(app.processor_refunds(&pid).await, 1);
        app.payment_call(&m, &format!("/api/payments/{pid}/refund"), Some(json!({"amount": 2_000})), Some("refund-1")).await.assert_error(422, "idempotency_key_reused");
        // The key space is the account's: the same key on another path is another request.
        app.payment_call(&m, &format!("/api/payments/{pid}/capture"), None, Some("refund-1")).await.assert_error(422, "idempotency_key_reused");
        // A declined validate replays its 402 with the same payment.
        let decline = json!({"amount": 500, "currency": "USD", "payment_method": card("4000000000000002")});
        let d1 = app.validate(&m, decline.clone(), Some("declined-1")).await;
        let d2 = app.validate(&m, decline, Some("declined-1")).await;
        assert_eq!(d1.status, StatusCode::PAYMENT_REQUIRED);
        assert_eq!(d2.body, d1.body);
        assert_eq!(d1.header("x-request-id"), d2.header("x-request-id"));
        let count: i64 = sqlx::Row::get(&sqlx::query("SELECT COUNT(*) FROM payments").fetch_one(app.db().pool()).await.unwrap(), 0);
        assert_eq!(count, 2);
    }

    async fn autopay_charges_a_method_saved_off_session_without_the_customer(app) {
        let m = app.merchant().await;
        let customer = app.call(Method::POST, "/api/customers", Auth::Bearer(&m.key), Some(json!({"email": "pat@example.com"}))).await.json();
        let cid = id(&customer);
        let save = |usage: &str, number: &str| app.call(Method::POST, format!("/api/customers/{cid}/payment-methods"), Auth::Bearer(&m.key),
            Some(json!({"usage": usage, "payment_method": card(number)})));
        let off = save("off_session", "4242424242424242").await;
        assert_eq!(off.status, StatusCode::CREATED, "{}", off.text());
        let on = save("on_session", "5555555555554444").await.json();
        let saved = |pm: &Value| json!({"type": "saved", "saved": {"payment_method_id": pm["id"]}});

        let r = app.validate(&m, json!({"amount": 4_500, "currency": "USD", "payment_method": saved(&off.json()), "off_session": true, "capture": true, "reference": "AUTOPAY-JUNE"}), None).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        let p = r.json();
        assert_eq!(p["status"], "captured");
        assert_eq!(p["customer_id"], cid, "the method's customer");
        assert_eq!(p["payment_method"]["last4"], "4242");
        let consent = &p["consent"];
        assert!(consent["mandate"].as_str().unwrap().starts_with("I authorize"), "saved through the API: {consent}");
        assert_eq!(consent["fee_amount"], 0);
        assert_eq!(consent["fee_quote_id"], Value::Null);
        assert!(consent["accepted_at"].is_string());

        // A method saved for use with the customer present is refused there, with no payment.
        let r = app.validate(&m, json!({"amount": 4_500, "currency": "USD", "payment_method": saved(&on), "off_session": true}), None).await;
        assert_eq!(r.assert_error(400, "parameter_invalid")["param"], "off_session");
        // Charged with the customer present, it may be used.
        let r = app.validate(&m, json!({"amount": 100, "currency": "USD", "payment_method": saved(&on)}), None).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        // Naming another customer is refused.
        let other = app.call(Method::POST, "/api/customers", Auth::Bearer(&m.key), Some(json!({"name": "Other"}))).await.json();
        app.validate(&m, json!({"amount": 100, "currency": "USD", "payment_method": saved(&on), "customer_id": other["id"]}), None).await.assert_error(400, "parameter_invalid");
    }

    async fn a_checkout_saved_off_session_keeps_its_mandate_for_autopay(app) {
        let m = app.merchant().await;
        let s = app.session(&m, json!({"customer_email": "autopay@example.com", "setup_future_usage": "off_session"})).await;
        let quote = app.quote(&s, "card", Some("424242")).await;
        let r = app.browser(Method::POST, &s, "confirm", None, Some(json!({"fee_quote_id": quote, "payment_method": card("4242424242424242"), "save_payment_method": true}))).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        let checkout_payment = app.payment(&m, r.json()["payment_id"].as_str().unwrap()).await;
        let cid = checkout_payment["customer_id"].as_str().unwrap();
        let methods = app.call(Method::GET, format!("/api/customers/{cid}/payment-methods"), Auth::Bearer(&m.key), None).await.json();
        let pm = methods["value"][0].clone();
        assert_eq!(pm["usage"], "off_session");
        let r = app.validate(&m, json!({"amount": 14_227, "currency": "USD", "payment_method": {"type": "saved", "saved": {"payment_method_id": pm["id"]}}, "off_session": true, "capture": true}), None).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        let p = r.json();
        assert_eq!(p["consent"]["mandate"], checkout_payment["consent"]["mandate"], "the mandate the customer accepted at the checkout");
        assert_eq!(p["consent"]["accepted_at"], checkout_payment["consent"]["accepted_at"]);
        assert_eq!(p["fee_amount"], 0);
    }

    async fn ach_is_refundable_once_settled(app) {
        let m = app.merchant().await;
        let r = app.validate(&m, json!({"amount": 8_000, "currency": "USD", "payment_method": ach("000123456789")}), None).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        let p = r.json();
        assert_eq!(p["status"], "processing");
        assert_eq!(p["payment_method"]["bank_name"], "Govifi Sandbox Bank");
        let pid = id(&p);
        let refund = app.payment_call(&m, &format!("/api/payments/{pid}/refund"), Some(json!({"amount": 1_000})), None).await;
        assert!(refund.assert_error(409, "invalid_state")["message"].as_str().unwrap().contains("settled"));
        let returned = id(&app.validate(&m, json!({"amount": 3_000, "currency": "USD", "payment_method": ach("000111111113")}), None).await.json());
        let later = server::store::now_ms() + server::processor::sandbox::ACH_SETTLE_MS + 1000;
        assert_eq!(server::payments::settlement::settle_due(&app.state, later).await.unwrap(), 2);
        let settled = app.assert_books_balance(&m, &pid).await;
        assert_eq!(settled["status"], "captured");
        assert_eq!(app.ledger(&m, &pid).await, vec![("authorization".into(), 8_000), ("settlement".into(), 8_000)]);
        let r = app.payment_call(&m, &format!("/api/payments/{pid}/refund"), Some(json!({"amount": 1_000})), None).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        assert_eq!(app.assert_books_balance(&m, &pid).await["status"], "partially_refunded");
        let failed = app.payment(&m, &returned).await;
        assert_eq!(failed["status"], "failed");
        assert_eq!(failed["decline_code"], "account_closed");
        assert_eq!(failed["return_code"], "R02");
        assert_eq!(event_types(&app, &m.uid, &pid).await[..3], ["payment.processing", "payment.captured", "payment.succeeded"], "settled: captured, as a card is");
        assert_eq!(event_types(&app, &m.uid, &returned).await, vec!["payment.processing", "payment.failed"]);
        app.payment_call(&m, &format!("/api/payments/{returned}/refund"), None, None).await.assert_error(409, "invalid_state");
    }

    async fn a_debit_that_cannot_settle_yet_waits_behind_the_others(app) {
        use server::payments::settlement::{PENDING_RECHECK_MS, STUCK_RECHECK_MS, settle_due};
        let m = app.merchant().await;
        let debit = async || id(&app.validate(&m, json!({"amount": 2_000, "currency": "USD", "payment_method": ach("000123456789")}), None).await.json());
        let (stuck, pending) = (debit().await, debit().await);
        // One the processor cannot be asked about (no reference to ask with).
        sqlx::query("UPDATE payments SET processor_ref = NULL WHERE id = $1").bind(&stuck).execute(app.db().pool()).await.unwrap();
        let check_at = async |pid: &str| -> i64 {
            sqlx::query_scalar("SELECT settle_check_at FROM payments WHERE id = $1").bind(pid).fetch_one(app.db().pool()).await.unwrap()
        };
        let now = server::store::now_ms();
        assert_eq!(settle_due(&app.state, now).await.unwrap(), 0);
        assert_eq!(check_at(&stuck).await, now + STUCK_RECHECK_MS, "asked again in an hour");
        assert_eq!(check_at(&pending).await, now + PENDING_RECHECK_MS, "not due yet: asked again shortly");
        // Not asked about again before its time.
        assert_eq!(settle_due(&app.state, now + 1).await.unwrap(), 0);
        assert_eq!(check_at(&pending).await, now + PENDING_RECHECK_MS);
        let later = now + server::processor::sandbox::ACH_SETTLE_MS + 1000;
        assert_eq!(settle_due(&app.state, later).await.unwrap(), 1, "the settled one, past the stuck one");
        assert_eq!(app.payment(&m, &pending).await["status"], "captured");
        assert_eq!(app.payment(&m, &stuck).await["status"], "processing");
    }

    async fn apple_pay_tokens_pay_directly(app) {
        let m = app.merchant().await;
        let r = app.validate(&m, json!({"amount": 900, "currency": "USD", "payment_method": {"type": "apple_pay", "apple_pay": {"token": "tok_applepay_visa"}}, "capture": true}), None).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        assert_eq!(r.json()["payment_method"]["type"], "apple_pay");
        let r = app.validate(&m, json!({"amount": 900, "currency": "USD", "payment_method": {"type": "apple_pay", "apple_pay": {"token": "tok_applepay_decline"}}}), None).await;
        r.assert_error(402, "card_declined");
        let r = app.validate(&m, json!({"amount": 900, "currency": "USD", "payment_method": {"type": "apple_pay", "apple_pay": {"token": "tok_unknown"}}}), None).await;
        assert_eq!(r.assert_error(402, "card_declined")["decline_code"], "invalid_payment_method");
    }

    async fn a_checkout_payment_is_refundable_through_the_api(app) {
        let m = app.merchant().await;
        let s = app.session(&m, json!({})).await;
        let r = app.pay_card(&s, "4242424242424242", None).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        let pid = r.json()["payment_id"].as_str().unwrap().to_owned();
        let p = app.payment(&m, &pid).await;
        assert_eq!(p["status"], "captured");
        let total = p["total_amount"].as_i64().unwrap();
        let r = app.payment_call(&m, &format!("/api/payments/{pid}/refund"), Some(json!({"amount": total + 1})), None).await;
        r.assert_error(400, "amount_too_large");
        let r = app.payment_call(&m, &format!("/api/payments/{pid}/refund"), None, None).await;
        assert_eq!(r.json()["amount"], total);
        let p = app.assert_books_balance(&m, &pid).await;
        assert_eq!(p["status"], "refunded");
    }

    async fn every_test_card_and_bank_account_of_the_sandbox_answers_as_spec_section_9_says(app) {
        let m = app.merchant().await;
        let strict = app.merchant_with(json!({"reject_avs_mismatch": true})).await;
        let sale = async |m: &support::Merchant, method: Value| {
            app.validate(m, json!({"amount": 1_234, "currency": "USD", "payment_method": method, "capture": true}), None).await
        };
        // Approved, with the brand and funding the number names.
        for (number, brand, funding) in [
            ("4242424242424242", "visa", "credit"),
            ("4000056655665556", "visa", "debit"),
            ("5555555555554444", "mastercard", "credit"),
            ("378282246310005", "amex", "credit"),
            ("6011111111111117", "discover", "credit"),
        ] {
            let r = sale(&m, card(number)).await;
            assert_eq!(r.status, StatusCode::CREATED, "{number}: {}", r.text());
            let p = r.json();
            assert_eq!(p["status"], "captured", "{number}");
            let shown = &p["payment_method"];
            assert_eq!((shown["brand"].as_str(), shown["funding"].as_str(), shown["last4"].as_str()), (Some(brand), Some(funding), Some(&number[number.len() - 4..])), "{number}");
            assert_eq!(app.payment(&m, &id(&p)).await["amount_captured"], 1_234, "{number}");
        }
        // Declined at the processor: 402 card_declined with the decline code, a failed payment kept.
        for (number, code) in [
            ("4000000000000002", "generic_decline"),
            ("4000000000009995", "insufficient_funds"),
            ("4000000000000127", "incorrect_cvc"),
            ("4000000000000069", "expired_card"),
            ("4000000000000119", "processing_error"),
        ] {
            let e = sale(&m, card(number)).await.assert_error(402, "card_declined");
            assert_eq!(e["decline_code"], code, "{number}: {e}");
            let failed = app.payment(&m, e["payment_id"].as_str().unwrap()).await;
            assert_eq!((failed["status"].as_str(), failed["decline_code"].as_str()), (Some("failed"), Some(code)), "{number}");
        }
        // A processing error is the customer's to retry: the same card again is a new attempt.
        let again = sale(&m, card("4000000000000119")).await.assert_error(402, "card_declined");
        assert_eq!(again["decline_code"], "processing_error");
        // The ZIP check fails: approved, unless the account rejects AVS mismatches.
        let r = sale(&m, card("4000000000000036")).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        assert_eq!(r.json()["avs_result"], "zip_mismatch");
        assert_eq!(sale(&strict, card("4000000000000036")).await.assert_error(402, "card_declined")["decline_code"], "incorrect_zip");
        // Step-up needs the customer, who is not there for a direct payment.
        sale(&m, card("4000002760003184")).await.assert_error(402, "authentication_required");
        // Luhn fails before the processor: no payment.
        let before = app.call(Method::GET, "/api/payments?$count=true&$top=0", Auth::Bearer(&m.key), None).await.json()["@odata.count"].clone();
        sale(&m, card("4242424242424241")).await.assert_error(402, "incorrect_number");
        let after = app.call(Method::GET, "/api/payments?$count=true&$top=0", Auth::Bearer(&m.key), None).await.json()["@odata.count"].clone();
        assert_eq!(before, after, "nothing reached the processor");

        // Bank accounts: processing first, then settled or returned with the SPEC's codes.
        let mut debits = Vec::new();
        for account in ["000123456789", "000111111116", "000111111113", "000222222227"] {
            let r = sale(&m, ach(account)).await;
            assert_eq!(r.status, StatusCode::CREATED, "{account}: {}", r.text());
            assert_eq!(r.json()["status"], "processing", "{account}");
            debits.push(id(&r.json()));
        }
        let later = server::store::now_ms() + server::processor::sandbox::ACH_SETTLE_MS + 1000;
        assert_eq!(server::payments::settlement::settle_due(&app.state, later).await.unwrap(), 4);
        let outcome = |p: Value| (p["status"].as_str().unwrap().to_owned(), p["decline_code"].as_str().map(str::to_owned), p["return_code"].as_str().map(str::to_owned));
        let mut seen = Vec::new();
        for pid in &debits {
            seen.push(outcome(app.payment(&m, pid).await));
        }
        let expected = |status: &str, code: Option<&str>, r: Option<&str>| (status.to_owned(), code.map(str::to_owned), r.map(str::to_owned));
        assert_eq!(seen, vec![
            expected("captured", None, None),
            expected("failed", Some("no_account"), Some("R03")),
            expected("failed", Some("account_closed"), Some("R02")),
            expected("failed", Some("insufficient_funds"), Some("R01")),
        ]);
    }

    async fn payments_list_by_status(app) {
        let m = app.merchant().await;
        let a = app.authorized(&m, 100, false).await;
        let b = app.authorized(&m, 200, true).await;
        let r = app.call(Method::GET, "/api/payments?$filter=status eq 'authorized'", Auth::Bearer(&m.key), None).await;
        let ids: Vec<String> = r.json()["value"].as_array().unwrap().iter().map(|p| p["id"].as_str().unwrap().to_owned()).collect();
        assert_eq!(ids, vec![a]);
        let r = app.call(Method::GET, "/api/payments?$filter=status eq 'captured' and amount ge 150&$select=id,status", Auth::Bearer(&m.key), None).await;
        assert_eq!(r.json()["value"], json!([{"id": b, "status": "captured"}]));
        // A status no payment can have is the caller's mistake, not an empty page.
        let e = app.call(Method::GET, "/api/payments?$filter=status eq 'succeeded'", Auth::Bearer(&m.key), None).await.assert_error(400, "invalid_odata");
        assert!(e["message"].as_str().unwrap().contains("authorized"), "names the statuses there are: {e}");
        app.call(Method::GET, "/api/payments?$filter=status ne 'refunded ' and amount gt 0", Auth::Bearer(&m.key), None).await.assert_error(400, "invalid_odata");
        let events = app.call(Method::GET, "/api/events?$filter=startswith(type,'payment.') and type ne 'payment.captured'&$count=true", Auth::Bearer(&m.key), None).await;
        assert_eq!(events.status, StatusCode::OK, "{}", events.text());
        assert_eq!(events.json()["@odata.count"], 3, "authorized twice, succeeded once: {}", events.text());
    }
}

/// The sandbox approves any valid card: outside sandbox mode it stands in for no acquirer, so
/// nothing that would move money through it runs, and nothing is written for it (SPEC §10).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outside_sandbox_mode_no_money_moves_through_the_sandbox() {
    let app = TestApp::spawn_with(support::Database::Sqlite, &[("GOVIFI_SANDBOX", "false")]).await.unwrap();
    let m = app.merchant().await;
    let sale = json!({"amount": 1_000, "currency": "USD", "payment_method": card("4111111111111111"), "capture": true});
    app.validate(&m, sale, Some("live-1")).await.assert_error(503, "processor_unavailable");
    let payments: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM payments").fetch_one(app.db().pool()).await.unwrap();
    let operations: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM payment_operations").fetch_one(app.db().pool()).await.unwrap();
    assert_eq!((payments, operations), (0, 0), "nothing was recorded");
    // The checkout: the customer is told at the fee quote, before any card is typed.
    let s = app
        .call(Method::POST, "/v1/hosted-sessions", Auth::Bearer(&m.key),
            Some(json!({"amount": 1_000, "currency": "USD", "success_url": "https://shop.example/ok", "cancel_url": "https://shop.example/no"})))
        .await;
    assert_eq!(s.status, StatusCode::CREATED, "{}", s.text());
    let s = s.json();
    let quote = app
        .browser(
            Method::POST,
            &s,
            "quote-fee",
            None,
            Some(json!({"payment_method_type": "card", "card_bin": "411111"})),
        )
        .await;
    quote.assert_error(503, "processor_unavailable");
    // Saving a card to a customer's wallet tokenizes it at the processor: refused too.
    let customer = app
        .call(Method::POST, "/api/customers", Auth::Bearer(&m.key), Some(json!({"email": "live@example.com"})))
        .await
        .json();
    let saved = app
        .call(
            Method::POST,
            format!("/api/customers/{}/payment-methods", id(&customer)),
            Auth::Bearer(&m.key),
            Some(json!({"payment_method": card("4111111111111111"), "usage": "on_session"})),
        )
        .await;
    saved.assert_error(503, "processor_unavailable");
}

/// `GOVIFI_AUTHORIZATION_DAYS`: 0 keeps an authorization until it is captured or voided (an
/// installation upgrading with old authorizations to capture); another number is the window.
async fn the_authorization_window_is_the_installations(kind: support::Database) {
    let day = 24 * 3600 * 1000;
    for (setting, captured_after_days) in [("0", None), ("2", Some(1))] {
        let Some(app) = TestApp::spawn_with(kind, &[("GOVIFI_AUTHORIZATION_DAYS", setting)]).await else {
            support::no_postgres();
            return;
        };
        let m = app.merchant().await;
        let old = app.authorized(&m, 1_000, false).await;
        let young = app.authorized(&m, 2_000, false).await;
        let age = |pid: &str, days: i64| {
            sqlx::query("UPDATE payments SET created_at = $1 WHERE id = $2")
                .bind(server::store::now_ms() - days * day - 1_000)
                .bind(pid.to_owned())
                .execute(app.db().pool())
        };
        age(&old, 30).await.unwrap();
        age(&young, captured_after_days.unwrap_or(29)).await.unwrap();
        server::jobs::tick(&app.state, false).await;
        let status = app.payment(&m, &old).await["status"].clone();
        match captured_after_days {
            // No window: a month-old authorization is still there to capture.
            None => assert_eq!(status, "authorized", "{setting}"),
            // Two days: the month-old one is voided, one a day old is still captured.
            Some(_) => assert_eq!(status, "voided", "{setting}"),
        }
        let r = app.payment_call(&m, &format!("/api/payments/{young}/capture"), None, None).await;
        assert_eq!(
            (r.status, r.json()["status"].clone()),
            (StatusCode::OK, json!("captured")),
            "{setting}: {}",
            r.text()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_authorization_window_is_the_installations_sqlite() {
    the_authorization_window_is_the_installations(support::Database::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_authorization_window_is_the_installations_postgres() {
    the_authorization_window_is_the_installations(support::Database::Postgres).await;
}
