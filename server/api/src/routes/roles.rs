//! Roles (built-in and custom) and role bindings of a tenant. Nobody can
//! grant, revoke or define a role carrying a permission they do not hold.

use axum::extract::State;
use axum::http::StatusCode;
use ditto_core::catalogue::Op;
use ditto_core::{Error, Grants, validate};
use ditto_store::rbac::grants_from_names;
use ditto_types::RoleBindingId;
use ditto_types::api::{
    CreateRole, CreateRoleBinding, PageParams, Role, RoleBinding, RoleBindingFilter,
    RoleBindingPage, RoleList, UpdateRole,
};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::AppState;
use crate::error::ApiResult;
use crate::extract::{Auth, Json, Path, Query};

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get, update, delete))
        .routes(routes!(list_bindings, create_binding))
        .routes(routes!(delete_binding))
}

/// List the tenant's roles, built-in and custom, with their permissions.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/roles", tag = "roles", operation_id = Op::RolesList.id(),
    params(("tenant" = String, Path, description = "Tenant slug or id")),
    security(("bearer" = [])), responses((status = 200, body = RoleList)))]
async fn list(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path(tenant): Path<String>,
) -> ApiResult<Json<RoleList>> {
    let scope = app
        .tenant_scope(&ctx, &tenant, Op::RolesList.permission())
        .await?;
    Ok(Json(app.store.list_roles(&scope).await?))
}

/// Define a custom role from catalogue permissions you hold.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant}/roles", tag = "roles", operation_id = Op::RolesCreate.id(),
    params(("tenant" = String, Path, description = "Tenant slug or id")), request_body = CreateRole,
    security(("bearer" = [])), responses((status = 201, body = Role)))]
async fn create(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path(tenant): Path<String>,
    Json(body): Json<CreateRole>,
) -> ApiResult<(StatusCode, Json<Role>)> {
    let scope = app
        .tenant_scope(&ctx, &tenant, Op::RolesCreate.permission())
        .await?;
    validate::create_role(&body)?;
    ctx.may_delegate(&scope, grants_from_names(&body.permissions))?;
    Ok((
        StatusCode::CREATED,
        Json(app.store.create_role(&scope, &body).await?),
    ))
}

/// Get a built-in or custom role.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/roles/{role}", tag = "roles", operation_id = Op::RolesGet.id(),
    params(("tenant" = String, Path, description = "Tenant slug or id"),
        ("role" = String, Path, description = "Role name")),
    security(("bearer" = [])), responses((status = 200, body = Role)))]
async fn get(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path((tenant, role)): Path<(String, String)>,
) -> ApiResult<Json<Role>> {
    let scope = app
        .tenant_scope(&ctx, &tenant, Op::RolesGet.permission())
        .await?;
    Ok(Json(app.store.get_role(&scope, &role).await?))
}

/// Change a custom role's description or permissions. You must hold every
/// permission it had and every one it gets.
#[utoipa::path(patch, path = "/api/v1/tenants/{tenant}/roles/{role}", tag = "roles", operation_id = Op::RolesUpdate.id(),
    params(("tenant" = String, Path, description = "Tenant slug or id"),
        ("role" = String, Path, description = "Role name")),
    request_body = UpdateRole, security(("bearer" = [])), responses((status = 200, body = Role)))]
async fn update(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path((tenant, role)): Path<(String, String)>,
    Json(body): Json<UpdateRole>,
) -> ApiResult<Json<Role>> {
    let scope = app
        .tenant_scope(&ctx, &tenant, Op::RolesUpdate.permission())
        .await?;
    let current = custom_role(&app, &scope, &role).await?;
    validate::update_role(&body)?;
    let new = body
        .permissions
        .as_deref()
        .map(grants_from_names)
        .unwrap_or_default();
    ctx.may_delegate(&scope, current.union(new))?;
    Ok(Json(app.store.update_role(&scope, &role, &body).await?))
}

/// Delete a custom role that is no longer bound to anyone.
#[utoipa::path(delete, path = "/api/v1/tenants/{tenant}/roles/{role}", tag = "roles", operation_id = Op::RolesDelete.id(),
    params(("tenant" = String, Path, description = "Tenant slug or id"),
        ("role" = String, Path, description = "Role name")),
    security(("bearer" = [])), responses((status = 204, description = "Deleted")))]
