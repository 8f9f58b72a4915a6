//! Domain errors as RFC 9457 problem responses. All status mapping is here.
//!
//! A handler's error carries its [`Problem`] as a response extension; the
//! `problem_details` middleware fills in the request id and path and writes
//! the body, so errors raised by extractors and fallbacks look the same.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ditto_core::Error;
use ditto_types::problem::Problem;

/// The error type of every handler.
#[derive(Debug)]
pub struct ApiError(pub Error);

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        Self(e)
    }
}

pub(crate) type ApiResult<T> = Result<T, ApiError>;

const PROBLEM_BASE: &str = "https://ditto.dev/problems/";

pub(crate) fn problem(
    status: StatusCode,
    kind: &str,
    title: &str,
    detail: Option<String>,
) -> Problem {
    Problem {
        kind: format!("{PROBLEM_BASE}{kind}"),
        title: title.to_owned(),
        status: status.as_u16(),
        detail,
        instance: None,
        request_id: None,
        errors: Vec::new(),
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let p = match self.0 {
            Error::BadRequest(detail) => problem(
                StatusCode::BAD_REQUEST,
                "bad-request",
                "Bad request",
                Some(detail),
            ),
            Error::Validation(errors) => Problem {
                errors,
                ..problem(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "validation",
                    "Invalid request",
                    Some("one or more fields are invalid; see `errors`".into()),
                )
            },
            Error::Unauthenticated(detail) => problem(
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "Authentication required",
                Some(detail.into()),
            ),
            Error::Forbidden(detail) => problem(
                StatusCode::FORBIDDEN,
                "forbidden",
                "Forbidden",
                Some(detail),
            ),
            Error::NotFound(what) => problem(
                StatusCode::NOT_FOUND,
                "not-found",
                "Not found",
                Some(format!("{what} not found")),
            ),
            Error::Conflict(detail) => {
                problem(StatusCode::CONFLICT, "conflict", "Conflict", Some(detail))
            }
            Error::Unavailable(detail) => problem(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "Service unavailable",
                Some(detail),
            ),
            Error::Internal(message) => {
                tracing::error!(error = %message, "internal error");
                problem(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "Internal error",
                    Some(
                        "something went wrong on our side; quote the request id when reporting it"
                            .into(),
                    ),
                )
            }
        };
        problem_response(p)
    }
}

/// A response carrying `p`; the middleware renders its body.
pub(crate) fn problem_response(p: Problem) -> Response {
    let status = StatusCode::from_u16(p.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = status.into_response();
    if status == StatusCode::UNAUTHORIZED {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    if status == StatusCode::SERVICE_UNAVAILABLE {
        // Whatever was busy or down is worth another try shortly.
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    response.extensions_mut().insert(p);
    response
}

pub(crate) async fn not_found() -> Response {
    problem_response(problem(
        StatusCode::NOT_FOUND,
        "not-found",
        "Not found",
        Some("no such endpoint; see /api/v1/docs".into()),
    ))
}

pub(crate) async fn method_not_allowed() -> Response {
    problem_response(problem(
        StatusCode::METHOD_NOT_ALLOWED,
        "method-not-allowed",
        "Method not allowed",
        Some("this endpoint does not accept this method; see /api/v1/docs".into()),
    ))
}
