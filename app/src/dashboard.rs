//! The merchant dashboard's pages (SPEC §12), rendered on the server by `leptos_axum`: sign-in,
//! and the signed-in shell the dashboard's pages grow into. Forms post to the dashboard's
//! server functions and work without script.

use leptos::prelude::*;

use crate::pages::{Assets, Document};

/// `GET /dashboard/login`.
#[component]
pub fn SignInPage(assets: Assets, action: String, error: Option<String>) -> impl IntoView {
    view! {
        <Document assets lang="en".into() title="Sign in — Govifi".into() body_class="dashboard-page" scripts=vec![]>
            <main class="narrow">
                <h1>"Sign in to Govifi"</h1>
                <form class="panel demo-form" method="post" action=action>
                    {error.map(|e| view! { <p class="error" id="signin-error" role="alert">{e}</p> })}
                    <label for="email">"Email"</label>
                    <input id="email" name="email" type="email" autocomplete="username" required=""/>
                    <label for="password">"Password"</label>
                    <input id="password" name="password" type="password" autocomplete="current-password" required=""/>
                    <button type="submit">"Sign in"</button>
                </form>
            </main>
        </Document>
    }
}

/// Who is signed in, as the dashboard shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct SignedInUser {
    pub email: String,
    pub role: String,
    pub client_name: String,
}

/// `GET /dashboard`: the signed-in shell.
#[component]
pub fn DashboardHome(assets: Assets, user: SignedInUser, sign_out: String) -> impl IntoView {
    let signed_in_as = format!("{} ({})", user.email, user.role);
    view! {
        <Document assets lang="en".into() title="Govifi dashboard".into() body_class="dashboard-page" scripts=vec![]>
            <header class="dashboard-bar">
                <strong>{user.client_name}</strong>
                <span id="signed-in-as">{signed_in_as}</span>
                <form method="post" action=sign_out>
                    <button type="submit" class="secondary">"Sign out"</button>
                </form>
            </header>
            <main>
                <h1>"Dashboard"</h1>
                <p>"You are signed in. The dashboard's pages (payments, checkout sessions, customers, terminals, developers, settings, team) are being built."</p>
            </main>
        </Document>
    }
}
