//! Hosted sessions: what a merchant may ask for (SPEC §4) and the rules it must satisfy.

use app::wire::LineItem;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::account::{Branding, MethodType, web_url};
use super::money::{Amount, Currency, MAX_AMOUNT};
use super::validate::{self, Metadata};
use crate::domain::error::{ApiError, ErrorCode};
use crate::text_enum;

pub const PLACEHOLDER: &str = "{CHECKOUT_SESSION_ID}";
pub const DEFAULT_EXPIRES_IN: i64 = 1800;

text_enum! {
    /// Where a hosted session stands. It moves only as [`SessionStatus::can_become`] says.
    pub enum SessionStatus {
        Active => "active",
        /// A confirm holds it (claimed, waiting for the processor).
        Processing => "processing",
        Completed => "completed",
        Expired => "expired",
    }
}

impl From<SessionStatus> for app::wire::SessionStatus {
    fn from(s: SessionStatus) -> Self {
        match s {
            SessionStatus::Active => Self::Active,
            SessionStatus::Processing => Self::Processing,
            SessionStatus::Completed => Self::Completed,
            SessionStatus::Expired => Self::Expired,
        }
    }
}

impl SessionStatus {
    /// `active → processing → completed`, `processing → active` (a decline, or an attempt the
    /// processor never saw), `active → expired`.
    pub fn can_become(self, to: SessionStatus) -> bool {
        use SessionStatus::*;
        matches!((self, to), (Active, Processing | Expired) | (Processing, Completed | Active))
    }
}

text_enum! {
    /// What became of one confirm that claimed a session.
    pub enum AttemptStatus {
        Processing => "processing",
        Succeeded => "succeeded",
        Declined => "declined",
        ChallengeRequired => "challenge_required",
        /// The processor never saw it (a crash before the call): nothing was charged.
        Abandoned => "abandoned",
    }
}

// The words the element reads too: one definition, in `app::wire`.
pub use app::wire::{AvsField, FutureUsage, Layout};

text_enum! {
    /// The checkout's language (SPEC §4: `en` by default, or `es`).
    pub enum Locale {
        En => "en",
        Es => "es",
    }
}

impl Locale {
    pub fn is_spanish(self) -> bool {
        self == Locale::Es
    }
}

text_enum! {
    pub enum RiskLevel {
        Low => "low",
        Elevated => "elevated",
        High => "high",
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FraudSignals {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_ip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub risk_level: Option<RiskLevel>,
}

/// `POST /v1/hosted-sessions`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSession {
    /// Minor units; may be omitted with `line_items`. Never includes fees.
    #[serde(default)]
    pub amount: Option<Amount>,
    pub currency: Currency,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub reference: Option<String>,
    #[serde(default)]
    pub line_items: Option<Vec<LineItem>>,
    #[serde(default)]
    pub tax_amount: Option<Amount>,
    #[serde(default)]
    pub shipping_amount: Option<Amount>,
    #[serde(default)]
    pub customer_id: Option<String>,
    #[serde(default)]
    pub customer_email: Option<String>,
    pub success_url: String,
    pub cancel_url: String,
    #[serde(default)]
    pub layout: Option<Layout>,
    #[serde(default)]
    pub allowed_methods: Option<Vec<MethodType>>,
    #[serde(default)]
    pub setup_future_usage: Option<FutureUsage>,
    #[serde(default)]
    pub expires_in_seconds: Option<i64>,
    #[serde(default)]
    pub required_avs_fields: Option<Vec<AvsField>>,
    #[serde(default)]
    pub locale: Option<String>,
    #[serde(default)]
    pub branding: Option<Branding>,
    #[serde(default)]
    pub fraud_signals: Option<FraudSignals>,
    #[serde(default)]
    pub metadata: Option<Metadata>,
}

/// `PATCH /v1/hosted-sessions/{id}`: only these, only while active.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateSession {
    #[serde(default)]
    pub amount: Option<Amount>,
    #[serde(default, deserialize_with = "validate::nullable")]
    #[schema(value_type = Option<Vec<LineItem>>)]
    pub line_items: Option<Option<Vec<LineItem>>>,
    #[serde(default, deserialize_with = "validate::nullable")]
    #[schema(value_type = Option<i64>)]
    pub tax_amount: Option<Option<Amount>>,
    #[serde(default, deserialize_with = "validate::nullable")]
    #[schema(value_type = Option<i64>)]
    pub shipping_amount: Option<Option<Amount>>,
    #[serde(default, deserialize_with = "validate::nullable")]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
    #[serde(default)]
    pub metadata: Option<Metadata>,
}

