//! Webhook delivery against a real receiver on loopback: signatures the public
//! `standardwebhooks` library verifies, only subscribed types, retries on the schedule (with a
//! clock of the test's own), 410, Retry-After, rotation, test and redeliver, the delivery log,
//! SSRF refusals at creation and at delivery, and the loop waking at once for a new event.

mod support;

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};
use server::webhooks::delivery::deliver_due;
use support::{Auth, Merchant, Receiver, TestApp};

async fn subscribe(app: &TestApp, m: &Merchant, url: &str, events: Value) -> Value {
    let r = app
        .call(Method::POST, "/api/webhooks", Auth::Bearer(&m.key), Some(json!({"url": url, "events": events})))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    r.json()
}

fn verify(secret: &str, got: &support::Received) {
    standardwebhooks::Webhook::new(secret)
        .unwrap()
        .verify(&got.body, &got.headers)
        .unwrap_or_else(|e| panic!("the standardwebhooks library refused the delivery: {e:?}"));
}

async fn deliveries(app: &TestApp, m: &Merchant, webhook_id: &str) -> Vec<Value> {
    let r = app.call(Method::GET, format!("/api/webhooks/{webhook_id}/deliveries"), Auth::Bearer(&m.key), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    r.json()["value"].as_array().unwrap().clone()
}

fn now() -> i64 {
    server::store::now_ms()
}

async fn customer_event(app: &TestApp, m: &Merchant, name: &str) -> String {
    let r = app.call(Method::POST, "/api/customers", Auth::Bearer(&m.key), Some(json!({"name": name}))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    // The event's id (its data is the customer).
    let row = sqlx::query("SELECT id, data FROM events WHERE type = 'customer.created' AND account_uid = $1 ORDER BY created_at DESC, id DESC LIMIT 1")
        .bind(&m.uid)
        .fetch_one(app.db().pool())
        .await
        .unwrap();
    let data: Value = serde_json::from_str(&sqlx::Row::get::<String, _>(&row, 1)).unwrap();
    assert_eq!(data["id"], r.json()["id"]);
    sqlx::Row::get(&row, 0)
}

db_tests! {
    async fn actions_that_take_no_fields_refuse_a_field_and_do_nothing(app) {
        let m = app.merchant().await;
        let receiver = Receiver::start().await;
        let hook = subscribe(&app, &m, &receiver.url, json!(["*"])).await;
        let hid = hook["id"].as_str().unwrap();
        let event = customer_event(&app, &m, "Ann").await;
        let s = app.session(&m, json!({"customer_email": "ann@example.com"})).await;
        let sid = s["session_id"].as_str().unwrap();
        // A caller who meant to aim the redelivery at one subscription learns it was not read.
        let field = json!({"webhook_id": hid});
        let actions = [
            (format!("/api/webhooks/{hid}/rotate-secret"), Auth::Bearer(&m.key), StatusCode::OK),
            (format!("/api/webhooks/{hid}/test"), Auth::Bearer(&m.key), StatusCode::ACCEPTED),
            (format!("/api/events/{event}/redeliver"), Auth::Bearer(&m.key), StatusCode::ACCEPTED),
            (format!("/v1/hosted-sessions/{sid}/expire"), Auth::Bearer(&m.key), StatusCode::OK),
            (format!("/api/paymentaccounts/{}/rotate-redirect-secret", m.uid), Auth::Bearer(&m.token), StatusCode::OK),
        ];
        let queued = deliveries(&app, &m, hid).await.len();
        for (path, auth, _) in &actions {
            let r = app.call(Method::POST, path, auth.clone(), Some(field.clone())).await;
            assert_eq!(r.assert_error(400, "unknown_field")["param"], "webhook_id", "{path}");
        }
        let r = app.browser(Method::POST, &s, "challenge/send", None, Some(field.clone())).await;
        assert_eq!(r.assert_error(400, "unknown_field")["param"], "webhook_id");
        // Nothing was done: no delivery queued (the customer's event has its one), the session
        // still open, no code sent.
        assert_eq!(deliveries(&app, &m, hid).await.len(), queued);
        let read = app.call(Method::GET, format!("/v1/hosted-sessions/{sid}"), Auth::Bearer(&m.key), None).await;
        assert_eq!(read.json()["status"], "active", "{}", read.text());
        let outbox = app.call(Method::GET, "/api/outbox", Auth::Bearer(&m.token), None).await;
        assert!(!outbox.text().contains("ann@example.com"), "{}", outbox.text());
        // No body, or `{}`, is the action.
        for (i, (path, auth, status)) in actions.iter().enumerate() {
            let body = (i % 2 == 0).then(|| json!({}));
            let r = app.call(Method::POST, path, auth.clone(), body).await;
            assert_eq!(r.status, *status, "{path}: {}", r.text());
        }
    }

    async fn a_paid_checkout_delivers_a_completed_event_the_public_library_verifies(app) {
        let receiver = Receiver::start().await;
        let m = app.merchant().await;
        let hook = subscribe(&app, &m, &receiver.url, json!(["checkout.session.completed"])).await;
        let secret = hook["secret"].as_str().unwrap().to_owned();
        assert!(secret.starts_with("whsec_"));
        assert_eq!(hook["object"], "webhook");
        assert_eq!(hook["events"], json!(["checkout.session.completed"]));
        // The secret is shown once.
        let again = app.call(Method::GET, format!("/api/webhooks/{}", hook["id"].as_str().unwrap()), Auth::Bearer(&m.key), None).await.json();
        assert!(again.get("secret").is_none(), "{again}");
        let stored = support::all_stored_text(app.db()).await;
        assert!(!stored.contains(&secret), "the secret is sealed at rest");

        let s = app.session(&m, json!({})).await;
        let paid = app.pay_card(&s, "4242424242424242", None).await;
        assert_eq!(paid.status, StatusCode::OK, "{}", paid.text());
        assert_eq!(deliver_due(&app.state, now()).await.unwrap(), 1, "only the subscribed type (not payment.*)");
        let got = receiver.wait_for(1).await;
        let delivery = &got[0];
        verify(&secret, delivery);
        let event = delivery.json();
        assert_eq!(event["object"], "event");
        assert_eq!(event["type"], "checkout.session.completed");
        assert_eq!(event["account_uid"], m.uid);
        assert_eq!(event["data"]["object"]["id"], s["session_id"]);
        assert_eq!(event["data"]["object"]["status"], "completed");
        assert_eq!(delivery.header("webhook-id"), event["id"].as_str().unwrap(), "webhook-id is the event id");
        assert_eq!(delivery.header("content-type"), "application/json");
        assert_eq!(delivery.header("user-agent"), "Govifi-Webhooks/1");
        let ts: i64 = delivery.header("webhook-timestamp").parse().unwrap();
        assert!((ts - now() / 1000).abs() < 60);
        let log = deliveries(&app, &m, hook["id"].as_str().unwrap()).await;
        assert_eq!(log.len(), 1);
        assert_eq!(log[0]["object"], "webhook_delivery");
        assert_eq!(log[0]["status"], "succeeded");
        assert_eq!(log[0]["event_id"], event["id"]);
        assert_eq!(log[0]["attempts"][0]["response_status"], 200);
        assert_eq!(log[0]["attempts"][0]["response_body"], "thanks, from the receiver");
        assert!(log[0]["attempts"][0]["duration_ms"].is_i64());
        assert_eq!(deliver_due(&app.state, now()).await.unwrap(), 0, "delivered once");
    }

    async fn a_failed_attempt_is_retried_with_the_same_id_and_body(app) {
        let receiver = Receiver::start().await;
        receiver.answer(&[500, 200]);
        let m = app.merchant().await;
        let hook = subscribe(&app, &m, &receiver.url, json!(["*"])).await;
        customer_event(&app, &m, "Retry").await;
        let t0 = now();
        assert_eq!(deliver_due(&app.state, t0).await.unwrap(), 1);
        let log = deliveries(&app, &m, hook["id"].as_str().unwrap()).await;
        assert_eq!(log[0]["status"], "pending");
        assert_eq!(log[0]["attempts"][0]["response_status"], 500);
        let next = server::domain::time::Timestamp::parse_rfc3339(log[0]["next_attempt_at"].as_str().unwrap()).unwrap().millis();
        assert!((t0 + 3_500..=t0 + 5_500).contains(&next), "the second attempt 5 s (±10 %) later, shown in whole seconds: {}", next - t0);
        assert_eq!(deliver_due(&app.state, t0 + 1_000).await.unwrap(), 0, "not before it is due");
        assert_eq!(deliver_due(&app.state, t0 + 7_000).await.unwrap(), 1);
        let got = receiver.wait_for(2).await;
        assert_eq!(got[0].header("webhook-id"), got[1].header("webhook-id"));
        assert_eq!(got[0].body, got[1].body, "the same body on every attempt");
        verify(hook["secret"].as_str().unwrap(), &got[1]);
        let log = deliveries(&app, &m, hook["id"].as_str().unwrap()).await;
        assert_eq!(log[0]["status"], "succeeded");
        assert_eq!(log[0]["attempts"].as_array().unwrap().len(), 2);
        assert_eq!(log[0]["next_attempt_at"], Value::Null);
    }

    async fn the_schedule_runs_ten_attempts_over_about_three_days_then_fails(app) {
        let receiver = Receiver::start().await;
        receiver.answer(&[503]);
        let m = app.merchant().await;
        let hook = subscribe(&app, &m, &receiver.url, json!(["customer.created"])).await;
        let hid = hook["id"].as_str().unwrap().to_owned();
        customer_event(&app, &m, "Schedule").await;
        let t0 = now();
        let mut clock = t0;
        let mut gaps = Vec::new();
        for _ in 0..10 {
            assert_eq!(deliver_due(&app.state, clock).await.unwrap(), 1, "at {} s", (clock - t0) / 1000);
            // To the millisecond (the API shows whole seconds).
            let next: Option<i64> = sqlx::Row::get(&sqlx::query("SELECT next_attempt_at FROM webhook_deliveries WHERE webhook_id = $1").bind(&hid).fetch_one(app.db().pool()).await.unwrap(), 0);
            match next {
                Some(next) => {
                    gaps.push((next - clock) as f64 / 1000.0);
                    clock = next + 1_000;
                }
                None => break,
            }
        }
        let base = [5, 300, 1_800, 7_200, 18_000, 36_000, 50_400, 72_000, 86_400];
        assert_eq!(gaps.len(), 9, "{gaps:?}");
        for (gap, want) in gaps.iter().zip(base) {
            assert!((gap - want as f64).abs() <= want as f64 * 0.1 + 0.01, "{gap} s for {want} s");
        }
        let log = deliveries(&app, &m, &hid).await;
        assert_eq!(log[0]["status"], "failed");
        assert_eq!(log[0]["attempts"].as_array().unwrap().len(), 10);
        assert_eq!(receiver.received().len(), 10);
        assert_eq!(deliver_due(&app.state, clock + 100 * 86_400_000).await.unwrap(), 0, "no eleventh attempt");
        let total = (clock - t0) / 1000;
        assert!((2 * 86_400..4 * 86_400).contains(&total), "about three days in all: {total} s");
    }

    async fn five_days_of_failures_disable_the_subscription(app) {
        let receiver = Receiver::start().await;
        receiver.answer(&[500]);
        let m = app.merchant().await;
        let failing = subscribe(&app, &m, &receiver.url, json!(["customer.created"])).await;
        let watcher = Receiver::start().await;
        let other = subscribe(&app, &m, &watcher.url, json!(["webhook.disabled"])).await;
        // An event a day, every attempt failing (each pass's clock a moment after its event; the
        // first event's own time is known only once it is made).
        customer_event(&app, &m, "Day 0").await;
        let t0 = now() + 1_000;
        for day in 0..=4 {
            if day > 0 {
                customer_event(&app, &m, &format!("Day {day}")).await;
            }
            deliver_due(&app.state, t0 + day * 86_400_000).await.unwrap();
        }
        let hook = app.call(Method::GET, format!("/api/webhooks/{}", failing["id"].as_str().unwrap()), Auth::Bearer(&m.key), None).await.json();
        assert_eq!(hook["enabled"], true, "four days is not yet five");
        customer_event(&app, &m, "Day 5").await;
        deliver_due(&app.state, t0 + 5 * 86_400_000 + 60_000).await.unwrap();
        let hook = app.call(Method::GET, format!("/api/webhooks/{}", failing["id"].as_str().unwrap()), Auth::Bearer(&m.key), None).await.json();
        assert_eq!(hook["enabled"], false);
        assert_eq!(hook["disabled_reason"], "every delivery failed for 5 days");
        // The other subscription hears of it; the disabled one gets nothing more.
        deliver_due(&app.state, now()).await.unwrap();
        let got = watcher.wait_for(1).await;
        assert_eq!(got[0].json()["type"], "webhook.disabled");
        assert_eq!(got[0].json()["data"]["object"]["id"], failing["id"]);
        verify(other["secret"].as_str().unwrap(), &got[0]);
        let before = receiver.received().len();
        customer_event(&app, &m, "After").await;
        deliver_due(&app.state, now() + 10 * 86_400_000).await.unwrap();
        assert_eq!(receiver.received().len(), before);
        // Switched on again, it starts afresh.
        let on = app.call(Method::PATCH, format!("/api/webhooks/{}", failing["id"].as_str().unwrap()), Auth::Bearer(&m.key), Some(json!({"enabled": true}))).await.json();
        assert_eq!((on["enabled"].as_bool(), on["disabled_reason"].as_str()), (Some(true), None));
    }

    async fn failures_days_apart_with_nothing_tried_between_are_not_one_streak(app) {
        let receiver = Receiver::start().await;
        receiver.answer(&[500]);
        let m = app.merchant().await;
        let hook = subscribe(&app, &m, &receiver.url, json!(["customer.created"])).await;
        let get = async || app.call(Method::GET, format!("/api/webhooks/{}", hook["id"].as_str().unwrap()), Auth::Bearer(&m.key), None).await.json();
        // Day 0: a failure (the endpoint is down); then quiet for three days, then failures again.
        let t0 = now() + 1_000;
        customer_event(&app, &m, "Day 0").await;
        deliver_due(&app.state, t0).await.unwrap();
        sqlx::query("UPDATE webhook_deliveries SET status = 'failed', next_attempt_at = NULL").execute(app.db().writer()).await.unwrap();
        for day in [3, 4, 5] {
            customer_event(&app, &m, &format!("Day {day}")).await;
            deliver_due(&app.state, t0 + day * 86_400_000 + 60_000).await.unwrap();
        }
        let h = get().await;
        assert_eq!(h["enabled"], true, "failing since day 3, not day 0: {h}");
        // Failures every day since day 3 do add up.
        for day in [6, 7, 8] {
            customer_event(&app, &m, &format!("Day {day}")).await;
            deliver_due(&app.state, t0 + day * 86_400_000 + 60_000).await.unwrap();
        }
        let h = get().await;
        assert_eq!((h["enabled"].as_bool(), h["disabled_reason"].as_str()), (Some(false), Some("every delivery failed for 5 days")));
    }

    async fn a_streak_that_ended_meanwhile_switches_nothing_off(app) {
        use server::domain::webhook::DISABLE_AFTER_MS;
        let m = app.merchant().await;
        let hook = subscribe(&app, &m, "https://hooks.example/streak", json!(["*"])).await;
        let id = hook["id"].as_str().unwrap();
        let t = now();
        let switch_off = async || {
            let mut tx = app.db().begin_write().await.unwrap();
            let off = server::store::webhooks::disable(&mut tx, id, "every delivery failed for 5 days", t, Some(t - DISABLE_AFTER_MS)).await.unwrap();
            tx.commit().await.unwrap();
            off
        };
        // Another process's success ended the streak after this one read it: nothing happens.
        assert!(!switch_off().await);
        // A streak younger than five days: nothing either.
        sqlx::query("UPDATE webhooks SET failing_since = $1 WHERE id = $2").bind(t - DISABLE_AFTER_MS + 60_000).bind(id).execute(app.db().pool()).await.unwrap();
        assert!(!switch_off().await);
        // Five days and a minute of failures: off.
        sqlx::query("UPDATE webhooks SET failing_since = $1 WHERE id = $2").bind(t - DISABLE_AFTER_MS - 60_000).bind(id).execute(app.db().pool()).await.unwrap();
        assert!(switch_off().await);
        let h = app.call(Method::GET, format!("/api/webhooks/{id}"), Auth::Bearer(&m.key), None).await.json();
        assert_eq!(h["enabled"], false);
    }

    async fn an_answer_keeps_its_first_kib_and_one_slower_than_15_s_is_a_failed_attempt(app) {
        let receiver = Receiver::start().await;
        let long = format!("{}{}", "a".repeat(1_000), "b".repeat(4_000));
        receiver.answer_body(&long);
        let m = app.merchant().await;
        let hook = subscribe(&app, &m, &receiver.url, json!(["customer.created"])).await;
        let hid = hook["id"].as_str().unwrap().to_owned();
        customer_event(&app, &m, "Long").await;
        assert_eq!(deliver_due(&app.state, now()).await.unwrap(), 1);
        let log = deliveries(&app, &m, &hid).await;
        assert_eq!(log[0]["status"], "succeeded");
        assert_eq!(log[0]["attempts"][0]["response_body"].as_str(), Some(&long[..1024]), "SPEC §7: the first 1 KiB");

        // Held past the 15 s deadline: a failed attempt, retried on the schedule.
        receiver.hold();
        customer_event(&app, &m, "Slow").await;
        let started = std::time::Instant::now();
        assert_eq!(deliver_due(&app.state, now()).await.unwrap(), 1);
        let waited = started.elapsed();
        assert!(waited >= server::webhooks::client::TIMEOUT, "gave up after {waited:?}");
        assert!(waited < server::webhooks::client::TIMEOUT + std::time::Duration::from_secs(10), "gave up after {waited:?}");
        receiver.release();
        let log = deliveries(&app, &m, &hid).await;
        let slow = log.iter().find(|d| d["status"] != "succeeded").expect("the slow delivery");
        assert_eq!(slow["status"], "pending", "{slow}");
        let attempt = &slow["attempts"][0];
        assert_eq!(attempt["error"], "timeout", "{attempt}");
        assert!(attempt.get("response_status").is_none_or(Value::is_null), "{attempt}");
        assert!(attempt["duration_ms"].as_i64().unwrap() >= 15_000, "{attempt}");
        assert!(slow["next_attempt_at"].is_string(), "retried later: {slow}");
    }

    async fn a_410_disables_at_once_and_retry_after_is_honoured(app) {
        let gone = Receiver::start().await;
        gone.answer(&[410]);
        let m = app.merchant().await;
        let hook = subscribe(&app, &m, &gone.url, json!(["customer.created"])).await;
        customer_event(&app, &m, "Gone").await;
        deliver_due(&app.state, now()).await.unwrap();
        let h = app.call(Method::GET, format!("/api/webhooks/{}", hook["id"].as_str().unwrap()), Auth::Bearer(&m.key), None).await.json();
        assert_eq!(h["enabled"], false);
        assert_eq!(h["disabled_reason"], "the endpoint answered 410 Gone");
        assert_eq!(deliveries(&app, &m, hook["id"].as_str().unwrap()).await[0]["status"], "failed");
        assert!(app.events(&m.uid).await.iter().any(|(t, o)| t == "webhook.disabled" && o["id"] == hook["id"]));

        // Changed while its attempt was in flight: the event tells the subscription as it is.
        let held = Receiver::start().await;
        held.answer(&[410]);
        held.hold();
        let hook = subscribe(&app, &m, &held.url, json!(["customer.created"])).await;
        let hid = hook["id"].as_str().unwrap().to_owned();
        customer_event(&app, &m, "Held").await;
        let state = app.state.clone();
        let attempt = tokio::spawn(async move { deliver_due(&state, now()).await.unwrap() });
        held.wait_for(1).await;
        let patched = app.call(Method::PATCH, format!("/api/webhooks/{hid}"), Auth::Bearer(&m.key), Some(json!({"description": "changed during the attempt"}))).await;
        assert_eq!(patched.status, StatusCode::OK, "{}", patched.text());
        held.release();
        assert_eq!(attempt.await.unwrap(), 1);
        let events = app.events(&m.uid).await;
        let disabled = events.iter().find(|(t, o)| t == "webhook.disabled" && o["id"] == hid.as_str()).map(|(_, o)| o).expect("its event");
        assert_eq!((disabled["enabled"].as_bool(), disabled["description"].as_str()), (Some(false), Some("changed during the attempt")), "{disabled}");

        let busy = Receiver::start().await;
        busy.answer_with(429, &[("retry-after", "120")]);
        let hook = subscribe(&app, &m, &busy.url, json!(["customer.created"])).await;
        customer_event(&app, &m, "Busy").await;
        let t0 = now();
        deliver_due(&app.state, t0).await.unwrap();
        let log = deliveries(&app, &m, hook["id"].as_str().unwrap()).await;
        let next = server::domain::time::Timestamp::parse_rfc3339(log[0]["next_attempt_at"].as_str().unwrap()).unwrap().millis();
        assert!((t0 + 119_000..=t0 + 121_000).contains(&next), "Retry-After: 120 s, not 5 s ({})", next - t0);
        assert_eq!(log[0]["attempts"][0]["response_status"], 429);
        // Or as a date (RFC 9110 allows either): five minutes from now.
        let dated = Receiver::start().await;
        let at = httpdate::fmt_http_date(std::time::SystemTime::now() + std::time::Duration::from_secs(300));
        dated.answer_with(503, &[("retry-after", at.as_str())]);
        let hook = subscribe(&app, &m, &dated.url, json!(["customer.created"])).await;
        customer_event(&app, &m, "Dated").await;
        let t0 = now();
        deliver_due(&app.state, t0).await.unwrap();
        let log = deliveries(&app, &m, hook["id"].as_str().unwrap()).await;
        let next = server::domain::time::Timestamp::parse_rfc3339(log[0]["next_attempt_at"].as_str().unwrap()).unwrap().millis();
        assert!((t0 + 297_000..=t0 + 301_000).contains(&next), "Retry-After's date, 300 s on, not 5 s ({})", next - t0);
        // A shorter Retry-After than the schedule's does not hurry the retries: ten attempts a
        // second apart would give a receiver seconds, not days, to come back.
        let hasty = Receiver::start().await;
        hasty.answer_with(503, &[("retry-after", "1")]);
        let hook = subscribe(&app, &m, &hasty.url, json!(["customer.created"])).await;
        customer_event(&app, &m, "Hasty").await;
        let t0 = now();
        deliver_due(&app.state, t0).await.unwrap();
        let log = deliveries(&app, &m, hook["id"].as_str().unwrap()).await;
        let next = server::domain::time::Timestamp::parse_rfc3339(log[0]["next_attempt_at"].as_str().unwrap()).unwrap().millis();
        // The schedule's 5 s ± 10 %, shown to the second (so down to 3.5 s after `t0`).
        assert!((t0 + 3_500..=t0 + 5_500).contains(&next), "the schedule's 5 s, not Retry-After's 1 s ({})", next - t0);

        let moved = Receiver::start().await;
        moved.answer_with(302, &[("location", "http://127.0.0.1:9/elsewhere")]);
        let hook = subscribe(&app, &m, &moved.url, json!(["customer.created"])).await;
        customer_event(&app, &m, "Moved").await;
        deliver_due(&app.state, now()).await.unwrap();
        let log = deliveries(&app, &m, hook["id"].as_str().unwrap()).await;
        assert_eq!(log[0]["status"], "pending", "a 3xx is a failure");
        assert_eq!(log[0]["attempts"][0]["response_status"], 302);
        assert_eq!(log[0]["attempts"][0]["error"], "redirect_not_followed");
        assert_eq!(moved.received().len(), 1, "the redirect was not followed");
    }

    async fn after_a_rotation_both_signatures_verify_for_the_overlap(app) {
        let receiver = Receiver::start().await;
        let m = app.merchant().await;
        let hook = subscribe(&app, &m, &receiver.url, json!(["customer.created"])).await;
        let old = hook["secret"].as_str().unwrap().to_owned();
        let r = app.call(Method::POST, format!("/api/webhooks/{}/rotate-secret", hook["id"].as_str().unwrap()), Auth::Bearer(&m.key), None).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        let new = r.json()["secret"].as_str().unwrap().to_owned();
        assert_ne!(new, old);
        customer_event(&app, &m, "Rotated").await;
        deliver_due(&app.state, now()).await.unwrap();
        let got = receiver.wait_for(1).await;
        assert_eq!(got[0].header("webhook-signature").split(' ').count(), 2, "v1,<new> v1,<old>");
        verify(&new, &got[0]);
        verify(&old, &got[0]);
        // After the overlap only the new one signs.
        customer_event(&app, &m, "Later").await;
        deliver_due(&app.state, now() + 25 * 3600 * 1000).await.unwrap();
        let got = receiver.wait_for(2).await;
        assert_eq!(got[1].header("webhook-signature").split(' ').count(), 1);
        verify(&new, &got[1]);
        assert!(standardwebhooks::Webhook::new(&old).unwrap().verify(&got[1].body, &got[1].headers).is_err());
    }

    async fn a_second_rotation_within_the_overlap_keeps_the_first_old_secret(app) {
        let receiver = Receiver::start().await;
        let m = app.merchant().await;
        let hook = subscribe(&app, &m, &receiver.url, json!(["customer.created"])).await;
        let id = hook["id"].as_str().unwrap().to_owned();
        let first = hook["secret"].as_str().unwrap().to_owned();
        let mut secrets = vec![first];
        for _ in 0..2 {
            let r = app.call(Method::POST, format!("/api/webhooks/{id}/rotate-secret"), Auth::Bearer(&m.key), None).await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.text());
            secrets.push(r.json()["secret"].as_str().unwrap().to_owned());
        }
        customer_event(&app, &m, "Rotated twice").await;
        deliver_due(&app.state, now()).await.unwrap();
        let got = receiver.wait_for(1).await;
        // A receiver still on the first secret, or on the second, loses nothing.
        assert_eq!(got[0].header("webhook-signature").split(' ').count(), 3, "the newest first, then both replaced");
        for secret in &secrets {
            verify(secret, &got[0]);
        }

        // Many rotations: only the newest few replaced secrets keep signing.
        for _ in 0..server::store::webhooks::MAX_PREVIOUS_SECRETS + 3 {
            let r = app.call(Method::POST, format!("/api/webhooks/{id}/rotate-secret"), Auth::Bearer(&m.key), None).await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.text());
            secrets.push(r.json()["secret"].as_str().unwrap().to_owned());
        }
        customer_event(&app, &m, "Rotated often").await;
        deliver_due(&app.state, now()).await.unwrap();
        let got = receiver.wait_for(2).await;
        let kept = server::store::webhooks::MAX_PREVIOUS_SECRETS as usize;
        assert_eq!(got[1].header("webhook-signature").split(' ').count(), 1 + kept);
        for secret in secrets.iter().rev().take(1 + kept) {
            verify(secret, &got[1]);
        }
        assert!(standardwebhooks::Webhook::new(&secrets[0]).unwrap().verify(&got[1].body, &got[1].headers).is_err());

        // After the overlap only the newest signs.
        customer_event(&app, &m, "Later").await;
        deliver_due(&app.state, now() + 25 * 3600 * 1000).await.unwrap();
        let got = receiver.wait_for(3).await;
        assert_eq!(got[2].header("webhook-signature").split(' ').count(), 1);
        verify(secrets.last().unwrap(), &got[2]);
    }

    async fn changes_to_a_subscription_are_events_without_its_secret(app) {
        let receiver = Receiver::start().await;
        let m = app.merchant().await;
        let watcher = subscribe(&app, &m, &receiver.url, json!(["webhook.created", "webhook.updated", "webhook.secret_rotated", "webhook.deleted"])).await;
        let hook = subscribe(&app, &m, "https://shop.example/hooks", json!(["customer.created"])).await;
        let id = hook["id"].as_str().unwrap().to_owned();
        let r = app.call(Method::PATCH, format!("/api/webhooks/{id}"), Auth::Bearer(&m.key), Some(json!({"description": "Orders"}))).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        let r = app.call(Method::POST, format!("/api/webhooks/{id}/rotate-secret"), Auth::Bearer(&m.key), None).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        let rotated = r.json()["secret"].as_str().unwrap().to_owned();
        let r = app.call(Method::DELETE, format!("/api/webhooks/{id}"), Auth::Bearer(&m.key), None).await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());

        deliver_due(&app.state, now()).await.unwrap();
        let got = receiver.wait_for(4).await;
        let mut seen: Vec<(String, String)> = got.iter().map(|g| {
            let e = g.json();
            (e["type"].as_str().unwrap().to_owned(), e["data"]["object"]["id"].as_str().unwrap().to_owned())
        }).collect();
        seen.sort();
        let mut want: Vec<(String, String)> = ["webhook.created", "webhook.updated", "webhook.secret_rotated", "webhook.deleted"].iter().map(|t| (t.to_string(), id.clone())).collect();
        want.sort();
        assert_eq!(seen, want, "the other subscription's changes, and not the watcher's own creation");
        let updated = got.iter().find(|g| g.json()["type"] == "webhook.updated").unwrap().json();
        assert_eq!(updated["data"]["object"]["description"], "Orders");
        // Another receiver's URL may carry its token: the others are shown only its origin.
        assert_eq!(updated["data"]["object"]["url"], "https://shop.example/…");
        let deleted = got.iter().find(|g| g.json()["type"] == "webhook.deleted").unwrap().json();
        assert_eq!(deleted["data"]["object"]["enabled"], false);
        for g in &got {
            let text = String::from_utf8_lossy(&g.body).into_owned();
            assert!(!text.contains("whsec_") && !text.contains(&rotated), "no secret in {text}");
            verify(watcher["secret"].as_str().unwrap(), g);
        }
    }

    async fn test_and_redeliver_arrive(app) {
        let receiver = Receiver::start().await;
        let m = app.merchant().await;
        let hook = subscribe(&app, &m, &receiver.url, json!(["customer.created"])).await;
        let everything = Receiver::start().await;
        subscribe(&app, &m, &everything.url, json!(["*"])).await;
        let r = app.call(Method::POST, format!("/api/webhooks/{}/test", hook["id"].as_str().unwrap()), Auth::Bearer(&m.key), None).await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text());
        assert_eq!(r.json()["deliveries"].as_array().unwrap().len(), 1);
        deliver_due(&app.state, now()).await.unwrap();
        let got = receiver.wait_for(1).await;
        assert_eq!(got[0].json()["type"], "webhook.test");
        assert_eq!(got[0].json()["data"]["object"]["id"], hook["id"]);
        let shown = got[0].json()["data"]["object"]["url"].as_str().unwrap().to_owned();
        assert!(hook["url"].as_str().unwrap().starts_with(shown.trim_end_matches('…')) && shown.ends_with("/…"),
            "the URL cut to its origin, as the event may be resent to others: {shown}");
        assert!(everything.received().is_empty(), "the test event goes to that subscription only");

        let event_id = customer_event(&app, &m, "Redeliver me").await;
        deliver_due(&app.state, now()).await.unwrap();
        receiver.wait_for(2).await;
        let r = app.call(Method::POST, format!("/api/events/{event_id}/redeliver"), Auth::Bearer(&m.key), None).await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text());
        assert_eq!(r.json()["deliveries"].as_array().unwrap().len(), 2, "both subscriptions take it");
        deliver_due(&app.state, now()).await.unwrap();
        let got = receiver.wait_for(3).await;
        assert_eq!(got[1].header("webhook-id"), event_id);
        assert_eq!(got[2].header("webhook-id"), event_id, "the same webhook-id");
        assert_eq!(got[1].body, got[2].body);
        app.call(Method::POST, "/api/events/evt_nope/redeliver", Auth::Bearer(&m.key), None).await.assert_error(404, "resource_missing");
        let log = deliveries(&app, &m, hook["id"].as_str().unwrap()).await;
        assert_eq!(log.len(), 3);
        assert!(log.iter().all(|d| d["status"] == "succeeded" && d["attempts"].as_array().unwrap().len() == 1));
        let r = app.call(Method::GET, format!("/api/webhooks/{}/deliveries?$filter=event_type eq 'webhook.test'", hook["id"].as_str().unwrap()), Auth::Bearer(&m.key), None).await;
        assert_eq!(r.json()["value"].as_array().unwrap().len(), 1);
    }

    async fn subscriptions_are_managed_and_checked(app) {
        let m = app.merchant().await;
        let hook = subscribe(&app, &m, "https://hooks.example/govifi", json!(["payment.captured", "refund.created"])).await;
        let hid = hook["id"].as_str().unwrap().to_owned();
        assert!(hid.starts_with("whk_"));
        assert_eq!(hook["enabled"], true);
        for (body, code) in [
            (json!({"url": "https://hooks.example/x", "events": []}), "parameter_invalid"),
            (json!({"url": "https://hooks.example/x", "events": ["payment.exploded"]}), "parameter_invalid"),
            (json!({"url": "not a url", "events": ["*"]}), "parameter_invalid"),
            (json!({"url": "ftp://hooks.example/x", "events": ["*"]}), "parameter_invalid"),
            (json!({"events": ["*"]}), "parameter_missing"),
            (json!({"url": "https://hooks.example/x", "events": ["*"], "colour": 1}), "unknown_field"),
        ] {
            app.call(Method::POST, "/api/webhooks", Auth::Bearer(&m.key), Some(body)).await.assert_error(400, code);
        }
        let r = app.call(Method::PATCH, format!("/api/webhooks/{hid}"), Auth::Bearer(&m.key), Some(json!({"events": ["*"], "description": "All of it", "enabled": false}))).await;
        assert_eq!(r.json()["events"], json!(["*"]));
        assert_eq!(r.json()["enabled"], false);
        assert_eq!(r.json()["description"], "All of it");
        let list = app.call(Method::GET, "/api/webhooks?$filter=enabled eq false&$count=true", Auth::Bearer(&m.key), None).await;
        assert_eq!(list.status, StatusCode::OK, "{}", list.text());
        assert_eq!(list.json()["@odata.count"], 1);
        assert_eq!(list.json()["value"][0]["id"], hid);
        assert!(list.json()["value"][0].get("secret").is_none());
        // Scopes: webhooks.read reads, cannot write.
        let reader = app.api_key(&m.token, &m.uid, &["webhooks.read"]).await;
        assert_eq!(app.call(Method::GET, "/api/webhooks", Auth::Bearer(&reader), None).await.status, StatusCode::OK);
        app.call(Method::POST, "/api/webhooks", Auth::Bearer(&reader), Some(json!({"url": "https://hooks.example/y", "events": ["*"]}))).await.assert_error(403, "insufficient_scope");
        app.call(Method::POST, format!("/api/webhooks/{hid}/test"), Auth::Bearer(&reader), None).await.assert_error(403, "insufficient_scope");
        // Sixteen endpoints at most (the first is `hid`), racing creations included; a deleted
        // one frees its place.
        let more = (0..20).map(|i| app.call(Method::POST, "/api/webhooks", Auth::Bearer(&m.key),
            Some(json!({"url": format!("https://hooks.example/{i}"), "events": ["*"]}))));
        let answers = futures_util::future::join_all(more).await;
        assert_eq!(answers.iter().filter(|r| r.status == StatusCode::CREATED).count(), 15);
        for r in answers.iter().filter(|r| r.status != StatusCode::CREATED) {
            r.assert_error(409, "invalid_state");
        }
        assert_eq!(app.call(Method::DELETE, format!("/api/webhooks/{hid}"), Auth::Bearer(&m.key), None).await.status, StatusCode::NO_CONTENT);
        app.call(Method::GET, format!("/api/webhooks/{hid}"), Auth::Bearer(&m.key), None).await.assert_error(404, "resource_missing");
        let again = app.call(Method::POST, "/api/webhooks", Auth::Bearer(&m.key), Some(json!({"url": "https://hooks.example/z", "events": ["*"]}))).await;
        assert_eq!(again.status, StatusCode::CREATED, "{}", again.text());
        let other = app.merchant().await;
        let theirs = subscribe(&app, &other, "https://hooks.example/theirs", json!(["*"])).await;
        app.call(Method::GET, format!("/api/webhooks/{}", theirs["id"].as_str().unwrap()), Auth::Bearer(&m.key), None).await.assert_error(404, "resource_missing");
    }

    async fn two_processes_deliver_each_event_once(app) {
        let receiver = Receiver::start().await;
        let m = app.merchant().await;
        subscribe(&app, &m, &receiver.url, json!(["customer.created"])).await;
        let a = support::ServerProcess::start(&app).await;
        let b = support::ServerProcess::start(&app).await;
        let http = reqwest::Client::new();
        let calls = (0..200).map(|i| {
            let base = if i % 2 == 0 { &a.url } else { &b.url };
            http.post(format!("{base}/api/customers")).bearer_auth(&m.key).json(&json!({"name": format!("Customer {i}")})).send()
        });
        for r in futures_util::future::join_all(calls).await {
            assert_eq!(r.unwrap().status().as_u16(), 201);
        }
        let got = tokio::time::timeout(std::time::Duration::from_secs(60), async {
            loop {
                let got = receiver.received();
                if got.len() >= 200 {
                    return got;
                }
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        })
        .await
        .expect("every event delivered within a minute");
        // A moment more: nothing arrives twice.
        tokio::time::sleep(std::time::Duration::from_millis(1_500)).await;
        let got = receiver.received().len().max(got.len());
        assert_eq!(got, 200, "each event once");
        let ids: std::collections::HashSet<String> = receiver.received().iter().map(|r| r.header("webhook-id").to_owned()).collect();
        assert_eq!(ids.len(), 200);
        let attempts: Vec<i64> = sqlx::query("SELECT attempt_count FROM webhook_deliveries").fetch_all(app.db().pool()).await.unwrap()
            .iter().map(|r| sqlx::Row::get(r, 0)).collect();
        assert_eq!(attempts.len(), 200);
        assert!(attempts.iter().all(|n| *n == 1), "one attempt each");
        a.stop().await;
        b.stop().await;
    }

    async fn a_process_killed_mid_attempt_leaves_the_delivery_to_another(app) {
        let receiver = Receiver::start().await;
        receiver.hold();
        let m = app.merchant().await;
        subscribe(&app, &m, &receiver.url, json!(["customer.created"])).await;
        let a = support::ServerProcess::start(&app).await;
        let r = reqwest::Client::new().post(format!("{}/api/customers", a.url)).bearer_auth(&m.key).json(&json!({"name": "Killed"})).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 201);
        let first = receiver.wait_for(1).await;
        a.kill().await; // SIGKILL mid-attempt: no answer recorded, the lease left behind
        let leased: Option<String> = sqlx::Row::get(&sqlx::query("SELECT leased_by FROM webhook_deliveries").fetch_one(app.db().pool()).await.unwrap(), 0);
        assert!(leased.is_some(), "the dead process held the delivery");
        // Time passes: the dead process's lease runs out.
        sqlx::query("UPDATE webhook_deliveries SET lease_until = 0").execute(app.db().pool()).await.unwrap();
        receiver.release();
        let b = support::ServerProcess::start(&app).await;
        let got = receiver.wait_for(2).await;
        assert_eq!(got[1].header("webhook-id"), first[0].header("webhook-id"));
        assert_eq!(got[1].body, first[0].body);
        for _ in 0..100 {
            let status: String = sqlx::Row::get(&sqlx::query("SELECT status FROM webhook_deliveries").fetch_one(app.db().pool()).await.unwrap(), 0);
            if status == "succeeded" { break }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        let row = sqlx::query("SELECT status, attempt_count FROM webhook_deliveries").fetch_one(app.db().pool()).await.unwrap();
        assert_eq!((sqlx::Row::get::<String, _>(&row, 0), sqlx::Row::get::<i64, _>(&row, 1)), ("succeeded".to_owned(), 1));
        b.stop().await;
    }

    async fn a_stopping_process_finishes_its_attempt_in_flight(app) {
        let receiver = Receiver::start().await;
        receiver.hold();
        let m = app.merchant().await;
        subscribe(&app, &m, &receiver.url, json!(["customer.created"])).await;
        let a = support::ServerProcess::start(&app).await;
        let r = reqwest::Client::new().post(format!("{}/api/customers", a.url)).bearer_auth(&m.key).json(&json!({"name": "Shutdown"})).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 201);
        receiver.wait_for(1).await;
        // SIGTERM while the attempt waits for its answer; the answer comes a moment later.
        let releaser = receiver.clone();
        tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            releaser.release();
        });
        a.stop().await;
        let row = sqlx::query("SELECT status, attempt_count, leased_by FROM webhook_deliveries").fetch_one(app.db().pool()).await.unwrap();
        assert_eq!(sqlx::Row::get::<String, _>(&row, 0), "succeeded", "the attempt in flight was finished and recorded");
        assert_eq!(sqlx::Row::get::<i64, _>(&row, 1), 1);
        assert_eq!(sqlx::Row::get::<Option<String>, _>(&row, 2), None, "no lease left behind");
        assert_eq!(receiver.received().len(), 1);
    }

    async fn a_stuck_endpoint_does_not_hold_up_other_subscriptions(app) {
        let stuck = Receiver::start().await;
        stuck.hold(); // answers only when the test lets it
        let fine = Receiver::start().await;
        let m = app.merchant().await;
        let stuck_id = subscribe(&app, &m, &stuck.url, json!(["customer.created"])).await["id"].as_str().unwrap().to_owned();
        subscribe(&app, &m, &fine.url, json!(["customer.created"])).await;
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let worker = server::webhooks::delivery::spawn(app.state.clone(), stopped);
        customer_event(&app, &m, "First").await;
        stuck.wait_for(1).await;
        fine.wait_for(1).await;
        // The loop sleeps until a delivery can be leased: the one in flight is not due again
        // before its lease ends (it was, and the loop spun through the whole attempt).
        let next = server::store::deliveries::next_due(app.db(), &[]).await.unwrap().expect("one pending");
        assert!(next > server::store::now_ms() + 10_000, "due when its lease ends, not now");
        // The stuck endpoint still has the first event; the other subscription gets the next ones.
        customer_event(&app, &m, "Second").await;
        customer_event(&app, &m, "Third").await;
        // (`wait_for` gives up after 10 s; the stuck attempt's own timeout is 15 s.)
        assert_eq!(fine.wait_for(3).await.len(), 3, "the other subscription does not wait for the stuck one");
        assert_eq!(stuck.received().len(), 1, "one attempt at a time per subscription");
        // The stuck subscription's queue waits behind its attempt: not due for this process's
        // loop, which runs that subscription already (it skips it), though due for another.
        let now = server::store::now_ms();
        assert!(server::store::deliveries::next_due(app.db(), &[]).await.unwrap().is_some_and(|at| at <= now));
        let next = server::store::deliveries::next_due(app.db(), std::slice::from_ref(&stuck_id)).await.unwrap();
        // (The other subscription's last delivery may still be in flight: due when its lease ends.)
        assert!(next.is_none_or(|at| at > now), "{next:?}");
        stuck.release();
        stuck.wait_for(3).await;
        stop.send(true).unwrap();
        worker.await.unwrap();
        let names: Vec<String> = stuck.received().iter().map(|r| r.json()["data"]["object"]["name"].as_str().unwrap().to_owned()).collect();
        assert_eq!(names, ["First", "Second", "Third"], "in the order of their events");
    }

    async fn a_delivery_whose_lease_another_process_took_is_not_attempted_twice(app) {
        use server::store::deliveries;
        let receiver = Receiver::start().await;
        let m = app.merchant().await;
        subscribe(&app, &m, &receiver.url, json!(["customer.created"])).await;
        customer_event(&app, &m, "Leased").await;
        let lease = server::webhooks::delivery::LEASE_MS;
        let t0 = now();
        let mine = deliveries::claim(app.db(), "process-a", t0, lease, 50, &[]).await.unwrap();
        assert_eq!(mine.len(), 1);
        assert!(deliveries::claim(app.db(), "process-b", t0 + 1_000, lease, 50, &[]).await.unwrap().is_empty(), "leased");
        // A's lease runs out while it is busy elsewhere; B takes the delivery.
        let theirs = deliveries::claim(app.db(), "process-b", t0 + lease + 1, lease, 50, &[]).await.unwrap();
        assert_eq!(theirs.len(), 1);
        // When A gets to it, its renewal fails, so only B attempts it.
        assert!(!deliveries::renew(app.db(), &mine[0].id, "process-a", t0 + 2 * lease).await.unwrap());
        assert!(deliveries::renew(app.db(), &theirs[0].id, "process-b", t0 + 2 * lease).await.unwrap());
        // A subscription this process is sending to is left out of its next lease.
        customer_event(&app, &m, "Skipped").await;
        let webhook = theirs[0].webhook_id.clone();
        assert!(deliveries::claim(app.db(), "process-b", t0 + 2_000, lease, 50, std::slice::from_ref(&webhook)).await.unwrap().is_empty());
        assert_eq!(deliveries::claim(app.db(), "process-b", t0 + 2_000, lease, 50, &[]).await.unwrap().len(), 1);
        assert!(receiver.received().is_empty());
    }

    async fn the_loop_delivers_a_new_event_at_once(app) {
        let receiver = Receiver::start().await;
        let m = app.merchant().await;
        subscribe(&app, &m, &receiver.url, json!(["customer.created"])).await;
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let worker = server::webhooks::delivery::spawn(app.state.clone(), stopped);
        // Let it go idle first.
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let started = std::time::Instant::now();
        customer_event(&app, &m, "Now").await;
        receiver.wait_for(1).await;
        // (The wake-up is one per process: the test binary's other loops may take it, and then
        // this one finds the event at its next 500 ms poll; a loaded machine adds its own.)
        assert!(started.elapsed() < std::time::Duration::from_secs(3), "delivered in {:?}", started.elapsed());
        stop.send(true).unwrap();
        worker.await.unwrap();
        let metrics = app.get("/metrics").await.text();
        for name in ["govifi_webhook_attempts_total", "govifi_webhook_queue_depth", "govifi_webhook_oldest_due_seconds"] {
            assert!(metrics.contains(name), "{name} in /metrics");
        }
    }
}

