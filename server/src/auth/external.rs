//! An external issuer we also trust (e.g. AWS Cognito): its JWKS is fetched when first needed,
//! cached, and refreshed when a token names a key we do not know — at most once per
//! [`MIN_REFRESH_INTERVAL`], so a flood of unknown key ids cannot become a flood of fetches.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use jsonwebtoken::DecodingKey;
use serde::Deserialize;
use tokio::sync::{Mutex, RwLock};

pub const MIN_REFRESH_INTERVAL: Duration = Duration::from_secs(30);

pub struct ExternalJwks {
    pub issuer: String,
    url: String,
    http: reqwest::Client,
    keys: RwLock<HashMap<String, Arc<DecodingKey>>>,
    min_refresh_interval: Duration,
    /// When the last fetch started; held while fetching so concurrent misses wait for one fetch.
    last_fetch: Mutex<Option<Instant>>,
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
        Self::with_refresh_interval(issuer, url, MIN_REFRESH_INTERVAL)
    }

    pub fn with_refresh_interval(issuer: String, url: String, min_refresh_interval: Duration) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .expect("an HTTP client with a timeout builds");
        ExternalJwks {
            issuer,
            url,
            http,
            keys: RwLock::new(HashMap::new()),
            min_refresh_interval,
            last_fetch: Mutex::new(None),
        }
    }

    /// The key for `kid`, fetching the JWKS if it is unknown and the last fetch is not too recent.
    pub async fn key(&self, kid: &str) -> Option<Arc<DecodingKey>> {
        if let Some(k) = self.keys.read().await.get(kid) {
            return Some(k.clone());
        }
        let mut last = self.last_fetch.lock().await;
        // Someone else may have fetched while we waited.
        if let Some(k) = self.keys.read().await.get(kid) {
            return Some(k.clone());
        }
        if last.is_some_and(|t| t.elapsed() < self.min_refresh_interval) {
            return None;
        }
        *last = Some(Instant::now());
        match self.fetch().await {
            Ok(keys) => {
                let found = keys.get(kid).cloned();
                *self.keys.write().await = keys;
                found
            }
            Err(e) => {
                tracing::warn!(error = format!("{e:#}"), url = %self.url, "fetching the external issuer's JWKS failed");
                None
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
