//! A tenant's sign-in policy around single sign-on: the email domains it
//! claims (home-realm discovery), enforced SSO and its break-glass owners.

use super::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DomainStatus {
    /// Claimed, waiting for proof of ownership; routes no sign-in.
    Pending,
    /// Proven; sign-ins with addresses at this domain are sent to the
    /// tenant.
    Verified,
}

/// The DNS record that proves the tenant controls the domain.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct DomainVerification {
    /// `TXT`.
    pub record_type: String,
    /// `_ditto-verification.<domain>`.
    pub record_name: String,
    /// `ditto-domain-verification=<token>`.
    pub record_value: String,
}

/// An email domain a tenant claims. Unique across all tenants.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct TenantDomain {
    /// Lower-case; an internationalized name in its `xn--` form.
    pub domain: String,
    pub tenant_id: TenantId,
    pub status: DomainStatus,
    /// Publish this record, then ask the platform operator to verify.
    pub verification: DomainVerification,
    pub created_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verified_at: Option<DateTime<Utc>>,
}

page_type!(TenantDomainPage, TenantDomain);

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTenantDomain {
    /// e.g. `acme.com` (no scheme, no `@`, no trailing dot).
    pub domain: String,
}

/// Whether the tenant enforces single sign-on, and who may still use a
/// password.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct SsoPolicy {
    /// Local passwords are refused to the tenant's members (403
    /// `sso-required`), except break-glass owners.
    pub enforced: bool,
    /// Owners who may still sign in with a password (audited).
    pub break_glass_user_ids: Vec<UserId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<DateTime<Utc>>,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateSsoPolicy {
    /// Turning it on needs an enabled SSO connection (422 otherwise).
    pub enforced: bool,
}

/// Whether a user is a break-glass owner.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct BreakGlass {
    pub user_id: UserId,
    pub enabled: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetBreakGlass {
    /// `true`: the user (who must hold the owner role) may sign in with a
    /// password while SSO is enforced.
    pub enabled: bool,
}

/// Home-realm discovery: where should this address sign in?
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SsoDiscover {
    pub email: String,
}

/// How to sign in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SignInRoute {
    /// Through one of `connections`.
    Sso,
    /// With a password (`POST /api/v1/auth/sign-in`).
    Password,
}

/// One way in through the tenant's identity provider.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct DiscoveredConnection {
    pub id: SsoConnectionId,
    pub name: String,
    pub protocol: SsoProtocol,
    /// Send the browser here (add `?return_to=/…`).
    pub login_url: String,
}

/// Where an address signs in. It depends only on the address's domain,
/// never on whether an account exists.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct SsoDiscovery {
    pub method: SignInRoute,
    /// The tenant whose verified domain this is (absent: none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// The tenant refuses passwords to its members (break-glass owners
    /// aside).
    pub sso_enforced: bool,
    /// The tenant's enabled connections (empty with `password`).
    pub connections: Vec<DiscoveredConnection>,
}
