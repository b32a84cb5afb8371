//! Payment-method details as they arrive, checked before anything else sees them.
//!
//! A card number lives only in [`CardNumber`], whose `Debug` shows the BIN and last four and
//! which has no `Display` and no `Serialize`: it cannot reach a log line or a response by accident.

use app::card::{self, Brand};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::domain::error::{ApiError, ErrorCode};

/// A syntactically valid card number (digits, a length its brand uses, Luhn).
#[derive(Clone, PartialEq, Eq)]
pub struct CardNumber(String);

impl CardNumber {
    pub fn parse(input: &str) -> Result<Self, ApiError> {
        let digits = card::digits_only(input.trim()).filter(|d| card::card_number_valid(d));
        digits.map(CardNumber).ok_or_else(|| card_error(ErrorCode::IncorrectNumber, "The card number is not valid"))
    }

    pub fn brand(&self) -> Brand {
        card::brand_of(&self.0)
    }

    /// The first six digits (the issuer identification number).
    pub fn bin(&self) -> &str {
        &self.0[..6]
    }

    /// The first eight digits, for BIN tables that know longer ranges.
    pub fn bin8(&self) -> &str {
        &self.0[..8.min(self.0.len())]
    }

    pub fn last4(&self) -> &str {
        &self.0[self.0.len() - 4..]
    }

    /// The full number, for the processor call and the fingerprint only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for CardNumber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CardNumber({}…{})", self.bin(), self.last4())
    }
}

/// A card's security code; its `Debug` shows nothing.
#[derive(Clone, PartialEq, Eq)]
pub struct Cvc(String);

impl Cvc {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Cvc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Cvc(***)")
    }
}

/// A 402 `card_error` raised before any processor call.
pub fn card_error(code: ErrorCode, message: &str) -> ApiError {
    debug_assert_eq!(code.kind(), crate::domain::error::ErrorType::CardError);
    ApiError::new(code, message)
}

/// 402 `card_declined` with the processor's reason.
pub fn decline(code: &str) -> ApiError {
    let message = match code {
        "insufficient_funds" => "The card has insufficient funds",
        "incorrect_cvc" => "The card's security code is incorrect",
        "expired_card" => "The card has expired",
        "processing_error" => "An error occurred while processing the card; try again",
        "incorrect_zip" => "The card's postal code did not match",
        "no_account" | "account_closed" => "The bank account cannot be debited",
        _ => "The payment was declined",
    };
    card_error(ErrorCode::CardDeclined, message).with_extra("decline_code", code)
}

/// A card as sent by the browser or a merchant (SPEC §5): parsed into [`Card`] by [`CardInput::check`].
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CardInput {
    #[schema(example = "4242424242424242")]
    pub number: String,
    pub exp_month: u32,
    pub exp_year: u32,
    #[serde(default)]
    pub cvc: Option<String>,
}

impl std::fmt::Debug for CardInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CardInput")
            .field("exp_month", &self.exp_month)
            .field("exp_year", &self.exp_year)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone)]
pub struct Card {
    pub number: CardNumber,
    pub exp_month: u32,
    /// Four digits.
    pub exp_year: u32,
    pub cvc: Option<Cvc>,
}

impl CardInput {
    /// Number (Luhn, length), expiry (a real month, not past), CVC (length by brand): 402s.
    /// `now` is (year, month).
    pub fn check(&self, now: (u32, u32), cvc_required: bool) -> Result<Card, ApiError> {
        let number = CardNumber::parse(&self.number)?;
        if !card::expiry_valid(self.exp_month, self.exp_year, now) {
            return Err(card_error(ErrorCode::InvalidExpiry, "The expiry date is not valid or has passed"));
        }
        let exp_year = if self.exp_year < 100 { 2000 + self.exp_year } else { self.exp_year };
        let cvc = match self.cvc.as_deref().map(str::trim) {
            Some(c) if card::cvc_valid(c, number.brand()) => Some(Cvc(c.to_owned())),
            Some(_) => return Err(card_error(ErrorCode::InvalidCvc, "The security code is not valid for this card")),
            None if cvc_required => return Err(card_error(ErrorCode::InvalidCvc, "The security code is required")),
            None => None,
        };
        Ok(Card { number, exp_month: self.exp_month, exp_year, cvc })
    }
}

/// A US bank account for ACH debits.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AchInput {
    #[schema(example = "110000000")]
    pub routing_number: String,
    #[schema(example = "000123456789")]
    pub account_number: String,
    pub account_type: AccountType,
    pub account_holder_name: String,
}

