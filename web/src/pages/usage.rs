//! The tenant overview: requests, tokens, spend and errors of the last 14
//! days, a daily chart, and the models used.

use chrono::Duration;
use ditto_types::api::{UsageReport, UsageRow};
use leptos::prelude::*;

use crate::api::{self, enc};
use crate::app::Session;
use crate::ui::{Empty, Failed, Loading, now};

const DAYS: i64 = 14;

async fn report(tenant: String, extra: &str) -> api::ApiResult<UsageReport> {
    let to = now() + Duration::days(1);
    let from = to - Duration::days(DAYS);
    let range = format!(
        "from={}&to={}",
        enc(&from.format("%Y-%m-%dT00:00:00Z").to_string()),
        enc(&to.format("%Y-%m-%dT00:00:00Z").to_string())
    );
    api::get::<UsageReport>(&format!("/tenants/{tenant}/usage?{range}{extra}")).await
}

fn cost(rows: &[UsageRow]) -> f64 {
    rows.iter()
        .map(|r| r.cost_usd.parse::<f64>().unwrap_or(0.0))
        .sum()
}

#[component]
pub fn Overview() -> impl IntoView {
    let session = Session::get();
    let daily = LocalResource::new(move || report(session.tenant(), "&interval=day"));
    let by_model = LocalResource::new(move || report(session.tenant(), "&group_by=model"));

    view! {
        <div class="page-head">
            <h1>"Overview"</h1>
            <p class="lede">{format!("Traffic through this tenant’s endpoint in the last {DAYS} days.")}</p>
        </div>
        {move || match daily.get() {
            None => view! { <Loading/> }.into_any(),
            Some(Err(e)) => view! { <Failed error=e/> }.into_any(),
            Some(Ok(report)) => {
                let rows = report.rows;
                let requests: u64 = rows.iter().map(|r| r.requests).sum();
                let errors: u64 = rows.iter().map(|r| r.errors).sum();
                let tokens: u64 = rows.iter().map(|r| r.prompt_tokens + r.completion_tokens).sum();
                let spend = cost(&rows);
                view! {
                    <div class="stats">
                        <div class="stat"><span class="stat-label">"Requests"</span><span class="stat-value" data-testid="requests">{requests}</span></div>
                        <div class="stat"><span class="stat-label">"Tokens"</span><span class="stat-value">{tokens}</span></div>
                        <div class="stat"><span class="stat-label">"Spend"</span><span class="stat-value">{format!("${spend:.2}")}</span></div>
                        <div class="stat"><span class="stat-label">"Errors"</span><span class="stat-value">{errors}</span></div>
                    </div>
                    <section class="card">
                        <h2>"Requests per day"</h2>
                        <Chart rows days=DAYS/>
                    </section>
                }.into_any()
            }
        }}
        <section class="card">
            <h2>"By model"</h2>
            {move || match by_model.get() {
                None => view! { <Loading/> }.into_any(),
                Some(Err(e)) => view! { <Failed error=e/> }.into_any(),
                Some(Ok(r)) if r.rows.iter().all(|r| r.requests == 0) => view! { <Empty text="No traffic yet."/> }.into_any(),
                Some(Ok(r)) => view! {
                    <table class="table">
                        <thead><tr><th>"Model"</th><th class="num">"Requests"</th><th class="num">"Prompt tokens"</th><th class="num">"Completion tokens"</th><th class="num">"Errors"</th><th class="num">"Spend"</th></tr></thead>
                        <tbody>
                            {r.rows.into_iter().map(|row| view! {
                                <tr>
                                    <td class="strong">{row.model.clone().unwrap_or_default()}</td>
                                    <td class="num">{row.requests}</td>
                                    <td class="num">{row.prompt_tokens}</td>
                                    <td class="num">{row.completion_tokens}</td>
                                    <td class="num">{row.errors}</td>
                                    <td class="num">{format!("${:.4}", row.cost_usd.parse::<f64>().unwrap_or(0.0))}</td>
                                </tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any(),
            }}
        </section>
    }
}

/// Daily requests as bars (errors stacked in red), one per day of the
/// last `days`.
#[component]
pub fn Chart(rows: Vec<UsageRow>, days: i64) -> impl IntoView {
    let today = now().date_naive();
    let count = days;
    let days: Vec<(chrono::NaiveDate, u64, u64)> = (0..count)
        .rev()
        .map(|back| {
            let day = today - Duration::days(back);
            let (requests, errors) = rows
                .iter()
                .filter(|r| r.bucket.map(|b| b.date_naive()) == Some(day))
                .fold((0, 0), |(q, e), r| (q + r.requests, e + r.errors));
            (day, requests, errors)
        })
        .collect();
    let max = days.iter().map(|d| d.1).max().unwrap_or(0).max(1) as f64;
    let (w, h, gap) = (40.0, 160.0, 8.0);
    let width = count as f64 * (w + gap);
    // About fifteen day labels, whatever the range.
    let step = (count / 15).max(1);
    view! {
        <svg class="chart" viewBox=format!("0 0 {width} {}", h + 24.0) role="img"
            aria-label=format!("Requests per day, highest {max}")>
            <line x1="0" x2=width y1=h y2=h class="axis"/>
            {days.into_iter().enumerate().map(|(i, (day, requests, errors))| {
                let x = i as f64 * (w + gap);
                let bar = requests as f64 / max * (h - 8.0);
                let err = errors as f64 / max * (h - 8.0);
                view! {
                    <g>
                        <title>{format!("{day}: {requests} requests, {errors} errors")}</title>
                        <rect x=x y=h - bar width=w height=bar class="bar" rx="3"/>
                        <rect x=x y=h - err width=w height=err class="bar-error" rx="3"/>
                        {(i as i64 % step == 0).then(|| view! {
                            <text x=x + w / 2.0 y=h + 16.0 class="tick">{day.format("%d").to_string()}</text>
                        })}
                    </g>
                }
            }).collect_view()}
        </svg>
    }
}
