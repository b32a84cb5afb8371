//! The fee engine (SPEC §7): the first rule that matches the payment sets the fee;
//! fee = round-half-up(amount × bps / 10000) + fixed, clamped to min/max. No rule: no fee.

use super::account::{FeeMethod, FeeRule, Funding, MethodType};
use super::money::{Amount, Currency};
use super::session::Locale;

/// The fee a rule set charges, and which rule did it (quotes remember the rule, so a card that
/// turns out to fall under another rule makes the quote stale).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fee {
    pub rule_index: Option<usize>,
    pub amount: Amount,
}

fn matches(rule: &FeeRule, method: MethodType, funding: Option<Funding>) -> bool {
    let method_ok = match rule.method {
        FeeMethod::Any => true,
        FeeMethod::Card => method == MethodType::Card,
        FeeMethod::Ach => method == MethodType::Ach,
        FeeMethod::ApplePay => method == MethodType::ApplePay,
    };
    let funding_ok = match rule.card_funding {
        None | Some(Funding::Any) => true,
        // A funding condition can only hold for a payment whose funding is known (cards).
        Some(wanted) => funding == Some(wanted),
    };
    method_ok && funding_ok
}

/// The fee for `amount` paid by `method` (with the card's `funding`, when known).
pub fn fee_for(rules: &[FeeRule], method: MethodType, funding: Option<Funding>, amount: Amount) -> Fee {
    let Some((index, rule)) = rules.iter().enumerate().find(|(_, r)| matches(r, method, funding)) else {
        return Fee { rule_index: None, amount: Amount::ZERO };
    };
    // i128: amount × bps cannot overflow; + 5000 then ÷ 10000 rounds half up (non-negative).
    let percent = (amount.minor() as i128 * rule.percent_bps as i128 + 5_000) / 10_000;
    let mut fee = i64::try_from(percent).unwrap_or(i64::MAX).saturating_add(rule.fixed_amount.minor());
    if let Some(min) = rule.min_fee {
        fee = fee.max(min.minor());
    }
    if let Some(max) = rule.max_fee {
        fee = fee.min(max.minor());
    }
    // A fee beyond the largest amount (an absurd rule) stays the largest, never becomes no fee:
    // the total then fails its own bound and the quote is refused.
    Fee { rule_index: Some(index), amount: Amount::new(fee.max(0)).unwrap_or(Amount::MAX) }
}

/// A price as the customer is shown it before paying.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Priced {
    pub fee: Fee,
    pub total: Amount,
    pub disclosure: String,
}

/// The fee, total and disclosure for `amount` paid by `method`: the one rule for the checkout's
/// quote and the dashboard's preview. A funding applies to cards only. `None` when the total
/// passes the largest amount there is.
pub fn price(
    rules: &[FeeRule],
    method: MethodType,
    funding: Option<Funding>,
    amount: Amount,
    currency: &Currency,
    locale: Locale,
) -> Option<Priced> {
    let funding = funding.filter(|_| method == MethodType::Card);
    let fee = fee_for(rules, method, funding, amount);
    let total = amount.checked_add(fee.amount)?;
    Some(Priced { fee, total, disclosure: disclosure(fee.amount, total, currency, method, locale) })
}

