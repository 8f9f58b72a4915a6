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

// ---------------------------------------------------------------- rate limits and budgets

/// What a rate limit or budget applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LimitScope {
    /// The whole tenant; `scope_id` is null.
    Tenant,
    /// One project (`scope_id` is its id): every key of the project.
    Project,
    /// One user (`scope_id` is their id): every key the user owns.
    User,
    /// One API key (`scope_id` is its id).
    Key,
}

impl LimitScope {
    pub const ALL: [LimitScope; 4] = [Self::Tenant, Self::Project, Self::User, Self::Key];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tenant => "tenant",
            Self::Project => "project",
            Self::User => "user",
            Self::Key => "key",
        }
    }
}

/// Requests per minute, tokens per minute and requests in flight allowed to
/// one scope, for one model or for all of them.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct RateLimit {
    pub id: RateLimitId,
    pub tenant_id: TenantId,
    pub scope: LimitScope,
    /// The project, user or key limited; null for the tenant scope.
    pub scope_id: Option<Uuid>,
    /// A public model name (a route's model or alias); null limits all models together.
    pub model: Option<String>,
    /// Requests per minute; null: not limited.
    pub rpm: Option<u32>,
    /// Tokens (prompt + completion) per minute; null: not limited.
    pub tpm: Option<u64>,
    /// Requests in flight at once; null: not limited.
    pub max_concurrent: Option<u32>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRateLimit {
    pub scope: LimitScope,
    /// Required unless the scope is `tenant`: the id of a project, user or key of this tenant.
    #[serde(default)]
    pub scope_id: Option<Uuid>,
    /// A public model name; absent: the limit counts every model together.
    /// At most one limit per scope and model.
    #[serde(default)]
    pub model: Option<String>,
    /// 1–100000000 requests per minute.
    #[serde(default)]
    pub rpm: Option<u32>,
    /// 1–100000000000 tokens per minute.
    #[serde(default)]
    pub tpm: Option<u64>,
    /// 1–1000000 requests in flight. At least one of `rpm`, `tpm` and `max_concurrent` is required.
    #[serde(default)]
    pub max_concurrent: Option<u32>,
}

/// Changes the given parts of a rate limit. Its scope cannot change.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateRateLimit {
    pub model: Option<String>,
    /// Makes the limit count every model together.
    #[serde(default)]
    pub clear_model: bool,
    pub rpm: Option<u32>,
    #[serde(default)]
    pub clear_rpm: bool,
    pub tpm: Option<u64>,
    #[serde(default)]
    pub clear_tpm: bool,
    pub max_concurrent: Option<u32>,
    #[serde(default)]
    pub clear_max_concurrent: bool,
}

#[derive(Clone, Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LimitFilter {
    /// Only limits of this kind of scope.
    pub scope: Option<LimitScope>,
    /// Only limits of this project, user or key.
    pub scope_id: Option<Uuid>,
}

page_type!(RateLimitPage, RateLimit);

/// How often a budget starts over, in the tenant's time zone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BudgetPeriod {
    /// From midnight to midnight.
    Daily,
    /// From Monday 00:00 to the next Monday.
    Weekly,
    /// From the first of the month to the first of the next.
    Monthly,
    /// Never starts over.
    Lifetime,
}

impl BudgetPeriod {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Daily => "daily",
            Self::Weekly => "weekly",
            Self::Monthly => "monthly",
            Self::Lifetime => "lifetime",
        }
    }
}

/// A cap on the tokens or the money one scope may spend per period.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct Budget {
    pub id: BudgetId,
    pub tenant_id: TenantId,
    pub scope: LimitScope,
    /// The project, user or key; null for the tenant scope.
    pub scope_id: Option<Uuid>,
    pub period: BudgetPeriod,
    /// Prompt + completion tokens per period; null: not capped.
    pub max_tokens: Option<u64>,
    /// USD per period as an exact decimal string; null: not capped.
    #[schema(example = "100.00")]
    pub max_cost_usd: Option<String>,
    /// Share of a maximum at which a soft-limit event is raised (once per period).
    pub soft_limit_percent: Option<u8>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// What the scope has spent so far in the current period.
    pub current: BudgetUsage,
}

