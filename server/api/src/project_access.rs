//! Authorization by project: roles bound on a project give their
//! permissions for that project's resources (its keys, the project itself).
//! A caller without the permission tenant-wide is checked against its
//! project bindings; lists show only the projects those allow.

use ditto_core::{Ctx, Error, Grants, Permission, Result, TenantScope};
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

impl AppState {
    /// Authorizes `permission` on `project` of `tenant`.
    pub(crate) async fn project_scope(
        &self,
        ctx: &Ctx,
        tenant: &str,
        project: Uuid,
        permission: Permission,
    ) -> Result<TenantScope> {
        let tenant_ref = self.store.resolve_tenant(tenant).await?;
        if let Err(Error::Forbidden(_)) = ctx.tenant(tenant_ref, permission)
            && ctx.principal.tenant_id == Some(tenant_ref.id)
        {
            let in_project = self
                .store
                .grants_in_project(tenant_ref.id, ctx.principal.actor, project)
                .await?;
            if let Ok(scope) = ctx.project(tenant_ref, permission, in_project) {
                return Ok(scope);
            }
        }
        // The tenant-wide check, with its answer (and its audit of a refusal).
        self.tenant_scope(ctx, tenant, permission).await
    }

    /// Authorizes `permission` on the project an API key belongs to.
    pub(crate) async fn key_scope(
        &self,
        ctx: &Ctx,
        tenant: &str,
        key: ditto_types::ApiKeyId,
        permission: Permission,
    ) -> Result<TenantScope> {
        let tenant_ref = self.store.resolve_tenant(tenant).await?;
        if ctx.principal.platform_role.is_none()
            && ctx.principal.tenant_id == Some(tenant_ref.id)
            && !ctx.principal.grants.contains(permission)
        {
            // Which project the key is in decides; an unknown key falls
            // through to the tenant-wide check.
            let home = ctx.home(tenant_ref)?;
            if let Some(project) = self.store.api_key_project(&home, key).await? {
                return self.project_scope(ctx, tenant, project, permission).await;
            }
        }
        self.tenant_scope(ctx, tenant, permission).await
    }

    /// Authorizes listing what `permission` reads: the whole tenant, or the
    /// projects where project role bindings grant it.
    pub(crate) async fn list_reach(
        &self,
        ctx: &Ctx,
        tenant: &str,
        permission: Permission,
    ) -> Result<Reach> {
        let tenant_ref = self.store.resolve_tenant(tenant).await?;
        if let Err(Error::Forbidden(_)) = ctx.tenant(tenant_ref, permission)
            && ctx.principal.tenant_id == Some(tenant_ref.id)
        {
            let projects = self
                .store
                .projects_granting(tenant_ref.id, ctx.principal.actor, permission)
                .await?;
            let limited = ctx.principal.limit.is_none_or(|l| l.contains(permission));
            if !projects.is_empty() && limited {
                let scope = ctx.project(tenant_ref, permission, Grants::of(&[permission]))?;
                return Ok(Reach::Projects(scope, projects));
            }
        }
        Ok(Reach::Tenant(
            self.tenant_scope(ctx, tenant, permission).await?,
        ))
    }
}
