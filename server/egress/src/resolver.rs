//! A DNS resolver for reqwest clients that refuses names resolving to
//! addresses the policy does not allow, at connect time. reqwest does not
//! resolve IP literals, so URLs are also checked before use
//! ([`EgressPolicy::check_url`]).

use std::net::SocketAddr;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use crate::EgressPolicy;

/// Resolves through the system resolver, then applies the policy.
#[derive(Clone, Debug)]
pub struct GuardedResolver(pub EgressPolicy);

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.0.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            // Port 0: reqwest sets the port afterwards.
            let addrs: Vec<SocketAddr> = policy.resolve(&host, 0).await?;
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

/// A reqwest client builder whose names go through the policy, without
/// redirects (a destination that redirects is not chased elsewhere).
pub fn client_builder(policy: &EgressPolicy) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .dns_resolver(std::sync::Arc::new(GuardedResolver(policy.clone())))
}
