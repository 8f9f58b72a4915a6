//! A SAML sign-in from start to session. SP-initiated: an AuthnRequest
//! goes to the provider by HTTP-Redirect, and the browser is bound to it by
//! a random token in a short-lived cookie; the request's id is kept (as the
//! sign-in's state in `sso_logins`, spent at the first answer) and the
//! response must answer it (InResponseTo). IdP-initiated, when the
//! connection allows it: a response that answers no request. Either way
//! the verified assertion's id is remembered until it expires, so a
//! response cannot be posted twice; then the sign-in ends as every SSO
//! sign-in does ([`Identity::open_sso_session`]).

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Utc;
use ditto_core::Error;
use ditto_core::secrets::{Redacted, sha256};
use ditto_identity::session::{SessionPolicy, SessionSecrets};
use ditto_identity::sso::{SsoError, SsoErrorKind, safe_return_to};
use ditto_identity::{Client, Identity};
use ditto_store::saml::SamlLoginSettings;
use ditto_store::sso::{SsoLogin, SsoLoginConnection, SsoSubject};
use ditto_store::{Redis, Store};
use ditto_types::SsoConnectionId;
use ditto_types::api::TenantStatus;
use rand::RngCore;
use samael::metadata::{EntityDescriptor, HTTP_REDIRECT_BINDING};
use samael::service_provider::ServiceProviderBuilder;

use crate::response::{self, Expecting, Refusal, SpView, VerifiedAssertion};

/// The cookie that binds a browser to the SAML sign-in it started.
pub const LOGIN_COOKIE: &str = "ditto_saml";
/// How long a started sign-in may take to come back.
pub const LOGIN_TTL: Duration = Duration::from_secs(10 * 60);

const NAMEID_EMAIL: &str = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress";

/// Why a SAML sign-in failed; each kind has a stable problem type.
#[derive(Debug)]
pub struct SamlError {
    pub kind: SamlErrorKind,
    pub detail: String,
    /// For [`SamlErrorKind::Other`]: the error as the rest of the API
    /// reports it.
    pub error: Option<Error>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SamlErrorKind {
    /// No such SAML connection, or it is switched off.
    ConnectionUnavailable,
    /// No sign-in in flight where one is needed, or the connection takes
    /// no IdP-initiated sign-ins.
    InvalidState,
    /// The provider answered with a failure status.
    ProviderRefused,
    /// The response failed verification.
    InvalidResponse,
    /// The assertion was already used to sign in.
    Replayed,
    /// The subject may not sign in (no account, disabled, …).
    AccessDenied,
    Other,
}

impl SamlErrorKind {
    pub fn code(self) -> &'static str {
        match self {
            Self::ConnectionUnavailable => "sso-connection-unavailable",
            Self::InvalidState => "sso-invalid-state",
            Self::ProviderRefused => "sso-provider-refused",
            Self::InvalidResponse => "sso-invalid-saml-response",
            Self::Replayed => "sso-saml-replayed",
            Self::AccessDenied => "sso-access-denied",
            Self::Other => "sso-failed",
        }
    }
}

fn fail(kind: SamlErrorKind, detail: impl Into<String>) -> SamlError {
    SamlError {
        kind,
        detail: detail.into(),
        error: None,
    }
}

impl From<Error> for SamlError {
    fn from(e: Error) -> Self {
        SamlError {
            kind: SamlErrorKind::Other,
            detail: e.to_string(),
            error: Some(e),
        }
    }
}

impl From<SsoError> for SamlError {
    fn from(e: SsoError) -> Self {
        let kind = match e.kind {
            SsoErrorKind::AccessDenied => SamlErrorKind::AccessDenied,
            SsoErrorKind::ConnectionUnavailable => SamlErrorKind::ConnectionUnavailable,
            SsoErrorKind::InvalidState => SamlErrorKind::InvalidState,
            _ => SamlErrorKind::Other,
        };
        SamlError {
            kind,
            detail: e.detail,
            error: e.error,
        }
    }
}

/// A sign-in about to be sent to the provider.
#[derive(Debug)]
pub struct StartedLogin {
    /// The provider's single sign-on URL with the deflated AuthnRequest.
    pub redirect_url: String,
    /// The value of the [`LOGIN_COOKIE`] to hand the browser.
    pub cookie_token: Redacted,
}

fn random(bytes: usize) -> Vec<u8> {
    let mut out = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut out);
    out
}

async fn connection(
    store: &Store,
    id: SsoConnectionId,
) -> Result<(SsoLoginConnection, SamlLoginSettings), SamlError> {
    store
        .saml_login_settings(id)
        .await?
        .filter(|(c, _)| c.enabled && c.tenant.status == TenantStatus::Active)
        .ok_or_else(|| {
            fail(
                SamlErrorKind::ConnectionUnavailable,
                "no such SAML connection, or it is switched off",
            )
        })
}

