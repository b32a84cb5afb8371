//! The little JavaScript the checkout needs that web-sys does not cover: where the element was
//! loaded from, Apple Pay, DOM events out of the shadow root, and messages to a parent frame.

use wasm_bindgen::prelude::*;

#[wasm_bindgen(inline_js = r#"
export function apiBase() {
  // This module is served by the Govifi server: its origin is the API's.
  return new URL(import.meta.url).origin;
}
export function ownHash() {
  // A credential in the address counts only on the platform's own pages: on a merchant's page,
  // another tenant's session could otherwise be put under that merchant's address.
  return location.origin === apiBase() ? location.hash : "";
}
export function applePayAvailable() {
  try { return !!(window.ApplePaySession && window.ApplePaySession.canMakePayments()); } catch (e) { return false; }
}
let applePaySheet = null;
export function applePayToken(label, amount, currency) {
  return new Promise((resolve, reject) => {
    const session = new window.ApplePaySession(3, {
      countryCode: "US", currencyCode: currency,
      supportedNetworks: ["visa", "masterCard", "amex", "discover"],
      merchantCapabilities: ["supports3DS"],
      total: { label, amount },
    });
    session.onvalidatemerchant = () => session.completeMerchantValidation({});
    session.onpaymentauthorized = (event) => {
      const token = event.payment && event.payment.token;
      applePaySheet = session; // closed by applePayDone, once the confirm has answered
      resolve(typeof token === "string" ? token : JSON.stringify(token && token.paymentData ? token.paymentData : token));
    };
    session.oncancel = () => { applePaySheet = null; reject(new Error("cancelled")); };
    session.begin();
  });
}
export function applePayDone(ok) {
  const s = applePaySheet;
  applePaySheet = null;
  // (A sheet Apple Pay already closed, on its own timeout, throws: nothing is left to tell it.)
  try { if (s) s.completePayment(ok ? window.ApplePaySession.STATUS_SUCCESS : window.ApplePaySession.STATUS_FAILURE); } catch (e) {}
}
export function emit(host, name, detail) {
  host.dispatchEvent(new CustomEvent(name, { detail, bubbles: true, composed: true }));
}
export function postToParent(origin, message) {
  if (origin && window.parent && window.parent !== window) window.parent.postMessage(message, origin);
}
export function randomKey() {
  return (window.crypto && window.crypto.randomUUID) ? window.crypto.randomUUID() : String(Date.now()) + Math.random();
}
export function nowMs() { return Date.now(); }
export function goTo(url) { window.location.assign(url); }
export function yearMonth() { const d = new Date(); return [d.getFullYear(), d.getMonth() + 1]; }
"#)]
extern "C" {
    #[wasm_bindgen(js_name = apiBase)]
    pub fn api_base() -> String;
    /// `location.hash` on the platform's own pages (hosted, embed, wallet), else empty.
    #[wasm_bindgen(js_name = ownHash)]
    pub fn own_hash() -> String;
    #[wasm_bindgen(js_name = applePayAvailable)]
    pub fn apple_pay_available() -> bool;
    #[wasm_bindgen(js_name = applePayToken, catch)]
    fn apple_pay_token_promise(label: &str, amount: &str, currency: &str) -> Result<js_sys::Promise, JsValue>;
    /// Closes an Apple Pay sheet waiting for the confirm's answer (nothing when none waits).
    #[wasm_bindgen(js_name = applePayDone)]
    pub fn apple_pay_done(ok: bool);
    pub fn emit(host: &web_sys::HtmlElement, name: &str, detail: &JsValue);
    #[wasm_bindgen(js_name = postToParent)]
    pub fn post_to_parent(origin: &str, message: &JsValue);
    #[wasm_bindgen(js_name = randomKey)]
    pub fn random_key() -> String;
    #[wasm_bindgen(js_name = nowMs)]
    pub fn now_ms() -> f64;
    #[wasm_bindgen(js_name = goTo)]
    pub fn go_to(url: &str);
    #[wasm_bindgen(js_name = yearMonth)]
    fn year_month_array() -> js_sys::Array;
}

/// (year, month) today, for expiry checks.
pub fn year_month() -> (u32, u32) {
    let a = year_month_array();
    (a.get(0).as_f64().unwrap_or(0.0) as u32, a.get(1).as_f64().unwrap_or(0.0) as u32)
}

/// Runs the Apple Pay sheet; the payment token, or `None` if the customer cancelled.
pub async fn apple_pay_token(label: &str, amount: &str, currency: &str) -> Option<String> {
    let promise = apple_pay_token_promise(label, amount, currency).ok()?;
    wasm_bindgen_futures::JsFuture::from(promise).await.ok()?.as_string()
}

/// `{key: value, …}` for event details and messages.
pub fn object(entries: &[(&str, &str)]) -> JsValue {
    let obj = js_sys::Object::new();
    for (k, v) in entries {
        let _ = js_sys::Reflect::set(&obj, &JsValue::from_str(k), &JsValue::from_str(v));
    }
    obj.into()
}
