//! A payment account's configuration: methods, fee rules, branding, origins, processor.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::money::Amount;
use crate::domain::error::ApiError;
use crate::text_enum;

/// How a customer pays: the element reads the same type (`app::wire`).
pub use app::wire::MethodType;

text_enum! {
    /// Which method a fee rule applies to.
    pub enum FeeMethod {
        Card => "card",
        Ach => "ach",
        ApplePay => "apple_pay",
        Any => "any",
    }
}

text_enum! {
    /// A card's funding source, as the BIN tells it.
    pub enum Funding {
        Credit => "credit",
        Debit => "debit",
        Prepaid => "prepaid",
        Any => "any",
    }
}

/// One fee rule; the first rule that matches a payment sets its fee (SPEC §7).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FeeRule {
    pub method: FeeMethod,
    /// Only for card rules (and `any`): which funding the rule applies to; absent means any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub card_funding: Option<Funding>,
    /// Percentage in basis points (250 = 2.5 %), 0 to 10000.
    #[serde(default)]
    pub percent_bps: i64,
    /// Fixed part in minor units.
    #[serde(default)]
    pub fixed_amount: Amount,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_fee: Option<Amount>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_fee: Option<Amount>,
}

/// Checks a list of fee rules, naming the first bad one (`fee_rules[2].percent_bps`).
pub fn validate_fee_rules(rules: &[FeeRule]) -> Result<(), ApiError> {
    if rules.len() > 50 {
        return Err(ApiError::invalid("fee_rules", "at most 50 fee rules"));
    }
    for (i, rule) in rules.iter().enumerate() {
        let at = |field: &str| format!("fee_rules[{i}].{field}");
        if !(0..=10_000).contains(&rule.percent_bps) {
            return Err(ApiError::invalid(at("percent_bps"), "percent_bps must be from 0 to 10000"));
        }
        if let (Some(min), Some(max)) = (rule.min_fee, rule.max_fee)
            && min > max
        {
            return Err(ApiError::invalid(at("min_fee"), "min_fee must not exceed max_fee"));
        }
        if rule.card_funding.is_some() && matches!(rule.method, FeeMethod::Ach | FeeMethod::ApplePay) {
            return Err(ApiError::invalid(at("card_funding"), "card_funding applies to card (or any) rules only"));
        }
    }
    Ok(())
}

/// How the checkout looks for this merchant.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Branding {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logo_url: Option<String>,
    /// `#RRGGBB`
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_color: Option<String>,
}

impl Branding {
    /// Validates each field; `prefix` names the object in errors (`branding`).
    pub fn validate(&self, prefix: &str, sandbox: bool) -> Result<(), ApiError> {
        // No control characters: the name goes into receipts' text and subjects, where a line
        // break would let it write lines of its own.
        if let Some(name) = &self.display_name
            && (name.trim().is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control))
        {
            return Err(ApiError::invalid(
                format!("{prefix}.display_name"),
                "display_name must be 1 to 100 characters, without control characters",
            ));
        }
        if let Some(logo) = &self.logo_url {
            web_url(logo, sandbox).map_err(|m| ApiError::invalid(format!("{prefix}.logo_url"), m))?;
        }
        if let Some(color) = &self.primary_color
            && !is_hex_color(color)
        {
            return Err(ApiError::invalid(format!("{prefix}.primary_color"), "primary_color must look like #1A73E8"));
        }
        Ok(())
    }

    /// This branding with `overrides` laid over it.
    pub fn overlaid(&self, overrides: &Branding) -> Branding {
        Branding {
            display_name: overrides.display_name.clone().or_else(|| self.display_name.clone()),
            logo_url: overrides.logo_url.clone().or_else(|| self.logo_url.clone()),
            primary_color: overrides.primary_color.clone().or_else(|| self.primary_color.clone()),
        }
    }
}

pub fn is_hex_color(s: &str) -> bool {
    s.len() == 7 && s.starts_with('#') && s[1..].bytes().all(|b| b.is_ascii_hexdigit())
}

/// Whether `url` may use plain http: on this machine, or anywhere in sandbox mode.
fn http_allowed(url: &url::Url, sandbox: bool) -> bool {
    sandbox || matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"))
}

/// An absolute web URL: https, or http for localhost (any host in sandbox mode).
pub fn web_url(s: &str, sandbox: bool) -> Result<url::Url, String> {
    let url = url::Url::parse(s).map_err(|_| format!("{s:?} is not an absolute URL"))?;
    match url.scheme() {
        "https" => {}
        "http" if http_allowed(&url, sandbox) => {}
        "http" => return Err("must use https (http is allowed for localhost or in sandbox mode)".into()),
        _ => return Err(format!("{s:?} must be an http(s) URL")),
    }
    if url.host_str().is_none_or(str::is_empty) || !url.username().is_empty() || url.password().is_some() {
        return Err(format!("{s:?} must name a host and no user"));
    }
    if s.len() > 2048 {
        return Err("must be at most 2048 characters".into());
    }
    Ok(url)
}

