//! Card and bank-account checks shared by the browser (checks as the customer types) and the
//! server (the same checks again before any processor call).

/// Card networks we recognise from the number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Brand {
    Visa,
    Mastercard,
    Amex,
    Discover,
    Unknown,
}

impl Brand {
    pub fn as_str(self) -> &'static str {
        match self {
            Brand::Visa => "visa",
            Brand::Mastercard => "mastercard",
            Brand::Amex => "amex",
            Brand::Discover => "discover",
            Brand::Unknown => "unknown",
        }
    }

    /// The brand named by [`Brand::as_str`] (a saved method's `brand`); anything else is Unknown.
    pub fn from_name(name: &str) -> Brand {
        [Brand::Visa, Brand::Mastercard, Brand::Amex, Brand::Discover]
            .into_iter()
            .find(|b| b.as_str() == name)
            .unwrap_or(Brand::Unknown)
    }

    /// How people write the brand.
    pub fn display_name(self) -> &'static str {
        match self {
            Brand::Visa => "Visa",
            Brand::Mastercard => "Mastercard",
            Brand::Amex => "American Express",
            Brand::Discover => "Discover",
            Brand::Unknown => "Card",
        }
    }

    /// Digits a complete number has for this brand.
    pub fn lengths(self) -> &'static [usize] {
        match self {
            Brand::Visa => &[13, 16, 19],
            Brand::Mastercard => &[16],
            Brand::Amex => &[15],
            Brand::Discover => &[16, 19],
            Brand::Unknown => &[12, 13, 14, 15, 16, 17, 18, 19],
        }
    }

    /// Digits the security code has.
    pub fn cvc_length(self) -> usize {
        if self == Brand::Amex { 4 } else { 3 }
    }

    /// Where the spaces go as the number is typed (Amex 4-6-5, others groups of four).
    pub fn groups(self) -> &'static [usize] {
        match self {
            Brand::Amex => &[4, 6, 5],
            _ => &[4, 4, 4, 4, 3],
        }
    }
}

/// The brand a (possibly partial) number belongs to, from its leading digits.
pub fn brand_of(digits: &str) -> Brand {
    let prefix = |n: usize| digits.get(..n).and_then(|p| p.parse::<u32>().ok());
    if digits.starts_with('4') {
        Brand::Visa
    } else if digits.starts_with("34") || digits.starts_with("37") {
        Brand::Amex
    } else if prefix(2).is_some_and(|p| (51..=55).contains(&p)) || prefix(4).is_some_and(|p| (2221..=2720).contains(&p))
    {
        Brand::Mastercard
    } else if digits.starts_with("6011")
        || digits.starts_with("65")
        || prefix(3).is_some_and(|p| (644..=649).contains(&p))
        || prefix(6).is_some_and(|p| (622126..=622925).contains(&p))
    {
        Brand::Discover
    } else {
        Brand::Unknown
    }
}

/// The digits of what was typed, ignoring spaces and dashes; `None` if anything else is there.
pub fn digits_only(input: &str) -> Option<String> {
    let mut out = String::with_capacity(input.len());
    for c in input.chars() {
        match c {
            '0'..='9' => out.push(c),
            ' ' | '-' => {}
            _ => return None,
        }
    }
    Some(out)
}

