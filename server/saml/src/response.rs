//! Verifying a SAML response posted to our assertion consumer service.
//!
//! samael does the signature work: every `ds:Signature` in the document
//! must verify against one of the provider's signing certificates, and the
//! document is then reduced to what the verified signatures cover, so the
//! assertion it parses is the signed one (an unsigned assertion beside or
//! around a signed one is gone before parsing). We restrict the algorithms
//! to RSA-SHA256 and ECDSA-SHA256 (samael accepts anything by default,
//! SHA-1 included) and add checks samael leaves out: the raw document must
//! hold exactly one assertion and no encrypted one (the shape of every
//! signature-wrapping attack is a second assertion), the verified assertion
//! must carry an audience restriction naming us (samael checks the audience
//! only when one is present) and an expiry, and an unsolicited response may
//! not answer a request.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Duration, Utc};
use quick_xml::NsReader;
use quick_xml::events::Event;
use quick_xml::name::ResolveResult;
use samael::crypto::{AllowedSignatureAlgorithm, CertificateDer};
use samael::key_info::{KeyInfo, X509Data};
use samael::metadata::{EntityDescriptor, KeyDescriptor};
use samael::schema::Assertion;
use samael::service_provider::{ServiceProvider, ServiceProviderBuilder};

/// Clock skew allowed on NotBefore / NotOnOrAfter.
pub const CLOCK_SKEW: Duration = Duration::seconds(60);
/// How old a response's or assertion's IssueInstant may be.
pub const MAX_ISSUE_DELAY: Duration = Duration::seconds(120);
/// The largest SAMLResponse (base64) taken.
pub const MAX_RESPONSE_BYTES: usize = 256 * 1024;

const PROTOCOL_NS: &[u8] = b"urn:oasis:names:tc:SAML:2.0:protocol";
const DSIG_NS: &[u8] = b"http://www.w3.org/2000/09/xmldsig#";
const ALLOWED_SIGNATURE_METHODS: [&str; 2] = [
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
];
const NAMEID_TRANSIENT: &str = "urn:oasis:names:tc:SAML:2.0:nameid-format:transient";

/// Who the service provider is, for one response.
#[derive(Clone, Debug)]
pub struct SpView<'a> {
    pub entity_id: &'a str,
    pub acs_url: &'a str,
    pub idp_metadata_xml: &'a str,
}

/// What the response must answer.
#[derive(Clone, Copy, Debug)]
pub enum Expecting<'a> {
    /// The AuthnRequest this browser sent (SP-initiated).
    Answer(&'a str),
    /// Nothing: a sign-in started at the provider (IdP-initiated).
    Unsolicited,
}

/// A verified assertion, reduced to what a sign-in uses.
#[derive(Clone, Debug)]
pub struct VerifiedAssertion {
    pub id: String,
    pub name_id: String,
    pub name_id_format: Option<String>,
    /// Attribute values by `Name` (and by `FriendlyName` where one is given
    /// and no attribute has that `Name`).
    pub attributes: BTreeMap<String, Vec<String>>,
    /// Until when the assertion could be accepted (its latest NotOnOrAfter
    /// plus the skew): the replay cache keeps its id until then.
    pub usable_until: DateTime<Utc>,
}

impl VerifiedAssertion {
    pub fn first(&self, name: &str) -> Option<String> {
        self.attributes
            .get(name)?
            .iter()
            .map(|v| v.trim())
            .find(|v| !v.is_empty())
            .map(str::to_owned)
    }

    /// A stable subject: the NameID, unless it is transient (a new value
    /// at every sign-in), then `email`.
    pub fn subject(&self, email: Option<&str>) -> Option<String> {
        if self.name_id_format.as_deref() == Some(NAMEID_TRANSIENT) {
            return email.map(|e| format!("email:{}", e.to_lowercase()));
        }
        Some(self.name_id.clone()).filter(|s| !s.is_empty() && s.len() <= 255)
    }
}

/// Why a response was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Not base64, not XML, not a SAML response, or too large.
    Malformed(String),
    /// The provider answered with a non-success status.
    ProviderStatus(String),
    /// The signature, an algorithm, the issuer, audience, recipient,
    /// destination, times or InResponseTo are wrong.
    Invalid(String),
}

