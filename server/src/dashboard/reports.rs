//! The dashboard's Home figures: gross volume, fees, refunds and success rate for today and the
//! last 30 days, and the daily volume (UTC days).

use crate::domain::money::{Amount, Currency};
use crate::domain::payment::PaymentStatus;
use crate::domain::time::Timestamp;
use crate::store::payments::Payment;

pub const DAY_MS: i64 = 86_400_000;
pub const DAYS: i64 = 30;

/// Sums over a set of payments. `gross` is what was captured; `attempted` counts payments that
/// either took money or failed (not those still waiting).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Totals {
    pub gross: Amount,
    pub fees: Amount,
    pub refunds: Amount,
    pub succeeded: u32,
    pub attempted: u32,
}

impl Totals {
    fn new() -> Self {
        Totals { gross: Amount::ZERO, fees: Amount::ZERO, refunds: Amount::ZERO, succeeded: 0, attempted: 0 }
    }

    fn add(&mut self, p: &Payment) {
        use PaymentStatus::*;
        let sum = |a: Amount, b: Amount| a.checked_add(b).unwrap_or(a);
        self.gross = sum(self.gross, p.amount_captured);
        if !p.amount_captured.is_zero() {
            self.fees = sum(self.fees, p.fee_amount);
        }
        self.refunds = sum(self.refunds, p.amount_refunded);
        match p.status {
            Authorized | Captured | PartiallyRefunded | Refunded | Voided => {
                self.succeeded += 1;
                self.attempted += 1;
            }
            Failed => self.attempted += 1,
            Processing | PendingTerminal => {}
        }
    }
}

pub struct Report {
    pub currency: Currency,
    pub today: Totals,
    pub last_30_days: Totals,
    /// (`YYYY-MM-DD`, captured that day), oldest first, all 30 days.
    pub days: Vec<(String, Amount)>,
}

/// The first millisecond of the 30-day window ending today (UTC).
pub fn window_start(now: i64) -> i64 {
    (now.div_euclid(DAY_MS) - (DAYS - 1)) * DAY_MS
}

/// The report over `payments` (those created since [`window_start`], in the account's currency).
pub fn report(currency: Currency, payments: &[Payment], now: i64) -> Report {
    let first_day = now.div_euclid(DAY_MS) - (DAYS - 1);
    let mut days: Vec<(String, Amount)> =
        (0..DAYS).map(|i| (Timestamp((first_day + i) * DAY_MS).to_rfc3339()[..10].to_owned(), Amount::ZERO)).collect();
    let (mut today, mut month) = (Totals::new(), Totals::new());
    for p in payments.iter().filter(|p| p.currency == currency) {
        let index = p.created_at.div_euclid(DAY_MS) - first_day;
        if !(0..DAYS).contains(&index) {
            continue;
        }
        month.add(p);
        if index == DAYS - 1 {
            today.add(p);
        }
        let day = &mut days[index as usize].1;
        *day = day.checked_add(p.amount_captured).unwrap_or(*day);
    }
    Report { currency, today, last_30_days: month, days }
}
