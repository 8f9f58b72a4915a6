//! A tenant's SAML 2.0 connections: created and changed here, listed, read
//! and deleted with the OpenID ones under `…/sso-connections` (the same
//! shape, `protocol: saml`). The provider's metadata is fetched (by URL)
//! or taken (inline) and checked when saved, so a provider without a
//! signing certificate or a redirect endpoint fails here, not at sign-in.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use ditto_core::catalogue::Op;
use ditto_core::validate::Checker;
use ditto_core::{Error, Result};
use ditto_identity::sso::check_issuer;
use ditto_saml::metadata::{
    IdpMetadata, MAX_METADATA_BYTES, fetch_idp_metadata, read_idp_metadata,
};
use ditto_store::saml::{
    SamlConnectionChange, SamlConnectionSettings, SamlMetadata, metadata_path,
};
use ditto_types::SsoConnectionId;
use ditto_types::api::{CreateSamlConnection, SsoConnection, UpdateSamlConnection};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::sso_connections::{check_claims, check_mappings, check_roles};
use crate::AppState;
use crate::error::ApiResult;
use crate::extract::{Auth, Json, Path};

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create))
        .routes(routes!(update))
}

fn check_name_id_format(c: &mut Checker, format: Option<&str>) {
    let Some(format) = format else { return };
    // urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress, …:2.0:…:persistent, …
    let ok = format.len() <= 255
        && format.starts_with("urn:oasis:names:tc:SAML:")
        && format.contains(":nameid-format:")
        && format.bytes().all(|b| b.is_ascii_graphic());
    if !ok {
        c.fail(
            "/name_id_format",
            "invalid_value",
            "a NameID format is a urn:oasis:names:tc:SAML:…:nameid-format:… URN",
        );
    }
}

fn check_entity_id(c: &mut Checker, entity_id: Option<&str>) {
    let Some(id) = entity_id else { return };
    // An absolute URI: a URL or a URN.
    let ok = !id.is_empty()
        && id.len() <= 1024
        && id.bytes().all(|b| b.is_ascii_graphic())
        && url::Url::parse(id).is_ok();
    if !ok {
        c.fail(
            "/sp_entity_id",
            "invalid_value",
            "an entity id is an absolute URI (a URL or a URN) of at most 1024 characters",
        );
    }
}

/// Checks where the metadata comes from before anything is fetched.
fn check_source(app: &AppState, c: &mut Checker, url: Option<&str>, xml: Option<&str>) {
    if let Some(url) = url
        && let Err(Error::Validation(errors)) =
            check_issuer(url, !app.identity.sessions.secure_cookies)
    {
        for e in errors {
            c.fail("/idp_metadata_url", &e.code, e.message.clone());
        }
    }
    if xml.is_some_and(|x| x.is_empty() || x.len() > MAX_METADATA_BYTES) {
        c.fail(
            "/idp_metadata_xml",
            "invalid_length",
            "the metadata is 1 byte to 1 MiB",
        );
    }
    if url.is_some() && xml.is_some() {
        c.fail(
            "/idp_metadata_xml",
            "exclusive",
            "give the metadata by URL or as XML, not both",
        );
    }
}

/// Fetches (by URL) or takes (inline) the provider's metadata and checks it.
async fn load_metadata(
    app: &AppState,
    url: Option<&str>,
    xml: Option<&str>,
) -> Result<(SamlMetadata, IdpMetadata)> {
    let (field, xml, url) = match (url, xml) {
        (Some(url), _) => {
            let url = url.trim().to_owned();
            let xml =
                fetch_idp_metadata(&app.identity.providers, "/idp_metadata_url", &url).await?;
            ("/idp_metadata_url", xml, Some(url))
        }
        (None, Some(xml)) => ("/idp_metadata_xml", xml.to_owned(), None),
        (None, None) => {
            return Err(Error::invalid(
                "/idp_metadata_url",
                "required",
                "give the identity provider's metadata by URL (idp_metadata_url) or as XML (idp_metadata_xml)",
            ));
        }
    };
    let idp = read_idp_metadata(field, &xml)?;
    Ok((
        SamlMetadata {
            idp_entity_id: idp.entity_id.clone(),
            xml,
            url,
            summary: idp.summary(),
        },
        idp,
    ))
}

/// Add a SAML 2.0 connection. The identity provider's metadata is fetched
/// from `idp_metadata_url` now (no redirects, 10 s, 1 MiB) or taken from
/// `idp_metadata_xml`; it must describe an identity provider with a
/// single sign-on service for the HTTP-Redirect binding and at least one
/// signing certificate (422 `invalid_metadata` otherwise). Our entity id
/// defaults to the connection's metadata URL. Mapped roles must exist and
/// be ones the caller may grant. The answer has the shape of every SSO
/// connection, with `protocol: saml`.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant}/saml-connections", tag = "sso",
    operation_id = Op::SamlConnectionsCreate.id(),
    params(("tenant" = String, Path, description = "Tenant slug or id")),
    request_body = CreateSamlConnection, security(("bearer" = [])),
    responses((status = 201, body = SsoConnection), (status = 422)))]
