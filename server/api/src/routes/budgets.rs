//! Budgets of a tenant and of its projects, users and keys, with what each
//! has spent in its current period.

use axum::extract::State;
use axum::http::StatusCode;
use ditto_core::catalogue::Op;
use ditto_core::validate;
use ditto_types::BudgetId;
use ditto_types::api::{Budget, BudgetPage, CreateBudget, LimitFilter, PageParams, UpdateBudget};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::AppState;
use crate::error::ApiResult;
use crate::extract::{Auth, Json, Path, Query};

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get, update, delete))
}

/// List a tenant's budgets, newest first, each with its current period's spending.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/budgets", tag = "budgets",
    operation_id = Op::BudgetsList.id(),
    params(("tenant" = String, Path, description = "Tenant slug or id"), PageParams, LimitFilter),
    security(("bearer" = [])), responses((status = 200, body = BudgetPage)))]
async fn list(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path(tenant): Path<String>,
    Query(page): Query<PageParams>,
    Query(filter): Query<LimitFilter>,
) -> ApiResult<Json<BudgetPage>> {
    let scope = app
        .tenant_scope(&ctx, &tenant, Op::BudgetsList.permission())
        .await?;
    Ok(Json(app.store.list_budgets(&scope, &filter, &page).await?))
}

/// Add a budget. One budget per scope and period (409 otherwise).
#[utoipa::path(post, path = "/api/v1/tenants/{tenant}/budgets", tag = "budgets",
    operation_id = Op::BudgetsCreate.id(),
    params(("tenant" = String, Path, description = "Tenant slug or id")), request_body = CreateBudget,
    security(("bearer" = [])), responses((status = 201, body = Budget)))]
async fn create(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path(tenant): Path<String>,
    Json(body): Json<CreateBudget>,
) -> ApiResult<(StatusCode, Json<Budget>)> {
    let scope = app
        .tenant_scope(&ctx, &tenant, Op::BudgetsCreate.permission())
        .await?;
    let max_cost_pico = validate::create_budget(&body)?;
    Ok((
        StatusCode::CREATED,
        Json(
            app.store
                .create_budget(&scope, &body, max_cost_pico)
                .await?,
        ),
    ))
}

/// Get a budget and what its scope has spent in the current period.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/budgets/{budget_id}", tag = "budgets",
    operation_id = Op::BudgetsGet.id(),
    params(("tenant" = String, Path, description = "Tenant slug or id"), ("budget_id" = BudgetId, Path)),
    security(("bearer" = [])), responses((status = 200, body = Budget)))]
async fn get(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path((tenant, id)): Path<(String, BudgetId)>,
) -> ApiResult<Json<Budget>> {
    let scope = app
        .tenant_scope(&ctx, &tenant, Op::BudgetsGet.permission())
        .await?;
    Ok(Json(app.store.get_budget(&scope, id).await?))
}

/// Change a budget's caps; at least one of `max_tokens` and `max_cost_usd` must remain.
#[utoipa::path(patch, path = "/api/v1/tenants/{tenant}/budgets/{budget_id}", tag = "budgets",
    operation_id = Op::BudgetsUpdate.id(),
    params(("tenant" = String, Path, description = "Tenant slug or id"), ("budget_id" = BudgetId, Path)),
    request_body = UpdateBudget, security(("bearer" = [])), responses((status = 200, body = Budget)))]
async fn update(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path((tenant, id)): Path<(String, BudgetId)>,
    Json(body): Json<UpdateBudget>,
) -> ApiResult<Json<Budget>> {
    let scope = app
        .tenant_scope(&ctx, &tenant, Op::BudgetsUpdate.permission())
        .await?;
    let max_cost_pico = validate::update_budget(&body)?;
    Ok(Json(
        app.store
            .update_budget(&scope, id, &body, max_cost_pico)
            .await?,
    ))
}

/// Delete a budget.
#[utoipa::path(delete, path = "/api/v1/tenants/{tenant}/budgets/{budget_id}", tag = "budgets",
    operation_id = Op::BudgetsDelete.id(),
    params(("tenant" = String, Path, description = "Tenant slug or id"), ("budget_id" = BudgetId, Path)),
    security(("bearer" = [])), responses((status = 204, description = "Deleted")))]
async fn delete(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path((tenant, id)): Path<(String, BudgetId)>,
) -> ApiResult<StatusCode> {
    let scope = app
        .tenant_scope(&ctx, &tenant, Op::BudgetsDelete.permission())
        .await?;
    app.store.delete_budget(&scope, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
