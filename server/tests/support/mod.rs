//! Test harness: a fresh database per test, on SQLite and (with `GOVIFI_TEST_POSTGRES_URL`) on
//! PostgreSQL, and requests through the full router (`oneshot`) or a real server on port 0.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::PathBuf;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use server::config::MasterKey;
use server::store::Db;
use server::{AppState, Config};
use sqlx::{Connection, Executor};
use tower::ServiceExt;

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Database {
    Sqlite,
    Postgres,
}

/// Runs each test body once on SQLite and once on PostgreSQL (`name::sqlite`, `name::postgres`).
/// Without `GOVIFI_TEST_POSTGRES_URL` the PostgreSQL run says so and returns, except under CI
/// (`CI` set), where a PostgreSQL test without its database fails.
#[macro_export]
macro_rules! db_tests {
    ($(async fn $name:ident($app:ident) $body:block)*) => {$(
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let $app = $crate::support::TestApp::spawn($crate::support::Database::Sqlite).await.expect("sqlite app");
                $body
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let Some($app) = $crate::support::TestApp::spawn($crate::support::Database::Postgres).await else {
                    $crate::support::no_postgres();
                    return;
                };
                $body
            }
        }
    )*};
}

/// A PostgreSQL test found no database: skipped locally, a failure under CI.
pub fn no_postgres() {
    if std::env::var_os("CI").is_some_and(|v| !v.is_empty()) {
        panic!("CI is set but GOVIFI_TEST_POSTGRES_URL is not: this PostgreSQL test cannot run");
    }
    eprintln!("skipped on PostgreSQL: GOVIFI_TEST_POSTGRES_URL is not set");
}

pub const PUBLIC_URL: &str = "http://checkout.test";

/// A fresh database: an SQLite file in a temporary folder, or a new PostgreSQL database that is
/// dropped when the guard goes.
pub struct TestDatabase {
    pub url: String,
    pub kind: Database,
    _dir: Option<tempfile::TempDir>,
    pg_admin: Option<(String, String)>,
}

impl TestDatabase {
    pub async fn create(kind: Database) -> Option<Self> {
        match kind {
            Database::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}?mode=rwc", dir.path().join("govifi.db").display());
                Some(TestDatabase { url, kind, _dir: Some(dir), pg_admin: None })
            }
            Database::Postgres => {
                let admin = std::env::var("GOVIFI_TEST_POSTGRES_URL").ok().filter(|v| !v.is_empty())?;
                sqlx::any::install_default_drivers();
                let name = format!("govifi_test_{}", server::domain::ids::random_base62(16).to_ascii_lowercase());
                let mut conn = sqlx::AnyConnection::connect(&admin).await.expect("connect to GOVIFI_TEST_POSTGRES_URL");
                // With a linguistic collation, as a database made under `en_US.UTF-8` has (this
                // machine's default, C.UTF-8, orders text as SQLite does and would hide where
                // the two differ).
                conn.execute(format!("CREATE DATABASE {name} TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'").as_str())
                    .await
                    .expect("create test database");
                conn.close().await.ok();
                let mut url = url::Url::parse(&admin).expect("GOVIFI_TEST_POSTGRES_URL is a URL");
                url.set_path(&format!("/{name}"));
                Some(TestDatabase { url: url.to_string(), kind, _dir: None, pg_admin: Some((admin, name)) })
            }
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Some((admin, name)) = self.pg_admin.take() {
            // Drop runs inside the test's runtime; drop the database from a thread of its own.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
                rt.block_on(async move {
                    if let Ok(mut conn) = sqlx::AnyConnection::connect(&admin).await {
                        let _ = conn.execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str()).await;
                    }
                });
            })
            .join();
        }
    }
}

/// A configuration for tests; `extra` overrides any variable.
pub fn test_config(database_url: &str, assets_dir: &std::path::Path, extra: &[(&str, &str)]) -> Config {
    let mut vars: HashMap<String, String> = HashMap::from([
        ("GOVIFI_DATABASE_URL".into(), database_url.to_owned()),
        ("GOVIFI_MASTER_KEY".into(), MasterKey::generate().to_base64()),
        ("GOVIFI_PUBLIC_URL".into(), PUBLIC_URL.into()),
        ("GOVIFI_ASSETS_DIR".into(), assets_dir.display().to_string()),
        ("GOVIFI_SANDBOX".into(), "true".into()),
    ]);
    for (k, v) in extra {
        vars.insert((*k).to_owned(), (*v).to_owned());
    }
    Config::from_lookup(|k| vars.get(k).cloned()).expect("test configuration parses")
}

