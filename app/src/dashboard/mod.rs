//! The merchant dashboard (SPEC §12): a Leptos app under `/dashboard`, rendered on the server
//! by `leptos_axum` and hydrated in the browser (frontend's `govifi-dashboard` bundle). Its
//! routes are `leptos_router` routes; its data and actions are server functions (`api`). Every
//! action is a form, so the pages also work before (or without) the bundle.

pub mod api;
mod customers;
mod developers;
mod payments;
mod settings;
mod team;
mod terminals;

use leptos::prelude::*;
use leptos::server_fn::ServerFn;
use leptos_router::components::{A, Outlet, ParentRoute, Route, Router, Routes};
use leptos_router::path;

use api::{Profile, load_profile};

#[cfg(feature = "pages")]
pub use server_only::{DashboardDocument, SignInPage};

/// Hydrates the server-rendered dashboard (the `govifi-dashboard` bundle's start).
#[cfg(feature = "hydrate")]
pub fn hydrate() {
    leptos::mount::hydrate_body(DashboardApp);
}

/// Where the dashboard's pages are (the server registers each with `leptos_axum`).
#[component]
pub fn DashboardApp() -> impl IntoView {
    view! {
        <Router>
            <Routes fallback=|| view! { <main id="main"><h1>"Not found"</h1></main> }>
                <ParentRoute path=path!("/dashboard") view=Shell>
                    <Route path=path!("") view=payments::Home/>
                    <Route path=path!("payments") view=payments::Payments/>
                    <Route path=path!("payments/:id") view=payments::PaymentPage/>
                    <Route path=path!("sessions") view=payments::Sessions/>
                    <Route path=path!("sessions/:id") view=payments::SessionPage/>
                    <Route path=path!("customers") view=customers::Customers/>
                    <Route path=path!("customers/:id") view=customers::CustomerPage/>
                    <Route path=path!("terminals") view=terminals::Terminals/>
                    <Route path=path!("developers") view=developers::ApiKeys/>
                    <Route path=path!("developers/webhooks") view=developers::Webhooks/>
                    <Route path=path!("developers/webhooks/:id") view=developers::DeliveryLogPage/>
                    <Route path=path!("developers/events") view=developers::Events/>
                    <Route path=path!("settings") view=settings::SettingsPage/>
                    <Route path=path!("team") view=team::Team/>
                </ParentRoute>
            </Routes>
        </Router>
    }
}

/// The signed-in user, loaded once by the shell and read by every page.
#[derive(Clone, Copy)]
struct ProfileResource(Resource<Result<Profile, ServerFnError>>);

fn profile() -> Resource<Result<Profile, ServerFnError>> {
    expect_context::<ProfileResource>().0
}

/// The account a change form is drawn for: its hidden `account` field, which the server checks
/// against the account chosen when the form is sent (another tab may have switched it).
fn shown_account(p: &Profile) -> String {
    p.account.as_ref().map(|a| a.uid.clone()).unwrap_or_default()
}

/// The signed-in user and a page's data, once both have loaded.
async fn with_profile<T>(data: Resource<Result<T, ServerFnError>>) -> Result<(Profile, T), ServerFnError>
where
    T: Clone + Send + Sync + 'static,
{
    Ok((profile().await?, data.await?))
}

/// The `page` query parameter of the address (from 0; 0 when absent or not a number).
fn query_page() -> Memo<u32> {
    let query = leptos_router::hooks::use_query_map();
    Memo::new(move |_| query.read().get("page").and_then(|p| p.parse().ok()).unwrap_or(0))
}

/// The previous and next links of page `page` of a list, when there are such pages.
fn page_links(page: u32, more: bool) -> impl IntoView {
    view! { <Pager prev=(page > 0).then(|| format!("?page={}", page - 1)) next=more.then(|| format!("?page={}", page + 1))/> }
}

/// Links to the previous and next page of a list (`None`: no such page).
#[component]
fn Pager(prev: Option<String>, next: Option<String>, #[prop(optional)] current: Option<String>) -> impl IntoView {
    view! {
        <nav class="pager" aria-label="Pages">
            {prev.map(|href| view! { <A href=href>"Previous"</A> })}
            {current.map(|c| view! { <span>{c}</span> })}
            {next.map(|href| view! { <A href=href>"Next"</A> })}
        </nav>
    }
}

/// A server function's refusal as the user reads it.
fn message(e: &ServerFnError) -> String {
    match e {
        ServerFnError::ServerError(m) => m.clone(),
        other => other.to_string(),
    }
}

fn failed(e: ServerFnError) -> AnyView {
    view! { <p class="error" role="alert">{message(&e)}</p> }.into_any()
}

fn loading() -> impl IntoView {
    view! { <p class="small" aria-live="polite">"Loading…"</p> }
}

