//! The built-in roles and what each may do. Casbin (in `ditto_store::rbac`)
//! decides which roles a subject holds where; this table decides what a role
//! means. Custom roles are a tenant's own sets of catalogue permissions.

use crate::auth::{Grants, Permission, PlatformRole};

use Permission as P;

/// A role every tenant has.
#[derive(Clone, Copy, Debug)]
pub struct BuiltinRole {
    pub name: &'static str,
    pub description: &'static str,
}

/// The tenant roles, most powerful first.
pub const TENANT_ROLES: &[BuiltinRole] = &[
    BuiltinRole {
        name: "owner",
        description: "Everything in the tenant, including granting and revoking `owner`",
    },
    BuiltinRole {
        name: "admin",
        description: "Everything in the tenant except granting or revoking `owner`",
    },
    BuiltinRole {
        name: "developer",
        description: "Manages gateway keys; reads projects, routes, prices and usage",
    },
    BuiltinRole {
        name: "viewer",
        description: "Reads everything in the tenant; changes nothing",
    },
    BuiltinRole {
        name: "auditor",
        description: "Reads members, roles, bindings, usage and the audit trail; exports the audit trail",
    },
    BuiltinRole {
        name: "operator",
        description: "Manages backends, routes and rate limits",
    },
    BuiltinRole {
        name: "billing",
        description: "Manages budgets and prices; reads usage",
    },
];

/// The platform roles (platform service accounts only).
pub const PLATFORM_ROLES: &[PlatformRole] = &[PlatformRole::Admin, PlatformRole::Auditor];

/// The permissions of a built-in tenant role; `None` for any other name.
pub fn builtin_grants(name: &str) -> Option<Grants> {
    let all = Grants::tenant_all();
    let reads = all.filter(P::is_read);
    let g = match name {
        "owner" => all,
        "admin" => Grants::short_of_owner(),
        "developer" => Grants::of(&[
            P::TenantsRead,
            P::ProjectsRead,
            P::KeysRead,
            P::KeysWrite,
            P::RoutesRead,
            P::PricingRead,
            P::UsageRead,
        ]),
        "viewer" => reads,
        "auditor" => Grants::of(&[
            P::TenantsRead,
            P::ProjectsRead,
            P::UsersRead,
            P::ServiceAccountsRead,
            P::RolesRead,
            P::RoleBindingsRead,
            P::UsageRead,
            P::AuditRead,
            P::AuditExport,
        ]),
        "operator" => Grants::of(&[
            P::TenantsRead,
            P::ProjectsRead,
            P::BackendsRead,
            P::BackendsWrite,
            P::RoutesRead,
            P::RoutesWrite,
            P::RateLimitsRead,
            P::RateLimitsWrite,
            P::BudgetsRead,
            P::PricingRead,
            P::UsageRead,
        ]),
        "billing" => Grants::of(&[
            P::TenantsRead,
            P::ProjectsRead,
            P::BudgetsRead,
            P::BudgetsWrite,
            P::PricingRead,
            P::PricingWrite,
            P::UsageRead,
        ]),
        _ => return None,
    };
    Some(g)
}

/// Whether `name` is reserved for a built-in (tenant or platform) role.
pub fn is_builtin(name: &str) -> bool {
    builtin_grants(name).is_some() || PlatformRole::parse(name).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_role_has_permissions_and_none_is_platform_only() {
        for role in TENANT_ROLES {
            let g = builtin_grants(role.name).unwrap();
            assert!(g.contains(P::TenantsRead), "{}", role.name);
            assert!(g.iter().all(|p| !p.is_platform_only()), "{}", role.name);
        }
    }

    #[test]
    fn only_owner_covers_owner() {
        let owner = builtin_grants("owner").unwrap();
        for role in TENANT_ROLES {
            let g = builtin_grants(role.name).unwrap();
            assert!(owner.covers(g));
            assert_eq!(g.covers(owner), role.name == "owner");
        }
        assert!(
            builtin_grants("admin")
                .unwrap()
                .covers(builtin_grants("developer").unwrap())
        );
        assert!(
            !builtin_grants("developer")
                .unwrap()
                .covers(builtin_grants("admin").unwrap())
        );
    }
}
