//! Defines `<govifi-payment>`: a custom element whose checkout (Leptos) renders inside an open
//! shadow root, so the merchant's CSS cannot break it while tests and assistive tools still reach it.

use app::launch::{credential_from_fragment, session_id_of_credential};
use app::ui::{Checkout, Launch};
use leptos::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use web_sys::{HtmlElement, ShadowRootInit, ShadowRootMode};

const ELEMENT_CSS: &str = include_str!("../../style/element.css");

// Leptos has no custom-element helper; this is the whole of the JavaScript we write by hand.
#[wasm_bindgen(inline_js = r#"
export function define(mount) {
  if (customElements.get("govifi-payment")) return;
  customElements.define("govifi-payment", class extends HTMLElement {
    connectedCallback() {
      if (!this._govifiMounted) { this._govifiMounted = true; mount(this); }
    }
  });
}
"#)]
extern "C" {
    fn define(mount: &JsValue);
}

fn main() {
    let mount = Closure::<dyn Fn(HtmlElement)>::new(mount_element);
    define(&mount.into_js_value());
}

fn mount_element(host: HtmlElement) {
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
    leptos::mount::mount_to(container.unchecked_into(), move || view! { <Checkout launch=launch.clone() /> }).forget();
}

/// The credential from the element's attributes, else from `#cs=` in the address, which is then
/// removed at once so it does not linger in history, bookmarks, screenshots or shared links.
fn read_launch(host: &HtmlElement) -> Launch {
    let attribute = |name: &str| host.get_attribute(name).filter(|v| !v.trim().is_empty());
    let mut launch = Launch { session_id: attribute("session-id"), client_secret: attribute("client-secret") };
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
    launch
}
