//! Liveness and readiness probes.

use axum::extract::State;
use axum::http::StatusCode;
use ditto_types::api::{Health, HealthCheck};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::AppState;
use crate::extract::Json;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(live))
        .routes(routes!(ready))
}

/// Liveness: the process is up and serving.
#[utoipa::path(get, path = "/healthz", tag = "health", operation_id = "health_live",
    responses((status = 200, description = "Alive", body = Health)))]
async fn live() -> Json<Health> {
    Json(Health {
        status: "ok".into(),
        checks: Vec::new(),
    })
}

/// Readiness: the database is reachable and every migration is applied.
#[utoipa::path(get, path = "/readyz", tag = "health", operation_id = "health_ready",
    responses(
        (status = 200, description = "Ready to serve", body = Health),
        (status = 503, description = "Not ready; `checks` says why", body = Health),
    ))]
async fn ready(State(app): State<AppState>) -> (StatusCode, Json<Health>) {
    let database = app.store.readiness().await;
    let ok = database.is_ok();
    let health = Health {
        status: if ok { "ok" } else { "unavailable" }.into(),
        checks: vec![HealthCheck {
            name: "database".into(),
            ok,
            detail: database.err(),
        }],
    };
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(health))
}
