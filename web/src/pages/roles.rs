//! Roles: the built-in roles and the tenant's custom roles with their
//! permissions; creating, editing and deleting custom roles.

use std::collections::BTreeMap;

use ditto_types::api::{Role, RoleList};
use leptos::prelude::*;
use serde_json::json;

use crate::api::{self, ApiError};
use crate::app::Session;
use crate::ui::{Failed, FieldError, FormError, Loading, Ui};

/// The permissions a tenant role may hold, by resource. The API has no
/// catalogue endpoint; the built-in roles together hold every tenant
/// permission (`owner` holds them all), so their union is the catalogue.
fn catalogue(roles: &[Role]) -> BTreeMap<String, Vec<String>> {
    let mut by_resource: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for p in roles
        .iter()
        .filter(|r| r.builtin)
        .flat_map(|r| &r.permissions)
    {
        let resource = p.split_once(':').map_or(p.as_str(), |(r, _)| r).to_owned();
        let list = by_resource.entry(resource).or_default();
        if !list.contains(p) {
            list.push(p.clone());
        }
    }
    for list in by_resource.values_mut() {
        list.sort();
    }
    by_resource
}

#[component]
pub fn Roles() -> impl IntoView {
    let session = Session::get();
    let ui = Ui::get();
    let roles = LocalResource::new(move || {
        let t = session.tenant();
        async move { api::get::<RoleList>(&format!("/tenants/{t}/roles")).await }
    });
    // The custom role being edited; None while creating one.
    let editing = RwSignal::new(None::<String>);
    let name = RwSignal::new(String::new());
    let description = RwSignal::new(String::new());
    let chosen = RwSignal::new(Vec::<String>::new());
    let error = RwSignal::new(None::<ApiError>);
    let busy = RwSignal::new(false);
    let reset = move || {
        editing.set(None);
        name.set(String::new());
        description.set(String::new());
        chosen.set(Vec::new());
        error.set(None);
    };

    let save = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let t = session.tenant();
        let permissions = chosen.get_untracked();
        let desc = description.get_untracked().trim().to_owned();
        let editing_now = editing.get_untracked();
        busy.set(true);
        leptos::task::spawn_local(async move {
            let result = match &editing_now {
                Some(role) => {
                    let body = json!({ "description": desc, "permissions": permissions });
                    api::call(
                        "PATCH",
                        &format!("/tenants/{t}/roles/{}", api::enc(role)),
                        Some(body),
                    )
                    .await
                    .map(|()| role.clone())
                }
                None => {
                    let body = json!({ "name": name.get_untracked().trim(), "description": desc, "permissions": permissions });
                    api::post::<_, Role>(&format!("/tenants/{t}/roles"), &body)
                        .await
                        .map(|r| r.name)
                }
            };
            match result {
                Ok(role) => {
                    ui.ok(if editing_now.is_some() {
                        format!("Role “{role}” saved")
                    } else {
                        format!("Role “{role}” created")
                    });
                    reset();
                    roles.refetch();
                }
                Err(e) => error.set(Some(e)),
            }
            busy.set(false);
        });
    };

    let edit = move |r: Role| {
        editing.set(Some(r.name.clone()));
        name.set(r.name);
        description.set(r.description);
        chosen.set(r.permissions);
        error.set(None);
        if let Some(form) = document().get_element_by_id("role-form") {
            form.scroll_into_view();
        }
    };

    let delete = move |role: String| {
        let t = session.tenant();
        ui.confirm(
            format!("Delete role “{role}”?"),
            "Its bindings go with it: whoever held it loses its permissions at their next request.",
            move || {
                let (t, role) = (t.clone(), role.clone());
                leptos::task::spawn_local(async move {
                    match api::call(
                        "DELETE",
                        &format!("/tenants/{t}/roles/{}", api::enc(&role)),
                        None,
                    )
                    .await
                    {
                        Ok(()) => {
                            ui.ok(format!("Role “{role}” deleted"));
                            if editing.get_untracked().as_deref() == Some(role.as_str()) {
                                reset();
                            }
                            roles.refetch();
                        }
                        Err(e) => ui.error(&e),
                    }
                });
            },
        );
    };

    let toggle = move |p: String, on: bool| {
        chosen.update(|c| {
            c.retain(|x| *x != p);
            if on {
                c.push(p);
            }
        });
    };

    view! {
        <div class="page-head">
            <h1>"Roles"</h1>
            <p class="lede">"Built-in roles, and this tenant's own roles made of the permissions it needs."</p>
        </div>
        {move || match roles.get() {
            None => view! { <Loading/> }.into_any(),
            Some(Err(e)) => view! { <Failed error=e/> }.into_any(),
            Some(Ok(list)) => {
                let can_write = session.can("roles:write");
                let groups = catalogue(&list.items);
                view! {
                    <table class="table roles-table">
                        <thead><tr><th>"Role"</th><th>"Description"</th><th>"Permissions"</th><th></th></tr></thead>
                        <tbody>
                            {list.items.into_iter().map(|r| {
                                let kind = if r.builtin { "built-in" } else { "custom" };
                                let (name, for_edit) = (r.name.clone(), r.clone());
                                let (edit_label, delete_label) = (format!("Edit {name}"), format!("Delete {name}"));
                                let count = r.permissions.len();
                                view! {
                                    <tr>
                                        <td class="strong">{r.name.clone()}<br/><span class=format!("badge badge-{}", if r.builtin { "builtin" } else { "custom" })>{kind}</span></td>
                                        <td>{r.description.clone()}</td>
                                        <td>
                                            <details class="perms">
                                                <summary>{format!("{count} permission{}", if count == 1 { "" } else { "s" })}</summary>
                                                <div class="chips">{r.permissions.iter().map(|p| view! { <span class="chip chip-plain">{p.clone()}</span> }).collect_view()}</div>
                                            </details>
                                        </td>
                                        <td class="row-actions">{(can_write && !r.builtin).then(|| view! {
                                            <button class="secondary small" aria-label=edit_label on:click=move |_| edit(for_edit.clone())>"Edit"</button>
                                            <button class="danger small" aria-label=delete_label on:click=move |_| delete(name.clone())>"Delete"</button>
                                        })}</td>
                                    </tr>
                                }.into_any()
                            }).collect_view()}
                        </tbody>
                    </table>
                    {can_write.then(|| view! {
                        <form id="role-form" class="card role-form" on:submit=save
                            aria-label=move || if editing.with(Option::is_some) { "Edit a role" } else { "Create a role" }>
                            <h2>{move || match editing.get() { Some(r) => format!("Edit role “{r}”"), None => "New custom role".to_owned() }}</h2>
                            <div class="form-row">
                                <label>
                                    "Role name"
                                    <input name="role-name" required maxlength="63" pattern="[a-z][a-z0-9_\\-]*"
                                        disabled=move || editing.with(Option::is_some) bind:value=name/>
                                    <FieldError error field="name"/>
                                </label>
                                <label class="grow">
                                    "Description"
                                    <input name="role-description" bind:value=description/>
                                    <FieldError error field="description"/>
                                </label>
                            </div>
                            <p class="muted">"Permissions (you can only give a role permissions you hold yourself)"</p>
                            <FieldError error field="permissions"/>
                            <div class="perm-grid">
                                {groups.into_iter().map(|(resource, perms)| view! {
                                    <fieldset>
                                        <legend>{resource}</legend>
                                        {perms.into_iter().map(|p| {
                                            let (has, set) = (p.clone(), p.clone());
                                            view! {
                                                <label class="check">
                                                    <input type="checkbox" value=p.clone()
                                                        prop:checked=move || chosen.with(|c| c.contains(&has))
                                                        on:change=move |ev| toggle(set.clone(), event_target_checked(&ev))/>
                                                    {p}
                                                </label>
                                            }.into_any()
                                        }).collect_view()}
                                    </fieldset>
                                }.into_any()).collect_view()}
                            </div>
                            <FormError error/>
                            <div class="actions">
                                <Show when=move || editing.with(Option::is_some)>
                                    <button type="button" class="secondary" on:click=move |_| reset()>"Cancel"</button>
                                </Show>
                                <button type="submit" disabled=move || busy.get()>
                                    {move || if editing.with(Option::is_some) { "Save role" } else { "Create role" }}
                                </button>
                            </div>
                        </form>
                    }.into_any())}
                }.into_any()
            }
        }}
    }
}
