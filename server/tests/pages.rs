//! The pages: hosted, embed, wallet, demo and receipt; their headers and what they embed. And
//! the contract between the element's request bodies and the server's parsers.

mod support;

use axum::http::{Method, StatusCode};
use serde_json::json;
use support::{Auth, MERCHANT_ORIGIN, PUBLIC_URL};

db_tests! {
    async fn the_hosted_page_is_a_strict_shell_that_is_never_framed(app) {
        let m = app.merchant().await;
        let s = app.session(&m, json!({"locale": "es"})).await;
        let id = s["session_id"].as_str().unwrap();
        let r = app.get(&format!("/{id}")).await;
        assert_eq!(r.status, StatusCode::OK);
        let csp = r.header("content-security-policy").unwrap();
        assert!(csp.contains("frame-ancestors 'none'") && csp.contains("script-src 'self' 'wasm-unsafe-eval'") && !csp.contains("unsafe-inline"), "{csp}");
        assert_eq!(r.header("x-frame-options"), Some("DENY"));
        assert_eq!(r.header("cache-control"), Some("no-store"));
        assert_eq!(r.header("referrer-policy"), Some("no-referrer"));
        let html = r.text();
        assert!(html.contains("<html lang=\"es\">"), "{html}");
        assert!(html.contains("<title>Pagar a City of Example Utilities</title>"));
        assert!(html.contains("<govifi-payment></govifi-payment>"));
        assert!(!html.contains("_secret_"), "the page never carries the credential");
        assert!(!html.contains("<script>"), "no inline script");
        only_nonced_inline_scripts(&html, csp);
        for missing in ["/cs_doesnotexist", "/not-a-session", "/embed/cs_nope", "/wallet/ws_nope"] {
            let r = app.get(missing).await;
            assert_eq!(r.status, StatusCode::NOT_FOUND, "{missing}");
            assert!(r.text().contains("Checkout not found"));
        }
    }

    async fn a_hosted_page_that_is_over_says_so_without_the_element(app) {
        let m = app.merchant().await;
        // Paid (Back from the merchant's success page, or a refresh: no credential in the address).
        let s = app.session(&m, json!({})).await;
        assert_eq!(app.pay_card(&s, "4242424242424242", None).await.status, StatusCode::OK);
        let r = app.get(&format!("/{}", s["session_id"].as_str().unwrap())).await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.header("x-frame-options"), Some("DENY"));
        let html = r.text();
        assert!(html.contains("This payment has already been made") && html.contains("No further payment is needed."), "{html}");
        assert!(!html.contains("<govifi-payment"), "{html}");
        // Expired (by the clock, before the job wrote it down): in its language, with the way back.
        let s = app.session(&m, json!({"locale": "es", "cancel_url": "https://shop.example/back?a=1&b=2&s={CHECKOUT_SESSION_ID}"})).await;
        let id = s["session_id"].as_str().unwrap();
        sqlx::query("UPDATE hosted_sessions SET expires_at = 1 WHERE id = $1").bind(id).execute(app.db().pool()).await.unwrap();
        let html = app.get(&format!("/{id}")).await.text();
        assert!(html.contains("Este pago ha vencido") && html.contains("Volver al comercio"), "{html}");
        // The placeholder is the session's id, as in the element's config (SPEC §4).
        assert!(html.contains(&format!("href=\"https://shop.example/back?a=1&amp;b=2&amp;s={id}\"")), "{html}");
        assert!(!html.contains("<govifi-payment"));
    }

    async fn the_embed_page_may_be_framed_by_allowed_origins_only(app) {
        let m = app.merchant().await;
        let s = app.session(&m, json!({"layout": "embedded", "branding": {"display_name": "Tom & Jerry's <Shop>"}})).await;
        let r = app.get(&format!("/embed/{}", s["session_id"].as_str().unwrap())).await;
        assert_eq!(r.status, StatusCode::OK);
        let csp = r.header("content-security-policy").unwrap();
        assert!(csp.contains(&format!("frame-ancestors {PUBLIC_URL} {MERCHANT_ORIGIN}")), "{csp}");
        assert!(r.header("x-frame-options").is_none());
        let html = r.text();
        assert!(html.contains(&format!("data-parent-origins=\"{PUBLIC_URL} {MERCHANT_ORIGIN}\"")), "{html}");
        assert!(html.contains("Tom &amp; Jerry's &lt;Shop&gt;"), "merchant text is escaped: {html}");
        assert!(!html.contains("<Shop>"));
        only_nonced_inline_scripts(&html, csp);
    }

    async fn the_wallet_page(app) {
        let m = app.merchant().await;
        let cus = app.call(Method::POST, "/api/customers", Auth::Bearer(&m.key), Some(json!({}))).await.json();
        let w = app.call(Method::POST, "/v1/wallet-sessions", Auth::Bearer(&m.key),
            Some(json!({"customer_id": cus["id"], "return_url": "https://shop.example/account"}))).await.json();
        let r = app.get(&format!("/wallet/{}", w["wallet_session_id"].as_str().unwrap())).await;
        assert_eq!(r.status, StatusCode::OK);
        assert!(r.header("content-security-policy").unwrap().contains("frame-ancestors 'none'"));
        assert!(r.text().contains("<govifi-payment></govifi-payment>"));
    }

    async fn the_demo_creates_sessions_and_its_receipt_checks_signatures(app) {
        let form = "amount=5000&description=Test&email=demo%40example.com&locale=en&risk=low&save=off";
        let page = app.get("/demo").await;
        let action = page.text().split("method=\"post\" action=\"").nth(1).unwrap().split('"').next().unwrap().to_owned();
        assert_eq!(action, "/demo/checkout");
        // A plain form post (no script): the server function answers with a redirect to the demo
        // showing the two sessions it made.
        let post_from = |origin: &'static str, body: &'static str| axum::http::Request::post(action.as_str())
            .header("content-type", "application/x-www-form-urlencoded").header("accept", "text/html")
            .header("origin", origin).body(axum::body::Body::from(body)).unwrap();
        let post = |body: &'static str| post_from(PUBLIC_URL, body);
        // Another site's form: refused, nothing made.
        app.request(post_from("https://evil.example", form)).await.assert_error(403, "forbidden");
        // The page sends no referrer, so a browser writes its post's Origin as `null` and says
        // where it came from in Sec-Fetch-Site; a sandboxed frame elsewhere is `null` too.
        let with_site = |site: &'static str| {
            let mut req = post_from("null", form);
            req.headers_mut().insert("sec-fetch-site", axum::http::HeaderValue::from_static(site));
            req
        };
        app.request(with_site("cross-site")).await.assert_error(403, "forbidden");
        assert_eq!(app.request(with_site("same-origin")).await.status, StatusCode::FOUND);
        let r = app.request(post(form)).await;
        assert_eq!(r.status, StatusCode::FOUND, "{}", r.text());
        let location = r.header("location").unwrap().to_owned();
        assert!(location.starts_with("/demo?hosted=cs_") && location.contains("&embedded=cs_"), "{location}");
        let cookie = r.header("set-cookie").unwrap().split(';').next().unwrap().to_owned();
        assert!(cookie.starts_with("govifi_demo="), "{cookie}");
        // Without the cookie of the browser that made them, the sessions' ids show nothing.
        let stranger = app.get(&location).await.text();
        assert!(!stranger.contains("hosted-link") && !stranger.contains("session-id=\"cs_"), "{stranger}");
        let r = app.send(Method::GET, &location, &[("cookie", cookie.as_str())], axum::body::Body::empty()).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        let html = r.text();
        assert!(html.contains("id=\"hosted-link\" href=\"http://checkout.test/cs_"), "{html}");
        assert!(html.contains("<govifi-payment id=\"embedded\" session-id=\"cs_"));
        let csp = r.header("content-security-policy").unwrap();
        assert!(!csp.contains("unsafe-inline"));
        let script = html.split("<script type=\"module\" src=\"").nth(2).unwrap().split('"').next().unwrap();
        let js = app.get(script).await;
        assert_eq!(js.status, StatusCode::OK);
        assert!(js.text().contains("govifi-success"));
        // A form missing its fields is the sender's mistake: a browser is sent back to the page,
        // a script is answered 400, never a 5xx.
        assert_eq!(app.request(post("amount=5000")).await.status, StatusCode::FOUND);
        let mut scripted = post("amount=5000");
        scripted.headers_mut().insert("accept", axum::http::HeaderValue::from_static("application/json"));
        let r = app.request(scripted).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
        // A bad amount comes back as the session API's message, escaped, on the demo page.
        let r = app.request(post("amount=12%3Cb%3E&description=&email=&locale=en&risk=low&save=off")).await;
        assert_eq!(r.status, StatusCode::FOUND);
        let location = r.header("location").unwrap().to_owned();
        assert!(location.starts_with("/demo?error="), "{location}");
        let html = app.get(&location).await.text();
        assert!(html.contains("class=\"error\"") && html.contains("amount"), "{html}");
        assert!(!html.contains("<b>"));
        // Someone else's session ids are not shown.
        let m = app.merchant().await;
        let other = app.session(&m, json!({})).await;
        let other = other["session_id"].as_str().unwrap();
        let html = app.get(&format!("/demo?hosted={other}&embedded={other}")).await.text();
        assert!(!html.contains(other), "{html}");
        // The receipt page verifies the signature with the demo account's secret.
        let demo = server::bootstrap::ensure_sandbox_demo(&app.state).await.unwrap().unwrap();
        let account = server::store::accounts::get(app.db(), &demo.account_uid).await.unwrap().unwrap();
        let secret = account.redirect_secret(&app.state.config().master_key).unwrap();
        let sig = server::domain::session::redirect_signature(&secret, 1700000000, "cs_a", "pay_b");
        let good = app.get(&format!("/demo/receipt?govifi_session_id=cs_a&govifi_payment_id=pay_b&govifi_ts=1700000000&govifi_sig={sig}")).await;
        assert!(good.text().contains("Signature verified"), "{}", good.text());
        let bad = app.get(&format!("/demo/receipt?govifi_session_id=cs_a&govifi_payment_id=pay_c&govifi_ts=1700000000&govifi_sig={sig}")).await;
        assert!(bad.text().contains("NOT valid"));
        let none = app.get("/demo/receipt").await;
        assert!(none.text().contains("NOT valid"));
    }

    async fn the_favicon_is_served(app) {
        // The icon itself, kept a day: never a permanent redirect to one release's hashed path.
        let r = app.get("/favicon.ico").await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.header("content-type"), Some("image/svg+xml"));
        assert_eq!(r.header("cache-control"), Some("public, max-age=86400"));
        assert!(r.text().contains("<svg"), "{}", r.text());
    }
}