/// Settled consumption of a budget's scope in the current period, from the
/// usage roll-ups (requests still in flight are not counted yet).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct BudgetUsage {
    pub period_start: DateTime<Utc>,
    /// Exclusive; null for a lifetime budget.
    pub period_end: Option<DateTime<Utc>>,
    /// Prompt + completion tokens.
    pub tokens: u64,
    /// Exact decimal string.
    #[schema(example = "12.5")]
    pub cost_usd: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateBudget {
    pub scope: LimitScope,
    /// Required unless the scope is `tenant`: the id of a project, user or key of this tenant.
    #[serde(default)]
    pub scope_id: Option<Uuid>,
    /// At most one budget per scope and period.
    pub period: BudgetPeriod,
    /// 1–10^15 tokens.
    #[serde(default)]
    pub max_tokens: Option<u64>,
    /// A positive decimal amount of USD such as `"100.00"`, at most 9000000
    /// and no finer than 10^-12. At least one of `max_tokens` and
    /// `max_cost_usd` is required.
    #[serde(default)]
    pub max_cost_usd: Option<String>,
    /// 1–99.
    #[serde(default)]
    pub soft_limit_percent: Option<u8>,
}

/// Changes the given parts of a budget. Its scope and period cannot change.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateBudget {
    pub max_tokens: Option<u64>,
    #[serde(default)]
    pub clear_max_tokens: bool,
    pub max_cost_usd: Option<String>,
    #[serde(default)]
    pub clear_max_cost_usd: bool,
    pub soft_limit_percent: Option<u8>,
    #[serde(default)]
    pub clear_soft_limit_percent: bool,
}

page_type!(BudgetPage, Budget);

// ---------------------------------------------------------------- model prices

/// Whose price list a price comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PriceSource {
    /// The platform's default, shared by every tenant.
    Platform,
    /// The tenant's own price, which overrides the platform's.
    Tenant,
}

/// What one model costs. Amounts are exact decimal strings in USD per
/// million tokens.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ModelPrice {
    /// The model name the price applies to, e.g. `openai/gpt-4o`.
    pub model: String,
    #[schema(example = "2.50")]
    pub input_usd_per_million_tokens: String,
    #[schema(example = "10.00")]
    pub output_usd_per_million_tokens: String,
    /// Price of prompt tokens served from the provider's cache; null: the input price.
    #[schema(example = "1.25")]
    pub cached_input_usd_per_million_tokens: Option<String>,
    pub max_output_tokens: Option<u32>,
    pub source: PriceSource,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Sets a model's price, replacing any previous one.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutModelPrice {
    /// A decimal string such as `"2.50"`; at most 6 decimals (10^-12 USD per token).
    pub input_usd_per_million_tokens: String,
    pub output_usd_per_million_tokens: String,
    #[serde(default)]
    pub cached_input_usd_per_million_tokens: Option<String>,
    /// 1–2147483647.
    #[serde(default)]
    pub max_output_tokens: Option<u32>,
}

#[derive(Clone, Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TenantPriceFilter {
    /// Case-insensitive substring of the model name.
    pub q: Option<String>,
    /// `true`: the prices that apply to the tenant, i.e. the platform's list
    /// with the tenant's own prices in place of the platform's (see `source`).
    /// Default: the tenant's own prices only.
    #[serde(default)]
    pub effective: bool,
}

page_type!(ModelPricePage, ModelPrice);

/// LiteLLM's `model_prices_and_context_window.json`: an object of model name
/// to `{input_cost_per_token, output_cost_per_token, cache_read_input_token_cost,
/// max_output_tokens, …}`, costs in USD per token. Other fields are ignored.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(transparent)]
#[schema(value_type = Object)]
pub struct LiteLlmPrices(pub serde_json::Map<String, serde_json::Value>);

