//! Request and response bodies of the admin API (`/api/v1`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::ids::*;

/// A page of results. `next_cursor` is absent on the last page.
macro_rules! page_type {
    ($(#[$meta:meta])* $name:ident, $item:ty) => {
        $(#[$meta])*
        #[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
        pub struct $name {
            pub items: Vec<$item>,
            /// Pass as `cursor` to get the next page; absent on the last page.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub next_cursor: Option<String>,
        }
    };
}

/// Cursor pagination shared by every list endpoint.
#[derive(Clone, Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// Page size, 1–200 (default 50).
    pub limit: Option<i64>,
    /// Opaque cursor from a previous page's `next_cursor`.
    pub cursor: Option<String>,
    /// Sort order: `created_at` (oldest first), `-created_at` (newest first, default),
    /// `name` or `-name` (`email`/`-email` for users).
    pub sort: Option<String>,
}

// ---------------------------------------------------------------- tenants

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TenantStatus {
    /// Serving requests.
    Active,
    /// Keys and tokens of the tenant are refused until it is resumed.
    Suspended,
}

impl TenantStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Suspended => "suspended",
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct Tenant {
    pub id: TenantId,
    /// URL-safe unique name, used in `/t/{slug}/v1`. Immutable.
    pub slug: String,
    pub name: String,
    pub status: TenantStatus,
    /// IANA time zone name (`Europe/Paris`, `UTC`): where the tenant's
    /// budget days, weeks and months begin, and how usage is bucketed by day.
    pub time_zone: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTenant {
    /// 3–63 characters: lowercase letters, digits and `-`, starting with a letter.
    pub slug: String,
    /// Display name, 1–200 characters.
    pub name: String,
    /// IANA time zone name such as `Europe/Paris`; default `UTC`.
    #[serde(default)]
    pub time_zone: Option<String>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateTenant {
    pub name: Option<String>,
    /// IANA time zone name. Budget periods in progress are recomputed in the new zone.
    pub time_zone: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TenantFilter {
    /// Only tenants with this status.
    pub status: Option<TenantStatus>,
    /// Case-insensitive substring of the slug or name.
    pub q: Option<String>,
}

page_type!(TenantPage, Tenant);

// ---------------------------------------------------------------- projects

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct Project {
    pub id: ProjectId,
    pub tenant_id: TenantId,
    /// Unique within the tenant.
    pub name: String,
    pub description: String,
    /// Models the project's keys may use (public names or `*` patterns);
    /// absent: every routed model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_models: Option<Vec<String>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateProject {
    /// 1–100 characters, unique within the tenant.
    pub name: String,
    /// Up to 1000 characters.
    #[serde(default)]
    pub description: Option<String>,
    /// Models the project's keys may use; absent: every routed model.
    #[serde(default)]
    pub allowed_models: Option<Vec<String>>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateProject {
    pub name: Option<String>,
    pub description: Option<String>,
    /// Replaces the allow-list; `[]` allows nothing. Use `clear_allowed_models` to allow everything again.
    pub allowed_models: Option<Vec<String>>,
    /// Removes the allow-list: every routed model is allowed.
    #[serde(default)]
    pub clear_allowed_models: bool,
}

#[derive(Clone, Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct NameFilter {
    /// Case-insensitive substring of the name.
    pub q: Option<String>,
}

page_type!(ProjectPage, Project);

// ---------------------------------------------------------------- users

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum UserStatus {
    Active,
    /// Cannot sign in; their keys are refused.
    Disabled,
}

impl UserStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Disabled => "disabled",
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct User {
    pub id: UserId,
    pub tenant_id: TenantId,
    /// Unique within the tenant (case-insensitive).
    pub email: String,
    pub display_name: String,
    /// The identity provider's stable id for this user (SCIM `externalId`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    pub status: UserStatus,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    pub email: String,
    /// 1–200 characters; defaults to the email's local part.
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub external_id: Option<String>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUser {
    pub email: Option<String>,
    pub display_name: Option<String>,
    pub external_id: Option<String>,
    pub status: Option<UserStatus>,
}

#[derive(Clone, Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UserFilter {
    /// Only users with this status.
    pub status: Option<UserStatus>,
    /// Case-insensitive substring of the email or display name.
    pub q: Option<String>,
}

page_type!(UserPage, User);

// ---------------------------------------------------------------- service accounts

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ServiceAccount {
    pub id: ServiceAccountId,
    /// Absent for platform service accounts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<TenantId>,
    pub name: String,
    pub description: String,
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateServiceAccount {
    /// 1–100 characters, unique within the tenant.
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    /// A role to bind tenant-wide at creation (you must hold each of its
    /// permissions). Absent: none, so the account can do nothing until a
    /// role is bound to it.
    #[serde(default)]
    pub role: Option<String>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateServiceAccount {
    pub name: Option<String>,
    pub description: Option<String>,
    /// A disabled service account's tokens and keys are refused.
    pub disabled: Option<bool>,
}

page_type!(ServiceAccountPage, ServiceAccount);

/// A bearer token of a service account, for the admin API. The secret is
/// returned once, when the token is created.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct AccessToken {
    pub id: AccessTokenId,
    pub service_account_id: ServiceAccountId,
    pub name: String,
    /// The first characters of the token, to recognise it.
    pub prefix: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_used_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAccessToken {
    /// 1–100 characters.
    pub name: String,
    /// When the token stops working; must be in the future. Absent: never.
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct CreatedAccessToken {
    pub token: AccessToken,
    /// The bearer token. Shown only in this response; store it now.
    pub secret: String,
}

page_type!(AccessTokenPage, AccessToken);

// ---------------------------------------------------------------- API keys

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ApiKeyStatus {
    Active,
    Expired,
    Revoked,
}

/// A virtual key for the tenant's OpenAI-compatible endpoint. The secret is
/// returned only when the key is created or rotated.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ApiKey {
    pub id: ApiKeyId,
    pub tenant_id: TenantId,
    pub project_id: ProjectId,
    pub name: String,
    /// `dk-<public id>`: identifies the key without revealing it.
    pub prefix: String,
    pub status: ApiKeyStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_user_id: Option<UserId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_service_account_id: Option<ServiceAccountId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_used_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotated_at: Option<DateTime<Utc>>,
    /// Models this key may use (public names or `*` patterns), on top of its
    /// project's allow-list; absent: no further restriction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_models: Option<Vec<String>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKey {
    pub project_id: ProjectId,
    /// 1–100 characters.
    pub name: String,
    /// The user the key belongs to (at most one owner).
    #[serde(default)]
    pub owner_user_id: Option<UserId>,
    /// The service account the key belongs to (at most one owner).
    #[serde(default)]
    pub owner_service_account_id: Option<ServiceAccountId>,
    /// When the key stops working; must be in the future. Absent: never.
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
    /// Models this key may use; absent: whatever its project allows.
    #[serde(default)]
    pub allowed_models: Option<Vec<String>>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateApiKey {
    pub name: Option<String>,
    /// Replaces the key's allow-list.
    pub allowed_models: Option<Vec<String>>,
    /// Removes the key's allow-list.
    #[serde(default)]
    pub clear_allowed_models: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct CreatedApiKey {
    pub key: ApiKey,
    /// `dk-<public id>-<secret>`. Shown only in this response; store it now.
    pub secret: String,
}

#[derive(Clone, Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ApiKeyFilter {
    /// Only keys of this project.
    pub project_id: Option<ProjectId>,
    /// Only keys in this state.
    pub status: Option<ApiKeyStatus>,
    /// Only keys owned by this user.
    pub owner_user_id: Option<UserId>,
    /// Only keys owned by this service account.
    pub owner_service_account_id: Option<ServiceAccountId>,
    /// Case-insensitive substring of the name.
    pub q: Option<String>,
}

page_type!(ApiKeyPage, ApiKey);

// ---------------------------------------------------------------- backends

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Provider {
    /// Any OpenAI-compatible API (OpenAI, Azure OpenAI's v1 API, vLLM, Ollama, …): passed through.
    #[default]
    Openai,
    /// Anthropic's Messages API: chat completions are translated to and from it.
    Anthropic,
    /// Google's Gemini API: chat completions are translated to and from it.
    Gemini,
}

impl Provider {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Openai => "openai",
            Self::Anthropic => "anthropic",
            Self::Gemini => "gemini",
        }
    }

    /// The provider stored as `name`, if it is one.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "openai" => Some(Self::Openai),
            "anthropic" => Some(Self::Anthropic),
            "gemini" => Some(Self::Gemini),
            _ => None,
        }
    }
}

/// An upstream endpoint. Its credentials are write-only: responses only say
/// whether there are any.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct Backend {
    pub id: BackendId,
    pub tenant_id: TenantId,
    pub name: String,
    pub provider: Provider,
    /// The API root, e.g. `https://api.openai.com/v1`.
    pub base_url: String,
    pub has_credentials: bool,
    pub timeout_ms: u32,
    pub connect_timeout_ms: u32,
    /// Requests in flight at once through one gateway replica; more get 429.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_in_flight: Option<u32>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateBackend {
    /// 1–100 characters, unique within the tenant.
    pub name: String,
    #[serde(default)]
    pub provider: Provider,
    /// `http(s)://…`, the API root without a trailing `/`, e.g. `https://api.openai.com/v1`;
    /// for `anthropic` `https://api.anthropic.com`, for `gemini`
    /// `https://generativelanguage.googleapis.com`.
    pub base_url: String,
    /// The upstream API key, sent as `Authorization: Bearer` (`openai`), `x-api-key`
    /// (`anthropic`) or `x-goog-api-key` (`gemini`). Encrypted at rest; never returned.
    #[serde(default)]
    pub credentials: Option<String>,
    /// Whole-request timeout, 100–600000 ms (default 60000).
    #[serde(default)]
    pub timeout_ms: Option<u32>,
    /// Connect timeout, 50–60000 ms (default 5000).
    #[serde(default)]
    pub connect_timeout_ms: Option<u32>,
    /// 1–100000; absent: unlimited.
    #[serde(default)]
    pub max_in_flight: Option<u32>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateBackend {
    pub name: Option<String>,
    pub base_url: Option<String>,
    /// Replaces the credentials.
    pub credentials: Option<String>,
    /// Removes the credentials.
    #[serde(default)]
    pub clear_credentials: bool,
    pub timeout_ms: Option<u32>,
    pub connect_timeout_ms: Option<u32>,
    pub max_in_flight: Option<u32>,
    /// Removes the in-flight limit.
    #[serde(default)]
    pub clear_max_in_flight: bool,
}

page_type!(BackendPage, Backend);

// ---------------------------------------------------------------- routes

/// A backend serving a route, chosen by weight among the primaries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RouteTarget {
    pub backend_id: BackendId,
    /// Relative share of traffic, 0–10000 (default 1; 0 takes none).
    #[serde(default = "default_weight")]
    pub weight: u32,
    /// The model name to send upstream; absent: the requested name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream_model: Option<String>,
}

fn default_weight() -> u32 {
    1
}

/// A backend tried, in order, when the primaries fail.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RouteFallback {
    pub backend_id: BackendId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream_model: Option<String>,
}

/// Maps a public model name (or a `*` pattern) and its aliases to backends.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct Route {
    pub id: RouteId,
    pub tenant_id: TenantId,
    /// The public model name, or a pattern such as `gpt-4o*` or `*`.
    pub model: String,
    /// Other public names for the same route.
    pub aliases: Vec<String>,
    pub targets: Vec<RouteTarget>,
    pub fallbacks: Vec<RouteFallback>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRoute {
    /// 1–200 characters without spaces; `*` matches any run of characters.
    pub model: String,
    #[serde(default)]
    pub aliases: Vec<String>,
    /// 1–16 weighted primaries.
    pub targets: Vec<RouteTarget>,
    /// Up to 16 ordered fallbacks.
    #[serde(default)]
    pub fallbacks: Vec<RouteFallback>,
}

/// Replaces the given parts of a route.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateRoute {
    pub model: Option<String>,
    pub aliases: Option<Vec<String>>,
    pub targets: Option<Vec<RouteTarget>>,
    pub fallbacks: Option<Vec<RouteFallback>>,
}

