//! Govifi's server: the hosted-session and platform APIs, the identity provider and the pages.

pub mod app;
pub mod auth;
pub mod bootstrap;
pub mod config;
pub mod domain;
pub mod error;
pub mod extract;
pub mod processor;
pub mod routes;
pub mod store;
pub mod telemetry;

pub use app::{AppState, router};
pub use config::Config;
