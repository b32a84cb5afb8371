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
use crate::mail::Mailer;
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
    /// Replaces the sandbox in tests (a processor double).
    processor_override: Option<Arc<dyn Processor>>,
    mailer: Mailer,
    limiter: Arc<CredentialLimiter>,
}

/// Per-credential request budget for browser calls: 120 a minute, bursts of 30 (SPEC §5).
pub type CredentialLimiter = governor::DefaultKeyedRateLimiter<String>;

fn credential_limiter() -> CredentialLimiter {
    use std::num::NonZeroU32;
    let quota = governor::Quota::per_minute(NonZeroU32::new(120).expect("non-zero"))
        .allow_burst(NonZeroU32::new(30).expect("non-zero"));
    governor::RateLimiter::keyed(quota)
}

impl AppState {
    /// Connects to the database, migrates it and makes sure the bootstrap client exists.
    pub async fn init(config: Config) -> anyhow::Result<Self> {
        let db = Db::connect(&config.database_url, 16).await?;
        db.migrate().await?;
        crate::bootstrap::ensure_bootstrap_client(&db, &config).await?;
        Self::build(config, db, None)
    }

    pub fn with_db(config: Config, db: Db) -> Self {
        Self::build(config, db, None).expect("the configuration was validated when it was parsed")
    }

    /// A state whose processor is `processor` instead of the sandbox (tests).
    pub fn with_processor(config: Config, db: Db, processor: Arc<dyn Processor>) -> Self {
        Self::build(config, db, Some(processor)).expect("valid test configuration")
    }

    fn build(config: Config, db: Db, processor_override: Option<Arc<dyn Processor>>) -> anyhow::Result<Self> {
        let element = ElementBundle::discover(&config.assets_dir);
        let mailer = Mailer::from_config(config.smtp_url.as_deref(), &config.public_url)?;
        let external = config.external_issuer.as_ref().map(|e| ExternalJwks::new(e.issuer.clone(), e.jwks_url.clone()));
        let tokens = Tokens::new(db.clone(), config.master_key.clone(), config.public_url.clone(), external);
        let sandbox = Arc::new(Sandbox::new(db.clone()));
        Ok(AppState(Arc::new(Inner {
            config,
            db,
            metrics: telemetry::metrics_handle(),
            element,
            tokens,
            sandbox,
            processor_override,
            mailer,
            limiter: Arc::new(credential_limiter()),
        })))
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
        match &self.0.processor_override {
            Some(p) => p.clone(),
            None => self.0.sandbox.clone(),
        }
    }

    /// The sandbox processor itself (for tests that wrap it).
    pub fn sandbox(&self) -> Arc<Sandbox> {
        self.0.sandbox.clone()
    }

    pub fn mailer(&self) -> &Mailer {
        &self.0.mailer
    }

    pub fn limiter(&self) -> &CredentialLimiter {
        &self.0.limiter
    }

    /// The identity provider: signing keys, token issuance and verification.
    pub fn tokens(&self) -> &Tokens {
        &self.0.tokens
    }
}

/// The API routes with their OpenAPI description.
fn api(state: &AppState) -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(routes::ops::router())
        .merge(routes::sessions::router())
        .merge(routes::browser::router(state.clone()))
        .merge(routes::wallets::router(state.clone()))
        .merge(routes::payments::router())
        .merge(routes::events::router())
        .merge(routes::outbox::router())
        .merge(routes::oauth::router())
        .merge(routes::clients::router())
        .merge(routes::accounts::router())
        .merge(routes::customers::router())
}

/// The whole application, ready to serve.
pub fn router(state: AppState) -> Router {
    let (api, openapi) = api(&state).split_for_parts();
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
