//! Where the server may reach an identity provider. A tenant administrator
//! names the issuer (and the provider's discovery document names the
//! token, key and userinfo endpoints), so without a guard they could make
//! the server fetch from services next to it: cloud metadata at
//! 169.254.169.254, an internal admin port on 10.x, the host itself.
//!
//! Every provider request goes through one HTTP client whose DNS resolver
//! refuses names that resolve to a non-public address (loopback, private,
//! link-local, unique-local, carrier-grade NAT, …). Checking at connect
//! time, not only when a connection is saved, also defeats DNS rebinding.
//! Addresses written as IP literals never reach a resolver, so URLs are
//! also checked before use ([`ProviderAccess::check_url`]).
//!
//! Exceptions: hosts an operator lists (`DITTO_SSO_PRIVATE_HOSTS`, for an
//! identity provider on the internal network), and loopback addresses on a
//! server run for development (without `Secure` cookies), as plain-`http`
//! issuers are.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use ditto_core::{Error, Result};
use openidconnect::reqwest;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Whether `ip` is an address on the public internet.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public_v4(v4);
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00 // unique local fc00::/7
                || (first & 0xffc0) == 0xfe80 // link-local fe80::/10
                || (first & 0xffc0) == 0xfec0 // site-local fec0::/10
                || (first == 0x64 && v6.segments()[1] == 0xff9b) // NAT64 64:ff9b::/96
                || first == 0x2002 // 6to4 embeds an IPv4 address
                || (first == 0x2001 && v6.segments()[1] == 0x0db8)) // documentation
        }
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

fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

struct Policy {
    /// Lower-case host names (or IP literals) that may be private.
    private_hosts: Vec<String>,
    allow_loopback: bool,
}

impl Policy {
    fn host_listed(&self, host: &str) -> bool {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        self.private_hosts
            .iter()
            .any(|h| h.eq_ignore_ascii_case(host))
    }

    /// Why `ip` may not be reached for `host`, if it may not.
    fn refusal(&self, host: &str, ip: IpAddr) -> Option<String> {
        if is_public(ip) || self.host_listed(host) || (self.allow_loopback && is_loopback(ip)) {
            return None;
        }
        Some(format!(
            "{host} is on a private, loopback or link-local address ({ip}); \
             an operator can allow it with DITTO_SSO_PRIVATE_HOSTS"
        ))
    }
}

/// Resolves names through the system resolver and refuses those with a
/// non-public address (all of a name's addresses must pass: a name with
/// one public and one private address could be made to pick the latter).
struct GuardedResolver(Arc<Policy>);

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.0.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if let Some(why) = addrs.iter().find_map(|a| policy.refusal(&host, a.ip())) {
                return Err(why.into());
            }
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

/// The guarded way out to identity providers.
#[derive(Clone)]
pub struct ProviderAccess {
    policy: Arc<Policy>,
    client: Arc<OnceLock<reqwest::Client>>,
}

impl std::fmt::Debug for ProviderAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderAccess")
            .field("private_hosts", &self.policy.private_hosts)
            .field("allow_loopback", &self.policy.allow_loopback)
            .finish()
    }
}

impl ProviderAccess {
    /// `private_hosts`: hosts that may resolve to non-public addresses;
    /// `allow_loopback`: loopback addresses too (development only).
    pub fn new(private_hosts: Vec<String>, allow_loopback: bool) -> Self {
        Self {
            policy: Arc::new(Policy {
                private_hosts: private_hosts
                    .into_iter()
                    .map(|h| h.trim().to_ascii_lowercase())
                    .filter(|h| !h.is_empty())
                    .collect(),
                allow_loopback,
            }),
            client: Default::default(),
        }
    }

    /// The HTTP client for providers: the guarded resolver, no redirects
    /// (a token or key endpoint that redirects is not chased), timeouts.
    pub fn http(&self) -> &reqwest::Client {
        self.client.get_or_init(|| {
            reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .dns_resolver(Arc::new(GuardedResolver(self.policy.clone())))
                .connect_timeout(Duration::from_secs(5))
                .timeout(Duration::from_secs(10))
                .build()
                .expect("an HTTP client without TLS roots to load builds")
        })
    }

    /// Refuses a URL whose host is, or resolves to, a non-public address.
    /// `field` names it in the 422 (`issuer_not_allowed`).
    pub async fn check_url(&self, field: &str, url: &str) -> Result<()> {
        let refuse = |why: String| Error::invalid(field, "issuer_not_allowed", why);
        let url = url::Url::parse(url).map_err(|_| refuse(format!("{url} is not a URL")))?;
        let host = url
            .host_str()
            .ok_or_else(|| refuse("the URL names no host".into()))?;
        let port = url.port_or_known_default().unwrap_or(443);
        let ips: Vec<IpAddr> = match url.host() {
            Some(url::Host::Ipv4(ip)) => vec![ip.into()],
            Some(url::Host::Ipv6(ip)) => vec![ip.into()],
            _ => tokio::net::lookup_host((host, port))
                .await
                .map_err(|e| refuse(format!("{host} does not resolve: {e}")))?
                .map(|a| a.ip())
                .collect(),
        };
        match ips.into_iter().find_map(|ip| self.policy.refusal(host, ip)) {
            Some(why) => Err(refuse(why)),
            None => Ok(()),
        }
    }
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
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
        ] {
            assert!(!is_public(ip(private)), "{private}");
        }
        for public in ["93.184.216.34", "1.1.1.1", "2606:4700:4700::1111"] {
            assert!(is_public(ip(public)), "{public}");
        }
    }

    #[tokio::test]
    async fn private_hosts_are_refused_unless_listed_or_loopback_in_development() {
        let strict = ProviderAccess::new(vec![], false);
        for url in [
            "https://127.0.0.1/",
            "https://10.0.0.5/realms/a",
            "http://169.254.169.254/latest",
            "https://[::1]:8443/",
            "https://localhost/",
        ] {
            let e = strict.check_url("/issuer", url).await.unwrap_err();
            assert!(
                format!("{e:?}").contains("issuer_not_allowed"),
                "{url}: {e:?}"
            );
        }
        let dev = ProviderAccess::new(vec![], true);
        assert!(
            dev.check_url("/issuer", "http://127.0.0.1:9000")
                .await
                .is_ok()
        );
        assert!(dev.check_url("/issuer", "https://10.0.0.5").await.is_err());
        let listed = ProviderAccess::new(vec!["10.0.0.5".into(), "LocalHost".into()], false);
        assert!(
            listed
                .check_url("/issuer", "https://10.0.0.5")
                .await
                .is_ok()
        );
        assert!(
            listed
                .check_url("/issuer", "https://localhost:8443")
                .await
                .is_ok()
        );
        assert!(
            listed
                .check_url("/issuer", "https://10.0.0.6")
                .await
                .is_err()
        );
    }

    #[tokio::test]
    async fn the_client_refuses_names_that_resolve_to_private_addresses() {
        let strict = ProviderAccess::new(vec![], false);
        let e = strict
            .http()
            .get("http://localhost:9/")
            .send()
            .await
            .unwrap_err();
        let mut text = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            text.push_str(&s.to_string());
            source = s.source();
        }
        assert!(text.contains("DITTO_SSO_PRIVATE_HOSTS"), "{text}");
    }
}
