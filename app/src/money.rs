//! Currencies (ISO 4217) and their minor units, and formatting amounts for people.
//! Amounts are always integers in minor units; nothing here uses floating point.

/// Active ISO 4217 codes with their exponent (digits after the decimal point), sorted: one
/// record of four bytes each, the code and the exponent's digit. One string rather than an array
/// of (code, exponent) pairs, whose pointers and padding are most of its size in the element.
const CURRENCIES: &str = "\
    AED2AFN2ALL2AMD2ANG2AOA2ARS2AUD2AWG2AZN2BAM2BBD2BDT2BGN2BHD3BIF0BMD2BND2BOB2BRL2\
    BSD2BTN2BWP2BYN2BZD2CAD2CDF2CHF2CLP0CNY2COP2CRC2CUP2CVE2CZK2DJF0DKK2DOP2DZD2EGP2\
    ERN2ETB2EUR2FJD2FKP2GBP2GEL2GHS2GIP2GMD2GNF0GTQ2GYD2HKD2HNL2HTG2HUF2IDR2ILS2INR2\
    IQD3IRR2ISK0JMD2JOD3JPY0KES2KGS2KHR2KMF0KPW2KRW0KWD3KYD2KZT2LAK2LBP2LKR2LRD2LSL2\
    LYD3MAD2MDL2MGA2MKD2MMK2MNT2MOP2MRU2MUR2MVR2MWK2MXN2MYR2MZN2NAD2NGN2NIO2NOK2NPR2\
    NZD2OMR3PAB2PEN2PGK2PHP2PKR2PLN2PYG0QAR2RON2RSD2RUB2RWF0SAR2SBD2SCR2SDG2SEK2SGD2\
    SHP2SLE2SOS2SRD2SSP2STN2SVC2SYP2SZL2THB2TJS2TMT2TND3TOP2TRY2TTD2TWD2TZS2UAH2UGX0\
    USD2UYU2UZS2VES2VND0VUV0WST2XAF0XCD2XOF0XPF0YER2ZAR2ZMW2ZWG2";

/// The table's records.
fn currencies() -> &'static [[u8; 4]] {
    CURRENCIES.as_bytes().as_chunks::<4>().0
}

