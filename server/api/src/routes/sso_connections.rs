//! A tenant's single sign-on connections. The client secret is write-only:
//! sealed with the master key before it reaches the store, never returned.
//! The issuer's discovery document is fetched and checked when a
//! connection is saved, so a wrong issuer fails here, not at sign-in.

use axum::extract::State;
use axum::http::StatusCode;
use ditto_core::catalogue::Op;
use ditto_core::validate::Checker;
use ditto_core::{Ctx, Error, Grants, TenantScope};
use ditto_identity::sso::{self, DEFAULT_SCOPES};
use ditto_store::sso::{SsoConnectionChange, SsoConnectionSettings};
use ditto_types::SsoConnectionId;
use ditto_types::api::{
    ClaimMapping, CreateSsoConnection, GroupRoleMapping, NameFilter, PageParams, SsoConnection,
    SsoConnectionPage, SsoProtocol, UpdateSsoConnection,
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

const MAX_MAPPINGS: usize = 100;
const MAX_SCOPES: usize = 20;

fn check_scopes(c: &mut Checker, scopes: &[String]) {
    if scopes.len() > MAX_SCOPES {
        c.fail(
            "/scopes",
            "too_many",
            format!("at most {MAX_SCOPES} scopes"),
        );
    }
    for (i, scope) in scopes.iter().enumerate() {
        // RFC 6749 §3.3: printable ASCII without space, `"` or `\`.
        let ok = !scope.is_empty()
            && scope.len() <= 100
            && scope
                .bytes()
                .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b));
        if !ok {
            c.fail(
                &format!("/scopes/{i}"),
                "invalid_value",
                "a scope is 1–100 printable ASCII characters without spaces, quotes or backslashes",
            );
        }
    }
}

pub(crate) fn check_claims(c: &mut Checker, claims: &ClaimMapping) {
    c.text("/claims/email", &claims.email, 1, 100);
    c.text("/claims/name", &claims.name, 1, 100);
    c.text("/claims/groups", &claims.groups, 1, 100);
}

pub(crate) fn check_mappings(c: &mut Checker, mappings: &[GroupRoleMapping]) {
    if mappings.len() > MAX_MAPPINGS {
        c.fail(
            "/group_role_mappings",
            "too_many",
            format!("at most {MAX_MAPPINGS} mappings"),
        );
    }
    for (i, m) in mappings.iter().enumerate() {
        c.text(&format!("/group_role_mappings/{i}/group"), &m.group, 1, 255);
        c.text(&format!("/group_role_mappings/{i}/role"), &m.role, 1, 63);
    }
}

/// `openid` first, then the rest, without repeats.
fn normalized_scopes(scopes: Option<&[String]>) -> Vec<String> {
    let given: Vec<String> = match scopes {
        Some(s) => s.to_vec(),
        None => DEFAULT_SCOPES.iter().map(|s| (*s).to_owned()).collect(),
    };
    let mut out = vec!["openid".to_owned()];
    for s in given {
        if !out.contains(&s) {
            out.push(s);
        }
    }
    out
}

/// Every mapped role exists in the tenant, and the caller could bind each
/// of them by hand: a connection must not hand out more than its author
/// may.
pub(crate) async fn check_roles(
    app: &AppState,
    ctx: &Ctx,
    scope: &TenantScope,
    mappings: &[GroupRoleMapping],
) -> ApiResult<()> {
    let mut carried = Grants::NONE;
    let mut c = Checker::default();
    for (i, m) in mappings.iter().enumerate() {
        match app.store.role_grants(scope, &m.role).await {
            Ok(grants) => carried = carried.union(grants),
            Err(Error::NotFound(_)) => c.fail(
                &format!("/group_role_mappings/{i}/role"),
                "unknown_role",
                format!("`{}` is not a role of this tenant", m.role),
            ),
            Err(e) => return Err(e.into()),
        }
    }
    c.finish()?;
    Ok(ctx.may_delegate(scope, carried)?)
}

/// List a tenant's SSO connections, OIDC and SAML alike (`protocol` tells
/// them apart; SAML ones carry `saml`).
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/sso-connections", tag = "sso",
    operation_id = Op::SsoConnectionsList.id(),
    params(("tenant" = String, Path, description = "Tenant slug or id"), PageParams, NameFilter),
    security(("bearer" = [])), responses((status = 200, body = SsoConnectionPage)))]
