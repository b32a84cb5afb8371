//! The client's address behind trusted proxies (`GOVIFI_TRUSTED_PROXIES`).
//!
//! Behind a reverse proxy every request comes from the proxy's address, so the failed-auth guard
//! would count every client as one (one misbehaving integration would lock everyone out) and
//! consents would record the proxy. A request whose peer is a trusted proxy is instead taken to
//! come from the right-most `X-Forwarded-For` address that is not itself a trusted proxy: the
//! part of the header that trusted hops appended, never what the client wrote in it.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::Response;
use ipnet::IpNet;

use crate::state::AppState;

/// The address a request counts as coming from.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|net| net.contains(&ip.to_canonical()));
    if !is_trusted(peer) {
        return peer;
    }
    // Every X-Forwarded-For line in order, then each list right to left (nearest hop first).
    let hops: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    let mut client = peer;
    for hop in hops.iter().rev() {
        // A hop the proxy wrote is an address, possibly with a port; anything else ends the
        // chain at the last address a trusted hop vouched for.
        let Some(ip) = hop.parse::<IpAddr>().ok().or_else(|| hop.parse::<SocketAddr>().ok().map(|s| s.ip())) else {
            break;
        };
        client = ip.to_canonical();
        if !is_trusted(client) {
            break;
        }
    }
    client
}

/// The middleware: replaces the connection's peer address by the client's, for everything after
/// it (the failed-auth guard, consents, the dashboard's sign-in limits).
pub async fn resolve(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let trusted = &state.config().trusted_proxies;
    if !trusted.is_empty()
        && let Some(ConnectInfo(peer)) = request.extensions().get::<ConnectInfo<SocketAddr>>().copied()
    {
        let client = client_ip(peer.ip(), request.headers(), trusted);
        if client != peer.ip() {
            request.extensions_mut().insert(ConnectInfo(SocketAddr::new(client, peer.port())));
        }
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn xff(lines: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for line in lines {
            h.append("x-forwarded-for", line.parse().unwrap());
        }
        h
    }

    #[test]
    fn only_what_trusted_hops_appended_counts() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap(), "127.0.0.1/32".parse().unwrap()];
        // Not from a proxy: the header is the client's own words.
        assert_eq!(client_ip(ip("203.0.113.7"), &xff(&["198.51.100.1"]), &trusted), ip("203.0.113.7"));
        // From the proxy: its last hop is the client; what the client claimed before it is not.
        assert_eq!(client_ip(ip("127.0.0.1"), &xff(&["1.2.3.4, 203.0.113.7"]), &trusted), ip("203.0.113.7"));
        // Two proxies, on two header lines; an address with a port.
        assert_eq!(
            client_ip(ip("10.0.0.2"), &xff(&["1.2.3.4", "203.0.113.7:5555, 10.0.0.9"]), &trusted),
            ip("203.0.113.7")
        );
        assert_eq!(client_ip(ip("10.0.0.2"), &xff(&["[2001:db8::1]:443"]), &trusted), ip("2001:db8::1"));
        // Garbage where an address should be: the last address a trusted hop vouched for.
        assert_eq!(client_ip(ip("10.0.0.2"), &xff(&["203.0.113.7, bogus, 10.0.0.9"]), &trusted), ip("10.0.0.9"));
        // No header: the proxy itself.
        assert_eq!(client_ip(ip("127.0.0.1"), &HeaderMap::new(), &trusted), ip("127.0.0.1"));
        // IPv4-mapped peers match IPv4 networks.
        assert_eq!(client_ip(ip("::ffff:127.0.0.1"), &xff(&["203.0.113.7"]), &trusted), ip("203.0.113.7"));
        // Nothing trusted: never read.
        assert_eq!(client_ip(ip("127.0.0.1"), &xff(&["203.0.113.7"]), &[]), ip("127.0.0.1"));
    }
}