/// Every inline `<script>` Leptos writes carries the nonce the CSP allows, and no other
/// inline script is there.
fn only_nonced_inline_scripts(html: &str, csp: &str) {
    let nonce = csp.split("'nonce-").nth(1).and_then(|s| s.split('\'').next()).expect("the CSP names a nonce");
    assert!(nonce.len() >= 16, "{nonce}");
    for tag in html.split("<script").skip(1).map(|s| s.split('>').next().unwrap()) {
        assert!(tag.contains(" src=\"") || tag.contains(&format!(" nonce=\"{nonce}\"")), "script{tag}> in {html}");
    }
}

/// The element builds its request bodies from `app::wire`; the server parses them with its own
/// types. Both sides must agree on every shape.
#[test]
fn the_elements_bodies_parse_on_the_server() {
    use app::wire::*;
    let card = ConfirmBody {
        fee_quote_id: "fq_1".into(),
        payment_method: PaymentMethodBody::Card {
            card: CardBody {
                number: "4242424242424242".into(),
                exp_month: 12,
                exp_year: 2030,
                cvc: Some("123".into()),
            },
            billing: BillingBody {
                cardholder_name: Some("Alex".into()),
                postal_code: Some("94107".into()),
                address_line1: None,
            },
        },
        save_payment_method: true,
    };
    let ach = ConfirmBody {
        fee_quote_id: "fq_1".into(),
        payment_method: PaymentMethodBody::Ach {
            ach: AchBody {
                routing_number: "110000000".into(),
                account_number: "000123456789".into(),
                account_type: AccountType::Checking,
                account_holder_name: "A".into(),
            },
        },
        save_payment_method: false,
    };
    let apple = ConfirmBody {
        fee_quote_id: "fq_1".into(),
        payment_method: PaymentMethodBody::ApplePay { apple_pay: TokenBody { token: "tok_applepay_visa".into() } },
        save_payment_method: false,
    };
    let saved = ConfirmBody {
        fee_quote_id: "fq_1".into(),
        payment_method: PaymentMethodBody::Saved { saved: SavedBody { payment_method_id: "pm_1".into() } },
        save_payment_method: false,
    };
    for body in [card, ach, apple, saved] {
        let bytes = miniserde::json::to_string(&body).into_bytes();
        let parsed = server::extract::parse_json::<server::checkout::confirm::ConfirmRequest>(&bytes);
        assert!(parsed.is_ok(), "{}: {:?}", String::from_utf8_lossy(&bytes), parsed.err().map(|e| e.code()));
    }
    let wallet_add = WalletAddBody {
        payment_method: PaymentMethodBody::Card {
            card: CardBody { number: "4242424242424242".into(), exp_month: 12, exp_year: 2030, cvc: None },
            billing: BillingBody::default(),
        },
    };
    let bytes = miniserde::json::to_string(&wallet_add).into_bytes();
    let parsed = server::extract::parse_json::<server::routes::wallets::AddWalletMethod>(&bytes);
    assert!(parsed.is_ok(), "{}: {:?}", String::from_utf8_lossy(&bytes), parsed.err().map(|e| e.code()));
    let quote = QuoteRequest {
        payment_method_type: MethodType::Card,
        card_bin: Some("424242".into()),
        saved_payment_method_id: None,
    };
    let bytes = miniserde::json::to_string(&quote).into_bytes();
    assert!(server::extract::parse_json::<QuoteRequest>(&bytes).is_ok());
}
