//! Checks shared by every resource: metadata, emails, bounded text, nullable PATCH fields.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer};

use crate::domain::error::ApiError;

/// A string map (SPEC §4): at most 50 keys, keys up to 40 characters, values up to 500.
pub type Metadata = BTreeMap<String, String>;

pub fn metadata(param: &str, m: &Metadata) -> Result<(), ApiError> {
    if m.len() > 50 {
        return Err(ApiError::invalid(param, "metadata has at most 50 keys"));
    }
    for (k, v) in m {
        if k.is_empty() || k.chars().count() > 40 {
            return Err(ApiError::invalid(format!("{param}.{k}"), "metadata keys are 1 to 40 characters"));
        }
        if v.chars().count() > 500 {
            return Err(ApiError::invalid(format!("{param}.{k}"), "metadata values are at most 500 characters"));
        }
    }
    Ok(())
}

/// A plausible email address (one `@`, a dotted domain, no spaces), at most 254 characters.
pub fn is_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else { return false };
    s.len() <= 254
        && !local.is_empty()
        && local.len() <= 64
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains('@')
        && !s.chars().any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | ',' | ';' | '"'))
}

pub fn email(param: &str, s: &str) -> Result<(), ApiError> {
    if is_email(s) { Ok(()) } else { Err(ApiError::invalid(param, format!("{param} must be a valid email address"))) }
}

/// Text of 1..=max characters once trimmed; returns it trimmed.
pub fn text(param: &str, s: &str, max: usize) -> Result<String, ApiError> {
    let t = s.trim();
    if t.is_empty() || t.chars().count() > max || t.chars().any(|c| c.is_control()) {
        return Err(ApiError::invalid(param, format!("{param} must be 1 to {max} characters")));
    }
    Ok(t.to_owned())
}

/// For PATCH bodies: absent (`None`), explicitly `null` (`Some(None)`), or a value.
pub fn nullable<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// For optional fields where `null` must not pass for "left out": absent is `None` (with
/// `#[serde(default)]`), `null` is refused like any other wrong type. A client bug sending
/// `"amount": null` must not refund or capture everything.
pub fn present<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(d).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        assert!(is_email("alex@example.com"));
        assert!(is_email("a.b+c@sub.example.gov"));
        for bad in ["", "alex", "alex@", "@example.com", "alex@example", "a b@example.com", "a@b@c.com", "a@.com"] {
            assert!(!is_email(bad), "{bad}");
        }
    }

    #[test]
    fn metadata_limits() {
        let mut m = Metadata::new();
        m.insert("invoice".into(), "INV-1".into());
        assert!(metadata("metadata", &m).is_ok());
        m.insert("k".repeat(41), "v".into());
        assert!(metadata("metadata", &m).is_err());
        let big: Metadata = (0..51).map(|i| (format!("k{i}"), "v".into())).collect();
        assert!(metadata("metadata", &big).is_err());
        let long: Metadata = [("k".to_owned(), "v".repeat(501))].into();
        assert!(metadata("metadata", &long).is_err());
    }
}
