//! The permission catalogue of the admin API: every operation, as a
//! variant of [`Op`] with its OpenAPI `operationId`, and what it needs.
//! Handlers name their operation with it, the spec carries it as
//! `x-ditto-permission` and `x-ditto-scope`, and the authorization-matrix
//! test reads it from the spec; a test fails when an operation is missing.

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

/// Declares every operation: its variant of [`Op`], its OpenAPI
/// `operationId` and what it needs.
macro_rules! operations {
    ($($(#[$doc:meta])* $variant:ident = $id:literal => $access:expr,)*) => {
        /// An operation of the admin API. Handlers name theirs with it, for
        /// the spec's `operationId` ([`Op::id`]) and the permission they
        /// check ([`Op::permission`]), so a misspelt one does not compile.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Op {
            $($(#[$doc])* $variant,)*
        }

        impl Op {
            /// Every operation, in catalogue order.
            pub const ALL: &'static [Op] = &[$(Op::$variant,)*];

            /// The OpenAPI `operationId`.
            pub const fn id(self) -> &'static str {
                match self {
                    $(Op::$variant => $id,)*
                }
            }

            /// Where the operation acts and what it needs there.
            pub const fn access(self) -> Access {
                use Access::*;
                match self {
                    $(Op::$variant => $access,)*
                }
            }
        }
    };
}

operations! {
    /// Every operation of the admin API.
    HealthLive = "health_live" => Public,
    HealthReady = "health_ready" => Public,
    MetricsGet = "metrics_get" => Platform(P::MetricsRead),
    MeGet = "me_get" => Authenticated,
    TenantsList = "tenants_list" => Platform(P::TenantsRead),
    TenantsCreate = "tenants_create" => Platform(P::TenantsWrite),
    TenantsGet = "tenants_get" => Tenant(P::TenantsRead),
    TenantsUpdate = "tenants_update" => Platform(P::TenantsWrite),
    TenantsDelete = "tenants_delete" => Platform(P::TenantsWrite),
    TenantsSuspend = "tenants_suspend" => Platform(P::TenantsWrite),
    TenantsResume = "tenants_resume" => Platform(P::TenantsWrite),
    // Every tenant with its traffic: the tenant list, annotated.
    TenantHealthList = "tenant_health_list" => Platform(P::TenantsRead),
    ProjectsList = "projects_list" => Tenant(P::ProjectsRead),
    ProjectsCreate = "projects_create" => Tenant(P::ProjectsWrite),
    ProjectsGet = "projects_get" => Tenant(P::ProjectsRead),
    ProjectsUpdate = "projects_update" => Tenant(P::ProjectsWrite),
    ProjectsDelete = "projects_delete" => Tenant(P::ProjectsWrite),
    UsersList = "users_list" => Tenant(P::UsersRead),
    UsersCreate = "users_create" => Tenant(P::UsersWrite),
    UsersGet = "users_get" => Tenant(P::UsersRead),
    UsersUpdate = "users_update" => Tenant(P::UsersWrite),
    UsersDelete = "users_delete" => Tenant(P::UsersWrite),
    ServiceAccountsList = "service_accounts_list" => Tenant(P::ServiceAccountsRead),
    ServiceAccountsCreate = "service_accounts_create" => Tenant(P::ServiceAccountsWrite),
    ServiceAccountsGet = "service_accounts_get" => Tenant(P::ServiceAccountsRead),
    ServiceAccountsUpdate = "service_accounts_update" => Tenant(P::ServiceAccountsWrite),
    ServiceAccountsDelete = "service_accounts_delete" => Tenant(P::ServiceAccountsWrite),
    AccessTokensList = "access_tokens_list" => Tenant(P::ServiceAccountsRead),
    AccessTokensCreate = "access_tokens_create" => Tenant(P::ServiceAccountsWrite),
    AccessTokensRevoke = "access_tokens_revoke" => Tenant(P::ServiceAccountsWrite),
    ApiKeysList = "api_keys_list" => Tenant(P::KeysRead),
    ApiKeysCreate = "api_keys_create" => Tenant(P::KeysWrite),
    ApiKeysGet = "api_keys_get" => Tenant(P::KeysRead),
    ApiKeysUpdate = "api_keys_update" => Tenant(P::KeysWrite),
    ApiKeysRevoke = "api_keys_revoke" => Tenant(P::KeysWrite),
    ApiKeysRotate = "api_keys_rotate" => Tenant(P::KeysWrite),
    BackendsList = "backends_list" => Tenant(P::BackendsRead),
    BackendsCreate = "backends_create" => Tenant(P::BackendsWrite),
    BackendsGet = "backends_get" => Tenant(P::BackendsRead),
    BackendsUpdate = "backends_update" => Tenant(P::BackendsWrite),
    BackendsDelete = "backends_delete" => Tenant(P::BackendsWrite),
    RoutesList = "routes_list" => Tenant(P::RoutesRead),
    RoutesCreate = "routes_create" => Tenant(P::RoutesWrite),
    RoutesGet = "routes_get" => Tenant(P::RoutesRead),
    RoutesUpdate = "routes_update" => Tenant(P::RoutesWrite),
    RoutesDelete = "routes_delete" => Tenant(P::RoutesWrite),
    RateLimitsList = "rate_limits_list" => Tenant(P::RateLimitsRead),
    RateLimitsCreate = "rate_limits_create" => Tenant(P::RateLimitsWrite),
    RateLimitsGet = "rate_limits_get" => Tenant(P::RateLimitsRead),
    RateLimitsUpdate = "rate_limits_update" => Tenant(P::RateLimitsWrite),
    RateLimitsDelete = "rate_limits_delete" => Tenant(P::RateLimitsWrite),
    BudgetsList = "budgets_list" => Tenant(P::BudgetsRead),
    BudgetsCreate = "budgets_create" => Tenant(P::BudgetsWrite),
    BudgetsGet = "budgets_get" => Tenant(P::BudgetsRead),
    BudgetsUpdate = "budgets_update" => Tenant(P::BudgetsWrite),
    BudgetsDelete = "budgets_delete" => Tenant(P::BudgetsWrite),
    ModelPricesList = "model_prices_list" => Shared(P::PricingRead),
    ModelPricesGet = "model_prices_get" => Shared(P::PricingRead),
    ModelPricesPut = "model_prices_put" => Platform(P::PricingWrite),
    ModelPricesDelete = "model_prices_delete" => Platform(P::PricingWrite),
    ModelPricesImport = "model_prices_import" => Platform(P::PricingWrite),
    TenantModelPricesList = "tenant_model_prices_list" => Tenant(P::PricingRead),
    TenantModelPricesGet = "tenant_model_prices_get" => Tenant(P::PricingRead),
    TenantModelPricesPut = "tenant_model_prices_put" => Tenant(P::PricingWrite),
    TenantModelPricesDelete = "tenant_model_prices_delete" => Tenant(P::PricingWrite),
    TenantModelPricesImport = "tenant_model_prices_import" => Tenant(P::PricingWrite),
    UsageQuery = "usage_query" => Tenant(P::UsageRead),
    PlatformUsageQuery = "platform_usage_query" => Platform(P::UsageRead),
    RolesList = "roles_list" => Tenant(P::RolesRead),
    RolesCreate = "roles_create" => Tenant(P::RolesWrite),
    RolesGet = "roles_get" => Tenant(P::RolesRead),
    RolesUpdate = "roles_update" => Tenant(P::RolesWrite),
    RolesDelete = "roles_delete" => Tenant(P::RolesWrite),
    RoleBindingsList = "role_bindings_list" => Tenant(P::RoleBindingsRead),
    RoleBindingsCreate = "role_bindings_create" => Tenant(P::RoleBindingsWrite),
    RoleBindingsDelete = "role_bindings_delete" => Tenant(P::RoleBindingsWrite),
    AuditList = "audit_list" => Tenant(P::AuditRead),
    AuditVerify = "audit_verify" => Tenant(P::AuditRead),
    AuditCheckpointsList = "audit_checkpoints_list" => Tenant(P::AuditRead),
    AuditCheckpointsCreate = "audit_checkpoints_create" => Tenant(P::AuditExport),
    AuditExport = "audit_export" => Tenant(P::AuditExport),
    AuditRetentionGet = "audit_retention_get" => Tenant(P::AuditRead),
    AuditRetentionUpdate = "audit_retention_update" => Tenant(P::AuditManage),
    AuditRetentionApply = "audit_retention_apply" => Tenant(P::AuditManage),
    AuditExportDestinationsList = "audit_export_destinations_list" => Tenant(P::AuditRead),
    AuditExportDestinationsCreate = "audit_export_destinations_create" => Tenant(P::AuditManage),
    AuditExportDestinationsGet = "audit_export_destinations_get" => Tenant(P::AuditRead),
    AuditExportDestinationsUpdate = "audit_export_destinations_update" => Tenant(P::AuditManage),
    AuditExportDestinationsDelete = "audit_export_destinations_delete" => Tenant(P::AuditManage),
    AuditExportsList = "audit_exports_list" => Tenant(P::AuditRead),
    AuditExportsCreate = "audit_exports_create" => Tenant(P::AuditExport),
    AuditExportsGet = "audit_exports_get" => Tenant(P::AuditRead),
    PlatformAuditList = "platform_audit_list" => Platform(P::AuditRead),
    PlatformAuditVerify = "platform_audit_verify" => Platform(P::AuditRead),
    AuditSigningKeyGet = "audit_signing_key_get" => Authenticated,
    AuthSignIn = "auth_sign_in" => Public,
    AuthSignOut = "auth_sign_out" => Public,
    MeSessionsList = "me_sessions_list" => User,
    MeSessionsRevoke = "me_sessions_revoke" => User,
    MePasswordChange = "me_password_change" => User,
    MeTotpBegin = "me_totp_begin" => User,
    MeTotpConfirm = "me_totp_confirm" => User,
    MeTotpDisable = "me_totp_disable" => User,
    MeRecoveryCodesRegenerate = "me_recovery_codes_regenerate" => User,
    MeTokensList = "me_tokens_list" => User,
    MeTokensCreate = "me_tokens_create" => User,
    MeTokensRevoke = "me_tokens_revoke" => User,
    UsersSignInGet = "users_sign_in_get" => Tenant(P::UsersRead),
    UsersPasswordSet = "users_password_set" => Tenant(P::UsersWrite),
    UsersUnlock = "users_unlock" => Tenant(P::UsersWrite),
    UsersTotpReset = "users_totp_reset" => Tenant(P::UsersWrite),
    UsersSessionsList = "users_sessions_list" => Tenant(P::UsersRead),
    UsersSessionsRevoke = "users_sessions_revoke" => Tenant(P::UsersWrite),
    UsersTokensList = "users_tokens_list" => Tenant(P::UsersRead),
    UsersTokensRevoke = "users_tokens_revoke" => Tenant(P::UsersWrite),
    GroupsList = "groups_list" => Tenant(P::UsersRead),
    GroupsCreate = "groups_create" => Tenant(P::UsersWrite),
    GroupsGet = "groups_get" => Tenant(P::UsersRead),
    GroupsUpdate = "groups_update" => Tenant(P::UsersWrite),
    GroupsDelete = "groups_delete" => Tenant(P::UsersWrite),
    GroupMembersList = "group_members_list" => Tenant(P::UsersRead),
    GroupMembersAdd = "group_members_add" => Tenant(P::UsersWrite),
    GroupMembersRemove = "group_members_remove" => Tenant(P::UsersWrite),
    ScimTokensList = "scim_tokens_list" => Tenant(P::ScimRead),
    ScimTokensCreate = "scim_tokens_create" => Tenant(P::ScimWrite),
    ScimTokensRevoke = "scim_tokens_revoke" => Tenant(P::ScimWrite),
    SsoConnectionsList = "sso_connections_list" => Tenant(P::SsoRead),
    SsoConnectionsCreate = "sso_connections_create" => Tenant(P::SsoWrite),
    SsoConnectionsGet = "sso_connections_get" => Tenant(P::SsoRead),
    SsoConnectionsUpdate = "sso_connections_update" => Tenant(P::SsoWrite),
    SsoConnectionsDelete = "sso_connections_delete" => Tenant(P::SsoWrite),
    AuthSsoStart = "auth_sso_start" => Public,
    AuthSsoCallback = "auth_sso_callback" => Public,
    SamlConnectionsCreate = "saml_connections_create" => Tenant(P::SsoWrite),
    SamlConnectionsUpdate = "saml_connections_update" => Tenant(P::SsoWrite),
    AuthSamlStart = "auth_saml_start" => Public,
    AuthSamlAcs = "auth_saml_acs" => Public,
    AuthSamlMetadata = "auth_saml_metadata" => Public,
    AuthSsoDiscover = "auth_sso_discover" => Public,
    SsoDomainsList = "sso_domains_list" => Tenant(P::SsoRead),
    SsoDomainsCreate = "sso_domains_create" => Tenant(P::SsoWrite),
    SsoDomainsGet = "sso_domains_get" => Tenant(P::SsoRead),
    SsoDomainsDelete = "sso_domains_delete" => Tenant(P::SsoWrite),
    // Proof of ownership is checked by the platform operator.
    SsoDomainsVerify = "sso_domains_verify" => Platform(P::TenantsWrite),
    SsoPolicyGet = "sso_policy_get" => Tenant(P::SsoRead),
    SsoPolicyUpdate = "sso_policy_update" => Tenant(P::SsoWrite),
    // Who may bypass enforced SSO is an owner's decision, like who is
    // owner.
    UsersBreakGlassSet = "users_break_glass_set" => Tenant(P::OwnersWrite),
}

impl Op {
    /// The operation whose `operationId` is `id`.
    pub fn from_id(id: &str) -> Option<Op> {
        Op::ALL.iter().copied().find(|op| op.id() == id)
    }

    /// The permission the operation needs. Panics for an operation that
    /// needs none (public, or a user's own): asking is a programming error
    /// the tests catch. A misspelt operation does not compile:
    ///
    /// ```
    /// use ditto_core::catalogue::Op;
    /// assert_eq!(Op::ProjectsCreate.permission().as_str(), "projects:write");
    /// ```
    ///
    /// ```compile_fail
    /// use ditto_core::catalogue::Op;
    /// let _ = Op::ProjectCreate.permission();
    /// ```
    pub fn permission(self) -> Permission {
        self.access()
            .permission()
            .unwrap_or_else(|| panic!("operation `{}` needs no permission", self.id()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operation_ids_are_unique() {
        let mut ids: Vec<_> = Op::ALL.iter().map(|op| op.id()).collect();
        ids.sort();
        let n = ids.len();
        ids.dedup();
        assert_eq!(ids.len(), n);
    }

    #[test]
    fn platform_only_permissions_are_only_on_platform_operations() {
        for op in Op::ALL {
            if let Access::Tenant(p) | Access::Shared(p) = op.access() {
                assert!(!p.is_platform_only(), "{op:?}");
            }
        }
    }
}
