//! The checkout's Leptos components (compiled for the browser only).

pub mod api;
mod checkout;
mod dom;
pub mod js;
mod rx;
mod wallet;

use send_wrapper::SendWrapper;
use wasm_bindgen::JsCast;
use web_sys::HtmlElement;

use crate::i18n::{Lang, t};
use dom::{View, el};
use rx::prelude::Owner;

/// What the element was given by the page: from attributes, the `#cs=`/`#ws=` fragment, or a
/// message from an allowed parent frame.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Launch {
    pub session_id: Option<String>,
    pub client_secret: Option<String>,
    /// Origins of a framing page allowed to receive the element's events (embed page).
    pub parent_origins: Vec<String>,
}

/// Where the element lives: its host (for DOM events) and the API's origin.
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

/// A saved method as the customer knows it: "Visa ending in 4242", "Bank account ending in 6789".
fn method_label(lang: Lang, m: &crate::wire::SavedMethodView) -> String {
    if m.kind == crate::wire::MethodType::Ach {
        format!("{} {}", t(lang, "bank_ending"), m.last4)
    } else {
        let brand = crate::card::Brand::from_name(m.brand.as_deref().unwrap_or_default()).display_name();
        format!("{brand} {} {}", t(lang, "card_ending"), m.last4)
    }
}

/// Renders a checkout into `container` (a `cs_` credential).
pub fn mount_checkout(container: &HtmlElement, launch: Launch, env: Env) {
    mount(container, move || match credential(&launch, &env, false) {
        Some(client) => checkout::checkout(client, env),
        None => invalid_link(&env),
    });
}

/// Renders a wallet into `container` (a `ws_` credential).
pub fn mount_wallet(container: &HtmlElement, launch: Launch, env: Env) {
    mount(container, move || match credential(&launch, &env, true) {
        Some(client) => wallet::wallet(client, env),
        None => invalid_link(&env),
    });
}

/// Builds the view under a reactive owner that lives as long as the page.
fn mount(container: &HtmlElement, build: impl FnOnce() -> View) {
    let _ = any_spawner::Executor::init_wasm_bindgen();
    let owner = Owner::new();
    let view = owner.with(build);
    let _ = container.append_child(view.node());
    std::mem::forget(owner);
}

/// The API client for the session, if the element was given a credential of the expected kind.
fn credential(launch: &Launch, env: &Env, wallet: bool) -> Option<api::Client> {
    let (Some(id), Some(secret)) = (&launch.session_id, &launch.client_secret) else { return None };
    let kind = if wallet { "wallet-sessions" } else { "hosted-sessions" };
    (crate::launch::is_wallet(secret) == wallet)
        .then(|| api::Client { base: format!("{}/v1/{kind}/{id}", env.api_base), credential: secret.clone() })
}

fn invalid_link(env: &Env) -> View {
    env.emit("govifi-error", &[("code", "missing_credential")]);
    el("section")
        .class("govifi")
        .attr("aria-label", t(Lang::En, "secure_checkout"))
        .el(el("p").class("notice").attr("role", "alert").text(t(Lang::En, "invalid_link")))
        .el(el("p").class("brand-line").text(t(Lang::En, "powered_by")))
        .view()
}