async fn list(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path(tenant): Path<String>,
    Query(page): Query<PageParams>,
    Query(filter): Query<NameFilter>,
) -> ApiResult<Json<SsoConnectionPage>> {
    let scope = app
        .tenant_scope(&ctx, &tenant, Op::SsoConnectionsList.permission())
        .await?;
    Ok(Json(
        app.store
            .list_sso_connections(&scope, &filter, &page)
            .await?,
    ))
}

/// Add an OpenID Connect connection. The issuer's discovery document
/// (`<issuer>/.well-known/openid-configuration`) and key set are fetched
/// now; a provider that cannot be reached or does not check out answers
/// 422 on `/issuer`. Mapped roles must exist and be ones the caller may
/// grant.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant}/sso-connections", tag = "sso",
    operation_id = Op::SsoConnectionsCreate.id(),
    params(("tenant" = String, Path, description = "Tenant slug or id")),
    request_body = CreateSsoConnection, security(("bearer" = [])),
    responses((status = 201, body = SsoConnection), (status = 422)))]
async fn create(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path(tenant): Path<String>,
    Json(body): Json<CreateSsoConnection>,
) -> ApiResult<(StatusCode, Json<SsoConnection>)> {
    let scope = app
        .tenant_scope(&ctx, &tenant, Op::SsoConnectionsCreate.permission())
        .await?;
    let mut c = Checker::default();
    c.text("/name", &body.name, 1, 200);
    if body.protocol == SsoProtocol::Saml {
        c.fail(
            "/protocol",
            "invalid_value",
            "SAML connections are created at …/saml-connections",
        );
    }
    c.text("/client_id", &body.client_id, 1, 512);
    c.opt_text("/client_secret", body.client_secret.as_deref(), 1, 1024);
    if let Some(scopes) = &body.scopes {
        check_scopes(&mut c, scopes);
    }
    let claims = body.claims.clone().unwrap_or_default();
    check_claims(&mut c, &claims);
    check_mappings(&mut c, &body.group_role_mappings);
    let issuer = sso::check_issuer(&body.issuer, !app.identity.sessions.secure_cookies);
    if let Err(Error::Validation(errors)) = &issuer {
        for e in errors {
            c.fail(&e.field, &e.code, e.message.clone());
        }
    }
    c.finish()?;
    let issuer = issuer?;
    check_roles(&app, &ctx, &scope, &body.group_role_mappings).await?;
    let id = SsoConnectionId::new();
    let sealed = match body.client_secret.as_deref() {
        Some(secret) => Some(app.seal_secret("/client_secret", id.0.as_bytes(), secret)?),
        None => None,
    };
    let metadata = sso::discover(&app.identity.providers, &issuer).await?;
    let settings = SsoConnectionSettings {
        name: body.name.trim().to_owned(),
        issuer,
        client_id: body.client_id.trim().to_owned(),
        scopes: normalized_scopes(body.scopes.as_deref()),
        claims,
        jit_provisioning: body.jit_provisioning,
        group_role_mappings: body.group_role_mappings.clone(),
        enabled: body.enabled.unwrap_or(true),
        metadata,
    };
    Ok((
        StatusCode::CREATED,
        Json(
            app.store
                .create_sso_connection(&scope, id, &settings, sealed, ctx.grants_in(&scope))
                .await?,
        ),
    ))
}

/// Get an SSO connection (without its client secret).
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/sso-connections/{connection_id}", tag = "sso",
    operation_id = Op::SsoConnectionsGet.id(),
    params(("tenant" = String, Path, description = "Tenant slug or id"), ("connection_id" = SsoConnectionId, Path)),
    security(("bearer" = [])), responses((status = 200, body = SsoConnection)))]
async fn get(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path((tenant, id)): Path<(String, SsoConnectionId)>,
) -> ApiResult<Json<SsoConnection>> {
    let scope = app
        .tenant_scope(&ctx, &tenant, Op::SsoConnectionsGet.permission())
        .await?;
    Ok(Json(app.store.get_sso_connection(&scope, id).await?))
}

/// Change an OpenID Connect connection (a SAML one answers 409: it is
/// changed through `…/saml-connections/{connection_id}`). Sending `issuer` (even unchanged) fetches its
/// discovery document again. Changing the mappings needs the right to
/// grant every mapped role. Moving a connection that holds a client secret
/// to another issuer needs `client_secret` again (or `clear_client_secret`),
/// else 422 on `/client_secret`.
#[utoipa::path(patch, path = "/api/v1/tenants/{tenant}/sso-connections/{connection_id}", tag = "sso",
    operation_id = Op::SsoConnectionsUpdate.id(),
    params(("tenant" = String, Path, description = "Tenant slug or id"), ("connection_id" = SsoConnectionId, Path)),
    request_body = UpdateSsoConnection, security(("bearer" = [])),
    responses((status = 200, body = SsoConnection), (status = 409), (status = 422)))]