pub fn check_locale(locale: &str) -> Result<Locale, ApiError> {
    Locale::parse(locale).ok_or_else(|| {
        let all: Vec<&str> = Locale::ALL.iter().map(|l| l.as_str()).collect();
        ApiError::invalid("locale", format!("locale must be one of {}", all.join(", ")))
    })
}

/// A success or cancel URL: absolute, https (http for localhost or in sandbox mode); the
/// placeholder is allowed anywhere.
pub fn check_return_url(param: &str, url: &str, sandbox: bool) -> Result<(), ApiError> {
    let probe = url.replace(PLACEHOLDER, "cs_placeholder");
    web_url(&probe, sandbox).map(|_| ()).map_err(|m| ApiError::invalid(param, format!("{param} {m}")))
}

/// Checks line items and works out the amount: with line items it must equal their sum plus
/// tax and shipping (`amount_mismatch` otherwise) and may be omitted.
pub fn settle_amount(
    amount: Option<Amount>,
    line_items: Option<&[LineItem]>,
    tax: Option<Amount>,
    shipping: Option<Amount>,
) -> Result<Amount, ApiError> {
    let extras = tax.map_or(0, Amount::minor) as i128 + shipping.map_or(0, Amount::minor) as i128;
    let amount = match line_items {
        Some(items) => {
            if items.is_empty() || items.len() > 100 {
                return Err(ApiError::invalid("line_items", "line_items holds 1 to 100 items"));
            }
            let mut sum: i128 = extras;
            for (i, item) in items.iter().enumerate() {
                validate::text(&format!("line_items[{i}].name"), &item.name, 200)?;
                if item.quantity < 1 || item.quantity > 100_000 {
                    return Err(ApiError::invalid(format!("line_items[{i}].quantity"), "quantity must be 1 or more"));
                }
                if item.unit_amount < 0 || item.unit_amount > MAX_AMOUNT {
                    return Err(ApiError::invalid(
                        format!("line_items[{i}].unit_amount"),
                        "unit_amount must be 0 or more",
                    ));
                }
                if let Some(sku) = &item.sku {
                    validate::text(&format!("line_items[{i}].sku"), sku, 100)?;
                }
                if let Some(d) = &item.description {
                    validate::text(&format!("line_items[{i}].description"), d, 500)?;
                }
                sum += item.quantity as i128 * item.unit_amount as i128;
            }
            if sum > MAX_AMOUNT as i128 {
                return Err(ApiError::invalid("line_items", "the line items add up to more than the largest amount"));
            }
            let sum = Amount::new(sum as i64).expect("bounded above");
            match amount {
                Some(a) if a != sum => {
                    return Err(ApiError::new(
                        ErrorCode::AmountMismatch,
                        format!(
                            "amount {} does not equal the line items plus tax and shipping ({})",
                            a.minor(),
                            sum.minor()
                        ),
                    )
                    .with_param("amount"));
                }
                _ => sum,
            }
        }
        None => {
            let amount = amount.ok_or_else(|| ApiError::missing("amount"))?;
            if amount.minor() as i128 + extras > MAX_AMOUNT as i128 {
                return Err(ApiError::invalid("amount", "amount plus tax and shipping is too large"));
            }
            amount
        }
    };
    if amount.is_zero() {
        return Err(ApiError::invalid("amount", "amount must be a positive integer"));
    }
    Ok(amount)
}

/// `a***@example.com`
pub fn mask_email(email: &str) -> String {
    match email.split_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}***@{domain}")
        }
        None => "***".into(),
    }
}

/// The cancel URL as the customer follows it: the placeholder replaced by the session's id
/// (SPEC §4), wherever it is shown (the element's config, the server's expired page).
pub fn customer_cancel_url(cancel_url: &str, session_id: &str) -> String {
    cancel_url.replace(PLACEHOLDER, session_id)
}