pub struct TestApp {
    pub state: AppState,
    pub router: Router,
    pub db: TestDatabase,
    pub assets: tempfile::TempDir,
}

impl TestApp {
    /// A migrated app on a fresh database; `None` for PostgreSQL when it is not configured.
    pub async fn spawn(kind: Database) -> Option<Self> {
        Self::spawn_with(kind, &[]).await
    }

    pub async fn spawn_with(kind: Database, extra: &[(&str, &str)]) -> Option<Self> {
        server::telemetry::init_test_logging();
        let db = TestDatabase::create(kind).await?;
        let assets = fake_assets();
        let config = test_config(&db.url, assets.path(), extra);
        let state = AppState::init(config).await.expect("app starts");
        let router = server::router(state.clone());
        Some(TestApp { state, router, db, assets })
    }

    pub fn db(&self) -> &Db {
        self.state.db()
    }

    pub async fn request(&self, req: Request<Body>) -> TestResponse {
        let response = self.router.clone().oneshot(req).await.expect("router answers");
        TestResponse::read(response).await
    }

    pub async fn get(&self, path: &str) -> TestResponse {
        self.request(Request::get(path).body(Body::empty()).unwrap()).await
    }

    pub async fn send(&self, method: Method, path: &str, headers: &[(&str, &str)], body: Body) -> TestResponse {
        let mut req = Request::builder().method(method).uri(path);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        self.request(req.body(body).unwrap()).await
    }
}

/// A folder shaped like `cargo xtask dist`'s output, with stand-in files: the split checkout in
/// its content-hashed folder, the wallet as Trunk names it.
pub fn fake_assets() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let checkout = dir.path().join("checkout-0123abcd4567cdef");
    std::fs::create_dir(&checkout).unwrap();
    std::fs::write(checkout.join("govifi-payment.js"), "export default async function init() {}\n").unwrap();
    std::fs::write(checkout.join("govifi-payment_bg.wasm"), b"\0asm\x01\0\0\0").unwrap();
    std::fs::write(checkout.join("__wasm_split.js"), "export const __wasm_split_load_x = () => {};\n").unwrap();
    std::fs::write(checkout.join("split_challenge_part_1.wasm"), b"\0asm\x01\0\0\0").unwrap();
    // `cargo xtask dist`'s compressed copies (stand-ins: the server only chooses among them).
    std::fs::write(checkout.join("govifi-payment_bg.wasm.gz"), b"gzip stand-in").unwrap();
    std::fs::write(checkout.join("govifi-payment_bg.wasm.br"), b"brotli stand-in").unwrap();
    std::fs::create_dir(dir.path().join("wallet")).unwrap();
    std::fs::write(dir.path().join("wallet/govifi-wallet-4567cdef.js"), "export default async function init() {}\n")
        .unwrap();
    std::fs::write(dir.path().join("wallet/govifi-wallet-4567cdef_bg.wasm"), b"\0asm\x01\0\0\0").unwrap();
    std::fs::write(dir.path().join("index.html"), "<!doctype html>").unwrap();
    dir
}

pub fn assets_path(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().to_path_buf()
}

#[derive(Debug)]
pub struct TestResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl TestResponse {
    pub async fn read(response: axum::response::Response) -> Self {
        let (parts, body) = response.into_parts();
        let body = body.collect().await.expect("body").to_bytes().to_vec();
        TestResponse { status: parts.status, headers: parts.headers, body }
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts SPEC §2's error object with this status and code, and that `request_id` is the
    /// response's `X-Request-Id`; returns the error object.
    pub fn assert_error(&self, status: u16, code: &str) -> Value {
        assert_eq!(self.status.as_u16(), status, "status; body: {}", self.text());
        let body = self.json();
        let error = body.get("error").unwrap_or_else(|| panic!("no error object: {body}")).clone();
        assert_eq!(error["code"], code, "code; body: {body}");
        let kinds = [
            "invalid_request_error",
            "authentication_error",
            "permission_error",
            "card_error",
            "idempotency_error",
            "rate_limit_error",
            "api_error",
        ];
        assert!(kinds.contains(&error["type"].as_str().unwrap_or("")), "type: {body}");
        assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()), "message: {body}");
        let request_id = self.header("x-request-id").expect("X-Request-Id header");
        assert!(request_id.starts_with("req_"), "{request_id}");
        assert_eq!(error["request_id"], request_id, "error.request_id equals X-Request-Id");
        error
    }
}

