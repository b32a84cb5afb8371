//! Access tokens shaped like Cognito's, signed RS256 with our key; and verification of ours and
//! of an external issuer's. Verification pins RS256 (no `none`, no HS/RS confusion), checks
//! `iss`, `exp` (small leeway) and `token_use`; scopes are the extractors' business.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, Header, Validation};
use serde::{Deserialize, Serialize};

use super::external::ExternalJwks;
use super::keys::KeyStore;
use crate::domain::ids::random_base62;
use crate::store::Db;

pub const TOKEN_TTL_SECONDS: i64 = 3600;
pub const LEEWAY_SECONDS: i64 = 30;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    pub sub: String,
    pub client_id: String,
    pub token_use: String,
    #[serde(default)]
    pub scope: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
}

/// Who a verified token speaks for.
#[derive(Debug, Clone)]
pub struct TokenIdentity {
    pub client_id: String,
    pub issuer: String,
    pub scopes: Vec<String>,
}

impl TokenIdentity {
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }
}

/// Why a token was refused (all 401 to the caller; the detail is for logs).
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("not a JWT")]
    Malformed,
    #[error("algorithm {0} is not accepted")]
    Algorithm(String),
    #[error("no key id")]
    NoKid,
    #[error("issuer {0:?} is not trusted")]
    Issuer(String),
    #[error("unknown key id")]
    UnknownKey,
    #[error("{0}")]
    Invalid(String),
    #[error("token_use is not access")]
    NotAccess,
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

pub struct Tokens {
    pub issuer: String,
    pub keys: KeyStore,
    pub external: Option<Arc<ExternalJwks>>,
}

impl Tokens {
    pub fn new(db: Db, master: crate::config::MasterKey, issuer: String, external: Option<ExternalJwks>) -> Self {
        Tokens { issuer, keys: KeyStore::new(db, master), external: external.map(Arc::new) }
    }

    /// Signs an access token for an app client.
    pub async fn issue(&self, client_id: &str, scopes: &[String]) -> anyhow::Result<String> {
        let key = self.keys.active().await?;
        let now = crate::store::now_ms() / 1000;
        let claims = AccessClaims {
            iss: self.issuer.clone(),
            sub: client_id.to_owned(),
            client_id: client_id.to_owned(),
            token_use: "access".into(),
            scope: scopes.join(" "),
            iat: now,
            exp: now + TOKEN_TTL_SECONDS,
            jti: random_base62(24),
            version: Some(2),
        };
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(key.kid.clone());
        Ok(jsonwebtoken::encode(&header, &claims, &key.encoding)?)
    }

    pub async fn verify(&self, token: &str) -> Result<TokenIdentity, TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Malformed)?;
        if header.alg != Algorithm::RS256 {
            return Err(TokenError::Algorithm(format!("{:?}", header.alg)));
        }
        let kid = header.kid.ok_or(TokenError::NoKid)?;
        // A key id no key can have (U+0000 cannot even be looked up on PostgreSQL).
        if kid.contains('\0') {
            return Err(TokenError::UnknownKey);
        }
        // Which issuer's keys to try is read from the (not yet verified) claims; the signature
        // and `iss` are then verified against exactly that issuer.
        let claimed_iss = peek_issuer(token).ok_or(TokenError::Malformed)?;
        let key = if claimed_iss == self.issuer {
            self.keys.published(&kid).await?.map(|k| k.decoding.clone())
        } else if let Some(ext) = self.external.as_ref().filter(|e| e.issuer == claimed_iss) {
            ext.key(&kid).await.map(|k| (*k).clone())
        } else {
            return Err(TokenError::Issuer(claimed_iss));
        };
        let key = key.ok_or(TokenError::UnknownKey)?;
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_issuer(&[&claimed_iss]);
        validation.leeway = LEEWAY_SECONDS as u64;
        validation.validate_aud = false;
        // A token not yet valid (`nbf`, when it has one) is refused like an expired one.
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp", "iss"]);
        let data = jsonwebtoken::decode::<AccessClaims>(token, &key, &validation)
            .map_err(|e| TokenError::Invalid(e.to_string()))?;
        let claims = data.claims;
        if claims.token_use != "access" {
            return Err(TokenError::NotAccess);
        }
        Ok(TokenIdentity {
            client_id: claims.client_id,
            issuer: claims.iss,
            scopes: claims.scope.split_whitespace().map(str::to_owned).collect(),
        })
    }
}

fn peek_issuer(token: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct Iss {
        iss: String,
    }
    let payload = token.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    serde_json::from_slice::<Iss>(&bytes).ok().map(|c| c.iss)
}
