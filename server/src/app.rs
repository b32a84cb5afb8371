//! The shared state, the router with its middleware, and serving with graceful shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::net::TcpListener;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_swagger_ui::SwaggerUi;

use crate::auth::external::ExternalJwks;
use crate::auth::tokens::Tokens;
use crate::config::Config;
use crate::error::ApiError;
use crate::extract::BODY_LIMIT;
use crate::processor::Processor;
use crate::processor::sandbox::Sandbox;
use crate::routes::{self, ApiDoc, assets::ElementBundle};
use crate::store::Db;
use crate::store::accounts::Account;
use crate::telemetry;

/// Everything a handler may need; cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

struct Inner {
    config: Config,
    db: Db,
    metrics: PrometheusHandle,
    element: ElementBundle,
    tokens: Tokens,
    sandbox: Arc<Sandbox>,
}

impl AppState {
    /// Connects to the database, migrates it and makes sure the bootstrap client exists.
    pub async fn init(config: Config) -> anyhow::Result<Self> {
        let db = Db::connect(&config.database_url, 16).await?;
        db.migrate().await?;
        crate::bootstrap::ensure_bootstrap_client(&db, &config).await?;
        Ok(Self::with_db(config, db))
    }

    pub fn with_db(config: Config, db: Db) -> Self {
        let element = ElementBundle::discover(&config.assets_dir);
        let external = config.external_issuer.as_ref().map(|e| ExternalJwks::new(e.issuer.clone(), e.jwks_url.clone()));
        let tokens = Tokens::new(db.clone(), config.master_key.clone(), config.public_url.clone(), external);
        let sandbox = Arc::new(Sandbox::new(db.clone()));
        AppState(Arc::new(Inner { config, db, metrics: telemetry::metrics_handle(), element, tokens, sandbox }))
    }

    pub fn config(&self) -> &Config {
        &self.0.config
    }

    pub fn db(&self) -> &Db {
        &self.0.db
    }

    pub fn metrics(&self) -> &PrometheusHandle {
        &self.0.metrics
    }

    pub fn element(&self) -> &ElementBundle {
        &self.0.element
    }

    /// The processor an account uses. Every account is on the sandbox today; real connectors
    /// will be chosen by `account.processor_type` here.
    pub fn processor(&self, _account: &Account) -> Arc<dyn Processor> {
        self.0.sandbox.clone()
    }

    /// The identity provider: signing keys, token issuance and verification.
    pub fn tokens(&self) -> &Tokens {
        &self.0.tokens
    }
}

/// The API routes with their OpenAPI description.
fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(routes::ops::router())
        .merge(routes::oauth::router())
        .merge(routes::clients::router())
        .merge(routes::accounts::router())
        .merge(routes::customers::router())
}

/// The OpenAPI document of every route.
pub fn openapi() -> utoipa::openapi::OpenApi {
    api().into_openapi()
}

/// The whole application, ready to serve.
pub fn router(state: AppState) -> Router {
    let (api, openapi) = api().split_for_parts();
    let routes = Router::new()
        .merge(api)
        .merge(SwaggerUi::new("/docs").url("/openapi.json", openapi))
        .merge(routes::assets::router(state.config().assets_dir.clone()))
        .merge(routes::pages::router())
        .route_layer(middleware::from_fn(telemetry::record_route));
    with_middleware(routes.fallback(not_found).with_state(state))
}

/// The middleware every route runs under (request id, logs, metrics, error shape, body limit).
/// Public so tests can mount probe routes under exactly the production stack.
pub fn with_middleware(router: Router) -> Router {
    router.layer(DefaultBodyLimit::max(BODY_LIMIT)).layer(middleware::from_fn(telemetry::request_context))
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
