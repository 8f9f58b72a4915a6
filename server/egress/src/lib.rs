//! Where the server may connect when a tenant chooses the destination:
//! gateway backends, audit export endpoints, identity providers' issuers and
//! metadata. Without one policy for all of them, a tenant administrator
//! could make the server fetch from services next to it (cloud metadata at
//! 169.254.169.254, an admin port on 10.x, the server itself) and read the
//! answer.
//!
//! The policy refuses every address that is not on the public internet
//! (loopback, RFC 1918, link-local, carrier-grade NAT, unique-local,
//! multicast, unspecified, reserved, IPv4-mapped and NAT64 forms of them)
//! and the server's own listen addresses. It is applied twice: to the URL
//! when it is saved ([`EgressPolicy::check_url`], a clear 422 for the
//! tenant), and to the resolved addresses at connect time
//! ([`EgressPolicy::resolve`], used by the clients' connectors), so a name
//! that resolves to something else later (DNS rebinding) is refused too.
//!
//! Only a platform operator makes exceptions, with `DITTO_EGRESS_ALLOW`:
//! host names and CIDR blocks (`vllm.internal,10.0.0.0/8,127.0.0.1/32`).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

#[cfg(feature = "hyper")]
pub mod connector;
#[cfg(feature = "reqwest")]
pub mod resolver;

/// The setting operators use to allow internal destinations.
pub const ALLOW_SETTING: &str = "DITTO_EGRESS_ALLOW";

/// The egress policy; cheap to clone.
#[derive(Clone, Default)]
pub struct EgressPolicy(Arc<Inner>);

#[derive(Default)]
struct Inner {
    /// Lower-case host names allowed whatever they resolve to.
    hosts: Vec<String>,
    /// Address blocks allowed.
    nets: Vec<Net>,
    /// This server's listeners: never a destination, even when allowed.
    own: Vec<SocketAddr>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Net {
    addr: IpAddr,
    prefix: u8,
}

impl Net {
    fn parse(text: &str) -> Option<Self> {
        let (addr, prefix) = match text.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (text, None),
        };
        let addr: IpAddr = addr
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse()
            .ok()?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p.parse().ok().filter(|p| *p <= max)?,
            None => max,
        };
        Some(Self { addr, prefix })
    }

    fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, canonical(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// A list of address blocks, such as `DITTO_TRUSTED_PROXIES`.
#[derive(Clone, Debug, Default)]
pub struct Networks(Vec<Net>);

impl Networks {
    /// Comma-separated IP addresses and CIDR blocks. Errors name the entry.
    pub fn parse(list: &str) -> Result<Self, String> {
        list.split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .map(|entry| {
                Net::parse(entry)
                    .ok_or_else(|| format!("`{entry}` is neither an IP address nor a CIDR block"))
            })
            .collect::<Result<_, _>>()
            .map(Self)
    }

    /// Whether `ip` (in any of its forms) is in one of the blocks.
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|n| n.contains(ip))
    }
}

/// An IPv4-mapped IPv6 address as the IPv4 address it is.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

/// Why a destination is refused; its text is shown to the tenant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal(pub String);

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refusal {}

impl fmt::Debug for EgressPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EgressPolicy")
            .field("hosts", &self.0.hosts)
            .field("nets", &self.0.nets)
            .field("own", &self.0.own)
            .finish()
    }
}

impl EgressPolicy {
    /// Public destinations only.
    pub fn strict() -> Self {
        Self::default()
    }