/// A web origin, normalised to `scheme://host[:port]` (what browsers send in `Origin`). Like
/// [`web_url`], http only for localhost or in sandbox mode: a page served over http can be
/// rewritten on its way, and an allowed origin may frame the checkout and call its API.
pub fn parse_origin(s: &str, sandbox: bool) -> Result<String, String> {
    let url = url::Url::parse(s).map_err(|_| format!("{s:?} is not an origin like https://shop.example"))?;
    if url.scheme() == "http" && !http_allowed(&url, sandbox) {
        return Err(format!("{s:?} must use https (http is allowed for localhost or in sandbox mode)"));
    }
    if !matches!(url.scheme(), "http" | "https")
        || url.host_str().is_none()
        || !(url.path() == "/" || url.path().is_empty())
        || url.query().is_some()
        || url.fragment().is_some()
        || !url.username().is_empty()
    {
        return Err(format!("{s:?} is not an origin like https://shop.example (no path, query or user)"));
    }
    Ok(url.origin().ascii_serialization())
}

/// The processor behind an account. Only the sandbox exists today; real connectors add variants.
/// Credentials, when given, are sealed under the master key and never shown again.
#[derive(Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ProcessorConfig {
    Sandbox {
        #[serde(default, skip_serializing)]
        #[schema(value_type = Option<Object>)]
        credentials: Option<serde_json::Map<String, serde_json::Value>>,
    },
}

/// The kind and whether credentials are set, never the credentials.
impl std::fmt::Debug for ProcessorConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProcessorConfig")
            .field("type", &self.kind())
            .field("credentials", &self.credentials().map(|_| "…"))
            .finish()
    }
}

impl ProcessorConfig {
    pub fn kind(&self) -> &'static str {
        match self {
            ProcessorConfig::Sandbox { .. } => "sandbox",
        }
    }

    pub fn credentials(&self) -> Option<&serde_json::Map<String, serde_json::Value>> {
        match self {
            ProcessorConfig::Sandbox { credentials } => credentials.as_ref(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_normalised_and_paths_refused() {
        assert_eq!(parse_origin("https://Shop.Example", false).unwrap(), "https://shop.example");
        assert_eq!(parse_origin("http://localhost:3000/", false).unwrap(), "http://localhost:3000");
        assert_eq!(parse_origin("https://shop.example:443", false).unwrap(), "https://shop.example");
        assert!(parse_origin("http://shop.example", false).is_err(), "http outside sandbox mode");
        assert_eq!(parse_origin("http://shop.example", true).unwrap(), "http://shop.example");
        assert!(parse_origin("https://shop.example/pay", true).is_err());
        assert!(parse_origin("ftp://shop.example", true).is_err());
        assert!(parse_origin("shop.example", true).is_err());
    }

    #[test]
    fn urls_need_https_outside_sandbox_and_localhost() {
        assert!(web_url("https://x.example/a?b=c", false).is_ok());
        assert!(web_url("http://x.example/", false).is_err());
        assert!(web_url("http://x.example/", true).is_ok());
        assert!(web_url("http://localhost:8080/ok", false).is_ok());
        assert!(web_url("javascript:alert(1)", true).is_err());
        assert!(web_url("https://user:pw@x.example/", true).is_err());
        assert!(web_url("/relative", true).is_err());
    }

    #[test]
    fn fee_rules_are_checked_with_their_index() {
        let ok = FeeRule {
            method: FeeMethod::Card,
            card_funding: Some(Funding::Debit),
            percent_bps: 250,
            fixed_amount: Amount::new(30).unwrap(),
            min_fee: Some(Amount::new(50).unwrap()),
            max_fee: Some(Amount::new(5000).unwrap()),
        };
        assert!(validate_fee_rules(std::slice::from_ref(&ok)).is_ok());
        let bad = FeeRule { percent_bps: 10_001, ..ok.clone() };
        let err = validate_fee_rules(&[ok.clone(), bad]).unwrap_err();
        assert!(matches!(&err, ApiError::Client(e) if e.param.as_deref() == Some("fee_rules[1].percent_bps")));
        let inverted = FeeRule { min_fee: Some(Amount::new(9).unwrap()), max_fee: Some(Amount::new(1).unwrap()), ..ok };
        assert!(validate_fee_rules(&[inverted]).is_err());
    }

    #[test]
    fn colours_and_branding() {
        assert!(is_hex_color("#1a73E8"));
        assert!(!is_hex_color("1a73e8") && !is_hex_color("#12345") && !is_hex_color("#12345g"));
        let base =
            Branding { display_name: Some("City".into()), logo_url: None, primary_color: Some("#000000".into()) };
        let over = Branding { primary_color: Some("#ffffff".into()), ..Default::default() };
        let merged = base.overlaid(&over);
        assert_eq!(merged.display_name.as_deref(), Some("City"));
        assert_eq!(merged.primary_color.as_deref(), Some("#ffffff"));
    }
}
