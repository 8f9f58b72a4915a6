//! OpenID Connect single sign-on: discovery when a connection is saved, the
//! authorization request (code flow with PKCE S256, state and nonce), and
//! the callback: the code exchanged, the ID token verified (signature,
//! issuer, audience, expiry, nonce), userinfo asked when the ID token lacks
//! a claim, then the account found or made and a session opened exactly as
//! a password sign-in does.
//!
//! The browser is bound to its sign-in by a random token in a short-lived
//! cookie; the store keeps only its digest, with the state, nonce and PKCE
//! verifier, and spends the row at the first callback (`sso_logins`).

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ditto_core::crypto::MasterKey;
use ditto_core::secrets::{Redacted, sha256};
use ditto_core::{Error, Result};
use ditto_store::Store;
use ditto_store::sso::{SsoLogin, SsoLoginConnection, SsoSubject};
use ditto_types::SsoConnectionId;
use ditto_types::api::{SsoProtocol, TenantStatus};
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreGenderClaim, CoreIdToken, CoreProviderMetadata,
    CoreResponseType,
};
use openidconnect::{
    AdditionalClaims, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl,
    JsonWebKeySet, Nonce, OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl,
    Scope, TokenResponse, UserInfoClaims,
};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use subtle::ConstantTimeEq;

use crate::egress::ProviderAccess;
use crate::session::{SessionPolicy, SessionSecrets};
use crate::{Client, Identity};

/// The cookie that binds a browser to the sign-in it started.
pub const LOGIN_COOKIE: &str = "ditto_sso";
/// How long a started sign-in may take to come back.
pub const LOGIN_TTL: Duration = Duration::from_secs(10 * 60);
/// The scopes a connection asks for unless told otherwise.
pub const DEFAULT_SCOPES: &[&str] = &["openid", "email", "profile"];

/// Whether `url` may name an identity provider: `https`; plain `http` only
/// on a loopback address and only when `allow_loopback_http` (a server run
/// for development, without `Secure` cookies), so a tenant administrator
/// cannot point the server at plain-text services next to it.
pub fn check_issuer(issuer: &str, allow_loopback_http: bool) -> Result<String> {
    let invalid = |reason: &str| Error::invalid("/issuer", "invalid", reason.to_owned());
    let trimmed = issuer.trim();
    let url = url::Url::parse(trimmed).map_err(|_| invalid("must be an absolute URL"))?;
    if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
        return Err(invalid("must not carry a query, fragment or credentials"));
    }
    let loopback = match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d == "localhost",
        None => return Err(invalid("must name a host")),
    };
    match url.scheme() {
        "https" => {}
        "http" if loopback && allow_loopback_http => {}
        _ => return Err(invalid("must use https")),
    }
    Ok(trimmed.to_owned())
}

