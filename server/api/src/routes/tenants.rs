//! Tenants. Creating, listing and changing tenants is for platform
//! administrators; a tenant's own principals may read their tenant.

use axum::extract::State;
use axum::http::StatusCode;
use ditto_core::Permission;
use ditto_core::catalogue::Op;
use ditto_core::validate;
use ditto_types::api::{
    CreateTenant, PageParams, Tenant, TenantFilter, TenantPage, TenantStatus, UpdateTenant,
};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::AppState;
use crate::error::ApiResult;
use crate::extract::{Auth, Json, Path, Query};

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get, update, delete))
        .routes(routes!(suspend))
        .routes(routes!(resume))
}

/// List tenants.
#[utoipa::path(get, path = "/api/v1/tenants", tag = "tenants", operation_id = Op::TenantsList.id(),
    params(PageParams, TenantFilter), security(("bearer" = [])),
    responses((status = 200, body = TenantPage)))]
async fn list(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Query(page): Query<PageParams>,
    Query(filter): Query<TenantFilter>,
) -> ApiResult<Json<TenantPage>> {
    let scope = app
        .platform_scope(&ctx, Op::TenantsList.permission())
        .await?;
    Ok(Json(app.store.list_tenants(&scope, &filter, &page).await?))
}

/// Create a tenant.
#[utoipa::path(post, path = "/api/v1/tenants", tag = "tenants", operation_id = Op::TenantsCreate.id(),
    request_body = CreateTenant, security(("bearer" = [])),
    responses((status = 201, body = Tenant)))]
async fn create(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Json(body): Json<CreateTenant>,
) -> ApiResult<(StatusCode, Json<Tenant>)> {
    let scope = app
        .platform_scope(&ctx, Op::TenantsCreate.permission())
        .await?;
    validate::create_tenant(&body)?;
    Ok((
        StatusCode::CREATED,
        Json(app.store.create_tenant(&scope, &body).await?),
    ))
}

/// Get a tenant by slug or id.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}", tag = "tenants", operation_id = Op::TenantsGet.id(),
    params(("tenant" = String, Path, description = "Tenant slug or id")), security(("bearer" = [])),
    responses((status = 200, body = Tenant)))]
async fn get(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path(tenant): Path<String>,
) -> ApiResult<Json<Tenant>> {
    let scope = app
        .tenant_scope(&ctx, &tenant, Op::TenantsGet.permission())
        .await?;
    Ok(Json(app.store.get_tenant(&scope).await?))
}

/// Rename a tenant. The slug cannot change.
#[utoipa::path(patch, path = "/api/v1/tenants/{tenant}", tag = "tenants", operation_id = Op::TenantsUpdate.id(),
    params(("tenant" = String, Path, description = "Tenant slug or id")),
    request_body = UpdateTenant, security(("bearer" = [])),
    responses((status = 200, body = Tenant)))]
async fn update(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path(tenant): Path<String>,
    Json(body): Json<UpdateTenant>,
) -> ApiResult<Json<Tenant>> {
    let scope = app
        .platform_scope(&ctx, Op::TenantsUpdate.permission())
        .await?;
    let tenant = visible_tenant(&app, &ctx, &tenant).await?;
    validate::update_tenant(&body)?;
    Ok(Json(app.store.update_tenant(&scope, tenant, &body).await?))
}

/// Delete a tenant and everything it owns.
#[utoipa::path(delete, path = "/api/v1/tenants/{tenant}", tag = "tenants", operation_id = Op::TenantsDelete.id(),
    params(("tenant" = String, Path, description = "Tenant slug or id")), security(("bearer" = [])),
    responses((status = 204, description = "Deleted")))]
async fn delete(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path(tenant): Path<String>,
) -> ApiResult<StatusCode> {
    let scope = app
        .platform_scope(&ctx, Op::TenantsDelete.permission())
        .await?;
    let tenant = visible_tenant(&app, &ctx, &tenant).await?;
    app.store.delete_tenant(&scope, tenant).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Suspend a tenant: its keys and tokens are refused until it is resumed.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant}/suspend", tag = "tenants", operation_id = Op::TenantsSuspend.id(),
    params(("tenant" = String, Path, description = "Tenant slug or id")), security(("bearer" = [])),
    responses((status = 200, body = Tenant)))]
async fn suspend(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path(tenant): Path<String>,
) -> ApiResult<Json<Tenant>> {
    set_status(
        app,
        ctx,
        tenant,
        TenantStatus::Suspended,
        Op::TenantsSuspend,
    )
    .await
}

/// Resume a suspended tenant.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant}/resume", tag = "tenants", operation_id = Op::TenantsResume.id(),
    params(("tenant" = String, Path, description = "Tenant slug or id")), security(("bearer" = [])),
    responses((status = 200, body = Tenant)))]
async fn resume(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path(tenant): Path<String>,
) -> ApiResult<Json<Tenant>> {
    set_status(app, ctx, tenant, TenantStatus::Active, Op::TenantsResume).await
}

async fn set_status(
    app: AppState,
    ctx: ditto_core::Ctx,
    tenant: String,
    status: TenantStatus,
    operation: Op,
) -> ApiResult<Json<Tenant>> {
    let scope = app.platform_scope(&ctx, operation.permission()).await?;
    let tenant = visible_tenant(&app, &ctx, &tenant).await?;
    Ok(Json(
        app.store.set_tenant_status(&scope, tenant, status).await?,
    ))
}

/// The id of a tenant named by slug or id, if the caller may see it.
async fn visible_tenant(
    app: &AppState,
    ctx: &ditto_core::Ctx,
    tenant: &str,
) -> ApiResult<ditto_types::TenantId> {
    let scope = app
        .tenant_scope(ctx, tenant, Permission::TenantsRead)
        .await?;
    Ok(scope.tenant_id())
}