pub fn header(name: &'static str, value: &str) -> (HeaderName, HeaderValue) {
    (HeaderName::from_static(name), HeaderValue::from_str(value).unwrap())
}

/// A credential to send with a request.
#[derive(Debug, Clone)]
pub enum Auth<'a> {
    None,
    Bearer(&'a str),
    /// An admin token with `X-Payment-Account-Uid`.
    Account(&'a str, &'a str),
}

/// The request with `body` as JSON (and its content type), or with no body.
pub fn with_json(req: axum::http::request::Builder, body: Option<Value>) -> Request<Body> {
    match body {
        Some(v) => req.header("content-type", "application/json").body(Body::from(serde_json::to_vec(&v).unwrap())),
        None => req.body(Body::empty()),
    }
    .unwrap()
}

impl TestApp {
    /// Sends JSON (or nothing) with a credential.
    pub async fn call(
        &self,
        method: Method,
        path: impl AsRef<str>,
        auth: Auth<'_>,
        body: Option<Value>,
    ) -> TestResponse {
        // Tests write OData filters as people type them; spaces travel as %20.
        let mut req = Request::builder().method(method).uri(path.as_ref().replace(' ', "%20"));
        match auth {
            Auth::None => {}
            Auth::Bearer(token) => req = req.header("authorization", format!("Bearer {token}")),
            Auth::Account(token, uid) => {
                req = req.header("authorization", format!("Bearer {token}")).header("x-payment-account-uid", uid)
            }
        }
        self.request(with_json(req, body)).await
    }

    /// An app client made directly in the store, and a token for it from /oauth2/token.
    pub async fn admin_token(&self) -> String {
        let (client, secret) = server::store::app_clients::create(self.db(), "tests").await.unwrap();
        self.token_for(&client.client_id, &secret).await
    }

    pub async fn token_for(&self, client_id: &str, secret: &str) -> String {
        use base64::Engine;
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("{client_id}:{secret}"));
        let req = Request::post("/oauth2/token")
            .header("authorization", format!("Basic {basic}"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from("grant_type=client_credentials&scope=com.govineer.payments/admin"))
            .unwrap();
        let r = self.request(req).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        r.json()["access_token"].as_str().unwrap().to_owned()
    }

    /// A tenant client; returns its id.
    pub async fn create_client(&self, token: &str, name: &str) -> String {
        let r =
            self.call(Method::POST, "/api/clients", Auth::Bearer(token), Some(serde_json::json!({"name": name}))).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        r.json()["id"].as_str().unwrap().to_owned()
    }

    /// A payment account (under a new client) with `extra` fields; returns the created object.
    pub async fn create_account(&self, token: &str, extra: Value) -> Value {
        let client_id = self.create_client(token, "Account owner").await;
        let mut body = serde_json::json!({"client_id": client_id, "name": "Water bills", "currency": "USD"});
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            for (k, v) in e {
                b.insert(k.clone(), v.clone());
            }
        }
        let r = self.call(Method::POST, "/api/paymentaccounts", Auth::Bearer(token), Some(body)).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        r.json()
    }

    /// An API key on an account with these scopes; returns the key string.
    pub async fn api_key(&self, token: &str, uid: &str, scopes: &[&str]) -> String {
        let r = self
            .call(
                Method::POST,
                &format!("/api/paymentaccounts/{uid}/api-keys"),
                Auth::Bearer(token),
                Some(serde_json::json!({"label": "test key", "scopes": scopes})),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        r.json()["key"].as_str().unwrap().to_owned()
    }
}

/// Runs of 13–19 digits that pass the Luhn check: what a leaked card number looks like.
pub fn card_numbers_in(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut run = String::new();
    // A run of digits inside a random token (a hash, a sealed blob, an id) is not a card number:
    // only runs standing on their own, with no letter on either side, count.
    let mut before_run = ' ';
    let mut previous = ' ';
    for ch in text.chars().chain(std::iter::once(' ')) {
        if ch.is_ascii_digit() {
            if run.is_empty() {
                before_run = previous;
            }
            run.push(ch);
        } else {
            let alone = !before_run.is_ascii_alphabetic() && !ch.is_ascii_alphabetic();
            if alone && (13..=19).contains(&run.len()) && app::card::luhn_valid(&run) {
                found.push(run.clone());
            }
            run.clear();
        }
        previous = ch;
    }
    found
}

