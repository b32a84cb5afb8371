//! The shared state, the router with its middleware, and serving with graceful shutdown.

use std::future::Future;
use std::net::SocketAddr;

use anyhow::Context;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware;
use axum::response::IntoResponse;
use tokio::net::TcpListener;
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
    let routes = Router::new()
        .merge(api)
        .merge(SwaggerUi::new("/docs").url("/openapi.json", openapi))
        .merge(routes::assets::router(state.config().assets_dir.clone()))
        .merge(routes::dashboard::router(&state))
        .merge(routes::pages::router())
        .route_layer(middleware::from_fn(telemetry::record_route))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(state.clone(), crate::auth::failures::guard));
    with_middleware(routes.with_state(state))
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
    let what = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("(no message)");
    crate::error::ApiError::Internal(anyhow::anyhow!("handler panicked: {what}")).into_response()
}

async fn not_found() -> ApiError {
    ApiError::from_status(axum::http::StatusCode::NOT_FOUND)
}

/// Serves until `shutdown` resolves, then stops accepting and finishes the requests in flight.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown)
        .await
        .context("serving HTTP")
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
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
    tracing::info!("shutdown requested: finishing requests in flight");
}
