//! The browser calls of a hosted session: config, fee quotes, challenges and confirm, with
//! every status and error code of SPEC §5.

mod support;

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};
use support::{Auth, MERCHANT_ORIGIN, PUBLIC_URL, TestApp, ach, card};

fn sid(s: &Value) -> &str {
    s["session_id"].as_str().unwrap()
}

async fn confirm(app: &TestApp, s: &Value, quote: &str, method: Value) -> support::TestResponse {
    app.browser(Method::POST, s, "confirm", None, Some(json!({"fee_quote_id": quote, "payment_method": method}))).await
}

async fn config_as(app: &TestApp, session_id: &str, credential: &str) -> support::TestResponse {
    app.browser_with(Method::GET, session_id, credential, "config", None, &[], None).await
}

async fn latest_code(app: &TestApp) -> String {
    let body: String = sqlx::Row::get(
        &sqlx::query("SELECT body FROM outbox_messages ORDER BY created_at DESC, id DESC LIMIT 1")
            .fetch_one(app.db().pool())
            .await
            .unwrap(),
        0,
    );
    body.split_whitespace()
        .find(|w| w.len() == 7 && w.ends_with('.') && w[..6].bytes().all(|b| b.is_ascii_digit()))
        .map(|w| w[..6].to_owned())
        .unwrap_or_else(|| panic!("no code in {body}"))
}

/// `admitted` calls on a fresh credential before its first 429 are the burst of 30 and the one
/// a 500 ms that refilled while they ran (a loaded machine takes more than 500 ms for 30 calls).
fn within_the_burst(admitted: usize, started: std::time::Instant) -> bool {
    let refilled = started.elapsed().as_millis() as usize / 500 + 1;
    (30..=30 + refilled).contains(&admitted)
}