/// Fetches and checks the provider's discovery document (and that its key
/// set is reachable); returns the document to keep with the connection.
/// The issuer and the endpoints the server will call (token, keys,
/// userinfo) must be reachable under `access`'s rules.
pub async fn discover(access: &ProviderAccess, issuer: &str) -> Result<Value> {
    access.check_url("/issuer", issuer).await?;
    let fail = |what: String| {
        Error::invalid(
            "/issuer",
            "discovery_failed",
            format!("{issuer}/.well-known/openid-configuration: {what}"),
        )
    };
    let issuer_url = IssuerUrl::new(issuer.to_owned()).map_err(|e| fail(e.to_string()))?;
    let metadata = CoreProviderMetadata::discover_async(issuer_url, access.http())
        .await
        .map_err(|e| fail(error_chain(&e)))?;
    let endpoints = [
        metadata.token_endpoint().map(|u| u.as_str()),
        Some(metadata.jwks_uri().as_str()),
        metadata.userinfo_endpoint().map(|u| u.as_str()),
    ];
    for endpoint in endpoints.into_iter().flatten() {
        access.check_url("/issuer", endpoint).await?;
    }
    let code = metadata
        .response_types_supported()
        .iter()
        .any(|t| t.as_slice() == [CoreResponseType::Code]);
    if !code {
        return Err(fail(
            "the provider does not support the authorization code flow".into(),
        ));
    }
    if metadata.token_endpoint().is_none() {
        return Err(fail("the provider has no token endpoint".into()));
    }
    if metadata.jwks().keys().is_empty() {
        return Err(fail("the provider's key set (jwks_uri) has no keys".into()));
    }
    serde_json::to_value(&metadata).map_err(|e| Error::Internal(e.to_string()))
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

/// Why a single sign-in failed. Each has a stable code for the problem
/// document (`sso-<code>`), and a detail safe to show.
#[derive(Debug)]
pub struct SsoError {
    pub kind: SsoErrorKind,
    pub detail: String,
    /// For [`SsoErrorKind::Other`]: the error as the rest of the API
    /// reports it.
    pub error: Option<Error>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SsoErrorKind {
    /// No such connection, or it is switched off.
    ConnectionUnavailable,
    /// The browser has no sign-in in flight, it expired, was already used,
    /// or the state does not match.
    InvalidState,
    /// The provider answered the browser with an error.
    ProviderRefused,
    /// The token endpoint could not be reached or refused the code.
    ExchangeFailed,
    /// The ID token failed verification.
    InvalidIdToken,
    /// The subject may not sign in (no account, unverified email, disabled).
    AccessDenied,
    Other,
}

impl SsoErrorKind {
    pub fn code(self) -> &'static str {
        match self {
            Self::ConnectionUnavailable => "sso-connection-unavailable",
            Self::InvalidState => "sso-invalid-state",
            Self::ProviderRefused => "sso-provider-refused",
            Self::ExchangeFailed => "sso-exchange-failed",
            Self::InvalidIdToken => "sso-invalid-id-token",
            Self::AccessDenied => "sso-access-denied",
            Self::Other => "sso-failed",
        }
    }
}

fn fail(kind: SsoErrorKind, detail: impl Into<String>) -> SsoError {
    SsoError {
        kind,
        detail: detail.into(),
        error: None,
    }
}

impl From<Error> for SsoError {
    fn from(e: Error) -> Self {
        SsoError {
            kind: SsoErrorKind::Other,
            detail: e.to_string(),
            error: Some(e),
        }
    }
}

/// A sign-in about to be sent to the provider.
#[derive(Debug)]
pub struct StartedLogin {
    /// The provider's authorization URL, with every parameter.
    pub authorize_url: String,
    /// The value of the [`LOGIN_COOKIE`] to hand the browser.
    pub cookie_token: Redacted,
}

/// A safe place to land after signing in: a path on this server. Absolute
/// URLs, `//host` and `/\host` (which browsers read as another host) are
/// refused, as are control characters.
pub fn safe_return_to(return_to: Option<&str>) -> std::result::Result<String, String> {
    let Some(path) = return_to.filter(|p| !p.is_empty()) else {
        return Ok("/".into());
    };
    if !path.starts_with('/')
        || path.starts_with("//")
        || path.starts_with("/\\")
        || path.len() > 2048
        || path.chars().any(|c| c.is_control() || c == '\\')
    {
        return Err("return_to must be a path on this server, such as /console".into());
    }
    Ok(path.to_owned())
}

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

fn client_secret(
    connection: &SsoLoginConnection,
    master_key: Option<&MasterKey>,
) -> Result<Option<ClientSecret>> {
    let Some(sealed) = &connection.sealed_secret else {
        return Ok(None);
    };
    let key = master_key.ok_or_else(|| {
        Error::Unavailable(
            "SSO client secrets are sealed with the master key; set DITTO_MASTER_KEY".into(),
        )
    })?;
    let secret = key.decrypt(sealed, connection.id.0.as_bytes())?;
    let secret = String::from_utf8(secret)
        .map_err(|_| Error::Internal("a stored client secret is not text".into()))?;
    Ok(Some(ClientSecret::new(secret)))
}

fn metadata(connection: &SsoLoginConnection) -> Result<CoreProviderMetadata> {
    serde_json::from_value(connection.metadata.clone()).map_err(|e| {
        Error::Internal(format!(
            "the stored discovery document does not read back: {e}"
        ))
    })
}

/// Other claims, by name, of an ID token or a userinfo answer.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct OtherClaims {
    #[serde(flatten)]
    claims: Map<String, Value>,
}

impl AdditionalClaims for OtherClaims {}

