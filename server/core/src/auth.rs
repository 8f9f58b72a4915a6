//! The authorization seam. Every request carries a [`Ctx`]; before touching
//! data a handler trades it, with the [`Permission`] it needs, for a
//! [`TenantScope`] or a [`PlatformScope`]. Repositories accept only those
//! scopes, and the scopes can only be made here, so skipping the check does
//! not compile.
//!
//! The full role model (Casbin) replaces [`Ctx::allows`]; the seam stays.

use ditto_types::{ServiceAccountId, TenantId, api::TenantStatus};

use crate::{Error, Result};

/// Who is calling.
#[derive(Clone, Debug)]
pub struct Principal {
    pub actor: Actor,
    /// The tenant the principal belongs to; `None` for platform principals.
    pub tenant_id: Option<TenantId>,
    /// Platform administrators may act on every tenant.
    pub platform_admin: bool,
}

/// The identity recorded as the author of a change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Actor {
    ServiceAccount(ServiceAccountId),
}

/// Everything an operation needs to know about its caller.
#[derive(Clone, Debug)]
pub struct Ctx {
    pub principal: Principal,
    pub request_id: String,
}

/// What an operation needs to be allowed. Names are `resource:action`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Permission {
    TenantsRead,
    TenantsWrite,
    ProjectsRead,
    ProjectsWrite,
    UsersRead,
    UsersWrite,
    ServiceAccountsRead,
    ServiceAccountsWrite,
    KeysRead,
    KeysWrite,
    BackendsRead,
    BackendsWrite,
    RoutesRead,
    RoutesWrite,
    RateLimitsRead,
    RateLimitsWrite,
    BudgetsRead,
    BudgetsWrite,
    PricingRead,
    PricingWrite,
    UsageRead,
    MetricsRead,
}

impl Permission {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::TenantsRead => "tenants:read",
            Self::TenantsWrite => "tenants:write",
            Self::ProjectsRead => "projects:read",
            Self::ProjectsWrite => "projects:write",
            Self::UsersRead => "users:read",
            Self::UsersWrite => "users:write",
            Self::ServiceAccountsRead => "service_accounts:read",
            Self::ServiceAccountsWrite => "service_accounts:write",
            Self::KeysRead => "keys:read",
            Self::KeysWrite => "keys:write",
            Self::BackendsRead => "backends:read",
            Self::BackendsWrite => "backends:write",
            Self::RoutesRead => "routes:read",
            Self::RoutesWrite => "routes:write",
            Self::RateLimitsRead => "rate_limits:read",
            Self::RateLimitsWrite => "rate_limits:write",
            Self::BudgetsRead => "budgets:read",
            Self::BudgetsWrite => "budgets:write",
            Self::PricingRead => "pricing:read",
            Self::PricingWrite => "pricing:write",
            Self::UsageRead => "usage:read",
            Self::MetricsRead => "metrics:read",
        }
    }

    /// Permissions only platform principals can hold.
    fn is_platform_only(self) -> bool {
        matches!(self, Self::TenantsWrite | Self::MetricsRead)
    }
}

/// The facts about a tenant that authorization needs.
#[derive(Clone, Copy, Debug)]
pub struct TenantRef {
    pub id: TenantId,
    pub status: TenantStatus,
}

/// Proof that the caller may act inside one tenant.
#[derive(Clone, Debug)]
pub struct TenantScope {
    tenant_id: TenantId,
    actor: Actor,
}

impl TenantScope {
    pub fn tenant_id(&self) -> TenantId {
        self.tenant_id
    }
    pub fn actor(&self) -> Actor {
        self.actor
    }
}

/// Proof that the caller may read what the platform shares with every
/// tenant (the default price list), and nothing tenant-owned.
#[derive(Clone, Debug)]
pub struct SharedScope {
    actor: Actor,
}

impl SharedScope {
    pub fn actor(&self) -> Actor {
        self.actor
    }
}

/// Proof that the caller may act across tenants. Grep for `PlatformScope` to
/// find every platform-wide path.
#[derive(Clone, Debug)]
pub struct PlatformScope {
    actor: Actor,
}

impl PlatformScope {
    pub fn actor(&self) -> Actor {
        self.actor
    }
}

impl Ctx {
    /// Authorize a platform-wide operation.
    pub fn platform(&self, permission: Permission) -> Result<PlatformScope> {
        if self.principal.platform_admin {
            return Ok(PlatformScope {
                actor: self.principal.actor,
            });
        }
        Err(Error::Forbidden(format!(
            "`{}` across tenants requires a platform administrator",
            permission.as_str()
        )))
    }