/// Replaces the placeholder and appends the signed parameters (SPEC §4).
pub fn signed_success_url(success_url: &str, session_id: &str, payment_id: &str, ts: i64, secret: &str) -> String {
    let base = success_url.replace(PLACEHOLDER, session_id);
    let sig = redirect_signature(secret, ts, session_id, payment_id);
    let (without_fragment, fragment) = match base.split_once('#') {
        Some((b, f)) => (b.to_owned(), Some(f.to_owned())),
        None => (base, None),
    };
    let separator = if without_fragment.contains('?') { '&' } else { '?' };
    let mut url = format!(
        "{without_fragment}{separator}govifi_session_id={session_id}&govifi_payment_id={payment_id}&govifi_ts={ts}&govifi_sig={sig}"
    );
    if let Some(f) = fragment {
        url.push('#');
        url.push_str(&f);
    }
    url
}

/// Lowercase hex HMAC-SHA256 of `"{ts}.{session_id}.{payment_id}"` keyed by the secret's bytes.
pub fn redirect_signature(secret: &str, ts: i64, session_id: &str, payment_id: &str) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(format!("{ts}.{session_id}.{payment_id}").as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(qty: i64, unit: i64) -> LineItem {
        LineItem { name: "Water".into(), quantity: qty, unit_amount: unit, sku: None, description: None }
    }

    fn a(n: i64) -> Amount {
        Amount::new(n).unwrap()
    }

    #[test]
    fn amounts_follow_line_items_tax_and_shipping() {
        let items = [item(2, 5000), item(1, 3227)];
        assert_eq!(settle_amount(None, Some(&items), Some(a(500)), Some(a(500))).unwrap(), a(14227));
        assert_eq!(settle_amount(Some(a(14227)), Some(&items), Some(a(500)), Some(a(500))).unwrap(), a(14227));
        assert_eq!(
            settle_amount(Some(a(14226)), Some(&items), Some(a(500)), Some(a(500))).unwrap_err().code(),
            "amount_mismatch"
        );
        assert_eq!(settle_amount(None, None, None, None).unwrap_err().code(), "parameter_missing");
        assert_eq!(settle_amount(Some(a(0)), None, None, None).unwrap_err().code(), "parameter_invalid");
        assert_eq!(settle_amount(None, Some(&[item(0, 5)]), None, None).unwrap_err().code(), "parameter_invalid");
        assert_eq!(
            settle_amount(None, Some(&[item(1, 0)]), None, None).unwrap_err().code(),
            "parameter_invalid",
            "a zero total"
        );
    }

    #[test]
    fn signed_redirects_verify_and_keep_the_merchants_query() {
        let url = signed_success_url(
            "https://shop.example/receipt?session_id={CHECKOUT_SESSION_ID}",
            "cs_1",
            "pay_1",
            1781202600,
            "grs_k",
        );
        assert!(url.starts_with("https://shop.example/receipt?session_id=cs_1&govifi_session_id=cs_1&govifi_payment_id=pay_1&govifi_ts=1781202600&govifi_sig="), "{url}");
        let sig = url.rsplit("govifi_sig=").next().unwrap();
        assert_eq!(sig, redirect_signature("grs_k", 1781202600, "cs_1", "pay_1"));
        assert_eq!(sig.len(), 64);
        assert!(sig.chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        let plain = signed_success_url("https://shop.example/done#top", "cs_1", "pay_1", 1, "k");
        assert!(
            plain.starts_with("https://shop.example/done?govifi_session_id=cs_1") && plain.ends_with("#top"),
            "{plain}"
        );
    }

    #[test]
    fn return_urls_and_masks() {
        assert!(check_return_url("success_url", "https://x.example/r?s={CHECKOUT_SESSION_ID}", false).is_ok());
        assert!(check_return_url("success_url", "http://x.example/r", false).is_err());
        assert!(check_return_url("success_url", "http://localhost:3000/r", false).is_ok());
        assert!(check_return_url("success_url", "/relative", true).is_err());
        assert_eq!(mask_email("alex@example.com"), "a***@example.com");
        assert!(check_locale("es").is_ok() && check_locale("fr").is_err());
    }
}
