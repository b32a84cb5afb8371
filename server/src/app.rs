//! The shared state, the router with its middleware, and serving with graceful shutdown.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, header};
use axum::middleware;
use axum::response::IntoResponse;
use tokio::net::TcpListener;
use tower_http::set_header::SetResponseHeaderLayer;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_swagger_ui::SwaggerUi;

use crate::error::ApiError;
use crate::extract::BODY_LIMIT;
use crate::routes::{self, ApiDoc};
pub use crate::state::AppState;
use crate::telemetry;

/// The API routes with their OpenAPI description.
fn api(state: &AppState) -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(routes::ops::router())
        .merge(routes::sessions::router())
        .merge(routes::browser::router(state.clone()))
        .merge(routes::wallets::router(state.clone()))
        .merge(routes::payments::router())
        .merge(routes::terminals::router())
        .merge(routes::events::router())
        .merge(routes::webhooks::router())
        .merge(routes::outbox::router())
        .merge(routes::oauth::router())
        .merge(routes::clients::router())
        .merge(routes::accounts::router())
        .merge(routes::customers::router())
}

/// The whole application, ready to serve.
pub fn router(state: AppState) -> Router {
    let (api, mut openapi) = api(&state).split_for_parts();
    routes::document::complete(&mut openapi);
    // The API console is never framed (a framing page could click "Execute" for an operator
    // who pasted a token into it), and runs only its own files: it holds that token.
    // No validator badge: Swagger UI would load it from swagger.io (which the policy refuses),
    // handing that site the document's address.
    let console = utoipa_swagger_ui::Config::default().validator_url("none");
    let docs = Router::from(SwaggerUi::new("/docs").url("/openapi.json", openapi).config(console))
        .layer(SetResponseHeaderLayer::overriding(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")))
        .layer(SetResponseHeaderLayer::overriding(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(DOCS_CSP)));
    let https = state.config().public_url.starts_with("https://");
    let routes = Router::new()
        .merge(api.layer(middleware::from_fn(idempotency_key_checked)))
        .merge(docs)
        .merge(routes::assets::router(state.config().assets_dir.clone()))
        .merge(routes::dashboard::router(&state))
        .merge(routes::pages::router())
        // The server's own prefixes are not session ids: the hosted page's `/{id}` would answer
        // them with its HTML page (and 405 to any other method).
        .merge(RESERVED.iter().fold(Router::new(), |r, path| r.route(path, axum::routing::any(not_found))))
        .route_layer(middleware::from_fn(telemetry::record_route))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(state.clone(), crate::auth::failures::guard))
        .layer(middleware::from_fn_with_state(state.clone(), crate::auth::forwarded::resolve));
    // Outermost, so the answers the error shaping rewrites (405, 413, a panic's 500) carry them too.
    with_middleware(routes.with_state(state)).layer(middleware::from_fn_with_state(https, transport_headers))
}

/// Bare prefixes of the API, the identity provider, the element's script and the pages' files:
/// 404 as the API answers (`/assets` is its files' own).
const RESERVED: &[&str] = &["/api", "/v1", "/oauth2", "/.well-known", "/sdk", "/static"];

/// The API console's policy: Swagger UI's own scripts, styles and icons from this server, calls
/// to this server only. Its styles may be inline: Swagger UI writes a `<style>` element as it renders.
const DOCS_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Paths whose answers are public and meant to be cached as they say (the element's files, the
/// issuer's keys); every other answer is kept by no cache unless its route says otherwise.
const CACHEABLE_PREFIXES: &[&str] = &["/assets/", "/static/", "/sdk/", "/.well-known/"];

/// On every answer: no content sniffing; no caching unless the route chose otherwise or the
/// path is a public file (answers carry secrets shown once, client secrets, customers' emails,
/// the outbox's codes: a browser's cache must not keep them); and when the platform is served
/// over https, HSTS, so a browser that once came never again loads a page (a sign-in form, the
/// card form) over a connection someone could strip of its TLS.
async fn transport_headers(
    axum::extract::State(https): axum::extract::State<bool>,
    req: axum::extract::Request,
    next: middleware::Next,
) -> axum::response::Response {
    let public = CACHEABLE_PREFIXES.iter().any(|p| req.uri().path().starts_with(p));
    let mut response = next.run(req).await;
    let headers = response.headers_mut();
    headers.entry(header::X_CONTENT_TYPE_OPTIONS).or_insert(HeaderValue::from_static("nosniff"));
    if !public {
        headers.entry(header::CACHE_CONTROL).or_insert(HeaderValue::from_static("no-store"));
    }
    if https {
        headers
            .insert(header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_static("max-age=63072000; includeSubDomains"));
    }
    response
}

/// The middleware every route runs under (request id, logs, metrics, error shape, body limit).
/// Public so tests can mount probe routes under exactly the production stack.
pub fn with_middleware(router: Router) -> Router {
    router
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        // A bug that panics answers the error object (500, with its request id), never a reset
        // connection; inside the request context, so it is logged and counted like any 500.
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(panicked))
        .layer(middleware::from_fn(telemetry::request_context))
}

/// The answer for a handler that panicked (the panic's text stays in the log).
fn panicked(panic: Box<dyn std::any::Any + Send + 'static>) -> axum::response::Response {
    let what = telemetry::panic_message(panic.as_ref());
    crate::error::ApiError::Internal(anyhow::anyhow!("handler panicked: {what}")).into_response()
}

/// Every API route checks an `Idempotency-Key` it is sent (SPEC §11: over 255 characters is
/// 400), also where it takes none: a caller whose key is refused learns it before relying on it.
async fn idempotency_key_checked(req: axum::extract::Request, next: middleware::Next) -> axum::response::Response {
    use axum::extract::FromRequestParts;
    let (mut parts, body) = req.into_parts();
    if let Err(refused) = crate::extract::idempotency::IdempotencyKey::from_request_parts(&mut parts, &()).await {
        return refused.into_response();
    }
    next.run(axum::extract::Request::from_parts(parts, body)).await
}

async fn not_found() -> ApiError {
    ApiError::from_status(axum::http::StatusCode::NOT_FOUND)
}

/// What the connection loop allows a client.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// How long a client may take to send a request's headers before its connection is closed.
    pub header_read_timeout: Duration,
    /// How long a client may take to send a request's body (then the request fails, never a
    /// handler stuck on it).
    pub body_read_timeout: Duration,
    /// Connections served at once; more wait in the kernel's queue until one closes.
    pub max_connections: usize,
    /// How long a shutdown waits for the requests in flight.
    pub drain_timeout: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            header_read_timeout: Duration::from_secs(30),
            body_read_timeout: Duration::from_secs(30),
            max_connections: 4096,
            drain_timeout: Duration::from_secs(30),
        }
    }
}