page_type!(RoutePage, Route);

// ---------------------------------------------------------------- health

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct Health {
    /// `ok` when healthy.
    pub status: String,
    /// What was checked, and how it went.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<HealthCheck>,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct HealthCheck {
    pub name: String,
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

// ---------------------------------------------------------------- roles

/// A role: built-in (the same in every tenant) or a tenant's own.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct Role {
    /// Unique within the tenant; built-in names are reserved.
    pub name: String,
    pub description: String,
    pub builtin: bool,
    /// Permission names from the catalogue (`resource:action`).
    pub permissions: Vec<String>,
    /// Absent for built-in roles.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<DateTime<Utc>>,
}

/// Every role of a tenant: the built-in ones first, then its own by name.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct RoleList {
    pub items: Vec<Role>,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRole {
    /// 1–63 characters: lowercase letters, digits, `_` and `-`, starting
    /// with a letter; not a built-in role's name.
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    /// Permission names from the catalogue; you must hold each of them.
    pub permissions: Vec<String>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateRole {
    pub description: Option<String>,
    /// Replaces the permissions; you must hold each of the old and new ones.
    pub permissions: Option<Vec<String>>,
}

/// What kind of principal a role is bound to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SubjectKind {
    User,
    Group,
    ServiceAccount,
}

