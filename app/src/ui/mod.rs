//! The element's Leptos components (compiled for the browser only): the checkout and the
//! wallet, mounted with `leptos::mount::mount_to` into the element's shadow root.
//!
//! Each mount has its own reactive owner; dropping the [`Mounted`] it answers (the loader does
//! when the element leaves the page) unmounts the view and disposes the owner, so its timers,
//! listeners and pending answers stop with it.

pub mod api;
mod checkout;
pub mod js;
mod wallet;

use leptos::prelude::*;
use send_wrapper::SendWrapper;
use wasm_bindgen::JsCast;
use web_sys::{HtmlElement, MessageEvent};

use crate::i18n::{Lang, msg, t};
use crate::launch::{is_wallet, session_id_of_credential};
use api::Client;

/// What the element was given by the page: from attributes, the `#cs=`/`#ws=` fragment, or a
/// message from an allowed parent frame.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Launch {
    pub session_id: Option<String>,
    pub client_secret: Option<String>,
    /// Origins of a framing page allowed to receive the element's events (embed page).
    pub parent_origins: Vec<String>,
}

/// Where the element lives: its host (for DOM events) and the API's origin. In context as a
/// `StoredValue<Env>`.
#[derive(Clone)]
pub struct Env {
    pub host: SendWrapper<HtmlElement>,
    pub api_base: String,
    pub parent_origins: Vec<String>,
}

impl Env {
    /// A DOM event on the host (`govifi-ready`, `govifi-success`, …), also posted to an allowed
    /// parent frame when the element runs in the embed page.
    pub fn emit(&self, name: &str, detail: &[(&str, &str)]) {
        let value = js::object(detail);
        js::emit(&self.host, name, &value);
        for origin in &self.parent_origins {
            let message = js::object(&[("type", name)]);
            let _ = js_sys::Reflect::set(&message, &"detail".into(), &value);
            js::post_to_parent(origin, &message);
        }
    }

    /// Applies the merchant's colour (the server sends it already made readable: `crate::color`).
    pub fn brand(&self, merchant: &crate::wire::MerchantView) {
        let primary = merchant.primary_color.as_deref().unwrap_or(crate::color::DEFAULT_PRIMARY);
        let _ = self.host.style().set_property("--govifi-primary", primary);
    }

    /// Moves the keyboard focus to an element of the shadow root, by id.
    pub fn focus(&self, id: &str) {
        let target = self.host.shadow_root().and_then(|root| root.get_element_by_id(id));
        if let Some(element) = target {
            let _ = element.unchecked_into::<HtmlElement>().focus();
        }
    }
}

/// The element's environment, from context.
fn env() -> StoredValue<Env> {
    expect_context::<StoredValue<Env>>()
}

/// A saved method as the customer knows it: "Visa ending in 4242", "Bank account ending in 6789".
fn method_label(lang: Lang, m: &crate::wire::SavedMethodView) -> String {
    if m.kind == crate::wire::MethodType::Ach {
        format!("{} {}", t(lang, msg::bank_ending), m.last4)
    } else {
        let brand = crate::card::Brand::from_name(m.brand.as_deref().unwrap_or_default()).display_name();
        format!("{brand} {} {}", t(lang, msg::card_ending), m.last4)
    }
}

/// A mounted element: dropping it unmounts the view and disposes its reactive owner.
pub struct Mounted(#[allow(dead_code)] Box<dyn std::any::Any>);

/// Which view a credential of the bundle's kind opens.
type Open = fn(Client) -> AnyView;

/// Renders a checkout into `container` (a `cs_` credential).
pub fn mount_checkout(container: HtmlElement, launch: Launch, env: Env) -> Mounted {
    mount(container, launch, env, false, |client| view! { <checkout::Checkout client/> }.into_any())
}

/// Renders a wallet into `container` (a `ws_` credential).
pub fn mount_wallet(container: HtmlElement, launch: Launch, env: Env) -> Mounted {
    mount(container, launch, env, true, |client| view! { <wallet::Wallet client/> }.into_any())
}

fn mount(container: HtmlElement, launch: Launch, env: Env, wallet: bool, open: Open) -> Mounted {
    let handle = leptos::mount::mount_to(container, move || {
        provide_context(StoredValue::new(env));
        view! { <Element launch wallet open/> }
    });
    Mounted(Box::new(handle))
}

/// The element before its session: the credential it was given, or (embed page) the one an
/// allowed parent frame sends; without one, a clear error.
#[component]
fn Element(launch: Launch, wallet: bool, open: Open) -> impl IntoView {
    let env = env();
    let base = env.with_value(|e| e.api_base.clone());
    let client = RwSignal::new(credential(&base, &launch, wallet));
    let waiting = client.with_untracked(Option::is_none) && !launch.parent_origins.is_empty() && !wallet;
    if waiting {
        let allowed = launch.parent_origins.clone();
        let own = launch.session_id.clone();
        let listener = window_event_listener(leptos::ev::message, move |event: MessageEvent| {
            if client.with_untracked(Option::is_some) || !allowed.iter().any(|o| *o == event.origin()) {
                return;
            }
            let data = event.data();
            let get = |k: &str| js_sys::Reflect::get(&data, &k.into()).ok().and_then(|v| v.as_string());
            if get("type").as_deref() != Some("govifi:credential") {
                return;
            }
            // Only this page's own session (its frame-ancestors were chosen for its account).
            let Some(secret) = get("client_secret").filter(|s| session_id_of_credential(s) == own.as_deref()) else {
                return;
            };
            let launch = Launch {
                session_id: session_id_of_credential(&secret).map(str::to_owned),
                client_secret: Some(secret),
                parent_origins: Vec::new(),
            };
            if let Some(found) = credential(&base, &launch, false) {
                // Events go back only to the frame that sent the credential.
                env.update_value(|e| e.parent_origins = vec![event.origin()]);
                client.set(Some(found));
            }
        });
        on_cleanup(move || listener.remove());
        for origin in &launch.parent_origins {
            js::post_to_parent(origin, &js::object(&[("type", "govifi-embed-ready")]));
        }
    }
    move || match client.get() {
        Some(client) => open(client),
        None if waiting => ().into_any(),
        None => view! { <InvalidLink/> }.into_any(),
    }
}

/// The API client for the session, if the element was given a credential of the expected kind.
fn credential(base: &str, launch: &Launch, wallet: bool) -> Option<Client> {
    let (Some(id), Some(secret)) = (&launch.session_id, &launch.client_secret) else { return None };
    let kind = if wallet { "wallet-sessions" } else { "hosted-sessions" };
    (is_wallet(secret) == wallet).then(|| Client { base: format!("{base}/v1/{kind}/{id}"), credential: secret.clone() })
}

#[component]
fn InvalidLink() -> impl IntoView {
    env().with_value(|e| e.emit("govifi-error", &[("code", "missing_credential")]));
    view! {
        <section class="govifi" aria-label=t(Lang::En, msg::secure_checkout)>
            <p class="notice" role="alert">{t(Lang::En, msg::invalid_link)}</p>
            <p class="brand-line">{t(Lang::En, msg::powered_by)}</p>
        </section>
    }
}
