//! No card number in any log line or readable column: every kind of payment runs with all logs
//! captured at TRACE, then the logs and every text column are scanned for 13–19-digit runs that
//! pass the Luhn check.

mod support;

use std::io::Write;
use std::sync::{Arc, Mutex};

use axum::http::{Method, StatusCode};
use serde_json::json;
use support::{Auth, Database, TestApp, ach, card};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Runs every flow; answers the secrets it was given or made along the way.
async fn run_every_flow(app: &TestApp) -> Vec<String> {
    let m = app.merchant().await;
    let mut secrets = vec![m.token.clone(), m.key.clone(), m.redirect_secret.clone()];
    // Card: approved, declined, step-up, AVS, errors; saved during checkout.
    let s = app.session(&m, json!({"customer_email": "leak@example.com", "setup_future_usage": "on_session"})).await;
    secrets.push(s["client_secret"].as_str().unwrap().to_owned());
    for number in ["4000000000000002", "4000000000009995", "4242424242424241"] {
        let q = app.quote(&s, "card", Some(&number[..6])).await;
        let r = app
            .browser(
                Method::POST,
                &s,
                "confirm",
                None,
                Some(json!({"fee_quote_id": q, "payment_method": card(number)})),
            )
            .await;
        assert_eq!(r.status, StatusCode::PAYMENT_REQUIRED, "{}", r.text());
    }
    let q = app.quote(&s, "card", Some("400000")).await;
    app.browser(
        Method::POST,
        &s,
        "confirm",
        None,
        Some(json!({"fee_quote_id": q, "payment_method": card("4000002760003184")})),
    )
    .await;
    let q = app.quote(&s, "card", Some("555555")).await;
    let r = app
        .browser(
            Method::POST,
            &s,
            "confirm",
            None,
            Some(json!({"fee_quote_id": q, "payment_method": card("5555555555554444"), "save_payment_method": true})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    // ACH and a saved card on the platform API.
    let s = app.session(&m, json!({})).await;
    let q = app.quote(&s, "ach", None).await;
    let r = app
        .browser(
            Method::POST,
            &s,
            "confirm",
            None,
            Some(json!({"fee_quote_id": q, "payment_method": ach("000123456789")})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let customer =
        app.call(Method::POST, "/api/customers", Auth::Bearer(&m.key), Some(json!({"name": "Leak"}))).await.json();
    let r = app
        .call(
            Method::POST,
            format!("/api/customers/{}/payment-methods", customer["id"].as_str().unwrap()),
            Auth::Bearer(&m.key),
            Some(json!({"usage": "off_session", "payment_method": card("378282246310005")})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    // A wallet session's credential, and a webhook's signing secret (its first delivery signed).
    let w = app
        .call(
            Method::POST,
            "/v1/wallet-sessions",
            Auth::Bearer(&m.key),
            Some(json!({"customer_id": customer["id"], "return_url": "https://shop.example/account"})),
        )
        .await;
    assert_eq!(w.status, StatusCode::CREATED, "{}", w.text());
    secrets.push(w.json()["client_secret"].as_str().unwrap().to_owned());
    let hook = app
        .call(
            Method::POST,
            "/api/webhooks",
            Auth::Bearer(&m.key),
            Some(json!({"url": "http://127.0.0.1:9/hooks", "events": ["*"]})),
        )
        .await;
    assert_eq!(hook.status, StatusCode::CREATED, "{}", hook.text());
    secrets.push(hook.json()["secret"].as_str().unwrap().to_owned());
    // Direct payments, autopay and a terminal: approved, declined, refunded.
    for number in ["4242424242424242", "4000000000000002"] {
        app.validate(
            &m,
            json!({"amount": 1_000, "currency": "USD", "payment_method": card(number), "capture": true}),
            None,
        )
        .await;
    }
    let pid = app.authorized(&m, 2_000, true).await;
    let r = app.payment_call(&m, &format!("/api/payments/{pid}/refund"), Some(json!({"amount": 500})), None).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let t = app
        .call(
            Method::POST,
            "/api/terminals",
            Auth::Bearer(&m.key),
            Some(json!({"label": "Desk", "serial_number": "SN-LEAK"})),
        )
        .await
        .json();
    let tid = t["id"].as_str().unwrap();
    app.call(
        Method::POST,
        format!("/api/terminals/{tid}/payments"),
        Auth::Bearer(&m.key),
        Some(json!({"amount": 300, "currency": "USD"})),
    )
    .await;
    let r = app
        .call(
            Method::POST,
            format!("/api/terminals/{tid}/simulate"),
            Auth::Bearer(&m.key),
            Some(json!({"card_number": "5555555555554444"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    // A malformed body that carries a card number must not echo it either.
    let s = app.session(&m, json!({})).await;
    let r = app.browser(Method::POST, &s, "confirm", None, Some(json!({"payment_method": {"type": "card", "card": {"number": "6011111111111117", "exp_month": "twelve"}}}))).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(support::card_numbers_in(&r.text()).is_empty(), "{}", r.text());
    server::jobs::tick(&app.state, true).await;
    secrets
}

#[test]
fn the_scanner_finds_card_numbers() {
    assert_eq!(support::card_numbers_in("card=4242424242424242;"), vec!["4242424242424242".to_owned()]);
    assert_eq!(support::card_numbers_in("amex 378282246310005 end"), vec!["378282246310005".to_owned()]);
    assert!(
        support::card_numbers_in("4242424242424241 and ts 1781202600123").is_empty(),
        "Luhn-invalid or short runs are not cards"
    );
    assert_eq!(support::card_numbers_in(r#""number":"4242424242424242""#), vec!["4242424242424242".to_owned()]);
    assert!(
        support::card_numbers_in("hash=9fe1668867844709b7 tok_Qz1668867844709").is_empty(),
        "digits inside a random token are not cards"
    );
}

async fn scan(kind: Database) {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    // Current-thread runtime: every task of the app logs through this subscriber.
    let _guard = tracing::subscriber::set_default(subscriber);
    let Some(app) = TestApp::spawn(kind).await else {
        support::no_postgres();
        return;
    };
    let secrets = run_every_flow(&app).await;
    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    // No credential either: the access token, the API key, the redirect signing secret, the
    // session's and the wallet's client secrets, the webhook's signing secret.
    assert_eq!(secrets.len(), 6);
    for secret in &secrets {
        assert!(secret.len() >= 20, "{secret}");
        assert!(!logs.contains(secret.as_str()), "a secret in the logs: {}…", &secret[..8]);
    }
    assert!(!logs.contains("_secret_"), "a client secret's shape in the logs");
    assert!(logs.contains("checkout completed"), "the logs were captured ({} bytes)", logs.len());
    assert_eq!(support::card_numbers_in(&logs), Vec::<String>::new(), "card numbers in the logs");
    assert!(!logs.contains("000123456789"), "a bank account number in the logs");
    let stored = support::all_stored_text(app.db()).await;
    assert_eq!(support::card_numbers_in(&stored), Vec::<String>::new(), "card numbers in the database");
    assert!(!stored.contains("000123456789"), "a bank account number in the database");
}

#[tokio::test]
async fn no_card_number_in_logs_or_database_sqlite() {
    scan(Database::Sqlite).await;
}

#[tokio::test]
async fn no_card_number_in_logs_or_database_postgres() {
    scan(Database::Postgres).await;
}

/// What a server process prints from its first line to its last, while it takes payments.
async fn run_process_and_pay(app: &TestApp, env: &[(&str, &str)], client: Option<(&str, &str)>) -> String {
    let server = support::ServerProcess::start_with(app, env).await;
    server.wait_for_output("Demo account uid").await;
    if let Some((id, secret)) = client {
        let http = reqwest::Client::new();
        let token: serde_json::Value = http
            .post(format!("{}/oauth2/token", server.url))
            .basic_auth(id, Some(secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let token = token["access_token"].as_str().expect("the credentials work").to_owned();
        let client: serde_json::Value = http
            .post(format!("{}/api/clients", server.url))
            .bearer_auth(&token)
            .json(&json!({"name": "Logs"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let account: serde_json::Value = http
            .post(format!("{}/api/paymentaccounts", server.url))
            .bearer_auth(&token)
            .json(&json!({"client_id": client["id"], "name": "Logs", "currency": "USD"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        for number in ["4242424242424242", "4000000000000002"] {
            let r = http
                .post(format!("{}/api/payments/validate", server.url))
                .bearer_auth(&token)
                .header("x-payment-account-uid", account["uid"].as_str().unwrap())
                .json(&json!({"amount": 500, "currency": "USD", "payment_method": card(number), "capture": true}))
                .send()
                .await
                .unwrap();
            assert!(r.status().as_u16() == 201 || r.status().as_u16() == 402, "{}", r.status());
        }
    }
    server.stop().await
}

db_tests! {
    async fn the_server_never_prints_a_secret_it_was_given(app) {
        let env = [("GOVIFI_BOOTSTRAP_CLIENT_ID", support::BOOTSTRAP_ID), ("GOVIFI_BOOTSTRAP_CLIENT_SECRET", support::BOOTSTRAP_SECRET), ("RUST_LOG", "info")];
        for start in ["first", "second"] {
            let output = run_process_and_pay(&app, &env, Some((support::BOOTSTRAP_ID, support::BOOTSTRAP_SECRET))).await;
            assert!(output.contains("govifi-server listening on"), "the whole output was read ({start} start): {output}");
            assert!(output.contains(support::BOOTSTRAP_ID), "the client id is shown ({start} start)");
            assert!(!output.contains(support::BOOTSTRAP_SECRET), "the operator's secret was echoed ({start} start):\n{output}");
            assert_eq!(support::card_numbers_in(&output), Vec::<String>::new(), "card numbers in the server's output");
        }
    }

    async fn a_secret_the_server_generates_is_printed_at_the_first_start_only(app) {
        let first = run_process_and_pay(&app, &[], None).await;
        let line = first.lines().find(|l| l.trim_start().starts_with("App client secret:")).unwrap_or_else(|| panic!("no secret shown: {first}"));
        let secret = line.split_whitespace().nth(3).unwrap().to_owned();
        let id_line = first.lines().find(|l| l.trim_start().starts_with("App client id:")).unwrap();
        let id = id_line.split_whitespace().nth(3).unwrap().to_owned();
        // It is real, and it is not shown again.
        let second = run_process_and_pay(&app, &[], Some((&id, &secret))).await;
        assert!(second.contains(&id));
        assert!(!second.contains(&secret), "shown again at the second start:\n{second}");
    }
}
