//! The sandbox processor: deterministic, like an acquirer in test mode (SPEC §9).
//!
//! It keeps its own records (tokens now; authorizations with the checkout) in `sandbox_*`
//! tables, as an external acquirer would on its side. It never stores a card number: a token
//! remembers only the test behaviour and what may be shown.

use super::{AuthorizeRequest, Charge, Instrument, Outcome, Processor, ProcessorError, Settlement, Tokenized};
use crate::domain::account::Funding;
use crate::domain::card::Card;
use crate::domain::ids::{ordered_base62, random_base62};
use crate::domain::money::Amount;
use crate::store::sandbox::{self as store, Moved, Movement};
use crate::store::{Db, now_ms, to_json_text};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// What a test instrument does when charged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Behaviour {
    Approve,
    Decline {
        code: String,
    },
    /// A processing error the customer may retry.
    ProcessingError,
    /// Approved, but the ZIP check fails.
    AvsZipMismatch,
    /// Needs a customer challenge before it is approved.
    StepUp,
    /// ACH: accepted now, settles later.
    AchSettles,
    /// ACH: accepted now, returned later with this code (R01, R02, R03).
    AchReturns {
        code: String,
        return_code: String,
    },
}

/// The test cards of SPEC §9 (others that pass the checks are approved).
pub fn card_behaviour(number: &str) -> Behaviour {
    let decline = |code: &str| Behaviour::Decline { code: code.to_owned() };
    match number {
        "4000000000000002" => decline("generic_decline"),
        "4000000000009995" => decline("insufficient_funds"),
        "4000000000000127" => decline("incorrect_cvc"),
        "4000000000000069" => decline("expired_card"),
        "4000000000000119" => Behaviour::ProcessingError,
        "4000000000000036" => Behaviour::AvsZipMismatch,
        "4000002760003184" => Behaviour::StepUp,
        _ => Behaviour::Approve,
    }
}

/// The sandbox's BIN table: funding by the leading digits; credit where it does not know.
pub fn funding_of(bin: &str) -> Funding {
    const TABLE: &[(&str, Funding)] = &[
        ("400005", Funding::Debit),   // 4000 0566 5566 5556 (Visa debit)
        ("520082", Funding::Debit),   // 5200 8282 8282 8210 (Mastercard debit)
        ("510510", Funding::Prepaid), // 5105 1051 0510 5100 (Mastercard prepaid)
    ];
    TABLE.iter().find(|(prefix, _)| bin.starts_with(prefix)).map_or(Funding::Credit, |(_, f)| *f)
}

/// The test bank accounts of SPEC §9 (routing 110000000).
pub fn ach_behaviour(routing: &str, account: &str) -> Behaviour {
    let returns = |code: &str, r: &str| Behaviour::AchReturns { code: code.to_owned(), return_code: r.to_owned() };
    match (routing, account) {
        (_, "000111111116") => returns("no_account", "R03"),
        (_, "000111111113") => returns("account_closed", "R02"),
        (_, "000222222227") => returns("insufficient_funds", "R01"),
        _ => Behaviour::AchSettles,
    }
}

pub fn bank_name(routing: &str) -> Option<&'static str> {
    match routing {
        "110000000" => Some("Govifi Sandbox Bank"),
        "021000021" => Some("JPMorgan Chase"),
        "011000015" => Some("Federal Reserve Bank of Boston"),
        _ => None,
    }
}

