//! Tenant health for platform operators: each tenant's traffic, errors,
//! spend and latency over a recent window.

use super::*;

/// The window a tenant health page covers.
#[derive(Clone, Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TenantHealthParams {
    /// How far back from now: a whole number of minutes (`90m`), hours
    /// (`24h`) or days (`7d`), from 5 minutes to 7 days. Default `24h`.
    pub window: Option<String>,
}

/// How a tenant's traffic fared in the window, judged by its error rate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TenantHealthState {
    /// No requests in the window.
    Idle,
    /// Under 5% of requests failed.
    Healthy,
    /// 5% to under 25% of requests failed.
    Degraded,
    /// 25% or more of requests failed.
    Failing,
}

/// One tenant's figures over the window. A request failed when the gateway
/// answered it with a status of 400 or more (as in usage reports).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct TenantHealth {
    pub tenant_id: TenantId,
    pub slug: String,
    pub name: String,
    pub status: TenantStatus,
    pub health: TenantHealthState,
    pub requests: u64,
    /// Requests answered with a status of 400 or more.
    pub errors: u64,
    /// Of those, answered with 500 or more (upstream or gateway failures).
    pub server_errors: u64,
    /// `errors / requests`, 0 when there were no requests.
    pub error_rate: f64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    /// What the requests cost, priced when they were served (USD, exact decimal).
    pub cost_usd: String,
    /// Median time to the full answer, in milliseconds; null without requests.
    pub latency_p50_ms: Option<f64>,
    /// 95th percentile time to the full answer, in milliseconds; null without requests.
    pub latency_p95_ms: Option<f64>,
    /// The tenant's latest request, in the window or before it; null if it never had one.
    pub last_request_at: Option<DateTime<Utc>>,
}

/// A page of tenants with their health over `[from, to)`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct TenantHealthPage {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub items: Vec<TenantHealth>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}
