//! The layers around every route: request ids, access logs that never carry
//! headers or bodies, and problem-details rendering.

use axum::Router;
use axum::body::Body;
use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use ditto_store::audit::RequestMeta;
use ditto_types::problem::Problem;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::client_address::ClientAddress;

pub(crate) const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

pub(crate) fn wrap(router: Router, trusted_proxies: ditto_egress::Networks) -> Router {
    traced(
        router
            .layer(middleware::from_fn(audit_request))
            .layer(middleware::from_fn(problem_details))
            .layer(middleware::from_fn_with_state(
                std::sync::Arc::new(trusted_proxies),
                crate::client_address::resolve,
            )),
    )
}

/// Request ids (the client's `x-request-id`, else a new one, echoed in the
/// response) and a span per request: for every route the server answers,
/// the console's pages as well as the API.
pub fn traced(router: Router) -> Router {
    router
        .layer(TraceLayer::new_for_http().make_span_with(|request: &Request| {
            // Method, path and request id only: headers and query strings may carry secrets.
            let request_id = request
                .headers()
                .get(&REQUEST_ID)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            tracing::info_span!("http", method = %request.method(), path = %request.uri().path(), request_id)
        }))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
}

pub(crate) fn request_id(headers: &axum::http::HeaderMap) -> String {
    headers
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// Makes the request's id, source address and user agent the origin of every
/// audit event the request causes.
async fn audit_request(request: Request, next: Next) -> Response {
    let operation = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| format!("{} {}", request.method(), p.as_str()));
    let meta = RequestMeta {
        operation,
        request_id: Some(request_id(request.headers())),
        source_ip: request
            .extensions()
            .get::<ClientAddress>()
            .and_then(|c| c.0)
            .map(|ip| ip.to_string()),
        user_agent: request
            .headers()
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
    };
    ditto_store::audit::with_request(meta, next.run(request)).await
}

/// Renders the [`Problem`] a response carries, with the request id and path.
async fn problem_details(request: Request, next: Next) -> Response {
    let request_id = request_id(request.headers());
    let path = request.uri().path().to_owned();
    let mut response = next.run(request).await;
    if let Some(mut p) = response.extensions_mut().remove::<Problem>() {
        p.instance = Some(path);
        p.request_id = Some(request_id);
        let body = serde_json::to_vec(&p).unwrap_or_default();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        response.headers_mut().remove(header::CONTENT_LENGTH);
        *response.body_mut() = Body::from(body);
    }
    response
}
