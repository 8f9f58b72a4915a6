//! The authorization seam. Every request carries a [`Ctx`]; before touching
//! data a handler trades it, with the [`Permission`] it needs, for a
//! [`TenantScope`] or a [`PlatformScope`]. Repositories accept only those
//! scopes, and the scopes can only be made here, so skipping the check does
//! not compile.
//!
//! What a principal holds comes from its role bindings (`ditto_store::rbac`
//! resolves them with Casbin); the roles themselves are in [`crate::rbac`].

use chrono::Duration;
use ditto_types::{ScimTokenId, ServiceAccountId, SessionId, TenantId, UserId, api::TenantStatus};

use crate::{Error, Result};

/// Who is calling.
#[derive(Clone, Debug)]
pub struct Principal {
    pub actor: Actor,
    /// The tenant the principal belongs to; `None` for platform principals.
    pub tenant_id: Option<TenantId>,
    /// The platform role of a platform principal.
    pub platform_role: Option<PlatformRole>,
    /// What the principal may do in its own tenant: the union of the roles
    /// bound to it (and its groups) at tenant scope.
    pub grants: Grants,
    /// What a narrowed token is limited to, wherever it acts (`grants` is
    /// already cut down to it); `None`: no limit.
    pub limit: Option<Grants>,
}

impl Principal {
    pub fn is_platform_admin(&self) -> bool {
        self.platform_role == Some(PlatformRole::Admin)
    }
}

/// The identity recorded as the author of a change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Actor {
    ServiceAccount(ServiceAccountId),
    User(UserId),
    /// An identity provider provisioning through SCIM with this token.
    ScimToken(ScimTokenId),
}

impl Actor {
    /// The Casbin subject naming this actor (`sa:<id>`, `user:<id>`).
    pub fn subject(self) -> String {
        match self {
            Self::ServiceAccount(id) => format!("sa:{id}"),
            Self::User(id) => format!("user:{id}"),
            Self::ScimToken(id) => format!("scim:{id}"),
        }
    }
}

/// Everything an operation needs to know about its caller.
#[derive(Clone, Debug)]
pub struct Ctx {
    pub principal: Principal,
    pub request_id: String,
    /// The browser session the request came with, when it used one.
    pub session: Option<SessionRef>,
}

/// The browser session a request came with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionRef {
    pub id: SessionId,
    /// How long ago its user signed in, with every factor the sign-in asked
    /// for, on the database's clock (the one that stamped the sign-in), so
    /// replicas' clocks do not matter.
    pub signed_in_ago: Duration,
    /// Opened with a password an administrator set, not changed since: the
    /// session may only see who it is and choose a new password.
    pub must_change_password: bool,
}

/// How long after signing in a session may still change the second factor.
pub const RECENT_SIGN_IN_MINUTES: i64 = 15;

