//! Wallet sessions: a customer lists, adds and removes saved methods with a `ws_` credential.

mod support;

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};
use support::{Auth, MERCHANT_ORIGIN, PUBLIC_URL, TestApp, card};

async fn wallet(app: &TestApp, key: &str, customer: &str) -> Value {
    let r = app
        .call(
            Method::POST,
            "/v1/wallet-sessions",
            Auth::Bearer(key),
            Some(json!({"customer_id": customer, "return_url": "https://shop.example/account", "locale": "es"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    r.json()
}

/// A wallet call: `/v1/wallet-sessions/{id}/{tail}` with a credential (and an Origin).
async fn wallet_call(
    app: &TestApp,
    id: &str,
    credential: &str,
    method: Method,
    tail: &str,
    origin: Option<&str>,
    body: Option<Value>,
) -> support::TestResponse {
    let mut req = axum::http::Request::builder()
        .method(method)
        .uri(format!("/v1/wallet-sessions/{id}/{tail}"))
        .header("authorization", format!("Bearer {credential}"));
    if let Some(o) = origin {
        req = req.header("origin", o);
    }
    app.request(support::with_json(req, body)).await
}

async fn call(app: &TestApp, w: &Value, method: Method, tail: &str, body: Option<Value>) -> support::TestResponse {
    wallet_call(
        app,
        w["wallet_session_id"].as_str().unwrap(),
        w["client_secret"].as_str().unwrap(),
        method,
        tail,
        None,
        body,
    )
    .await
}

db_tests! {
    async fn a_customer_manages_their_saved_methods(app) {
        let m = app.merchant().await;
        let customer = app.call(Method::POST, "/api/customers", Auth::Bearer(&m.key), Some(json!({"email": "wally@example.com"}))).await.json();
        let cus = customer["id"].as_str().unwrap();
        let w = wallet(&app, &m.key, cus).await;
        let id = w["wallet_session_id"].as_str().unwrap();
        assert!(id.starts_with("ws_"));
        assert_eq!(w["object"], "wallet_session");
        let secret = w["client_secret"].as_str().unwrap();
        assert!(secret.starts_with(&format!("{id}_secret_")));
        assert_eq!(w["wallet_url"], format!("{PUBLIC_URL}/wallet/{id}#ws={secret}"));
        assert!(!support::all_stored_text(app.db()).await.contains(secret), "stored hashed");

        let config = call(&app, &w, Method::GET, "config", None).await;
        assert_eq!(config.status, StatusCode::OK, "{}", config.text());
        let wire: app::wire::WalletConfig = miniserde::json::from_str(&config.text()).expect("the element reads the config");
        assert_eq!(wire.methods, [app::wire::MethodType::Card, app::wire::MethodType::Ach]);
        let config = config.json();
        assert_eq!(config["customer_email_hint"], "w***@example.com");
        assert_eq!(config["locale"], "es");
        assert_eq!(config["methods"], json!(["card", "ach"]));
        assert_eq!(config["merchant"]["display_name"], "City of Example Utilities");

        assert_eq!(call(&app, &w, Method::GET, "payment-methods", None).await.json(), json!({"value": []}));
        let added = call(&app, &w, Method::POST, "payment-methods", Some(json!({"payment_method": card("4242424242424242")}))).await;
        assert_eq!(added.status, StatusCode::CREATED, "{}", added.text());
        let added = added.json();
        assert_eq!(added["brand"], "visa");
        assert_eq!(added["last4"], "4242");
        assert!(added.get("fingerprint").is_none() && added.get("number").is_none(), "brand and last4, never more: {added}");
        let listed = call(&app, &w, Method::GET, "payment-methods", None).await.text();
        let wire: app::wire::ValueList<app::wire::SavedMethodView> =
            miniserde::json::from_str(&listed).expect("the element reads the list");
        assert_eq!((wire.value[0].brand.as_deref(), wire.value[0].last4.as_str()), (Some("visa"), "4242"));
        let listed: Value = serde_json::from_str(&listed).unwrap();
        assert_eq!(listed["value"][0]["id"], added["id"]);
        // The merchant sees it on the customer.
        let merchant_view = app.call(Method::GET, format!("/api/customers/{cus}/payment-methods"), Auth::Bearer(&m.key), None).await.json();
        assert_eq!(merchant_view["value"][0]["usage"], "on_session");
        let pm = added["id"].as_str().unwrap();
        assert_eq!(call(&app, &w, Method::DELETE, &format!("payment-methods/{pm}"), None).await.status, StatusCode::NO_CONTENT);
        call(&app, &w, Method::DELETE, &format!("payment-methods/{pm}"), None).await.assert_error(404, "resource_missing");
        let types: Vec<String> = app.events(&m.uid).await.into_iter().map(|(t, _)| t).collect();
        assert!(types.contains(&"payment_method.saved".to_owned()) && types.contains(&"payment_method.removed".to_owned()));
        call(&app, &w, Method::POST, "payment-methods", Some(json!({"payment_method": card("4242424242424241")}))).await.assert_error(402, "incorrect_number");
        call(&app, &w, Method::POST, "payment-methods", Some(json!({"payment_method": {"type": "apple_pay", "apple_pay": {"token": "tok_applepay_visa"}}}))).await
            .assert_error(400, "parameter_invalid");
    }

    async fn a_save_sent_again_with_its_key_saves_once(app) {
        let m = app.merchant().await;
        let customer = app.call(Method::POST, "/api/customers", Auth::Bearer(&m.key), Some(json!({"email": "twice@example.com"}))).await.json();
        let w = wallet(&app, &m.key, customer["id"].as_str().unwrap()).await;
        let save = |key: &'static str, number: &'static str| {
            let req = axum::http::Request::post(format!("/v1/wallet-sessions/{}/payment-methods", w["wallet_session_id"].as_str().unwrap()))
                .header("authorization", format!("Bearer {}", w["client_secret"].as_str().unwrap()))
                .header("idempotency-key", key);
            app.request(support::with_json(req, Some(json!({"payment_method": card(number)}))))
        };
        // The page's answer was lost: it sends the same save with the same key.
        let first = save("save-1", "4242424242424242").await;
        assert_eq!(first.status, StatusCode::CREATED, "{}", first.text());
        let again = save("save-1", "4242424242424242").await;
        assert_eq!((again.status, &again.body), (StatusCode::CREATED, &first.body), "the first save's answer");
        assert_eq!(again.header("idempotent-replayed"), Some("true"));
        let listed = call(&app, &w, Method::GET, "payment-methods", None).await.json();
        assert_eq!(listed["value"].as_array().unwrap().len(), 1, "saved once: {listed}");
        save("save-1", "5555555555554444").await.assert_error(422, "idempotency_key_reused");
        // A refusal is kept for its key too; another key saves another method.
        save("save-2", "4242424242424241").await.assert_error(402, "incorrect_number");
        save("save-2", "4242424242424241").await.assert_error(402, "incorrect_number");
        assert_eq!(save("save-3", "5555555555554444").await.status, StatusCode::CREATED);
        let listed = call(&app, &w, Method::GET, "payment-methods", None).await.json();
        assert_eq!(listed["value"].as_array().unwrap().len(), 2);
    }

    async fn a_deleted_customer_s_wallet_ends_with_them(app) {
        let m = app.merchant().await;
        let customer = app.call(Method::POST, "/api/customers", Auth::Bearer(&m.key), Some(json!({"email": "gone@example.com"}))).await.json();
        let cus = customer["id"].as_str().unwrap();
        let w = wallet(&app, &m.key, cus).await;
        assert_eq!(call(&app, &w, Method::GET, "payment-methods", None).await.status, StatusCode::OK);
        assert_eq!(app.call(Method::DELETE, format!("/api/customers/{cus}"), Auth::Bearer(&m.key), None).await.status, StatusCode::NO_CONTENT);
        // The link they were sent no longer saves anything for them.
        call(&app, &w, Method::POST, "payment-methods", Some(json!({"payment_method": card("4242424242424242")}))).await
            .assert_error(410, "session_expired");
        let saved: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM payment_methods WHERE customer_id = $1").bind(cus).fetch_one(app.db().pool()).await.unwrap();
        assert_eq!(saved, 0);
    }

    async fn the_wallet_credential_is_checked(app) {
        let m = app.merchant().await;
        let a = app.call(Method::POST, "/api/customers", Auth::Bearer(&m.key), Some(json!({"email": "a@example.com"}))).await.json();
        let b = app.call(Method::POST, "/api/customers", Auth::Bearer(&m.key), Some(json!({"email": "b@example.com"}))).await.json();
        let wa = wallet(&app, &m.key, a["id"].as_str().unwrap()).await;
        let wb = wallet(&app, &m.key, b["id"].as_str().unwrap()).await;
        // B's method is not A's to remove.
        let pm_b = app.call(Method::POST, format!("/api/customers/{}/payment-methods", b["id"].as_str().unwrap()), Auth::Bearer(&m.key),
            Some(json!({"usage": "on_session", "payment_method": card("5555555555554444")}))).await.json();
        call(&app, &wa, Method::DELETE, &format!("payment-methods/{}", pm_b["id"].as_str().unwrap()), None).await.assert_error(404, "resource_missing");
        // A's credential on B's wallet path.
        wallet_call(&app, wb["wallet_session_id"].as_str().unwrap(), wa["client_secret"].as_str().unwrap(), Method::GET, "payment-methods", None, None).await
            .assert_error(403, "session_mismatch");
        // Other kinds of credential: 401.
        let session = app.session(&m, json!({})).await;
        for wrong in [session["client_secret"].as_str().unwrap(), m.key.as_str(), m.token.as_str()] {
            wallet_call(&app, wa["wallet_session_id"].as_str().unwrap(), wrong, Method::GET, "payment-methods", None, None).await
                .assert_error(401, "unauthenticated");
        }
        // At a payment endpoint a wallet credential is 403; elsewhere on the platform API, 401.
        let wallet_secret = wa["client_secret"].as_str().unwrap();
        app.call(Method::GET, "/api/payments", Auth::Bearer(wallet_secret), None).await.assert_error(403, "insufficient_scope");
        let sale = json!({"amount": 100, "currency": "USD", "payment_method": card("4242424242424242")});
        app.call(Method::POST, "/api/payments/validate", Auth::Bearer(wallet_secret), Some(sale)).await.assert_error(403, "insufficient_scope");
        let terminal_sale = json!({"amount": 100, "currency": "USD"});
        app.call(Method::POST, "/api/terminals/trm_0000000000000000000000/payments", Auth::Bearer(wallet_secret), Some(terminal_sale)).await.assert_error(403, "insufficient_scope");
        app.call(Method::GET, "/api/customers", Auth::Bearer(wallet_secret), None).await.assert_error(401, "unauthenticated");
        // Origins.
        let ok = wallet_call(&app, wa["wallet_session_id"].as_str().unwrap(), wa["client_secret"].as_str().unwrap(), Method::GET, "config", Some(MERCHANT_ORIGIN), None).await;
        assert_eq!(ok.status, StatusCode::OK);
        assert_eq!(ok.header("access-control-allow-origin"), Some(MERCHANT_ORIGIN));
        wallet_call(&app, wa["wallet_session_id"].as_str().unwrap(), wa["client_secret"].as_str().unwrap(), Method::GET, "config", Some("https://evil.example"), None).await
            .assert_error(403, "origin_not_allowed");
        // Expiry.
        sqlx::query("UPDATE wallet_sessions SET expires_at = $1").bind(server::store::now_ms() - 1).execute(app.db().pool()).await.unwrap();
        call(&app, &wa, Method::GET, "payment-methods", None).await.assert_error(410, "session_expired");
    }

    async fn creating_a_wallet_session_is_checked(app) {
        let m = app.merchant().await;
        let post = |body: Value| app.call(Method::POST, "/v1/wallet-sessions", Auth::Bearer(&m.key), Some(body));
        assert_eq!(post(json!({"customer_id": "cus_nobody", "return_url": "https://a.example"})).await.assert_error(400, "parameter_invalid")["param"], "customer_id");
        let cus = app.call(Method::POST, "/api/customers", Auth::Bearer(&m.key), Some(json!({}))).await.json();
        let id = cus["id"].as_str().unwrap();
        assert_eq!(post(json!({"customer_id": id, "return_url": "nope"})).await.assert_error(400, "parameter_invalid")["param"], "return_url");
        assert_eq!(post(json!({"customer_id": id, "return_url": "https://a.example", "expires_in_seconds": 10})).await.assert_error(400, "parameter_invalid")["param"], "expires_in_seconds");
        assert_eq!(post(json!({"customer_id": id})).await.assert_error(400, "parameter_missing")["param"], "return_url");
        let reader = app.api_key(&m.token, &m.uid, &["customers.read"]).await;
        app.call(Method::POST, "/v1/wallet-sessions", Auth::Bearer(&reader), Some(json!({"customer_id": id, "return_url": "https://a.example"}))).await
            .assert_error(403, "insufficient_scope");
        let other = app.merchant().await;
        app.call(Method::POST, "/v1/wallet-sessions", Auth::Bearer(&other.key), Some(json!({"customer_id": id, "return_url": "https://a.example"}))).await
            .assert_error(400, "parameter_invalid");
    }
}
