//! Model prices: the platform's defaults (written by platform
//! administrators, read by everyone) and each tenant's overrides.
//!
//! Model names often contain `/` (`openai/gpt-4o`); in a path they are one
//! segment, so the `/` must be percent-encoded (`openai%2Fgpt-4o`).

use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use ditto_core::catalogue::Op;
use ditto_core::pricing;
use ditto_types::api::{
    LiteLlmPrices, ModelPrice, ModelPricePage, NameFilter, PageParams, PriceImport, PutModelPrice,
    TenantPriceFilter,
};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::AppState;
use crate::error::ApiResult;
use crate::extract::{Auth, Json, Path, Query};

pub(crate) fn router() -> OpenApiRouter<AppState> {
    // LiteLLM's whole list is over a megabyte: only the imports accept large bodies.
    let imports = OpenApiRouter::new()
        .routes(routes!(import))
        .routes(routes!(tenant_import))
        .layer(DefaultBodyLimit::max(crate::IMPORT_MAX_BODY_BYTES));
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(get, put, delete))
        .routes(routes!(tenant_list))
        .routes(routes!(tenant_get, tenant_put, tenant_delete))
        .merge(imports)
}

/// 201 for a new price, 200 for a replaced one.
fn put_status(created: bool) -> StatusCode {
    if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    }
}

/// List the platform's default prices, by model name. Any tenant member may read them.
#[utoipa::path(get, path = "/api/v1/model-prices", tag = "model_prices", operation_id = Op::ModelPricesList.id(),
    params(PageParams, NameFilter), security(("bearer" = [])),
    responses((status = 200, body = ModelPricePage)))]
async fn list(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Query(page): Query<PageParams>,
    Query(filter): Query<NameFilter>,
) -> ApiResult<Json<ModelPricePage>> {
    let scope = app
        .shared_scope(&ctx, Op::ModelPricesList.permission())
        .await?;
    Ok(Json(
        app.store
            .list_model_prices(&scope, filter.q.as_deref(), &page)
            .await?,
    ))
}

/// Get a platform default price.
#[utoipa::path(get, path = "/api/v1/model-prices/{model}", tag = "model_prices", operation_id = Op::ModelPricesGet.id(),
    params(("model" = String, Path, description = "Model name, `/` percent-encoded: `openai%2Fgpt-4o`")),
    security(("bearer" = [])), responses((status = 200, body = ModelPrice)))]
async fn get(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path(model): Path<String>,
) -> ApiResult<Json<ModelPrice>> {
    let scope = app
        .shared_scope(&ctx, Op::ModelPricesGet.permission())
        .await?;
    Ok(Json(app.store.get_model_price(&scope, &model).await?))
}

/// Set a platform default price (platform administrators).
#[utoipa::path(put, path = "/api/v1/model-prices/{model}", tag = "model_prices", operation_id = Op::ModelPricesPut.id(),
    params(("model" = String, Path, description = "Model name, `/` percent-encoded: `openai%2Fgpt-4o`")),
    request_body = PutModelPrice, security(("bearer" = [])),
    responses((status = 200, description = "Replaced", body = ModelPrice),
        (status = 201, description = "Created", body = ModelPrice)))]
async fn put(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path(model): Path<String>,
    Json(body): Json<PutModelPrice>,
) -> ApiResult<(StatusCode, Json<ModelPrice>)> {
    let scope = app
        .platform_scope(&ctx, Op::ModelPricesPut.permission())
        .await?;
    let price = pricing::from_request(&model, &body)?;
    let (price, created) = app.store.put_model_price(&scope, &model, &price).await?;
    Ok((put_status(created), Json(price)))
}

/// Delete a platform default price (platform administrators).
#[utoipa::path(delete, path = "/api/v1/model-prices/{model}", tag = "model_prices",
    operation_id = Op::ModelPricesDelete.id(),
    params(("model" = String, Path, description = "Model name, `/` percent-encoded: `openai%2Fgpt-4o`")),
    security(("bearer" = [])), responses((status = 204, description = "Deleted")))]
async fn delete(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path(model): Path<String>,
) -> ApiResult<StatusCode> {
    let scope = app
        .platform_scope(&ctx, Op::ModelPricesDelete.permission())
        .await?;
    app.store.delete_model_price(&scope, &model).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Import platform default prices from LiteLLM's `model_prices_and_context_window.json`
/// (platform administrators). Creates or replaces the price of every usable
/// entry and leaves other prices alone. Bodies up to 16 MiB.
#[utoipa::path(post, path = "/api/v1/model-prices/import", tag = "model_prices",
    operation_id = Op::ModelPricesImport.id(),
    request_body = LiteLlmPrices, security(("bearer" = [])),
    responses((status = 200, body = PriceImport)))]
