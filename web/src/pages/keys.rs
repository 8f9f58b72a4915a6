//! API keys: create (name, project, models, expiry), the secret shown once
//! with a copy button, revoke and rotate.

use ditto_types::api::{ApiKey, ApiKeyPage, ApiKeyStatus, CreatedApiKey, ProjectPage};
use leptos::prelude::*;
use serde_json::json;

use crate::api::{self, ApiError};
use crate::app::Session;
use crate::ui::{Empty, Failed, FieldError, FormError, Loading, Ui, copy, when_opt};

#[component]
pub fn Keys() -> impl IntoView {
    let session = Session::get();
    let ui = Ui::get();
    let projects = LocalResource::new(move || {
        let t = session.tenant();
        async move {
            api::get::<ProjectPage>(&format!("/tenants/{t}/projects?limit=200&sort=name")).await
        }
    });
    let keys = LocalResource::new(move || {
        let t = session.tenant();
        async move { api::get::<ApiKeyPage>(&format!("/tenants/{t}/api-keys?limit=200")).await }
    });
    let name = RwSignal::new(String::new());
    let project = RwSignal::new(String::new());
    let models = RwSignal::new(String::new());
    let expires = RwSignal::new(String::new());
    let error = RwSignal::new(None::<ApiError>);
    let secret = RwSignal::new(None::<(String, String)>);
    let busy = RwSignal::new(false);

    let create = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let t = session.tenant();
        let mut body =
            json!({ "name": name.get_untracked().trim(), "project_id": project.get_untracked() });
        let list: Vec<String> = models
            .get_untracked()
            .split(',')
            .map(|m| m.trim().to_owned())
            .filter(|m| !m.is_empty())
            .collect();
        if !list.is_empty() {
            body["allowed_models"] = json!(list);
        }
        let expiry = expires.get_untracked();
        if !expiry.is_empty() {
            body["expires_at"] = json!(format!("{expiry}T23:59:59Z"));
        }
        busy.set(true);
        leptos::task::spawn_local(async move {
            match api::post::<_, CreatedApiKey>(&format!("/tenants/{t}/api-keys"), &body).await {
                Ok(created) => {
                    ui.ok(format!("Key “{}” created", created.key.name));
                    secret.set(Some((created.key.name, created.secret)));
                    name.set(String::new());
                    models.set(String::new());
                    expires.set(String::new());
                    error.set(None);
                    keys.refetch();
                }
                Err(e) => error.set(Some(e)),
            }
            busy.set(false);
        });
    };

    let revoke = move |k: ApiKey| {
        let t = session.tenant();
        ui.confirm(
            format!("Revoke key “{}”?", k.name),
            "Requests with it fail from now on. This cannot be undone.",
            move || {
                let t = t.clone();
                let id = k.id;
                leptos::task::spawn_local(async move {
                    match api::call("POST", &format!("/tenants/{t}/api-keys/{id}/revoke"), None)
                        .await
                    {
                        Ok(()) => {
                            ui.ok("Key revoked");
                            keys.refetch();
                        }
                        Err(e) => ui.error(&e),
                    }
                });
            },
        );
    };

    let rotate = move |k: ApiKey| {
        let t = session.tenant();
        ui.confirm(
            format!("Rotate key “{}”?", k.name),
            "A new secret replaces the current one, which stops working.",
            move || {
                let t = t.clone();
                let id = k.id;
                leptos::task::spawn_local(async move {
                    let path = format!("/tenants/{t}/api-keys/{id}/rotate");
                    match api::post::<_, CreatedApiKey>(&path, &json!({})).await {
                        Ok(created) => {
                            ui.ok("Key rotated");
                            secret.set(Some((created.key.name, created.secret)));
                            keys.refetch();
                        }
                        Err(e) => ui.error(&e),
                    }
                });
            },
        );
    };

    let project_name = move |id: String| {
        projects
            .get()
            .and_then(Result::ok)
            .and_then(|p| {
                p.items
                    .into_iter()
                    .find(|p| p.id.to_string() == id)
                    .map(|p| p.name)
            })
            .unwrap_or(id)
    };

    view! {
        <div class="page-head">
            <h1>"API keys"</h1>
            <p class="lede">"Keys call this tenant’s OpenAI-compatible endpoint, "<code>{move || format!("/t/{}/v1", session.tenant())}</code>"."</p>
        </div>
        {move || secret.get().map(|(name, value)| {
            let shown = value.clone();
            view! {
                <section class="card secret" aria-labelledby="secret-title">
                    <h2 id="secret-title">{format!("Secret of “{name}”")}</h2>
                    <p>"Copy it now: it is not shown again."</p>
                    <div class="secret-row">
                        <code class="secret-value" data-testid="secret">{shown}</code>
                        <button class="secondary small" on:click=move |_| { copy(&value); ui.ok("Copied"); }>"Copy"</button>
                        <button class="secondary small" on:click=move |_| secret.set(None)>"Done"</button>
                    </div>
                </section>
            }
        })}
        <Show when=move || session.can("keys:write")>
            <form class="card form-grid" on:submit=create aria-label="New API key">
                <label>
                    "Name"
                    <input name="key-name" required maxlength="200" bind:value=name/>
                    <FieldError error field="name"/>
                </label>
                <label>
                    "Project"
                    <select name="project" required bind:value=project>
                        <option value="">"Choose a project"</option>
                        {move || projects.get().and_then(Result::ok).map(|p| p.items.into_iter().map(|p| {
                            view! { <option value=p.id.to_string()>{p.name}</option> }
                        }).collect_view())}
                    </select>
                    <FieldError error field="project_id"/>
                </label>
                <label>
                    "Models"
                    <input name="models" placeholder="all the project allows" bind:value=models/>
                    <span class="hint">"Comma-separated; empty for all."</span>
                    <FieldError error field="allowed_models"/>
                </label>
                <label>
                    "Expires"
                    <input name="expires" type="date" bind:value=expires/>
                    <FieldError error field="expires_at"/>
                </label>
                <div class="form-foot">
                    <FormError error/>
                    <button type="submit" disabled=move || busy.get()>"Create key"</button>
                </div>
            </form>
        </Show>
        {move || match keys.get() {
            None => view! { <Loading/> }.into_any(),
            Some(Err(e)) => view! { <Failed error=e/> }.into_any(),
            Some(Ok(page)) if page.items.is_empty() => view! { <Empty text="No API keys yet."/> }.into_any(),
            Some(Ok(page)) => {
                let can_write = session.can("keys:write");
                view! {
                    <table class="table">
                        <thead><tr><th>"Name"</th><th>"Prefix"</th><th>"Project"</th><th>"Status"</th><th>"Expires"</th><th>"Last used"</th><th><span class="visually-hidden">"Actions"</span></th></tr></thead>
                        <tbody>
                            {page.items.into_iter().map(|k| {
                                let active = k.status == ApiKeyStatus::Active;
                                let status = match k.status { ApiKeyStatus::Active => "active", ApiKeyStatus::Expired => "expired", ApiKeyStatus::Revoked => "revoked" };
                                let project = project_name(k.project_id.to_string());
                                let (r1, r2) = (k.clone(), k.clone());
                                let label = k.name.clone();
                                view! {
                                    <tr data-key=k.name.clone()>
                                        <td class="strong">{k.name.clone()}</td>
                                        <td><code>{k.prefix.clone()}</code></td>
                                        <td>{project}</td>
                                        <td><span class=format!("badge badge-{status}")>{status}</span></td>
                                        <td class="muted">{when_opt(&k.expires_at)}</td>
                                        <td class="muted">{when_opt(&k.last_used_at)}</td>
                                        <td class="row-actions">
                                            {(can_write && active).then(|| view! {
                                                <button class="secondary small" aria-label=format!("Rotate {label}") on:click=move |_| rotate(r1.clone())>"Rotate"</button>
                                                <button class="danger small" aria-label=format!("Revoke {label}") on:click=move |_| revoke(r2.clone())>"Revoke"</button>
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
    }
}
