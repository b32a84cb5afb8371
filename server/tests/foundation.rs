//! The skeleton: operations endpoints, the error shape of every rejection, the element's
//! assets, pages' headers, start-up bootstrap, storage settings and graceful shutdown.

mod support;

use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, StatusCode};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;
use server::app;
use server::bootstrap::ensure_sandbox_demo;
use server::store::{accounts, app_clients};
use sqlx::Row;
use support::{Database, TestApp, TestResponse};
use tower::ServiceExt;

/// A body type like the API's: unknown properties are refused.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Probe {
    amount: i64,
    card: Option<ProbeCard>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct ProbeCard {
    number: String,
}

/// A route using our `Json` extractor, mounted under the production middleware.
async fn probe_router() -> axum::Router {
    app::with_middleware(axum::Router::new().route(
        "/probe",
        post(|server::extract::Json(p): server::extract::Json<Probe>| async move { p.amount.to_string() }),
    ))
}

async fn post_probe(body: Vec<u8>, content_type: Option<&str>) -> TestResponse {
    let mut req = axum::http::Request::post("/probe");
    if let Some(ct) = content_type {
        req = req.header("content-type", ct);
    }
    let response = probe_router().await.oneshot(req.body(Body::from(body)).unwrap()).await.unwrap();
    TestResponse::read(response).await
}

#[tokio::test]
async fn malformed_json_is_400_invalid_json_with_the_request_id() {
    let r = post_probe(b"{\"amount\": ".to_vec(), Some("application/json")).await;
    let error = r.assert_error(400, "invalid_json");
    assert_eq!(error["type"], "invalid_request_error");
}

