//! Clients, payment accounts and API keys; each credential kind at each kind of route; tenant
//! isolation; OData on clients, accounts and customers.

mod support;

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::Row;
use support::{Auth, TestApp};

fn ids(list: &Value) -> Vec<String> {
    list["value"].as_array().unwrap().iter().map(|v| v["id"].as_str().unwrap().to_owned()).collect()
}

db_tests! {
    async fn clients_crud(app) {
        let token = app.admin_token().await;
        let r = app.call(Method::POST, "/api/clients", Auth::Bearer(&token),
            Some(json!({"name": "City of Example", "contact_email": "pay@example.gov", "metadata": {"region": "north"}}))).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        let client = r.json();
        let id = client["id"].as_str().unwrap();
        assert!(id.starts_with("cli_"));
        assert_eq!(client["object"], "client");
        assert_eq!(client["metadata"]["region"], "north");
        assert!(client["created_at"].as_str().unwrap().ends_with('Z'));

        let got = app.call(Method::GET, &format!("/api/clients/{id}"), Auth::Bearer(&token), None).await.json();
        assert_eq!(got, client);

        let patched = app.call(Method::PATCH, &format!("/api/clients/{id}"), Auth::Bearer(&token),
            Some(json!({"contact_email": null, "name": "City of Example (Utilities)"}))).await;
        assert_eq!(patched.status, StatusCode::OK, "{}", patched.text());
        let patched = patched.json();
        assert_eq!(patched["name"], "City of Example (Utilities)");
        assert!(patched["contact_email"].is_null());
        assert_eq!(patched["metadata"]["region"], "north", "untouched fields stay");

        // Its dashboard users, signed in or not, go with it.
        let password = "a long enough password";
        let (clerk, _) = server::dashboard::create_user(app.db(), id, "clerk@example.gov", server::domain::dashboard::Role::Owner, Some(password.into())).await.unwrap();
        assert!(server::dashboard::sign_in(&app.state, "clerk@example.gov", password, server::store::now_ms()).await.is_ok());
        let r = app.call(Method::DELETE, &format!("/api/clients/{id}"), Auth::Bearer(&token), None).await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
        app.call(Method::GET, &format!("/api/clients/{id}"), Auth::Bearer(&token), None).await.assert_error(404, "resource_missing");
        for (sql, what) in [("SELECT COUNT(*) FROM dashboard_users WHERE id = $1", "user"), ("SELECT COUNT(*) FROM dashboard_sessions WHERE user_id = $1", "sign-in")] {
            let left: i64 = sqlx::query_scalar(sql).bind(&clerk.id).fetch_one(app.db().pool()).await.unwrap();
            assert_eq!(left, 0, "{what}");
        }
        app.call(Method::DELETE, &format!("/api/clients/{id}"), Auth::Bearer(&token), None).await.assert_error(404, "resource_missing");
    }

    async fn client_validation_answers_the_spec_codes(app) {
        let token = app.admin_token().await;
        let post = |body: Value| app.call(Method::POST, "/api/clients", Auth::Bearer(&token), Some(body));
        assert_eq!(post(json!({})).await.assert_error(400, "parameter_missing")["param"], "name");
        assert_eq!(post(json!({"name": ""})).await.assert_error(400, "parameter_invalid")["param"], "name");
        assert_eq!(post(json!({"name": "x", "contact_email": "nope"})).await.assert_error(400, "parameter_invalid")["param"], "contact_email");
        assert_eq!(post(json!({"name": "x", "colour": "red"})).await.assert_error(400, "unknown_field")["param"], "colour");
        assert_eq!(post(json!({"name": "x", "metadata": {"n": 5}})).await.assert_error(400, "parameter_invalid")["param"], "metadata.n");
        app.call(Method::GET, "/api/clients/cli_doesnotexist", Auth::Bearer(&token), None).await.assert_error(404, "resource_missing");
        app.call(Method::GET, "/api/clients/'%20OR%201=1", Auth::Bearer(&token), None).await.assert_error(404, "resource_missing");
    }

    async fn a_client_with_accounts_cannot_be_deleted(app) {
        let token = app.admin_token().await;
        let account = app.create_account(&token, json!({})).await;
        let client_id = account["client_id"].as_str().unwrap();
        server::dashboard::create_user(app.db(), client_id, "owner@example.gov", server::domain::dashboard::Role::Owner, None).await.unwrap();
        app.call(Method::DELETE, &format!("/api/clients/{client_id}"), Auth::Bearer(&token), None).await
            .assert_error(409, "resource_in_use");
        let users: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM dashboard_users WHERE client_id = $1").bind(client_id).fetch_one(app.db().pool()).await.unwrap();
        assert_eq!(users, 1, "nothing deleted");
    }

    async fn payment_accounts_crud_secrets_and_validation(app) {
        let token = app.admin_token().await;
        let account = app.create_account(&token, json!({
            "processor": {"type": "sandbox", "credentials": {"api_key": "sk_live_supersecret"}},
            "fee_rules": [{"method": "card", "card_funding": "debit", "fixed_amount": 395},
                          {"method": "card", "percent_bps": 295, "min_fee": 195}],
            "branding": {"display_name": "Water", "primary_color": "#1A5FB4"},
            "allowed_origins": ["https://Shop.Example:443/", "http://localhost:3000"],
            "statement_descriptor": "CITY WATER",
        })).await;
        let uid = account["uid"].as_str().unwrap().to_owned();
        assert!(uid.starts_with("pa_"));
        assert_eq!(account["id"], uid.as_str());
        assert_eq!(account["object"], "payment_account");
        let secret = account["redirect_signing_secret"].as_str().unwrap();
        assert!(secret.starts_with("grs_") && secret.len() == 47, "{secret}");
        assert_eq!(account["processor"], json!({"type": "sandbox", "credentials_configured": true}));
        assert_eq!(account["allowed_origins"], json!(["https://shop.example", "http://localhost:3000"]));
        assert_eq!(account["enabled_methods"], json!(["card", "ach", "apple_pay"]));
        assert!(!account.to_string().contains("sk_live_supersecret"));

        // Never again: not on GET, not in the database readable.
        let got = app.call(Method::GET, &format!("/api/paymentaccounts/{uid}"), Auth::Bearer(&token), None).await.json();
        assert!(got.get("redirect_signing_secret").is_none());
        assert!(!got.to_string().contains("sk_live_supersecret"));
        let row = sqlx::query("SELECT processor_credentials, redirect_secret FROM payment_accounts WHERE uid = $1")
            .bind(&uid).fetch_one(app.db().pool()).await.unwrap();
        let creds: String = row.get(0);
        let stored_secret: String = row.get(1);
        assert!(!creds.contains("sk_live") && creds.starts_with("v1."));
        assert!(!stored_secret.contains(secret));

        // PATCH changes only what it names.
        let r = app.call(Method::PATCH, &format!("/api/paymentaccounts/{uid}"), Auth::Bearer(&token),
            Some(json!({"enabled_methods": ["card"], "reject_avs_mismatch": true}))).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        let patched = r.json();
        assert_eq!(patched["enabled_methods"], json!(["card"]));
        assert_eq!(patched["reject_avs_mismatch"], true);
        assert_eq!(patched["branding"]["display_name"], "Water");
        assert_eq!(patched["processor"]["credentials_configured"], true);
        app.call(Method::PATCH, &format!("/api/paymentaccounts/{uid}"), Auth::Bearer(&token), Some(json!({"currency": "EUR"})))
            .await.assert_error(400, "unknown_field");

        // An ACH debit moves US dollars only: a euro account takes cards and Apple Pay by default,
        // and is refused ACH when it names it, at creation or later.
        let euros = app.create_account(&token, json!({"currency": "EUR"})).await;
        assert_eq!(euros["enabled_methods"], json!(["card", "apple_pay"]));
        let euro_uid = euros["uid"].as_str().unwrap();
        let client_id = euros["client_id"].as_str().unwrap();
        let refused = app.call(Method::POST, "/api/paymentaccounts", Auth::Bearer(&token),
            Some(json!({"client_id": client_id, "name": "Euros", "currency": "EUR", "enabled_methods": ["card", "ach"]}))).await;
        assert_eq!(refused.assert_error(400, "parameter_invalid")["param"], "enabled_methods");
        app.call(Method::PATCH, &format!("/api/paymentaccounts/{euro_uid}"), Auth::Bearer(&token), Some(json!({"enabled_methods": ["ach"]})))
            .await.assert_error(400, "parameter_invalid");
        // An account made before the rule may still list ACH: its new checkouts do not offer it,
        // and one an older checkout still lists is refused at the quote.
        sqlx::query("UPDATE payment_accounts SET enabled_methods = $1 WHERE uid = $2").bind(r#"["card","ach"]"#).bind(euro_uid)
            .execute(app.db().pool()).await.unwrap();
        let made = app.call(Method::POST, "/v1/hosted-sessions", Auth::Account(&token, euro_uid), Some(json!({
            "amount": 1000, "currency": "EUR", "success_url": "https://shop.example/paid", "cancel_url": "https://shop.example/bill"}))).await;
        assert_eq!(made.status, StatusCode::CREATED, "{}", made.text());
        let session = made.json();
        assert_eq!(session["allowed_methods"], json!(["card"]));
        sqlx::query("UPDATE hosted_sessions SET allowed_methods = $1 WHERE id = $2").bind(r#"["card","ach"]"#)
            .bind(session["session_id"].as_str().unwrap()).execute(app.db().pool()).await.unwrap();
        let quote = app.browser(Method::POST, &session, "quote-fee", None, Some(json!({"payment_method_type": "ach"}))).await;
        assert_eq!(quote.assert_error(400, "parameter_invalid")["param"], "payment_method_type");

        // Rotation: a new secret, shown once, different from the first.
        let rotated = app.call(Method::POST, &format!("/api/paymentaccounts/{uid}/rotate-redirect-secret"), Auth::Bearer(&token), None).await;
        assert_eq!(rotated.status, StatusCode::OK);
        let new_secret = rotated.json()["redirect_signing_secret"].as_str().unwrap().to_owned();
        assert_ne!(new_secret, secret);
        let account = server::store::accounts::get(app.db(), &uid).await.unwrap().unwrap();
        assert_eq!(account.redirect_secret(&app.state.config().master_key).unwrap(), new_secret);
    }

    async fn payment_account_validation(app) {
        let token = app.admin_token().await;
        let client_id = app.create_client(&token, "Owner").await;
        let post = |extra: Value| {
            let mut body = json!({"client_id": client_id, "name": "A", "currency": "USD"});
            for (k, v) in extra.as_object().unwrap() {
                body[k] = v.clone();
            }
            app.call(Method::POST, "/api/paymentaccounts", Auth::Bearer(&token), Some(body))
        };
        let param = |r: support::TestResponse, code: &str| r.assert_error(400, code)["param"].as_str().unwrap_or("").to_owned();
        assert_eq!(param(post(json!({"client_id": "cli_nope"})).await, "parameter_invalid"), "client_id");
        assert_eq!(param(post(json!({"currency": "usd"})).await, "parameter_invalid"), "currency");
        assert_eq!(param(post(json!({"currency": "XYZ"})).await, "parameter_invalid"), "currency");
        assert_eq!(param(post(json!({"fee_rules": [{"method": "card", "percent_bps": 20000}]})).await, "parameter_invalid"), "fee_rules[0].percent_bps");
        assert_eq!(param(post(json!({"fee_rules": [{"method": "cash"}]})).await, "parameter_invalid"), "fee_rules[0].method");
        assert_eq!(param(post(json!({"allowed_origins": ["https://x.example/path"]})).await, "parameter_invalid"), "allowed_origins[0]");
        assert_eq!(param(post(json!({"branding": {"primary_color": "blue"}})).await, "parameter_invalid"), "branding.primary_color");
        assert_eq!(param(post(json!({"branding": {"logo_url": "javascript:alert(1)"}})).await, "parameter_invalid"), "branding.logo_url");
        assert_eq!(param(post(json!({"processor": {"type": "stripe"}})).await, "parameter_invalid"), "processor.type");
        assert_eq!(param(post(json!({"statement_descriptor": "<script>"})).await, "parameter_invalid"), "statement_descriptor");
        assert_eq!(param(post(json!({"enabled_methods": []})).await, "parameter_invalid"), "enabled_methods");
        app.call(Method::GET, "/api/paymentaccounts/pa_missing", Auth::Bearer(&token), None).await.assert_error(404, "resource_missing");
    }

    async fn api_keys_are_shown_once_hashed_listed_and_revocable(app) {
        let token = app.admin_token().await;
        let uid = app.create_account(&token, json!({})).await["uid"].as_str().unwrap().to_owned();
        let r = app.call(Method::POST, &format!("/api/paymentaccounts/{uid}/api-keys"), Auth::Bearer(&token),
            Some(json!({"label": "Billing", "scopes": ["customers.read", "customers.write"]}))).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        let created = r.json();
        let key = created["key"].as_str().unwrap().to_owned();
        assert!(key.starts_with("gk_") && key.len() == 43);
        assert_eq!(created["object"], "api_key");
        assert!(created["id"].as_str().unwrap().starts_with("ak_"));
        assert!(key.starts_with(created["prefix"].as_str().unwrap()));
        assert!(created["last_used_at"].is_null());

        let stored: String = sqlx::query("SELECT key_hash FROM api_keys").fetch_one(app.db().pool()).await.unwrap().get(0);
        assert_ne!(stored, key);
        assert!(!stored.contains(&key[3..]));

        assert_eq!(app.call(Method::GET, "/api/customers", Auth::Bearer(&key), None).await.status, StatusCode::OK);
        let listed = app.call(Method::GET, &format!("/api/paymentaccounts/{uid}/api-keys"), Auth::Bearer(&token), None).await.json();
        let item = &listed["value"][0];
        assert!(item.get("key").is_none(), "the key is never listed: {item}");
        assert_eq!(item["label"], "Billing");
        assert_eq!(item["scopes"], json!(["customers.read", "customers.write"]));
        assert!(item["last_used_at"].is_string(), "marked used: {item}");

        let id = created["id"].as_str().unwrap();
        let r = app.call(Method::DELETE, &format!("/api/paymentaccounts/{uid}/api-keys/{id}"), Auth::Bearer(&token), None).await;
        assert_eq!(r.status, StatusCode::NO_CONTENT);
        app.call(Method::GET, "/api/customers", Auth::Bearer(&key), None).await.assert_error(401, "unauthenticated");
        let listed = app.call(Method::GET, &format!("/api/paymentaccounts/{uid}/api-keys"), Auth::Bearer(&token), None).await.json();
        let revoked = &listed["value"][0];
        assert!(revoked["revoked_at"].is_string(), "{revoked}");
        assert_eq!(revoked["updated_at"], revoked["revoked_at"], "a key changes when it is revoked");
        assert_eq!(created["updated_at"], created["created_at"]);

        // Validation.
        let post = |body: Value| app.call(Method::POST, format!("/api/paymentaccounts/{uid}/api-keys"), Auth::Bearer(&token), Some(body));
        assert_eq!(post(json!({"label": "x", "scopes": ["everything"]})).await.assert_error(400, "parameter_invalid")["param"], "scopes[0]");
        assert_eq!(post(json!({"label": "x", "scopes": []})).await.assert_error(400, "parameter_invalid")["param"], "scopes");
        assert_eq!(post(json!({"label": "x", "scopes": ["*"], "expires_at": "2001-01-01T00:00:00Z"})).await.assert_error(400, "parameter_invalid")["param"], "expires_at");
    }

    async fn an_expired_api_key_stops_at_once(app) {
        let token = app.admin_token().await;
        let uid = app.create_account(&token, json!({})).await["uid"].as_str().unwrap().to_owned();
        let r = app.call(Method::POST, &format!("/api/paymentaccounts/{uid}/api-keys"), Auth::Bearer(&token),
            Some(json!({"label": "short", "scopes": ["*"], "expires_at": "2099-01-01T00:00:00Z"}))).await;
        let key = r.json()["key"].as_str().unwrap().to_owned();
        assert_eq!(app.call(Method::GET, "/api/customers", Auth::Bearer(&key), None).await.status, StatusCode::OK);
        sqlx::query("UPDATE api_keys SET expires_at = $1").bind(server::store::now_ms() - 1).execute(app.db().pool()).await.unwrap();
        app.call(Method::GET, "/api/customers", Auth::Bearer(&key), None).await.assert_error(401, "unauthenticated");
    }

    async fn each_credential_kind_at_each_kind_of_route(app) {
        let token = app.admin_token().await;
        let account = app.create_account(&token, json!({})).await;
        let uid = account["uid"].as_str().unwrap().to_owned();
        let other_uid = app.create_account(&token, json!({})).await["uid"].as_str().unwrap().to_owned();
        let key = app.api_key(&token, &uid, &["customers.read"]).await;
        let session_like = "cs_abc_secret_def";
        let wallet_like = "ws_abc_secret_def";

        // Admin-only routes: only an admin token.
        for path in ["/api/clients", "/api/paymentaccounts"] {
            app.call(Method::GET, path, Auth::None, None).await.assert_error(401, "unauthenticated");
            for wrong in [key.as_str(), session_like, wallet_like, "garbage"] {
                app.call(Method::GET, path, Auth::Bearer(wrong), None).await.assert_error(401, "unauthenticated");
            }
            assert_eq!(app.call(Method::GET, path, Auth::Bearer(&token), None).await.status, StatusCode::OK);
        }
        let r = app.request(axum::http::Request::get("/api/clients").header("authorization", format!("Basic {token}")).body(axum::body::Body::empty()).unwrap()).await;
        r.assert_error(401, "unauthenticated");

        // Account routes: admin token + header, or an API key with the scope.
        app.call(Method::GET, "/api/customers", Auth::Bearer(&token), None).await.assert_error(400, "parameter_missing");
        app.call(Method::GET, "/api/customers", Auth::Account(&token, "pa_nosuchaccount"), None).await.assert_error(404, "resource_missing");
        assert_eq!(app.call(Method::GET, "/api/customers", Auth::Account(&token, &uid), None).await.status, StatusCode::OK);
        assert_eq!(app.call(Method::GET, "/api/customers", Auth::Bearer(&key), None).await.status, StatusCode::OK);
        assert_eq!(app.call(Method::GET, "/api/customers", Auth::Account(&key, &uid), None).await.status, StatusCode::OK, "own header is fine");
        app.call(Method::GET, "/api/customers", Auth::Account(&key, &other_uid), None).await.assert_error(403, "account_forbidden");
        app.call(Method::POST, "/api/customers", Auth::Bearer(&key), Some(json!({}))).await.assert_error(403, "insufficient_scope");
        for wrong in [session_like, wallet_like, "gk_notakey"] {
            app.call(Method::GET, "/api/customers", Auth::Bearer(wrong), None).await.assert_error(401, "unauthenticated");
        }
        // Account-key management is for admins only.
        app.call(Method::GET, &format!("/api/paymentaccounts/{uid}/api-keys"), Auth::Bearer(&key), None).await
            .assert_error(401, "unauthenticated");
    }

    async fn write_scopes_include_read_and_star_includes_all(app) {
        let token = app.admin_token().await;
        let uid = app.create_account(&token, json!({})).await["uid"].as_str().unwrap().to_owned();
        let writer = app.api_key(&token, &uid, &["customers.write"]).await;
        assert_eq!(app.call(Method::GET, "/api/customers", Auth::Bearer(&writer), None).await.status, StatusCode::OK);
        let star = app.api_key(&token, &uid, &["*"]).await;
        assert_eq!(app.call(Method::POST, "/api/customers", Auth::Bearer(&star), Some(json!({"name": "A"}))).await.status, StatusCode::CREATED);
        let other = app.api_key(&token, &uid, &["webhooks.read"]).await;
        app.call(Method::GET, "/api/customers", Auth::Bearer(&other), None).await.assert_error(403, "insufficient_scope");
    }

    async fn tenants_are_isolated(app) {
        let token = app.admin_token().await;
        let a = app.create_account(&token, json!({})).await["uid"].as_str().unwrap().to_owned();
        let b = app.create_account(&token, json!({})).await["uid"].as_str().unwrap().to_owned();
        let key_a = app.api_key(&token, &a, &["*"]).await;
        let key_b = app.api_key(&token, &b, &["*"]).await;
        let cus_b = app.call(Method::POST, "/api/customers", Auth::Bearer(&key_b), Some(json!({"name": "B's customer", "email": "b@example.com"}))).await.json();
        let cus_b_id = cus_b["id"].as_str().unwrap();
        let pm = app.call(Method::POST, &format!("/api/customers/{cus_b_id}/payment-methods"), Auth::Bearer(&key_b),
            Some(json!({"usage": "on_session", "payment_method": {"type": "card", "card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2030}}}))).await.json();
        let pm_id = pm["id"].as_str().unwrap();

        for (method, path) in [
            (Method::GET, format!("/api/customers/{cus_b_id}")),
            (Method::PATCH, format!("/api/customers/{cus_b_id}")),
            (Method::DELETE, format!("/api/customers/{cus_b_id}")),
            (Method::GET, format!("/api/customers/{cus_b_id}/payment-methods")),
            (Method::DELETE, format!("/api/customers/{cus_b_id}/payment-methods/{pm_id}")),
        ] {
            let body = (method == Method::PATCH).then(|| json!({"name": "stolen"}));
            app.call(method.clone(), &path, Auth::Bearer(&key_a), body.clone()).await.assert_error(404, "resource_missing");
            app.call(method, &path, Auth::Account(&token, &a), body).await.assert_error(404, "resource_missing");
        }
        let list_a = app.call(Method::GET, "/api/customers", Auth::Bearer(&key_a), None).await.json();
        assert_eq!(list_a["value"], json!([]));
        let filtered = app.call(Method::GET, &format!("/api/customers?$filter=id%20eq%20'{cus_b_id}'"), Auth::Bearer(&key_a), None).await.json();
        assert_eq!(filtered["value"], json!([]));
        // B still has everything.
        let got = app.call(Method::GET, &format!("/api/customers/{cus_b_id}"), Auth::Bearer(&key_b), None).await.json();
        assert_eq!(got["name"], "B's customer");
    }

    async fn odata_on_clients(app) {
        let token = app.admin_token().await;
        for name in ["City of Example", "County of Sample", "O'Brien Utilities", "City of Example Water"] {
            app.create_client(&token, name).await;
        }
        let get = |q: &str| app.call(Method::GET, format!("/api/clients?{q}"), Auth::Bearer(&token), None);
        let r = get("$filter=name%20eq%20'City%20of%20Example'&$top=1").await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        let body = r.json();
        assert_eq!(body["value"].as_array().unwrap().len(), 1);
        assert_eq!(body["value"][0]["name"], "City of Example");
        assert!(body.get("@odata.nextLink").is_none(), "nothing more matches");

        let r = get("$filter=name eq 'O''Brien Utilities'").await.json();
        assert_eq!(r["value"][0]["name"], "O'Brien Utilities");
        let r = get("$filter=startswith(name,'City') and not contains(name,'Water')&$count=true").await.json();
        assert_eq!(r["@odata.count"], 1);
        let r = get("$filter=contains(name,'city')").await.json();
        assert_eq!(r["value"], json!([]), "contains is case-sensitive on both databases");

        let r = get("$orderby=name asc&$select=name").await.json();
        let names: Vec<&str> = r["value"].as_array().unwrap().iter().map(|v| v["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["City of Example", "City of Example Water", "County of Sample", "O'Brien Utilities"]);
        assert_eq!(r["value"][0], json!({"name": "City of Example"}), "$select keeps only what it names");

        // Paging: nextLink walks the whole set without overlap.
        let mut seen = Vec::new();
        let mut next = Some("/api/clients?$top=3&$orderby=name%20desc&$count=true".to_owned());
        while let Some(path) = next {
            let page = app.call(Method::GET, &path, Auth::Bearer(&token), None).await;
            assert_eq!(page.status, StatusCode::OK, "{path}: {}", page.text());
            let page = page.json();
            assert_eq!(page["@odata.count"], 4);
            seen.extend(ids(&page));
            next = page.get("@odata.nextLink").and_then(|v| v.as_str()).map(str::to_owned);
        }
        assert_eq!(seen.len(), 4);
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), 4, "no client twice");

        let created = get("$orderby=created_at").await.json();
        let first = created["value"][0]["created_at"].as_str().unwrap().to_owned();
        let r = get(&format!("$filter=created_at ge {first}&$count=true")).await.json();
        assert_eq!(r["@odata.count"], 4);
        let r = get("$filter=created_at lt 2000-01-01T00:00:00Z").await.json();
        assert_eq!(r["value"], json!([]));

        // Errors.
        get("$expand=x").await.assert_error(501, "not_implemented");
        get("$search=x").await.assert_error(501, "not_implemented");
        let e = get("$filter=nosuchfield eq 1").await.assert_error(400, "invalid_odata");
        assert!(e["message"].as_str().unwrap().contains("nosuchfield"), "{e}");
        assert_eq!(e["param"], "$filter");
        get("$top=1001").await.assert_error(400, "invalid_odata");
        get("$filter=name eq 'x' or 1 eq 1").await.assert_error(400, "invalid_odata");
        get("$filter=name eq 'x'; DROP TABLE clients").await.assert_error(400, "invalid_odata");
        let r = get("$filter=name eq 'x'' OR ''1''=''1'").await.json();
        assert_eq!(r["value"], json!([]), "quotes are data, not SQL");
        assert_eq!(get("").await.json()["value"].as_array().unwrap().len(), 4);
    }

    async fn a_list_without_top_answers_100_and_links_the_rest(app) {
        let token = app.admin_token().await;
        let a = app.create_account(&token, json!({"name": "Paging"})).await;
        let key = app.api_key(&token, a["uid"].as_str().unwrap(), &["customers.write"]).await;
        for i in 0..101 {
            let r = app.call(Method::POST, "/api/customers", Auth::Bearer(&key), Some(json!({"name": format!("C{i:03}")}))).await;
            assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        }
        let page = app.call(Method::GET, "/api/customers?$orderby=name&$count=true", Auth::Bearer(&key), None).await.json();
        let names = |p: &serde_json::Value| p["value"].as_array().unwrap().iter().map(|v| v["name"].as_str().unwrap().to_owned()).collect::<Vec<_>>();
        assert_eq!((names(&page).len(), page["@odata.count"].as_i64()), (100, Some(101)), "SPEC §8: $top defaults to 100");
        assert_eq!(names(&page).last().map(String::as_str), Some("C099"));
        let next = page["@odata.nextLink"].as_str().unwrap().to_owned();
        assert!(next.contains("$top=100") && next.contains("$skip=100"), "{next}");
        let rest = app.call(Method::GET, &next, Auth::Bearer(&key), None).await.json();
        assert_eq!(names(&rest), ["C100"]);
        assert!(rest.get("@odata.nextLink").is_none(), "{rest}");
        // The largest page is 1000.
        let all = app.call(Method::GET, "/api/customers?$top=1000", Auth::Bearer(&key), None).await.json();
        assert_eq!(names(&all).len(), 101);
    }

    async fn odata_on_accounts_and_customers(app) {
        let token = app.admin_token().await;
        let a = app.create_account(&token, json!({"name": "Parking"})).await;
        app.create_account(&token, json!({"name": "Water"})).await;
        let uid = a["uid"].as_str().unwrap();
        let r = app.call(Method::GET, "/api/paymentaccounts?$filter=name%20eq%20'Parking'&$select=uid,name", Auth::Bearer(&token), None).await.json();
        assert_eq!(r["value"], json!([{"uid": uid, "name": "Parking"}]));
        let client_id = a["client_id"].as_str().unwrap();
        let r = app.call(Method::GET, &format!("/api/paymentaccounts?$filter=client_id%20eq%20'{client_id}'&$count=true"), Auth::Bearer(&token), None).await.json();
        assert_eq!(r["@odata.count"], 1);
        app.call(Method::GET, "/api/paymentaccounts?$filter=currency%20eq%20'USD'", Auth::Bearer(&token), None).await
            .assert_error(400, "invalid_odata");

        let key = app.api_key(&token, uid, &["customers.write"]).await;
        for (name, email, reference) in [("Ann", "ann@example.com", "R-1"), ("Bob", "bob@example.com", "R-2"), ("Cy", "cy@example.org", "R-3")] {
            let r = app.call(Method::POST, "/api/customers", Auth::Bearer(&key), Some(json!({"name": name, "email": email, "reference": reference}))).await;
            assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        }
        let q = |f: &str| app.call(Method::GET, format!("/api/customers?{f}"), Auth::Bearer(&key), None);
        let r = q("$filter=endswith(email,'.com')&$orderby=name desc").await.json();
        let names: Vec<&str> = r["value"].as_array().unwrap().iter().map(|v| v["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["Bob", "Ann"]);
        let r = q("$filter=reference eq 'R-3' or name eq 'Ann'&$count=true&$top=1").await.json();
        assert_eq!(r["@odata.count"], 2);
        assert!(r["@odata.nextLink"].as_str().unwrap().contains("$skip=1"));
        q("$filter=phone eq '1'").await.assert_error(400, "invalid_odata");
        q("$apply=groupby((name))").await.assert_error(501, "not_implemented");

        // A customer without a reference: `not (reference eq …)` keeps it, as `ne` does (in
        // OData a comparison with null is false, so its `not` is true).
        let dee = app.call(Method::POST, "/api/customers", Auth::Bearer(&key), Some(json!({"name": "Dee"}))).await.json();
        let names = |r: serde_json::Value| -> Vec<String> {
            let mut n: Vec<String> = r["value"].as_array().unwrap().iter().map(|v| v["name"].as_str().unwrap().to_owned()).collect();
            n.sort();
            n
        };
        assert_eq!(names(q("$filter=not (reference eq 'R-1')").await.json()), ["Bob", "Cy", "Dee"]);
        assert_eq!(names(q("$filter=reference ne 'R-1'").await.json()), ["Bob", "Cy", "Dee"]);
        assert_eq!(names(q("$filter=not (reference eq 'R-1' or name eq 'Bob')").await.json()), ["Cy", "Dee"]);
        let in_order = |r: serde_json::Value| -> Vec<String> {
            r["value"].as_array().unwrap().iter().map(|v| v["name"].as_str().unwrap().to_owned()).collect()
        };
        // Text sorts and compares by code point on either database (PostgreSQL's collation here
        // is ICU's en-US, where "alpha" comes before "Beta"; SQLite and code points put it after).
        let lower = app.call(Method::POST, "/api/customers", Auth::Bearer(&key), Some(json!({"name": "alpha"}))).await;
        assert_eq!(lower.status, StatusCode::CREATED);
        assert_eq!(in_order(q("$orderby=name asc&$filter=name ne 'Dee'").await.json()), ["Ann", "Bob", "Cy", "alpha"]);
        assert_eq!(in_order(q("$filter=name gt 'Cy'&$orderby=name").await.json()), ["Dee", "alpha"]);
        assert_eq!(in_order(q("$filter=name lt 'a'&$orderby=name desc").await.json()), ["Dee", "Cy", "Bob", "Ann"]);
        let alpha = lower.json()["id"].as_str().unwrap().to_owned();
        assert_eq!(app.call(Method::DELETE, format!("/api/customers/{alpha}"), Auth::Bearer(&key), None).await.status, StatusCode::NO_CONTENT);
        // Null sorts before every value ascending and after them descending (OData), on either
        // database (PostgreSQL sorts nulls the other way by itself).
        assert_eq!(in_order(q("$orderby=reference asc").await.json()), ["Dee", "Ann", "Bob", "Cy"]);
        assert_eq!(in_order(q("$orderby=reference desc").await.json()), ["Cy", "Bob", "Ann", "Dee"]);
        assert_eq!(in_order(q("$orderby=reference desc&$top=1&$skip=3").await.json()), ["Dee"], "pages agree");
        // `$top=0` is an empty page with nothing after it (a link back to itself would loop).
        let r = q("$top=0&$count=true").await.json();
        assert_eq!((r["value"].as_array().map(Vec::len), r["@odata.count"].as_i64()), (Some(0), Some(4)));
        assert!(r.get("@odata.nextLink").is_none(), "{r}");
        // Without the `$`, a system option still applies (OData 4.01).
        let r = q("top=1&orderby=name").await.json();
        assert_eq!(names(r.clone()), ["Ann"]);
        assert!(r["@odata.nextLink"].as_str().unwrap().contains("$top=1"), "{r}");
        // A time read back from the API finds its row: times compare in the seconds shown.
        let shown = dee["created_at"].as_str().unwrap();
        assert!(names(q(&format!("$filter=created_at eq {shown}")).await.json()).contains(&"Dee".to_owned()));
        assert!(names(q(&format!("$filter=created_at le {shown}")).await.json()).contains(&"Dee".to_owned()));
        assert!(!names(q(&format!("$filter=created_at gt {shown}")).await.json()).contains(&"Dee".to_owned()));
        assert!(!names(q(&format!("$filter=created_at lt {shown}")).await.json()).contains(&"Dee".to_owned()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_lists_every_route_with_its_security() {
    let app = TestApp::spawn(support::Database::Sqlite).await.unwrap();
    let doc = app.get("/openapi.json").await.json();
    let paths = doc["paths"].as_object().unwrap();
    for (path, method, scheme) in [
        ("/oauth2/token", "post", None),
        ("/.well-known/jwks.json", "get", None),
        ("/api/clients", "post", Some("admin_token")),
        ("/api/clients/{id}", "delete", Some("admin_token")),
        ("/api/paymentaccounts", "post", Some("admin_token")),
        ("/api/paymentaccounts/{uid}/rotate-redirect-secret", "post", Some("admin_token")),
        ("/api/paymentaccounts/{uid}/api-keys", "post", Some("admin_token")),
        ("/api/paymentaccounts/{uid}/api-keys/{id}", "delete", Some("admin_token")),
        ("/api/customers", "get", Some("api_key")),
        ("/api/customers/{id}/payment-methods", "post", Some("api_key")),
        ("/api/customers/{id}/payment-methods/{pm}", "delete", Some("admin_token")),
    ] {
        let op = &paths.get(path).unwrap_or_else(|| panic!("{path} missing"))[method];
        assert!(op.is_object(), "{method} {path}");
        if let Some(scheme) = scheme {
            let security = op["security"].as_array().unwrap_or_else(|| panic!("{method} {path} has no security"));
            assert!(security.iter().any(|s| s.get(scheme).is_some()), "{method} {path}: {security:?}");
        }
    }
}
