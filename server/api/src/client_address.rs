//! The address a request came from. Behind a load balancer or ingress every
//! connection comes from the proxy, so throttles, lockouts and audit events
//! would all see one client; when the peer is one of the operator's
//! `DITTO_TRUSTED_PROXIES`, the client is the address it forwarded in
//! `X-Forwarded-For`. The header is read from the right, skipping trusted
//! hops: whatever a client writes on the left is never believed.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::Response;
use ditto_egress::Networks;

/// The setting that names the proxies whose `X-Forwarded-For` is believed.
pub const TRUSTED_PROXIES_SETTING: &str = "DITTO_TRUSTED_PROXIES";

/// Where the request came from, set on every request by [`resolve`]. `None`
/// when the server does not know its peers (no connect info).
#[derive(Clone, Copy, Debug)]
pub(crate) struct ClientAddress(pub(crate) Option<IpAddr>);

impl ClientAddress {
    /// The address as throttles name the client.
    pub(crate) fn key(&self) -> String {
        self.0
            .map_or_else(|| "unknown".to_owned(), |ip| ip.to_canonical().to_string())
    }
}

/// Middleware: works out the client's address and puts it in the request.
pub(crate) async fn resolve(
    State(trusted): State<Arc<Networks>>,
    mut request: Request,
    next: Next,
) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let client = client_address(peer, request.headers(), &trusted);
    request.extensions_mut().insert(ClientAddress(client));
    next.run(request).await
}

/// The client behind `peer`: `peer` itself unless it is a trusted proxy, in
/// which case the right-most forwarded address that is not a trusted proxy
/// (or the left-most, when every hop is trusted).
pub(crate) fn client_address(
    peer: Option<IpAddr>,
    headers: &HeaderMap,
    trusted: &Networks,
) -> Option<IpAddr> {
    let peer = peer?;
    if !trusted.contains(peer) {
        return Some(peer);
    }
    let mut client = peer;
    let hops = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .collect::<Vec<_>>();
    for hop in hops.into_iter().rev() {
        let Some(ip) = parse_hop(hop) else {
            // Garbage where an address should be: believe nothing further left.
            break;
        };
        client = ip;
        if !trusted.contains(ip) {
            break;
        }
    }
    Some(client)
}

/// One `X-Forwarded-For` entry: an address, perhaps with a port.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    hop.parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<SocketAddr>().ok().map(|s| s.ip()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append("x-forwarded-for", v.parse().unwrap());
        }
        h
    }

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        let trusted = Networks::parse("10.0.0.0/8").unwrap();
        let h = headers(&["198.51.100.7"]);
        assert_eq!(
            client_address(ip("203.0.113.9"), &h, &trusted),
            ip("203.0.113.9")
        );
        assert_eq!(
            client_address(ip("10.0.0.2"), &h, &Networks::default()),
            ip("10.0.0.2")
        );
    }

    #[test]
    fn a_trusted_proxy_names_the_right_most_untrusted_hop() {
        let trusted = Networks::parse("10.0.0.0/8, 192.0.2.1").unwrap();
        // The client wrote 1.1.1.1 itself; the ingress appended its peer.
        let h = headers(&["1.1.1.1, 198.51.100.7", "192.0.2.1"]);
        assert_eq!(
            client_address(ip("10.0.0.2"), &h, &trusted),
            ip("198.51.100.7")
        );
        let all_trusted = headers(&["10.1.1.1, 10.2.2.2"]);
        assert_eq!(
            client_address(ip("10.0.0.2"), &all_trusted, &trusted),
            ip("10.1.1.1")
        );
        assert_eq!(
            client_address(ip("10.0.0.2"), &HeaderMap::new(), &trusted),
            ip("10.0.0.2")
        );
    }

    #[test]
    fn garbage_stops_the_walk_and_ports_are_dropped() {
        let trusted = Networks::parse("10.0.0.0/8").unwrap();
        let h = headers(&["198.51.100.7, not-an-address, 10.9.9.9"]);
        assert_eq!(client_address(ip("10.0.0.2"), &h, &trusted), ip("10.9.9.9"));
        let with_port = headers(&["[2001:db8::1]:443"]);
        assert_eq!(
            client_address(ip("10.0.0.2"), &with_port, &trusted),
            ip("2001:db8::1")
        );
        assert_eq!(client_address(None, &with_port, &trusted), None);
    }
}
