//! Service accounts of a tenant and their access tokens.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::Utc;
use ditto_core::Actor;
use ditto_core::catalogue::Op;
use ditto_core::{secrets, validate};
use ditto_types::api::{
    AccessToken, AccessTokenPage, CreateAccessToken, CreateServiceAccount, CreatedAccessToken,
    NameFilter, PageParams, ServiceAccount, ServiceAccountPage, UpdateServiceAccount,
};
use ditto_types::{AccessTokenId, ServiceAccountId};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::AppState;
use crate::error::ApiResult;
use crate::extract::{Auth, Json, Path, Query};

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get, update, delete))
        .routes(routes!(list_tokens, create_token))
        .routes(routes!(revoke_token))
}

/// List a tenant's service accounts.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/service-accounts", tag = "service_accounts",
    operation_id = Op::ServiceAccountsList.id(),
    params(("tenant" = String, Path, description = "Tenant slug or id"), PageParams, NameFilter),
    security(("bearer" = [])), responses((status = 200, body = ServiceAccountPage)))]
async fn list(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path(tenant): Path<String>,
    Query(page): Query<PageParams>,
    Query(filter): Query<NameFilter>,
) -> ApiResult<Json<ServiceAccountPage>> {
    let scope = app
        .tenant_scope(&ctx, &tenant, Op::ServiceAccountsList.permission())
        .await?;
    Ok(Json(
        app.store
            .list_service_accounts(&scope, &filter, &page)
            .await?,
    ))
}

/// Create a service account, optionally with a tenant-wide role (which you
/// must be allowed to grant). Without one it can do nothing yet.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant}/service-accounts", tag = "service_accounts",
    operation_id = Op::ServiceAccountsCreate.id(),
    params(("tenant" = String, Path, description = "Tenant slug or id")), request_body = CreateServiceAccount,
    security(("bearer" = [])), responses((status = 201, body = ServiceAccount)))]
async fn create(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path(tenant): Path<String>,
    Json(body): Json<CreateServiceAccount>,
) -> ApiResult<(StatusCode, Json<ServiceAccount>)> {
    let scope = app
        .tenant_scope(&ctx, &tenant, Op::ServiceAccountsCreate.permission())
        .await?;
    validate::create_service_account(&body)?;
    if let Some(role) = &body.role {
        let grants = super::roles::grantable(&app, &scope, role).await?;
        ctx.may_delegate(&scope, grants)?;
    }
    Ok((
        StatusCode::CREATED,
        Json(app.store.create_service_account(&scope, &body).await?),
    ))
}

/// Get a service account.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/service-accounts/{service_account_id}",
    tag = "service_accounts", operation_id = Op::ServiceAccountsGet.id(),
    params(("tenant" = String, Path, description = "Tenant slug or id"),
        ("service_account_id" = ServiceAccountId, Path)),
    security(("bearer" = [])), responses((status = 200, body = ServiceAccount)))]
async fn get(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path((tenant, id)): Path<(String, ServiceAccountId)>,
) -> ApiResult<Json<ServiceAccount>> {
    let scope = app
        .tenant_scope(&ctx, &tenant, Op::ServiceAccountsGet.permission())
        .await?;
    Ok(Json(app.store.get_service_account(&scope, id).await?))
}

/// Rename, describe, disable or enable a service account.
/// You must hold every permission the account holds, on any project too.
#[utoipa::path(patch, path = "/api/v1/tenants/{tenant}/service-accounts/{service_account_id}",
    tag = "service_accounts", operation_id = Op::ServiceAccountsUpdate.id(),
    params(("tenant" = String, Path, description = "Tenant slug or id"),
        ("service_account_id" = ServiceAccountId, Path)),
    request_body = UpdateServiceAccount, security(("bearer" = [])),
    responses((status = 200, body = ServiceAccount)))]
async fn update(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path((tenant, id)): Path<(String, ServiceAccountId)>,
    Json(body): Json<UpdateServiceAccount>,
) -> ApiResult<Json<ServiceAccount>> {
    let scope = app
        .tenant_scope(&ctx, &tenant, Op::ServiceAccountsUpdate.permission())
        .await?;
    outranks(&app, &ctx, &scope, id).await?;
    validate::update_service_account(&body)?;
    Ok(Json(
        app.store.update_service_account(&scope, id, &body).await?,
    ))
}