/// The claims of an ID token whose signature was verified: its payload,
/// read as JSON, so claims are found by whatever name the connection maps.
fn payload(id_token: &CoreIdToken) -> Result<Map<String, Value>> {
    let compact = id_token.to_string();
    let part = compact
        .split('.')
        .nth(1)
        .ok_or_else(|| Error::Internal("an ID token without a payload".into()))?;
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| Error::Internal("an ID token payload is not base64url".into()))?;
    serde_json::from_slice(&bytes)
        .map_err(|_| Error::Internal("an ID token payload is not a JSON object".into()))
}

/// Verifies an ID token for `client_id` from `issuer` against the
/// provider's keys and the nonce the sign-in sent; `now` is the clock.
/// Returns the verified claims.
pub fn verify_id_token(
    id_token: &CoreIdToken,
    client_id: &str,
    issuer: &str,
    jwks: &JsonWebKeySet<openidconnect::core::CoreJsonWebKey>,
    nonce: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> std::result::Result<Map<String, Value>, SsoError> {
    let issuer =
        IssuerUrl::new(issuer.to_owned()).map_err(|e| fail(SsoErrorKind::Other, e.to_string()))?;
    use openidconnect::core::CoreJwsSigningAlgorithm as Alg;
    // Asymmetric signatures only: an HMAC-signed token would be "signed"
    // with the client secret, which is not the provider's key.
    let verifier = openidconnect::core::CoreIdTokenVerifier::new_public_client(
        ClientId::new(client_id.to_owned()),
        issuer,
        jwks.clone(),
    )
    .set_allowed_algs([
        Alg::RsaSsaPkcs1V15Sha256,
        Alg::RsaSsaPkcs1V15Sha384,
        Alg::RsaSsaPkcs1V15Sha512,
        Alg::RsaSsaPssSha256,
        Alg::RsaSsaPssSha384,
        Alg::RsaSsaPssSha512,
        Alg::EcdsaP256Sha256,
        Alg::EcdsaP384Sha384,
        Alg::EdDsa,
    ])
    .set_time_fn(move || now);
    id_token
        .claims(&verifier, &Nonce::new(nonce.to_owned()))
        .map_err(|e| fail(SsoErrorKind::InvalidIdToken, error_chain(&e)))?;
    Ok(payload(id_token)?)
}

fn claim_str(claims: &Map<String, Value>, name: &str) -> Option<String> {
    match claims.get(name)? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        _ => None,
    }
}

fn claim_groups(claims: &Map<String, Value>, name: &str) -> Option<Vec<String>> {
    match claims.get(name)? {
        Value::Array(items) => Some(
            items
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
        ),
        Value::String(s) => Some(vec![s.clone()]),
        _ => None,
    }
}

fn email_verified(claims: &Map<String, Value>) -> Option<bool> {
    match claims.get("email_verified")? {
        Value::Bool(b) => Some(*b),
        // Some providers send it as a string.
        Value::String(s) => Some(s == "true"),
        _ => None,
    }
}