async fn delete(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path((tenant, role)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let scope = app
        .tenant_scope(&ctx, &tenant, Op::RolesDelete.permission())
        .await?;
    let current = custom_role(&app, &scope, &role).await?;
    ctx.may_delegate(&scope, current)?;
    app.store.delete_role(&scope, &role).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The permissions of a custom role; built-in roles cannot change.
async fn custom_role(
    app: &AppState,
    scope: &ditto_core::TenantScope,
    name: &str,
) -> ApiResult<Grants> {
    let role = app.store.get_role(scope, name).await?;
    if role.builtin {
        return Err(Error::Forbidden("built-in roles cannot be changed".into()).into());
    }
    Ok(grants_from_names(&role.permissions))
}

/// List who holds which role, tenant-wide or on a project.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/role-bindings", tag = "roles",
    operation_id = Op::RoleBindingsList.id(),
    params(("tenant" = String, Path, description = "Tenant slug or id"), PageParams,
        RoleBindingFilter),
    security(("bearer" = [])), responses((status = 200, body = RoleBindingPage)))]
async fn list_bindings(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path(tenant): Path<String>,
    Query(page): Query<PageParams>,
    Query(filter): Query<RoleBindingFilter>,
) -> ApiResult<Json<RoleBindingPage>> {
    let scope = app
        .tenant_scope(&ctx, &tenant, Op::RoleBindingsList.permission())
        .await?;
    Ok(Json(
        app.store.list_role_bindings(&scope, &filter, &page).await?,
    ))
}

/// Grant a role to a user, group or service account. You must hold every
/// permission of the role.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant}/role-bindings", tag = "roles",
    operation_id = Op::RoleBindingsCreate.id(),
    params(("tenant" = String, Path, description = "Tenant slug or id")),
    request_body = CreateRoleBinding, security(("bearer" = [])),
    responses((status = 201, body = RoleBinding)))]
async fn create_binding(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path(tenant): Path<String>,
    Json(body): Json<CreateRoleBinding>,
) -> ApiResult<(StatusCode, Json<RoleBinding>)> {
    let scope = app
        .tenant_scope(&ctx, &tenant, Op::RoleBindingsCreate.permission())
        .await?;
    validate::create_role_binding(&body)?;
    let grants = grantable(&app, &scope, &body.role).await?;
    ctx.may_delegate(&scope, grants)?;
    Ok((
        StatusCode::CREATED,
        Json(app.store.create_role_binding(&scope, &body).await?),
    ))
}

/// Revoke a role binding. You must hold every permission of the role; the
/// tenant's last owner cannot be removed.
#[utoipa::path(delete, path = "/api/v1/tenants/{tenant}/role-bindings/{binding_id}", tag = "roles",
    operation_id = Op::RoleBindingsDelete.id(),
    params(("tenant" = String, Path, description = "Tenant slug or id"),
        ("binding_id" = RoleBindingId, Path)),
    security(("bearer" = [])), responses((status = 204, description = "Deleted")))]
async fn delete_binding(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path((tenant, id)): Path<(String, RoleBindingId)>,
) -> ApiResult<StatusCode> {
    let scope = app
        .tenant_scope(&ctx, &tenant, Op::RoleBindingsDelete.permission())
        .await?;
    let binding = app.store.get_role_binding(&scope, id).await?;
    let grants = app.store.role_grants(&scope, &binding.role).await?;
    ctx.may_delegate(&scope, grants)?;
    app.store.delete_role_binding(&scope, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The permissions of a role named in a body; an unknown role is a field
/// error.
pub(crate) async fn grantable(
    app: &AppState,
    scope: &ditto_core::TenantScope,
    role: &str,
) -> ApiResult<Grants> {
    match app.store.role_grants(scope, role).await {
        Err(Error::NotFound(_)) => {
            Err(Error::invalid("/role", "unknown_role", "no such role in this tenant").into())
        }
        other => Ok(other?),
    }
}
