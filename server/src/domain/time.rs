//! Timestamps: unix milliseconds in storage, RFC 3339 UTC on the wire (`2026-06-11T18:30:00Z`).

use serde::{Serialize, Serializer};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, ToSchema)]
#[schema(value_type = String, format = DateTime, example = "2026-06-11T18:30:00Z")]
pub struct Timestamp(pub i64);

/// Milliseconds since the Unix epoch: the one time representation in storage.
pub fn now_ms() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp_nanos() as i64 / 1_000_000
}

impl Timestamp {
    pub fn now() -> Self {
        Timestamp(now_ms())
    }

    pub fn millis(self) -> i64 {
        self.0
    }

    pub fn unix_seconds(self) -> i64 {
        self.0.div_euclid(1000)
    }

    pub fn plus_seconds(self, seconds: i64) -> Self {
        Timestamp(self.0.saturating_add(seconds.saturating_mul(1000)))
    }

    /// (year, month) for card expiry checks, where the month turns last: UTC−12. A card is good
    /// through its expiry month wherever its holder is, so at 8 pm on the 31st in New York (the
    /// 1st in UTC) a card expiring that month still pays; the issuer has the last word.
    pub fn year_month(self) -> (u32, u32) {
        let behind = self.unix_seconds().saturating_sub(12 * 3600);
        let dt = OffsetDateTime::from_unix_timestamp(behind).unwrap_or(OffsetDateTime::UNIX_EPOCH);
        (dt.year() as u32, dt.month() as u8 as u32)
    }

    /// RFC 3339 in UTC, whole seconds.
    pub fn to_rfc3339(self) -> String {
        let dt = OffsetDateTime::from_unix_timestamp(self.unix_seconds()).unwrap_or(OffsetDateTime::UNIX_EPOCH);
        dt.format(&Rfc3339).unwrap_or_default()
    }

    /// Parses an RFC 3339 date-time (any offset; fractions kept to the millisecond).
    pub fn parse_rfc3339(s: &str) -> Option<Self> {
        let dt = OffsetDateTime::parse(s, &Rfc3339).ok()?;
        Some(Timestamp((dt.unix_timestamp_nanos() / 1_000_000) as i64))
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_rfc3339())
    }
}

/// When something that could not be resolved yet (a stuck confirm, a money movement) is tried
/// again: a tenth of how long it has waited, at least 5 s and at most an hour later, so a young
/// one is retried soon and an old one stops taking a turn every second.
pub fn recheck_after(waited_ms: i64) -> i64 {
    (waited_ms / 10).clamp(RECHECK_SOONEST_MS, RECHECK_LATEST_MS)
}

/// [`recheck_after`]'s bounds.
pub const RECHECK_SOONEST_MS: i64 = 5_000;
pub const RECHECK_LATEST_MS: i64 = 3_600_000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_month_turns_for_card_expiry_where_it_turns_last() {
        let at = |text: &str| Timestamp::parse_rfc3339(text).unwrap().year_month();
        // 1 February 01:00 UTC is still 31 January in the Americas: a January card pays.
        assert_eq!(at("2026-02-01T01:00:00Z"), (2026, 1));
        assert_eq!(at("2026-02-01T11:59:59Z"), (2026, 1));
        assert_eq!(at("2026-02-01T12:00:00Z"), (2026, 2));
        assert_eq!(at("2027-01-01T06:00:00Z"), (2026, 12));
    }

    #[test]
    fn formats_whole_seconds_in_utc_and_parses_offsets() {
        let t = Timestamp(1_781_202_600_123);
        assert_eq!(t.to_rfc3339(), "2026-06-11T18:30:00Z");
        assert_eq!(Timestamp::parse_rfc3339("2026-06-11T18:30:00Z").unwrap().0, 1_781_202_600_000);
        assert_eq!(Timestamp::parse_rfc3339("2026-06-11T20:30:00.5+02:00").unwrap().0, 1_781_202_600_500);
        assert!(Timestamp::parse_rfc3339("2026-06-11").is_none());
        assert_eq!(serde_json::to_string(&t).unwrap(), "\"2026-06-11T18:30:00Z\"");
    }
}
