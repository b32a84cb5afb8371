//! The JSON the element and the server exchange on the browser calls (SPEC §5). One definition
//! for both sides, so they cannot drift apart.
//!
//! The server reads and writes these with serde; the element with miniserde (`Mini…` derives),
//! whose non-generic code keeps the WASM small. miniserde knows only `rename`, so the shapes stay
//! plain: an absent optional field is `null`, which serde reads as `None`.

use miniserde::{Deserialize as MiniDeserialize, Serialize as MiniSerialize};
use serde::{Deserialize, Serialize};

/// The OpenAPI schema of a closed set of words: a string enum of exactly the words serde writes
/// (utoipa's derive does not see a `rename` that arrives through a macro, and documented the
/// Rust variant names instead).
#[cfg(feature = "openapi")]
#[macro_export]
macro_rules! text_schema {
    ($name:ident, [$($text:expr),+], $doc:expr) => {
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                $crate::wire::word_schema(&[$($text),+], $doc)
            }
        }

        impl utoipa::ToSchema for $name {
            fn name() -> std::borrow::Cow<'static, str> {
                std::borrow::Cow::Borrowed(stringify!($name))
            }
        }
    };
}

#[cfg(feature = "openapi")]
pub fn word_schema(words: &[&str], doc: &str) -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    let doc = doc.trim();
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(words.iter().copied()))
        .description((!doc.is_empty()).then_some(doc))
        .into()
}

/// A closed set of words on the wire (`Variant => "word"`): serde and miniserde read and write
/// the word, anything else fails to parse. The server stores the same types.
macro_rules! wire_enum {
    ($(#[doc = $doc:literal])* pub enum $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[doc = $doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, MiniSerialize, MiniDeserialize)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $text)] $variant),+
        }

        #[cfg(feature = "openapi")]
        $crate::text_schema!($name, [$($text),+], concat!($($doc),*));

        impl $name {
            pub const ALL: &'static [Self] = &[$($name::$variant),+];
            /// Every word, in declaration order.
            pub const WORDS: &'static [&'static str] = &[$($text),+];

            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            pub fn parse(text: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|v| v.as_str() == text)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

wire_enum! {
    /// How a customer pays (a saved method is a card or ACH).
    pub enum MethodType {
        Card => "card",
        Ach => "ach",
        ApplePay => "apple_pay",
    }
}

wire_enum! {
    /// A hosted session as the element sees it (the server's state machine is
    /// `server::domain::session::SessionStatus`).
    pub enum SessionStatus {
        Active => "active",
        Processing => "processing",
        Completed => "completed",
        Expired => "expired",
    }
}

wire_enum! {
    /// Where the checkout runs: Govifi's hosted page, or embedded in the merchant's.
    pub enum Layout {
        Hosted => "hosted",
        Embedded => "embedded",
    }
}

wire_enum! {
    /// Whether the method may be saved: not at all, for the customer's next checkouts, or for
    /// charges without them (autopay).
    pub enum FutureUsage {
        Off => "off",
        OnSession => "on_session",
        OffSession => "off_session",
    }
}

wire_enum! {
    /// Billing details a session requires for address verification.
    pub enum AvsField {
        Cardholder => "cardholder",
        Zip => "zip",
        Address => "address",
    }
}

wire_enum! {
    /// How a confirm ended: paid, or (ACH) paid once the bank settles.
    pub enum ConfirmStatus {
        Succeeded => "succeeded",
        Processing => "processing",
    }
}

wire_enum! {
    pub enum AccountType {
        Checking => "checking",
        Savings => "savings",
    }
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, MiniDeserialize)]
#[serde(deny_unknown_fields)]
pub struct LineItem {
    pub name: String,
    pub quantity: i64,
    pub unit_amount: i64,
    pub sku: Option<String>,
    pub description: Option<String>,
}

/// How the merchant shows on the checkout.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, MiniDeserialize)]
pub struct MerchantView {
    pub display_name: Option<String>,
    pub logo_url: Option<String>,
    pub primary_color: Option<String>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, MiniDeserialize)]
pub struct ChallengeState {
    pub required: bool,
    pub satisfied: bool,
    /// Where the code goes, masked (`a***@example.com`).
    pub destination_hint: Option<String>,
}