/// What the customer is told before paying.
pub fn disclosure(fee: Amount, total: Amount, currency: &Currency, method: MethodType, locale: Locale) -> String {
    let money = |a: Amount| app::money::format_amount(a.minor(), currency.as_str(), locale.as_str());
    let es = locale.is_spanish();
    let method_name = match (method, es) {
        (MethodType::Card, false) => "card",
        (MethodType::Ach, false) => "bank account (ACH)",
        (MethodType::ApplePay, false) => "Apple Pay",
        (MethodType::Card, true) => "tarjeta",
        (MethodType::Ach, true) => "cuenta bancaria (ACH)",
        (MethodType::ApplePay, true) => "Apple Pay",
    };
    // The customer agrees to this text: it promises nothing the refund rules do not keep (a
    // refund may return the fee, SPEC §7), so it does not call the fee non-refundable.
    match (fee.is_zero(), es) {
        (true, false) => format!("No fee applies to {method_name} payments. Total: {}.", money(total)),
        (true, true) => format!("No se aplica ningún cargo a los pagos con {method_name}. Total: {}.", money(total)),
        (false, false) => format!(
            "A convenience fee of {} applies to {method_name} payments. Total charged: {}.",
            money(fee),
            money(total)
        ),
        (false, true) => format!(
            "Se aplica un cargo por conveniencia de {} a los pagos con {method_name}. Total a cobrar: {}.",
            money(fee),
            money(total)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(n: i64) -> Amount {
        Amount::new(n).unwrap()
    }

    fn usd() -> Currency {
        Currency::parse("USD").unwrap()
    }

    fn rule(
        method: FeeMethod,
        funding: Option<Funding>,
        bps: i64,
        fixed: i64,
        min: Option<i64>,
        max: Option<i64>,
    ) -> FeeRule {
        FeeRule {
            method,
            card_funding: funding,
            percent_bps: bps,
            fixed_amount: a(fixed),
            min_fee: min.map(a),
            max_fee: max.map(a),
        }
    }

    #[test]
    fn first_match_wins_and_no_rule_means_no_fee() {
        let rules = vec![
            rule(FeeMethod::Card, Some(Funding::Debit), 0, 395, None, None),
            rule(FeeMethod::Card, None, 295, 0, Some(195), None),
            rule(FeeMethod::Ach, None, 0, 150, None, None),
        ];
        assert_eq!(
            fee_for(&rules, MethodType::Card, Some(Funding::Debit), a(14227)),
            Fee { rule_index: Some(0), amount: a(395) }
        );
        assert_eq!(
            fee_for(&rules, MethodType::Card, Some(Funding::Credit), a(14227)),
            Fee { rule_index: Some(1), amount: a(420) }
        );
        assert_eq!(fee_for(&rules, MethodType::Ach, None, a(14227)), Fee { rule_index: Some(2), amount: a(150) });
        assert_eq!(
            fee_for(&rules, MethodType::ApplePay, Some(Funding::Credit), a(14227)),
            Fee { rule_index: None, amount: a(0) }
        );
        assert_eq!(fee_for(&[], MethodType::Card, None, a(100)).amount, a(0));
    }

    #[test]
    fn rounds_half_up_and_clamps() {
        // 2.5% of 10 = 0.25 → 0; of 20 = 0.5 → 1 (half up); of 30 = 0.75 → 1.
        let r = vec![rule(FeeMethod::Any, None, 250, 0, None, None)];
        assert_eq!(fee_for(&r, MethodType::Card, None, a(10)).amount, a(0));
        assert_eq!(fee_for(&r, MethodType::Card, None, a(20)).amount, a(1));
        assert_eq!(fee_for(&r, MethodType::Card, None, a(30)).amount, a(1));
        // 2.95% of 14227 = 419.6965 → 420.
        let r = vec![rule(FeeMethod::Card, None, 295, 0, None, None)];
        assert_eq!(fee_for(&r, MethodType::Card, None, a(14227)).amount, a(420));
        // min and max clamp the percentage-plus-fixed fee.
        let r = vec![rule(FeeMethod::Card, None, 300, 30, Some(100), Some(500))];
        assert_eq!(fee_for(&r, MethodType::Card, None, a(1000)).amount, a(100), "30 + 30 → min 100");
        assert_eq!(fee_for(&r, MethodType::Card, None, a(100_000)).amount, a(500), "3030 → max 500");
        assert_eq!(fee_for(&r, MethodType::Card, None, a(10_000)).amount, a(330));
        // Huge amounts do not overflow.
        let r = vec![rule(FeeMethod::Card, None, 10_000, 0, None, None)];
        assert_eq!(
            fee_for(&r, MethodType::Card, None, a(crate::domain::money::MAX_AMOUNT)).amount.minor(),
            crate::domain::money::MAX_AMOUNT
        );
        // A fee past the largest amount is the largest amount, never no fee.
        let r = vec![rule(FeeMethod::Card, None, 10_000, 1, None, None)];
        let fee = fee_for(&r, MethodType::Card, None, a(crate::domain::money::MAX_AMOUNT)).amount;
        assert_eq!(fee.minor(), crate::domain::money::MAX_AMOUNT);
    }

    #[test]
    fn funding_conditions_apply_to_known_funding_only() {
        let r = vec![
            rule(FeeMethod::Any, Some(Funding::Prepaid), 0, 99, None, None),
            rule(FeeMethod::Any, None, 0, 1, None, None),
        ];
        assert_eq!(fee_for(&r, MethodType::Card, Some(Funding::Prepaid), a(100)).rule_index, Some(0));
        assert_eq!(fee_for(&r, MethodType::Ach, None, a(100)).rule_index, Some(1));
        assert_eq!(fee_for(&r, MethodType::Card, None, a(100)).rule_index, Some(1));
    }

    #[test]
    fn disclosures_name_fee_and_total_in_the_locale() {
        let en = disclosure(a(420), a(14647), &usd(), MethodType::Card, Locale::En);
        assert!(en.contains("$4.20") && en.contains("$146.47"), "{en}");
        let es = disclosure(a(420), a(14647), &usd(), MethodType::Card, Locale::Es);
        assert!(es.contains("$4,20") && es.contains("$146,47") && es.contains("tarjeta"), "{es}");
        assert!(disclosure(a(0), a(100), &usd(), MethodType::Ach, Locale::En).starts_with("No fee"));
    }
}
