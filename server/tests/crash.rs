//! The crash test (issue 14): 1,000 confirms against a real `govifi-server` on PostgreSQL that is
//! killed with SIGKILL three times at random moments of the load and restarted. Afterwards no
//! session has two payments, the sandbox processor (its own tables, which outlive the process)
//! holds no charge without its payment, no session is left `processing`, the money adds up to
//! the cent, and every completed session's `checkout.session.completed` reached a loopback
//! webhook receiver.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

use axum::http::{Method, StatusCode};
use futures_util::StreamExt;
use serde_json::json;
use support::{Auth, Database, Receiver, ServerProcess, TestApp};
use tokio::sync::RwLock;

const SESSIONS: usize = 1_000;
const WORKERS: usize = 16;
const KILLS: usize = 3;

/// A small xorshift generator: the kill moments, from a seed the test prints.
struct Moments(u64);

impl Moments {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

async fn count(app: &TestApp, sql: &str) -> i64 {
    sqlx::query_scalar::<_, i64>(sql).fetch_one(app.db().pool()).await.unwrap()
}

/// What the restarted server does after its horizon, done at once while no server runs (so no
/// confirm is in flight anywhere): each confirm the crash left half done is finished from the
/// processor's record, or its session reopened when the processor never saw it.
async fn recover(app: &TestApp) -> usize {
    let later = server::store::now_ms() + server::checkout::confirm::STUCK_AFTER_MS + 1_000;
    let mut resolved = 0;
    loop {
        match server::checkout::confirm::recover_stuck(&app.state, later).await.unwrap() {
            0 => return resolved,
            n => resolved += n,
        }
    }
}

/// PostgreSQL still finishes a statement (a claim, a charge, a COMMIT) that it had when its
/// client died. A restarted server's recovery, a minute later, never reads before those land;
/// the test's recovery, run at once, waits for them.
async fn settle_the_dead_server_s_statements(app: &TestApp) {
    let busy = "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() \
                AND pid <> pg_backend_pid() AND state <> 'idle'";
    let deadline = Instant::now() + Duration::from_secs(30);
    while count(app, busy).await > 0 {
        assert!(Instant::now() < deadline, "the killed server's statements never ended");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_confirms_survive_three_sigkills() {
    let Some(app) = TestApp::spawn(Database::Postgres).await else {
        support::no_postgres();
        return;
    };
    let m = app.merchant().await;
    let receiver = Receiver::start().await;
    let events = json!({"url": receiver.url, "events": ["checkout.session.completed"]});
    let hook = app.call(Method::POST, "/api/webhooks", Auth::Bearer(&m.key), Some(events)).await;
    assert_eq!(hook.status, StatusCode::CREATED, "{}", hook.text());

    // The sessions and their fee quotes, made beforehand (in-process): the load is confirms only.
    let work: Vec<(String, String, String)> = futures_util::stream::iter(0..SESSIONS)
        .map(|i| {
            let (app, m) = (&app, &m);
            async move {
                let s = app.session(m, json!({"amount": 1_000 + i as i64, "reference": format!("CRASH-{i}")})).await;
                let quote = app.quote(&s, "card", Some("424242")).await;
                (s["session_id"].as_str().unwrap().to_owned(), s["client_secret"].as_str().unwrap().to_owned(), quote)
            }
        })
        .buffer_unordered(8)
        .collect()
        .await;
    let expected_total: i64 = (0..SESSIONS as i64).map(|i| 1_000 + i).sum();

    let env = [("GOVIFI_SANDBOX", "true")];
    let mut server = ServerProcess::start_with(&app, &env).await;
    let url = Arc::new(RwLock::new(server.url.clone()));
    let next = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let unanswered = Arc::new(AtomicUsize::new(0));
    // What each session's confirms were finally answered: the payment, as (session, payment).
    let answered = Arc::new(std::sync::Mutex::new(Vec::<(String, String)>::new()));
    let work = Arc::new(work);
    let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
    let workers: Vec<_> = (0..WORKERS)
        .map(|_| {
            let (url, next, done, work, http) = (url.clone(), next.clone(), done.clone(), work.clone(), http.clone());
            let (unanswered, answered) = (unanswered.clone(), answered.clone());
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some((id, secret, quote)) = work.get(i) else { break };
                    let body = json!({"fee_quote_id": quote, "payment_method": support::card("4242424242424242")});
                    let deadline = Instant::now() + Duration::from_secs(300);
                    loop {
                        assert!(Instant::now() < deadline, "session {id} was never paid");
                        let base = url.read().await.clone();
                        // One Idempotency-Key per session, as the element sends it: every retry
                        // of a confirm the kill cut off is answered with that confirm's result.
                        let sent = http
                            .post(format!("{base}/v1/hosted-sessions/{id}/confirm"))
                            .bearer_auth(secret)
                            .header("idempotency-key", format!("crash-{i}"))
                            .json(&body)
                            .send()
                            .await;
                        // No answer: the server died under the request, or is not back yet.
                        if sent.is_err() {
                            unanswered.fetch_add(1, Ordering::SeqCst);
                        }
                        if let Ok(r) = sent {
                            let status = r.status().as_u16();
                            let text = r.text().await.unwrap_or_default();
                            match status {
                                200 => {
                                    let paid: serde_json::Value = serde_json::from_str(&text).unwrap();
                                    let payment = paid["payment_id"].as_str().unwrap().to_owned();
                                    answered.lock().unwrap().push((id.clone(), payment));
                                    break;
                                }
                                // The key's attempt is being resolved (until it finishes, or
                                // recovery reopens it), or the server is not ready: again.
                                // 429: retries of an attempt held that long spend the
                                // credential's budget (it refills, 2 a second).
                                409 | 429 | 503 if !text.contains("already_confirmed") => {}
                                // (409 already_confirmed would be a paid session that did not
                                // answer the key that paid it.)
                                _ => panic!("confirm {id}: {status} {text}"),
                            }
                        }
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    done.fetch_add(1, Ordering::SeqCst);
                }
            })
        })
        .collect();

    // Three kills, each at a random point of its third of the load's middle and a random
    // few milliseconds into whatever the server is doing then.
    let seed = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_nanos() as u64 | 1;
    println!("kill moments from seed {seed}");
    let mut moments = Moments(seed);
    let span = SESSIONS * 8 / 10 / KILLS;
    for k in 0..KILLS {
        let at = SESSIONS / 10 + k * span + moments.below(span as u64) as usize;
        while done.load(Ordering::SeqCst) < at {
            // A worker that panicked (an unexpected answer, a session never paid) stops counting:
            // fail now rather than wait for a count that cannot come.
            assert!(!workers.iter().any(|w| w.is_finished()), "a worker stopped before the load ended");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        tokio::time::sleep(Duration::from_millis(moments.below(40))).await;
        let at = done.load(Ordering::SeqCst);
        server.kill().await;
        settle_the_dead_server_s_statements(&app).await;
        let processing = count(&app, "SELECT COUNT(*) FROM hosted_sessions WHERE status = 'processing'").await;
        let resolved = recover(&app).await;
        println!(
            "SIGKILL {} at {at} confirms: {processing} sessions left processing, {resolved} finished or reopened",
            k + 1
        );
        server = ServerProcess::start_with(&app, &env).await;
        *url.write().await = server.url.clone();
    }
    for w in workers {
        w.await.expect("a worker failed");
    }
    assert_eq!(done.load(Ordering::SeqCst), SESSIONS);
    println!(
        "{} requests went unanswered (the server died under them, or was down)",
        unanswered.load(Ordering::SeqCst)
    );

    // The books.
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM hosted_sessions WHERE status = 'processing'").await,
        0,
        "none left processing"
    );
    assert_eq!(count(&app, "SELECT COUNT(*) FROM hosted_sessions WHERE status = 'completed'").await, SESSIONS as i64);
    let doubled = "SELECT COUNT(*) FROM (SELECT session_id FROM payments WHERE session_id IS NOT NULL \
                   AND status <> 'failed' GROUP BY session_id HAVING COUNT(*) > 1) AS d";
    assert_eq!(count(&app, doubled).await, 0, "no session paid twice");
    let orphans = "SELECT COUNT(*) FROM sandbox_charges c WHERE NOT EXISTS \
                   (SELECT 1 FROM payments p WHERE p.attempt_id = c.reference)";
    assert_eq!(count(&app, orphans).await, 0, "no charge at the processor without its payment");
    assert_eq!(count(&app, "SELECT COUNT(*) FROM payments WHERE status = 'captured'").await, SESSIONS as i64);
    assert_eq!(
        count(&app, "SELECT CAST(SUM(amount) AS BIGINT) FROM payments WHERE status = 'captured'").await,
        expected_total,
        "to the cent"
    );

    // Every completion delivered (at least once: a crash may repeat one; a lease the dead
    // process held is taken over when it runs out).
    let deadline = Instant::now() + Duration::from_secs(120);
    let delivered = loop {
        let mut ids: Vec<String> = receiver
            .received()
            .iter()
            .map(|r| r.json())
            .filter(|e| e["type"] == "checkout.session.completed")
            .filter_map(|e| e["data"]["object"]["id"].as_str().map(str::to_owned))
            .collect();
        ids.sort();
        ids.dedup();
        if ids.len() >= SESSIONS || Instant::now() > deadline {
            break ids;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    // Every session's key answered with the very payment that completed it.
    let mut answered = answered.lock().unwrap().clone();
    answered.sort();
    let mut completed: Vec<(String, String)> =
        sqlx::query_as("SELECT id, payment_id FROM hosted_sessions WHERE payment_id IS NOT NULL")
            .fetch_all(app.db().pool())
            .await
            .unwrap();
    completed.sort();
    assert_eq!(answered.len(), SESSIONS);
    assert_eq!(answered, completed, "each confirm's answer names its session's payment");
    let mut paid: Vec<String> = work.iter().map(|(id, _, _)| id.clone()).collect();
    paid.sort();
    assert_eq!(delivered.len(), SESSIONS, "completions delivered: {} of {SESSIONS}", delivered.len());
    assert_eq!(delivered, paid);
    server.stop().await;
}
