//! Backends and routes: the upstream endpoints a tenant's traffic goes to
//! (credentials write-only) and, below them, the model routes
//! (`model_routes.rs`).

use ditto_types::api::{Backend, BackendPage, Provider};
use leptos::prelude::*;
use serde_json::{Value, json};

use crate::api::{self, ApiError};
use crate::app::Session;
use crate::pages::model_routes::ModelRoutes;
use crate::ui::{Empty, Failed, FieldError, FormError, Loading, Ui, when};

#[component]
pub fn Backends() -> impl IntoView {
    let session = Session::get();
    let ui = Ui::get();
    let backends = LocalResource::new(move || {
        let t = session.tenant();
        async move {
            api::get::<BackendPage>(&format!("/tenants/{t}/backends?limit=200&sort=name")).await
        }
    });
    // None: closed; Some(None): a new backend; Some(Some(b)): editing b.
    let editing = RwSignal::new(None::<Option<Backend>>);

    let delete = move |b: Backend| {
        let t = session.tenant();
        ui.confirm(
            format!("Delete backend “{}”?", b.name),
            "Routes that send traffic to it must be changed first.",
            move || {
                let t = t.clone();
                let id = b.id;
                leptos::task::spawn_local(async move {
                    match api::call("DELETE", &format!("/tenants/{t}/backends/{id}"), None).await {
                        Ok(()) => {
                            ui.ok("Backend deleted");
                            backends.refetch();
                        }
                        Err(e) => ui.error(&e),
                    }
                });
            },
        );
    };

    view! {
        <div class="page-head">
            <h1>"Backends and routes"</h1>
            <p class="lede">"Backends are the upstream APIs; routes map the model names your keys ask for to them."</p>
        </div>
        <section class="card" aria-labelledby="backends-title">
            <div class="section-head">
                <h2 id="backends-title">"Backends"</h2>
                <Show when=move || session.can("backends:write")>
                    <button class="secondary small" on:click=move |_| editing.set(Some(None))>"New backend"</button>
                </Show>
            </div>
            {move || editing.get().map(|existing| {
                let done = Callback::new(move |saved: bool| {
                    editing.set(None);
                    if saved { backends.refetch(); }
                });
                view! { <BackendForm existing done/> }
            })}
            {move || match backends.get() {
                None => view! { <Loading/> }.into_any(),
                Some(Err(e)) => view! { <Failed error=e/> }.into_any(),
                Some(Ok(page)) if page.items.is_empty() => view! { <Empty text="No backends yet."/> }.into_any(),
                Some(Ok(page)) => {
                    let can_write = session.can("backends:write");
                    view! {
                        <table class="table">
                            <thead><tr><th>"Name"</th><th>"Provider"</th><th>"Base URL"</th><th>"Credentials"</th><th class="num">"Timeout"</th><th class="num">"In flight"</th><th>"Updated"</th><th><span class="visually-hidden">"Actions"</span></th></tr></thead>
                            <tbody>
                                {page.items.into_iter().map(|b| {
                                    let (e1, d1) = (b.clone(), b.clone());
                                    let label = b.name.clone();
                                    view! {
                                        <tr data-backend=b.name.clone()>
                                            <td class="strong">{b.name.clone()}</td>
                                            <td>{b.provider.as_str()}</td>
                                            <td class="wrap"><code>{b.base_url.clone()}</code></td>
                                            <td>{if b.has_credentials { "stored" } else { "none" }}</td>
                                            <td class="num">{format!("{} s", b.timeout_ms as f64 / 1000.0)}</td>
                                            <td class="num">{b.max_in_flight.map(|n| n.to_string()).unwrap_or_else(|| "∞".into())}</td>
                                            <td class="muted nowrap">{when(&b.updated_at)}</td>
                                            <td class="row-actions">
                                                {can_write.then(|| view! {
                                                    <button class="secondary small" aria-label=format!("Edit {label}") on:click=move |_| editing.set(Some(Some(e1.clone())))>"Edit"</button>
                                                    <button class="danger small" aria-label=format!("Delete {label}") on:click=move |_| delete(d1.clone())>"Delete"</button>
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
        <ModelRoutes backends/>
    }
    .into_any()
}

/// A number field: empty is "not given".
fn number(field: &RwSignal<String>) -> Option<Value> {
    let text = field.get_untracked();
    let text = text.trim();
    if text.is_empty() {
        None
    } else {
        // Not a number: sent as text, and the API says what is wrong.
        Some(
            text.parse::<u64>()
                .map(|n| json!(n))
                .unwrap_or_else(|_| json!(text)),
        )
    }
}

#[component]
fn BackendForm(existing: Option<Backend>, done: Callback<bool>) -> impl IntoView {
    let session = Session::get();
    let ui = Ui::get();
    let b = existing.as_ref();
    let name = RwSignal::new(b.map(|b| b.name.clone()).unwrap_or_default());
    let provider = RwSignal::new(
        b.map(|b| b.provider.as_str())
            .unwrap_or("openai")
            .to_owned(),
    );
    let base_url = RwSignal::new(b.map(|b| b.base_url.clone()).unwrap_or_default());
    let credentials = RwSignal::new(String::new());
    let timeout = RwSignal::new(b.map(|b| b.timeout_ms.to_string()).unwrap_or_default());
    let connect = RwSignal::new(
        b.map(|b| b.connect_timeout_ms.to_string())
            .unwrap_or_default(),
    );
    let in_flight = RwSignal::new(
        b.and_then(|b| b.max_in_flight)
            .map(|n| n.to_string())
            .unwrap_or_default(),
    );
    let error = RwSignal::new(None::<ApiError>);
    let busy = RwSignal::new(false);
    let id = b.map(|b| b.id);
    let has_credentials = b.is_some_and(|b| b.has_credentials);

    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let t = session.tenant();
        let mut body = json!({
            "name": name.get_untracked().trim(),
            "base_url": base_url.get_untracked().trim(),
        });
        if id.is_none() {
            body["provider"] = json!(provider.get_untracked());
        }
        let secret = credentials.get_untracked();
        if !secret.is_empty() {
            body["credentials"] = json!(secret);
        }
        for (key, field) in [("timeout_ms", timeout), ("connect_timeout_ms", connect)] {
            if let Some(v) = number(&field) {
                body[key] = v;
            }
        }
        match number(&in_flight) {
            Some(v) => body["max_in_flight"] = v,
            None if id.is_some() => body["clear_max_in_flight"] = json!(true),
            None => {}
        }
        busy.set(true);
        leptos::task::spawn_local(async move {
            let result = match id {
                None => api::post::<_, Backend>(&format!("/tenants/{t}/backends"), &body)
                    .await
                    .map(|_| ()),
                Some(id) => {
                    api::call("PATCH", &format!("/tenants/{t}/backends/{id}"), Some(body)).await
                }
            };
            busy.set(false);
            match result {
                Ok(()) => {
                    ui.ok(if id.is_none() {
                        "Backend created"
                    } else {
                        "Backend saved"
                    });
                    done.run(true);
                }
                Err(e) => error.set(Some(e)),
            }
        });
    };

    view! {
        <form class="subcard form-grid" on:submit=submit aria-label="Backend">
            <h3 class="wide">{if id.is_none() { "New backend" } else { "Edit backend" }}</h3>
            <label>
                "Name"
                <input name="backend-name" required maxlength="100" bind:value=name/>
                <FieldError error field="name"/>
            </label>
            <label>
                "Provider"
                <select name="provider" bind:value=provider disabled=id.is_some()>
                    {[Provider::Openai, Provider::Anthropic, Provider::Gemini].into_iter().map(|p| {
                        view! { <option value=p.as_str()>{p.as_str()}</option> }
                    }).collect_view()}
                </select>
                <FieldError error field="provider"/>
            </label>
            <label>
                "Base URL"
                <input name="base-url" type="url" required placeholder="https://api.openai.com/v1" bind:value=base_url/>
                <FieldError error field="base_url"/>
            </label>
            <label>
                "Credentials"
                <input name="credentials" type="password" autocomplete="off"
                    placeholder=if has_credentials { "stored — leave empty to keep" } else { "the upstream API key" }
                    bind:value=credentials/>
                <span class="hint">"Write-only: encrypted at rest, never shown again."</span>
                <FieldError error field="credentials"/>
            </label>
            <label>
                "Timeout (ms)"
                <input name="timeout" inputmode="numeric" placeholder="60000" bind:value=timeout/>
                <FieldError error field="timeout_ms"/>
            </label>
            <label>
                "Connect timeout (ms)"
                <input name="connect-timeout" inputmode="numeric" placeholder="5000" bind:value=connect/>
                <FieldError error field="connect_timeout_ms"/>
            </label>
            <label>
                "Max in flight"
                <input name="max-in-flight" inputmode="numeric" placeholder="unlimited" bind:value=in_flight/>
                <FieldError error field="max_in_flight"/>
            </label>
            <div class="form-foot">
                <FormError error/>
                <button type="button" class="secondary" on:click=move |_| done.run(false)>"Cancel"</button>
                <button type="submit" disabled=move || busy.get()>{if id.is_none() { "Create backend" } else { "Save" }}</button>
            </div>
        </form>
    }
}