/// The Luhn (mod 10) check.
pub fn luhn_valid(digits: &str) -> bool {
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = (b - b'0') as u32;
            if i % 2 == 1 {
                let doubled = d * 2;
                if doubled > 9 { doubled - 9 } else { doubled }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// A card number the customer could have: digits only, a length its brand uses, Luhn-valid.
pub fn card_number_valid(digits: &str) -> bool {
    let brand = brand_of(digits);
    digits.bytes().all(|b| b.is_ascii_digit()) && brand.lengths().contains(&digits.len()) && luhn_valid(digits)
}

/// The number grouped for display as it is typed (`4242 4242 4242 4242`).
pub fn group_digits(digits: &str) -> String {
    let brand = brand_of(digits);
    let mut out = String::with_capacity(digits.len() + 4);
    let mut rest = digits;
    for (i, size) in brand.groups().iter().enumerate() {
        if rest.is_empty() {
            break;
        }
        if i > 0 {
            out.push(' ');
        }
        let take = (*size).min(rest.len());
        out.push_str(&rest[..take]);
        rest = &rest[take..];
    }
    if !rest.is_empty() {
        out.push(' ');
        out.push_str(rest);
    }
    out
}

/// An expiry that is a real month, not in the past (the card works through its expiry month),
/// and not absurdly far ahead. `now` is (year, month).
pub fn expiry_valid(month: u32, year: u32, now: (u32, u32)) -> bool {
    let year = if year < 100 { 2000 + year } else { year };
    (1..=12).contains(&month) && (year, month) >= now && year <= now.0 + 20
}

/// (month, two-digit year) from what the customer typed as "MM / YY"; (0, 0) when that is not
/// four digits, which [`expiry_valid`] then refuses.
pub fn parse_expiry(typed: &str) -> (u32, u32) {
    let digits: String = typed.chars().filter(char::is_ascii_digit).collect();
    if digits.len() != 4 {
        return (0, 0);
    }
    (digits[..2].parse().unwrap_or(0), digits[2..].parse().unwrap_or(0))
}

/// A CVC of the right length for the brand.
pub fn cvc_valid(cvc: &str, brand: Brand) -> bool {
    cvc.bytes().all(|b| b.is_ascii_digit())
        && (cvc.len() == brand.cvc_length() || (brand == Brand::Unknown && (3..=4).contains(&cvc.len())))
}

/// The ABA routing-number checksum: 3·(d1+d4+d7) + 7·(d2+d5+d8) + (d3+d6+d9) ≡ 0 (mod 10).
pub fn routing_number_valid(routing: &str) -> bool {
    if routing.len() != 9 || !routing.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let d: Vec<u32> = routing.bytes().map(|b| (b - b'0') as u32).collect();
    let sum = 3 * (d[0] + d[3] + d[6]) + 7 * (d[1] + d[4] + d[7]) + (d[2] + d[5] + d[8]);
    sum.is_multiple_of(10)
}

/// A bank account number as US banks issue them: 4 to 17 digits.
pub fn account_number_valid(account: &str) -> bool {
    (4..=17).contains(&account.len()) && account.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn brands_from_the_sandbox_cards() {
        assert_eq!(brand_of("4242424242424242"), Brand::Visa);
        assert_eq!(brand_of("5555555555554444"), Brand::Mastercard);
        assert_eq!(brand_of("2223003122003222"), Brand::Mastercard);
        assert_eq!(brand_of("378282246310005"), Brand::Amex);
        assert_eq!(brand_of("6011111111111117"), Brand::Discover);
        assert_eq!(brand_of("4"), Brand::Visa, "known from the first digit");
        assert_eq!(brand_of("9999"), Brand::Unknown);
    }

    #[test]
    fn typed_expiries() {
        assert_eq!(parse_expiry("12 / 30"), (12, 30));
        assert_eq!(parse_expiry("0730"), (7, 30));
        assert_eq!(parse_expiry("7/30"), (0, 0), "three digits are not an expiry");
        assert_eq!(parse_expiry(""), (0, 0));
    }

    #[test]
    fn brands_by_name() {
        for b in [Brand::Visa, Brand::Mastercard, Brand::Amex, Brand::Discover] {
            assert_eq!(Brand::from_name(b.as_str()), b);
        }
        assert_eq!(Brand::from_name("diners"), Brand::Unknown);
        assert_eq!(Brand::from_name("VISA"), Brand::Unknown, "names are the API's lower-case ones");
    }

    #[test]
    fn luhn_and_lengths() {
        for n in ["4242424242424242", "4000056655665556", "5555555555554444", "378282246310005", "6011111111111117"] {
            assert!(card_number_valid(n), "{n}");
        }
        assert!(!card_number_valid("4242424242424241"), "fails Luhn");
        assert!(!card_number_valid("424242424242424"), "too short for Visa");
        assert!(!card_number_valid("37828224631000"), "Amex needs 15");
        assert!(!luhn_valid(""));
        assert!(!luhn_valid("42a2"));
    }

    #[test]
    fn grouping_as_typed() {
        assert_eq!(group_digits("4242424242424242"), "4242 4242 4242 4242");
        assert_eq!(group_digits("424242"), "4242 42");
        assert_eq!(group_digits("378282246310005"), "3782 822463 10005");
        assert_eq!(digits_only("4242 4242-4242 4242").as_deref(), Some("4242424242424242"));
        assert_eq!(digits_only("4242x"), None);
    }

    #[test]
    fn expiry_and_cvc() {
        assert!(expiry_valid(12, 2030, (2026, 11)));
        assert!(expiry_valid(11, 26, (2026, 11)), "valid through its month");
        assert!(!expiry_valid(10, 2026, (2026, 11)), "in the past");
        assert!(!expiry_valid(13, 2030, (2026, 11)));
        assert!(!expiry_valid(0, 2030, (2026, 11)));
        assert!(!expiry_valid(1, 2099, (2026, 11)), "too far ahead");
        assert!(cvc_valid("123", Brand::Visa) && !cvc_valid("1234", Brand::Visa));
        assert!(cvc_valid("1234", Brand::Amex) && !cvc_valid("123", Brand::Amex));
        assert!(!cvc_valid("12a", Brand::Visa));
    }

    #[test]
    fn aba_checksum() {
        assert!(routing_number_valid("110000000"));
        assert!(routing_number_valid("021000021"));
        assert!(!routing_number_valid("110000001"));
        assert!(!routing_number_valid("11000000"));
        assert!(!routing_number_valid("11000000a"));
        assert!(account_number_valid("000123456789") && !account_number_valid("12"));
    }
}