db_tests! {
    async fn config_is_sanitized(app) {
        let m = app.merchant().await;
        let s = app.session(&m, json!({
            "customer_email": "alex@example.com", "metadata": {"secret_ref": "hidden-123"},
            "fraud_signals": {"customer_ip": "203.0.113.9", "risk_level": "elevated"},
            "required_avs_fields": ["zip"], "locale": "es", "layout": "embedded",
            "line_items": [{"name": "Agua", "quantity": 1, "unit_amount": 14227}],
            "branding": {"logo_url": "https://shop.example/logo.png"}
        })).await;
        let r = app.browser(Method::GET, &s, "config", None, None).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        assert_eq!(r.header("cache-control"), Some("no-store"));
        let c = r.json();
        assert_eq!(c["session_id"], sid(&s));
        assert_eq!(c["status"], "active");
        assert_eq!(c["amount"], 14227);
        assert_eq!(c["currency"], "USD");
        assert_eq!(c["merchant"], json!({"display_name": "City of Example Utilities", "logo_url": "https://shop.example/logo.png", "primary_color": "#1a5fb4"}), "the brand colour, checked for contrast");
        assert_eq!(c["allowed_methods"], json!(["card", "ach", "apple_pay"]));
        assert_eq!(c["required_avs_fields"], json!(["zip"]));
        assert_eq!(c["locale"], "es");
        assert_eq!(c["layout"], "embedded");
        assert_eq!(c["cancel_url"], "https://shop.example/billing");
        assert_eq!(c["challenge"], json!({"required": false, "satisfied": false, "destination_hint": "a***@example.com"}));
        assert_eq!(c["saved_payment_methods"], json!([]));
        assert_eq!(c["line_items"][0]["name"], "Agua");
        // The seconds left by the server's clock, beside the instant (the element counts from
        // the answer, whatever the device's clock says).
        let left = server::domain::time::Timestamp::parse_rfc3339(c["expires_at"].as_str().unwrap()).unwrap().millis() - server::store::now_ms();
        let expires_in = c["expires_in"].as_i64().unwrap();
        assert!((left / 1000 - 2..=left / 1000 + 1).contains(&expires_in), "{expires_in} s against {left} ms");
        let keys: Vec<&str> = c.as_object().unwrap().keys().map(String::as_str).collect();
        for absent in ["customer_email", "metadata", "fraud_signals", "success_url", "client_secret", "secret_hash", "customer_id", "reference"] {
            assert!(!keys.contains(&absent), "{absent} must not be in the config: {c}");
        }
        let text = r.text();
        for leak in ["alex@example.com", "hidden-123", "203.0.113.9", "receipt", "_secret_"] {
            assert!(!text.contains(leak), "{leak} leaked: {text}");
        }
    }

    // The element reads these answers with miniserde (`app::wire`); each must parse there.
    async fn the_element_reads_every_answer(app) {
        use app::wire::{ConfirmResult, ConfirmStatus, ErrorEnvelope, FeeQuote, Layout, MethodType, SessionConfig, SessionStatus};
        let m = app.merchant().await;
        let s = app.session(&m, json!({
            "line_items": [{"name": "Water", "quantity": 2, "unit_amount": 5000}, {"name": "Sewer", "quantity": 1, "unit_amount": 4227, "sku": "SEW-1"}]
        })).await;
        let config = app.browser(Method::GET, &s, "config", None, None).await.text();
        let config: SessionConfig = miniserde::json::from_str(&config).unwrap_or_else(|_| panic!("config: {config}"));
        assert_eq!((config.amount, config.line_items.len(), config.line_items[1].sku.as_deref()), (14227, 2, Some("SEW-1")));
        assert_eq!(config.merchant.display_name.as_deref(), Some("City of Example Utilities"));
        assert_eq!((config.status, config.layout), (SessionStatus::Active, Layout::Hosted));
        assert_eq!(config.allowed_methods, [MethodType::Card, MethodType::Ach, MethodType::ApplePay]);
        let quote = app.browser(Method::POST, &s, "quote-fee", None, Some(json!({"payment_method_type": "ach"}))).await.text();
        let quote: FeeQuote = miniserde::json::from_str(&quote).unwrap_or_else(|_| panic!("quote: {quote}"));
        assert_eq!(quote.amount, 14227);
        let declining = app.quote(&s, "card", Some("400000")).await;
        let declined = confirm(&app, &s, &declining, card("4000000000009995")).await.text();
        let declined: ErrorEnvelope = miniserde::json::from_str(&declined).unwrap_or_else(|_| panic!("error: {declined}"));
        assert_eq!((declined.error.code.as_str(), declined.error.decline_code.as_deref()), ("card_declined", Some("insufficient_funds")));
        let quote = app.quote(&s, "card", Some("424242")).await;
        let done = confirm(&app, &s, &quote, card("4242424242424242")).await.text();
        let done: ConfirmResult = miniserde::json::from_str(&done).unwrap_or_else(|_| panic!("confirm: {done}"));
        assert_eq!(done.status, ConfirmStatus::Succeeded);
        assert!(done.payment_id.starts_with("pay_"));
    }

    async fn quotes_apply_the_fee_rules(app) {
        let m = app.merchant().await;
        let s = app.session(&m, json!({})).await;
        let quote = |body: Value| app.browser(Method::POST, &s, "quote-fee", None, Some(body));
        let credit = quote(json!({"payment_method_type": "card", "card_bin": "424242"})).await;
        assert_eq!(credit.status, StatusCode::OK, "{}", credit.text());
        let q = credit.json();
        assert!(q["fee_quote_id"].as_str().unwrap().starts_with("fq_"));
        assert_eq!((q["amount"].as_i64(), q["fee_amount"].as_i64(), q["total_amount"].as_i64()), (Some(14227), Some(420), Some(14647)), "2.95% of $142.27, rounded half up");
        assert!(q["disclosure"].as_str().unwrap().contains("$4.20") && q["disclosure"].as_str().unwrap().contains("$146.47"));
        assert_eq!(q["currency"], "USD");
        let debit = quote(json!({"payment_method_type": "card", "card_bin": "40000566"})).await.json();
        assert_eq!(debit["fee_amount"], 395, "debit BIN: flat fee");
        let ach = quote(json!({"payment_method_type": "ach"})).await.json();
        assert_eq!(ach["fee_amount"], 150);
        let apple = quote(json!({"payment_method_type": "apple_pay"})).await.json();
        assert_eq!(apple["fee_amount"], 0, "no rule, no fee");
        assert!(apple["disclosure"].as_str().unwrap().starts_with("No fee"));
        // Before the card is known (no BIN): the rules without a funding condition apply, and a
        // card under another rule is refused at confirm as stale.
        let other = app.session(&m, json!({})).await;
        let unknown = app.browser(Method::POST, &other, "quote-fee", None, Some(json!({"payment_method_type": "card"}))).await;
        assert_eq!(unknown.status, StatusCode::OK, "{}", unknown.text());
        assert_eq!(unknown.json()["fee_amount"], 420, "the percentage rule, not the debit cards' flat fee");
        let unknown = unknown.json()["fee_quote_id"].as_str().unwrap().to_owned();
        confirm(&app, &other, &unknown, card("4000056655665556")).await.assert_error(409, "quote_stale");
        let paid = confirm(&app, &other, &unknown, card("4242424242424242")).await;
        assert_eq!(paid.status, StatusCode::OK, "a credit card falls under the quoted rule: {}", paid.text());
        assert_eq!(quote(json!({"payment_method_type": "card", "card_bin": "42a2"})).await.assert_error(400, "parameter_invalid")["param"], "card_bin");
        assert_eq!(quote(json!({"payment_method_type": "cash"})).await.assert_error(400, "parameter_invalid")["param"], "payment_method_type");
        quote(json!({"payment_method_type": "card", "card_bin": "424242", "amount": 1})).await.assert_error(400, "unknown_field");
        let card_only = app.session(&m, json!({"allowed_methods": ["card"]})).await;
        app.browser(Method::POST, &card_only, "quote-fee", None, Some(json!({"payment_method_type": "ach"}))).await.assert_error(400, "parameter_invalid");
    }

    async fn a_card_payment_completes_the_session(app) {
        let m = app.merchant().await;
        let s = app.session(&m, json!({"reference": "INV-7", "description": "Water bill"})).await;
        let quote = app.quote(&s, "card", Some("424242")).await;
        let req = axum::http::Request::post(format!("/v1/hosted-sessions/{}/confirm", sid(&s)))
            .header("authorization", format!("Bearer {}", s["client_secret"].as_str().unwrap()))
            .header("content-type", "application/json")
            .header("user-agent", "TestBrowser/1.0")
            .body(axum::body::Body::from(json!({"fee_quote_id": quote, "payment_method": card("4242424242424242")}).to_string()))
            .unwrap();
        let r = app.request(req).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        let body = r.json();
        assert_eq!(body["status"], "succeeded");
        assert_eq!(body["session_id"], sid(&s));
        assert_eq!((body["amount"].as_i64(), body["fee_amount"].as_i64(), body["total_amount"].as_i64()), (Some(14227), Some(420), Some(14647)));
        assert_eq!(body["currency"], "USD");
        let payment_id = body["payment_id"].as_str().unwrap();
        assert!(body["redirect_url"].as_str().unwrap().contains(&format!("govifi_payment_id={payment_id}")));

        let session = app.call(Method::GET, format!("/v1/hosted-sessions/{}", sid(&s)), Auth::Bearer(&m.key), None).await.json();
        assert_eq!(session["status"], "completed");
        assert_eq!(session["payment_id"], payment_id);
        assert_eq!((session["fee_amount"].as_i64(), session["total_amount"].as_i64()), (Some(420), Some(14647)));
        assert!(session["completed_at"].is_string());
        assert!(session.get("client_secret").is_none());

        let p = app.call(Method::GET, format!("/api/payments/{payment_id}"), Auth::Bearer(&m.key), None).await.json();
        assert_eq!(p["object"], "payment");
        assert_eq!(p["status"], "captured");
        assert_eq!(p["amount_captured"], 14647);
        assert_eq!(p["payment_method"], json!({"type": "card", "brand": "visa", "last4": "4242", "exp_month": 12, "exp_year": 2031, "funding": "credit"}));
        assert_eq!(p["avs_result"], "pass");
        assert_eq!(p["session_id"], sid(&s));
        assert_eq!(p["reference"], "INV-7");
        assert_eq!(p["processor"], "sandbox");
        let consent = &p["consent"];
        assert_eq!(consent["fee_quote_id"], quote);
        assert_eq!(consent["fee_amount"], 420);
        assert!(consent["disclosure"].as_str().unwrap().contains("$4.20"));
        assert_eq!(consent["user_agent"], "TestBrowser/1.0");
        assert!(consent["accepted_at"].is_string());
        let ledger = app.call(Method::GET, format!("/api/payments/{payment_id}/transactions"), Auth::Bearer(&m.key), None).await.json();
        let kinds: Vec<&str> = ledger["value"].as_array().unwrap().iter().map(|t| t["type"].as_str().unwrap()).collect();
        assert_eq!(kinds, ["authorization", "capture"]);

        let types: Vec<String> = app.events(&m.uid).await.into_iter().map(|(t, _)| t).collect();
        for t in ["payment.authorized", "payment.captured", "payment.succeeded", "checkout.session.completed"] {
            assert_eq!(types.iter().filter(|x| *x == t).count(), 1, "{t} in {types:?}");
        }
        let listed = app.call(Method::GET, "/api/events?$filter=type eq 'checkout.session.completed'", Auth::Bearer(&m.key), None).await.json();
        assert_eq!(listed["value"][0]["data"]["object"]["payment_id"], payment_id);
        assert_eq!(listed["value"][0]["object"], "event");
        assert_eq!(listed["value"][0]["account_uid"], m.uid.as_str());
        // Each event's object is the resource as the API shows it (SPEC §11), though the confirm
        // builds them without reading the rows back.
        assert_eq!(listed["value"][0]["data"]["object"], session, "the completed session");
        let events = app.events(&m.uid).await;
        for t in ["payment.authorized", "payment.captured", "payment.succeeded"] {
            let (_, shown) = events.iter().find(|(k, _)| k == t).unwrap();
            assert_eq!(*shown, p, "{t}");
        }

        // Afterwards: config still answers; everything else refuses.
        let c = app.browser(Method::GET, &s, "config", None, None).await;
        assert_eq!(c.status, StatusCode::OK);
        assert_eq!(c.json()["status"], "completed");
        confirm(&app, &s, &quote, card("4242424242424242")).await.assert_error(409, "already_confirmed");
        app.browser(Method::POST, &s, "quote-fee", None, Some(json!({"payment_method_type": "ach"}))).await.assert_error(409, "already_confirmed");
        app.browser(Method::POST, &s, "challenge/send", None, None).await.assert_error(409, "already_confirmed");
    }

    async fn a_confirm_reports_where_its_time_went(app) {
        let m = app.merchant().await;
        let s = app.session(&m, json!({})).await;
        let r = app.pay_card(&s, "4242424242424242", None).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        // The recorder is shared by the tests of this binary: each series must exist and count
        // at least this confirm.
        let text = app.get("/metrics").await.text();
        let value = |series: &str| -> f64 {
            text.lines().find_map(|l| l.strip_prefix(series)).and_then(|v| v.trim().parse().ok()).unwrap_or(0.0)
        };
        for step in ["checks", "claim", "authorize", "finish"] {
            let series = format!("govifi_confirm_step_seconds_count{{step=\"{step}\"}} ");
            assert!(value(&series) >= 1.0, "{series}: {text}");
        }
        if app.db().backend() == server::store::Backend::Sqlite {
            // The claim, the processor's record and the finish each waited for their turn on the
            // writer and for a COMMIT.
            for series in ["govifi_db_write_turn_wait_seconds", "govifi_db_write_commit_wait_seconds"] {
                assert!(value(&format!("{series}_count ")) >= 3.0, "{series}: {text}");
            }
            for series in ["govifi_db_group_commit_seconds", "govifi_db_group_commit_members"] {
                assert!(value(&format!("{series}_count ")) >= 1.0, "{series}: {text}");
            }
            assert!(value("govifi_db_group_commit_members_sum ") >= 3.0, "{text}");
        }
    }

    async fn stale_and_missing_quotes(app) {
        let m = app.merchant().await;
        let s = app.session(&m, json!({})).await;
        let pay = |quote: Option<&str>, method: Value| {
            let mut body = json!({"payment_method": method});
            if let Some(q) = quote { body["fee_quote_id"] = q.into(); }
            app.browser(Method::POST, &s, "confirm", None, Some(body))
        };
        pay(None, card("4242424242424242")).await.assert_error(400, "parameter_missing");
        assert_eq!(pay(Some("fq_unknown"), card("4242424242424242")).await.assert_error(400, "parameter_invalid")["param"], "fee_quote_id");
        // Another session's quote is unknown here.
        let other = app.session(&m, json!({})).await;
        let theirs = app.quote(&other, "card", Some("424242")).await;
        pay(Some(&theirs), card("4242424242424242")).await.assert_error(400, "parameter_invalid");
        // Method differs.
        let ach_quote = app.quote(&s, "ach", None).await;
        pay(Some(&ach_quote), card("4242424242424242")).await.assert_error(409, "quote_stale");
        // The card falls under another fee rule than the quoted BIN (credit quoted, debit used).
        let credit_quote = app.quote(&s, "card", Some("424242")).await;
        pay(Some(&credit_quote), card("4000056655665556")).await.assert_error(409, "quote_stale");
        // Same rule, another card: fine (both credit). A quote lives 15 minutes (SPEC §5).
        let before = server::store::now_ms();
        let ok_quote = app.quote(&s, "card", Some("424242")).await;
        let after = server::store::now_ms();
        let expires_at: i64 = sqlx::query_scalar("SELECT expires_at FROM fee_quotes WHERE id = $1").bind(&ok_quote).fetch_one(app.db().pool()).await.unwrap();
        assert!((before..=after).contains(&(expires_at - 15 * 60 * 1000)), "{before} {expires_at} {after}");
        // Expired quote.
        sqlx::query("UPDATE fee_quotes SET expires_at = $1 WHERE id = $2").bind(server::store::now_ms() - 1).bind(&ok_quote).execute(app.db().pool()).await.unwrap();
        pay(Some(&ok_quote), card("5555555555554444")).await.assert_error(409, "quote_stale");
        // A PATCH makes an older quote stale.
        let before_patch = app.quote(&s, "card", Some("424242")).await;
        let r = app.call(Method::PATCH, format!("/v1/hosted-sessions/{}", sid(&s)), Auth::Bearer(&m.key), Some(json!({"amount": 15000}))).await;
        assert_eq!(r.status, StatusCode::OK);
        pay(Some(&before_patch), card("4242424242424242")).await.assert_error(409, "quote_stale");
        let fresh = app.quote(&s, "card", Some("555555")).await;
        let r = pay(Some(&fresh), card("5555555555554444")).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        assert_eq!(r.json()["total_amount"], 15000 + 443);
        // None of the refused attempts reached the processor or made a payment.
        let payments: i64 = sqlx::Row::get(&sqlx::query("SELECT COUNT(*) FROM payments").fetch_one(app.db().pool()).await.unwrap(), 0);
        assert_eq!(payments, 1);
    }

    async fn card_and_bank_checks_come_before_the_processor(app) {
        let m = app.merchant().await;
        let s = app.session(&m, json!({"required_avs_fields": ["cardholder", "zip", "cardholder", "zip", "zip"]})).await;
        assert_eq!(s["required_avs_fields"], json!(["cardholder", "zip"]), "each field once");
        let q = app.quote(&s, "card", Some("424242")).await;
        let mut bad = card("4242424242424241");
        confirm(&app, &s, &q, bad.clone()).await.assert_error(402, "incorrect_number");
        bad = card("4242424242424242");
        bad["card"]["exp_year"] = json!(2020);
        let e = confirm(&app, &s, &q, bad.clone()).await.assert_error(402, "invalid_expiry");
        assert_eq!(e["type"], "card_error");
        bad = card("4242424242424242");
        bad["card"]["exp_month"] = json!(13);
        confirm(&app, &s, &q, bad).await.assert_error(402, "invalid_expiry");
        bad = card("4242424242424242");
        bad["card"]["cvc"] = json!("12");
        confirm(&app, &s, &q, bad).await.assert_error(402, "invalid_cvc");
        bad = card("378282246310005");
        bad["card"]["cvc"] = json!("123");
        confirm(&app, &s, &q, bad).await.assert_error(402, "invalid_cvc");
        bad = card("4242424242424242");
        bad["billing"] = json!({"cardholder_name": "Alex Doe"});
        assert_eq!(confirm(&app, &s, &q, bad).await.assert_error(400, "parameter_missing")["param"], "payment_method.billing.postal_code");
        bad = card("4242424242424242");
        bad["billing"] = json!({"postal_code": "94107"});
        assert_eq!(confirm(&app, &s, &q, bad).await.assert_error(400, "parameter_missing")["param"], "payment_method.billing.cardholder_name");
        // The street address, when asked for: blank is missing.
        let sa = app.session(&m, json!({"required_avs_fields": ["address"]})).await;
        let qs = app.quote(&sa, "card", Some("424242")).await;
        bad = card("4242424242424242");
        bad["billing"] = json!({"cardholder_name": "Alex Doe", "postal_code": "94107", "address_line1": "  "});
        assert_eq!(confirm(&app, &sa, &qs, bad).await.assert_error(400, "parameter_missing")["param"], "payment_method.billing.address_line1");
        let qa = app.quote(&s, "ach", None).await;
        let mut bank = ach("000123456789");
        bank["ach"]["routing_number"] = json!("110000001");
        confirm(&app, &s, &qa, bank).await.assert_error(400, "invalid_routing_number");
        confirm(&app, &s, &q, json!({"type": "card", "card": {"number": "4242424242424242"}})).await.assert_error(400, "parameter_missing");
        confirm(&app, &s, &q, json!({"type": "crypto"})).await.assert_error(400, "parameter_invalid");
        let attempts: i64 = sqlx::Row::get(&sqlx::query("SELECT confirm_attempts FROM hosted_sessions WHERE id = $1").bind(sid(&s)).fetch_one(app.db().pool()).await.unwrap(), 0);
        assert_eq!(attempts, 0, "nothing reached the processor");
    }

    async fn a_decline_leaves_the_session_active_and_a_retry_succeeds(app) {
        let m = app.merchant().await;
        let s = app.session(&m, json!({})).await;
        let r = app.pay_card(&s, "4000000000000002", None).await;
        let e = r.assert_error(402, "card_declined");
        assert_eq!(e["decline_code"], "generic_decline");
        assert_eq!(e["type"], "card_error");
        let e = app.pay_card(&s, "4000000000009995", None).await.assert_error(402, "card_declined");
        assert_eq!(e["decline_code"], "insufficient_funds");
        assert_eq!(app.pay_card(&s, "4000000000000127", None).await.assert_error(402, "card_declined")["decline_code"], "incorrect_cvc");
        assert_eq!(app.pay_card(&s, "4000000000000069", None).await.assert_error(402, "card_declined")["decline_code"], "expired_card");
        assert_eq!(app.pay_card(&s, "4000000000000119", None).await.assert_error(402, "card_declined")["decline_code"], "processing_error");
        assert_eq!(app.browser(Method::GET, &s, "config", None, None).await.json()["status"], "active");
        let ok = app.pay_card(&s, "4242424242424242", None).await;
        assert_eq!(ok.status, StatusCode::OK, "{}", ok.text());
        let failed = app.call(Method::GET, "/api/payments?$filter=status eq 'failed'&$count=true", Auth::Bearer(&m.key), None).await.json();
        assert_eq!(failed["@odata.count"], 5, "declines are kept as failed payments");
        let types: Vec<String> = app.events(&m.uid).await.into_iter().map(|(t, _)| t).collect();
        assert_eq!(types.iter().filter(|t| *t == "payment.failed").count(), 5);
    }

    async fn at_most_ten_attempts_reach_the_processor(app) {
        let m = app.merchant().await;
        let s = app.session(&m, json!({})).await;
        for _ in 0..10 {
            app.pay_card(&s, "4000000000000002", None).await.assert_error(402, "card_declined");
        }
        let r = app.pay_card(&s, "4242424242424242", None).await;
        r.assert_error(429, "rate_limited");
        assert!(r.header("retry-after").is_some());
    }

    async fn address_verification(app) {
        let m = app.merchant().await;
        let s = app.session(&m, json!({})).await;
        let r = app.pay_card(&s, "4000000000000036", None).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        let p = app.call(Method::GET, format!("/api/payments/{}", r.json()["payment_id"].as_str().unwrap()), Auth::Bearer(&m.key), None).await.json();
        assert_eq!(p["avs_result"], "zip_mismatch");
        let strict = app.merchant_with(json!({"reject_avs_mismatch": true})).await;
        let s = app.session(&strict, json!({})).await;
        assert_eq!(app.pay_card(&s, "4000000000000036", None).await.assert_error(402, "card_declined")["decline_code"], "incorrect_zip");
    }

    async fn ach_is_processing_then_settles_or_returns(app) {
        let m = app.merchant().await;
        let s = app.session(&m, json!({})).await;
        let q = app.quote(&s, "ach", None).await;
        let r = confirm(&app, &s, &q, ach("000123456789")).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        let body = r.json();
        assert_eq!(body["status"], "processing");
        assert_eq!(body["fee_amount"], 150);
        let pid = body["payment_id"].as_str().unwrap().to_owned();
        let get = |id: String| app.call(Method::GET, format!("/api/payments/{id}"), Auth::Bearer(&m.key), None);
        let p = get(pid.clone()).await.json();
        assert_eq!(p["status"], "processing");
        assert_eq!(p["payment_method"], json!({"type": "ach", "last4": "6789", "bank_name": "Govifi Sandbox Bank", "account_type": "checking"}));

        let s2 = app.session(&m, json!({})).await;
        let q2 = app.quote(&s2, "ach", None).await;
        let returned = confirm(&app, &s2, &q2, ach("000111111116")).await.json()["payment_id"].as_str().unwrap().to_owned();
        // Not yet due: nothing moves.
        server::payments::settlement::settle_due(&app.state, server::store::now_ms()).await.unwrap();
        assert_eq!(get(pid.clone()).await.json()["status"], "processing");
        let later = server::store::now_ms() + server::processor::sandbox::ACH_SETTLE_MS + 1000;
        assert_eq!(server::payments::settlement::settle_due(&app.state, later).await.unwrap(), 2);
        assert_eq!(server::payments::settlement::settle_due(&app.state, later).await.unwrap(), 0, "once");
        let settled = get(pid.clone()).await.json();
        assert_eq!(settled["status"], "captured");
        assert_eq!(settled["amount_captured"], 14227 + 150);
        let failed = get(returned.clone()).await.json();
        assert_eq!(failed["status"], "failed");
        assert_eq!(failed["decline_code"], "no_account");
        let events = app.events(&m.uid).await;
        let of = |t: &str, id: &str| events.iter().filter(|(k, o)| k == t && o["id"] == id).count();
        assert_eq!(of("payment.processing", &pid), 1);
        assert_eq!(of("payment.captured", &pid), 1);
        assert_eq!(of("payment.succeeded", &pid), 1);
        assert_eq!(of("payment.failed", &returned), 1);
        assert_eq!(of("payment.captured", &returned), 0);
        let ledger = app.call(Method::GET, format!("/api/payments/{pid}/transactions"), Auth::Bearer(&m.key), None).await.json();
        let kinds: Vec<&str> = ledger["value"].as_array().unwrap().iter().map(|t| t["type"].as_str().unwrap()).collect();
        assert_eq!(kinds, ["authorization", "settlement"]);
    }

    async fn apple_pay_tokens(app) {
        let m = app.merchant().await;
        let s = app.session(&m, json!({})).await;
        let q = app.quote(&s, "apple_pay", None).await;
        let e = confirm(&app, &s, &q, json!({"type": "apple_pay", "apple_pay": {"token": "tok_applepay_decline"}})).await.assert_error(402, "card_declined");
        assert_eq!(e["decline_code"], "generic_decline");
        let e = confirm(&app, &s, &q, json!({"type": "apple_pay", "apple_pay": {"token": "tok_made_up"}})).await.assert_error(402, "card_declined");
        assert_eq!(e["decline_code"], "invalid_payment_method");
        let r = confirm(&app, &s, &q, json!({"type": "apple_pay", "apple_pay": {"token": "tok_applepay_visa"}})).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        assert_eq!(r.json()["status"], "succeeded");
    }

    async fn an_ended_sessions_quotes_and_codes_are_forgotten_after_a_week(app) {
        let m = app.merchant().await;
        let session = async || {
            let s = app.session(&m, json!({"customer_email": "alex@example.com", "fraud_signals": {"risk_level": "high"}})).await;
            app.quote(&s, "card", Some("424242")).await;
            let sent = app.browser(Method::POST, &s, "challenge/send", None, None).await;
            assert_eq!(sent.status, StatusCode::ACCEPTED, "{}", sent.text());
            s["session_id"].as_str().unwrap().to_owned()
        };
        let (old_ended, young_ended, old_active) = (session().await, session().await, session().await);
        for id in [&old_ended, &young_ended] {
            let r = app.call(Method::POST, format!("/v1/hosted-sessions/{id}/expire"), Auth::Bearer(&m.key), None).await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        }
        let keep = server::jobs::SESSION_DETAILS_KEEP_MS;
        let long_ago = server::store::now_ms() - keep - 60_000;
        for table in ["fee_quotes", "challenges"] {
            for id in [&old_ended, &old_active] {
                sqlx::query(&format!("UPDATE {table} SET created_at = $1 WHERE session_id = $2")).bind(long_ago).bind(id)
                    .execute(app.db().pool()).await.unwrap();
            }
        }
        let rows = async |id: &str| -> (i64, i64) {
            let n = async |table: &str| -> i64 {
                sqlx::Row::get(&sqlx::query(&format!("SELECT COUNT(*) FROM {table} WHERE session_id = $1")).bind(id)
                    .fetch_one(app.db().pool()).await.unwrap(), 0)
            };
            (n("fee_quotes").await, n("challenges").await)
        };
        // A pass without housekeeping leaves them; housekeeping forgets only the old rows of the
        // session that ended. One still open keeps its quote and the codes it may be verified by.
        server::jobs::tick(&app.state, false).await;
        assert_eq!(rows(&old_ended).await, (1, 1));
        server::jobs::tick(&app.state, true).await;
        assert_eq!(rows(&old_ended).await, (0, 0));
        assert_eq!(rows(&young_ended).await, (1, 1));
        assert_eq!(rows(&old_active).await, (1, 1));
        // The ended session still reads as it did.
        let r = app.call(Method::GET, format!("/v1/hosted-sessions/{old_ended}"), Auth::Bearer(&m.key), None).await;
        assert_eq!((r.status, r.json()["status"].clone()), (StatusCode::OK, json!("expired")));
    }

    async fn step_up_for_a_high_risk_session(app) {
        let m = app.merchant().await;
        let s = app.session(&m, json!({"customer_email": "alex@example.com", "fraud_signals": {"risk_level": "high"}})).await;
        let c = app.browser(Method::GET, &s, "config", None, None).await.json();
        assert_eq!(c["challenge"], json!({"required": true, "satisfied": false, "destination_hint": "a***@example.com"}));
        app.pay_card(&s, "4242424242424242", None).await.assert_error(402, "authentication_required");
        let sent = app.browser(Method::POST, &s, "challenge/send", None, None).await;
        assert_eq!(sent.status, StatusCode::ACCEPTED, "{}", sent.text());
        assert_eq!(sent.json()["destination_hint"], "a***@example.com");
        let code = latest_code(&app).await;
        let wrong = if code == "000000" { "111111" } else { "000000" };
        let e = app.browser(Method::POST, &s, "challenge/verify", None, Some(json!({"code": wrong}))).await.assert_error(400, "invalid_code");
        assert_eq!(e["attempts_remaining"], 4);
        let ok = app.browser(Method::POST, &s, "challenge/verify", None, Some(json!({"code": code}))).await;
        assert_eq!(ok.status, StatusCode::OK, "{}", ok.text());
        assert_eq!(ok.json(), json!({"verified": true}));
        assert_eq!(app.browser(Method::GET, &s, "config", None, None).await.json()["challenge"]["satisfied"], true);
        let r = app.pay_card(&s, "4242424242424242", None).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        // The code never sits in the database readable.
        let stored: String = sqlx::Row::get(&sqlx::query("SELECT code_hash FROM challenges").fetch_one(app.db().pool()).await.unwrap(), 0);
        assert_ne!(stored, code);
    }

    async fn the_step_up_card_needs_a_challenge_then_passes(app) {
        let m = app.merchant().await;
        let s = app.session(&m, json!({"customer_email": "sam@example.org"})).await;
        app.pay_card(&s, "4000002760003184", None).await.assert_error(402, "authentication_required");
        app.browser(Method::POST, &s, "challenge/send", None, None).await;
        let code = latest_code(&app).await;
        app.browser(Method::POST, &s, "challenge/verify", None, Some(json!({"code": code}))).await;
        let r = app.pay_card(&s, "4000002760003184", None).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    }

    async fn challenge_limits(app) {
        let m = app.merchant().await;
        let s = app.session(&m, json!({"customer_email": "lim@example.com"})).await;
        for _ in 0..3 {
            assert_eq!(app.browser(Method::POST, &s, "challenge/send", None, None).await.status, StatusCode::ACCEPTED);
        }
        let r = app.browser(Method::POST, &s, "challenge/send", None, None).await;
        r.assert_error(429, "rate_limited");
        let wait = r.header("retry-after").unwrap().parse::<u64>().unwrap();
        assert!((1..=600).contains(&wait), "{wait}");
        // Three in any ten minutes: once the first send is ten minutes old, one more goes, and
        // the next waits for the second to age.
        let id = s["session_id"].as_str().unwrap();
        let first: String = sqlx::query_scalar("SELECT id FROM challenges WHERE session_id = $1 ORDER BY created_at, id LIMIT 1")
            .bind(id).fetch_one(app.db().pool()).await.unwrap();
        sqlx::query("UPDATE challenges SET created_at = created_at - 600001 WHERE id = $1").bind(&first).execute(app.db().pool()).await.unwrap();
        assert_eq!(app.browser(Method::POST, &s, "challenge/send", None, None).await.status, StatusCode::ACCEPTED);
        app.browser(Method::POST, &s, "challenge/send", None, None).await.assert_error(429, "rate_limited");
        let code = latest_code(&app).await;
        let wrong = if code == "123456" { "654321" } else { "123456" };
        for remaining in (0..5).rev() {
            let e = app.browser(Method::POST, &s, "challenge/verify", None, Some(json!({"code": wrong}))).await.assert_error(400, "invalid_code");
            assert_eq!(e["attempts_remaining"], remaining);
        }
        app.browser(Method::POST, &s, "challenge/verify", None, Some(json!({"code": code}))).await.assert_error(429, "rate_limited");
        // An expired code is refused.
        let s2 = app.session(&m, json!({"customer_email": "exp@example.com"})).await;
        app.browser(Method::POST, &s2, "challenge/send", None, None).await;
        let code = latest_code(&app).await;
        sqlx::query("UPDATE challenges SET expires_at = $1 WHERE session_id = $2").bind(server::store::now_ms() - 1).bind(sid(&s2)).execute(app.db().pool()).await.unwrap();
        app.browser(Method::POST, &s2, "challenge/verify", None, Some(json!({"code": code}))).await.assert_error(400, "invalid_code");
        // No address, no code.
        let s3 = app.session(&m, json!({})).await;
        app.browser(Method::POST, &s3, "challenge/send", None, None).await.assert_error(400, "parameter_missing");
    }

    async fn wrong_codes_are_counted_over_the_whole_session(app) {
        let m = app.merchant().await;
        let s = app.session(&m, json!({"customer_email": "guess@example.com", "fraud_signals": {"risk_level": "high"}})).await;
        let verify = |code: String| app.browser(Method::POST, &s, "challenge/verify", None, Some(json!({"code": code})));
        let wrong_for = |code: &str| if code == "123456" { "654321".to_owned() } else { "123456".to_owned() };
        // Each code has five tries; the session fifteen over all its codes. The answer counts
        // down the fewer of the two.
        let rounds: [&[i64]; 4] = [&[4, 3, 2, 1], &[4, 3, 2, 1, 0], &[4, 3, 2, 1, 0], &[0]];
        let mut code = String::new();
        for (round, remaining) in rounds.into_iter().enumerate() {
            // (Three sends in any ten minutes: the earlier ones are aged out of the window.)
            sqlx::query("UPDATE challenges SET created_at = created_at - 600001 WHERE session_id = $1").bind(sid(&s)).execute(app.db().pool()).await.unwrap();
            let sent = app.browser(Method::POST, &s, "challenge/send", None, None).await;
            assert_eq!(sent.status, StatusCode::ACCEPTED, "round {round}: {}", sent.text());
            code = latest_code(&app).await;
            for &left in remaining {
                let e = verify(wrong_for(&code)).await.assert_error(400, "invalid_code");
                assert_eq!(e["attempts_remaining"], left, "round {round}");
            }
        }
        // Fifteen wrong codes: even the right one no longer verifies, until the session ends.
        let r = verify(code.clone()).await;
        r.assert_error(429, "rate_limited");
        let wait = r.header("retry-after").unwrap().parse::<u64>().unwrap();
        assert!(wait > 600, "until the session ends, not the code: {wait}");
        // No new code is sent for it either (none could verify), whatever the send window.
        sqlx::query("UPDATE challenges SET created_at = created_at - 600001 WHERE session_id = $1").bind(sid(&s)).execute(app.db().pool()).await.unwrap();
        let sent = app.browser(Method::POST, &s, "challenge/send", None, None).await;
        assert!(sent.assert_error(429, "rate_limited")["message"].as_str().unwrap().contains("this checkout"), "{}", sent.text());
        assert_eq!(latest_code(&app).await, code, "no mail went");
        assert_eq!(app.browser(Method::GET, &s, "config", None, None).await.json()["challenge"]["satisfied"], false);
    }

    async fn racing_wrong_codes_cannot_pass_the_session_cap(app) {
        let m = app.merchant().await;
        let s = app.session(&m, json!({"customer_email": "race@example.com", "fraud_signals": {"risk_level": "high"}})).await;
        for _ in 0..2 {
            assert_eq!(app.browser(Method::POST, &s, "challenge/send", None, None).await.status, StatusCode::ACCEPTED);
        }
        // The session has one wrong code left; its latest code has all five of its own.
        let older: String = sqlx::query_scalar("SELECT id FROM challenges WHERE session_id = $1 ORDER BY created_at, id LIMIT 1")
            .bind(sid(&s)).fetch_one(app.db().pool()).await.unwrap();
        sqlx::query("UPDATE challenges SET failures = 14 WHERE id = $1").bind(&older).execute(app.db().pool()).await.unwrap();
        let code = latest_code(&app).await;
        let wrong = if code == "123456" { "654321" } else { "123456" };
        let guesses = futures_util::future::join_all((0..5).map(|_| {
            app.browser(Method::POST, &s, "challenge/verify", None, Some(json!({"code": wrong})))
        }))
        .await;
        let counted = guesses.iter().filter(|r| r.status == StatusCode::BAD_REQUEST).count();
        assert_eq!(counted, 1, "{:?}", guesses.iter().map(|r| r.text()).collect::<Vec<_>>());
        assert!(guesses.iter().all(|r| matches!(r.status.as_u16(), 400 | 429)));
        let total: i64 = sqlx::query_scalar("SELECT CAST(SUM(failures) AS BIGINT) FROM challenges WHERE session_id = $1")
            .bind(sid(&s)).fetch_one(app.db().pool()).await.unwrap();
        assert_eq!(total, 15);
        app.browser(Method::POST, &s, "challenge/verify", None, Some(json!({"code": code}))).await.assert_error(429, "rate_limited");
        // The same race at the statement itself, without the HTTP path's own staggering: one
        // of five counts.
        let s = app.session(&m, json!({"customer_email": "race2@example.com", "fraud_signals": {"risk_level": "high"}})).await;
        for _ in 0..2 {
            assert_eq!(app.browser(Method::POST, &s, "challenge/send", None, None).await.status, StatusCode::ACCEPTED);
        }
        let ids: Vec<String> = sqlx::query_scalar("SELECT id FROM challenges WHERE session_id = $1 ORDER BY created_at, id")
            .bind(sid(&s)).fetch_all(app.db().pool()).await.unwrap();
        sqlx::query("UPDATE challenges SET failures = 14 WHERE id = $1").bind(&ids[0]).execute(app.db().pool()).await.unwrap();
        let caps = (server::checkout::challenge::MAX_FAILURES, server::checkout::challenge::MAX_SESSION_FAILURES);
        let tasks: Vec<_> = (0..5).map(|_| {
            let (state, id) = (app.state.clone(), ids[1].clone());
            tokio::spawn(async move { server::store::challenges::count_failure(state.db(), &id, caps).await.unwrap() })
        }).collect();
        let mut counted = 0;
        for t in tasks {
            counted += usize::from(t.await.unwrap().is_some());
        }
        assert_eq!(counted, 1);
    }

    async fn saving_the_method_used(app) {
        let m = app.merchant().await;
        let s = app.session(&m, json!({"customer_email": "new@example.com", "setup_future_usage": "off_session"})).await;
        let q = app.quote(&s, "card", Some("555555")).await;
        let r = app.browser(Method::POST, &s, "confirm", None, Some(json!({"fee_quote_id": q, "payment_method": card("5555555555554444"), "save_payment_method": true}))).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        let p = app.call(Method::GET, format!("/api/payments/{}", r.json()["payment_id"].as_str().unwrap()), Auth::Bearer(&m.key), None).await.json();
        let customer_id = p["customer_id"].as_str().expect("a customer was created for the saved method").to_owned();
        // The session names that customer too, read back and in its event.
        let session = app.call(Method::GET, format!("/v1/hosted-sessions/{}", s["session_id"].as_str().unwrap()), Auth::Bearer(&m.key), None).await.json();
        assert_eq!(session["customer_id"], customer_id.as_str());
        let completed = app.events(&m.uid).await.into_iter().find(|(t, _)| t == "checkout.session.completed").unwrap().1;
        assert_eq!(completed, session);
        // The consent keeps the very words the checkout showed beside its box (`app::i18n`).
        assert_eq!(
            p["consent"]["mandate"],
            "By checking this box you authorize City of Example Utilities to charge this payment method for future payments under its terms until you revoke this authorization.",
            "autopay mandate recorded: {p}"
        );
        let es = app.session(&m, json!({"customer_email": "nuevo@example.com", "setup_future_usage": "off_session", "locale": "es"})).await;
        let q = app.quote(&es, "card", Some("424242")).await;
        let r = app.browser(Method::POST, &es, "confirm", None, Some(json!({"fee_quote_id": q, "payment_method": card("4242424242424242"), "save_payment_method": true}))).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        let p_es = app.call(Method::GET, format!("/api/payments/{}", r.json()["payment_id"].as_str().unwrap()), Auth::Bearer(&m.key), None).await.json();
        assert_eq!(
            p_es["consent"]["mandate"],
            "Al marcar esta casilla autoriza a City of Example Utilities a cobrar este método de pago para pagos futuros según sus condiciones, hasta que revoque esta autorización.",
        );
        let methods = app.call(Method::GET, format!("/api/customers/{customer_id}/payment-methods"), Auth::Bearer(&m.key), None).await.json();
        let saved = &methods["value"][0];
        assert_eq!(saved["brand"], "mastercard");
        assert_eq!(saved["last4"], "4444");
        assert_eq!(saved["usage"], "off_session");
        let customer = app.call(Method::GET, format!("/api/customers/{customer_id}"), Auth::Bearer(&m.key), None).await.json();
        assert_eq!(customer["email"], "new@example.com");
        let types: Vec<String> = app.events(&m.uid).await.into_iter().map(|(t, _)| t).collect();
        assert!(types.contains(&"customer.created".to_owned()) && types.contains(&"payment_method.saved".to_owned()));

        // Without setup_future_usage the flag saves nothing.
        let count = async || -> i64 { sqlx::Row::get(&sqlx::query("SELECT COUNT(*) FROM payment_methods").fetch_one(app.db().pool()).await.unwrap(), 0) };
        assert_eq!(count().await, 2, "the English and the Spanish checkout's");
        let plain = app.session(&m, json!({"customer_email": "n2@example.com"})).await;
        let q = app.quote(&plain, "card", Some("424242")).await;
        let r = app.browser(Method::POST, &plain, "confirm", None, Some(json!({"fee_quote_id": q, "payment_method": card("4242424242424242"), "save_payment_method": true}))).await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(count().await, 2);
    }

    async fn paying_with_a_saved_method(app) {
        let m = app.merchant().await;
        let customer = app.call(Method::POST, "/api/customers", Auth::Bearer(&m.key), Some(json!({"email": "pat@example.com"}))).await.json();
        let cus = customer["id"].as_str().unwrap();
        let pm = app.call(Method::POST, format!("/api/customers/{cus}/payment-methods"), Auth::Bearer(&m.key),
            Some(json!({"usage": "on_session", "payment_method": card("4000056655665556")}))).await.json();
        let pm_id = pm["id"].as_str().unwrap();
        let s = app.session(&m, json!({"customer_id": cus})).await;
        let c = app.browser(Method::GET, &s, "config", None, None).await.json();
        assert_eq!(c["saved_payment_methods"], json!([{"id": pm_id, "type": "card", "brand": "visa", "last4": "5556", "exp_month": 12, "exp_year": 2031, "bank_name": null, "account_type": null}]));
        let q = app.browser(Method::POST, &s, "quote-fee", None, Some(json!({"payment_method_type": "card", "saved_payment_method_id": pm_id}))).await.json();
        assert_eq!(q["fee_amount"], 395, "the saved debit card's fee");
        let r = confirm(&app, &s, q["fee_quote_id"].as_str().unwrap(), json!({"type": "saved", "saved": {"payment_method_id": pm_id}})).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        // Someone else's method is not usable.
        let s2 = app.session(&m, json!({"customer_id": cus})).await;
        let q2 = app.quote(&s2, "card", Some("424242")).await;
        confirm(&app, &s2, &q2, json!({"type": "saved", "saved": {"payment_method_id": "pm_notours"}})).await.assert_error(400, "parameter_invalid");
        // A high-risk session shows saved methods only after the challenge.
        let risky = app.session(&m, json!({"customer_id": cus, "fraud_signals": {"risk_level": "high"}})).await;
        assert_eq!(app.browser(Method::GET, &risky, "config", None, None).await.json()["saved_payment_methods"], json!([]));
        app.browser(Method::POST, &risky, "challenge/send", None, None).await;
        let code = latest_code(&app).await;
        app.browser(Method::POST, &risky, "challenge/verify", None, Some(json!({"code": code}))).await;
        assert_eq!(app.browser(Method::GET, &risky, "config", None, None).await.json()["saved_payment_methods"][0]["id"], pm_id);
    }

    async fn an_expired_session_answers_config_and_refuses_the_rest(app) {
        let m = app.merchant().await;
        let s = app.session(&m, json!({})).await;
        let q = app.quote(&s, "card", Some("424242")).await;
        sqlx::query("UPDATE hosted_sessions SET expires_at = $1 WHERE id = $2").bind(server::store::now_ms() - 1).bind(sid(&s)).execute(app.db().pool()).await.unwrap();
        let c = app.browser(Method::GET, &s, "config", None, None).await;
        assert_eq!(c.status, StatusCode::OK);
        assert_eq!(c.json()["status"], "expired");
        assert_eq!(c.json()["cancel_url"], "https://shop.example/billing");
        confirm(&app, &s, &q, card("4242424242424242")).await.assert_error(410, "session_expired");
        app.browser(Method::POST, &s, "quote-fee", None, Some(json!({"payment_method_type": "ach"}))).await.assert_error(410, "session_expired");
        app.browser(Method::POST, &s, "challenge/send", None, None).await.assert_error(410, "session_expired");
        let count = app.events(&m.uid).await.iter().filter(|(t, _)| t == "checkout.session.expired").count();
        assert_eq!(count, 1);
    }

    async fn the_session_credential_is_checked(app) {
        let m = app.merchant().await;
        let a = app.session(&m, json!({})).await;
        let b = app.session(&m, json!({})).await;
        assert_eq!(config_as(&app, sid(&a), a["client_secret"].as_str().unwrap()).await.status, StatusCode::OK);
        config_as(&app, sid(&b), a["client_secret"].as_str().unwrap()).await.assert_error(403, "session_mismatch");
        let forged = format!("{}_secret_{}", sid(&a), "x".repeat(32));
        config_as(&app, sid(&a), &forged).await.assert_error(401, "unauthenticated");
        config_as(&app, sid(&a), "ws_abc_secret_def").await.assert_error(403, "insufficient_scope");
        config_as(&app, sid(&a), &m.key).await.assert_error(401, "unauthenticated");
        config_as(&app, sid(&a), &m.token).await.assert_error(401, "unauthenticated");
        let r = app.request(axum::http::Request::get(format!("/v1/hosted-sessions/{}/config", sid(&a))).body(axum::body::Body::empty()).unwrap()).await;
        r.assert_error(401, "unauthenticated");
        // The wallet credential is refused at every payment endpoint.
        for (method, tail) in [(Method::POST, "quote-fee"), (Method::POST, "confirm"), (Method::POST, "challenge/send")] {
            app.browser_with(method, sid(&a), "ws_abc_secret_def", tail, None, &[], Some(json!({}))).await.assert_error(403, "insufficient_scope");
        }
    }

    async fn origins_and_cors(app) {
        let m = app.merchant().await;
        let s = app.session(&m, json!({})).await;
        for origin in [MERCHANT_ORIGIN, PUBLIC_URL] {
            let r = app.browser(Method::GET, &s, "config", Some(origin), None).await;
            assert_eq!(r.status, StatusCode::OK, "{origin}: {}", r.text());
            assert_eq!(r.header("access-control-allow-origin"), Some(origin));
        }
        let r = app.browser(Method::GET, &s, "config", Some("https://evil.example"), None).await;
        r.assert_error(403, "origin_not_allowed");
        assert!(r.header("access-control-allow-origin").is_none());
        let q = app.quote(&s, "card", Some("424242")).await;
        app.browser(Method::POST, &s, "confirm", Some("https://evil.example"), Some(json!({"fee_quote_id": q, "payment_method": card("4242424242424242")}))).await
            .assert_error(403, "origin_not_allowed");
        // Preflight.
        let preflight = |origin: &str| {
            let req = axum::http::Request::builder().method(Method::OPTIONS).uri(format!("/v1/hosted-sessions/{}/confirm", sid(&s)))
                .header("origin", origin).header("access-control-request-method", "POST")
                .header("access-control-request-headers", "authorization,content-type,idempotency-key")
                .body(axum::body::Body::empty()).unwrap();
            app.request(req)
        };
        let ok = preflight(MERCHANT_ORIGIN).await;
        assert!(ok.status.is_success(), "{:?}", ok.status);
        assert_eq!(ok.header("access-control-allow-origin"), Some(MERCHANT_ORIGIN));
        assert!(ok.header("access-control-allow-headers").unwrap().contains("idempotency-key"));
        let foreign = preflight("https://evil.example").await;
        assert!(foreign.header("access-control-allow-origin").is_none());
        // An error the shaping rewrites into the error object keeps the CORS headers, so the
        // page's script can read it (a wrong method here).
        let r = app.browser(Method::PUT, &s, "config", Some(MERCHANT_ORIGIN), None).await;
        r.assert_error(405, "method_not_allowed");
        assert_eq!(r.header("access-control-allow-origin"), Some(MERCHANT_ORIGIN));
        assert!(r.header("allow").is_some_and(|a| a.contains("GET")), "{:?}", r.header("allow"));
    }

    async fn browser_calls_are_rate_limited_per_credential(app) {
        let m = app.merchant().await;
        let s = app.session(&m, json!({})).await;
        let other = app.session(&m, json!({})).await;
        let mut limited = None;
        let started = std::time::Instant::now();
        for i in 0..60 {
            let r = app.browser(Method::GET, &s, "config", None, None).await;
            if r.status == StatusCode::TOO_MANY_REQUESTS {
                limited = Some((i, r));
                break;
            }
        }
        let (i, r) = limited.expect("the burst of 30 runs out");
        assert!(within_the_burst(i, started), "the burst of 30 passes, and what refilled meanwhile: {i}");
        r.assert_error(429, "rate_limited");
        assert!(r.header("retry-after").unwrap().parse::<u64>().unwrap() >= 1);
        assert_eq!(app.browser(Method::GET, &other, "config", None, None).await.status, StatusCode::OK, "keyed on the credential");
    }

    async fn refused_browser_calls_spend_none_of_the_budget(app) {
        // On PostgreSQL the budget is spent in the statement that reads the session, conditioned
        // on the checks the extractor makes after it; a call that fails one must cost nothing.
        let m = app.merchant().await;
        let s = app.session(&m, json!({})).await;
        let other = app.session(&m, json!({})).await;
        let (id, secret) = (s["session_id"].as_str().unwrap(), s["client_secret"].as_str().unwrap());
        let forged = format!("{id}_secret_{}", "x".repeat(32));
        for _ in 0..40 {
            let r = app.browser_with(Method::GET, id, &forged, "config", None, &[], None).await;
            r.assert_error(401, "unauthenticated");
            let r = app.browser(Method::GET, &s, "config", Some("https://evil.example"), None).await;
            r.assert_error(403, "origin_not_allowed");
            let r = app.browser_with(Method::GET, other["session_id"].as_str().unwrap(), secret, "config", None, &[], None).await;
            r.assert_error(403, "session_mismatch");
        }
        // The whole burst is left, for calls from the platform's page and the merchant's site.
        let started = std::time::Instant::now();
        let mut admitted = 0;
        for i in 0..60 {
            let origin = [Some(MERCHANT_ORIGIN), Some(PUBLIC_URL), None][i % 3];
            let r = app.browser(Method::GET, &s, "config", origin, None).await;
            if r.status == StatusCode::TOO_MANY_REQUESTS {
                r.assert_error(429, "rate_limited");
                break;
            }
            assert_eq!(r.status, StatusCode::OK, "call {i}: {}", r.text());
            admitted += 1;
        }
        assert!(within_the_burst(admitted, started), "the burst of 30 is left whole: {admitted}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn challenge_codes_go_out_by_smtp_when_configured() {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    // A minimal SMTP listener that keeps what it receives.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = tokio::sync::oneshot::channel::<String>();
    tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let (read, mut write) = stream.into_split();
        let mut lines = BufReader::new(read).lines();
        write.write_all(b"220 test ESMTP\r\n").await.unwrap();
        let mut data = String::new();
        let mut in_data = false;
        let mut tx = Some(tx);
        while let Ok(Some(line)) = lines.next_line().await {
            if in_data {
                if line == "." {
                    in_data = false;
                    write.write_all(b"250 queued\r\n").await.unwrap();
                    if let Some(tx) = tx.take() {
                        let _ = tx.send(data.clone());
                    }
                } else {
                    data.push_str(&line);
                    data.push('\n');
                }
                continue;
            }
            let upper = line.to_ascii_uppercase();
            let reply: &[u8] = if upper.starts_with("EHLO") || upper.starts_with("HELO") {
                b"250 test\r\n"
            } else if upper.starts_with("DATA") {
                in_data = true;
                b"354 go on\r\n"
            } else if upper.starts_with("QUIT") {
                b"221 bye\r\n"
            } else {
                b"250 ok\r\n"
            };
            write.write_all(reply).await.unwrap();
        }
    });
    let app = TestApp::spawn_with(
        support::Database::Sqlite,
        &[
            ("GOVIFI_SMTP_URL", &format!("smtp://127.0.0.1:{port}")),
            ("GOVIFI_SMTP_FROM", "City Payments <pay@city.example>"),
        ],
    )
    .await
    .unwrap();
    let m = app.merchant().await;
    let s =
        app.session(&m, json!({"customer_email": "smtp@example.com", "fraud_signals": {"risk_level": "high"}})).await;
    let r = app.browser(Method::POST, &s, "challenge/send", None, None).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text());
    let message = tokio::time::timeout(std::time::Duration::from_secs(10), rx).await.unwrap().unwrap();
    assert!(message.contains("To: smtp@example.com"), "{message}");
    assert!(
        message.to_ascii_lowercase().contains("content-type: text/plain; charset=utf-8"),
        "UTF-8 said so: {message}"
    );
    assert!(message.lines().any(|l| l.starts_with("From: ") && l.contains("<pay@city.example>")), "{message}");
    let code = message
        .split_whitespace()
        .find(|w| w.len() == 7 && w.ends_with('.') && w[..6].bytes().all(|b| b.is_ascii_digit()))
        .expect("a code in the mail")[..6]
        .to_owned();
    let outbox: i64 = sqlx::Row::get(
        &sqlx::query("SELECT COUNT(*) FROM outbox_messages").fetch_one(app.db().pool()).await.unwrap(),
        0,
    );
    assert_eq!(outbox, 0, "with SMTP nothing goes to the outbox");
    let ok = app.browser(Method::POST, &s, "challenge/verify", None, Some(json!({"code": code}))).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text());
}

