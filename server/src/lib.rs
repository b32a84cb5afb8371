//! Govifi's server: the hosted-session and platform APIs, the identity provider and the pages.

pub mod accounts;
pub mod app;
pub mod auth;
pub mod bootstrap;
pub mod checkout;
pub mod clients;
pub mod config;
pub mod customers;
pub mod dashboard;
pub mod domain;
pub mod element;
pub mod error;
pub mod extract;
pub mod idempotency;
pub mod jobs;
pub mod mail;
pub mod payments;
pub mod processor;
pub mod routes;
pub mod state;
pub mod store;
pub mod telemetry;
pub mod views;
pub mod webhooks;

pub use app::router;
pub use config::Config;
pub use state::AppState;
