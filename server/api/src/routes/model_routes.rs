//! Routes from public model names to backends.

use axum::extract::State;
use axum::http::StatusCode;
use ditto_core::catalogue::Op;
use ditto_core::validate;
use ditto_types::RouteId;
use ditto_types::api::{CreateRoute, NameFilter, PageParams, Route, RoutePage, UpdateRoute};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::AppState;
use crate::error::ApiResult;
use crate::extract::{Auth, Json, Path, Query};

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get, update, delete))
}

/// List a tenant's routes.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/routes", tag = "routes", operation_id = Op::RoutesList.id(),
    params(("tenant" = String, Path, description = "Tenant slug or id"), PageParams, NameFilter),
    security(("bearer" = [])), responses((status = 200, body = RoutePage)))]
async fn list(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path(tenant): Path<String>,
    Query(page): Query<PageParams>,
    Query(filter): Query<NameFilter>,
) -> ApiResult<Json<RoutePage>> {
    let scope = app
        .tenant_scope(&ctx, &tenant, Op::RoutesList.permission())
        .await?;
    Ok(Json(app.store.list_routes(&scope, &filter, &page).await?))
}

/// Add a route.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant}/routes", tag = "routes", operation_id = Op::RoutesCreate.id(),
    params(("tenant" = String, Path, description = "Tenant slug or id")), request_body = CreateRoute,
    security(("bearer" = [])), responses((status = 201, body = Route)))]
async fn create(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path(tenant): Path<String>,
    Json(body): Json<CreateRoute>,
) -> ApiResult<(StatusCode, Json<Route>)> {
    let scope = app
        .tenant_scope(&ctx, &tenant, Op::RoutesCreate.permission())
        .await?;
    validate::create_route(&body)?;
    Ok((
        StatusCode::CREATED,
        Json(app.store.create_route(&scope, &body).await?),
    ))
}

/// Get a route.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/routes/{route_id}", tag = "routes", operation_id = Op::RoutesGet.id(),
    params(("tenant" = String, Path, description = "Tenant slug or id"), ("route_id" = RouteId, Path)),
    security(("bearer" = [])), responses((status = 200, body = Route)))]
async fn get(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path((tenant, id)): Path<(String, RouteId)>,
) -> ApiResult<Json<Route>> {
    let scope = app
        .tenant_scope(&ctx, &tenant, Op::RoutesGet.permission())
        .await?;
    Ok(Json(app.store.get_route(&scope, id).await?))
}

/// Replace parts of a route (model, aliases, targets, fallbacks).
#[utoipa::path(patch, path = "/api/v1/tenants/{tenant}/routes/{route_id}", tag = "routes",
    operation_id = Op::RoutesUpdate.id(),
    params(("tenant" = String, Path, description = "Tenant slug or id"), ("route_id" = RouteId, Path)),
    request_body = UpdateRoute, security(("bearer" = [])), responses((status = 200, body = Route)))]
async fn update(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path((tenant, id)): Path<(String, RouteId)>,
    Json(body): Json<UpdateRoute>,
) -> ApiResult<Json<Route>> {
    let scope = app
        .tenant_scope(&ctx, &tenant, Op::RoutesUpdate.permission())
        .await?;
    validate::update_route(&body)?;
    Ok(Json(app.store.update_route(&scope, id, &body).await?))
}

/// Delete a route.
#[utoipa::path(delete, path = "/api/v1/tenants/{tenant}/routes/{route_id}", tag = "routes",
    operation_id = Op::RoutesDelete.id(),
    params(("tenant" = String, Path, description = "Tenant slug or id"), ("route_id" = RouteId, Path)),
    security(("bearer" = [])), responses((status = 204, description = "Deleted")))]
async fn delete(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path((tenant, id)): Path<(String, RouteId)>,
) -> ApiResult<StatusCode> {
    let scope = app
        .tenant_scope(&ctx, &tenant, Op::RoutesDelete.permission())
        .await?;
    app.store.delete_route(&scope, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