    /// Public destinations and those `allow` lists: comma-separated host
    /// names, IP addresses and CIDR blocks. Errors name the entry.
    pub fn parse(allow: &str) -> Result<Self, String> {
        let mut inner = Inner::default();
        for entry in allow.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            if let Some(net) = Net::parse(entry) {
                inner.nets.push(net);
            } else if entry.contains('/') || !is_host_name(entry) {
                return Err(format!(
                    "`{entry}` is neither a host name, an IP address nor a CIDR block"
                ));
            } else {
                inner.hosts.push(entry.to_ascii_lowercase());
            }
        }
        Ok(Self(Arc::new(inner)))
    }

    /// The same policy, also refusing this server's own listeners.
    pub fn with_own_addresses(self, own: impl IntoIterator<Item = SocketAddr>) -> Self {
        let mut inner = Inner {
            hosts: self.0.hosts.clone(),
            nets: self.0.nets.clone(),
            own: self.0.own.clone(),
        };
        inner.own.extend(own);
        Self(Arc::new(inner))
    }

    fn host_allowed(&self, host: &str) -> bool {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        self.0.hosts.iter().any(|h| h.eq_ignore_ascii_case(host))
    }

    fn is_own(&self, addr: SocketAddr) -> bool {
        self.0.own.iter().any(|own| {
            own.port() == addr.port()
                && (canonical(own.ip()) == canonical(addr.ip())
                    || (own.ip().is_unspecified() && !is_public(addr.ip())))
        })
    }

    /// Why `host` may not be reached at `addr`, if it may not. `port` 0
    /// (a resolver that does not know it) skips the own-listener check.
    pub fn refusal(&self, host: &str, addr: SocketAddr) -> Option<Refusal> {
        let ip = canonical(addr.ip());
        if addr.port() != 0 && self.is_own(addr) {
            return Some(Refusal(format!(
                "{host} is this server's own address ({addr}), which is never a destination"
            )));
        }
        if is_public(ip) || self.host_allowed(host) || self.0.nets.iter().any(|n| n.contains(ip)) {
            return None;
        }
        Some(Refusal(format!(
            "{host} is on a private, loopback, link-local or otherwise internal address ({ip}); \
             a platform operator can allow it with {ALLOW_SETTING}"
        )))
    }

    /// The addresses `host` resolves to, each checked (all must pass: a name
    /// with one public and one private address could be made to pick the
    /// latter). IP literals are checked without a lookup.
    pub async fn resolve(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, Refusal> {
        let addrs = lookup(host, port)
            .await
            .map_err(|e| Refusal(format!("{host} does not resolve: {e}")))?;
        self.checked(host, addrs)
    }

    /// `addrs` of `host` when every one may be reached.
    fn checked(&self, host: &str, addrs: Vec<SocketAddr>) -> Result<Vec<SocketAddr>, Refusal> {
        if addrs.is_empty() {
            return Err(Refusal(format!("{host} has no address")));
        }
        match addrs.iter().find_map(|a| self.refusal(host, *a)) {
            Some(refusal) => Err(refusal),
            None => Ok(addrs),
        }
    }

    /// Checks an http(s) URL's destination, resolving its host now. A name
    /// that does not resolve at all passes: it reaches nothing now, and every
    /// connection is checked again on the address it resolves to then.
    pub async fn check_url(&self, url: &str) -> Result<(), Refusal> {
        let parsed = url::Url::parse(url).map_err(|_| Refusal(format!("{url} is not a URL")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(Refusal(
                "only http and https destinations are allowed".into(),
            ));
        }
        let host = match parsed.host() {
            Some(url::Host::Ipv4(ip)) => ip.to_string(),
            Some(url::Host::Ipv6(ip)) => ip.to_string(),
            Some(url::Host::Domain(name)) => name.to_owned(),
            None => return Err(Refusal("the URL names no host".into())),
        };
        let port = parsed.port_or_known_default().unwrap_or(443);
        match lookup(&host, port).await {
            Ok(addrs) => self.checked(&host, addrs).map(drop),
            Err(_) => Ok(()),
        }
    }
}

/// The addresses of `host` (an IP literal, bracketed or not, without a
/// lookup).
async fn lookup(host: &str, port: u16) -> std::io::Result<Vec<SocketAddr>> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    match bare.parse::<IpAddr>() {
        Ok(ip) => Ok(vec![SocketAddr::new(ip, port)]),
        Err(_) => Ok(tokio::net::lookup_host((bare, port)).await?.collect()),
    }
}

fn is_host_name(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 253
        && text.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
}

/// Whether `ip` is an address on the public internet.
pub fn is_public(ip: IpAddr) -> bool {
    match canonical(ip) {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // carrier-grade NAT
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (18..20).contains(&b)) // benchmarking
        || a >= 240) // reserved
}

