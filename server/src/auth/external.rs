//! An external issuer we also trust (e.g. AWS Cognito): its JWKS is fetched when first needed,
//! cached, and refreshed at once when a token names a key we do not know — so a key the issuer
//! rotated in a moment after our last fetch works immediately. One fetch is in flight at a time
//! (concurrent misses wait for it and use its result), and fetches are rate limited as the
//! common JWKS clients do it (10 a minute, as a token bucket), so a flood of forged key ids
//! cannot become a flood of fetches. The set is also fetched again once it is an hour old, so a
//! key the issuer withdrew stops verifying within the hour (while the issuer cannot be reached,
//! the keys it last published keep serving).

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use jsonwebtoken::DecodingKey;
use serde::Deserialize;
use tokio::sync::{Mutex, RwLock};

/// Fetches of the issuer's JWKS allowed per minute (bursts of as many).
pub const FETCHES_PER_MINUTE: u32 = 10;

/// How long a fetched key set is used before it is fetched again.
pub const MAX_AGE: Duration = Duration::from_secs(3600);

/// The keys of the last fetch that succeeded, and when it started.
#[derive(Default)]
struct KeySet {
    keys: HashMap<String, Arc<DecodingKey>>,
    fetched: Option<Instant>,
}

pub struct ExternalJwks {
    pub issuer: String,
    url: String,
    http: reqwest::Client,
    keys: RwLock<KeySet>,
    max_age: Duration,
    limiter: DefaultDirectRateLimiter,
    /// Held while fetching (one fetch in flight; the others wait for its result), with when the
    /// last fetch started.
    fetching: Mutex<Option<Instant>>,
}

#[derive(Deserialize)]
struct JwksDoc {
    keys: Vec<JwkDoc>,
}

#[derive(Deserialize)]
struct JwkDoc {
    kty: String,
    kid: Option<String>,
    n: Option<String>,
    e: Option<String>,
    alg: Option<String>,
    #[serde(rename = "use")]
    use_: Option<String>,
}

impl ExternalJwks {
    pub fn new(issuer: String, url: String) -> Self {
        Self::with_rate(issuer, url, FETCHES_PER_MINUTE)
    }

    /// With another fetch budget per minute (tests).
    pub fn with_rate(issuer: String, url: String, per_minute: u32) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .expect("an HTTP client with a timeout builds");
        let quota = Quota::per_minute(NonZeroU32::new(per_minute.max(1)).expect("at least one"));
        ExternalJwks {
            issuer,
            url,
            http,
            keys: RwLock::new(KeySet::default()),
            max_age: MAX_AGE,
            limiter: RateLimiter::direct(quota),
            fetching: Mutex::new(None),
        }
    }

    /// With another lifetime for a fetched key set (tests).
    pub fn with_max_age(mut self, max_age: Duration) -> Self {
        self.max_age = max_age;
        self
    }

    /// The key for `kid`; an unknown one, or a key set older than its lifetime, refreshes the
    /// JWKS at once, within the rate limit.
    pub async fn key(&self, kid: &str) -> Option<Arc<DecodingKey>> {
        let asked = Instant::now();
        {
            let set = self.keys.read().await;
            if let Some(k) = set.keys.get(kid)
                && set.fetched.is_some_and(|at| at.elapsed() < self.max_age)
            {
                return Some(k.clone());
            }
        }
        let cached = async || self.keys.read().await.keys.get(kid).cloned();
        let mut last_fetch = self.fetching.lock().await;
        // A fetch that started after we asked has finished while we waited: its answer is as
        // fresh as ours would be.
        if last_fetch.is_some_and(|started| started >= asked) {
            return cached().await;
        }
        if self.limiter.check().is_err() {
            // Debug: anyone can send a token naming an unknown key, so this could flood the log.
            tracing::debug!(url = %self.url, "not fetching the external issuer's JWKS again so soon (rate limited)");
            return cached().await;
        }
        let started = Instant::now();
        let result = self.fetch().await;
        *last_fetch = Some(started);
        match result {
            Ok(keys) => {
                let found = keys.get(kid).cloned();
                *self.keys.write().await = KeySet { keys, fetched: Some(started) };
                found
            }
            Err(e) => {
                tracing::warn!(error = format!("{e:#}"), url = %self.url, "fetching the external issuer's JWKS failed");
                cached().await
            }
        }
    }

    async fn fetch(&self) -> anyhow::Result<HashMap<String, Arc<DecodingKey>>> {
        let doc: JwksDoc = self
            .http
            .get(&self.url)
            .send()
            .await
            .context("requesting the JWKS")?
            .error_for_status()?
            .json()
            .await
            .context("reading the JWKS")?;
        let mut keys = HashMap::new();
        for jwk in doc.keys {
            let usable = jwk.kty == "RSA"
                && jwk.alg.as_deref().is_none_or(|a| a == "RS256")
                && jwk.use_.as_deref().is_none_or(|u| u == "sig");
            if let (true, Some(kid), Some(n), Some(e)) = (usable, jwk.kid, jwk.n, jwk.e)
                && let Ok(key) = DecodingKey::from_rsa_components(&n, &e)
            {
                keys.insert(kid, Arc::new(key));
            }
        }
        Ok(keys)
    }
}
