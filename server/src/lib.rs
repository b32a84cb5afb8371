//! Govifi's server: the hosted-session and platform APIs, the identity provider and the pages.

pub mod app;
pub mod auth;
pub mod bootstrap;
pub mod checkout;
pub mod config;
pub mod domain;
pub mod error;
pub mod extract;
pub mod jobs;
pub mod mail;
pub mod processor;
pub mod routes;
pub mod store;
pub mod telemetry;

pub use app::{AppState, router};
pub use config::Config;
