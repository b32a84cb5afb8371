//! The built-in identity provider: the token endpoint, JWKS, key persistence and rotation,
//! forged tokens, and an external issuer.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde_json::{Value, json};
use server::auth::tokens::AccessClaims;
use server::store::app_clients;
use support::{Auth, PUBLIC_URL, TestApp};

const ADMIN: &str = "com.govineer.payments/admin";

fn form(body: &str) -> Request<Body> {
    Request::post("/oauth2/token")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(body.to_owned()))
        .unwrap()
}

fn basic(id: &str, secret: &str, body: &str) -> Request<Body> {
    let credentials = STANDARD.encode(format!("{id}:{secret}"));
    Request::post("/oauth2/token")
        .header("authorization", format!("Basic {credentials}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(body.to_owned()))
        .unwrap()
}

fn oauth_error(r: &support::TestResponse, status: u16, error: &str) {
    assert_eq!(r.status.as_u16(), status, "{}", r.text());
    let body = r.json();
    assert_eq!(body["error"], error, "{body}");
    assert!(body["error_description"].is_string(), "RFC 6749 error body: {body}");
    assert_eq!(r.header("cache-control"), Some("no-store"));
}

/// Verifies a token the way any JWT library would: with the JWKS, RS256, our issuer.
fn verify_with_jwks(token: &str, jwks: &Value) -> AccessClaims {
    let header = jsonwebtoken::decode_header(token).unwrap();
    assert_eq!(header.alg, Algorithm::RS256);
    let kid = header.kid.expect("kid header");
    let jwk = jwks["keys"].as_array().unwrap().iter().find(|k| k["kid"] == kid.as_str()).expect("kid is published");
    assert_eq!(jwk["kty"], "RSA");
    assert_eq!(jwk["alg"], "RS256");
    assert_eq!(jwk["use"], "sig");
    let key = DecodingKey::from_rsa_components(jwk["n"].as_str().unwrap(), jwk["e"].as_str().unwrap()).unwrap();
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_issuer(&[PUBLIC_URL]);
    validation.validate_aud = false;
    jsonwebtoken::decode::<AccessClaims>(token, &key, &validation).expect("verifies against the JWKS").claims
}

/// A token with arbitrary claims signed by the app's active key.
async fn sign_with_our_key(app: &TestApp, claims: &Value) -> String {
    let key = app.state.tokens().keys.active().await.unwrap();
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(key.kid.clone());
    jsonwebtoken::encode(&header, claims, &key.encoding).unwrap()
}

fn claims(iss: &str, scope: &str, exp_offset: i64) -> Value {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    json!({"iss": iss, "sub": "c1", "client_id": "c1", "token_use": "access", "scope": scope,
           "iat": now, "exp": now + exp_offset, "jti": "j1"})
}

/// Behind a trusted proxy, each client's failures count against the client (from the proxy's
/// `X-Forwarded-For`), not against the proxy; what a client writes in the header itself counts
/// for nothing; and the probes answer an address the guard turned away.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_trusted_proxy_each_client_is_counted_apart() {
    let app = TestApp::spawn_with(
        support::Database::Sqlite,
        &[("GOVIFI_AUTH_FAILURES_PER_MINUTE", "3"), ("GOVIFI_TRUSTED_PROXIES", "10.0.0.0/8, 192.0.2.1")],
    )
    .await
    .unwrap();
    let m = app.merchant().await;
    let s = app.session(&m, json!({})).await;
    let id = s["session_id"].as_str().unwrap().to_owned();
    let good = s["client_secret"].as_str().unwrap().to_owned();
    let bad = format!("{id}_secret_wrong0123456789");
    let call = |peer: &str, forwarded: Option<&str>, secret: &str, path: &str| {
        let addr: std::net::SocketAddr = format!("{peer}:40000").parse().unwrap();
        let mut req = Request::get(path.replace("{id}", &id))
            .header("authorization", format!("Bearer {secret}"))
            .extension(axum::extract::ConnectInfo(addr));
        if let Some(f) = forwarded {
            req = req.header("x-forwarded-for", f);
        }
        app.request(req.body(Body::empty()).unwrap())
    };
    let config = "/v1/hosted-sessions/{id}/config";
    // One client through the proxy spends its budget (3, after a burst of 3) and is turned away.
    let mut refused = None;
    for i in 0..10 {
        let r = call("10.0.0.5", Some("198.51.100.1, 203.0.113.7"), &bad, config).await;
        if r.status == StatusCode::TOO_MANY_REQUESTS {
            refused = Some(i);
            break;
        }
    }
    assert!(refused.is_some_and(|i| i >= 3), "turned away after its own failures: {refused:?}");
    // Another client through the same proxy (another hop of it, too) is not.
    assert_eq!(call("10.0.0.6", Some("203.0.113.8"), &good, config).await.status, StatusCode::OK);
    assert_eq!(call("192.0.2.1", Some("203.0.113.9, 10.0.0.5"), &good, config).await.status, StatusCode::OK);
    // The turned-away client, through the proxy, whatever it writes first in the header.
    call("10.0.0.6", Some("198.51.100.77, 203.0.113.7"), &good, config).await.assert_error(429, "rate_limited");
    // A client that is not a proxy can't borrow another's address with the header.
    assert_eq!(call("203.0.113.7", Some("203.0.113.50"), &good, config).await.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(call("203.0.113.50", Some("203.0.113.7"), &good, config).await.status, StatusCode::OK);
    // The probes still answer it.
    for probe in ["/healthz", "/readyz", "/metrics"] {
        assert_eq!(call("203.0.113.7", None, &good, probe).await.status, StatusCode::OK, "{probe}");
    }
}

db_tests! {
    async fn an_address_presenting_bad_credentials_is_turned_away_before_any_lookup(app) {
        let m = app.merchant().await;
        let s = app.session(&m, json!({})).await;
        let id = s["session_id"].as_str().unwrap().to_owned();
        let good = s["client_secret"].as_str().unwrap().to_owned();
        let bad = format!("{id}_secret_wrong0123456789");
        let from = |ip: &str, secret: &str| {
            let addr: std::net::SocketAddr = format!("{ip}:40000").parse().unwrap();
            Request::get(format!("/v1/hosted-sessions/{id}/config"))
                .header("authorization", format!("Bearer {secret}"))
                .extension(axum::extract::ConnectInfo(addr))
                .body(Body::empty())
                .unwrap()
        };
        let budget = server::config::DEFAULT_AUTH_FAILURES_PER_MINUTE as usize;
        let mut turned_away = None;
        let started = std::time::Instant::now();
        for i in 0..budget + 30 {
            let r = app.request(from("203.0.113.7", &bad)).await;
            if r.status == StatusCode::TOO_MANY_REQUESTS {
                turned_away = Some((i, r));
                break;
            }
            r.assert_error(401, "unauthenticated");
        }
        let (i, r) = turned_away.expect("the address is turned away");
        // The burst, and the one a second that refills while the loop runs.
        let refilled = started.elapsed().as_secs() as usize + 1;
        assert!((budget..=budget + refilled).contains(&i), "turned away after {i} failures");
        r.assert_error(429, "rate_limited");
        assert!(r.header("retry-after").unwrap().parse::<u64>().unwrap() >= 1);
        // Turned away whatever it sends now, after a pause (the address's time, not the
        // server's CPU); another address is not.
        let asked = std::time::Instant::now();
        app.request(from("203.0.113.7", &good)).await.assert_error(429, "rate_limited");
        assert!(asked.elapsed() >= server::auth::failures::BLOCKED_PAUSE);
        assert_eq!(app.request(from("198.51.100.2", &good)).await.status, StatusCode::OK);
    }

    async fn basic_auth_gets_a_cognito_shaped_token_that_verifies_against_the_jwks(app) {
        let (client, secret) = app_clients::create(app.db(), "billing").await.unwrap();
        let r = app.request(basic(&client.client_id, &secret, &format!("grant_type=client_credentials&scope={ADMIN}"))).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        assert_eq!(r.header("cache-control"), Some("no-store"));
        let body = r.json();
        assert_eq!(body["token_type"], "Bearer");
        assert_eq!(body["expires_in"], 3600);
        let token = body["access_token"].as_str().unwrap();

        let jwks = app.get("/.well-known/jwks.json").await;
        assert_eq!(jwks.status, StatusCode::OK);
        let claims = verify_with_jwks(token, &jwks.json());
        assert_eq!(claims.iss, PUBLIC_URL);
        assert_eq!(claims.sub, client.client_id);
        assert_eq!(claims.client_id, client.client_id);
        assert_eq!(claims.token_use, "access");
        assert_eq!(claims.scope, ADMIN);
        assert_eq!(claims.exp - claims.iat, 3600);
        assert!(!claims.jti.is_empty());
        // The token opens admin routes.
        assert_eq!(app.call(Method::GET, "/api/clients", Auth::Bearer(token), None).await.status, StatusCode::OK);
    }

    async fn form_fields_work_and_scope_defaults_to_the_clients(app) {
        let (client, secret) = app_clients::create(app.db(), "form").await.unwrap();
        let body = format!("grant_type=client_credentials&client_id={}&client_secret={secret}", client.client_id);
        let r = app.request(form(&body)).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        let token = r.json()["access_token"].as_str().unwrap().to_owned();
        let jwks = app.get("/.well-known/jwks.json").await.json();
        assert_eq!(verify_with_jwks(&token, &jwks).scope, ADMIN);
    }

    async fn token_endpoint_errors_follow_rfc_6749(app) {
        let (client, secret) = app_clients::create(app.db(), "errors").await.unwrap();
        let id = client.client_id.as_str();
        oauth_error(&app.request(basic(id, "wrong-secret", "grant_type=client_credentials")).await, 401, "invalid_client");
        let r = app.request(basic(id, "wrong-secret", "grant_type=client_credentials")).await;
        assert!(r.header("www-authenticate").unwrap().starts_with("Basic"));
        oauth_error(&app.request(basic("nobody", &secret, "grant_type=client_credentials")).await, 401, "invalid_client");
        oauth_error(&app.request(form("grant_type=client_credentials")).await, 401, "invalid_client");
        oauth_error(&app.request(basic(id, &secret, "grant_type=password")).await, 400, "unsupported_grant_type");
        oauth_error(&app.request(basic(id, &secret, "scope=x")).await, 400, "invalid_request");
        oauth_error(&app.request(basic(id, &secret, "grant_type=client_credentials&scope=openid")).await, 400, "invalid_scope");
        oauth_error(
            &app.request(basic(id, &secret, "grant_type=client_credentials&grant_type=client_credentials")).await,
            400,
            "invalid_request",
        );
        let both = format!("grant_type=client_credentials&client_id={id}&client_secret={secret}");
        oauth_error(&app.request(basic(id, &secret, &both)).await, 400, "invalid_request");
        let json_body = Request::post("/oauth2/token").header("content-type", "application/json")
            .body(Body::from(r#"{"grant_type":"client_credentials"}"#)).unwrap();
        oauth_error(&app.request(json_body).await, 400, "invalid_request");
    }

    async fn the_signing_key_survives_a_restart(app) {
        let token = app.admin_token().await;
        let before = app.get("/.well-known/jwks.json").await.json();
        // A second server on the same database (and master key) is a restart.
        let restarted = server::AppState::with_db(app.state.config().clone(), app.state.db().clone());
        let router = server::router(restarted);
        let after = support::TestResponse::read(tower::ServiceExt::oneshot(router.clone(), Request::get("/.well-known/jwks.json").body(Body::empty()).unwrap()).await.unwrap()).await.json();
        assert_eq!(before, after);
        let r = support::TestResponse::read(tower::ServiceExt::oneshot(router, Request::get("/api/clients").header("authorization", format!("Bearer {token}")).body(Body::empty()).unwrap()).await.unwrap()).await;
        assert_eq!(r.status, StatusCode::OK, "a token from before the restart still works: {}", r.text());
        // The private key is sealed at rest.
        let stored: String = sqlx::Row::get(&sqlx::query("SELECT private_key FROM signing_keys").fetch_one(app.db().pool()).await.unwrap(), 0);
        assert!(stored.starts_with("v1."));
    }

    async fn rotation_keeps_old_tokens_valid_and_publishes_both_keys(app) {
        let old_token = app.admin_token().await;
        let new_kid = app.state.tokens().keys.rotate().await.unwrap();
        let new_token = app.admin_token().await;
        assert_eq!(jsonwebtoken::decode_header(&new_token).unwrap().kid.as_deref(), Some(new_kid.as_str()));
        let jwks = app.get("/.well-known/jwks.json").await.json();
        assert_eq!(jwks["keys"].as_array().unwrap().len(), 2);
        verify_with_jwks(&old_token, &jwks);
        verify_with_jwks(&new_token, &jwks);
        for token in [&old_token, &new_token] {
            assert_eq!(app.call(Method::GET, "/api/clients", Auth::Bearer(token), None).await.status, StatusCode::OK);
        }
        // Once a retired key's tokens have all expired, it leaves the JWKS and its tokens stop working.
        sqlx::query("UPDATE signing_keys SET retired_at = $1 WHERE kid <> $2")
            .bind(server::store::now_ms() - 2 * 3600 * 1000).bind(&new_kid).execute(app.db().pool()).await.unwrap();
        let restarted = server::router(server::AppState::with_db(app.state.config().clone(), app.state.db().clone()));
        let jwks = support::TestResponse::read(tower::ServiceExt::oneshot(restarted.clone(), Request::get("/.well-known/jwks.json").body(Body::empty()).unwrap()).await.unwrap()).await.json();
        assert_eq!(jwks["keys"].as_array().unwrap().len(), 1);
        let r = support::TestResponse::read(tower::ServiceExt::oneshot(restarted, Request::get("/api/clients").header("authorization", format!("Bearer {old_token}")).body(Body::empty()).unwrap()).await.unwrap()).await;
        r.assert_error(401, "unauthenticated");
    }

    async fn a_rotation_by_another_process_retires_the_key_in_a_running_server(app) {
        let token = app.admin_token().await;
        let old_kid = jsonwebtoken::decode_header(&token).unwrap().kid.unwrap();
        assert_eq!(app.call(Method::GET, "/api/clients", Auth::Bearer(&token), None).await.status, StatusCode::OK);
        // Another process (the `keys rotate` command) rotates, and the old key's tokens expire.
        let other = server::auth::keys::KeyStore::new(app.state.db().clone(), app.state.config().master_key.clone());
        let new_kid = other.rotate().await.unwrap();
        sqlx::query("UPDATE signing_keys SET retired_at = $1 WHERE kid <> $2")
            .bind(server::store::now_ms() - 2 * 3600 * 1000).bind(&new_kid).execute(app.db().pool()).await.unwrap();
        // This server, which holds the old key, learns of it within seconds, without a restart.
        let keys = &app.state.tokens().keys;
        let soon = server::store::now_ms() + 11_000;
        assert!(keys.published_at(&old_kid, soon).await.unwrap().is_none(), "the retired key is no longer trusted");
        assert!(keys.published_at(&new_kid, soon).await.unwrap().is_some());
    }

    async fn forged_and_wrong_tokens_are_401(app) {
        let valid = app.admin_token().await;
        let key = app.state.tokens().keys.active().await.unwrap();
        let (head, rest) = valid.split_once('.').unwrap();
        let (payload, _sig) = rest.split_once('.').unwrap();
        let mut cases: Vec<(&str, String)> = Vec::new();

        // alg: none, no signature.
        let none_header = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"none","kid":"{}"}}"#, key.kid));
        cases.push(("alg none", format!("{none_header}.{payload}.")));
        // HS256 "signed" with the public key's bytes (the classic RS/HS confusion).
        let mut hs = Header::new(Algorithm::HS256);
        hs.kid = Some(key.kid.clone());
        let public_bytes = format!("{}.{}", key.n, key.e);
        let forged = jsonwebtoken::encode(&hs, &claims(PUBLIC_URL, ADMIN, 600), &EncodingKey::from_secret(public_bytes.as_bytes())).unwrap();
        cases.push(("HS256 with the public key", forged));
        // Expired (beyond the leeway), with our own key.
        cases.push(("expired", sign_with_our_key(&app, &claims(PUBLIC_URL, ADMIN, -120)).await));
        // Another issuer, with our own key.
        cases.push(("wrong issuer", sign_with_our_key(&app, &claims("https://evil.example", ADMIN, 600)).await));
        // Not an access token.
        let mut id_token = claims(PUBLIC_URL, ADMIN, 600);
        id_token["token_use"] = json!("id");
        cases.push(("token_use id", sign_with_our_key(&app, &id_token).await));
        // Tampered payload: scope changed, signature kept.
        let mut tampered_claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
        tampered_claims["client_id"] = json!("someone-else");
        let tampered = format!("{head}.{}.{}", URL_SAFE_NO_PAD.encode(tampered_claims.to_string()), valid.rsplit('.').next().unwrap());
        cases.push(("tampered", tampered));
        // A key id we never published.
        let mut unknown = Header::new(Algorithm::RS256);
        unknown.kid = Some("not-ours".into());
        cases.push(("unknown kid", jsonwebtoken::encode(&unknown, &claims(PUBLIC_URL, ADMIN, 600), &key.encoding).unwrap()));
        cases.push(("garbage", "a.b.c".into()));

        for (name, token) in &cases {
            let r = app.call(Method::GET, "/api/clients", Auth::Bearer(token), None).await;
            assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{name}: {}", r.text());
            r.assert_error(401, "unauthenticated");
        }
        // Within the leeway a just-expired token still passes; a valid token without the admin scope is 403.
        let leeway = sign_with_our_key(&app, &claims(PUBLIC_URL, ADMIN, -5)).await;
        assert_eq!(app.call(Method::GET, "/api/clients", Auth::Bearer(&leeway), None).await.status, StatusCode::OK);
        let scopeless = sign_with_our_key(&app, &claims(PUBLIC_URL, "openid", 600)).await;
        app.call(Method::GET, "/api/clients", Auth::Bearer(&scopeless), None).await.assert_error(403, "insufficient_scope");
    }

    async fn the_cli_rotates_keys(app) {
        let token = app.admin_token().await;
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_govifi-server"))
            .args(["keys", "rotate"])
            .env("GOVIFI_DATABASE_URL", &app.db.url)
            .env("GOVIFI_MASTER_KEY", app.state.config().master_key.to_base64())
            .current_dir(app.assets.path())
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let jwks = app.get("/.well-known/jwks.json").await.json();
        assert_eq!(jwks["keys"].as_array().unwrap().len(), 2);
        assert_eq!(app.call(Method::GET, "/api/clients", Auth::Bearer(&token), None).await.status, StatusCode::OK);
        let fresh = app.admin_token().await;
        assert_ne!(jsonwebtoken::decode_header(&fresh).unwrap().kid, jsonwebtoken::decode_header(&token).unwrap().kid);
    }
}

/// A stand-in for Cognito: serves a JWKS (which can change) and counts how often it is fetched.
struct Issuer {
    url: String,
    keys: Arc<std::sync::Mutex<Vec<(String, rsa::RsaPrivateKey)>>>,
    hits: Arc<AtomicUsize>,
    /// The most JWKS requests it ever had in flight at once.
    most_at_once: Arc<AtomicUsize>,
}

impl Issuer {
    async fn start() -> Issuer {
        let keys: Arc<std::sync::Mutex<Vec<(String, rsa::RsaPrivateKey)>>> = Arc::default();
        let hits = Arc::new(AtomicUsize::new(0));
        let most_at_once = Arc::new(AtomicUsize::new(0));
        let in_flight = Arc::new(AtomicUsize::new(0));
        let (served, counter, most) = (keys.clone(), hits.clone(), most_at_once.clone());
        let router = axum::Router::new().route(
            "/.well-known/jwks.json",
            axum::routing::get(move || {
                use rsa::traits::PublicKeyParts;
                counter.fetch_add(1, Ordering::SeqCst);
                let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                let keys: Vec<Value> = served
                    .lock()
                    .unwrap()
                    .iter()
                    .map(|(kid, k)| json!({"kty": "RSA", "kid": kid, "alg": "RS256", "use": "sig",
                        "n": URL_SAFE_NO_PAD.encode(k.n().to_bytes_be()), "e": URL_SAFE_NO_PAD.encode(k.e().to_bytes_be())}))
                    .collect();
                let done = in_flight.clone();
                async move {
                    // Slow enough that overlapping fetches would be seen.
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                    done.fetch_sub(1, Ordering::SeqCst);
                    axum::Json(json!({ "keys": keys }))
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        let issuer = Issuer { url, keys, hits, most_at_once };
        issuer.add_key("cognito-1");
        issuer
    }

    fn add_key(&self, kid: &str) {
        let key = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048).unwrap();
        self.keys.lock().unwrap().push((kid.to_owned(), key));
    }

    fn jwks_url(&self) -> String {
        format!("{}/.well-known/jwks.json", self.url)
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    /// A token signed by the issuer's key `key_of` but naming `kid` in its header.
    fn sign(&self, key_of: &str, kid: &str, claims: &Value) -> String {
        use rsa::pkcs1::EncodeRsaPrivateKey;
        let keys = self.keys.lock().unwrap();
        let (_, private) = keys.iter().find(|(k, _)| k == key_of).unwrap();
        let der = private.to_pkcs1_der().unwrap();
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(kid.into());
        jsonwebtoken::encode(&header, claims, &EncodingKey::from_rsa_der(der.as_bytes())).unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_external_issuers_tokens_are_accepted_and_unknown_kids_do_not_flood_its_jwks() {
    let issuer = Issuer::start().await;
    let app = TestApp::spawn_with(
        support::Database::Sqlite,
        &[("GOVIFI_OAUTH_ISSUER", &issuer.url), ("GOVIFI_OAUTH_JWKS_URL", &issuer.jwks_url())],
    )
    .await
    .unwrap();
    assert_eq!(issuer.hits(), 0, "fetched lazily, not at start");

    let token = issuer.sign("cognito-1", "cognito-1", &claims(&issuer.url, ADMIN, 600));
    for _ in 0..3 {
        let r = app.call(Method::GET, "/api/clients", Auth::Bearer(&token), None).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    }
    assert_eq!(issuer.hits(), 1, "the JWKS is cached");

    // Twenty unknown key ids at once: refused, after one shared refresh.
    let forged: Vec<String> =
        (0..20).map(|i| issuer.sign("cognito-1", &format!("unknown-{i}"), &claims(&issuer.url, ADMIN, 600))).collect();
    let calls = forged.iter().map(|t| app.call(Method::GET, "/api/clients", Auth::Bearer(t), None));
    for r in futures_util::future::join_all(calls).await {
        r.assert_error(401, "unauthenticated");
    }
    let limit = 1 + server::auth::external::FETCHES_PER_MINUTE as usize;
    assert!(issuer.hits() <= limit, "a flood of unknown kids is not a flood of fetches ({})", issuer.hits());

    // Without the admin scope: 403; another issuer: 401.
    let scopeless = issuer.sign("cognito-1", "cognito-1", &claims(&issuer.url, "other/scope", 600));
    app.call(Method::GET, "/api/clients", Auth::Bearer(&scopeless), None).await.assert_error(403, "insufficient_scope");
    let stranger = issuer.sign("cognito-1", "cognito-1", &claims("https://stranger.example", ADMIN, 600));
    app.call(Method::GET, "/api/clients", Auth::Bearer(&stranger), None).await.assert_error(401, "unauthenticated");
    // Not valid before an hour from now: refused until then.
    let mut early = claims(&issuer.url, ADMIN, 7200);
    early["nbf"] = json!(early["iat"].as_i64().unwrap() + 3600);
    let early = issuer.sign("cognito-1", "cognito-1", &early);
    app.call(Method::GET, "/api/clients", Auth::Bearer(&early), None).await.assert_error(401, "unauthenticated");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_rotated_at_the_issuer_is_accepted_at_once() {
    let issuer = Issuer::start().await;
    let app = TestApp::spawn_with(
        support::Database::Sqlite,
        &[("GOVIFI_OAUTH_ISSUER", &issuer.url), ("GOVIFI_OAUTH_JWKS_URL", &issuer.jwks_url())],
    )
    .await
    .unwrap();
    let token = issuer.sign("cognito-1", "cognito-1", &claims(&issuer.url, ADMIN, 600));
    assert_eq!(app.call(Method::GET, "/api/clients", Auth::Bearer(&token), None).await.status, StatusCode::OK);
    assert_eq!(issuer.hits(), 1);
    // The issuer rotates a moment after our fetch: the new key's token works immediately.
    issuer.add_key("cognito-2");
    let rotated = issuer.sign("cognito-2", "cognito-2", &claims(&issuer.url, ADMIN, 600));
    let r = app.call(Method::GET, "/api/clients", Auth::Bearer(&rotated), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(issuer.hits(), 2, "one refresh for the new kid");
    for t in [&token, &rotated] {
        assert_eq!(app.call(Method::GET, "/api/clients", Auth::Bearer(t), None).await.status, StatusCode::OK);
    }
    assert_eq!(issuer.hits(), 2, "both keys from the cache");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_the_issuer_withdrew_stops_verifying_once_the_set_is_old() {
    use server::auth::external::ExternalJwks;
    let issuer = Issuer::start().await;
    // (Made first: a 2048-bit key takes a while to generate in a debug build.)
    issuer.add_key("cognito-2");
    // Long enough for a fetch and a lookup on a loaded machine, short enough to wait out.
    let jwks = ExternalJwks::new(issuer.url.clone(), issuer.jwks_url()).with_max_age(Duration::from_secs(4));
    assert!(jwks.key("cognito-1").await.is_some());
    issuer.keys.lock().unwrap().retain(|(kid, _)| kid != "cognito-1");
    assert!(jwks.key("cognito-1").await.is_some(), "a fresh set is used as it is");
    assert_eq!(issuer.hits(), 1);
    tokio::time::sleep(Duration::from_millis(4_100)).await;
    assert!(jwks.key("cognito-1").await.is_none(), "withdrawn: refused once the set is fetched again");
    assert_eq!(issuer.hits(), 2);
    assert!(jwks.key("cognito-2").await.is_some(), "the new set serves");
    assert_eq!(issuer.hits(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_kids_cause_one_fetch_at_a_time_and_at_most_the_rate_limit() {
    use server::auth::external::{ExternalJwks, FETCHES_PER_MINUTE};
    let issuer = Issuer::start().await;
    let jwks = ExternalJwks::new(issuer.url.clone(), issuer.jwks_url());
    assert!(jwks.key("cognito-1").await.is_some());
    assert_eq!(issuer.hits(), 1);
    // Twenty concurrent lookups of kids that do not exist: one fetch in flight at a time, each
    // waiter using a fetch that started after it asked rather than making its own.
    let lookups: Vec<String> = (0..20).map(|i| format!("nope-{i}")).collect();
    let results = futures_util::future::join_all(lookups.iter().map(|k| jwks.key(k))).await;
    assert!(results.iter().all(Option::is_none));
    assert_eq!(issuer.most_at_once.load(Ordering::SeqCst), 1, "never two fetches at once");
    assert!(issuer.hits() <= 3, "at most two fetches for twenty concurrent unknown kids ({})", issuer.hits());
    // A flood of forged kids, one after another: fetches stop at the rate limit.
    for i in 0..50 {
        assert!(jwks.key(&format!("forged-{i}")).await.is_none());
    }
    assert_eq!(issuer.hits(), FETCHES_PER_MINUTE as usize, "{} fetches a minute at most", FETCHES_PER_MINUTE);
    assert!(jwks.key("cognito-1").await.is_some(), "known keys keep working from the cache");
    assert_eq!(issuer.hits(), FETCHES_PER_MINUTE as usize);
    // Within the limit, a key the issuer adds is found at once.
    let fresh = ExternalJwks::with_rate(issuer.url.clone(), issuer.jwks_url(), 2);
    assert!(fresh.key("cognito-1").await.is_some());
    issuer.add_key("cognito-3");
    assert!(fresh.key("cognito-3").await.is_some());
}