async fn import(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Json(body): Json<LiteLlmPrices>,
) -> ApiResult<Json<PriceImport>> {
    let scope = app
        .platform_scope(&ctx, Op::ModelPricesImport.permission())
        .await?;
    let list = pricing::from_litellm(&body)?;
    let imported = app.store.import_model_prices(&scope, &list.prices).await?;
    Ok(Json(PriceImport {
        imported,
        skipped: list.skipped,
    }))
}

/// List a tenant's own prices or, with `effective=true`, the prices that apply to it.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/model-prices", tag = "model_prices",
    operation_id = Op::TenantModelPricesList.id(),
    params(("tenant" = String, Path, description = "Tenant slug or id"), PageParams, TenantPriceFilter),
    security(("bearer" = [])), responses((status = 200, body = ModelPricePage)))]
async fn tenant_list(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path(tenant): Path<String>,
    Query(page): Query<PageParams>,
    Query(filter): Query<TenantPriceFilter>,
) -> ApiResult<Json<ModelPricePage>> {
    let scope = app
        .tenant_scope(&ctx, &tenant, Op::TenantModelPricesList.permission())
        .await?;
    Ok(Json(
        app.store
            .list_tenant_model_prices(&scope, filter.q.as_deref(), filter.effective, &page)
            .await?,
    ))
}

/// Get a tenant's own price for a model.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/model-prices/{model}", tag = "model_prices",
    operation_id = Op::TenantModelPricesGet.id(),
    params(("tenant" = String, Path, description = "Tenant slug or id"),
        ("model" = String, Path, description = "Model name, `/` percent-encoded: `openai%2Fgpt-4o`")),
    security(("bearer" = [])), responses((status = 200, body = ModelPrice)))]
async fn tenant_get(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path((tenant, model)): Path<(String, String)>,
) -> ApiResult<Json<ModelPrice>> {
    let scope = app
        .tenant_scope(&ctx, &tenant, Op::TenantModelPricesGet.permission())
        .await?;
    Ok(Json(
        app.store.get_tenant_model_price(&scope, &model).await?,
    ))
}

/// Set a tenant's own price for a model, overriding the platform's.
#[utoipa::path(put, path = "/api/v1/tenants/{tenant}/model-prices/{model}", tag = "model_prices",
    operation_id = Op::TenantModelPricesPut.id(),
    params(("tenant" = String, Path, description = "Tenant slug or id"),
        ("model" = String, Path, description = "Model name, `/` percent-encoded: `openai%2Fgpt-4o`")),
    request_body = PutModelPrice, security(("bearer" = [])),
    responses((status = 200, description = "Replaced", body = ModelPrice),
        (status = 201, description = "Created", body = ModelPrice)))]
async fn tenant_put(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path((tenant, model)): Path<(String, String)>,
    Json(body): Json<PutModelPrice>,
) -> ApiResult<(StatusCode, Json<ModelPrice>)> {
    let scope = app
        .tenant_scope(&ctx, &tenant, Op::TenantModelPricesPut.permission())
        .await?;
    let price = pricing::from_request(&model, &body)?;
    let (price, created) = app
        .store
        .put_tenant_model_price(&scope, &model, &price)
        .await?;
    Ok((put_status(created), Json(price)))
}

/// Delete a tenant's own price; the platform's applies again.
#[utoipa::path(delete, path = "/api/v1/tenants/{tenant}/model-prices/{model}", tag = "model_prices",
    operation_id = Op::TenantModelPricesDelete.id(),
    params(("tenant" = String, Path, description = "Tenant slug or id"),
        ("model" = String, Path, description = "Model name, `/` percent-encoded: `openai%2Fgpt-4o`")),
    security(("bearer" = [])), responses((status = 204, description = "Deleted")))]
async fn tenant_delete(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path((tenant, model)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let scope = app
        .tenant_scope(&ctx, &tenant, Op::TenantModelPricesDelete.permission())
        .await?;
    app.store.delete_tenant_model_price(&scope, &model).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Import a tenant's own prices from LiteLLM's `model_prices_and_context_window.json`.
/// Creates or replaces the tenant's price of every usable entry. Bodies up to 16 MiB.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant}/model-prices/import", tag = "model_prices",
    operation_id = Op::TenantModelPricesImport.id(),
    params(("tenant" = String, Path, description = "Tenant slug or id")),
    request_body = LiteLlmPrices, security(("bearer" = [])),
    responses((status = 200, body = PriceImport)))]
async fn tenant_import(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path(tenant): Path<String>,
    Json(body): Json<LiteLlmPrices>,
) -> ApiResult<Json<PriceImport>> {
    let scope = app
        .tenant_scope(&ctx, &tenant, Op::TenantModelPricesImport.permission())
        .await?;
    let list = pricing::from_litellm(&body)?;
    let imported = app
        .store
        .import_tenant_model_prices(&scope, &list.prices)
        .await?;
    Ok(Json(PriceImport {
        imported,
        skipped: list.skipped,
    }))
}
