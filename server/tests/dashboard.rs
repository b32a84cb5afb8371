//! The dashboard's sign-in (SPEC §12): users, the session cookie, the lockout, idle expiry, and
//! the origin and session checks of its server functions.

mod support;

use axum::body::Body;
use axum::http::StatusCode;
use server::auth::secrets::hash_secret;
use server::dashboard::{self, SignInRefused};
use server::domain::dashboard::{IDLE_MS, LOCK_MS, Role};
use server::store::now_ms;
use support::{PUBLIC_URL, TestApp, TestResponse};

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
    let accept = if path.ends_with("/me") { "application/json" } else { "text/html" };
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
        assert_eq!(home.status, StatusCode::OK);
        assert!(home.text().contains("alex@example.com (admin)"), "{}", home.text());
        assert!(home.text().contains("Test City"));

        // A server function: the session from the cookie, the origin checked.
        let me = post(&app, "/dashboard/api/me", Some(PUBLIC_URL), Some(&token), "").await;
        assert_eq!(me.status, StatusCode::OK, "{}", me.text());
        assert_eq!(me.json()["email"], "alex@example.com");
        assert_eq!(me.json()["role"], "admin");
        assert_eq!(post(&app, "/dashboard/api/me", Some("https://evil.example"), Some(&token), "").await.status, StatusCode::FORBIDDEN);
        assert_eq!(post(&app, "/dashboard/api/me", None, Some(&token), "").await.status, StatusCode::FORBIDDEN);
        assert_eq!(post(&app, "/dashboard/api/me", Some(PUBLIC_URL), None, "").await.status, StatusCode::UNAUTHORIZED);
        assert_eq!(post(&app, "/dashboard/api/me", Some(PUBLIC_URL), Some("forged"), "").await.status, StatusCode::UNAUTHORIZED);

        // Sign out ends the session on the server, and clears the cookie.
        let out = post(&app, "/dashboard/api/sign_out", Some(PUBLIC_URL), Some(&token), "").await;
        assert_eq!(out.status, StatusCode::FOUND, "{}", out.text());
        assert_eq!(out.header("location"), Some("/dashboard/login"));
        assert!(out.header("set-cookie").unwrap().contains("Max-Age=0"));
        assert_eq!(post(&app, "/dashboard/api/me", Some(PUBLIC_URL), Some(&token), "").await.status, StatusCode::UNAUTHORIZED);

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
