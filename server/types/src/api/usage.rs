//! Usage reports: tokens, cost and requests, grouped and bucketed.

use super::*;

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
