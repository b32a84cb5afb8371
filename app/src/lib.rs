#![recursion_limit = "256"]
//! Shared between the browser and the server: wire types, money, card checks.
//! The Leptos components live behind the `ui` feature so the server does not compile them.

pub mod card;
pub mod color;
pub mod i18n;
pub mod launch;
#[cfg(not(target_arch = "wasm32"))]
pub mod loader;
pub mod money;
pub mod wire;

#[cfg(feature = "ui")]
pub mod ui;

#[cfg(any(feature = "pages", feature = "hydrate"))]
pub mod dashboard;
#[cfg(feature = "pages")]
pub mod pages;