/// An action's outcome, shown next to the form that ran it.
fn outcome<T, S>(value: S, done: &'static str) -> impl IntoView
where
    T: Clone + Send + Sync + 'static,
    S: Get<Value = Option<Result<T, ServerFnError>>> + Send + Sync + 'static,
{
    move || match value.get() {
        Some(Ok(_)) => view! { <Answer class="ok" role="status" text=done.to_owned()/> }.into_any(),
        Some(Err(e)) => view! { <Answer class="error" role="alert" text=message(&e)/> }.into_any(),
        None => ().into_any(),
    }
}

/// The answer to what the user just did, given the focus: the button they pressed is often
/// redrawn with its list, and keyboard and screen-reader users go on from the answer rather
/// than from the top of the page.
#[component]
fn Answer(class: &'static str, role: &'static str, text: String) -> impl IntoView {
    let node = NodeRef::<leptos::html::P>::new();
    Effect::new(move |_| {
        if let Some(p) = node.get() {
            // After the frame: a `<Transition>` builds its new children before it swaps them
            // in, and a node not yet in the document cannot take the focus.
            request_animation_frame(move || {
                let _ = p.focus();
            });
        }
    });
    view! { <p class=class role=role tabindex="-1" node_ref=node>{text}</p> }
}

/// The layout around every page: who is signed in, the account switcher, the navigation.
#[component]
fn Shell() -> impl IntoView {
    let profile = Resource::new(|| (), |_| load_profile());
    provide_context(ProfileResource(profile));
    view! {
        <a class="skip-link" href="#main">"Skip to content"</a>
        <header class="dashboard-bar">
            <Suspense fallback=loading>
                {move || Suspend::new(async move {
                    match profile.await {
                        Ok(p) => view! { <UserBar profile=p/> }.into_any(),
                        Err(e) => failed(e),
                    }
                })}
            </Suspense>
        </header>
        <nav class="dashboard-nav" aria-label="Dashboard">
            <A href="/dashboard" exact=true>"Home"</A>
            <A href="/dashboard/payments">"Payments"</A>
            <A href="/dashboard/sessions">"Checkout sessions"</A>
            <A href="/dashboard/customers">"Customers"</A>
            <A href="/dashboard/terminals">"Terminals"</A>
            <A href="/dashboard/developers">"Developers"</A>
            <A href="/dashboard/settings">"Settings"</A>
            <A href="/dashboard/team">"Team"</A>
        </nav>
        <main id="main" class="dashboard-main">
            <Outlet/>
        </main>
    }
}

#[component]
fn UserBar(profile: Profile) -> impl IntoView {
    let signed_in_as = format!("{} ({})", profile.email, profile.role);
    let current = profile.account.as_ref().map(|a| a.uid.clone()).unwrap_or_default();
    let several = profile.accounts.len() > 1;
    let choices = profile.accounts.clone();
    let (switch, sign_out) = (<api::SwitchAccount as ServerFn>::PATH, <api::SignOut as ServerFn>::PATH);
    view! {
        <strong>{profile.client_name.clone()}</strong>
        {several.then(|| view! {
            // A plain form: switching reloads every page's data.
            <form method="post" action=switch class="inline-form">
                <label for="account-switch">"Account"</label>
                <select id="account-switch" name="uid">
                    {choices.into_iter().map(|a| {
                        let selected = a.uid == current;
                        view! { <option value=a.uid selected=selected>{a.name}</option> }
                    }).collect_view()}
                </select>
                <button type="submit" class="secondary">"Switch"</button>
            </form>
        })}
        {(!several).then(|| profile.account.clone().map(|a| view! { <span class="small">{a.name}</span> }))}
        <span id="signed-in-as">{signed_in_as}</span>
        // A plain form, so the browser leaves the app for the sign-in page.
        <form method="post" action=sign_out>
            <button type="submit" class="secondary">"Sign out"</button>
        </form>
    }
}

/// The copy button beside a one-time secret.
#[component]
fn CopyButton(text: String, label: &'static str) -> impl IntoView {
    let copied = RwSignal::new(false);
    let copy = move |_| {
        #[cfg(feature = "hydrate")]
        if let Some(window) = web_sys::window() {
            let _ = window.navigator().clipboard().write_text(&text);
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = &text;
        copied.set(true);
    };
    view! {
        <button type="button" class="secondary copy" on:click=copy>{label}</button>
        <span class="small" role="status">{move || if copied.get() { "Copied" } else { "" }}</span>
    }
}

/// False in the server's HTML until this page's script has started. A form whose answer is a
/// secret shown once waits for it: posted as a plain form, its answer (the secret) would be
/// lost while the change it made stays.
fn hydrated() -> ReadSignal<bool> {
    let (ready, set_ready) = signal(false);
    Effect::new(move |_| set_ready.set(true));
    ready
}

/// A secret shown once, with its warning and a copy button.
#[component]
fn OneTime(title: &'static str, secret: String) -> impl IntoView {
    view! {
        <div class="panel secret" role="region" aria-label=title>
            <p><strong>{title}</strong>" — copy it now: you won't see this again."</p>
            <code class="secret-value">{secret.clone()}</code>
            <CopyButton text=secret label="Copy"/>
        </div>
    }
}

#[cfg(feature = "pages")]
mod server_only {
    use leptos::prelude::*;

    use super::DashboardApp;
    use crate::pages::{Assets, Document};

    /// A dashboard page: the document around the app, with the hydration bundle's starter
    /// (when the bundle is built).
    #[component]
    pub fn DashboardDocument(assets: Assets, script: Option<String>) -> impl IntoView {
        view! {
            <Document assets lang="en".into() title="Govifi dashboard".into() body_class="dashboard-page" scripts=script.into_iter().collect()>
                <DashboardApp/>
            </Document>
        }
    }

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
}