/// The outcome of an import.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct PriceImport {
    /// Prices created or replaced.
    pub imported: u32,
    /// Entries left out, and why.
    pub skipped: Vec<SkippedPrice>,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct SkippedPrice {
    pub model: String,
    pub reason: String,
}

// ---------------------------------------------------------------- usage

/// A dimension usage can be grouped by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum UsageDimension {
    /// Platform-wide queries only.
    Tenant,
    Project,
    User,
    Key,
    Model,
    Backend,
}

impl UsageDimension {
    pub const ALL: [UsageDimension; 6] = [
        Self::Tenant,
        Self::Project,
        Self::User,
        Self::Key,
        Self::Model,
        Self::Backend,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tenant => "tenant",
            Self::Project => "project",
            Self::User => "user",
            Self::Key => "key",
            Self::Model => "model",
            Self::Backend => "backend",
        }
    }
}

/// How usage is split over time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum UsageInterval {
    /// One row per group for the whole range.
    #[default]
    None,
    Hour,
    /// Days in the tenant's time zone (UTC across tenants).
    Day,
}

#[derive(Clone, Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UsageParams {
    /// Required: start of the range (RFC 3339), widened down to a 15-minute boundary.
    #[param(required = true)]
    pub from: Option<DateTime<Utc>>,
    /// Required: end of the range, exclusive, widened up to a 15-minute
    /// boundary; at most 400 days after `from`.
    #[param(required = true)]
    pub to: Option<DateTime<Utc>>,
    /// Comma-separated dimensions: `project`, `user`, `key`, `model`,
    /// `backend` (and `tenant` across tenants). Absent: one total.
    pub group_by: Option<String>,
    /// `none` (default), `hour` or `day`.
    #[serde(default)]
    pub interval: UsageInterval,
}

/// Usage of one group (and time bucket). Only the dimensions grouped by are present.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
pub struct UsageRow {
    /// Start of the hour or day, when an interval was asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucket: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<TenantId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_id: Option<ProjectId>,
    /// Null for keys no user owns.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    #[schema(value_type = Option<UserId>)]
    pub user_id: Option<Option<UserId>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<ApiKeyId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Null for requests no backend answered.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    #[schema(value_type = Option<BackendId>)]
    pub backend_id: Option<Option<BackendId>>,
    pub requests: u64,
    pub errors: u64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub cached_tokens: u64,
    /// Exact decimal string.
    #[schema(example = "0.42")]
    pub cost_usd: String,
}

/// A field that is present, possibly as `null`.
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct UsageReport {
    /// The range actually covered: `from` and `to` widened to 15-minute boundaries.
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub group_by: Vec<UsageDimension>,
    pub interval: UsageInterval,
    /// The zone day buckets follow.
    pub time_zone: String,
    /// Ordered by bucket, then by the grouped dimensions.
    pub rows: Vec<UsageRow>,
    /// More rows matched than the 10000 returned; narrow the range or the grouping.
    pub truncated: bool,
}

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

// ---------------------------------------------------------------- audit

/// One audit event: who changed what, with the before and after images of
/// the change (secrets redacted), chained to the previous event of its
/// tenant (or of the platform) by `hash = SHA-256(prev_hash ‖ canonical event)`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct AuditEvent {
    pub id: Uuid,
    /// `null` for platform-level events (tenant management, platform prices).
    pub tenant_id: Option<TenantId>,
    /// Position in its chain: 1, 2, 3, … without gaps.
    pub seq: i64,
    pub created_at: DateTime<Utc>,
    /// `service_account`, `user` or `system`.
    pub actor_type: String,
    pub actor_id: Option<Uuid>,
    /// `<resource>.<verb>`, e.g. `api_keys.rotate`.
    pub action: String,
    pub target_type: String,
    pub target_id: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub before: Option<serde_json::Value>,
    #[schema(value_type = Option<Object>)]
    pub after: Option<serde_json::Value>,
    pub request_id: Option<String>,
    pub source_ip: Option<String>,
    pub user_agent: Option<String>,
    /// Hex.
    pub prev_hash: String,
    /// Hex.
    pub hash: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct AuditEventPage {
    pub items: Vec<AuditEvent>,
    pub next_cursor: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditFilter {
    /// Only events by this actor (service account or user id).
    pub actor_id: Option<Uuid>,
    /// Only events with this action, e.g. `api_keys.create`.
    pub action: Option<String>,
    /// Only events about this kind of target, e.g. `api_key`.
    pub target_type: Option<String>,
    /// Only events about this target id.
    pub target_id: Option<String>,
    /// Only events at or after this time (RFC 3339).
    pub since: Option<DateTime<Utc>>,
    /// Only events before this time (RFC 3339).
    pub until: Option<DateTime<Utc>>,
}

/// Which chains a platform auditor reads.
#[derive(Clone, Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PlatformAuditFilter {
    /// Only this tenant's events.
    pub tenant_id: Option<TenantId>,
    /// Only platform-level events (no tenant).
    #[serde(default)]
    pub platform_only: bool,
}