async fn create(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    Json(body): Json<CreateSamlConnection>,
) -> ApiResult<(StatusCode, Json<SsoConnection>)> {
    let scope = app
        .tenant_scope(&ctx, &tenant, Op::SamlConnectionsCreate.permission())
        .await?;
    let mut c = Checker::default();
    c.text("/name", &body.name, 1, 200);
    check_source(
        &app,
        &mut c,
        body.idp_metadata_url.as_deref(),
        body.idp_metadata_xml.as_deref(),
    );
    check_entity_id(&mut c, body.sp_entity_id.as_deref());
    check_name_id_format(&mut c, body.name_id_format.as_deref());
    let claims = body.claims.clone().unwrap_or_default();
    check_claims(&mut c, &claims);
    check_mappings(&mut c, &body.group_role_mappings);
    c.finish()?;
    check_roles(&app, &ctx, &scope, &body.group_role_mappings).await?;
    let (metadata, _) = load_metadata(
        &app,
        body.idp_metadata_url.as_deref(),
        body.idp_metadata_xml.as_deref(),
    )
    .await?;
    let id = SsoConnectionId::new();
    let sp_entity_id = match &body.sp_entity_id {
        Some(entity_id) => entity_id.clone(),
        None => crate::public_url::absolute(&app, &headers, &metadata_path(id))?,
    };
    let settings = SamlConnectionSettings {
        name: body.name.trim().to_owned(),
        idp_entity_id: metadata.idp_entity_id,
        sp_entity_id,
        idp_metadata_xml: metadata.xml,
        idp_metadata_url: metadata.url,
        idp_summary: metadata.summary,
        name_id_format: body.name_id_format.clone(),
        claims,
        jit_provisioning: body.jit_provisioning,
        group_role_mappings: body.group_role_mappings.clone(),
        allow_idp_initiated: body.allow_idp_initiated,
        enabled: body.enabled.unwrap_or(true),
    };
    Ok((
        StatusCode::CREATED,
        Json(
            app.store
                .create_saml_connection(&scope, id, &settings, ctx.grants_in(&scope))
                .await?,
        ),
    ))
}

/// Change a SAML 2.0 connection. Sending `idp_metadata_url` (even
/// unchanged) fetches the metadata again; sending `idp_metadata_xml`
/// replaces it (and forgets the URL). Our entity id does not change (the
/// provider knows us by it). An OIDC connection answers 404 here.
#[utoipa::path(patch, path = "/api/v1/tenants/{tenant}/saml-connections/{connection_id}", tag = "sso",
    operation_id = Op::SamlConnectionsUpdate.id(),
    params(("tenant" = String, Path, description = "Tenant slug or id"), ("connection_id" = SsoConnectionId, Path)),
    request_body = UpdateSamlConnection, security(("bearer" = [])),
    responses((status = 200, body = SsoConnection), (status = 404), (status = 422)))]
async fn update(
    State(app): State<AppState>,
    Auth(ctx): Auth,
    Path((tenant, id)): Path<(String, SsoConnectionId)>,
    Json(body): Json<UpdateSamlConnection>,
) -> ApiResult<Json<SsoConnection>> {
    let scope = app
        .tenant_scope(&ctx, &tenant, Op::SamlConnectionsUpdate.permission())
        .await?;
    // 404 before anything else for a connection of another tenant.
    app.store.get_sso_connection(&scope, id).await?;
    let mut c = Checker::default();
    c.opt_text("/name", body.name.as_deref(), 1, 200);
    check_source(
        &app,
        &mut c,
        body.idp_metadata_url.as_deref(),
        body.idp_metadata_xml.as_deref(),
    );
    check_name_id_format(&mut c, body.name_id_format.as_deref());
    c.exclusive(
        "/clear_name_id_format",
        body.clear_name_id_format,
        body.name_id_format.is_some(),
        "name_id_format",
    );
    if let Some(claims) = &body.claims {
        check_claims(&mut c, claims);
    }
    if let Some(mappings) = &body.group_role_mappings {
        check_mappings(&mut c, mappings);
    }
    c.finish()?;
    let moves = body.idp_metadata_url.is_some() || body.idp_metadata_xml.is_some();
    if let Some(mappings) = &body.group_role_mappings {
        check_roles(&app, &ctx, &scope, mappings).await?;
    } else if moves {
        // Who the connection trusts decides who gets its mapped roles.
        let current = app.store.get_sso_connection(&scope, id).await?;
        check_roles(&app, &ctx, &scope, &current.group_role_mappings).await?;
    }
    let metadata = if body.idp_metadata_url.is_some() || body.idp_metadata_xml.is_some() {
        Some(
            load_metadata(
                &app,
                body.idp_metadata_url.as_deref(),
                body.idp_metadata_xml.as_deref(),
            )
            .await?
            .0,
        )
    } else {
        None
    };
    let name_id_format = match (&body.name_id_format, body.clear_name_id_format) {
        (Some(format), _) => Some(Some(format.clone())),
        (None, true) => Some(None),
        (None, false) => None,
    };
    let change = SamlConnectionChange {
        name: body.name.as_deref().map(|n| n.trim().to_owned()),
        metadata,
        name_id_format,
        claims: body.claims.clone(),
        jit_provisioning: body.jit_provisioning,
        group_role_mappings: body.group_role_mappings.clone(),
        allow_idp_initiated: body.allow_idp_initiated,
        enabled: body.enabled,
    };
    Ok(Json(
        app.store
            .update_saml_connection(&scope, id, &change, ctx.grants_in(&scope))
            .await?,
    ))
}
