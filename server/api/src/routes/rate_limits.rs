//! Rate limits of a tenant and of its projects, users and keys.

use axum::extract::State;
use axum::http::StatusCode;
use ditto_core::catalogue::Op;
use ditto_core::validate;
use ditto_types::RateLimitId;
use ditto_types::api::{
    CreateRateLimit, LimitFilter, PageParams, RateLimit, RateLimitPage, UpdateRateLimit,
};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::AppState;
use crate::error::ApiResult;
use crate::extract::{Auth, Json, Path, Query};

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get, update, delete))
}

/// List a tenant's rate limits, newest first.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/rate-limits", tag = "rate_limits",
    operation_id = Op::RateLimitsList.id(),
    params(("tenant" = String, Path, description = "Tenant slug or id"), PageParams, LimitFilter),
    security(("bearer" = [])), responses((status = 200, body = RateLimitPage)))]
async fn list(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path(tenant): Path<String>,
    Query(page): Query<PageParams>,
    Query(filter): Query<LimitFilter>,
) -> ApiResult<Json<RateLimitPage>> {
    let scope = app
        .tenant_scope(&ctx, &tenant, Op::RateLimitsList.permission())
        .await?;
    Ok(Json(
        app.store.list_rate_limits(&scope, &filter, &page).await?,
    ))
}

/// Add a rate limit. One limit per scope and model (409 otherwise).
#[utoipa::path(post, path = "/api/v1/tenants/{tenant}/rate-limits", tag = "rate_limits",
    operation_id = Op::RateLimitsCreate.id(),
    params(("tenant" = String, Path, description = "Tenant slug or id")), request_body = CreateRateLimit,
    security(("bearer" = [])), responses((status = 201, body = RateLimit)))]
async fn create(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path(tenant): Path<String>,
    Json(body): Json<CreateRateLimit>,
) -> ApiResult<(StatusCode, Json<RateLimit>)> {
    let scope = app
        .tenant_scope(&ctx, &tenant, Op::RateLimitsCreate.permission())
        .await?;
    validate::create_rate_limit(&body)?;
    Ok((
        StatusCode::CREATED,
        Json(app.store.create_rate_limit(&scope, &body).await?),
    ))
}

/// Get a rate limit.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/rate-limits/{rate_limit_id}", tag = "rate_limits",
    operation_id = Op::RateLimitsGet.id(),
    params(("tenant" = String, Path, description = "Tenant slug or id"), ("rate_limit_id" = RateLimitId, Path)),
    security(("bearer" = [])), responses((status = 200, body = RateLimit)))]
async fn get(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path((tenant, id)): Path<(String, RateLimitId)>,
) -> ApiResult<Json<RateLimit>> {
    let scope = app
        .tenant_scope(&ctx, &tenant, Op::RateLimitsGet.permission())
        .await?;
    Ok(Json(app.store.get_rate_limit(&scope, id).await?))
}

/// Change a rate limit's model or limits; at least one limit must remain.
#[utoipa::path(patch, path = "/api/v1/tenants/{tenant}/rate-limits/{rate_limit_id}", tag = "rate_limits",
    operation_id = Op::RateLimitsUpdate.id(),
    params(("tenant" = String, Path, description = "Tenant slug or id"), ("rate_limit_id" = RateLimitId, Path)),
    request_body = UpdateRateLimit, security(("bearer" = [])), responses((status = 200, body = RateLimit)))]
async fn update(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path((tenant, id)): Path<(String, RateLimitId)>,
    Json(body): Json<UpdateRateLimit>,
) -> ApiResult<Json<RateLimit>> {
    let scope = app
        .tenant_scope(&ctx, &tenant, Op::RateLimitsUpdate.permission())
        .await?;
    validate::update_rate_limit(&body)?;
    Ok(Json(app.store.update_rate_limit(&scope, id, &body).await?))
}

/// Delete a rate limit.
#[utoipa::path(delete, path = "/api/v1/tenants/{tenant}/rate-limits/{rate_limit_id}", tag = "rate_limits",
    operation_id = Op::RateLimitsDelete.id(),
    params(("tenant" = String, Path, description = "Tenant slug or id"), ("rate_limit_id" = RateLimitId, Path)),
    security(("bearer" = [])), responses((status = 204, description = "Deleted")))]
async fn delete(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path((tenant, id)): Path<(String, RateLimitId)>,
) -> ApiResult<StatusCode> {
    let scope = app
        .tenant_scope(&ctx, &tenant, Op::RateLimitsDelete.permission())
        .await?;
    app.store.delete_rate_limit(&scope, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
