//! The built-in OAuth 2.0 identity provider: the client-credentials token endpoint and the JWKS.
//! The token endpoint is the one place whose errors follow RFC 6749 instead of SPEC §2.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::keys::Jwks;
use crate::auth::secrets::verify_secret;
use crate::auth::tokens::TOKEN_TTL_SECONDS;
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::app_clients;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(token)).routes(routes!(jwks))
}

#[derive(Serialize, ToSchema)]
pub struct TokenResponse {
    access_token: String,
    expires_in: i64,
    token_type: &'static str,
}

/// RFC 6749 §5.2 error body.
#[derive(Serialize, ToSchema)]
pub struct OAuthError {
    error: &'static str,
    error_description: String,
}

struct OAuthFailure {
    status: StatusCode,
    error: &'static str,
    description: String,
    basic_challenge: bool,
}

impl OAuthFailure {
    fn new(status: StatusCode, error: &'static str, description: impl Into<String>) -> Self {
        OAuthFailure { status, error, description: description.into(), basic_challenge: false }
    }
}

impl IntoResponse for OAuthFailure {
    fn into_response(self) -> Response {
        let body = OAuthError { error: self.error, error_description: self.description };
        let mut response = (self.status, axum::Json(body)).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if self.basic_challenge {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"govifi\""));
        }
        response
    }
}

/// Exchanges an app client's id and secret for an access token (client credentials grant).
#[utoipa::path(
    post, path = "/oauth2/token", tag = "identity",
    request_body(
        content_type = "application/x-www-form-urlencoded",
        description = "grant_type=client_credentials, optional scope; client_id and client_secret here \
                       or by HTTP Basic",
        content = String
    ),
    responses(
        (status = 200, body = TokenResponse),
        (status = 400, body = OAuthError, description = "invalid_request, unsupported_grant_type, invalid_scope"),
        (status = 401, body = OAuthError, description = "invalid_client"),
    )
)]
async fn token(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    match issue(&state, &headers, &body).await {
        Ok(r) => r,
        Err(Ok(failure)) => failure.into_response(),
        Err(Err(internal)) => internal.into_response(),
    }
}

type Outcome = Result<Response, Result<OAuthFailure, ApiError>>;

async fn issue(state: &AppState, headers: &HeaderMap, body: &[u8]) -> Outcome {
    let bad = |e: &'static str, d: &str| Err(Ok(OAuthFailure::new(StatusCode::BAD_REQUEST, e, d)));
    if let Some(ct) = headers.get(header::CONTENT_TYPE)
        && !ct.to_str().unwrap_or("").starts_with("application/x-www-form-urlencoded")
    {
        return bad("invalid_request", "send the parameters as application/x-www-form-urlencoded");
    }
    // A map, so that a body of thousands of parameters costs time linear in its size (the
    // endpoint answers anyone).
    let mut params: std::collections::HashMap<String, String> = std::collections::HashMap::new();
    for (k, v) in form_urlencoded::parse(body) {
        if params.insert(k.into_owned(), v.into_owned()).is_some() {
            return bad("invalid_request", "a parameter is repeated");
        }
    }
    let param = |name: &str| params.get(name).map(String::as_str);

    // Client authentication: HTTP Basic, or the form fields, never both (RFC 6749 §2.3.1).
    let basic = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(parse_basic);
    let (client_id, secret, used_basic) = match (basic, param("client_id"), param("client_secret")) {
        (Some(_), _, Some(_)) => return bad("invalid_request", "authenticate by HTTP Basic or form fields, not both"),
        (Some((id, secret)), _, None) => (id, secret, true),
        (None, Some(id), Some(secret)) => (id.to_owned(), secret.to_owned(), false),
        (None, _, _) => {
            let mut f =
                OAuthFailure::new(StatusCode::UNAUTHORIZED, "invalid_client", "client authentication is required");
            f.basic_challenge = true;
            return Err(Ok(f));
        }
    };
    match param("grant_type") {
        None => return bad("invalid_request", "grant_type is required"),
        Some("client_credentials") => {}
        Some(_) => {
            return Err(Ok(OAuthFailure::new(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "only client_credentials is supported",
            )));
        }
    }

    // (An id no client can have, such as one holding U+0000, is simply unknown.)
    let client = if client_id.contains('\0') {
        None
    } else {
        app_clients::find(state.db(), &client_id).await.map_err(|e| Err(e.into()))?
    };
    // Hash even for unknown clients, so timing does not tell which ids exist.
    let stored = client.as_ref().map(|c| c.secret_hash.as_str()).unwrap_or("0000");
    let secret_ok = verify_secret(&secret, stored);
    let client = match client {
        Some(c) if secret_ok && !c.disabled => c,
        _ => {
            let mut f = OAuthFailure::new(StatusCode::UNAUTHORIZED, "invalid_client", "client authentication failed");
            f.basic_challenge = used_basic;
            return Err(Ok(f));
        }
    };

    let scopes: Vec<String> = match param("scope") {
        Some(requested) => {
            let requested: Vec<String> = requested.split_whitespace().map(str::to_owned).collect();
            if requested.is_empty() || requested.iter().any(|s| !client.scopes.contains(s)) {
                return Err(Ok(OAuthFailure::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_scope",
                    "the requested scope is not granted to this client",
                )));
            }
            requested
        }
        None => client.scopes.clone(),
    };
    let access_token = state.tokens().issue(&client.client_id, &scopes).await.map_err(|e| Err(e.into()))?;
    let body = TokenResponse { access_token, expires_in: TOKEN_TTL_SECONDS, token_type: "Bearer" };
    let mut response = (StatusCode::OK, axum::Json(body)).into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response.headers_mut().insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    Ok(response)
}

/// `Basic base64(id:secret)`, each part form-urlencoded (RFC 6749 §2.3.1).
fn parse_basic(value: &str) -> Option<(String, String)> {
    let (scheme, rest) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(rest.trim()).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    let unescape = |s: &str| form_urlencoded::parse(format!("v={s}").as_bytes()).next().map(|(_, v)| v.into_owned());
    Some((unescape(id)?, unescape(secret)?))
}

/// The public keys that verify our access tokens.
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "identity", responses((status = 200, body = Jwks)))]
async fn jwks(State(state): State<AppState>) -> Result<Response, ApiError> {
    let jwks = state.tokens().keys.jwks().await?;
    let mut response = axum::Json(jwks).into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=300"));
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_decoded_and_unescaped() {
        let header = format!("Basic {}", STANDARD.encode("my%20client:s3cr%3At"));
        assert_eq!(parse_basic(&header), Some(("my client".into(), "s3cr:t".into())));
        assert_eq!(parse_basic("Bearer abc"), None);
        assert_eq!(parse_basic("Basic !!!"), None);
    }
}
