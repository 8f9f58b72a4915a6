//! Signing in to the console through a tenant's SAML 2.0 identity
//! provider: the browser is sent to the provider with an AuthnRequest
//! (HTTP-Redirect), the provider posts the response to our assertion
//! consumer service (HTTP-POST), which opens a session exactly as a
//! password sign-in does. Each connection also publishes our service
//! provider metadata for the provider to import.

use axum::Extension;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ditto_core::catalogue::Op;
use ditto_identity::session::cookie;
use ditto_identity::sso::safe_return_to;
use ditto_saml::login::{
    self, LOGIN_COOKIE, Posted, SamlError, SamlErrorKind, cleared_login_cookie, login_cookie,
};
use ditto_store::saml::acs_path;
use ditto_types::SsoConnectionId;
use ditto_types::api::SsoStartParams;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::AppState;
use crate::client_address::ClientAddress;
use crate::error::ApiError;
use crate::extract::{Path, Query};
use crate::routes::sso::{failed_sign_in, no_store, set_cookie};
use crate::throttle::Throttles;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(start))
        .routes(routes!(acs))
        .routes(routes!(metadata))
}

fn refusal(app: &AppState, e: SamlError) -> Response {
    let outcome = match e.kind {
        SamlErrorKind::ConnectionUnavailable => {
            Ok((StatusCode::NOT_FOUND, "SSO connection unavailable"))
        }
        SamlErrorKind::InvalidState => Ok((StatusCode::BAD_REQUEST, "Sign-in state is not valid")),
        SamlErrorKind::ProviderRefused => {
            Ok((StatusCode::UNAUTHORIZED, "The identity provider refused"))
        }
        SamlErrorKind::InvalidResponse => {
            Ok((StatusCode::UNAUTHORIZED, "The SAML response is not valid"))
        }
        SamlErrorKind::Replayed => Ok((
            StatusCode::UNAUTHORIZED,
            "The SAML assertion was already used",
        )),
        SamlErrorKind::AccessDenied => Ok((StatusCode::FORBIDDEN, "Sign-in not allowed")),
        SamlErrorKind::Other => Err(e
            .error
            .unwrap_or_else(|| ditto_core::Error::Internal(e.detail.clone()))),
    };
    let cleared = cleared_login_cookie(&app.identity.sessions);
    failed_sign_in(&cleared, outcome, e.kind.code(), e.detail)
}

/// Start signing in through a SAML connection: answers 302 to the identity
/// provider's single sign-on service with an AuthnRequest (HTTP-Redirect
/// binding) and sets the short-lived `ditto_saml` cookie that binds this
/// browser to it. A connection that does not exist, is switched off or
/// speaks OIDC answers 404 `sso-connection-unavailable`.
#[utoipa::path(get, path = "/api/v1/auth/saml/{connection_id}/start", tag = "auth",
    operation_id = Op::AuthSamlStart.id(),
    params(("connection_id" = SsoConnectionId, Path), SsoStartParams), security(()),
    responses((status = 302, description = "To the identity provider"), (status = 404), (status = 422), (status = 429)))]
async fn start(
    State(app): State<AppState>,
    Extension(throttles): Extension<Throttles>,
    Extension(address): Extension<ClientAddress>,
    Path(id): Path<SsoConnectionId>,
    Query(params): Query<SsoStartParams>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if let Err(throttled) = throttles.sso_start(&address.key(), &id.to_string()).await {
        return Ok(throttled.into_response());
    }
    let return_to = safe_return_to(params.return_to.as_deref())
        .map_err(|m| ditto_core::Error::invalid("/return_to", "invalid", m))?;
    let acs = crate::public_url::absolute(&app, &headers, &acs_path(id))?;
    let started = match login::start(&app.store, id, &acs, return_to).await {
        Ok(started) => started,
        Err(e) => return Ok(refusal(&app, e)),
    };
    let mut response = StatusCode::FOUND.into_response();
    let location = HeaderValue::from_str(&started.redirect_url)
        .map_err(|_| ditto_core::Error::Internal("a single sign-on URL is not a header".into()))?;
    response.headers_mut().insert(header::LOCATION, location);
    set_cookie(
        &mut response,
        &login_cookie(&app.identity.sessions, &started.cookie_token.0),
    );
    no_store(&mut response);
    Ok(response)
}