impl Identity {
    /// Starts a sign-in through `connection`: remembers it and returns the
    /// provider's URL and the cookie token that binds the browser to it.
    /// `callback` is this server's absolute callback URL.
    pub async fn start_sso(
        &self,
        store: &Store,
        connection_id: SsoConnectionId,
        callback: &str,
        return_to: String,
    ) -> std::result::Result<StartedLogin, SsoError> {
        let connection = store
            .sso_login_connection(connection_id)
            .await?
            .filter(|c| {
                c.enabled
                    && c.protocol == SsoProtocol::Oidc
                    && c.tenant.status == TenantStatus::Active
            })
            .ok_or_else(|| {
                fail(
                    SsoErrorKind::ConnectionUnavailable,
                    "no such single sign-on connection, or it is switched off",
                )
            })?;
        let redirect = RedirectUrl::new(callback.to_owned())
            .map_err(|e| fail(SsoErrorKind::Other, e.to_string()))?;
        let client = CoreClient::from_provider_metadata(
            metadata(&connection)?,
            ClientId::new(connection.client_id.clone()),
            None,
        )
        .set_redirect_uri(redirect);
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .set_pkce_challenge(challenge);
        for scope in connection.scopes.iter().filter(|s| *s != "openid") {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        let (url, state, nonce) = request.url();
        let token = random_token();
        store
            .begin_sso_login(
                &sha256(token.as_bytes()),
                &SsoLogin {
                    tenant_id: connection.tenant.id,
                    connection_id,
                    state: state.secret().clone(),
                    nonce: nonce.secret().clone(),
                    pkce_verifier: Redacted(verifier.secret().clone()),
                    redirect_uri: callback.to_owned(),
                    return_to,
                },
                LOGIN_TTL.as_secs() as i64,
            )
            .await?;
        Ok(StartedLogin {
            authorize_url: url.to_string(),
            cookie_token: Redacted(token),
        })
    }

    /// Completes a sign-in at the callback: `cookie_token` is the browser's
    /// [`LOGIN_COOKIE`], `state` and `code` what the provider sent back.
    /// Returns the new session's secrets and where to go.
    #[allow(clippy::too_many_arguments)]
    pub async fn finish_sso(
        &self,
        store: &Store,
        master_key: Option<&MasterKey>,
        cookie_token: Option<&str>,
        state: Option<&str>,
        code: Option<&str>,
        provider_error: Option<(&str, Option<&str>)>,
        provider_issuer: Option<&str>,
        client: Client,
        replaces: Option<[u8; 32]>,
    ) -> std::result::Result<(SessionSecrets, String), SsoError> {
        let bad_state = |detail: &str| fail(SsoErrorKind::InvalidState, detail);
        let token = cookie_token.ok_or_else(|| {
            bad_state("this browser has no sign-in in progress (the sign-in cookie is missing)")
        })?;
        // Spent now, whatever happens next: a state works once.
        let login = store
            .take_sso_login(&sha256(token.as_bytes()))
            .await?
            .ok_or_else(|| bad_state("this sign-in expired or was already used; start again"))?;
        let state = state.ok_or_else(|| bad_state("the provider sent no state"))?;
        if !bool::from(state.as_bytes().ct_eq(login.state.as_bytes())) {
            return Err(bad_state(
                "the state does not match the sign-in this browser started",
            ));
        }
        if let Some((error, description)) = provider_error {
            return Err(fail(
                SsoErrorKind::ProviderRefused,
                match description {
                    Some(d) => format!("the identity provider refused: {error}: {d}"),
                    None => format!("the identity provider refused: {error}"),
                },
            ));
        }
        let code = code.ok_or_else(|| bad_state("the provider sent no code"))?;
        let connection = store
            .sso_login_connection(login.connection_id)
            .await?
            .filter(|c| {
                c.enabled && c.protocol == SsoProtocol::Oidc && c.tenant.id == login.tenant_id
            })
            .ok_or_else(|| {
                fail(
                    SsoErrorKind::ConnectionUnavailable,
                    "this single sign-on connection was switched off or removed",
                )
            })?;
        // RFC 9207: an answer from another issuer is a mix-up attack.
        if provider_issuer.is_some_and(|iss| iss != connection.issuer) {
            return Err(bad_state(
                "the answer came from another issuer than this connection's",
            ));
        }
        let who = self.subject(&connection, master_key, &login, code).await?;
        let secrets = self
            .open_sso_session(store, &connection, &who, client, replaces)
            .await?;
        Ok((secrets, login.return_to))
    }

    /// Exchanges the code, verifies the ID token and gathers the claims.
    async fn subject(
        &self,
        connection: &SsoLoginConnection,
        master_key: Option<&MasterKey>,
        login: &SsoLogin,
        code: &str,
    ) -> std::result::Result<SsoSubject, SsoError> {
        let mut provider = metadata(connection)?;
        // Keys are fetched at every sign-in, so a provider's key rotation
        // needs nothing from us.
        let jwks = JsonWebKeySet::fetch_async(provider.jwks_uri(), self.providers.http())
            .await
            .map_err(|e| {
                fail(
                    SsoErrorKind::ExchangeFailed,
                    format!(
                        "the provider's keys could not be fetched: {}",
                        error_chain(&e)
                    ),
                )
            })?;
        provider = provider.set_jwks(jwks.clone());
        let redirect = RedirectUrl::new(login.redirect_uri.clone())
            .map_err(|e| fail(SsoErrorKind::Other, e.to_string()))?;
        let client = CoreClient::from_provider_metadata(
            provider,
            ClientId::new(connection.client_id.clone()),
            client_secret(connection, master_key)?,
        )
        .set_redirect_uri(redirect);
        let response = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|e| fail(SsoErrorKind::Other, e.to_string()))?
            .set_pkce_verifier(PkceCodeVerifier::new(login.pkce_verifier.0.clone()))
            .request_async(self.providers.http())
            .await
            .map_err(|e| {
                fail(
                    SsoErrorKind::ExchangeFailed,
                    format!("the provider did not accept the code: {}", token_error(&e)),
                )
            })?;
        let id_token = response.id_token().ok_or_else(|| {
            fail(
                SsoErrorKind::InvalidIdToken,
                "the provider's token response has no ID token",
            )
        })?;
        let mut claims = verify_id_token(
            id_token,
            &connection.client_id,
            &connection.issuer,
            &jwks,
            &login.nonce,
            chrono::Utc::now(),
        )?;
        let subject = claim_str(&claims, "sub")
            .ok_or_else(|| fail(SsoErrorKind::InvalidIdToken, "the ID token has no subject"))?;
        let mapping = &connection.claims;
        let missing = claim_str(&claims, &mapping.email).is_none()
            || claim_str(&claims, &mapping.name).is_none()
            || claim_groups(&claims, &mapping.groups).is_none()
            || email_verified(&claims).is_none();
        if missing && client.user_info_url().is_some() {
            let info: UserInfoClaims<OtherClaims, CoreGenderClaim> = client
                .user_info(
                    response.access_token().clone(),
                    Some(openidconnect::SubjectIdentifier::new(subject.clone())),
                )
                .map_err(|e| fail(SsoErrorKind::Other, e.to_string()))?
                .request_async(self.providers.http())
                .await
                .map_err(|e| {
                    fail(
                        SsoErrorKind::ExchangeFailed,
                        format!("the provider's userinfo failed: {}", error_chain(&e)),
                    )
                })?;
            if let Ok(Value::Object(extra)) = serde_json::to_value(&info) {
                for (name, value) in extra {
                    // The ID token's own claims win.
                    claims.entry(name).or_insert(value);
                }
            }
        }
        Ok(SsoSubject {
            email: claim_str(&claims, &mapping.email),
            email_verified: email_verified(&claims).unwrap_or(false),
            name: claim_str(&claims, &mapping.name),
            groups: claim_groups(&claims, &mapping.groups).unwrap_or_default(),
            subject,
        })
    }
}