/// Decodes and verifies `saml_response` (the POSTed, base64 form field).
pub fn verify(
    sp: &SpView<'_>,
    saml_response: &str,
    expecting: Expecting<'_>,
) -> Result<VerifiedAssertion, Refusal> {
    if saml_response.len() > MAX_RESPONSE_BYTES {
        return Err(Refusal::Malformed("the SAMLResponse is too large".into()));
    }
    let compact: String = saml_response
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    let bytes = STANDARD
        .decode(compact)
        .map_err(|_| Refusal::Malformed("the SAMLResponse is not base64".into()))?;
    let xml = String::from_utf8(bytes)
        .map_err(|_| Refusal::Malformed("the SAMLResponse is not UTF-8".into()))?;
    let shape = shape(&xml).map_err(Refusal::Malformed)?;
    if let Some(status) = shape.status.filter(|s| !s.ends_with(":status:Success")) {
        // Unsigned as it may be, a failure status is only ever a reason to
        // stop; it is reported, never trusted for more.
        return Err(Refusal::ProviderStatus(status));
    }
    // samael refuses these too (every signature must verify, with an
    // allowed algorithm); saying which rule failed helps whoever set up
    // the provider.
    if shape.signature_methods.is_empty() {
        return Err(Refusal::Invalid(
            "the response carries no signature; the provider must sign the response or the assertion".into(),
        ));
    }
    if let Some(method) = shape
        .signature_methods
        .iter()
        .find(|m| !ALLOWED_SIGNATURE_METHODS.contains(&m.as_str()))
    {
        return Err(Refusal::Invalid(format!(
            "the response is signed with {method}; only RSA-SHA256 and ECDSA-SHA256 are accepted"
        )));
    }
    if shape.assertions != 1 || shape.encrypted_assertions != 0 {
        return Err(Refusal::Invalid(format!(
            "the response must carry exactly one (unencrypted) assertion; it carries {} and {} encrypted",
            shape.assertions, shape.encrypted_assertions
        )));
    }
    let idp: EntityDescriptor = sp.idp_metadata_xml.parse().map_err(|e| {
        Refusal::Invalid(format!("the stored provider metadata does not read: {e}"))
    })?;
    let certificates = provider(sp, idp.clone(), expecting)?
        .idp_signing_certs()
        .ok()
        .flatten()
        .unwrap_or_default();
    // samael skips verification altogether when the metadata names no
    // signing certificate; such metadata is refused when saved, and here.
    if certificates.is_empty() {
        return Err(Refusal::Invalid(
            "the provider's metadata has no signing certificate".into(),
        ));
    }
    let requests: Vec<&str> = match expecting {
        Expecting::Answer(id) => vec![id],
        Expecting::Unsolicited => vec![],
    };
    // One certificate at a time: samael gives up at the first certificate
    // whose key type cannot check the signature (an RSA key against an
    // ECDSA signature is an error, not a mismatch), so a provider listing
    // an RSA and an EC certificate (a key rollover) would fail with the
    // other one. An answer other than a failed signature means the
    // signature verified: that answer stands.
    let mut refusal = None;
    for certificate in &certificates {
        let provider = provider(sp, with_only_signer(&idp, certificate), expecting)?;
        match provider.parse_xml_response(&xml, Some(&requests)) {
            Ok(assertion) => return check_assertion(sp, &assertion, expecting),
            Err(samael::service_provider::Error::FailedToValidateSignature) => {
                refusal.get_or_insert(Refusal::Invalid(describe(
                    &samael::service_provider::Error::FailedToValidateSignature,
                )));
            }
            Err(e) => return Err(Refusal::Invalid(describe(&e))),
        }
    }
    Err(refusal.expect("at least one certificate was tried"))
}

/// samael's service provider for one response.
fn provider(
    sp: &SpView<'_>,
    idp: EntityDescriptor,
    expecting: Expecting<'_>,
) -> Result<ServiceProvider, Refusal> {
    ServiceProviderBuilder::default()
        .entity_id(Some(sp.entity_id.to_owned()))
        .acs_url(Some(sp.acs_url.to_owned()))
        .metadata_url(None::<String>)
        .slo_url(None::<String>)
        .idp_metadata(idp)
        .allow_idp_initiated(matches!(expecting, Expecting::Unsolicited))
        .max_clock_skew(CLOCK_SKEW)
        .max_issue_delay(MAX_ISSUE_DELAY)
        .allowed_signature_algorithms(Some(vec![
            AllowedSignatureAlgorithm::RsaSha256,
            AllowedSignatureAlgorithm::EcdsaSha256,
        ]))
        .build()
        .map_err(|e| Refusal::Invalid(e.to_string()))
}

