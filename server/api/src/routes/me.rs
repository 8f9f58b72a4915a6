//! The caller itself: who it is, its tenants and what it may do.

use axum::extract::State;
use ditto_core::Actor;
use ditto_types::api::{Me, MeTenant, SubjectKind};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::AppState;
use crate::error::ApiResult;
use crate::extract::{Auth, Json};

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(me))
}

/// Who am I: the caller's identity, its tenants with its roles there, and
/// its effective permissions. Any valid token may call it.
#[utoipa::path(get, path = "/api/v1/me", tag = "me", operation_id = "me_get",
    security(("bearer" = [])), responses((status = 200, body = Me)))]
async fn me(State(app): State<AppState>, Auth(ctx): Auth) -> ApiResult<Json<Me>> {
    let principal = &ctx.principal;
    let (subject_type, subject_id) = match principal.actor {
        Actor::ServiceAccount(id) => (SubjectKind::ServiceAccount, id.0),
        Actor::User(id) => (SubjectKind::User, id.0),
        // SCIM tokens authenticate only the SCIM endpoint.
        Actor::ScimToken(_) => {
            return Err(ditto_core::Error::Unauthenticated(
                "a SCIM token is not an admin API token",
            )
            .into());
        }
    };
    let mut tenants = Vec::new();
    if let Some(id) = principal.tenant_id {
        let home = app.store.resolve_tenant(&id.to_string()).await?;
        let scope = ctx.home(home)?;
        let tenant = app.store.get_tenant(&scope).await?;
        tenants.push(MeTenant {
            id: tenant.id,
            slug: tenant.slug,
            name: tenant.name,
            status: tenant.status,
            roles: app
                .store
                .roles_of(&scope, &principal.actor.subject())
                .await?,
            permissions: principal.grants.names(),
        });
    }
    Ok(Json(Me {
        subject_type,
        subject_id,
        platform_role: principal.platform_role.map(|r| r.as_str().to_owned()),
        platform_permissions: principal
            .platform_role
            .map(|r| r.grants().names())
            .unwrap_or_default(),
        tenants,
    }))
}
