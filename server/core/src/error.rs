//! One error type for the whole control plane. Each variant keeps what a
//! client may see apart from what only the logs may see; the HTTP layer maps
//! variants to statuses in one place.

use ditto_types::problem::FieldError;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// 400: the request is malformed in a way not tied to one field.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// 422: one or more fields are invalid.
    #[error("validation failed: {0:?}")]
    Validation(Vec<FieldError>),
    /// 401: no or invalid credentials.
    #[error("unauthenticated: {0}")]
    Unauthenticated(&'static str),
    /// 403: authenticated, but not allowed to do this.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// 404: the resource does not exist, or belongs to another tenant.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// 409: the request conflicts with the current state (e.g. a duplicate name).
    #[error("conflict: {0}")]
    Conflict(String),
    /// 503: a dependency (database) is unavailable.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// 500: a bug or an unexpected failure. The message is logged, never shown.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// A single-field validation error.
    pub fn invalid(field: &str, code: &str, message: impl Into<String>) -> Self {
        Self::Validation(vec![FieldError {
            field: field.to_owned(),
            code: code.to_owned(),
            message: message.into(),
        }])
    }
}