/// An app (on SQLite) that sends mail by SMTP to the server on `port` on loopback.
async fn with_mail_server(port: u16) -> TestApp {
    TestApp::spawn_with(support::Database::Sqlite, &[("GOVIFI_SMTP_URL", &format!("smtp://127.0.0.1:{port}"))])
        .await
        .unwrap()
}

/// An app whose `GOVIFI_SMTP_URL` names a port with nothing listening: every send fails, and
/// surely reaches nobody.
async fn with_no_mail_server() -> TestApp {
    with_mail_server(std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()).await
}

/// A code the mail server would not take: 503 `email_unavailable`, and the failed send neither
/// replaces an earlier code nor counts against the three sends a window allows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_code_that_could_not_be_sent_costs_the_customer_nothing() {
    let app = with_no_mail_server().await;
    let m = app.merchant().await;
    let s =
        app.session(&m, json!({"customer_email": "down@example.com", "fraud_signals": {"risk_level": "high"}})).await;
    for attempt in 0..4 {
        let r = app.browser(Method::POST, &s, "challenge/send", None, None).await;
        assert_eq!(r.assert_error(503, "email_unavailable")["type"], "api_error", "send {attempt}: never 429");
    }
    let kept: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM challenges").fetch_one(app.db().pool()).await.unwrap();
    assert_eq!(kept, 0, "no challenge stands for a code nobody got");
    let r = app.browser(Method::POST, &s, "challenge/verify", None, Some(json!({"code": "123456"}))).await;
    assert_eq!(r.assert_error(400, "invalid_code")["message"], "No code was sent yet; ask for one first");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_outbox_is_for_admins_in_sandbox() {
    let app = TestApp::spawn(support::Database::Sqlite).await.unwrap();
    let m = app.merchant().await;
    let s = app.session(&m, json!({"customer_email": "box@example.com"})).await;
    app.browser(Method::POST, &s, "challenge/send", None, None).await;
    let r = app.call(Method::GET, "/api/outbox", Auth::Bearer(&m.token), None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["value"][0]["to"], "box@example.com");
    app.call(Method::GET, "/api/outbox", Auth::Bearer(&m.key), None).await.assert_error(401, "unauthenticated");
}

