//! An administrator's view of how a tenant's users sign in: password
//! resets, lockouts, second-factor resets, sessions and personal access
//! tokens. Taking over an account (its password or second factor) needs
//! every permission the account holds, so nobody gains rights through it.

use axum::extract::State;
use axum::http::StatusCode;
use ditto_core::catalogue::Op;
use ditto_core::{Actor, Ctx, TenantScope};
use ditto_types::api::{
    PageParams, PersonalAccessToken, PersonalAccessTokenPage, RevokedSessions, SessionPage,
    SetPassword, SignInState,
};
use ditto_types::{AccessTokenId, UserId};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::AppState;
use crate::error::ApiResult;
use crate::extract::{Auth, Json, Path, Query};

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(sign_in_state))
        .routes(routes!(set_password))
        .routes(routes!(unlock))
        .routes(routes!(reset_totp))
        .routes(routes!(list_sessions))
        .routes(routes!(revoke_sessions))
        .routes(routes!(list_tokens))
        .routes(routes!(revoke_token))
}

/// The caller must hold every permission `user` holds, tenant-wide or on
/// any project.
async fn outranks(app: &AppState, ctx: &Ctx, scope: &TenantScope, user: UserId) -> ApiResult<()> {
    let held = app
        .store
        .reach_of(scope.tenant_id(), Actor::User(user))
        .await?;
    Ok(ctx.may_delegate(scope, held)?)
}

/// How a user signs in: password set, second factor, failures, lockout.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/users/{user_id}/sign-in", tag = "users",
    operation_id = Op::UsersSignInGet.id(),
    params(("tenant" = String, Path, description = "Tenant slug or id"), ("user_id" = UserId, Path)),
    security(("bearer" = [])), responses((status = 200, body = SignInState)))]
async fn sign_in_state(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path((tenant, user)): Path<(String, UserId)>,
) -> ApiResult<Json<SignInState>> {
    let scope = app
        .tenant_scope(&ctx, &tenant, Op::UsersSignInGet.permission())
        .await?;
    Ok(Json(app.store.sign_in_state(&scope, user).await?))
}

/// Set a user's password (a reset). All the user's sessions end; by default
/// the user is asked to choose a new password after signing in.
#[utoipa::path(put, path = "/api/v1/tenants/{tenant}/users/{user_id}/password", tag = "users",
    operation_id = Op::UsersPasswordSet.id(),
    params(("tenant" = String, Path, description = "Tenant slug or id"), ("user_id" = UserId, Path)),
    request_body = SetPassword, security(("bearer" = [])),
    responses((status = 204)))]
async fn set_password(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path((tenant, user)): Path<(String, UserId)>,
    Json(body): Json<SetPassword>,
) -> ApiResult<StatusCode> {
    let scope = app
        .tenant_scope(&ctx, &tenant, Op::UsersPasswordSet.permission())
        .await?;
    outranks(&app, &ctx, &scope, user).await?;
    let must_change = body.must_change.unwrap_or(true);
    app.identity
        .set_password(&app.store, &scope, user, &body.password, must_change, None)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Lift a lockout caused by failed sign-ins.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant}/users/{user_id}/unlock", tag = "users",
    operation_id = Op::UsersUnlock.id(),
    params(("tenant" = String, Path, description = "Tenant slug or id"), ("user_id" = UserId, Path)),
    security(("bearer" = [])), responses((status = 204)))]
async fn unlock(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path((tenant, user)): Path<(String, UserId)>,
) -> ApiResult<StatusCode> {
    let scope = app
        .tenant_scope(&ctx, &tenant, Op::UsersUnlock.permission())
        .await?;
    outranks(&app, &ctx, &scope, user).await?;
    app.store.unlock_user(&scope, user).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Remove a user's second factor (a lost phone). The user can enrol again.
#[utoipa::path(delete, path = "/api/v1/tenants/{tenant}/users/{user_id}/totp", tag = "users",
    operation_id = Op::UsersTotpReset.id(),
    params(("tenant" = String, Path, description = "Tenant slug or id"), ("user_id" = UserId, Path)),
    security(("bearer" = [])), responses((status = 204)))]