async fn update(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path((tenant, id)): Path<(String, SsoConnectionId)>,
    Json(body): Json<UpdateSsoConnection>,
) -> ApiResult<Json<SsoConnection>> {
    let scope = app
        .tenant_scope(&ctx, &tenant, Op::SsoConnectionsUpdate.permission())
        .await?;
    // 404 before anything else for a connection of another tenant.
    let current = app.store.get_sso_connection(&scope, id).await?;
    if current.protocol == SsoProtocol::Saml {
        return Err(Error::Conflict(
            "a SAML connection is changed through …/saml-connections/{connection_id}".into(),
        )
        .into());
    }
    let mut c = Checker::default();
    c.opt_text("/name", body.name.as_deref(), 1, 200);
    c.opt_text("/client_id", body.client_id.as_deref(), 1, 512);
    c.opt_text("/client_secret", body.client_secret.as_deref(), 1, 1024);
    c.exclusive(
        "/clear_client_secret",
        body.clear_client_secret,
        body.client_secret.is_some(),
        "client_secret",
    );
    if let Some(scopes) = &body.scopes {
        check_scopes(&mut c, scopes);
    }
    if let Some(claims) = &body.claims {
        check_claims(&mut c, claims);
    }
    if let Some(mappings) = &body.group_role_mappings {
        check_mappings(&mut c, mappings);
    }
    let issuer = body
        .issuer
        .as_deref()
        .map(|i| sso::check_issuer(i, !app.identity.sessions.secure_cookies))
        .transpose();
    if let Err(Error::Validation(errors)) = &issuer {
        for e in errors {
            c.fail(&e.field, &e.code, e.message.clone());
        }
    }
    c.finish()?;
    let issuer = issuer?;
    if let Some(mappings) = &body.group_role_mappings {
        check_roles(&app, &ctx, &scope, mappings).await?;
    } else if issuer.is_some() {
        // Who the connection trusts decides who gets its mapped roles.
        let current = app.store.get_sso_connection(&scope, id).await?;
        check_roles(&app, &ctx, &scope, &current.group_role_mappings).await?;
    }
    let sealed_secret = match (body.client_secret.as_deref(), body.clear_client_secret) {
        (Some(secret), _) => Some(Some(app.seal_secret(
            "/client_secret",
            id.0.as_bytes(),
            secret,
        )?)),
        (None, true) => Some(None),
        (None, false) => None,
    };
    let issuer = match issuer {
        Some(issuer) => {
            let metadata = sso::discover(&app.identity.providers, &issuer).await?;
            Some((issuer, metadata))
        }
        None => None,
    };
    let change = SsoConnectionChange {
        name: body.name.as_deref().map(|n| n.trim().to_owned()),
        issuer,
        client_id: body.client_id.as_deref().map(|n| n.trim().to_owned()),
        sealed_secret,
        scopes: body.scopes.as_deref().map(|s| normalized_scopes(Some(s))),
        claims: body.claims.clone(),
        jit_provisioning: body.jit_provisioning,
        group_role_mappings: body.group_role_mappings.clone(),
        enabled: body.enabled,
    };
    Ok(Json(
        app.store
            .update_sso_connection(&scope, id, &change, ctx.grants_in(&scope))
            .await?,
    ))
}

/// Remove an SSO connection. Its sign-ins in flight and subject links go
/// with it; the role bindings it made stay, as ordinary bindings.
#[utoipa::path(delete, path = "/api/v1/tenants/{tenant}/sso-connections/{connection_id}", tag = "sso",
    operation_id = Op::SsoConnectionsDelete.id(),
    params(("tenant" = String, Path, description = "Tenant slug or id"), ("connection_id" = SsoConnectionId, Path)),
    security(("bearer" = [])), responses((status = 204, description = "Deleted")))]
async fn delete(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path((tenant, id)): Path<(String, SsoConnectionId)>,
) -> ApiResult<StatusCode> {
    let scope = app
        .tenant_scope(&ctx, &tenant, Op::SsoConnectionsDelete.permission())
        .await?;
    app.store.delete_sso_connection(&scope, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
