//! Webhook delivery (SPEC §7, "Webhook delivery, pinned"): a delivery's statuses, the retry
//! schedule, the Standard Webhooks signature, and the address ranges a delivery may not reach.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};

use crate::text_enum;

text_enum! {
    /// Where one event's delivery to one subscription stands.
    pub enum DeliveryStatus {
        /// Waiting for its next attempt.
        Pending => "pending",
        /// A 2xx answer arrived.
        Succeeded => "succeeded",
        /// The schedule ran out, the subscription answered 410, or it was disabled.
        Failed => "failed",
    }
}

impl DeliveryStatus {
    /// A delivery ends once: `pending → succeeded | failed`; a redelivery is a new delivery.
    pub fn can_become(self, to: DeliveryStatus) -> bool {
        matches!((self, to), (DeliveryStatus::Pending, DeliveryStatus::Succeeded | DeliveryStatus::Failed))
    }
}

/// Seconds between one attempt and the next: the first attempt at once, then 5 s, 5 min,
/// 30 min, 2 h, 5 h, 10 h, 14 h, 20 h and 24 h after the previous (about three days in all).
pub const RETRY_DELAYS_SECONDS: [i64; 9] = [5, 300, 1_800, 7_200, 18_000, 36_000, 50_400, 72_000, 86_400];

/// How many attempts a delivery gets in all.
pub const MAX_ATTEMPTS: usize = RETRY_DELAYS_SECONDS.len() + 1;

/// A subscription failing for this long with no success is disabled.
pub const DISABLE_AFTER_MS: i64 = 5 * 24 * 3600 * 1000;

/// Subscriptions an account may have at once.
pub const MAX_WEBHOOKS: i64 = 16;

/// Longer than any wait between two attempts of a failing delivery (the schedule's longest,
/// 24 h, plus its jitter): failures further apart than this are not one streak, since nothing
/// was even tried in between.
pub const STREAK_GAP_MS: i64 = 27 * 3600 * 1000;

/// The wait after the `attempts`-th failed attempt (1-based), with `jitter` in [-1, 1] scaling
/// ±10 %; `None` when the schedule is done.
pub fn retry_delay_ms(attempts: usize, jitter: f64) -> Option<i64> {
    let base = *RETRY_DELAYS_SECONDS.get(attempts.checked_sub(1)?)? as f64 * 1000.0;
    Some((base * (1.0 + 0.1 * jitter.clamp(-1.0, 1.0))).round() as i64)
}

/// `whsec_` + base64 of 32 random bytes.
pub fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
    format!("whsec_{}", STANDARD.encode(bytes))
}

/// `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">` with a `whsec_` secret (Standard
/// Webhooks); `None` for a secret that is not one.
pub fn signature(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> Option<String> {
    let key = STANDARD.decode(secret.strip_prefix("whsec_")?).ok()?;
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&key).ok()?;
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    Some(format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes())))
}

/// True for addresses a webhook may not reach unless private addresses are allowed: loopback,
/// private, link-local, CGNAT, multicast, broadcast, reserved, documentation and benchmark
/// ranges, unspecified, and IPv6's equivalents (an IPv4-mapped or -compatible address is judged
/// by the IPv4 address inside it).
pub fn is_refused(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => refused_v4(v4),
        IpAddr::V6(v6) => refused_v6(v6),
    }
}

fn refused_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.is_documentation()
        || a == 0 // "this network"
        || (a == 100 && (64..128).contains(&b)) // CGNAT 100.64.0.0/10
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments 192.0.0.0/24
        || (a == 192 && b == 88 && c == 99) // 6to4 relay anycast
        || (a == 198 && (b == 18 || b == 19)) // benchmarking 198.18.0.0/15
        || a >= 240 // reserved 240.0.0.0/4
}

fn refused_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return refused_v4(v4);
    }
    let s = ip.segments();
    // IPv4-compatible (::a.b.c.d, deprecated) and NAT64 (64:ff9b::/96) carry an IPv4 address.
    if (s[..6] == [0, 0, 0, 0, 0, 0] && !ip.is_loopback() && !ip.is_unspecified())
        || s[..6] == [0x64, 0xff9b, 0, 0, 0, 0]
    {
        let v4 = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
        return refused_v4(v4);
    }
    ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (s[0] & 0xfe00) == 0xfc00 // unique local fc00::/7
        || (s[0] & 0xffc0) == 0xfe80 // link-local fe80::/10
        || (s[0] & 0xffc0) == 0xfec0 // site-local (deprecated) fec0::/10
        || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation 2001:db8::/32
        || (s[0] == 0x2001 && s[1] < 0x0200) // IETF protocol assignments 2001::/23
        || (s[0] == 0x0100 && s[1..4] == [0, 0, 0]) // discard 100::/64
        || s[0] == 0x2002 // 6to4: reaches whatever IPv4 it embeds
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schedule_is_the_pinned_one_with_ten_percent_jitter() {
        let plain: Vec<i64> = (1..MAX_ATTEMPTS).map(|n| retry_delay_ms(n, 0.0).unwrap() / 1000).collect();
        assert_eq!(plain, vec![5, 300, 1_800, 7_200, 18_000, 36_000, 50_400, 72_000, 86_400]);
        assert_eq!(retry_delay_ms(MAX_ATTEMPTS, 0.0), None, "ten attempts in all");
        assert_eq!(retry_delay_ms(0, 0.0), None);
        assert_eq!(retry_delay_ms(1, 1.0), Some(5_500));
        assert_eq!(retry_delay_ms(1, -1.0), Some(4_500));
        assert_eq!(retry_delay_ms(2, 7.0), Some(330_000), "jitter is clamped");
        let total: i64 = RETRY_DELAYS_SECONDS.iter().sum();
        assert!((2 * 86_400..4 * 86_400).contains(&total), "about three days: {total} s");
    }

    #[test]
    fn deliveries_end_once() {
        use DeliveryStatus::*;
        assert!(Pending.can_become(Succeeded) && Pending.can_become(Failed));
        assert!(!Succeeded.can_become(Failed) && !Failed.can_become(Pending) && !Succeeded.can_become(Pending));
    }

    #[test]
    fn signatures_are_standard_webhooks() {
        // The example of the Standard Webhooks specification.
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            signature(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body).unwrap(),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
        assert!(signature("not-a-secret", "x", 1, b"").is_none());
        let fresh = new_secret();
        assert!(fresh.starts_with("whsec_") && STANDARD.decode(&fresh[6..]).unwrap().len() == 32);
    }

    #[test]
    fn internal_addresses_are_refused() {
        for refused in [
            "127.0.0.1",
            "10.0.0.1",
            "172.16.5.4",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "192.0.2.10",
            "198.18.0.1",
            "240.0.0.1",
            "::1",
            "::",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::127.0.0.1",
            "64:ff9b::7f00:1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "ff02::1",
            "2001:db8::1",
            "2002:7f00:1::",
        ] {
            assert!(is_refused(refused.parse().unwrap()), "{refused} must be refused");
        }
        for allowed in ["93.184.216.34", "8.8.8.8", "2606:4700::1111", "::ffff:93.184.216.34", "100.128.0.1"] {
            assert!(!is_refused(allowed.parse().unwrap()), "{allowed} must be allowed");
        }
    }
}
