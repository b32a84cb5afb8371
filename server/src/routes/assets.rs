//! The element merchants include: `/sdk/govifi-payment.js` (a stable path) and the
//! content-hashed WASM and JS it loads from `/assets/`, all public to any origin (SPEC §6).

use std::path::PathBuf;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tower_http::compression::CompressionLayer;
use tower_http::services::ServeDir;

use crate::state::AppState;

pub fn router(assets_dir: PathBuf) -> Router<AppState> {
    // Hashed names never change content: cache forever. Trunk's index.html is not part of the API.
    // `cargo xtask dist` writes a brotli and a gzip copy beside each file; browsers get one.
    let files =
        ServeDir::new(assets_dir).append_index_html_on_directories(false).precompressed_br().precompressed_gzip();
    Router::new()
        .route("/sdk/govifi-payment.js", get(loader).layer(CompressionLayer::new()))
        .nest_service("/assets", files)
        .layer(middleware::from_fn(public_asset_headers))
}

async fn loader(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let bundle = state.element();
    let not_modified = headers.get(header::IF_NONE_MATCH).is_some_and(|v| v.as_bytes() == bundle.etag.as_bytes());
    let status = if !bundle.built {
        StatusCode::SERVICE_UNAVAILABLE
    } else if not_modified {
        StatusCode::NOT_MODIFIED
    } else {
        StatusCode::OK
    };
    let body = if status == StatusCode::NOT_MODIFIED { String::new() } else { bundle.loader.clone() };
    (
        status,
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            // Revalidate every time, so a deploy's new hashes are picked up at once.
            (header::CACHE_CONTROL, "no-cache"),
            (header::ETAG, bundle.etag.as_str()),
        ],
        body,
    )
        .into_response()
}

/// Any origin may load the element's files as modules; hashed files are immutable.
async fn public_asset_headers(req: Request, next: Next) -> Response {
    let is_hashed_asset = req.uri().path().starts_with("/assets/");
    // (No built file's name has a `%`: an escaped path is one trying to reach a page, like
    // `index%2ehtml`, which the file server would decode.)
    let is_index =
        req.uri().path().ends_with(".html") || req.uri().path().ends_with('/') || req.uri().path().contains('%');
    let is_snippet = is_hashed_asset && req.uri().path().contains("/snippets/");
    if is_hashed_asset && is_index {
        return crate::error::ApiError::not_found("asset").into_response();
    }
    let mut response = next.run(req).await;
    let success = response.status().is_success();
    let headers = response.headers_mut();
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    headers.insert("cross-origin-resource-policy", HeaderValue::from_static("cross-origin"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if is_hashed_asset && success {
        // wasm-bindgen names snippet folders after the crate, not the content: revalidate those.
        let value = if is_snippet { "no-cache" } else { "public, max-age=31536000, immutable" };
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(value));
        // The same path answers brotli, gzip or plain bytes: shared caches must key on it.
        headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    }
    response
}
