//! The shared state every handler and service receives: database, processors, configuration,
//! mailer, identity provider, limits. It imports no route, so routes can import it.

use std::sync::Arc;

use metrics_exporter_prometheus::PrometheusHandle;

use crate::auth::external::ExternalJwks;
use crate::auth::failures::AuthFailures;
use crate::auth::tokens::Tokens;
use crate::config::Config;
use crate::domain::limit::RateRule;
use crate::element::ElementBundle;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::mail::Mailer;
use crate::processor::Processor;
use crate::processor::sandbox::Sandbox;
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
    auth_failures: AuthFailures,
    /// Webhook deliveries go out with this client (guarded against internal addresses).
    webhook_client: reqwest::Client,
    /// Names this process's leases on webhook deliveries.
    delivery_holder: String,
}

/// This process's view of the per-credential budget for browser calls (SPEC §5): it refuses a
/// flood on one credential before the database is asked; the shared count is in
/// [`crate::store::limits`].
pub type CredentialLimiter = governor::DefaultKeyedRateLimiter<String>;

fn credential_limiter() -> CredentialLimiter {
    use std::num::NonZeroU32;
    let rule = RateRule::BROWSER_CREDENTIAL;
    let quota = governor::Quota::per_minute(NonZeroU32::new(rule.per_minute).expect("non-zero"))
        .allow_burst(NonZeroU32::new(rule.burst).expect("non-zero"));
    governor::RateLimiter::keyed(quota)
}

impl AppState {
    /// Connects to the database, migrates it and makes sure the bootstrap client exists.
    pub async fn init(config: Config) -> anyhow::Result<Self> {
        let db = Db::connect(&config.database_url, config.database_max_connections).await?;
        db.migrate().await?;
        crate::bootstrap::check_master_key(&db, &config).await?;
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
        let mailer = Mailer::from_config(config.smtp_url.as_deref(), config.smtp_from.as_deref(), &config.public_url)?;
        if matches!(mailer, Mailer::Outbox) && !config.sandbox {
            // The outbox is served in sandbox mode only: nobody would read what goes there.
            tracing::warn!(
                "GOVIFI_SMTP_URL is not set outside sandbox mode: challenge codes and receipts reach no customer \
                 (they wait in the outbox, which only sandbox mode serves, for 7 days)"
            );
        }
        let external = config.external_issuer.as_ref().map(|e| ExternalJwks::new(e.issuer.clone(), e.jwks_url.clone()));
        let tokens = Tokens::new(db.clone(), config.master_key.clone(), config.public_url.clone(), external);
        let sandbox = Arc::new(Sandbox::new(db.clone()));
        let webhook_client = crate::webhooks::client::client(config.webhook_allow_private);
        let auth_failures = AuthFailures::new(config.auth_failures_per_minute);
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
            auth_failures,
            webhook_client,
            delivery_holder: crate::domain::ids::new_id("proc"),
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
    /// will be chosen by `account.processor_type` here. The sandbox approves any valid card
    /// and settles any bank account, so outside sandbox mode (SPEC §10) it moves nothing: 503
    /// `processor_unavailable`, asked before anything is written.
    pub fn processor(&self, _account: &Account) -> ApiResult<Arc<dyn Processor>> {
        match &self.0.processor_override {
            Some(p) => Ok(p.clone()),
            None if self.config().sandbox => Ok(self.0.sandbox.clone()),
            None => Err(ApiError::new(
                ErrorCode::ProcessorUnavailable,
                "This account's processor is the sandbox, which runs only in sandbox mode (GOVIFI_SANDBOX=true)",
            )),
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

    /// Failed authentications per client address (the guard against credential floods).
    pub fn auth_failures(&self) -> &AuthFailures {
        &self.0.auth_failures
    }

    pub fn webhook_client(&self) -> &reqwest::Client {
        &self.0.webhook_client
    }

    pub fn delivery_holder(&self) -> &str {
        &self.0.delivery_holder
    }

    /// The identity provider: signing keys, token issuance and verification.
    pub fn tokens(&self) -> &Tokens {
        &self.0.tokens
    }
}
