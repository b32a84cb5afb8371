//! Request ids, structured logs and Prometheus metrics.

use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing::Instrument;

use crate::domain::ids;
use crate::error::ApiError;

pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// The id of the request being served, as given to the client in `X-Request-Id`.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

tokio::task_local! {
    static REQUEST_ID: String;
}

/// The current request's id, for error bodies (`error.request_id`).
pub fn current_request_id() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok()
}

/// Runs `work` as if it served a request of its own, named `id`: for background work that
/// writes an answer a request will replay (its `X-Request-Id` and `error.request_id` agree).
pub async fn as_request<F: std::future::Future>(id: String, work: F) -> F::Output {
    // Its log lines carry the id too, so the one a caller is later shown can be found.
    let span = tracing::info_span!("background", request_id = %id);
    REQUEST_ID.scope(id, work).instrument(span).await
}

/// Logs to stderr: human-readable by default, one JSON object a line with `GOVIFI_LOG_FORMAT=json`.
/// `RUST_LOG` filters (default `info`).
pub fn init_logging() {
    use tracing_subscriber::EnvFilter;
    // A blank RUST_LOG counts as unset (read as it is, it would turn every log off).
    let given = std::env::var("RUST_LOG").ok().filter(|v| !v.trim().is_empty());
    let (filter, bad_filter) = match given.as_deref().map(EnvFilter::try_new) {
        None => (EnvFilter::new("info"), None),
        Some(Ok(filter)) => (filter, None),
        Some(Err(e)) => (EnvFilter::new("info"), given.clone().map(|v| (v, e.to_string()))),
    };
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let format = std::env::var("GOVIFI_LOG_FORMAT").ok().filter(|v| !v.trim().is_empty());
    let json = format.as_deref().is_some_and(|v| v.eq_ignore_ascii_case("json"));
    let _ = if json { builder.json().flatten_event(true).try_init() } else { builder.try_init() };
    // Said once logging works, rather than silently falling back.
    if let Some((value, why)) = bad_filter {
        tracing::warn!(RUST_LOG = %value, error = %why, "RUST_LOG could not be read: logging at info");
    }
    if let Some(other) = format.filter(|v| !v.eq_ignore_ascii_case("json") && !v.eq_ignore_ascii_case("text")) {
        tracing::warn!(GOVIFI_LOG_FORMAT = %other, "GOVIFI_LOG_FORMAT is json or text: logging as text");
    }
    // A panic's message and place go through the log like everything else (one JSON object
    // with GOVIFI_LOG_FORMAT=json), not as bare text on stderr; where RUST_LOG silences this
    // module's errors, the standard hook still prints it.
    let standard = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !tracing::enabled!(tracing::Level::ERROR) {
            return standard(info);
        }
        let place = info.location().map(|l| format!("{}:{}", l.file(), l.line())).unwrap_or_default();
        let message = panic_message(info.payload());
        tracing::error!(panic = %message, at = %place, "panicked");
    }));
}

/// A panic's message (`panic!` gives a `String` or a `&str`).
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> &str {
    payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied())
        .unwrap_or("(no message)")
}

/// Logs for tests: through libtest's capture (shown for failing tests), `warn` unless `RUST_LOG`.
pub fn init_test_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_test_writer().try_init();
}

/// The process-wide Prometheus recorder (installed once, shared by every app in a test process).
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets(&[
                    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                    10.0, 30.0, 60.0,
                ])
                .expect("static buckets are valid")
                // A count, not seconds.
                .set_buckets_for_metric(
                    Matcher::Full("govifi_db_group_commit_members".into()),
                    &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0],
                )
                .expect("static buckets are valid")
                .build_recorder();
            let handle = recorder.handle();
            // Another recorder may already be installed (e.g. by a host application); keep ours
            // rendering what it can rather than failing start-up, and say so.
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("another metrics recorder is installed: /metrics shows only what reaches ours");
            }
            handle
        })
        .clone()
}

