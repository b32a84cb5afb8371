//! The check every dashboard server function makes (SPEC §12): the call comes from the
//! dashboard's own origin, carries a live session, and the user's role allows the action.

use axum::http::{HeaderMap, HeaderValue, header};
use cookie::{Cookie, SameSite};

use crate::domain::dashboard::{Permission, SESSION_COOKIE};
use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;
use crate::store::dashboard::User;

/// Who is calling: the signed-in user and their session token.
pub struct Caller {
    pub user: User,
    pub token: String,
}

/// The session token in the request's cookies, if any.
pub fn session_token(headers: &HeaderMap) -> Option<String> {
    cookie(headers, SESSION_COOKIE)
}

/// The value of the request's cookie `name`, if it has one.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == name)
        .map(|c| c.value().to_owned())
}

/// True when the request comes from the platform's own pages: its `Origin` is the public URL's
/// origin; or, from a page that sends no referrer (the browser then writes a post's `Origin` as
/// `null`), `Sec-Fetch-Site: same-origin`, which browsers set and no page can.
pub fn same_origin(state: &AppState, headers: &HeaderMap) -> bool {
    let own = state.config().public_origin();
    match headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) {
        Some(origin) if origin != "null" => !own.is_empty() && origin == own,
        _ => headers.get("sec-fetch-site").is_some_and(|site| site == "same-origin"),
    }
}

/// A server function's check: 403 from another origin (or none), 401 without a live session,
/// 403 when the role does not allow `permission`.
pub async fn check(
    state: &AppState,
    headers: &HeaderMap,
    permission: Permission,
    now: i64,
) -> Result<Caller, ApiError> {
    if !same_origin(state, headers) {
        return Err(ApiError::new(ErrorCode::Forbidden, "This call must come from the dashboard itself"));
    }
    check_session(state, headers, permission, now).await
}

/// [`check`] without the origin: for the reads a page makes while the server renders it
/// (a navigation carries no `Origin`; a read changes nothing).
pub async fn check_session(
    state: &AppState,
    headers: &HeaderMap,
    permission: Permission,
    now: i64,
) -> Result<Caller, ApiError> {
    let caller = signed_in(state, headers, now).await?.ok_or_else(|| ApiError::unauthenticated("Sign in first"))?;
    if !caller.user.role.allows(permission) {
        return Err(ApiError::new(ErrorCode::Forbidden, "Your role does not allow this"));
    }
    Ok(caller)
}

/// The caller of a page load (no origin check: a GET changes nothing), if signed in.
pub async fn signed_in(state: &AppState, headers: &HeaderMap, now: i64) -> Result<Option<Caller>, ApiError> {
    let Some(token) = session_token(headers) else { return Ok(None) };
    let user = super::session_user(state.db(), &token, now).await?;
    Ok(user.map(|user| Caller { user, token }))
}

/// The `Set-Cookie` for a new session: `HttpOnly`, `SameSite=Strict`, `Secure` on https, for
/// the dashboard's paths only; the browser keeps it until it closes (the server ends the
/// session after 12 idle hours).
pub fn session_cookie(state: &AppState, token: &str) -> HeaderValue {
    cookie_header(state, Cookie::new(SESSION_COOKIE, token.to_owned()))
}

/// The `Set-Cookie` that removes the session cookie.
pub fn cleared_cookie(state: &AppState) -> HeaderValue {
    let mut c = Cookie::new(SESSION_COOKIE, "");
    c.make_removal();
    cookie_header(state, c)
}

fn cookie_header(state: &AppState, mut c: Cookie<'static>) -> HeaderValue {
    c.set_http_only(true);
    c.set_same_site(SameSite::Strict);
    c.set_secure(state.config().public_url.starts_with("https://"));
    c.set_path("/dashboard");
    HeaderValue::from_str(&c.to_string()).unwrap_or(HeaderValue::from_static("govifi_session=; Max-Age=0"))
}
