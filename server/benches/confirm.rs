//! `cargo xtask bench`: confirms per second over real HTTP, with p50/p99 latency, beside the
//! same machine's one-row-insert transaction rate on the same database in the same run.
//!
//! Per backend: a fresh database and a server on 127.0.0.1:0; the insert rate with N writers for
//! the run's duration; a pool of sessions with fee quotes prepared (untimed); then N workers
//! confirm them for the same duration. The ratio confirms/s ÷ inserts/s is the figure tracked.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use server::config::MasterKey;
use server::{AppState, Config};
use sqlx::{Connection, Executor};
use tokio::sync::Mutex;

struct Options {
    seconds: u64,
    concurrency: usize,
    postgres: Option<String>,
}

fn options() -> Options {
    let mut o = Options {
        seconds: 10,
        concurrency: 16,
        postgres: std::env::var("GOVIFI_BENCH_POSTGRES_URL")
            .or_else(|_| std::env::var("GOVIFI_TEST_POSTGRES_URL"))
            .ok()
            .filter(|s| !s.is_empty()),
    };
    let args: Vec<String> = std::env::args().collect();
    let mut i = 1;
    while i < args.len() {
        match args[i].as_str() {
            "--seconds" => {
                o.seconds = args.get(i + 1).and_then(|v| v.parse().ok()).unwrap_or(o.seconds);
                i += 1;
            }
            "--concurrency" => {
                o.concurrency = args.get(i + 1).and_then(|v| v.parse().ok()).unwrap_or(o.concurrency);
                i += 1;
            }
            _ => {}
        }
        i += 1;
    }
    o
}

struct Report {
    backend: &'static str,
    confirms: usize,
    confirms_per_s: f64,
    p50_ms: f64,
    p99_ms: f64,
    inserts_per_s: f64,
    failures: usize,
}

fn main() {
    let o = options();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let mut reports = Vec::new();
    runtime.block_on(async {
        let dir = tempfile::tempdir().expect("temp dir");
        let sqlite = format!("sqlite://{}?mode=rwc", dir.path().join("bench.db").display());
        reports.push(bench("sqlite", &sqlite, &o).await);
        match &o.postgres {
            Some(admin) => {
                let name = format!("govifi_bench_{}", server::domain::ids::random_base62(12).to_ascii_lowercase());
                sqlx::any::install_default_drivers();
                let mut conn = sqlx::AnyConnection::connect(admin).await.expect("connect to PostgreSQL");
                conn.execute(format!("CREATE DATABASE {name}").as_str()).await.expect("create bench database");
                let mut url = url::Url::parse(admin).expect("a URL");
                url.set_path(&format!("/{name}"));
                reports.push(bench("postgres", url.as_str(), &o).await);
                let _ = conn.execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str()).await;
            }
            None => println!("(PostgreSQL skipped: set GOVIFI_TEST_POSTGRES_URL or GOVIFI_BENCH_POSTGRES_URL)"),
        }
    });
    println!("\n== confirm benchmark: {} s per phase, {} concurrent ==", o.seconds, o.concurrency);
    println!(
        "{:<9} {:>9} {:>11} {:>9} {:>9} {:>13} {:>7} {:>9}",
        "database", "confirms", "confirms/s", "p50 ms", "p99 ms", "inserts/s", "ratio", "failures"
    );
    for r in &reports {
        println!(
            "{:<9} {:>9} {:>11.1} {:>9.1} {:>9.1} {:>13.1} {:>7.2} {:>9}",
            r.backend,
            r.confirms,
            r.confirms_per_s,
            r.p50_ms,
            r.p99_ms,
            r.inserts_per_s,
            r.confirms_per_s / r.inserts_per_s.max(1e-9),
            r.failures
        );
    }
    println!("(ratio = confirms/s ÷ one-row-insert transactions/s on the same database; target ≥ 0.5)");
}