/// The exponent of an ISO 4217 code (`USD` → 2, `JPY` → 0), or `None` for an unknown code.
/// Codes must be upper case, as the API requires.
pub fn currency_exponent(code: &str) -> Option<u8> {
    let records = currencies();
    let i = records.binary_search_by(|record| record[..3].cmp(code.as_bytes())).ok()?;
    Some(records[i][3] - b'0')
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
    let (group, decimal) = separators(locale);
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

/// The number alone, as [`parse_units`] reads it back: `format_units(123456, "USD", "es")` is
/// `1.234,56`, `format_units(-30, "USD", "en")` is `-0.30`.
pub fn format_units(minor: i64, currency: &str, locale: &str) -> String {
    // The amount as shown, without its symbol or code (`format_amount` stays the element's one
    // formatting routine: its size budget counts bytes).
    let shown = format_amount(minor, currency, locale);
    match symbol(currency) {
        Some(sym) => shown.replacen(sym, "", 1),
        None => shown.strip_suffix(currency).map_or(shown.clone(), |s| s.trim_end().to_owned()),
    }
}

/// A percentage held in basis points, written as `locale` writes numbers, without trailing
/// zeros: 290 is `2.9`, 1000 is `10`, 5 is `0.05` (`es`: `2,9`).
pub fn format_percent(bps: i64, locale: &str) -> String {
    // Basis points are hundredths of a percent, as cents are of a dollar.
    let text = format_units(bps, "USD", locale);
    let (_, decimal) = separators(locale);
    match text.split_once(decimal) {
        Some((whole, frac)) if frac.trim_end_matches('0').is_empty() => whole.to_owned(),
        Some((whole, frac)) => format!("{whole}{decimal}{}", frac.trim_end_matches('0')),
        None => text,
    }
}

/// Parses a percentage typed as `locale` writes numbers, with or without `%` (`2.9`, `2.9 %`,
/// `es`: `2,9`), into basis points: `None` beyond two decimals or above 100.
pub fn parse_percent(text: &str, locale: &str) -> Option<i64> {
    let text = text.trim();
    let number = text.strip_suffix('%').unwrap_or(text);
    parse_decimal(number, 2, locale).filter(|bps| *bps <= 10_000)
}

/// A locale's group and decimal separators (`en`: `1,234.56`; `es`: `1.234,56`).
fn separators(locale: &str) -> (char, char) {
    if locale.starts_with("es") { ('.', ',') } else { (',', '.') }
}

/// Parses an amount typed in the currency's units, written as `locale` writes numbers (`en`:
/// `"10"`, `"10.5"`, `"1,234.50"`; `es`: `"10,5"`, `"1.234,50"`), into minor units. Group
/// separators (the locale's, or spaces) count only in whole groups of three, so a decimal
/// separator of the other locale is refused, never read as a group. `None` for anything else,
/// for more decimals than the currency has, for a negative amount or one beyond 10^13 units.
/// An amount as the page shows it, with the currency's own symbol before it or its code after
/// it (`$1,234.50`, `1.500 KWD`), reads the same.
pub fn parse_units(text: &str, currency: &str, locale: &str) -> Option<i64> {
    let text = text.trim();
    let number =
        symbol(currency).and_then(|sym| text.strip_prefix(sym)).or_else(|| text.strip_suffix(currency)).unwrap_or(text);
    parse_decimal(number, currency_exponent(currency)? as usize, locale)
}

/// [`parse_units`] for a number with at most `exponent` decimals, into its smallest units.
fn parse_decimal(text: &str, exponent: usize, locale: &str) -> Option<i64> {
    let (group, decimal) = separators(locale);
    let text = text.trim();
    let (whole, frac) = match text.split_once(decimal) {
        Some((w, f)) => (w, Some(f)),
        None => (text, None),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let mut groups = whole.split([group, ' ']);
    let first = groups.next()?;
    let mut units = first.to_owned();
    let mut grouped = false;
    for rest in groups {
        if rest.len() != 3 || !digits(rest) {
            return None;
        }
        grouped = true;
        units.push_str(rest);
    }
    if !digits(first) || (grouped && first.len() > 3) || units.len() > 13 {
        return None;
    }
    let frac = frac.unwrap_or_default();
    if !(frac.is_empty() || digits(frac)) || frac.len() > exponent || (exponent == 0 && text.contains(decimal)) {
        return None;
    }
    let whole: i64 = units.parse().ok()?;
    let frac: i64 = if frac.is_empty() { 0 } else { format!("{frac:0<exponent$}").parse().ok()? };
    whole.checked_mul(10i64.pow(exponent as u32))?.checked_add(frac)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_sorted_so_lookups_work() {
        assert_eq!(CURRENCIES.len() % 4, 0, "whole records");
        let records = currencies();
        assert!(records.len() > 150, "every active code");
        assert!(records.iter().all(|r| r[..3].iter().all(u8::is_ascii_uppercase) && b"023".contains(&r[3])));
        assert!(records.windows(2).all(|w| w[0][..3] < w[1][..3]));
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
        assert_eq!(parse_units("10", "USD", "en"), Some(1000));
        assert_eq!(parse_units("10.5", "USD", "en"), Some(1050));
        assert_eq!(parse_units(" 1,234.56 ", "USD", "en"), Some(123456));
        assert_eq!(parse_units("1 234.56", "USD", "en"), Some(123456));
        assert_eq!(parse_units("12,345,678", "USD", "en"), Some(1_234_567_800));
        assert_eq!(parse_units("0.05", "EUR", "en"), Some(5));
        assert_eq!(parse_units("500", "JPY", "en"), Some(500));
        assert_eq!(parse_units("1,500", "JPY", "en"), Some(1500));
        assert_eq!(parse_units("1.005", "KWD", "en"), Some(1005));
        // As the page shows amounts: with the currency's own symbol or code, not another's.
        assert_eq!(parse_units("$1,234.50", "USD", "en"), Some(123450));
        assert_eq!(parse_units(&format_amount(123450, "EUR", "es"), "EUR", "es"), Some(123450));
        assert_eq!(parse_units(&format_amount(1005, "KWD", "en"), "KWD", "en"), Some(1005));
        assert_eq!(parse_units("€10", "USD", "en"), None);
        assert_eq!(parse_units("10 EUR", "USD", "en"), None);
        assert_eq!(parse_units("$$10", "USD", "en"), None);
        assert_eq!(parse_units("-$10", "USD", "en"), None);
        for bad in [
            "",
            "abc",
            "1.234",
            "-5",
            "1e3",
            ".5",
            "5.",
            "1.2.3",
            "99999999999999",
            "1,5",
            "25,00",
            "1,23,456",
            "1234,567",
        ] {
            assert_eq!(parse_units(bad, "USD", "en"), if bad == "5." { Some(500) } else { None }, "{bad}");
        }
        assert_eq!(parse_units("5.0", "JPY", "en"), None);
        assert_eq!(parse_units("5", "XXX", "en"), None);
    }

    #[test]
    fn units_parse_as_the_locale_writes_them() {
        // Spanish writes the decimal with a comma: `25,00` is twenty-five, never 2,500.
        assert_eq!(parse_units("25,00", "USD", "es"), Some(2500));
        assert_eq!(parse_units("10,5", "USD", "es"), Some(1050));
        assert_eq!(parse_units("1.234,56", "USD", "es"), Some(123456));
        assert_eq!(parse_units("1.234", "USD", "es"), Some(123400));
        assert_eq!(parse_units("1,005", "KWD", "es"), Some(1005));
        // An English decimal point is not a Spanish group of three: refused, not read 100× larger.
        for bad in ["25.00", "10.5", "1,234.56", "1,234", "1.23.456"] {
            assert_eq!(parse_units(bad, "USD", "es"), None, "{bad}");
        }
        // What a locale formats, it parses back.
        for minor in [0, 5, 1050, 123456, 99_999_999_999] {
            for locale in ["en", "es"] {
                let shown = format_amount(minor, "EUR", locale);
                assert_eq!(parse_units(shown.trim_start_matches('€'), "EUR", locale), Some(minor), "{shown}");
            }
        }
    }
    #[test]
    fn percentages_round_trip_in_basis_points() {
        assert_eq!(parse_percent("2.9", "en"), Some(290));
        assert_eq!(parse_percent(" 2.95 % ", "en"), Some(295));
        assert_eq!(parse_percent("2,95%", "es"), Some(295));
        assert_eq!(parse_percent("100", "en"), Some(10_000));
        assert_eq!(parse_percent("0", "en"), Some(0));
        for bad in ["", "%", "100.01", "2.955", "-1", "2,9", "abc"] {
            assert_eq!(parse_percent(bad, "en"), None, "{bad}");
        }
        assert_eq!(format_percent(290, "en"), "2.9");
        assert_eq!(format_percent(1000, "en"), "10");
        assert_eq!(format_percent(5, "es"), "0,05");
        for bps in [0, 1, 50, 295, 9_999, 10_000] {
            for locale in ["en", "es"] {
                assert_eq!(parse_percent(&format_percent(bps, locale), locale), Some(bps));
            }
        }
        assert_eq!(format_units(-30, "USD", "en"), "-0.30");
        assert_eq!(parse_units(&format_units(123456, "USD", "es"), "USD", "es"), Some(123456));
    }
}
