//! Groups of a tenant's users. Roles bound to a group (role bindings with
//! `subject_type: group`) apply to its members, so changing who is in a
//! group, or deleting it, needs every permission the group carries.

use axum::extract::State;
use axum::http::StatusCode;
use ditto_core::catalogue::Op;
use ditto_core::{Ctx, TenantScope, validate};
use ditto_types::api::{
    AddGroupMember, CreateGroup, Group, GroupMemberPage, GroupPage, NameFilter, PageParams,
    UpdateGroup,
};
use ditto_types::{GroupId, UserId};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::AppState;
use crate::error::ApiResult;
use crate::extract::{Auth, Json, Path, Query};

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get, update, delete))
        .routes(routes!(list_members, add_member))
        .routes(routes!(remove_member))
}

/// Membership hands out the group's roles: the caller must hold them all.
async fn may_hand_out(
    app: &AppState,
    ctx: &Ctx,
    scope: &TenantScope,
    group: GroupId,
) -> ApiResult<()> {
    let carried = app.store.group_grants(scope, group).await?;
    Ok(ctx.may_delegate(scope, carried)?)
}

/// List a tenant's groups.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/groups", tag = "groups",
    operation_id = Op::GroupsList.id(),
    params(("tenant" = String, Path, description = "Tenant slug or id"), PageParams, NameFilter),
    security(("bearer" = [])), responses((status = 200, body = GroupPage)))]
async fn list(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path(tenant): Path<String>,
    Query(page): Query<PageParams>,
    Query(filter): Query<NameFilter>,
) -> ApiResult<Json<GroupPage>> {
    let scope = app
        .tenant_scope(&ctx, &tenant, Op::GroupsList.permission())
        .await?;
    Ok(Json(app.store.list_groups(&scope, &filter, &page).await?))
}

/// Create a group. Give it roles with role bindings (`subject_type: group`).
#[utoipa::path(post, path = "/api/v1/tenants/{tenant}/groups", tag = "groups",
    operation_id = Op::GroupsCreate.id(),
    params(("tenant" = String, Path, description = "Tenant slug or id")), request_body = CreateGroup,
    security(("bearer" = [])), responses((status = 201, body = Group)))]
async fn create(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path(tenant): Path<String>,
    Json(body): Json<CreateGroup>,
) -> ApiResult<(StatusCode, Json<Group>)> {
    let scope = app
        .tenant_scope(&ctx, &tenant, Op::GroupsCreate.permission())
        .await?;
    validate::create_group(&body)?;
    Ok((
        StatusCode::CREATED,
        Json(app.store.create_group(&scope, &body).await?),
    ))
}

#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/groups/{group_id}", tag = "groups",
    operation_id = Op::GroupsGet.id(),
    params(("tenant" = String, Path, description = "Tenant slug or id"), ("group_id" = GroupId, Path)),
    security(("bearer" = [])), responses((status = 200, body = Group)))]
async fn get(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path((tenant, id)): Path<(String, GroupId)>,
) -> ApiResult<Json<Group>> {
    let scope = app
        .tenant_scope(&ctx, &tenant, Op::GroupsGet.permission())
        .await?;
    Ok(Json(app.store.get_group(&scope, id).await?))
}

/// Rename a group or change its external id.
#[utoipa::path(patch, path = "/api/v1/tenants/{tenant}/groups/{group_id}", tag = "groups",
    operation_id = Op::GroupsUpdate.id(),
    params(("tenant" = String, Path, description = "Tenant slug or id"), ("group_id" = GroupId, Path)),
    request_body = UpdateGroup, security(("bearer" = [])), responses((status = 200, body = Group)))]
async fn update(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path((tenant, id)): Path<(String, GroupId)>,
    Json(body): Json<UpdateGroup>,
) -> ApiResult<Json<Group>> {
    let scope = app
        .tenant_scope(&ctx, &tenant, Op::GroupsUpdate.permission())
        .await?;
    validate::update_group(&body)?;
    Ok(Json(app.store.update_group(&scope, id, &body).await?))
}

/// Delete a group; its memberships and role bindings go with it.
#[utoipa::path(delete, path = "/api/v1/tenants/{tenant}/groups/{group_id}", tag = "groups",
    operation_id = Op::GroupsDelete.id(),
    params(("tenant" = String, Path, description = "Tenant slug or id"), ("group_id" = GroupId, Path)),
    security(("bearer" = [])), responses((status = 204)))]
async fn delete(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path((tenant, id)): Path<(String, GroupId)>,
) -> ApiResult<StatusCode> {
    let scope = app
        .tenant_scope(&ctx, &tenant, Op::GroupsDelete.permission())
        .await?;
    may_hand_out(&app, &ctx, &scope, id).await?;
    app.store.delete_group(&scope, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// List a group's members.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/groups/{group_id}/members", tag = "groups",
    operation_id = Op::GroupMembersList.id(),
    params(("tenant" = String, Path, description = "Tenant slug or id"), ("group_id" = GroupId, Path),
        PageParams),
    security(("bearer" = [])), responses((status = 200, body = GroupMemberPage)))]
async fn list_members(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path((tenant, id)): Path<(String, GroupId)>,
    Query(page): Query<PageParams>,
) -> ApiResult<Json<GroupMemberPage>> {
    let scope = app
        .tenant_scope(&ctx, &tenant, Op::GroupMembersList.permission())
        .await?;
    Ok(Json(app.store.list_group_members(&scope, id, &page).await?))
}

/// Add a user to a group (idempotent). They get the group's roles at once.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant}/groups/{group_id}/members", tag = "groups",
    operation_id = Op::GroupMembersAdd.id(),
    params(("tenant" = String, Path, description = "Tenant slug or id"), ("group_id" = GroupId, Path)),
    request_body = AddGroupMember, security(("bearer" = [])), responses((status = 204)))]
async fn add_member(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path((tenant, id)): Path<(String, GroupId)>,
    Json(body): Json<AddGroupMember>,
) -> ApiResult<StatusCode> {
    let scope = app
        .tenant_scope(&ctx, &tenant, Op::GroupMembersAdd.permission())
        .await?;
    may_hand_out(&app, &ctx, &scope, id).await?;
    app.store.add_group_member(&scope, id, body.user_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Remove a user from a group.
#[utoipa::path(delete, path = "/api/v1/tenants/{tenant}/groups/{group_id}/members/{user_id}",
    tag = "groups", operation_id = Op::GroupMembersRemove.id(),
    params(("tenant" = String, Path, description = "Tenant slug or id"), ("group_id" = GroupId, Path),
        ("user_id" = UserId, Path)),
    security(("bearer" = [])), responses((status = 204)))]
async fn remove_member(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path((tenant, id, user)): Path<(String, GroupId, UserId)>,
) -> ApiResult<StatusCode> {
    let scope = app
        .tenant_scope(&ctx, &tenant, Op::GroupMembersRemove.permission())
        .await?;
    may_hand_out(&app, &ctx, &scope, id).await?;
    app.store.remove_group_member(&scope, id, user).await?;
    Ok(StatusCode::NO_CONTENT)
}