/// Every text value in every table of the database.
pub async fn all_stored_text(db: &Db) -> String {
    use sqlx::Row;
    let tables_sql = match db.backend() {
        server::store::Backend::Sqlite => "SELECT name FROM sqlite_master WHERE type = 'table'",
        server::store::Backend::Postgres => {
            "SELECT CAST(table_name AS TEXT) FROM information_schema.tables WHERE table_schema = 'public'"
        }
    };
    let tables: Vec<String> =
        sqlx::query(tables_sql).fetch_all(db.pool()).await.unwrap().iter().map(|r| r.get::<String, _>(0)).collect();
    assert!(tables.iter().any(|t| t == "payment_accounts"), "found the tables: {tables:?}");
    let mut out = String::new();
    // sqlx's own bookkeeping holds migration text only (and types the Any driver cannot read).
    for table in tables.into_iter().filter(|t| !t.starts_with("_sqlx") && !t.starts_with("sqlite_")) {
        let rows = sqlx::query(&format!("SELECT * FROM {table}")).fetch_all(db.pool()).await.unwrap();
        for row in rows {
            for i in 0..row.columns().len() {
                if let Ok(Some(text)) = row.try_get::<Option<String>, _>(i) {
                    out.push_str(&text);
                    out.push('\n');
                }
            }
        }
    }
    out
}

/// A merchant ready to take payments: account (USD, card/ACH/Apple Pay, a convenience-fee
/// schedule, one allowed origin), an all-scopes API key.
#[derive(Debug, Clone)]
pub struct Merchant {
    pub token: String,
    pub uid: String,
    pub key: String,
    pub redirect_secret: String,
}

pub const MERCHANT_ORIGIN: &str = "https://shop.example";

impl TestApp {
    pub async fn merchant(&self) -> Merchant {
        self.merchant_with(serde_json::json!({})).await
    }

    pub async fn merchant_with(&self, extra: Value) -> Merchant {
        let token = self.admin_token().await;
        let mut fields = serde_json::json!({
            "fee_rules": [
                {"method": "card", "card_funding": "debit", "fixed_amount": 395},
                {"method": "card", "percent_bps": 295, "min_fee": 195},
                {"method": "ach", "fixed_amount": 150}
            ],
            "allowed_origins": [MERCHANT_ORIGIN],
            "branding": {"display_name": "City of Example Utilities", "primary_color": "#1A5FB4"}
        });
        for (k, v) in extra.as_object().unwrap() {
            fields[k] = v.clone();
        }
        let account = self.create_account(&token, fields).await;
        let uid = account["uid"].as_str().unwrap().to_owned();
        let redirect_secret = account["redirect_signing_secret"].as_str().unwrap().to_owned();
        let key = self.api_key(&token, &uid, &["*"]).await;
        Merchant { token, uid, key, redirect_secret }
    }

    /// A session with the spec's required fields plus `extra`; returns the creation answer.
    pub async fn session(&self, m: &Merchant, extra: Value) -> Value {
        let mut body = serde_json::json!({
            "amount": 14227, "currency": "USD",
            "success_url": "https://shop.example/receipt?session_id={CHECKOUT_SESSION_ID}",
            "cancel_url": "https://shop.example/billing"
        });
        for (k, v) in extra.as_object().unwrap() {
            if v.is_null() {
                body.as_object_mut().unwrap().remove(k);
            } else {
                body[k] = v.clone();
            }
        }
        let r = self.call(Method::POST, "/v1/hosted-sessions", Auth::Bearer(&m.key), Some(body)).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        r.json()
    }

    /// A browser call with the session credential (and an Origin, if given).
    pub async fn browser(
        &self,
        method: Method,
        session: &Value,
        tail: &str,
        origin: Option<&str>,
        body: Option<Value>,
    ) -> TestResponse {
        self.browser_with(
            method,
            session["session_id"].as_str().unwrap(),
            session["client_secret"].as_str().unwrap(),
            tail,
            origin,
            &[],
            body,
        )
        .await
    }

