//! The merchant dashboard (SPEC §12) under `/dashboard`: the sign-in page, the app's pages
//! (`app::dashboard::DashboardApp`, its `leptos_router` routes registered here from
//! `leptos_axum::generate_route_list`), its hydration starter, and its server functions
//! (`/dashboard/api/…`), which hand each call to [`backend::Services`] — the services the REST
//! API calls, behind the origin, session and role checks of `dashboard::guard`.

mod backend;

use std::sync::Arc;

use app::dashboard::api::Backend;
use app::dashboard::{DashboardApp, DashboardDocument, SignInPage};
use axum::Router;
use axum::extract::{ConnectInfo, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use leptos::prelude::*;
use leptos::server_fn::ServerFn;
use serde::Deserialize;

use super::pages::{Policy, assets, render, render_with_context};
use crate::dashboard::guard;
use crate::dashboard::{self as service, SignInRefused};
use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;
use crate::store::now_ms;

/// Where the hydration starter is served.
const STARTER: &str = "/dashboard/app.js";

pub fn router(state: &AppState) -> Router<AppState> {
    let _ = any_spawner::Executor::init_tokio();
    // The app's routes, as leptos_router lists them (`/dashboard/payments/{id}`, …), each
    // rendered by `page`.
    let mut pages = Router::new();
    for listing in leptos_axum::generate_route_list(DashboardApp) {
        pages = pages.route(listing.path(), get(page));
    }
    let pages = pages.layer(middleware::from_fn_with_state(state.clone(), signed_in_only));
    Router::new()
        .merge(pages)
        .route("/dashboard/login", get(sign_in_page))
        .route(STARTER, get(starter))
        .route("/dashboard/api/{*function}", post(server_functions))
}

/// What the dashboard's pages and server functions find in their context: the state and the
/// backend over it.
fn context(state: &AppState, page_load: bool) -> impl Fn() + Clone + Send + Sync + 'static {
    let state = state.clone();
    move || {
        provide_context(state.clone());
        provide_context::<Arc<dyn Backend>>(Arc::new(backend::Services { state: state.clone() }));
        if page_load {
            provide_context(backend::PageLoad);
        }
    }
}

/// The dashboard's server functions, with the application state in their context.
async fn server_functions(State(state): State<AppState>, req: Request) -> Response {
    let answer = leptos_axum::handle_server_fns_with_context(context(&state, false), req).await.into_response();
    arguments_refused(answer).await
}

/// Arguments a server function could not read (a field missing, repeated or not of its type, a
/// body over the limit or not UTF-8) are the caller's mistake, which server_fn answers 500:
/// here they are 400 (413 for the size), before any session or role is looked at.
pub(crate) async fn arguments_refused(answer: Response) -> Response {
    if answer.status() != StatusCode::INTERNAL_SERVER_ERROR
        || !answer.headers().contains_key(leptos::server_fn::error::SERVER_FN_ERROR_HEADER)
    {
        return answer;
    }
    let (mut parts, body) = answer.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, crate::extract::BODY_LIMIT).await else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    if bytes.starts_with(b"Args|") || bytes.starts_with(b"Deserialization|") {
        let too_large = bytes.windows(21).any(|w| w == b"length limit exceeded");
        parts.status = if too_large { StatusCode::PAYLOAD_TOO_LARGE } else { StatusCode::BAD_REQUEST };
    }
    Response::from_parts(parts, axum::body::Body::from(bytes))
}

/// Signed out, a page sends the browser to the sign-in page.
async fn signed_in_only(State(state): State<AppState>, req: Request, next: Next) -> Response {
    match guard::signed_in(&state, req.headers(), now_ms()).await {
        Ok(Some(_)) => next.run(req).await,
        Ok(None) => Redirect::to("/dashboard/login").into_response(),
        Err(e) => e.into_response(),
    }
}

/// A page of the app, rendered with its data (the page's reads run in-process).
async fn page(State(state): State<AppState>, req: Request) -> Response {
    let script = state.element().dashboard.as_ref().map(|_| STARTER.to_owned());
    render_with_context(req, StatusCode::OK, Policy::with_forms(), context(&state, true), move || {
        view! { <DashboardDocument assets=assets() script=script.clone()/> }.into_any()
    })
    .await
}

async fn starter(State(state): State<AppState>) -> Response {
    match &state.element().dashboard {
        Some(script) => (
            [(header::CONTENT_TYPE, "text/javascript; charset=utf-8"), (header::CACHE_CONTROL, "no-cache")],
            script.clone(),
        )
            .into_response(),
        None => ApiError::not_found("asset").into_response(),
    }
}

