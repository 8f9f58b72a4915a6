//! Projects of a tenant.

use axum::extract::State;
use axum::http::StatusCode;
use ditto_core::catalogue::Op;
use ditto_core::validate;
use ditto_types::ProjectId;
use ditto_types::api::{
    CreateProject, NameFilter, PageParams, Project, ProjectPage, UpdateProject,
};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::AppState;
use crate::error::ApiResult;
use crate::extract::{Auth, Json, Path, Query};

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get, update, delete))
}

/// List a tenant's projects.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/projects", tag = "projects", operation_id = Op::ProjectsList.id(),
    params(("tenant" = String, Path, description = "Tenant slug or id"), PageParams, NameFilter),
    security(("bearer" = [])), responses((status = 200, body = ProjectPage)))]
async fn list(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path(tenant): Path<String>,
    Query(page): Query<PageParams>,
    Query(filter): Query<NameFilter>,
) -> ApiResult<Json<ProjectPage>> {
    let reach = app
        .list_reach(&ctx, &tenant, Op::ProjectsList.permission())
        .await?;
    Ok(Json(
        app.store
            .list_projects(reach.scope(), &filter, &page, reach.within())
            .await?,
    ))
}

/// Create a project.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant}/projects", tag = "projects", operation_id = Op::ProjectsCreate.id(),
    params(("tenant" = String, Path, description = "Tenant slug or id")), request_body = CreateProject,
    security(("bearer" = [])), responses((status = 201, body = Project)))]
async fn create(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path(tenant): Path<String>,
    Json(body): Json<CreateProject>,
) -> ApiResult<(StatusCode, Json<Project>)> {
    let scope = app
        .tenant_scope(&ctx, &tenant, Op::ProjectsCreate.permission())
        .await?;
    validate::create_project(&body)?;
    Ok((
        StatusCode::CREATED,
        Json(app.store.create_project(&scope, &body).await?),
    ))
}

/// Get a project.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/projects/{project_id}", tag = "projects",
    operation_id = Op::ProjectsGet.id(),
    params(("tenant" = String, Path, description = "Tenant slug or id"), ("project_id" = ProjectId, Path)),
    security(("bearer" = [])), responses((status = 200, body = Project)))]
async fn get(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path((tenant, id)): Path<(String, ProjectId)>,
) -> ApiResult<Json<Project>> {
    let scope = app
        .project_scope(&ctx, &tenant, id.0, Op::ProjectsGet.permission())
        .await?;
    Ok(Json(app.store.get_project(&scope, id).await?))
}

/// Change a project's name or description.
#[utoipa::path(patch, path = "/api/v1/tenants/{tenant}/projects/{project_id}", tag = "projects",
    operation_id = Op::ProjectsUpdate.id(),
    params(("tenant" = String, Path, description = "Tenant slug or id"), ("project_id" = ProjectId, Path)),
    request_body = UpdateProject, security(("bearer" = [])), responses((status = 200, body = Project)))]
async fn update(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path((tenant, id)): Path<(String, ProjectId)>,
    Json(body): Json<UpdateProject>,
) -> ApiResult<Json<Project>> {
    let scope = app
        .project_scope(&ctx, &tenant, id.0, Op::ProjectsUpdate.permission())
        .await?;
    validate::update_project(&body)?;
    Ok(Json(app.store.update_project(&scope, id, &body).await?))
}

/// Delete a project and its API keys.
#[utoipa::path(delete, path = "/api/v1/tenants/{tenant}/projects/{project_id}", tag = "projects",
    operation_id = Op::ProjectsDelete.id(),
    params(("tenant" = String, Path, description = "Tenant slug or id"), ("project_id" = ProjectId, Path)),
    security(("bearer" = [])), responses((status = 204, description = "Deleted")))]
async fn delete(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path((tenant, id)): Path<(String, ProjectId)>,
) -> ApiResult<StatusCode> {
    let scope = app
        .project_scope(&ctx, &tenant, id.0, Op::ProjectsDelete.permission())
        .await?;
    app.store.delete_project(&scope, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
