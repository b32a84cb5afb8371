//! A payment method as a request carries it (SPEC §5): `{"type": "card", "card": {...}}`,
//! `ach`, `apple_pay` or `saved`, with optional billing details.

use serde::Deserialize;
use utoipa::ToSchema;

use super::card::{AchInput, CardInput};

/// Methods a customer may keep saved at once (the checkout and the wallet show them all).
pub const MAX_SAVED_METHODS: i64 = 100;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum PaymentMethodInput {
    Card {
        card: CardInput,
        #[serde(default)]
        billing: Option<Billing>,
    },
    Ach {
        ach: AchInput,
        #[serde(default)]
        billing: Option<Billing>,
    },
    ApplePay {
        apple_pay: ApplePayInput,
        #[serde(default)]
        billing: Option<Billing>,
    },
    Saved {
        saved: SavedInput,
    },
}

impl PaymentMethodInput {
    pub fn type_name(&self) -> &'static str {
        match self {
            PaymentMethodInput::Card { .. } => "card",
            PaymentMethodInput::Ach { .. } => "ach",
            PaymentMethodInput::ApplePay { .. } => "apple_pay",
            PaymentMethodInput::Saved { .. } => "saved",
        }
    }

    pub fn billing(&self) -> Option<&Billing> {
        match self {
            PaymentMethodInput::Card { billing, .. }
            | PaymentMethodInput::Ach { billing, .. }
            | PaymentMethodInput::ApplePay { billing, .. } => billing.as_ref(),
            PaymentMethodInput::Saved { .. } => None,
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApplePayInput {
    #[schema(example = "tok_applepay_visa")]
    pub token: String,
}

/// Never the payment token.
impl std::fmt::Debug for ApplePayInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApplePayInput").finish_non_exhaustive()
    }
}

impl ApplePayInput {
    /// The payment token, present and of a sane size.
    pub fn check(&self, param: &str) -> Result<String, crate::domain::error::ApiError> {
        let token = self.token.trim();
        if token.is_empty() || token.len() > 4096 {
            return Err(crate::domain::error::ApiError::invalid(param, "token is required"));
        }
        Ok(token.to_owned())
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SavedInput {
    pub payment_method_id: String,
}

/// Billing details used for address verification (AVS).
#[derive(Debug, Default, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Billing {
    #[serde(default)]
    pub cardholder_name: Option<String>,
    #[serde(default)]
    pub postal_code: Option<String>,
    #[serde(default)]
    pub address_line1: Option<String>,
    #[serde(default)]
    pub address_line2: Option<String>,
    #[serde(default)]
    pub city: Option<String>,
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub country: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::parse_json;

    #[test]
    fn shapes_of_the_spec_parse() {
        let card: PaymentMethodInput = parse_json(
            br#"{"type":"card","card":{"number":"4242424242424242","exp_month":12,"exp_year":2030,"cvc":"123"},
                 "billing":{"cardholder_name":"Alex Doe","postal_code":"94107"}}"#,
        )
        .unwrap();
        assert_eq!(card.type_name(), "card");
        assert_eq!(card.billing().unwrap().postal_code.as_deref(), Some("94107"));
        let ach: PaymentMethodInput = parse_json(
            br#"{"type":"ach","ach":{"routing_number":"110000000","account_number":"000123456789",
                 "account_type":"checking","account_holder_name":"Alex Doe"}}"#,
        )
        .unwrap();
        assert_eq!(ach.type_name(), "ach");
        let saved: PaymentMethodInput =
            parse_json(br#"{"type":"saved","saved":{"payment_method_id":"pm_1"}}"#).unwrap();
        assert_eq!(saved.type_name(), "saved");
    }

    #[test]
    fn unknown_properties_and_types_are_refused() {
        let err = parse_json::<PaymentMethodInput>(
            br#"{"type":"card","card":{"number":"4242","exp_month":1,"exp_year":2030,"pin":"1"}}"#,
        )
        .unwrap_err();
        assert_eq!(err.code(), "unknown_field");
        let err = parse_json::<PaymentMethodInput>(br#"{"type":"bitcoin"}"#).unwrap_err();
        assert_eq!(err.code(), "parameter_invalid");
        let err = parse_json::<PaymentMethodInput>(br#"{"type":"card"}"#).unwrap_err();
        assert_eq!(err.code(), "parameter_missing");
    }
}