/// The `SAMLResponse` and `RelayState` of a form post, if the body is one.
fn form_fields(body: &[u8]) -> (Option<String>, Option<String>) {
    let mut response = None;
    let mut relay_state = None;
    for (name, value) in url::form_urlencoded::parse(body) {
        match name.as_ref() {
            "SAMLResponse" if response.is_none() => response = Some(value.into_owned()),
            "RelayState" if relay_state.is_none() => relay_state = Some(value.into_owned()),
            _ => {}
        }
    }
    (response, relay_state)
}

/// Our assertion consumer service (HTTP-POST binding): the identity
/// provider posts `SAMLResponse` (and `RelayState`) here as a form. The
/// response must be signed by a certificate in the provider's metadata
/// with RSA-SHA256 or ECDSA-SHA256, carry exactly one assertion for our
/// entity id, addressed to this URL, within its validity (60 s skew),
/// from the provider's entity id, answering the request this browser sent
/// (or none, if the connection takes IdP-initiated sign-ins), and not used
/// before. Success answers 302 to the `return_to` given at the start with
/// the session cookies; failures answer a problem document: 400
/// `sso-invalid-state`, 401 `sso-invalid-saml-response`,
/// `sso-saml-replayed` or `sso-provider-refused`, 403 `sso-access-denied`,
/// 404 `sso-connection-unavailable`.
#[utoipa::path(post, path = "/api/v1/auth/saml/{connection_id}/acs", tag = "auth",
    operation_id = Op::AuthSamlAcs.id(), params(("connection_id" = SsoConnectionId, Path)),
    request_body(content_type = "application/x-www-form-urlencoded", content = String,
        description = "`SAMLResponse` (base64) and `RelayState`"),
    security(()),
    responses((status = 302, description = "Signed in"), (status = 400), (status = 401),
        (status = 403), (status = 404)))]
async fn acs(
    State(app): State<AppState>,
    Extension(address): Extension<ClientAddress>,
    Path(id): Path<SsoConnectionId>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let token = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|h| cookie(h, LOGIN_COOKIE))
        .map(str::to_owned);
    let acs_url = match crate::public_url::absolute(&app, &headers, &acs_path(id)) {
        Ok(url) => url,
        Err(e) => return ApiError(e).into_response(),
    };
    let (saml_response, relay_state) = form_fields(&body);
    let (client, replaces) = super::sign_in::client_of(address, &headers);
    let posted = Posted {
        connection_id: id,
        cookie_token: token.as_deref(),
        saml_response: saml_response.as_deref(),
        relay_state: relay_state.as_deref(),
        acs_url: &acs_url,
    };
    let result = login::finish(
        &app.identity,
        &app.store,
        app.redis.as_ref(),
        posted,
        client,
        replaces,
    )
    .await;
    let (secrets, return_to) = match result {
        Ok(done) => done,
        Err(e) => return refusal(&app, e),
    };
    // 303: the browser follows a POST's redirect with a GET.
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(location) = HeaderValue::from_str(&return_to) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    for cookie in app.identity.sessions.cookies(&secrets) {
        set_cookie(&mut response, &cookie);
    }
    set_cookie(&mut response, &cleared_login_cookie(&app.identity.sessions));
    no_store(&mut response);
    response
}

/// Our service provider metadata for a SAML connection (entity id and
/// assertion consumer service), for the identity provider to import.
/// Public: it holds nothing secret. 404 for a connection that does not
/// exist or speaks OIDC.
#[utoipa::path(get, path = "/api/v1/auth/saml/{connection_id}/metadata", tag = "auth",
    operation_id = Op::AuthSamlMetadata.id(), params(("connection_id" = SsoConnectionId, Path)),
    security(()),
    responses((status = 200, content_type = "application/samlmetadata+xml", body = String),
        (status = 404)))]
async fn metadata(
    State(app): State<AppState>,
    Path(id): Path<SsoConnectionId>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (_, saml) = app
        .store
        .saml_login_settings(id)
        .await?
        .ok_or(ditto_core::Error::NotFound("SAML connection"))?;
    let acs = crate::public_url::absolute(&app, &headers, &acs_path(id))?;
    let xml =
        ditto_saml::metadata::sp_metadata(&saml.sp_entity_id, &acs, saml.name_id_format.as_deref());
    let mut response = xml.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/samlmetadata+xml"),
    );
    Ok(response)
}