/// A role granted to a user, group or service account, tenant-wide or on
/// one project.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct RoleBinding {
    pub id: RoleBindingId,
    pub tenant_id: TenantId,
    pub role: String,
    pub subject_type: SubjectKind,
    pub subject_id: Uuid,
    /// Absent: the whole tenant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_id: Option<ProjectId>,
    pub created_at: DateTime<Utc>,
}

page_type!(RoleBindingPage, RoleBinding);

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRoleBinding {
    /// A built-in or custom role; you must hold each of its permissions.
    pub role: String,
    pub subject_type: SubjectKind,
    pub subject_id: Uuid,
    /// Bind on one project only; absent: the whole tenant.
    #[serde(default)]
    pub project_id: Option<ProjectId>,
}

/// Narrows a list of role bindings.
#[derive(Clone, Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RoleBindingFilter {
    /// Only bindings of this role.
    pub role: Option<String>,
    /// Only bindings of this user, group or service account.
    pub subject_id: Option<Uuid>,
}

// ---------------------------------------------------------------- me

/// The caller: who it is, where it belongs and what it may do there.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct Me {
    pub subject_type: SubjectKind,
    pub subject_id: Uuid,
    /// `platform_admin` or `platform_auditor` for platform principals.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform_role: Option<String>,
    /// Platform-wide permissions (platform principals only).
    pub platform_permissions: Vec<String>,
    /// The tenants the caller belongs to (none for platform principals).
    pub tenants: Vec<MeTenant>,
    /// A user's email address (users only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub email: Option<String>,
    /// A user's display name (users only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub display_name: Option<String>,
    /// Whether a user signs in with a second factor (users only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub totp_enabled: Option<bool>,
    /// Whether this session was opened with a password an administrator
    /// set, not yet replaced (users only): until the user chooses their
    /// own, it may only read `GET /me` and change the password. False for
    /// single sign-on sessions and tokens, which the temporary password
    /// does not hold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub must_change_password: Option<bool>,
    /// A service account's name (service accounts only, platform ones too).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub name: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct MeTenant {
    pub id: TenantId,
    pub slug: String,
    pub name: String,
    pub status: TenantStatus,
    /// Roles bound tenant-wide (directly or through a group).
    pub roles: Vec<String>,
    /// Effective tenant-wide permissions.
    pub permissions: Vec<String>,
}

// ---------------------------------------------------------------- sign-in

mod sign_in;
pub use sign_in::*;

mod groups;
pub use groups::*;

mod scim;
pub use scim::*;

mod sso;
pub use sso::*;

mod sso_policy;
pub use sso_policy::*;

mod tenant_health;
pub use tenant_health::*;

mod audit;
pub use audit::*;

mod limits;
pub use limits::*;

mod prices;
pub use prices::*;

mod usage;
pub use usage::*;
