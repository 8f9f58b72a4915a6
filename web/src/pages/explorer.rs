//! The usage explorer: a time range, a grouping (project, user, key, model,
//! backend), daily requests as a chart, the groups as a table, and the table
//! as CSV.

use chrono::Duration;
use ditto_types::api::{ApiKeyPage, ProjectPage, UsageReport, UsageRow};
use leptos::prelude::*;

use crate::api::{self, enc};
use crate::app::Session;
use crate::pages::usage::Chart;
use crate::ui::{Empty, Failed, Loading, now};

const DIMENSIONS: [(&str, &str); 5] = [
    ("project", "Project"),
    ("model", "Model"),
    ("key", "API key"),
    ("user", "User"),
    ("backend", "Backend"),
];

fn range(days: i64) -> String {
    let to = now() + Duration::days(1);
    let from = to - Duration::days(days);
    format!(
        "from={}&to={}",
        enc(&from.format("%Y-%m-%dT00:00:00Z").to_string()),
        enc(&to.format("%Y-%m-%dT00:00:00Z").to_string())
    )
}

/// The group a row belongs to, by name where the console knows it.
fn label(row: &UsageRow, by: &str, names: &[(String, String)]) -> String {
    let id = match by {
        "project" => row.project_id.map(|i| i.to_string()),
        "key" => row.key_id.map(|i| i.to_string()),
        "user" => row
            .user_id
            .map(|u| u.map(|i| i.to_string()).unwrap_or_else(|| "(none)".into())),
        "backend" => row
            .backend_id
            .map(|b| b.map(|i| i.to_string()).unwrap_or_else(|| "(none)".into())),
        _ => row.model.clone(),
    }
    .unwrap_or_default();
    names
        .iter()
        .find(|(i, _)| *i == id)
        .map(|(_, n)| n.clone())
        .unwrap_or(id)
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

#[component]
pub fn Explorer() -> impl IntoView {
    let session = Session::get();
    let days = RwSignal::new("14".to_owned());
    let by = RwSignal::new("project".to_owned());
    let daily = LocalResource::new(move || {
        let t = session.tenant();
        let days: i64 = days.get().parse().unwrap_or(14);
        async move {
            api::get::<UsageReport>(&format!("/tenants/{t}/usage?{}&interval=day", range(days)))
                .await
        }
    });
    let grouped = LocalResource::new(move || {
        let t = session.tenant();
        let days: i64 = days.get().parse().unwrap_or(14);
        let by = by.get();
        async move {
            api::get::<UsageReport>(&format!("/tenants/{t}/usage?{}&group_by={by}", range(days)))
                .await
        }
    });
    // Names for the ids in the table, where the caller may read them.
    let names = LocalResource::new(move || {
        let t = session.tenant();
        async move {
            let mut names = Vec::new();
            if let Ok(p) =
                api::get::<ProjectPage>(&format!("/tenants/{t}/projects?limit=200")).await
            {
                names.extend(p.items.into_iter().map(|p| (p.id.to_string(), p.name)));
            }
            if let Ok(k) = api::get::<ApiKeyPage>(&format!("/tenants/{t}/api-keys?limit=200")).await
            {
                names.extend(k.items.into_iter().map(|k| (k.id.to_string(), k.name)));
            }
            names
        }
    });

    view! {
        <div class="page-head">
            <h1>"Usage"</h1>
            <p class="lede">"Requests, tokens and spend, grouped the way you need."</p>
        </div>
        <div class="card form-row" role="group" aria-label="What to show">
            <label>
                "Range"
                <select name="range" bind:value=days>
                    <option value="7">"Last 7 days"</option>
                    <option value="14" selected>"Last 14 days"</option>
                    <option value="30">"Last 30 days"</option>
                    <option value="90">"Last 90 days"</option>
                </select>
            </label>
            <label>
                "Group by"
                <select name="group_by" bind:value=by>
                    {DIMENSIONS.iter().map(|(value, text)| view! {
                        <option value=*value selected=*value == "project">{*text}</option>
                    }).collect_view()}
                </select>
            </label>
        </div>
        <section class="card">
            <h2>"Requests per day"</h2>
            {move || match daily.get() {
                None => view! { <Loading/> }.into_any(),
                Some(Err(e)) => view! { <Failed error=e/> }.into_any(),
                Some(Ok(r)) => {
                    let days: i64 = days.get_untracked().parse().unwrap_or(14);
                    view! { <Chart rows=r.rows days/> }.into_any()
                }
            }}
        </section>
        {move || match grouped.get() {
            None => view! { <Loading/> }.into_any(),
            Some(Err(e)) => view! { <Failed error=e/> }.into_any(),
            Some(Ok(r)) if r.rows.iter().all(|r| r.requests == 0) => view! { <Empty text="No traffic in this range."/> }.into_any(),
            Some(Ok(r)) => {
                let dimension = by.get_untracked();
                let heading = DIMENSIONS.iter().find(|(v, _)| *v == dimension).map(|(_, t)| *t).unwrap_or("Group");
                let names = names.get().unwrap_or_default();
                let rows: Vec<(String, UsageRow)> = r.rows.into_iter().map(|row| (label(&row, &dimension, &names), row)).collect();
                let mut csv = format!("{dimension},requests,errors,prompt_tokens,completion_tokens,cached_tokens,cost_usd\n");
                for (name, row) in &rows {
                    csv.push_str(&format!(
                        "{},{},{},{},{},{},{}\n",
                        csv_field(name), row.requests, row.errors, row.prompt_tokens,
                        row.completion_tokens, row.cached_tokens, row.cost_usd
                    ));
                }
                let href = format!("data:text/csv;charset=utf-8,{}", enc(&csv));
                view! {
                    <div class="table-head">
                        <h2>{format!("By {}", heading.to_lowercase())}</h2>
                        <a class="button secondary-link" rel="external" href=href download=format!("usage-by-{dimension}.csv")>"Download CSV"</a>
                    </div>
                    <table class="table">
                        <thead><tr><th>{heading}</th><th class="num">"Requests"</th><th class="num">"Errors"</th><th class="num">"Prompt tokens"</th><th class="num">"Completion tokens"</th><th class="num">"Spend"</th></tr></thead>
                        <tbody>
                            {rows.into_iter().map(|(name, row)| view! {
                                <tr>
                                    <td class="strong">{name}</td>
                                    <td class="num">{row.requests}</td>
                                    <td class="num">{row.errors}</td>
                                    <td class="num">{row.prompt_tokens}</td>
                                    <td class="num">{row.completion_tokens}</td>
                                    <td class="num">{format!("${:.4}", row.cost_usd.parse::<f64>().unwrap_or(0.0))}</td>
                                </tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any()
            }
        }}
    }
}
