//! Request budgets (GCRA): a key may make `per_minute` requests a minute on average and up to
//! `burst` at once. The state is one number per key, its theoretical arrival time (TAT): each
//! admitted request moves it one emission interval later, and a request is admitted while the
//! TAT stays within `burst` intervals of now. The store keeps the TAT where every server process
//! sees it, so the budget holds across processes.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateRule {
    pub per_minute: u32,
    pub burst: u32,
}

impl RateRule {
    /// A browser credential (`cs_…_secret_…`, `ws_…_secret_…`): 120 a minute, bursts of 30
    /// (SPEC §5).
    pub const BROWSER_CREDENTIAL: RateRule = RateRule { per_minute: 120, burst: 30 };

    /// Milliseconds one request adds to the TAT.
    pub fn emission_ms(self) -> i64 {
        60_000 / i64::from(self.per_minute.max(1))
    }

    /// How far ahead of now the TAT may run: `burst` requests' worth.
    pub fn window_ms(self) -> i64 {
        self.emission_ms() * i64::from(self.burst.max(1))
    }

    /// The TAT after admitting one more request at `now`, given the stored one (none: a key
    /// not seen lately).
    pub fn next_tat(self, tat: Option<i64>, now: i64) -> i64 {
        tat.map_or(now, |t| t.max(now)) + self.emission_ms()
    }

    /// Whether a request at `now` fits, given the stored TAT.
    pub fn admits(self, tat: Option<i64>, now: i64) -> bool {
        self.next_tat(tat, now) - now <= self.window_ms()
    }

    /// When refused: whole seconds until one more request fits (at least 1), for `Retry-After`.
    pub fn retry_after_secs(self, tat: i64, now: i64) -> u64 {
        let wait_ms = (tat + self.emission_ms() - self.window_ms() - now).max(0);
        (wait_ms as u64).div_ceil(1000).max(1)
    }

    /// [`RateRule::retry_after_secs`] given the stored TAT as read back, if any (none: 1 s).
    pub fn retry_after_secs_of(self, tat: Option<i64>, now: i64) -> u64 {
        tat.map_or(1, |tat| self.retry_after_secs(tat, now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const R: RateRule = RateRule::BROWSER_CREDENTIAL;

    #[test]
    fn a_burst_then_one_every_half_second() {
        let now = 1_000_000;
        let mut tat = None;
        for i in 0..30 {
            assert!(R.admits(tat, now), "request {i} of the burst");
            tat = Some(R.next_tat(tat, now));
        }
        assert!(!R.admits(tat, now), "the 31st at once");
        assert_eq!(R.retry_after_secs(tat.unwrap(), now), 1);
        // Half a second later one more fits, and only one.
        let later = now + R.emission_ms();
        assert!(R.admits(tat, later));
        tat = Some(R.next_tat(tat, later));
        assert!(!R.admits(tat, later));
    }

    #[test]
    fn an_idle_key_starts_afresh() {
        let now = 5_000_000;
        let old = Some(now - 3_600_000);
        assert!(R.admits(old, now));
        assert_eq!(R.next_tat(old, now), now + 500);
    }

    #[test]
    fn the_wait_counts_whole_seconds() {
        let now = 0;
        // 40 requests' worth ahead: 10 intervals (5 s) past the window.
        let tat = 40 * R.emission_ms();
        assert_eq!(R.retry_after_secs(tat, now), 6);
    }
}
