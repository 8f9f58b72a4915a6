//! Model prices, per million tokens in exact integer units.

use super::*;

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
