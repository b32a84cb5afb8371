//! One module per resource, each with its own `router()`; the OpenAPI document is built from
//! the same routers, so it grows with every route.

pub mod accounts;
pub mod assets;
pub mod browser;
pub mod clients;
pub mod customers;
pub mod dashboard;
pub mod document;
pub mod events;
pub mod list;
pub mod oauth;
pub mod ops;
pub mod outbox;
pub mod pages;
pub mod payments;
pub mod sessions;
pub mod terminals;
pub mod wallets;
pub mod webhooks;

use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Govifi Payments API",
        description = "Hosted checkout sessions, the browser calls of the `<govifi-payment>` element, \
                       and the platform API (accounts, payments, refunds, customers, wallets, terminals, webhooks).",
    ),
    modifiers(&SecuritySchemes),
    tags(
        (name = "hosted sessions", description = "Checkout sessions, the merchant's side"),
        (name = "browser", description = "The browser calls of a session (the <govifi-payment> element)"),
        (name = "wallets", description = "Wallet sessions: a customer manages saved methods"),
        (name = "payments", description = "Direct payments and autopay, capture, void, refunds, the ledger"),
        (name = "terminals", description = "Card-present terminals and their payments"),
        (name = "events", description = "Everything that happened, as events"),
        (name = "webhooks", description = "Webhook subscriptions and their delivery log"),
        (name = "identity", description = "OAuth 2.0 client credentials and the token signing keys"),
        (name = "clients", description = "Tenants (admin token)"),
        (name = "payment accounts", description = "Merchant configurations and their API keys (admin token)"),
        (name = "customers", description = "Customers and their saved payment methods"),
        (name = "operations", description = "Health, readiness and metrics"),
    )
)]
pub struct ApiDoc;

/// The four credential kinds of SPEC §3, named as routes refer to them.
struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let bearer = |format: &str, description: &str| {
            let mut http = Http::new(HttpAuthScheme::Bearer);
            http.bearer_format = Some(format.to_owned());
            http.description = Some(description.to_owned());
            SecurityScheme::Http(http)
        };
        components.add_security_scheme(
            "admin_token",
            bearer(
                "JWT",
                "OAuth 2.0 access token from POST /oauth2/token (client credentials) with the \
                 com.govineer.payments/admin scope. Account-scoped routes also need X-Payment-Account-Uid.",
            ),
        );
        components.add_security_scheme(
            "api_key",
            bearer("gk_...", "An account API key; it identifies its payment account and carries scopes."),
        );
        components.add_security_scheme(
            "session_credential",
            bearer("cs_..._secret_...", "A hosted session's client_secret, for the browser calls of that session."),
        );
        components.add_security_scheme(
            "wallet_credential",
            bearer("ws_..._secret_...", "A wallet session's client_secret, for a customer's saved methods."),
        );
    }
}