    #[allow(clippy::too_many_arguments)]
    pub async fn browser_with(
        &self,
        method: Method,
        session_id: &str,
        credential: &str,
        tail: &str,
        origin: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<Value>,
    ) -> TestResponse {
        let mut req = Request::builder()
            .method(method)
            .uri(format!("/v1/hosted-sessions/{session_id}/{tail}"))
            .header("authorization", format!("Bearer {credential}"));
        if let Some(o) = origin {
            req = req.header("origin", o);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        self.request(with_json(req, body)).await
    }

    /// A fee quote for a method (and BIN); returns its id.
    pub async fn quote(&self, session: &Value, method: &str, bin: Option<&str>) -> String {
        let mut body = serde_json::json!({"payment_method_type": method});
        if let Some(bin) = bin {
            body["card_bin"] = bin.into();
        }
        let r = self.browser(Method::POST, session, "quote-fee", None, Some(body)).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        r.json()["fee_quote_id"].as_str().unwrap().to_owned()
    }

    /// Quotes and confirms with a card number (the BIN of the number quoted).
    pub async fn pay_card(&self, session: &Value, number: &str, key: Option<&str>) -> TestResponse {
        let quote = self.quote(session, "card", Some(&number[..6])).await;
        let body = serde_json::json!({"fee_quote_id": quote, "payment_method": card(number)});
        let headers: Vec<(&str, &str)> = key.map(|k| vec![("idempotency-key", k)]).unwrap_or_default();
        self.browser_with(
            Method::POST,
            session["session_id"].as_str().unwrap(),
            session["client_secret"].as_str().unwrap(),
            "confirm",
            None,
            &headers,
            Some(body),
        )
        .await
    }

    /// Every event of an account, oldest first: (type, object).
    pub async fn events(&self, uid: &str) -> Vec<(String, Value)> {
        use sqlx::Row;
        sqlx::query("SELECT type, data FROM events WHERE account_uid = $1 ORDER BY created_at, id")
            .bind(uid)
            .fetch_all(self.db().pool())
            .await
            .unwrap()
            .iter()
            .map(|r| (r.get::<String, _>(0), serde_json::from_str(&r.get::<String, _>(1)).unwrap()))
            .collect()
    }
}

/// A card payment method with billing details.
pub fn card(number: &str) -> Value {
    let cvc = if number.starts_with("34") || number.starts_with("37") { "1234" } else { "123" };
    serde_json::json!({"type": "card", "card": {"number": number, "exp_month": 12, "exp_year": 2031, "cvc": cvc},
                       "billing": {"cardholder_name": "Alex Doe", "postal_code": "94107", "address_line1": "1 Main St"}})
}

pub fn ach(account: &str) -> Value {
    serde_json::json!({"type": "ach", "ach": {"routing_number": "110000000", "account_number": account,
                       "account_type": "checking", "account_holder_name": "Alex Doe"}})
}

pub const BOOTSTRAP_ID: &str = "multi-process-tests";
pub const BOOTSTRAP_SECRET: &str = "multi-process-secret-0123456789";

/// A real `govifi-server` process on the test's database (several may share it). Everything
/// it writes (stdout and stderr, start-up included) is kept, for tests that read its logs.
pub struct ServerProcess {
    pub url: String,
    child: tokio::process::Child,
    output: std::sync::Arc<std::sync::Mutex<String>>,
}

impl ServerProcess {
    /// With the bootstrap client's variables set.
    pub async fn start(app: &TestApp) -> ServerProcess {
        Self::start_with(
            app,
            &[("GOVIFI_BOOTSTRAP_CLIENT_ID", BOOTSTRAP_ID), ("GOVIFI_BOOTSTRAP_CLIENT_SECRET", BOOTSTRAP_SECRET)],
        )
        .await
    }