macro_rules! permissions {
    ($($(#[$doc:meta])* $variant:ident => $name:literal,)*) => {
        /// What an operation needs to be allowed. Names are `resource:action`.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u8)]
        pub enum Permission {
            $($(#[$doc])* $variant,)*
        }

        impl Permission {
            /// The whole catalogue, in declaration order.
            pub const ALL: &'static [Permission] = &[$(Self::$variant,)*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $name,)*
                }
            }

            pub fn parse(name: &str) -> Option<Self> {
                match name {
                    $($name => Some(Self::$variant),)*
                    _ => None,
                }
            }
        }
    };
}

permissions! {
    TenantsRead => "tenants:read",
    /// Create, rename, suspend and delete tenants (platform only).
    TenantsWrite => "tenants:write",
    ProjectsRead => "projects:read",
    ProjectsWrite => "projects:write",
    UsersRead => "users:read",
    UsersWrite => "users:write",
    ServiceAccountsRead => "service_accounts:read",
    ServiceAccountsWrite => "service_accounts:write",
    KeysRead => "keys:read",
    KeysWrite => "keys:write",
    BackendsRead => "backends:read",
    BackendsWrite => "backends:write",
    RoutesRead => "routes:read",
    RoutesWrite => "routes:write",
    RateLimitsRead => "rate_limits:read",
    RateLimitsWrite => "rate_limits:write",
    BudgetsRead => "budgets:read",
    BudgetsWrite => "budgets:write",
    PricingRead => "pricing:read",
    PricingWrite => "pricing:write",
    UsageRead => "usage:read",
    /// Replica metrics (platform only).
    MetricsRead => "metrics:read",
    RolesRead => "roles:read",
    /// Define, change and delete a tenant's custom roles.
    RolesWrite => "roles:write",
    RoleBindingsRead => "role_bindings:read",
    /// Grant and revoke roles (only roles whose permissions the caller holds).
    RoleBindingsWrite => "role_bindings:write",
    /// Grant and revoke the `owner` role: only owners hold it.
    OwnersWrite => "owners:write",
    /// Read the audit trail, its checkpoints and their verification.
    AuditRead => "audit:read",
    /// Download the audit trail and sign checkpoints on demand.
    AuditExport => "audit:export",
    /// Set how long audit events are kept, and apply that retention.
    AuditManage => "audit:manage",
    /// See a tenant's single sign-on connections (never their secrets).
    SsoRead => "sso:read",
    /// Add, change and remove single sign-on connections.
    SsoWrite => "sso:write",
    /// See a tenant's SCIM provisioning tokens (never their secrets).
    ScimRead => "scim:read",
    /// Create and revoke SCIM provisioning tokens: whoever holds one
    /// manages the tenant's users and groups.
    ScimWrite => "scim:write",
}

impl Permission {
    /// Permissions only platform principals can hold.
    pub fn is_platform_only(self) -> bool {
        matches!(self, Self::TenantsWrite | Self::MetricsRead)
    }

    /// Reading, as opposed to changing anything.
    pub fn is_read(self) -> bool {
        self.as_str().ends_with(":read")
    }
}

impl std::fmt::Display for Permission {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of permissions, one bit each: checking one is a mask test.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Grants(u64);

const _: () = assert!(Permission::ALL.len() <= 64);

impl Grants {
    pub const NONE: Grants = Grants(0);

    pub fn of(permissions: &[Permission]) -> Self {
        permissions.iter().fold(Self::NONE, |g, p| g.with(*p))
    }

    /// Every permission a tenant principal can hold.
    pub fn tenant_all() -> Self {
        Self::of(Permission::ALL).filter(|p| !p.is_platform_only())
    }

    /// Everything in a tenant but making owners: what an `admin` holds, the
    /// most a SCIM token acts with, and the ceiling of SSO connections saved
    /// before their editor was recorded.
    pub fn short_of_owner() -> Self {
        Self::tenant_all().filter(|p| p != Permission::OwnersWrite)
    }

    pub const fn with(self, p: Permission) -> Self {
        Grants(self.0 | 1 << p as u8)
    }

    pub fn contains(self, p: Permission) -> bool {
        self.0 & (1 << p as u8) != 0
    }

    pub fn union(self, other: Grants) -> Self {
        Grants(self.0 | other.0)
    }

    pub fn intersect(self, other: Grants) -> Self {
        Grants(self.0 & other.0)
    }

    /// Whether every permission of `other` is in `self`.
    pub fn covers(self, other: Grants) -> bool {
        other.0 & !self.0 == 0
    }

    pub fn filter(self, keep: impl Fn(Permission) -> bool) -> Self {
        Self::of(&self.iter().filter(|p| keep(*p)).collect::<Vec<_>>())
    }

    pub fn iter(self) -> impl Iterator<Item = Permission> {
        Permission::ALL
            .iter()
            .copied()
            .filter(move |p| self.contains(*p))
    }

    /// The permission names, in catalogue order.
    pub fn names(self) -> Vec<String> {
        self.iter().map(|p| p.as_str().to_owned()).collect()
    }
}

/// Roles of platform principals (service accounts without a tenant).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PlatformRole {
    /// Everything, in every tenant.
    Admin,
    /// Every read permission, in every tenant; changes nothing.
    Auditor,
}

impl PlatformRole {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "platform_admin",
            Self::Auditor => "platform_auditor",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "platform_admin" => Some(Self::Admin),
            "platform_auditor" => Some(Self::Auditor),
            _ => None,
        }
    }

    pub fn grants(self) -> Grants {
        let all = Grants::of(Permission::ALL);
        match self {
            Self::Admin => all,
            Self::Auditor => all.filter(Permission::is_read),
        }
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
        match self.principal.platform_role {
            Some(role) if role.grants().contains(permission) => Ok(PlatformScope {
                actor: self.principal.actor,
            }),
            Some(role) => Err(Error::Forbidden(format!(
                "`{permission}` is not granted to `{}`",
                role.as_str()
            ))),
            None => Err(Error::Forbidden(format!(
                "`{permission}` across tenants requires a platform administrator"
            ))),
        }
    }

    /// Authorize an operation inside `tenant`. Another tenant's resources
    /// answer 404, so their existence does not leak.
    pub fn tenant(&self, tenant: TenantRef, permission: Permission) -> Result<TenantScope> {
        let scope = TenantScope {
            tenant_id: tenant.id,
            actor: self.principal.actor,
        };
        if let Some(role) = self.principal.platform_role {
            if role.grants().contains(permission) {
                return Ok(scope);
            }
            return Err(Error::Forbidden(format!(
                "`{permission}` is not granted to `{}`",
                role.as_str()
            )));
        }
        if self.principal.tenant_id != Some(tenant.id) {
            return Err(Error::NotFound("tenant"));
        }
        if tenant.status == TenantStatus::Suspended {
            return Err(Error::Forbidden("this tenant is suspended".into()));
        }
        self.require(permission)?;
        Ok(scope)
    }

    /// Authorize an operation on one project of `tenant`: the caller holds
    /// `permission` tenant-wide, or `in_project` (what roles bound to it on
    /// that project give, from `ditto_store::rbac`) holds it. Everything
    /// else is as in [`Ctx::tenant`].
    pub fn project(
        &self,
        tenant: TenantRef,
        permission: Permission,
        in_project: Grants,
    ) -> Result<TenantScope> {
        // A suspended tenant refuses its members whatever they hold, on a
        // project too (its refusal must not read as a missing permission).
        if self.principal.platform_role.is_none()
            && self.principal.tenant_id == Some(tenant.id)
            && tenant.status == TenantStatus::Suspended
        {
            return Err(Error::Forbidden("this tenant is suspended".into()));
        }
        match self.tenant(tenant, permission) {
            Err(Error::Forbidden(reason)) if self.principal.platform_role.is_none() => {
                let in_project = match self.principal.limit {
                    Some(limit) => in_project.intersect(limit),
                    None => in_project,
                };
                if permission.is_platform_only() || !in_project.contains(permission) {
                    return Err(Error::Forbidden(reason));
                }
                Ok(TenantScope {
                    tenant_id: tenant.id,
                    actor: self.principal.actor,
                })
            }
            other => other,
        }
    }

    /// Authorize reading what the platform shares with every tenant: any
    /// platform principal holding `permission`, or a member of an active
    /// tenant holding it. `home` is the caller's own tenant (`None` for
    /// platform principals).
    pub fn shared(&self, home: Option<TenantRef>, permission: Permission) -> Result<SharedScope> {
        let scope = SharedScope {
            actor: self.principal.actor,
        };
        if self.principal.platform_role.is_some() {
            return self.platform(permission).map(|_| scope);
        }
        match (self.principal.tenant_id, home) {
            (Some(own), Some(home)) if own == home.id => {
                if home.status == TenantStatus::Suspended {
                    return Err(Error::Forbidden("this tenant is suspended".into()));
                }
                self.require(permission)?;
                Ok(scope)
            }
            _ => Err(Error::Forbidden(format!(
                "`{permission}` requires a tenant member or a platform administrator"
            ))),
        }
    }

    /// The caller's own tenant, to show the caller what it is and may do
    /// there; needs no permission, and is no way into another tenant.
    pub fn home(&self, tenant: TenantRef) -> Result<TenantScope> {
        if self.principal.tenant_id != Some(tenant.id) {
            return Err(Error::NotFound("tenant"));
        }
        Ok(TenantScope {
            tenant_id: tenant.id,
            actor: self.principal.actor,
        })
    }

    /// The calling user and its own tenant, for what only a person has:
    /// sessions, a password, a second factor, personal access tokens.
    /// `tenant` is the caller's own tenant, resolved from its principal.
    pub fn own_user(&self, tenant: Option<TenantRef>) -> Result<(TenantScope, UserId)> {
        let (Actor::User(user), Some(tenant)) = (self.principal.actor, tenant) else {
            return Err(Error::Forbidden(
                "only users have sessions, passwords, second factors and personal access tokens"
                    .into(),
            ));
        };
        if tenant.status == TenantStatus::Suspended {
            return Err(Error::Forbidden("this tenant is suspended".into()));
        }
        Ok((self.home(tenant)?, user))
    }

    /// The calling user in a browser session, for changing how it signs in
    /// and which sessions it has. An access token, however wide, cannot: a
    /// stolen one must not lock its user out or outlive a password change.
    pub fn signed_in_user(
        &self,
        tenant: Option<TenantRef>,
    ) -> Result<(TenantScope, UserId, SessionId)> {
        let (scope, user) = self.own_user(tenant)?;
        let Some(session) = self.session else {
            return Err(Error::Forbidden(
                "passwords, second factors and sessions can only be changed from a signed-in \
                 session (the console), not with an access token"
                    .into(),
            ));
        };
        Ok((scope, user, session.id))
    }

    /// As [`Ctx::signed_in_user`], for the most sensitive changes: the user
    /// must also have signed in within [`RECENT_SIGN_IN_MINUTES`], so an
    /// unattended or hijacked session that has run for a while cannot.
    pub fn recently_signed_in_user(
        &self,
        tenant: Option<TenantRef>,
    ) -> Result<(TenantScope, UserId, SessionId)> {
        let found = self.signed_in_user(tenant)?;
        let ago = self.session.map(|s| s.signed_in_ago);
        if ago.is_none_or(|ago| ago > Duration::minutes(RECENT_SIGN_IN_MINUTES)) {
            return Err(Error::Forbidden(format!(
                "this change needs a recent sign-in: sign out, sign in again and retry within \
                 {RECENT_SIGN_IN_MINUTES} minutes"
            )));
        }
        Ok(found)
    }

    /// The permissions of a token the caller mints: those it asks for,
    /// each of which the caller must hold; when it asks for none, the
    /// caller's own narrowing, if any. A narrowed token is a ceiling for
    /// everything done with it, the tokens it mints included.
    pub fn token_permissions(
        &self,
        scope: &TenantScope,
        requested: Option<Grants>,
    ) -> Result<Option<Grants>> {
        match requested {
            Some(narrowed) => {
                self.may_delegate(scope, narrowed)?;
                Ok(Some(narrowed))
            }
            None => Ok(self.principal.limit),
        }
    }

    /// Whom a new key may name as its owner: the caller itself, or another
    /// member when the caller manages members (`users:write` for a user,
    /// `service_accounts:write` for a service account). A key owned by
    /// someone is charged to their limits and budgets, and is revoked when
    /// they leave; nobody may plant one on another or escape their own exit.
    pub fn may_name_key_owner(
        &self,
        scope: &TenantScope,
        user: Option<UserId>,
        account: Option<ServiceAccountId>,
    ) -> Result<()> {
        let held = self.grants_in(scope);
        let refuse = |needed: Permission, whom: &str| {
            Err(Error::Forbidden(format!(
                "only a principal holding `{needed}` may create a key owned by {whom}; \
                 leave the owner out, or name yourself"
            )))
        };
        if let Some(user) = user
            && self.principal.actor != Actor::User(user)
            && !held.contains(Permission::UsersWrite)
        {
            return refuse(Permission::UsersWrite, "another user");
        }
        if let Some(account) = account
            && self.principal.actor != Actor::ServiceAccount(account)
            && !held.contains(Permission::ServiceAccountsWrite)
        {
            return refuse(Permission::ServiceAccountsWrite, "a service account");
        }
        Ok(())
    }

    /// What the caller holds inside `scope`'s tenant: a platform role's
    /// permissions, or the principal's own.
    pub fn grants_in(&self, scope: &TenantScope) -> Grants {
        match self.principal.platform_role {
            Some(role) => role.grants(),
            None if self.principal.tenant_id == Some(scope.tenant_id) => self.principal.grants,
            None => Grants::NONE,
        }
    }

    /// No escalation: granting, revoking or defining a role needs every
    /// permission the role carries.
    pub fn may_delegate(&self, scope: &TenantScope, role: Grants) -> Result<()> {
        let held = self.grants_in(scope);
        if held.covers(role) {
            return Ok(());
        }
        let missing: Vec<&str> = role
            .iter()
            .filter(|p| !held.contains(*p))
            .map(Permission::as_str)
            .collect();
        Err(Error::Forbidden(format!(
            "you cannot delegate permissions you do not hold: {}",
            missing.join(", ")
        )))
    }

    fn require(&self, permission: Permission) -> Result<()> {
        if permission.is_platform_only() || !self.principal.grants.contains(permission) {
            return Err(Error::Forbidden(format!(
                "missing permission `{permission}`"
            )));
        }
        Ok(())
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
                platform_role: platform_admin.then_some(PlatformRole::Admin),
                grants: if tenant.is_some() {
                    Grants::tenant_all()
                } else {
                    Grants::NONE
                },
                limit: None,
            },
            request_id: "test".into(),
            session: None,
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
    fn a_suspended_tenant_refuses_project_scoped_roles_too() {
        let own = TenantId::new();
        let mut member = ctx(Some(own), false);
        member.principal.grants = Grants::NONE;
        let in_project = Grants::of(&[Permission::KeysWrite]);
        assert!(
            member
                .project(active(own), Permission::KeysWrite, in_project)
                .is_ok()
        );
        let suspended = TenantRef {
            id: own,
            status: TenantStatus::Suspended,
        };
        assert!(matches!(
            member.project(suspended, Permission::KeysWrite, in_project),
            Err(Error::Forbidden(_))
        ));
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

#[cfg(test)]
mod grant_tests {
    use super::*;

    #[test]
    fn permission_names_round_trip_and_fit_the_bitset() {
        for p in Permission::ALL {
            assert_eq!(Permission::parse(p.as_str()), Some(*p));
            assert!(Grants::NONE.with(*p).contains(*p));
        }
        assert_eq!(Permission::parse("keys:delete"), None);
    }

    #[test]
    fn platform_auditor_reads_everywhere_and_writes_nowhere() {
        let auditor = Ctx {
            principal: Principal {
                actor: Actor::ServiceAccount(ServiceAccountId::new()),
                tenant_id: None,
                platform_role: Some(PlatformRole::Auditor),
                grants: Grants::NONE,
                limit: None,
            },
            request_id: "t".into(),
            session: None,
        };
        let t = TenantRef {
            id: TenantId::new(),
            status: TenantStatus::Active,
        };
        assert!(auditor.tenant(t, Permission::KeysRead).is_ok());
        assert!(auditor.tenant(t, Permission::KeysWrite).is_err());
        assert!(auditor.platform(Permission::TenantsRead).is_ok());
        assert!(auditor.platform(Permission::TenantsWrite).is_err());
    }

    #[test]
    fn delegation_needs_every_permission_of_the_role() {
        let held = Grants::of(&[Permission::KeysRead, Permission::KeysWrite]);
        assert!(held.covers(Grants::of(&[Permission::KeysRead])));
        assert!(!held.covers(Grants::of(&[Permission::KeysRead, Permission::UsersRead])));
        assert!(held.covers(Grants::NONE));
    }
}