    /// Authorize an operation inside `tenant`. Another tenant's resources
    /// answer 404, so their existence does not leak.
    pub fn tenant(&self, tenant: TenantRef, permission: Permission) -> Result<TenantScope> {
        let scope = TenantScope {
            tenant_id: tenant.id,
            actor: self.principal.actor,
        };
        if self.principal.platform_admin {
            return Ok(scope);
        }
        if self.principal.tenant_id != Some(tenant.id) {
            return Err(Error::NotFound("tenant"));
        }
        if tenant.status == TenantStatus::Suspended {
            return Err(Error::Forbidden("this tenant is suspended".into()));
        }
        if !self.allows(permission) {
            return Err(Error::Forbidden(format!(
                "missing permission `{}`",
                permission.as_str()
            )));
        }
        Ok(scope)
    }

    /// Authorize reading what the platform shares with every tenant: any
    /// platform administrator, or a member of an active tenant holding
    /// `permission`. `home` is the caller's own tenant (`None` for platform
    /// principals).
    pub fn shared(&self, home: Option<TenantRef>, permission: Permission) -> Result<SharedScope> {
        let scope = SharedScope {
            actor: self.principal.actor,
        };
        if self.principal.platform_admin {
            return Ok(scope);
        }
        match (self.principal.tenant_id, home) {
            (Some(own), Some(home)) if own == home.id => {
                if home.status == TenantStatus::Suspended {
                    return Err(Error::Forbidden("this tenant is suspended".into()));
                }
                if !self.allows(permission) {
                    return Err(Error::Forbidden(format!(
                        "missing permission `{}`",
                        permission.as_str()
                    )));
                }
                Ok(scope)
            }
            _ => Err(Error::Forbidden(format!(
                "`{}` requires a tenant member or a platform administrator",
                permission.as_str()
            ))),
        }
    }

    /// Until roles exist, a tenant principal holds every tenant permission.
    fn allows(&self, permission: Permission) -> bool {
        !permission.is_platform_only()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(tenant: Option<TenantId>, platform_admin: bool) -> Ctx {
        Ctx {
            principal: Principal {
                actor: Actor::ServiceAccount(ServiceAccountId::new()),
                tenant_id: tenant,
                platform_admin,
            },
            request_id: "test".into(),
        }
    }

    fn active(id: TenantId) -> TenantRef {
        TenantRef {
            id,
            status: TenantStatus::Active,
        }
    }

    #[test]
    fn platform_admin_reaches_every_tenant() {
        let admin = ctx(None, true);
        let t = TenantId::new();
        let scope = admin.tenant(active(t), Permission::KeysWrite).unwrap();
        assert_eq!(scope.tenant_id(), t);
        assert!(admin.platform(Permission::TenantsWrite).is_ok());
    }

    #[test]
    fn tenant_principal_sees_other_tenants_as_missing() {
        let own = TenantId::new();
        let member = ctx(Some(own), false);
        assert!(member.tenant(active(own), Permission::KeysWrite).is_ok());
        let err = member
            .tenant(active(TenantId::new()), Permission::KeysRead)
            .unwrap_err();
        assert!(matches!(err, Error::NotFound("tenant")));
        assert!(matches!(
            member.platform(Permission::TenantsRead),
            Err(Error::Forbidden(_))
        ));
    }

    #[test]
    fn shared_data_is_for_members_of_active_tenants_and_platform_admins() {
        let own = TenantId::new();
        let member = ctx(Some(own), false);
        assert!(
            member
                .shared(Some(active(own)), Permission::PricingRead)
                .is_ok()
        );
        // A home tenant that is not the caller's proves nothing.
        assert!(
            member
                .shared(Some(active(TenantId::new())), Permission::PricingRead)
                .is_err()
        );
        assert!(member.shared(None, Permission::PricingRead).is_err());
        let suspended = TenantRef {
            id: own,
            status: TenantStatus::Suspended,
        };
        assert!(
            member
                .shared(Some(suspended), Permission::PricingRead)
                .is_err()
        );
        assert!(
            ctx(None, true)
                .shared(None, Permission::PricingRead)
                .is_ok()
        );
        assert!(
            ctx(None, false)
                .shared(None, Permission::PricingRead)
                .is_err()
        );
    }

    #[test]
    fn suspended_tenant_refuses_its_own_principals() {
        let own = TenantId::new();
        let member = ctx(Some(own), false);
        let suspended = TenantRef {
            id: own,
            status: TenantStatus::Suspended,
        };
        assert!(matches!(
            member.tenant(suspended, Permission::ProjectsRead),
            Err(Error::Forbidden(_))
        ));
        assert!(
            ctx(None, true)
                .tenant(suspended, Permission::ProjectsRead)
                .is_ok()
        );
    }
}
