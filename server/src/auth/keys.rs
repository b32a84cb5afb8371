//! The identity provider's RS256 signing keys: made once (lazily), sealed under the master key,
//! rotatable; a retired key stays published until every token it signed has expired.

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{DecodingKey, EncodingKey};
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::traits::PublicKeyParts;
use serde::Serialize;
use tokio::sync::RwLock;

use super::sealed;
use super::tokens::{LEEWAY_SECONDS, TOKEN_TTL_SECONDS};
use crate::config::MasterKey;
use crate::domain::ids::random_base62;
use crate::store::{Db, now_ms, signing_keys};

/// How long after retirement a key stays in the JWKS: its last tokens' lifetime plus leeway.
const PUBLISH_AFTER_RETIREMENT_MS: i64 = (TOKEN_TTL_SECONDS + LEEWAY_SECONDS + 60) * 1000;
/// How often a cached key that was not retired is looked up again: a rotation made by another
/// process (the `keys rotate` command, another server) retires it here this soon.
const RECHECK_MS: i64 = 10_000;

#[derive(Clone)]
pub struct SigningKey {
    pub kid: String,
    pub encoding: EncodingKey,
    pub decoding: DecodingKey,
    pub n: String,
    pub e: String,
    pub retired_at: Option<i64>,
}

impl SigningKey {
    fn published_at(&self, now: i64) -> bool {
        self.retired_at.is_none_or(|t| now < t + PUBLISH_AFTER_RETIREMENT_MS)
    }
}

/// A public key as the JWKS lists it (RFC 7517).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Jwk {
    pub kty: &'static str,
    pub kid: String,
    #[serde(rename = "use")]
    pub use_: &'static str,
    pub alg: &'static str,
    pub n: String,
    pub e: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Jwks {
    pub keys: Vec<Jwk>,
}

pub struct KeyStore {
    db: Db,
    master: MasterKey,
    /// Keys are immutable once made (retirement aside), so loaded ones are kept, with when
    /// their retirement was last read.
    cache: RwLock<HashMap<String, Cached>>,
}

struct Cached {
    key: Arc<SigningKey>,
    checked_at: i64,
}

fn context(kid: &str) -> String {
    format!("signing_key:{kid}")
}

impl KeyStore {
    pub fn new(db: Db, master: MasterKey) -> Self {
        KeyStore { db, master, cache: RwLock::new(HashMap::new()) }
    }

    /// The key new tokens are signed with: the newest unretired one, made now if there is none.
    pub async fn active(&self) -> anyhow::Result<Arc<SigningKey>> {
        let kid = match signing_keys::newest_active(&self.db).await? {
            Some(kid) => kid,
            None => self.generate().await?,
        };
        self.get(&kid, now_ms()).await?.context("the active signing key vanished")
    }

    /// Makes a new key and retires every other one (they stay published for a while).
    pub async fn rotate(&self) -> anyhow::Result<String> {
        let kid = self.generate().await?;
        signing_keys::retire_all_but(&self.db, &kid).await?;
        self.cache.write().await.clear();
        Ok(kid)
    }

    /// A published key by id (for verification).
    pub async fn published(&self, kid: &str) -> anyhow::Result<Option<Arc<SigningKey>>> {
        self.published_at(kid, now_ms()).await
    }

    /// [`Self::published`] at `now` (tests call it with a clock of their own).
    pub async fn published_at(&self, kid: &str, now: i64) -> anyhow::Result<Option<Arc<SigningKey>>> {
        let key = self.get(kid, now).await?;
        Ok(key.filter(|k| k.published_at(now)))
    }

    /// Every key a verifier may meet.
    pub async fn jwks(&self) -> anyhow::Result<Jwks> {
        // A fresh installation publishes the key it will sign with.
        self.active().await?;
        let horizon = now_ms() - PUBLISH_AFTER_RETIREMENT_MS;
        let keys = signing_keys::published_since(&self.db, horizon)
            .await?
            .into_iter()
            .map(|(kid, n, e)| Jwk { kty: "RSA", kid, use_: "sig", alg: "RS256", n, e })
            .collect();
        Ok(Jwks { keys })
    }

    /// A key by id, from the cache while its retirement is known (a retired key stays retired)
    /// or was read less than [`RECHECK_MS`] before `now`.
    async fn get(&self, kid: &str, now: i64) -> anyhow::Result<Option<Arc<SigningKey>>> {
        if let Some(c) = self.cache.read().await.get(kid)
            && (c.key.retired_at.is_some() || now - c.checked_at < RECHECK_MS)
        {
            return Ok(Some(c.key.clone()));
        }
        let Some(stored) = signing_keys::get(&self.db, kid).await? else { return Ok(None) };
        let key = match self.cache.read().await.get(kid) {
            // Only its retirement can have changed: keep the parsed keys.
            Some(c) => Arc::new(SigningKey { retired_at: stored.retired_at, ..(*c.key).clone() }),
            None => {
                let der = sealed::open(&self.master, &context(kid), &stored.private_key_sealed)?;
                Arc::new(SigningKey {
                    kid: stored.kid,
                    encoding: EncodingKey::from_rsa_der(&der),
                    decoding: DecodingKey::from_rsa_components(&stored.public_n, &stored.public_e)
                        .context("stored public key")?,
                    n: stored.public_n,
                    e: stored.public_e,
                    retired_at: stored.retired_at,
                })
            }
        };
        self.cache.write().await.insert(kid.to_owned(), Cached { key: key.clone(), checked_at: now });
        Ok(Some(key))
    }

    async fn generate(&self) -> anyhow::Result<String> {
        // RSA key generation takes a while: keep it off the async workers.
        let private = tokio::task::spawn_blocking(|| rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048))
            .await?
            .context("generating an RSA key")?;
        let der = private.to_pkcs1_der().context("encoding the RSA key")?;
        let kid = random_base62(20);
        let n = URL_SAFE_NO_PAD.encode(private.n().to_bytes_be());
        let e = URL_SAFE_NO_PAD.encode(private.e().to_bytes_be());
        let sealed_der = sealed::seal(&self.master, &context(&kid), der.as_bytes());
        signing_keys::insert(&self.db, &kid, &sealed_der, &n, &e).await?;
        tracing::info!(%kid, "generated a new token signing key");
        Ok(kid)
    }
}
