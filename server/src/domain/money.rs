//! Money: integer minor units with their currency. Never floating point.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The largest amount accepted anywhere (minor units): keeps every sum far from overflow.
pub const MAX_AMOUNT: i64 = 99_999_999_999;

/// A non-negative amount in minor units (`14227` is $142.27 in USD).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize, ToSchema)]
#[serde(try_from = "i64", into = "i64")]
#[schema(value_type = i64)]
pub struct Amount(i64);

impl Amount {
    pub const ZERO: Amount = Amount(0);
    /// The largest amount there is.
    pub const MAX: Amount = Amount(MAX_AMOUNT);

    pub fn new(minor: i64) -> Option<Self> {
        (0..=MAX_AMOUNT).contains(&minor).then_some(Amount(minor))
    }

    pub fn minor(self) -> i64 {
        self.0
    }

    pub fn is_zero(self) -> bool {
        self.0 == 0
    }

    pub fn checked_add(self, other: Amount) -> Option<Amount> {
        self.0.checked_add(other.0).and_then(Amount::new)
    }

    pub fn checked_sub(self, other: Amount) -> Option<Amount> {
        self.0.checked_sub(other.0).and_then(Amount::new)
    }

    pub fn checked_mul(self, n: i64) -> Option<Amount> {
        self.0.checked_mul(n).and_then(Amount::new)
    }
}

impl TryFrom<i64> for Amount {
    type Error = String;

    fn try_from(minor: i64) -> Result<Self, Self::Error> {
        Amount::new(minor).ok_or_else(|| format!("must be an integer from 0 to {MAX_AMOUNT} (minor units)"))
    }
}

impl From<Amount> for i64 {
    fn from(a: Amount) -> i64 {
        a.0
    }
}

/// An amount a client asks to capture or refund: any whole number of minor units from 0 up. One
/// past [`MAX_AMOUNT`] is more than any payment holds, so it is `amount_too_large` (SPEC §11),
/// not a malformed number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "u64")]
pub enum Requested {
    Within(Amount),
    PastMax,
}

impl TryFrom<u64> for Requested {
    type Error = String;

    fn try_from(minor: u64) -> Result<Self, Self::Error> {
        Ok(i64::try_from(minor).ok().and_then(Amount::new).map_or(Requested::PastMax, Requested::Within))
    }
}

/// An ISO 4217 code, upper case (`USD`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(try_from = "String", into = "String")]
#[schema(value_type = String, example = "USD")]
pub struct Currency(String);

impl Currency {
    pub fn parse(code: &str) -> Option<Self> {
        app::money::currency_exponent(code).map(|_| Currency(code.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn exponent(&self) -> u8 {
        app::money::currency_exponent(&self.0).unwrap_or(2)
    }

    /// US dollars: the one currency an ACH debit moves.
    pub fn is_usd(&self) -> bool {
        self.0 == "USD"
    }
}

impl TryFrom<String> for Currency {
    type Error = String;

    fn try_from(code: String) -> Result<Self, Self::Error> {
        Currency::parse(&code).ok_or_else(|| "must be an upper-case ISO 4217 currency code".to_owned())
    }
}

impl From<Currency> for String {
    fn from(c: Currency) -> String {
        c.0
    }
}

impl std::fmt::Display for Currency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_bounded_integers() {
        assert_eq!(Amount::new(14227).unwrap().minor(), 14227);
        assert!(Amount::new(-1).is_none());
        assert!(Amount::new(MAX_AMOUNT + 1).is_none());
        assert!(Amount::new(MAX_AMOUNT).unwrap().checked_add(Amount::new(1).unwrap()).is_none());
        assert_eq!(Amount::new(5).unwrap().checked_sub(Amount::new(6).unwrap()), None);
        assert!(serde_json::from_str::<Amount>("12.5").is_err(), "no fractions of a minor unit");
        assert!(serde_json::from_str::<Amount>("-3").is_err());
    }

    #[test]
    fn a_requested_amount_past_the_largest_is_told_apart() {
        assert_eq!(serde_json::from_str::<Requested>("500").unwrap(), Requested::Within(Amount::new(500).unwrap()));
        assert_eq!(serde_json::from_str::<Requested>("100000000000").unwrap(), Requested::PastMax);
        assert_eq!(serde_json::from_str::<Requested>("18446744073709551615").unwrap(), Requested::PastMax);
        assert!(serde_json::from_str::<Requested>("-1").is_err());
        assert!(serde_json::from_str::<Requested>("1.5").is_err());
    }

    #[test]
    fn currencies_are_upper_case_iso_codes() {
        assert_eq!(Currency::parse("USD").unwrap().exponent(), 2);
        assert_eq!(Currency::parse("JPY").unwrap().exponent(), 0);
        assert!(Currency::parse("usd").is_none());
        assert!(serde_json::from_str::<Currency>("\"ABC\"").is_err());
    }
}
