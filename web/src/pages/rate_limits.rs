//! Rate limits: requests and tokens a minute and concurrent requests, for
//! the tenant or a project (optionally one model); creating and deleting.

use ditto_types::api::{LimitScope, ProjectPage, RateLimit, RateLimitPage};
use leptos::prelude::*;
use serde_json::json;

use crate::api::{self, ApiError};
use crate::app::Session;
use crate::ui::{Empty, Failed, FieldError, FormError, Loading, Ui};

fn number(s: &str) -> Option<serde_json::Value> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    // Not a number: sent as is, so the API names the field.
    Some(s.parse::<u64>().map_or_else(|_| json!(s), |n| json!(n)))
}

#[component]
pub fn RateLimits() -> impl IntoView {
    let session = Session::get();
    let ui = Ui::get();
    let list = LocalResource::new(move || {
        let t = session.tenant();
        async move { api::get::<RateLimitPage>(&format!("/tenants/{t}/rate-limits?limit=200")).await }
    });
    let projects = LocalResource::new(move || {
        let t = session.tenant();
        async move {
            api::get::<ProjectPage>(&format!("/tenants/{t}/projects?limit=200&sort=name")).await
        }
    });
    let project = RwSignal::new(String::new());
    let model = RwSignal::new(String::new());
    let rpm = RwSignal::new(String::new());
    let tpm = RwSignal::new(String::new());
    let concurrent = RwSignal::new(String::new());
    let error = RwSignal::new(None::<ApiError>);

    let create = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let t = session.tenant();
        let project = project.get_untracked();
        let mut body = if project.is_empty() {
            json!({ "scope": "tenant" })
        } else {
            json!({ "scope": "project", "scope_id": project })
        };
        let m = model.get_untracked();
        if !m.trim().is_empty() {
            body["model"] = json!(m.trim());
        }
        for (field, value) in [("rpm", rpm), ("tpm", tpm), ("max_concurrent", concurrent)] {
            if let Some(v) = number(&value.get_untracked()) {
                body[field] = v;
            }
        }
        leptos::task::spawn_local(async move {
            match api::post::<_, RateLimit>(&format!("/tenants/{t}/rate-limits"), &body).await {
                Ok(_) => {
                    ui.ok("Rate limit added");
                    for s in [model, rpm, tpm, concurrent] {
                        s.set(String::new());
                    }
                    error.set(None);
                    list.refetch();
                }
                Err(e) => error.set(Some(e)),
            }
        });
    };

    let delete = move |id: String| {
        let t = session.tenant();
        ui.confirm(
            "Delete this rate limit?",
            "Requests are no longer held to it.",
            move || {
                let (t, id) = (t.clone(), id.clone());
                leptos::task::spawn_local(async move {
                    match api::call("DELETE", &format!("/tenants/{t}/rate-limits/{id}"), None).await
                    {
                        Ok(()) => {
                            ui.ok("Rate limit deleted");
                            list.refetch();
                        }
                        Err(e) => ui.error(&e),
                    }
                });
            },
        );
    };

    let scope_name = move |r: &RateLimit| match (r.scope, r.scope_id) {
        (LimitScope::Tenant, _) => "Tenant".to_owned(),
        (_, Some(id)) => projects
            .get()
            .and_then(Result::ok)
            .and_then(|p| {
                p.items
                    .into_iter()
                    .find(|p| p.id.to_string() == id.to_string())
            })
            .map(|p| format!("Project {}", p.name))
            .unwrap_or_else(|| format!("{} {}", r.scope.as_str(), id)),
        (_, None) => r.scope.as_str().to_owned(),
    };
    let show = |v: Option<String>| v.unwrap_or_else(|| "—".into());

    view! {
        <section class="card" aria-labelledby="rate-limits-title">
            <h2 id="rate-limits-title">"Rate limits"</h2>
            <Show when=move || session.can("rate_limits:write")>
                <form class="form-row" on:submit=create aria-label="New rate limit">
                    <label>
                        "Applies to"
                        <select name="limit_project" bind:value=project>
                            <option value="">"The whole tenant"</option>
                            {move || projects.get().and_then(Result::ok).map(|p| p.items.into_iter().map(|p| {
                                view! { <option value=p.id.to_string()>{format!("Project {}", p.name)}</option> }
                            }).collect_view())}
                        </select>
                        <FieldError error field="scope_id"/>
                    </label>
                    <label>
                        "Model"
                        <input name="limit_model" placeholder="every model" bind:value=model/>
                        <FieldError error field="model"/>
                    </label>
                    <label>
                        "Requests / min"
                        <input name="rpm" inputmode="numeric" bind:value=rpm/>
                        <FieldError error field="rpm"/>
                    </label>
                    <label>
                        "Tokens / min"
                        <input name="tpm" inputmode="numeric" bind:value=tpm/>
                        <FieldError error field="tpm"/>
                    </label>
                    <label>
                        "Concurrent"
                        <input name="max_concurrent" inputmode="numeric" bind:value=concurrent/>
                        <FieldError error field="max_concurrent"/>
                    </label>
                    <button type="submit">"Add rate limit"</button>
                    <FormError error/>
                </form>
            </Show>
            {move || match list.get() {
                None => view! { <Loading/> }.into_any(),
                Some(Err(e)) => view! { <Failed error=e/> }.into_any(),
                Some(Ok(page)) if page.items.is_empty() => view! { <Empty text="No rate limits."/> }.into_any(),
                Some(Ok(page)) => {
                    let can_write = session.can("rate_limits:write");
                    view! {
                        <table class="table">
                            <thead><tr><th>"Applies to"</th><th>"Model"</th><th class="num">"Requests / min"</th><th class="num">"Tokens / min"</th><th class="num">"Concurrent"</th><th><span class="visually-hidden">"Actions"</span></th></tr></thead>
                            <tbody>
                                {page.items.into_iter().map(|r| {
                                    let id = r.id.to_string();
                                    let scope = scope_name(&r);
                                    let label = format!("Delete the rate limit of {scope}");
                                    view! {
                                        <tr>
                                            <td class="strong">{scope}</td>
                                            <td>{r.model.clone().unwrap_or_else(|| "every model".into())}</td>
                                            <td class="num">{show(r.rpm.map(|v| v.to_string()))}</td>
                                            <td class="num">{show(r.tpm.map(|v| v.to_string()))}</td>
                                            <td class="num">{show(r.max_concurrent.map(|v| v.to_string()))}</td>
                                            <td class="row-actions">
                                                {can_write.then(|| view! {
                                                    <button class="danger small" aria-label=label on:click=move |_| delete(id.clone())>"Delete"</button>
                                                })}
                                            </td>
                                        </tr>
                                    }
                                }).collect_view()}
                            </tbody>
                        </table>
                    }.into_any()
                }
            }}
        </section>
    }
}
