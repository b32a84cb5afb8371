//! The dashboard's sign-in (SPEC §12): users, the session cookie, the lockout, idle expiry, and
//! the origin and session checks of its server functions.

mod support;

use axum::body::Body;
use axum::http::Method;
use axum::http::StatusCode;
use serde_json::{Value, json};
use server::auth::secrets::hash_secret;
use server::dashboard::{self, SignInRefused};
use server::domain::dashboard::{IDLE_MS, LOCK_MS, Role};
use server::store::now_ms;
use support::{Auth, PUBLIC_URL, TestApp, TestResponse};

const PASSWORD: &str = "correct horse battery staple";

async fn tenant(app: &TestApp) -> String {
    server::store::clients::insert(app.db(), "Test City", None, &Default::default()).await.unwrap().id
}

async fn user(app: &TestApp, email: &str, role: Role) -> String {
    let client = tenant(app).await;
    let (u, generated) = dashboard::create_user(app.db(), &client, email, role, Some(PASSWORD.into())).await.unwrap();
    assert!(generated.is_none(), "a given password is not echoed");
    u.id
}

/// A form post (as a browser without script makes it), or with `accept: application/json` a
/// server-function call as the dashboard's code makes it.
async fn post(app: &TestApp, path: &str, origin: Option<&str>, cookie: Option<&str>, form: &str) -> TestResponse {
    let accept = if path.ends_with("/profile") { "application/json" } else { "text/html" };
    let mut headers = vec![("content-type", "application/x-www-form-urlencoded"), ("accept", accept)];
    if let Some(o) = origin {
        headers.push(("origin", o));
    }
    let cookie = cookie.map(|c| format!("govifi_session={c}"));
    if let Some(c) = &cookie {
        headers.push(("cookie", c));
    }
    app.send(axum::http::Method::POST, path, &headers, Body::from(form.to_owned())).await
}

/// A server function called as the hydrated dashboard calls it (JSON back).
async fn post_fn(app: &TestApp, name: &str, origin: Option<&str>, cookie: Option<&str>, form: &str) -> TestResponse {
    let mut headers = vec![("content-type", "application/x-www-form-urlencoded"), ("accept", "application/json")];
    if let Some(o) = origin {
        headers.push(("origin", o));
    }
    let cookie = cookie.map(|c| format!("govifi_session={c}"));
    if let Some(c) = &cookie {
        headers.push(("cookie", c));
    }
    app.send(Method::POST, &format!("/dashboard/api/{name}"), &headers, Body::from(form.to_owned())).await
}

async fn call_fn(app: &TestApp, name: &str, token: &str, form: &str) -> TestResponse {
    post_fn(app, name, Some(PUBLIC_URL), Some(token), form).await
}

async fn sign_in(app: &TestApp, email: &str, password: &str) -> TestResponse {
    let form = form_urlencoded::Serializer::new(String::new())
        .append_pair("email", email)
        .append_pair("password", password)
        .finish();
    post(app, "/dashboard/api/sign_in", Some(PUBLIC_URL), None, &form).await
}

/// The session token in a response's Set-Cookie.
fn token_of(r: &TestResponse) -> String {
    let cookie = r.header("set-cookie").expect("a cookie");
    cookie.strip_prefix("govifi_session=").unwrap().split(';').next().unwrap().to_owned()
}

