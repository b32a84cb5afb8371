//! The checkout bundle of `<govifi-payment>` (`cs_` credentials; see the library's docs).

use wasm_bindgen::prelude::*;

/// Called by the loader script for each `<govifi-payment>` that connects.
#[wasm_bindgen]
pub fn mount(host: web_sys::HtmlElement) -> frontend::GovifiElement {
    frontend::mount_element(host, app::ui::mount_checkout)
}

fn main() {}
