//! Authorization by project: roles bound on a project give their
//! permissions for that project's resources (its keys, the project itself).
//! A caller without the permission tenant-wide is checked against its
//! project bindings; lists show only the projects those allow. The tenant
//! is resolved once, and a refusal is recorded like any other.

use ditto_core::{Ctx, Grants, Permission, Result, TenantRef, TenantScope};
use uuid::Uuid;

use crate::AppState;

/// Which projects a list may show the caller.
pub(crate) enum Reach {
    /// The whole tenant.
    Tenant(TenantScope),
    /// Only these projects, through project role bindings.
    Projects(TenantScope, Vec<Uuid>),
}

impl Reach {
    pub(crate) fn scope(&self) -> &TenantScope {
        match self {
            Self::Tenant(scope) | Self::Projects(scope, _) => scope,
        }
    }

    pub(crate) fn within(&self) -> Option<&[Uuid]> {
        match self {
            Self::Tenant(_) => None,
            Self::Projects(_, projects) => Some(projects),
        }
    }
}

/// Whether the caller, a member of `tenant`, lacks `permission` tenant-wide,
/// so that its project bindings are worth looking up.
fn needs_project_grants(ctx: &Ctx, tenant: TenantRef, permission: Permission) -> bool {
    ctx.principal.platform_role.is_none()
        && ctx.principal.tenant_id == Some(tenant.id)
        && !ctx.principal.grants.contains(permission)
}

impl AppState {
    /// What the caller holds on `project` through project bindings (none
    /// when it needs none or has none).
    async fn project_grants(
        &self,
        ctx: &Ctx,
        tenant: TenantRef,
        permission: Permission,
        project: Option<Uuid>,
    ) -> Result<Grants> {
        match project {
            Some(project) if needs_project_grants(ctx, tenant, permission) => {
                self.store
                    .grants_in_project(tenant.id, ctx.principal.actor, project)
                    .await
            }
            _ => Ok(Grants::NONE),
        }
    }

    /// Authorizes `permission` on `project` of `tenant`.
    pub(crate) async fn project_scope(
        &self,
        ctx: &Ctx,
        tenant: &str,
        project: Uuid,
        permission: Permission,
    ) -> Result<TenantScope> {
        let tenant = self.store.resolve_tenant(tenant).await?;
        let in_project = self
            .project_grants(ctx, tenant, permission, Some(project))
            .await?;
        let outcome = ctx.project(tenant, permission, in_project);
        self.noting_refusal(ctx, tenant, permission, outcome).await
    }

    /// Authorizes `permission` on the project an API key belongs to. An
    /// unknown key is judged tenant-wide.
    pub(crate) async fn key_scope(
        &self,
        ctx: &Ctx,
        tenant: &str,
        key: ditto_types::ApiKeyId,
        permission: Permission,
    ) -> Result<TenantScope> {
        let tenant = self.store.resolve_tenant(tenant).await?;
        let project = if needs_project_grants(ctx, tenant, permission) {
            self.store.api_key_project(&ctx.home(tenant)?, key).await?
        } else {
            None
        };
        let in_project = self
            .project_grants(ctx, tenant, permission, project)
            .await?;
        let outcome = ctx.project(tenant, permission, in_project);
        self.noting_refusal(ctx, tenant, permission, outcome).await
    }

    /// Authorizes listing what `permission` reads: the whole tenant, or the
    /// projects where project role bindings grant it.
    pub(crate) async fn list_reach(
        &self,
        ctx: &Ctx,
        tenant: &str,
        permission: Permission,
    ) -> Result<Reach> {
        let tenant = self.store.resolve_tenant(tenant).await?;
        if needs_project_grants(ctx, tenant, permission)
            && ctx.principal.limit.is_none_or(|l| l.contains(permission))
        {
            let projects = self
                .store
                .projects_granting(tenant.id, ctx.principal.actor, permission)
                .await?;
            if !projects.is_empty() {
                let scope = ctx.project(tenant, permission, Grants::of(&[permission]))?;
                return Ok(Reach::Projects(scope, projects));
            }
        }
        let outcome = ctx.tenant(tenant, permission);
        Ok(Reach::Tenant(
            self.noting_refusal(ctx, tenant, permission, outcome)
                .await?,
        ))
    }
}
