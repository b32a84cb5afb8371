//! Processors behind one trait. The built-in `sandbox` behaves like an acquirer in test mode
//! (SPEC §9); real connectors implement the same trait.

pub mod sandbox;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::domain::account::{Funding, MethodType};
use crate::domain::card::{BankAccount, Card, CardNumber};
use crate::domain::money::{Amount, Currency};
use crate::domain::payment::MethodDetails;
use crate::domain::payment_method::Billing;

/// What is being paid with, as the processor receives it.
#[derive(Debug, Clone, Copy)]
pub enum Instrument<'a> {
    Card(&'a Card),
    Bank(&'a BankAccount),
    ApplePay {
        token: &'a str,
    },
    /// A token this processor issued when the method was saved.
    Saved {
        token: &'a str,
    },
    /// A card presented at a terminal (read from the chip: no expiry or CVC typed).
    Present(&'a CardNumber),
}

/// An instrument after its checks, owned; the processor borrows it as an [`Instrument`].
pub enum Checked {
    Card(Card),
    Bank(BankAccount),
    ApplePay(String),
    /// The processor's token of a saved method.
    Saved {
        token: String,
    },
}

impl Checked {
    pub fn instrument(&self) -> Instrument<'_> {
        match self {
            Checked::Card(card) => Instrument::Card(card),
            Checked::Bank(bank) => Instrument::Bank(bank),
            Checked::ApplePay(token) => Instrument::ApplePay { token },
            Checked::Saved { token } => Instrument::Saved { token },
        }
    }
}

/// A tokenized instrument: the processor's token and what may be shown of it.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tokenized {
    pub token: String,
    pub brand: Option<String>,
    pub last4: String,
    pub exp_month: Option<u32>,
    pub exp_year: Option<u32>,
    pub funding: Option<Funding>,
    pub bank_name: Option<String>,
    pub account_type: Option<String>,
}

impl std::fmt::Debug for Tokenized {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The token charges the instrument: it is sealed at rest and never printed.
        f.debug_struct("Tokenized")
            .field("brand", &self.brand)
            .field("last4", &self.last4)
            .field("funding", &self.funding)
            .finish_non_exhaustive()
    }
}

impl Tokenized {
    /// What may be shown of the instrument on a payment of this kind.
    pub fn shown_as(&self, kind: MethodType) -> MethodDetails {
        MethodDetails {
            kind,
            brand: self.brand.clone(),
            last4: (!self.last4.is_empty()).then(|| self.last4.clone()),
            exp_month: self.exp_month,
            exp_year: self.exp_year,
            bank_name: self.bank_name.clone(),
            account_type: self.account_type.clone(),
            funding: self.funding,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ProcessorError {
    /// The processor refused the instrument itself (e.g. an unknown Apple Pay token).
    #[error("refused: {0}")]
    Refused(&'static str),
    #[error(transparent)]
    Unavailable(#[from] anyhow::Error),
}

/// One charge attempt. `reference` is the caller's idempotency key: the same reference never
/// charges twice, and [`Processor::lookup`] finds the attempt after a crash.
#[derive(Debug, Clone, Copy)]
pub struct AuthorizeRequest<'a> {
    pub reference: &'a str,
    /// What to charge: the amount plus any fee.
    pub amount: Amount,
    pub currency: &'a Currency,
    pub instrument: Instrument<'a>,
    /// Capture at once (a sale) or only authorize.
    pub capture: bool,
    pub billing: Option<&'a Billing>,
    /// The customer passed a challenge (step-up) for this payment.
    pub challenge_passed: bool,
    /// Decline instead of approving when the address check fails.
    pub reject_avs_mismatch: bool,
    /// Also return a reusable token for the instrument.
    pub save: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Outcome {
    Approved {
        processor_ref: String,
        avs_result: Option<String>,
        /// ACH: accepted, settles later.
        pending: bool,
        captured: bool,
    },
    Declined {
        processor_ref: String,
        decline_code: String,
    },
    /// The issuer wants the customer challenged first; nothing was charged.
    ChallengeRequired,
}

/// What an attempt came to, with the instrument's display details (and a token when asked).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Charge {
    pub outcome: Outcome,
    pub details: Tokenized,
}

/// Where an accepted ACH debit stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settlement {
    Pending,
    Settled,
    Returned { code: String, return_code: String },
}

#[async_trait]
pub trait Processor: Send + Sync {
    fn name(&self) -> &'static str;

    /// A card's funding source from its BIN, for fee rules.
    async fn card_funding(&self, bin: &str) -> Funding;

    /// Stores an instrument for later charges; returns its token and display details.
    async fn tokenize(&self, instrument: Instrument<'_>) -> Result<Tokenized, ProcessorError>;

    /// Authorizes (and with `capture`, captures) a charge, idempotently by `reference`.
    async fn authorize(&self, request: AuthorizeRequest<'_>) -> Result<Charge, ProcessorError>;

    /// What became of the attempt with this reference, if the processor ever saw it.
    async fn lookup(&self, reference: &str) -> Result<Option<Charge>, ProcessorError>;

    /// Captures an authorized charge (up to what was authorized), once; idempotent by
    /// `reference`: the same reference again answers as the first time.
    async fn capture(&self, processor_ref: &str, amount: Amount, reference: &str) -> Result<(), ProcessorError>;

    /// Releases an authorization that was not captured; idempotent by `reference`.
    async fn void(&self, processor_ref: &str, reference: &str) -> Result<(), ProcessorError>;

    /// Refunds part of a captured charge, idempotently by `reference`; never more than is left.
    async fn refund(&self, processor_ref: &str, amount: Amount, reference: &str) -> Result<(), ProcessorError>;

    /// Where an ACH debit stands at `now` (unix ms).
    async fn settlement(&self, processor_ref: &str, now: i64) -> Result<Settlement, ProcessorError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_debug_print_shows_no_token() {
        let tokenized = Tokenized { token: "tok_sbx_secret".into(), last4: "4242".into(), ..Default::default() };
        let shown = format!("{tokenized:?}");
        assert!(shown.contains("4242") && !shown.contains("tok_sbx_secret"), "{shown}");
    }
}
