//! Virtual API keys for the tenant's gateway endpoint.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::Utc;
use ditto_core::catalogue::Op;
use ditto_core::{secrets, validate};
use ditto_types::ApiKeyId;
use ditto_types::api::{
    ApiKey, ApiKeyFilter, ApiKeyPage, CreateApiKey, CreatedApiKey, PageParams, UpdateApiKey,
};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::AppState;
use crate::error::ApiResult;
use crate::extract::{Auth, Json, Path, Query};

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get, update))
        .routes(routes!(revoke))
        .routes(routes!(rotate))
}

/// List API keys (never their secrets).
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/api-keys", tag = "api_keys", operation_id = Op::ApiKeysList.id(),
    params(("tenant" = String, Path, description = "Tenant slug or id"), PageParams, ApiKeyFilter),
    security(("bearer" = [])), responses((status = 200, body = ApiKeyPage)))]
async fn list(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path(tenant): Path<String>,
    Query(page): Query<PageParams>,
    Query(filter): Query<ApiKeyFilter>,
) -> ApiResult<Json<ApiKeyPage>> {
    let reach = app
        .list_reach(&ctx, &tenant, Op::ApiKeysList.permission())
        .await?;
    Ok(Json(
        app.store
            .list_api_keys(reach.scope(), &filter, &page, reach.within())
            .await?,
    ))
}

/// Create an API key. The secret is in this response only. Naming another
/// user as its owner needs `users:write`, another service account
/// `service_accounts:write`.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant}/api-keys", tag = "api_keys", operation_id = Op::ApiKeysCreate.id(),
    params(("tenant" = String, Path, description = "Tenant slug or id")), request_body = CreateApiKey,
    security(("bearer" = [])), responses((status = 201, body = CreatedApiKey)))]
async fn create(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path(tenant): Path<String>,
    Json(body): Json<CreateApiKey>,
) -> ApiResult<(StatusCode, Json<CreatedApiKey>)> {
    let scope = app
        .project_scope(
            &ctx,
            &tenant,
            body.project_id.0,
            Op::ApiKeysCreate.permission(),
        )
        .await?;
    validate::create_api_key(&body, Utc::now())?;
    ctx.may_name_key_owner(&scope, body.owner_user_id, body.owner_service_account_id)?;
    let minted = secrets::mint_api_key();
    let key = app.store.create_api_key(&scope, &body, &minted).await?;
    let created = CreatedApiKey {
        key,
        secret: minted.full.0,
    };
    Ok((StatusCode::CREATED, Json(created)))
}

/// Get an API key.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/api-keys/{key_id}", tag = "api_keys",
    operation_id = Op::ApiKeysGet.id(),
    params(("tenant" = String, Path, description = "Tenant slug or id"), ("key_id" = ApiKeyId, Path)),
    security(("bearer" = [])), responses((status = 200, body = ApiKey)))]
async fn get(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path((tenant, id)): Path<(String, ApiKeyId)>,
) -> ApiResult<Json<ApiKey>> {
    let scope = app
        .key_scope(&ctx, &tenant, id, Op::ApiKeysGet.permission())
        .await?;
    Ok(Json(app.store.get_api_key(&scope, id).await?))
}

/// Rename an API key.
#[utoipa::path(patch, path = "/api/v1/tenants/{tenant}/api-keys/{key_id}", tag = "api_keys",
    operation_id = Op::ApiKeysUpdate.id(),
    params(("tenant" = String, Path, description = "Tenant slug or id"), ("key_id" = ApiKeyId, Path)),
    request_body = UpdateApiKey, security(("bearer" = [])), responses((status = 200, body = ApiKey)))]
async fn update(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path((tenant, id)): Path<(String, ApiKeyId)>,
    Json(body): Json<UpdateApiKey>,
) -> ApiResult<Json<ApiKey>> {
    let scope = app
        .key_scope(&ctx, &tenant, id, Op::ApiKeysUpdate.permission())
        .await?;
    validate::update_api_key(&body)?;
    Ok(Json(app.store.update_api_key(&scope, id, &body).await?))
}

/// Revoke an API key: it stops working. Idempotent.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant}/api-keys/{key_id}/revoke", tag = "api_keys",
    operation_id = Op::ApiKeysRevoke.id(),
    params(("tenant" = String, Path, description = "Tenant slug or id"), ("key_id" = ApiKeyId, Path)),
    security(("bearer" = [])), responses((status = 200, body = ApiKey)))]
async fn revoke(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path((tenant, id)): Path<(String, ApiKeyId)>,
) -> ApiResult<Json<ApiKey>> {
    let scope = app
        .key_scope(&ctx, &tenant, id, Op::ApiKeysRevoke.permission())
        .await?;
    Ok(Json(app.store.revoke_api_key(&scope, id).await?))
}

/// Replace an API key's secret. The old secret stops working at once; the
/// new one is in this response only.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant}/api-keys/{key_id}/rotate", tag = "api_keys",
    operation_id = Op::ApiKeysRotate.id(),
    params(("tenant" = String, Path, description = "Tenant slug or id"), ("key_id" = ApiKeyId, Path)),
    security(("bearer" = [])), responses((status = 200, body = CreatedApiKey)))]
async fn rotate(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path((tenant, id)): Path<(String, ApiKeyId)>,
) -> ApiResult<Json<CreatedApiKey>> {
    let scope = app
        .key_scope(&ctx, &tenant, id, Op::ApiKeysRotate.permission())
        .await?;
    let minted = secrets::mint_api_key();
    let key = app.store.rotate_api_key(&scope, id, &minted).await?;
    Ok(Json(CreatedApiKey {
        key,
        secret: minted.full.0,
    }))
}