/// The receipts in the sandbox outbox: (to, subject, body), oldest first.
async fn receipts(app: &TestApp) -> Vec<(String, String, String)> {
    sqlx::query_as("SELECT recipient, subject, body FROM outbox_messages WHERE subject LIKE '%recib%' OR subject LIKE '%receipt%' ORDER BY created_at, id")
        .fetch_all(app.db().pool())
        .await
        .unwrap()
}

db_tests! {
    async fn a_completed_checkout_sends_its_receipt_once(app) {
        let m = app.merchant().await;
        // With the session's email: the receipt, once, with what was paid.
        let s = app.session(&m, json!({"customer_email": "payer@example.com", "description": "Water bill", "reference": "INV-77", "branding": {"display_name": "Parks Dept"}})).await;
        let r = app.pay_card(&s, "4242424242424242", None).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        let paid = r.json();
        assert!(receipts(&app).await.is_empty(), "sent by the job, not by the confirm");
        // The background loops send it (their own loop, beside the other jobs), once.
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let jobs = server::jobs::spawn(app.state.clone(), stopped);
        for _ in 0..100 {
            if !receipts(&app).await.is_empty() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        stop.send(true).unwrap();
        jobs.await.unwrap();
        assert_eq!(server::checkout::receipts::send_due(&app.state, server::store::now_ms()).await.unwrap(), 0, "sent already");
        let sent = receipts(&app).await;
        assert_eq!(sent.len(), 1, "{sent:?}");
        let (to, subject, body) = &sent[0];
        assert_eq!(to, "payer@example.com");
        assert_eq!(subject, "Your receipt from Parks Dept", "the name the checkout showed");
        let dollars = |minor: i64| format!("${}.{:02}", minor / 100, minor % 100);
        for line in [
            "For: Water bill".to_owned(),
            "Reference: INV-77".to_owned(),
            format!("Total: {}", dollars(paid["total_amount"].as_i64().unwrap())),
            format!("Amount: {}", dollars(paid["amount"].as_i64().unwrap())),
            "Paid with: Visa •••• 4242".to_owned(),
            format!("Payment: {}", paid["payment_id"].as_str().unwrap()),
        ] {
            assert!(body.contains(&line), "{line} in {body}");
        }
        assert!(!body.contains("424242424242"), "never the card number");

        // Without an email, none; with a customer's email, to the customer, in the session's language.
        let quiet = app.session(&m, json!({})).await;
        assert_eq!(app.pay_card(&quiet, "4242424242424242", None).await.status, StatusCode::OK);
        let c = app.call(Method::POST, "/api/customers", Auth::Bearer(&m.key), Some(json!({"email": "cliente@example.com"}))).await.json();
        let s = app.session(&m, json!({"customer_id": c["id"], "locale": "es"})).await;
        assert_eq!(app.pay_card(&s, "4242424242424242", None).await.status, StatusCode::OK);
        assert_eq!(server::checkout::receipts::send_due(&app.state, server::store::now_ms()).await.unwrap(), 1);
        let sent = receipts(&app).await;
        assert_eq!(sent.len(), 2, "{sent:?}");
        assert_eq!(sent[1].0, "cliente@example.com");
        assert!(sent[1].1.starts_with("Su recibo de "), "{}", sent[1].1);
        assert!(sent[1].2.contains("Pagado con: Visa •••• 4242"), "{}", sent[1].2);
        let due: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM hosted_sessions WHERE receipt_due_at IS NOT NULL").fetch_one(app.db().pool()).await.unwrap();
        assert_eq!(due, 0);
    }

    async fn a_receipt_whose_sender_died_mid_send_goes_out_when_its_lease_ends(app) {
        use server::checkout::receipts::{LEASE_MS, send_due};
        let m = app.merchant().await;
        let s = app.session(&m, json!({"customer_email": "lease@example.com"})).await;
        assert_eq!(app.pay_card(&s, "4242424242424242", None).await.status, StatusCode::OK);
        let id = s["session_id"].as_str().unwrap();
        let due = async || -> Option<i64> {
            sqlx::query_scalar("SELECT receipt_due_at FROM hosted_sessions WHERE id = $1").bind(id).fetch_one(app.db().pool()).await.unwrap()
        };
        let now = server::store::now_ms();
        // A process took it, then died before its send was done.
        assert!(server::store::sessions::claim_receipt(app.db(), id, due().await.unwrap(), now + LEASE_MS).await.unwrap());
        assert_eq!(send_due(&app.state, now).await.unwrap(), 0, "taken: no other process sends it meanwhile");
        assert!(receipts(&app).await.is_empty());
        assert_eq!(send_due(&app.state, now + LEASE_MS + 1).await.unwrap(), 1, "its lease over, another sends it");
        assert_eq!(receipts(&app).await.len(), 1);
        assert_eq!(due().await, None);
        assert_eq!(send_due(&app.state, now + 3 * LEASE_MS).await.unwrap(), 0, "once");
    }

    async fn no_receipt_thanks_a_customer_for_a_bank_debit_that_came_back_before_it_went(app) {
        let m = app.merchant().await;
        let s = app.session(&m, json!({"customer_email": "debit@example.com"})).await;
        let q = app.quote(&s, "ach", None).await;
        assert_eq!(confirm(&app, &s, &q, ach("000111111113")).await.status, StatusCode::OK);
        let later = server::store::now_ms() + server::processor::sandbox::ACH_SETTLE_MS + 1000;
        assert_eq!(server::payments::settlement::settle_due(&app.state, later).await.unwrap(), 1);
        assert_eq!(server::checkout::receipts::send_due(&app.state, later).await.unwrap(), 0);
        assert!(receipts(&app).await.is_empty(), "the debit came back: no thanks for it");
        let due: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM hosted_sessions WHERE receipt_due_at IS NOT NULL").fetch_one(app.db().pool()).await.unwrap();
        assert_eq!(due, 0, "and none left to send");
    }
}

/// A mail server that refuses: the receipt is due again later, not lost and not resent at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receipt_the_mail_server_refused_is_tried_again_later() {
    let app = with_no_mail_server().await;
    let m = app.merchant().await;
    let s = app.session(&m, json!({"customer_email": "payer@example.com"})).await;
    assert_eq!(app.pay_card(&s, "4242424242424242", None).await.status, StatusCode::OK);
    let id = s["session_id"].as_str().unwrap();
    let due = async || -> Option<i64> {
        sqlx::query_scalar("SELECT receipt_due_at FROM hosted_sessions WHERE id = $1")
            .bind(id)
            .fetch_one(app.db().pool())
            .await
            .unwrap()
    };
    let now = server::store::now_ms();
    assert!(due().await.is_some_and(|at| at <= now), "due from its completion");
    assert_eq!(server::checkout::receipts::send_due(&app.state, now).await.unwrap(), 0);
    let again = due().await.expect("due again");
    assert!(again >= now + server::domain::time::RECHECK_SOONEST_MS, "later: {}", again - now);
    assert_eq!(server::checkout::receipts::send_due(&app.state, now).await.unwrap(), 0);
    assert_eq!(due().await, Some(again), "not tried before then");
    // Three days on, it is given up.
    let later = now + server::checkout::receipts::GIVE_UP_AFTER_MS;
    assert_eq!(server::checkout::receipts::send_due(&app.state, later).await.unwrap(), 0);
    assert_eq!(due().await, None);
}

