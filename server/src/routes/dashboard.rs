//! The merchant dashboard (SPEC §12) under `/dashboard`: the sign-in page, the signed-in shell,
//! and the dashboard's Leptos server functions (`/dashboard/api/…`), each of which checks the
//! caller's origin, session and role (`dashboard::guard`).

use app::dashboard::{DashboardHome, SignInPage, SignedInUser};
use axum::Router;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use leptos::prelude::*;
use leptos::server_fn::ServerFn;
use serde::{Deserialize, Serialize};

use super::pages::{Policy, assets, render};
use crate::dashboard::guard::{self, Caller};
use crate::dashboard::{self as service, SignInRefused};
use crate::domain::dashboard::Permission;
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::{self, now_ms};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/dashboard", get(home))
        .route("/dashboard/login", get(sign_in_page))
        .route("/dashboard/api/{*function}", post(server_functions))
}

/// The dashboard's server functions, with the application state in their context.
async fn server_functions(State(state): State<AppState>, req: Request) -> Response {
    leptos_axum::handle_server_fns_with_context(move || provide_context(state.clone()), req).await.into_response()
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
    render(req, StatusCode::OK, Policy::dashboard(), move || {
        view! { <SignInPage assets=assets() action=action.clone() error=error.clone()/> }.into_any()
    })
    .await
}

async fn home(State(state): State<AppState>, req: Request) -> Response {
    let caller = match guard::signed_in(&state, req.headers(), now_ms()).await {
        Ok(Some(caller)) => caller,
        Ok(None) => return Redirect::to("/dashboard/login").into_response(),
        Err(e) => return e.into_response(),
    };
    let client_name = match store::clients::get(state.db(), &caller.user.client_id).await {
        Ok(client) => client.map(|c| c.name).unwrap_or_default(),
        Err(e) => return ApiError::from(e).into_response(),
    };
    let user = SignedInUser { email: caller.user.email.clone(), role: caller.user.role.to_string(), client_name };
    let sign_out = <SignOut as ServerFn>::PATH.to_owned();
    render(req, StatusCode::OK, Policy::dashboard(), move || {
        view! { <DashboardHome assets=assets() user=user.clone() sign_out=sign_out.clone()/> }.into_any()
    })
    .await
}

// ----- Server functions -----

fn app_state() -> Result<AppState, ServerFnError> {
    use_context::<AppState>().ok_or_else(|| ServerFnError::new("no application state"))
}

/// Answers a refusal with its status (401, 403) and the error's message.
fn refuse(error: ApiError) -> ServerFnError {
    if let Some(options) = use_context::<leptos_axum::ResponseOptions>() {
        options.set_status(error.status());
    }
    ServerFnError::new(error.public_message())
}

/// The caller of a server function, if its origin, session and role allow `permission`.
async fn caller(permission: Permission) -> Result<(AppState, Caller), ServerFnError> {
    let state = app_state()?;
    let headers: HeaderMap = leptos_axum::extract().await?;
    match guard::check(&state, &headers, permission, now_ms()).await {
        Ok(caller) => Ok((state, caller)),
        Err(e) => Err(refuse(e)),
    }
}

/// Signs in (a form post: the browser comes back to `/dashboard`, or to the sign-in page with
/// the reason).
#[server(prefix = "/dashboard/api", endpoint = "sign_in")]
pub async fn sign_in(email: String, password: String) -> Result<(), ServerFnError> {
    let state = app_state()?;
    let headers: HeaderMap = leptos_axum::extract().await?;
    // A sign-in posted from another site would sign the browser into someone else's account.
    if !guard::same_origin(&state, &headers) {
        return Err(refuse(ApiError::new(crate::error::ErrorCode::Forbidden, "Sign in from the dashboard itself")));
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
            leptos_axum::redirect("/dashboard/login?error=invalid");
            Ok(())
        }
        Err(SignInRefused::Locked { .. }) => {
            leptos_axum::redirect("/dashboard/login?error=locked");
            Ok(())
        }
        Err(SignInRefused::Internal(e)) => Err(refuse(ApiError::Internal(e))),
    }
}

/// Ends the caller's session.
#[server(prefix = "/dashboard/api", endpoint = "sign_out")]
pub async fn sign_out() -> Result<(), ServerFnError> {
    let (state, caller) = caller(Permission::Read).await?;
    service::sign_out(state.db(), &caller.token).await.map_err(|e| refuse(e.into()))?;
    if let Some(options) = use_context::<leptos_axum::ResponseOptions>() {
        options.append_header(header::SET_COOKIE, guard::cleared_cookie(&state));
    }
    leptos_axum::redirect("/dashboard/login");
    Ok(())
}

/// The signed-in user, as the dashboard's pages read it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Profile {
    pub id: String,
    pub email: String,
    pub role: String,
    pub client_id: String,
}

#[server(prefix = "/dashboard/api", endpoint = "me")]
pub async fn me() -> Result<Profile, ServerFnError> {
    let (_, caller) = caller(Permission::Read).await?;
    let u = caller.user;
    Ok(Profile { id: u.id, email: u.email, role: u.role.to_string(), client_id: u.client_id })
}