/// Delete a service account with its tokens and keys.
/// You must hold every permission the account holds, on any project too.
#[utoipa::path(delete, path = "/api/v1/tenants/{tenant}/service-accounts/{service_account_id}",
    tag = "service_accounts", operation_id = Op::ServiceAccountsDelete.id(),
    params(("tenant" = String, Path, description = "Tenant slug or id"),
        ("service_account_id" = ServiceAccountId, Path)),
    security(("bearer" = [])), responses((status = 204, description = "Deleted")))]
async fn delete(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path((tenant, id)): Path<(String, ServiceAccountId)>,
) -> ApiResult<StatusCode> {
    let scope = app
        .tenant_scope(&ctx, &tenant, Op::ServiceAccountsDelete.permission())
        .await?;
    outranks(&app, &ctx, &scope, id).await?;
    app.store.delete_service_account(&scope, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// List a service account's access tokens (never their secrets).
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/service-accounts/{service_account_id}/tokens",
    tag = "service_accounts", operation_id = Op::AccessTokensList.id(),
    params(("tenant" = String, Path, description = "Tenant slug or id"),
        ("service_account_id" = ServiceAccountId, Path), PageParams),
    security(("bearer" = [])), responses((status = 200, body = AccessTokenPage)))]
async fn list_tokens(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path((tenant, id)): Path<(String, ServiceAccountId)>,
    Query(page): Query<PageParams>,
) -> ApiResult<Json<AccessTokenPage>> {
    let scope = app
        .tenant_scope(&ctx, &tenant, Op::AccessTokensList.permission())
        .await?;
    Ok(Json(app.store.list_access_tokens(&scope, id, &page).await?))
}

/// Create an access token. The secret is in this response only.
/// You must hold every permission the account holds, on any project too.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant}/service-accounts/{service_account_id}/tokens",
    tag = "service_accounts", operation_id = Op::AccessTokensCreate.id(),
    params(("tenant" = String, Path, description = "Tenant slug or id"),
        ("service_account_id" = ServiceAccountId, Path)),
    request_body = CreateAccessToken, security(("bearer" = [])),
    responses((status = 201, body = CreatedAccessToken)))]
async fn create_token(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path((tenant, id)): Path<(String, ServiceAccountId)>,
    Json(body): Json<CreateAccessToken>,
) -> ApiResult<(StatusCode, Json<CreatedAccessToken>)> {
    let scope = app
        .tenant_scope(&ctx, &tenant, Op::AccessTokensCreate.permission())
        .await?;
    outranks(&app, &ctx, &scope, id).await?;
    validate::create_access_token(&body, Utc::now())?;
    let minted = secrets::mint_access_token();
    let token = app
        .store
        .create_access_token(&scope, id, &body, &minted)
        .await?;
    let created = CreatedAccessToken {
        token,
        secret: minted.full.0,
    };
    Ok((StatusCode::CREATED, Json(created)))
}

/// Revoke an access token. Idempotent.
/// You must hold every permission the account holds, on any project too.
#[utoipa::path(post,
    path = "/api/v1/tenants/{tenant}/service-accounts/{service_account_id}/tokens/{token_id}/revoke",
    tag = "service_accounts", operation_id = Op::AccessTokensRevoke.id(),
    params(("tenant" = String, Path, description = "Tenant slug or id"),
        ("service_account_id" = ServiceAccountId, Path), ("token_id" = AccessTokenId, Path)),
    security(("bearer" = [])), responses((status = 200, body = AccessToken)))]
async fn revoke_token(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path((tenant, account, id)): Path<(String, ServiceAccountId, AccessTokenId)>,
) -> ApiResult<Json<AccessToken>> {
    let scope = app
        .tenant_scope(&ctx, &tenant, Op::AccessTokensRevoke.permission())
        .await?;
    outranks(&app, &ctx, &scope, account).await?;
    Ok(Json(
        app.store.revoke_access_token(&scope, account, id).await?,
    ))
}

/// Acting on a service account (its tokens above all) is acting as it: the
/// caller must hold every permission the account holds.
async fn outranks(
    app: &AppState,
    ctx: &ditto_core::Ctx,
    scope: &ditto_core::TenantScope,
    account: ServiceAccountId,
) -> ApiResult<()> {
    let held = app
        .store
        .reach_of(scope.tenant_id(), Actor::ServiceAccount(account))
        .await?;
    Ok(ctx.may_delegate(scope, held)?)
}
