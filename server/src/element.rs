//! The element's loader script, made at start from whatever Trunk built into the assets folder
//! (served by `routes::assets`).

use std::path::Path;

use sha2::{Digest, Sha256};

/// The loader script, made at start from whatever Trunk built into the assets folder.
#[derive(Debug, Clone)]
pub struct ElementBundle {
    /// The JavaScript served at `/sdk/govifi-payment.js`.
    pub loader: String,
    /// Strong validator of `loader`.
    pub etag: String,
    /// False when no build was found: the loader then only reports that.
    pub built: bool,
    /// The dashboard's hydration starter (`/dashboard/app.js`), when its bundle is built.
    pub dashboard: Option<String>,
}

impl ElementBundle {
    /// The loader for the bundles Trunk built into `dir` (see `app::loader`).
    pub fn discover(dir: &Path) -> Self {
        let (loader, built) = match app::loader::script(dir) {
            Some(loader) => (loader, true),
            None => {
                tracing::warn!(dir = %dir.display(), "the element is not built here: run `cargo xtask run` or `cargo xtask dist`");
                (
                    "throw new Error(\"Govifi: the <govifi-payment> element has not been built on this server\");\n"
                        .to_owned(),
                    false,
                )
            }
        };
        let etag = format!("\"{}\"", &hex::encode(Sha256::digest(loader.as_bytes()))[..32]);
        let dashboard = app::loader::dashboard_starter(dir);
        ElementBundle { loader, etag, built, dashboard }
    }
}
