//! The caller itself: who it is, its tenants and what it may do.

use axum::extract::State;
use ditto_core::catalogue::Op;
use ditto_core::{Actor, Ctx, TenantScope};
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
///
/// A user is named by its email and display name, with whether it signs in
/// with a second factor; a service account by its name. No credential of
/// any kind is part of the answer.
#[utoipa::path(get, path = "/api/v1/me", tag = "me", operation_id = Op::MeGet.id(),
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
    let home = match principal.tenant_id {
        Some(id) => Some(ctx.home(app.store.resolve_tenant(&id.to_string()).await?)?),
        None => None,
    };
    let mut me = Me {
        subject_type,
        subject_id,
        platform_role: principal.platform_role.map(|r| r.as_str().to_owned()),
        platform_permissions: principal
            .platform_role
            .map(|r| r.grants().names())
            .unwrap_or_default(),
        tenants: Vec::new(),
        email: None,
        display_name: None,
        totp_enabled: None,
        must_change_password: None,
        name: None,
    };
    identify(&app, &ctx, home.as_ref(), &mut me).await?;
    if let Some(scope) = &home {
        let tenant = app.store.get_tenant(scope).await?;
        me.tenants.push(MeTenant {
            id: tenant.id,
            slug: tenant.slug,
            name: tenant.name,
            status: tenant.status,
            roles: app
                .store
                .roles_of(scope, &principal.actor.subject())
                .await?,
            permissions: principal.grants.names(),
        });
    }
    Ok(Json(me))
}

/// Fills in who the caller is: a user's email, display name and second
/// factor, or a service account's name. Never a credential.
async fn identify(
    app: &AppState,
    ctx: &Ctx,
    home: Option<&TenantScope>,
    me: &mut Me,
) -> ApiResult<()> {
    match (ctx.principal.actor, home) {
        (Actor::User(id), Some(scope)) => {
            let user = app.store.get_user(scope, id).await?;
            let state = app.store.sign_in_state(scope, id).await?;
            me.email = Some(user.email);
            me.display_name = Some(user.display_name);
            me.totp_enabled = Some(state.totp_enabled);
            // What this session may do, not the account's flag: a single
            // sign-on session is not held by a temporary password.
            me.must_change_password = Some(ctx.session.is_some_and(|s| s.must_change_password));
        }
        (Actor::ServiceAccount(id), Some(scope)) => {
            me.name = Some(app.store.get_service_account(scope, id).await?.name);
        }
        (Actor::ServiceAccount(_), None) => {
            me.name = app.store.own_platform_account_name(&ctx.principal).await?;
        }
        _ => {}
    }
    Ok(())
}