fn is_public_v6(v6: Ipv6Addr) -> bool {
    let [first, second, ..] = v6.segments();
    !(v6.is_loopback()
        || v6.is_unspecified()
        || v6.is_multicast()
        || (first & 0xfe00) == 0xfc00 // unique local fc00::/7
        || (first & 0xffc0) == 0xfe80 // link-local fe80::/10
        || (first & 0xffc0) == 0xfec0 // site-local fec0::/10
        || (first == 0x64 && second == 0xff9b) // NAT64 64:ff9b::/96
        || first == 0x2002 // 6to4 embeds an IPv4 address
        || (first == 0x2001 && second == 0x0db8) // documentation
        || v6.to_ipv4().is_some()) // IPv4-compatible ::a.b.c.d
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn only_public_addresses_are_public() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a00:1",
            "::127.0.0.1",
        ] {
            assert!(!is_public(ip(private)), "{private}");
        }
        for public in ["93.184.216.34", "1.1.1.1", "2606:4700:4700::1111"] {
            assert!(is_public(ip(public)), "{public}");
        }
    }

    #[tokio::test]
    async fn internal_destinations_are_refused_unless_allowed() {
        let strict = EgressPolicy::strict();
        for url in [
            "http://127.0.0.1:9000/v1",
            "https://10.0.0.1/v1",
            "http://169.254.169.254/latest/meta-data",
            "http://[::1]:8080/",
            "http://[::ffff:127.0.0.1]/",
            "http://localhost:8080/",
            "http://0.0.0.0/",
        ] {
            let refusal = strict.check_url(url).await.unwrap_err();
            assert!(
                refusal.0.contains(ALLOW_SETTING) || refusal.0.contains("internal"),
                "{url}: {refusal}"
            );
        }
        assert!(strict.check_url("ftp://1.1.1.1/").await.is_err());
        assert!(
            strict
                .check_url("https://203.0.113.9.invalid/")
                .await
                .is_ok(),
            "resolves to nothing"
        );
        assert!(strict.check_url("https://93.184.216.34/v1").await.is_ok());

        let allowed = EgressPolicy::parse("127.0.0.1/32, 10.0.0.0/8,vllm.INTERNAL,::1").unwrap();
        assert!(allowed.check_url("http://127.0.0.1:9000/v1").await.is_ok());
        assert!(allowed.check_url("http://10.200.0.5/v1").await.is_ok());
        assert!(allowed.check_url("http://[::1]:8080/").await.is_ok());
        assert!(allowed.check_url("http://127.0.0.2/").await.is_err());
        assert!(allowed.check_url("http://169.254.169.254/").await.is_err());
        assert!(allowed.check_url("http://192.168.0.1/").await.is_err());
        assert!(
            allowed
                .refusal("vllm.internal", "10.9.9.9:80".parse().unwrap())
                .is_none()
        );
    }

    #[tokio::test]
    async fn the_servers_own_listener_is_never_a_destination() {
        let own: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        let policy = EgressPolicy::parse("127.0.0.0/8")
            .unwrap()
            .with_own_addresses([own]);
        let refusal = policy
            .check_url("http://127.0.0.1:8080/api")
            .await
            .unwrap_err();
        assert!(refusal.0.contains("own address"), "{refusal}");
        assert!(policy.check_url("http://127.0.0.1:9000/").await.is_ok());
        let anywhere = EgressPolicy::parse("10.0.0.0/8")
            .unwrap()
            .with_own_addresses(["0.0.0.0:8080".parse().unwrap()]);
        assert!(anywhere.check_url("http://10.1.1.1:8080/").await.is_err());
        assert!(anywhere.check_url("http://10.1.1.1:8081/").await.is_ok());
    }

    #[test]
    fn the_allow_list_is_validated() {
        assert!(EgressPolicy::parse("").is_ok());
        assert!(EgressPolicy::parse("10.0.0.0/33").is_err());
        assert!(EgressPolicy::parse("not a host").is_err());
        assert!(EgressPolicy::parse("http://x").is_err());
        let p = EgressPolicy::parse("10.0.0.0/8,fd00::/8").unwrap();
        assert!(p.refusal("x", "[fd12::1]:80".parse().unwrap()).is_none());
        assert!(
            p.refusal("x", "[::ffff:10.1.2.3]:80".parse().unwrap())
                .is_none()
        );
    }
}