async fn reset_totp(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path((tenant, user)): Path<(String, UserId)>,
) -> ApiResult<StatusCode> {
    let scope = app
        .tenant_scope(&ctx, &tenant, Op::UsersTotpReset.permission())
        .await?;
    outranks(&app, &ctx, &scope, user).await?;
    app.store.disable_totp(&scope, user).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// List a user's sessions, newest first.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/users/{user_id}/sessions", tag = "users",
    operation_id = Op::UsersSessionsList.id(),
    params(("tenant" = String, Path, description = "Tenant slug or id"), ("user_id" = UserId, Path),
        PageParams),
    security(("bearer" = [])), responses((status = 200, body = SessionPage)))]
async fn list_sessions(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path((tenant, user)): Path<(String, UserId)>,
    Query(page): Query<PageParams>,
) -> ApiResult<Json<SessionPage>> {
    let scope = app
        .tenant_scope(&ctx, &tenant, Op::UsersSessionsList.permission())
        .await?;
    Ok(Json(
        app.store
            .list_sessions(&scope, user, &page, ctx.session.map(|s| s.id))
            .await?,
    ))
}

/// End all of a user's sessions at once. You must hold every permission the
/// user holds, on any project too.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant}/users/{user_id}/sessions/revoke",
    tag = "users", operation_id = Op::UsersSessionsRevoke.id(),
    params(("tenant" = String, Path, description = "Tenant slug or id"), ("user_id" = UserId, Path)),
    security(("bearer" = [])), responses((status = 200, body = RevokedSessions)))]
async fn revoke_sessions(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path((tenant, user)): Path<(String, UserId)>,
) -> ApiResult<Json<RevokedSessions>> {
    let scope = app
        .tenant_scope(&ctx, &tenant, Op::UsersSessionsRevoke.permission())
        .await?;
    outranks(&app, &ctx, &scope, user).await?;
    let revoked = app.store.revoke_sessions(&scope, user, None).await?;
    Ok(Json(RevokedSessions { revoked }))
}

/// List a user's personal access tokens (never their secrets).
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/users/{user_id}/tokens", tag = "users",
    operation_id = Op::UsersTokensList.id(),
    params(("tenant" = String, Path, description = "Tenant slug or id"), ("user_id" = UserId, Path),
        PageParams),
    security(("bearer" = [])),
    responses((status = 200, body = PersonalAccessTokenPage)))]
async fn list_tokens(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path((tenant, user)): Path<(String, UserId)>,
    Query(page): Query<PageParams>,
) -> ApiResult<Json<PersonalAccessTokenPage>> {
    let scope = app
        .tenant_scope(&ctx, &tenant, Op::UsersTokensList.permission())
        .await?;
    Ok(Json(
        app.store.list_personal_tokens(&scope, user, &page).await?,
    ))
}

/// Revoke one of a user's personal access tokens. You must hold every
/// permission the user holds, on any project too.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant}/users/{user_id}/tokens/{token_id}/revoke",
    tag = "users", operation_id = Op::UsersTokensRevoke.id(),
    params(("tenant" = String, Path, description = "Tenant slug or id"), ("user_id" = UserId, Path),
        ("token_id" = AccessTokenId, Path)),
    security(("bearer" = [])),
    responses((status = 200, body = PersonalAccessToken)))]
async fn revoke_token(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path((tenant, user, id)): Path<(String, UserId, AccessTokenId)>,
) -> ApiResult<Json<PersonalAccessToken>> {
    let scope = app
        .tenant_scope(&ctx, &tenant, Op::UsersTokensRevoke.permission())
        .await?;
    outranks(&app, &ctx, &scope, user).await?;
    Ok(Json(
        app.store.revoke_personal_token(&scope, user, id).await?,
    ))
}