/// The provider's metadata with `certificate` as its only signing key.
fn with_only_signer(idp: &EntityDescriptor, certificate: &CertificateDer) -> EntityDescriptor {
    let mut idp = idp.clone();
    let signer = KeyDescriptor {
        key_use: Some("signing".into()),
        key_info: KeyInfo {
            id: None,
            x509_data: Some(X509Data {
                certificates: vec![STANDARD.encode(certificate.der_data())],
            }),
        },
        encryption_methods: None,
    };
    for descriptor in idp.idp_sso_descriptors.iter_mut().flatten() {
        descriptor.key_descriptors = vec![signer.clone()];
    }
    idp
}

fn describe(e: &samael::service_provider::Error) -> String {
    use samael::service_provider::Error as E;
    match e {
        E::FailedToValidateSignature => "the signature is missing, does not verify against the provider's certificates, or uses an algorithm other than RSA-SHA256 or ECDSA-SHA256".into(),
        other => other.to_string(),
    }
}

fn check_assertion(
    sp: &SpView<'_>,
    assertion: &Assertion,
    expecting: Expecting<'_>,
) -> Result<VerifiedAssertion, Refusal> {
    let invalid = |m: &str| Refusal::Invalid(m.to_owned());
    let conditions = assertion
        .conditions
        .as_ref()
        .ok_or_else(|| invalid("the assertion has no conditions (audience, validity)"))?;
    let for_us = conditions
        .audience_restrictions
        .iter()
        .flatten()
        .any(|r| r.audience.iter().any(|a| a == sp.entity_id));
    if !for_us {
        return Err(Refusal::Invalid(format!(
            "the assertion is not for this service provider (audience {})",
            sp.entity_id
        )));
    }
    let subject = assertion
        .subject
        .as_ref()
        .ok_or_else(|| invalid("the assertion has no subject"))?;
    let name_id = subject
        .name_id
        .as_ref()
        .ok_or_else(|| invalid("the assertion's subject has no NameID"))?;
    let confirmations: Vec<_> = subject
        .subject_confirmations
        .iter()
        .flatten()
        .filter_map(|c| c.subject_confirmation_data.as_ref())
        .collect();
    if matches!(expecting, Expecting::Unsolicited)
        && confirmations.iter().any(|d| d.in_response_to.is_some())
    {
        return Err(invalid(
            "the response answers a sign-in started elsewhere (InResponseTo) but this browser started none",
        ));
    }
    let until = confirmations
        .iter()
        .filter_map(|d| d.not_on_or_after)
        .chain(conditions.not_on_or_after)
        .max()
        .ok_or_else(|| invalid("the assertion has no NotOnOrAfter"))?;
    let mut attributes: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut friendly: Vec<(String, Vec<String>)> = Vec::new();
    for statement in assertion.attribute_statements.iter().flatten() {
        for attribute in &statement.attributes {
            let values: Vec<String> = attribute
                .values
                .iter()
                .filter_map(|v| v.value.clone())
                .collect();
            if let Some(name) = &attribute.name {
                attributes
                    .entry(name.clone())
                    .or_default()
                    .extend(values.iter().cloned());
            }
            if let Some(name) = &attribute.friendly_name {
                friendly.push((name.clone(), values));
            }
        }
    }
    for (name, values) in friendly {
        attributes.entry(name).or_insert(values);
    }
    Ok(VerifiedAssertion {
        id: assertion.id.clone(),
        name_id: name_id.value.trim().to_owned(),
        name_id_format: name_id.format.clone(),
        attributes,
        usable_until: until + CLOCK_SKEW,
    })
}

/// What the raw document holds, read before anything is trusted.
#[derive(Debug, Default)]
struct Shape {
    status: Option<String>,
    assertions: usize,
    encrypted_assertions: usize,
    /// The `SignatureMethod` of every signature.
    signature_methods: Vec<String>,
}

