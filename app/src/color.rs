//! Merchant colours made readable: the brand colour is used for buttons (white text on it) and
//! links (it on white), so it is darkened until both reach WCAG AA contrast (4.5:1).

/// `#RRGGBB` → (r, g, b).
pub fn parse_hex(hex: &str) -> Option<(u8, u8, u8)> {
    let h = hex.strip_prefix('#')?;
    if h.len() != 6 || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let channel = |i: usize| u8::from_str_radix(&h[i..i + 2], 16).ok();
    Some((channel(0)?, channel(2)?, channel(4)?))
}

fn linear(c: u8) -> f64 {
    let c = c as f64 / 255.0;
    if c <= 0.04045 { c / 12.92 } else { ((c + 0.055) / 1.055).powf(2.4) }
}

/// WCAG relative luminance.
pub fn luminance((r, g, b): (u8, u8, u8)) -> f64 {
    0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b)
}

/// WCAG contrast ratio of two colours (1 to 21).
pub fn contrast(a: (u8, u8, u8), b: (u8, u8, u8)) -> f64 {
    let (la, lb) = (luminance(a), luminance(b));
    let (hi, lo) = if la > lb { (la, lb) } else { (lb, la) };
    (hi + 0.05) / (lo + 0.05)
}

pub const DEFAULT_PRIMARY: &str = "#1a5fb4";

/// The merchant colour, darkened as little as needed for 4.5:1 against white (or the default
/// when there is none or it does not parse).
pub fn accessible_primary(hex: Option<&str>) -> String {
    let Some(mut rgb) = hex.and_then(parse_hex) else { return DEFAULT_PRIMARY.to_owned() };
    let white = (255, 255, 255);
    let mut steps = 0;
    while contrast(rgb, white) < 4.5 && steps < 100 {
        let darken = |c: u8| (c as u16 * 94 / 100) as u8;
        rgb = (darken(rgb.0), darken(rgb.1), darken(rgb.2));
        steps += 1;
    }
    format!("#{:02x}{:02x}{:02x}", rgb.0, rgb.1, rgb.2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contrast_matches_known_values() {
        assert!((contrast((0, 0, 0), (255, 255, 255)) - 21.0).abs() < 0.01);
        assert!((contrast((255, 255, 255), (255, 255, 255)) - 1.0).abs() < 0.01);
    }

    #[test]
    fn light_brand_colours_are_darkened_enough() {
        for hex in ["#ffff00", "#7fdbff", "#1A5FB4", "#ffffff", "#ff4136"] {
            let out = accessible_primary(Some(hex));
            let c = contrast(parse_hex(&out).unwrap(), (255, 255, 255));
            assert!(c >= 4.5, "{hex} → {out}: {c}");
        }
        assert_eq!(accessible_primary(Some("#000000")), "#000000", "dark colours stay");
        assert_eq!(accessible_primary(Some("blue")), DEFAULT_PRIMARY);
        assert_eq!(accessible_primary(None), DEFAULT_PRIMARY);
    }
}
