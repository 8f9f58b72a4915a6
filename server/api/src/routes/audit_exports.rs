//! Audit export to object storage: a tenant's destinations (S3-compatible
//! buckets or directories under the platform's export directory) and its
//! export runs. Secret access keys are write-only: sealed with the master
//! key before they reach the store, never returned.

use axum::extract::State;
use axum::http::StatusCode;
use ditto_core::audit_export;
use ditto_core::catalogue::Op;
use ditto_types::api::{
    AuditExportDestination, AuditExportDestinationPage, AuditExportRun, AuditExportRunPage,
    CreateAuditExport, CreateAuditExportDestination, PageParams, UpdateAuditExportDestination,
};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::AppState;
use crate::error::ApiResult;
use crate::extract::{Auth, Json, Path, Query};

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_destinations, create_destination))
        .routes(routes!(
            get_destination,
            update_destination,
            delete_destination
        ))
        .routes(routes!(list_runs, create_run))
        .routes(routes!(get_run))
}

/// Which runs to list.
#[derive(Clone, Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct RunFilter {
    /// Only this destination's runs.
    destination_id: Option<Uuid>,
}

/// A tenant's audit export destinations, newest first.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/audit/export-destinations", tag = "audit",
    operation_id = Op::AuditExportDestinationsList.id(),
    params(("tenant" = String, Path, description = "Tenant slug or id"), PageParams),
    security(("bearer" = [])), responses((status = 200, body = AuditExportDestinationPage)))]
async fn list_destinations(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path(tenant): Path<String>,
    Query(page): Query<PageParams>,
) -> ApiResult<Json<AuditExportDestinationPage>> {
    let scope = app
        .tenant_scope(&ctx, &tenant, Op::AuditExportDestinationsList.permission())
        .await?;
    Ok(Json(
        app.store
            .list_audit_export_destinations(&scope, &page)
            .await?,
    ))
}

/// Add an audit export destination: an S3-compatible bucket, or a directory
/// under the platform's export directory (`kind: local`). The secret access
/// key is encrypted at rest and never returned. An `endpoint` must lead to a
/// public address, or one a platform operator allowed (`DITTO_EGRESS_ALLOW`).
#[utoipa::path(post, path = "/api/v1/tenants/{tenant}/audit/export-destinations", tag = "audit",
    operation_id = Op::AuditExportDestinationsCreate.id(),
    params(("tenant" = String, Path, description = "Tenant slug or id")),
    request_body = CreateAuditExportDestination,
    security(("bearer" = [])), responses((status = 201, body = AuditExportDestination)))]
async fn create_destination(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path(tenant): Path<String>,
    Json(body): Json<CreateAuditExportDestination>,
) -> ApiResult<(StatusCode, Json<AuditExportDestination>)> {
    let scope = app
        .tenant_scope(
            &ctx,
            &tenant,
            Op::AuditExportDestinationsCreate.permission(),
        )
        .await?;
    audit_export::create_destination(&body, app.audit_exporter.has_local_root())?;
    if let Some(endpoint) = &body.endpoint {
        app.check_destination("/endpoint", endpoint).await?;
    }
    let id = Uuid::now_v7();
    let sealed = body
        .secret_access_key
        .as_deref()
        .map(|k| app.seal_secret("/secret_access_key", id.as_bytes(), k))
        .transpose()?;
    let destination = app
        .store
        .create_audit_export_destination(&scope, id, &body, sealed)
        .await?;
    Ok((StatusCode::CREATED, Json(destination)))
}

/// An audit export destination (without its secret).
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/audit/export-destinations/{destination_id}",
    tag = "audit", operation_id = Op::AuditExportDestinationsGet.id(),
    params(("tenant" = String, Path, description = "Tenant slug or id"), ("destination_id" = Uuid, Path)),
    security(("bearer" = [])), responses((status = 200, body = AuditExportDestination)))]
async fn get_destination(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path((tenant, id)): Path<(String, Uuid)>,
) -> ApiResult<Json<AuditExportDestination>> {
    let scope = app
        .tenant_scope(&ctx, &tenant, Op::AuditExportDestinationsGet.permission())
        .await?;
    Ok(Json(
        app.store.get_audit_export_destination(&scope, id).await?,
    ))
}

