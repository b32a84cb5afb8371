//! Server-rendered pages: the hosted checkout (`/{session_id}`), the embed page
//! (`/embed/{session_id}`), the wallet page (`/wallet/{id}`), and in sandbox mode the demo
//! merchant (`/demo`) with its receipt page. They are Leptos components (`app::pages`) rendered
//! by `leptos_axum`; each handler loads what its page shows, then renders it and sets the
//! page's headers. The demo creates its sessions through a Leptos server function.

use app::pages::{Assets, DemoPage, DemoSessions, ElementPage, EmbedPage, NotFoundPage, ReceiptPage, SessionEndedPage};
use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use leptos::prelude::*;
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::bootstrap::ensure_sandbox_demo;
use crate::domain::ids::has_shape;
use crate::domain::session::SessionStatus;
use crate::error::ApiError;
use crate::idempotency::Idempotency;
use crate::state::AppState;
use crate::store::{accounts, sessions};

/// The pages' stylesheet and the demo's script, compiled in and served under content-hashed names.
const PAGES_CSS: &str = include_str!("../../../style/pages.css");
const DEMO_JS: &str = include_str!("../../../public/demo.js");
const FAVICON: &str = include_str!("../../../public/favicon.svg");

fn hashed(stem: &str, ext: &str, content: &str) -> String {
    format!("/static/{stem}-{}.{ext}", &hex::encode(Sha256::digest(content))[..12])
}

pub fn stylesheet_path() -> &'static str {
    static PATH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    PATH.get_or_init(|| hashed("pages", "css", PAGES_CSS))
}

fn favicon_path() -> &'static str {
    static PATH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    PATH.get_or_init(|| hashed("favicon", "svg", FAVICON))
}

fn demo_script_path() -> &'static str {
    static PATH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    PATH.get_or_init(|| hashed("demo", "js", DEMO_JS))
}

pub fn router() -> Router<AppState> {
    // Leptos renders on the tokio runtime; it needs to know which executor to spawn on (a
    // second call is a no-op error).
    let _ = any_spawner::Executor::init_tokio();
    Router::new()
        .route("/demo", get(demo))
        .route(demo_action_path(), post(demo_server_fns))
        .route("/demo/receipt", get(demo_receipt))
        .route("/static/{file}", get(static_file))
        .route("/embed/{id}", get(embed_page))
        .route("/wallet/{id}", get(wallet_page))
        .route("/favicon.ico", get(favicon))
        .route("/{id}", get(hosted_page))
}

async fn static_file(Path(file): Path<String>) -> Response {
    let path = format!("/static/{file}");
    let (content_type, body) = if path == stylesheet_path() {
        ("text/css; charset=utf-8", PAGES_CSS)
    } else if path == demo_script_path() {
        ("text/javascript; charset=utf-8", DEMO_JS)
    } else if path == favicon_path() {
        ("image/svg+xml", FAVICON)
    } else {
        return ApiError::not_found("asset").into_response();
    };
    ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "public, max-age=31536000, immutable")], body)
        .into_response()
}

/// `/favicon.ico`, for browsers that ask without reading the page's `<link rel="icon">`: the
/// icon itself, kept a day (a permanent redirect to the hashed path would be kept for ever,
/// pointing at a file the next release no longer serves).
async fn favicon() -> Response {
    ([(header::CONTENT_TYPE, "image/svg+xml"), (header::CACHE_CONTROL, "public, max-age=86400")], FAVICON)
        .into_response()
}

