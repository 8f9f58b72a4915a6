//! Where the server may reach an identity provider. A tenant administrator
//! names the issuer (and the provider's discovery document names the
//! token, key and userinfo endpoints), so every provider request goes
//! through the platform's one egress policy (`ditto_egress`): no private,
//! loopback or link-local address unless a platform operator allowed it
//! with `DITTO_EGRESS_ALLOW`, checked on the URL before use and on the
//! resolved address at connect time.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use ditto_core::{Error, Result};
use ditto_egress::EgressPolicy;
use openidconnect::reqwest;

/// The guarded way out to identity providers.
#[derive(Clone, Debug)]
pub struct ProviderAccess {
    policy: EgressPolicy,
    client: Arc<OnceLock<reqwest::Client>>,
}

impl ProviderAccess {
    pub fn new(policy: EgressPolicy) -> Self {
        Self {
            policy,
            client: Default::default(),
        }
    }

    /// The HTTP client for providers: the guarded resolver, no redirects
    /// (a token or key endpoint that redirects is not chased), timeouts.
    pub fn http(&self) -> &reqwest::Client {
        self.client.get_or_init(|| {
            ditto_egress::resolver::client_builder(&self.policy)
                .connect_timeout(Duration::from_secs(5))
                .timeout(Duration::from_secs(10))
                .build()
                .expect("an HTTP client without TLS roots to load builds")
        })
    }

    /// Refuses a URL whose host is, or resolves to, an address the policy
    /// does not allow. `field` names it in the 422 (`issuer_not_allowed`).
    pub async fn check_url(&self, field: &str, url: &str) -> Result<()> {
        self.policy
            .check_url(url)
            .await
            .map_err(|refusal| Error::invalid(field, "issuer_not_allowed", refusal.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn private_hosts_are_refused_unless_allowed() {
        let strict = ProviderAccess::new(EgressPolicy::strict());
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
        let allowed = ProviderAccess::new(EgressPolicy::parse("10.0.0.5,localhost").unwrap());
        assert!(
            allowed
                .check_url("/issuer", "https://10.0.0.5")
                .await
                .is_ok()
        );
        assert!(
            allowed
                .check_url("/issuer", "https://localhost:8443")
                .await
                .is_ok()
        );
        assert!(
            allowed
                .check_url("/issuer", "https://10.0.0.6")
                .await
                .is_err()
        );
    }

    #[tokio::test]
    async fn the_client_refuses_names_that_resolve_to_private_addresses() {
        let strict = ProviderAccess::new(EgressPolicy::strict());
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
        assert!(text.contains("DITTO_EGRESS_ALLOW"), "{text}");
    }
}
