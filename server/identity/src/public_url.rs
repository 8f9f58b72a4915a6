//! The address the world reaches this server at (`DITTO_PUBLIC_URL`).
//!
//! Absolute URLs we hand out (the OIDC redirect URI, SCIM `meta.location`)
//! are built from it when set. Without it they are built from the request's
//! `Host` header, which a client chooses: behind a proxy that passes any
//! Host through, a redirect URI or a location could name another host.

use std::fmt;

/// An absolute `http(s)` URL without query, fragment or credentials; kept
/// without a trailing slash so paths join onto it.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicUrl(String);

impl fmt::Debug for PublicUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicUrl({})", self.0)
    }
}

impl fmt::Display for PublicUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl PublicUrl {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let url = url::Url::parse(raw.trim()).map_err(|e| {
            format!("must be an absolute URL such as https://ditto.example.com ({e})")
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err("must be an http or https URL".into());
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err("must name a host".into());
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err("must not carry a query or fragment".into());
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err("must not carry credentials".into());
        }
        Ok(Self(url.as_str().trim_end_matches('/').to_owned()))
    }

    pub fn is_https(&self) -> bool {
        self.0.starts_with("https://")
    }

    /// This server's URL for `path` (which starts with `/`).
    pub fn join(&self, path: &str) -> String {
        format!("{}{path}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_urls_are_absolute_http_without_query_or_fragment() {
        let url = PublicUrl::parse("https://ditto.example.com/").unwrap();
        assert_eq!(url.join("/api/v1/x"), "https://ditto.example.com/api/v1/x");
        let prefixed = PublicUrl::parse("http://10.0.0.1:8080/ditto").unwrap();
        assert_eq!(prefixed.join("/t"), "http://10.0.0.1:8080/ditto/t");
        for bad in [
            "ditto.example.com",
            "/relative",
            "ftp://ditto.example.com",
            "https://ditto.example.com/?a=b",
            "https://ditto.example.com/#top",
            "https://user:pw@ditto.example.com",
            "",
        ] {
            assert!(PublicUrl::parse(bad).is_err(), "{bad}");
        }
    }
}