/// Headers every page sends (SPEC §6): a CSP whose only inline scripts are the ones carrying
/// this response's `nonce` (Leptos's own resource scripts), no referrer, no caching of session
/// pages, and framing only where `frame_ancestors` allows it.
pub fn page_headers(policy: &Policy, nonce: Option<&str>) -> Vec<(HeaderName, HeaderValue)> {
    let frame_ancestors = policy.frame_ancestors.as_str();
    let nonce = nonce.map(|n| format!(" 'nonce-{n}'")).unwrap_or_default();
    let csp = format!(
        "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'{nonce}; connect-src 'self'; style-src 'self'; \
         img-src 'self' https: data:; font-src 'self'; base-uri 'none'; form-action 'self'; \
         frame-src 'self'; frame-ancestors {frame_ancestors}"
    );
    let mut headers = vec![
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_str(&csp).unwrap_or(HeaderValue::from_static("default-src 'none'")),
        ),
        (header::REFERRER_POLICY, HeaderValue::from_static(policy.referrer)),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
        (header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8")),
    ];
    if frame_ancestors == "'none'" {
        headers.push((header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")));
    }
    headers
}

/// Who may frame a page, and what it tells other sites of where a visitor came from.
#[derive(Debug, Clone)]
pub struct Policy {
    frame_ancestors: String,
    referrer: &'static str,
}

impl Policy {
    /// Never framed, no referrer: the checkout pages.
    pub fn unframed() -> Self {
        Policy { frame_ancestors: "'none'".into(), referrer: "no-referrer" }
    }

    /// Framed by these origins only (`frame-ancestors`), no referrer: the embed page.
    pub fn framed_by(ancestors: String) -> Self {
        Policy { frame_ancestors: ancestors, referrer: "no-referrer" }
    }

    /// Never framed; the page's own requests carry its address (`same-origin`): the dashboard's
    /// form posts without script are sent back to the page they came from (`Referer`) with
    /// what was wrong.
    pub fn with_forms() -> Self {
        Policy { frame_ancestors: "'none'".into(), referrer: "same-origin" }
    }
}

/// Renders a page with `leptos_axum`; the page's status and the headers of SPEC §6 go through
/// its `ResponseOptions`, with the nonce `leptos_axum` made for this response in the CSP.
pub(crate) async fn render<V>(req: Request, status: StatusCode, policy: Policy, page: V) -> Response
where
    V: Fn() -> AnyView + Clone + Send + Sync + 'static,
{
    render_with_context(req, status, policy, || {}, page).await
}

/// [`render`], with `context` provided to the page (and to the server functions it calls).
pub(crate) async fn render_with_context<V>(
    req: Request,
    status: StatusCode,
    policy: Policy,
    context: impl Fn() + Clone + Send + Sync + 'static,
    page: V,
) -> Response
where
    V: Fn() -> AnyView + Clone + Send + Sync + 'static,
{
    let app = move || {
        if let Some(options) = use_context::<leptos_axum::ResponseOptions>() {
            options.set_status(status);
            let nonce = leptos::nonce::use_nonce().map(|n| n.to_string());
            for (name, value) in page_headers(&policy, nonce.as_deref()) {
                options.insert_header(name, value);
            }
        }
        page()
    };
    leptos_axum::render_app_async_with_context(context, app)(req).await.into_response()
}

pub(crate) fn assets() -> Assets {
    Assets {
        stylesheet: stylesheet_path().to_owned(),
        favicon: favicon_path().to_owned(),
        element: "/sdk/govifi-payment.js".to_owned(),
        demo_script: demo_script_path().to_owned(),
    }
}

async fn not_found_page(req: Request) -> Response {
    render(req, StatusCode::NOT_FOUND, Policy::unframed(), || view! { <NotFoundPage assets=assets()/> }.into_any())
        .await
}

async fn session_and_account(state: &AppState, id: &str) -> Option<(sessions::Session, accounts::Account)> {
    if !has_shape(id, "cs") {
        return None;
    }
    let session = sessions::get(state.db(), id).await.ok()??;
    let account = accounts::get(state.db(), &session.account_uid).await.ok()??;
    Some((session, account))
}

/// `GET /{session_id}`: the hosted checkout. The element takes the credential from `#cs=`.
/// Never framed.
async fn hosted_page(State(state): State<AppState>, Path(id): Path<String>, req: Request) -> Response {
    let Some((session, account)) = session_and_account(&state, &id).await else { return not_found_page(req).await };
    let merchant = crate::checkout::confirm::merchant_name(&account, &session);
    let title = if session.locale.is_spanish() { format!("Pagar a {merchant}") } else { format!("Pay {merchant}") };
    let lang = session.locale.as_str().to_owned();
    // Over: said here, without the element (which would need the credential the address may no
    // longer hold).
    let ended = match session.status_at(crate::store::now_ms()) {
        SessionStatus::Completed => Some((true, None)),
        SessionStatus::Expired => {
            Some((false, Some(crate::domain::session::customer_cancel_url(&session.cancel_url, &session.id))))
        }
        SessionStatus::Active | SessionStatus::Processing => None,
    };
    render(req, StatusCode::OK, Policy::unframed(), move || match ended.clone() {
        Some((paid, back)) => {
            view! { <SessionEndedPage assets=assets() lang=lang.clone() title=title.clone() paid back/> }.into_any()
        }
        None => view! { <ElementPage assets=assets() lang=lang.clone() title=title.clone()/> }.into_any(),
    })
    .await
}

/// `GET /embed/{session_id}`: made to be framed by the account's allowed origins, which may
/// hand the credential over by `postMessage` (or put it in `#cs=`).
async fn embed_page(State(state): State<AppState>, Path(id): Path<String>, req: Request) -> Response {
    let Some((session, account)) = session_and_account(&state, &id).await else { return not_found_page(req).await };
    let mut parents: Vec<String> = vec![state.config().public_origin()];
    parents.extend(account.allowed_origins.iter().cloned());
    let ancestors = parents.join(" ");
    let merchant = crate::checkout::confirm::merchant_name(&account, &session);
    let lang = session.locale.as_str().to_owned();
    let parent_origins = ancestors.clone();
    render(req, StatusCode::OK, Policy::framed_by(ancestors), move || {
        view! {
            <EmbedPage assets=assets() lang=lang.clone() merchant=merchant.clone() session_id=session.id.clone()
                parent_origins=parent_origins.clone()/>
        }
        .into_any()
    })
    .await
}

/// `GET /wallet/{id}`: a customer's saved methods, with the credential in `#ws=`.
async fn wallet_page(State(state): State<AppState>, Path(id): Path<String>, req: Request) -> Response {
    let wallet = if has_shape(&id, "ws") {
        crate::store::wallet_sessions::get(state.db(), &id).await.ok().flatten()
    } else {
        None
    };
    let Some(wallet) = wallet else { return not_found_page(req).await };
    let title = if wallet.locale.is_spanish() { "Sus métodos de pago" } else { "Your payment methods" };
    let lang = wallet.locale.as_str().to_owned();
    render(req, StatusCode::OK, Policy::unframed(), move || {
        view! { <ElementPage assets=assets() lang=lang.clone() title=title.to_owned()/> }.into_any()
    })
    .await
}

// ----- The sandbox demo: the server plays a merchant -----

/// Creates the demo's two sessions (hosted and embedded) for the demo account, then sends the
/// browser back to `/demo` with them (a plain form post: it works without any script).
#[leptos::server(prefix = "/demo", endpoint = "checkout")]
pub async fn create_demo_checkout(
    amount: String,
    description: String,
    email: String,
    locale: String,
    risk: String,
    save: String,
) -> Result<(), ServerFnError> {
    let state = use_context::<AppState>().ok_or_else(|| ServerFnError::new("no application state"))?;
    // Sent back to the page, which shows why (a plain form post: no script reads an error).
    let refused = |message: String| {
        let query: String = form_urlencoded::Serializer::new(String::new()).append_pair("error", &message).finish();
        leptos_axum::redirect(&format!("/demo?{query}"));
        Ok(())
    };
    let account = match demo_account(&state).await {
        Ok(account) => account,
        Err(e) => return refused(e.public_message()),
    };
    let base = &state.config().public_url;
    let blank = |s: &str| (!s.trim().is_empty()).then(|| s.trim().to_owned());
    let mut body = json!({
        // Whatever was typed goes to the session API as is, which answers a bad amount.
        "amount": amount.trim().parse::<i64>().map(serde_json::Value::from).unwrap_or_else(|_| amount.into()),
        "currency": account.currency.as_str(),
        "description": blank(&description),
        "success_url": format!("{base}/demo/receipt?session_id={{CHECKOUT_SESSION_ID}}"),
        "cancel_url": format!("{base}/demo"),
        "locale": blank(&locale).unwrap_or_else(|| "en".into()),
        "customer_email": blank(&email),
        "setup_future_usage": blank(&save).unwrap_or_else(|| "off".into()),
        "required_avs_fields": ["zip"],
        "fraud_signals": {"risk_level": blank(&risk).unwrap_or_else(|| "low".into())},
    });
    let mut created = Vec::new();
    for layout in ["hosted", "embedded"] {
        body["layout"] = layout.into();
        match crate::checkout::merchant::create(&state, &account, body.clone(), &Idempotency::none()).await {
            Ok((session, _)) => created.push(session.id),
            Err(e) => return refused(e.public_message()),
        }
    }
    // The page shows the sessions' credentials only to the browser that made them: session ids
    // are not secret (they travel in merchants' pages and redirects), a keyed proof in a cookie
    // of this browser's is.
    if let Some(options) = use_context::<leptos_axum::ResponseOptions>() {
        let mut cookie = cookie::Cookie::new(DEMO_COOKIE, demo_proof(&state, &created[0], &created[1]));
        cookie.set_http_only(true);
        cookie.set_same_site(cookie::SameSite::Strict);
        cookie.set_secure(base.starts_with("https://"));
        cookie.set_path("/demo");
        if let Ok(value) = HeaderValue::from_str(&cookie.to_string()) {
            options.append_header(header::SET_COOKIE, value);
        }
    }
    leptos_axum::redirect(&format!("/demo?hosted={}&embedded={}", created[0], created[1]));
    Ok(())
}

/// The cookie that shows which demo sessions this browser made.
const DEMO_COOKIE: &str = "govifi_demo";

fn demo_proof(state: &AppState, hosted: &str, embedded: &str) -> String {
    crate::auth::secrets::fingerprint(&state.config().master_key, "demo-sessions", &format!("{hosted} {embedded}"))
}

/// Whether the request's demo cookie proves it made `hosted` and `embedded`.
fn made_here(state: &AppState, req: &Request, hosted: &str, embedded: &str) -> bool {
    crate::dashboard::guard::cookie(req.headers(), DEMO_COOKIE)
        .is_some_and(|proof| crate::auth::secrets::hashes_match(&proof, &demo_proof(state, hosted, embedded)))
}

fn demo_action_path() -> &'static str {
    <CreateDemoCheckout as leptos::server_fn::ServerFn>::PATH
}

/// The demo's server functions, with the application state in their context.
async fn demo_server_fns(State(state): State<AppState>, req: Request<Body>) -> Response {
    // Only the demo page itself makes sessions: another site's form posting here could not
    // read them, but would fill the demo account with sessions.
    if !state.config().sandbox {
        return ApiError::not_found("route").into_response();
    }
    if !crate::dashboard::guard::same_origin(&state, req.headers()) {
        return ApiError::new(crate::error::ErrorCode::Forbidden, "Not allowed from another origin").into_response();
    }
    let answer =
        leptos_axum::handle_server_fns_with_context(move || provide_context(state.clone()), req).await.into_response();
    // A form missing a field is the sender's mistake: 400, not server_fn's 500.
    super::dashboard::arguments_refused(answer).await
}

#[derive(Debug, Deserialize)]
struct DemoQuery {
    hosted: Option<String>,
    embedded: Option<String>,
    error: Option<String>,
}

/// `GET /demo`: the merchant's side of a checkout, played by the server in sandbox mode; with
/// the sessions the form made, side by side.
async fn demo(State(state): State<AppState>, Query(q): Query<DemoQuery>, req: Request) -> Response {
    if !state.config().sandbox {
        return ApiError::not_found("page").into_response();
    }
    let sessions = match (&q.hosted, &q.embedded) {
        (Some(h), Some(e)) if made_here(&state, &req, h, e) => demo_sessions(&state, h, e).await,
        _ => None,
    };
    let error = q.error.clone();
    render(req, StatusCode::OK, Policy::unframed(), move || {
        view! { <DemoPage assets=assets() action=demo_action_path().to_owned() error=error.clone() sessions=sessions.clone()/> }
            .into_any()
    })
    .await
}

/// The demo account's sessions `hosted` and `embedded`, as the demo shows them.
async fn demo_sessions(state: &AppState, hosted: &str, embedded: &str) -> Option<DemoSessions> {
    let account = demo_account(state).await.ok()?;
    let view = |id: &str| {
        let id = id.to_owned();
        let account_uid = account.uid.clone();
        async move {
            let s = crate::checkout::merchant::find(state, &account_uid, &id).await.ok()?;
            crate::checkout::merchant_view(state, &s, crate::store::now_ms()).ok()
        }
    };
    let (h, e) = (view(hosted).await?, view(embedded).await?);
    Some(DemoSessions {
        hosted_id: h.id,
        hosted_url: h.hosted_url,
        embedded_id: e.id,
        embedded_secret: e.client_secret.unwrap_or_default(),
    })
}

async fn demo_account(state: &AppState) -> Result<accounts::Account, ApiError> {
    let demo = ensure_sandbox_demo(state).await?.ok_or_else(|| ApiError::not_found("demo"))?;
    accounts::get(state.db(), &demo.account_uid).await?.ok_or_else(|| ApiError::not_found("demo account"))
}

#[derive(Debug, Deserialize)]
struct Receipt {
    govifi_session_id: Option<String>,
    govifi_payment_id: Option<String>,
    govifi_ts: Option<i64>,
    govifi_sig: Option<String>,
}

/// `GET /demo/receipt`: where the success redirect lands; verifies its signature as a merchant
/// would (HMAC-SHA256 with the account's redirect signing secret).
async fn demo_receipt(State(state): State<AppState>, Query(q): Query<Receipt>, req: Request) -> Response {
    if !state.config().sandbox {
        return ApiError::not_found("page").into_response();
    }
    let account = match demo_account(&state).await {
        Ok(a) => a,
        Err(e) => return e.into_response(),
    };
    let valid = match (&q.govifi_session_id, &q.govifi_payment_id, q.govifi_ts, &q.govifi_sig) {
        (Some(sid), Some(pid), Some(ts), Some(sig)) => match account.redirect_secret(&state.config().master_key) {
            Ok(secret) => crate::checkout::merchant::signature_matches(&secret, ts, sid, pid, sig),
            Err(_) => false,
        },
        _ => false,
    };
    let session_id = q.govifi_session_id.unwrap_or_else(|| "—".into());
    let payment_id = q.govifi_payment_id.unwrap_or_else(|| "—".into());
    render(req, StatusCode::OK, Policy::unframed(), move || {
        view! { <ReceiptPage assets=assets() valid session_id=session_id.clone() payment_id=payment_id.clone()/> }
            .into_any()
    })
    .await
}
