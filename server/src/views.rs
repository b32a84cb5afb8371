//! The resources as the API shows them (SPEC §11). Routes answer with them and services put
//! them in events, so both layers use this one module (it depends only on `store` and `domain`).

use app::wire::LineItem;
use serde::Serialize;
use utoipa::ToSchema;

use crate::config::Config;
use crate::domain::account::{Branding, FeeRule, Funding, MethodType};
use crate::domain::event::EventType;
use crate::domain::money::{Amount, Currency};
use crate::domain::payment::{Consent, MethodDetails, OperationStatus, PaymentStatus, Usage};
use crate::domain::session::{AvsField, FraudSignals, FutureUsage, Layout, Locale, SessionStatus};
use crate::domain::terminal::TerminalStatus;
use crate::domain::time::Timestamp;
use crate::domain::validate::Metadata;
use crate::domain::webhook::DeliveryStatus;
use crate::store::accounts::Account;
use crate::store::api_keys::ApiKey;
use crate::store::clients::Client;
use crate::store::customers::Customer;
use crate::store::dashboard::User;
use crate::store::deliveries::{Attempt, Delivery};
use crate::store::events::Event;
use crate::store::operations::Operation;
use crate::store::payment_methods::SavedMethod;
use crate::store::payments::Payment;
use crate::store::sessions::Session;
use crate::store::terminals::Terminal;
use crate::store::webhooks::Webhook;

/// A payment.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PaymentObject {
    pub id: String,
    pub object: &'static str,
    pub status: PaymentStatus,
    pub amount: Amount,
    pub fee_amount: Amount,
    pub total_amount: Amount,
    pub amount_captured: Amount,
    pub amount_refunded: Amount,
    pub currency: Currency,
    pub payment_method: MethodDetails,
    pub avs_result: Option<String>,
    pub decline_code: Option<String>,
    /// ACH debits that came back: the return code (R01, R02, R03, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub return_code: Option<String>,
    pub session_id: Option<String>,
    pub customer_id: Option<String>,
    pub terminal_id: Option<String>,
    pub processor: String,
    pub reference: Option<String>,
    pub description: Option<String>,
    pub metadata: Metadata,
    pub consent: Option<Consent>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl From<Payment> for PaymentObject {
    fn from(p: Payment) -> Self {
        PaymentObject {
            id: p.id,
            object: "payment",
            status: p.status,
            amount: p.amount,
            fee_amount: p.fee_amount,
            total_amount: p.total_amount,
            amount_captured: p.amount_captured,
            amount_refunded: p.amount_refunded,
            currency: p.currency,
            payment_method: p.payment_method,
            avs_result: p.avs_result,
            decline_code: p.decline_code,
            return_code: p.return_code,
            session_id: p.session_id,
            customer_id: p.customer_id,
            terminal_id: p.terminal_id,
            processor: p.processor,
            reference: p.reference,
            description: p.description,
            metadata: p.metadata,
            consent: p.consent,
            created_at: Timestamp(p.created_at),
            updated_at: Timestamp(p.updated_at),
        }
    }
}

impl From<&Payment> for PaymentObject {
    fn from(p: &Payment) -> Self {
        PaymentObject::from(p.clone())
    }
}

/// A refund (`re_`).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RefundObject {
    pub id: String,
    pub object: &'static str,
    pub payment_id: String,
    pub amount: Amount,
    pub currency: Currency,
    pub reason: Option<String>,
    pub status: OperationStatus,
    /// Why the processor refused it (`status: failed`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure_code: Option<String>,
    pub created_at: Timestamp,
    /// When its status last changed (a refund the processor answers late ends after it began).
    pub updated_at: Timestamp,
}

