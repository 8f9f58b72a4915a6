//! Errors in OpenAI's shape, so SDKs surface them as they would OpenAI's.

use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// A refusal by the gateway itself (not an upstream answer).
#[derive(Debug)]
pub struct GatewayError {
    pub status: StatusCode,
    pub message: String,
    pub kind: &'static str,
    pub code: Option<&'static str>,
    pub param: Option<&'static str>,
    /// Sent with the error, e.g. `Retry-After` and `x-ratelimit-*`.
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

impl GatewayError {
    fn new(
        status: StatusCode,
        kind: &'static str,
        code: &'static str,
        message: impl Into<String>,
    ) -> Self {
        Self {
            status,
            message: message.into(),
            kind,
            code: Some(code),
            param: None,
            headers: Vec::new(),
        }
    }

    pub fn invalid_key() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "invalid_request_error",
            "invalid_api_key",
            "Incorrect API key provided. Use a key of this tenant (dk-…) as `Authorization: Bearer` or `x-api-key`.",
        )
    }

    pub fn missing_key() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "invalid_request_error",
            "missing_api_key",
            "You didn't provide an API key. Send it as `Authorization: Bearer dk-…` or `x-api-key`.",
        )
    }

    pub fn bad_request(message: impl Into<String>, param: Option<&'static str>) -> Self {
        Self {
            param,
            ..Self::new(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                "invalid_request",
                message,
            )
        }
    }

    /// An endpoint the serving backend's protocol has no equivalent of.
    pub fn unsupported_endpoint(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "unsupported_endpoint",
            message,
        )
    }

    /// A parameter the serving backend's protocol cannot honour.
    pub fn unsupported_parameter(message: impl Into<String>, param: &'static str) -> Self {
        Self {
            param: Some(param),
            ..Self::new(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                "unsupported_parameter",
                message,
            )
        }
    }

    /// An upstream answer that cannot be read.
    pub fn bad_upstream(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_GATEWAY,
            "api_error",
            "upstream_invalid_response",
            message,
        )
    }

    pub fn model_not_found(model: &str) -> Self {
        Self {
            param: Some("model"),
            ..Self::new(
                StatusCode::NOT_FOUND,
                "invalid_request_error",
                "model_not_found",
                format!("The model `{model}` does not exist or you do not have access to it."),
            )
        }
    }

    pub fn model_not_allowed(model: &str) -> Self {
        Self {
            param: Some("model"),
            ..Self::new(
                StatusCode::FORBIDDEN,
                "invalid_request_error",
                "model_not_allowed",
                format!("This API key is not allowed to use the model `{model}`."),
            )
        }
    }

    pub fn too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "invalid_request_error",
            "request_too_large",
            format!("The request body is larger than {limit} bytes."),
        )
    }

    pub fn at_capacity() -> Self {
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limit_error",
            "backend_at_capacity",
            "Every backend for this model is at its in-flight limit; retry shortly.",
        )
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_GATEWAY,
            "api_error",
            "upstream_unavailable",
            message,
        )
    }

    pub fn timeout() -> Self {
        Self::new(
            StatusCode::GATEWAY_TIMEOUT,
            "api_error",
            "upstream_timeout",
            "The upstream did not answer in time.",
        )
    }

    /// A method no OpenAI-compatible endpoint takes.
    pub fn method_not_allowed(method: &axum::http::Method) -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "invalid_request_error",
            "method_not_allowed",
            format!("{method} is not used by this API; send GET, POST or DELETE."),
        )
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            "not_found",
            message,
        )
    }

    pub fn rate_limited(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limit_error",
            "rate_limit_exceeded",
            message,
        )
    }

    /// A budget has no room for the request; OpenAI's quota error, so SDKs
    /// do not retry it.
    pub fn insufficient_quota(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "insufficient_quota",
            "insufficient_quota",
            message,
        )
    }

    /// The limits store cannot be reached and the request must not go
    /// uncounted.
    pub fn limits_unavailable(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "api_error",
            "limits_unavailable",
            message,
        )
    }

    pub fn model_not_priced(model: &str) -> Self {
        Self {
            param: Some("model"),
            ..Self::new(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                "model_not_priced",
                format!(
                    "No price is configured for the model `{model}`, and a cost budget applies to this key. \
                     Ask an administrator to set its price."
                ),
            )
        }
    }

    /// The value of a header the error is sent with.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.as_str() == name)
            .and_then(|(_, v)| v.to_str().ok())
    }

    /// A short label for logs, metrics and usage rows.
    pub fn label(&self) -> &'static str {
        self.code.unwrap_or(self.kind)
    }
}

impl IntoResponse for GatewayError {
    fn into_response(self) -> Response {
        let body = json!({"error": {
            "message": self.message, "type": self.kind, "param": self.param, "code": self.code,
        }});
        let mut response = (self.status, axum::Json(body)).into_response();
        for (name, value) in self.headers {
            response.headers_mut().insert(name, value);
        }
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}
