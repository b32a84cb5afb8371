//! Server-rendered pages: the hosted checkout (`/{session_id}`), the embed page
//! (`/embed/{session_id}`), the wallet page (`/wallet/{id}`), and in sandbox mode the demo
//! merchant (`/demo`) with its receipt page. They are small shells around `<govifi-payment>`, so
//! they are plain escaped templates (no client-side framework is needed to render them).

use axum::Form;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::auth::secrets::{hash_secret, verify_secret};
use crate::bootstrap::ensure_sandbox_demo;
use crate::domain::ids::has_shape;
use crate::domain::session::redirect_signature;
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
    Router::new()
        .route("/demo", get(demo).post(demo_create))
        .route("/demo/receipt", get(demo_receipt))
        .route("/static/{file}", get(static_file))
        .route("/embed/{id}", get(embed_page))
        .route("/wallet/{id}", get(wallet_page))
        .route("/favicon.ico", get(|| async { axum::response::Redirect::permanent(favicon_path()) }))
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

/// Text for HTML (element content and quoted attribute values).
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// Headers every page sends (SPEC §6): a CSP without inline script, no referrer, no caching of
/// session pages, and framing only where `frame_ancestors` allows it.
pub fn page_headers(frame_ancestors: &str) -> Vec<(HeaderName, HeaderValue)> {
    let csp = format!(
        "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; connect-src 'self'; style-src 'self'; \
         img-src 'self' https: data:; font-src 'self'; base-uri 'none'; form-action 'self'; \
         frame-src 'self'; frame-ancestors {frame_ancestors}"
    );
    let mut headers = vec![
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_str(&csp).unwrap_or(HeaderValue::from_static("default-src 'none'")),
        ),
        (header::REFERRER_POLICY, HeaderValue::from_static("no-referrer")),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
        (header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8")),
    ];
    if frame_ancestors == "'none'" {
        headers.push((header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")));
    }
    headers
}

fn page(status: StatusCode, frame_ancestors: &str, html: String) -> Response {
    let mut response = (status, html).into_response();
    for (name, value) in page_headers(frame_ancestors) {
        response.headers_mut().insert(name, value);
    }
    response
}

/// The shell of every page.
fn document(lang: &str, title: &str, body_class: &str, body: &str, scripts: &[&str]) -> String {
    let scripts: String = scripts.iter().map(|s| format!("<script type=\"module\" src=\"{s}\"></script>\n")).collect();
    format!(
        "<!doctype html>\n<html lang=\"{lang}\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>{title}</title>\n\
         <link rel=\"icon\" href=\"{icon}\" type=\"image/svg+xml\">\n\
         <link rel=\"stylesheet\" href=\"{css}\">\n{scripts}</head>\n<body class=\"{body_class}\">\n{body}\n</body>\n</html>\n",
        lang = esc(lang),
        title = esc(title),
        css = stylesheet_path(),
        icon = favicon_path(),
    )
}

fn not_found_page() -> Response {
    let body = "<main class=\"narrow\"><h1>Checkout not found</h1><p>This checkout link is not valid. \
                Return to the merchant and start again.</p></main>";
    page(StatusCode::NOT_FOUND, "'none'", document("en", "Checkout not found", "checkout-page", body, &[]))
}

async fn session_and_account(state: &AppState, id: &str) -> Option<(sessions::Session, accounts::Account)> {
    if !has_shape(id, "cs") {
        return None;
    }
    let session = sessions::get(state.db(), id).await.ok()??;
    let account = accounts::get(state.db(), &session.account_uid).await.ok()??;
    Some((session, account))
}

fn merchant_name(session: &sessions::Session, account: &accounts::Account) -> String {
    session
        .branding
        .as_ref()
        .and_then(|b| b.display_name.clone())
        .or_else(|| account.branding.display_name.clone())
        .unwrap_or_else(|| account.name.clone())
}

/// `GET /{session_id}`: the hosted checkout. The element takes the credential from `#cs=`.
/// Never framed.
async fn hosted_page(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    let Some((session, account)) = session_and_account(&state, &id).await else { return not_found_page() };
    let title = if session.locale.is_spanish() {
        format!("Pagar a {}", merchant_name(&session, &account))
    } else {
        format!("Pay {}", merchant_name(&session, &account))
    };
    let body = format!(
        "<main class=\"narrow\"><h1 class=\"visually-hidden\">{}</h1><govifi-payment></govifi-payment></main>",
        esc(&title)
    );
    page(
        StatusCode::OK,
        "'none'",
        document(session.locale.as_str(), &title, "checkout-page", &body, &["/sdk/govifi-payment.js"]),
    )
}

/// `GET /embed/{session_id}`: made to be framed by the account's allowed origins, which may
/// hand the credential over by `postMessage` (or put it in `#cs=`).
async fn embed_page(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    let Some((session, account)) = session_and_account(&state, &id).await else { return not_found_page() };
    let own = url::Url::parse(&state.config().public_url).map(|u| u.origin().ascii_serialization()).unwrap_or_default();
    let mut parents: Vec<String> = vec![own];
    parents.extend(account.allowed_origins.iter().cloned());
    let ancestors = parents.join(" ");
    let body = format!(
        "<main class=\"embed\"><h1 class=\"visually-hidden\">{}</h1><govifi-payment session-id=\"{}\" data-parent-origins=\"{}\"></govifi-payment></main>",
        esc(&merchant_name(&session, &account)),
        esc(&session.id),
        esc(&ancestors)
    );
    let title = merchant_name(&session, &account);
    page(
        StatusCode::OK,
        &ancestors,
        document(session.locale.as_str(), &title, "embed-page", &body, &["/sdk/govifi-payment.js"]),
    )
}

/// `GET /wallet/{id}`: a customer's saved methods, with the credential in `#ws=`.
async fn wallet_page(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    if !has_shape(&id, "ws") {
        return not_found_page();
    }
    let Ok(Some(wallet)) = crate::store::wallet_sessions::get(state.db(), &id).await else { return not_found_page() };
    let locale = wallet.locale.as_str();
    let title = if wallet.locale.is_spanish() { "Sus métodos de pago" } else { "Your payment methods" };
    let body = format!(
        "<main class=\"narrow\"><h1 class=\"visually-hidden\">{title}</h1><govifi-payment></govifi-payment></main>"
    );
    page(StatusCode::OK, "'none'", document(locale, title, "checkout-page", &body, &["/sdk/govifi-payment.js"]))
}

// ----- The sandbox demo: the server plays a merchant -----

#[derive(Debug, Deserialize)]
struct DemoForm {
    amount: Option<String>,
    description: Option<String>,
    locale: Option<String>,
    risk: Option<String>,
    email: Option<String>,
    save: Option<String>,
}

fn demo_form(message: &str) -> String {
    format!(
        "<form class=\"panel demo-form\" method=\"post\" action=\"/demo\">\
         <h2>New checkout</h2>{message}\
         <label for=\"amount\">Amount (minor units: 14227 is $142.27)</label>\
         <input id=\"amount\" name=\"amount\" inputmode=\"numeric\" value=\"14227\">\
         <label for=\"description\">Description</label>\
         <input id=\"description\" name=\"description\" value=\"Utility bill — account #4471\">\
         <label for=\"email\">Customer email</label>\
         <input id=\"email\" name=\"email\" type=\"email\" value=\"alex@example.com\">\
         <label for=\"locale\">Language</label>\
         <select id=\"locale\" name=\"locale\"><option value=\"en\">English</option><option value=\"es\">Español</option></select>\
         <label for=\"risk\">Risk</label>\
         <select id=\"risk\" name=\"risk\"><option value=\"low\">Low</option><option value=\"high\">High (verification code)</option></select>\
         <label for=\"save\">Saving the method</label>\
         <select id=\"save\" name=\"save\"><option value=\"off\">Off</option><option value=\"on_session\">Offer to save</option>\
         <option value=\"off_session\">Autopay (off session)</option></select>\
         <button type=\"submit\">Create checkout</button></form>"
    )
}

fn demo_page(body: String) -> Response {
    page(
        StatusCode::OK,
        "'none'",
        document("en", "Govifi sandbox demo", "demo-page", &body, &["/sdk/govifi-payment.js", demo_script_path()]),
    )
}

/// `GET /demo`: the merchant's side of a checkout, played by the server in sandbox mode.
async fn demo(State(state): State<AppState>) -> Response {
    if !state.config().sandbox {
        return ApiError::not_found("page").into_response();
    }
    demo_page(format!(
        "<main><h1>Govifi sandbox</h1><p class=\"lede\">This page plays a merchant. It creates checkout sessions \
         server-side, then offers the hosted page and the embedded <code>&lt;govifi-payment&gt;</code> element side by \
         side. Test cards: 4242 4242 4242 4242 (approved), 4000 0000 0000 0002 (declined).</p>{}</main>",
        demo_form("")
    ))
}

/// `POST /demo`: creates two sessions (hosted and embedded) for the demo account.
async fn demo_create(State(state): State<AppState>, Form(form): Form<DemoForm>) -> Response {
    if !state.config().sandbox {
        return ApiError::not_found("page").into_response();
    }
    let account = match demo_account(&state).await {
        Ok(a) => a,
        Err(e) => return e.into_response(),
    };
    let base = &state.config().public_url;
    let amount: i64 = form.amount.as_deref().and_then(|a| a.trim().parse().ok()).unwrap_or(14227);
    let mut body = json!({
        "amount": amount, "currency": account.currency.as_str(),
        "description": form.description.clone().filter(|d| !d.trim().is_empty()),
        "success_url": format!("{base}/demo/receipt?session_id={{CHECKOUT_SESSION_ID}}"),
        "cancel_url": format!("{base}/demo"),
        "locale": form.locale.clone().unwrap_or_else(|| "en".into()),
        "customer_email": form.email.clone().filter(|e| !e.trim().is_empty()),
        "setup_future_usage": form.save.clone().unwrap_or_else(|| "off".into()),
        "required_avs_fields": ["zip"],
        "fraud_signals": {"risk_level": form.risk.clone().unwrap_or_else(|| "low".into())},
    });
    let mut created = Vec::new();
    for layout in ["hosted", "embedded"] {
        body["layout"] = layout.into();
        match crate::checkout::merchant::create(&state, &account, body.clone(), &Idempotency::none()).await {
            Ok((session, _)) => created.push(session),
            Err(e) => {
                let message = match &e {
                    ApiError::Client(c) => format!("<p class=\"error\" role=\"alert\">{}</p>", esc(&c.message)),
                    ApiError::Internal(_) => "<p class=\"error\" role=\"alert\">Something went wrong.</p>".to_owned(),
                };
                return demo_page(format!("<main><h1>Govifi sandbox</h1>{}</main>", demo_form(&message)));
            }
        }
    }
    let (hosted, embedded) = (&created[0], &created[1]);
    demo_page(format!(
        "<main><h1>Govifi sandbox</h1><div class=\"side-by-side\">\
         <section class=\"panel\"><h2>Hosted page</h2><p>The customer is sent to Govifi's page and comes back to the \
         receipt with a signed redirect.</p><p><a class=\"button\" id=\"hosted-link\" href=\"{hosted_url}\">Pay on the hosted page</a></p>\
         <p class=\"small\">Session <code>{hosted_id}</code></p></section>\
         <section class=\"panel\"><h2>Embedded element</h2><govifi-payment id=\"embedded\" session-id=\"{embedded_id}\" \
         client-secret=\"{embedded_secret}\"></govifi-payment><p id=\"demo-events\" class=\"small\" role=\"status\"></p></section>\
         </div><p><a href=\"/demo\">Start again</a></p></main>",
        hosted_url = esc(&hosted.hosted_url),
        hosted_id = esc(&hosted.id),
        embedded_id = esc(&embedded.id),
        embedded_secret = esc(embedded.client_secret.as_deref().unwrap_or_default()),
    ))
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
async fn demo_receipt(State(state): State<AppState>, Query(q): Query<Receipt>) -> Response {
    if !state.config().sandbox {
        return ApiError::not_found("page").into_response();
    }
    let account = match demo_account(&state).await {
        Ok(a) => a,
        Err(e) => return e.into_response(),
    };
    let valid = match (&q.govifi_session_id, &q.govifi_payment_id, q.govifi_ts, &q.govifi_sig) {
        (Some(sid), Some(pid), Some(ts), Some(sig)) => match account.redirect_secret(&state.config().master_key) {
            Ok(secret) => verify_secret(sig, &hash_secret(&redirect_signature(&secret, ts, sid, pid))),
            Err(_) => false,
        },
        _ => false,
    };
    let verdict = if valid {
        "<p class=\"ok\" id=\"signature\" role=\"status\">Signature verified: this redirect came from Govifi.</p>"
    } else {
        "<p class=\"error\" id=\"signature\" role=\"alert\">Signature NOT valid: do not trust this redirect.</p>"
    };
    demo_page(format!(
        "<main><h1>Receipt</h1>{verdict}<dl class=\"panel\"><dt>Session</dt><dd><code>{}</code></dd>\
         <dt>Payment</dt><dd><code id=\"payment\">{}</code></dd></dl>\
         <p>Fulfil orders from the <code>checkout.session.completed</code> event, not from this redirect alone.</p>\
         <p><a href=\"/demo\">New checkout</a></p></main>",
        esc(q.govifi_session_id.as_deref().unwrap_or("—")),
        esc(q.govifi_payment_id.as_deref().unwrap_or("—")),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_covers_markup_and_quotes() {
        assert_eq!(
            esc("<a href=\"x\">Tom & Jerry's</a>"),
            "&lt;a href=&quot;x&quot;&gt;Tom &amp; Jerry&#39;s&lt;/a&gt;"
        );
    }
}
