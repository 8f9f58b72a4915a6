//! Extractors whose rejections are problem details: the caller's identity,
//! JSON bodies, query strings and path ids.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use ditto_core::secrets::sha256;
use ditto_core::{Ctx, Error};
use ditto_identity::session::{CSRF_HEADER, SESSION_COOKIE, cookie, csrf_matches};
use ditto_types::problem::FieldError;
use serde::de::DeserializeOwned;

use crate::AppState;
use crate::error::{ApiError, problem, problem_response};
use crate::middleware::request_id;

/// The authenticated caller: a bearer token (access token or personal
/// access token) or, from the console, a session cookie. Rejects with 401
/// when neither is valid, and with 403 when a cookie-authenticated request
/// that changes state lacks the session's CSRF token.
pub(crate) struct Auth(pub Ctx);

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let request_id = request_id(&parts.headers);
        if let Some(header) = parts.headers.get(axum::http::header::AUTHORIZATION) {
            let token = header
                .to_str()
                .ok()
                .and_then(|v| {
                    v.strip_prefix("Bearer ")
                        .or_else(|| v.strip_prefix("bearer "))
                })
                .map(str::trim)
                .filter(|t| !t.is_empty() && t.len() <= 512)
                .ok_or(Error::Unauthenticated(
                    "the Authorization header must be `Bearer <token>`",
                ))?;
            let principal =
                state
                    .store
                    .authenticate_token(token)
                    .await?
                    .ok_or(Error::Unauthenticated(
                        "the token is invalid, expired or revoked",
                    ))?;
            return Ok(Auth(Ctx {
                principal,
                request_id,
                session: None,
            }));
        }
        let Some(token) = session_cookie(&parts.headers) else {
            return Err(
                Error::Unauthenticated("sign in, or send `Authorization: Bearer <token>`").into(),
            );
        };
        let (principal, holder) = state
            .store
            .session_principal(&sha256(token.as_bytes()))
            .await?
            .ok_or(Error::Unauthenticated(
                "the session has ended (signed out, revoked or timed out); sign in again",
            ))?;
        if !parts.method.is_safe() {
            csrf_checked(&parts.headers, &holder.csrf_hash)?;
        }
        if holder.must_change_password && !allowed_before_password_change(parts) {
            return Err(Error::Forbidden(
                "an administrator set your password: choose your own first \
                 (POST /api/v1/me/password); until then this session may do nothing else"
                    .into(),
            )
            .into());
        }
        Ok(Auth(Ctx {
            principal,
            request_id,
            session: Some(ditto_core::SessionRef {
                id: holder.session_id,
                signed_in_ago: holder.signed_in_ago,
                must_change_password: holder.must_change_password,
            }),
        }))
    }
}

/// What a session whose password an administrator set may do: see who it
/// is, and change the password.
fn allowed_before_password_change(parts: &Parts) -> bool {
    use axum::http::Method;
    matches!(
        (&parts.method, parts.uri.path()),
        (&Method::GET, "/api/v1/me") | (&Method::POST, "/api/v1/me/password")
    )
}

/// 403 unless `headers` carry the CSRF token of the session whose digest is
/// `csrf_hash`: a change made with a session cookie must prove it comes from
/// the console, not from another site the browser visits.
pub(crate) fn csrf_checked(headers: &axum::http::HeaderMap, csrf_hash: &[u8]) -> Result<(), Error> {
    let presented = headers
        .get(CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if csrf_matches(presented, csrf_hash) {
        return Ok(());
    }
    Err(Error::Forbidden(format!(
        "a request made with the session cookie must send the session's CSRF token \
         in the `{CSRF_HEADER}` header"
    )))
}

/// The session token in the request's cookies, if any.
pub(crate) fn session_cookie(headers: &axum::http::HeaderMap) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|h| cookie(h, SESSION_COOKIE))
        .map(str::to_owned)
}

