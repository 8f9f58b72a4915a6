//! The permission catalogue of the admin API: every operation (by its
//! OpenAPI `operationId`) and what it needs. Handlers look their permission
//! up here, the spec carries it as `x-ditto-permission` and `x-ditto-scope`,
//! and the authorization-matrix test reads it from the spec; a test fails
//! when an operation is missing.

use crate::auth::Permission;

use Permission as P;

/// Where an operation acts and what it needs there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// No credentials (health checks).
    Public,
    /// Any valid token; the operation shows the caller only itself.
    Authenticated,
    /// A signed-in user's own sessions, password, second factor and
    /// personal access tokens; service accounts are refused.
    User,
    /// Inside the tenant named in the URL.
    Tenant(Permission),
    /// What the platform shares with every tenant (default prices).
    Shared(Permission),
    /// Across tenants: platform principals only.
    Platform(Permission),
}

impl Access {
    pub fn permission(self) -> Option<Permission> {
        match self {
            Self::Public | Self::Authenticated | Self::User => None,
            Self::Tenant(p) | Self::Shared(p) | Self::Platform(p) => Some(p),
        }
    }

    /// `public`, `authenticated`, `tenant`, `shared` or `platform`.
    pub fn scope(self) -> &'static str {
        match self {
            Self::Public => "public",
            Self::Authenticated => "authenticated",
            Self::User => "user",
            Self::Tenant(_) => "tenant",
            Self::Shared(_) => "shared",
            Self::Platform(_) => "platform",
        }
    }
}