/// A signed statement that a chain had `hash` at `seq` at `created_at`.
/// The signature is Ed25519 over
/// `ditto-audit-checkpoint/v1\n<tenant id or "platform">\n<seq>\n<hash hex>\n<created_at, RFC 3339 with microseconds, Z>`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct AuditCheckpoint {
    pub id: Uuid,
    pub tenant_id: Option<TenantId>,
    pub seq: i64,
    /// Hex.
    pub hash: String,
    pub created_at: DateTime<Utc>,
    /// `periodic`, `on_demand` or `retention`.
    pub reason: String,
    /// Names the signing key: first 8 bytes of SHA-256 of its public key, hex.
    pub key_id: String,
    /// Base64.
    pub signature: String,
}

/// The key that signs checkpoints.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct AuditSigningKey {
    /// Always `ed25519`.
    pub algorithm: String,
    pub key_id: String,
    /// The 32-byte public key, base64.
    pub public_key: String,
    /// Every key checkpoints verify with: the current one first, then
    /// retired ones (`DITTO_AUDIT_PREVIOUS_SIGNING_KEYS`).
    pub keys: Vec<AuditPublicKey>,
}

/// A key checkpoints may be signed with.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct AuditPublicKey {
    pub key_id: String,
    /// The 32-byte public key, base64.
    pub public_key: String,
    /// `current` (signs new checkpoints) or `retired`.
    pub status: String,
}

/// The outcome of checking a chain.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct AuditVerification {
    /// Whether every link held.
    pub valid: bool,
    /// The checkpoint the walk started from; `null` when it started at the
    /// chain's beginning.
    pub anchor: Option<AuditCheckpoint>,
    /// The last sequence number that verified.
    pub verified_through: i64,
    /// How many events were checked.
    pub checked: u64,
    /// The first link that did not hold.
    pub broken: Option<AuditBrokenLink>,
    /// Ids of the keys the checkpoints checked were signed with (the
    /// current signing key or retired ones), in the order first met.
    pub checkpoint_keys: Vec<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct AuditBrokenLink {
    pub seq: i64,
    pub reason: String,
}

/// How long a tenant's audit events are kept.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AuditRetention {
    /// 7–36500 days (default 30); shortening it needs an owner.
    pub retention_days: u32,
}

/// What a retention run removed.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct AuditRetentionRun {
    /// Events removed.
    pub removed: u64,
    /// The checkpoint written before removing them; the remaining chain
    /// verifies from it. `null` when nothing was old enough.
    pub checkpoint: Option<AuditCheckpoint>,
}

/// Export format.
#[derive(Clone, Copy, Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditExportParams {
    /// `jsonl` (default) or `csv`.
    #[serde(default)]
    #[param(inline)]
    pub format: AuditExportFormat,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AuditExportFormat {
    #[default]
    Jsonl,
    Csv,
}

/// Where a destination keeps exported objects.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AuditExportKind {
    /// An S3-compatible bucket.
    S3,
    /// A directory under the platform's export directory (`DITTO_AUDIT_EXPORT_DIR`).
    Local,
}

