// <govifi-payment>: this path is stable; the files it loads are content-hashed.
const BUNDLES = __BUNDLES__;
const loading = {};
function load(kind) {
  const [glue, wasm] = BUNDLES[kind];
  return (loading[kind] ??= import(glue).then(async (bundle) => {
    await bundle.default({ module_or_path: new URL(wasm, import.meta.url) });
    return bundle;
  }));
}
// A wallet session's credential (`ws_…`, as an attribute or in a `#ws=` fragment) needs the
// wallet bundle; everything else, the embed page's postMessage included, the checkout.
function kindOf(element) {
  const secret = element.getAttribute("client-secret") || "";
  const fromFragment = !secret && /(^#|&)ws=/.test(location.hash);
  return secret.startsWith("ws_") || element.hasAttribute("wallet-session-id") || fromFragment ? "wallet" : "checkout";
}
if (!customElements.get("govifi-payment")) {
  customElements.define("govifi-payment", class extends HTMLElement {
    connectedCallback() {
      if (this._govifiMounted) return;
      this._govifiMounted = true;
      load(kindOf(this)).then((bundle) => bundle.mount(this));
    }
  });
}