/// Subscriptions made while private addresses were allowed, delivered by a server that does
/// not allow them (and refused at creation there).
async fn ssrf(kind: support::Database) {
    let Some(allowing) = TestApp::spawn_with(kind, &[("GOVIFI_WEBHOOK_ALLOW_PRIVATE", "true")]).await else {
        support::no_postgres();
        return;
    };
    let config = support::test_config(
        &allowing.db.url,
        allowing.assets.path(),
        &[
            ("GOVIFI_WEBHOOK_ALLOW_PRIVATE", "false"),
            ("GOVIFI_MASTER_KEY", &allowing.state.config().master_key.to_base64()),
        ],
    );
    let strict_state = server::AppState::with_db(config, allowing.state.db().clone());
    let strict = server::router(strict_state.clone());
    let m = allowing.merchant().await;
    let receiver = Receiver::start().await;
    let port = receiver.url.split(':').nth(2).unwrap().split('/').next().unwrap().to_owned();
    let urls = [
        format!("http://127.0.0.1:{port}/hooks"),
        format!("http://[::1]:{port}/hooks"),
        format!("http://[::ffff:127.0.0.1]:{port}/hooks"),
        "http://169.254.169.254/latest/meta-data".to_owned(),
        "http://10.0.0.1/hooks".to_owned(),
        format!("http://localhost:{port}/hooks"),
    ];
    for url in &urls {
        let req = support::with_json(
            axum::http::Request::post("/api/webhooks").header("authorization", format!("Bearer {}", m.key)),
            Some(json!({"url": url, "events": ["*"]})),
        );
        let r = support::TestResponse::read(tower::ServiceExt::oneshot(strict.clone(), req).await.unwrap()).await;
        let error = r.assert_error(400, "parameter_invalid");
        assert_eq!(error["param"], "url", "{url}: {error}");
        // Where private addresses are allowed, the subscription is made...
        subscribe(&allowing, &m, url, json!(["customer.created"])).await;
    }
    // ...and a server that does not allow them refuses every attempt, before connecting.
    customer_event(&allowing, &m, "SSRF").await;
    let attempted = deliver_due(&strict_state, now()).await.unwrap();
    assert_eq!(attempted, urls.len());
    assert!(receiver.received().is_empty(), "nothing reached the loopback receiver");
    let rows = sqlx::query("SELECT attempts FROM webhook_deliveries").fetch_all(allowing.db().pool()).await.unwrap();
    for row in rows {
        let attempts: Value = serde_json::from_str(&sqlx::Row::get::<String, _>(&row, 0)).unwrap();
        assert_eq!(attempts[0]["error"], "blocked_address", "{attempts}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn internal_addresses_are_refused_at_creation_and_at_delivery_sqlite() {
    ssrf(support::Database::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn internal_addresses_are_refused_at_creation_and_at_delivery_postgres() {
    ssrf(support::Database::Postgres).await;
}

/// Redeliveries at once on a pool with fewer connections than they are: each reads the
/// subscriptions before its transaction takes a connection (one that read them inside it held
/// one connection while asking for another, and they waited for each other until the pool's
/// timeout answered 503).
async fn redeliveries_on_a_small_pool(kind: support::Database) {
    let Some(app) = TestApp::spawn_with(kind, &[("GOVIFI_DATABASE_MAX_CONNECTIONS", "2")]).await else {
        support::no_postgres();
        return;
    };
    let receiver = Receiver::start().await;
    let m = app.merchant().await;
    subscribe(&app, &m, &receiver.url, json!(["customer.created"])).await;
    let event_id = customer_event(&app, &m, "Again and again").await;
    let path = format!("/api/events/{event_id}/redeliver");
    let answers =
        futures_util::future::join_all((0..6).map(|_| app.call(Method::POST, &path, Auth::Bearer(&m.key), None))).await;
    for r in &answers {
        assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redeliveries_at_once_do_not_starve_a_small_pool_sqlite() {
    redeliveries_on_a_small_pool(support::Database::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redeliveries_at_once_do_not_starve_a_small_pool_postgres() {
    redeliveries_on_a_small_pool(support::Database::Postgres).await;
}