fn shape(xml: &str) -> Result<Shape, String> {
    let mut reader = NsReader::from_str(xml);
    let mut shape = Shape::default();
    let mut root = true;
    loop {
        let event = reader
            .read_resolved_event()
            .map_err(|e| format!("the SAMLResponse is not well-formed XML: {e}"))?;
        let (ns, start) = match event {
            (ns, Event::Start(start)) | (ns, Event::Empty(start)) => (ns, start),
            (_, Event::DocType(_)) => {
                return Err("the SAMLResponse may not carry a DOCTYPE".into());
            }
            (_, Event::Eof) => break,
            _ => continue,
        };
        let local = start.local_name();
        let in_ns =
            |expected: &[u8]| matches!(&ns, ResolveResult::Bound(n) if n.as_ref() == expected);
        if root {
            if !(in_ns(PROTOCOL_NS) && local.as_ref() == b"Response") {
                return Err("the SAMLResponse is not a SAML 2.0 Response".into());
            }
            root = false;
            continue;
        }
        // Any element named Assertion counts, whatever its namespace: a
        // wrapper hiding one in another namespace is refused too.
        match local.as_ref() {
            b"Assertion" => shape.assertions += 1,
            b"EncryptedAssertion" => shape.encrypted_assertions += 1,
            b"SignatureMethod" if in_ns(DSIG_NS) => shape.signature_methods.push(
                start
                    .try_get_attribute("Algorithm")
                    .ok()
                    .flatten()
                    .map(|a| String::from_utf8_lossy(&a.value).into_owned())
                    .unwrap_or_default(),
            ),
            b"StatusCode" if in_ns(PROTOCOL_NS) && shape.status.is_none() => {
                shape.status = start
                    .try_get_attribute("Value")
                    .ok()
                    .flatten()
                    .map(|a| String::from_utf8_lossy(&a.value).into_owned());
            }
            _ => {}
        }
    }
    if root {
        return Err("the SAMLResponse is empty".into());
    }
    Ok(shape)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape_of(xml: &str) -> Result<Shape, String> {
        shape(xml)
    }

    #[test]
    fn a_transient_name_id_is_no_subject_the_email_is() {
        let mut a = VerifiedAssertion {
            id: "_a".into(),
            name_id: "ada@acme.example".into(),
            name_id_format: Some("urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress".into()),
            attributes: BTreeMap::from([(
                "mail".into(),
                vec![" ".into(), " Ada@acme.example ".into()],
            )]),
            usable_until: Utc::now(),
        };
        assert_eq!(a.first("mail").as_deref(), Some("Ada@acme.example"));
        assert_eq!(a.first("missing"), None);
        assert_eq!(a.subject(None).as_deref(), Some("ada@acme.example"));
        a.name_id_format = Some(NAMEID_TRANSIENT.into());
        a.name_id = "_f3a9".into();
        assert_eq!(
            a.subject(Some("Ada@acme.example")).as_deref(),
            Some("email:ada@acme.example")
        );
        assert_eq!(a.subject(None), None);
        a.name_id_format = None;
        a.name_id = "x".repeat(256);
        assert_eq!(a.subject(None), None, "longer than a subject link holds");
    }

    #[test]
    fn the_raw_shape_counts_every_assertion() {
        let one = r#"<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion"><samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status><saml:Assertion ID="a"/></samlp:Response>"#;
        let s = shape_of(one).unwrap();
        assert_eq!(s.assertions, 1);
        assert!(s.status.unwrap().ends_with(":Success"));
        let wrapped = one.replace(
            r#"<saml:Assertion ID="a"/>"#,
            r#"<saml:Assertion ID="evil"><x:Wrap xmlns:x="urn:x"><saml:Assertion ID="a"/></x:Wrap></saml:Assertion>"#,
        );
        assert_eq!(shape_of(&wrapped).unwrap().assertions, 2);
        let other_ns = one.replace(
            "</samlp:Response>",
            r#"<e:Assertion xmlns:e="urn:evil"/></samlp:Response>"#,
        );
        assert_eq!(shape_of(&other_ns).unwrap().assertions, 2);
        assert!(shape_of("<x/>").is_err());
        assert!(shape_of("not xml <").is_err());
        let doctype = format!("<!DOCTYPE r [<!ENTITY a 'b'>]>{one}");
        assert!(shape_of(&doctype).is_err());
    }
}