/// A saved method as the checkout may show it: brand and last 4, never more.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, MiniDeserialize)]
pub struct SavedMethodView {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: MethodType,
    pub brand: Option<String>,
    pub last4: String,
    pub exp_month: Option<i64>,
    pub exp_year: Option<i64>,
    pub bank_name: Option<String>,
    pub account_type: Option<String>,
}

/// `GET /v1/hosted-sessions/{id}/config`: the sanitized session.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, MiniDeserialize)]
pub struct SessionConfig {
    pub session_id: String,
    pub status: SessionStatus,
    pub amount: i64,
    pub currency: String,
    pub description: Option<String>,
    pub line_items: Vec<LineItem>,
    pub tax_amount: Option<i64>,
    pub shipping_amount: Option<i64>,
    pub merchant: MerchantView,
    pub allowed_methods: Vec<MethodType>,
    pub setup_future_usage: FutureUsage,
    pub required_avs_fields: Vec<AvsField>,
    pub locale: String,
    pub expires_at: String,
    /// Whole seconds left until `expires_at`, by the server's clock as it answered. The element
    /// counts from the answer's arrival, so a device clock set wrong neither ends the session
    /// early nor shifts the countdown.
    pub expires_in: i64,
    pub cancel_url: String,
    pub layout: Layout,
    pub challenge: ChallengeState,
    pub saved_payment_methods: Vec<SavedMethodView>,
}

/// `POST quote-fee` body.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, MiniSerialize)]
#[serde(deny_unknown_fields)]
pub struct QuoteRequest {
    pub payment_method_type: MethodType,
    /// 6 to 8 digits
    pub card_bin: Option<String>,
    pub saved_payment_method_id: Option<String>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, MiniDeserialize)]
pub struct FeeQuote {
    pub fee_quote_id: String,
    pub amount: i64,
    pub fee_amount: i64,
    pub total_amount: i64,
    pub currency: String,
    pub disclosure: String,
    pub expires_at: String,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, MiniDeserialize)]
pub struct ChallengeSent {
    pub destination_hint: String,
    pub expires_at: String,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, MiniSerialize)]
#[serde(deny_unknown_fields)]
pub struct ChallengeVerify {
    pub code: String,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, MiniDeserialize)]
pub struct ChallengeVerified {
    pub verified: bool,
}

/// `POST confirm` success.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, MiniDeserialize)]
pub struct ConfirmResult {
    pub status: ConfirmStatus,
    pub session_id: String,
    pub payment_id: String,
    pub amount: i64,
    pub fee_amount: i64,
    pub total_amount: i64,
    pub currency: String,
    pub redirect_url: String,
}

/// SPEC §2's error object, as the browser reads it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, MiniDeserialize)]
pub struct ErrorEnvelope {
    pub error: ErrorObject,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, MiniDeserialize)]
pub struct ErrorObject {
    #[serde(rename = "type")]
    pub kind: String,
    pub code: String,
    pub message: String,
    pub param: Option<String>,
    pub decline_code: Option<String>,
    pub attempts_remaining: Option<i64>,
    pub request_id: Option<String>,
}

/// `POST confirm`, as the element sends it (the server's parser checks it: one shape, two sides).
#[derive(Clone, PartialEq, MiniSerialize)]
pub struct ConfirmBody {
    pub fee_quote_id: String,
    pub payment_method: PaymentMethodBody,
    pub save_payment_method: bool,
}

/// `{"type": "card", "card": {…}, "billing": {…}}` and so on (serialized by hand below: miniserde
/// derives only unit variants).
#[derive(Clone, PartialEq)]
pub enum PaymentMethodBody {
    Card { card: CardBody, billing: BillingBody },
    Ach { ach: AchBody },
    ApplePay { apple_pay: TokenBody },
    Saved { saved: SavedBody },
}

#[derive(Clone, PartialEq, MiniSerialize)]
pub struct CardBody {
    pub number: String,
    pub exp_month: u32,
    pub exp_year: u32,
    /// Saving a card to a wallet does not need it.
    pub cvc: Option<String>,
}