/// Starts an SP-initiated sign-in: remembers it and returns the provider's
/// URL (HTTP-Redirect binding) and the cookie token binding the browser to
/// it. `acs_url` is this server's absolute assertion consumer service URL.
pub async fn start(
    store: &Store,
    id: SsoConnectionId,
    acs_url: &str,
    return_to: String,
) -> Result<StartedLogin, SamlError> {
    let (connection, saml) = connection(store, id).await?;
    let idp: EntityDescriptor = saml
        .idp_metadata_xml
        .parse()
        .map_err(|e| Error::Internal(format!("stored SAML metadata does not read: {e}")))?;
    let sp = ServiceProviderBuilder::default()
        .entity_id(Some(saml.sp_entity_id.clone()))
        .acs_url(Some(acs_url.to_owned()))
        .authn_name_id_format(saml.name_id_format.clone())
        .idp_metadata(idp)
        .build()
        .map_err(|e| Error::Internal(e.to_string()))?;
    let sso_url = sp
        .sso_binding_location(HTTP_REDIRECT_BINDING)
        .ok_or_else(|| {
            fail(
                SamlErrorKind::ConnectionUnavailable,
                "the provider's metadata has no HTTP-Redirect single sign-on service",
            )
        })?;
    let mut request = sp
        .make_authentication_request(&sso_url)
        .map_err(|e| Error::Internal(e.to_string()))?;
    // samael's ids carry 32 random bits; ours 128 (an xsd:ID starts with a
    // letter or underscore).
    request.id = format!("_{}", hex(&random(16)));
    let url = request
        .redirect("")
        .map_err(|e| Error::Internal(e.to_string()))?
        .ok_or_else(|| Error::Internal("an AuthnRequest without a destination".into()))?;
    let token = URL_SAFE_NO_PAD.encode(random(32));
    store
        .begin_sso_login(
            &sha256(token.as_bytes()),
            &SsoLogin {
                tenant_id: connection.tenant.id,
                connection_id: id,
                state: request.id.clone(),
                nonce: String::new(),
                pkce_verifier: Redacted(String::new()),
                redirect_uri: acs_url.to_owned(),
                return_to,
            },
            LOGIN_TTL.as_secs() as i64,
        )
        .await?;
    Ok(StartedLogin {
        redirect_url: url.to_string(),
        cookie_token: Redacted(token),
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What the assertion consumer service received.
#[derive(Debug)]
pub struct Posted<'a> {
    pub connection_id: SsoConnectionId,
    /// The browser's [`LOGIN_COOKIE`].
    pub cookie_token: Option<&'a str>,
    pub saml_response: Option<&'a str>,
    pub relay_state: Option<&'a str>,
    /// This server's assertion consumer service URL for the connection, as
    /// reached now (used for IdP-initiated sign-ins; SP-initiated ones use
    /// the URL their request named).
    pub acs_url: &'a str,
}

/// Completes a sign-in at the assertion consumer service. Returns the new
/// session's secrets and where to go.
pub async fn finish(
    identity: &Identity,
    store: &Store,
    redis: Option<&Redis>,
    posted: Posted<'_>,
    client: Client,
    replaces: Option<[u8; 32]>,
) -> Result<(SessionSecrets, String), SamlError> {
    let (connection, saml) = connection(store, posted.connection_id).await?;
    // The sign-in this browser started, if any: spent now, whatever
    // happens next, so a request id is answered once.
    let pending = match posted.cookie_token {
        Some(token) => store
            .take_sso_login(&sha256(token.as_bytes()))
            .await?
            .filter(|l| l.connection_id == connection.id && l.tenant_id == connection.tenant.id),
        None => None,
    };
    let (expecting, acs_url, return_to) = match &pending {
        Some(login) => (
            Expecting::Answer(&login.state),
            login.redirect_uri.as_str(),
            login.return_to.clone(),
        ),
        None if saml.allow_idp_initiated => (
            Expecting::Unsolicited,
            posted.acs_url,
            // RelayState of an unsolicited response is where to land, if
            // it is a path here.
            safe_return_to(posted.relay_state).unwrap_or_else(|_| "/".into()),
        ),
        None => {
            return Err(fail(
                SamlErrorKind::InvalidState,
                "this browser has no SAML sign-in in progress (it expired, was used, or was started elsewhere), and this connection does not take sign-ins started at the identity provider",
            ));
        }
    };
    let encoded = posted.saml_response.ok_or_else(|| {
        fail(
            SamlErrorKind::InvalidResponse,
            "the identity provider posted no SAMLResponse",
        )
    })?;
    // Parsing and checking signatures is CPU work (milliseconds): off the
    // async workers, so a flood of posted responses cannot stall them.
    let (entity_id, acs_url, metadata, encoded) = (
        saml.sp_entity_id.clone(),
        acs_url.to_owned(),
        saml.idp_metadata_xml.clone(),
        encoded.to_owned(),
    );
    let answers = match expecting {
        Expecting::Answer(id) => Some(id.to_owned()),
        Expecting::Unsolicited => None,
    };
    let verified = tokio::task::spawn_blocking(move || {
        let view = SpView {
            entity_id: &entity_id,
            acs_url: &acs_url,
            idp_metadata_xml: &metadata,
        };
        let expecting = match &answers {
            Some(id) => Expecting::Answer(id),
            None => Expecting::Unsolicited,
        };
        response::verify(&view, &encoded, expecting)
    })
    .await
    .map_err(|e| Error::Internal(format!("SAML verification stopped: {e}")))?;
    let assertion = verified.map_err(|r| match r {
        Refusal::ProviderStatus(status) => fail(
            SamlErrorKind::ProviderRefused,
            format!("the identity provider refused: {status}"),
        ),
        Refusal::Malformed(m) | Refusal::Invalid(m) => fail(SamlErrorKind::InvalidResponse, m),
    })?;
    if !first_use(store, redis, &connection, &assertion).await? {
        return Err(fail(
            SamlErrorKind::Replayed,
            "this assertion was already used to sign in",
        ));
    }
    let who = subject(&connection, &assertion)?;
    let secrets = identity
        .open_sso_session(store, &connection, &who, client, replaces)
        .await?;
    Ok((secrets, return_to))
}

/// Remembers the assertion's id until it expires; false when it was seen
/// before. In Redis when configured (shared by every replica), else in
/// Postgres. A Redis that fails refuses the sign-in rather than skipping
/// the check.
async fn first_use(
    store: &Store,
    redis: Option<&Redis>,
    connection: &SsoLoginConnection,
    assertion: &VerifiedAssertion,
) -> Result<bool, SamlError> {
    let until = assertion
        .usable_until
        .max(Utc::now() + chrono::Duration::seconds(1));
    let Some(redis) = redis else {
        return Ok(store
            .note_saml_assertion(connection, &assertion.id, until)
            .await?);
    };
    let unavailable = |e: String| Error::Unavailable(format!("the SAML replay cache (Redis): {e}"));
    let mut conn = redis.connection().await.map_err(unavailable)?;
    let key = format!(
        "ditto:saml:assertion:{}:{}",
        connection.id,
        hex(&sha256(assertion.id.as_bytes()))
    );
    let set: Option<String> = redis::cmd("SET")
        .arg(&key)
        .arg(1)
        .arg("NX")
        .arg("EXAT")
        .arg(until.timestamp() + 1)
        .query_async(&mut conn)
        .await
        .map_err(|e| unavailable(e.to_string()))?;
    Ok(set.is_some())
}

/// Who the assertion says signed in, by the connection's attribute names.
/// The email is the one the provider asserts (signed, from the tenant's own
/// identity provider), so it counts as verified; without an email
/// attribute an `emailAddress` NameID is the email.
fn subject(
    connection: &SsoLoginConnection,
    assertion: &VerifiedAssertion,
) -> Result<SsoSubject, SamlError> {
    let names = &connection.claims;
    let email = assertion.first(&names.email).or_else(|| {
        (assertion.name_id_format.as_deref() == Some(NAMEID_EMAIL))
            .then(|| assertion.name_id.clone())
    });
    let subject = assertion.subject(email.as_deref()).ok_or_else(|| {
        fail(
            SamlErrorKind::InvalidResponse,
            "the assertion names no usable subject (a NameID of at most 255 characters, or an email with a transient NameID)",
        )
    })?;
    Ok(SsoSubject {
        subject,
        email_verified: email.is_some(),
        email,
        name: assertion.first(&names.name),
        groups: assertion
            .attributes
            .get(&names.groups)
            .map(|v| {
                v.iter()
                    .map(|g| g.trim().to_owned())
                    .filter(|g| !g.is_empty())
                    .collect()
            })
            .unwrap_or_default(),
    })
}

/// The `Set-Cookie` value binding the browser to a sign-in it started.
/// The provider posts the response back from its own site, and a
/// `SameSite=Lax` cookie does not go with a cross-site POST: so
/// `SameSite=None` (which needs `Secure`) on a server with `Secure`
/// cookies; a development server without them uses `Lax`, which works when
/// the provider runs on the same site (e.g. both on 127.0.0.1).
pub fn login_cookie(policy: &SessionPolicy, token: &str) -> String {
    format!(
        "{LOGIN_COOKIE}={token}; Path=/api/v1/auth/saml; HttpOnly; Max-Age={}{}",
        LOGIN_TTL.as_secs(),
        same_site(policy)
    )
}

/// The `Set-Cookie` value that removes the sign-in cookie.
pub fn cleared_login_cookie(policy: &SessionPolicy) -> String {
    format!(
        "{LOGIN_COOKIE}=; Path=/api/v1/auth/saml; HttpOnly; Max-Age=0{}",
        same_site(policy)
    )
}

fn same_site(policy: &SessionPolicy) -> &'static str {
    if policy.secure_cookies {
        "; SameSite=None; Secure"
    } else {
        "; SameSite=Lax"
    }
}
