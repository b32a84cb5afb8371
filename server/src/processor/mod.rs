//! Processors behind one trait. The built-in `sandbox` behaves like an acquirer in test mode
//! (SPEC §9); real connectors implement the same trait.

pub mod sandbox;

use async_trait::async_trait;

use crate::domain::account::Funding;
use crate::domain::card::{BankAccount, Card};

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
}

/// A tokenized instrument: the processor's token and what may be shown of it.
#[derive(Debug, Clone, PartialEq, Eq)]
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

#[derive(Debug, thiserror::Error)]
pub enum ProcessorError {
    /// The processor refused the instrument itself (e.g. an unknown Apple Pay token).
    #[error("refused: {0}")]
    Refused(&'static str),
    #[error(transparent)]
    Unavailable(#[from] anyhow::Error),
}

#[async_trait]
pub trait Processor: Send + Sync {
    fn name(&self) -> &'static str;

    /// A card's funding source from its BIN, for fee rules.
    async fn card_funding(&self, bin: &str) -> Funding;

    /// Stores an instrument for later charges; returns its token and display details.
    async fn tokenize(&self, instrument: Instrument<'_>) -> Result<Tokenized, ProcessorError>;
}
