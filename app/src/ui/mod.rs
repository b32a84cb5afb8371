//! The checkout's Leptos components (compiled for the browser only).

pub mod api;
mod checkout;
pub mod js;
mod wallet;

use leptos::prelude::*;
use send_wrapper::SendWrapper;
use web_sys::HtmlElement;

use crate::i18n::{Lang, t};

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
}

/// The element's root: a checkout for a `cs_` credential, a wallet for a `ws_` one.
#[component]
pub fn Govifi(launch: Launch, env: Env) -> impl IntoView {
    match (launch.session_id, launch.client_secret) {
        (Some(id), Some(secret)) if crate::launch::is_wallet(&secret) => {
            let client = api::Client { base: format!("{}/v1/wallet-sessions/{id}", env.api_base), credential: secret };
            view! { <wallet::Wallet client=client env=env /> }.into_any()
        }
        (Some(id), Some(secret)) => {
            let client = api::Client { base: format!("{}/v1/hosted-sessions/{id}", env.api_base), credential: secret };
            view! { <checkout::Checkout client=client env=env /> }.into_any()
        }
        _ => {
            env.emit("govifi-error", &[("code", "missing_credential")]);
            view! {
                <section class="govifi" aria-label=t(Lang::En, "secure_checkout")>
                    <p class="notice" role="alert">{t(Lang::En, "invalid_link")}</p>
                    <p class="brand-line">{t(Lang::En, "powered_by")}</p>
                </section>
            }
            .into_any()
        }
    }
}
