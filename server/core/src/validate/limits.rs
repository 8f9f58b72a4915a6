//! Rate limits and budgets.

use ditto_types::api::*;

use super::*;
use crate::Result;

// ---------------------------------------------------------------- limits and budgets

pub const RPM_MAX: u32 = 100_000_000;
pub const TPM_MAX: u64 = 100_000_000_000;
pub const MAX_CONCURRENT_MAX: u32 = 1_000_000;
pub const BUDGET_TOKENS_MAX: u64 = 1_000_000_000_000_000;
/// The largest budget, in USD; in pico-USD it still fits an `i64`.
pub const BUDGET_USD_MAX: i64 = 9_000_000;
const _: () = assert!(BUDGET_USD_MAX < i64::MAX / crate::money::PICO_PER_USD);

/// A scope names its project, user or key, and only then.
fn limit_scope(c: &mut Checker, scope: LimitScope, scope_id: Option<uuid::Uuid>) {
    match (scope, scope_id) {
        (LimitScope::Tenant, Some(_)) => c.fail(
            "/scope_id",
            "not_allowed",
            "must be absent (or null) for the tenant scope",
        ),
        (LimitScope::Tenant, None) | (_, Some(_)) => {}
        (other, None) => c.fail(
            "/scope_id",
            "required",
            format!("the id of the {} this applies to", other.as_str()),
        ),
    }
}

fn rate_limit_values(
    c: &mut Checker,
    rpm: Option<u32>,
    tpm: Option<u64>,
    max_concurrent: Option<u32>,
) {
    c.range("/rpm", rpm, 1, RPM_MAX);
    c.range_u64("/tpm", tpm, 1, TPM_MAX);
    c.range("/max_concurrent", max_concurrent, 1, MAX_CONCURRENT_MAX);
}

/// A rate limit limits something: at least one of its three limits is set.
pub fn rate_limit_has_a_limit(
    rpm: Option<u32>,
    tpm: Option<u64>,
    max_concurrent: Option<u32>,
) -> Result<()> {
    if rpm.is_none() && tpm.is_none() && max_concurrent.is_none() {
        return Err(Error::invalid(
            "/",
            "required",
            "at least one of `rpm`, `tpm` and `max_concurrent` is required",
        ));
    }
    Ok(())
}

pub fn create_rate_limit(body: &CreateRateLimit) -> Result<()> {
    let mut c = Checker::default();
    limit_scope(&mut c, body.scope, body.scope_id);
    if let Some(model) = &body.model {
        c.model("/model", model, false);
    }
    rate_limit_values(&mut c, body.rpm, body.tpm, body.max_concurrent);
    c.finish()?;
    rate_limit_has_a_limit(body.rpm, body.tpm, body.max_concurrent)
}

pub fn update_rate_limit(body: &UpdateRateLimit) -> Result<()> {
    let mut c = Checker::default();
    if let Some(model) = &body.model {
        c.model("/model", model, false);
    }
    c.exclusive(
        "/clear_model",
        body.clear_model,
        body.model.is_some(),
        "model",
    );
    rate_limit_values(&mut c, body.rpm, body.tpm, body.max_concurrent);
    c.exclusive("/clear_rpm", body.clear_rpm, body.rpm.is_some(), "rpm");
    c.exclusive("/clear_tpm", body.clear_tpm, body.tpm.is_some(), "tpm");
    c.exclusive(
        "/clear_max_concurrent",
        body.clear_max_concurrent,
        body.max_concurrent.is_some(),
        "max_concurrent",
    );
    c.finish()
}

/// A budget amount in pico-USD: positive, at most [`BUDGET_USD_MAX`], exact.
fn budget_cost(c: &mut Checker, text: Option<&str>) -> Option<i64> {
    let text = text?;
    match crate::money::parse_usd(text) {
        Ok(0) => c.fail("/max_cost_usd", "out_of_range", "must be more than 0"),
        Ok(pico) if pico > BUDGET_USD_MAX * crate::money::PICO_PER_USD => c.fail(
            "/max_cost_usd",
            "out_of_range",
            format!("must be at most {BUDGET_USD_MAX}"),
        ),
        Ok(pico) => return Some(pico),
        Err(message) => c.fail("/max_cost_usd", "invalid_amount", message),
    }
    None
}

fn budget_values(c: &mut Checker, max_tokens: Option<u64>, soft_limit_percent: Option<u8>) {
    c.range_u64("/max_tokens", max_tokens, 1, BUDGET_TOKENS_MAX);
    c.range(
        "/soft_limit_percent",
        soft_limit_percent.map(u32::from),
        1,
        99,
    );
}

/// A budget caps something: tokens, money or both.
pub fn budget_has_a_cap(max_tokens: Option<u64>, max_cost_pico: Option<i64>) -> Result<()> {
    if max_tokens.is_none() && max_cost_pico.is_none() {
        return Err(Error::invalid(
            "/",
            "required",
            "at least one of `max_tokens` and `max_cost_usd` is required",
        ));
    }
    Ok(())
}

/// Checks a new budget; returns its maximum cost in pico-USD.
pub fn create_budget(body: &CreateBudget) -> Result<Option<i64>> {
    let mut c = Checker::default();
    limit_scope(&mut c, body.scope, body.scope_id);
    budget_values(&mut c, body.max_tokens, body.soft_limit_percent);
    let max_cost_pico = budget_cost(&mut c, body.max_cost_usd.as_deref());
    c.finish()?;
    budget_has_a_cap(body.max_tokens, max_cost_pico)?;
    Ok(max_cost_pico)
}

/// Checks a budget change; returns the new maximum cost in pico-USD, if one is set.
pub fn update_budget(body: &UpdateBudget) -> Result<Option<i64>> {
    let mut c = Checker::default();
    budget_values(&mut c, body.max_tokens, body.soft_limit_percent);
    let max_cost_pico = budget_cost(&mut c, body.max_cost_usd.as_deref());
    c.exclusive(
        "/clear_max_tokens",
        body.clear_max_tokens,
        body.max_tokens.is_some(),
        "max_tokens",
    );
    c.exclusive(
        "/clear_max_cost_usd",
        body.clear_max_cost_usd,
        body.max_cost_usd.is_some(),
        "max_cost_usd",
    );
    c.exclusive(
        "/clear_soft_limit_percent",
        body.clear_soft_limit_percent,
        body.soft_limit_percent.is_some(),
        "soft_limit_percent",
    );
    c.finish()?;
    Ok(max_cost_pico)
}
