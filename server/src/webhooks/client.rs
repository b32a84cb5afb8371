//! The HTTP client deliveries go out with, guarded against server-side request forgery: every
//! address a host name resolves to is checked (the resolver drops refused ones, so a name that
//! resolves to an internal address — or is rebound to one between check and connect — cannot
//! reach it), IP-literal hosts are checked before connecting, redirects are never followed and
//! proxies are off.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use crate::domain::account::web_url;
use crate::domain::webhook::is_refused;

/// How long a receiver has to answer.
pub const TIMEOUT: Duration = Duration::from_secs(15);

/// The resolver's refusal: every address of the name is one a webhook may not reach.
#[derive(Debug)]
pub struct Blocked;

impl std::fmt::Display for Blocked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("blocked_address")
    }
}

impl std::error::Error for Blocked {}

struct GuardedResolver {
    allow_private: bool,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        Box::pin(async move {
            let found: Vec<SocketAddr> = tokio::net::lookup_host((name.as_str(), 0)).await?.collect();
            let kept: Vec<SocketAddr> = found.into_iter().filter(|a| allow_private || !is_refused(a.ip())).collect();
            if kept.is_empty() {
                return Err(Box::new(Blocked) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(kept.into_iter()) as Addrs)
        })
    }
}

/// The delivery client.
pub fn client(allow_private: bool) -> reqwest::Client {
    reqwest::Client::builder()
        .dns_resolver(Arc::new(GuardedResolver { allow_private }))
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(TIMEOUT)
        .connect_timeout(Duration::from_secs(10))
        .user_agent("Govifi-Webhooks/1")
        .build()
        .expect("the webhook client builds")
}

/// The host's IP when the URL names one literally.
fn literal_ip(url: &url::Url) -> Option<IpAddr> {
    match url.host()? {
        url::Host::Ipv4(v4) => Some(IpAddr::V4(v4)),
        url::Host::Ipv6(v6) => Some(IpAddr::V6(v6)),
        url::Host::Domain(_) => None,
    }
}

/// Whether a delivery to `url` may be attempted now without connecting anywhere refused: an
/// IP-literal host is judged at once (names are judged by the resolver as they connect).
pub fn literal_allowed(url: &str, allow_private: bool) -> bool {
    allow_private || url::Url::parse(url).ok().and_then(|u| literal_ip(&u)).is_none_or(|ip| !is_refused(ip))
}

/// Checks a subscription URL: an absolute http(s) URL (https outside sandbox mode, except for
/// localhost), whose host — literal or every address it resolves to — is not refused.
pub async fn check_url(url: &str, allow_private: bool, sandbox: bool) -> Result<url::Url, String> {
    let parsed = web_url(url, sandbox)?;
    if allow_private {
        return Ok(parsed);
    }
    if let Some(ip) = literal_ip(&parsed) {
        return if is_refused(ip) { Err(format!("{ip} is a private or reserved address")) } else { Ok(parsed) };
    }
    let host = parsed.host_str().unwrap_or_default().to_owned();
    let port = parsed.port_or_known_default().unwrap_or(443);
    let addrs: Vec<SocketAddr> =
        tokio::net::lookup_host((host.as_str(), port)).await.map_err(|_| format!("{host} does not resolve"))?.collect();
    if addrs.is_empty() {
        return Err(format!("{host} does not resolve"));
    }
    if let Some(bad) = addrs.iter().find(|a| is_refused(a.ip())) {
        // Which inside address it is stays in the log: the answer would map the network.
        tracing::info!(host = %host, address = %bad.ip(), "a webhook host resolves to a refused address");
        return Err(format!("{host} resolves to a private or reserved address"));
    }
    Ok(parsed)
}

/// True when an error (or one of its causes) is the resolver's refusal.
pub fn is_blocked(err: &reqwest::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = source {
        if e.is::<Blocked>() {
            return true;
        }
        source = e.source();
    }
    false
}