async fn bench(backend: &'static str, database_url: &str, o: &Options) -> Report {
    let assets = tempfile::tempdir().expect("temp dir");
    let vars: Vec<(&str, String)> = vec![
        ("GOVIFI_DATABASE_URL", database_url.to_owned()),
        ("GOVIFI_MASTER_KEY", MasterKey::generate().to_base64()),
        ("GOVIFI_ASSETS_DIR", assets.path().display().to_string()),
        ("GOVIFI_PUBLIC_URL", "http://bench.local".to_owned()),
    ];
    let config = Config::from_lookup(|k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone())).expect("config");
    let state = AppState::init(config).await.expect("state");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let router = server::router(state.clone());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(server::app::serve(listener, router, async move {
        let _ = stopped.await;
    }));

    let inserts_per_s = insert_rate(&state, o).await;
    println!("{backend}: one-row-insert transactions: {inserts_per_s:.1}/s");

    let http = reqwest::Client::builder().pool_max_idle_per_host(o.concurrency * 2).build().expect("client");
    let key = merchant(&state, &http, &base).await;
    // Enough sessions for the confirm phase (the insert rate bounds how fast confirms can go).
    let pool_size = ((inserts_per_s * o.seconds as f64) as usize).clamp(200, 20_000);
    let pool = Arc::new(Mutex::new(prepare(&http, &base, &key, pool_size, o.concurrency).await));
    println!("{backend}: prepared {pool_size} sessions with fee quotes");

    let latencies = Arc::new(Mutex::new(Vec::<Duration>::new()));
    let failures = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let deadline = started + Duration::from_secs(o.seconds);
    let workers: Vec<_> = (0..o.concurrency)
        .map(|_| {
            let (pool, latencies, failures, http, base) =
                (pool.clone(), latencies.clone(), failures.clone(), http.clone(), base.clone());
            tokio::spawn(async move {
                while Instant::now() < deadline {
                    let Some((id, secret, quote)) = pool.lock().await.pop() else { break };
                    let t = Instant::now();
                    let r = http
                        .post(format!("{base}/v1/hosted-sessions/{id}/confirm"))
                        .bearer_auth(&secret)
                        .header("idempotency-key", &id)
                        .json(&json!({"fee_quote_id": quote, "payment_method": {"type": "card",
                            "card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2031, "cvc": "123"},
                            "billing": {"cardholder_name": "Bench", "postal_code": "94107"}}}))
                        .send()
                        .await;
                    let elapsed = t.elapsed();
                    match r {
                        Ok(r) if r.status().is_success() => latencies.lock().await.push(elapsed),
                        _ => {
                            failures.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                    }
                }
            })
        })
        .collect();
    for w in workers {
        let _ = w.await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let _ = stop.send(());
    let _ = serving.await;
    state.db().close().await;

    let mut l = latencies.lock().await.clone();
    l.sort();
    let pct = |p: f64| {
        l.get(((l.len() as f64 * p) as usize).min(l.len().saturating_sub(1))).map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    Report {
        backend,
        confirms: l.len(),
        confirms_per_s: l.len() as f64 / elapsed,
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
        inserts_per_s,
        failures: failures.load(std::sync::atomic::Ordering::Relaxed),
    }
}

/// The baseline: one-row INSERT transactions, as fast as the same concurrency can commit them.
async fn insert_rate(state: &AppState, o: &Options) -> f64 {
    sqlx::query("CREATE TABLE bench_rows (id TEXT PRIMARY KEY, v BIGINT NOT NULL)")
        .execute(state.db().pool())
        .await
        .expect("bench table");
    let count = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let deadline = started + Duration::from_secs(o.seconds);
    let workers: Vec<_> = (0..o.concurrency)
        .map(|_| {
            let (db, count) = (state.db().clone(), count.clone());
            tokio::spawn(async move {
                while Instant::now() < deadline {
                    let mut tx = db.begin_write().await.expect("begin");
                    sqlx::query("INSERT INTO bench_rows (id, v) VALUES ($1, $2)")
                        .bind(server::domain::ids::new_id("row"))
                        .bind(1i64)
                        .execute(&mut *tx)
                        .await
                        .expect("insert");
                    tx.commit().await.expect("commit");
                    count.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            })
        })
        .collect();
    for w in workers {
        let _ = w.await;
    }
    count.load(std::sync::atomic::Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

/// An account (no fees beyond the defaults) and an API key for it.
async fn merchant(state: &AppState, http: &reqwest::Client, base: &str) -> String {
    let (client, secret) = server::store::app_clients::create(state.db(), "bench").await.expect("app client");
    let token: Value = http
        .post(format!("{base}/oauth2/token"))
        .basic_auth(&client.client_id, Some(&secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("token json");
    let token = token["access_token"].as_str().expect("access_token").to_owned();
    let tenant: Value = http
        .post(format!("{base}/api/clients"))
        .bearer_auth(&token)
        .json(&json!({"name": "Bench"}))
        .send()
        .await
        .expect("client")
        .json()
        .await
        .expect("json");
    let account: Value = http
        .post(format!("{base}/api/paymentaccounts"))
        .bearer_auth(&token)
        .json(&json!({"client_id": tenant["id"], "name": "Bench", "currency": "USD",
                      "fee_rules": [{"method": "card", "percent_bps": 295, "min_fee": 195}]}))
        .send()
        .await
        .expect("account")
        .json()
        .await
        .expect("json");
    let key: Value = http
        .post(format!("{base}/api/paymentaccounts/{}/api-keys", account["uid"].as_str().expect("uid")))
        .bearer_auth(&token)
        .json(&json!({"label": "bench", "scopes": ["*"]}))
        .send()
        .await
        .expect("key")
        .json()
        .await
        .expect("json");
    key["key"].as_str().expect("key").to_owned()
}

/// `n` sessions, each with a card fee quote: (session id, client secret, quote id).
async fn prepare(
    http: &reqwest::Client,
    base: &str,
    key: &str,
    n: usize,
    concurrency: usize,
) -> Vec<(String, String, String)> {
    let out = Arc::new(Mutex::new(Vec::with_capacity(n)));
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (http, base, key, out, next) =
                (http.clone(), base.to_owned(), key.to_owned(), out.clone(), next.clone());
            tokio::spawn(async move {
                while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < n {
                    let s: Value = http
                        .post(format!("{base}/v1/hosted-sessions"))
                        .bearer_auth(&key)
                        .json(&json!({"amount": 14227, "currency": "USD",
                            "success_url": "https://bench.example/ok", "cancel_url": "https://bench.example/no"}))
                        .send()
                        .await
                        .expect("session")
                        .json()
                        .await
                        .expect("json");
                    let (id, secret) = (
                        s["session_id"].as_str().expect("id").to_owned(),
                        s["client_secret"].as_str().expect("secret").to_owned(),
                    );
                    let q: Value = http
                        .post(format!("{base}/v1/hosted-sessions/{id}/quote-fee"))
                        .bearer_auth(&secret)
                        .json(&json!({"payment_method_type": "card", "card_bin": "424242"}))
                        .send()
                        .await
                        .expect("quote")
                        .json()
                        .await
                        .expect("json");
                    out.lock().await.push((id, secret, q["fee_quote_id"].as_str().expect("quote id").to_owned()));
                }
            })
        })
        .collect();
    for w in workers {
        let _ = w.await;
    }
    Arc::try_unwrap(out).map(|m| m.into_inner()).unwrap_or_default()
}
