//! The dashboard's Home figures: gross volume, fees, refunds and success rate for today and the
//! last 30 days, and the daily volume (UTC days).

use crate::domain::money::Amount;
use crate::domain::payment::PaymentStatus;
use crate::domain::time::Timestamp;
use crate::store::payments::DaySums;

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

/// A sum as an amount; one past the largest amount shows as the largest (never as less).
fn capped(minor: i64) -> Amount {
    Amount::new(minor.max(0)).unwrap_or(Amount::MAX)
}

impl Totals {
    fn new() -> Self {
        Totals { gross: Amount::ZERO, fees: Amount::ZERO, refunds: Amount::ZERO, succeeded: 0, attempted: 0 }
    }

    fn add(&mut self, s: &DaySums) {
        use PaymentStatus::*;
        let sum = |a: Amount, b: i64| capped(a.minor().saturating_add(b));
        self.gross = sum(self.gross, s.captured);
        self.fees = sum(self.fees, s.fees);
        let n = u32::try_from(s.count).unwrap_or(u32::MAX);
        match s.status {
            Authorized | Captured | PartiallyRefunded | Refunded | Voided => {
                self.succeeded = self.succeeded.saturating_add(n);
                self.attempted = self.attempted.saturating_add(n);
            }
            Failed => self.attempted = self.attempted.saturating_add(n),
            Processing | PendingTerminal => {}
        }
    }
}

pub struct Report {
    pub today: Totals,
    pub last_30_days: Totals,
    /// (`YYYY-MM-DD`, captured that day), oldest first, all 30 days.
    pub days: Vec<(String, Amount)>,
}

/// The first millisecond of the 30-day window ending today (UTC).
pub fn window_start(now: i64) -> i64 {
    (now.div_euclid(DAY_MS) - (DAYS - 1)) * DAY_MS
}

/// The report over the per-day sums of the payments created since [`window_start`] and of the
/// refunds made since then, by the day each was made, whenever its payment was (in the
/// account's currency: [`crate::store::payments::daily_sums`], [`crate::store::payments::daily_refunds`]).
pub fn report(sums: &[DaySums], refunds: &[(i64, i64)], now: i64) -> Report {
    let first_day = now.div_euclid(DAY_MS) - (DAYS - 1);
    let mut days: Vec<(String, Amount)> =
        (0..DAYS).map(|i| (Timestamp((first_day + i) * DAY_MS).to_rfc3339()[..10].to_owned(), Amount::ZERO)).collect();
    let (mut today, mut month) = (Totals::new(), Totals::new());
    for s in sums {
        let index = s.day - first_day;
        if !(0..DAYS).contains(&index) {
            continue;
        }
        month.add(s);
        if index == DAYS - 1 {
            today.add(s);
        }
        let day = &mut days[index as usize].1;
        *day = capped(day.minor().saturating_add(s.captured));
    }
    for &(day, refunded) in refunds {
        let index = day - first_day;
        let add = |t: &mut Totals| t.refunds = capped(t.refunds.minor().saturating_add(refunded));
        if (0..DAYS).contains(&index) {
            add(&mut month);
            if index == DAYS - 1 {
                add(&mut today);
            }
        }
    }
    Report { today, last_30_days: month, days }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sums(day: i64, status: PaymentStatus, count: i64, captured: i64, fees: i64) -> DaySums {
        DaySums { day, status, count, captured, fees }
    }

    #[test]
    fn today_and_the_month_add_up_per_day_and_status() {
        let now = 20_000 * DAY_MS + 5_000;
        let r = report(
            &[
                sums(20_000, PaymentStatus::Captured, 3, 3_000, 90),
                sums(20_000, PaymentStatus::Failed, 2, 0, 0),
                sums(19_990, PaymentStatus::Refunded, 1, 1_000, 30),
                sums(19_990, PaymentStatus::Processing, 4, 0, 0),
                sums(19_000, PaymentStatus::Captured, 9, 9_999, 1), // before the window
            ],
            // Refunds by the day they were made: today's include one of a payment 40 days old.
            &[(20_000, 300), (20_000, 200), (19_990, 1_000), (19_000, 7_777)],
            now,
        );
        assert_eq!((r.today.gross.minor(), r.today.fees.minor(), r.today.refunds.minor()), (3_000, 90, 500));
        assert_eq!((r.today.succeeded, r.today.attempted), (3, 5));
        assert_eq!((r.last_30_days.gross.minor(), r.last_30_days.refunds.minor()), (4_000, 1_500));
        assert_eq!((r.last_30_days.succeeded, r.last_30_days.attempted), (4, 6));
        assert_eq!(r.days.len(), DAYS as usize);
        assert_eq!(r.days[DAYS as usize - 1].1.minor(), 3_000);
        assert_eq!(r.days[DAYS as usize - 11].1.minor(), 1_000);
        assert_eq!(r.days.iter().map(|(_, a)| a.minor()).sum::<i64>(), 4_000);
    }

    #[test]
    fn sums_past_the_largest_amount_show_the_largest_never_less() {
        let now = 20_000 * DAY_MS;
        let big = crate::domain::money::MAX_AMOUNT;
        let r = report(
            &[sums(20_000, PaymentStatus::Captured, 2, big, 0), sums(20_000, PaymentStatus::Refunded, 1, big, 0)],
            &[(20_000, 5), (20_000, big)],
            now,
        );
        assert_eq!(r.today.gross, Amount::MAX);
        assert_eq!(r.today.refunds, Amount::MAX);
    }
}
