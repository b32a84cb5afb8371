//! Currencies (ISO 4217) and their minor units, and formatting amounts for people.
//! Amounts are always integers in minor units; nothing here uses floating point.

/// Active ISO 4217 codes with their exponent (digits after the decimal point), sorted.
#[rustfmt::skip]
const CURRENCIES: &[(&str, u8)] = &[
    ("AED", 2), ("AFN", 2), ("ALL", 2), ("AMD", 2), ("ANG", 2), ("AOA", 2), ("ARS", 2), ("AUD", 2),
    ("AWG", 2), ("AZN", 2), ("BAM", 2), ("BBD", 2), ("BDT", 2), ("BGN", 2), ("BHD", 3), ("BIF", 0),
    ("BMD", 2), ("BND", 2), ("BOB", 2), ("BRL", 2), ("BSD", 2), ("BTN", 2), ("BWP", 2), ("BYN", 2),
    ("BZD", 2), ("CAD", 2), ("CDF", 2), ("CHF", 2), ("CLP", 0), ("CNY", 2), ("COP", 2), ("CRC", 2),
    ("CUP", 2), ("CVE", 2), ("CZK", 2), ("DJF", 0), ("DKK", 2), ("DOP", 2), ("DZD", 2), ("EGP", 2),
    ("ERN", 2), ("ETB", 2), ("EUR", 2), ("FJD", 2), ("FKP", 2), ("GBP", 2), ("GEL", 2), ("GHS", 2),
    ("GIP", 2), ("GMD", 2), ("GNF", 0), ("GTQ", 2), ("GYD", 2), ("HKD", 2), ("HNL", 2), ("HTG", 2),
    ("HUF", 2), ("IDR", 2), ("ILS", 2), ("INR", 2), ("IQD", 3), ("IRR", 2), ("ISK", 0), ("JMD", 2),
    ("JOD", 3), ("JPY", 0), ("KES", 2), ("KGS", 2), ("KHR", 2), ("KMF", 0), ("KPW", 2), ("KRW", 0),
    ("KWD", 3), ("KYD", 2), ("KZT", 2), ("LAK", 2), ("LBP", 2), ("LKR", 2), ("LRD", 2), ("LSL", 2),
    ("LYD", 3), ("MAD", 2), ("MDL", 2), ("MGA", 2), ("MKD", 2), ("MMK", 2), ("MNT", 2), ("MOP", 2),
    ("MRU", 2), ("MUR", 2), ("MVR", 2), ("MWK", 2), ("MXN", 2), ("MYR", 2), ("MZN", 2), ("NAD", 2),
    ("NGN", 2), ("NIO", 2), ("NOK", 2), ("NPR", 2), ("NZD", 2), ("OMR", 3), ("PAB", 2), ("PEN", 2),
    ("PGK", 2), ("PHP", 2), ("PKR", 2), ("PLN", 2), ("PYG", 0), ("QAR", 2), ("RON", 2), ("RSD", 2),
    ("RUB", 2), ("RWF", 0), ("SAR", 2), ("SBD", 2), ("SCR", 2), ("SDG", 2), ("SEK", 2), ("SGD", 2),
    ("SHP", 2), ("SLE", 2), ("SOS", 2), ("SRD", 2), ("SSP", 2), ("STN", 2), ("SVC", 2), ("SYP", 2),
    ("SZL", 2), ("THB", 2), ("TJS", 2), ("TMT", 2), ("TND", 3), ("TOP", 2), ("TRY", 2), ("TTD", 2),
    ("TWD", 2), ("TZS", 2), ("UAH", 2), ("UGX", 0), ("USD", 2), ("UYU", 2), ("UZS", 2), ("VES", 2),
    ("VND", 0), ("VUV", 0), ("WST", 2), ("XAF", 0), ("XCD", 2), ("XOF", 0), ("XPF", 0), ("YER", 2),
    ("ZAR", 2), ("ZMW", 2), ("ZWG", 2),
];

/// The exponent of an ISO 4217 code (`USD` → 2, `JPY` → 0), or `None` for an unknown code.
/// Codes must be upper case, as the API requires.
pub fn currency_exponent(code: &str) -> Option<u8> {
    CURRENCIES.binary_search_by(|(c, _)| (*c).cmp(code)).ok().map(|i| CURRENCIES[i].1)
}

/// The symbol shown before an amount, where one is customary and unambiguous.
fn symbol(code: &str) -> Option<&'static str> {
    Some(match code {
        "USD" => "$",
        "EUR" => "€",
        "GBP" => "£",
        "JPY" => "¥",
        "MXN" => "MX$",
        "CAD" => "CA$",
        "AUD" => "A$",
        _ => return None,
    })
}