/// Change an audit export destination. Its kind stays; a new schedule
/// starts now. Changing an S3 destination's endpoint, bucket or region needs
/// `secret_access_key` again, else 422 on `/secret_access_key`.
#[utoipa::path(patch, path = "/api/v1/tenants/{tenant}/audit/export-destinations/{destination_id}",
    tag = "audit", operation_id = Op::AuditExportDestinationsUpdate.id(),
    params(("tenant" = String, Path, description = "Tenant slug or id"), ("destination_id" = Uuid, Path)),
    request_body = UpdateAuditExportDestination,
    security(("bearer" = [])), responses((status = 200, body = AuditExportDestination)))]
async fn update_destination(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path((tenant, id)): Path<(String, Uuid)>,
    Json(body): Json<UpdateAuditExportDestination>,
) -> ApiResult<Json<AuditExportDestination>> {
    let scope = app
        .tenant_scope(
            &ctx,
            &tenant,
            Op::AuditExportDestinationsUpdate.permission(),
        )
        .await?;
    let current = app.store.get_audit_export_destination(&scope, id).await?;
    audit_export::update_destination(&body, current.kind)?;
    if let Some(endpoint) = &body.endpoint {
        app.check_destination("/endpoint", endpoint).await?;
    }
    let sealed = body
        .secret_access_key
        .as_deref()
        .map(|k| app.seal_secret("/secret_access_key", id.as_bytes(), k))
        .transpose()?;
    Ok(Json(
        app.store
            .update_audit_export_destination(&scope, id, &body, sealed)
            .await?,
    ))
}

/// Remove an audit export destination and the record of its runs; what it
/// received stays where it is.
#[utoipa::path(delete, path = "/api/v1/tenants/{tenant}/audit/export-destinations/{destination_id}",
    tag = "audit", operation_id = Op::AuditExportDestinationsDelete.id(),
    params(("tenant" = String, Path, description = "Tenant slug or id"), ("destination_id" = Uuid, Path)),
    security(("bearer" = [])), responses((status = 204, description = "Deleted")))]
async fn delete_destination(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path((tenant, id)): Path<(String, Uuid)>,
) -> ApiResult<StatusCode> {
    let scope = app
        .tenant_scope(
            &ctx,
            &tenant,
            Op::AuditExportDestinationsDelete.permission(),
        )
        .await?;
    app.store
        .delete_audit_export_destination(&scope, id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A tenant's audit export runs, newest first.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/audit/exports", tag = "audit",
    operation_id = Op::AuditExportsList.id(),
    params(("tenant" = String, Path, description = "Tenant slug or id"), PageParams, RunFilter),
    security(("bearer" = [])), responses((status = 200, body = AuditExportRunPage)))]
async fn list_runs(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path(tenant): Path<String>,
    Query(page): Query<PageParams>,
    Query(filter): Query<RunFilter>,
) -> ApiResult<Json<AuditExportRunPage>> {
    let scope = app
        .tenant_scope(&ctx, &tenant, Op::AuditExportsList.permission())
        .await?;
    Ok(Json(
        app.store
            .list_audit_export_runs(&scope, filter.destination_id, &page)
            .await?,
    ))
}

/// Export a range of the tenant's chain (default: every kept event) to a
/// destination, once. Answers at once with the run (`pending`); poll it
/// until it has `succeeded` or `failed`.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant}/audit/exports", tag = "audit",
    operation_id = Op::AuditExportsCreate.id(),
    params(("tenant" = String, Path, description = "Tenant slug or id")),
    request_body = CreateAuditExport,
    security(("bearer" = [])), responses((status = 202, body = AuditExportRun)))]
async fn create_run(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path(tenant): Path<String>,
    Json(body): Json<CreateAuditExport>,
) -> ApiResult<(StatusCode, Json<AuditExportRun>)> {
    let scope = app
        .tenant_scope(&ctx, &tenant, Op::AuditExportsCreate.permission())
        .await?;
    let run = app.store.create_audit_export_run(&scope, &body).await?;
    app.audit_exporter.spawn_run(run.id);
    Ok((StatusCode::ACCEPTED, Json(run)))
}

/// An audit export run: its status, the objects it wrote and its manifest.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/audit/exports/{run_id}", tag = "audit",
    operation_id = Op::AuditExportsGet.id(),
    params(("tenant" = String, Path, description = "Tenant slug or id"), ("run_id" = Uuid, Path)),
    security(("bearer" = [])), responses((status = 200, body = AuditExportRun)))]
async fn get_run(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path((tenant, id)): Path<(String, Uuid)>,
) -> ApiResult<Json<AuditExportRun>> {
    let scope = app
        .tenant_scope(&ctx, &tenant, Op::AuditExportsGet.permission())
        .await?;
    Ok(Json(app.store.get_audit_export_run(&scope, id).await?))
}