    pub async fn start_with(app: &TestApp, env: &[(&str, &str)]) -> ServerProcess {
        use tokio::io::AsyncBufReadExt;
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_govifi-server"));
        cmd.env("GOVIFI_BIND", "127.0.0.1:0")
            .env("GOVIFI_DATABASE_URL", &app.db.url)
            .env("GOVIFI_MASTER_KEY", app.state.config().master_key.to_base64())
            .env("GOVIFI_PUBLIC_URL", PUBLIC_URL)
            .env("GOVIFI_ASSETS_DIR", app.assets.path())
            .env("RUST_LOG", "warn")
            .env_remove("GOVIFI_BOOTSTRAP_CLIENT_ID")
            .env_remove("GOVIFI_BOOTSTRAP_CLIENT_SECRET")
            .current_dir(app.assets.path())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("govifi-server starts");
        let output = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let mut errors = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
        let kept = output.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = errors.next_line().await {
                eprintln!("[govifi-server] {line}");
                kept.lock().unwrap().push_str(&(line + "\n"));
            }
        });
        let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let kept = output.clone();
        let url = tokio::time::timeout(std::time::Duration::from_secs(30), async {
            while let Some(line) = lines.next_line().await.unwrap() {
                kept.lock().unwrap().push_str(&format!("{line}\n"));
                if let Some(url) = line.strip_prefix("govifi-server listening on ") {
                    return url.trim().to_owned();
                }
            }
            panic!("govifi-server exited before listening");
        })
        .await
        .expect("govifi-server listens within 30 s");
        // Keep draining (and keeping) its output so it never blocks on a full pipe.
        let kept = output.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                kept.lock().unwrap().push_str(&(line + "\n"));
            }
        });
        ServerProcess { url, child, output }
    }

    /// Waits (up to 30 s) until the process has written `text`.
    pub async fn wait_for_output(&self, text: &str) {
        for _ in 0..3000 {
            if self.output().contains(text) {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("govifi-server never wrote {text:?}: {}", self.output());
    }

    /// SIGKILL: the process dies at once, mid-whatever.
    pub async fn kill(mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }

    /// Everything the process has written so far.
    pub fn output(&self) -> String {
        self.output.lock().unwrap().clone()
    }

    /// SIGTERM, then wait for it to finish.
    /// SIGTERM, then wait for it to finish; everything it wrote.
    pub async fn stop(mut self) -> String {
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill").arg("-TERM").arg(pid.to_string()).status();
        }
        let _ = tokio::time::timeout(std::time::Duration::from_secs(10), self.child.wait()).await;
        // Let the readers take the last lines.
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        self.output()
    }
}

/// Which processor call an [`Interrupted`] processor stops in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    Authorize,
    Capture,
    Void,
    Refund,
}

/// Where it stops.
pub enum When {
    /// Hangs before the call: the server died before the call went out.
    Before,
    /// Makes the call, then hangs: the server died while the answer was on its way.
    After,
    /// Makes the call, then waits for the test to let its answer through.
    Gate(std::sync::Arc<tokio::sync::Notify>),
    /// Waits for the test, then makes the call: a call slow to reach the processor.
    GateBefore(std::sync::Arc<tokio::sync::Notify>),
    /// Waits for the test, makes the call, then hangs: a slow call that reached the processor
    /// just before its server died.
    GateBeforeThenHang(std::sync::Arc<tokio::sync::Notify>),
    /// Makes the call, then answers that the processor did not answer (its answer was lost).
    Lost,
    /// Answers that the processor did not answer, without making the call.
    Down,
    /// Answers that the processor refused the call outright (an instrument it will not take),
    /// without making it.
    Refuse,
}

/// The sandbox processor with one kind of call interrupted as `when` says; every other call
/// passes through.
pub struct Interrupted {
    inner: std::sync::Arc<server::processor::sandbox::Sandbox>,
    call: Call,
    when: When,
}

impl Interrupted {
    async fn around<T>(
        &self,
        call: Call,
        made: impl std::future::Future<Output = Result<T, server::processor::ProcessorError>>,
    ) -> Result<T, server::processor::ProcessorError> {
        let unanswered = || server::processor::ProcessorError::Unavailable(anyhow::anyhow!("no answer (test)"));
        if call != self.call {
            return made.await;
        }
        match &self.when {
            When::Before => std::future::pending().await,
            When::After => {
                let _ = made.await;
                std::future::pending().await
            }
            When::Gate(gate) => {
                let answer = made.await;
                gate.notified().await;
                answer
            }
            When::GateBefore(gate) => {
                gate.notified().await;
                made.await
            }
            When::GateBeforeThenHang(gate) => {
                gate.notified().await;
                let _ = made.await;
                std::future::pending().await
            }
            When::Lost => {
                let _ = made.await;
                Err(unanswered())
            }
            When::Down => Err(unanswered()),
            When::Refuse => Err(server::processor::ProcessorError::Refused("refused (test)")),
        }
    }
}

