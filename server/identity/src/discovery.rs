//! Home-realm discovery: a person types their email and is sent to their
//! tenant's identity provider, found by the email's domain among the
//! domains tenants have claimed and proven. The answer depends only on the
//! domain, so it tells nobody which addresses have accounts.

use ditto_core::{Error, Result};
use ditto_store::Store;
use ditto_types::api::{DiscoveredConnection, SignInRoute, SsoDiscovery, SsoProtocol};

/// A domain as stored: lower-case ASCII (an internationalized name in its
/// `xn--` form), at least two labels, no trailing dot. `field` names it in
/// the 422.
pub fn normalize_domain(field: &str, raw: &str) -> Result<String> {
    let invalid = |why: &str| Error::invalid(field, "invalid_domain", why.to_owned());
    let raw = raw.trim();
    if raw.is_empty() || raw.len() > 253 || raw.ends_with('.') {
        return Err(invalid(
            "a domain name such as acme.com, without a trailing dot",
        ));
    }
    let domain = match url::Host::parse(raw) {
        Ok(url::Host::Domain(d)) => d.to_ascii_lowercase(),
        Ok(_) => return Err(invalid("an IP address is not an email domain")),
        Err(_) => return Err(invalid("not a valid domain name")),
    };
    let labels: Vec<&str> = domain.split('.').collect();
    let label_ok = |l: &&str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    if labels.len() < 2 || !labels.iter().all(label_ok) || domain.len() > 253 {
        return Err(invalid(
            "a domain name of at least two labels (letters, digits, hyphens), such as acme.com",
        ));
    }
    let tld = labels[labels.len() - 1];
    if !(tld.starts_with("xn--") || tld.bytes().all(|b| b.is_ascii_alphabetic())) {
        return Err(invalid("the last label must be a top-level domain"));
    }
    Ok(domain)
}

/// The domain of an email address.
pub fn email_domain(email: &str) -> Result<String> {
    let email = email.trim();
    let domain = email
        .rsplit_once('@')
        .filter(|(local, _)| !local.is_empty() && email.len() <= 254)
        .map(|(_, domain)| domain)
        .ok_or_else(|| {
            Error::invalid(
                "/email",
                "invalid_email",
                "an email address such as ada@acme.com",
            )
        })?;
    normalize_domain("/email", domain)
}

/// Where the login URL of a connection speaking `protocol` is, if this
/// server signs in through that protocol.
pub fn login_url(
    protocol: &str,
    id: ditto_types::SsoConnectionId,
) -> Option<(SsoProtocol, String)> {
    match protocol {
        "oidc" => Some((SsoProtocol::Oidc, ditto_store::sso::login_path(id))),
        "saml" => Some((SsoProtocol::Saml, ditto_store::saml::login_path(id))),
        _ => None,
    }
}

/// Where `email` should sign in.
pub async fn discover(store: &Store, email: &str) -> Result<SsoDiscovery> {
    let domain = email_domain(email)?;
    let password = |tenant: Option<String>, sso_enforced: bool| SsoDiscovery {
        method: SignInRoute::Password,
        tenant,
        sso_enforced,
        connections: Vec::new(),
    };
    let Some(realm) = store.domain_realm(&domain).await? else {
        return Ok(password(None, false));
    };
    if !realm.tenant_active {
        return Ok(password(None, false));
    }
    let connections: Vec<DiscoveredConnection> = realm
        .connections
        .into_iter()
        .filter_map(|(id, name, protocol)| {
            let (protocol, login_url) = login_url(&protocol, id)?;
            Some(DiscoveredConnection {
                id,
                name,
                protocol,
                login_url,
            })
        })
        .collect();
    if connections.is_empty() {
        return Ok(password(Some(realm.tenant_slug), realm.sso_enforced));
    }
    Ok(SsoDiscovery {
        method: SignInRoute::Sso,
        tenant: Some(realm.tenant_slug),
        sso_enforced: realm.sso_enforced,
        connections,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_are_normalized_and_checked() {
        assert_eq!(normalize_domain("/d", " Acme.COM ").unwrap(), "acme.com");
        assert_eq!(
            normalize_domain("/d", "bücher.example").unwrap(),
            "xn--bcher-kva.example"
        );
        for bad in [
            "acme",
            "acme.com.",
            "-acme.com",
            "acme..com",
            "10.0.0.1",
            "acme.c0m",
            "a b.com",
            "",
            "*.acme.com",
            "http://acme.com",
        ] {
            assert!(normalize_domain("/d", bad).is_err(), "{bad}");
        }
        assert_eq!(email_domain("Ada@Sub.Acme.com").unwrap(), "sub.acme.com");
        assert!(email_domain("acme.com").is_err());
        assert!(email_domain("@acme.com").is_err());
    }
}