#[derive(Debug, Deserialize)]
struct SignInQuery {
    error: Option<String>,
}

async fn sign_in_page(State(state): State<AppState>, Query(q): Query<SignInQuery>, req: Request) -> Response {
    if let Ok(Some(_)) = guard::signed_in(&state, req.headers(), now_ms()).await {
        return Redirect::to("/dashboard").into_response();
    }
    let error = match q.error.as_deref() {
        Some("locked") => Some("Too many failed attempts. This email is locked for 15 minutes.".to_owned()),
        Some(_) => Some("The email or password is not right.".to_owned()),
        None => None,
    };
    let action = <SignIn as ServerFn>::PATH.to_owned();
    render(req, StatusCode::OK, Policy::with_forms(), move || {
        view! { <SignInPage assets=assets() action=action.clone() error=error.clone()/> }.into_any()
    })
    .await
}

fn app_state() -> Result<AppState, ServerFnError> {
    use_context::<AppState>().ok_or_else(|| ServerFnError::new("no application state"))
}

/// Answers a refusal with its status (401, 403, 400…) and the error's message. On a page's own
/// render the page still answers 200: the refusal is shown where its data would be.
pub(super) fn refuse(error: ApiError) -> ServerFnError {
    refuse_with(error.status(), error.public_message())
}

/// [`refuse`] for an answer already made (its status and its error's message).
pub(super) fn refuse_with(status: StatusCode, message: impl std::fmt::Display) -> ServerFnError {
    if use_context::<backend::PageLoad>().is_none()
        && !shown_on_its_page(status)
        && let Some(options) = use_context::<leptos_axum::ResponseOptions>()
    {
        options.set_status(status);
    }
    ServerFnError::new(message)
}

/// A form posted without the page's script (a browser post asks for HTML) and refused for
/// something its user can mend (a 400, 402, 404, 409 or 422): the answer stays Leptos's
/// redirect back to the page, with the refusal in its address, and the page shows it where the
/// form's answer goes. Otherwise the browser would show the bare error text. A refused origin,
/// session or role, a limit and a fault keep their status.
fn shown_on_its_page(status: StatusCode) -> bool {
    let mendable = matches!(
        status,
        StatusCode::BAD_REQUEST
            | StatusCode::PAYMENT_REQUIRED
            | StatusCode::NOT_FOUND
            | StatusCode::CONFLICT
            | StatusCode::UNPROCESSABLE_ENTITY
    );
    mendable
        && use_context::<axum::http::request::Parts>().is_some_and(|parts| {
            parts.headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|v| v.contains("text/html"))
        })
}

/// Counts a refused sign-in against the caller's address, as a 401 elsewhere is counted: an
/// address that keeps guessing (many emails, a few passwords each) is turned away like one
/// presenting bad credentials.
async fn failed_from_here(state: &AppState) {
    if let Ok(ConnectInfo(peer)) = leptos_axum::extract::<ConnectInfo<std::net::SocketAddr>>().await {
        state.auth_failures().failed(crate::auth::failures::caller(peer.ip()));
    }
}

/// Signs in (a form post: the browser comes back to `/dashboard`, or to the sign-in page with
/// the reason). The sign-in page is not part of the app: it is never hydrated.
#[server(prefix = "/dashboard/api", endpoint = "sign_in")]
pub async fn sign_in(email: String, password: String) -> Result<(), ServerFnError> {
    let state = app_state()?;
    let headers: HeaderMap = leptos_axum::extract().await?;
    // A sign-in posted from another site would sign the browser into someone else's account.
    if !guard::same_origin(&state, &headers) {
        return Err(refuse(ApiError::new(ErrorCode::Forbidden, "Sign in from the dashboard itself")));
    }
    match service::sign_in(&state, &email, &password, now_ms()).await {
        Ok(signed_in) => {
            if let Some(options) = use_context::<leptos_axum::ResponseOptions>() {
                options.append_header(header::SET_COOKIE, guard::session_cookie(&state, &signed_in.token));
            }
            leptos_axum::redirect("/dashboard");
            Ok(())
        }
        Err(SignInRefused::Invalid) => {
            failed_from_here(&state).await;
            leptos_axum::redirect("/dashboard/login?error=invalid");
            Ok(())
        }
        Err(SignInRefused::Locked { .. }) => {
            failed_from_here(&state).await;
            leptos_axum::redirect("/dashboard/login?error=locked");
            Ok(())
        }
        Err(SignInRefused::Internal(e)) => Err(refuse(ApiError::Internal(e))),
    }
}
