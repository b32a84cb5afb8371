//! `cargo xtask bench`: confirms per second over real HTTP, with p50/p99 latency, beside the
//! same machine's one-row-insert transaction rate on the same database in the same run; and the
//! element's `GET config` beside a hello-world axum handler served the same way.
//!
//! Per backend: a fresh database and a server on 127.0.0.1:0; the insert rate with N writers for
//! the run's duration; a pool of sessions with fee quotes prepared (untimed); N workers reading
//! their configs, then a hello-world route, for the same duration; then N workers confirm the
//! sessions. The ratios (confirms/s ÷ inserts/s; config req/s ÷ hello req/s and p99 ÷ p99) are
//! the figures tracked. Results also go to `target/bench/results.json`.

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

#[derive(serde::Serialize)]
struct Report {
    backend: &'static str,
    confirms: usize,
    confirms_per_s: f64,
    p50_ms: f64,
    p99_ms: f64,
    inserts_per_s: f64,
    failures: usize,
    config: Load,
    hello: Load,
}

/// Requests per second and latency of one route under the run's concurrency.
#[derive(serde::Serialize, Clone, Copy, Default)]
struct Load {
    requests: usize,
    per_s: f64,
    p50_ms: f64,
    p99_ms: f64,
    failures: usize,
}

/// The process's peak resident set (`VmHWM`), in KiB (Linux).
fn peak_rss_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Latencies' percentile `p` in milliseconds (sorted input).
fn percentile(sorted: &[Duration], p: f64) -> f64 {
    sorted
        .get(((sorted.len() as f64 * p) as usize).min(sorted.len().saturating_sub(1)))
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

/// `concurrency` workers sending `request(i)` (i counting up across all workers) until the
/// deadline; a non-2xx answer or no answer counts as a failure.
async fn load<F>(concurrency: usize, seconds: u64, request: F) -> Load
where
    F: Fn(usize) -> reqwest::RequestBuilder + Send + Sync + 'static,
{
    let request = Arc::new(request);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let failures = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (request, next, failures) = (request.clone(), next.clone(), failures.clone());
            tokio::spawn(async move {
                let mut mine = Vec::new();
                while Instant::now() < deadline {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let t = Instant::now();
                    let answered = match request(i).send().await {
                        Ok(r) => r.status().is_success() && r.bytes().await.is_ok(),
                        Err(_) => false,
                    };
                    if answered {
                        mine.push(t.elapsed());
                    } else {
                        failures.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                }
                mine
            })
        })
        .collect();
    let mut all = Vec::new();
    for w in workers {
        all.extend(w.await.unwrap_or_default());
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort();
    Load {
        requests: all.len(),
        per_s: all.len() as f64 / elapsed,
        p50_ms: percentile(&all, 0.50),
        p99_ms: percentile(&all, 0.99),
        failures: failures.load(std::sync::atomic::Ordering::Relaxed),
    }
}

/// A hello-world axum handler on its own port, served exactly as the product is.
async fn hello_server() -> (String, tokio::sync::oneshot::Sender<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let router = axum::Router::new().route("/", axum::routing::get(|| async { "Hello, world!" }));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(server::app::serve(listener, router, async move {
        let _ = stopped.await;
    }));
    (base, stop)
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
    println!("\n== GET config beside a hello-world axum handler ({} concurrent) ==", o.concurrency);
    println!(
        "{:<9} {:>11} {:>9} {:>11} {:>9} {:>9} {:>9} {:>9}",
        "database", "config/s", "p99 ms", "hello/s", "p99 ms", "req ratio", "p99 ratio", "failures"
    );
    for r in &reports {
        println!(
            "{:<9} {:>11.1} {:>9.2} {:>11.1} {:>9.2} {:>9.2} {:>9.2} {:>9}",
            r.backend,
            r.config.per_s,
            r.config.p99_ms,
            r.hello.per_s,
            r.hello.p99_ms,
            r.config.per_s / r.hello.per_s.max(1e-9),
            r.config.p99_ms / r.hello.p99_ms.max(1e-9),
            r.config.failures + r.hello.failures
        );
    }
    println!("(req ratio = config req/s ÷ hello req/s, target ≥ 0.5; p99 ratio = config p99 ÷ hello p99, target ≤ 5)");
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench");
    // The server runs in this process, beside the load generator: their peak together bounds the
    // server's own from above.
    let peak_rss_mb = peak_rss_kb().map(|kb| kb as f64 / 1024.0);
    match peak_rss_mb {
        Some(mb) => println!(
            "peak RSS of the bench process (server and load generator together): {mb:.1} MB (server target ≤ 64 MB)"
        ),
        None => println!("peak RSS: not available on this system"),
    }
    let results = serde_json::json!({
        "seconds": o.seconds,
        "concurrency": o.concurrency,
        "peak_rss_mb_bench_process": peak_rss_mb,
        "results": reports,
    });
    match std::fs::create_dir_all(&out)
        .and_then(|_| std::fs::write(out.join("results.json"), serde_json::to_vec_pretty(&results).unwrap_or_default()))
    {
        Ok(()) => println!("results: {}", out.join("results.json").display()),
        Err(e) => println!("could not write the results: {e}"),
    }
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
    let prepared = prepare(&http, &base, &key, pool_size, o.concurrency).await;
    println!("{backend}: prepared {pool_size} sessions with fee quotes");

    // The element's first call, round-robin over the sessions (each credential stays well under
    // its 120-a-minute budget), then the hello-world handler, each for the run's duration.
    let credentials: Arc<Vec<(String, String)>> =
        Arc::new(prepared.iter().map(|(id, secret, _)| (id.clone(), secret.clone())).collect());
    let (c, b) = (http.clone(), base.clone());
    let config = load(o.concurrency, o.seconds, move |i| {
        let (id, secret) = &credentials[i % credentials.len()];
        c.get(format!("{b}/v1/hosted-sessions/{id}/config")).bearer_auth(secret)
    })
    .await;
    let (hello_base, hello_stop) = hello_server().await;
    let c = http.clone();
    let hello = load(o.concurrency, o.seconds, move |_| c.get(format!("{hello_base}/"))).await;
    let _ = hello_stop.send(());
    println!(
        "{backend}: GET config {:.1}/s (p99 {:.2} ms), hello world {:.1}/s (p99 {:.2} ms)",
        config.per_s, config.p99_ms, hello.per_s, hello.p99_ms
    );
    let pool = Arc::new(Mutex::new(prepared));

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
    Report {
        backend,
        confirms: l.len(),
        confirms_per_s: l.len() as f64 / elapsed,
        p50_ms: percentile(&l, 0.50),
        p99_ms: percentile(&l, 0.99),
        inserts_per_s,
        failures: failures.load(std::sync::atomic::Ordering::Relaxed),
        config,
        hello,
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
