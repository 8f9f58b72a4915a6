//! Upstream backends of a tenant. Credentials are write-only: sealed with
//! the master key before they reach the store, never returned.

use axum::extract::State;
use axum::http::StatusCode;
use ditto_core::catalogue::Op;
use ditto_core::validate;
use ditto_types::BackendId;
use ditto_types::api::{
    Backend, BackendPage, CreateBackend, NameFilter, PageParams, UpdateBackend,
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

/// List a tenant's backends.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/backends", tag = "backends", operation_id = Op::BackendsList.id(),
    params(("tenant" = String, Path, description = "Tenant slug or id"), PageParams, NameFilter),
    security(("bearer" = [])), responses((status = 200, body = BackendPage)))]
async fn list(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path(tenant): Path<String>,
    Query(page): Query<PageParams>,
    Query(filter): Query<NameFilter>,
) -> ApiResult<Json<BackendPage>> {
    let scope = app
        .tenant_scope(&ctx, &tenant, Op::BackendsList.permission())
        .await?;
    Ok(Json(app.store.list_backends(&scope, &filter, &page).await?))
}

/// Add a backend. Its `base_url` must lead to a public address, or to one a
/// platform operator allowed (`DITTO_EGRESS_ALLOW`), else 422
/// `destination_not_allowed`; connections are checked again when made.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant}/backends", tag = "backends", operation_id = Op::BackendsCreate.id(),
    params(("tenant" = String, Path, description = "Tenant slug or id")), request_body = CreateBackend,
    security(("bearer" = [])), responses((status = 201, body = Backend)))]
async fn create(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path(tenant): Path<String>,
    Json(body): Json<CreateBackend>,
) -> ApiResult<(StatusCode, Json<Backend>)> {
    let scope = app
        .tenant_scope(&ctx, &tenant, Op::BackendsCreate.permission())
        .await?;
    validate::create_backend(&body)?;
    app.check_destination("/base_url", &body.base_url).await?;
    let id = BackendId::new();
    let sealed = body
        .credentials
        .as_deref()
        .map(|c| app.seal_secret("/credentials", id.0.as_bytes(), c))
        .transpose()?;
    Ok((
        StatusCode::CREATED,
        Json(app.store.create_backend(&scope, id, &body, sealed).await?),
    ))
}

/// Get a backend (without its credentials).
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/backends/{backend_id}", tag = "backends",
    operation_id = Op::BackendsGet.id(),
    params(("tenant" = String, Path, description = "Tenant slug or id"), ("backend_id" = BackendId, Path)),
    security(("bearer" = [])), responses((status = 200, body = Backend)))]
async fn get(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path((tenant, id)): Path<(String, BackendId)>,
) -> ApiResult<Json<Backend>> {
    let scope = app
        .tenant_scope(&ctx, &tenant, Op::BackendsGet.permission())
        .await?;
    Ok(Json(app.store.get_backend(&scope, id).await?))
}

/// Change a backend. Changing `base_url` of a backend that holds credentials
/// needs `credentials` again (or `clear_credentials`), else 422 on
/// `/credentials`: the secret stays bound to where it is sent.
#[utoipa::path(patch, path = "/api/v1/tenants/{tenant}/backends/{backend_id}", tag = "backends",
    operation_id = Op::BackendsUpdate.id(),
    params(("tenant" = String, Path, description = "Tenant slug or id"), ("backend_id" = BackendId, Path)),
    request_body = UpdateBackend, security(("bearer" = [])), responses((status = 200, body = Backend)))]
async fn update(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path((tenant, id)): Path<(String, BackendId)>,
    Json(body): Json<UpdateBackend>,
) -> ApiResult<Json<Backend>> {
    let scope = app
        .tenant_scope(&ctx, &tenant, Op::BackendsUpdate.permission())
        .await?;
    validate::update_backend(&body)?;
    if let Some(url) = &body.base_url {
        app.check_destination("/base_url", url).await?;
    }
    let sealed = body
        .credentials
        .as_deref()
        .map(|c| app.seal_secret("/credentials", id.0.as_bytes(), c))
        .transpose()?;
    Ok(Json(
        app.store.update_backend(&scope, id, &body, sealed).await?,
    ))
}

/// Delete a backend that no route uses.
#[utoipa::path(delete, path = "/api/v1/tenants/{tenant}/backends/{backend_id}", tag = "backends",
    operation_id = Op::BackendsDelete.id(),
    params(("tenant" = String, Path, description = "Tenant slug or id"), ("backend_id" = BackendId, Path)),
    security(("bearer" = [])), responses((status = 204, description = "Deleted")))]
async fn delete(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path((tenant, id)): Path<(String, BackendId)>,
) -> ApiResult<StatusCode> {
    let scope = app
        .tenant_scope(&ctx, &tenant, Op::BackendsDelete.permission())
        .await?;
    app.store.delete_backend(&scope, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
