//! The identity provider's metadata (fetched by URL or given as XML, read
//! and checked when a connection is saved) and ours (the service provider
//! metadata the provider imports).

use ditto_core::{Error, Result};
use ditto_identity::egress::ProviderAccess;
use samael::metadata::{EntityDescriptor, HTTP_REDIRECT_BINDING};
use samael::service_provider::ServiceProviderBuilder;
use serde_json::{Value, json};

/// The largest metadata document taken (by URL or inline).
pub const MAX_METADATA_BYTES: usize = 1024 * 1024;

/// What we read of a provider's metadata.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdpMetadata {
    pub entity_id: String,
    /// Its single sign-on service for the HTTP-Redirect binding.
    pub sso_url: String,
    pub signing_certificates: usize,
}

impl IdpMetadata {
    /// What the connection keeps in its `metadata` column.
    pub fn summary(&self) -> Value {
        json!({
            "entity_id": self.entity_id,
            "sso_url": self.sso_url,
            "signing_certificates": self.signing_certificates,
        })
    }
}

fn invalid(field: &str, detail: impl Into<String>) -> Error {
    Error::invalid(field, "invalid_metadata", detail)
}

/// Reads and checks a provider's metadata: one entity with an IdP role, a
/// single sign-on service for the HTTP-Redirect binding, and at least one
/// signing certificate (without one, nothing could be verified).
pub fn read_idp_metadata(field: &str, xml: &str) -> Result<IdpMetadata> {
    if xml.len() > MAX_METADATA_BYTES {
        return Err(invalid(field, "the metadata is larger than 1 MiB"));
    }
    let entity: EntityDescriptor = xml
        .parse()
        .map_err(|e| invalid(field, format!("not SAML 2.0 entity metadata: {e}")))?;
    let entity_id = entity
        .entity_id
        .clone()
        .filter(|id| !id.trim().is_empty() && id.len() <= 2048)
        .ok_or_else(|| invalid(field, "the metadata has no entityID"))?;
    let descriptors = entity.idp_sso_descriptors.clone().unwrap_or_default();
    if descriptors.is_empty() {
        return Err(invalid(
            field,
            "the metadata describes no identity provider (no IDPSSODescriptor)",
        ));
    }
    let sp = ServiceProviderBuilder::default()
        .idp_metadata(entity)
        .build()
        .map_err(|e| Error::Internal(e.to_string()))?;
    let sso_url = sp.sso_binding_location(HTTP_REDIRECT_BINDING).ok_or_else(|| {
        invalid(
            field,
            "the identity provider offers no single sign-on service for the HTTP-Redirect binding",
        )
    })?;
    let parsed = url::Url::parse(&sso_url)
        .map_err(|_| invalid(field, "the single sign-on URL is not an absolute URL"))?;
    if !matches!(parsed.scheme(), "https" | "http") {
        return Err(invalid(field, "the single sign-on URL is not http(s)"));
    }
    let certificates = sp
        .idp_signing_certs()
        .map_err(|e| invalid(field, format!("a signing certificate does not read: {e}")))?
        .unwrap_or_default();
    if certificates.is_empty() {
        return Err(invalid(
            field,
            "the metadata has no signing certificate, so no response could be verified",
        ));
    }
    Ok(IdpMetadata {
        entity_id,
        sso_url,
        signing_certificates: certificates.len(),
    })
}

/// Fetches a provider's metadata document (at most 1 MiB). `url` was
/// checked by the caller (scheme); `access` refuses private addresses and
/// follows no redirects, so a tenant administrator cannot make the server
/// fetch from services next to it.
pub async fn fetch_idp_metadata(access: &ProviderAccess, field: &str, url: &str) -> Result<String> {
    access.check_url(field, url).await?;
    let fail = |what: String| invalid(field, format!("{url}: {what}"));
    let mut response = access
        .http()
        .get(url)
        .header(
            "Accept",
            "application/samlmetadata+xml, application/xml, text/xml",
        )
        .send()
        .await
        .map_err(|e| fail(error_chain(&e)))?;
    if !response.status().is_success() {
        return Err(fail(format!("answered {}", response.status())));
    }
    if response
        .content_length()
        .is_some_and(|n| n > MAX_METADATA_BYTES as u64)
    {
        return Err(fail("the metadata is larger than 1 MiB".into()));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| fail(error_chain(&e)))? {
        if body.len() + chunk.len() > MAX_METADATA_BYTES {
            return Err(fail("the metadata is larger than 1 MiB".into()));
        }
        body.extend_from_slice(&chunk);
    }
    String::from_utf8(body).map_err(|_| fail("the metadata is not UTF-8".into()))
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

/// Our service provider metadata: the entity id, the assertion consumer
/// service (HTTP-POST), unsigned requests, signed assertions wanted.
pub fn sp_metadata(entity_id: &str, acs_url: &str, name_id_format: Option<&str>) -> String {
    let name_id = name_id_format
        .map(|f| format!("\n    <md:NameIDFormat>{}</md:NameIDFormat>", escape(f)))
        .unwrap_or_default();
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="{entity}">
  <md:SPSSODescriptor AuthnRequestsSigned="false" WantAssertionsSigned="true" protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">{name_id}
    <md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="{acs}" index="0" isDefault="true"/>
  </md:SPSSODescriptor>
</md:EntityDescriptor>
"#,
        entity = escape(entity_id),
        acs = escape(acs_url),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const IDP: &str = r#"<?xml version="1.0"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://idp.example/meta">
  <md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:KeyDescriptor use="signing">
      <ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:X509Data><ds:X509Certificate>CERT</ds:X509Certificate></ds:X509Data></ds:KeyInfo>
    </md:KeyDescriptor>
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://idp.example/sso"/>
  </md:IDPSSODescriptor>
</md:EntityDescriptor>"#;

    #[test]
    fn metadata_needs_an_idp_a_redirect_binding_and_a_signing_key() {
        let no_key = IDP
            .replace("<md:KeyDescriptor", "<!--")
            .replace("</md:KeyDescriptor>", "-->");
        let e = read_idp_metadata("/idp_metadata_xml", &no_key).unwrap_err();
        assert!(format!("{e:?}").contains("signing certificate"), "{e:?}");
        let post_only = IDP.replace("HTTP-Redirect", "HTTP-POST");
        let e = read_idp_metadata("/idp_metadata_xml", &post_only).unwrap_err();
        assert!(format!("{e:?}").contains("HTTP-Redirect"), "{e:?}");
        assert!(read_idp_metadata("/idp_metadata_xml", "<nope/>").is_err());
        assert!(read_idp_metadata("/idp_metadata_xml", "not xml").is_err());
        // A certificate that is not base64 DER is refused, not ignored.
        assert!(read_idp_metadata("/idp_metadata_xml", &IDP.replace("CERT", "%%%")).is_err());
    }

    #[test]
    fn sp_metadata_escapes_what_it_embeds() {
        let xml = sp_metadata("https://d.example/m?a=1&b=2", "https://d.example/acs", None);
        assert!(xml.contains(r#"entityID="https://d.example/m?a=1&amp;b=2""#));
        assert!(xml.contains(r#"Location="https://d.example/acs""#));
        let parsed: EntityDescriptor = xml.parse().unwrap();
        assert_eq!(
            parsed.entity_id.as_deref(),
            Some("https://d.example/m?a=1&b=2")
        );
    }
}
