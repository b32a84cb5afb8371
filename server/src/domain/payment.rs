//! Payments after the checkout: their statuses and the only moves between them (SPEC §7,
//! "pinned"), the ledger's entry kinds, and the money movements that are made at a processor.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::account::{Funding, MethodType};
use super::money::Amount;
use crate::text_enum;

text_enum! {
    /// Where a payment stands.
    pub enum PaymentStatus {
        Authorized => "authorized",
        Captured => "captured",
        PartiallyRefunded => "partially_refunded",
        Refunded => "refunded",
        Voided => "voided",
        Failed => "failed",
        /// ACH until it settles.
        Processing => "processing",
        /// Waiting for a card at a terminal.
        PendingTerminal => "pending_terminal",
    }
}

impl PaymentStatus {
    /// The moves SPEC §7 pins; any other is 409 `invalid_state`.
    pub fn can_become(self, to: PaymentStatus) -> bool {
        use PaymentStatus::*;
        matches!(
            (self, to),
            (Authorized, Captured | Voided)
                | (Captured, PartiallyRefunded | Refunded)
                | (PartiallyRefunded, PartiallyRefunded | Refunded)
                | (Processing, Captured | Failed)
                | (PendingTerminal, Captured | Failed | Voided)
        )
    }
}

/// How long an authorization may wait for its capture by default (card networks hold funds
/// about a week; Stripe's window is the same): past it, a capture is refused and the server
/// voids the payment by itself, so the customer's funds are not held for a charge that can no
/// longer be made.
pub const AUTHORIZATION_VALID_MS: i64 = 7 * DAY_MS;

const DAY_MS: i64 = 24 * 3600 * 1000;

/// The installation's authorization window (`GOVIFI_AUTHORIZATION_DAYS`): a number of days, or
/// none, when an authorization waits for its capture or void however long it takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthorizationWindow(Option<i64>);

impl AuthorizationWindow {
    pub const DEFAULT: AuthorizationWindow = AuthorizationWindow(Some(AUTHORIZATION_VALID_MS));
    /// The most days a window may have (card networks' longest holds, hotels' and car rentals').
    pub const MAX_DAYS: u32 = 31;

    /// `days` days; 0 for no window.
    pub fn days(days: u32) -> Self {
        AuthorizationWindow((days > 0).then(|| i64::from(days.min(Self::MAX_DAYS)) * DAY_MS))
    }

    /// Its length in days, if it has one.
    pub fn in_days(self) -> Option<i64> {
        self.0.map(|ms| ms / DAY_MS)
    }

    /// The instant from which an authorization made at `authorized_at` can no longer be captured.
    pub fn deadline(self, authorized_at: i64) -> Option<i64> {
        self.0.map(|ms| authorized_at.saturating_add(ms))
    }

    /// The instant at or before which an authorization made then has expired by `now`:
    /// `authorized_at <= cutoff` exactly when `now >= deadline(authorized_at)`.
    pub fn cutoff(self, now: i64) -> Option<i64> {
        self.0.map(|ms| now.saturating_sub(ms))
    }

    /// True when an authorization made at `authorized_at` can no longer be captured at `now`.
    pub fn expired(self, authorized_at: i64, now: i64) -> bool {
        self.deadline(authorized_at).is_some_and(|deadline| now >= deadline)
    }
}

/// A legal status change, as the store's conditional UPDATE applies it: from any of `from` to
/// `to`. Only the moves below exist, and a test checks each against [`PaymentStatus::can_become`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Move {
    from: &'static [PaymentStatus],
    to: PaymentStatus,
}

macro_rules! use_moves {
    ($($name:ident: [$($from:ident),+] => $to:ident),+ $(,)?) => {
        $(pub const $name: Move = Move { from: &[$(PaymentStatus::$from),+], to: PaymentStatus::$to };)+
        /// Every move there is (for the test that checks them).
        pub const ALL: &'static [Move] = &[$(Move::$name),+];
    };
}

impl Move {
    use_moves! {
        CAPTURE: [Authorized] => Captured,
        VOID: [Authorized] => Voided,
        REFUND_PART: [Captured, PartiallyRefunded] => PartiallyRefunded,
        REFUND_ALL: [Captured, PartiallyRefunded] => Refunded,
        SETTLE: [Processing] => Captured,
        RETURN: [Processing] => Failed,
        TERMINAL_APPROVE: [PendingTerminal] => Captured,
        TERMINAL_DECLINE: [PendingTerminal] => Failed,
        TERMINAL_CANCEL: [PendingTerminal] => Voided,
    }

    pub fn from(self) -> &'static [PaymentStatus] {
        self.from
    }

    pub fn to(self) -> PaymentStatus {
        self.to
    }

    /// True when a payment in `status` may make this move.
    pub fn applies_to(self, status: PaymentStatus) -> bool {
        self.from.contains(&status)
    }
}

