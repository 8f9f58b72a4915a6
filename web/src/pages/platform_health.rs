//! The platform page's tenant health table: every tenant's requests,
//! errors, tokens, spend and latency over a chosen window, with the tenants
//! whose error rate is high drawn first in the reader's eye (the API judges
//! them `degraded` or `failing`; the page only shows it).

use ditto_types::api::{TenantHealth, TenantHealthPage, TenantHealthState};
use leptos::prelude::*;

use super::platform::get;
use crate::api::enc;
use crate::ui::{Empty, Failed, Loading, when_opt};

/// The windows offered, as the API spells them, with their labels.
const WINDOWS: &[(&str, &str)] = &[
    ("1h", "Last hour"),
    ("24h", "Last 24 hours"),
    ("7d", "Last 7 days"),
];

fn state_badge(state: TenantHealthState) -> (&'static str, &'static str) {
    match state {
        TenantHealthState::Idle => ("badge", "idle"),
        TenantHealthState::Healthy => ("badge badge-active", "healthy"),
        TenantHealthState::Degraded => ("badge badge-expired", "degraded"),
        TenantHealthState::Failing => ("badge badge-revoked", "failing"),
    }
}

fn row_class(state: TenantHealthState) -> &'static str {
    match state {
        TenantHealthState::Degraded => "health-degraded",
        TenantHealthState::Failing => "health-failing",
        _ => "",
    }
}

fn ms(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.0} ms"))
        .unwrap_or_else(|| "—".into())
}

fn percent(rate: f64) -> String {
    if rate == 0.0 {
        "0%".into()
    } else if rate < 0.001 {
        "<0.1%".into()
    } else {
        format!("{:.1}%", rate * 100.0)
    }
}

#[component]
pub fn TenantHealthTable(token: String, changed: RwSignal<u32>) -> impl IntoView {
    let token = StoredValue::new(token);
    let window = RwSignal::new("24h".to_owned());
    // The page shown: None is the first.
    let cursor = RwSignal::new(None::<String>);
    let health = LocalResource::new(move || {
        changed.track();
        let window = window.get();
        let cursor = cursor.get();
        async move {
            let mut path = format!("/tenant-health?window={window}&sort=name&limit=50");
            if let Some(cursor) = cursor {
                path.push_str(&format!("&cursor={}", enc(&cursor)));
            }
            get::<TenantHealthPage>(&token.get_value(), &path).await
        }
    });
    let choose = move |ev: leptos::ev::Event| {
        cursor.set(None);
        window.set(event_target_value(&ev));
    };

    view! {
        <section class="card" aria-labelledby="tenant-health-title">
            <div class="section-head">
                <div>
                    <h2 id="tenant-health-title">"Tenant health"</h2>
                    <p class="hint">"Requests through each tenant’s endpoint. Errors are answers of 400 or more; 5% makes a tenant degraded, 25% failing."</p>
                </div>
                <div class="health-controls">
                    <label class="inline">
                        "Window"
                        <select name="window" on:change=choose prop:value=move || window.get()>
                            {WINDOWS.iter().map(|(value, label)| view! { <option value=*value>{*label}</option> }).collect_view()}
                        </select>
                    </label>
                    <button class="secondary small" on:click=move |_| health.refetch()>"Reload health"</button>
                </div>
            </div>
            {move || match health.get() {
                None => view! { <Loading/> }.into_any(),
                Some(Err(e)) => view! { <Failed error=e/> }.into_any(),
                Some(Ok(page)) if page.items.is_empty() => view! { <Empty text="No tenants yet."/> }.into_any(),
                Some(Ok(page)) => {
                    let next = page.next_cursor.clone();
                    view! {
                        <Summary items=page.items.clone()/>
                        <table class="table health-table">
                            <thead><tr>
                                <th>"Tenant"</th><th>"Health"</th><th class="num">"Requests"</th><th class="num">"Errors"</th>
                                <th class="num">"Tokens"</th><th class="num">"Spend"</th><th class="num">"p50"</th><th class="num">"p95"</th><th>"Last request"</th>
                            </tr></thead>
                            <tbody>
                                {page.items.into_iter().map(|t| view! { <Row t/> }).collect_view()}
                            </tbody>
                        </table>
                        <div class="pager">
                            <Show when=move || cursor.get().is_some()>
                                <button class="secondary small" on:click=move |_| cursor.set(None)>"First tenants"</button>
                            </Show>
                            {next.map(|next| view! {
                                <button class="secondary small" on:click=move |_| cursor.set(Some(next.clone()))>"More tenants"</button>
                            })}
                        </div>
                    }.into_any()
                }
            }}
        </section>
    }
    .into_any()
}

/// How many tenants of the page need a look.
#[component]
fn Summary(items: Vec<TenantHealth>) -> impl IntoView {
    let count = |s| items.iter().filter(|t| t.health == s).count();
    let (failing, degraded) = (
        count(TenantHealthState::Failing),
        count(TenantHealthState::Degraded),
    );
    let text = match (failing, degraded) {
        (0, 0) => "No tenant has a high error rate.".to_owned(),
        (f, d) => {
            let mut parts = Vec::new();
            if f > 0 {
                parts.push(format!("{f} failing"));
            }
            if d > 0 {
                parts.push(format!("{d} degraded"));
            }
            format!("Needs a look: {}.", parts.join(", "))
        }
    };
    let class = if failing > 0 {
        "health-summary health-summary-bad"
    } else if degraded > 0 {
        "health-summary health-summary-warn"
    } else {
        "health-summary"
    };
    view! { <p class=class role="status">{text}</p> }
}

#[component]
fn Row(t: TenantHealth) -> impl IntoView {
    let (badge, label) = state_badge(t.health);
    let suspended = t.status == ditto_types::api::TenantStatus::Suspended;
    let high = matches!(
        t.health,
        TenantHealthState::Degraded | TenantHealthState::Failing
    );
    let spend = t.cost_usd.parse::<f64>().unwrap_or(0.0);
    view! {
        <tr class=row_class(t.health) data-tenant=t.slug.clone()>
            <td>
                <span class="strong">{t.slug.clone()}</span>
                <span class="muted health-name">{t.name.clone()}</span>
                {suspended.then(|| view! { <span class="badge badge-revoked">"suspended"</span> })}
            </td>
            <td><span class=badge>{label}</span></td>
            <td class="num">{t.requests}</td>
            <td class=if high { "num error-rate-high" } else { "num" }
                title=format!("{} answered 500 or more", t.server_errors)>
                {format!("{} ({})", t.errors, percent(t.error_rate))}
            </td>
            <td class="num">{t.prompt_tokens + t.completion_tokens}</td>
            <td class="num">{format!("${spend:.4}")}</td>
            <td class="num">{ms(t.latency_p50_ms)}</td>
            <td class="num">{ms(t.latency_p95_ms)}</td>
            <td class="muted nowrap">{when_opt(&t.last_request_at)}</td>
        </tr>
    }
    .into_any()
}