/// How often a destination receives the events added since its last
/// scheduled run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AuditExportSchedule {
    /// Only one-off runs.
    #[default]
    None,
    Hourly,
    Daily,
}

/// A place a tenant's audit trail is exported to. The secret access key is
/// write-only: encrypted at rest, never returned.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct AuditExportDestination {
    pub id: Uuid,
    pub tenant_id: TenantId,
    pub name: String,
    pub kind: AuditExportKind,
    /// S3: the service's URL; `null` for AWS itself.
    pub endpoint: Option<String>,
    pub bucket: Option<String>,
    pub region: Option<String>,
    pub access_key_id: Option<String>,
    pub has_secret_access_key: bool,
    /// Local: the directory, relative to the tenant's export directory.
    pub path: Option<String>,
    /// Object names start with it.
    pub prefix: String,
    pub schedule: AuditExportSchedule,
    pub next_run_at: Option<DateTime<Utc>>,
    /// Scheduled runs export the events after this sequence number.
    pub exported_through: i64,
    /// Largest JSONL object a run writes; larger ranges are split.
    pub max_object_bytes: u64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

page_type!(AuditExportDestinationPage, AuditExportDestination);

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAuditExportDestination {
    /// 1–100 characters, unique within the tenant.
    pub name: String,
    pub kind: AuditExportKind,
    /// S3: `http(s)://host[:port]` of an S3-compatible service; absent for AWS.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// S3: the bucket (3–63 characters), required.
    #[serde(default)]
    pub bucket: Option<String>,
    /// S3: default `us-east-1`.
    #[serde(default)]
    pub region: Option<String>,
    /// S3: required.
    #[serde(default)]
    pub access_key_id: Option<String>,
    /// S3: required. Encrypted at rest; never returned.
    #[serde(default)]
    pub secret_access_key: Option<String>,
    /// Local: a relative directory (`a-z`, `0-9`, `.`, `_`, `-` in `/`-separated parts), required.
    #[serde(default)]
    pub path: Option<String>,
    /// Object name prefix, `/`-separated parts of `A-Z a-z 0-9 . _ -` (default none).
    #[serde(default)]
    pub prefix: Option<String>,
    #[serde(default)]
    pub schedule: AuditExportSchedule,
    /// 1024–1073741824 (default 64 MiB).
    #[serde(default)]
    pub max_object_bytes: Option<u64>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateAuditExportDestination {
    pub name: Option<String>,
    pub endpoint: Option<String>,
    pub bucket: Option<String>,
    pub region: Option<String>,
    pub access_key_id: Option<String>,
    /// Replaces the secret access key.
    pub secret_access_key: Option<String>,
    pub path: Option<String>,
    pub prefix: Option<String>,
    pub schedule: Option<AuditExportSchedule>,
    pub max_object_bytes: Option<u64>,
}

/// Ask for a one-off export of a sequence range.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAuditExport {
    pub destination_id: Uuid,
    /// First sequence number; default the oldest kept event.
    #[serde(default)]
    pub from_seq: Option<i64>,
    /// Last sequence number; default the chain's head now.
    #[serde(default)]
    pub to_seq: Option<i64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AuditExportStatus {
    Pending,
    Running,
    Succeeded,
    Failed,
}

/// One JSONL object a run wrote.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AuditExportObject {
    pub name: String,
    /// Hex SHA-256 of the object's bytes.
    pub sha256: String,
    pub rows: u64,
    pub bytes: u64,
    pub first_seq: i64,
    pub last_seq: i64,
}

/// One export of a sequence range to a destination.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct AuditExportRun {
    pub id: Uuid,
    pub tenant_id: TenantId,
    pub destination_id: Uuid,
    /// `manual` or `scheduled`.
    pub trigger: String,
    pub status: AuditExportStatus,
    pub from_seq: i64,
    pub to_seq: i64,
    /// Events written.
    pub rows: u64,
    pub objects: Vec<AuditExportObject>,
    /// The manifest's object name, once written.
    pub manifest: Option<String>,
    /// Why the run failed.
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
}

page_type!(AuditExportRunPage, AuditExportRun);

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