/// Apple Pay test tokens.
pub fn apple_pay_behaviour(token: &str) -> Option<(Behaviour, Tokenized)> {
    let details = |last4: &str| Tokenized {
        token: String::new(),
        brand: Some("visa".into()),
        last4: last4.into(),
        exp_month: Some(12),
        exp_year: Some(2030),
        funding: Some(Funding::Credit),
        bank_name: None,
        account_type: None,
    };
    match token {
        "tok_applepay_visa" => Some((Behaviour::Approve, details("4242"))),
        "tok_applepay_decline" => Some((Behaviour::Decline { code: "generic_decline".into() }, details("0002"))),
        _ => None,
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredDetails {
    brand: Option<String>,
    last4: String,
    exp_month: Option<u32>,
    exp_year: Option<u32>,
    funding: Option<Funding>,
    bank_name: Option<String>,
    account_type: Option<String>,
}

/// How long an accepted ACH debit stays `processing` in the sandbox before it settles or returns.
pub const ACH_SETTLE_MS: i64 = 10_000;

pub struct Sandbox {
    db: Db,
}

fn unavailable(e: impl Into<anyhow::Error>) -> ProcessorError {
    ProcessorError::Unavailable(e.into())
}

impl Sandbox {
    pub fn new(db: Db) -> Self {
        Sandbox { db }
    }

    /// A capture, void or refund under the caller's reference. A reference seen before answers
    /// as the first time did, without moving money again.
    async fn movement(
        &self,
        movement: Movement,
        processor_ref: &str,
        amount: Amount,
        reference: &str,
        refusal: &'static str,
    ) -> Result<(), ProcessorError> {
        match store::move_charge(&self.db, movement, processor_ref, amount, reference).await.map_err(unavailable)? {
            Moved::Made | Moved::Seen => Ok(()),
            Moved::Refused => Err(ProcessorError::Refused(refusal)),
        }
    }

    fn card_details(card: &Card) -> Tokenized {
        Tokenized {
            token: String::new(),
            brand: Some(card.number.brand().as_str().to_owned()),
            last4: card.number.last4().to_owned(),
            exp_month: Some(card.exp_month),
            exp_year: Some(card.exp_year),
            funding: Some(funding_of(card.number.bin())),
            bank_name: None,
            account_type: None,
        }
    }

    /// What an instrument does, and how it shows.
    pub async fn resolve(&self, instrument: Instrument<'_>) -> Result<(Behaviour, Tokenized), ProcessorError> {
        match instrument {
            Instrument::Card(card) => Ok((card_behaviour(card.number.expose()), Self::card_details(card))),
            Instrument::Bank(bank) => Ok((
                ach_behaviour(&bank.routing_number, bank.account_number()),
                Tokenized {
                    token: String::new(),
                    brand: None,
                    last4: bank.last4().to_owned(),
                    exp_month: None,
                    exp_year: None,
                    funding: None,
                    bank_name: bank_name(&bank.routing_number).map(str::to_owned),
                    account_type: Some(bank.account_type.as_str().to_owned()),
                },
            )),
            Instrument::ApplePay { token } => {
                apple_pay_behaviour(token).ok_or(ProcessorError::Refused("unknown Apple Pay token"))
            }
            Instrument::Present(number) => Ok((
                card_behaviour(number.expose()),
                Tokenized {
                    token: String::new(),
                    brand: Some(number.brand().as_str().to_owned()),
                    last4: number.last4().to_owned(),
                    exp_month: None,
                    exp_year: None,
                    funding: Some(funding_of(number.bin())),
                    bank_name: None,
                    account_type: None,
                },
            )),
            Instrument::Saved { token } => {
                let (behaviour, details) = store::token(&self.db, token)
                    .await
                    .map_err(unavailable)?
                    .ok_or(ProcessorError::Refused("unknown token"))?;
                let behaviour: Behaviour = serde_json::from_str(&behaviour).map_err(unavailable)?;
                let d: StoredDetails = serde_json::from_str(&details).map_err(unavailable)?;
                Ok((
                    behaviour,
                    Tokenized {
                        token: token.to_owned(),
                        brand: d.brand,
                        last4: d.last4,
                        exp_month: d.exp_month,
                        exp_year: d.exp_year,
                        funding: d.funding,
                        bank_name: d.bank_name,
                        account_type: d.account_type,
                    },
                ))
            }
        }
    }
}

#[async_trait]
impl Processor for Sandbox {
    fn name(&self) -> &'static str {
        "sandbox"
    }

    async fn card_funding(&self, bin: &str) -> Funding {
        funding_of(bin)
    }

    async fn tokenize(&self, instrument: Instrument<'_>) -> Result<Tokenized, ProcessorError> {
        if let Instrument::Saved { .. } = instrument {
            return self.resolve(instrument).await.map(|(_, t)| t);
        }
        let (behaviour, mut details) = self.resolve(instrument).await?;
        details.token = format!("tok_sbx_{}", random_base62(24));
        let stored = StoredDetails {
            brand: details.brand.clone(),
            last4: details.last4.clone(),
            exp_month: details.exp_month,
            exp_year: details.exp_year,
            funding: details.funding,
            bank_name: details.bank_name.clone(),
            account_type: details.account_type.clone(),
        };
        store::insert_token(&self.db, &details.token, &to_json_text(&behaviour), &to_json_text(&stored))
            .await
            .map_err(unavailable)?;
        Ok(details)
    }

    async fn authorize(&self, req: AuthorizeRequest<'_>) -> Result<Charge, ProcessorError> {
        let (behaviour, details) = self.resolve(req.instrument).await?;
        let processor_ref = format!("ch_sbx_{}", ordered_base62());
        let avs = match req.instrument {
            Instrument::Card(_) | Instrument::Saved { .. } if details.exp_month.is_some() => {
                Some(if req.billing.and_then(|b| b.postal_code.as_ref()).is_some() { "pass" } else { "unavailable" })
            }
            _ => None,
        };
        let approved = |avs: Option<&str>, pending: bool| Outcome::Approved {
            processor_ref: processor_ref.clone(),
            avs_result: avs.map(str::to_owned),
            pending,
            captured: req.capture && !pending,
        };
        let declined =
            |code: &str| Outcome::Declined { processor_ref: processor_ref.clone(), decline_code: code.to_owned() };
        let outcome = match &behaviour {
            Behaviour::Approve => approved(avs, false),
            Behaviour::Decline { code } => declined(code),
            Behaviour::ProcessingError => declined("processing_error"),
            Behaviour::AvsZipMismatch if req.reject_avs_mismatch => declined("incorrect_zip"),
            Behaviour::AvsZipMismatch => approved(Some("zip_mismatch"), false),
            Behaviour::StepUp if req.challenge_passed => approved(avs, false),
            Behaviour::StepUp => Outcome::ChallengeRequired,
            Behaviour::AchSettles | Behaviour::AchReturns { .. } => approved(None, true),
        };
        let mut charge = Charge { outcome, details };
        if req.save && matches!(charge.outcome, Outcome::Approved { .. }) {
            let token = match req.instrument {
                Instrument::Saved { token } => token.to_owned(),
                other => self.tokenize(other).await?.token,
            };
            charge.details.token = token;
        }
        let now = now_ms();
        let settle_at =
            matches!(behaviour, Behaviour::AchSettles | Behaviour::AchReturns { .. }).then_some(now + ACH_SETTLE_MS);
        // An ACH debit pulls the funds at once (it may come back later).
        let captured = match &charge.outcome {
            Outcome::Approved { captured: true, .. } | Outcome::Approved { pending: true, .. } => req.amount,
            _ => Amount::ZERO,
        };
        // Durable before the answer, as an acquirer's record is (on SQLite, in the writer's
        // group commit rather than a commit of its own).
        let record = store::NewCharge {
            reference: req.reference,
            processor_ref: &processor_ref,
            charge: to_json_text(&charge),
            behaviour: to_json_text(&behaviour),
            amount: req.amount,
            settle_at,
            captured,
        };
        if store::record_charge(&self.db, record).await.map_err(unavailable)? {
            return Ok(charge);
        }
        // An acquirer answers a reference it has seen with what it answered the first time.
        self.lookup(req.reference).await?.ok_or_else(|| unavailable(anyhow::anyhow!("charge vanished")))
    }

    async fn lookup(&self, reference: &str) -> Result<Option<Charge>, ProcessorError> {
        match store::charge_by_reference(&self.db, reference).await.map_err(unavailable)? {
            Some(text) => Ok(Some(serde_json::from_str(&text).map_err(unavailable)?)),
            None => Ok(None),
        }
    }

    async fn capture(&self, processor_ref: &str, amount: Amount, reference: &str) -> Result<(), ProcessorError> {
        // Only an approved charge is captured. Its outcome never changes once recorded, so
        // reading it first leaves no race.
        let (charge, _, _) = store::charge_by_ref(&self.db, processor_ref)
            .await
            .map_err(unavailable)?
            .ok_or(ProcessorError::Refused("unknown charge"))?;
        let charge: Charge = serde_json::from_str(&charge).map_err(unavailable)?;
        if !matches!(charge.outcome, Outcome::Approved { .. }) {
            return Err(ProcessorError::Refused("not capturable"));
        }
        self.movement(Movement::Capture, processor_ref, amount, reference, "not capturable").await
    }

    async fn void(&self, processor_ref: &str, reference: &str) -> Result<(), ProcessorError> {
        self.movement(Movement::Void, processor_ref, Amount::ZERO, reference, "not voidable").await
    }

    async fn refund(&self, processor_ref: &str, amount: Amount, reference: &str) -> Result<(), ProcessorError> {
        self.movement(Movement::Refund, processor_ref, amount, reference, "refund exceeds what is captured").await
    }

    async fn settlement(&self, processor_ref: &str, now: i64) -> Result<Settlement, ProcessorError> {
        let (_, behaviour, settle_at) = store::charge_by_ref(&self.db, processor_ref)
            .await
            .map_err(unavailable)?
            .ok_or(ProcessorError::Refused("unknown charge"))?;
        let behaviour: Behaviour = serde_json::from_str(&behaviour).map_err(unavailable)?;
        if settle_at.is_some_and(|t| now < t) {
            return Ok(Settlement::Pending);
        }
        Ok(match behaviour {
            Behaviour::AchReturns { code, return_code } => Settlement::Returned { code, return_code },
            _ => Settlement::Settled,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spec_cards_behave_as_listed() {
        assert_eq!(card_behaviour("4242424242424242"), Behaviour::Approve);
        assert_eq!(card_behaviour("4000000000009995"), Behaviour::Decline { code: "insufficient_funds".into() });
        assert_eq!(card_behaviour("4000000000000119"), Behaviour::ProcessingError);
        assert_eq!(card_behaviour("4000000000000036"), Behaviour::AvsZipMismatch);
        assert_eq!(card_behaviour("4000002760003184"), Behaviour::StepUp);
        assert_eq!(funding_of("400005"), Funding::Debit);
        assert_eq!(funding_of("424242"), Funding::Credit);
        assert_eq!(funding_of("510510"), Funding::Prepaid);
        assert!(
            matches!(ach_behaviour("110000000", "000111111116"), Behaviour::AchReturns { ref return_code, .. } if return_code == "R03")
        );
        assert_eq!(ach_behaviour("110000000", "000123456789"), Behaviour::AchSettles);
        assert!(apple_pay_behaviour("tok_applepay_visa").is_some());
        assert!(apple_pay_behaviour("tok_other").is_none());
    }
}
