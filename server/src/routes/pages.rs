//! Server-rendered pages: the sandbox demo (and, with the checkout, the hosted and embed pages).

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sha2::{Digest, Sha256};

use crate::app::AppState;
use crate::error::ApiError;

/// The pages' stylesheet, compiled in and served under a content-hashed name.
const PAGES_CSS: &str = include_str!("../../../style/pages.css");

pub fn stylesheet_path() -> &'static str {
    static PATH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    PATH.get_or_init(|| format!("/static/pages-{}.css", &hex::encode(Sha256::digest(PAGES_CSS))[..12]))
}

pub fn router() -> Router<AppState> {
    Router::new().route("/demo", get(demo)).route("/static/{file}", get(stylesheet))
}

async fn stylesheet(axum::extract::Path(file): axum::extract::Path<String>) -> Response {
    if format!("/static/{file}") != stylesheet_path() {
        return ApiError::not_found("asset").into_response();
    }
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
        ],
        PAGES_CSS,
    )
        .into_response()
}

/// Headers every page sends (SPEC §6): a CSP without inline script, no referrer, no caching of
/// session pages, and framing only where `frame_ancestors` allows it.
pub fn page_headers(frame_ancestors: &str) -> [(HeaderName, HeaderValue); 5] {
    let csp = format!(
        "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; connect-src 'self'; style-src 'self'; \
         img-src 'self' https: data:; font-src 'self'; base-uri 'none'; form-action 'self'; \
         frame-ancestors {frame_ancestors}"
    );
    [
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_str(&csp).unwrap_or(HeaderValue::from_static("default-src 'none'")),
        ),
        (header::REFERRER_POLICY, HeaderValue::from_static("no-referrer")),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
        (header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8")),
    ]
}

/// The merchant's side of a checkout, played by the server in sandbox mode.
async fn demo(State(state): State<AppState>) -> Response {
    if !state.config().sandbox {
        return ApiError::not_found("page").into_response();
    }
    let css = stylesheet_path();
    let html = format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Govifi sandbox demo</title>
<link rel="stylesheet" href="{css}">
<script type="module" src="/sdk/govifi-payment.js"></script>
</head>
<body>
<main>
<h1>Govifi sandbox</h1>
<p class="lede">This page plays a merchant's site. The checkout below is the <code>&lt;govifi-payment&gt;</code> element.</p>
<div class="panel"><govifi-payment></govifi-payment></div>
</main>
</body>
</html>
"#
    );
    (StatusCode::OK, page_headers("'none'"), html).into_response()
}
