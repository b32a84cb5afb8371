//! Customers and their saved payment methods: sanitized, tokenized, evented.

mod support;

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::Row;
use support::{Auth, TestApp};

async fn setup(app: &TestApp) -> (String, String) {
    let token = app.admin_token().await;
    let uid = app.create_account(&token, json!({})).await["uid"].as_str().unwrap().to_owned();
    let key = app.api_key(&token, &uid, &["customers.write"]).await;
    (uid, key)
}

async fn events_of(app: &TestApp, uid: &str) -> Vec<(String, Value)> {
    // (Not the setup's own `api_key.created`.)
    sqlx::query(
        "SELECT type, data FROM events WHERE account_uid = $1 AND type NOT LIKE 'api_key.%' ORDER BY created_at, id",
    )
    .bind(uid)
    .fetch_all(app.db().pool())
    .await
    .unwrap()
    .iter()
    .map(|r| (r.get::<String, _>(0), serde_json::from_str(&r.get::<String, _>(1)).unwrap()))
    .collect()
}

fn card(number: &str) -> Value {
    json!({"type": "card", "card": {"number": number, "exp_month": 12, "exp_year": 2031, "cvc": "123"},
           "billing": {"cardholder_name": "Alex Doe", "postal_code": "94107"}})
}

db_tests! {
    async fn customers_crud_with_an_event(app) {
        let (uid, key) = setup(&app).await;
        let r = app.call(Method::POST, "/api/customers", Auth::Bearer(&key),
            Some(json!({"email": "alex@example.com", "name": "Alex Doe", "phone": "+1 (415) 555-0100", "reference": "ACCT-4471", "metadata": {"ward": "3"}}))).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        let customer = r.json();
        let id = customer["id"].as_str().unwrap().to_owned();
        assert!(id.starts_with("cus_"));
        assert_eq!(customer["object"], "customer");
        let events = events_of(&app, &uid).await;
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].0, "customer.created");
        assert_eq!(events[0].1, customer, "the event carries the customer as the API shows it");

        let patched = app.call(Method::PATCH, format!("/api/customers/{id}"), Auth::Bearer(&key), Some(json!({"phone": null, "name": "Alex Q. Doe"}))).await.json();
        assert!(patched["phone"].is_null());
        assert_eq!(patched["name"], "Alex Q. Doe");
        assert_eq!(patched["email"], "alex@example.com");

        let post = |body: Value| app.call(Method::POST, "/api/customers", Auth::Bearer(&key), Some(body));
        assert_eq!(post(json!({"email": "not-an-email"})).await.assert_error(400, "parameter_invalid")["param"], "email");
        assert_eq!(post(json!({"phone": "call me"})).await.assert_error(400, "parameter_invalid")["param"], "phone");

        assert_eq!(app.call(Method::DELETE, format!("/api/customers/{id}"), Auth::Bearer(&key), None).await.status, StatusCode::NO_CONTENT);
        app.call(Method::GET, format!("/api/customers/{id}"), Auth::Bearer(&key), None).await.assert_error(404, "resource_missing");
        let list = app.call(Method::GET, "/api/customers", Auth::Bearer(&key), None).await.json();
        assert_eq!(list["value"], json!([]));
    }

    async fn a_save_sent_again_with_its_key_saves_one_method(app) {
        let (_, key) = setup(&app).await;
        let cus = app.call(Method::POST, "/api/customers", Auth::Bearer(&key), Some(json!({"name": "Alex"}))).await.json();
        let path = format!("/api/customers/{}/payment-methods", cus["id"].as_str().unwrap());
        let bearer = format!("Bearer {key}");
        let save = async |idem: &str, number: &str| {
            let body = json!({"usage": "off_session", "payment_method": card(number)}).to_string();
            let headers = [("authorization", bearer.as_str()), ("content-type", "application/json"), ("idempotency-key", idem)];
            app.send(Method::POST, &path, &headers, axum::body::Body::from(body)).await
        };
        let first = save("save-1", "4242424242424242").await;
        assert_eq!(first.status, StatusCode::CREATED, "{}", first.text());
        // The back end lost the answer and retries: the same method, not a second one.
        let again = save("save-1", "4242424242424242").await;
        assert_eq!((again.status, again.json()["id"].clone()), (StatusCode::CREATED, first.json()["id"].clone()));
        // The key with another card is the caller's mistake.
        save("save-1", "5555555555554444").await.assert_error(422, "idempotency_key_reused");
        let listed = app.call(Method::GET, &path, Auth::Bearer(&key), None).await.json();
        assert_eq!(listed["value"].as_array().unwrap().len(), 1, "one method for one save: {listed}");
    }

    async fn saved_cards_are_sanitized_tokenized_and_never_stored_readable(app) {
        let (uid, key) = setup(&app).await;
        let cus = app.call(Method::POST, "/api/customers", Auth::Bearer(&key), Some(json!({"name": "Alex"}))).await.json();
        let cus_id = cus["id"].as_str().unwrap();
        let path = format!("/api/customers/{cus_id}/payment-methods");

        let r = app.call(Method::POST, &path, Auth::Bearer(&key), Some(json!({"usage": "off_session", "payment_method": card("4000 0566 5566 5556")}))).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        let pm = r.json();
        assert!(pm["id"].as_str().unwrap().starts_with("pm_"));
        assert_eq!(pm["object"], "payment_method");
        assert_eq!(pm["type"], "card");
        assert_eq!(pm["brand"], "visa");
        assert_eq!(pm["last4"], "5556");
        assert_eq!(pm["exp_month"], 12);
        assert_eq!(pm["exp_year"], 2031);
        assert_eq!(pm["funding"], "debit", "from the sandbox BIN table");
        assert_eq!(pm["usage"], "off_session");
        assert_eq!(pm["customer_id"], cus_id);
        let keys: Vec<&String> = pm.as_object().unwrap().keys().collect();
        for forbidden in ["number", "cvc", "token", "processor_token"] {
            assert!(!keys.iter().any(|k| k.as_str() == forbidden), "{forbidden} in {pm}");
        }
        assert!(support::card_numbers_in(&pm.to_string()).is_empty());

        // The same card again: the same fingerprint; another card: another.
        let again = app.call(Method::POST, &path, Auth::Bearer(&key), Some(json!({"usage": "on_session", "payment_method": card("4000056655665556")}))).await.json();
        assert_eq!(again["fingerprint"], pm["fingerprint"]);
        let mc = app.call(Method::POST, &path, Auth::Bearer(&key), Some(json!({"usage": "on_session", "payment_method": card("5555555555554444")}))).await.json();
        assert_ne!(mc["fingerprint"], pm["fingerprint"]);
        assert_eq!(mc["brand"], "mastercard");
        // The same card in another account: a value that links nothing across accounts.
        let (_, other_key) = setup(&app).await;
        let other = app.call(Method::POST, "/api/customers", Auth::Bearer(&other_key), Some(json!({"name": "Alex"}))).await.json();
        let elsewhere = app.call(Method::POST, format!("/api/customers/{}/payment-methods", other["id"].as_str().unwrap()), Auth::Bearer(&other_key),
            Some(json!({"usage": "on_session", "payment_method": card("4000056655665556")}))).await;
        assert_eq!(elsewhere.status, StatusCode::CREATED, "{}", elsewhere.text());
        assert_ne!(elsewhere.json()["fingerprint"], pm["fingerprint"], "fingerprints are per account");

        let ach = app.call(Method::POST, &path, Auth::Bearer(&key), Some(json!({"usage": "off_session", "payment_method":
            {"type": "ach", "ach": {"routing_number": "110000000", "account_number": "000123456789", "account_type": "checking", "account_holder_name": "Alex Doe"}}}))).await;
        assert_eq!(ach.status, StatusCode::CREATED, "{}", ach.text());
        let ach = ach.json();
        assert_eq!(ach["type"], "ach");
        assert_eq!(ach["last4"], "6789");
        assert_eq!(ach["bank_name"], "Govifi Sandbox Bank");
        assert_eq!(ach["account_type"], "checking");
        assert!(!ach.to_string().contains("000123456789"));

        let list = app.call(Method::GET, &path, Auth::Bearer(&key), None).await.json();
        assert_eq!(list["value"].as_array().unwrap().len(), 4);

        // Nothing that looks like a card number, and no full account number, anywhere in the database.
        let stored = support::all_stored_text(app.db()).await;
        assert_eq!(support::card_numbers_in(&stored), Vec::<String>::new());
        assert!(!stored.contains("000123456789"));
        let events: Vec<String> = events_of(&app, &uid).await.into_iter().map(|(t, _)| t).collect();
        assert_eq!(events.iter().filter(|t| *t == "payment_method.saved").count(), 4);
    }

    async fn bad_instruments_answer_card_errors_before_the_processor(app) {
        let (_uid, key) = setup(&app).await;
        let cus = app.call(Method::POST, "/api/customers", Auth::Bearer(&key), Some(json!({}))).await.json();
        let path = format!("/api/customers/{}/payment-methods", cus["id"].as_str().unwrap());
        let save = |pm: Value| app.call(Method::POST, &path, Auth::Bearer(&key), Some(json!({"usage": "on_session", "payment_method": pm})));
        let e = save(card("4242424242424241")).await.assert_error(402, "incorrect_number");
        assert_eq!(e["type"], "card_error");
        save(json!({"type": "card", "card": {"number": "4242424242424242", "exp_month": 1, "exp_year": 2020}})).await.assert_error(402, "invalid_expiry");
        save(json!({"type": "card", "card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2030, "cvc": "1"}})).await.assert_error(402, "invalid_cvc");
        let e = save(json!({"type": "ach", "ach": {"routing_number": "110000001", "account_number": "000123456789", "account_type": "checking", "account_holder_name": "A"}})).await
            .assert_error(400, "invalid_routing_number");
        assert_eq!(e["param"], "payment_method.ach.routing_number");
        save(json!({"type": "apple_pay", "apple_pay": {"token": "tok_applepay_visa"}})).await.assert_error(400, "parameter_invalid");
        let e = save(json!({"type": "card", "card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2030, "pin": "1"}})).await
            .assert_error(400, "unknown_field");
        assert!(e["param"].as_str().unwrap().ends_with("pin"), "{e}");
        let r = app.call(Method::POST, &path, Auth::Bearer(&key), Some(json!({"payment_method": card("4242424242424242")}))).await;
        assert_eq!(r.assert_error(400, "parameter_missing")["param"], "usage");
        let listed = app.call(Method::GET, &path, Auth::Bearer(&key), None).await.json();
        assert_eq!(listed["value"], json!([]), "nothing was saved");
    }

    async fn removing_methods_and_customers(app) {
        let (uid, key) = setup(&app).await;
        let cus = app.call(Method::POST, "/api/customers", Auth::Bearer(&key), Some(json!({}))).await.json();
        let cus_id = cus["id"].as_str().unwrap();
        let path = format!("/api/customers/{cus_id}/payment-methods");
        let pm = app.call(Method::POST, &path, Auth::Bearer(&key), Some(json!({"usage": "on_session", "payment_method": card("4242424242424242")}))).await.json();
        let pm_id = pm["id"].as_str().unwrap();
        let r = app.call(Method::DELETE, format!("{path}/{pm_id}"), Auth::Bearer(&key), None).await;
        assert_eq!(r.status, StatusCode::NO_CONTENT);
        app.call(Method::DELETE, format!("{path}/{pm_id}"), Auth::Bearer(&key), None).await.assert_error(404, "resource_missing");
        assert_eq!(app.call(Method::GET, &path, Auth::Bearer(&key), None).await.json()["value"], json!([]));
        let removed = events_of(&app, &uid).await.into_iter().find(|(t, _)| t == "payment_method.removed").expect("event");
        assert_eq!(removed.1["id"], pm_id);

        app.call(Method::POST, &path, Auth::Bearer(&key), Some(json!({"usage": "on_session", "payment_method": card("4242424242424242")}))).await;
        app.call(Method::DELETE, format!("/api/customers/{cus_id}"), Auth::Bearer(&key), None).await;
        let live: i64 = sqlx::query("SELECT COUNT(*) FROM payment_methods WHERE customer_id = $1 AND deleted_at IS NULL")
            .bind(cus_id).fetch_one(app.db().pool()).await.unwrap().get(0);
        assert_eq!(live, 0, "a deleted customer's methods go with them");
        // Each with its event, so receivers forget them too.
        let removed: Vec<Value> = events_of(&app, &uid).await.into_iter().filter(|(t, _)| t == "payment_method.removed").map(|(_, d)| d).collect();
        assert_eq!(removed.len(), 2, "{removed:?}");
        assert_ne!(removed[1]["id"], pm_id);
    }

    async fn a_customer_keeps_at_most_a_hundred_saved_methods(app) {
        let (_, key) = setup(&app).await;
        let cus = app.call(Method::POST, "/api/customers", Auth::Bearer(&key), Some(json!({}))).await.json();
        let path = format!("/api/customers/{}/payment-methods", cus["id"].as_str().unwrap());
        let save = || app.call(Method::POST, &path, Auth::Bearer(&key), Some(json!({"usage": "on_session", "payment_method": card("4242424242424242")})));
        let mut first = String::new();
        for i in 0..server::domain::payment_method::MAX_SAVED_METHODS {
            let r = save().await;
            assert_eq!(r.status, StatusCode::CREATED, "{i}: {}", r.text());
            if i == 0 {
                first = r.json()["id"].as_str().unwrap().to_owned();
            }
        }
        save().await.assert_error(409, "invalid_state");
        assert_eq!(app.call(Method::GET, &path, Auth::Bearer(&key), None).await.json()["value"].as_array().unwrap().len(), 100);
        // Removing one makes room for one.
        assert_eq!(app.call(Method::DELETE, format!("{path}/{first}"), Auth::Bearer(&key), None).await.status, StatusCode::NO_CONTENT);
        assert_eq!(save().await.status, StatusCode::CREATED);
        save().await.assert_error(409, "invalid_state");
    }

    async fn racing_saves_cannot_pass_the_hundred_methods_cap(app) {
        use server::store::payment_methods::{self, NewSavedMethod};
        let m = app.merchant().await;
        let cus = app.call(Method::POST, "/api/customers", Auth::Bearer(&m.key), Some(json!({}))).await.json();
        let cus_id = cus["id"].as_str().unwrap().to_owned();
        let card = server::processor::Tokenized {
            token: "tok_race".into(), brand: Some("visa".into()), last4: "4242".into(), exp_month: Some(12), exp_year: Some(2040),
            funding: None, bank_name: None, account_type: None,
        };
        // The statement every save comes to (the API's, the wallet's and the checkout's), each in
        // a transaction of its own, as concurrent requests would.
        let save = |state: server::AppState, account: String, customer: String, card: server::processor::Tokenized, hold_ms: u64| async move {
            let mut tx = state.db().begin_write().await.unwrap();
            let new = NewSavedMethod {
                account_uid: &account, customer_id: &customer, kind: server::domain::account::MethodType::Card, tokenized: &card,
                usage: server::domain::payment::Usage::OnSession, fingerprint: "race".into(), mandate: None,
            };
            let saved = payment_methods::insert(&mut tx, &state.config().master_key, new).await.unwrap();
            // Held open a moment, so the racing saves' inserts all run before any commits.
            tokio::time::sleep(std::time::Duration::from_millis(hold_ms)).await;
            tx.commit().await.unwrap();
            saved.is_some()
        };
        let max = server::domain::payment_method::MAX_SAVED_METHODS;
        for _ in 0..max - 5 {
            assert!(save(app.state.clone(), m.uid.clone(), cus_id.clone(), card.clone(), 0).await);
        }
        let tasks: Vec<_> = (0..12).map(|_| tokio::spawn(save(app.state.clone(), m.uid.clone(), cus_id.clone(), card.clone(), 100))).collect();
        let mut saved = 0;
        for t in tasks {
            saved += usize::from(t.await.unwrap());
        }
        let live: i64 = sqlx::query("SELECT COUNT(*) FROM payment_methods WHERE customer_id = $1 AND deleted_at IS NULL")
            .bind(&cus_id).fetch_one(app.db().pool()).await.unwrap().get(0);
        assert_eq!((saved, live), (5, max), "five of twelve find room, and no more");
    }

    async fn a_method_is_saved_only_where_the_account_takes_its_kind(app) {
        let token = app.admin_token().await;
        let uid = app.create_account(&token, json!({"enabled_methods": ["card"]})).await["uid"].as_str().unwrap().to_owned();
        let key = app.api_key(&token, &uid, &["customers.write"]).await;
        let cus = app.call(Method::POST, "/api/customers", Auth::Bearer(&key), Some(json!({}))).await.json();
        let path = format!("/api/customers/{}/payment-methods", cus["id"].as_str().unwrap());
        let ach = json!({"type": "ach", "ach": {"routing_number": "110000000", "account_number": "000123456789", "account_type": "checking", "account_holder_name": "Alex Doe"}});
        let r = app.call(Method::POST, &path, Auth::Bearer(&key), Some(json!({"usage": "on_session", "payment_method": ach}))).await;
        assert_eq!(r.assert_error(400, "parameter_invalid")["param"], "payment_method.type");
        let r = app.call(Method::POST, &path, Auth::Bearer(&key), Some(json!({"usage": "on_session", "payment_method": card("4242424242424242")}))).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    }

    async fn a_customer_deleted_while_a_method_is_saved_keeps_none(app) {
        // On PostgreSQL the save's insert and the delete each run at read committed: the save
        // share-locks the customer, so the delete that follows it detaches its method too.
        let (_, key) = setup(&app).await;
        for round in 0..12 {
            let cus = app.call(Method::POST, "/api/customers", Auth::Bearer(&key), Some(json!({}))).await.json();
            let cus_id = cus["id"].as_str().unwrap().to_owned();
            let path = format!("/api/customers/{cus_id}/payment-methods");
            let body = json!({"usage": "off_session", "payment_method": card("4242424242424242")});
            let (saved, deleted) = tokio::join!(
                app.call(Method::POST, &path, Auth::Bearer(&key), Some(body)),
                app.call(Method::DELETE, format!("/api/customers/{cus_id}"), Auth::Bearer(&key), None),
            );
            assert_eq!(deleted.status, StatusCode::NO_CONTENT, "round {round}");
            assert!(matches!(saved.status.as_u16(), 201 | 404), "round {round}: {}", saved.text());
            let live: i64 = sqlx::query("SELECT COUNT(*) FROM payment_methods WHERE customer_id = $1 AND deleted_at IS NULL")
                .bind(&cus_id).fetch_one(app.db().pool()).await.unwrap().get(0);
            assert_eq!(live, 0, "round {round}: a deleted customer has no chargeable method");
        }
    }

    async fn an_expired_saved_card_is_refused_before_the_processor(app) {
        let m = app.merchant().await;
        let cus = app.call(Method::POST, "/api/customers", Auth::Bearer(&m.key), Some(json!({"email": "late@example.com"}))).await.json();
        let cus_id = cus["id"].as_str().unwrap();
        let r = app.call(Method::POST, format!("/api/customers/{cus_id}/payment-methods"), Auth::Bearer(&m.key),
            Some(json!({"usage": "off_session", "payment_method": card("4242424242424242")}))).await;
        let pm_id = r.json()["id"].as_str().unwrap().to_owned();
        let charge = json!({"amount": 100, "currency": "USD", "payment_method": {"type": "saved", "saved": {"payment_method_id": pm_id}}, "off_session": true});
        let r = app.call(Method::POST, "/api/payments/validate", Auth::Bearer(&m.key), Some(charge.clone())).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        let s = app.session(&m, json!({"customer_id": cus_id})).await;
        let offered = async || app.browser(Method::GET, &s, "config", None, None).await.json()["saved_payment_methods"].as_array().unwrap().len();
        assert_eq!(offered().await, 1);
        // Time passes: the card's month ends.
        sqlx::query("UPDATE payment_methods SET exp_month = 1, exp_year = 2021 WHERE id = $1").bind(&pm_id).execute(app.db().pool()).await.unwrap();
        let payments = async || -> i64 { sqlx::query("SELECT COUNT(*) FROM payments").fetch_one(app.db().pool()).await.unwrap().get(0) };
        let before = payments().await;
        app.call(Method::POST, "/api/payments/validate", Auth::Bearer(&m.key), Some(charge)).await.assert_error(402, "invalid_expiry");
        assert_eq!(payments().await, before, "no payment, no processor call");
        // The checkout no longer offers it, and refuses it if named.
        assert_eq!(offered().await, 0);
        let quote = json!({"payment_method_type": "card", "saved_payment_method_id": pm_id});
        app.browser(Method::POST, &s, "quote-fee", None, Some(quote)).await.assert_error(402, "invalid_expiry");
        let q = app.quote(&s, "card", Some("424242")).await;
        let saved = json!({"type": "saved", "saved": {"payment_method_id": pm_id}});
        let r = app.browser(Method::POST, &s, "confirm", None, Some(json!({"fee_quote_id": q, "payment_method": saved}))).await;
        r.assert_error(402, "invalid_expiry");
        assert_eq!(payments().await, before);
    }
}
