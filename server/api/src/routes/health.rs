//! Liveness and readiness probes.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use ditto_core::catalogue::Op;
use ditto_types::api::{Health, HealthCheck};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::AppState;
use crate::error::ApiResult;
use crate::extract::{Auth, Json};

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(live))
        .routes(routes!(ready))
        .routes(routes!(metrics))
}

/// Liveness: the process is up and serving.
#[utoipa::path(get, path = "/healthz", tag = "health", operation_id = Op::HealthLive.id(),
    responses((status = 200, description = "Alive", body = Health)))]
async fn live() -> Json<Health> {
    Json(Health {
        status: "ok".into(),
        checks: Vec::new(),
    })
}

/// Readiness: the database is reachable with every migration applied, and
/// Redis (when configured) answers.
#[utoipa::path(get, path = "/readyz", tag = "health", operation_id = Op::HealthReady.id(),
    responses(
        (status = 200, description = "Ready to serve", body = Health),
        (status = 503, description = "Not ready; `checks` says why", body = Health),
    ))]
async fn ready(State(app): State<AppState>) -> (StatusCode, Json<Health>) {
    let check = |name: &str, result: Result<(), String>| HealthCheck {
        name: name.into(),
        ok: result.is_ok(),
        detail: result.err(),
    };
    let mut checks = vec![check("database", app.store.readiness().await)];
    if let Some(redis) = &app.redis {
        checks.push(check("redis", redis.readiness().await));
    }
    let ok = checks.iter().all(|c| c.ok);
    let health = Health {
        status: if ok { "ok" } else { "unavailable" }.into(),
        checks,
    };
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(health))
}

/// This replica's metrics in the Prometheus text format (platform administrators).
#[utoipa::path(get, path = "/metrics", tag = "health", operation_id = Op::MetricsGet.id(),
    security(("bearer" = [])),
    responses((status = 200, description = "Prometheus text exposition format", body = String, content_type = "text/plain")))]
async fn metrics(
    State(app): State<AppState>,
    Auth(ctx): Auth,
) -> ApiResult<axum::response::Response> {
    app.platform_scope(&ctx, Op::MetricsGet.permission())
        .await?;
    let body = app
        .metrics
        .as_ref()
        .map(|render| ditto_core::redact::policy().exposition(&render()))
        .unwrap_or_default();
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response())
}