#[async_trait::async_trait]
impl server::processor::Processor for Interrupted {
    fn name(&self) -> &'static str {
        "interrupted"
    }
    async fn card_funding(&self, bin: &str) -> server::domain::account::Funding {
        self.inner.card_funding(bin).await
    }
    async fn tokenize(
        &self,
        i: server::processor::Instrument<'_>,
    ) -> Result<server::processor::Tokenized, server::processor::ProcessorError> {
        self.inner.tokenize(i).await
    }
    async fn authorize(
        &self,
        r: server::processor::AuthorizeRequest<'_>,
    ) -> Result<server::processor::Charge, server::processor::ProcessorError> {
        self.around(Call::Authorize, self.inner.authorize(r)).await
    }
    async fn lookup(
        &self,
        reference: &str,
    ) -> Result<Option<server::processor::Charge>, server::processor::ProcessorError> {
        self.inner.lookup(reference).await
    }
    async fn capture(
        &self,
        r: &str,
        amount: server::domain::money::Amount,
        reference: &str,
    ) -> Result<(), server::processor::ProcessorError> {
        self.around(Call::Capture, self.inner.capture(r, amount, reference)).await
    }
    async fn void(&self, r: &str, reference: &str) -> Result<(), server::processor::ProcessorError> {
        self.around(Call::Void, self.inner.void(r, reference)).await
    }
    async fn refund(
        &self,
        r: &str,
        amount: server::domain::money::Amount,
        reference: &str,
    ) -> Result<(), server::processor::ProcessorError> {
        self.around(Call::Refund, self.inner.refund(r, amount, reference)).await
    }
    async fn settlement(
        &self,
        r: &str,
        now: i64,
    ) -> Result<server::processor::Settlement, server::processor::ProcessorError> {
        self.inner.settlement(r, now).await
    }
}

/// A second router on the test's database whose processor is interrupted.
pub fn interrupted_router(app: &TestApp, call: Call, when: When) -> axum::Router {
    server::router(interrupted_state(app, call, when))
}

/// The app's state on the test's database with its processor interrupted (for background work).
pub fn interrupted_state(app: &TestApp, call: Call, when: When) -> server::AppState {
    let processor = std::sync::Arc::new(Interrupted { inner: app.state.sandbox(), call, when });
    server::AppState::with_processor(app.state.config().clone(), app.state.db().clone(), processor)
}

impl TestApp {
    /// `POST /api/payments/validate` with the merchant's key (and an `Idempotency-Key`).
    pub async fn validate(&self, m: &Merchant, body: Value, key: Option<&str>) -> TestResponse {
        self.payment_call(m, "/api/payments/validate", Some(body), key).await
    }

    /// A POST to a payment route with the merchant's key.
    pub async fn payment_call(&self, m: &Merchant, path: &str, body: Option<Value>, key: Option<&str>) -> TestResponse {
        let mut req = Request::post(path).header("authorization", format!("Bearer {}", m.key));
        if let Some(k) = key {
            req = req.header("idempotency-key", k);
        }
        self.request(with_json(req, body)).await
    }

    /// An authorized (or, with `capture`, captured) card payment of `amount`; its id.
    pub async fn authorized(&self, m: &Merchant, amount: i64, capture: bool) -> String {
        let r = self
            .validate(
                m,
                serde_json::json!({"amount": amount, "currency": "USD", "payment_method": card("4242424242424242"), "capture": capture}),
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        r.json()["id"].as_str().unwrap().to_owned()
    }

    /// A payment as the API shows it.
    pub async fn payment(&self, m: &Merchant, id: &str) -> Value {
        let r = self.call(Method::GET, format!("/api/payments/{id}"), Auth::Bearer(&m.key), None).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        r.json()
    }

    /// The payment's ledger: (type, amount) in order.
    pub async fn ledger(&self, m: &Merchant, id: &str) -> Vec<(String, i64)> {
        let r = self.call(Method::GET, format!("/api/payments/{id}/transactions"), Auth::Bearer(&m.key), None).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        r.json()["value"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| (t["type"].as_str().unwrap().to_owned(), t["amount"].as_i64().unwrap()))
            .collect()
    }

    /// Checks the ledger against the payment: captures (and ACH settlements) add up to
    /// `amount_captured`, refunds to `amount_refunded`, and the processor's own record agrees.
    pub async fn assert_books_balance(&self, m: &Merchant, id: &str) -> Value {
        let p = self.payment(m, id).await;
        let ledger = self.ledger(m, id).await;
        let sum =
            |kinds: &[&str]| ledger.iter().filter(|(k, _)| kinds.contains(&k.as_str())).map(|(_, a)| a).sum::<i64>();
        assert_eq!(
            sum(&["capture", "settlement"]),
            p["amount_captured"].as_i64().unwrap(),
            "captures: {ledger:?} vs {p}"
        );
        assert_eq!(sum(&["refund"]), p["amount_refunded"].as_i64().unwrap(), "refunds: {ledger:?} vs {p}");
        use sqlx::Row;
        let at_processor: Option<(i64, i64)> = sqlx::query(
            "SELECT c.captured, c.refunded FROM sandbox_charges c JOIN payments p ON p.processor_ref = c.processor_ref WHERE p.id = $1",
        )
        .bind(id)
        .fetch_optional(self.db().pool())
        .await
        .unwrap()
        .map(|r| (r.get(0), r.get(1)));
        if let Some((captured, refunded)) = at_processor {
            assert_eq!(refunded, p["amount_refunded"].as_i64().unwrap(), "the processor's refunds");
            if p["status"] != "authorized" && p["status"] != "voided" && p["status"] != "failed" {
                assert_eq!(captured, p["amount_captured"].as_i64().unwrap(), "the processor's captures");
            }
        }
        p
    }

    /// Refunds recorded at the sandbox processor for a payment (its own record).
    pub async fn processor_refunds(&self, payment_id: &str) -> i64 {
        use sqlx::Row;
        sqlx::query(
            "SELECT COUNT(*) FROM sandbox_operations o JOIN payments p ON p.processor_ref = o.processor_ref \
             WHERE p.id = $1 AND o.kind = 'refund'",
        )
        .bind(payment_id)
        .fetch_one(self.db().pool())
        .await
        .unwrap()
        .get(0)
    }
}

/// A webhook receiver on loopback: it records every request and answers with the statuses it
/// is given, in order (the last one from then on), optionally with headers, or holds requests.
#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    received: std::sync::Arc<std::sync::Mutex<Vec<Received>>>,
    script: std::sync::Arc<std::sync::Mutex<Vec<Answer>>>,
    hold: std::sync::Arc<tokio::sync::Semaphore>,
    holding: std::sync::Arc<std::sync::atomic::AtomicBool>,
    body: std::sync::Arc<std::sync::Mutex<String>>,
}