impl std::fmt::Debug for AchInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AchInput").field("account_type", &self.account_type).finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AccountType {
    Checking,
    Savings,
}

impl AccountType {
    pub fn as_str(self) -> &'static str {
        match self {
            AccountType::Checking => "checking",
            AccountType::Savings => "savings",
        }
    }
}

/// A checked bank account. Its `Debug` shows the routing number and last four only.
#[derive(Clone)]
pub struct BankAccount {
    pub routing_number: String,
    account_number: String,
    pub account_type: AccountType,
    pub holder_name: String,
}

impl std::fmt::Debug for BankAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BankAccount({} …{} {:?})", self.routing_number, self.last4(), self.account_type)
    }
}

impl BankAccount {
    pub fn last4(&self) -> &str {
        &self.account_number[self.account_number.len() - 4..]
    }

    pub fn account_number(&self) -> &str {
        &self.account_number
    }
}

impl AchInput {
    /// The ABA checksum (400 `invalid_routing_number`) and a plausible account number.
    pub fn check(&self, param_prefix: &str) -> Result<BankAccount, ApiError> {
        let routing = self.routing_number.trim();
        if !card::routing_number_valid(routing) {
            return Err(ApiError::new(ErrorCode::InvalidRoutingNumber, "The routing number is not valid")
                .with_param(format!("{param_prefix}.routing_number")));
        }
        let account = self.account_number.trim();
        if !card::account_number_valid(account) {
            return Err(ApiError::invalid(
                format!("{param_prefix}.account_number"),
                "The account number must be 4 to 17 digits",
            ));
        }
        let holder = self.account_holder_name.trim();
        if holder.is_empty() || holder.chars().count() > 100 {
            return Err(ApiError::invalid(
                format!("{param_prefix}.account_holder_name"),
                "account_holder_name must be 1 to 100 characters",
            ));
        }
        Ok(BankAccount {
            routing_number: routing.to_owned(),
            account_number: account.to_owned(),
            account_type: self.account_type,
            holder_name: holder.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_whole_number_or_the_cvc() {
        let input =
            CardInput { number: "4242 4242 4242 4242".into(), exp_month: 12, exp_year: 2030, cvc: Some("123".into()) };
        let card = input.check((2026, 11), true).unwrap();
        let shown = format!("{card:?} {input:?}");
        assert!(shown.contains("424242…4242"), "{shown}");
        assert!(!shown.contains("4242424242424242") && !shown.contains("4242 4242 4242 4242"), "{shown}");
        assert!(!shown.contains("123"), "{shown}");
    }

    #[test]
    fn card_checks_answer_the_spec_codes() {
        let check = |number: &str, m, y, cvc: Option<&str>| {
            CardInput { number: number.into(), exp_month: m, exp_year: y, cvc: cvc.map(str::to_owned) }
                .check((2026, 11), true)
                .map(|_| ())
                .map_err(|e| e.code().as_str())
        };
        assert_eq!(check("4242424242424242", 12, 2030, Some("123")), Ok(()));
        assert_eq!(check("4242424242424241", 12, 2030, Some("123")), Err("incorrect_number"));
        assert_eq!(check("4242", 12, 2030, Some("123")), Err("incorrect_number"));
        assert_eq!(check("4242424242424242", 13, 2030, Some("123")), Err("invalid_expiry"));
        assert_eq!(check("4242424242424242", 1, 2020, Some("123")), Err("invalid_expiry"));
        assert_eq!(check("4242424242424242", 12, 2030, Some("12")), Err("invalid_cvc"));
        assert_eq!(check("378282246310005", 12, 2030, Some("123")), Err("invalid_cvc"));
        assert_eq!(check("378282246310005", 12, 2030, Some("1234")), Ok(()));
        assert_eq!(check("4242424242424242", 12, 2030, None), Err("invalid_cvc"));
    }

    #[test]
    fn bank_accounts() {
        let ach = |routing: &str, account: &str| AchInput {
            routing_number: routing.into(),
            account_number: account.into(),
            account_type: AccountType::Checking,
            account_holder_name: "Alex Doe".into(),
        };
        let ok = ach("110000000", "000123456789").check("ach").unwrap();
        assert_eq!(ok.last4(), "6789");
        assert!(!format!("{ok:?}").contains("000123456789"));
        let err = ach("110000001", "000123456789").check("payment_method.ach").unwrap_err();
        assert_eq!(err.code(), "invalid_routing_number");
        assert_eq!(ach("110000000", "12").check("ach").unwrap_err().code(), "parameter_invalid");
    }
}
