//! Signing in and out of the console with a password (and second factor).

use axum::Extension;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ditto_core::catalogue::Op;
use ditto_core::secrets::sha256;
use ditto_identity::{Client, SignInError};
use ditto_types::api::{SignIn, SignedIn};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::AppState;
use crate::client_address::ClientAddress;
use crate::error::{ApiError, problem, problem_response};
use crate::extract::{Json, csrf_checked, session_cookie};
use crate::throttle::Throttles;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(sign_in))
        .routes(routes!(sign_out))
}

/// Sign in with a password. On success the session is set in the
/// `ditto_session` cookie (HttpOnly, SameSite=Lax) and its CSRF token is in
/// the body and the `ditto_csrf` cookie; send it as `x-csrf-token` with
/// every request that changes something. Wrong credentials answer 401
/// `invalid-credentials`; a missing second factor 401
/// `second-factor-required`. Five failures within 15 minutes from one
/// client address lock that address (and only that one) out of the account
/// named for 15 minutes: 429 `locked-out` with `Retry-After`, the same
/// whether the account exists or not. At most 60 attempts a minute per
/// client address, and 20 per account named from addresses it has not
/// signed in from, shared by every replica through Redis: 429
/// `too-many-requests` with `Retry-After`. When every
/// password-hashing slot is busy, 503 with `Retry-After`. A tenant that enforces single sign-on answers a right
/// password with 403 `sso-required`, except for its break-glass owners
/// (whose sign-in is audited as `auth.break_glass_sign_in`).
#[utoipa::path(post, path = "/api/v1/auth/sign-in", tag = "auth", operation_id = Op::AuthSignIn.id(),
    request_body = SignIn, security(()),
    responses((status = 200, body = SignedIn), (status = 401), (status = 403), (status = 429), (status = 503)))]
async fn sign_in(
    State(app): State<AppState>,
    Extension(throttles): Extension<Throttles>,
    Extension(address): Extension<ClientAddress>,
    headers: HeaderMap,
    Json(body): Json<SignIn>,
) -> Response {
    let (client, replaces) = client_of(address, &headers);
    if let Err(throttled) = throttles.sign_in_address.check(&address.key()).await {
        return throttled.into_response();
    }
    let attempt = match app.identity.attempt(&app.store, &body, &client).await {
        Ok(attempt) => attempt,
        Err(e) => return ApiError(e).into_response(),
    };
    // A source the account has signed in from is spared the per-account
    // throttle, so a flood of guesses from elsewhere cannot keep its owner out.
    if !attempt.from_known_source()
        && let Err(throttled) = throttles
            .sign_in_from_unknown_source(&body.tenant, &body.email)
            .await
    {
        return throttled.into_response();
    }
    let result = app
        .identity
        .sign_in(
            &app.store,
            app.master_key.as_ref(),
            &body,
            client,
            replaces,
            attempt,
        )
        .await;
    let (signed_in, secrets) = match result {
        Ok(done) => done,
        Err(e) => return refusal(e),
    };
    let mut response = Json(signed_in).into_response();
    for cookie in app.identity.sessions.cookies(&secrets) {
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    no_store(&mut response);
    response
}

/// Where a sign-in comes from, and the digest of the session the browser
/// already holds (which the new one replaces).
pub(crate) fn client_of(address: ClientAddress, headers: &HeaderMap) -> (Client, Option<[u8; 32]>) {
    let client = Client {
        ip: address.0,
        user_agent: headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
    };
    let replaces = session_cookie(headers).map(|t| sha256(t.as_bytes()));
    (client, replaces)
}

fn refusal(e: SignInError) -> Response {
    let p = match e {
        SignInError::InvalidCredentials => problem(
            StatusCode::UNAUTHORIZED,
            "invalid-credentials",
            "Sign-in failed",
            Some("the tenant, email or password is not correct".into()),
        ),
        SignInError::SecondFactorRequired => problem(
            StatusCode::UNAUTHORIZED,
            "second-factor-required",
            "Second factor required",
            Some(
                "send the code from your authenticator app as `totp_code`, or a recovery code as `recovery_code`"
                    .into(),
            ),
        ),
        SignInError::LockedOut { until } => {
            let wait = (until - chrono::Utc::now()).num_seconds().max(1);
            let mut response = problem_response(problem(
                StatusCode::TOO_MANY_REQUESTS,
                "locked-out",
                "Locked out",
                Some(format!(
                    "too many failed sign-ins from your address for this account: try again after {} (in {} min), or ask an administrator to unlock it",
                    until.format("%Y-%m-%d %H:%M:%S UTC"),
                    (wait + 59) / 60
                )),
            ));
            if let Ok(v) = HeaderValue::from_str(&wait.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, v);
            }
            return response;
        }
        SignInError::SsoRequired { login_urls } => {
            let at: Vec<String> = login_urls
                .iter()
                .map(|(name, url)| format!("{name} ({url})"))
                .collect();
            problem(
                StatusCode::FORBIDDEN,
                "sso-required",
                "Single sign-on required",
                Some(format!(
                    "this tenant signs its members in through its identity provider, not with a password: sign in through {}; POST /api/v1/auth/sso/discover with your email finds it too",
                    if at.is_empty() { "its SSO connection".to_owned() } else { at.join(", ") }
                )),
            )
        }
        SignInError::Other(e) => return ApiError(e).into_response(),
    };
    problem_response(p)
}

/// Sign out: the session in the cookie ends and the cookies are cleared.
/// A live session must be signed out with its CSRF token in `x-csrf-token`
/// (else 403, and it stays), so another site cannot sign the browser out.
/// Answers 204 whether or not there was a live session.
#[utoipa::path(post, path = "/api/v1/auth/sign-out", tag = "auth", operation_id = Op::AuthSignOut.id(),
    security(()), responses((status = 204), (status = 403)))]
async fn sign_out(State(app): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    if let Some(token) = session_cookie(&headers) {
        let digest = sha256(token.as_bytes());
        if let Some(holder) = app.store.authenticate_session(&digest).await? {
            csrf_checked(&headers, &holder.csrf_hash)?;
        }
        app.store.close_session(&digest).await?;
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    for cookie in app.identity.sessions.cleared_cookies() {
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    Ok(response)
}

fn no_store(response: &mut Response) {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}
