//! Users (staff) of a tenant.

use axum::extract::State;
use axum::http::StatusCode;
use ditto_core::Actor;
use ditto_core::catalogue::Op;
use ditto_core::validate;
use ditto_types::UserId;
use ditto_types::api::{CreateUser, PageParams, UpdateUser, User, UserFilter, UserPage};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::AppState;
use crate::error::ApiResult;
use crate::extract::{Auth, Json, Path, Query};

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get, update, delete))
}

/// List a tenant's users.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/users", tag = "users", operation_id = Op::UsersList.id(),
    params(("tenant" = String, Path, description = "Tenant slug or id"), PageParams, UserFilter),
    security(("bearer" = [])), responses((status = 200, body = UserPage)))]
async fn list(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path(tenant): Path<String>,
    Query(page): Query<PageParams>,
    Query(filter): Query<UserFilter>,
) -> ApiResult<Json<UserPage>> {
    let scope = app
        .tenant_scope(&ctx, &tenant, Op::UsersList.permission())
        .await?;
    Ok(Json(app.store.list_users(&scope, &filter, &page).await?))
}

/// Add a user.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant}/users", tag = "users", operation_id = Op::UsersCreate.id(),
    params(("tenant" = String, Path, description = "Tenant slug or id")), request_body = CreateUser,
    security(("bearer" = [])), responses((status = 201, body = User)))]
async fn create(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path(tenant): Path<String>,
    Json(body): Json<CreateUser>,
) -> ApiResult<(StatusCode, Json<User>)> {
    let scope = app
        .tenant_scope(&ctx, &tenant, Op::UsersCreate.permission())
        .await?;
    validate::create_user(&body)?;
    Ok((
        StatusCode::CREATED,
        Json(app.store.create_user(&scope, &body).await?),
    ))
}

/// Get a user.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/users/{user_id}", tag = "users", operation_id = Op::UsersGet.id(),
    params(("tenant" = String, Path, description = "Tenant slug or id"), ("user_id" = UserId, Path)),
    security(("bearer" = [])), responses((status = 200, body = User)))]
async fn get(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path((tenant, id)): Path<(String, UserId)>,
) -> ApiResult<Json<User>> {
    let scope = app
        .tenant_scope(&ctx, &tenant, Op::UsersGet.permission())
        .await?;
    Ok(Json(app.store.get_user(&scope, id).await?))
}

/// Change a user's email, name, external id or status.
/// You must hold every permission the user holds, on any project too.
#[utoipa::path(patch, path = "/api/v1/tenants/{tenant}/users/{user_id}", tag = "users",
    operation_id = Op::UsersUpdate.id(),
    params(("tenant" = String, Path, description = "Tenant slug or id"), ("user_id" = UserId, Path)),
    request_body = UpdateUser, security(("bearer" = [])), responses((status = 200, body = User)))]
async fn update(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path((tenant, id)): Path<(String, UserId)>,
    Json(body): Json<UpdateUser>,
) -> ApiResult<Json<User>> {
    let scope = app
        .tenant_scope(&ctx, &tenant, Op::UsersUpdate.permission())
        .await?;
    let held = app
        .store
        .reach_of(scope.tenant_id(), Actor::User(id))
        .await?;
    ctx.may_delegate(&scope, held)?;
    validate::update_user(&body)?;
    Ok(Json(app.store.update_user(&scope, id, &body).await?))
}

/// Delete a user and the API keys they own.
/// You must hold every permission the user holds, on any project too.
#[utoipa::path(delete, path = "/api/v1/tenants/{tenant}/users/{user_id}", tag = "users",
    operation_id = Op::UsersDelete.id(),
    params(("tenant" = String, Path, description = "Tenant slug or id"), ("user_id" = UserId, Path)),
    security(("bearer" = [])), responses((status = 204, description = "Deleted")))]
async fn delete(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path((tenant, id)): Path<(String, UserId)>,
) -> ApiResult<StatusCode> {
    let scope = app
        .tenant_scope(&ctx, &tenant, Op::UsersDelete.permission())
        .await?;
    let held = app
        .store
        .reach_of(scope.tenant_id(), Actor::User(id))
        .await?;
    ctx.may_delegate(&scope, held)?;
    app.store.delete_user(&scope, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
