//! Home-realm discovery for the sign-in page: an email address in, where
//! to sign in out. Public and throttled per client address; the answer
//! depends only on the address's domain.

use axum::Extension;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use ditto_core::catalogue::Op;
use ditto_types::api::{SsoDiscover, SsoDiscovery};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::AppState;
use crate::client_address::ClientAddress;
use crate::error::ApiError;
use crate::extract::Json;
use crate::throttle::Throttles;

/// Lookups a client address may make per minute.
pub(crate) const DISCOVERY_PER_MINUTE: u64 = 30;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(discover))
}

/// Where an email address signs in. An address at a tenant's verified
/// domain gets `method: sso`, the tenant's slug and its enabled SSO
/// connections (OIDC or SAML, each with the `login_url` to send the
/// browser to); any other address `method: password`. The answer depends
/// only on the domain, never on whether an account exists. At most 30
/// lookups a minute per client address (429 with `Retry-After`).
#[utoipa::path(post, path = "/api/v1/auth/sso/discover", tag = "auth",
    operation_id = Op::AuthSsoDiscover.id(), request_body = SsoDiscover, security(()),
    responses((status = 200, body = SsoDiscovery), (status = 422), (status = 429)))]
async fn discover(
    State(app): State<AppState>,
    Extension(throttles): Extension<Throttles>,
    Extension(address): Extension<ClientAddress>,
    Json(body): Json<SsoDiscover>,
) -> Response {
    let client = address.key();
    if let Err(throttled) = throttles.discover.check(&client).await {
        return throttled.into_response();
    }
    match ditto_identity::discovery::discover(&app.store, &body.email).await {
        Ok(answer) => {
            let mut response = Json(answer).into_response();
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(e) => ApiError(e).into_response(),
    }
}