/// Serves until `shutdown` resolves, then stops accepting and finishes the requests in flight.
///
/// Hyper's connection loop is run here rather than through `axum::serve` for what a public
/// endpoint needs and that does not offer: a deadline for a request's headers (a client that
/// trickles them holds a connection forever otherwise) and a bound on open connections (each is
/// a file descriptor the database's connections also need).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    serve_with(listener, router, shutdown, ConnectionLimits::default()).await
}

/// [`serve`] with other limits (tests).
pub async fn serve_with(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    limits: ConnectionLimits,
) -> anyhow::Result<()> {
    use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
    use hyper_util::server::conn::auto::Builder;
    use hyper_util::server::graceful::GracefulShutdown;
    use hyper_util::service::TowerToHyperService;
    use tower::ServiceExt;

    let router = router.layer(tower_http::timeout::RequestBodyTimeoutLayer::new(limits.body_read_timeout));
    // HTTP/1 only. Browsers speak HTTP/2 only over TLS, which a proxy in front terminates; and
    // hyper's HTTP/1 header deadline also runs while a connection sits idle (before its first
    // byte, between keep-alive requests), where the HTTP/1-or-2 sniffing of `auto` and an
    // HTTP/2 connection have no deadline at all: silent connections would fill every slot.
    let mut builder = Builder::new(TokioExecutor::new()).http1_only();
    builder.http1().timer(TokioTimer::new()).header_read_timeout(limits.header_read_timeout);
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot.context("the connection slots closed")?,
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors, or a connection reset before it was taken: wait
                    // a moment rather than spin.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let service = router.clone().map_request(move |req: axum::http::Request<hyper::body::Incoming>| {
            let mut req = req.map(axum::body::Body::new);
            req.extensions_mut().insert(axum::extract::ConnectInfo(peer));
            req
        });
        let conn = builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service)).into_owned();
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "a connection ended with an error");
            }
            drop(slot);
        });
    }
    drop(listener);
    // Requests in flight get `drain_timeout` to finish (a client reading its answer slowly can't
    // hold the process up for ever); a second signal ends the wait at once.
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(limits.drain_timeout) => {
            tracing::warn!(seconds = limits.drain_timeout.as_secs(), "requests still in flight after the drain deadline: no longer waiting for them");
        }
        () = signal() => tracing::warn!("a second shutdown signal: no longer waiting for the requests in flight"),
    }
    Ok(())
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    signal().await;
    tracing::info!("shutdown requested: finishing requests in flight");
}

/// The next SIGTERM or Ctrl-C.
async fn signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