#[derive(Clone, Default, PartialEq, MiniSerialize)]
pub struct BillingBody {
    pub cardholder_name: Option<String>,
    pub postal_code: Option<String>,
    pub address_line1: Option<String>,
}

#[derive(Clone, PartialEq, MiniSerialize)]
pub struct AchBody {
    pub routing_number: String,
    pub account_number: String,
    pub account_type: AccountType,
    pub account_holder_name: String,
}

#[derive(Clone, PartialEq, MiniSerialize)]
pub struct TokenBody {
    pub token: String,
}

#[derive(Clone, PartialEq, MiniSerialize)]
pub struct SavedBody {
    pub payment_method_id: String,
}

/// `POST /v1/wallet-sessions/{id}/payment-methods`
#[derive(Clone, PartialEq, MiniSerialize)]
pub struct WalletAddBody {
    pub payment_method: PaymentMethodBody,
}

/// `GET /v1/wallet-sessions/{id}/config`: what the element shows in wallet mode.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, MiniDeserialize)]
pub struct WalletConfig {
    pub wallet_session_id: String,
    pub merchant: MerchantView,
    /// Masked (`a***@example.com`).
    pub customer_email_hint: Option<String>,
    pub locale: String,
    pub return_url: String,
    pub expires_at: String,
    /// Methods that can be saved: card and/or ach, as the account enables them.
    pub methods: Vec<MethodType>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, MiniDeserialize)]
pub struct ValueList<T> {
    pub value: Vec<T>,
}

impl MiniSerialize for PaymentMethodBody {
    fn begin(&self) -> miniserde::ser::Fragment<'_> {
        let entries: Vec<(&'static str, &dyn MiniSerialize)> = match self {
            PaymentMethodBody::Card { card, billing } => vec![("type", &"card"), ("card", card), ("billing", billing)],
            PaymentMethodBody::Ach { ach } => vec![("type", &"ach"), ("ach", ach)],
            PaymentMethodBody::ApplePay { apple_pay } => vec![("type", &"apple_pay"), ("apple_pay", apple_pay)],
            PaymentMethodBody::Saved { saved } => vec![("type", &"saved"), ("saved", saved)],
        };
        miniserde::ser::Fragment::Map(Box::new(Entries(entries.into_iter())))
    }
}

struct Entries<'a>(std::vec::IntoIter<(&'static str, &'a dyn MiniSerialize)>);

impl miniserde::ser::Map for Entries<'_> {
    fn next(&mut self) -> Option<(std::borrow::Cow<'_, str>, &dyn MiniSerialize)> {
        self.0.next().map(|(k, v)| (std::borrow::Cow::Borrowed(k), v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The element's miniserde computes its powers of ten (vendor/miniserde/PATCHED.md): within
    /// ±22 it must give the bits upstream gives (one exact multiply or divide, as `str::parse`
    /// rounds it), beyond that a value within a unit or two in the last place.
    #[test]
    fn floats_parse_as_upstream() {
        for text in ["0", "-0.5", "2.5", "0.1", "19.99", "1e22", "-4.2e-22", "123.456e-7", "9007199254740991e-22"] {
            let parsed: f64 = miniserde::json::from_str(text).unwrap_or_else(|_| panic!("{text}"));
            assert_eq!(parsed.to_bits(), text.parse::<f64>().unwrap().to_bits(), "{text}");
        }
        for text in ["1e23", "3.14e100", "1e308", "1.7976931348623157e308", "2.5e-200"] {
            let (parsed, exact): (f64, f64) = (miniserde::json::from_str(text).unwrap(), text.parse().unwrap());
            assert!(((parsed - exact) / exact).abs() <= 2.0 * f64::EPSILON, "{text}: {parsed} vs {exact}");
        }
        assert!(miniserde::json::from_str::<f64>("1e309").is_err(), "out of range, as upstream");
        // An unknown field with a fraction does not break an answer the element reads.
        let quote: FeeQuote = miniserde::json::from_str(
            r#"{"fee_quote_id":"fq_1","amount":1000,"fee_amount":30,"total_amount":1030,"currency":"USD","disclosure":"","expires_at":"x","rate":2.75}"#,
        )
        .expect("an unknown float is ignored");
        assert_eq!(quote.total_amount, 1030);
    }
}
