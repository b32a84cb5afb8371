//! A client address that keeps presenting bad credentials is turned away before any credential
//! is looked up: after `burst` failed authentications (401s) it may fail `per_minute` more a
//! minute, and while over that budget every request from it is answered 429 without touching
//! the database, after a short pause ([`BLOCKED_PAUSE`]). The pause costs the server nothing (a
//! timer) and the client its connection's time: a client that ignores the 429s and their
//! `Retry-After` gets one answer per pause on each connection, where it would otherwise take
//! the server's CPU at the rate the server can answer. A flood of bad credentials then costs
//! the server almost nothing, and the good clients' latency holds.
//!
//! It is per process (an attack that spreads over processes meets each one's budget), keyed on
//! the peer address the server sees (`GOVIFI_AUTH_FAILURES_PER_MINUTE=0` turns it off, e.g. behind
//! a proxy that hides clients' addresses).

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};

use crate::error::ApiError;
use crate::state::AppState;

/// How long a turned-away address waits for its 429.
pub const BLOCKED_PAUSE: Duration = Duration::from_millis(25);

pub struct AuthFailures {
    limiter: Option<governor::DefaultKeyedRateLimiter<IpAddr>>,
    /// Addresses over their budget, and until when.
    blocked: Mutex<HashMap<IpAddr, Instant>>,
}

impl AuthFailures {
    /// `per_minute` failures a minute after a burst of as many (0: no limit).
    pub fn new(per_minute: u32) -> Self {
        let limiter = NonZeroU32::new(per_minute)
            .map(|n| governor::RateLimiter::keyed(governor::Quota::per_minute(n).allow_burst(n)));
        AuthFailures { limiter, blocked: Mutex::new(HashMap::new()) }
    }

    /// How long `ip` is still turned away, if it is.
    fn blocked_for(&self, ip: IpAddr, now: Instant) -> Option<Duration> {
        let mut blocked = self.blocked.lock().unwrap_or_else(|e| e.into_inner());
        match blocked.get(&ip) {
            Some(until) if *until > now => Some(*until - now),
            Some(_) => {
                blocked.remove(&ip);
                None
            }
            None => None,
        }
    }

    /// Counts a failed authentication from `ip` (the middleware counts 401s; a failed dashboard
    /// sign-in, which answers with a redirect, is counted by its handler).
    pub fn failed(&self, ip: IpAddr) {
        let Some(limiter) = &self.limiter else { return };
        if let Err(not_until) = limiter.check_key(&ip) {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            let mut blocked = self.blocked.lock().unwrap_or_else(|e| e.into_inner());
            blocked.insert(ip, Instant::now() + wait.max(Duration::from_secs(1)));
        }
    }

    /// Forgets what no longer matters (housekeeping).
    pub fn retain_recent(&self) {
        if let Some(limiter) = &self.limiter {
            limiter.retain_recent();
        }
        let now = Instant::now();
        self.blocked.lock().unwrap_or_else(|e| e.into_inner()).retain(|_, until| *until > now);
    }
}

/// Who a failure counts against: an IPv4 address, or an IPv6 address's /64 (one host usually
/// holds a whole /64, so counting single IPv6 addresses would let it change address freely).
pub fn caller(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(std::net::Ipv6Addr::from(v6.to_bits() & !((1u128 << 64) - 1))),
        },
        v4 => v4,
    }
}

/// The middleware: a blocked address gets 429 before its request is looked at; a 401 answer
/// counts against its address.
pub async fn guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    // The probes and the metrics never authenticate: an address the guard turned away (a proxy's,
    // a load balancer's) must still see the server as alive.
    if matches!(request.uri().path(), "/healthz" | "/readyz" | "/metrics") {
        return next.run(request).await;
    }
    let ip = request.extensions().get::<ConnectInfo<std::net::SocketAddr>>().map(|c| caller(c.0.ip()));
    let Some(ip) = ip else { return next.run(request).await };
    let failures = state.auth_failures();
    if let Some(wait) = failures.blocked_for(ip, Instant::now()) {
        metrics::counter!("govifi_auth_blocked_total").increment(1);
        tokio::time::sleep(BLOCKED_PAUSE).await;
        return ApiError::rate_limited(wait.as_secs() + 1).into_response();
    }
    let response = next.run(request).await;
    if response.status() == StatusCode::UNAUTHORIZED {
        failures.failed(ip);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_count_per_ipv4_address_and_per_ipv6_64() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(caller(ip("203.0.113.7")), ip("203.0.113.7"));
        assert_eq!(caller(ip("2001:db8:1:2:aaaa::1")), ip("2001:db8:1:2::"));
        assert_eq!(caller(ip("2001:db8:1:2:ffff:ffff:ffff:ffff")), caller(ip("2001:db8:1:2::9")));
        assert_ne!(caller(ip("2001:db8:1:3::1")), caller(ip("2001:db8:1:2::1")));
        assert_eq!(caller(ip("::ffff:203.0.113.7")), ip("203.0.113.7"));
    }
}
