//! A tenant's rate limits, budgets and prices as loaded in the snapshot,
//! indexed by scope so a request finds its own in four lookups.

use std::collections::HashMap;
use std::sync::Arc;

use chrono_tz::Tz;
use ditto_core::period::Period;
use ditto_store::gateway::{GatewayBudgetRow, GatewayLimitRow, GatewayPriceRow, LedgerScope};
use uuid::Uuid;

use crate::snapshot::Key;

#[derive(Debug)]
pub struct Limit {
    pub id: Uuid,
    pub scope: LedgerScope,
    pub model: Option<String>,
    pub rpm: Option<i64>,
    pub tpm: Option<i64>,
    pub max_concurrent: Option<i64>,
}

#[derive(Debug)]
pub struct Budget {
    pub id: Uuid,
    pub scope: LedgerScope,
    pub period: Period,
    pub max_tokens: Option<i64>,
    pub max_cost_pico: Option<i64>,
    pub soft_limit_percent: Option<i64>,
}

/// Pico-USD per token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Price {
    pub input: i64,
    pub output: i64,
    pub cached_input: Option<i64>,
    pub max_output_tokens: Option<u32>,
}

impl Price {
    /// The exact cost of a request's usage. Cached prompt tokens are part of
    /// the prompt tokens and cost the cached price when there is one.
    pub fn cost(&self, prompt: u64, cached: u64, completion: u64) -> i64 {
        use ditto_core::money::cost;
        let cached = cached.min(prompt);
        let cached_price = self.cached_input.unwrap_or(self.input);
        cost(prompt - cached, self.input)
            .saturating_add(cost(cached, cached_price))
            .saturating_add(cost(completion, self.output))
    }
}

impl From<&GatewayPriceRow> for Price {
    fn from(row: &GatewayPriceRow) -> Self {
        Price {
            input: row.input_pico,
            output: row.output_pico,
            cached_input: row.cached_input_pico,
            max_output_tokens: row.max_output_tokens.map(|m| m.max(1) as u32),
        }
    }
}

pub type Prices = HashMap<String, Price>;

#[derive(Default)]
pub struct Rules {
    zone: Option<Tz>,
    limits: HashMap<LedgerScope, Vec<Arc<Limit>>>,
    budgets: HashMap<LedgerScope, Vec<Arc<Budget>>>,
    pub prices: Prices,
}

impl Rules {
    pub fn build(
        zone: Tz,
        limits: Vec<GatewayLimitRow>,
        budgets: Vec<GatewayBudgetRow>,
        prices: Vec<GatewayPriceRow>,
    ) -> Self {
        let mut rules = Rules {
            zone: Some(zone),
            ..Rules::default()
        };
        for row in limits {
            rules
                .limits
                .entry(row.scope)
                .or_default()
                .push(Arc::new(Limit {
                    id: row.id,
                    scope: row.scope,
                    model: row.model,
                    rpm: row.rpm.map(i64::from),
                    tpm: row.tpm,
                    max_concurrent: row.max_concurrent.map(i64::from),
                }));
        }
        for row in budgets {
            let Ok(period) = row.period.parse() else {
                continue;
            };
            rules
                .budgets
                .entry(row.scope)
                .or_default()
                .push(Arc::new(Budget {
                    id: row.id,
                    scope: row.scope,
                    period,
                    max_tokens: row.max_tokens,
                    max_cost_pico: row.max_cost_pico,
                    soft_limit_percent: row.soft_limit_percent.map(i64::from),
                }));
        }
        rules.prices = prices
            .iter()
            .map(|row| (row.model.clone(), Price::from(row)))
            .collect();
        rules
    }

    /// The tenant's time zone, for budget periods.
    pub fn zone(&self) -> Tz {
        self.zone.unwrap_or(chrono_tz::UTC)
    }

    pub fn has_budgets(&self) -> bool {
        !self.budgets.is_empty()
    }

    pub fn is_empty(&self) -> bool {
        self.limits.is_empty() && self.budgets.is_empty()
    }

    /// The scopes a key's requests count against.
    fn scopes(key: &Key) -> std::iter::Flatten<std::array::IntoIter<Option<LedgerScope>, 4>> {
        [
            Some(LedgerScope::Tenant),
            Some(LedgerScope::Project(key.project_id)),
            key.owner_user_id.map(LedgerScope::User),
            Some(LedgerScope::Key(key.key_id)),
        ]
        .into_iter()
        .flatten()
    }

    /// The limits on a request by `key` for the model asked as `requested`
    /// (an alias perhaps) and served by the route named `route`.
    pub fn limits_for<'a>(
        &'a self,
        key: &Key,
        requested: Option<&'a str>,
        route: Option<&'a str>,
    ) -> impl Iterator<Item = &'a Arc<Limit>> + 'a {
        Self::scopes(key)
            .filter_map(|scope| self.limits.get(&scope))
            .flatten()
            .filter(move |l| match &l.model {
                None => true,
                Some(m) => Some(m.as_str()) == requested || Some(m.as_str()) == route,
            })
    }

    pub fn budgets_for<'a>(&'a self, key: &Key) -> impl Iterator<Item = &'a Arc<Budget>> + 'a {
        Self::scopes(key)
            .filter_map(|scope| self.budgets.get(&scope))
            .flatten()
    }
}

/// A model's price: the tenant's own, else the platform's.
pub fn price<'a>(model: &str, tenant: &'a Prices, platform: &'a Prices) -> Option<&'a Price> {
    tenant.get(model).or_else(|| platform.get(model))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cached_tokens_cost_the_cached_price() {
        let price = Price {
            input: 2_500_000,
            output: 10_000_000,
            cached_input: Some(1_250_000),
            max_output_tokens: None,
        };
        // 1000 prompt tokens of which 400 cached, 100 completion tokens.
        assert_eq!(
            price.cost(1000, 400, 100),
            600 * 2_500_000 + 400 * 1_250_000 + 100 * 10_000_000
        );
        // Cached beyond the prompt is capped at the prompt.
        assert_eq!(price.cost(10, 50, 0), 10 * 1_250_000);
    }
}