/// A mail server that answers `refused` to the command beginning `command` (every other with
/// 250); its port and how many times it refused.
async fn refusing_mail_server(
    command: &'static str,
    refused: &'static str,
) -> (u16, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let refusals = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = refusals.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let counted = counted.clone();
            tokio::spawn(async move {
                let (read, mut write) = stream.into_split();
                let mut lines = BufReader::new(read).lines();
                write.write_all(b"220 test ESMTP\r\n").await.unwrap();
                while let Ok(Some(line)) = lines.next_line().await {
                    let upper = line.to_ascii_uppercase();
                    let reply = if upper.starts_with(command) {
                        counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        format!("{refused}\r\n")
                    } else if upper.starts_with("QUIT") {
                        "221 bye\r\n".to_owned()
                    } else {
                        "250 ok\r\n".to_owned()
                    };
                    if write.write_all(reply.as_bytes()).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    (port, refusals)
}

/// A receipt whose recipient the mail server refuses for good (5.1.1: no such mailbox) is given
/// up at once, not tried for three days; one it refuses for another reason (its sender, 5.7.1)
/// is the operator's to fix, and tried again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receipt_whose_recipient_is_refused_for_good_is_given_up_at_once() {
    use server::checkout::receipts::{LEASE_MS, send_due};
    for (command, refused, given_up) in [
        ("RCPT", "550 5.1.1 <nobody@example.com>: Recipient address rejected", true),
        ("MAIL", "550 5.7.1 Sender address not allowed", false),
    ] {
        let (port, refusals) = refusing_mail_server(command, refused).await;
        let app = with_mail_server(port).await;
        let m = app.merchant().await;
        let s = app.session(&m, json!({"customer_email": "nobody@example.com"})).await;
        assert_eq!(app.pay_card(&s, "4242424242424242", None).await.status, StatusCode::OK);
        let now = server::store::now_ms();
        assert_eq!(send_due(&app.state, now).await.unwrap(), 0);
        assert_eq!(refusals.load(std::sync::atomic::Ordering::SeqCst), 1, "{command}");
        let due: Option<i64> = sqlx::query_scalar("SELECT receipt_due_at FROM hosted_sessions WHERE id = $1")
            .bind(s["session_id"].as_str().unwrap())
            .fetch_one(app.db().pool())
            .await
            .unwrap();
        assert_eq!(due.is_none(), given_up, "{command}: given up {given_up}, due at {due:?}");
        let later = now + LEASE_MS + server::domain::time::RECHECK_LATEST_MS;
        assert_eq!(send_due(&app.state, later).await.unwrap(), 0);
        let asked = refusals.load(std::sync::atomic::Ordering::SeqCst);
        assert_eq!(asked, if given_up { 1 } else { 2 }, "{command}: asked {asked} times");
    }
}

/// A mail server that takes the connection and never answers holds up no other job: sessions
/// still expire while a receipt waits on it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mail_server_that_never_answers_holds_up_no_other_job() {
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = silent.local_addr().unwrap().port();
    let (took, mut connected) = tokio::sync::mpsc::unbounded_channel();
    // Accepts and keeps each connection, saying nothing (no SMTP greeting).
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = silent.accept().await {
            held.push(stream);
            let _ = took.send(());
        }
    });
    let app = with_mail_server(port).await;
    let m = app.merchant().await;
    let paid = app.session(&m, json!({"customer_email": "payer@example.com"})).await;
    assert_eq!(app.pay_card(&paid, "4242424242424242", None).await.status, StatusCode::OK);
    let overdue = app.session(&m, json!({})).await;
    let overdue = overdue["session_id"].as_str().unwrap();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let jobs = server::jobs::spawn(app.state.clone(), stopped);
    // The receipt is on its way to the silent server; now a session falls due.
    tokio::time::timeout(std::time::Duration::from_secs(10), connected.recv()).await.expect("the receipt was sent");
    sqlx::query("UPDATE hosted_sessions SET expires_at = $1 WHERE id = $2")
        .bind(server::store::now_ms() - 1000)
        .bind(overdue)
        .execute(app.db().pool())
        .await
        .unwrap();
    let mut status = String::new();
    for _ in 0..50 {
        status = sqlx::query_scalar("SELECT status FROM hosted_sessions WHERE id = $1")
            .bind(overdue)
            .fetch_one(app.db().pool())
            .await
            .unwrap();
        if status == "expired" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(status, "expired", "expiry ran while the receipt waited");
    holder.abort(); // the held connections close: the send fails at once
    stop.send(true).unwrap();
    jobs.await.unwrap();
}
