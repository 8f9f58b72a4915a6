//! Signing in to the console through a tenant's OpenID provider: the
//! browser is sent to the provider and comes back to the callback, which
//! opens a session exactly as a password sign-in does.

use axum::Extension;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ditto_core::catalogue::Op;
use ditto_identity::session::cookie;
use ditto_identity::sso::{
    LOGIN_COOKIE, SsoError, SsoErrorKind, cleared_login_cookie, login_cookie, safe_return_to,
};
use ditto_types::SsoConnectionId;
use ditto_types::api::{SsoCallbackParams, SsoStartParams};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::AppState;
use crate::client_address::ClientAddress;
use crate::error::{ApiError, problem, problem_response};
use crate::extract::{Path, Query};
use crate::throttle::Throttles;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(start))
        .routes(routes!(callback))
}

pub(super) fn no_store(response: &mut Response) {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

pub(super) fn set_cookie(response: &mut Response, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
}

/// How every failed SSO sign-in ends, whatever the protocol: the browser's
/// pending sign-in cookie is cleared and nothing is cached. `outcome` is the
/// problem's status and title, or the error when it is not a refusal.
pub(super) fn failed_sign_in(
    cleared_cookie: &str,
    outcome: Result<(StatusCode, &'static str), ditto_core::Error>,
    code: &'static str,
    detail: String,
) -> Response {
    let mut response = match outcome {
        Ok((status, title)) => {
            tracing::info!(target: "ditto::auth", code, detail = %detail, "SSO sign-in failed");
            problem_response(problem(status, code, title, Some(detail)))
        }
        Err(error) => ApiError(error).into_response(),
    };
    set_cookie(&mut response, cleared_cookie);
    no_store(&mut response);
    response
}

fn refusal(app: &AppState, e: SsoError) -> Response {
    let outcome = match e.kind {
        SsoErrorKind::ConnectionUnavailable => {
            Ok((StatusCode::NOT_FOUND, "SSO connection unavailable"))
        }
        SsoErrorKind::InvalidState => Ok((StatusCode::BAD_REQUEST, "Sign-in state is not valid")),
        SsoErrorKind::ProviderRefused => {
            Ok((StatusCode::UNAUTHORIZED, "The identity provider refused"))
        }
        SsoErrorKind::ExchangeFailed => {
            Ok((StatusCode::BAD_GATEWAY, "The identity provider failed"))
        }
        SsoErrorKind::InvalidIdToken => Ok((StatusCode::UNAUTHORIZED, "The ID token is not valid")),
        SsoErrorKind::AccessDenied => Ok((StatusCode::FORBIDDEN, "Sign-in not allowed")),
        SsoErrorKind::Other => Err(e
            .error
            .unwrap_or_else(|| ditto_core::Error::Internal(e.detail.clone()))),
    };
    let cleared = cleared_login_cookie(&app.identity.sessions);
    failed_sign_in(&cleared, outcome, e.kind.code(), e.detail)
}

/// Start signing in through an SSO connection: answers 302 to the identity
/// provider (authorization code flow with PKCE S256, state and nonce) and
/// sets the short-lived `ditto_sso` cookie that binds this browser to the
/// sign-in. A connection that does not exist or is switched off answers
/// 404 `sso-connection-unavailable`.
#[utoipa::path(get, path = "/api/v1/auth/sso/{connection_id}/start", tag = "auth",
    operation_id = Op::AuthSsoStart.id(),
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
    let callback = crate::public_url::absolute(&app, &headers, ditto_store::sso::CALLBACK_PATH)?;
    let started = match app
        .identity
        .start_sso(&app.store, id, &callback, return_to)
        .await
    {
        Ok(started) => started,
        Err(e) => return Ok(refusal(&app, e)),
    };
    let mut response = StatusCode::FOUND.into_response();
    let location = HeaderValue::from_str(&started.authorize_url)
        .map_err(|_| ditto_core::Error::Internal("an authorization URL is not a header".into()))?;
    response.headers_mut().insert(header::LOCATION, location);
    set_cookie(
        &mut response,
        &login_cookie(&app.identity.sessions, &started.cookie_token.0),
    );
    no_store(&mut response);
    Ok(response)
}

/// Where the identity provider sends the browser back. Checks the state
/// against the sign-in this browser started (once: a state cannot be
/// replayed), exchanges the code, verifies the ID token (signature,
/// issuer, audience, expiry, nonce), finds, links or creates the user and
/// applies the connection's group → role mappings. Success answers 302 to
/// the `return_to` given at the start, with the session cookies a password
/// sign-in sets. Failures answer a problem document: 400
/// `sso-invalid-state`, 401 `sso-provider-refused` or
/// `sso-invalid-id-token`, 403 `sso-access-denied`, 404
/// `sso-connection-unavailable`, 502 `sso-exchange-failed`.
#[utoipa::path(get, path = "/api/v1/auth/sso/callback", tag = "auth",
    operation_id = Op::AuthSsoCallback.id(), params(SsoCallbackParams), security(()),
    responses((status = 302, description = "Signed in"), (status = 400), (status = 401),
        (status = 403), (status = 404), (status = 502)))]
async fn callback(
    State(app): State<AppState>,
    Extension(address): Extension<ClientAddress>,
    Query(params): Query<SsoCallbackParams>,
    headers: HeaderMap,
) -> Response {
    let token = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|h| cookie(h, LOGIN_COOKIE))
        .map(str::to_owned);
    let (client, replaces) = super::sign_in::client_of(address, &headers);
    let provider_error = params
        .error
        .as_deref()
        .map(|e| (e, params.error_description.as_deref()));
    let result = app
        .identity
        .finish_sso(
            &app.store,
            app.master_key.as_ref(),
            token.as_deref(),
            params.state.as_deref(),
            params.code.as_deref(),
            provider_error,
            params.iss.as_deref(),
            client,
            replaces,
        )
        .await;
    let (secrets, return_to) = match result {
        Ok(done) => done,
        Err(e) => return refusal(&app, e),
    };
    let mut response = StatusCode::FOUND.into_response();
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
