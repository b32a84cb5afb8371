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
      if (this._govifi) return;
      const mounted = load(kindOf(this)).then((bundle) => (this._govifi === mounted ? bundle.mount(this) : null));
      this._govifi = mounted;
    }
    disconnectedCallback() {
      // Moving the element disconnects and connects it again at once; only a removal unmounts
      // it, which stops its timers and listeners.
      queueMicrotask(() => {
        const mounted = this._govifi;
        if (this.isConnected || !mounted) return;
        this._govifi = null;
        mounted.then((m) => m && m.free());
      });
    }
  });
}