text_enum! {
    /// A ledger entry (`GET /api/payments/{id}/transactions`).
    pub enum TransactionKind {
        Authorization => "authorization",
        Capture => "capture",
        Void => "void",
        Refund => "refund",
        Settlement => "settlement",
        Failure => "failure",
    }
}

text_enum! {
    /// A money movement made at the processor with a stable reference (the operation's id), so
    /// that a crash between the call and its record can be finished from the processor's side.
    pub enum OperationKind {
        /// `POST /api/payments/validate`: the payment does not exist until the processor answers.
        Authorize => "authorize",
        Capture => "capture",
        Void => "void",
        Refund => "refund",
        /// A card presented at a terminal for a `pending_terminal` payment.
        TerminalCharge => "terminal_charge",
    }
}

text_enum! {
    /// Where an operation stands; a refund's `status` is its operation's.
    pub enum OperationStatus {
        Pending => "pending",
        Succeeded => "succeeded",
        Failed => "failed",
    }
}

text_enum! {
    /// What a saved method may be used for.
    pub enum Usage {
        /// Only while the customer is present.
        OnSession => "on_session",
        /// Also without the customer (autopay), under the mandate accepted when it was saved.
        OffSession => "off_session",
    }
}

/// How a payment was paid, as it may be shown (never a number).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MethodDetails {
    #[serde(rename = "type")]
    pub kind: MethodType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub brand: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last4: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exp_month: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exp_year: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bank_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub funding: Option<Funding>,
}

impl MethodDetails {
    /// Only the kind is known (a terminal payment before a card is presented).
    pub fn of_kind(kind: MethodType) -> Self {
        MethodDetails {
            kind,
            brand: None,
            last4: None,
            exp_month: None,
            exp_year: None,
            bank_name: None,
            account_type: None,
            funding: None,
        }
    }
}

/// What the customer agreed to (SPEC §5, §11): the fee quote and disclosure shown, the mandate
/// for payments without the customer, when, and from where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Consent {
    /// The quote the customer saw (none for direct payments and autopay, which carry no fee).
    pub fee_quote_id: Option<String>,
    pub fee_amount: Amount,
    pub disclosure: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mandate: Option<String>,
    /// RFC 3339
    pub accepted_at: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// Who made a request, for consent records: the client's address and user agent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestInfo {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// The autopay mandate the checkout shows a customer beside its box, in their language: the
/// element's own message (`app::i18n`), so that the consent keeps the very words they saw.
pub fn checkout_mandate_text(merchant: &str, locale: super::session::Locale) -> String {
    use app::i18n::{Lang, msg, tf};
    let lang = if locale.is_spanish() { Lang::Es } else { Lang::En };
    tf(lang, msg::autopay_mandate, &[("merchant", merchant)])
}

/// The autopay mandate recorded for a method saved outside the checkout (through the API, where
/// the merchant's own page asked the customer), in the customer's language.
pub fn mandate_text(merchant: &str, locale: super::session::Locale) -> String {
    if locale.is_spanish() {
        format!(
            "Autorizo a {merchant} a cobrar este método de pago para pagos futuros según sus condiciones, hasta que revoque esta autorización."
        )
    } else {
        format!(
            "I authorize {merchant} to charge this payment method for future payments under its terms until I revoke this authorization."
        )
    }
}

/// The autopay mandate a customer accepts when saving a method `off_session` (kept with it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Mandate {
    pub text: String,
    /// RFC 3339
    pub accepted_at: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_move_is_one_the_spec_allows() {
        for m in Move::ALL {
            for from in m.from() {
                assert!(from.can_become(m.to()), "{from} → {}", m.to());
            }
        }
    }

    #[test]
    fn the_pinned_moves_and_no_others() {
        use PaymentStatus::*;
        let allowed: Vec<(PaymentStatus, PaymentStatus)> = PaymentStatus::ALL
            .iter()
            .flat_map(|a| PaymentStatus::ALL.iter().map(move |b| (*a, *b)))
            .filter(|(a, b)| a.can_become(*b))
            .collect();
        assert_eq!(
            allowed,
            vec![
                (Authorized, Captured),
                (Authorized, Voided),
                (Captured, PartiallyRefunded),
                (Captured, Refunded),
                (PartiallyRefunded, PartiallyRefunded),
                (PartiallyRefunded, Refunded),
                (Processing, Captured),
                (Processing, Failed),
                (PendingTerminal, Captured),
                (PendingTerminal, Voided),
                (PendingTerminal, Failed),
            ]
        );
        assert!(!Captured.can_become(Voided), "void after capture is refused");
        assert!(!Refunded.can_become(PartiallyRefunded));
    }

    #[test]
    fn words_round_trip_and_strangers_do_not_parse() {
        for s in PaymentStatus::ALL {
            assert_eq!(PaymentStatus::parse(s.as_str()), Some(*s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        assert_eq!(PaymentStatus::parse("Captured"), None);
    }
}
