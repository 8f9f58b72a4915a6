//! Tenant health for platform operators: every tenant's traffic, errors,
//! spend and latency over a recent window, a page at a time.

use axum::extract::State;
use ditto_core::catalogue::Op;
use ditto_core::tenant_health;
use ditto_types::api::{PageParams, TenantFilter, TenantHealthPage, TenantHealthParams};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::AppState;
use crate::error::ApiResult;
use crate::extract::{Auth, Json, Query};

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list))
}

/// Tenants with their health over the window up to now: requests, errors
/// (status 400 or more) and the error rate judged as `healthy`, `degraded`
/// (5% or more) or `failing` (25% or more), tokens, spend, p50/p95 latency
/// and the latest request. Sorted, filtered and paged like the tenant list.
#[utoipa::path(get, path = "/api/v1/tenant-health", tag = "tenants",
    operation_id = Op::TenantHealthList.id(),
    params(TenantHealthParams, PageParams, TenantFilter), security(("bearer" = [])),
    responses((status = 200, body = TenantHealthPage)))]
async fn list(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Query(params): Query<TenantHealthParams>,
    Query(page): Query<PageParams>,
    Query(filter): Query<TenantFilter>,
) -> ApiResult<Json<TenantHealthPage>> {
    let scope = app
        .platform_scope(&ctx, Op::TenantHealthList.permission())
        .await?;
    let window = tenant_health::window(params.window.as_deref())?;
    let to = chrono::Utc::now();
    Ok(Json(
        app.store
            .tenant_health(&scope, to - window, to, &filter, &page)
            .await?,
    ))
}
