//! What the dashboard reads and writes: the objects its pages show and its Leptos server
//! functions (`/dashboard/api/…`). In the browser each function is a call over HTTP; on the
//! server its body hands the call to the [`Backend`] the server provides in context — the
//! same services the REST API calls, behind the session, role and `Origin` checks.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::money::format_amount;

/// An amount in minor units with its currency, shown in the currency's units.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Money {
    pub minor: i64,
    pub currency: String,
}

impl Money {
    pub fn show(&self, locale: &str) -> String {
        format_amount(self.minor, &self.currency, locale)
    }

    /// The number alone (`10.50`), as a form field takes it back.
    pub fn units(&self, locale: &str) -> String {
        crate::money::format_units(self.minor, &self.currency, locale)
    }
}

/// What the signed-in user may do (from their role; the server checks again on every call).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Can {
    /// Refund, capture, void, expire, payment links.
    pub operate: bool,
    pub settings: bool,
    /// API keys, webhooks, events.
    pub develop: bool,
    pub team: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountChoice {
    pub uid: String,
    pub name: String,
    pub currency: String,
}

/// The signed-in user and the payment account the dashboard shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    pub email: String,
    pub role: String,
    pub client_name: String,
    /// The account shown (`None` when the client has none yet).
    pub account: Option<AccountChoice>,
    pub accounts: Vec<AccountChoice>,
    /// From the browser's `Accept-Language`: `en` or `es`.
    pub locale: String,
    pub can: Can,
    /// A sandbox server: test cards can be presented at terminals.
    pub sandbox: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Totals {
    pub gross: Money,
    pub fees: Money,
    pub refunds: Money,
    pub succeeded: u32,
    pub attempted: u32,
}