impl RefundObject {
    pub fn new(op: &Operation, currency: &Currency) -> Self {
        RefundObject {
            id: op.id.clone(),
            object: "refund",
            payment_id: op.payment_id.clone(),
            amount: op.amount,
            currency: currency.clone(),
            reason: op.reason.clone(),
            status: op.status,
            failure_code: op.failure_code.clone(),
            created_at: Timestamp(op.created_at),
            updated_at: Timestamp(op.updated_at),
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CustomerObject {
    pub id: String,
    pub object: &'static str,
    pub email: Option<String>,
    pub name: Option<String>,
    pub phone: Option<String>,
    pub reference: Option<String>,
    pub metadata: Metadata,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl From<Customer> for CustomerObject {
    fn from(c: Customer) -> Self {
        CustomerObject {
            id: c.id,
            object: "customer",
            email: c.email,
            name: c.name,
            phone: c.phone,
            reference: c.reference,
            metadata: c.metadata,
            created_at: Timestamp(c.created_at),
            updated_at: Timestamp(c.updated_at),
        }
    }
}

/// A saved method as anyone outside sees it: never the card number, never the processor token.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PaymentMethodObject {
    pub id: String,
    pub object: &'static str,
    pub customer_id: String,
    #[serde(rename = "type")]
    pub kind: MethodType,
    pub brand: Option<String>,
    pub last4: String,
    pub exp_month: Option<i64>,
    pub exp_year: Option<i64>,
    pub funding: Option<Funding>,
    pub bank_name: Option<String>,
    pub account_type: Option<String>,
    pub usage: Usage,
    pub fingerprint: String,
    pub created_at: Timestamp,
}

impl From<SavedMethod> for PaymentMethodObject {
    fn from(m: SavedMethod) -> Self {
        PaymentMethodObject {
            id: m.id,
            object: "payment_method",
            customer_id: m.customer_id,
            kind: m.kind,
            brand: m.brand,
            last4: m.last4,
            exp_month: m.exp_month,
            exp_year: m.exp_year,
            funding: m.funding,
            bank_name: m.bank_name,
            account_type: m.account_type,
            usage: m.usage,
            fingerprint: m.fingerprint,
            created_at: Timestamp(m.created_at),
        }
    }
}

/// A card-present terminal (`trm_`).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TerminalObject {
    pub id: String,
    pub object: &'static str,
    pub label: String,
    pub serial_number: String,
    pub model: Option<String>,
    pub location: Option<String>,
    pub status: TerminalStatus,
    /// The payment pending on it while `busy`.
    pub payment_id: Option<String>,
    pub metadata: Metadata,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl From<Terminal> for TerminalObject {
    fn from(t: Terminal) -> Self {
        TerminalObject {
            id: t.id,
            object: "terminal",
            label: t.label,
            serial_number: t.serial_number,
            model: t.model,
            location: t.location,
            status: t.status,
            payment_id: t.payment_id,
            metadata: t.metadata,
            created_at: Timestamp(t.created_at),
            updated_at: Timestamp(t.updated_at),
        }
    }
}

/// A hosted session as the merchant sees it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SessionObject {
    pub id: String,
    /// Same as `id` (the creation answer's name for it).
    pub session_id: String,
    pub object: &'static str,
    pub status: SessionStatus,
    pub amount: Amount,
    pub currency: Currency,
    pub description: Option<String>,
    pub reference: Option<String>,
    pub line_items: Option<Vec<LineItem>>,
    pub tax_amount: Option<Amount>,
    pub shipping_amount: Option<Amount>,
    pub customer_id: Option<String>,
    pub customer_email: Option<String>,
    pub success_url: String,
    pub cancel_url: String,
    pub layout: Layout,
    pub allowed_methods: Vec<MethodType>,
    pub setup_future_usage: FutureUsage,
    pub required_avs_fields: Vec<AvsField>,
    pub locale: Locale,
    pub branding: Option<Branding>,
    pub fraud_signals: Option<FraudSignals>,
    pub metadata: Metadata,
    pub payment_id: Option<String>,
    pub fee_amount: Option<Amount>,
    pub total_amount: Option<Amount>,
    /// The session credential, while the session is active.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    pub hosted_url: String,
    pub embed_url: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub expires_at: Timestamp,
    pub completed_at: Option<Timestamp>,
}

/// The merchant's view of a session as of `now`; the credential only while it is active.
pub fn session_object(config: &Config, s: &Session, now: i64) -> anyhow::Result<SessionObject> {
    let status = s.status_at(now);
    let base = &config.public_url;
    let client_secret = if status == SessionStatus::Active { Some(s.client_secret(&config.master_key)?) } else { None };
    let hosted_url = match &client_secret {
        Some(secret) => format!("{base}/{}#cs={secret}", s.id),
        None => format!("{base}/{}", s.id),
    };
    Ok(SessionObject {
        id: s.id.clone(),
        session_id: s.id.clone(),
        object: "hosted_session",
        status,
        amount: s.amount,
        currency: s.currency.clone(),
        description: s.description.clone(),
        reference: s.reference.clone(),
        line_items: s.line_items.clone(),
        tax_amount: s.tax_amount,
        shipping_amount: s.shipping_amount,
        customer_id: s.customer_id.clone(),
        customer_email: s.customer_email.clone(),
        success_url: s.success_url.clone(),
        cancel_url: s.cancel_url.clone(),
        layout: s.layout,
        allowed_methods: s.allowed_methods.clone(),
        setup_future_usage: s.setup_future_usage,
        required_avs_fields: s.required_avs_fields.clone(),
        locale: s.locale,
        branding: s.branding.clone(),
        fraud_signals: s.fraud_signals.clone(),
        metadata: s.metadata.clone(),
        payment_id: s.payment_id.clone(),
        fee_amount: s.fee_amount,
        total_amount: s.total_amount,
        client_secret,
        hosted_url,
        embed_url: format!("{base}/embed/{}", s.id),
        created_at: Timestamp(s.created_at),
        updated_at: Timestamp(s.updated_at),
        expires_at: Timestamp(s.expires_at),
        completed_at: s.completed_at.map(Timestamp),
    })
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EventData {
    /// The resource as the API shows it.
    #[schema(value_type = Object)]
    pub object: serde_json::Value,
}

/// An event (SPEC §11): also the webhook payload.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EventObject {
    pub id: String,
    pub object: &'static str,
    #[serde(rename = "type")]
    pub kind: EventType,
    pub created_at: Timestamp,
    pub account_uid: String,
    /// Who caused it: `user:<email>` for a dashboard user; `system:authorization_expiry` for a
    /// void of an authorization that expired; null for API calls and the server's other jobs.
    pub actor: Option<String>,
    pub data: EventData,
}

impl From<Event> for EventObject {
    fn from(e: Event) -> Self {
        EventObject {
            id: e.id,
            object: "event",
            kind: e.kind,
            created_at: Timestamp(e.created_at),
            account_uid: e.account_uid,
            actor: e.actor,
            data: EventData { object: e.data },
        }
    }
}

/// How the account's processor shows: its type, and whether credentials are stored (never them).
#[derive(Debug, Serialize, ToSchema)]
pub struct ProcessorView {
    #[serde(rename = "type")]
    pub kind: String,
    pub credentials_configured: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AccountObject {
    pub uid: String,
    /// Same as `uid`.
    pub id: String,
    pub object: &'static str,
    pub client_id: String,
    pub name: String,
    pub currency: String,
    pub processor: ProcessorView,
    pub enabled_methods: Vec<MethodType>,
    pub fee_rules: Vec<FeeRule>,
    pub branding: Branding,
    pub allowed_origins: Vec<String>,
    pub statement_descriptor: Option<String>,
    pub reject_avs_mismatch: bool,
    pub metadata: Metadata,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// Only when the account is created or the secret rotated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redirect_signing_secret: Option<String>,
}

impl From<Account> for AccountObject {
    fn from(a: Account) -> Self {
        AccountObject {
            id: a.uid.clone(),
            uid: a.uid,
            object: "payment_account",
            client_id: a.client_id,
            name: a.name,
            currency: a.currency.to_string(),
            processor: ProcessorView { kind: a.processor_type, credentials_configured: a.has_processor_credentials },
            enabled_methods: a.enabled_methods,
            fee_rules: a.fee_rules,
            branding: a.branding,
            allowed_origins: a.allowed_origins,
            statement_descriptor: a.statement_descriptor,
            reject_avs_mismatch: a.reject_avs_mismatch,
            metadata: a.metadata,
            created_at: Timestamp(a.created_at),
            updated_at: Timestamp(a.updated_at),
            redirect_signing_secret: None,
        }
    }
}

/// A member of a client's dashboard team, as the `team.*` events show them (never a password).
#[derive(Debug, Serialize, ToSchema)]
pub struct TeamMemberObject {
    pub id: String,
    pub object: &'static str,
    pub client_id: String,
    pub email: String,
    pub role: String,
    pub created_at: Timestamp,
}

impl From<&User> for TeamMemberObject {
    fn from(u: &User) -> Self {
        TeamMemberObject {
            id: u.id.clone(),
            object: "team_member",
            client_id: u.client_id.clone(),
            email: u.email.clone(),
            role: u.role.to_string(),
            created_at: Timestamp(u.created_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyObject {
    pub id: String,
    pub object: &'static str,
    pub account_uid: String,
    /// The key itself: only in the answer that created it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    pub prefix: String,
    pub label: String,
    pub scopes: Vec<String>,
    pub expires_at: Option<Timestamp>,
    pub last_used_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
    pub created_at: Timestamp,
    /// When the key itself last changed: its revocation, else its creation (use is `last_used_at`).
    pub updated_at: Timestamp,
}

impl From<ApiKey> for ApiKeyObject {
    fn from(k: ApiKey) -> Self {
        ApiKeyObject {
            id: k.id,
            object: "api_key",
            account_uid: k.account_uid,
            key: None,
            prefix: k.prefix,
            label: k.label,
            scopes: k.scopes,
            expires_at: k.expires_at.map(Timestamp),
            last_used_at: k.last_used_at.map(Timestamp),
            revoked_at: k.revoked_at.map(Timestamp),
            created_at: Timestamp(k.created_at),
            updated_at: Timestamp(k.revoked_at.unwrap_or(k.created_at)),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ClientObject {
    pub id: String,
    pub object: &'static str,
    pub name: String,
    pub contact_email: Option<String>,
    pub metadata: Metadata,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl From<Client> for ClientObject {
    fn from(c: Client) -> Self {
        ClientObject {
            id: c.id,
            object: "client",
            name: c.name,
            contact_email: c.contact_email,
            metadata: c.metadata,
            created_at: Timestamp(c.created_at),
            updated_at: Timestamp(c.updated_at),
        }
    }
}

/// A wallet session (`ws_`); the credential only in the answer that made it.
#[derive(Debug, Serialize, ToSchema)]
pub struct WalletSessionObject {
    pub id: String,
    pub wallet_session_id: String,
    pub object: &'static str,
    pub customer_id: String,
    pub client_secret: String,
    pub return_url: String,
    pub locale: Locale,
    pub wallet_url: String,
    pub expires_at: Timestamp,
    pub created_at: Timestamp,
}

/// A webhook subscription (`whk_`); the signing secret only in the answers that make one.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WebhookObject {
    pub id: String,
    pub object: &'static str,
    pub url: String,
    /// The event types it takes, or `["*"]` for all.
    pub events: Vec<String>,
    pub enabled: bool,
    pub description: Option<String>,
    /// Why it was switched off (a 410, or five days of failures).
    pub disabled_reason: Option<String>,
    /// `whsec_…`: at creation and at `rotate-secret` only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl WebhookObject {
    /// The subscription as its `webhook.*` events show it to the account's other subscribers:
    /// the URL cut to its origin (many receivers' URLs carry a token in their path or query),
    /// and never the secret.
    pub fn for_events(&self) -> WebhookObject {
        let mut shown = self.clone();
        shown.secret = None;
        shown.url = match url::Url::parse(&self.url) {
            Ok(u) => format!("{}/…", u.origin().ascii_serialization()),
            Err(_) => "…".to_owned(),
        };
        shown
    }
}

impl From<Webhook> for WebhookObject {
    fn from(w: Webhook) -> Self {
        WebhookObject {
            id: w.id,
            object: "webhook",
            url: w.url,
            events: match w.events {
                None => vec!["*".to_owned()],
                Some(types) => types.iter().map(|t| t.as_str().to_owned()).collect(),
            },
            enabled: w.enabled,
            description: w.description,
            disabled_reason: w.disabled_reason,
            secret: None,
            created_at: Timestamp(w.created_at),
            updated_at: Timestamp(w.updated_at),
        }
    }
}

/// One event's delivery to one subscription, with every attempt (the delivery log).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DeliveryObject {
    pub id: String,
    pub object: &'static str,
    pub webhook_id: String,
    pub event_id: String,
    pub event_type: EventType,
    pub status: DeliveryStatus,
    pub attempts: Vec<Attempt>,
    pub next_attempt_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl From<Delivery> for DeliveryObject {
    fn from(d: Delivery) -> Self {
        DeliveryObject {
            id: d.id,
            object: "webhook_delivery",
            webhook_id: d.webhook_id,
            event_id: d.event_id,
            event_type: d.event_type,
            status: d.status,
            attempts: d.attempts,
            next_attempt_at: d.next_attempt_at.map(Timestamp),
            created_at: Timestamp(d.created_at),
            updated_at: Timestamp(d.updated_at),
        }
    }
}
