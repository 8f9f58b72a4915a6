//! Budgets: each with its consumption this period as a bar; creating one.

use ditto_types::api::{Budget, BudgetPage, LimitScope};
use leptos::prelude::*;
use serde_json::json;

use crate::api::{self, ApiError};
use crate::app::Session;
use crate::pages::rate_limits::RateLimits;
use crate::ui::{Empty, Failed, FieldError, FormError, Loading, Ui, when};

/// How much of the budget is used, 0–100+, by cost when it has a cost limit.
fn consumed(b: &Budget) -> (f64, String) {
    if let Some(max) = b
        .max_cost_usd
        .as_deref()
        .and_then(|m| m.parse::<f64>().ok())
    {
        let used = b.current.cost_usd.parse::<f64>().unwrap_or(0.0);
        let pct = if max > 0.0 { used / max * 100.0 } else { 100.0 };
        return (pct, format!("${used:.4} of ${max:.2}"));
    }
    if let Some(max) = b.max_tokens {
        let used = b.current.tokens;
        let pct = if max > 0 {
            used as f64 / max as f64 * 100.0
        } else {
            100.0
        };
        return (pct, format!("{used} of {max} tokens"));
    }
    (0.0, "no limit".into())
}

fn scope(b: &Budget) -> String {
    let kind = match b.scope {
        LimitScope::Tenant => "Tenant",
        LimitScope::Project => "Project",
        LimitScope::User => "User",
        LimitScope::Key => "Key",
    };
    match b.scope_id {
        Some(id) => format!(
            "{kind} {}",
            id.to_string().chars().take(8).collect::<String>()
        ),
        None => kind.to_owned(),
    }
}

#[component]
pub fn Budgets() -> impl IntoView {
    let session = Session::get();
    let ui = Ui::get();
    let list = LocalResource::new(move || {
        let t = session.tenant();
        async move { api::get::<BudgetPage>(&format!("/tenants/{t}/budgets?limit=200")).await }
    });
    let period = RwSignal::new("monthly".to_owned());
    let max_cost = RwSignal::new(String::new());
    let max_tokens = RwSignal::new(String::new());
    let error = RwSignal::new(None::<ApiError>);

    let create = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let t = session.tenant();
        let mut body = json!({ "scope": "tenant", "period": period.get_untracked() });
        let cost = max_cost.get_untracked();
        if !cost.trim().is_empty() {
            body["max_cost_usd"] = json!(cost.trim());
        }
        let tokens = max_tokens.get_untracked();
        if !tokens.trim().is_empty() {
            body["max_tokens"] = match tokens.trim().parse::<u64>() {
                Ok(n) => json!(n),
                Err(_) => json!(tokens.trim()),
            };
        }
        leptos::task::spawn_local(async move {
            match api::post::<_, Budget>(&format!("/tenants/{t}/budgets"), &body).await {
                Ok(_) => {
                    ui.ok("Budget created");
                    max_cost.set(String::new());
                    max_tokens.set(String::new());
                    error.set(None);
                    list.refetch();
                }
                Err(e) => error.set(Some(e)),
            }
        });
    };

    view! {
        <div class="page-head">
            <h1>"Budgets and limits"</h1>
            <p class="lede">"Spend limits and how much of each is used this period; request and token rates."</p>
        </div>
        <Show when=move || session.can("budgets:write")>
            <form class="card form-row" on:submit=create aria-label="New tenant budget">
                <label>
                    "Period"
                    <select name="period" bind:value=period>
                        <option value="daily">"Daily"</option>
                        <option value="weekly">"Weekly"</option>
                        <option value="monthly">"Monthly"</option>
                        <option value="lifetime">"Lifetime"</option>
                    </select>
                </label>
                <label>
                    "Max spend (USD)"
                    <input name="max_cost_usd" inputmode="decimal" placeholder="50.00" bind:value=max_cost/>
                    <FieldError error field="max_cost_usd"/>
                </label>
                <label>
                    "Max tokens"
                    <input name="max_tokens" inputmode="numeric" bind:value=max_tokens/>
                    <FieldError error field="max_tokens"/>
                </label>
                <button type="submit">"Add tenant budget"</button>
                <FormError error/>
            </form>
        </Show>
        {move || match list.get() {
            None => view! { <Loading/> }.into_any(),
            Some(Err(e)) => view! { <Failed error=e/> }.into_any(),
            Some(Ok(page)) if page.items.is_empty() => view! { <Empty text="No budgets yet."/> }.into_any(),
            Some(Ok(page)) => view! {
                <div class="budgets">
                    {page.items.into_iter().map(|b| {
                        let (pct, text) = consumed(&b);
                        let soft = b.soft_limit_percent.unwrap_or(100) as f64;
                        let level = if pct >= 100.0 { "over" } else if pct >= soft { "warn" } else { "ok" };
                        view! {
                            <section class="card budget">
                                <div class="budget-head">
                                    <h2>{format!("{} · {}", scope(&b), b.period.as_str())}</h2>
                                    <div class="muted">{format!("since {}", when(&b.current.period_start))}</div>
                                </div>
                                <div class="meter" role="meter" aria-valuemin="0" aria-valuemax="100"
                                    aria-valuenow=format!("{:.0}", pct.min(100.0)) aria-label=format!("{}: {text}", scope(&b))>
                                    <div class=format!("meter-fill meter-{level}") style:width=format!("{:.1}%", pct.min(100.0))></div>
                                </div>
                                <p class="budget-text" data-testid="budget-text">{format!("{text} ({pct:.1} %)")}</p>
                            </section>
                        }
                    }).collect_view()}
                </div>
            }.into_any(),
        }}
        <RateLimits/>
    }
}
