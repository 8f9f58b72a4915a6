//! Enforced single sign-on for a tenant, and its break-glass owners.

use axum::extract::State;
use ditto_core::catalogue::Op;
use ditto_types::UserId;
use ditto_types::api::{BreakGlass, SetBreakGlass, SsoPolicy, UpdateSsoPolicy};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::AppState;
use crate::error::ApiResult;
use crate::extract::{Auth, Json, Path};

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get, update))
        .routes(routes!(set_break_glass))
}

/// Whether the tenant enforces single sign-on, and its break-glass owners.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/sso-policy", tag = "sso",
    operation_id = Op::SsoPolicyGet.id(),
    params(("tenant" = String, Path, description = "Tenant slug or id")),
    security(("bearer" = [])), responses((status = 200, body = SsoPolicy)))]
async fn get(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path(tenant): Path<String>,
) -> ApiResult<Json<SsoPolicy>> {
    let scope = app
        .tenant_scope(&ctx, &tenant, Op::SsoPolicyGet.permission())
        .await?;
    Ok(Json(app.store.sso_policy(&scope).await?))
}

/// Turn enforced SSO on or off (audited as `sso_policy.update`). While it
/// is on, password sign-in answers 403 `sso-required` to every member but
/// the break-glass owners; personal access tokens and service accounts
/// are not affected. Turning it on needs an enabled SSO connection (422
/// `no_sso_connection`); while it is on, switching off or removing the
/// last enabled connection answers 409.
#[utoipa::path(put, path = "/api/v1/tenants/{tenant}/sso-policy", tag = "sso",
    operation_id = Op::SsoPolicyUpdate.id(),
    params(("tenant" = String, Path, description = "Tenant slug or id")),
    request_body = UpdateSsoPolicy, security(("bearer" = [])),
    responses((status = 200, body = SsoPolicy), (status = 422)))]
async fn update(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path(tenant): Path<String>,
    Json(body): Json<UpdateSsoPolicy>,
) -> ApiResult<Json<SsoPolicy>> {
    let scope = app
        .tenant_scope(&ctx, &tenant, Op::SsoPolicyUpdate.permission())
        .await?;
    Ok(Json(
        app.store.set_sso_enforced(&scope, body.enforced).await?,
    ))
}

/// Designate an owner as a break-glass account, who may sign in with a
/// password while SSO is enforced (each such sign-in is audited as
/// `auth.break_glass_sign_in`), or stop. Needs `owners:write`; the user
/// must hold the owner role (422 `not_owner`). A designated user who
/// later loses the owner role is no longer let through.
#[utoipa::path(put, path = "/api/v1/tenants/{tenant}/users/{user_id}/sso-break-glass", tag = "sso",
    operation_id = Op::UsersBreakGlassSet.id(),
    params(("tenant" = String, Path, description = "Tenant slug or id"), ("user_id" = UserId, Path)),
    request_body = SetBreakGlass, security(("bearer" = [])),
    responses((status = 200, body = BreakGlass), (status = 404), (status = 422)))]
async fn set_break_glass(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path((tenant, user)): Path<(String, UserId)>,
    Json(body): Json<SetBreakGlass>,
) -> ApiResult<Json<BreakGlass>> {
    let scope = app
        .tenant_scope(&ctx, &tenant, Op::UsersBreakGlassSet.permission())
        .await?;
    Ok(Json(
        app.store
            .set_break_glass(&scope, user, body.enabled)
            .await?,
    ))
}
