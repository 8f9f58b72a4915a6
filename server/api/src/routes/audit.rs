//! The audit trail: a tenant's events, checkpoints, verification, retention
//! and export; the platform's view across tenants; the checkpoint signing key.

use axum::body::Body;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use ditto_core::Error;
use ditto_core::audit::AuditSigner;
use ditto_core::catalogue::Op;
use ditto_core::validate::Checker;
use ditto_types::api::{
    AuditCheckpoint, AuditEvent, AuditEventPage, AuditExportFormat, AuditExportParams, AuditFilter,
    AuditPublicKey, AuditRetention, AuditRetentionRun, AuditSigningKey, AuditVerification,
    PageParams, PlatformAuditFilter,
};
use futures_util::StreamExt;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::AppState;
use crate::error::ApiResult;
use crate::extract::{Auth, Json, Path, Query};

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(verify))
        .routes(routes!(list_checkpoints, create_checkpoint))
        .routes(routes!(export))
        .routes(routes!(get_retention, update_retention))
        .routes(routes!(apply_retention))
        .routes(routes!(platform_list))
        .routes(routes!(platform_verify))
        .routes(routes!(signing_key))
}

fn signer(app: &AppState) -> Result<&AuditSigner, Error> {
    app.audit_signer.as_ref().ok_or_else(|| {
        Error::Unavailable(
            "audit checkpoints cannot be signed or checked: the server has no audit \
             signing key (its operator sets DITTO_AUDIT_SIGNING_KEY)"
                .into(),
        )
    })
}

/// A tenant's audit events, newest first. Filters and cursors only ever
/// reach the tenant's own events.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/audit", tag = "audit",
    operation_id = Op::AuditList.id(),
    params(("tenant" = String, Path, description = "Tenant slug or id"), PageParams, AuditFilter),
    security(("bearer" = [])), responses((status = 200, body = AuditEventPage)))]
async fn list(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path(tenant): Path<String>,
    Query(page): Query<PageParams>,
    Query(filter): Query<AuditFilter>,
) -> ApiResult<Json<AuditEventPage>> {
    let scope = app
        .tenant_scope(&ctx, &tenant, Op::AuditList.permission())
        .await?;
    Ok(Json(
        app.store.list_audit_events(&scope, &filter, &page).await?,
    ))
}

/// Check a tenant's chain from its anchor (the beginning, or the checkpoint
/// retention left) to its head; reports the first broken link.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/audit/verification", tag = "audit",
    operation_id = Op::AuditVerify.id(),
    params(("tenant" = String, Path, description = "Tenant slug or id")),
    security(("bearer" = [])), responses((status = 200, body = AuditVerification)))]
async fn verify(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path(tenant): Path<String>,
) -> ApiResult<Json<AuditVerification>> {
    let scope = app
        .tenant_scope(&ctx, &tenant, Op::AuditVerify.permission())
        .await?;
    let keys = signer(&app)?.public_keys();
    Ok(Json(app.store.verify_audit_chain(&scope, &keys).await?))
}

/// A tenant's latest 100 checkpoints, newest first.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/audit/checkpoints", tag = "audit",
    operation_id = Op::AuditCheckpointsList.id(),
    params(("tenant" = String, Path, description = "Tenant slug or id")),
    security(("bearer" = [])), responses((status = 200, body = Vec<AuditCheckpoint>)))]
async fn list_checkpoints(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path(tenant): Path<String>,
) -> ApiResult<Json<Vec<AuditCheckpoint>>> {
    let scope = app
        .tenant_scope(&ctx, &tenant, Op::AuditCheckpointsList.permission())
        .await?;
    Ok(Json(app.store.list_audit_checkpoints(&scope).await?))
}

/// Sign a checkpoint of the tenant's chain at its head now.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant}/audit/checkpoints", tag = "audit",
    operation_id = Op::AuditCheckpointsCreate.id(),
    params(("tenant" = String, Path, description = "Tenant slug or id")),
    security(("bearer" = [])), responses((status = 201, body = AuditCheckpoint)))]
async fn create_checkpoint(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path(tenant): Path<String>,
) -> ApiResult<(StatusCode, Json<AuditCheckpoint>)> {
    let scope = app
        .tenant_scope(&ctx, &tenant, Op::AuditCheckpointsCreate.permission())
        .await?;
    let checkpoint = app
        .store
        .create_audit_checkpoint(&scope, signer(&app)?)
        .await?;
    Ok((StatusCode::CREATED, Json(checkpoint)))
}

