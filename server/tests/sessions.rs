//! Hosted sessions, the merchant's side: create (with idempotency), validation, get, list,
//! PATCH, expire, automatic expiry, verify-redirect.

mod support;

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};
use support::{Auth, PUBLIC_URL, TestApp};

async fn expire_in_db(app: &TestApp, session_id: &str) {
    sqlx::query("UPDATE hosted_sessions SET expires_at = $1 WHERE id = $2")
        .bind(server::store::now_ms() - 1000)
        .bind(session_id)
        .execute(app.db().pool())
        .await
        .unwrap();
}

db_tests! {
    async fn a_session_ends_at_exactly_its_expires_at_in_every_check(app) {
        use server::domain::session::SessionStatus;
        use server::store::sessions;
        let m = app.merchant().await;
        let open = |s: Value| s["session_id"].as_str().unwrap().to_owned();
        let (a, b) = (open(app.session(&m, json!({})).await), open(app.session(&m, json!({})).await));
        let session = sessions::get(app.db(), &a).await.unwrap().unwrap();
        let end = session.expires_at;
        // What every view shows (config, pages, lists): open until the instant before.
        assert_eq!(session.status_at(end - 1), SessionStatus::Active);
        assert_eq!(session.status_at(end), SessionStatus::Expired);
        let mut conn = app.db().writer().acquire().await.unwrap();
        // The expiry job's conditional move: not before its time, and at it.
        assert!(!sessions::mark_expired(&mut conn, &a, end - 1, true).await.unwrap());
        let b_end = sessions::get(app.db(), &b).await.unwrap().unwrap().expires_at;
        assert!(sessions::mark_expired(&mut conn, &b, b_end, true).await.unwrap());
        // The confirm's claim refuses the session at its end, whatever the stored status says.
        let claim = |now| sessions::claim_for_confirm(&a, session.version, "att_boundary", now);
        assert_eq!(claim(end).execute(&mut conn).await.unwrap(), 0);
        assert_eq!(claim(end - 1).execute(&mut conn).await.unwrap(), 1);
    }

    async fn create_answers_the_spec_shape(app) {
        let m = app.merchant().await;
        let s = app.session(&m, json!({"description": "Utility bill — account #4471", "metadata": {"invoice": "INV-2026-0611"}})).await;
        let id = s["session_id"].as_str().unwrap();
        assert!(id.starts_with("cs_"));
        assert_eq!(s["id"], id);
        assert_eq!(s["object"], "hosted_session");
        assert_eq!(s["status"], "active");
        let secret = s["client_secret"].as_str().unwrap();
        assert!(secret.starts_with(&format!("{id}_secret_")) && secret.len() >= id.len() + 8 + 22, "{secret}");
        assert_eq!(s["hosted_url"], format!("{PUBLIC_URL}/{id}#cs={secret}"));
        assert_eq!(s["embed_url"], format!("{PUBLIC_URL}/embed/{id}"));
        assert!(s["expires_at"].as_str().unwrap().ends_with('Z'));
        assert_eq!(s["amount"], 14227);
        assert_eq!(s["allowed_methods"], json!(["card", "ach", "apple_pay"]), "defaults to the account's");
        assert_eq!(s["layout"], "hosted");
        assert_eq!(s["locale"], "en");
        assert_eq!(s["setup_future_usage"], "off");
        // The credential is stored hashed (and sealed for display), never readable.
        let stored = support::all_stored_text(app.db()).await;
        assert!(!stored.contains(secret));

        let got = app.call(Method::GET, format!("/v1/hosted-sessions/{id}"), Auth::Bearer(&m.key), None).await.json();
        assert_eq!(got["client_secret"], secret, "shown while active");
        assert_eq!(got["metadata"]["invoice"], "INV-2026-0611");
        // Line items decide the amount when it is omitted.
        let s = app.session(&m, json!({"amount": null, "tax_amount": 500, "shipping_amount": 500,
            "line_items": [{"name": "Water", "quantity": 2, "unit_amount": 5000}, {"name": "Sewer", "quantity": 1, "unit_amount": 3227, "sku": "SEW-1"}]})).await;
        assert_eq!(s["amount"], 14227);
        // The admin token with the account header works too.
        let r = app.call(Method::POST, "/v1/hosted-sessions", Auth::Account(&m.token, &m.uid),
            Some(json!({"amount": 100, "currency": "USD", "success_url": "https://a.example/s", "cancel_url": "https://a.example/c"}))).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    }

    async fn create_validation(app) {
        let m = app.merchant().await;
        let base = json!({"amount": 1000, "currency": "USD", "success_url": "https://shop.example/ok", "cancel_url": "https://shop.example/no"});
        let post = |extra: Value| {
            let mut body = base.clone();
            for (k, v) in extra.as_object().unwrap() {
                if v.is_null() { body.as_object_mut().unwrap().remove(k); } else { body[k] = v.clone(); }
            }
            app.call(Method::POST, "/v1/hosted-sessions", Auth::Bearer(&m.key), Some(body))
        };
        let check = |r: support::TestResponse, status: u16, code: &str| r.assert_error(status, code)["param"].as_str().unwrap_or("").to_owned();
        assert_eq!(check(post(json!({"amount": null})).await, 400, "parameter_missing"), "amount");
        assert_eq!(check(post(json!({"amount": 0})).await, 400, "parameter_invalid"), "amount");
        assert_eq!(check(post(json!({"amount": -5})).await, 400, "parameter_invalid"), "amount");
        assert_eq!(check(post(json!({"amount": 12.5})).await, 400, "parameter_invalid"), "amount");
        assert_eq!(check(post(json!({"amount": 999, "line_items": [{"name": "A", "quantity": 1, "unit_amount": 1000}]})).await, 400, "amount_mismatch"), "amount");
        assert_eq!(check(post(json!({"line_items": [{"name": "A", "quantity": 0, "unit_amount": 1000}]})).await, 400, "parameter_invalid"), "line_items[0].quantity");
        assert_eq!(check(post(json!({"currency": "usd"})).await, 400, "parameter_invalid"), "currency");
        assert_eq!(check(post(json!({"currency": "EUR"})).await, 400, "parameter_invalid"), "currency");
        assert_eq!(check(post(json!({"currency": null})).await, 400, "parameter_missing"), "currency");
        assert_eq!(check(post(json!({"success_url": null})).await, 400, "parameter_missing"), "success_url");
        assert_eq!(check(post(json!({"success_url": "shop.example/ok"})).await, 400, "parameter_invalid"), "success_url");
        assert_eq!(check(post(json!({"cancel_url": "ftp://shop.example"})).await, 400, "parameter_invalid"), "cancel_url");
        assert_eq!(check(post(json!({"customer_id": "cus_nobody"})).await, 400, "parameter_invalid"), "customer_id");
        assert_eq!(check(post(json!({"customer_email": "nope"})).await, 400, "parameter_invalid"), "customer_email");
        assert_eq!(check(post(json!({"setup_future_usage": "on_session"})).await, 400, "parameter_missing"), "customer_id");
        assert_eq!(check(post(json!({"expires_in_seconds": 299})).await, 400, "parameter_invalid"), "expires_in_seconds");
        assert_eq!(check(post(json!({"expires_in_seconds": 86401})).await, 400, "parameter_invalid"), "expires_in_seconds");
        assert_eq!(check(post(json!({"locale": "fr"})).await, 400, "parameter_invalid"), "locale");
        assert_eq!(check(post(json!({"layout": "popup"})).await, 400, "parameter_invalid"), "layout");
        assert_eq!(check(post(json!({"allowed_methods": ["cash"]})).await, 400, "parameter_invalid"), "allowed_methods[0]");
        assert_eq!(check(post(json!({"required_avs_fields": ["dna"]})).await, 400, "parameter_invalid"), "required_avs_fields[0]");
        assert_eq!(check(post(json!({"description": "x".repeat(501)})).await, 400, "parameter_invalid"), "description");
        assert_eq!(check(post(json!({"fraud_signals": {"risk_level": "high"}})).await, 400, "parameter_missing"), "customer_email");
        assert_eq!(check(post(json!({"fraud_signals": {"risk_level": "extreme"}})).await, 400, "parameter_invalid"), "fraud_signals.risk_level");
        assert_eq!(check(post(json!({"branding": {"primary_color": "red"}})).await, 400, "parameter_invalid"), "branding.primary_color");
        // The name goes into receipts: no line of its own there.
        assert_eq!(check(post(json!({"branding": {"display_name": "Parks\nTotal: $0.00"}})).await, 400, "parameter_invalid"), "branding.display_name");
        assert_eq!(check(post(json!({"metadata": {"k": "v".repeat(501)}})).await, 400, "parameter_invalid"), "metadata.k");
        assert_eq!(check(post(json!({"tip": 5})).await, 400, "unknown_field"), "tip");
        // Methods beyond the account's are refused.
        let card_only = app.merchant_with(json!({"enabled_methods": ["card"]})).await;
        let r = app.call(Method::POST, "/v1/hosted-sessions", Auth::Bearer(&card_only.key),
            Some(json!({"amount": 1000, "currency": "USD", "success_url": "https://a.example/s", "cancel_url": "https://a.example/c", "allowed_methods": ["ach"]}))).await;
        assert_eq!(r.assert_error(400, "parameter_invalid")["param"], "allowed_methods[0]");
    }

    async fn a_session_lives_1800_seconds_unless_told_and_its_bounds_are_inclusive(app) {
        use server::domain::time::Timestamp;
        let m = app.merchant().await;
        let lifetime = |s: &Value| {
            let at = |field: &str| Timestamp::parse_rfc3339(s[field].as_str().unwrap()).unwrap().0;
            (at("expires_at") - at("created_at")) / 1000
        };
        let read = async |created: Value| {
            let id = created["session_id"].as_str().unwrap().to_owned();
            app.call(Method::GET, format!("/v1/hosted-sessions/{id}"), Auth::Bearer(&m.key), None).await.json()
        };
        // Whole seconds on both sides: the difference is the lifetime, give or take the second
        // the create straddled.
        let default = read(app.session(&m, json!({})).await).await;
        assert!((1799..=1801).contains(&lifetime(&default)), "default lifetime: {default}");
        for bound in [300, 86_400] {
            let s = read(app.session(&m, json!({"expires_in_seconds": bound})).await).await;
            assert!((bound - 1..=bound + 1).contains(&lifetime(&s)), "{bound}: {s}");
        }
        // `reference` takes 255 characters and no more.
        let s = read(app.session(&m, json!({"reference": "r".repeat(255)})).await).await;
        assert_eq!(s["reference"].as_str().map(str::len), Some(255));
        let r = app.call(Method::POST, "/v1/hosted-sessions", Auth::Bearer(&m.key),
            Some(json!({"amount": 500, "currency": "USD", "success_url": "https://a.example/s", "cancel_url": "https://a.example/c", "reference": "r".repeat(256)}))).await;
        assert_eq!(r.assert_error(400, "parameter_invalid")["param"], "reference");
    }

    async fn create_is_idempotent_per_key_and_body(app) {
        let m = app.merchant().await;
        let body = json!({"amount": 500, "currency": "USD", "success_url": "https://a.example/s", "cancel_url": "https://a.example/c"});
        let post = |body: Value, key: &str| {
            let req = axum::http::Request::post("/v1/hosted-sessions")
                .header("authorization", format!("Bearer {}", m.key))
                .header("content-type", "application/json")
                .header("idempotency-key", key)
                .body(axum::body::Body::from(body.to_string()))
                .unwrap();
            app.request(req)
        };
        let first = post(body.clone(), "order-7").await;
        assert_eq!(first.status, StatusCode::CREATED);
        let again = post(body.clone(), "order-7").await;
        assert_eq!(again.status, StatusCode::CREATED);
        assert_eq!(again.body, first.body, "the original answer, byte for byte");
        assert_eq!(again.header("idempotent-replayed"), Some("true"));
        // The kept answer holds the session's credential: sealed at rest, like the session's copy.
        let secret = first.json()["client_secret"].as_str().unwrap().to_owned();
        assert!(!support::all_stored_text(app.db()).await.contains(&secret), "the client_secret is nowhere in clear");
        // The same body with its keys in another order is the same request.
        let reordered: Value = serde_json::from_str(r#"{"cancel_url":"https://a.example/c","success_url":"https://a.example/s","currency":"USD","amount":500}"#).unwrap();
        assert_eq!(post(reordered, "order-7").await.body, first.body);
        let other = post(json!({"amount": 501, "currency": "USD", "success_url": "https://a.example/s", "cancel_url": "https://a.example/c"}), "order-7").await;
        let e = other.assert_error(422, "idempotency_key_reused");
        assert_eq!(e["type"], "idempotency_error");
        let count: i64 = sqlx::Row::get(&sqlx::query("SELECT COUNT(*) FROM hosted_sessions").fetch_one(app.db().pool()).await.unwrap(), 0);
        assert_eq!(count, 1);
        // A key is kept at least 24 hours (SPEC §4): the housekeeping a day and an hour later
        // still replays it.
        let day_on = server::store::now_ms() + 25 * 3600 * 1000;
        server::store::idempotency::purge(app.db(), day_on, 10 * server::checkout::confirm::STUCK_AFTER_MS).await.unwrap();
        assert_eq!(post(body.clone(), "order-7").await.body, first.body, "kept past a day");
        post(body.clone(), &"k".repeat(256)).await.assert_error(400, "parameter_invalid");
        // A failed request does not hold the key: the corrected retry goes through.
        post(json!({"amount": 0, "currency": "USD", "success_url": "https://a.example/s", "cancel_url": "https://a.example/c"}), "order-8").await.assert_error(400, "parameter_invalid");
        assert_eq!(post(body, "order-8").await.status, StatusCode::CREATED);
        // Keys are per account: another account may use the same key.
        let other_merchant = app.merchant().await;
        let r = app.request(axum::http::Request::post("/v1/hosted-sessions")
            .header("authorization", format!("Bearer {}", other_merchant.key)).header("content-type", "application/json")
            .header("idempotency-key", "order-7")
            .body(axum::body::Body::from(json!({"amount": 777, "currency": "USD", "success_url": "https://a.example/s", "cancel_url": "https://a.example/c"}).to_string())).unwrap()).await;
        assert_eq!(r.status, StatusCode::CREATED);
        assert_eq!(r.json()["amount"], 777);
    }

    async fn patch_changes_amounts_while_active(app) {
        let m = app.merchant().await;
        let s = app.session(&m, json!({"line_items": [{"name": "Water", "quantity": 1, "unit_amount": 14227}]})).await;
        let id = s["session_id"].as_str().unwrap();
        let patch = |body: Value| app.call(Method::PATCH, format!("/v1/hosted-sessions/{id}"), Auth::Bearer(&m.key), Some(body));
        let r = patch(json!({"line_items": [{"name": "Water", "quantity": 2, "unit_amount": 5000}], "tax_amount": 100})).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        assert_eq!(r.json()["amount"], 10100, "recomputed from the new line items");
        patch(json!({"amount": 9999})).await.assert_error(400, "amount_mismatch");
        let r = patch(json!({"line_items": null, "tax_amount": null, "amount": 2500, "description": "Adjusted", "metadata": {"a": "b"}})).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        let body = r.json();
        assert_eq!(body["amount"], 2500);
        assert_eq!(body["description"], "Adjusted");
        patch(json!({"currency": "EUR"})).await.assert_error(400, "unknown_field");
        patch(json!({"success_url": "https://x.example"})).await.assert_error(400, "unknown_field");

        // Expired: 410. Completed: 409.
        let gone = app.session(&m, json!({})).await;
        expire_in_db(&app, gone["session_id"].as_str().unwrap()).await;
        app.call(Method::PATCH, format!("/v1/hosted-sessions/{}", gone["session_id"].as_str().unwrap()), Auth::Bearer(&m.key), Some(json!({"amount": 5}))).await
            .assert_error(410, "session_expired");
        let paid = app.session(&m, json!({})).await;
        assert_eq!(app.pay_card(&paid, "4242424242424242", None).await.status, StatusCode::OK);
        app.call(Method::PATCH, format!("/v1/hosted-sessions/{}", paid["session_id"].as_str().unwrap()), Auth::Bearer(&m.key), Some(json!({"amount": 5}))).await
            .assert_error(409, "already_confirmed");
    }

    async fn expire_is_idempotent_and_emits_one_event(app) {
        let m = app.merchant().await;
        let s = app.session(&m, json!({})).await;
        let id = s["session_id"].as_str().unwrap();
        let expire = || app.call(Method::POST, format!("/v1/hosted-sessions/{id}/expire"), Auth::Bearer(&m.key), None);
        let first = expire().await;
        assert_eq!(first.status, StatusCode::OK, "{}", first.text());
        let body = first.json();
        assert_eq!(body["status"], "expired");
        assert!(body.get("client_secret").is_none(), "no credential once ended");
        assert_eq!(body["hosted_url"], format!("{PUBLIC_URL}/{id}"));
        let second = expire().await;
        assert_eq!(second.status, StatusCode::OK);
        assert_eq!(second.json()["status"], "expired");
        let expired: Vec<_> = app.events(&m.uid).await.into_iter().filter(|(t, _)| t == "checkout.session.expired").collect();
        assert_eq!(expired.len(), 1);
        assert_eq!(expired[0].1["id"], id);

        let paid = app.session(&m, json!({})).await;
        app.pay_card(&paid, "4242424242424242", None).await;
        app.call(Method::POST, format!("/v1/hosted-sessions/{}/expire", paid["session_id"].as_str().unwrap()), Auth::Bearer(&m.key), None).await
            .assert_error(409, "already_confirmed");
    }

    async fn the_expiry_pass_goes_on_past_sessions_it_cannot_expire(app) {
        let m = app.merchant().await;
        let now = server::store::now_ms();
        // 101 overdue sessions whose rows can't be read (more than a batch), then a good one.
        for _ in 0..101 {
            let bad = app.session(&m, json!({})).await;
            sqlx::query("UPDATE hosted_sessions SET branding = '{not json', expires_at = $1 WHERE id = $2")
                .bind(now - 2_000).bind(bad["session_id"].as_str().unwrap()).execute(app.db().pool()).await.unwrap();
        }
        let good = app.session(&m, json!({})).await;
        let gid = good["session_id"].as_str().unwrap();
        sqlx::query("UPDATE hosted_sessions SET expires_at = $1 WHERE id = $2").bind(now - 1_000).bind(gid).execute(app.db().pool()).await.unwrap();
        assert_eq!(server::checkout::expire_overdue(&app.state).await.unwrap(), 1);
        let status: String = sqlx::query_scalar("SELECT status FROM hosted_sessions WHERE id = $1").bind(gid).fetch_one(app.db().pool()).await.unwrap();
        assert_eq!(status, "expired");
        let stuck: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM hosted_sessions WHERE status = 'active' AND account_uid = $1").bind(&m.uid).fetch_one(app.db().pool()).await.unwrap();
        assert_eq!(stuck, 101, "the unreadable ones stay as they were");
    }

    async fn overdue_sessions_expire_on_their_own_once(app) {
        let m = app.merchant().await;
        let a = app.session(&m, json!({"expires_in_seconds": 300})).await;
        let b = app.session(&m, json!({"expires_in_seconds": 300})).await;
        expire_in_db(&app, a["session_id"].as_str().unwrap()).await;
        server::jobs::tick(&app.state, false).await;
        server::jobs::tick(&app.state, true).await;
        let events: Vec<String> = app.events(&m.uid).await.into_iter().filter(|(t, _)| t == "checkout.session.expired").map(|(_, o)| o["id"].as_str().unwrap().to_owned()).collect();
        assert_eq!(events, vec![a["session_id"].as_str().unwrap().to_owned()]);
        let got = app.call(Method::GET, format!("/v1/hosted-sessions/{}", b["session_id"].as_str().unwrap()), Auth::Bearer(&m.key), None).await.json();
        assert_eq!(got["status"], "active");
        // Read before the job runs, an overdue session already says expired (and gets its event).
        let c = app.session(&m, json!({})).await;
        let cid = c["session_id"].as_str().unwrap();
        expire_in_db(&app, cid).await;
        let got = app.call(Method::GET, format!("/v1/hosted-sessions/{cid}"), Auth::Bearer(&m.key), None).await.json();
        assert_eq!(got["status"], "expired");
        server::jobs::tick(&app.state, false).await;
        let count = app.events(&m.uid).await.iter().filter(|(t, o)| t == "checkout.session.expired" && o["id"] == cid).count();
        assert_eq!(count, 1);
    }

    async fn list_with_odata_and_isolation(app) {
        let m = app.merchant().await;
        for (amount, reference) in [(1000, "A-1"), (2000, "A-2"), (3000, "B-1")] {
            app.session(&m, json!({"amount": amount, "reference": reference})).await;
        }
        let q = |f: &str| app.call(Method::GET, format!("/v1/hosted-sessions?{f}"), Auth::Bearer(&m.key), None);
        let r = q("$filter=amount ge 2000 and startswith(reference,'A')&$count=true").await.json();
        assert_eq!(r["@odata.count"], 1);
        assert_eq!(r["value"][0]["reference"], "A-2");
        let r = q("$orderby=amount desc&$top=2&$select=id,amount").await.json();
        assert_eq!(r["value"].as_array().unwrap().len(), 2);
        assert_eq!(r["value"][0]["amount"], 3000);
        assert!(r["value"][0].get("client_secret").is_none());
        assert!(r["@odata.nextLink"].is_string());
        q("$filter=metadata eq 'x'").await.assert_error(400, "invalid_odata");
        let other = app.merchant().await;
        let theirs = app.call(Method::GET, "/v1/hosted-sessions", Auth::Bearer(&other.key), None).await.json();
        assert_eq!(theirs["value"], json!([]));
        let one = q("$top=1").await.json()["value"][0]["id"].as_str().unwrap().to_owned();
        app.call(Method::GET, format!("/v1/hosted-sessions/{one}"), Auth::Bearer(&other.key), None).await.assert_error(404, "resource_missing");
    }

    async fn a_list_filters_on_the_status_each_row_shows_and_writes_nothing(app) {
        let m = app.merchant().await;
        let ids: Vec<String> = futures_util::future::join_all((0..3).map(|_| app.session(&m, json!({}))))
            .await.iter().map(|s| s["session_id"].as_str().unwrap().to_owned()).collect();
        // One is past its end, and the expiry job has not reached it: stored `active`.
        sqlx::query("UPDATE hosted_sessions SET expires_at = $1 WHERE id = $2")
            .bind(server::store::now_ms() - 1000).bind(&ids[0]).execute(app.db().pool()).await.unwrap();
        let q = |f: &str| app.call(Method::GET, format!("/v1/hosted-sessions?{f}"), Auth::Bearer(&m.key), None);
        let expired = q("$filter=status eq 'expired'&$count=true").await.json();
        assert_eq!((expired["@odata.count"].as_i64(), expired["value"][0]["id"].as_str()), (Some(1), Some(ids[0].as_str())), "{expired}");
        assert_eq!(expired["value"][0]["status"], "expired");
        let active = q("$filter=status eq 'active'&$count=true").await.json();
        assert_eq!(active["@odata.count"], 2, "{active}");
        assert!(active["value"].as_array().unwrap().iter().all(|s| s["status"] == "active" && s["id"] != ids[0].as_str()), "{active}");
        let ordered = q("$orderby=status desc&$top=1").await.json();
        assert_eq!(ordered["value"][0]["id"], ids[0].as_str(), "ordered by the shown status too");
        // A read wrote nothing: the row and its event are the expiry job's.
        let stored: String = sqlx::query_scalar("SELECT status FROM hosted_sessions WHERE id = $1").bind(&ids[0]).fetch_one(app.db().pool()).await.unwrap();
        assert_eq!(stored, "active");
        assert!(!app.events(&m.uid).await.iter().any(|(t, _)| t == "checkout.session.expired"));
        assert_eq!(server::checkout::expire_overdue(&app.state).await.unwrap(), 1);
        assert_eq!(app.events(&m.uid).await.iter().filter(|(t, _)| t == "checkout.session.expired").count(), 1);
    }

    async fn session_scopes(app) {
        let m = app.merchant().await;
        let reader = app.api_key(&m.token, &m.uid, &["sessions.read"]).await;
        app.call(Method::POST, "/v1/hosted-sessions", Auth::Bearer(&reader),
            Some(json!({"amount": 1, "currency": "USD", "success_url": "https://a.example", "cancel_url": "https://a.example"}))).await
            .assert_error(403, "insufficient_scope");
        assert_eq!(app.call(Method::GET, "/v1/hosted-sessions", Auth::Bearer(&reader), None).await.status, StatusCode::OK);
        app.call(Method::GET, "/v1/hosted-sessions", Auth::Bearer(&m.token), None).await.assert_error(400, "parameter_missing");
        let s = app.session(&m, json!({})).await;
        // A session credential is not a merchant credential.
        app.call(Method::GET, format!("/v1/hosted-sessions/{}", s["session_id"].as_str().unwrap()), Auth::Bearer(s["client_secret"].as_str().unwrap()), None).await
            .assert_error(401, "unauthenticated");
    }

    async fn the_signed_redirect_verifies(app) {
        let m = app.merchant().await;
        let s = app.session(&m, json!({})).await;
        let r = app.pay_card(&s, "4242424242424242", None).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        let url = r.json()["redirect_url"].as_str().unwrap().to_owned();
        let id = s["session_id"].as_str().unwrap();
        assert!(url.starts_with(&format!("https://shop.example/receipt?session_id={id}&govifi_session_id={id}&govifi_payment_id=pay_")), "{url}");
        assert!(!url.contains("#cs=") && !url.contains("_secret_"), "the credential never rides along");
        // The merchant's own check, exactly as SPEC §4 says.
        let parsed = url::Url::parse(&url).unwrap();
        let p = |k: &str| parsed.query_pairs().find(|(n, _)| n == k).unwrap().1.into_owned();
        use hmac::Mac;
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(m.redirect_secret.as_bytes()).unwrap();
        mac.update(format!("{}.{}.{}", p("govifi_ts"), p("govifi_session_id"), p("govifi_payment_id")).as_bytes());
        assert_eq!(p("govifi_sig"), hex::encode(mac.finalize().into_bytes()));
        let verify = |u: &str| app.call(Method::POST, "/v1/hosted-sessions/verify-redirect", Auth::Bearer(&m.key), Some(json!({"url": u})));
        assert_eq!(verify(&url).await.json(), json!({"valid": true}));
        let forged = url.replace(&p("govifi_sig"), &"0".repeat(64));
        assert_eq!(verify(&forged).await.json(), json!({"valid": false}));
        let other_payment = url.replace("govifi_payment_id=pay_", "govifi_payment_id=pay_x");
        assert_eq!(verify(&other_payment).await.json(), json!({"valid": false}));
        assert_eq!(verify("https://shop.example/receipt").await.json(), json!({"valid": false}));
        verify("not a url").await.assert_error(400, "parameter_invalid");
        // After rotation the old signature no longer verifies.
        app.call(Method::POST, format!("/api/paymentaccounts/{}/rotate-redirect-secret", m.uid), Auth::Bearer(&m.token), None).await;
        assert_eq!(verify(&url).await.json(), json!({"valid": false}));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outside_sandbox_return_urls_need_https() {
    let app = TestApp::spawn_with(support::Database::Sqlite, &[("GOVIFI_SANDBOX", "false")]).await.unwrap();
    let m = app.merchant().await;
    let post = |s: &str| {
        app.call(
            Method::POST,
            "/v1/hosted-sessions",
            Auth::Bearer(&m.key),
            Some(json!({"amount": 100, "currency": "USD", "success_url": s, "cancel_url": "https://a.example/c"})),
        )
    };
    post("http://shop.example/ok").await.assert_error(400, "parameter_invalid");
    assert_eq!(post("http://localhost:3000/ok").await.status, StatusCode::CREATED);
    assert_eq!(post("https://shop.example/ok").await.status, StatusCode::CREATED);
}
