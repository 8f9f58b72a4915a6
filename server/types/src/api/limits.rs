//! Rate limits and budgets: what a tenant caps, and at which scope.

use super::*;

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
