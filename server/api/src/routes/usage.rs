//! Usage reports from the 15-minute roll-ups: per tenant, and across
//! tenants for platform administrators.

use axum::extract::State;
use ditto_core::catalogue::Op;
use ditto_core::validate;
use ditto_types::api::{UsageParams, UsageReport};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::AppState;
use crate::error::ApiResult;
use crate::extract::{Auth, Json, Path, Query};

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(tenant))
        .routes(routes!(platform))
}

/// A tenant's usage over a range, grouped and bucketed as asked. Day and
/// hour buckets follow the tenant's time zone. At most 10000 rows (see `truncated`).
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/usage", tag = "usage", operation_id = Op::UsageQuery.id(),
    params(("tenant" = String, Path, description = "Tenant slug or id"), UsageParams),
    security(("bearer" = [])), responses((status = 200, body = UsageReport)))]
async fn tenant(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path(tenant): Path<String>,
    Query(params): Query<UsageParams>,
) -> ApiResult<Json<UsageReport>> {
    let scope = app
        .tenant_scope(&ctx, &tenant, Op::UsageQuery.permission())
        .await?;
    let query = validate::usage_query(&params, false)?;
    Ok(Json(app.store.tenant_usage(&scope, &query).await?))
}

/// Usage across every tenant (platform administrators); may also be grouped
/// by `tenant`. Day buckets are UTC days.
#[utoipa::path(get, path = "/api/v1/usage", tag = "usage", operation_id = Op::PlatformUsageQuery.id(),
    params(UsageParams), security(("bearer" = [])), responses((status = 200, body = UsageReport)))]
async fn platform(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Query(params): Query<UsageParams>,
) -> ApiResult<Json<UsageReport>> {
    let scope = app
        .platform_scope(&ctx, Op::PlatformUsageQuery.permission())
        .await?;
    let query = validate::usage_query(&params, true)?;
    Ok(Json(app.store.platform_usage(&scope, &query).await?))
}