/// Outermost middleware: gives every request an id (we never trust a client-sent one), makes it
/// visible to error bodies and every log line of the request, records metrics, and returns it in
/// `X-Request-Id`. Error responses that axum or a layer produced in plain text are rewritten into
/// SPEC §2's error object here, so no route ever answers in another shape.
pub async fn request_context(mut req: Request, next: Next) -> Response {
    let id = ids::new_id("req");
    req.extensions_mut().insert(RequestId(id.clone()));
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let span = tracing::info_span!("request", request_id = %id, %method, path = %path);
    let started = Instant::now();
    let mut unanswered = Unanswered { span: span.clone(), started, answered: false };

    let mut response = REQUEST_ID
        .scope(id.clone(), async move {
            let response = next.run(req).await;
            normalize_error(response)
        })
        .instrument(span.clone())
        .await;

    unanswered.answered = true;
    let status = response.status();
    let elapsed = started.elapsed();
    // Label by route template, never the raw path: ids in paths would explode the series.
    let route = response.extensions().get::<MatchedRoute>().map_or_else(|| "unmatched".to_owned(), |r| r.0.clone());
    span.in_scope(|| {
        let (status, elapsed_ms, route) = (status.as_u16(), elapsed.as_millis() as u64, route.as_str());
        // 501 is a query option the API does not implement: the caller's, not ours.
        if response.status().is_server_error() && response.status() != axum::http::StatusCode::NOT_IMPLEMENTED {
            tracing::error!(status, elapsed_ms, route, "request failed");
        } else if matches!(route, "/healthz" | "/readyz" | "/metrics") && response.status().is_success() {
            // Probes and scrapes come every few seconds: kept out of the info log.
            tracing::debug!(status, elapsed_ms, route, "request");
        } else {
            tracing::info!(status, elapsed_ms, route, "request");
        }
    });
    let labels =
        [("method", method_label(&method).to_owned()), ("route", route), ("status", status.as_u16().to_string())];
    metrics::counter!("govifi_http_requests_total", &labels).increment(1);
    metrics::histogram!("govifi_http_request_duration_seconds", &labels[..2]).record(elapsed.as_secs_f64());

    // An idempotent replay already names the request that produced it.
    if !response.headers().contains_key(REQUEST_ID_HEADER)
        && let Ok(value) = HeaderValue::from_str(&id)
    {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    response
}

/// A request dropped before its answer (the client went away, or the server stopped first):
/// hyper drops its future, and this says so in the log and the metrics (a confirm cut off there
/// is finished by recovery).
struct Unanswered {
    span: tracing::Span,
    started: Instant,
    answered: bool,
}

impl Drop for Unanswered {
    fn drop(&mut self) {
        if !self.answered {
            let elapsed_ms = self.started.elapsed().as_millis() as u64;
            self.span.in_scope(|| {
                tracing::info!(elapsed_ms, "request dropped before its answer (client gone, or server stopping)")
            });
            metrics::counter!("govifi_http_requests_cancelled_total").increment(1);
        }
    }
}

/// The route template that served a request, carried out on the response for metrics.
#[derive(Clone)]
struct MatchedRoute(String);

/// Route-level middleware (runs after routing, where `MatchedPath` is known).
pub async fn record_route(req: Request, next: Next) -> Response {
    let route = req.extensions().get::<MatchedPath>().map(|p| p.as_str().to_owned());
    let mut response = next.run(req).await;
    if let Some(route) = route {
        response.extensions_mut().insert(MatchedRoute(route));
    }
    response
}

/// Rewrites an error response that is not ours into the spec's error object. Axum's routing,
/// extractors and layers answer in plain text or with no body at all; every deliberate
/// answer (our JSON errors, RFC 6749 token errors, pages, scripts) has its own content type.
fn normalize_error(response: Response) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let content_type = response.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if !(content_type.is_empty() || content_type.starts_with("text/plain")) {
        return response;
    }
    // A Leptos server function's refusal is encoded for its caller (the dashboard), which
    // decodes it: leave it as it is.
    if response.headers().contains_key(leptos::server_fn::error::SERVER_FN_ERROR_HEADER) {
        return response;
    }
    let (mut parts, _) = response.into_parts();
    let mut rewritten = ApiError::from_status(status).into_response();
    rewritten.extensions_mut().extend(parts.extensions);
    // Only the body changes: the headers that described it go, every other one the answer had
    // stays (`Allow`, `Retry-After`, and the CORS headers that let a browser read the error).
    for describing in [
        header::CONTENT_TYPE,
        header::CONTENT_LENGTH,
        header::CONTENT_ENCODING,
        header::CONTENT_RANGE,
        header::CONTENT_DISPOSITION,
        header::CONTENT_LANGUAGE,
        header::ACCEPT_RANGES,
        header::ETAG,
        header::LAST_MODIFIED,
    ] {
        parts.headers.remove(describing);
    }
    rewritten.headers_mut().extend(parts.headers);
    rewritten
}

/// A method as a metrics label: the standard ones by name, any other as `other` (a caller may
/// send any token as a method; each would otherwise make new series without bound).
fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}