/// Download a tenant's kept events in sequence order, streamed. JSONL: a
/// first line `{"checkpoint": …, "public_key": …}`, then one event per line.
/// CSV: a header row, then one event per row (before/after as JSON text);
/// the checkpoint is in the `x-ditto-audit-checkpoint` header.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/audit/export", tag = "audit",
    operation_id = Op::AuditExport.id(),
    params(("tenant" = String, Path, description = "Tenant slug or id"), AuditExportParams),
    security(("bearer" = [])),
    responses((status = 200, description = "The events, as JSONL or CSV", content_type = "application/x-ndjson")))]
async fn export(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path(tenant): Path<String>,
    Query(params): Query<AuditExportParams>,
) -> ApiResult<Response> {
    let scope = app
        .tenant_scope(&ctx, &tenant, Op::AuditExport.permission())
        .await?;
    let public_key = app.audit_signer.as_ref().map(|s| s.public_key_base64());
    let (checkpoint, events) = app.store.export_audit_events(&scope).await?;
    let head = serde_json::json!({ "checkpoint": checkpoint, "public_key": public_key });
    let response = match params.format {
        AuditExportFormat::Jsonl => {
            let first = futures_util::stream::once(async move {
                Ok::<_, Error>(format!("{head}\n").into_bytes())
            });
            let lines = events.map(|e| e.map(|e| jsonl_line(&e)));
            (
                [(header::CONTENT_TYPE, "application/x-ndjson".to_owned())],
                Body::from_stream(first.chain(lines).map(|r| r.map_err(std::io::Error::other))),
            )
                .into_response()
        }
        AuditExportFormat::Csv => {
            let first = futures_util::stream::once(async {
                Ok::<_, Error>(CSV_HEADER.as_bytes().to_vec())
            });
            let rows = events.map(|e| e.map(|e| csv_row(&e)));
            let mut response = (
                [(header::CONTENT_TYPE, "text/csv".to_owned())],
                Body::from_stream(first.chain(rows).map(|r| r.map_err(std::io::Error::other))),
            )
                .into_response();
            if let Ok(value) = head.to_string().parse() {
                response
                    .headers_mut()
                    .insert("x-ditto-audit-checkpoint", value);
            }
            response
        }
    };
    Ok(response)
}

fn jsonl_line(event: &AuditEvent) -> Vec<u8> {
    let mut line = serde_json::to_vec(event).unwrap_or_default();
    line.push(b'\n');
    line
}

const CSV_HEADER: &str = "id,tenant_id,seq,created_at,actor_type,actor_id,action,target_type,target_id,before,after,request_id,source_ip,user_agent,prev_hash,hash\n";

fn csv_row(e: &AuditEvent) -> Vec<u8> {
    let json =
        |v: &Option<serde_json::Value>| v.as_ref().map(|v| v.to_string()).unwrap_or_default();
    let fields = [
        e.id.to_string(),
        e.tenant_id.map(|t| t.to_string()).unwrap_or_default(),
        e.seq.to_string(),
        e.created_at
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        e.actor_type.clone(),
        e.actor_id.map(|a| a.to_string()).unwrap_or_default(),
        e.action.clone(),
        e.target_type.clone(),
        e.target_id.clone().unwrap_or_default(),
        json(&e.before),
        json(&e.after),
        e.request_id.clone().unwrap_or_default(),
        e.source_ip.clone().unwrap_or_default(),
        e.user_agent.clone().unwrap_or_default(),
        e.prev_hash.clone(),
        e.hash.clone(),
    ];
    let mut row = fields
        .iter()
        .map(|f| csv_field(f))
        .collect::<Vec<_>>()
        .join(",");
    row.push('\n');
    row.into_bytes()
}

/// RFC 4180 quoting; a leading `=`, `+`, `-` or `@` is prefixed with `'` so
/// spreadsheets do not run it as a formula.
fn csv_field(value: &str) -> String {
    let value = if value.starts_with(['=', '+', '-', '@']) {
        format!("'{value}")
    } else {
        value.to_owned()
    };
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value
    }
}

/// How long a tenant's audit events are kept.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/audit/retention", tag = "audit",
    operation_id = Op::AuditRetentionGet.id(),
    params(("tenant" = String, Path, description = "Tenant slug or id")),
    security(("bearer" = [])), responses((status = 200, body = AuditRetention)))]
async fn get_retention(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path(tenant): Path<String>,
) -> ApiResult<Json<AuditRetention>> {
    let scope = app
        .tenant_scope(&ctx, &tenant, Op::AuditRetentionGet.permission())
        .await?;
    let retention_days = app.store.audit_retention(&scope).await?;
    Ok(Json(AuditRetention { retention_days }))
}

/// The shortest audit retention a tenant may set.
const MIN_RETENTION_DAYS: u32 = 7;

