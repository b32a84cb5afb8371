//! The element's loader, `/sdk/govifi-payment.js` (`frontend/loader.js`): it defines
//! `<govifi-payment>` and, when one connects, imports the bundle its credential needs and mounts
//! it. The server serves it; `cargo xtask dist` counts it in the element's size.

use std::path::Path;

const TEMPLATE: &str = include_str!("../../frontend/loader.js");

/// The loader minified (terser), which `cargo xtask dist` writes beside the bundles: the same
/// script in 0.36 kB less (gzip) for every page that loads the element. The readable source above
/// serves when it is absent.
pub const MINIFIED_NAME: &str = "loader.min.js";

/// The checkout's folder under dist/ is this prefix and a content hash (`cargo xtask dist`).
pub const CHECKOUT_FOLDER_PREFIX: &str = "checkout-";
/// The checkout's wasm-bindgen output name in that folder: `<name>.js` and `<name>_bg.wasm`.
pub const CHECKOUT_NAME: &str = "govifi-payment";

/// The loader for the bundles built into `dir`: the checkout (`checkout-<hash>/govifi-payment.js`
/// with its `_bg.wasm`, split into chunks by `cargo xtask dist`) and, in `dir/wallet`, the
/// wallet (`govifi-wallet-<hash>…`, by Trunk). `None` when either is missing.
pub fn script(dir: &Path) -> Option<String> {
    let checkout = checkout_bundle(dir)?;
    let wallet = bundle(&dir.join("wallet"), "govifi-wallet-", "/assets/wallet/")?;
    let template = std::fs::read_to_string(dir.join(MINIFIED_NAME)).unwrap_or_else(|_| TEMPLATE.to_owned());
    Some(template.replace("__BUNDLES__", &format!("{{ checkout: {checkout}, wallet: {wallet} }}")))
}

/// The module that starts the dashboard's hydration bundle (`dir/dashboard`,
/// `govifi-dashboard-<hash>…`), served at `/dashboard/app.js`; `None` when it is not built (the
/// dashboard's pages then work as plain forms).
pub fn dashboard_starter(dir: &Path) -> Option<String> {
    let files = bundle(&dir.join("dashboard"), "govifi-dashboard-", "/assets/dashboard/")?;
    Some(format!(
        "// Hydrates the Govifi dashboard (its WASM's start function calls hydrate_body).\n\
         const [glue, wasm] = {files};\n\
         import(glue).then((m) => m.default({{ module_or_path: wasm }}));\n"
    ))
}

/// `["/assets/checkout-<hash>/govifi-payment.js", "/assets/checkout-<hash>/govifi-payment_bg.wasm"]`:
/// the checkout's folder is named after a hash of all it holds (the glue, the WASM, the link
/// module and the chunks refer to each other by relative names).
fn checkout_bundle(dir: &Path) -> Option<String> {
    let (glue, wasm) = (format!("{CHECKOUT_NAME}.js"), format!("{CHECKOUT_NAME}_bg.wasm"));
    let folder = file_names(dir).into_iter().find(|n| {
        n.starts_with(CHECKOUT_FOLDER_PREFIX) && dir.join(n).join(&glue).is_file() && dir.join(n).join(&wasm).is_file()
    })?;
    Some(format!("[\"/assets/{folder}/{glue}\", \"/assets/{folder}/{wasm}\"]"))
}

fn file_names(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|entries| entries.filter_map(Result::ok).map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default()
}

/// `["/assets/<glue>.js", "/assets/<glue>_bg.wasm"]` (as JavaScript) for the bundle whose glue
/// is `<prefix><hash>.js` in `dir`. Trunk hashes both names; the glue's own default would look
/// for the unhashed WASM name, so the loader names it.
fn bundle(dir: &Path, prefix: &str, url_base: &str) -> Option<String> {
    let names = file_names(dir);
    let glue = names.iter().find(|n| n.starts_with(prefix) && n.ends_with(".js"))?;
    let wasm = format!("{}_bg.wasm", glue.trim_end_matches(".js"));
    names.contains(&wasm).then(|| format!("[\"{url_base}{glue}\", \"{url_base}{wasm}\"]"))
}