db_tests! {
    async fn signing_in_sets_a_strict_cookie_whose_token_is_stored_hashed(app) {
        user(&app, "Alex@Example.com", Role::Admin).await;
        // Signed out: the dashboard sends the browser to the sign-in page.
        let r = app.get("/dashboard").await;
        assert!(r.status.is_redirection(), "{}", r.status);
        assert_eq!(r.header("location"), Some("/dashboard/login"));
        let page = app.get("/dashboard/login").await;
        assert_eq!(page.status, StatusCode::OK);
        let html = page.text();
        for label in [r#"<label for="email">Email</label>"#, r#"<label for="password">Password</label>"#, r#"<button type="submit">Sign in</button>"#] {
            assert!(html.contains(label), "{label} in {html}");
        }
        assert!(html.contains(r#"action="/dashboard/api/sign_in""#));
        let csp = page.header("content-security-policy").unwrap();
        assert!(csp.contains("frame-ancestors 'none'") && !csp.contains("unsafe-inline"), "{csp}");
        assert_eq!(page.header("cache-control"), Some("no-store"));
        // Its own form posts carry its origin (which the server functions check).
        assert_eq!(page.header("referrer-policy"), Some("same-origin"));

        let r = sign_in(&app, " alex@EXAMPLE.com", PASSWORD).await;
        assert_eq!(r.status, StatusCode::FOUND, "{}", r.text());
        assert_eq!(r.header("location"), Some("/dashboard"));
        let cookie = r.header("set-cookie").unwrap().to_owned();
        for flag in ["HttpOnly", "SameSite=Strict", "Path=/dashboard"] {
            assert!(cookie.contains(flag), "{flag} in {cookie}");
        }
        assert!(!cookie.contains("Secure"), "not on http: {cookie}");
        let token = token_of(&r);
        assert!(token.len() >= 40, "{token}");
        let stored = support::all_stored_text(app.db()).await;
        assert!(!stored.contains(&token), "the token is not stored");
        assert!(stored.contains(&hash_secret(&token)), "its SHA-256 is");
        assert!(!stored.contains(PASSWORD) && stored.contains("$argon2id$"), "the password is an Argon2id hash");

        let cookie_header = format!("govifi_session={token}");
        let home = app.send(axum::http::Method::GET, "/dashboard", &[("cookie", &cookie_header)], Body::empty()).await;
        assert_eq!(home.status, StatusCode::OK, "{}", home.text());
        assert!(home.text().contains("alex@example.com (admin)"), "{}", home.text());
        assert!(home.text().contains("Test City"));

        // A server function: the session from the cookie, the origin checked.
        let me = post(&app, "/dashboard/api/profile", Some(PUBLIC_URL), Some(&token), "").await;
        assert_eq!(me.status, StatusCode::OK, "{}", me.text());
        assert_eq!(me.json()["email"], "alex@example.com");
        assert_eq!(me.json()["role"], "admin");
        assert_eq!(post(&app, "/dashboard/api/profile", Some("https://evil.example"), Some(&token), "").await.status, StatusCode::FORBIDDEN);
        assert_eq!(post(&app, "/dashboard/api/profile", None, Some(&token), "").await.status, StatusCode::FORBIDDEN);
        assert_eq!(post(&app, "/dashboard/api/profile", Some(PUBLIC_URL), None, "").await.status, StatusCode::UNAUTHORIZED);
        assert_eq!(post(&app, "/dashboard/api/profile", Some(PUBLIC_URL), Some("forged"), "").await.status, StatusCode::UNAUTHORIZED);

        // Sign out ends the session on the server, and clears the cookie.
        let out = post(&app, "/dashboard/api/sign_out", Some(PUBLIC_URL), Some(&token), "").await;
        assert_eq!(out.status, StatusCode::FOUND, "{}", out.text());
        assert_eq!(out.header("location"), Some("/dashboard/login"));
        assert!(out.header("set-cookie").unwrap().contains("Max-Age=0"));
        assert_eq!(post(&app, "/dashboard/api/profile", Some(PUBLIC_URL), Some(&token), "").await.status, StatusCode::UNAUTHORIZED);

        // A sign-in posted from another site is refused, and sets nothing.
        let form = format!("email=alex%40example.com&password={}", PASSWORD.replace(' ', "+"));
        let foreign = post(&app, "/dashboard/api/sign_in", Some("https://evil.example"), None, &form).await;
        assert_eq!(foreign.status, StatusCode::FORBIDDEN);
        assert!(foreign.header("set-cookie").is_none());
    }

    async fn a_wrong_password_and_an_unknown_email_get_the_same_answer(app) {
        user(&app, "alex@example.com", Role::Viewer).await;
        for (email, password) in [("alex@example.com", "not the password"), ("nobody@example.com", PASSWORD), ("not an email", PASSWORD)] {
            let r = sign_in(&app, email, password).await;
            assert_eq!(r.status, StatusCode::FOUND);
            assert_eq!(r.header("location"), Some("/dashboard/login?error=invalid"), "{email}");
            assert!(r.header("set-cookie").is_none());
        }
        let page = app.get("/dashboard/login?error=invalid").await.text();
        assert!(page.contains("The email or password is not right."));
    }

    async fn five_failures_lock_the_email_for_fifteen_minutes(app) {
        user(&app, "alex@example.com", Role::Owner).await;
        for _ in 0..5 {
            let r = sign_in(&app, "alex@example.com", "wrong password!").await;
            assert_eq!(r.header("location"), Some("/dashboard/login?error=invalid"));
        }
        // Locked: even the right password is refused, unchecked.
        let r = sign_in(&app, "alex@example.com", PASSWORD).await;
        assert_eq!(r.header("location"), Some("/dashboard/login?error=locked"));
        assert!(r.header("set-cookie").is_none());
        assert!(app.get("/dashboard/login?error=locked").await.text().contains("locked for 15 minutes"));
        let now = now_ms();
        assert!(matches!(dashboard::sign_in(&app.state, "alex@example.com", PASSWORD, now + LOCK_MS - 5_000).await, Err(SignInRefused::Locked { .. })));
        // Another email is not affected.
        let other = tenant(&app).await;
        dashboard::create_user(app.db(), &other, "sam@example.com", Role::Viewer, Some(PASSWORD.into())).await.unwrap();
        assert_eq!(sign_in(&app, "sam@example.com", PASSWORD).await.header("location"), Some("/dashboard"));
        // Fifteen minutes on, the right password works again.
        assert!(dashboard::sign_in(&app.state, "alex@example.com", PASSWORD, now + LOCK_MS + 1_000).await.is_ok());
    }

    async fn racing_attempts_get_no_more_than_five_password_checks(app) {
        user(&app, "alex@example.com", Role::Owner).await;
        let now = now_ms();
        let attempts = (0..20).map(|i| {
            let state = app.state.clone();
            tokio::spawn(async move { dashboard::sign_in(&state, "alex@example.com", &format!("wrong password {i}"), now).await })
        });
        let mut invalid = 0;
        for a in attempts {
            match a.await.unwrap() {
                Err(SignInRefused::Invalid) => invalid += 1,
                Err(SignInRefused::Locked { .. }) => {}
                Err(SignInRefused::Internal(e)) => panic!("{e:#}"),
                Ok(_) => panic!("a wrong password signed in"),
            }
        }
        assert!((1..=5).contains(&invalid), "{invalid} passwords checked");
        assert!(matches!(dashboard::sign_in(&app.state, "alex@example.com", PASSWORD, now + 1).await, Err(SignInRefused::Locked { .. })));
    }

    async fn a_session_ends_after_twelve_idle_hours(app) {
        user(&app, "alex@example.com", Role::Developer).await;
        let t0 = now_ms();
        let signed_in = dashboard::sign_in(&app.state, "alex@example.com", PASSWORD, t0).await.ok().unwrap();
        let token = signed_in.token;
        let hour = 60 * 60 * 1000;
        // Used after 11 hours: good for 12 more from then.
        assert!(dashboard::session_user(app.db(), &token, t0 + 11 * hour).await.unwrap().is_some());
        assert!(dashboard::session_user(app.db(), &token, t0 + 11 * hour + IDLE_MS - 1).await.unwrap().is_some());
        let later = t0 + 11 * hour + 2 * IDLE_MS;
        assert!(dashboard::session_user(app.db(), &token, later).await.unwrap().is_none(), "idle for 12 hours: over");
    }

    async fn two_owners_removing_each_other_at_once_leave_one(app) {
        let client = tenant(&app).await;
        for round in 0..10 {
            let (a, _) = dashboard::create_user(app.db(), &client, &format!("a{round}@example.com"), Role::Owner, None).await.unwrap();
            let (b, _) = dashboard::create_user(app.db(), &client, &format!("b{round}@example.com"), Role::Owner, None).await.unwrap();
            let (ab, ba) = tokio::join!(dashboard::remove_user(app.db(), &a, &b.id), dashboard::remove_user(app.db(), &b, &a.id));
            let outcomes = [ab.map_err(|e| e.code().as_str()), ba.map_err(|e| e.code().as_str())];
            assert_eq!(outcomes.iter().filter(|o| o.is_ok()).count(), 1, "round {round}: {outcomes:?}");
            assert!(outcomes.contains(&Err("forbidden")), "the removed owner's own change is refused: {outcomes:?}");
            let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM dashboard_users WHERE client_id = $1 AND role = 'owner'")
                .bind(&client).fetch_one(app.db().pool()).await.unwrap();
            assert_eq!(left, 1, "round {round}");
            // Start the next round with only the new pair.
            sqlx::query("DELETE FROM dashboard_users WHERE client_id = $1").bind(&client).execute(app.db().writer()).await.unwrap();
        }
    }

    async fn a_user_removed_while_signing_in_is_removed_with_no_session_left(app) {
        let client = tenant(&app).await;
        let (owner, _) = dashboard::create_user(app.db(), &client, "boss@example.com", Role::Owner, None).await.unwrap();
        // A session for a user removed since the sign-in read them is refused, not an error.
        assert!(!server::store::dashboard::insert_session(app.db(), "h", "usr_gone", now_ms()).await.unwrap());
        for round in 0..8u64 {
            let email = format!("leaving{round}@example.com");
            let (u, _) = dashboard::create_user(app.db(), &client, &email, Role::Viewer, Some(PASSWORD.into())).await.unwrap();
            // The removal lands at a different moment of the sign-in (its password check) each round.
            let remove = async {
                tokio::time::sleep(std::time::Duration::from_millis(round * 15)).await;
                dashboard::remove_user(app.db(), &owner, &u.id).await
            };
            let (signed, removed) = tokio::join!(dashboard::sign_in(&app.state, &email, PASSWORD, now_ms()), remove);
            removed.unwrap_or_else(|e| panic!("round {round}: the removal failed: {e:?}"));
            assert!(matches!(signed, Ok(_) | Err(SignInRefused::Invalid)), "round {round}: {:?}", signed.err());
            let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM dashboard_sessions WHERE user_id = $1")
                .bind(&u.id).fetch_one(app.db().pool()).await.unwrap();
            assert_eq!(left, 0, "round {round}: no session outlives its user");
        }
    }

    async fn an_address_that_keeps_failing_to_sign_in_is_turned_away(app) {
        user(&app, "target@example.com", Role::Owner).await;
        let attempt = |ip: &str| {
            let peer: std::net::SocketAddr = format!("{ip}:40000").parse().unwrap();
            axum::http::Request::post("/dashboard/api/sign_in")
                .header("content-type", "application/x-www-form-urlencoded")
                .header("accept", "text/html")
                .header("origin", PUBLIC_URL)
                .extension(axum::extract::ConnectInfo(peer))
                .body(Body::from("email=target%40example.com&password=not+the+password+at+all"))
                .unwrap()
        };
        // Refused sign-ins (wrong, then locked) count against the address, as 401s do.
        let budget = server::config::DEFAULT_AUTH_FAILURES_PER_MINUTE as usize;
        let mut turned_away = None;
        for i in 0..budget + 30 {
            let r = app.request(attempt("203.0.113.9")).await;
            if r.status == StatusCode::TOO_MANY_REQUESTS {
                turned_away = Some(i);
                break;
            }
            assert!(r.status.is_redirection(), "a refused sign-in goes back to the form: {}", r.status);
        }
        let i = turned_away.expect("the address is turned away");
        assert!(i >= budget, "turned away after {i} refusals");
        assert!(app.request(attempt("198.51.100.3")).await.status.is_redirection(), "another address is not");
    }

    async fn users_are_created_once_per_email(app) {
        let client = tenant(&app).await;
        let (u, generated) = dashboard::create_user(app.db(), &client, "new@example.com", Role::Viewer, None).await.unwrap();
        let password = generated.expect("a generated password");
        assert!(password.len() >= 16);
        assert_eq!((u.role, u.email.as_str()), (Role::Viewer, "new@example.com"));
        assert!(dashboard::sign_in(&app.state, "new@example.com", &password, now_ms()).await.is_ok());
        let again = dashboard::create_user(app.db(), &client, "NEW@example.com", Role::Owner, None).await.unwrap_err();
        assert_eq!(again.code().as_str(), "resource_in_use");
        let short = dashboard::create_user(app.db(), &client, "short@example.com", Role::Owner, Some("short".into())).await.unwrap_err();
        assert_eq!(short.code().as_str(), "parameter_invalid");
        let nobody = dashboard::create_user(app.db(), "cli_nope", "x@example.com", Role::Owner, None).await.unwrap_err();
        assert_eq!(nobody.code().as_str(), "parameter_invalid");
    }

    async fn the_sandbox_demo_user_is_made_once_and_signs_in(app) {
        let demo = server::bootstrap::ensure_sandbox_demo(&app.state).await.unwrap().unwrap();
        let password = server::bootstrap::ensure_demo_user(&app.state, &demo).await.unwrap().expect("made now, shown once");
        assert!(server::bootstrap::ensure_demo_user(&app.state, &demo).await.unwrap().is_none(), "made once");
        let r = sign_in(&app, server::bootstrap::DEMO_EMAIL, &password).await;
        assert_eq!(r.header("location"), Some("/dashboard"));
        let cookie = format!("govifi_session={}", token_of(&r));
        let home = app.send(axum::http::Method::GET, "/dashboard", &[("cookie", &cookie)], Body::empty()).await;
        assert!(home.text().contains("demo@govifi.test (owner)") && home.text().contains("Demo City Hall"), "{}", home.text());
        // A later start given GOVIFI_SANDBOX_DEMO_PASSWORD (as `cargo xtask run` gives it, even
        // on a database an earlier start made) makes that the password; given again, nothing.
        let given = "a password from the env file".to_owned();
        assert!(dashboard::reset_password(app.db(), server::bootstrap::DEMO_EMAIL, given.clone()).await.unwrap());
        assert!(!dashboard::reset_password(app.db(), server::bootstrap::DEMO_EMAIL, given.clone()).await.unwrap(), "already its password");
        assert_eq!(sign_in(&app, server::bootstrap::DEMO_EMAIL, &password).await.header("location"), Some("/dashboard/login?error=invalid"));
        assert_eq!(sign_in(&app, server::bootstrap::DEMO_EMAIL, &given).await.header("location"), Some("/dashboard"));
        assert!(!dashboard::reset_password(app.db(), "nobody@govifi.test", given).await.unwrap(), "no such user");
    }

    async fn each_action_checks_the_role_and_records_the_user(app) {
        let m = app.merchant().await;
        let client = server::store::accounts::get(app.db(), &m.uid).await.unwrap().unwrap().client_id;
        let mut tokens = Vec::new();
        for (email, role) in [("owner@example.com", Role::Owner), ("admin@example.com", Role::Admin), ("dev@example.com", Role::Developer), ("viewer@example.com", Role::Viewer)] {
            dashboard::create_user(app.db(), &client, email, role, Some(PASSWORD.into())).await.unwrap();
            tokens.push(dashboard::sign_in(&app.state, email, PASSWORD, now_ms()).await.ok().unwrap().token);
        }
        let [owner, admin, dev, viewer] = [&tokens[0], &tokens[1], &tokens[2], &tokens[3]];
        let sale = json!({"amount": 10_000, "currency": "USD", "payment_method": support::card("4242424242424242"), "capture": true, "reference": "INV-9"});
        let paid = app.call(Method::POST, "/api/payments/validate", Auth::Bearer(&m.key), Some(sale)).await;
        assert_eq!(paid.status, StatusCode::CREATED, "{}", paid.text());
        let pid = paid.json()["id"].as_str().unwrap().to_owned();
        // The UTC day the sale was recorded on (Home counts it there).
        const DAY_MS: i64 = 86_400_000;
        let paid_at: i64 = sqlx::query_scalar("SELECT created_at FROM payments WHERE id = $1").bind(&pid)
            .fetch_one(app.db().pool()).await.unwrap();
        let paid_on = paid_at.div_euclid(DAY_MS);

        // Reads: every role; the list filtered by reference.
        let filter = "filter[status]=&filter[reference]=INV&filter[from]=&filter[to]=&filter[page]=0";
        let list = call_fn(&app, "payments", viewer, filter).await;
        assert_eq!(list.status, StatusCode::OK, "{}", list.text());
        assert_eq!(list.json()["rows"][0]["id"], pid.as_str());
        assert_eq!(list.json()["total"], 1);
        // A range that ends on the last day there is still finds today's payment.
        let far = "filter[status]=&filter[reference]=INV&filter[from]=2000-01-01&filter[to]=9999-12-31&filter[page]=0";
        assert_eq!(call_fn(&app, "payments", viewer, far).await.json()["total"], 1);
        // Arguments the function cannot read are the caller's mistake: 400 (413 for the size),
        // with a session or without.
        for form in ["page=abc", "page=-1", "", "page=1&page=2"] {
            assert_eq!(call_fn(&app, "sessions", viewer, form).await.status, StatusCode::BAD_REQUEST, "{form:?}");
            assert_eq!(post_fn(&app, "sessions", Some(PUBLIC_URL), None, form).await.status, StatusCode::BAD_REQUEST, "{form:?}");
        }
        let huge = format!("search={}&page=0", "a".repeat(70_000));
        assert_eq!(call_fn(&app, "customers", viewer, &huge).await.status, StatusCode::PAYLOAD_TOO_LARGE);
        let long = format!("search={}&page=0", "a".repeat(201));
        assert_eq!(call_fn(&app, "customers", viewer, &long).await.status, StatusCode::BAD_REQUEST);
        let detail = call_fn(&app, "payment", viewer, &format!("id={pid}")).await.json();
        assert_eq!((detail["status"].as_str(), detail["can_refund"].as_bool()), (Some("captured"), Some(true)));

        // Refunds: owner and admin; not developer or viewer; never from another origin. Each
        // page load gives the key its forms send.
        let page_key = async || call_fn(&app, "payment", viewer, &format!("id={pid}")).await.json()["move_key"].as_str().unwrap().to_owned();
        let refund = format!("id={pid}&amount=1.00&reason=Dashboard&key={}", page_key().await);
        assert_eq!(call_fn(&app, "refund", viewer, &refund).await.status, StatusCode::FORBIDDEN);
        assert_eq!(call_fn(&app, "refund", dev, &refund).await.status, StatusCode::FORBIDDEN);
        let foreign = post_fn(&app, "refund", Some("https://evil.example"), Some(owner), &refund).await;
        assert_eq!(foreign.status, StatusCode::FORBIDDEN);
        assert_eq!(call_fn(&app, "refund", admin, &format!("id={pid}&amount=abc&reason=&key={}", page_key().await)).await.status, StatusCode::BAD_REQUEST);
        assert_eq!(call_fn(&app, "refund", admin, &format!("id={pid}&amount=1.00&reason=&key=")).await.status, StatusCode::BAD_REQUEST, "no key");
        assert_eq!(call_fn(&app, "refund", admin, &refund).await.status, StatusCode::OK);
        // The same form sent again (a double click, a resent request) makes no second refund.
        assert_eq!(call_fn(&app, "refund", admin, &refund).await.status, StatusCode::OK);
        let api = app.call(Method::GET, format!("/api/payments/{pid}"), Auth::Bearer(&m.key), None).await.json();
        assert_eq!(api["amount_refunded"], 100, "one refund for one form");
        assert_eq!(call_fn(&app, "refund", owner, &format!("id={pid}&amount=2.50&reason=&key={}", page_key().await)).await.status, StatusCode::OK);
        let too_much = call_fn(&app, "refund", owner, &format!("id={pid}&amount=100.00&reason=&key={}", page_key().await)).await;
        assert_eq!(too_much.status, StatusCode::BAD_REQUEST, "{}", too_much.text());
        assert!(too_much.text().contains("left to refund"), "the answer's own message: {}", too_much.text());
        // The API sees the same payment, and the events name who refunded.
        let api = app.call(Method::GET, format!("/api/payments/{pid}"), Auth::Bearer(&m.key), None).await.json();
        assert_eq!((api["status"].as_str(), api["amount_refunded"].as_i64()), (Some("partially_refunded"), Some(350)));
        let actors: Vec<Option<String>> = sqlx::query_scalar("SELECT actor FROM events WHERE type = 'refund.created' ORDER BY created_at, id")
            .fetch_all(app.db().pool()).await.unwrap();
        assert_eq!(actors, [Some("user:admin@example.com".to_owned()), Some("user:owner@example.com".to_owned())]);
        let events = app.call(Method::GET, "/api/events?$filter=type eq 'refund.created'", Auth::Bearer(&m.key), None).await.json();
        assert_eq!(events["value"][0]["actor"], "user:owner@example.com", "newest first");
        let captured = app.call(Method::GET, "/api/events?$filter=type eq 'payment.captured'", Auth::Bearer(&m.key), None).await.json();
        assert!(captured["value"][0]["actor"].is_null(), "an API call has no dashboard actor");

        // A Spanish page writes amounts with a decimal comma, and reads them that way: `0,50` is
        // fifty cents, never fifty dollars; an English `0.50` there is refused, not misread.
        let spanish = async |form: String| {
            let cookie = format!("govifi_session={owner}");
            let headers = [("content-type", "application/x-www-form-urlencoded"), ("accept", "application/json"), ("origin", PUBLIC_URL), ("cookie", cookie.as_str()), ("accept-language", "es-ES,es;q=0.9")];
            app.send(Method::POST, "/dashboard/api/refund", &headers, Body::from(form)).await
        };
        let dotted = spanish(format!("id={pid}&amount=0.50&reason=&key={}", page_key().await)).await;
        assert_eq!(dotted.status, StatusCode::BAD_REQUEST, "{}", dotted.text());
        assert!(dotted.text().contains("$10,00"), "the answer shows how to write it: {}", dotted.text());
        let comma = spanish(format!("id={pid}&amount=0%2C50&reason=&key={}", page_key().await)).await;
        assert_eq!(comma.status, StatusCode::OK, "{}", comma.text());
        let api = app.call(Method::GET, format!("/api/payments/{pid}"), Auth::Bearer(&m.key), None).await.json();
        assert_eq!(api["amount_refunded"], 400);
        // Home adds every payment of the account up in the database: today and the 30 days.
        let declined = json!({"amount": 700, "currency": "USD", "payment_method": support::card("4000000000000002")});
        app.call(Method::POST, "/api/payments/validate", Auth::Bearer(&m.key), Some(declined)).await.assert_error(402, "card_declined");
        let home = call_fn(&app, "home", viewer, "").await;
        assert_eq!(home.status, StatusCode::OK, "{}", home.text());
        let home = home.json();
        // Home's days are UTC days: a run that crosses midnight finds the sale on yesterday's.
        let days_since_sale = usize::try_from(now_ms().div_euclid(DAY_MS) - paid_on).unwrap();
        let periods: &[&str] = if days_since_sale == 0 { &["today", "last_30_days"] } else { &["last_30_days"] };
        for period in periods {
            let t = &home[period];
            assert_eq!((t["gross"]["minor"].as_i64(), t["refunds"]["minor"].as_i64()), (Some(10_000), Some(400)), "{period}: {t}");
            assert_eq!((t["succeeded"].as_u64(), t["attempted"].as_u64()), (Some(1), Some(2)), "{period}: {t}");
        }
        assert_eq!(home["days"].as_array().unwrap().len(), 30);
        assert_eq!(home["days"][29 - days_since_sale]["gross"]["minor"], 10_000);

        // API keys: developers and owners; shown once; revoked, refused.
        let uid = &m.uid;
        assert_eq!(call_fn(&app, "create_api_key", admin, &format!("account={uid}&label=K&scopes=*&expires_in_days=")).await.status, StatusCode::FORBIDDEN);
        let made = call_fn(&app, "create_api_key", dev, &format!("account={uid}&label=Back+end&scopes=payments.read&expires_in_days=30")).await;
        assert_eq!(made.status, StatusCode::OK, "{}", made.text());
        let (key_id, secret) = (made.json()["id"].as_str().unwrap().to_owned(), made.json()["secret"].as_str().unwrap().to_owned());
        assert_eq!(app.call(Method::GET, "/api/payments", Auth::Bearer(&secret), None).await.status, StatusCode::OK);
        let listed = call_fn(&app, "api_keys", dev, "page=0").await.text();
        assert!(listed.contains("Back end") && !listed.contains(&secret), "listed without its secret");
        assert_eq!(call_fn(&app, "revoke_api_key", viewer, &format!("id={key_id}")).await.status, StatusCode::FORBIDDEN);
        assert_eq!(call_fn(&app, "revoke_api_key", dev, &format!("id={key_id}")).await.status, StatusCode::OK);
        assert_eq!(app.call(Method::GET, "/api/payments", Auth::Bearer(&secret), None).await.status, StatusCode::UNAUTHORIZED);

        // Settings: admins and owners.
        let branding = &format!("account={uid}&display_name=Springfield&logo_url=&primary_color=%232b7a0b");
        assert_eq!(call_fn(&app, "branding", dev, branding).await.status, StatusCode::FORBIDDEN);
        assert_eq!(call_fn(&app, "branding", admin, branding).await.status, StatusCode::OK);
        let account = server::store::accounts::get(app.db(), &m.uid).await.unwrap().unwrap();
        assert_eq!((account.branding.display_name.as_deref(), account.branding.primary_color.as_deref()), (Some("Springfield"), Some("#2B7A0B")));
        assert_eq!(call_fn(&app, "branding", admin, &format!("account={uid}&display_name=x&logo_url=&primary_color=red")).await.status, StatusCode::BAD_REQUEST);
        // The same form sent by a browser without the page's script goes back to its page,
        // which shows why (not a bare error text).
        let settings = format!("{PUBLIC_URL}/dashboard/settings");
        let cookie = format!("govifi_session={admin}");
        let plain = [("content-type", "application/x-www-form-urlencoded"), ("accept", "text/html"), ("origin", PUBLIC_URL), ("referer", settings.as_str()), ("cookie", cookie.as_str())];
        let sent = app.send(Method::POST, "/dashboard/api/branding", &plain, Body::from(format!("account={uid}&display_name=x&logo_url=&primary_color=red"))).await;
        assert_eq!(sent.status, StatusCode::FOUND, "{}", sent.text());
        let back = sent.header("location").unwrap().to_owned();
        assert!(back.starts_with(&settings) && back.contains("__err="), "{back}");
        let page = app.send(Method::GET, back.trim_start_matches(PUBLIC_URL), &[("cookie", cookie.as_str())], Body::empty()).await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(page.text().contains("primary_color must look like"), "the page shows the refusal: {}", page.text());
        // A refusal the user cannot mend from the form keeps its status.
        let viewer_cookie = format!("govifi_session={viewer}");
        let as_viewer = [("content-type", "application/x-www-form-urlencoded"), ("accept", "text/html"), ("origin", PUBLIC_URL), ("referer", settings.as_str()), ("cookie", viewer_cookie.as_str())];
        let refused = app.send(Method::POST, "/dashboard/api/branding", &as_viewer, Body::from(format!("account={uid}&display_name=x&logo_url=&primary_color=%23000000"))).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN);
        // Who made, revoked and changed them is on record, and no event carries a secret.
        let audit: Vec<(String, Option<String>, String)> = sqlx::query_as(
            "SELECT type, actor, data FROM events WHERE account_uid = $1 AND type IN ('api_key.created', 'api_key.revoked', 'account.updated') ORDER BY created_at, id")
            .bind(uid).fetch_all(app.db().pool()).await.unwrap();
        let seen: Vec<(&str, Option<&str>)> = audit.iter().map(|(t, a, _)| (t.as_str(), a.as_deref())).collect();
        // (The first is the test's own key, made over the API: no dashboard actor.)
        assert_eq!(seen, [("api_key.created", None), ("api_key.created", Some("user:dev@example.com")), ("api_key.revoked", Some("user:dev@example.com")), ("account.updated", Some("user:admin@example.com"))]);
        let key_event: serde_json::Value = serde_json::from_str(&audit[1].2).unwrap();
        assert_eq!((key_event["id"].as_str(), key_event["label"].as_str()), (Some(key_id.as_str()), Some("Back end")));
        assert!(audit.iter().all(|(_, _, data)| !data.contains(&secret) && !data.contains("\"key\"")), "{audit:?}");
        assert_eq!(serde_json::from_str::<serde_json::Value>(&audit[3].2).unwrap()["branding"]["display_name"], "Springfield");

        // Webhooks and events: developers; sessions and payment links: operators.
        assert_eq!(call_fn(&app, "events", admin, "page=0").await.status, StatusCode::FORBIDDEN);
        assert_eq!(call_fn(&app, "events", dev, "page=0").await.status, StatusCode::OK);
        assert_eq!(call_fn(&app, "add_webhook", viewer, &format!("account={uid}&url=https%3A%2F%2Fshop.example%2Fh&events=*")).await.status, StatusCode::FORBIDDEN);
        let link = &format!("account={uid}&link[amount]=12.34&link[description]=Permit&link[reference]=&link[success_url]=https%3A%2F%2Fshop.example%2Fok&link[cancel_url]=https%3A%2F%2Fshop.example%2Fno");
        assert_eq!(call_fn(&app, "payment_link", dev, link).await.status, StatusCode::FORBIDDEN);
        let made = call_fn(&app, "payment_link", admin, link).await;
        assert_eq!(made.status, StatusCode::OK, "{}", made.text());
        assert!(made.json()["hosted_url"].as_str().unwrap().contains("#cs="));
        let sid = made.json()["session_id"].as_str().unwrap().to_owned();
        assert_eq!(call_fn(&app, "expire_session", viewer, &format!("id={sid}")).await.status, StatusCode::FORBIDDEN);
        assert_eq!(call_fn(&app, "expire_session", admin, &format!("id={sid}")).await.status, StatusCode::OK);
        let s = app.call(Method::GET, format!("/v1/hosted-sessions/{sid}"), Auth::Bearer(&m.key), None).await.json();
        assert_eq!(s["status"], "expired");
    }

    async fn customers_and_terminals_are_run_from_the_dashboard(app) {
        let m = app.merchant().await;
        let client = server::store::accounts::get(app.db(), &m.uid).await.unwrap().unwrap().client_id;
        let mut tokens = Vec::new();
        for (email, role) in [("admin@example.com", Role::Admin), ("viewer@example.com", Role::Viewer)] {
            dashboard::create_user(app.db(), &client, email, role, Some(PASSWORD.into())).await.unwrap();
            tokens.push(dashboard::sign_in(&app.state, email, PASSWORD, now_ms()).await.ok().unwrap().token);
        }
        let [admin, viewer] = [&tokens[0], &tokens[1]];

        // Customers: found by name, their saved card shown by brand and last 4, removed by an admin.
        let cus = app.call(Method::POST, "/api/customers", Auth::Bearer(&m.key), Some(json!({"name": "Ada Lovelace", "email": "ada@example.com"}))).await.json();
        let cus_id = cus["id"].as_str().unwrap().to_owned();
        app.call(Method::POST, "/api/customers", Auth::Bearer(&m.key), Some(json!({"name": "Bob"}))).await;
        let methods_path = format!("/api/customers/{cus_id}/payment-methods");
        let saved = app.call(Method::POST, &methods_path, Auth::Bearer(&m.key), Some(json!({"usage": "on_session", "payment_method": support::card("4242424242424242")}))).await;
        assert_eq!(saved.status, StatusCode::CREATED, "{}", saved.text());
        let pm = saved.json()["id"].as_str().unwrap().to_owned();
        // A control character is refused alike on both databases (PostgreSQL cannot hold a NUL).
        assert_eq!(call_fn(&app, "customers", viewer, "search=a%00b&page=0").await.status, StatusCode::BAD_REQUEST);
        let pasted = call_fn(&app, "customers", viewer, "search=lovelace%09&page=0").await;
        assert_eq!((pasted.status, pasted.json()["total"].as_i64()), (StatusCode::OK, Some(1)), "a tab at the end is trimmed");
        let found = call_fn(&app, "customers", viewer, "search=lovelace&page=0").await;
        assert_eq!(found.status, StatusCode::OK, "{}", found.text());
        assert_eq!((found.json()["total"].as_i64(), found.json()["rows"][0]["id"].as_str()), (Some(1), Some(cus_id.as_str())));
        assert_eq!(call_fn(&app, "customers", viewer, "search=&page=0").await.json()["total"], 2);
        // A name with a capital the database may not lower is found as it is written.
        app.call(Method::POST, "/api/customers", Auth::Bearer(&m.key), Some(json!({"name": "Íñigo Álvarez"}))).await;
        let accented = call_fn(&app, "customers", viewer, "search=%C3%81lvarez&page=0").await.json();
        assert_eq!((accented["total"].as_i64(), accented["rows"][0]["name"].as_str()), (Some(1), Some("Íñigo Álvarez")));
        assert_eq!(call_fn(&app, "customers", viewer, "search=ALVAREZ&page=0").await.json()["total"], 0, "no accent, no match");
        let detail = call_fn(&app, "customer", viewer, &format!("id={cus_id}")).await.json();
        assert_eq!(detail["methods"][0]["method"], "Visa •••• 4242");
        assert_eq!(detail["methods"][0]["expires"], "12/2031");
        let remove = format!("customer_id={cus_id}&id={pm}");
        assert_eq!(call_fn(&app, "remove_saved_method", viewer, &remove).await.status, StatusCode::FORBIDDEN);
        assert_eq!(call_fn(&app, "remove_saved_method", admin, &remove).await.status, StatusCode::OK);
        assert_eq!(call_fn(&app, "remove_saved_method", admin, &remove).await.status, StatusCode::NOT_FOUND, "once");
        let left = app.call(Method::GET, &methods_path, Auth::Bearer(&m.key), None).await.json();
        assert_eq!(left["value"], json!([]));
        let actor: Option<String> = sqlx::query_scalar("SELECT actor FROM events WHERE type = 'payment_method.removed'")
            .fetch_one(app.db().pool()).await.unwrap();
        assert_eq!(actor.as_deref(), Some("user:admin@example.com"));

        // Terminals: added, a payment started (busy), a test card presented (captured), another
        // started and cancelled (voided); a viewer does none of it.
        let terminal = &format!("account={}&terminal[label]=Front+desk&terminal[serial_number]=SN-1&terminal[model]=&terminal[location]=Lobby", m.uid);
        assert_eq!(call_fn(&app, "add_terminal", viewer, terminal).await.status, StatusCode::FORBIDDEN);
        assert_eq!(call_fn(&app, "add_terminal", admin, terminal).await.status, StatusCode::OK);
        let listed = call_fn(&app, "terminals", viewer, "page=0").await.json()["rows"].clone();
        assert_eq!((listed[0]["label"].as_str(), listed[0]["status"].as_str()), (Some("Front desk"), Some("online")));
        let tid = listed[0]["id"].as_str().unwrap().to_owned();
        let charge = format!("id={tid}&charge[amount]=25.00&charge[description]=&charge[reference]=DESK-1");
        assert_eq!(call_fn(&app, "terminal_payment", viewer, &charge).await.status, StatusCode::FORBIDDEN);
        assert_eq!(call_fn(&app, "terminal_payment", admin, &format!("id={tid}&charge[amount]=0&charge[description]=&charge[reference]=")).await.status, StatusCode::BAD_REQUEST);
        assert_eq!(call_fn(&app, "terminal_payment", admin, &charge).await.status, StatusCode::OK);
        let busy = call_fn(&app, "terminals", viewer, "page=0").await.json()["rows"].clone();
        assert_eq!((busy[0]["status"].as_str(), busy[0]["pending"]["amount"]["minor"].as_i64()), (Some("busy"), Some(2_500)));
        let first = busy[0]["pending"]["payment_id"].as_str().unwrap().to_owned();
        assert_eq!(call_fn(&app, "terminal_payment", admin, &charge).await.status, StatusCode::CONFLICT, "one at a time");
        let card = format!("id={tid}&card_number=4242424242424242");
        assert_eq!(call_fn(&app, "present_test_card", viewer, &card).await.status, StatusCode::FORBIDDEN);
        let presented = call_fn(&app, "present_test_card", admin, &card).await;
        assert_eq!((presented.status, presented.json()), (StatusCode::OK, json!("captured")));
        assert_eq!(call_fn(&app, "terminal_payment", admin, &charge).await.status, StatusCode::OK);
        let second = call_fn(&app, "terminals", viewer, "page=0").await.json()["rows"][0]["pending"]["payment_id"].as_str().unwrap().to_owned();
        assert_eq!(call_fn(&app, "cancel_terminal_payment", viewer, &format!("id={tid}")).await.status, StatusCode::FORBIDDEN);
        assert_eq!(call_fn(&app, "cancel_terminal_payment", admin, &format!("id={tid}")).await.status, StatusCode::OK);
        for (pid, status) in [(&first, "captured"), (&second, "voided")] {
            let p = app.call(Method::GET, format!("/api/payments/{pid}"), Auth::Bearer(&m.key), None).await.json();
            assert_eq!((p["status"].as_str(), p["terminal_id"].as_str()), (Some(status), Some(tid.as_str())));
        }
        assert_eq!(call_fn(&app, "terminals", viewer, "page=0").await.json()["rows"][0]["status"], "online");

        // The terminals' list comes in pages of 100, with a link to the next while one follows.
        for n in 2..=101 {
            let made = app.call(Method::POST, "/api/terminals", Auth::Bearer(&m.key), Some(json!({"label": format!("Till {n}"), "serial_number": format!("SN-{n}")}))).await;
            assert_eq!(made.status, StatusCode::CREATED, "{}", made.text());
        }
        let first_page = call_fn(&app, "terminals", viewer, "page=0").await.json();
        assert_eq!((first_page["rows"].as_array().unwrap().len(), first_page["more"].as_bool()), (100, Some(true)));
        let last_page = call_fn(&app, "terminals", viewer, "page=1").await.json();
        assert_eq!((last_page["rows"].as_array().unwrap().len(), last_page["more"].as_bool(), last_page["page"].as_u64()), (1, Some(false), Some(1)));
        assert_eq!(last_page["rows"][0]["label"], "Front desk", "newest first: the first terminal is the last one listed");

        // The Payments list filters by method: both terminal payments are card payments.
        app.validate(&m, json!({"amount": 8_000, "currency": "USD", "payment_method": support::ach("000123456789")}), None).await;
        let by = |method: &str| format!("filter[method]={method}&filter[page]=0");
        assert_eq!(call_fn(&app, "payments", viewer, &by("card")).await.json()["total"], 2);
        let ach = call_fn(&app, "payments", viewer, &by("ach")).await.json();
        assert_eq!((ach["total"].as_i64(), ach["rows"][0]["method"].as_str().map(|m| m.ends_with("6789"))), (Some(1), Some(true)));
        assert_eq!(call_fn(&app, "payments", viewer, &by("")).await.json()["total"], 3);
        assert_eq!(call_fn(&app, "payments", viewer, &by("cash")).await.status, StatusCode::BAD_REQUEST);
    }

    async fn the_payments_list_filters_by_status_and_comes_in_pages_of_twenty(app) {
        let m = app.merchant().await;
        let client = server::store::accounts::get(app.db(), &m.uid).await.unwrap().unwrap().client_id;
        dashboard::create_user(app.db(), &client, "viewer@example.com", Role::Viewer, Some(PASSWORD.into())).await.unwrap();
        let viewer = dashboard::sign_in(&app.state, "viewer@example.com", PASSWORD, now_ms()).await.ok().unwrap().token;
        // 21 authorized, 2 captured, 1 failed.
        let mut authorized = Vec::new();
        for n in 0..21 {
            authorized.push(app.authorized(&m, 100 + n, false).await);
        }
        for n in 0..2 {
            app.authorized(&m, 500 + n, true).await;
        }
        app.validate(&m, json!({"amount": 700, "currency": "USD", "payment_method": support::card("4000000000000002")}), None).await.assert_error(402, "card_declined");
        let list = async |status: &str, page: u32| {
            let r = call_fn(&app, "payments", &viewer, &format!("filter[status]={status}&filter[page]={page}")).await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.text());
            r.json()
        };
        let ids = |v: &Value| v["rows"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap().to_owned()).collect::<Vec<_>>();
        let statuses = |v: &Value| v["rows"].as_array().unwrap().iter().map(|r| r["status"].as_str().unwrap().to_owned()).collect::<Vec<_>>();

        let first = list("authorized", 0).await;
        assert_eq!((first["total"].as_i64(), first["has_more"].as_bool(), ids(&first).len()), (Some(21), Some(true), 20));
        assert!(statuses(&first).iter().all(|s| s == "authorized"), "{first}");
        let second = list("authorized", 1).await;
        assert_eq!((second["page"].as_u64(), second["has_more"].as_bool(), ids(&second).len()), (Some(1), Some(false), 1));
        let mut seen = [ids(&first), ids(&second)].concat();
        seen.sort();
        authorized.sort();
        assert_eq!(seen, authorized, "the two pages hold every authorized payment once");

        let captured = list("captured", 0).await;
        assert_eq!((captured["total"].as_i64(), captured["has_more"].as_bool()), (Some(2), Some(false)));
        assert!(statuses(&captured).iter().all(|s| s == "captured"), "{captured}");
        assert_eq!(statuses(&list("failed", 0).await), ["failed"]);
        assert_eq!(list("", 0).await["total"], 24, "no status: all of them");
        assert_eq!(ids(&list("", 1).await).len(), 4);
        assert_eq!(call_fn(&app, "payments", &viewer, "filter[status]=paid&filter[page]=0").await.status, StatusCode::BAD_REQUEST);
    }

    async fn owners_manage_the_team(app) {
        let client = tenant(&app).await;
        dashboard::create_user(app.db(), &client, "owner@example.com", Role::Owner, Some(PASSWORD.into())).await.unwrap();
        dashboard::create_user(app.db(), &client, "admin@example.com", Role::Admin, Some(PASSWORD.into())).await.unwrap();
        let owner = dashboard::sign_in(&app.state, "owner@example.com", PASSWORD, now_ms()).await.ok().unwrap();
        let admin = dashboard::sign_in(&app.state, "admin@example.com", PASSWORD, now_ms()).await.ok().unwrap().token;
        assert_eq!(call_fn(&app, "team", &admin, "").await.status, StatusCode::FORBIDDEN);
        assert_eq!(call_fn(&app, "add_user", &admin, "email=x%40example.com&role=owner").await.status, StatusCode::FORBIDDEN);
        let added = call_fn(&app, "add_user", &owner.token, "email=New%40Example.com&role=developer").await;
        assert_eq!(added.status, StatusCode::OK, "{}", added.text());
        let (new_id, password) = (added.json()["id"].as_str().unwrap().to_owned(), added.json()["secret"].as_str().unwrap().to_owned());
        let new_token = dashboard::sign_in(&app.state, "new@example.com", &password, now_ms()).await.ok().unwrap().token;
        let dup = call_fn(&app, "add_user", &owner.token, "email=new%40example.com&role=viewer").await;
        assert_eq!(dup.status, StatusCode::CONFLICT, "{}", dup.text());
        assert_eq!(call_fn(&app, "add_user", &owner.token, "email=y%40example.com&role=boss").await.status, StatusCode::BAD_REQUEST);
        let team = call_fn(&app, "team", &owner.token, "").await.json();
        let roles: Vec<(&str, &str, bool)> = team.as_array().unwrap().iter()
            .map(|m| (m["email"].as_str().unwrap(), m["role"].as_str().unwrap(), m["is_you"].as_bool().unwrap())).collect();
        assert_eq!(roles, [("owner@example.com", "owner", true), ("admin@example.com", "admin", false), ("new@example.com", "developer", false)]);
        // Nobody changes or removes themselves, so the acting owner always remains.
        let own = format!("id={}&role=viewer", owner.user.id);
        assert_eq!(call_fn(&app, "change_role", &owner.token, &own).await.status, StatusCode::BAD_REQUEST);
        assert_eq!(call_fn(&app, "remove_user", &owner.token, &format!("id={}", owner.user.id)).await.status, StatusCode::BAD_REQUEST);
        assert_eq!(call_fn(&app, "change_role", &owner.token, &format!("id={new_id}&role=viewer")).await.status, StatusCode::OK);
        assert_eq!(call_fn(&app, "events", &new_token, "page=0").await.status, StatusCode::FORBIDDEN, "a viewer now");
        // Another client's user is not found.
        let other = tenant(&app).await;
        let (stranger, _) = dashboard::create_user(app.db(), &other, "stranger@example.com", Role::Viewer, Some(PASSWORD.into())).await.unwrap();
        assert_eq!(call_fn(&app, "remove_user", &owner.token, &format!("id={}", stranger.id)).await.status, StatusCode::NOT_FOUND);
        // An id no user could have is not found, on both databases (PostgreSQL cannot hold a NUL).
        assert_eq!(call_fn(&app, "remove_user", &owner.token, "id=usr_%00").await.status, StatusCode::NOT_FOUND);
        assert_eq!(call_fn(&app, "change_role", &owner.token, "id=usr_%00&role=viewer").await.status, StatusCode::NOT_FOUND);
        assert_eq!(call_fn(&app, "remove_user", &owner.token, &format!("id={new_id}")).await.status, StatusCode::OK);
        assert_eq!(call_fn(&app, "profile", &new_token, "").await.status, StatusCode::UNAUTHORIZED, "their session ended");
    }

    async fn a_page_renders_its_data_for_the_signed_in_user(app) {
        let m = app.merchant().await;
        let client = server::store::accounts::get(app.db(), &m.uid).await.unwrap().unwrap().client_id;
        dashboard::create_user(app.db(), &client, "viewer@example.com", Role::Viewer, Some(PASSWORD.into())).await.unwrap();
        let token = dashboard::sign_in(&app.state, "viewer@example.com", PASSWORD, now_ms()).await.ok().unwrap().token;
        let sale = json!({"amount": 4_200, "currency": "USD", "payment_method": support::card("4242424242424242"), "capture": true, "reference": "<script>x</script>"});
        let pid = app.call(Method::POST, "/api/payments/validate", Auth::Bearer(&m.key), Some(sale)).await.json()["id"].as_str().unwrap().to_owned();
        let cookie = format!("govifi_session={token}");
        let page = app.send(Method::GET, &format!("/dashboard/payments/{pid}"), &[("cookie", &cookie)], Body::empty()).await;
        assert_eq!(page.status, StatusCode::OK);
        let html = page.text();
        assert!(html.contains("$42.00 payment") && html.contains(r#"id="payment-status" class="status">captured<"#), "{html}");
        assert!(html.contains("&lt;script&gt;x&lt;/script&gt;") && !html.contains("<script>x</script>"), "escaped");
        assert!(!html.contains(">Refund<"), "a viewer has no Refund");
        let csp = page.header("content-security-policy").unwrap();
        let nonce = csp.split("'nonce-").nth(1).and_then(|n| n.split('\'').next()).unwrap();
        assert!(html.contains(&format!(r#"<script nonce="{nonce}">"#)), "Leptos's data scripts carry the response's nonce");
        assert!(!csp.contains("unsafe-inline") && csp.contains("frame-ancestors 'none'"), "{csp}");
        // Signed out: to the sign-in page; another account's payment: not found, on the page.
        let out = app.get(&format!("/dashboard/payments/{pid}")).await;
        assert_eq!(out.header("location"), Some("/dashboard/login"));
    }

    async fn an_authorization_shows_its_capture_deadline_and_no_capture_once_expired(app) {
        let m = app.merchant().await;
        let client = server::store::accounts::get(app.db(), &m.uid).await.unwrap().unwrap().client_id;
        dashboard::create_user(app.db(), &client, "admin@example.com", Role::Admin, Some(PASSWORD.into())).await.unwrap();
        let admin = dashboard::sign_in(&app.state, "admin@example.com", PASSWORD, now_ms()).await.ok().unwrap().token;
        let pid = app.authorized(&m, 3_000, false).await;
        let made = 1_700_000_000_000i64; // 2023-11-14T22:13:20Z
        let window = server::domain::payment::AUTHORIZATION_VALID_MS;
        let backdate = async |at: i64| {
            sqlx::query("UPDATE payments SET created_at = $1 WHERE id = $2").bind(at).bind(&pid).execute(app.db().pool()).await.unwrap();
        };
        // Young: capturable, with its deadline a week after the authorization.
        backdate(now_ms() - 1_000).await;
        let d = call_fn(&app, "payment", &admin, &format!("id={pid}")).await.json();
        assert_eq!((d["can_capture"].as_bool(), d["can_void"].as_bool()), (Some(true), Some(true)), "{d}");
        backdate(made).await;
        let d = call_fn(&app, "payment", &admin, &format!("id={pid}")).await.json();
        assert!(d["capture_by"].as_str().unwrap().starts_with("2023-11-21"), "{d}");
        // Past it: no Capture (the API would refuse it), but still a Void.
        assert_eq!((d["can_capture"].as_bool(), d["can_void"].as_bool()), (Some(false), Some(true)), "{d}");
        assert!(now_ms() - made > window);
        // Captured, no deadline is shown.
        let sale = json!({"amount": 1_000, "currency": "USD", "payment_method": support::card("4242424242424242"), "capture": true});
        let sold = app.call(Method::POST, "/api/payments/validate", Auth::Bearer(&m.key), Some(sale)).await.json()["id"].as_str().unwrap().to_owned();
        let d = call_fn(&app, "payment", &admin, &format!("id={sold}")).await.json();
        assert_eq!(d["capture_by"], Value::Null, "{d}");
    }

    async fn a_confirmation_sent_again_refunds_once_and_another_amount_is_its_own(app) {
        let m = app.merchant().await;
        let client = server::store::accounts::get(app.db(), &m.uid).await.unwrap().unwrap().client_id;
        dashboard::create_user(app.db(), &client, "admin@example.com", Role::Admin, Some(PASSWORD.into())).await.unwrap();
        let admin = dashboard::sign_in(&app.state, "admin@example.com", PASSWORD, now_ms()).await.ok().unwrap().token;
        let sale = json!({"amount": 10_000, "currency": "USD", "payment_method": support::card("4242424242424242"), "capture": true});
        let pid = app.call(Method::POST, "/api/payments/validate", Auth::Bearer(&m.key), Some(sale)).await.json()["id"].as_str().unwrap().to_owned();
        let refunded = async || app.call(Method::GET, format!("/api/payments/{pid}"), Auth::Bearer(&m.key), None).await.json()["amount_refunded"].as_i64();
        // The page's key travels in the confirmation's address; after an error the page reloads
        // its data (with a new key) but the confirmation still sends the key it came with.
        let key = call_fn(&app, "payment", &admin, &format!("id={pid}")).await.json()["move_key"].as_str().unwrap().to_owned();
        let reloaded = call_fn(&app, "payment", &admin, &format!("id={pid}")).await.json()["move_key"].as_str().unwrap().to_owned();
        assert_ne!(key, reloaded, "each load of the page gives a new key");
        let five = format!("id={pid}&amount=5.00&reason=&key={key}");
        assert_eq!(call_fn(&app, "refund", &admin, &five).await.status, StatusCode::OK);
        assert_eq!(call_fn(&app, "refund", &admin, &five).await.status, StatusCode::OK, "the answer lost, sent again");
        assert_eq!(refunded().await, Some(500), "one refund");
        // Cancelled and started over from the same page with another amount: a refund of its own,
        // not a key reused with another body.
        let r = call_fn(&app, "refund", &admin, &format!("id={pid}&amount=2.00&reason=&key={key}")).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        assert_eq!(refunded().await, Some(700));
    }

    async fn capture_and_void_run_from_the_dashboard_once_for_operators(app) {
        let m = app.merchant().await;
        let client = server::store::accounts::get(app.db(), &m.uid).await.unwrap().unwrap().client_id;
        for (email, role) in [("admin@example.com", Role::Admin), ("viewer@example.com", Role::Viewer)] {
            dashboard::create_user(app.db(), &client, email, role, Some(PASSWORD.into())).await.unwrap();
        }
        let admin = dashboard::sign_in(&app.state, "admin@example.com", PASSWORD, now_ms()).await.ok().unwrap().token;
        let viewer = dashboard::sign_in(&app.state, "viewer@example.com", PASSWORD, now_ms()).await.ok().unwrap().token;
        let held = app.authorized(&m, 8_000, false).await;
        let detail = call_fn(&app, "payment", &admin, &format!("id={held}")).await.json();
        let can = |d: &Value| (d["can_capture"].as_bool(), d["can_void"].as_bool(), d["can_refund"].as_bool());
        assert_eq!(can(&detail), (Some(true), Some(true), Some(false)), "{detail}");
        let capture = format!("id={held}&amount=50.00&key={}", detail["move_key"].as_str().unwrap());
        assert_eq!(call_fn(&app, "capture", &viewer, &capture).await.status, StatusCode::FORBIDDEN);
        assert_eq!(app.payment(&m, &held).await["status"], "authorized", "a viewer moves nothing");
        let r = call_fn(&app, "capture", &admin, &capture).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        assert_eq!(call_fn(&app, "capture", &admin, &capture).await.status, StatusCode::OK, "the answer lost, sent again");
        let p = app.assert_books_balance(&m, &held).await;
        assert_eq!((p["status"].as_str(), p["amount_captured"].as_i64()), (Some("captured"), Some(5_000)));
        assert_eq!(app.ledger(&m, &held).await, vec![("authorization".into(), 8_000), ("capture".into(), 5_000)]);
        // Captured: the page offers no void, and one sent anyway is refused.
        let after = call_fn(&app, "payment", &admin, &format!("id={held}")).await.json();
        assert_eq!(can(&after), (Some(false), Some(false), Some(true)), "{after}");
        let r = call_fn(&app, "void", &admin, &format!("id={held}&key={}", after["move_key"].as_str().unwrap())).await;
        assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text());
        // Another hold voided, once.
        let other = app.authorized(&m, 3_000, false).await;
        let key = call_fn(&app, "payment", &admin, &format!("id={other}")).await.json()["move_key"].as_str().unwrap().to_owned();
        let void = format!("id={other}&key={key}");
        assert_eq!(call_fn(&app, "void", &viewer, &void).await.status, StatusCode::FORBIDDEN);
        assert_eq!(call_fn(&app, "void", &admin, &void).await.status, StatusCode::OK);
        assert_eq!(call_fn(&app, "void", &admin, &void).await.status, StatusCode::OK, "sent again");
        assert_eq!(app.payment(&m, &other).await["status"], "voided");
        assert_eq!(app.ledger(&m, &other).await, vec![("authorization".into(), 3_000), ("void".into(), 3_000)]);
    }

    async fn a_user_of_another_client_reaches_nothing_of_this_one(app) {
        let a = app.merchant().await;
        let b = app.merchant().await;
        let b_client = server::store::accounts::get(app.db(), &b.uid).await.unwrap().unwrap().client_id;
        dashboard::create_user(app.db(), &b_client, "stranger@example.com", Role::Owner, Some(PASSWORD.into())).await.unwrap();
        let stranger = dashboard::sign_in(&app.state, "stranger@example.com", PASSWORD, now_ms()).await.ok().unwrap().token;
        let held = app.authorized(&a, 2_000, false).await;
        let customer = app.call(Method::POST, "/api/customers", Auth::Bearer(&a.key), Some(json!({"email": "own@example.com"}))).await.json();
        let cus = customer["id"].as_str().unwrap();
        // Naming A's account in the account cookie changes nothing: it is not one of theirs.
        for cookie in [format!("govifi_session={stranger}"), format!("govifi_session={stranger}; govifi_account={}", a.uid)] {
            let send = async |name: &str, form: String| {
                let headers = [("content-type", "application/x-www-form-urlencoded"), ("accept", "application/json"), ("origin", PUBLIC_URL), ("cookie", cookie.as_str())];
                app.send(Method::POST, &format!("/dashboard/api/{name}"), &headers, Body::from(form)).await
            };
            assert_eq!(send("payment", format!("id={held}")).await.status, StatusCode::NOT_FOUND);
            assert_eq!(send("customer", format!("id={cus}")).await.status, StatusCode::NOT_FOUND);
            let key = "k".repeat(24);
            assert_eq!(send("capture", format!("id={held}&amount=&key={key}")).await.status, StatusCode::NOT_FOUND);
            assert_eq!(send("void", format!("id={held}&key={key}")).await.status, StatusCode::NOT_FOUND);
            let list = send("payments", "filter[status]=&filter[reference]=&filter[from]=&filter[to]=&filter[page]=0".into()).await;
            assert_eq!(list.status, StatusCode::OK, "{}", list.text());
            assert_eq!(list.json()["rows"], json!([]), "B's list is B's");
            let home = send("profile", String::new()).await.json();
            assert_eq!(home["account"]["uid"], b.uid.as_str(), "{home}");
        }
        assert_eq!(app.payment(&a, &held).await["status"], "authorized");
        let switched = call_fn(&app, "switch_account", &stranger, &format!("uid={}", a.uid)).await;
        assert_eq!(switched.status, StatusCode::BAD_REQUEST, "{}", switched.text());
    }

    async fn a_form_drawn_for_one_account_changes_no_other(app) {
        let a = app.merchant().await;
        let client = server::store::accounts::get(app.db(), &a.uid).await.unwrap().unwrap().client_id;
        let b = app.merchant_with(json!({"client_id": client, "allowed_origins": ["https://b.example"]})).await;
        dashboard::create_user(app.db(), &client, "owner@example.com", Role::Owner, Some(PASSWORD.into())).await.unwrap();
        let owner = dashboard::sign_in(&app.state, "owner@example.com", PASSWORD, now_ms()).await.ok().unwrap().token;
        // Another tab chose account B; this tab's Settings page was drawn for A.
        let cookie = format!("govifi_session={owner}; govifi_account={}", b.uid);
        let send = async |name: &str, form: String| {
            let headers = [("content-type", "application/x-www-form-urlencoded"), ("accept", "application/json"), ("origin", PUBLIC_URL), ("cookie", cookie.as_str())];
            app.send(Method::POST, &format!("/dashboard/api/{name}"), &headers, Body::from(form)).await
        };
        let origins = |uid: &str| format!("account={uid}&allowed_origins=https%3A%2F%2Fa.example");
        let stale = send("origins", origins(&a.uid)).await;
        assert_eq!(stale.status, StatusCode::CONFLICT, "{}", stale.text());
        assert!(stale.text().contains("reload"), "{}", stale.text());
        let origins_of = async |uid: &str| server::store::accounts::get(app.db(), uid).await.unwrap().unwrap().allowed_origins;
        assert_eq!(origins_of(&b.uid).await, ["https://b.example"], "B keeps its own");
        assert_eq!(origins_of(&a.uid).await, [support::MERCHANT_ORIGIN], "and A was not the one chosen");
        let keys_before: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM api_keys").fetch_one(app.db().pool()).await.unwrap();
        let key = send("create_api_key", format!("account={}&label=K&scopes=*&expires_in_days=", a.uid)).await;
        assert_eq!(key.status, StatusCode::CONFLICT, "{}", key.text());
        assert_eq!(send("rotate_redirect_secret", format!("account={}", a.uid)).await.status, StatusCode::CONFLICT);
        let keys_after: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM api_keys").fetch_one(app.db().pool()).await.unwrap();
        assert_eq!(keys_before, keys_after, "no key made");
        // The form drawn for the account chosen goes through.
        assert_eq!(send("origins", origins(&b.uid)).await.status, StatusCode::OK);
        assert_eq!(origins_of(&b.uid).await, ["https://a.example"]);
        let rotated = send("rotate_redirect_secret", format!("account={}", b.uid)).await;
        assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.text());
        let secret = rotated.json()["secret"].as_str().unwrap().to_owned();
        assert!(secret.len() >= 32 && secret != b.redirect_secret, "a new secret for B, shown once");
    }

    async fn the_account_switcher_chooses_what_every_page_shows_and_a_webhook_is_switched_off_and_on(app) {
        let a = app.merchant().await;
        let client = server::store::accounts::get(app.db(), &a.uid).await.unwrap().unwrap().client_id;
        let b = app.merchant_with(json!({"client_id": client})).await;
        for (email, role) in [("dev@example.com", Role::Developer), ("viewer@example.com", Role::Viewer)] {
            dashboard::create_user(app.db(), &client, email, role, Some(PASSWORD.into())).await.unwrap();
        }
        let dev = dashboard::sign_in(&app.state, "dev@example.com", PASSWORD, now_ms()).await.ok().unwrap().token;
        let viewer = dashboard::sign_in(&app.state, "viewer@example.com", PASSWORD, now_ms()).await.ok().unwrap().token;
        let in_a = app.authorized(&a, 111, false).await;
        let in_b = app.authorized(&b, 222, false).await;
        let send = async |name: &str, token: &str, account: Option<&str>, form: String| {
            let cookie = match account {
                Some(uid) => format!("govifi_session={token}; govifi_account={uid}"),
                None => format!("govifi_session={token}"),
            };
            let headers = [("content-type", "application/x-www-form-urlencoded"), ("accept", "application/json"), ("origin", PUBLIC_URL), ("cookie", cookie.as_str())];
            app.send(Method::POST, &format!("/dashboard/api/{name}"), &headers, Body::from(form)).await
        };
        let listed = |r: TestResponse| r.json()["rows"].as_array().unwrap().iter().map(|p| p["id"].as_str().unwrap().to_owned()).collect::<Vec<_>>();

        // The switcher lists both; the cookie it sets chooses the account every page reads.
        let profile = send("profile", &viewer, None, String::new()).await.json();
        let mut uids: Vec<&str> = profile["accounts"].as_array().unwrap().iter().map(|c| c["uid"].as_str().unwrap()).collect();
        uids.sort();
        let mut both = vec![a.uid.as_str(), b.uid.as_str()];
        both.sort();
        assert_eq!(uids, both, "{profile}");
        let switched = send("switch_account", &viewer, None, format!("uid={}", b.uid)).await;
        let cookie = switched.header("set-cookie").unwrap_or_default().to_owned();
        assert!(cookie.starts_with(&format!("govifi_account={}", b.uid)) && cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "{cookie}");
        assert_eq!(send("profile", &viewer, Some(b.uid.as_str()), String::new()).await.json()["account"]["uid"], b.uid.as_str());
        assert_eq!(listed(send("payments", &viewer, Some(b.uid.as_str()), "filter[page]=0".into()).await), [in_b]);
        assert_eq!(listed(send("payments", &viewer, Some(a.uid.as_str()), "filter[page]=0".into()).await), [in_a]);

        // A webhook of B, switched off by a developer (a viewer may not): no delivery while off.
        let receiver = support::Receiver::start().await;
        let made = app.call(Method::POST, "/api/webhooks", Auth::Bearer(&b.key), Some(json!({"url": receiver.url, "events": ["customer.created"]}))).await;
        assert_eq!(made.status, StatusCode::CREATED, "{}", made.text());
        let hook = made.json()["id"].as_str().unwrap().to_owned();
        let enabled = async || app.call(Method::GET, format!("/api/webhooks/{hook}"), Auth::Bearer(&b.key), None).await.json()["enabled"].clone();
        assert_eq!(send("webhook_enabled", &viewer, Some(b.uid.as_str()), format!("id={hook}&enabled=false")).await.status, StatusCode::FORBIDDEN);
        assert_eq!(enabled().await, true);
        // Drawn for A, it finds no such webhook there.
        assert_eq!(send("webhook_enabled", &dev, Some(a.uid.as_str()), format!("id={hook}&enabled=false")).await.status, StatusCode::NOT_FOUND);
        assert_eq!(enabled().await, true);
        let off = send("webhook_enabled", &dev, Some(b.uid.as_str()), format!("id={hook}&enabled=false")).await;
        assert_eq!(off.status, StatusCode::OK, "{}", off.text());
        assert_eq!(enabled().await, false);
        let deliveries = async || -> i64 {
            sqlx::query_scalar("SELECT COUNT(*) FROM webhook_deliveries WHERE webhook_id = $1").bind(&hook).fetch_one(app.db().pool()).await.unwrap()
        };
        let customer = async |name: &str| {
            let r = app.call(Method::POST, "/api/customers", Auth::Bearer(&b.key), Some(json!({"name": name}))).await;
            assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        };
        customer("While off").await;
        assert_eq!(deliveries().await, 0, "a subscription switched off gets no delivery");
        assert_eq!(send("webhook_enabled", &dev, Some(b.uid.as_str()), format!("id={hook}&enabled=true")).await.status, StatusCode::OK);
        assert_eq!(enabled().await, true);
        customer("While on").await;
        assert_eq!(deliveries().await, 1);
        let switches: Vec<String> = sqlx::query_scalar("SELECT actor FROM events WHERE account_uid = $1 AND type = 'webhook.updated' ORDER BY created_at, id")
            .bind(&b.uid).fetch_all(app.db().pool()).await.unwrap();
        assert_eq!(switches, ["user:dev@example.com", "user:dev@example.com"], "each switch is an event naming who made it");
    }

    async fn the_fee_calculator_knows_a_card_s_funding(app) {
        let m = app.merchant().await;
        let client = server::store::accounts::get(app.db(), &m.uid).await.unwrap().unwrap().client_id;
        dashboard::create_user(app.db(), &client, "viewer@example.com", Role::Viewer, Some(PASSWORD.into())).await.unwrap();
        let viewer = dashboard::sign_in(&app.state, "viewer@example.com", PASSWORD, now_ms()).await.ok().unwrap().token;
        let fee = async |form: &str| {
            let r = call_fn(&app, "fee_quote", &viewer, form).await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.text());
            r.json()["fee"]["minor"].as_i64().unwrap()
        };
        // The test account's rules: debit cards 3.95 flat, other cards 2.95 % (at least 1.95).
        assert_eq!(fee("amount=100.00&method=card&funding=debit").await, 395, "the checkout's fee for a debit card");
        assert_eq!(fee("amount=100.00&method=card&funding=credit").await, 295);
        assert_eq!(fee("amount=100.00&method=card&funding=").await, 295);
        assert_eq!(fee("amount=100.00&method=ach&funding=debit").await, 150, "funding is a card's only");
        assert_eq!(call_fn(&app, "fee_quote", &viewer, "amount=100.00&method=card&funding=gold").await.status, StatusCode::BAD_REQUEST);
    }

    async fn settings_change_the_fee_rules_in_the_currency_s_units(app) {
        let m = app.merchant().await;
        let client = server::store::accounts::get(app.db(), &m.uid).await.unwrap().unwrap().client_id;
        let mut tokens = Vec::new();
        for (email, role) in [("admin@example.com", Role::Admin), ("viewer@example.com", Role::Viewer)] {
            dashboard::create_user(app.db(), &client, email, role, Some(PASSWORD.into())).await.unwrap();
            tokens.push(dashboard::sign_in(&app.state, email, PASSWORD, now_ms()).await.ok().unwrap().token);
        }
        let (admin, viewer) = (&tokens[0], &tokens[1]);
        // Shown in units: the first rule is debit cards' flat 3.95.
        let shown = call_fn(&app, "settings", viewer, "").await.json();
        assert_eq!(shown["fee_rules"].as_array().unwrap().len(), 3);
        assert_eq!((shown["fee_rules"][0]["method"].as_str(), shown["fee_rules"][0]["funding"].as_str()), (Some("card"), Some("debit")));
        assert_eq!(shown["fee_rules"][0]["fixed"]["minor"], 395);
        assert_eq!(shown["fee_rules"][1]["min"]["minor"], 195);
        assert!(shown["fee_rules"][1]["max"].is_null());

        // The form: the debit rule removed, the card rule changed, the ACH rule moved first,
        // an empty row for a new rule left empty.
        let form = [
            "rules[0][method]=card&rules[0][funding]=debit&rules[0][percent]=0&rules[0][fixed]=3.95&rules[0][order]=1&rules[0][remove]=yes",
            "rules[1][method]=card&rules[1][funding]=&rules[1][percent]=2.5&rules[1][fixed]=0.30&rules[1][min]=1.00&rules[1][max]=&rules[1][order]=2",
            "rules[2][method]=ach&rules[2][funding]=&rules[2][percent]=&rules[2][fixed]=1,250.00&rules[2][max]=2000&rules[2][order]=0",
            "rules[3][method]=&rules[3][percent]=&rules[3][fixed]=&rules[3][order]=4",
        ]
        .join("&");
        let form = format!("account={}&{form}", m.uid);
        assert_eq!(call_fn(&app, "fee_rules", viewer, &form).await.status, StatusCode::FORBIDDEN);
        let saved = call_fn(&app, "fee_rules", admin, &form).await;
        assert_eq!(saved.status, StatusCode::OK, "{}", saved.text());
        let account = server::store::accounts::get(app.db(), &m.uid).await.unwrap().unwrap();
        assert_eq!(
            serde_json::to_value(&account.fee_rules).unwrap(),
            json!([
                {"method": "ach", "percent_bps": 0, "fixed_amount": 125_000, "max_fee": 200_000},
                {"method": "card", "percent_bps": 250, "fixed_amount": 30, "min_fee": 100}
            ])
        );
        let fee = async |form: &str| call_fn(&app, "fee_quote", viewer, form).await.json()["fee"]["minor"].as_i64().unwrap();
        assert_eq!(fee("amount=100.00&method=card&funding=debit").await, 280, "2.5 % + 0.30, debit no longer apart");
        assert_eq!(fee("amount=10.00&method=card&funding=").await, 100, "the minimum");
        let actor: Option<String> = sqlx::query_scalar(
            "SELECT actor FROM events WHERE account_uid = $1 AND type = 'account.updated' ORDER BY created_at DESC, id DESC")
            .bind(&m.uid).fetch_optional(app.db().pool()).await.unwrap().flatten();
        assert_eq!(actor.as_deref(), Some("user:admin@example.com"));

        // What the form cannot take is refused with its row's field, and nothing changes.
        for (bad, says) in [
            ("rules[0][method]=card&rules[0][percent]=100.5", "percent must be from 0 to 100"),
            ("rules[0][method]=card&rules[0][percent]=2.555", "percent must be from 0 to 100"),
            ("rules[0][method]=cheque", "method must be"),
            ("rules[0][method]=card&rules[0][fixed]=-1", "fixed must be an amount in USD"),
            ("rules[0][method]=card&rules[0][order]=first", "order must be a whole number"),
            ("rules[0][method]=ach&rules[0][funding]=debit", "card_funding applies to card"),
            ("rules[0][method]=card&rules[0][min]=5&rules[0][max]=1", "min_fee must not exceed max_fee"),
        ] {
            let r = call_fn(&app, "fee_rules", admin, &format!("account={}&{bad}", m.uid)).await;
            assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}: {}", r.text());
            assert!(r.text().contains(says), "{bad}: {}", r.text());
        }
        let rows: String = (0..101).map(|i| format!("&rules[{i}][method]=")).collect();
        assert_eq!(call_fn(&app, "fee_rules", admin, &format!("account={}{rows}", m.uid)).await.status, StatusCode::BAD_REQUEST);
        let after = server::store::accounts::get(app.db(), &m.uid).await.unwrap().unwrap();
        assert_eq!(after.fee_rules, account.fee_rules);
        // Every row removed: no rules, no fee.
        let none = call_fn(&app, "fee_rules", admin, &format!("account={}&rules[0][method]=ach&rules[0][remove]=yes", m.uid)).await;
        assert_eq!(none.status, StatusCode::OK, "{}", none.text());
        assert_eq!(fee("amount=100.00&method=card&funding=").await, 0);
    }

    async fn team_changes_are_recorded_on_each_of_the_client_s_accounts(app) {
        let m = app.merchant().await;
        let client = server::store::accounts::get(app.db(), &m.uid).await.unwrap().unwrap().client_id;
        let second = app.create_account(&m.token, json!({"client_id": client, "name": "Parking", "currency": "USD"})).await;
        let second = second["uid"].as_str().unwrap().to_owned();
        dashboard::create_user(app.db(), &client, "owner@example.com", Role::Owner, Some(PASSWORD.into())).await.unwrap();
        let owner = dashboard::sign_in(&app.state, "owner@example.com", PASSWORD, now_ms()).await.ok().unwrap().token;
        let added = call_fn(&app, "add_user", &owner, "email=clerk%40example.com&role=viewer").await;
        assert_eq!(added.status, StatusCode::OK, "{}", added.text());
        let id = added.json()["id"].as_str().unwrap().to_owned();
        assert_eq!(call_fn(&app, "change_role", &owner, &format!("id={id}&role=admin")).await.status, StatusCode::OK);
        assert_eq!(call_fn(&app, "remove_user", &owner, &format!("id={id}")).await.status, StatusCode::OK);
        // A refused change records nothing.
        assert_eq!(call_fn(&app, "remove_user", &owner, &format!("id={id}")).await.status, StatusCode::NOT_FOUND);
        for uid in [&m.uid, &second] {
            let rows: Vec<(String, Option<String>, String)> = sqlx::query_as(
                "SELECT type, actor, data FROM events WHERE account_uid = $1 AND type LIKE 'team.%' ORDER BY created_at, id")
                .bind(uid).fetch_all(app.db().pool()).await.unwrap();
            let seen: Vec<(&str, Option<&str>, Value)> = rows.iter()
                .map(|(t, a, d)| (t.as_str(), a.as_deref(), serde_json::from_str::<Value>(d).unwrap()))
                .filter(|(_, _, d)| d["email"] == "clerk@example.com")
                .collect();
            let kinds: Vec<(&str, Option<&str>, &str)> = seen.iter().map(|(t, a, d)| (*t, *a, d["role"].as_str().unwrap())).collect();
            assert_eq!(kinds, [
                ("team.member_added", Some("user:owner@example.com"), "viewer"),
                ("team.member_role_changed", Some("user:owner@example.com"), "admin"),
                ("team.member_removed", Some("user:owner@example.com"), "admin"),
            ], "{uid}");
            assert!(seen.iter().all(|(_, _, d)| d["id"] == id.as_str() && d.get("password_hash").is_none()));
        }
    }

    async fn the_delivery_log_redelivers_to_its_own_endpoint(app) {
        let m = app.merchant().await;
        let client = server::store::accounts::get(app.db(), &m.uid).await.unwrap().unwrap().client_id;
        dashboard::create_user(app.db(), &client, "dev@example.com", Role::Developer, Some(PASSWORD.into())).await.unwrap();
        let dev = dashboard::sign_in(&app.state, "dev@example.com", PASSWORD, now_ms()).await.ok().unwrap().token;
        let (one, two) = (support::Receiver::start().await, support::Receiver::start().await);
        let subscribe = async |url: &str| {
            let r = app.call(Method::POST, "/api/webhooks", Auth::Bearer(&m.key), Some(json!({"url": url, "events": ["customer.created"]}))).await;
            assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
            r.json()["id"].as_str().unwrap().to_owned()
        };
        let (w1, w2) = (subscribe(&one.url).await, subscribe(&two.url).await);
        app.call(Method::POST, "/api/customers", Auth::Bearer(&m.key), Some(json!({"name": "Pat"}))).await;
        let event: String = sqlx::query_scalar("SELECT id FROM events WHERE type = 'customer.created'").fetch_one(app.db().pool()).await.unwrap();
        let deliveries = async |w: &str| -> i64 {
            sqlx::query_scalar("SELECT COUNT(*) FROM webhook_deliveries WHERE webhook_id = $1").bind(w).fetch_one(app.db().pool()).await.unwrap()
        };
        assert_eq!((deliveries(&w1).await, deliveries(&w2).await), (1, 1));
        let r = call_fn(&app, "redeliver", &dev, &format!("webhook_id={w1}&event_id={event}")).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        assert_eq!((deliveries(&w1).await, deliveries(&w2).await), (2, 1), "the other endpoint gets nothing twice");
        // A disabled endpoint is not delivered to from its log.
        let off = app.call(Method::PATCH, format!("/api/webhooks/{w1}"), Auth::Bearer(&m.key), Some(json!({"enabled": false}))).await;
        assert_eq!(off.status, StatusCode::OK, "{}", off.text());
        assert_eq!(call_fn(&app, "redeliver", &dev, &format!("webhook_id={w1}&event_id={event}")).await.status, StatusCode::CONFLICT);
        assert_eq!(deliveries(&w1).await, 2);
        assert_eq!(call_fn(&app, "redeliver", &dev, &format!("webhook_id=whk_nope&event_id={event}")).await.status, StatusCode::NOT_FOUND);
    }

}

#[tokio::test]
async fn on_https_the_cookie_is_secure() {
    let app = TestApp::spawn_with(support::Database::Sqlite, &[("GOVIFI_PUBLIC_URL", "https://checkout.test")])
        .await
        .unwrap();
    user(&app, "alex@example.com", Role::Viewer).await;
    let form = format!("email=alex%40example.com&password={}", PASSWORD.replace(' ', "+"));
    let r = post(&app, "/dashboard/api/sign_in", Some("https://checkout.test"), None, &form).await;
    assert_eq!(r.header("location"), Some("/dashboard"), "{}", r.text());
    assert!(r.header("set-cookie").unwrap().contains("Secure"));
}

#[tokio::test]
async fn govifi_server_user_create_prints_a_one_time_password() {
    let app = TestApp::spawn(support::Database::Sqlite).await.unwrap();
    let client = tenant(&app).await;
    let run = |args: Vec<String>, stdin: Option<&str>| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_govifi-server"));
        cmd.args(&args)
            .env("GOVIFI_DATABASE_URL", &app.db.url)
            .env("GOVIFI_MASTER_KEY", app.state.config().master_key.to_base64())
            .env("RUST_LOG", "warn")
            .current_dir(app.assets.path())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        if let Some(text) = stdin {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
        }
        child.wait_with_output().unwrap()
    };
    let args = |email: &str, extra: &[&str]| {
        let mut a: Vec<String> =
            ["user", "create", "--client", &client, "--email", email, "--role", "developer"].map(String::from).to_vec();
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    };
    let out = run(args("dev@example.com", &[]), None);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let password = text.lines().find_map(|l| l.strip_prefix("password: ")).expect("a password line").trim().to_owned();
    assert!(text.contains("role:     developer"), "{text}");
    assert!(dashboard::sign_in(&app.state, "dev@example.com", &password, now_ms()).await.is_ok());
    // --password-stdin: nothing printed back.
    let out = run(args("ops@example.com", &["--password-stdin"]), Some("a password from stdin\n"));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!String::from_utf8(out.stdout).unwrap().contains("password"));
    assert!(dashboard::sign_in(&app.state, "ops@example.com", "a password from stdin", now_ms()).await.is_ok());
    // A bad role or a taken email fail.
    assert!(
        !run(
            ["user", "create", "--client", &client, "--email", "x@example.com", "--role", "king"]
                .map(String::from)
                .to_vec(),
            None
        )
        .status
        .success()
    );
    assert!(!run(args("dev@example.com", &[]), None).status.success());
}