/// A JSON body; malformed bodies become 400/413/415/422 problems.
pub(crate) struct Json<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Json<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Response> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(Json(value)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

impl<T: serde::Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

fn json_rejection(rejection: JsonRejection) -> Response {
    let status = rejection.status();
    let text = rejection.body_text();
    let p = match &rejection {
        JsonRejection::JsonDataError(_) => {
            return ApiError(Error::Validation(vec![data_error(&text)])).into_response();
        }
        JsonRejection::JsonSyntaxError(_) => problem(
            StatusCode::BAD_REQUEST,
            "malformed-json",
            "Malformed JSON",
            Some(strip_axum_prefix(&text).to_owned()),
        ),
        JsonRejection::MissingJsonContentType(_) => problem(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "Unsupported media type",
            Some("send the body as JSON with `Content-Type: application/json`".into()),
        ),
        _ if status == StatusCode::PAYLOAD_TOO_LARGE => problem(
            status,
            "payload-too-large",
            "Payload too large",
            Some(format!(
                "the body must be at most {} bytes ({} for price imports)",
                crate::MAX_BODY_BYTES,
                crate::IMPORT_MAX_BODY_BYTES
            )),
        ),
        _ => problem(status, "bad-request", "Bad request", Some(text.clone())),
    };
    problem_response(p)
}

fn strip_axum_prefix(text: &str) -> &str {
    text.split_once(": ").map_or(text, |(_, rest)| rest)
}

/// A field error from serde's message, e.g. "name: invalid type: integer, expected a string"
/// or "missing field `name`".
fn data_error(text: &str) -> FieldError {
    let message = strip_axum_prefix(text);
    let message = message.split(" at line ").next().unwrap_or(message);
    let (path, detail) = match message.split_once(": ") {
        Some((path, detail)) if !path.contains(' ') => (path, detail),
        _ => (".", message),
    };
    let missing = detail
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split('`').next());
    let unknown = detail
        .strip_prefix("unknown field `")
        .and_then(|rest| rest.split('`').next());
    let base = if path == "." {
        String::new()
    } else {
        format!("/{}", path.replace('.', "/"))
    };
    let (field, code) = match (missing, unknown) {
        (Some(name), _) => (format!("{base}/{name}"), "required"),
        // serde puts an unknown field in the path already.
        (_, Some(name)) if base.ends_with(&format!("/{name}")) => (base, "unknown_field"),
        (_, Some(name)) => (format!("{base}/{name}"), "unknown_field"),
        _ => (
            if base.is_empty() {
                "/".to_owned()
            } else {
                base
            },
            "invalid_value",
        ),
    };
    FieldError {
        field,
        code: code.to_owned(),
        message: detail.to_owned(),
    }
}

/// Query parameters; bad values become a 422 problem.
pub(crate) struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(Query(value)),
            Err(rejection) => Err(query_rejection(rejection)),
        }
    }
}

fn query_rejection(rejection: QueryRejection) -> ApiError {
    let text = rejection.body_text();
    let message = strip_axum_prefix(&text);
    ApiError(Error::invalid("query", "invalid_value", message))
}

/// Path parameters. An id that does not parse names nothing, so it is a 404.
pub(crate) struct Path<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Path(value)),
            Err(PathRejection::FailedToDeserializePathParams(_)) => {
                Err(ApiError(Error::NotFound("resource")))
            }
            Err(other) => Err(ApiError(Error::Internal(other.body_text()))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_messages_become_field_errors() {
        let missing = data_error(
            "Failed to deserialize the JSON body into the target type: missing field `name` at line 1 column 2",
        );
        assert_eq!(
            (missing.field.as_str(), missing.code.as_str()),
            ("/name", "required")
        );
        let wrong = data_error(
            "Failed to deserialize the JSON body into the target type: name: invalid type: integer `3`, expected a string at line 1 column 10",
        );
        assert_eq!(
            (wrong.field.as_str(), wrong.code.as_str()),
            ("/name", "invalid_value")
        );
        let unknown = data_error(
            "Failed to deserialize the JSON body into the target type: nmae: unknown field `nmae`, expected `slug` or `name` at line 1 column 7",
        );
        assert_eq!(
            (unknown.field.as_str(), unknown.code.as_str()),
            ("/nmae", "unknown_field")
        );
    }
}
