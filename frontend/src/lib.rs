//! `<govifi-payment>`: the element renders inside an open shadow root, so the merchant's CSS
//! cannot break it while tests and assistive tools still reach it.
//!
//! Two bundles share this code: `govifi-payment` (the checkout, `cs_` credentials) and
//! `govifi-wallet` (wallet mode, `ws_` credentials), so a checkout never downloads the wallet.
//! The loader script `/sdk/govifi-payment.js` defines the element and, when one connects, loads
//! the bundle its credential needs and calls that bundle's `mount(host)`.
//!
//! Attributes: `session-id` + `client-secret` (a `cs_` or `ws_` credential). Without them the
//! credential comes from `#cs=`/`#ws=` in the address (removed at once), or, on the embed page
//! (`data-parent-origins`), from a `postMessage` by an allowed parent frame.

use app::launch::{credential_from_fragment, session_id_of_credential};
use app::ui::{Env, Launch, js};
use send_wrapper::SendWrapper;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use web_sys::{HtmlElement, MessageEvent, ShadowRootInit, ShadowRootMode};

// style/element.css, minified by build.rs.
const ELEMENT_CSS: &str = include_str!(concat!(env!("OUT_DIR"), "/element.min.css"));

/// Draws one kind of element (checkout or wallet) into its container.
pub type Render = fn(&HtmlElement, Launch, Env);

/// Mounts the element on `host` with `render` (the bundle's kind).
pub fn mount_element(host: HtmlElement, render: Render) {
    let launch = read_launch(&host);
    let Ok(shadow) = host.attach_shadow(&ShadowRootInit::new(ShadowRootMode::Open)) else {
        return;
    };
    // A constructed stylesheet: no <style> element, so pages with a strict CSP need no exception.
    if let Ok(sheet) = web_sys::CssStyleSheet::new()
        && sheet.replace_sync(ELEMENT_CSS).is_ok()
    {
        shadow.set_adopted_style_sheets(&js_sys::Array::of1(&sheet));
    }
    let Some(container) = web_sys::window().and_then(|w| w.document()).and_then(|d| d.create_element("div").ok())
    else {
        return;
    };
    if shadow.append_child(&container).is_err() {
        return;
    }
    let container: HtmlElement = container.unchecked_into();
    let env = Env {
        host: SendWrapper::new(host.clone()),
        api_base: js::api_base(),
        parent_origins: launch.parent_origins.clone(),
    };
    if launch.client_secret.is_none() && !launch.parent_origins.is_empty() {
        wait_for_parent(container, launch, env, render);
    } else {
        render(&container, launch, env);
    }
}

/// The embed page: the credential arrives from the framing page, which must be one of the
/// account's allowed origins. The element says it is ready, to each of them.
fn wait_for_parent(container: HtmlElement, launch: Launch, env: Env, render: Render) {
    let allowed = launch.parent_origins.clone();
    let announce_to = allowed.clone();
    let handler = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
        if !allowed.iter().any(|o| *o == event.origin()) {
            return;
        }
        let data = event.data();
        let get = |k: &str| js_sys::Reflect::get(&data, &JsValue::from_str(k)).ok().and_then(|v| v.as_string());
        if get("type").as_deref() != Some("govifi:credential") {
            return;
        }
        let Some(secret) = get("client_secret").filter(|s| session_id_of_credential(s).is_some()) else { return };
        let mut launch = launch.clone();
        launch.session_id = session_id_of_credential(&secret).map(str::to_owned);
        launch.client_secret = Some(secret);
        // Events go back only to the frame that sent the credential.
        launch.parent_origins = vec![event.origin()];
        let env = Env { parent_origins: launch.parent_origins.clone(), ..env.clone() };
        if container.child_element_count() == 0 {
            render(&container, launch, env);
        }
    });
    if let Some(window) = web_sys::window() {
        let _ = window.add_event_listener_with_callback("message", handler.as_ref().unchecked_ref());
    }
    handler.forget();
    for origin in &announce_to {
        js::post_to_parent(origin, &js::object(&[("type", "govifi-embed-ready")]));
    }
}

/// The credential from the element's attributes, else from `#cs=`/`#ws=` in the address, which
/// is then removed at once so it does not linger in history, bookmarks, screenshots or links.
fn read_launch(host: &HtmlElement) -> Launch {
    let attribute = |name: &str| host.get_attribute(name).filter(|v| !v.trim().is_empty());
    let mut launch = Launch {
        session_id: attribute("session-id").or_else(|| attribute("wallet-session-id")),
        client_secret: attribute("client-secret"),
        parent_origins: attribute("data-parent-origins")
            .map(|v| v.split_whitespace().map(str::to_owned).collect())
            .unwrap_or_default(),
    };
    let Some(window) = web_sys::window() else {
        return launch;
    };
    let location = window.location();
    let from_fragment = location.hash().ok().as_deref().and_then(credential_from_fragment);
    if let Some(credential) = from_fragment {
        if let Ok(history) = window.history() {
            let path = location.pathname().unwrap_or_default();
            let query = location.search().unwrap_or_default();
            let _ = history.replace_state_with_url(&JsValue::NULL, "", Some(&format!("{path}{query}")));
        }
        if launch.client_secret.is_none() {
            launch.session_id = session_id_of_credential(&credential).map(str::to_owned);
            launch.client_secret = Some(credential);
        }
    }
    if launch.session_id.is_none() {
        launch.session_id = launch.client_secret.as_deref().and_then(session_id_of_credential).map(str::to_owned);
    }
    launch
}