fn token_error<RE: std::error::Error + 'static, T: openidconnect::ErrorResponse + 'static>(
    e: &openidconnect::RequestTokenError<RE, T>,
) -> String {
    match e {
        openidconnect::RequestTokenError::ServerResponse(r) => r.to_string(),
        other => error_chain(other),
    }
}

/// The `Set-Cookie` value binding the browser to a sign-in it started:
/// HttpOnly, SameSite=Lax (sent on the provider's top-level redirect back),
/// limited to the SSO paths, gone after ten minutes.
pub fn login_cookie(policy: &SessionPolicy, token: &str) -> String {
    let secure = if policy.secure_cookies {
        "; Secure"
    } else {
        ""
    };
    format!(
        "{LOGIN_COOKIE}={token}; Path=/api/v1/auth/sso; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
        LOGIN_TTL.as_secs()
    )
}

/// The `Set-Cookie` value that removes the sign-in cookie.
pub fn cleared_login_cookie(policy: &SessionPolicy) -> String {
    let secure = if policy.secure_cookies {
        "; Secure"
    } else {
        ""
    };
    format!("{LOGIN_COOKIE}=; Path=/api/v1/auth/sso; HttpOnly; SameSite=Lax; Max-Age=0{secure}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn return_to_stays_on_this_server() {
        assert_eq!(safe_return_to(None).unwrap(), "/");
        assert_eq!(safe_return_to(Some("")).unwrap(), "/");
        assert_eq!(
            safe_return_to(Some("/console?x=1")).unwrap(),
            "/console?x=1"
        );
        for bad in [
            "https://evil.example/",
            "//evil.example/",
            "/\\evil.example",
            "javascript:alert(1)",
            "console",
            "/a\nb",
        ] {
            assert!(safe_return_to(Some(bad)).is_err(), "{bad}");
        }
    }

    /// A test-only Ed25519 key.
    const TEST_KEY: &str = "-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIK90LcDVlp9E2UdOJWz+HALhPVnfUyvV96CWds6CsW81
-----END PRIVATE KEY-----";
    const ISSUER: &str = "https://idp.example";

    fn token(
        key: &impl openidconnect::PrivateSigningKey<
            VerificationKey = openidconnect::core::CoreJsonWebKey,
        >,
        alg: openidconnect::core::CoreJwsSigningAlgorithm,
        audience: &str,
        nonce: Option<&str>,
        issued: chrono::DateTime<chrono::Utc>,
    ) -> CoreIdToken {
        use openidconnect::core::CoreIdTokenClaims;
        use openidconnect::{Audience, EmptyAdditionalClaims, StandardClaims, SubjectIdentifier};
        let claims = CoreIdTokenClaims::new(
            IssuerUrl::new(ISSUER.into()).unwrap(),
            vec![Audience::new(audience.into())],
            issued + chrono::Duration::minutes(5),
            issued,
            StandardClaims::new(SubjectIdentifier::new("sub-1".into())),
            EmptyAdditionalClaims {},
        )
        .set_nonce(nonce.map(|n| Nonce::new(n.into())));
        CoreIdToken::new(claims, key, alg, None, None).unwrap()
    }

    #[test]
    fn id_tokens_are_checked_against_the_clock_audience_nonce_and_key() {
        use openidconnect::PrivateSigningKey;
        use openidconnect::core::{
            CoreEdDsaPrivateSigningKey, CoreHmacKey, CoreJwsSigningAlgorithm as Alg,
        };
        let key = CoreEdDsaPrivateSigningKey::from_ed25519_pem(TEST_KEY, None).unwrap();
        let jwks = JsonWebKeySet::new(vec![key.as_verification_key()]);
        let now = chrono::Utc::now();
        let good = token(&key, Alg::EdDsa, "ditto", Some("n-1"), now);
        let check = |t: &CoreIdToken, nonce: &str, at| {
            verify_id_token(t, "ditto", ISSUER, &jwks, nonce, at)
        };
        let claims = check(&good, "n-1", now).unwrap();
        assert_eq!(claims["sub"], "sub-1");

        let refused = |r: std::result::Result<Map<String, Value>, SsoError>| {
            let e = r.unwrap_err();
            assert_eq!(e.kind, SsoErrorKind::InvalidIdToken, "{}", e.detail);
            e.detail.to_lowercase()
        };
        // Expired: the same token an hour later.
        assert!(refused(check(&good, "n-1", now + chrono::Duration::hours(1))).contains("expired"));
        assert!(refused(check(&good, "n-2", now)).contains("nonce"));
        let missing_nonce = token(&key, Alg::EdDsa, "ditto", None, now);
        assert!(refused(check(&missing_nonce, "n-1", now)).contains("nonce"));
        let other = token(&key, Alg::EdDsa, "someone-else", Some("n-1"), now);
        assert!(refused(check(&other, "n-1", now)).contains("audience"));
        let wrong_issuer =
            verify_id_token(&good, "ditto", "https://other.example", &jwks, "n-1", now);
        assert!(refused(wrong_issuer).contains("issuer"));
        // Signed with the client secret instead of the provider's key.
        let hmac = CoreHmacKey::new("the-client-secret");
        let hs = token(&hmac, Alg::HmacSha256, "ditto", Some("n-1"), now);
        refused(check(&hs, "n-1", now));
    }

    #[test]
    fn issuers_use_https_unless_on_loopback() {
        assert_eq!(
            check_issuer(" https://idp.example/realms/a ", false).unwrap(),
            "https://idp.example/realms/a"
        );
        assert!(check_issuer("http://127.0.0.1:8080", true).is_ok());
        assert!(check_issuer("http://localhost:8080", true).is_ok());
        assert!(check_issuer("http://127.0.0.1:8080", false).is_err());
        assert!(check_issuer("http://idp.example", true).is_err());
        assert!(check_issuer("ftp://idp.example", true).is_err());
        assert!(check_issuer("https://idp.example/?a=1", true).is_err());
        assert!(check_issuer("not a url", true).is_err());
    }
}
