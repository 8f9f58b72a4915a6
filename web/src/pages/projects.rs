//! Projects: the list, creating one, deleting one.

use ditto_types::api::{Project, ProjectPage};
use leptos::prelude::*;
use serde_json::json;

use crate::api::{self, ApiError};
use crate::app::Session;
use crate::ui::{Empty, Failed, FieldError, FormError, Loading, Ui, when};

#[component]
pub fn Projects() -> impl IntoView {
    let session = Session::get();
    let ui = Ui::get();
    let list = LocalResource::new(move || {
        let t = session.tenant();
        async move {
            api::get::<ProjectPage>(&format!("/tenants/{t}/projects?limit=200&sort=name")).await
        }
    });
    let name = RwSignal::new(String::new());
    let description = RwSignal::new(String::new());
    let error = RwSignal::new(None::<ApiError>);
    let busy = RwSignal::new(false);

    let create = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        busy.set(true);
        let t = session.tenant();
        let body = json!({ "name": name.get_untracked().trim(), "description": description.get_untracked() });
        leptos::task::spawn_local(async move {
            match api::post::<_, Project>(&format!("/tenants/{t}/projects"), &body).await {
                Ok(p) => {
                    ui.ok(format!("Project “{}” created", p.name));
                    name.set(String::new());
                    description.set(String::new());
                    error.set(None);
                    list.refetch();
                }
                Err(e) => error.set(Some(e)),
            }
            busy.set(false);
        });
    };

    let delete = move |p: Project| {
        let t = session.tenant();
        ui.confirm(
            format!("Delete project “{}”?", p.name),
            "Its keys stop working at once. This cannot be undone.",
            move || {
                let t = t.clone();
                let id = p.id;
                leptos::task::spawn_local(async move {
                    match api::call("DELETE", &format!("/tenants/{t}/projects/{id}"), None).await {
                        Ok(()) => {
                            ui.ok("Project deleted");
                            list.refetch();
                        }
                        Err(e) => ui.error(&e),
                    }
                });
            },
        );
    };

    view! {
        <div class="page-head">
            <h1>"Projects"</h1>
            <p class="lede">"Projects group API keys, limits and budgets."</p>
        </div>
        <Show when=move || session.can("projects:write")>
            <form class="card form-row" on:submit=create aria-label="New project">
                <label>
                    "Name"
                    <input name="name" required maxlength="200" bind:value=name/>
                    <FieldError error field="name"/>
                </label>
                <label class="grow">
                    "Description"
                    <input name="description" bind:value=description/>
                    <FieldError error field="description"/>
                </label>
                <button type="submit" disabled=move || busy.get()>"Create project"</button>
                <FormError error/>
            </form>
        </Show>
        {move || match list.get() {
            None => view! { <Loading/> }.into_any(),
            Some(Err(e)) => view! { <Failed error=e/> }.into_any(),
            Some(Ok(page)) if page.items.is_empty() => view! { <Empty text="No projects yet."/> }.into_any(),
            Some(Ok(page)) => {
                let can_write = session.can("projects:write");
                view! {
                    <table class="table">
                        <thead><tr><th>"Name"</th><th>"Description"</th><th>"Models"</th><th>"Created"</th><th><span class="visually-hidden">"Actions"</span></th></tr></thead>
                        <tbody>
                            {page.items.into_iter().map(|p| {
                                let models = p.allowed_models.as_ref().map(|m| m.join(", ")).unwrap_or_else(|| "all".into());
                                let created = when(&p.created_at);
                                let label = format!("Delete {}", p.name);
                                let row = p.clone();
                                view! {
                                    <tr>
                                        <td class="strong">{p.name}</td>
                                        <td>{p.description}</td>
                                        <td>{models}</td>
                                        <td class="muted">{created}</td>
                                        <td class="row-actions">
                                            {can_write.then(|| view! {
                                                <button class="danger small" aria-label=label on:click=move |_| delete(row.clone())>"Delete"</button>
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
