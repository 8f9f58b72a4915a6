//! SCIM provisioning tokens of a tenant. Whoever holds one manages the
//! tenant's users and groups through `/t/{tenant}/scim/v2` (see
//! `routes::scim`), so minting one needs every permission that can hand
//! out: all of the tenant's except `owners:write` (SCIM leaves groups that
//! carry `owner` alone).

use axum::extract::State;
use axum::http::StatusCode;
use ditto_core::catalogue::Op;
use ditto_core::{Grants, secrets, validate::Checker};
use ditto_types::ScimTokenId;
use ditto_types::api::{CreateScimToken, CreatedScimToken, PageParams, ScimToken, ScimTokenPage};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::AppState;
use crate::error::ApiResult;
use crate::extract::{Auth, Json, Path, Query};

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(revoke))
}

/// What a SCIM token can hand out.
pub(crate) fn scim_reach() -> Grants {
    Grants::short_of_owner()
}

/// List a tenant's SCIM tokens (never their secrets).
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/scim-tokens", tag = "scim",
    operation_id = Op::ScimTokensList.id(),
    params(("tenant" = String, Path, description = "Tenant slug or id"), PageParams),
    security(("bearer" = [])), responses((status = 200, body = ScimTokenPage)))]
async fn list(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path(tenant): Path<String>,
    Query(page): Query<PageParams>,
) -> ApiResult<Json<ScimTokenPage>> {
    let scope = app
        .tenant_scope(&ctx, &tenant, Op::ScimTokensList.permission())
        .await?;
    Ok(Json(app.store.list_scim_tokens(&scope, &page).await?))
}

/// Create a SCIM token for the tenant's identity provider. The secret is in
/// this response only. You must hold every permission of the tenant but
/// `owners:write`: group memberships hand out roles.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant}/scim-tokens", tag = "scim",
    operation_id = Op::ScimTokensCreate.id(),
    params(("tenant" = String, Path, description = "Tenant slug or id")),
    request_body = CreateScimToken, security(("bearer" = [])),
    responses((status = 201, body = CreatedScimToken)))]
async fn create(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path(tenant): Path<String>,
    Json(body): Json<CreateScimToken>,
) -> ApiResult<(StatusCode, Json<CreatedScimToken>)> {
    let scope = app
        .tenant_scope(&ctx, &tenant, Op::ScimTokensCreate.permission())
        .await?;
    ctx.may_delegate(&scope, scim_reach())?;
    let mut c = Checker::default();
    c.text("/name", &body.name, 1, 100);
    c.finish()?;
    let minted = secrets::mint_scim_token();
    let token = app
        .store
        .create_scim_token(&scope, &body.name, &minted)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedScimToken {
            token,
            secret: minted.full.0,
        }),
    ))
}

/// Revoke a SCIM token; it stops working at once. Idempotent.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant}/scim-tokens/{scim_token_id}/revoke",
    tag = "scim", operation_id = Op::ScimTokensRevoke.id(),
    params(("tenant" = String, Path, description = "Tenant slug or id"),
        ("scim_token_id" = ScimTokenId, Path)),
    security(("bearer" = [])), responses((status = 200, body = ScimToken)))]
async fn revoke(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path((tenant, id)): Path<(String, ScimTokenId)>,
) -> ApiResult<Json<ScimToken>> {
    let scope = app
        .tenant_scope(&ctx, &tenant, Op::ScimTokensRevoke.permission())
        .await?;
    Ok(Json(app.store.revoke_scim_token(&scope, id).await?))
}