/// A status to answer with and extra headers.
type Answer = (u16, Vec<(String, String)>);

#[derive(Debug, Clone)]
pub struct Received {
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Received {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
    }
}

impl Receiver {
    pub async fn start() -> Receiver {
        let receiver = Receiver {
            url: String::new(),
            received: Default::default(),
            script: std::sync::Arc::new(std::sync::Mutex::new(vec![(200, vec![])])),
            hold: std::sync::Arc::new(tokio::sync::Semaphore::new(0)),
            holding: Default::default(),
            body: std::sync::Arc::new(std::sync::Mutex::new("thanks, from the receiver".to_owned())),
        };
        let inner = receiver.clone();
        let app = axum::Router::new().fallback(move |headers: HeaderMap, body: axum::body::Bytes| {
            let inner = inner.clone();
            async move {
                inner.received.lock().unwrap().push(Received { headers, body: body.to_vec() });
                if inner.holding.load(std::sync::atomic::Ordering::SeqCst) {
                    let _ = inner.hold.acquire().await.map(|p| p.forget());
                }
                let (status, extra) = {
                    let mut script = inner.script.lock().unwrap();
                    if script.len() > 1 { script.remove(0) } else { script[0].clone() }
                };
                let body = inner.body.lock().unwrap().clone();
                let mut response =
                    axum::response::IntoResponse::into_response((StatusCode::from_u16(status).unwrap(), body));
                for (k, v) in extra {
                    response.headers_mut().insert(HeaderName::try_from(k).unwrap(), HeaderValue::from_str(&v).unwrap());
                }
                response
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hooks", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Receiver { url, ..receiver }
    }

    /// The statuses to answer with, in order; the last one stays.
    pub fn answer(&self, statuses: &[u16]) {
        *self.script.lock().unwrap() = statuses.iter().map(|s| (*s, vec![])).collect();
    }

    pub fn answer_with(&self, status: u16, headers: &[(&str, &str)]) {
        let extra = headers.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        *self.script.lock().unwrap() = vec![(status, extra)];
    }

    /// The body every answer carries from now on.
    pub fn answer_body(&self, body: &str) {
        *self.body.lock().unwrap() = body.to_owned();
    }

    /// Requests are held (not answered) until `release`.
    pub fn hold(&self) {
        self.holding.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    pub fn release(&self) {
        self.holding.store(false, std::sync::atomic::Ordering::SeqCst);
        self.hold.add_permits(1000);
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// Waits (up to 10 s) until `n` requests have arrived.
    pub async fn wait_for(&self, n: usize) -> Vec<Received> {
        for _ in 0..1000 {
            let got = self.received();
            if got.len() >= n {
                return got;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("the receiver got {} requests, not {n}", self.received().len());
    }
}