#[tokio::test]
async fn an_unknown_field_is_400_unknown_field_naming_it() {
    let r = post_probe(br#"{"amount": 5, "colour": "red"}"#.to_vec(), Some("application/json")).await;
    let error = r.assert_error(400, "unknown_field");
    assert_eq!(error["param"], "colour");
    let r = post_probe(br#"{"amount": 5, "card": {"number": "1", "pin": "0000"}}"#.to_vec(), None).await;
    assert_eq!(r.assert_error(400, "unknown_field")["param"], "card.pin");
}

#[tokio::test]
async fn a_wrong_type_or_missing_field_names_the_param() {
    let r = post_probe(br#"{"amount": "five"}"#.to_vec(), Some("application/json")).await;
    assert_eq!(r.assert_error(400, "parameter_invalid")["param"], "amount");
    let r = post_probe(br#"{}"#.to_vec(), Some("application/json")).await;
    assert_eq!(r.assert_error(400, "parameter_missing")["param"], "amount");
}

#[tokio::test]
async fn a_65_kib_body_is_413_payload_too_large() {
    let padding = "x".repeat(65 * 1024);
    let body = format!(r#"{{"amount": 5, "pad": "{padding}"}}"#).into_bytes();
    let r = post_probe(body, Some("application/json")).await;
    r.assert_error(413, "payload_too_large");
    // Just under the limit is read (and then judged on its content).
    let body = format!(r#"{{"amount": 5, "pad": "{}"}}"#, "x".repeat(60 * 1024)).into_bytes();
    post_probe(body, Some("application/json")).await.assert_error(400, "unknown_field");
}

#[tokio::test]
async fn a_non_json_content_type_is_refused_in_our_shape() {
    let r = post_probe(b"amount=5".to_vec(), Some("application/x-www-form-urlencoded")).await;
    r.assert_error(415, "unsupported_media_type");
}

#[tokio::test]
async fn only_json_media_types_are_read_as_json() {
    for ct in
        ["application/json", "application/json; charset=utf-8", "Application/JSON", "application/merge-patch+json"]
    {
        let r = post_probe(br#"{"amount": 5}"#.to_vec(), Some(ct)).await;
        assert_eq!((r.status, r.text()), (StatusCode::OK, "5".to_owned()), "{ct}");
    }
    // Names that merely begin like JSON's, or hold `+json` elsewhere, are other media types.
    for ct in ["application/jsonp", "application/json-seq", "application/+json", "application/x+json.evil", "text/json"]
    {
        post_probe(br#"{"amount": 5}"#.to_vec(), Some(ct)).await.assert_error(415, "unsupported_media_type");
    }
}

#[tokio::test]
async fn a_handler_panic_is_never_reached_by_bad_input_and_internal_errors_hide_details() {
    let router = app::with_middleware(axum::Router::new().route(
        "/boom",
        get(|| async {
            Err::<(), _>(server::error::ApiError::Internal(anyhow::anyhow!("secret detail: db password")))
        }),
    ));
    let response = router.oneshot(axum::http::Request::get("/boom").body(Body::empty()).unwrap()).await.unwrap();
    let r = TestResponse::read(response).await;
    r.assert_error(500, "api_error");
    assert!(!r.text().contains("secret detail"), "internals never reach the client: {}", r.text());
}

#[tokio::test]
async fn a_handler_that_panics_answers_the_error_object_with_its_request_id() {
    let router = app::with_middleware(axum::Router::new().route(
        "/panics",
        get(|| async {
            if std::hint::black_box(true) {
                panic!("secret detail: an index out of bounds");
            }
        }),
    ));
    let response = router.oneshot(axum::http::Request::get("/panics").body(Body::empty()).unwrap()).await.unwrap();
    let r = TestResponse::read(response).await;
    let error = r.assert_error(500, "api_error");
    assert!(!r.text().contains("secret detail"), "{}", r.text());
    assert_eq!(error["request_id"].as_str(), r.header("x-request-id"), "the answer names its request");
}

#[tokio::test]
async fn graceful_shutdown_finishes_requests_in_flight() {
    // The handler says when it has the request, so the stop comes while it is in flight.
    let inside = std::sync::Arc::new(tokio::sync::Notify::new());
    let arrived = inside.clone();
    let router = axum::Router::new().route(
        "/slow",
        get(move || async move {
            arrived.notify_one();
            tokio::time::sleep(Duration::from_millis(400)).await;
            "done"
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app::serve(listener, router, async move {
        let _ = stop_rx.await;
    }));
    let in_flight = tokio::spawn(async move {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        stream.write_all(b"GET /slow HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await.unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap();
        response
    });
    tokio::time::timeout(Duration::from_secs(10), inside.notified()).await.expect("the request arrives");
    stop_tx.send(()).unwrap();
    let response = in_flight.await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.ends_with("done"), "{response}");
    tokio::time::timeout(Duration::from_secs(5), server).await.expect("server stops").unwrap().unwrap();
    assert!(tokio::net::TcpStream::connect(addr).await.is_err(), "no longer accepting");
}

#[tokio::test]
async fn a_shutdown_waits_for_requests_in_flight_only_until_its_deadline() {
    let inside = std::sync::Arc::new(tokio::sync::Notify::new());
    let arrived = inside.clone();
    let router = axum::Router::new().route(
        "/stuck",
        get(move || async move {
            arrived.notify_one();
            std::future::pending::<&'static str>().await
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let limits = app::ConnectionLimits { drain_timeout: Duration::from_millis(300), ..Default::default() };
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app::serve_with(
        listener,
        router,
        async move {
            let _ = stop_rx.await;
        },
        limits,
    ));
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    use tokio::io::AsyncWriteExt;
    stream.write_all(b"GET /stuck HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), inside.notified()).await.expect("the request arrives");
    let stopping = std::time::Instant::now();
    stop_tx.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("the server stops at the drain deadline, not when the stuck request ends")
        .unwrap()
        .unwrap();
    assert!(stopping.elapsed() >= Duration::from_millis(300), "it waited for the request first");
}

#[tokio::test]
async fn a_client_that_trickles_its_request_is_cut_off() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let router = axum::Router::new()
        .route("/", get(|| async { "hello" }))
        .route("/echo", axum::routing::post(|body: axum::body::Bytes| async move { format!("{} bytes", body.len()) }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let limits = app::ConnectionLimits {
        header_read_timeout: Duration::from_millis(300),
        body_read_timeout: Duration::from_millis(300),
        max_connections: 2,
        drain_timeout: Duration::from_secs(5),
    };
    tokio::spawn(app::serve_with(listener, router, std::future::pending::<()>(), limits));
    // A connection that never sends a byte, and one left idle after its answer: both closed.
    let mut silent = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), silent.read_to_end(&mut answer)).await;
    assert!(read.is_ok() && answer.is_empty(), "a silent connection is closed after the header deadline");
    let mut idle = tokio::net::TcpStream::connect(addr).await.unwrap();
    idle.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), idle.read_to_end(&mut answer)).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(read.is_ok(), "an idle keep-alive connection is closed after the header deadline");
    assert!(answer.starts_with("HTTP/1.1 200") && answer.ends_with("hello"), "{answer}");
    // Headers never finished: the connection is closed, not kept.
    let mut slow = tokio::net::TcpStream::connect(addr).await.unwrap();
    slow.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").await.unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), slow.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "closed after the header deadline");
    // A body that stops half way: the request fails instead of waiting for it.
    let mut half = tokio::net::TcpStream::connect(addr).await.unwrap();
    half.write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789").await.unwrap();
    let mut answer = String::new();
    let read = tokio::time::timeout(Duration::from_secs(5), half.read_to_string(&mut answer)).await;
    assert!(read.is_ok(), "answered or closed after the body deadline");
    assert!(!answer.ends_with(" bytes"), "the handler never saw a whole body: {answer}");
    // Two connections are the limit: a third waits until one closes.
    let held: Vec<_> = futures_util::future::join_all((0..2).map(|_| tokio::net::TcpStream::connect(addr))).await;
    let mut third = tokio::net::TcpStream::connect(addr).await.unwrap();
    third.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await.unwrap();
    let mut answer = String::new();
    let waited = tokio::time::timeout(Duration::from_millis(150), third.read_to_string(&mut answer)).await;
    assert!(waited.is_err(), "not served while two connections are open: {answer}");
    drop(held);
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(5), third.read_to_string(&mut answer)).await.unwrap().unwrap();
    assert!(answer.starts_with("HTTP/1.1 200") && answer.ends_with("hello"), "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_statement_past_its_timeout_is_cancelled_and_answered_503() {
    let Some(app) = TestApp::spawn(Database::Postgres).await else {
        support::no_postgres();
        return;
    };
    // Every connection of the pool has a statement timeout (a lock wait behind a stuck process
    // does not hold a request for ever)...
    let timeout: String = sqlx::query_scalar("SHOW statement_timeout").fetch_one(app.db().pool()).await.unwrap();
    assert_eq!(timeout, "1min");
    // ...and a statement PostgreSQL cancelled is the database being busy, not a bug: 503.
    let mut conn = app.db().pool().acquire().await.unwrap();
    sqlx::Executor::execute(&mut *conn, "SET statement_timeout = '10ms'").await.unwrap();
    let err = sqlx::query("SELECT pg_sleep(1)").execute(&mut *conn).await.unwrap_err();
    sqlx::Executor::execute(&mut *conn, server::store::STATEMENT_TIMEOUT).await.unwrap();
    let answer = axum::response::IntoResponse::into_response(server::error::ApiError::from(err));
    assert_eq!(answer.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(answer.headers().get("retry-after").and_then(|v| v.to_str().ok()), Some("1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sqlite_file_another_process_holds_past_the_busy_timeout_is_answered_503() {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("busy.db").display());
    // Another process holds the file's write lock (a migration building an index, say)...
    let mut other = sqlx::AnyConnection::connect(&url).await.unwrap();
    sqlx::Executor::execute(&mut other, "CREATE TABLE t (x BIGINT)").await.unwrap();
    sqlx::Executor::execute(&mut other, "BEGIN EXCLUSIVE").await.unwrap();
    // ...past this connection's busy timeout: the database being busy, not a bug: 503.
    let mut conn = sqlx::AnyConnection::connect(&url).await.unwrap();
    sqlx::Executor::execute(&mut conn, "PRAGMA busy_timeout = 10").await.unwrap();
    let err = sqlx::query("INSERT INTO t (x) VALUES (1)").execute(&mut conn).await.unwrap_err();
    let answer = axum::response::IntoResponse::into_response(server::error::ApiError::from(err));
    assert_eq!(answer.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(answer.headers().get("retry-after").and_then(|v| v.to_str().ok()), Some("1"));
    sqlx::Executor::execute(&mut other, "ROLLBACK").await.unwrap();
}

db_tests! {
    async fn health_and_readiness(app) {
        let r = app.get("/healthz").await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.json()["status"], "ok");
        assert!(r.header("x-request-id").unwrap().starts_with("req_"));
        let r = app.get("/readyz").await;
        assert_eq!(r.status, StatusCode::OK);
        let expected = match app.db.kind { Database::Sqlite => "sqlite", Database::Postgres => "postgres" };
        assert_eq!(r.json()["database"], expected);
    }

    async fn readiness_fails_when_the_database_is_gone(app) {
        let m = app.merchant().await;
        app.db().close().await;
        // An API call that can't have a connection did nothing: 503 and when to come back.
        let r = app.call(Method::GET, "/api/customers", support::Auth::Bearer(&m.key), None).await;
        r.assert_error(503, "service_unavailable");
        assert_eq!(r.header("retry-after"), Some("1"));
        let r = app.get("/readyz").await;
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(r.json()["status"], "unavailable");
        assert_eq!(app.get("/healthz").await.status, StatusCode::OK, "liveness does not depend on the database");
    }

    async fn request_ids_differ_per_request(app) {
        let a = app.get("/healthz").await;
        let b = app.get("/healthz").await;
        assert_ne!(a.header("x-request-id"), b.header("x-request-id"));
        // A client cannot choose its request id (ids are ours, for logs and support).
        let r = app.send(Method::GET, "/healthz", &[("x-request-id", "req_mine")], Body::empty()).await;
        assert_ne!(r.header("x-request-id"), Some("req_mine"));
    }

    async fn metrics_are_prometheus_text_labelled_by_route(app) {
        app.get("/healthz").await;
        let r = app.get("/metrics").await;
        assert_eq!(r.status, StatusCode::OK);
        assert!(r.header("content-type").unwrap().starts_with("text/plain"));
        let text = r.text();
        assert!(text.contains("# TYPE govifi_http_requests_total counter"), "{text}");
        assert!(text.contains(r#"route="/healthz""#), "{text}");
        assert!(text.contains("govifi_http_request_duration_seconds_bucket"), "{text}");
        assert!(text.contains("govifi_db_pool_connections"), "{text}");
        // A made-up method is counted, under `other`: callers cannot mint series.
        let odd = Method::from_bytes(b"FROBNICATE9").unwrap();
        app.send(odd, "/healthz", &[], Body::empty()).await;
        let text = app.get("/metrics").await.text();
        assert!(!text.contains("FROBNICATE9"), "{text}");
        assert!(text.contains(r#"method="other""#), "{text}");
    }

    async fn openapi_is_3_1_and_describes_the_routes_and_credentials(app) {
        let r = app.get("/openapi.json").await;
        assert_eq!(r.status, StatusCode::OK);
        let doc = r.json();
        assert_eq!(doc["openapi"], "3.1.0");
        assert!(doc["paths"]["/healthz"]["get"].is_object(), "{doc}");
        assert!(doc["paths"]["/readyz"]["get"].is_object());
        let schemes = &doc["components"]["securitySchemes"];
        for scheme in ["admin_token", "api_key", "session_credential", "wallet_credential"] {
            assert_eq!(schemes[scheme]["scheme"], "bearer", "{scheme}");
        }
        // Every operation declares its path parameters and the errors any route can answer.
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                let declared: Vec<&str> = op["parameters"].as_array().into_iter().flatten()
                    .filter(|p| p["in"] == "path").map(|p| p["name"].as_str().unwrap()).collect();
                for name in path.split('{').skip(1).map(|rest| rest.split('}').next().unwrap()) {
                    assert!(declared.contains(&name), "{method} {path} does not declare {name}");
                }
                assert!(op["responses"]["400"].is_object() && op["responses"]["429"].is_object(), "{method} {path}");
                if op["security"].as_array().is_some_and(|s| !s.is_empty()) {
                    assert_eq!(op["responses"]["401"]["content"]["application/json"]["schema"]["$ref"], "#/components/schemas/Error");
                    assert!(op["responses"]["503"].is_object(), "{method} {path}: a database that does not answer");
                }
                // Every list's 200 has the list's body (so the fuzzing checks it).
                if op["responses"]["200"]["description"].as_str().is_some_and(|d| d.starts_with("{value")) {
                    assert_eq!(op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"], "#/components/schemas/List", "{method} {path}");
                }
            }
        }
        assert_eq!(doc["paths"]["/api/payments"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]["$ref"], "#/components/schemas/List");
        assert_eq!(doc["components"]["schemas"]["List"]["required"], serde_json::json!(["value"]));
        // Enums are documented with the words on the wire, not Rust's variant names.
        let words = |name: &str| doc["components"]["schemas"][name]["enum"].clone();
        assert!(words("PaymentStatus").as_array().unwrap().contains(&"partially_refunded".into()), "{}", words("PaymentStatus"));
        assert!(words("EventType").as_array().unwrap().contains(&"checkout.session.completed".into()));
        assert_eq!(words("MethodType"), serde_json::json!(["card", "ach", "apple_pay"]));
    }

    async fn the_api_console_is_served_by_us(app) {
        let r = app.get("/docs/").await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.header("x-frame-options"), Some("DENY"), "never framed");
        let csp = r.header("content-security-policy").unwrap();
        assert!(csp.contains("frame-ancestors 'none'") && csp.contains("script-src 'self';") && csp.contains("connect-src 'self'"), "{csp}");
        assert!(!csp.contains("unsafe-eval") && !csp.split(';').any(|d| d.contains("script-src") && d.contains("unsafe-inline")), "{csp}");
        assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
        assert!(r.header("strict-transport-security").is_none(), "not over http");
        let html = r.text();
        assert!(html.contains("swagger-ui"), "{html}");
        assert!(!html.contains("https://"), "no CDN: every asset comes from this server");
        let init = app.get("/docs/swagger-initializer.js").await;
        assert_eq!(init.status, StatusCode::OK);
        assert!(init.text().contains("/openapi.json"));
        assert!(init.text().contains(r#""validatorUrl": "none""#), "no badge from swagger.io: {}", init.text());
        assert_eq!(app.get("/docs/swagger-ui-bundle.js").await.status, StatusCode::OK);
    }

    async fn no_cache_keeps_an_answer_unless_it_is_a_public_file(app) {
        let m = app.merchant().await;
        let no_store = |r: &support::TestResponse, what: &str| assert_eq!(r.header("cache-control"), Some("no-store"), "{what}");
        // A client secret, shown once at creation and in every read of the session.
        let created = app.call(Method::POST, "/v1/hosted-sessions", support::Auth::Bearer(&m.key),
            Some(serde_json::json!({"amount": 500, "currency": "USD", "success_url": "https://a.example/s", "cancel_url": "https://a.example/c", "customer_email": "c@example.com"}))).await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.text());
        no_store(&created, "a created session");
        let id = created.json()["session_id"].as_str().unwrap().to_owned();
        no_store(&app.call(Method::GET, format!("/v1/hosted-sessions/{id}"), support::Auth::Bearer(&m.key), None).await, "a session read back");
        no_store(&app.call(Method::GET, "/v1/hosted-sessions", support::Auth::Bearer(&m.key), None).await, "the sessions' list");
        // A signing secret, shown once.
        let receiver = support::Receiver::start().await;
        let hook = app.call(Method::POST, "/api/webhooks", support::Auth::Bearer(&m.key), Some(serde_json::json!({"url": receiver.url, "events": ["*"]}))).await;
        assert_eq!(hook.status, StatusCode::CREATED, "{}", hook.text());
        no_store(&hook, "a webhook with its secret");
        // The sandbox's outbox holds challenge codes; an error answer is no one's to keep either.
        no_store(&app.call(Method::GET, "/api/outbox", support::Auth::Bearer(&m.token), None).await, "the outbox");
        no_store(&app.get("/no/such/route").await, "a 404");
        // The issuer's public keys keep their own rule (verifiers may cache them).
        let keys = app.get("/.well-known/jwks.json").await;
        assert_eq!(keys.status, StatusCode::OK);
        assert_ne!(keys.header("cache-control"), Some("no-store"), "public keys may be cached");
    }

    async fn every_api_route_refuses_a_bad_idempotency_key(app) {
        let m = app.merchant().await;
        let long = "k".repeat(256);
        // A route that takes no key (customers) refuses one it cannot keep, and creates nothing.
        let req = axum::http::Request::post("/api/customers")
            .header("authorization", format!("Bearer {}", m.key))
            .header("content-type", "application/json")
            .header("idempotency-key", long.as_str())
            .body(Body::from(json!({"name": "Kay"}).to_string()))
            .unwrap();
        let r = app.request(req).await;
        assert_eq!(r.assert_error(400, "parameter_invalid")["param"], "Idempotency-Key");
        let listed = app.call(Method::GET, "/api/customers", support::Auth::Bearer(&m.key), None).await.json();
        assert_eq!(listed["value"], json!([]), "{listed}");
        // 255 characters is a key.
        let req = axum::http::Request::post("/api/customers")
            .header("authorization", format!("Bearer {}", m.key))
            .header("content-type", "application/json")
            .header("idempotency-key", &long[..255])
            .body(Body::from(json!({"name": "Kay"}).to_string()))
            .unwrap();
        assert_eq!(app.request(req).await.status, StatusCode::CREATED);
    }

    async fn unknown_routes_and_methods_answer_the_error_object(app) {
        app.get("/no/such/route").await.assert_error(404, "resource_missing");
        // The server's bare prefixes are routes that do not exist, not a hosted page's session id.
        for path in ["/api", "/v1", "/oauth2", "/.well-known", "/sdk", "/static"] {
            let r = app.get(path).await;
            r.assert_error(404, "resource_missing");
            assert!(r.header("content-type").is_some_and(|c| c.starts_with("application/json")), "{path}");
            app.send(Method::POST, path, &[], Body::empty()).await.assert_error(404, "resource_missing");
        }
        let r = app.send(Method::DELETE, "/healthz", &[], Body::empty()).await;
        r.assert_error(405, "method_not_allowed");
        assert!(r.header("allow").is_some());
    }

    async fn text_with_a_nul_character_is_refused_as_bad_input_everywhere(app) {
        // PostgreSQL's text cannot hold U+0000: wherever a caller can put one, the answer is the
        // 4xx for bad input, never a 500 (SQLite would keep it; both refuse alike).
        let m = app.merchant().await;
        let create = |body: serde_json::Value| app.call(Method::POST, "/v1/hosted-sessions", support::Auth::Bearer(&m.key), Some(body));
        let base = || json!({"amount": 500, "currency": "USD", "success_url": "https://shop.example/ok", "cancel_url": "https://shop.example/no"});
        let mut body = base();
        body["description"] = json!("bad\u{0}text");
        let r = create(body).await;
        r.assert_error(400, "parameter_invalid");
        assert_eq!(r.json()["error"]["param"], "description");
        let mut body = base();
        body["line_items"] = json!([{"name": "ok", "amount": 500, "quantity": 1}, {"name": "x\u{0}", "amount": 0, "quantity": 1}]);
        assert_eq!(create(body).await.json()["error"]["param"], "line_items[1].name");
        let mut body = base();
        body["metadata"] = json!({"k\u{0}": "v"});
        create(body).await.assert_error(400, "parameter_invalid");
        // An escaped backslash before "u0000" is ordinary text.
        let mut body = base();
        body["description"] = json!("C:\\u0000");
        let r = create(body).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        assert_eq!(r.json()["description"], "C:\\u0000");

        let list = app.call(Method::GET, "/api/payments?$filter=reference%20eq%20'a%00b'", support::Auth::Bearer(&m.key), None).await;
        list.assert_error(400, "invalid_odata");
        for path in ["/api/payments/%00", "/v1/hosted-sessions/cs_%00", "/api/customers/cus_%00x"] {
            let r = app.call(Method::GET, path, support::Auth::Bearer(&m.key), None).await;
            assert!(r.status.is_client_error(), "{path}: {} {}", r.status, r.text());
        }
        // A browser call whose path names no session id the credential could have: another
        // session's (403), on both databases alike (PostgreSQL was asked, and refused the NUL).
        let s = app.session(&m, json!({})).await;
        let secret = s["client_secret"].as_str().unwrap();
        let r = app.browser_with(Method::GET, "cs_%00", secret, "config", None, &[], None).await;
        r.assert_error(403, "session_mismatch");
        let token = app
            .send(Method::POST, "/oauth2/token", &[("content-type", "application/x-www-form-urlencoded")],
                Body::from("grant_type=client_credentials&client_id=%00&client_secret=x"))
            .await;
        assert_eq!(token.status, StatusCode::UNAUTHORIZED, "{}", token.text());
        use base64::Engine;
        let b64 = |v: serde_json::Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
        let forged = format!(
            "{}.{}.c2ln",
            b64(json!({"alg": "RS256", "typ": "JWT", "kid": "\u{0}"})),
            b64(json!({"iss": support::PUBLIC_URL, "sub": "x", "exp": 4_000_000_000u64}))
        );
        let r = app.call(Method::GET, "/api/clients", support::Auth::Bearer(&forged), None).await;
        r.assert_error(401, "unauthenticated");
    }

    async fn the_element_script_loads_its_hashed_files_from_any_origin(app) {
        let r = app.get("/sdk/govifi-payment.js").await;
        assert_eq!(r.status, StatusCode::OK);
        assert!(r.header("content-type").unwrap().starts_with("text/javascript"));
        assert_eq!(r.header("access-control-allow-origin"), Some("*"));
        assert_eq!(r.header("cache-control"), Some("no-cache"));
        // The checkout and the wallet bundles, each loaded only when an element needs it.
        let bundles = r#"{ checkout: ["/assets/checkout-0123abcd4567cdef/govifi-payment.js", "/assets/checkout-0123abcd4567cdef/govifi-payment_bg.wasm"], wallet: ["/assets/wallet/govifi-wallet-4567cdef.js", "/assets/wallet/govifi-wallet-4567cdef_bg.wasm"] }"#;
        assert!(r.text().contains(bundles), "{}", r.text());
        assert!(r.text().contains("customElements.define(\"govifi-payment\""), "{}", r.text());
        let etag = r.header("etag").unwrap().to_owned();
        let again = app.send(Method::GET, "/sdk/govifi-payment.js", &[("if-none-match", &etag)], Body::empty()).await;
        assert_eq!(again.status, StatusCode::NOT_MODIFIED);

        let wasm = app.get("/assets/checkout-0123abcd4567cdef/govifi-payment_bg.wasm").await;
        assert_eq!(wasm.status, StatusCode::OK);
        assert_eq!(wasm.header("content-type"), Some("application/wasm"));
        assert_eq!(wasm.header("cache-control"), Some("public, max-age=31536000, immutable"));
        assert_eq!(wasm.header("access-control-allow-origin"), Some("*"));
        // The split checkout's chunks and the module that loads them, beside it in its folder.
        for chunk in ["split_challenge_part_1.wasm", "__wasm_split.js"] {
            let r = app.get(&format!("/assets/checkout-0123abcd4567cdef/{chunk}")).await;
            assert_eq!(r.status, StatusCode::OK, "{chunk}");
            assert_eq!(r.header("cache-control"), Some("public, max-age=31536000, immutable"), "{chunk}");
            assert_eq!(r.header("access-control-allow-origin"), Some("*"), "{chunk}");
        }
        let wallet = app.get("/assets/wallet/govifi-wallet-4567cdef_bg.wasm").await;
        assert_eq!(wallet.status, StatusCode::OK);
        assert_eq!(wallet.header("cache-control"), Some("public, max-age=31536000, immutable"));
        for page in ["/assets/index.html", "/assets/index%2ehtml", "/assets/wallet/index%2Ehtml", "/assets/wallet/"] {
            app.get(page).await.assert_error(404, "resource_missing");
        }
        app.get("/assets/nothing-here.js").await.assert_error(404, "resource_missing");
    }

    async fn the_element_is_sent_compressed_to_browsers_that_accept_it(app) {
        let wasm = "/assets/checkout-0123abcd4567cdef/govifi-payment_bg.wasm";
        let get = async |encodings: &str| app.send(Method::GET, wasm, &[("accept-encoding", encodings)], Body::empty()).await;
        let br = get("gzip, deflate, br, zstd").await;
        assert_eq!(br.status, StatusCode::OK);
        assert_eq!(br.header("content-encoding"), Some("br"));
        assert_eq!(br.header("content-type"), Some("application/wasm"));
        assert_eq!(br.body, b"brotli stand-in");
        assert!(br.header("vary").is_some_and(|v| v.to_ascii_lowercase().contains("accept-encoding")));
        let gz = get("gzip").await;
        assert_eq!(gz.header("content-encoding"), Some("gzip"));
        assert_eq!(gz.body, b"gzip stand-in");
        let plain = get("identity").await;
        assert_eq!(plain.header("content-encoding"), None);
        assert_eq!(plain.body, b"\0asm\x01\0\0\0");

        let loader = app.send(Method::GET, "/sdk/govifi-payment.js", &[("accept-encoding", "gzip")], Body::empty()).await;
        assert_eq!(loader.status, StatusCode::OK);
        assert_eq!(loader.header("content-encoding"), Some("gzip"));
        let mut text = String::new();
        std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&loader.body[..]), &mut text).unwrap();
        assert!(text.contains("customElements.define(\"govifi-payment\""), "{text}");
    }

    async fn pages_send_a_strict_content_security_policy(app) {
        let r = app.get("/demo").await;
        assert_eq!(r.status, StatusCode::OK);
        let csp = r.header("content-security-policy").unwrap();
        assert!(csp.contains("script-src 'self' 'wasm-unsafe-eval'"), "{csp}");
        assert!(!csp.contains("unsafe-inline"), "{csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert_eq!(r.header("referrer-policy"), Some("no-referrer"));
        assert_eq!(r.header("cache-control"), Some("no-store"));
        let html = r.text();
        assert!(html.contains(r#"<script type="module" src="/sdk/govifi-payment.js"></script>"#));
        assert!(!html.contains("<script>"), "no inline script");
        let css = html.split("href=\"").nth(1).unwrap().split('"').next().unwrap();
        let sheet = app.get(css).await;
        assert_eq!(sheet.status, StatusCode::OK);
        assert!(sheet.header("cache-control").unwrap().contains("immutable"));
    }

    async fn migrations_can_run_again(app) {
        app.db().migrate().await.expect("second run is a no-op");
        app.db().migrate().await.expect("third run too");
    }

    async fn the_sandbox_demo_is_created_exactly_once(app) {
        let (a, b) = tokio::join!(ensure_sandbox_demo(&app.state), ensure_sandbox_demo(&app.state));
        let created: Vec<_> = [a.unwrap(), b.unwrap()].into_iter().flatten().collect();
        assert!(!created.is_empty());
        let fresh: Vec<_> = created.iter().filter(|d| d.redirect_signing_secret.is_some()).collect();
        assert_eq!(fresh.len(), 1, "exactly one call created the demo");
        let demo = fresh[0];
        assert!(demo.redirect_signing_secret.as_ref().unwrap().starts_with("grs_"));
        assert_eq!(demo.redirect_signing_secret.as_ref().unwrap().len(), 4 + 43);
        let account = accounts::get(app.db(), &demo.account_uid).await.unwrap().expect("demo account exists");
        assert_eq!(account.currency.as_str(), "USD");
        let unsealed = account.redirect_secret(&app.state.config().master_key).unwrap();
        assert_eq!(Some(&unsealed), demo.redirect_signing_secret.as_ref());
        let client = app_clients::find(app.db(), &demo.app_client_id).await.unwrap().expect("demo app client");
        assert!(server::auth::secrets::verify_secret(demo.app_client_secret.as_ref().unwrap(), &client.secret_hash));
        let count: i64 = sqlx::query("SELECT COUNT(*) FROM payment_accounts").fetch_one(app.db().pool()).await.unwrap().get(0);
        assert_eq!(count, 1);
        // A later start names the demo again but cannot show its secrets.
        let later = ensure_sandbox_demo(&app.state).await.unwrap().unwrap();
        assert_eq!(later.account_uid, demo.account_uid);
        assert!(later.redirect_signing_secret.is_none() && later.app_client_secret.is_none());
        // The signing secret is sealed at rest, not stored readable.
        let stored: String = sqlx::query("SELECT redirect_secret FROM payment_accounts").fetch_one(app.db().pool()).await.unwrap().get(0);
        assert!(!stored.contains(demo.redirect_signing_secret.as_ref().unwrap()));
    }

    async fn a_demo_a_killed_start_left_half_made_is_made_by_a_later_start(app) {
        // Another start is making it right now: this one leaves it alone.
        let now = server::store::now_ms();
        server::store::meta::set(app.db(), "sandbox_demo", &format!("creating:{now}")).await.unwrap();
        assert!(ensure_sandbox_demo(&app.state).await.unwrap().is_none());
        // A start killed while making it, minutes ago (or by a release whose marker had no time).
        for stale in [format!("creating:{}", now - 10 * 60_000), "creating".to_owned()] {
            server::store::meta::set(app.db(), "sandbox_demo", &stale).await.unwrap();
            let demo = ensure_sandbox_demo(&app.state).await.unwrap().expect("made now");
            assert!(demo.redirect_signing_secret.is_some());
            assert!(accounts::get(app.db(), &demo.account_uid).await.unwrap().is_some());
            let later = ensure_sandbox_demo(&app.state).await.unwrap().unwrap();
            assert_eq!(later.account_uid, demo.account_uid, "and named by the starts after it");
        }
    }

    async fn outside_sandbox_there_is_no_demo(app) {
        let db = support::TestDatabase::create(app.db.kind).await.unwrap();
        let config = support::test_config(&db.url, app.assets.path(), &[("GOVIFI_SANDBOX", "false")]);
        let state = server::AppState::init(config).await.unwrap();
        assert!(ensure_sandbox_demo(&state).await.unwrap().is_none());
        let router = server::router(state);
        let r = TestResponse::read(router.oneshot(axum::http::Request::get("/demo").body(Body::empty()).unwrap()).await.unwrap()).await;
        r.assert_error(404, "resource_missing");
    }

    async fn the_bootstrap_client_exists_with_its_secret_and_follows_changes(app) {
        let secret_a = "bootstrap-secret-aaaaaaaaaaaaaaaa";
        let secret_b = "bootstrap-secret-bbbbbbbbbbbbbbbb";
        for secret in [secret_a, secret_b] {
            let config = support::test_config(&app.db.url, app.assets.path(), &[
                ("GOVIFI_BOOTSTRAP_CLIENT_ID", "automation"),
                ("GOVIFI_BOOTSTRAP_CLIENT_SECRET", secret),
            ]);
            server::bootstrap::ensure_bootstrap_client(app.db(), &config).await.unwrap();
            let client = app_clients::find(app.db(), "automation").await.unwrap().unwrap();
            assert!(server::auth::secrets::verify_secret(secret, &client.secret_hash));
            assert!(client.scopes.iter().any(|s| s == app_clients::ADMIN_SCOPE));
        }
        let client = app_clients::find(app.db(), "automation").await.unwrap().unwrap();
        assert!(!server::auth::secrets::verify_secret(secret_a, &client.secret_hash), "the old secret no longer works");
    }

    async fn the_cli_creates_an_app_client_and_stores_only_a_hash(app) {
        let cli = |master_key: String| {
            std::process::Command::new(env!("CARGO_BIN_EXE_govifi-server"))
                .args(["app-client", "create", "--name", "CLI test"])
                .env("GOVIFI_DATABASE_URL", &app.db.url)
                .env("GOVIFI_MASTER_KEY", master_key)
                .current_dir(app.assets.path())
                .output()
                .unwrap()
        };
        // Another master key than the server's: refused before anything is written.
        let out = cli(server::config::MasterKey::generate().to_base64());
        assert_eq!(out.status.code(), Some(1));
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(said.contains("is not the one this database's secrets are sealed with"), "{said}");
        let clients: i64 = sqlx::query("SELECT COUNT(*) FROM app_clients WHERE name = 'CLI test'").fetch_one(app.db().pool()).await.unwrap().get(0);
        assert_eq!(clients, 0);
        // A server process with another key does not start either.
        let other = support::test_config(&app.db.url, app.assets.path(), &[]);
        let refused = server::AppState::init(other).await.err().expect("refused");
        assert!(format!("{refused:#}").contains("master key"), "{refused:#}");
        // A database from before the check (no canary yet) that holds an account: only a key
        // that opens the account's sealed secret may leave the canary.
        app.merchant().await;
        sqlx::query("DELETE FROM meta WHERE key = 'master_key_check'").execute(app.db().pool()).await.unwrap();
        let wrong = support::test_config(&app.db.url, app.assets.path(), &[]);
        let refused = server::bootstrap::check_master_key(app.db(), &wrong).await.expect_err("refused");
        assert!(format!("{refused:#}").contains("does not open the secrets already in this database"), "{refused:#}");
        assert_eq!(server::store::meta::get(app.db(), "master_key_check").await.unwrap(), None, "no canary under the wrong key");
        server::bootstrap::check_master_key(app.db(), app.state.config()).await.unwrap();
        assert!(server::store::meta::get(app.db(), "master_key_check").await.unwrap().is_some());

        let out = cli(app.state.config().master_key.to_base64());
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let text = String::from_utf8(out.stdout).unwrap();
        let field = |name: &str| text.lines().find_map(|l| l.strip_prefix(name)).unwrap().trim().to_owned();
        let (id, secret) = (field("client_id:"), field("client_secret:"));
        let client = app_clients::find(app.db(), &id).await.unwrap().expect("created");
        assert_eq!(client.name, "CLI test");
        assert!(server::auth::secrets::verify_secret(&secret, &client.secret_hash));
        let stored: String = sqlx::query("SELECT secret_hash FROM app_clients WHERE client_id = $1").bind(&id).fetch_one(app.db().pool()).await.unwrap().get(0);
        assert_ne!(stored, secret);
    }
}

/// Served over https: browsers are told to keep to it (every answer, pages and API alike); and
/// outside sandbox mode an allowed origin must be https too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_https_browsers_are_told_to_stay_on_it() {
    let app = TestApp::spawn_with(
        Database::Sqlite,
        &[("GOVIFI_PUBLIC_URL", "https://pay.city.example"), ("GOVIFI_SANDBOX", "false")],
    )
    .await
    .unwrap();
    for path in ["/healthz", "/docs/", "/dashboard/login", "/no-such-page"] {
        let r = app.get(path).await;
        assert_eq!(r.header("strict-transport-security"), Some("max-age=63072000; includeSubDomains"), "{path}");
        assert_eq!(r.header("x-content-type-options"), Some("nosniff"), "{path}");
    }
    // Answers the error shaping rewrites carry them too: a wrong method, a missing file.
    for (method, path, status) in [
        (Method::POST, "/healthz", StatusCode::METHOD_NOT_ALLOWED),
        (Method::GET, "/assets/no-such-file.js", StatusCode::NOT_FOUND),
    ] {
        let r = app.send(method, path, &[], Body::empty()).await;
        assert_eq!(r.status, status, "{path}");
        assert_eq!(r.header("strict-transport-security"), Some("max-age=63072000; includeSubDomains"), "{path}");
        assert_eq!(r.header("x-content-type-options"), Some("nosniff"), "{path}");
    }
    let m = app.merchant().await;
    let r = app
        .call(
            Method::PATCH,
            format!("/api/paymentaccounts/{}", m.uid),
            support::Auth::Bearer(&m.token),
            Some(json!({"allowed_origins": ["http://shop.example"]})),
        )
        .await;
    assert_eq!(r.assert_error(400, "parameter_invalid")["param"], "allowed_origins[0]");
    let r = app
        .call(
            Method::PATCH,
            format!("/api/paymentaccounts/{}", m.uid),
            support::Auth::Bearer(&m.token),
            Some(json!({"allowed_origins": ["https://shop.example", "http://localhost:3000"]})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_runs_in_wal_mode_with_full_sync() {
    let app = TestApp::spawn(Database::Sqlite).await.unwrap();
    let mut conn = app.db().pool().acquire().await.unwrap();
    let mode: String = sqlx::query("PRAGMA journal_mode").fetch_one(&mut *conn).await.unwrap().get(0);
    assert_eq!(mode, "wal");
    let sync: i64 = sqlx::query("PRAGMA synchronous").fetch_one(&mut *conn).await.unwrap().get(0);
    assert_eq!(sync, 2, "synchronous = FULL");
    let fk: i64 = sqlx::query("PRAGMA foreign_keys").fetch_one(&mut *conn).await.unwrap().get(0);
    assert_eq!(fk, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_build_the_script_says_so() {
    let db = support::TestDatabase::create(Database::Sqlite).await.unwrap();
    let empty = tempfile::tempdir().unwrap();
    let state = server::AppState::init(support::test_config(&db.url, empty.path(), &[])).await.unwrap();
    let router = server::router(state);
    let response =
        router.oneshot(axum::http::Request::get("/sdk/govifi-payment.js").body(Body::empty()).unwrap()).await.unwrap();
    let r = TestResponse::read(response).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(r.text().contains("has not been built"), "{}", r.text());
}

/// PostgreSQL ends every connection of the server's (as a restart or a failover would): the
/// server answers again within seconds, because the pool closes a connection that fails its
/// test and opens another. (The pool tests a connection it takes back at most once a second,
/// not on every release: `vendor/sqlx-core/PATCHED.md`.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pooled_connection_that_broke_is_replaced() {
    let Some(app) = TestApp::spawn(Database::Postgres).await else {
        support::no_postgres();
        return;
    };
    // Several requests at once, so that more than one pooled connection is open.
    let ready = || async {
        let answers = futures_util::future::join_all((0..4).map(|_| app.get("/readyz"))).await;
        answers.iter().all(|r| r.status == StatusCode::OK)
    };
    assert!(ready().await, "ready before");
    let admin = std::env::var("GOVIFI_TEST_POSTGRES_URL").unwrap();
    let name = url::Url::parse(&app.db.url).unwrap().path().trim_start_matches('/').to_owned();
    let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&admin).await.unwrap();
    let ended: i64 = sqlx::query(
        "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) AS ended FROM pg_stat_activity \
         WHERE datname = $1 AND pid <> pg_backend_pid()) t WHERE ended",
    )
    .bind(&name)
    .fetch_one(&mut conn)
    .await
    .unwrap()
    .get(0);
    assert!(ended >= 1, "the server's connections were ended ({ended})");
    // Until it answers ready five times in a row (each time four requests at once).
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    let mut in_a_row = 0;
    while in_a_row < 5 {
        assert!(std::time::Instant::now() < deadline, "still not ready 15 s after its connections were ended");
        in_a_row = if ready().await { in_a_row + 1 } else { 0 };
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