/// Every operation of the admin API.
pub const OPERATIONS: &[(&str, Access)] = {
    use Access::*;
    &[
        ("health_live", Public),
        ("health_ready", Public),
        ("metrics_get", Platform(P::MetricsRead)),
        ("me_get", Authenticated),
        ("tenants_list", Platform(P::TenantsRead)),
        ("tenants_create", Platform(P::TenantsWrite)),
        ("tenants_get", Tenant(P::TenantsRead)),
        ("tenants_update", Platform(P::TenantsWrite)),
        ("tenants_delete", Platform(P::TenantsWrite)),
        ("tenants_suspend", Platform(P::TenantsWrite)),
        ("tenants_resume", Platform(P::TenantsWrite)),
        // Every tenant with its traffic: the tenant list, annotated.
        ("tenant_health_list", Platform(P::TenantsRead)),
        ("projects_list", Tenant(P::ProjectsRead)),
        ("projects_create", Tenant(P::ProjectsWrite)),
        ("projects_get", Tenant(P::ProjectsRead)),
        ("projects_update", Tenant(P::ProjectsWrite)),
        ("projects_delete", Tenant(P::ProjectsWrite)),
        ("users_list", Tenant(P::UsersRead)),
        ("users_create", Tenant(P::UsersWrite)),
        ("users_get", Tenant(P::UsersRead)),
        ("users_update", Tenant(P::UsersWrite)),
        ("users_delete", Tenant(P::UsersWrite)),
        ("service_accounts_list", Tenant(P::ServiceAccountsRead)),
        ("service_accounts_create", Tenant(P::ServiceAccountsWrite)),
        ("service_accounts_get", Tenant(P::ServiceAccountsRead)),
        ("service_accounts_update", Tenant(P::ServiceAccountsWrite)),
        ("service_accounts_delete", Tenant(P::ServiceAccountsWrite)),
        ("access_tokens_list", Tenant(P::ServiceAccountsRead)),
        ("access_tokens_create", Tenant(P::ServiceAccountsWrite)),
        ("access_tokens_revoke", Tenant(P::ServiceAccountsWrite)),
        ("api_keys_list", Tenant(P::KeysRead)),
        ("api_keys_create", Tenant(P::KeysWrite)),
        ("api_keys_get", Tenant(P::KeysRead)),
        ("api_keys_update", Tenant(P::KeysWrite)),
        ("api_keys_revoke", Tenant(P::KeysWrite)),
        ("api_keys_rotate", Tenant(P::KeysWrite)),
        ("backends_list", Tenant(P::BackendsRead)),
        ("backends_create", Tenant(P::BackendsWrite)),
        ("backends_get", Tenant(P::BackendsRead)),
        ("backends_update", Tenant(P::BackendsWrite)),
        ("backends_delete", Tenant(P::BackendsWrite)),
        ("routes_list", Tenant(P::RoutesRead)),
        ("routes_create", Tenant(P::RoutesWrite)),
        ("routes_get", Tenant(P::RoutesRead)),
        ("routes_update", Tenant(P::RoutesWrite)),
        ("routes_delete", Tenant(P::RoutesWrite)),
        ("rate_limits_list", Tenant(P::RateLimitsRead)),
        ("rate_limits_create", Tenant(P::RateLimitsWrite)),
        ("rate_limits_get", Tenant(P::RateLimitsRead)),
        ("rate_limits_update", Tenant(P::RateLimitsWrite)),
        ("rate_limits_delete", Tenant(P::RateLimitsWrite)),
        ("budgets_list", Tenant(P::BudgetsRead)),
        ("budgets_create", Tenant(P::BudgetsWrite)),
        ("budgets_get", Tenant(P::BudgetsRead)),
        ("budgets_update", Tenant(P::BudgetsWrite)),
        ("budgets_delete", Tenant(P::BudgetsWrite)),
        ("model_prices_list", Shared(P::PricingRead)),
        ("model_prices_get", Shared(P::PricingRead)),
        ("model_prices_put", Platform(P::PricingWrite)),
        ("model_prices_delete", Platform(P::PricingWrite)),
        ("model_prices_import", Platform(P::PricingWrite)),
        ("tenant_model_prices_list", Tenant(P::PricingRead)),
        ("tenant_model_prices_get", Tenant(P::PricingRead)),
        ("tenant_model_prices_put", Tenant(P::PricingWrite)),
        ("tenant_model_prices_delete", Tenant(P::PricingWrite)),
        ("tenant_model_prices_import", Tenant(P::PricingWrite)),
        ("usage_query", Tenant(P::UsageRead)),
        ("platform_usage_query", Platform(P::UsageRead)),
        ("roles_list", Tenant(P::RolesRead)),
        ("roles_create", Tenant(P::RolesWrite)),
        ("roles_get", Tenant(P::RolesRead)),
        ("roles_update", Tenant(P::RolesWrite)),
        ("roles_delete", Tenant(P::RolesWrite)),
        ("role_bindings_list", Tenant(P::RoleBindingsRead)),
        ("role_bindings_create", Tenant(P::RoleBindingsWrite)),
        ("role_bindings_delete", Tenant(P::RoleBindingsWrite)),
        ("audit_list", Tenant(P::AuditRead)),
        ("audit_verify", Tenant(P::AuditRead)),
        ("audit_checkpoints_list", Tenant(P::AuditRead)),
        ("audit_checkpoints_create", Tenant(P::AuditExport)),
        ("audit_export", Tenant(P::AuditExport)),
        ("audit_retention_get", Tenant(P::AuditRead)),
        ("audit_retention_update", Tenant(P::AuditManage)),
        ("audit_retention_apply", Tenant(P::AuditManage)),
        ("audit_export_destinations_list", Tenant(P::AuditRead)),
        ("audit_export_destinations_create", Tenant(P::AuditManage)),
        ("audit_export_destinations_get", Tenant(P::AuditRead)),
        ("audit_export_destinations_update", Tenant(P::AuditManage)),
        ("audit_export_destinations_delete", Tenant(P::AuditManage)),
        ("audit_exports_list", Tenant(P::AuditRead)),
        ("audit_exports_create", Tenant(P::AuditExport)),
        ("audit_exports_get", Tenant(P::AuditRead)),
        ("platform_audit_list", Platform(P::AuditRead)),
        ("platform_audit_verify", Platform(P::AuditRead)),
        ("audit_signing_key_get", Authenticated),
        ("auth_sign_in", Public),
        ("auth_sign_out", Public),
        ("me_sessions_list", User),
        ("me_sessions_revoke", User),
        ("me_password_change", User),
        ("me_totp_begin", User),
        ("me_totp_confirm", User),
        ("me_totp_disable", User),
        ("me_recovery_codes_regenerate", User),
        ("me_tokens_list", User),
        ("me_tokens_create", User),
        ("me_tokens_revoke", User),
        ("users_sign_in_get", Tenant(P::UsersRead)),
        ("users_password_set", Tenant(P::UsersWrite)),
        ("users_unlock", Tenant(P::UsersWrite)),
        ("users_totp_reset", Tenant(P::UsersWrite)),
        ("users_sessions_list", Tenant(P::UsersRead)),
        ("users_sessions_revoke", Tenant(P::UsersWrite)),
        ("users_tokens_list", Tenant(P::UsersRead)),
        ("users_tokens_revoke", Tenant(P::UsersWrite)),
        ("groups_list", Tenant(P::UsersRead)),
        ("groups_create", Tenant(P::UsersWrite)),
        ("groups_get", Tenant(P::UsersRead)),
        ("groups_update", Tenant(P::UsersWrite)),
        ("groups_delete", Tenant(P::UsersWrite)),
        ("group_members_list", Tenant(P::UsersRead)),
        ("group_members_add", Tenant(P::UsersWrite)),
        ("group_members_remove", Tenant(P::UsersWrite)),
        ("scim_tokens_list", Tenant(P::ScimRead)),
        ("scim_tokens_create", Tenant(P::ScimWrite)),
        ("scim_tokens_revoke", Tenant(P::ScimWrite)),
        ("sso_connections_list", Tenant(P::SsoRead)),
        ("sso_connections_create", Tenant(P::SsoWrite)),
        ("sso_connections_get", Tenant(P::SsoRead)),
        ("sso_connections_update", Tenant(P::SsoWrite)),
        ("sso_connections_delete", Tenant(P::SsoWrite)),
        ("auth_sso_start", Public),
        ("auth_sso_callback", Public),
        ("saml_connections_create", Tenant(P::SsoWrite)),
        ("saml_connections_update", Tenant(P::SsoWrite)),
        ("auth_saml_start", Public),
        ("auth_saml_acs", Public),
        ("auth_saml_metadata", Public),
        ("auth_sso_discover", Public),
        ("sso_domains_list", Tenant(P::SsoRead)),
        ("sso_domains_create", Tenant(P::SsoWrite)),
        ("sso_domains_get", Tenant(P::SsoRead)),
        ("sso_domains_delete", Tenant(P::SsoWrite)),
        // Proof of ownership is checked by the platform operator.
        ("sso_domains_verify", Platform(P::TenantsWrite)),
        ("sso_policy_get", Tenant(P::SsoRead)),
        ("sso_policy_update", Tenant(P::SsoWrite)),
        // Who may bypass enforced SSO is an owner's decision, like who is
        // owner.
        ("users_break_glass_set", Tenant(P::OwnersWrite)),
    ]
};

/// What `operation` needs. Panics on an operation missing from the
/// catalogue: that is a programming error the tests catch.
pub fn access(operation: &str) -> Access {
    OPERATIONS
        .iter()
        .find(|(id, _)| *id == operation)
        .map(|(_, access)| *access)
        .unwrap_or_else(|| panic!("operation `{operation}` is not in the permission catalogue"))
}

/// The permission `operation` needs.
pub fn permission(operation: &str) -> Permission {
    access(operation)
        .permission()
        .unwrap_or_else(|| panic!("operation `{operation}` needs no permission"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operation_ids_are_unique() {
        let mut ids: Vec<_> = OPERATIONS.iter().map(|(id, _)| *id).collect();
        ids.sort();
        let n = ids.len();
        ids.dedup();
        assert_eq!(ids.len(), n);
    }

    #[test]
    fn platform_only_permissions_are_only_on_platform_operations() {
        for (id, access) in OPERATIONS {
            if let Access::Tenant(p) | Access::Shared(p) = access {
                assert!(!p.is_platform_only(), "{id}");
            }
        }
    }
}
