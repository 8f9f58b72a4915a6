//! Email domains a tenant claims for home-realm discovery. The tenant's
//! administrators claim and release them; a platform operator verifies
//! them once the tenant has published the verification record in DNS.

use axum::extract::State;
use axum::http::StatusCode;
use ditto_core::catalogue::Op;
use ditto_identity::discovery::normalize_domain;
use ditto_types::api::{CreateTenantDomain, PageParams, TenantDomain, TenantDomainPage};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::AppState;
use crate::error::ApiResult;
use crate::extract::{Auth, Json, Path, Query};

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get, delete))
        .routes(routes!(verify))
}

/// A domain named in a path; one that cannot be a domain names none.
fn path_domain(raw: &str) -> ditto_core::Result<String> {
    normalize_domain("domain", raw).map_err(|_| ditto_core::Error::NotFound("domain"))
}

/// List the email domains a tenant claims.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/domains", tag = "sso",
    operation_id = Op::SsoDomainsList.id(),
    params(("tenant" = String, Path, description = "Tenant slug or id"), PageParams),
    security(("bearer" = [])), responses((status = 200, body = TenantDomainPage)))]
async fn list(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path(tenant): Path<String>,
    Query(page): Query<PageParams>,
) -> ApiResult<Json<TenantDomainPage>> {
    let scope = app
        .tenant_scope(&ctx, &tenant, Op::SsoDomainsList.permission())
        .await?;
    Ok(Json(app.store.list_domains(&scope, &page).await?))
}

/// Claim an email domain. It starts `pending` with the DNS TXT record to
/// publish; it routes sign-ins once a platform operator has verified it.
/// A domain belongs to one tenant only: claiming one already claimed (here
/// or by another tenant) answers 409.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant}/domains", tag = "sso",
    operation_id = Op::SsoDomainsCreate.id(),
    params(("tenant" = String, Path, description = "Tenant slug or id")),
    request_body = CreateTenantDomain, security(("bearer" = [])),
    responses((status = 201, body = TenantDomain), (status = 409), (status = 422)))]
async fn create(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path(tenant): Path<String>,
    Json(body): Json<CreateTenantDomain>,
) -> ApiResult<(StatusCode, Json<TenantDomain>)> {
    let scope = app
        .tenant_scope(&ctx, &tenant, Op::SsoDomainsCreate.permission())
        .await?;
    let domain = normalize_domain("/domain", &body.domain)?;
    // 122 random bits: a token nobody else could have published.
    let token = uuid::Uuid::new_v4().simple().to_string();
    Ok((
        StatusCode::CREATED,
        Json(app.store.create_domain(&scope, &domain, &token).await?),
    ))
}

/// Get a claimed domain, with its verification record.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/domains/{domain}", tag = "sso",
    operation_id = Op::SsoDomainsGet.id(),
    params(("tenant" = String, Path, description = "Tenant slug or id"), ("domain" = String, Path)),
    security(("bearer" = [])), responses((status = 200, body = TenantDomain), (status = 404)))]
async fn get(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path((tenant, domain)): Path<(String, String)>,
) -> ApiResult<Json<TenantDomain>> {
    let scope = app
        .tenant_scope(&ctx, &tenant, Op::SsoDomainsGet.permission())
        .await?;
    Ok(Json(
        app.store.get_domain(&scope, &path_domain(&domain)?).await?,
    ))
}

/// Release a domain: its addresses no longer route to this tenant, and
/// another tenant may claim it.
#[utoipa::path(delete, path = "/api/v1/tenants/{tenant}/domains/{domain}", tag = "sso",
    operation_id = Op::SsoDomainsDelete.id(),
    params(("tenant" = String, Path, description = "Tenant slug or id"), ("domain" = String, Path)),
    security(("bearer" = [])), responses((status = 204, description = "Released"), (status = 404)))]
async fn delete(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path((tenant, domain)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let scope = app
        .tenant_scope(&ctx, &tenant, Op::SsoDomainsDelete.permission())
        .await?;
    app.store
        .delete_domain(&scope, &path_domain(&domain)?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Mark a tenant's domain verified (platform operators only), after
/// checking that `verification.record_name` holds `record_value` as a TXT
/// record. Idempotent.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant}/domains/{domain}/verify", tag = "sso",
    operation_id = Op::SsoDomainsVerify.id(),
    params(("tenant" = String, Path, description = "Tenant slug or id"), ("domain" = String, Path)),
    security(("bearer" = [])), responses((status = 200, body = TenantDomain), (status = 404)))]
async fn verify(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path((tenant, domain)): Path<(String, String)>,
) -> ApiResult<Json<TenantDomain>> {
    let scope = app
        .platform_scope(&ctx, Op::SsoDomainsVerify.permission())
        .await?;
    let tenant = app.store.resolve_tenant(&tenant).await?;
    Ok(Json(
        app.store
            .verify_domain(&scope, tenant.id, &path_domain(&domain)?)
            .await?,
    ))
}