impl Totals {
    /// The share of attempted payments that succeeded, as a whole percentage.
    pub fn success_rate(&self) -> String {
        if self.attempted == 0 {
            "—".to_owned()
        } else {
            format!("{}%", (self.succeeded as u64 * 100 + self.attempted as u64 / 2) / self.attempted as u64)
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DayVolume {
    /// `YYYY-MM-DD` (UTC).
    pub date: String,
    pub gross: Money,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HomeData {
    pub today: Totals,
    pub last_30_days: Totals,
    /// Oldest first, one per day, days without payments included.
    pub days: Vec<DayVolume>,
    pub latest: Vec<PaymentRow>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PaymentRow {
    pub id: String,
    pub status: String,
    pub amount: Money,
    /// `Visa •••• 4242`, `Bank account •••• 6789`.
    pub method: String,
    pub reference: Option<String>,
    pub created_at: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PaymentPage {
    pub rows: Vec<PaymentRow>,
    pub page: u32,
    pub has_more: bool,
    pub total: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LedgerEntry {
    pub kind: String,
    pub amount: Money,
    pub at: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RefundRow {
    pub id: String,
    pub amount: Money,
    pub status: String,
    pub reason: Option<String>,
    pub created_at: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PaymentDetail {
    pub id: String,
    pub status: String,
    pub amount: Money,
    pub fee: Money,
    pub total: Money,
    pub captured: Money,
    pub refunded: Money,
    /// What a refund may still take.
    pub refundable: Money,
    pub method: String,
    pub customer_id: Option<String>,
    pub session_id: Option<String>,
    pub reference: Option<String>,
    pub description: Option<String>,
    pub decline_code: Option<String>,
    /// The consent record, as the API shows it (pretty JSON).
    pub consent: Option<String>,
    pub ledger: Vec<LedgerEntry>,
    pub refunds: Vec<RefundRow>,
    /// The ledger or the refunds go on past the first 100 shown (the API lists them all).
    pub more: bool,
    /// The moves its status allows now (the user's role is checked apart).
    pub can_capture: bool,
    /// An authorized payment's capture deadline (past it, the server voids the payment).
    pub capture_by: Option<String>,
    pub can_void: bool,
    pub can_refund: bool,
    /// The idempotency key of the next capture, void or refund sent from this page (new at
    /// every load): a form sent twice makes one move.
    pub move_key: String,
    pub created_at: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionRow {
    pub id: String,
    pub status: String,
    pub amount: Money,
    pub reference: Option<String>,
    pub description: Option<String>,
    pub hosted_url: Option<String>,
    pub payment_id: Option<String>,
    pub can_expire: bool,
    pub created_at: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionPage {
    pub rows: Vec<SessionRow>,
    pub page: u32,
    pub has_more: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomerRow {
    pub id: String,
    pub name: Option<String>,
    pub email: Option<String>,
    pub reference: Option<String>,
    pub created_at: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomerPage {
    pub rows: Vec<CustomerRow>,
    pub page: u32,
    pub has_more: bool,
    pub total: i64,
}

/// A saved method as staff see it: brand and last 4, never more.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedMethodRow {
    pub id: String,
    /// `Visa •••• 4242`.
    pub method: String,
    /// `12/2030` for cards.
    pub expires: Option<String>,
    /// `on_session` or `off_session` (autopay, with its mandate).
    pub usage: String,
    pub created_at: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomerDetail {
    pub id: String,
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub reference: Option<String>,
    pub created_at: String,
    pub methods: Vec<SavedMethodRow>,
    /// Their latest payments.
    pub payments: Vec<PaymentRow>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TerminalRow {
    pub id: String,
    pub label: String,
    pub serial_number: String,
    pub model: Option<String>,
    pub location: Option<String>,
    /// `online`, `offline` or `busy`.
    pub status: String,
    /// The payment waiting for a card (when `busy`).
    pub pending: Option<PendingTerminalPayment>,
    pub created_at: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingTerminalPayment {
    pub payment_id: String,
    pub amount: Money,
}

/// A checkout session's page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionDetail {
    pub row: SessionRow,
    /// What the customer accepted at confirmation (once paid).
    pub fee: Option<Money>,
    pub total: Option<Money>,
    pub line_items: Vec<LineItemRow>,
    pub customer_id: Option<String>,
    pub customer_email: Option<String>,
    /// `card ach apple_pay`.
    pub methods: String,
    pub success_url: String,
    pub cancel_url: String,
    pub expires_at: String,
    pub completed_at: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LineItemRow {
    pub name: String,
    pub quantity: i64,
    pub amount: Money,
}

/// A secret shown once (an API key, a webhook's signing secret, a redirect secret, a password).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OneTimeSecret {
    pub id: String,
    pub secret: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiKeyRow {
    pub id: String,
    pub label: String,
    pub prefix: String,
    pub scopes: String,
    pub expires_at: Option<String>,
    pub last_used_at: Option<String>,
    pub revoked: bool,
    pub created_at: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookRow {
    pub id: String,
    pub url: String,
    pub events: String,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    pub created_at: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttemptRow {
    pub at: String,
    /// The receiver's HTTP status, if it answered.
    pub status: Option<u16>,
    pub outcome: String,
    pub response: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeliveryRow {
    pub id: String,
    pub event_id: String,
    pub event_type: String,
    pub status: String,
    pub attempts: Vec<AttemptRow>,
    pub created_at: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeliveryLog {
    pub webhook: WebhookRow,
    /// One page of the log, newest first.
    pub deliveries: Listing<DeliveryRow>,
}

/// One page of a list: its rows, which page it is (from 0), and whether another follows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Listing<T> {
    pub rows: Vec<T>,
    pub page: u32,
    pub more: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventRow {
    pub id: String,
    pub kind: String,
    pub actor: Option<String>,
    pub created_at: String,
    /// The event as the API and webhooks show it (pretty JSON).
    pub json: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    pub account_name: String,
    pub currency: String,
    pub display_name: String,
    pub logo_url: String,
    pub primary_color: String,
    pub allowed_origins: String,
    /// The fee rules in their order (the first that matches a payment sets its fee).
    pub fee_rules: Vec<FeeRuleRow>,
    pub methods: Vec<String>,
}

/// One fee rule, in the account currency's units.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeeRuleRow {
    /// `card`, `ach`, `apple_pay` or `any`.
    pub method: String,
    /// `credit`, `debit`, `prepaid`, or empty for any funding.
    pub funding: String,
    pub percent_bps: i64,
    pub fixed: Money,
    pub min: Option<Money>,
    pub max: Option<Money>,
}

/// The methods a fee rule names, as the Settings page offers them.
pub const FEE_METHODS: &[&str] = &["any", "card", "ach", "apple_pay"];

/// One row of the fee rules form, as typed: amounts in the currency's units and the percentage
/// as a number (`2.9`), in the page's locale. A row whose method is empty, or marked `remove`,
/// is left out; `order` (a number) places the rows, ties keeping the form's order.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FeeRuleForm {
    pub method: String,
    pub funding: String,
    pub percent: String,
    pub fixed: String,
    pub min: String,
    pub max: String,
    pub order: String,
    pub remove: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeeQuote {
    pub fee: Money,
    pub total: Money,
    pub disclosure: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TeamMember {
    pub id: String,
    pub email: String,
    pub role: String,
    /// The signed-in user (whose own role and membership cannot be changed here).
    pub is_you: bool,
    pub created_at: String,
}

/// The roles, as the Team page offers them.
pub const ROLES: &[&str] = &["owner", "admin", "developer", "viewer"];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PaymentLink {
    pub session_id: String,
    pub hosted_url: String,
}

/// The server's side of every dashboard function: implemented by the server over its services
/// (each call checks the caller first) and provided in the context of each dashboard request.
#[cfg(feature = "pages")]
#[async_trait::async_trait]
pub trait Backend: Send + Sync {
    async fn profile(&self) -> Result<Profile, ServerFnError>;
    async fn sign_out(&self) -> Result<(), ServerFnError>;
    async fn switch_account(&self, uid: String) -> Result<(), ServerFnError>;
    async fn home(&self) -> Result<HomeData, ServerFnError>;
    async fn payments(&self, filter: PaymentFilter) -> Result<PaymentPage, ServerFnError>;
    async fn payment(&self, id: String) -> Result<PaymentDetail, ServerFnError>;
    async fn capture(&self, id: String, amount: String, key: String) -> Result<(), ServerFnError>;
    async fn void(&self, id: String, key: String) -> Result<(), ServerFnError>;
    async fn refund(&self, id: String, amount: String, reason: String, key: String) -> Result<(), ServerFnError>;
    async fn sessions(&self, page: u32) -> Result<SessionPage, ServerFnError>;
    async fn session(&self, id: String) -> Result<SessionDetail, ServerFnError>;
    async fn expire_session(&self, id: String) -> Result<(), ServerFnError>;
    async fn create_payment_link(&self, account: String, link: NewPaymentLink) -> Result<PaymentLink, ServerFnError>;
    async fn customers(&self, search: String, page: u32) -> Result<CustomerPage, ServerFnError>;
    async fn customer(&self, id: String) -> Result<CustomerDetail, ServerFnError>;
    async fn remove_saved_method(&self, customer_id: String, id: String) -> Result<(), ServerFnError>;
    async fn terminals(&self, page: u32) -> Result<Listing<TerminalRow>, ServerFnError>;
    async fn add_terminal(&self, account: String, terminal: NewTerminal) -> Result<(), ServerFnError>;
    async fn start_terminal_payment(&self, id: String, charge: TerminalCharge) -> Result<(), ServerFnError>;
    async fn cancel_terminal_payment(&self, id: String) -> Result<(), ServerFnError>;
    async fn present_test_card(&self, id: String, card_number: String) -> Result<String, ServerFnError>;
    async fn api_keys(&self, page: u32) -> Result<Listing<ApiKeyRow>, ServerFnError>;
    async fn create_api_key(
        &self,
        account: String,
        label: String,
        scopes: String,
        expires_in_days: String,
    ) -> Result<OneTimeSecret, ServerFnError>;
    async fn revoke_api_key(&self, id: String) -> Result<(), ServerFnError>;
    async fn webhooks(&self, page: u32) -> Result<Listing<WebhookRow>, ServerFnError>;
    async fn add_webhook(&self, account: String, url: String, events: String) -> Result<OneTimeSecret, ServerFnError>;
    async fn set_webhook_enabled(&self, id: String, enabled: bool) -> Result<(), ServerFnError>;
    async fn send_test_event(&self, id: String) -> Result<(), ServerFnError>;
    async fn delivery_log(&self, id: String, page: u32) -> Result<DeliveryLog, ServerFnError>;
    async fn redeliver(&self, webhook_id: String, event_id: String) -> Result<(), ServerFnError>;
    async fn events(&self, page: u32) -> Result<Vec<EventRow>, ServerFnError>;
    async fn settings(&self) -> Result<Settings, ServerFnError>;
    async fn save_branding(
        &self,
        account: String,
        display_name: String,
        logo_url: String,
        primary_color: String,
    ) -> Result<(), ServerFnError>;
    async fn save_origins(&self, account: String, allowed_origins: String) -> Result<(), ServerFnError>;
    async fn save_fee_rules(&self, account: String, rules: Vec<FeeRuleForm>) -> Result<(), ServerFnError>;
    async fn rotate_redirect_secret(&self, account: String) -> Result<OneTimeSecret, ServerFnError>;
    async fn fee_quote(&self, amount: String, method: String, funding: String) -> Result<FeeQuote, ServerFnError>;
    async fn team(&self) -> Result<Vec<TeamMember>, ServerFnError>;
    async fn add_user(&self, email: String, role: String) -> Result<OneTimeSecret, ServerFnError>;
    async fn change_role(&self, id: String, role: String) -> Result<(), ServerFnError>;
    async fn remove_user(&self, id: String) -> Result<(), ServerFnError>;
}

#[cfg(feature = "pages")]
fn backend() -> Result<std::sync::Arc<dyn Backend>, ServerFnError> {
    use_context::<std::sync::Arc<dyn Backend>>().ok_or_else(|| ServerFnError::new("the dashboard has no backend"))
}

/// The Payments page's filters, as its form and its address carry them (empty or missing: no
/// filter).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PaymentFilter {
    pub status: String,
    pub reference: String,
    /// A method type (`card`, `ach`, `apple_pay`).
    pub method: String,
    /// `YYYY-MM-DD`, inclusive.
    pub from: String,
    pub to: String,
    pub page: u32,
}

/// The Add terminal form.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NewTerminal {
    pub label: String,
    pub serial_number: String,
    pub model: String,
    pub location: String,
}

/// The Start a payment form on a terminal.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TerminalCharge {
    pub amount: String,
    pub description: String,
    pub reference: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NewPaymentLink {
    pub amount: String,
    pub description: String,
    pub reference: String,
    pub success_url: String,
    pub cancel_url: String,
}

#[server(prefix = "/dashboard/api", endpoint = "profile")]
pub async fn load_profile() -> Result<Profile, ServerFnError> {
    backend()?.profile().await
}

/// Ends the session (a plain form post: the browser goes to the sign-in page).
#[server(prefix = "/dashboard/api", endpoint = "sign_out")]
pub async fn sign_out() -> Result<(), ServerFnError> {
    backend()?.sign_out().await
}

#[server(prefix = "/dashboard/api", endpoint = "switch_account")]
pub async fn switch_account(uid: String) -> Result<(), ServerFnError> {
    backend()?.switch_account(uid).await
}

#[server(prefix = "/dashboard/api", endpoint = "home")]
pub async fn load_home() -> Result<HomeData, ServerFnError> {
    backend()?.home().await
}

#[server(prefix = "/dashboard/api", endpoint = "payments")]
pub async fn list_payments(filter: PaymentFilter) -> Result<PaymentPage, ServerFnError> {
    backend()?.payments(filter).await
}

#[server(prefix = "/dashboard/api", endpoint = "payment")]
pub async fn load_payment(id: String) -> Result<PaymentDetail, ServerFnError> {
    backend()?.payment(id).await
}

#[server(prefix = "/dashboard/api", endpoint = "capture")]
pub async fn capture_payment(id: String, amount: String, key: String) -> Result<(), ServerFnError> {
    backend()?.capture(id, amount, key).await
}

#[server(prefix = "/dashboard/api", endpoint = "void")]
pub async fn void_payment(id: String, key: String) -> Result<(), ServerFnError> {
    backend()?.void(id, key).await
}

#[server(prefix = "/dashboard/api", endpoint = "refund")]
pub async fn refund_payment(id: String, amount: String, reason: String, key: String) -> Result<(), ServerFnError> {
    backend()?.refund(id, amount, reason, key).await
}

#[server(prefix = "/dashboard/api", endpoint = "sessions")]
pub async fn list_sessions(page: u32) -> Result<SessionPage, ServerFnError> {
    backend()?.sessions(page).await
}

#[server(prefix = "/dashboard/api", endpoint = "session")]
pub async fn load_session(id: String) -> Result<SessionDetail, ServerFnError> {
    backend()?.session(id).await
}

#[server(prefix = "/dashboard/api", endpoint = "expire_session")]
pub async fn expire_session(id: String) -> Result<(), ServerFnError> {
    backend()?.expire_session(id).await
}

#[server(prefix = "/dashboard/api", endpoint = "payment_link")]
pub async fn create_payment_link(account: String, link: NewPaymentLink) -> Result<PaymentLink, ServerFnError> {
    backend()?.create_payment_link(account, link).await
}

#[server(prefix = "/dashboard/api", endpoint = "customers")]
pub async fn list_customers(search: String, page: u32) -> Result<CustomerPage, ServerFnError> {
    backend()?.customers(search, page).await
}

#[server(prefix = "/dashboard/api", endpoint = "customer")]
pub async fn load_customer(id: String) -> Result<CustomerDetail, ServerFnError> {
    backend()?.customer(id).await
}

#[server(prefix = "/dashboard/api", endpoint = "remove_saved_method")]
pub async fn remove_saved_method(customer_id: String, id: String) -> Result<(), ServerFnError> {
    backend()?.remove_saved_method(customer_id, id).await
}

#[server(prefix = "/dashboard/api", endpoint = "terminals")]
pub async fn list_terminals(page: u32) -> Result<Listing<TerminalRow>, ServerFnError> {
    backend()?.terminals(page).await
}

#[server(prefix = "/dashboard/api", endpoint = "add_terminal")]
pub async fn add_terminal(account: String, terminal: NewTerminal) -> Result<(), ServerFnError> {
    backend()?.add_terminal(account, terminal).await
}

#[server(prefix = "/dashboard/api", endpoint = "terminal_payment")]
pub async fn start_terminal_payment(id: String, charge: TerminalCharge) -> Result<(), ServerFnError> {
    backend()?.start_terminal_payment(id, charge).await
}

#[server(prefix = "/dashboard/api", endpoint = "cancel_terminal_payment")]
pub async fn cancel_terminal_payment(id: String) -> Result<(), ServerFnError> {
    backend()?.cancel_terminal_payment(id).await
}

/// Sandbox only: a test card presented at the terminal; answers the payment's new status.
#[server(prefix = "/dashboard/api", endpoint = "present_test_card")]
pub async fn present_test_card(id: String, card_number: String) -> Result<String, ServerFnError> {
    backend()?.present_test_card(id, card_number).await
}

#[server(prefix = "/dashboard/api", endpoint = "api_keys")]
pub async fn list_api_keys(page: u32) -> Result<Listing<ApiKeyRow>, ServerFnError> {
    backend()?.api_keys(page).await
}

#[server(prefix = "/dashboard/api", endpoint = "create_api_key")]
pub async fn create_api_key(
    account: String,
    label: String,
    scopes: String,
    expires_in_days: String,
) -> Result<OneTimeSecret, ServerFnError> {
    backend()?.create_api_key(account, label, scopes, expires_in_days).await
}

#[server(prefix = "/dashboard/api", endpoint = "revoke_api_key")]
pub async fn revoke_api_key(id: String) -> Result<(), ServerFnError> {
    backend()?.revoke_api_key(id).await
}

#[server(prefix = "/dashboard/api", endpoint = "webhooks")]
pub async fn list_webhooks(page: u32) -> Result<Listing<WebhookRow>, ServerFnError> {
    backend()?.webhooks(page).await
}

#[server(prefix = "/dashboard/api", endpoint = "add_webhook")]
pub async fn add_webhook(account: String, url: String, events: String) -> Result<OneTimeSecret, ServerFnError> {
    backend()?.add_webhook(account, url, events).await
}

#[server(prefix = "/dashboard/api", endpoint = "webhook_enabled")]
pub async fn set_webhook_enabled(id: String, enabled: bool) -> Result<(), ServerFnError> {
    backend()?.set_webhook_enabled(id, enabled).await
}

#[server(prefix = "/dashboard/api", endpoint = "test_event")]
pub async fn send_test_event(id: String) -> Result<(), ServerFnError> {
    backend()?.send_test_event(id).await
}

#[server(prefix = "/dashboard/api", endpoint = "deliveries")]
pub async fn load_delivery_log(id: String, page: u32) -> Result<DeliveryLog, ServerFnError> {
    backend()?.delivery_log(id, page).await
}

#[server(prefix = "/dashboard/api", endpoint = "redeliver")]
pub async fn redeliver(webhook_id: String, event_id: String) -> Result<(), ServerFnError> {
    backend()?.redeliver(webhook_id, event_id).await
}

#[server(prefix = "/dashboard/api", endpoint = "events")]
pub async fn list_events(page: u32) -> Result<Vec<EventRow>, ServerFnError> {
    backend()?.events(page).await
}

#[server(prefix = "/dashboard/api", endpoint = "settings")]
pub async fn load_settings() -> Result<Settings, ServerFnError> {
    backend()?.settings().await
}

#[server(prefix = "/dashboard/api", endpoint = "branding")]
pub async fn save_branding(
    account: String,
    display_name: String,
    logo_url: String,
    primary_color: String,
) -> Result<(), ServerFnError> {
    backend()?.save_branding(account, display_name, logo_url, primary_color).await
}

#[server(prefix = "/dashboard/api", endpoint = "origins")]
pub async fn save_origins(account: String, allowed_origins: String) -> Result<(), ServerFnError> {
    backend()?.save_origins(account, allowed_origins).await
}

/// Replaces the account's fee rules with the form's rows.
#[server(prefix = "/dashboard/api", endpoint = "fee_rules")]
pub async fn save_fee_rules(account: String, rules: Vec<FeeRuleForm>) -> Result<(), ServerFnError> {
    backend()?.save_fee_rules(account, rules).await
}

#[server(prefix = "/dashboard/api", endpoint = "rotate_redirect_secret")]
pub async fn rotate_redirect_secret(account: String) -> Result<OneTimeSecret, ServerFnError> {
    backend()?.rotate_redirect_secret(account).await
}

#[server(prefix = "/dashboard/api", endpoint = "fee_quote")]
pub async fn quote_fee(amount: String, method: String, funding: String) -> Result<FeeQuote, ServerFnError> {
    backend()?.fee_quote(amount, method, funding).await
}

#[server(prefix = "/dashboard/api", endpoint = "team")]
pub async fn list_team() -> Result<Vec<TeamMember>, ServerFnError> {
    backend()?.team().await
}

/// A new teammate; the answer carries their one-time password.
#[server(prefix = "/dashboard/api", endpoint = "add_user")]
pub async fn add_user(email: String, role: String) -> Result<OneTimeSecret, ServerFnError> {
    backend()?.add_user(email, role).await
}

#[server(prefix = "/dashboard/api", endpoint = "change_role")]
pub async fn change_role(id: String, role: String) -> Result<(), ServerFnError> {
    backend()?.change_role(id, role).await
}

#[server(prefix = "/dashboard/api", endpoint = "remove_user")]
pub async fn remove_user(id: String) -> Result<(), ServerFnError> {
    backend()?.remove_user(id).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn success_rate_rounds_and_handles_no_attempts() {
        let m = |minor| Money { minor, currency: "USD".into() };
        let t = |succeeded, attempted| Totals { gross: m(0), fees: m(0), refunds: m(0), succeeded, attempted };
        assert_eq!(t(0, 0).success_rate(), "—");
        assert_eq!(t(2, 3).success_rate(), "67%");
        assert_eq!(t(3, 3).success_rate(), "100%");
        assert_eq!(m(1050).show("en"), "$10.50");
    }
}