/// Set how long a tenant's audit events are kept (7–36500 days). Shortening
/// it erases history sooner, so it needs owner authority (`owners:write`);
/// lengthening needs only `audit:manage`.
#[utoipa::path(put, path = "/api/v1/tenants/{tenant}/audit/retention", tag = "audit",
    operation_id = Op::AuditRetentionUpdate.id(),
    params(("tenant" = String, Path, description = "Tenant slug or id")),
    request_body = AuditRetention,
    security(("bearer" = [])), responses((status = 200, body = AuditRetention)))]
async fn update_retention(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path(tenant): Path<String>,
    Json(body): Json<AuditRetention>,
) -> ApiResult<Json<AuditRetention>> {
    let scope = app
        .tenant_scope(&ctx, &tenant, Op::AuditRetentionUpdate.permission())
        .await?;
    let mut c = Checker::default();
    c.range(
        "/retention_days",
        Some(body.retention_days),
        MIN_RETENTION_DAYS,
        36500,
    );
    c.finish()?;
    let current = app.store.audit_retention(&scope).await?;
    if body.retention_days < current
        && !ctx
            .grants_in(&scope)
            .contains(ditto_core::Permission::OwnersWrite)
    {
        return Err(ditto_core::Error::Forbidden(format!(
            "shortening audit retention (from {current} to {} days) needs an owner (`owners:write`)",
            body.retention_days
        ))
        .into());
    }
    let retention_days = app
        .store
        .set_audit_retention(&scope, body.retention_days)
        .await?;
    Ok(Json(AuditRetention { retention_days }))
}

/// Remove the tenant's events past its retention period now: a signed
/// checkpoint at the last removed event is written first, so the rest of
/// the chain still verifies. `ditto serve` also does this periodically.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant}/audit/retention/apply", tag = "audit",
    operation_id = Op::AuditRetentionApply.id(),
    params(("tenant" = String, Path, description = "Tenant slug or id")),
    security(("bearer" = [])), responses((status = 200, body = AuditRetentionRun)))]
async fn apply_retention(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path(tenant): Path<String>,
) -> ApiResult<Json<AuditRetentionRun>> {
    let scope = app
        .tenant_scope(&ctx, &tenant, Op::AuditRetentionApply.permission())
        .await?;
    Ok(Json(
        app.store
            .apply_audit_retention(&scope, signer(&app)?)
            .await?,
    ))
}

/// Audit events across tenants and of the platform itself, newest first
/// (platform principals).
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit",
    operation_id = Op::PlatformAuditList.id(),
    params(PlatformAuditFilter, PageParams, AuditFilter),
    security(("bearer" = [])), responses((status = 200, body = AuditEventPage)))]
async fn platform_list(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Query(chains): Query<PlatformAuditFilter>,
    Query(page): Query<PageParams>,
    Query(filter): Query<AuditFilter>,
) -> ApiResult<Json<AuditEventPage>> {
    let scope = app
        .platform_scope(&ctx, Op::PlatformAuditList.permission())
        .await?;
    Ok(Json(
        app.store
            .list_platform_audit_events(&scope, &chains, &filter, &page)
            .await?,
    ))
}

/// Check the platform chain (tenant management and platform prices).
#[utoipa::path(get, path = "/api/v1/audit/verification", tag = "audit",
    operation_id = Op::PlatformAuditVerify.id(),
    security(("bearer" = [])), responses((status = 200, body = AuditVerification)))]
async fn platform_verify(
    State(app): State<AppState>,
    Auth(ctx): Auth,
) -> ApiResult<Json<AuditVerification>> {
    let scope = app
        .platform_scope(&ctx, Op::PlatformAuditVerify.permission())
        .await?;
    let keys = signer(&app)?.public_keys();
    Ok(Json(
        app.store.verify_platform_audit_chain(&scope, &keys).await?,
    ))
}

/// The public key checkpoints are signed with, and every key they verify
/// with (`keys`: the current one, then retired ones). Any valid token may
/// read it.
#[utoipa::path(get, path = "/api/v1/audit/signing-key", tag = "audit",
    operation_id = Op::AuditSigningKeyGet.id(),
    security(("bearer" = [])), responses((status = 200, body = AuditSigningKey)))]
async fn signing_key(
    State(app): State<AppState>,
    Auth(_ctx): Auth,
) -> ApiResult<Json<AuditSigningKey>> {
    let signer = signer(&app)?;
    Ok(Json(AuditSigningKey {
        algorithm: "ed25519".into(),
        key_id: signer.key_id(),
        public_key: signer.public_key_base64(),
        keys: signer
            .public_keys()
            .keys()
            .iter()
            .map(|k| AuditPublicKey {
                key_id: k.key_id.clone(),
                public_key: k.public_key.clone(),
                status: if k.current { "current" } else { "retired" }.into(),
            })
            .collect(),
    }))
}
