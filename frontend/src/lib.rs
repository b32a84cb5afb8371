//! `<govifi-payment>`: the element renders inside an open shadow root, so the merchant's CSS
//! cannot break it while tests and assistive tools still reach it.
//!
//! Two bundles share this code: `govifi-payment` (the checkout, `cs_` credentials) and
//! `govifi-wallet` (wallet mode, `ws_` credentials), so a checkout never downloads the wallet.
//! The loader script `/sdk/govifi-payment.js` defines the element and, when one connects, loads
//! the bundle its credential needs and calls that bundle's `mount(host)`; it frees what that
//! answers when the element leaves the page.
//!
//! Attributes: `session-id` + `client-secret` (a `cs_` or `ws_` credential). Without them the
//! credential comes from `#cs=`/`#ws=` in the address (removed at once), or, on the embed page
//! (`data-parent-origins`), from a `postMessage` by an allowed parent frame.

use app::launch::{credential_from_fragment, session_id_of_credential};
use app::ui::{Env, Launch, Mounted, js};
use send_wrapper::SendWrapper;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use web_sys::{HtmlElement, ShadowRoot, ShadowRootInit, ShadowRootMode};

// style/element.css, minified by build.rs.
const ELEMENT_CSS: &str = include_str!(concat!(env!("OUT_DIR"), "/element.min.css"));

/// Draws one kind of element (checkout or wallet) into its container.
pub type Render = fn(HtmlElement, Launch, Env) -> Mounted;

/// A `<govifi-payment>` on the page. The loader drops it (`free()`) when the element leaves the
/// page, which unmounts the view and stops its timers and listeners.
#[wasm_bindgen]
pub struct GovifiElement(#[allow(dead_code)] Option<Mounted>);

/// Mounts the element on `host` with `render` (the bundle's kind).
pub fn mount_element(host: HtmlElement, render: Render) -> GovifiElement {
    GovifiElement(mount(host, render))
}

fn mount(host: HtmlElement, render: Render) -> Option<Mounted> {
    let launch = read_launch(&host);
    let shadow = shadow_root(&host)?;
    let container = web_sys::window()?.document()?.create_element("div").ok()?;
    shadow.append_child(&container).ok()?;
    let env = Env {
        host: SendWrapper::new(host.clone()),
        api_base: js::api_base(),
        parent_origins: launch.parent_origins.clone(),
    };
    Some(render(container.unchecked_into(), launch, env))
}

/// The element's open shadow root with its stylesheet: a new one, or (when the element comes
/// back to the page) the one it had, emptied.
fn shadow_root(host: &HtmlElement) -> Option<ShadowRoot> {
    if let Some(shadow) = host.shadow_root() {
        shadow.set_inner_html("");
        return Some(shadow);
    }
    let shadow = host.attach_shadow(&ShadowRootInit::new(ShadowRootMode::Open)).ok()?;
    // A constructed stylesheet: no <style> element, so pages with a strict CSP need no exception.
    if let Ok(sheet) = web_sys::CssStyleSheet::new()
        && sheet.replace_sync(ELEMENT_CSS).is_ok()
    {
        shadow.set_adopted_style_sheets(&js_sys::Array::of1(&sheet));
    }
    Some(shadow)
}

/// The credential from the element's attributes, else (on the platform's own pages only) from
/// `#cs=`/`#ws=` in the address, which is then removed at once so it does not linger in history,
/// bookmarks, screenshots or links.
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
    let from_fragment = credential_from_fragment(&js::own_hash());
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