/// Formats minor units for a locale: `format_amount(457, "USD", "en")` is `$4.57`,
/// `format_amount(123456, "USD", "es")` is `$1.234,56`, `format_amount(500, "JPY", "en")` is `¥500`.
pub fn format_amount(minor: i64, currency: &str, locale: &str) -> String {
    let exponent = currency_exponent(currency).unwrap_or(2) as u32;
    let (group, decimal) = if locale.starts_with("es") { ('.', ',') } else { (',', '.') };
    let negative = minor < 0;
    let abs = minor.unsigned_abs();
    let scale = 10u64.pow(exponent);
    let (whole, frac) = (abs / scale, abs % scale);

    let digits = whole.to_string();
    let mut grouped = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push(group);
        }
        grouped.push(ch);
    }
    let mut number = grouped;
    if exponent > 0 {
        number.push(decimal);
        number.push_str(&format!("{frac:0width$}", width = exponent as usize));
    }
    let sign = if negative { "-" } else { "" };
    match symbol(currency) {
        Some(sym) => format!("{sign}{sym}{number}"),
        None => format!("{sign}{number} {currency}"),
    }
}

/// Parses an amount typed in the currency's units (`"10"`, `"10.5"`, `"10.50"`, `"1,234.50"`)
/// into minor units: `None` for anything else, for more decimals than the currency has, for a
/// negative amount or one beyond 10^13 units.
pub fn parse_units(text: &str, currency: &str) -> Option<i64> {
    let exponent = currency_exponent(currency)? as usize;
    let text: String = text.trim().chars().filter(|c| *c != ',' && *c != ' ').collect();
    let (whole, frac) = match text.split_once('.') {
        Some((w, f)) => (w, f),
        None => (text.as_str(), ""),
    };
    let digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
    if whole.is_empty() || whole.len() > 13 || !digits(whole) || !digits(frac) || frac.len() > exponent {
        return None;
    }
    if exponent == 0 && text.contains('.') {
        return None;
    }
    let whole: i64 = whole.parse().ok()?;
    let frac: i64 = if frac.is_empty() { 0 } else { format!("{frac:0<exponent$}").parse().ok()? };
    whole.checked_mul(10i64.pow(exponent as u32))?.checked_add(frac)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_sorted_so_lookups_work() {
        assert!(CURRENCIES.windows(2).all(|w| w[0].0 < w[1].0));
    }

    #[test]
    fn exponents() {
        assert_eq!(currency_exponent("USD"), Some(2));
        assert_eq!(currency_exponent("JPY"), Some(0));
        assert_eq!(currency_exponent("KWD"), Some(3));
        assert_eq!(currency_exponent("usd"), None);
        assert_eq!(currency_exponent("XXX"), None);
    }

    #[test]
    fn formatting_follows_exponent_and_locale() {
        assert_eq!(format_amount(457, "USD", "en"), "$4.57");
        assert_eq!(format_amount(14227, "USD", "en"), "$142.27");
        assert_eq!(format_amount(123456789, "USD", "en"), "$1,234,567.89");
        assert_eq!(format_amount(123456, "USD", "es"), "$1.234,56");
        assert_eq!(format_amount(500, "JPY", "en"), "¥500");
        assert_eq!(format_amount(1005, "KWD", "en"), "1.005 KWD");
        assert_eq!(format_amount(5, "EUR", "en"), "€0.05");
        assert_eq!(format_amount(-250, "USD", "en"), "-$2.50");
    }

    #[test]
    fn units_parse_to_minor_units() {
        assert_eq!(parse_units("10", "USD"), Some(1000));
        assert_eq!(parse_units("10.5", "USD"), Some(1050));
        assert_eq!(parse_units(" 1,234.56 ", "USD"), Some(123456));
        assert_eq!(parse_units("0.05", "EUR"), Some(5));
        assert_eq!(parse_units("500", "JPY"), Some(500));
        assert_eq!(parse_units("1.005", "KWD"), Some(1005));
        for bad in ["", "abc", "1.234", "-5", "1e3", ".5", "5.", "1.2.3", "99999999999999"] {
            assert_eq!(parse_units(bad, "USD"), if bad == "5." { Some(500) } else { None }, "{bad}");
        }
        assert_eq!(parse_units("5.0", "JPY"), None);
        assert_eq!(parse_units("5", "XXX"), None);
    }
}
